"""Compiled CPU kernels (numba) of the STFT's framing and of its adjoint's overlap-add.

Framing writes each windowed frame straight from the signal, reflecting at both ends, instead of
padding a copy and multiplying an unfolded view (two passes and an allocation). The overlap-add
adds, block by block of the output, the windowed frames that overlap the block (unit-stride
loops that vectorise), then folds the reflected padding back onto the samples it copied; no
padded scratch signal. Signals are
(R, T) float32 or float64; frames (R, M, n_fft) with M = 1 + T // hop.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._jit import JIT


@numba.njit(inline="always")
def _reflect(j, n):
    """Index j of the signal padded by reflection (no edge repeat), for -n < j < 2n - 1."""
    if j < 0:
        return -j
    if j >= n:
        return 2 * (n - 1) - j
    return j


@numba.jit(**JIT)
def frames(x, window, hop, out):
    """out[r, m, i] = window[i] * x[r, reflect(m hop + i - n_fft / 2)]."""
    n_rows, n_time = x.shape
    n_frames, n_fft = out.shape[1], out.shape[2]
    half = n_fft // 2
    for task in prange(n_rows * n_frames):
        r, m = task // n_frames, task % n_frames
        start = m * hop - half
        if start >= 0 and start + n_fft <= n_time:
            for i in range(n_fft):  # inside the signal: a plain product that vectorises
                out[r, m, i] = window[i] * x[r, start + i]
        else:
            for i in range(n_fft):
                out[r, m, i] = window[i] * x[r, _reflect(start + i, n_time)]


@numba.jit(**JIT)
def overlap_add(frames_grad, window, hop, out):
    """The adjoint of :func:`frames`: out (R, T) = sum over frames of window * frames_grad,
    each frame sample added to the signal sample it was read from."""
    n_rows, n_time = out.shape
    n_frames, n_fft = frames_grad.shape[1], frames_grad.shape[2]
    half = n_fft // 2
    block = 4096
    n_blocks = (n_time + block - 1) // block
    for task in prange(n_rows * n_blocks):
        r, b = task // n_blocks, task % n_blocks
        lo, hi = b * block, min(n_time, (b + 1) * block)
        acc = np.zeros(hi - lo, out.dtype)
        # frame m covers signal samples m hop - half .. m hop - half + n_fft - 1
        for m in range(max(0, (lo + half - n_fft) // hop + 1), min(n_frames, (hi - 1 + half) // hop + 1)):
            offset = m * hop - half
            first, last = max(lo, offset), min(hi, offset + n_fft)
            frame, a = frames_grad[r, m, first - offset:last - offset], acc[first - lo:last - lo]
            w = window[first - offset:last - offset]
            for j in range(last - first):  # 1-D unit-stride slices: this loop vectorises
                a[j] += w[j] * frame[j]
        out[r, lo:hi] = acc
    # the reflected padding: padded sample p < half copied x[half - p], p >= T + half copied
    # x[2 (T - 1) - (p - half)]; add their gradients back (few samples, one thread per row)
    for r in prange(n_rows):
        for p in range(half):
            acc = 0.0
            for m in range(0, min(p // hop, n_frames - 1) + 1):
                i = p - m * hop
                acc += window[i] * frames_grad[r, m, i]
            out[r, half - p] += acc
        for p in range(n_time + half, (n_frames - 1) * hop + n_fft):
            acc = 0.0
            for m in range(max(0, (p - n_fft) // hop + 1), min(p // hop, n_frames - 1) + 1):
                i = p - m * hop
                acc += window[i] * frames_grad[r, m, i]
            out[r, 2 * (n_time - 1) - (p - half)] += acc
