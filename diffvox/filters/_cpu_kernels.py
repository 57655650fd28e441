"""Compiled CPU kernels (numba), one pass over time, vectorised across rows.

The biquad kernels run each section in direct form I with float64 coefficients and state:

    y[n] = b0 v[n] + b1 v[n-1] + b2 v[n-2] - a1 y[n-1] - a2 y[n-2]

(``a0 = 1``). This is the sequential CPU path only; the parallel scans off the CPU need first-order
recursions and use the real Schur form (:func:`diffvox.filters.sos.schur_form`). Both are exact
for repeated poles (neither divides by ``p1 - p2``). With float64 state the direct form is as
accurate here as the Schur form was (relative RMS against ``scipy.signal.sosfilt``, itself a
float64 direct form: 5.4e-12 on random chain EQs, 4.5e-11 on random sections with poles up to
radius 0.9999, where the Schur form gave 1.1e-9). Per sample it needs 5 multiply-adds, one of
them on the recursion's critical path, against 8 and two for the Schur form (measured on
(70, 529200), one thread, 36 rows: forward 0.032 -> 0.021 s, adjoint sweep 0.089 -> 0.071 s).

The biquad kernels loop over rows innermost, which LLVM turns into SIMD (256-bit, with FMAs:
``contract`` is the one fast-math flag they allow), and row blocks run in parallel threads. Each
section takes ``_UNROLL`` samples per visit (``_SWEEP`` in the adjoint), its state held in
registers over them: with one sample per visit the kernels were bound by loads and stores of
state, not by arithmetic. The adjoint's per-section step is compiled with ``noalias`` array
arguments (:func:`diffvox._jit.njit_noalias`); without it LLVM left the Schur-form step
scalar, 2.6x slower.
Subnormal states are flushed every ``_FLUSH_EVERY`` samples rather than at every operation.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._jit import JIT, njit_noalias

_JIT_FMA = dict(JIT, fastmath={"contract"})
_VECTOR = 4  # float64 lanes of a 256-bit vector
# Recursive states below this are set to zero. A state decaying through silence (or an adjoint
# through the part of a chunk the loss ignores) otherwise spends millions of samples in float64's
# subnormal range, where every multiplication is about 100 times slower (measured: a backward
# pass 25x slower). The change is below 1e-250 absolute. The biquad kernels flush every
# _FLUSH_EVERY samples: a state needs far more samples than that to fall from 1e-250 to the
# subnormals (2e-308) unless its pole is tiny, and then it reaches zero within a few more.
_TINY = 1e-250
_FLUSH_EVERY = 16
_UNROLL = 4  # samples per visit of a section (divides _FLUSH_EVERY and the checkpoint segment)
_SWEEP = 8  # samples per visit in the adjoint sweep (likewise)


@numba.njit(inline="always")
def _flush(v):
    """0 for |v| below ``_TINY``; anything else, NaN included, unchanged (as in ``recurrence``)."""
    return 0.0 if abs(v) < _TINY else v


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
def _lanes(width):
    """Row lanes a block computes: ``width`` rounded up to whole SIMD vectors (the padding lanes
    carry zeros; a scalar remainder loop would cost as much as a vector iteration per row)."""
    return -(-width // _VECTOR) * _VECTOR


@numba.njit(inline="always")
def _block_coefficients(b, a, lo, width):
    """The block's coefficients b0, b1, b2, -a1, -a2 as separate (K, lanes) arrays, zero in the
    padding lanes (LLVM vectorises loops over distinct arrays; accesses into one shared array
    defeat its aliasing checks)."""
    n_sec, lanes = b.shape[0], _lanes(width)
    b0, b1, b2 = np.zeros((n_sec, lanes)), np.zeros((n_sec, lanes)), np.zeros((n_sec, lanes))
    m1, m2 = np.zeros((n_sec, lanes)), np.zeros((n_sec, lanes))
    for k in range(n_sec):
        for j in range(width):
            b0[k, j], b1[k, j], b2[k, j] = b[k, 0, lo + j], b[k, 1, lo + j], b[k, 2, lo + j]
            m1[k, j], m2[k, j] = -a[k, 0, lo + j], -a[k, 1, lo + j]
    return b0, b1, b2, m1, m2


@numba.njit(inline="always")
def _section_steps(k, lanes, v, count, b0, b1, b2, m1, m2, z1, z2, y1s, y2s):
    """``count`` samples through section k for every lane of the block: v (U, lanes) in, out in
    place. The section's state is loaded once per lane and kept in registers over the samples
    (with ``count`` a constant the sample loop unrolls and the lane loop vectorises). ``y[n-1]``
    enters last, so one multiply-add per sample is on the recursion's critical path."""
    for j in range(lanes):
        c0, c1, c2, n1, n2 = b0[k, j], b1[k, j], b2[k, j], m1[k, j], m2[k, j]
        x1, x2, y1, y2 = z1[k, j], z2[k, j], y1s[k, j], y2s[k, j]
        for u in range(count):
            vin = v[u, j]
            y = c0 * vin + c1 * x1 + c2 * x2 + n2 * y2 + n1 * y1
            x2, x1, y2, y1 = x1, vin, y1, y
            v[u, j] = y
        z1[k, j], z2[k, j], y1s[k, j], y2s[k, j] = x1, x2, y1, y2


