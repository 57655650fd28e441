"""A stand-in for the original code's matching step, for the side-by-side benchmarks.

The original cannot run here. What it computes is known (``../shared/presets/CHAIN.md``): the
chain stage by stage (each effect convolves its own input; :meth:`DiffVox.stages`), auraloss's
MSS modules, and the MLDR through autograd of ``log onepole`` in float64. This module computes
exactly that with our kernels (our EQ and FDN, faster than the original's), so it runs faster
than the original did: on the 2-core machine the original took 18 s for 8 x 12 s chunks and
our first implementation 7.4 s, while this stand-in took about as long as that implementation.
"""
from __future__ import annotations

import torch

from ..filters import one_pole
from ..functional.pan import to_mid_side
from ..losses import LONG_MS, SHORT_MS, WEIGHTS, mss_modules
from ..params import ms_to_coef


def autograd_mldr(pred: torch.Tensor, target: torch.Tensor, sr: float = 44100.0,
                  mid_side: bool = False) -> torch.Tensor:
    """The original's MLDR, differentiated by autograd (the flattened roll included)."""
    if mid_side:
        pred, target = to_mid_side(pred), to_mid_side(target)

    def ldr(x, short_ms, long_ms):
        energy = x.reshape(-1, x.shape[-1]).square().clamp_min(1e-8).to(torch.float64)
        short = torch.log(one_pole(energy, ms_to_coef(short_ms, sr)))
        long = torch.log(one_pole(energy, ms_to_coef(long_ms, sr)))
        return short - torch.roll(long, -int(sr * (long_ms - short_ms) * 0.0005))

    return sum((ldr(pred, s, l) - ldr(target, s, l)).abs().mean() for s, l in zip(SHORT_MS, LONG_MS))


class OriginalLoss(torch.nn.Module):
    """``1 MSS_lr + 0.5 MSS_ms + 0.5 MLDR_lr + 0.25 MLDR_ms`` as the original computes it."""

    def __init__(self, sr: int = 44100):
        super().__init__()
        self.sr = sr
        self.mss_lr, self.mss_ms = mss_modules(sr)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (WEIGHTS["mss_lr"] * self.mss_lr(pred, target) + WEIGHTS["mss_ms"] * self.mss_ms(pred, target)
                + WEIGHTS["mldr_lr"] * autograd_mldr(pred, target, self.sr).to(pred.dtype)
                + WEIGHTS["mldr_ms"] * autograd_mldr(pred, target, self.sr, True).to(pred.dtype))


def original_forward(model, dry: torch.Tensor) -> torch.Tensor:
    """The chain's output computed stage by stage, as the original does."""
    return model.stages(dry)["wet"]
