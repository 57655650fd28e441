"""Compiled CPU kernels (numba) of the MLDR on a prediction: the four smoothed energies in one
pass over time, the comparison with the target per scale, and the whole gradient in one pass
backwards in time (the adjoint of each smoother is the same recursion reversed).

Rows are the (B*C, T) signals in float64; ``k`` is the shift of the long-term average. The
original's roll (``strict=False``) is over the flattened rows: sample t of row r meets the long
average at flat index ``(r T + t + k) mod (R T)``.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._jit import JIT, JIT_SUMS, log64_positive


@numba.jit(**JIT)
def smooth(x, coefs, out):
    """out[j, r, t] = onepole(max(x[r]^2, 1e-8), coefs[j])[t] for every coefficient j."""
    n_rows, n_time = x.shape
    n_coef = coefs.shape[0]
    for r in prange(n_rows):
        state = np.zeros(n_coef)
        for t in range(n_time):
            v = float(x[r, t])
            e = max(v * v, 1e-8)
            for j in range(n_coef):
                state[j] = coefs[j] * e + (1.0 - coefs[j]) * state[j]
                out[j, r, t] = state[j]


@numba.njit(inline="always")
def _partner(r, t, k, n_rows, n_time, strict):
    """The (row, time) that sample (r, t) meets at shift k (k may be negative): its own row in
    ``strict`` mode, else the flattened roll's neighbouring rows past either end (no division
    unless the partner lies in another row; the caller only asks for partners that exist)."""
    u = t + k
    if strict or 0 <= u < n_time:
        return r, u
    q = u // n_time  # floor division: rows forward or back (more than one when |k| >= T)
    return (r + q) % n_rows, u - q * n_time


@numba.jit(**JIT_SUMS)
def compare(short, long, t_short, t_long, t_rows, k, strict, sign, sums):
    """sign[r, t] = sign(f(x) - f(y)) and sums[r] = sum |f(x) - f(y)| over the compared samples;
    short, long: the prediction's smoothed energies (R, T), positive and finite (the caller
    checks); t_short, t_long: the target's logs (R', T), of which row t_rows[r] goes with the
    prediction's row r. One logarithm per sample, of short / long (float64)."""
    n_rows, n_time = short.shape
    stop = n_time - k if strict else n_time
    inner = max(0, min(stop, n_time - k))  # samples whose partner is in their own row
    for row in prange(n_rows):
        r = np.int64(row)  # signed, as the indices it is combined with
        tr = t_rows[r]
        acc = 0.0
        for t in range(inner):  # no branch, no gather: this loop vectorises
            d = log64_positive(np.float64(short[r, t]) / np.float64(long[r, t + k])) - (
                np.float64(t_short[tr, t]) - np.float64(t_long[tr, t + k]))
            acc += abs(d)
            sign[r, t] = np.int8(d > 0) - np.int8(d < 0)
        for t in range(inner, stop):
            lr, lt = _partner(r, np.int64(t), k, n_rows, n_time, strict)
            d = log64_positive(np.float64(short[r, t]) / np.float64(long[lr, lt])) - (
                np.float64(t_short[tr, t]) - np.float64(t_long[t_rows[lr], lt]))
            acc += abs(d)
            sign[r, t] = np.int8(d > 0) - np.int8(d < 0)
        sums[r] = acc


@numba.jit(**JIT)
def gradient(x, smoothed, signs, coefs, shifts, strict, weights, grad):
    """grad[r, t] = d/dx of sum_s weights[s] sum |f_s(x) - f_s(y)| (weights include 1/count).

    smoothed (2S, R, T): short and long energies of scale s at 2s, 2s+1; signs (S, R, T);
    coefs (2S,); shifts (S,). Each smoother's adjoint runs backwards in time."""
    n_rows, n_time = x.shape
    n_scales = shifts.shape[0]
    for row in prange(n_rows):
        r = np.int64(row)
        adj = np.zeros(2 * n_scales)
        for t in range(n_time - 1, -1, -1):
            total = 0.0
            for s in range(n_scales):
                k = shifts[s]
                # short term: f's sample (r, t) itself
                g_short = 0.0
                if not strict or t < n_time - k:
                    g_short = weights[s] * signs[s, r, t] / smoothed[2 * s, r, t]
                # long term: the f sample whose shifted index lands on (r, t)
                g_long = 0.0
                if not strict or t >= k:
                    sr, st = _partner(r, np.int64(t), -k, n_rows, n_time, strict)
                    g_long = -weights[s] * signs[s, sr, st] / smoothed[2 * s + 1, r, t]
                j = 2 * s
                adj[j] = g_short + (1.0 - coefs[j]) * adj[j]
                adj[j + 1] = g_long + (1.0 - coefs[j + 1]) * adj[j + 1]
                total += coefs[j] * adj[j] + coefs[j + 1] * adj[j + 1]
            v = float(x[r, t])
            grad[r, t] = total * 2.0 * v if v * v > 1e-8 else 0.0
