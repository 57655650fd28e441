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
