"""The paper's losses: multi-resolution STFT (MSS) and multi-scale loudness dynamic range
(MLDR), on left/right and mid/side, and their weighted total.

Every loss takes ``(pred, target)`` stereo signals of shape (B, 2, T); MSS is not symmetric.
:func:`mss` computes auraloss's ``MultiResolutionSTFTLoss`` / ``SumAndDifferenceSTFTLoss`` (the
reference, with A-weighting) with the same value, but A-weights each signal once, by FFT, takes
the mid/side spectra from the left/right ones, and has a hand-written gradient
(:mod:`.functional.spectral`). Targets can be prepared once (:meth:`DiffVoxLoss.prepare`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import auraloss
import torch
from torch import nn

from .functional.ldr import LDRTarget, MultiScaleLDR, ldr_rows, shift_samples
from .functional.fir import valid_fir
from .functional.pan import to_mid_side
from .functional.spectral import MultiResolutionDistances, SpectralTarget, spectral_targets

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


@functools.lru_cache(maxsize=4)
def a_weighting_taps(sr: int = 44100) -> torch.Tensor:
    """auraloss's 101-tap linear-phase FIR fit of the A-weighting curve, float32 (101,)."""
    return auraloss.perceptual.FIRFilter(filter_type="aw", fs=sr).fir.weight.detach().reshape(-1)


def a_weight(x: torch.Tensor, sr: int = 44100) -> torch.Tensor:
    """(..., T) -> (..., T): the A-weighting FIR applied as auraloss's centred ('same') conv1d,
    which correlates with the taps: hence the flip before the convolution."""
    taps = a_weighting_taps(sr).flip(0).to(x.device, x.dtype)
    half = taps.shape[0] // 2
    return valid_fir(torch.nn.functional.pad(x, (taps.shape[0] - 1 - half, half)), taps)


RESOLUTIONS = tuple(zip(FFT_SIZES, HOP_SIZES))


def mss_target(target: torch.Tensor, sr: int = 44100) -> list[SpectralTarget]:
    """A (B, 2, T) target's A-weighted magnitudes at each resolution (no gradient), for :func:`mss`."""
    with torch.no_grad():
        return spectral_targets(a_weight(target, sr), RESOLUTIONS)


def mss(pred: torch.Tensor, target, sr: int = 44100) -> dict[str, torch.Tensor]:
    """A-weighted multi-resolution STFT loss on L/R (``mss_lr``) and on L+R / L-R (``mss_ms``,
    the mean of the two), equal to auraloss's values; (B, 2, T) ``pred``, and ``target`` either
    a (B, 2, T) signal or its :func:`mss_target`."""
    if isinstance(target, torch.Tensor):
        _check_stereo(pred, target)
    if pred.shape[-1] <= max(FFT_SIZES) // 2:
        raise ValueError(f"MSS needs more than {max(FFT_SIZES) // 2} samples, got {pred.shape[-1]}")
    prepared = mss_target(target, sr) if isinstance(target, torch.Tensor) else target
    mss_lr, mss_ms = MultiResolutionDistances.apply(a_weight(pred, sr), prepared, RESOLUTIONS)
    return {"mss_lr": mss_lr, "mss_ms": mss_ms}


def log_dynamic_range(x: torch.Tensor, short_ms: float, long_ms: float, sr: float,
                      strict: bool = False) -> torch.Tensor:
    """``log onepole(e, c_s) - R_k(log onepole(e, c_l))`` with ``e = max(x^2, 1e-8)``, in float64.

    x: (B, C, T). ``R_k`` shifts the long-term average k = int(sr (l - s) / 2000) samples
    earlier. Default (the original's): the (B*C, T) rows are rolled as one flattened array, so
    each row's last k samples take the next row's first ones. ``strict``: shift within each
    row and keep only the valid T - k samples. Returns (B*C, T) or (B*C, T - k), without
    gradient (:func:`mldr` has its own backward pass).
    """
    (log_short, log_long), = LDRTarget.of(x.to(torch.float64), [(short_ms, long_ms)], sr).logs
    rows = x.shape[0] * x.shape[1]
    return ldr_rows(log_short.reshape(rows, -1), log_long.reshape(rows, -1),
                    shift_samples(short_ms, long_ms, sr), strict)


