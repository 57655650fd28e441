"""Views of a chain for plots and listening: responses, curves, impulse responses, landscapes."""
from __future__ import annotations

import numpy as np
import scipy.signal
import torch

from .chain import DiffVox
from .functional.compressor import static_curve


def magnitude_response_db(sos: torch.Tensor, freqs_hz: np.ndarray, sr: float = 44100.0) -> np.ndarray:
    """|H(f)| in dB of cascaded sections (K, 6) at the given frequencies."""
    sos = sos.detach().double().numpy()
    sos = sos / sos[:, 3:4]
    _, h = scipy.signal.sosfreqz(sos, worN=np.asarray(freqs_hz), fs=sr)
    return 20 * np.log10(np.abs(h) + 1e-12)


@torch.no_grad()
def compressor_static_curve(model: DiffVox, levels_db: np.ndarray) -> np.ndarray:
    """Steady-state output level (dB) against input level, make-up gain included."""
    p = model.decode()[model.compressor]
    out = static_curve(torch.as_tensor(levels_db, dtype=torch.float64), *(
        p[k][0].double() for k in ("cmp_th", "cmp_ratio", "exp_th", "exp_ratio")))
    return (out + p["make_up"][0].double()).numpy()


@torch.no_grad()
def compressor_gain_db(model: DiffVox, x: np.ndarray) -> np.ndarray:
    """Gain the compressor/expander applies over time (dB, make-up included) to mono x (T,)."""
    stages = model.eval().stages(torch.as_tensor(x, dtype=torch.float32).view(1, 1, -1))
    peq, comp = stages["peq"][0].double(), stages["comp"][0].double()
    return (20 * torch.log10((comp.abs() + 1e-12) / (peq.abs() + 1e-12))).numpy()


@torch.no_grad()
def delay_impulse_response(model: DiffVox) -> np.ndarray:
    """(2, N) left/right impulse response of the ping-pong delay (pans included), the first
    preset's."""
    return model.eval().delay_response(model.decode())[0].numpy()


@torch.no_grad()
def delay_loss_landscape(delays_ms: np.ndarray, target_ms: float, log_eta: float | None,
                         sr: float = 44100.0, n: int = 44100, chunk: int = 256) -> np.ndarray:
    """Squared error (Parseval, over the n-point rfft bins) between the echo kernel at each
    candidate delay and the exact echo at ``target_ms``. The candidate is the exact kernel
    (``log_eta=None``: its error oscillates every ~2 samples, so gradient descent stalls in
    local minima) or the damped surrogate ``eta^j e^{-i w_j d}`` (a smooth basin)."""
    j = torch.arange(n // 2 + 1, dtype=torch.float64)
    w = 2 * np.pi * j / n
    target = torch.polar(torch.ones_like(w), -w * target_ms * sr / 1000)
    mag = torch.exp(j * (0.0 if log_eta is None else log_eta))
    d_all = torch.as_tensor(np.asarray(delays_ms) * sr / 1000, dtype=torch.float64)
    out = []
    for d in d_all.split(chunk):
        cand = torch.polar(mag.expand(d.shape[0], -1), -w * d.unsqueeze(-1))
        out.append((cand - target).abs().square().sum(-1) / (n // 2 + 1))
    return torch.cat(out).numpy()


def count_local_minima(values: np.ndarray) -> int:
    """Strict interior local minima of a sampled curve."""
    v = np.asarray(values)
    return int(((v[1:-1] < v[:-2]) & (v[1:-1] < v[2:])).sum())


@torch.no_grad()
def render(model: DiffVox, x: np.ndarray) -> np.ndarray:
    """Mono (T,) -> stereo (2, T) float32, evaluation mode."""
    return model.eval()(torch.as_tensor(x, dtype=torch.float32).view(1, 1, -1))[0].numpy()


def parameter_error(fitted, true, scale: np.ndarray, mask: np.ndarray) -> float:
    """RMS over the analysed dimensions (``mask``) of the logit difference between two presets,
    in units of ``scale`` (Internal's per-dimension standard deviation)."""
    diff = (np.asarray(fitted.logits)[mask] - np.asarray(true.logits)[mask]) / scale
    return float(np.sqrt(np.mean(diff ** 2)))


def parameter_error_scale():
    """(scale, mask): Internal's per-dimension standard deviation over the paper's 365 rows,
    and the 130-dimension mask, as ``benchmarks/robustness.py`` measures parameter errors."""
    from .presets import load_dataset

    internal = load_dataset("internal")
    mask = internal.feature_mask
    return internal.train[:, mask].std(axis=0) + 1e-6, mask


def parameter_error_baselines(targets) -> dict[str, np.ndarray]:
    """For each target preset, the parameter error (as :func:`parameter_error`) of three guesses
    made without the audio: ``start``, the chain a fit starts from (``DiffVox()``); ``mean``,
    Internal's mean preset; ``random``, a published preset drawn at random (the mean error over
    every other published row, both datasets)."""
    from .presets import Preset, load_dataset

    scale, mask = parameter_error_scale()
    internal, medleydb = load_dataset("internal"), load_dataset("medleydb")
    start = Preset.from_chain(DiffVox())
    published = np.concatenate([np.asarray([ds.preset(i).logits for i in range(len(ds))])
                                for ds in (internal, medleydb)])[:, mask]
    mean = internal.train[:, mask].mean(axis=0)
    out = {"start": [], "mean": [], "random": []}
    for t in targets:
        true = np.asarray(t.logits)[mask]
        out["start"].append(parameter_error(start, t, scale, mask))
        out["mean"].append(float(np.sqrt(np.mean(((mean - true) / scale) ** 2))))
        others = published[~np.all(published == true, axis=1)]
        out["random"].append(float(np.mean(np.sqrt(np.mean(((others - true) / scale) ** 2, axis=1)))))
    return {k: np.array(v) for k, v in out.items()}


def fit_audio(fitted, target, dry: np.ndarray, clip_q: float | None = None) -> dict[str, np.ndarray]:
    """What a fit sounds like: the aligned, loudness-normalised ``dry`` and ``target`` (the
    demo vocal through the target preset) as the fit saw them, the ``fit`` (the fitted preset,
    the chain it was trained with) and ``exact`` (the fitted preset by the exact time-domain
    chain, delay low-pass Q clipped to ``clip_q``, the paper's 0.707 by default)."""
    from .matching.experiments import prepare_pair, render_preset
    from .realtime import PAPER_CLIP_Q, render_exact

    pair = prepare_pair(dry, render_preset(target, dry))
    return {"dry": pair.dry, "target": pair.wet, "fit": render_preset(fitted, pair.dry),
            "exact": render_exact(fitted, pair.dry, clip_q=PAPER_CLIP_Q if clip_q is None else clip_q)}



def reference_dir():
    """Renders of the original implementation, if present: ``$DIFFVOX_REFERENCE``, else the
    reference set next to the repository (as the tests read it)."""
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    return Path(os.environ.get("DIFFVOX_REFERENCE", root.parent / "shared" / "reference"))
