"""The paper's losses: multi-resolution STFT (MSS) and multi-scale loudness dynamic range
(MLDR), on left/right and mid/side, and their weighted total.

Every loss takes ``(pred, target)`` stereo signals of shape (B, 2, T); MSS is not symmetric.
"""
from __future__ import annotations

import auraloss
import torch
from torch import nn

from .filters import one_pole
from .functional.pan import to_mid_side
from .params import ms_to_coef

FFT_SIZES = (128, 512, 2048)
HOP_SIZES = (32, 128, 512)
SHORT_MS = (50.0, 100.0)
LONG_MS = (1000.0, 2000.0)
WEIGHTS = {"mss_lr": 1.0, "mss_ms": 0.5, "mldr_lr": 0.5, "mldr_ms": 0.25}


def _check_stereo(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape or pred.dim() != 3 or pred.shape[1] != 2:
        raise ValueError(f"losses take (B, 2, T) pred and target of one shape; got "
                         f"{tuple(pred.shape)} and {tuple(target.shape)}")


def mss_modules(sr: int = 44100) -> tuple[nn.Module, nn.Module]:
    """auraloss's multi-resolution STFT loss (A-weighted) on L/R, and on sum/difference."""
    kwargs = dict(fft_sizes=list(FFT_SIZES), hop_sizes=list(HOP_SIZES), win_lengths=list(FFT_SIZES),
                  sample_rate=sr, perceptual_weighting=True)
    return (auraloss.freq.MultiResolutionSTFTLoss(**kwargs),
            auraloss.freq.SumAndDifferenceSTFTLoss(**kwargs))


def log_dynamic_range(x: torch.Tensor, short_ms: float, long_ms: float, sr: float,
                      strict: bool = False) -> torch.Tensor:
    """``log onepole(e, c_s) - R_k(log onepole(e, c_l))`` with ``e = max(x^2, 1e-8)``.

    x: (B, C, T). ``R_k`` shifts the long-term average k = int(sr (l - s) / 2000) samples
    earlier. Default (the original's): the (B*C, T) rows are rolled as one flattened array, so
    each row's last k samples take the next row's first ones. ``strict``: shift within each
    row and keep only the valid T - k samples. Returns (B*C, T) or (B*C, T - k).
    """
    rows = x.reshape(-1, x.shape[-1])
    energy = rows.square().clamp_min(1e-8).to(torch.float64)
    short = torch.log(one_pole(energy, ms_to_coef(short_ms, sr)))
    long = torch.log(one_pole(energy, ms_to_coef(long_ms, sr)))
    k = int(sr * (long_ms - short_ms) * 0.0005)
    if strict:
        if rows.shape[-1] <= k:
            raise ValueError(f"strict MLDR at {short_ms:g}/{long_ms:g} ms needs more than {k} "
                             f"samples per signal, got {rows.shape[-1]}")
        return (short[:, : rows.shape[-1] - k] - long[:, k:]).to(x.dtype)
    return (short - torch.roll(long, -k)).to(x.dtype)


def mldr(pred: torch.Tensor, target: torch.Tensor, sr: float = 44100.0, mid_side: bool = False,
         strict: bool = False, short_ms=SHORT_MS, long_ms=LONG_MS) -> torch.Tensor:
    """Multi-scale loudness dynamic range loss: sum over scales of mean |LDR(pred) - LDR(target)|."""
    _check_stereo(pred, target)
    if mid_side:
        pred, target = to_mid_side(pred), to_mid_side(target)
    total = pred.new_zeros(())
    for s, l in zip(short_ms, long_ms):
        diff = log_dynamic_range(pred, s, l, sr, strict) - log_dynamic_range(target, s, l, sr, strict)
        total = total + diff.abs().mean()
    return total


class DiffVoxLoss(nn.Module):
    """``1 MSS_lr + 0.5 MSS_ms + 0.5 MLDR_lr + 0.25 MLDR_ms`` (+ an optional regulariser).

    ``forward(pred, target)`` returns a dict with the four terms and ``total``.
    """

    def __init__(self, sr: int = 44100, strict_mldr: bool = False, weights: dict | None = None):
        super().__init__()
        self.sr, self.strict = sr, strict_mldr
        self.mss_lr, self.mss_ms = mss_modules(sr)
        self.weights = dict(WEIGHTS if weights is None else weights)

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                regulariser: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        _check_stereo(pred, target)
        terms = {
            "mss_lr": self.mss_lr(pred, target),
            "mss_ms": self.mss_ms(pred, target),
            "mldr_lr": mldr(pred, target, self.sr, False, self.strict),
            "mldr_ms": mldr(pred, target, self.sr, True, self.strict),
        }
        terms["total"] = sum(self.weights[k] * v for k, v in terms.items())
        if regulariser is not None:
            terms["regulariser"] = regulariser
            terms["total"] = terms["total"] + regulariser
        return terms