def ldr_target(target: torch.Tensor, sr: float = 44100.0, short_ms=SHORT_MS, long_ms=LONG_MS) -> LDRTarget:
    """A (B, C, T) target's smoothed log energies at each scale (no gradient), for :func:`mldr`."""
    return LDRTarget.of(target, tuple(zip(short_ms, long_ms)), sr)


def mldr(pred: torch.Tensor, target, sr: float = 44100.0, mid_side: bool = False,
         strict: bool = False, short_ms=SHORT_MS, long_ms=LONG_MS) -> torch.Tensor:
    """Multi-scale loudness dynamic range loss: sum over scales of mean |LDR(pred) - LDR(target)|.

    ``target``: a (B, 2, T) signal, or its :func:`ldr_target` (of the mid/side signal when
    ``mid_side``)."""
    if isinstance(target, torch.Tensor):
        _check_stereo(pred, target)
        target = ldr_target(to_mid_side(target) if mid_side else target, sr, short_ms, long_ms)
    if mid_side:
        pred = to_mid_side(pred)
    if strict and pred.shape[-1] <= shift_samples(short_ms[-1], long_ms[-1], sr):
        raise ValueError(f"strict MLDR at {short_ms[-1]:g}/{long_ms[-1]:g} ms needs more than "
                         f"{shift_samples(short_ms[-1], long_ms[-1], sr)} samples per signal, "
                         f"got {pred.shape[-1]}")
    return MultiScaleLDR.apply(pred, target, tuple(zip(short_ms, long_ms)), sr, strict)


@dataclass
class LossTarget:
    """What the losses need of a (B, 2, T) target, computed once: :func:`mss_target` and the
    L/R and M/S :func:`ldr_target`. Made by :meth:`DiffVoxLoss.prepare`; :meth:`select` takes a
    sub-batch (a fit prepares every chunk once and selects each step's batch)."""

    shape: tuple[int, ...]
    spectra: list
    ldr_lr: LDRTarget
    ldr_ms: LDRTarget

    def nbytes(self) -> int:
        tensors = [t for s in self.spectra for t in (s.magnitude, s.log_magnitude, s.row_power)]
        tensors += [t for ldr in (self.ldr_lr, self.ldr_ms) for pair in ldr.logs for t in pair]
        return sum(t.numel() * t.element_size() for t in tensors)

    def select(self, index: torch.Tensor) -> "LossTarget":
        return LossTarget((len(index), *self.shape[1:]), [s.select(index) for s in self.spectra],
                          self.ldr_lr.select(index), self.ldr_ms.select(index))


class DiffVoxLoss(nn.Module):
    """``1 MSS_lr + 0.5 MSS_ms + 0.5 MLDR_lr + 0.25 MLDR_ms`` (+ an optional regulariser).

    ``forward(pred, target)`` returns a dict with the four terms and ``total``; ``target`` is a
    (B, 2, T) signal or its :meth:`prepare` (the target's spectra and LDR, computed once).
    """

    def __init__(self, sr: int = 44100, strict_mldr: bool = False, weights: dict | None = None):
        super().__init__()
        self.sr, self.strict = sr, strict_mldr
        self.weights = dict(WEIGHTS if weights is None else weights)

    def prepare(self, target: torch.Tensor) -> LossTarget:
        """The target's features (no gradient)."""
        _check_stereo(target, target)
        if target.shape[-1] <= max(FFT_SIZES) // 2:
            raise ValueError(f"MSS needs more than {max(FFT_SIZES) // 2} samples, got {target.shape[-1]}")
        return LossTarget(tuple(target.shape), mss_target(target, self.sr),
                          ldr_target(target, self.sr), ldr_target(to_mid_side(target), self.sr))

    def forward(self, pred: torch.Tensor, target: torch.Tensor | LossTarget,
                regulariser: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        prepared = self.prepare(target) if isinstance(target, torch.Tensor) else target
        if tuple(pred.shape) != prepared.shape:
            raise ValueError(f"losses take (B, 2, T) pred and target of one shape; got "
                             f"{tuple(pred.shape)} and {prepared.shape}")
        terms = {
            **mss(pred, prepared.spectra, self.sr),
            "mldr_lr": mldr(pred, prepared.ldr_lr, self.sr, False, self.strict),
            "mldr_ms": mldr(pred, prepared.ldr_ms, self.sr, True, self.strict),
        }
        terms["total"] = sum(self.weights[k] * v for k, v in terms.items() if self.weights[k])
        if regulariser is not None:
            terms["regulariser"] = regulariser
            terms["total"] = terms["total"] + regulariser
        return terms