@numba.njit(inline="always")
def _cascade(n_sec, lanes, v, count, b0, b1, b2, m1, m2, z1, z2, y1s, y2s, buf, t):
    """``count`` samples through all sections; with ``buf`` non-empty, each section's output
    sample u goes to ``buf[t + u, k + 1]``."""
    for k in range(n_sec):
        if count == _UNROLL:
            _section_steps(k, lanes, v, _UNROLL, b0, b1, b2, m1, m2, z1, z2, y1s, y2s)
        else:
            _section_steps(k, lanes, v, count, b0, b1, b2, m1, m2, z1, z2, y1s, y2s)
        if buf.shape[0] > 0:
            for u in range(count):
                for j in range(lanes):
                    buf[t + u, k + 1, j] = v[u, j]


@numba.njit(inline="always")
def _flush_states(s1, s2):
    """Set recursive states below ``_TINY`` in magnitude to zero, in place; (K, width) each."""
    for k in range(s1.shape[0]):
        for j in range(s1.shape[1]):
            s1[k, j], s2[k, j] = _flush(s1[k, j]), _flush(s2[k, j])


@numba.jit(**_JIT_FMA)
def sos_forward(b, a, x, y, ckpt, seg, block):
    """Cascade of K biquads on N rows.

    b: (K, 3, N) numerators and a: (K, 2, N) denominators ``a1, a2``, normalised by a0, float64;
    x, y: (N, T). The inner loops run across a block of ``block`` rows (SIMD); blocks run in
    parallel. ``ckpt`` (n_seg, 4, K, N) receives the state (v[n-1], v[n-2], y[n-1], y[n-2]) at
    the start of every ``seg`` samples (for the backward pass's recomputation); pass a
    (0, 4, K, N) array to skip it.
    """
    n_rows, n_time = x.shape
    n_sec = b.shape[0]
    save = ckpt.shape[0] > 0
    n_blocks = (n_rows + block - 1) // block
    for blk in prange(n_blocks):
        lo = blk * block
        width = min(lo + block, n_rows) - lo
        b0, b1, b2, m1, m2 = _block_coefficients(b, a, lo, width)
        lanes = _lanes(width)
        v = np.zeros((_UNROLL, lanes))
        z1, z2 = np.zeros((n_sec, lanes)), np.zeros((n_sec, lanes))
        y1s, y2s = np.zeros((n_sec, lanes)), np.zeros((n_sec, lanes))
        no_buf = np.empty((0, n_sec + 1, lanes))
        for n in range(0, n_time, _UNROLL):
            if save and n % seg == 0:
                c = n // seg
                ckpt[c, 0, :, lo:lo + width] = z1[:, :width]
                ckpt[c, 1, :, lo:lo + width] = z2[:, :width]
                ckpt[c, 2, :, lo:lo + width] = y1s[:, :width]
                ckpt[c, 3, :, lo:lo + width] = y2s[:, :width]
            if n % _FLUSH_EVERY == 0:
                _flush_states(y1s, y2s)
            count = min(_UNROLL, n_time - n)
            for u in range(count):
                for j in range(width):
                    v[u, j] = x[lo + j, n + u]
            _cascade(n_sec, lanes, v, count, b0, b1, b2, m1, m2, z1, z2, y1s, y2s, no_buf, 0)
            for u in range(count):
                for j in range(width):
                    y[lo + j, n + u] = v[u, j]


@njit_noalias(fastmath={"contract"}, error_model="numpy")
def _adjoint_steps(k, lanes, g, count, buf, t, b0, b1, b2, m1, m2, l1s, l2s,
                   pb0, pb1, pb2, pa1, pa2):
    """The adjoint of :func:`_section_steps`: samples ``t + count - 1`` down to ``t`` of the
    segment back through section k, g (U, lanes) in, out in place; the section's adjoint state
    and parameter sums are loaded once per lane and kept in registers over the samples.

    The all-pole part's adjoint ``lam[n] = g[n] - a1 lam[n+1] - a2 lam[n+2]`` is the same
    recursion run backwards; the numerator's adjoint is a correlation. Parameter gradients use
    ``sum_n lam[n] s[n-m] = sum_n lam[n+m] s[n]`` (``l1, l2`` hold ``lam[n+1], lam[n+2]``).
    Compiled on its own with ``noalias`` arguments, so every array passed must be distinct."""
    for j in range(lanes):
        c0, c1, c2, n1, n2 = b0[k, j], b1[k, j], b2[k, j], m1[k, j], m2[k, j]
        l1, l2 = l1s[k, j], l2s[k, j]
        sb0, sb1, sb2, sa1, sa2 = pb0[k, j], pb1[k, j], pb2[k, j], pa1[k, j], pa2[k, j]
        for u in range(count - 1, -1, -1):
            lam = g[u, j] + n2 * l2 + n1 * l1
            s_in, s_out = buf[t + u, k, j], buf[t + u, k + 1, j]
            sb0 += lam * s_in
            sb1 += l1 * s_in
            sb2 += l2 * s_in
            sa1 -= l1 * s_out
            sa2 -= l2 * s_out
            g[u, j] = c0 * lam + c1 * l1 + c2 * l2
            l2, l1 = l1, lam
        l1s[k, j], l2s[k, j] = l1, l2
        pb0[k, j], pb1[k, j], pb2[k, j], pa1[k, j], pa2[k, j] = sb0, sb1, sb2, sa1, sa2


