"""The state-space view of a biquad, step by step (float64 NumPy, for derivations and checks).

A normalised biquad ``(b0, b1, b2, 1, a1, a2)`` in transposed direct form II is the state space

    s[n+1] = A s[n] + B x[n],   y[n] = C s[n] + D x[n],
    A = [[-a1, 1], [-a2, 0]],  B = [b1 - a1 b0, b2 - a2 b0]^T,  C = [1, 0],  D = b0.

Diagonalising ``A = V diag(p) V^-1`` turns it into independent first-order complex recursions
(the modal form); ``V`` is singular when the poles coincide. The complex Schur form
``A = Q T Q^H`` (``Q`` unitary, ``T`` upper triangular) always exists and is what
:func:`diffvox.filters.sosfilt` runs.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.signal


def biquad_state_space(sos_row) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(A (2, 2), B (2,), C (2,), D) of one section ``[b0, b1, b2, a0, a1, a2]``."""
    b0, b1, b2, a0, a1, a2 = (float(v) for v in np.asarray(sos_row, np.float64))
    b0, b1, b2, a1, a2 = b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0
    A = np.array([[-a1, 1.0], [-a2, 0.0]])
    B = np.array([b1 - a1 * b0, b2 - a2 * b0])
    C = np.array([1.0, 0.0])
    return A, B, C, b0


def simulate(A, B, C, D, x) -> np.ndarray:
    """Run a state space sample by sample (reference loop, zero initial state). x (T,)."""
    s = np.zeros(A.shape[0], dtype=np.result_type(A, B, C, complex if np.iscomplexobj(A) else float))
    y = np.empty(len(x), dtype=s.dtype)
    for n, xn in enumerate(x):
        y[n] = C @ s + D * xn
        s = A @ s + B * xn
    return y


def diagonalise(A, B, C):
    """Modal form: poles ``p`` (2,), ``B~ = V^-1 B``, ``C~ = C V`` and ``cond(V)``."""
    poles, V = np.linalg.eig(A)
    return poles, np.linalg.solve(V, B), C @ V, np.linalg.cond(V)


def modal_form(sos_row):
    """Partial fractions ``H(z) = k + r1 / (1 - p1 z^-1) + r2 / (1 - p2 z^-1)`` of one section.

    Returns ``(k, r (2,), p (2,))``; the residues grow like ``1 / (p1 - p2)``.
    """
    b0, b1, b2, a0, a1, a2 = (float(v) for v in np.asarray(sos_row, np.float64))
    b = np.array([b0, b1, b2]) / a0
    p = np.roots([1.0, a1 / a0, a2 / a0]).astype(complex)
    num = lambda z: b[0] * z * z + b[1] * z + b[2]  # noqa: E731
    r = np.array([num(p[0]) / (p[0] * (p[0] - p[1])), num(p[1]) / (p[1] * (p[1] - p[0]))])
    return b[2] / (p[0] * p[1]), r, p


def modal_filter(sos_row, x, dtype=np.complex128) -> np.ndarray:
    """Filter ``x`` (T,) through the modal form, each pole by its own first-order recursion,
    computed in ``dtype`` (complex128 or complex64). NaN where the poles coincide exactly."""
    import torch

    from .recurrence import linear_recurrence

    with np.errstate(divide="ignore", invalid="ignore"):
        k, r, p = modal_form(sos_row)
    xc = torch.from_numpy(np.asarray(x).astype(dtype))
    y = torch.tensor(k.astype(dtype)) * xc
    for ri, pi in zip(r.astype(dtype), p.astype(dtype)):
        y = y + torch.tensor(ri) * linear_recurrence(torch.tensor(pi), xc)
    return y.real.numpy()


def schur(A):
    """Complex Schur form ``A = Q T Q^H``: ``T`` upper triangular (poles on its diagonal)."""
    T, Q = scipy.linalg.schur(A.astype(complex), output="complex")
    return T, Q


def _l1_norm(sos: np.ndarray, pre_pole: float | None = None, tol: float = 1e-13) -> float:
    """sum_n |h[n]| of a real cascade (sections normalised; optionally preceded by the real
    one-pole ``1 / (1 - pre_pole z^-1)``), its impulse response run until it has decayed."""
    poles = [abs(p) for row in sos for p in np.roots([1.0, row[4], row[5]])]
    if pre_pole is not None:
        poles.append(abs(pre_pole))
    slowest = max(poles, default=0.0)
    n = 64 if slowest == 0 else int(np.log(tol) / np.log(slowest)) + 64
    h = np.zeros(n)
    h[0] = 1.0
    if pre_pole is not None:
        h = scipy.signal.lfilter([1.0], [1.0, -pre_pole], h)
    if len(sos):
        h = scipy.signal.sosfilt(sos, h)
    return float(np.abs(h).sum())


def _block_sums(pole: complex, u: np.ndarray, block: int) -> np.ndarray:
    """sum_{j = start of n's block}^{n} |pole|^(n - j) |u[j]| for every n (blocks of ``block``)."""
    out = np.empty(len(u))
    r = abs(pole)
    for start in range(0, len(u), block):
        seg = np.abs(u[start:start + block])
        out[start:start + block] = scipy.signal.lfilter([1.0], [1.0, -r], seg)
    return out


def mixed_scan_error_bound(sos, x, block: int = 32, eps: float = 2.0 ** -24) -> float:
    """An upper bound on ``max_n |y[n] - y_exact[n]|`` for the cascade ``sos`` (K, 6) run on
    ``x`` (T,) by the mixed-precision scan (:func:`diffvox.filters.scan.blocked_scan` with
    ``products``): first order in the unit roundoff ``eps`` of the products' precision.

    Each section is the FIR numerator, then the recursions ``s1 = p1 s1 + w`` (complex) and
    ``s2 = q s2 + Re s1``. A scan's in-block part is a sum of at most ``block`` products of
    rounded values, so its error at n is at most ``c eps sum_{j in n's block, j <= n}
    |p|^(n-j) |u[j]|`` with ``c = 2 (block + 2)`` (inputs and powers rounded, products and
    the accumulation; complex arithmetic doubles the real constant, Higham 2002, 3.1 and 3.6);
    the blocks' ends and carries are in float64 (their error, about 1e-16 / (1 - |p|), is left
    out). Each scan's error then passes through what follows it, whose gain is at most the l1
    norm of that filter's impulse response. The bound sums these over the 2K scans.
    """
    sos = np.asarray(sos, np.float64)
    sos = sos / sos[:, 3:4]
    v = np.asarray(x, np.float64)
    const = 2.0 * (block + 2) * eps
    bound = 0.0
    for k, row in enumerate(sos):
        rest = sos[k + 1:]
        roots = np.roots([1.0, row[4], row[5]]).astype(complex)
        p1 = roots[np.argmax(roots.imag)] if np.iscomplex(roots).any() else roots[0]
        q = p1.real if np.iscomplex(roots).any() else roots[1].real
        w = scipy.signal.lfilter(row[:3], [1.0], v)
        s1 = scipy.signal.lfilter([1.0], [1.0, -p1], w.astype(complex))
        s2 = scipy.signal.lfilter([1.0], [1.0, -q], s1.real)
        bound += const * _block_sums(p1, w, block).max() * _l1_norm(rest, pre_pole=q)
        bound += const * _block_sums(q, s1.real, block).max() * _l1_norm(rest)
        v = s2
    return bound
