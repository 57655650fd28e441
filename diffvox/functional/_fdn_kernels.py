"""Compiled CPU kernels (numba) of the FDN's per-bin transfer function and its gradient.

At every bin w: ``A = diag(exp(i w m)) - U diag(g(w))``, ``X = A^-1 b`` (6 x 2), ``H = c X``
(2 x 2). The backward pass, with PyTorch's convention for complex gradients: ``Xbar = c^T Hbar``,
``Bbar = A^-H Xbar``, ``Abar = -Bbar X^H``; then the real inputs take real parts:
``gbar[:, j] = -sum_r U[r, j] Re Abar[r, j]``, ``Ubar += -Re(Abar) g``, ``bbar += Re Bbar``,
``cbar += Re(Hbar X^H)``. Each bin's 6 x 6 system is solved by Gaussian elimination with
partial pivoting; bins run in parallel chunks, whose partial sums are added at the end.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._jit import JIT

N_CHUNKS = 64


@numba.njit(inline="always")
def _abs2(z):
    """|z|^2: orders pivots as |z| does, without a square root."""
    return z.real * z.real + z.imag * z.imag


@numba.njit(inline="always")
def _solve(a, rhs):
    """Solve a x = rhs in place (a (n, n), rhs (n, k) complex128); rhs becomes x."""
    n, k = a.shape[0], rhs.shape[1]
    for col in range(n):
        pivot, best = col, _abs2(a[col, col])
        for r in range(col + 1, n):
            if _abs2(a[r, col]) > best:
                pivot, best = r, _abs2(a[r, col])
        if pivot != col:
            for c in range(n):
                a[col, c], a[pivot, c] = a[pivot, c], a[col, c]
            for c in range(k):
                rhs[col, c], rhs[pivot, c] = rhs[pivot, c], rhs[col, c]
        inv = 1.0 / a[col, col]
        for r in range(col + 1, n):
            f = a[r, col] * inv
            if f != 0:
                for c in range(col, n):
                    a[r, c] -= f * a[col, c]
                for c in range(k):
                    rhs[r, c] -= f * rhs[col, c]
    for col in range(n - 1, -1, -1):
        for c in range(k):
            v = rhs[col, c]
            for j in range(col + 1, n):
                v -= a[col, j] * rhs[j, c]
            rhs[col, c] = v / a[col, col]


@numba.njit(inline="always")
def _system(phase, u, g, f, a, adjoint):
    n = u.shape[0]
    for r in range(n):
        for c in range(n):
            v = -u[r, c] * g[f, c] + (phase[f, r] if r == c else 0.0)
            if adjoint:
                a[c, r] = np.conj(v)
            else:
                a[r, c] = v


@numba.jit(**JIT)
def transfer(phase, u, g, b, c, x_out, h_out):
    """phase (F, n) complex128, u (n, n), g (F, n), b (n, 2), c (2, n) real; writes X (F, n, 2)
    and H (F, 2, 2) complex128."""
    n_bins, n = g.shape
    size = (n_bins + N_CHUNKS - 1) // N_CHUNKS
    for chunk in prange(N_CHUNKS):
        a = np.empty((n, n), dtype=np.complex128)
        rhs = np.empty((n, 2), dtype=np.complex128)
        for f in range(chunk * size, min(n_bins, (chunk + 1) * size)):
            _system(phase, u, g, f, a, False)
            for r in range(n):
                rhs[r, 0], rhs[r, 1] = b[r, 0], b[r, 1]
            _solve(a, rhs)
            for r in range(n):
                x_out[f, r, 0], x_out[f, r, 1] = rhs[r, 0], rhs[r, 1]
            for o in range(2):
                for i in range(2):
                    acc = 0j
                    for r in range(n):
                        acc += c[o, r] * rhs[r, i]
                    h_out[f, o, i] = acc


@numba.jit(**JIT)
def transfer_grad(phase, u, g, c, x, h_bar, g_bar, u_bar, b_bar, c_bar):
    """The adjoint of :func:`transfer`: g_bar (F, n) per bin; u_bar (N_CHUNKS, n, n),
    b_bar (N_CHUNKS, n, 2), c_bar (N_CHUNKS, 2, n) partial sums per chunk."""
    n_bins, n = g.shape
    size = (n_bins + N_CHUNKS - 1) // N_CHUNKS
    for chunk in prange(N_CHUNKS):
        a = np.empty((n, n), dtype=np.complex128)
        rhs = np.empty((n, 2), dtype=np.complex128)
        for f in range(chunk * size, min(n_bins, (chunk + 1) * size)):
            for o in range(2):  # cbar += Re(Hbar X^H)
                for r in range(n):
                    acc = 0j
                    for i in range(2):
                        acc += h_bar[f, o, i] * np.conj(x[f, r, i])
                    c_bar[chunk, o, r] += acc.real
            for r in range(n):  # Xbar = c^T Hbar
                for i in range(2):
                    acc = 0j
                    for o in range(2):
                        acc += c[o, r] * h_bar[f, o, i]
                    rhs[r, i] = acc
            _system(phase, u, g, f, a, True)
            _solve(a, rhs)  # Bbar = A^-H Xbar
            for r in range(n):
                b_bar[chunk, r, 0] += rhs[r, 0].real
                b_bar[chunk, r, 1] += rhs[r, 1].real
            for col in range(n):  # Abar = -Bbar X^H
                gsum = 0.0
                for r in range(n):
                    abar = -(rhs[r, 0] * np.conj(x[f, col, 0]) + rhs[r, 1] * np.conj(x[f, col, 1])).real
                    gsum -= u[r, col] * abar
                    u_bar[chunk, r, col] -= abar * g[f, col]
                g_bar[f, col] = gsum
