"""Maps from unconstrained logits to physical parameter values (the presets' README)."""
from __future__ import annotations

import numpy as np
import torch


def open_unit(z: torch.Tensor) -> torch.Tensor:
    """``sigmoid(z)`` kept strictly inside (0, 1): a saturated float sigmoid would otherwise hit
    0 or 1, which the compressor's ratio and time constants must never reach."""
    eps = torch.finfo(z.dtype).eps
    return torch.sigmoid(z).clamp(eps, 1 - eps)


def bounded(z: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """``lo + (hi - lo) * sigmoid(z)``."""
    return lo + (hi - lo) * torch.sigmoid(z)


def ratio_above_one(z: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """:func:`bounded`, kept above 1 by two ulps: a ratio that rounds to 1 would divide by zero
    in the compressor's slope ``1 - 1/ratio``."""
    return bounded(z, lo, hi).clamp_min(1 + 2 * torch.finfo(z.dtype).eps)


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


def unit_logit(value) -> torch.Tensor:
    """Inverse of the sigmoid for values in (0, 1)."""
    return torch.logit(torch.as_tensor(value, dtype=torch.float64))


def orthogonal_logits(matrix) -> torch.Tensor:
    """Logits (n, n) that :func:`orthogonal` maps to ``matrix`` (orthogonal, determinant +1): the
    strict upper triangle of its real matrix logarithm, zeros elsewhere."""
    import scipy.linalg

    u = np.asarray(matrix, dtype=np.float64)
    log = scipy.linalg.logm(u)
    skew = np.real(log - log.T) / 2
    return torch.from_numpy(np.triu(skew, 1).copy())


def orthogonality_error(matrix) -> str | None:
    """Why ``matrix`` cannot be a feedback matrix ``expm(T - T^T)``, or None."""
    u = np.asarray(matrix, dtype=np.float64)
    if u.ndim != 2 or u.shape[0] != u.shape[1]:
        return f"it must be a square matrix, got shape {u.shape}"
    deviation = np.abs(u @ u.T - np.eye(len(u))).max()
    if deviation > 1e-4:  # files written from float32 parameters are orthogonal to about 1e-6
        return f"it is not orthogonal (max |U U^T - I| = {deviation:.2g})"
    if np.linalg.det(u) < 0:
        return "its determinant is -1; expm(T - T^T) has determinant +1"
    back = orthogonal(orthogonal_logits(u)).numpy()
    if np.abs(back - u).max() > 1e-4:
        return "it has an eigenvalue at -1 that its logarithm cannot represent"
    return None
