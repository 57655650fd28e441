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


@numba.njit(inline="always")
def _block_coefficients(b, pole_re, pole_im, q, lo, width):
    """The block's coefficients as separate (K, width) arrays (LLVM vectorises loops over
    distinct arrays; accesses into one shared array defeat its aliasing checks)."""
    n_sec = b.shape[0]
    b0, b1, b2 = np.empty((n_sec, width)), np.empty((n_sec, width)), np.empty((n_sec, width))
    pr, pi, qq = np.empty((n_sec, width)), np.empty((n_sec, width)), np.empty((n_sec, width))
    for k in range(n_sec):
        for j in range(width):
            b0[k, j], b1[k, j], b2[k, j] = b[k, 0, lo + j], b[k, 1, lo + j], b[k, 2, lo + j]
            pr[k, j], pi[k, j], qq[k, j] = pole_re[k, lo + j], pole_im[k, lo + j], q[k, lo + j]
    return b0, b1, b2, pr, pi, qq


@numba.njit(inline="always")
def _section_step(k, width, v, b0, b1, b2, pr, pi, qq, z1, z2, sre, sim, s2):
    """One sample through section k for every row of the block: v (width,) in, out in place."""
    for j in range(width):
        vin = v[j]
        w = b0[k, j] * vin + b1[k, j] * z1[k, j] + b2[k, j] * z2[k, j]
        z2[k, j] = z1[k, j]
        z1[k, j] = vin
        re = _flush(pr[k, j] * sre[k, j] - pi[k, j] * sim[k, j] + w)
        sim[k, j] = _flush(pr[k, j] * sim[k, j] + pi[k, j] * sre[k, j])
        sre[k, j] = re
        out = _flush(qq[k, j] * s2[k, j] + re)
        s2[k, j] = out
        v[j] = out


@numba.jit(**JIT)
def sos_forward(b, pole_re, pole_im, q, x, y, ckpt, seg, block):
    """Cascade of K biquads on N rows.

    b: (K, 3, N) numerators normalised by a0; pole_re, pole_im, q: (K, N) real Schur form;
    x, y: (N, T). The inner loops run across a block of ``block`` rows (SIMD); blocks run in
    parallel. ``ckpt`` (n_seg, 5, K, N) receives the state (z1, z2, s1.re, s1.im, s2) at the
    start of every ``seg`` samples (for the backward pass's recomputation); pass a (0, 5, K, N)
    array to skip it.
    """
    n_rows, n_time = x.shape
    n_sec = b.shape[0]
    save = ckpt.shape[0] > 0
    n_blocks = (n_rows + block - 1) // block
    for blk in prange(n_blocks):
        lo = blk * block
        width = min(lo + block, n_rows) - lo
        b0, b1, b2, pr, pi, qq = _block_coefficients(b, pole_re, pole_im, q, lo, width)
        v = np.zeros(width)
        z1, z2, sre = np.zeros((n_sec, width)), np.zeros((n_sec, width)), np.zeros((n_sec, width))
        sim, s2 = np.zeros((n_sec, width)), np.zeros((n_sec, width))
        for n in range(n_time):
            if save and n % seg == 0:
                c = n // seg
                ckpt[c, 0, :, lo:lo + width] = z1
                ckpt[c, 1, :, lo:lo + width] = z2
                ckpt[c, 2, :, lo:lo + width] = sre
                ckpt[c, 3, :, lo:lo + width] = sim
                ckpt[c, 4, :, lo:lo + width] = s2
            for j in range(width):
                v[j] = x[lo + j, n]
            for k in range(n_sec):
                _section_step(k, width, v, b0, b1, b2, pr, pi, qq, z1, z2, sre, sim, s2)
            for j in range(width):
                y[lo + j, n] = v[j]


