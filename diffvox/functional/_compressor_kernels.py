"""Compiled CPU kernel (numba) of the gain smoothing's backward pass.

Forward (torchcomp's kernel): ``g[n] = (1 - c[n]) g[n-1] + c[n] f[n]`` from ``g[-1] = zi``, with
``c[n]`` the attack coefficient where ``f[n] < g[n-1]`` (``at_mask``) and the release one
elsewhere. Its adjoint is the same time-varying one-pole run backwards:
``lam[n] = gbar[n] + (1 - c[n+1]) lam[n+1]``, ``fbar[n] = c[n] lam[n]``,
``cbar[n] = lam[n] (f[n] - g[n-1])`` summed into the attack or the release coefficient, and
``zibar = (1 - c[0]) lam[0]``.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._jit import JIT


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
