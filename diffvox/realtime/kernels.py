"""Per-sample recursions of the exact chain, compiled with numba (float64, one thread).

Every kernel processes one block of any length and carries its state in arrays it updates in
place, so a signal split into blocks gives the same samples as the whole signal at once.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

LN10_OVER_20 = math.log(10.0) / 20.0


@njit(cache=True, nogil=True)
def biquad_cascade(x, sos, state, out):
    """Biquads in series, direct form II transposed.

    x (T,), sos (K, 5) normalised ``b0 b1 b2 a1 a2``, state (K, 2) updated in place, out (T,).
    """
    n_sections = sos.shape[0]
    for t in range(x.shape[0]):
        v = x[t]
        for k in range(n_sections):
            y = sos[k, 0] * v + state[k, 0]
            state[k, 0] = sos[k, 1] * v - sos[k, 3] * y + state[k, 1]
            state[k, 1] = sos[k, 2] * v - sos[k, 4] * y
            v = y
        out[t] = v


@njit(cache=True, nogil=True)
def running_power(x, avg_coef, state, out):
    """The compressor's detector before the square root: ``onepole(max(x^2, 1e-8), avg_coef)``.

    x (T,); state (1,) the running average (zero at the start); out (T,).
    """
    avg = state[0]
    for t in range(x.shape[0]):
        e = max(x[t] * x[t], 1e-8)
        avg = avg_coef * e + (1.0 - avg_coef) * avg
        out[t] = avg
    state[0] = avg


def static_gain(power, cmp_th, cmp_slope, exp_th, exp_slope):
    """torchcomp's static compressor/expander gain (linear) at level ``L = 10 log10 power`` dB:
    ``10^(min(0, cmp_slope (cmp_th - L), exp_slope (exp_th - L)) / 20)``. Vectorised numpy."""
    level = (10.0 / math.log(10.0)) * np.log(power)
    gain_db = np.minimum(np.minimum(cmp_slope * (cmp_th - level), exp_slope * (exp_th - level)), 0.0)
    return np.exp(gain_db * LN10_OVER_20)


@njit(cache=True, nogil=True)
def smooth_gain(f, attack, release, state, out):
    """torchcomp's gain smoothing: ``g = (1 - c) g + c f`` with ``c`` = attack when ``f < g``
    (gain falling), release otherwise. f (T,); state (1,) (one at the start); out (T,)."""
    g = state[0]
    for t in range(f.shape[0]):
        coef = attack if f[t] < g else release
        g = (1.0 - coef) * g + coef * f[t]
        out[t] = g
    state[0] = g


@njit(cache=True, nogil=True)
def correlate_valid(signal, taps, out):
    """``out[n] = sum_i taps[i] signal[n + i]`` for n < len(out) (len(signal) >= len(out) + len(taps) - 1).

    Summed tap by tap in order, so every output sample is the same whatever block it falls in.
    """
    n = out.shape[0]
    for b0 in range(0, n, 512):  # blocks that stay in cache
        b1 = min(b0 + 512, n)
        o = out[b0:b1]
        for t in range(b1 - b0):
            o[t] = 0.0
        for i in range(taps.shape[0]):
            k = taps[i]
            s = signal[b0 + i:b1 + i]
            for t in range(b1 - b0):
                o[t] += k * s[t]


@njit(cache=True, nogil=True)
def pingpong_delay(u, d, loop_sos, feedback, buffers, filter_state, pos, odd, even):
    """Recursive ping-pong delay with an integer delay ``d`` and a low-pass in the loop.

    ``odd[t] = u[t - d] + L(even)[t - d]``, ``even[t] = L(odd)[t - d]`` with ``L = feedback *
    lowpass`` (loop_sos (5,), DF2T, one state per line: filter_state (2, 2)). buffers (3, d) hold
    the last d samples of u, L(odd), L(even) (circular, read/write index ``pos``). u (T,);
    odd, even (T,) outputs. Returns the new ``pos``.
    """
    b0, b1, b2, a1, a2 = loop_sos[0], loop_sos[1], loop_sos[2], loop_sos[3], loop_sos[4]
    for t in range(u.shape[0]):
        o = buffers[0, pos] + buffers[2, pos]
        e = buffers[1, pos]
        y = b0 * o + filter_state[0, 0]
        filter_state[0, 0] = b1 * o - a1 * y + filter_state[0, 1]
        filter_state[0, 1] = b2 * o - a2 * y
        z = b0 * e + filter_state[1, 0]
        filter_state[1, 0] = b1 * e - a1 * z + filter_state[1, 1]
        filter_state[1, 1] = b2 * e - a2 * z
        buffers[0, pos] = u[t]
        buffers[1, pos] = feedback * y
        buffers[2, pos] = feedback * z
        odd[t] = o
        even[t] = e
        pos += 1
        if pos == d:
            pos = 0
    return pos


@njit(cache=True, nogil=True)
def fdn(x, b, c, U, taps, symmetric, delays, w_buf, w_pos, o_buf, s, out):
    """Time-domain FDN with FIR decay filters, block-wise.

    Line i's output ``o_i[t] = w_i[t - delays[i]]`` with ``w = b x + U s`` and ``s_k = taps_k * o_k``
    (causal FIR). Every line delay is at least one sub-block (``s.shape[1]`` samples), so within a
    sub-block the lines' outputs depend only on the past: they are copied, filtered tap by tap
    (vectorised over time) and mixed by ``U``.

    x (2, T); b (L, 2); c (2, L); U (L, L); taps (L, N) (``symmetric``: every row a palindrome,
    which the linear-phase filters are); delays (L,) int; w_buf (L, W) circular
    (W a power of two > max delay + sub-block), w_pos its write index; o_buf (L, N - 1 + S) with the
    last N - 1 line outputs at its start; s (L, S) scratch; out (2, T). Returns the new ``w_pos``.
    """
    n_lines, n_taps = taps.shape
    hist = n_taps - 1
    sub = s.shape[1]
    mask = w_buf.shape[1] - 1
    total = x.shape[1]
    t0 = 0
    while t0 < total:
        n = min(sub, total - t0)
        for i in range(n_lines):
            start = w_pos - delays[i]
            for t in range(n):
                o_buf[i, hist + t] = w_buf[i, (start + t) & mask]
        for k in range(n_lines):
            sk = s[k, :n]  # contiguous 1-D slices: the tap loop below vectorises
            for t in range(n):
                sk[t] = 0.0
            if symmetric:  # linear phase: h[j] = h[N-1-j], one multiply per pair of taps
                for j in range(n_taps // 2):
                    h = taps[k, j]
                    near = o_buf[k, hist - j:hist - j + n]
                    far = o_buf[k, j:j + n]
                    for t in range(n):
                        sk[t] += h * (near[t] + far[t])
                if n_taps % 2:
                    mid = n_taps // 2
                    h = taps[k, mid]
                    src = o_buf[k, hist - mid:hist - mid + n]
                    for t in range(n):
                        sk[t] += h * src[t]
            else:
                for j in range(n_taps):
                    h = taps[k, j]
                    src = o_buf[k, hist - j:hist - j + n]
                    for t in range(n):
                        sk[t] += h * src[t]
        for i in range(n_lines):
            for t in range(n):
                acc = b[i, 0] * x[0, t0 + t] + b[i, 1] * x[1, t0 + t]
                for k in range(n_lines):
                    acc += U[i, k] * s[k, t]
                w_buf[i, (w_pos + t) & mask] = acc
        for ch in range(2):
            for t in range(n):
                acc = 0.0
                for i in range(n_lines):
                    acc += c[ch, i] * o_buf[i, hist + t]
                out[ch, t0 + t] = acc
        for i in range(n_lines):
            for j in range(hist):
                o_buf[i, j] = o_buf[i, n + j]
        w_pos = (w_pos + n) & mask
        t0 += n
    return w_pos
