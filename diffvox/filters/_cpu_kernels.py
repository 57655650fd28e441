"""Compiled CPU kernels (numba), one pass over time, vectorised across rows.

The biquad kernels use the real Schur (triangular) state-space form of each section: an FIR
numerator ``w = b0 v[n] + b1 v[n-1] + b2 v[n-2]`` followed by two first-order recursions in series,

    s1[n] = p1 s1[n-1] + w[n]          (complex, stored as re/im)
    s2[n] = q  s2[n-1] + Re s1[n]      (real)

with ``(p1, q) = (p, Re p)`` for a conjugate pair ``p, conj(p)`` (then ``s2`` is real and its
recursion with ``conj(p)`` reduces to the real one above) and ``(p1, q) = (p1, p2)`` for two real
poles. No division by ``p1 - p2`` appears anywhere, so repeated poles are exact.

Signals are time-major ``(T, N)``: the innermost loop runs over rows, which LLVM turns into SIMD,
and row blocks run in parallel threads.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._jit import JIT

_ROW_BLOCK = 32
# Recursive states below this are set to zero. A state decaying through silence (or an adjoint
# through the part of a chunk the loss ignores) otherwise spends millions of samples in float64's
# subnormal range, where every multiplication is about 100 times slower (measured: a backward
# pass 25x slower). The change is below 1e-250 absolute.
_TINY = 1e-250


@numba.njit(inline="always")
def _flush(v):
    return v if abs(v) >= _TINY else 0.0


@numba.jit(**JIT)
def recurrence(p, u, h, reverse):
    """h[i, n] = p[i] h[i, n -/+ 1] + u[i, n]; p (N,), u and h (N, T), real or complex
    (states below ``_TINY`` in magnitude become zero)."""
    n_rows, n_time = u.shape
    for i in prange(n_rows):
        pole = p[i]
        acc = np.zeros(1, dtype=u.dtype)[0]
        if reverse:
            for n in range(n_time - 1, -1, -1):
                acc = pole * acc + u[i, n]
                if abs(acc) < _TINY:
                    acc = acc * 0
                h[i, n] = acc
        else:
            for n in range(n_time):
                acc = pole * acc + u[i, n]
                if abs(acc) < _TINY:
                    acc = acc * 0
                h[i, n] = acc


@numba.jit(**JIT)
def sos_forward(b, pole_re, pole_im, q, x, y, ckpt, seg, block):
    """Cascade of K biquads on N rows.

    b: (K, 3, N) numerators normalised by a0; pole_re, pole_im, q: (K, N) real Schur form;
    x, y: (N, T). The inner loops run across a block of ``block`` rows (SIMD); blocks run in
    parallel. ``ckpt`` (n_seg, 5, K, N) receives the state at the start of every ``seg`` samples
    (for the backward pass's recomputation); pass a (0, 5, K, N) array to skip it.
    """
    n_rows, n_time = x.shape
    n_sec = b.shape[0]
    save = ckpt.shape[0] > 0
    n_blocks = (n_rows + block - 1) // block
    for blk in prange(n_blocks):
        lo = blk * block
        width = min(lo + block, n_rows) - lo
        v = np.zeros(width, dtype=np.float64)
        state = np.zeros((5, n_sec, width), dtype=np.float64)  # z1, z2, s1.re, s1.im, s2
        for n in range(n_time):
            if save and n % seg == 0:
                ckpt[n // seg, :, :, lo:lo + width] = state
            for j in range(width):
                v[j] = x[lo + j, n]
            for k in range(n_sec):
                for j in range(width):
                    i = lo + j
                    w = b[k, 0, i] * v[j] + b[k, 1, i] * state[0, k, j] + b[k, 2, i] * state[1, k, j]
                    state[1, k, j] = state[0, k, j]
                    state[0, k, j] = v[j]
                    re = _flush(pole_re[k, i] * state[2, k, j] - pole_im[k, i] * state[3, k, j] + w)
                    state[3, k, j] = _flush(pole_re[k, i] * state[3, k, j] + pole_im[k, i] * state[2, k, j])
                    state[2, k, j] = re
                    state[4, k, j] = _flush(q[k, i] * state[4, k, j] + re)
                    v[j] = state[4, k, j]
            for j in range(width):
                y[lo + j, n] = v[j]


@numba.jit(**JIT)
def sos_backward(b, pole_re, pole_im, q, x, ckpt, seg, block, grad_y, grad_x, grad_b, grad_a):
    """Adjoint of :func:`sos_forward`: segments from last to first, each recomputed forward from
    its checkpoint into a small time-major buffer, then swept backwards in time.

    Each all-pole part's adjoint is the same recursion run backwards; the numerator's adjoint is
    a correlation. Parameter gradients use ``sum_n g[n] s[n-m] = sum_n g[n+m] s[n]`` (``g[n+1],
    g[n+2]`` are the adjoint's state), float32 partial sums per segment, float64 totals:
    grad_b (K, 3, N) w.r.t. normalised b0..b2, grad_a (K, 2, N) w.r.t. normalised a1, a2.
    """
    n_rows, n_time = x.shape
    n_sec = b.shape[0]
    n_seg = ckpt.shape[0]
    n_blocks = (n_rows + block - 1) // block
    for blk in prange(n_blocks):
        lo = blk * block
        width = min(lo + block, n_rows) - lo
        buf = np.empty((seg, n_sec + 1, width), dtype=np.float64)  # section inputs and outputs
        state = np.empty((5, n_sec, width), dtype=np.float64)
        adj = np.zeros((5, n_sec, width), dtype=np.float64)  # t1.re, t1.im, t2, g[n+1], g[n+2]
        g = np.zeros(width, dtype=np.float64)
        part_b = np.zeros((n_sec, 3, width), dtype=np.float64)
        part_a = np.zeros((n_sec, 2, width), dtype=np.float64)
        acc_b = np.zeros((n_sec, 3, width), dtype=np.float64)
        acc_a = np.zeros((n_sec, 2, width), dtype=np.float64)
        for s_idx in range(n_seg - 1, -1, -1):
            start = s_idx * seg
            stop = min(start + seg, n_time)
            # recompute the forward pass over this segment
            state[:] = ckpt[s_idx, :, :, lo:lo + width]
            for n in range(start, stop):
                t = n - start
                for j in range(width):
                    buf[t, 0, j] = x[lo + j, n]
                for k in range(n_sec):
                    for j in range(width):
                        i = lo + j
                        v = buf[t, k, j]
                        w = b[k, 0, i] * v + b[k, 1, i] * state[0, k, j] + b[k, 2, i] * state[1, k, j]
                        state[1, k, j] = state[0, k, j]
                        state[0, k, j] = v
                        re = _flush(pole_re[k, i] * state[2, k, j] - pole_im[k, i] * state[3, k, j] + w)
                        state[3, k, j] = _flush(pole_re[k, i] * state[3, k, j] + pole_im[k, i] * state[2, k, j])
                        state[2, k, j] = re
                        state[4, k, j] = _flush(q[k, i] * state[4, k, j] + re)
                        buf[t, k + 1, j] = state[4, k, j]
            # adjoint sweep
            for n in range(stop - 1, start - 1, -1):
                t = n - start
                for j in range(width):
                    g[j] = grad_y[lo + j, n]
                for k in range(n_sec - 1, -1, -1):
                    for j in range(width):
                        i = lo + j
                        re = _flush(pole_re[k, i] * adj[0, k, j] - pole_im[k, i] * adj[1, k, j] + g[j])
                        adj[1, k, j] = _flush(pole_re[k, i] * adj[1, k, j] + pole_im[k, i] * adj[0, k, j])
                        adj[0, k, j] = re
                        gw = _flush(q[k, i] * adj[2, k, j] + re)
                        adj[2, k, j] = gw
                        gw1 = adj[3, k, j]
                        gw2 = adj[4, k, j]
                        s_in = buf[t, k, j]
                        s_out = buf[t, k + 1, j]
                        part_b[k, 0, j] += gw * s_in
                        part_b[k, 1, j] += gw1 * s_in
                        part_b[k, 2, j] += gw2 * s_in
                        part_a[k, 0, j] -= gw1 * s_out
                        part_a[k, 1, j] -= gw2 * s_out
                        g[j] = b[k, 0, i] * gw + b[k, 1, i] * gw1 + b[k, 2, i] * gw2
                        adj[4, k, j] = gw1
                        adj[3, k, j] = gw
                for j in range(width):
                    grad_x[lo + j, n] = g[j]
            acc_b += part_b
            acc_a += part_a
            part_b[:] = 0
            part_a[:] = 0
        grad_b[:, :, lo:lo + width] = acc_b
        grad_a[:, :, lo:lo + width] = acc_a
