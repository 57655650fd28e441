"""Compiled CPU kernels (numba) of the MSS distances: one pass for the values, one for the
gradient, over the L/R spectra and the target's magnitudes of the four views (L, R, L+R, L-R).

Spectra are (B, 2, ...) complex64 (L, R), targets (B', 4, ...) float32 (L, R, L+R, L-R) with a
row map (B,): the target rows of the sub-batch, read in place. Work is split into blocks of about
``_BLOCK`` elements so that every thread has some even for a batch of one. Magnitudes are
``sqrt(max(re^2 + im^2, floor^2))`` in float32, as auraloss computes them; sums accumulate in
float64.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from .._jit import JIT, JIT_SUMS, log32

_BLOCK = 1 << 14


@numba.njit(inline="always")
def _power(z):
    return z.real * z.real + z.imag * z.imag


@numba.jit(**JIT_SUMS)
def distance_sums(x, mag, logmag, rows, floor2, out):
    """Partial sums per block: out (B * n_blocks, 6) = squared residuals of the views (lr, sum,
    diff), then absolute log ratios of the same. mag, logmag: (B', 4, N) for L, R, L+R, L-R, of
    which rows[b] goes with the prediction's row b."""
    n_rows, n = x.shape[0], x.shape[2]
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for task in prange(n_rows * n_blocks):
        row, blk = task // n_blocks, task % n_blocks
        sq_lr = sq_s = sq_d = lg_lr = lg_s = lg_d = 0.0
        t_row = rows[row]
        for i in range(blk * _BLOCK, min(n, (blk + 1) * _BLOCK)):
            a, b = x[row, 0, i], x[row, 1, i]
            m0 = np.float32(math.sqrt(max(_power(a), floor2)))
            m1 = np.float32(math.sqrt(max(_power(b), floor2)))
            m2 = np.float32(math.sqrt(max(_power(a + b), floor2)))
            m3 = np.float32(math.sqrt(max(_power(a - b), floor2)))
            r0, r1 = mag[t_row, 0, i] - m0, mag[t_row, 1, i] - m1
            r2, r3 = mag[t_row, 2, i] - m2, mag[t_row, 3, i] - m3
            sq_lr += r0 * r0 + r1 * r1
            sq_s += r2 * r2
            sq_d += r3 * r3
            lg_lr += abs(log32(m0) - logmag[t_row, 0, i]) + abs(log32(m1) - logmag[t_row, 1, i])
            lg_s += abs(log32(m2) - logmag[t_row, 2, i])
            lg_d += abs(log32(m3) - logmag[t_row, 3, i])
        out[task, 0], out[task, 1], out[task, 2] = sq_lr, sq_s, sq_d
        out[task, 3], out[task, 4], out[task, 5] = lg_lr, lg_s, lg_d


@numba.njit(inline="always")
def _coef(power, target, floor2, w_sc, w_log):
    """d/d|X| of the view's weighted distances, divided by |X| (zero where the floor clamps).
    sign(log |X| - log Y) is sign(|X| - Y): no logarithm needed. Branch-free, so that the
    loop over bins vectorises."""
    m = np.float32(math.sqrt(max(power, floor2)))  # the floor only keeps 1/m finite
    inv = np.float32(1.0) / m
    sign = np.float32(m > target) - np.float32(m < target)
    return (w_sc * (m - target) + w_log * sign * inv) * inv * np.float32(power >= floor2)


@numba.jit(**JIT)
def distance_grads(x, mag, rows, floor2, w_sc, w_log, bin_scale):
    """The gradient with respect to the L and R spectra of a weighted sum of the distances.

    For view k (lr, sum, diff), d/d|X| = -w_sc[k] (Y - |X|) + w_log[k] sign(log |X| - log Y) / |X|
    (so w_sc = weight / (||Y - |X| || ||Y||) and w_log = weight / count give spectral convergence
    and the mean log distance); then d|X|/dX = X / |X| (zero where the floor clamps), chained
    through L+R and L-R, times ``bin_scale[bin]``.

    x: the L/R spectra, complex64 (B, 2, M, F), replaced in place by their gradient (each bin
    is read before it is written; no third array is allocated). mag: (B', 4, M, F), of which
    rows[b] goes with row b. Blocks of frames run in parallel; the loop over bins compiles to
    SIMD code (it did not with the spectra as float32 pairs), yet it measured no faster: about
    12 ns per bin pair on one core, three times a plain copy's, for reasons not found yet.
    """
    n_rows, n_frames, n_bins = x.shape[0], x.shape[2], x.shape[3]
    per_block = max(1, _BLOCK // n_bins)
    n_blocks = (n_frames + per_block - 1) // per_block
    sc0, sc1, sc2, lg0, lg1, lg2 = w_sc[0], w_sc[1], w_sc[2], w_log[0], w_log[1], w_log[2]
    for task in prange(n_rows * n_blocks):
        row, blk = task // n_blocks, task % n_blocks
        t_row = rows[row]
        for m in range(blk * per_block, min(n_frames, (blk + 1) * per_block)):
            for k in range(n_bins):
                za, zb = x[row, 0, m, k], x[row, 1, m, k]
                ar, ai, br, bi = za.real, za.imag, zb.real, zb.imag
                sr, si, dr, di = ar + br, ai + bi, ar - br, ai - bi
                c0 = _coef(ar * ar + ai * ai, mag[t_row, 0, m, k], floor2, sc0, lg0)
                c1 = _coef(br * br + bi * bi, mag[t_row, 1, m, k], floor2, sc0, lg0)
                c2 = _coef(sr * sr + si * si, mag[t_row, 2, m, k], floor2, sc1, lg1)
                c3 = _coef(dr * dr + di * di, mag[t_row, 3, m, k], floor2, sc2, lg2)
                scale = bin_scale[k]
                ca, cb, cross = (c0 + c2 + c3) * scale, (c1 + c2 + c3) * scale, (c2 - c3) * scale
                x[row, 0, m, k] = np.complex64(complex(ar * ca + br * cross, ai * ca + bi * cross))
                x[row, 1, m, k] = np.complex64(complex(br * cb + ar * cross, bi * cb + ai * cross))
