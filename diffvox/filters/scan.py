"""Parallel scans for the time-invariant first-order recurrence ``h[n] = p h[n-1] + u[n]``.

Plain tensor operations, so they run on any device (the GPU path). Two algorithms:

* :func:`blocked_scan` - the sequence is cut into blocks of ``L`` samples. Inside a block the
  recurrence is a lower-triangular Toeplitz matrix of powers of ``p`` (one batched matmul); the
  blocks' end values obey the same recurrence with pole ``p**L``, scanned recursively; a final
  pass adds each block's carried-in state times ``p**(i+1)``. Work O(T L), depth O(log_L T).
  With ``products`` set, the in-block products run in a lower precision and the carries in
  the input's (the GPU's mixed-precision path: see :func:`blocked_scan`).
* :func:`doubling_scan` - Hillis-Steele: ``log2 T`` passes of ``h[n] += p**s h[n-s]``, the
  associative operator ``(U, x) (+) (V, z) = (VU, Vx + z)`` specialised to a constant pole.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _powers(p: torch.Tensor, n: int) -> torch.Tensor:
    """(N,) -> (N, n): p**0 .. p**(n-1), by repeated squaring-free cumulative product."""
    ones = torch.ones_like(p).unsqueeze(-1)
    if n == 1:
        return ones
    return torch.cat([ones, torch.cumprod(p.unsqueeze(-1).expand(*p.shape, n - 1), dim=-1)], dim=-1)


def blocked_scan(p: torch.Tensor, u: torch.Tensor, block: int = 64,
                 products: torch.dtype | None = None) -> torch.Tensor:
    """Scan ``h[n] = p h[n-1] + u[n]`` along the last axis. p: (N,), u: (N, T) -> (N, T).

    ``products``: a lower precision (e.g. ``torch.complex64`` for complex128 ``u``) for the
    in-block matmul, which is nearly all the arithmetic (``L`` products per sample). The blocks'
    end values (one product per sample, as a matrix-vector product) and their carries stay in
    ``u``'s precision, so the long-range sums that amplify rounding by ``1 / (1 - |p|)`` are not
    rounded to the lower one: the error is that of a sum of at most ``L`` terms per output.
    """
    n_rows, n_time = u.shape
    if n_time <= block:
        block = max(n_time, 1)
    n_blocks = -(-n_time // block)
    pad = n_blocks * block - n_time
    blocks = F.pad(u, (0, pad)).view(n_rows, n_blocks, block)

    pw = _powers(p, block + 1)  # p^0 .. p^L
    idx = torch.arange(block, device=u.device)
    diff = idx.view(-1, 1) - idx.view(1, -1)  # i - j
    toeplitz = pw[:, diff.clamp(min=0)] * (diff >= 0)  # (N, L, L): p^(i-j), i >= j
    if products is None:
        local = torch.matmul(blocks, toeplitz.transpose(-1, -2))  # (N, C, L)
    else:
        local = torch.matmul(blocks.to(products), toeplitz.transpose(-1, -2).to(products)).to(u.dtype)

    if n_blocks > 1:
        if products is None:
            ends = local[..., -1]
        else:  # sum_j p^(L-1-j) u_j in u's precision
            ends = torch.matmul(blocks, pw[:, :block].flip(-1).unsqueeze(-1))[..., 0]
        carried = blocked_scan(pw[:, block], ends, block)  # state at the end of each block
        carry_in = F.pad(carried[:, :-1], (1, 0))  # state entering each block
        local = local + carry_in.unsqueeze(-1) * pw[:, 1:].unsqueeze(1)
    return local.reshape(n_rows, -1)[:, :n_time]


def doubling_scan(p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Hillis-Steele scan, ``ceil(log2 T)`` elementwise passes. p: (N,), u: (N, T)."""
    h = u.clone()
    pk = p.unsqueeze(-1)
    shift = 1
    while shift < h.shape[-1]:
        h = torch.cat([h[:, :shift], h[:, shift:] + pk * h[:, :-shift]], dim=-1)
        pk = pk * pk
        shift *= 2
    return h


def loop_scan(p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Reference: a Python loop over time (vectorised over rows). Slow; for tests and baselines."""
    out = torch.empty_like(u)
    acc = torch.zeros_like(u[:, 0])
    for n in range(u.shape[-1]):
        acc = p * acc + u[:, n]
        out[:, n] = acc
    return out
