"""The four metrics of the paper's tables: MSS and MLDR on left/right and on mid/side."""
from __future__ import annotations

import numpy as np
import torch

from ..devices import resolve_device
from ..losses import mldr, mss

METRICS = ("mss_lr", "mss_ms", "mldr_lr", "mldr_ms")


def as_stereo(audio: np.ndarray, what: str = "audio") -> tuple[np.ndarray, bool]:
    """(T,), (1, T) or (2, T) -> (2, T) float32, and whether a mono signal was duplicated."""
    audio = np.asarray(audio, np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2 or audio.shape[0] not in (1, 2):
        raise ValueError(f"{what} must be mono or stereo (channels, samples); got shape {audio.shape}")
    if audio.shape[0] == 1:
        return np.repeat(audio, 2, axis=0), True
    return audio, False


@torch.no_grad()
def evaluate(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor, sr: int = 44100,
             device: str | torch.device = "cpu") -> dict[str, float]:
    """MSS and MLDR of ``pred`` against ``target``, both (2, T), on L/R and M/S (lower is better).
    A target whose side channel is silent (mono, duplicated to stereo) has no M/S scores:
    ``mss_ms`` and ``mldr_ms`` are None."""
    device = resolve_device(device)
    pred_t = torch.as_tensor(np.asarray(pred, np.float32), device=device)
    target_t = torch.as_tensor(np.asarray(target, np.float32), device=device)
    if pred_t.shape != target_t.shape or pred_t.dim() != 2 or pred_t.shape[0] != 2:
        raise ValueError(f"evaluate takes two stereo signals (2, T) of one length; got "
                         f"{tuple(pred_t.shape)} and {tuple(target_t.shape)}")
    if not (torch.isfinite(pred_t).all() and torch.isfinite(target_t).all()):
        raise ValueError("cannot evaluate signals holding NaN or Inf samples")
    if not bool(target_t.any()):
        raise ValueError("the target is silent: its spectral convergence (MSS) is undefined")
    mono_target = not bool((target_t[0] != target_t[1]).any())
    pred_t, target_t = pred_t[None], target_t[None]
    out = {**mss(pred_t, target_t, sr), "mldr_lr": mldr(pred_t, target_t, sr), "mldr_ms": mldr(pred_t, target_t, sr, mid_side=True)}
    out = {k: float(v) for k, v in out.items()}
    if mono_target:  # no side channel to compare with: its spectral convergence is undefined
        out.update({k: None for k in MS_METRICS})
    return out


#: the mid/side metrics, None where the target's side channel is silent (a mono target)
MS_METRICS = ("mss_ms", "mldr_ms")
MONO_NOTE = "the target is mono (its side channel is silent): M/S metrics are not defined"
