"""``sosfilt``: cascaded biquads, differentiable, on the CPU and through parallel scans.

Each section ``(b0, b1, b2, a0, a1, a2)`` is normalised by ``a0`` and split into an FIR numerator
``w = b0 x[n] + b1 x[n-1] + b2 x[n-2]`` and an all-pole part ``1 / (1 + a1 z^-1 + a2 z^-2)``.
On the CPU one compiled pass runs all sections in direct form I with float64 state (sequential
in time, parallel over rows; see :mod:`diffvox.filters._cpu_kernels`). The parallel scans need
first-order recursions: there the all-pole part is ``1 / ((1 - p1 z^-1)(1 - p2 z^-1))`` run as two
recursions in series (the real Schur form of the state matrix, see :func:`schur_form`), with the
poles, the roots of ``z^2 + a1 z + a2``, found in float64. Neither form divides by ``p1 - p2``.
Gradients w.r.t. ``a1, a2`` use the adjoint filter directly (``dL/da_j = -sum_n g_w[n] y[n-j]``),
never the root derivative, which is singular at repeated poles.

Off the CPU the sections run as parallel scans with signals between sections in float64. The
``"mixed"`` scan (the default there for float32 signals) does the scans' in-block products, nearly
all their arithmetic, in single precision and only one product per sample and the carries in
double: consumer GPUs run float64 at 1/32 to 1/64 of float32 speed. Its error, bounded and
measured in the state-space chapter, is that of sums of at most 32 terms, not amplified by the
poles' closeness to the unit circle.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..devices import cpu_kernels
from .recurrence import _resolve, recurrence_raw


def biquad_poles(a1: torch.Tensor, a2: torch.Tensor) -> torch.Tensor:
    """Roots of ``z^2 + a1 z + a2`` (real a1, a2), stacked ``(..., 2)`` complex128.

    Uses the cancellation-free form for real roots (``q = -(a1 + sign(a1) sqrt(D)) / 2``,
    ``p1 = q``, ``p2 = a2 / q``); a conjugate pair otherwise.
    """
    a1 = a1.detach().to(torch.float64)
    a2 = a2.detach().to(torch.float64)
    disc = a1 * a1 - 4 * a2
    real_roots = disc >= 0
    sq = torch.sqrt(disc.abs())
    sign = torch.where(a1 >= 0, 1.0, -1.0).to(a1)
    q = -0.5 * (a1 + sign * sq)
    safe_q = torch.where(q == 0, torch.ones_like(q), q)
    r1 = q
    r2 = torch.where(q == 0, torch.zeros_like(q), a2 / safe_q)
    re = -0.5 * a1
    im = 0.5 * sq
    p1 = torch.where(real_roots, torch.complex(r1, torch.zeros_like(r1)), torch.complex(re, im))
    p2 = torch.where(real_roots, torch.complex(r2, torch.zeros_like(r2)), torch.complex(re, -im))
    return torch.stack([p1, p2], dim=-1)


def schur_form(a1: torch.Tensor, a2: torch.Tensor):
    """Real Schur form of the all-pole part ``1 / (1 + a1 z^-1 + a2 z^-2)``, float64.

    Returns ``(pole_re, pole_im, q)``: the first recursion's complex pole ``p1 = pole_re + i
    pole_im`` and the second recursion's real pole ``q``, such that
    ``s1[n] = p1 s1[n-1] + w[n]``, ``y[n] = q y[n-1] + Re s1[n]``. For a conjugate pair ``p1`` is the
    pole with positive imaginary part and ``q = Re p1``; for real poles ``p1, q`` are the two poles.
    """
    poles = biquad_poles(a1, a2)
    p1, p2 = poles[..., 0], poles[..., 1]
    is_pair = p1.imag != 0
    q = torch.where(is_pair, p1.real, p2.real)
    return p1.real, p1.imag.abs(), q


# ---------------------------------------------------------------------------------------------
# CPU: all sections fused in one compiled pass (forward) and one reverse pass (backward)


def _to_kernel(t: torch.Tensor, dtype) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to(dtype).numpy())


# samples per checkpoint segment of the fused backward pass: its buffer of section signals,
# 512 x 7 x 36 float64 at the benchmark's row blocks, then fits a core's 2 MB L2 (1024 measured
# 3 to 5% slower there)
_SEGMENT = 512


def _row_block(n_rows: int) -> int:
    """Rows per parallel block: an even share per thread, SIMD-friendly."""
    import numba

    threads = max(numba.get_num_threads(), 1)
    share = -(-n_rows // threads)
    return max(min(share, 64), 1)


class _FusedSosCPU(torch.autograd.Function):
    """b (N, K, 3), a (N, K, 2), x (N, T) -> y (N, T)."""

    @staticmethod
    def forward(ctx, b, a, x):
        from . import _cpu_kernels

        dt = x.dtype
        # coefficients and recursion state in float64; signals stay in their dtype
        f64 = torch.float64
        b_k = _to_kernel(b.permute(1, 2, 0), f64)  # (K, 3, N)
        a_k = _to_kernel(a.permute(1, 2, 0), f64)  # (K, 2, N)
        x_np = _to_kernel(x, dt)
        y = np.empty_like(x_np)
        n_rows, n_time = x_np.shape
        n_seg = -(-n_time // _SEGMENT) if any(ctx.needs_input_grad) else 0
        ckpt = np.empty((n_seg, 4, b_k.shape[0], n_rows), np.float64)
        block = _row_block(n_rows)
        _cpu_kernels.sos_forward(b_k, a_k, x_np, y, ckpt, _SEGMENT, block)
        if n_seg:
            ctx.kernel_args = (b_k, a_k, x_np, ckpt, block)
            ctx.dtypes = (b.dtype, a.dtype)
        return torch.from_numpy(y)

    @staticmethod
    def backward(ctx, grad_y):
        from . import _cpu_kernels

        b_k, a_k, x_np, ckpt, block = ctx.kernel_args
        g_np = _to_kernel(grad_y, torch.from_numpy(x_np[:0]).dtype)
        grad_x = np.empty_like(g_np)
        n_sec, n_rows = b_k.shape[0], b_k.shape[2]
        grad_b = np.empty((n_sec, 3, n_rows), np.float64)
        grad_a = np.empty((n_sec, 2, n_rows), np.float64)
        _cpu_kernels.sos_backward(b_k, a_k, x_np, ckpt, _SEGMENT, block, g_np, grad_x,
                                  grad_b, grad_a)
        b_dtype, a_dtype = ctx.dtypes
        return (torch.from_numpy(grad_b).permute(2, 0, 1).to(b_dtype),
                torch.from_numpy(grad_a).permute(2, 0, 1).to(a_dtype),
                torch.from_numpy(grad_x))


# ---------------------------------------------------------------------------------------------
# Any device: per section, FIR by tensor ops and the all-pole part by parallel scans


def _allpole_raw(schur, w: torch.Tensor, backend: str, reverse: bool = False):
    """Real all-pole filtering by the real Schur form: a complex then a real recursion."""
    pole_re, pole_im, q = schur
    s1 = recurrence_raw(torch.complex(pole_re, pole_im), w.to(_complex_dtype(w.dtype)), backend,
                        reverse)
    return recurrence_raw(q, s1.real.contiguous(), backend, reverse)


def _complex_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def _lagged_dot(g: torch.Tensor, y: torch.Tensor, lag: int) -> torch.Tensor:
    """sum_n g[n] y[n - lag] over the last axis."""
    return (g[..., lag:] * y[..., : y.shape[-1] - lag]).sum(-1)


class _AllPole(torch.autograd.Function):
    """a (N, 2), w (N, T) -> y (N, T), float64; the adjoint is the same filter reversed in time."""

    @staticmethod
    def forward(ctx, a, w, backend):
        schur = schur_form(a[:, 0], a[:, 1])
        y = _allpole_raw(schur, w, backend)
        ctx.save_for_backward(y, *schur)
        ctx.backend = backend
        return y

    @staticmethod
    def backward(ctx, grad_y):
        y, *schur = ctx.saved_tensors
        grad_w = _allpole_raw(schur, grad_y.contiguous(), ctx.backend, reverse=True)
        grad_a = None
        if ctx.needs_input_grad[0]:
            grad_a = -torch.stack([_lagged_dot(grad_w, y, 1), _lagged_dot(grad_w, y, 2)], -1)
        return grad_a, grad_w, None


def _fir3(b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """w[n] = b0 x[n] + b1 x[n-1] + b2 x[n-2]; b (N, 3), x (N, T)."""
    xp = F.pad(x, (2, 0))
    n = x.shape[-1]
    return b[:, :1] * xp[:, 2:] + b[:, 1:2] * xp[:, 1 : n + 1] + b[:, 2:3] * xp[:, :n]


def _sos_generic(b, a, x, backend):
    """The cascade in float64 (numerators cancel badly near z = 1; see :func:`sosfilt`)."""
    y = x.to(torch.float64)
    for k in range(b.shape[1]):
        y = _AllPole.apply(a[:, k], _fir3(b[:, k], y), backend)
    return y.to(x.dtype)


# ---------------------------------------------------------------------------------------------


def sosfilt(sos: torch.Tensor, x: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    """Filter ``x`` through cascaded biquads, like ``scipy.signal.sosfilt`` (zero initial state).

    Args:
        sos: ``(..., K, 6)`` sections ``[b0, b1, b2, a0, a1, a2]``; leading dims broadcast with
            ``x``'s. Every section must be stable (poles strictly inside the unit circle).
        x: ``(..., T)`` real signal.
        backend: ``"auto"`` (the fused compiled kernel on CPU; elsewhere the ``"mixed"``
            scan, or ``"scan"`` for float64 signals), ``"numba"`` (fused CPU kernel), or a scan
            backend of :func:`linear_recurrence` (``"scan"``, ``"mixed"``, ``"doubling"``,
            ``"loop"``) used section by section.

    Returns:
        ``(..., T)`` filtered signal, differentiable w.r.t. ``sos`` and ``x``.
    """
    if sos.shape[-1] != 6 or sos.dim() < 2:
        raise ValueError(f"sos must have shape (..., n_sections, 6), got {tuple(sos.shape)}")
    if x.dim() == 0:
        raise ValueError("x needs a time axis, shape (..., T)")
    if sos.is_complex() or x.is_complex():
        raise ValueError("sosfilt filters real signals with real sections")
    dtype = torch.promote_types(sos.dtype, x.dtype)
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    sos, x = sos.to(dtype), x.to(dtype)
    batch = torch.broadcast_shapes(sos.shape[:-2], x.shape[:-1])
    n_sec, n_time = sos.shape[-2], x.shape[-1]
    sos2 = sos.expand(*batch, n_sec, 6).reshape(-1, n_sec, 6)
    x2 = x.expand(*batch, n_time).reshape(-1, n_time)
    if n_time == 0 or n_sec == 0:
        return x2.reshape(*batch, n_time).clone()

    # Normalised and filtered with float64 coefficients and state, whatever the signal's dtype:
    # the all-pole part of a low, resonant section amplifies rounding noise by up to 1/|A(1)|
    # (~1e5 at the chain's extremes), which float32 state cannot absorb. Signals keep their dtype.
    sos64 = sos2.to(torch.float64)
    a0 = sos64[..., 3:4]
    if bool((a0.detach() == 0).any()):
        raise ValueError("sos has a section with a0 = 0")
    b = sos64[..., :3] / a0
    a = sos64[..., 4:] / a0
    _check_stable(a)

    if backend == "auto" and not cpu_kernels(x) and x.dtype != torch.float64:
        backend = "mixed"  # GPUs: no float64 matmuls (see the module docstring)
    backend = _resolve(backend, x.device)
    if backend == "numba":
        y = _FusedSosCPU.apply(b.contiguous(), a.contiguous(), x2.contiguous())
    else:
        y = _sos_generic(b, a, x2, backend)
    return y.reshape(*batch, n_time)


def _check_stable(a: torch.Tensor) -> None:
    """Raise if a section has a pole on or outside the unit circle (|p| >= 1) or is not finite."""
    a = a.detach()
    if not bool(torch.isfinite(a).all()):
        raise ValueError("sos holds NaN or Inf coefficients")
    radius = biquad_poles(a[..., 0], a[..., 1]).abs()
    if bool((radius >= 1).any()):
        raise ValueError(f"unstable section: pole radius {radius.max().item():.6g} >= 1")
