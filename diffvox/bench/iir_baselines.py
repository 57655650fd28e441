"""Other ways of running a biquad cascade, used as baselines by the IIR benchmark.

* :func:`torchlpc_modal` - the DiffVox paper's original approach: each section diagonalised into
  partial fractions ``k + r1/(1 - p1 z^-1) + r2/(1 - p2 z^-1)``, each first-order complex
  recursion run by ``torchlpc.sample_wise_lpc``, one section at a time (autograd through torchlpc).
* :func:`torch_associative_scan` - the same modal form, each recursion by
  ``torch._higher_order_ops.associative_scan`` with ``(U, x) (+) (V, z) = (VU, Vx + z)``.
* :func:`python_loop` - direct form II transposed, a Python loop over samples (vectorised over
  rows), differentiable through autograd.

All take normalised sections ``b (N, K, 3)``, ``a (N, K, 2)`` and ``x (N, T)``.
"""
from __future__ import annotations

import torch

from ..filters.sos import biquad_poles


def _modal(b: torch.Tensor, a: torch.Tensor, dtype: torch.dtype):
    """Partial fractions of each section (the torch twin of
    :func:`diffvox.filters.statespace.modal_form`): constant k (N,), residues r (N, 2), poles
    p (N, 2)."""
    poles = biquad_poles(a[:, 0], a[:, 1]).to(dtype)
    p1, p2 = poles[:, 0], poles[:, 1]
    bc = b.to(dtype)
    num = lambda p: bc[:, 0] * p * p + bc[:, 1] * p + bc[:, 2]  # noqa: E731
    r1 = num(p1) / (p1 * (p1 - p2))
    r2 = num(p2) / (p2 * (p2 - p1))
    k = bc[:, 2] / (p1 * p2)
    return k, torch.stack([r1, r2], -1), poles


def _modal_cascade(b, a, x, first_order):
    """Sections one at a time in modal form; ``first_order(pole (N,), u (N, T)) -> h``."""
    cdtype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
    y = x
    for s in range(b.shape[1]):
        k, r, poles = _modal(b[:, s], a[:, s], cdtype)
        yc = y.to(cdtype)
        out = k.unsqueeze(-1) * yc
        for i in range(2):
            out = out + r[:, i : i + 1] * first_order(poles[:, i], yc)
        y = out.real
    return y


def torchlpc_modal(b, a, x):
    from torchlpc import sample_wise_lpc

    def first_order(pole, u):
        return sample_wise_lpc(u, -pole.view(-1, 1, 1).expand(-1, u.shape[-1], 1))

    return _modal_cascade(b, a, x, first_order)


def torch_associative_scan(b, a, x):
    from torch._higher_order_ops.associative_scan import associative_scan

    def combine(left, right):
        (u, h), (v, z) = left, right
        return u * v, v * h + z

    def first_order(pole, u):
        return associative_scan(combine, (pole.view(-1, 1).expand_as(u).contiguous(), u), dim=1,
                                combine_mode="generic")[1]

    return _modal_cascade(b, a, x, first_order)


def python_loop(b, a, x):
    """Direct form II transposed, one Python iteration per sample."""
    y = x
    for s in range(b.shape[1]):
        b0, b1, b2 = (b[:, s, j] for j in range(3))
        a1, a2 = a[:, s, 0], a[:, s, 1]
        z1 = torch.zeros_like(x[:, 0])
        z2 = torch.zeros_like(x[:, 0])
        out = []
        for n in range(x.shape[-1]):
            xn = y[:, n]
            yn = b0 * xn + z1
            z1 = b1 * xn - a1 * yn + z2
            z2 = b2 * xn - a2 * yn
            out.append(yn)
        y = torch.stack(out, -1)
    return y