@numba.jit(**_JIT_FMA)
def sos_backward(b, a, x, ckpt, seg, block, grad_y, grad_x, grad_b, grad_a):
    """Adjoint of :func:`sos_forward`: segments from last to first, each recomputed forward from
    its checkpoint into a small time-major buffer, then swept backwards in time
    (:func:`_adjoint_steps`). grad_y is read during the recomputation and grad_x written after
    the sweep, both forwards in time (reading and writing them inside the backward sweep cost
    10% more). Float64 parameter sums per segment, float64 totals: grad_b (K, 3, N) w.r.t.
    normalised b0..b2, grad_a (K, 2, N) w.r.t. normalised a1, a2.
    """
    n_rows, n_time = x.shape
    n_sec = b.shape[0]
    n_seg = ckpt.shape[0]
    n_blocks = (n_rows + block - 1) // block
    for blk in prange(n_blocks):
        lo = blk * block
        width = min(lo + block, n_rows) - lo
        b0, b1, b2, m1, m2 = _block_coefficients(b, a, lo, width)
        lanes = _lanes(width)
        buf = np.zeros((seg, n_sec + 1, lanes))  # section inputs and outputs
        v = np.zeros((_UNROLL, lanes))
        z1, z2 = np.zeros((n_sec, lanes)), np.zeros((n_sec, lanes))
        y1s, y2s = np.zeros((n_sec, lanes)), np.zeros((n_sec, lanes))
        # the adjoint's state: lam[n+1], lam[n+2] of each section
        l1s, l2s = np.zeros((n_sec, lanes)), np.zeros((n_sec, lanes))
        g_seg = np.zeros((seg, lanes))  # grad_y over the segment, time-major
        pb0, pb1, pb2 = np.zeros((n_sec, lanes)), np.zeros((n_sec, lanes)), np.zeros((n_sec, lanes))
        pa1, pa2 = np.zeros((n_sec, lanes)), np.zeros((n_sec, lanes))
        acc_b = np.zeros((n_sec, 3, lanes))
        acc_a = np.zeros((n_sec, 2, lanes))
        for s_idx in range(n_seg - 1, -1, -1):
            start = s_idx * seg
            stop = min(start + seg, n_time)
            # recompute the forward pass over this segment
            z1[:, :width] = ckpt[s_idx, 0, :, lo:lo + width]
            z2[:, :width] = ckpt[s_idx, 1, :, lo:lo + width]
            y1s[:, :width] = ckpt[s_idx, 2, :, lo:lo + width]
            y2s[:, :width] = ckpt[s_idx, 3, :, lo:lo + width]
            for n in range(start, stop, _UNROLL):
                t = n - start
                if n % _FLUSH_EVERY == 0:
                    _flush_states(y1s, y2s)
                count = min(_UNROLL, stop - n)
                for u in range(count):
                    for j in range(width):
                        v[u, j] = x[lo + j, n + u]
                        buf[t + u, 0, j] = v[u, j]
                        g_seg[t + u, j] = grad_y[lo + j, n + u]
                _cascade(n_sec, lanes, v, count, b0, b1, b2, m1, m2, z1, z2, y1s, y2s, buf, t)
            # adjoint sweep, blocks of _SWEEP samples from last to first
            for n0 in range(start + (stop - 1 - start) // _SWEEP * _SWEEP, start - 1, -_SWEEP):
                t = n0 - start
                if n0 % _FLUSH_EVERY == 0:
                    _flush_states(l1s, l2s)
                count = min(_SWEEP, stop - n0)
                g = g_seg[t:t + count]
                for k in range(n_sec - 1, -1, -1):
                    if count == _SWEEP:
                        _adjoint_steps(k, lanes, g, _SWEEP, buf, t, b0, b1, b2, m1, m2,
                                       l1s, l2s, pb0, pb1, pb2, pa1, pa2)
                    else:
                        _adjoint_steps(k, lanes, g, count, buf, t, b0, b1, b2, m1, m2,
                                       l1s, l2s, pb0, pb1, pb2, pa1, pa2)
            for n in range(start, stop):
                for j in range(width):
                    grad_x[lo + j, n] = g_seg[n - start, j]
            acc_b[:, 0] += pb0
            acc_b[:, 1] += pb1
            acc_b[:, 2] += pb2
            acc_a[:, 0] += pa1
            acc_a[:, 1] += pa2
            for arr in (pb0, pb1, pb2, pa1, pa2):
                arr[:] = 0
        grad_b[:, :, lo:lo + width] = acc_b[:, :, :width]
        grad_a[:, :, lo:lo + width] = acc_a[:, :, :width]
