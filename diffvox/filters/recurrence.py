"""The first-order linear recurrence ``h[n] = p h[n-1] + u[n]`` with exact autograd.

Backends (all compute the same function):
``"numba"`` compiled CPU kernel, parallel over rows (CPU tensors only);
``"scan"`` blocked parallel scan in tensor ops (any device; the GPU path);
``"mixed"`` the same with the in-block products in single precision (complex64 / float32) and
the carries in the input's precision (:func:`.scan.blocked_scan`);
``"doubling"`` Hillis-Steele scan; ``"loop"`` Python loop over time (reference).
``"auto"`` picks numba on CPU and the blocked scan elsewhere.
"""
from __future__ import annotations

import numpy as np
import torch

from ..devices import cpu_kernels
from . import scan as _scan

BACKENDS = ("auto", "numba", "scan", "mixed", "doubling", "loop")
MIXED_BLOCK = 32  # samples per block of the mixed-precision scan (its error grows with the block)
_SINGLE = {torch.float64: torch.float32, torch.complex128: torch.complex64}


def _resolve(backend: str, device: torch.device) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    if backend == "auto":
        return "numba" if cpu_kernels(device) else "scan"
    if backend == "numba" and device.type != "cpu":
        raise ValueError("the numba backend runs on CPU tensors only")
    return backend


def _numba_recurrence(p: torch.Tensor, u: torch.Tensor, reverse: bool) -> torch.Tensor:
    from . import _cpu_kernels

    u_np = np.ascontiguousarray(u.detach().resolve_conj().numpy())
    p_np = np.ascontiguousarray(p.detach().resolve_conj().numpy()).astype(u_np.dtype, copy=False)
    h = np.empty_like(u_np)
    _cpu_kernels.recurrence(p_np, u_np, h, reverse)
    return torch.from_numpy(h)


def recurrence_raw(p: torch.Tensor, u: torch.Tensor, backend: str = "auto",
                   reverse: bool = False) -> torch.Tensor:
    """No-autograd recurrence on 2-D input. p: (N,), u: (N, T), same dtype -> (N, T)."""
    backend = _resolve(backend, u.device)
    if backend == "numba":
        return _numba_recurrence(p, u, reverse)
    if reverse:
        u = u.flip(-1)
    if backend == "mixed":
        h = _scan.blocked_scan(p, u, MIXED_BLOCK, _SINGLE.get(u.dtype))
    else:
        fn = {"scan": _scan.blocked_scan, "doubling": _scan.doubling_scan, "loop": _scan.loop_scan}[backend]
        h = fn(p, u)
    return h.flip(-1) if reverse else h


class _LinearRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, p, u, backend):
        h = recurrence_raw(p, u, backend)
        ctx.save_for_backward(p, h)
        ctx.backend = backend
        return h

    @staticmethod
    def backward(ctx, grad_h):
        p, h = ctx.saved_tensors
        # adjoint: the same recursion backwards in time with the conjugate pole
        grad_u = recurrence_raw(p.conj().resolve_conj(), grad_h.resolve_conj().contiguous(), ctx.backend, reverse=True)
        grad_p = None
        if ctx.needs_input_grad[0]:
            grad_p = (grad_u[:, 1:] * h[:, :-1].conj()).sum(-1)
        return grad_p, grad_u, None


def linear_recurrence(p: torch.Tensor, u: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    """``h[n] = p h[n-1] + u[n]`` along the last axis, zero initial state.

    Args:
        p: pole(s), shape broadcastable to ``u.shape[:-1]`` (one constant pole per row);
            real or complex.
        u: input, shape ``(..., T)``; real or complex. Real ``u`` with complex ``p`` is promoted.
        backend: see the module docstring.

    Returns:
        ``h`` with shape ``(..., T)`` and the promoted dtype. Differentiable in ``p`` and ``u``
        (exact gradients: the backward is the reversed recurrence with ``conj(p)``).
    """
    p = torch.as_tensor(p, device=u.device)
    if u.dim() == 0:
        raise ValueError("linear_recurrence needs u with a time axis, shape (..., T)")
    dtype = torch.promote_types(p.dtype, u.dtype)
    if not (dtype.is_floating_point or dtype.is_complex):
        dtype = torch.get_default_dtype()
    batch = torch.broadcast_shapes(p.shape, u.shape[:-1])
    n_time = u.shape[-1]
    p2 = p.to(dtype).expand(batch).reshape(-1)
    u2 = u.to(dtype).expand(*batch, n_time).reshape(-1, n_time)
    if n_time == 0:
        return u2.reshape(*batch, 0)
    backend = _resolve(backend, u.device)
    h = _LinearRecurrence.apply(p2, u2.contiguous(), backend)
    return h.reshape(*batch, n_time)