@numba.jit(**JIT)
def sos_backward(b, pole_re, pole_im, q, x, ckpt, seg, block, grad_y, grad_x, grad_b, grad_a):
    """Adjoint of :func:`sos_forward`: segments from last to first, each recomputed forward from
    its checkpoint into a small time-major buffer, then swept backwards in time.

    Each all-pole part's adjoint is the same recursion run backwards; the numerator's adjoint is
    a correlation. Parameter gradients use ``sum_n g[n] s[n-m] = sum_n g[n+m] s[n]`` (``g[n+1],
    g[n+2]`` are the adjoint's state), float64 partial sums per segment, float64 totals:
    grad_b (K, 3, N) w.r.t. normalised b0..b2, grad_a (K, 2, N) w.r.t. normalised a1, a2.
    """
    n_rows, n_time = x.shape
    n_sec = b.shape[0]
    n_seg = ckpt.shape[0]
    n_blocks = (n_rows + block - 1) // block
    for blk in prange(n_blocks):
        lo = blk * block
        width = min(lo + block, n_rows) - lo
        b0, b1, b2, pr, pi, qq = _block_coefficients(b, pole_re, pole_im, q, lo, width)
        buf = np.empty((seg, n_sec + 1, width))  # section inputs and outputs
        v = np.empty(width)
        z1, z2, sre = np.empty((n_sec, width)), np.empty((n_sec, width)), np.empty((n_sec, width))
        sim, s2 = np.empty((n_sec, width)), np.empty((n_sec, width))
        # the adjoint's state: t1 (complex), t2, and g[n+1], g[n+2] of each section's numerator
        t_re, t_im, t2 = np.zeros((n_sec, width)), np.zeros((n_sec, width)), np.zeros((n_sec, width))
        g1, g2 = np.zeros((n_sec, width)), np.zeros((n_sec, width))
        g = np.zeros(width)
        pb0, pb1, pb2 = np.zeros((n_sec, width)), np.zeros((n_sec, width)), np.zeros((n_sec, width))
        pa1, pa2 = np.zeros((n_sec, width)), np.zeros((n_sec, width))
        acc_b = np.zeros((n_sec, 3, width))
        acc_a = np.zeros((n_sec, 2, width))
        for s_idx in range(n_seg - 1, -1, -1):
            start = s_idx * seg
            stop = min(start + seg, n_time)
            # recompute the forward pass over this segment
            z1[:], z2[:] = ckpt[s_idx, 0, :, lo:lo + width], ckpt[s_idx, 1, :, lo:lo + width]
            sre[:], sim[:] = ckpt[s_idx, 2, :, lo:lo + width], ckpt[s_idx, 3, :, lo:lo + width]
            s2[:] = ckpt[s_idx, 4, :, lo:lo + width]
            for n in range(start, stop):
                t = n - start
                for j in range(width):
                    v[j] = x[lo + j, n]
                    buf[t, 0, j] = v[j]
                for k in range(n_sec):
                    _section_step(k, width, v, b0, b1, b2, pr, pi, qq, z1, z2, sre, sim, s2)
                    for j in range(width):
                        buf[t, k + 1, j] = v[j]
            # adjoint sweep
            for n in range(stop - 1, start - 1, -1):
                t = n - start
                for j in range(width):
                    g[j] = grad_y[lo + j, n]
                for k in range(n_sec - 1, -1, -1):
                    for j in range(width):
                        re = _flush(pr[k, j] * t_re[k, j] - pi[k, j] * t_im[k, j] + g[j])
                        t_im[k, j] = _flush(pr[k, j] * t_im[k, j] + pi[k, j] * t_re[k, j])
                        t_re[k, j] = re
                        gw = _flush(qq[k, j] * t2[k, j] + re)
                        t2[k, j] = gw
                        gw1, gw2 = g1[k, j], g2[k, j]
                        s_in, s_out = buf[t, k, j], buf[t, k + 1, j]
                        pb0[k, j] += gw * s_in
                        pb1[k, j] += gw1 * s_in
                        pb2[k, j] += gw2 * s_in
                        pa1[k, j] -= gw1 * s_out
                        pa2[k, j] -= gw2 * s_out
                        g[j] = b0[k, j] * gw + b1[k, j] * gw1 + b2[k, j] * gw2
                        g2[k, j] = gw1
                        g1[k, j] = gw
                for j in range(width):
                    grad_x[lo + j, n] = g[j]
            acc_b[:, 0] += pb0
            acc_b[:, 1] += pb1
            acc_b[:, 2] += pb2
            acc_a[:, 0] += pa1
            acc_a[:, 1] += pa2
            for arr in (pb0, pb1, pb2, pa1, pa2):
                arr[:] = 0
        grad_b[:, :, lo:lo + width] = acc_b
        grad_a[:, :, lo:lo + width] = acc_a
