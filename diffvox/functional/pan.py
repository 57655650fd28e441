"""Constant-power panning and mid/side."""
from __future__ import annotations

import math

import torch


def pan_gains(pan: torch.Tensor) -> torch.Tensor:
    """Left/right gains of pan ``p`` in (0, 1) (0.5 = centre): ``sqrt(2) (cos(p pi/2), sin(p pi/2))``.

    pan: (...) -> (..., 2).
    """
    angle = pan * (math.pi / 2)
    return math.sqrt(2) * torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)


def pan_mono(x: torch.Tensor, pan: torch.Tensor) -> torch.Tensor:
    """Mono (..., T) -> stereo (..., 2, T)."""
    return pan_gains(pan).unsqueeze(-1) * x.unsqueeze(-2)


def to_mid_side(x: torch.Tensor) -> torch.Tensor:
    """(..., 2, T) [L, R] -> [M, S] with ``M = (L + R)/sqrt(2)``, ``S = (L - R)/sqrt(2)``."""
    left, right = x.unbind(-2)
    return torch.stack([left + right, left - right], dim=-2) / math.sqrt(2)


def to_left_right(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_mid_side` (the transform is orthonormal and its own inverse)."""
    return to_mid_side(x)
