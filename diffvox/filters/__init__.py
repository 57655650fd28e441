"""Fast, exact, differentiable IIR filtering.

* :func:`biquad_coefficients` - RBJ cookbook biquads.
* :func:`linear_recurrence` - ``h[n] = p h[n-1] + u[n]`` (complex), exact autograd, compiled CPU
  kernel and parallel scans.
* :func:`sosfilt` - cascaded biquads through the triangular state-space form.
* :func:`one_pole` - the one-pole smoother ``y[n] = c v[n] + (1 - c) y[n-1]``.
"""
import torch

from .biquad import KINDS, biquad_coefficients
from .recurrence import BACKENDS, linear_recurrence
from .sos import biquad_poles, sosfilt


def one_pole(v, coef, backend: str = "auto"):
    """``y[n] = c v[n] + (1 - c) y[n-1]``, zero state. v: (..., T); coef broadcastable to (...)."""
    coef = torch.as_tensor(coef, dtype=v.dtype, device=v.device)
    return linear_recurrence(1 - coef, coef.unsqueeze(-1) * v, backend)


__all__ = ["KINDS", "BACKENDS", "biquad_coefficients", "biquad_poles", "linear_recurrence",
           "one_pole", "sosfilt"]
