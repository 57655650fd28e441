"""Compiled CPU kernels (numba) of the compressor: the gain computer (level in dB, the
compressor/expander curve, back to a linear gain) in one pass each way, and the gain smoothing's
backward pass.

Smoothing forward (torchcomp's kernel): ``g[n] = (1 - c[n]) g[n-1] + c[n] f[n]`` from
``g[-1] = zi``, with ``c[n]`` the attack coefficient where ``f[n] < g[n-1]`` (``at_mask``) and the release one
elsewhere. Its adjoint is the same time-varying one-pole run backwards:
``lam[n] = gbar[n] + (1 - c[n+1]) lam[n+1]``, ``fbar[n] = c[n] lam[n]``,
``cbar[n] = lam[n] (f[n] - g[n-1])`` summed into the attack or the release coefficient, and
``zibar = (1 - c[0]) lam[0]``.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from .._jit import JIT, JIT_SUMS, log64


@numba.jit(**JIT)
def smoothing_backward(f, g, zi, at, rt, at_mask, grad_g, grad_f, grad_zi, grad_at, grad_rt):
    """f, g, at_mask, grad_g, grad_f: (B, T); zi, at, rt, grad_zi, grad_at, grad_rt: (B,).
    Rows run in parallel; sums in float64."""
    n_rows, n_time = f.shape
    for r in prange(n_rows):
        lam = 0.0
        next_keep = 1.0  # 1 - c[n+1]; lam[T] = 0 makes its value irrelevant
        sum_at = 0.0
        sum_rt = 0.0
        for n in range(n_time - 1, -1, -1):
            c = at[r] if at_mask[r, n] else rt[r]
            lam = grad_g[r, n] + next_keep * lam
            grad_f[r, n] = c * lam
            previous = g[r, n - 1] if n > 0 else zi[r]
            dc = lam * (f[r, n] - previous)
            if at_mask[r, n]:
                sum_at += dc
            else:
                sum_rt += dc
            next_keep = 1.0 - c
        grad_zi[r] = next_keep * lam
        grad_at[r] = sum_at
        grad_rt[r] = sum_rt


_LN10 = 2.302585092994046


@numba.njit(inline="always")
def _gain_db(level, ct, cr, et, er):
    """The gain computer (dB) and d gain / d level: min(0, comp, exp) with PyTorch's choices at
    ties (minimum splits the gradient in halves; clamp_max passes it where gain <= 0)."""
    comp = (1.0 - 1.0 / cr) * (ct - level)
    expa = (1.0 - 1.0 / er) * (et - level)
    m = min(comp, expa)
    w_comp = 1.0 if comp < expa else (0.5 if comp == expa else 0.0)
    w_on = 1.0 if m <= 0.0 else 0.0
    return min(m, 0.0), w_comp * w_on, (1.0 - w_comp) * w_on


@numba.jit(**JIT)
def target_gain(rms, ct, cr, et, er, out):
    """out[r, n] = 10^(g / 20), g the gain computer at level 20 log10(rms[r, n]); parameters
    (B,) per row; float64 inside."""
    n_rows, n_time = rms.shape
    for r in prange(n_rows):
        for n in range(n_time):
            level = (20.0 / _LN10) * log64(np.float64(rms[r, n]))
            g = _gain_db(level, ct[r], cr[r], et[r], er[r])[0]
            out[r, n] = math.exp(g * (_LN10 / 20.0))


@numba.jit(**JIT_SUMS)
def target_gain_backward(rms, gain, ct, cr, et, er, grad_gain, grad_rms, grads):
    """The adjoint of :func:`target_gain`: grad_rms (B, T); grads (4, B) for ct, cr, et, er."""
    n_rows, n_time = rms.shape
    for r in prange(n_rows):
        s_ct = s_cr = s_et = s_er = 0.0
        k_c, k_e = 1.0 - 1.0 / cr[r], 1.0 - 1.0 / er[r]
        for n in range(n_time):
            x = np.float64(rms[r, n])
            level = (20.0 / _LN10) * log64(x)
            _, w_c, w_e = _gain_db(level, ct[r], cr[r], et[r], er[r])
            d_g = np.float64(grad_gain[r, n]) * np.float64(gain[r, n]) * (_LN10 / 20.0)
            grad_rms[r, n] = d_g * -(w_c * k_c + w_e * k_e) * (20.0 / _LN10) / x
            s_ct += d_g * w_c * k_c
            s_cr += d_g * w_c * (ct[r] - level) / (cr[r] * cr[r])
            s_et += d_g * w_e * k_e
            s_er += d_g * w_e * (et[r] - level) / (er[r] * er[r])
        grads[0, r], grads[1, r], grads[2, r], grads[3, r] = s_ct, s_cr, s_et, s_er
