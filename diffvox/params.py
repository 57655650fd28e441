"""Maps from unconstrained logits to physical parameter values (the presets' README)."""
from __future__ import annotations

import torch


def open_unit(z: torch.Tensor) -> torch.Tensor:
    """``sigmoid(z)`` kept strictly inside (0, 1): a saturated float sigmoid would otherwise hit
    0 or 1, which the compressor's ratio and time constants must never reach."""
    eps = torch.finfo(z.dtype).eps
    return torch.sigmoid(z).clamp(eps, 1 - eps)


def bounded(z: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """``lo + (hi - lo) * sigmoid(z)``."""
    return lo + (hi - lo) * torch.sigmoid(z)


def bounded_logit(value, lo: float, hi: float) -> torch.Tensor:
    """Inverse of :func:`bounded`: the logit giving ``value`` (strictly inside the bounds)."""
    v = torch.as_tensor(value, dtype=torch.float64)
    if bool(((v <= lo) | (v >= hi)).any()):
        raise ValueError(f"value {v.tolist()} outside the open interval ({lo}, {hi})")
    return torch.logit((v - lo) / (hi - lo))


def lookahead_ms(z: torch.Tensor, max_ms: float = 15.0) -> torch.Tensor:
    """Compressor lookahead in ms: ``abs(z) mod max_ms``."""
    return torch.remainder(z.abs(), max_ms)


def orthogonal(logits: torch.Tensor) -> torch.Tensor:
    """``expm(T - T^T)`` with ``T`` the strict upper triangle of the (..., n, n) logits."""
    upper = torch.triu(logits, diagonal=1)
    return torch.linalg.matrix_exp(upper - upper.transpose(-1, -2))


def ms_to_coef(ms, sr: float) -> torch.Tensor:
    """Smoothing coefficient of a time constant (torchcomp's ``ms2coef``)."""
    return 1 - torch.exp(-2200.0 / (torch.as_tensor(ms, dtype=torch.float64) * sr))


def coef_to_ms(coef, sr: float) -> torch.Tensor:
    """Inverse of :func:`ms_to_coef`."""
    return -2200.0 / (sr * torch.log1p(-torch.as_tensor(coef, dtype=torch.float64)))
