"""Feedback delay network impulse response by frequency sampling."""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from ..devices import cpu_kernels

DELAYS = (997, 1153, 1327, 1559, 1801, 2099)


def decay_per_bin(gamma: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Linear interpolation of (B, K) decay values onto n_bins bins (first at DC, last at
    Nyquist): (B, n_bins)."""
    return F.interpolate(gamma.unsqueeze(1), size=n_bins, mode="linear", align_corners=True).squeeze(1)


def _use_kernels(b: torch.Tensor) -> bool:
    return cpu_kernels(b)


class _TransferCPU(torch.autograd.Function):
    """One preset's transfer function by the compiled per-bin solver (:mod:`._fdn_kernels`),
    in complex128: g (F, L) per-bin decays, U (L, L), b (L, 2), c (2, L), phase (F, L)."""

    @staticmethod
    def forward(ctx, g, U, b, c, phase):
        from . import _fdn_kernels

        arrays = [t.detach().to(torch.float64).contiguous().numpy() for t in (U, g, b, c)]
        u64, g64, b64, c64 = arrays
        phase_np = phase.contiguous().numpy()
        x = np.empty((_fdn_kernels.n_groups(g64.shape[0]), 2, g64.shape[1], 2, _fdn_kernels.LANES))
        h = np.empty((g64.shape[0], 2, 2), np.complex128)
        _fdn_kernels.transfer(phase_np, u64, g64, b64, c64, x, h)
        ctx.arrays, ctx.dtype = (phase_np, u64, g64, c64, x), g.dtype
        return torch.from_numpy(h)

    @staticmethod
    def backward(ctx, h_bar):
        from . import _fdn_kernels

        phase_np, u64, g64, c64, x = ctx.arrays
        ctx.arrays = None
        n_bins, lines = g64.shape
        chunks = _fdn_kernels.N_CHUNKS
        g_bar = np.empty((n_bins, lines))
        u_bar, b_bar, c_bar = np.empty((chunks, lines, lines)), np.empty((chunks, lines, 2)), np.empty((chunks, 2, lines))
        _fdn_kernels.transfer_grad(phase_np, u64, g64, c64, x,
                                   h_bar.to(torch.complex128).contiguous().numpy(), g_bar, u_bar, b_bar, c_bar)
        out = [torch.from_numpy(a).to(ctx.dtype) for a in (g_bar, u_bar.sum(0), b_bar.sum(0), c_bar.sum(0))]
        return (*out, None)


@functools.lru_cache(maxsize=2)
def _phases(n: int, delays: tuple, device: torch.device) -> torch.Tensor:
    """(n // 2 + 1, L) complex128 ``exp(i w m)`` at the bins of an n-point FFT (constant: cached)."""
    m = torch.tensor(delays, dtype=torch.float64, device=device)
    w = 2 * math.pi * torch.arange(n // 2 + 1, dtype=torch.float64, device=device) / n
    return torch.polar(torch.ones_like(w).unsqueeze(-1) * torch.ones_like(m), w.unsqueeze(-1) * m)


def fdn_transfer(b, c, gamma, U, n: int, delays=DELAYS) -> torch.Tensor:
    """``H(w) = c (diag(exp(i w m)) - U diag(g(w)))^-1 b`` on the n//2+1 bins of an n-point FFT.

    b (B, L, 2), c (B, 2, L), gamma (B, K) in (0, 1), U (B, L, L); returns (B, F, 2, 2)
    complex, [out, in]. The per-line decay is ``gamma(w)^(m_i / m_0)``. Phases are evaluated in
    float64 whatever the parameters' dtype, and the solves run in complex128 (on the CPU in
    compiled code, elsewhere by ``torch.linalg.solve``); the result has the parameters' precision.
    """
    m = torch.tensor(delays, dtype=torch.float64, device=b.device)
    n_bins = n // 2 + 1
    cdt = torch.complex128 if b.dtype == torch.float64 else torch.complex64
    phase = _phases(n, tuple(delays), b.device)
    g = decay_per_bin(gamma, n_bins).unsqueeze(-1) ** (m / m[0]).to(gamma.dtype)  # (B, F, L)
    if _use_kernels(b):
        return torch.stack([_TransferCPU.apply(g[i], U[i], b[i], c[i], phase) for i in range(len(b))]).to(cdt)
    # in complex128 on every device: about 2e8 flops per preset, nothing next to the rest of a
    # step even at a consumer GPU's float64 rate, and the reverb then matches the CPU's solves
    c128 = torch.complex128
    feedback = U.unsqueeze(1).to(torch.float64) * g.unsqueeze(-2).to(torch.float64)  # column i by line i's decay
    system = torch.diag_embed(phase).unsqueeze(0) - feedback.to(c128)
    x = torch.linalg.solve(system, b.to(c128).unsqueeze(1).expand(-1, n_bins, -1, -1))
    return (c.to(c128).unsqueeze(1) @ x).to(cdt)


def fdn_impulse_response(b, c, gamma, U, n: int, delays=DELAYS) -> torch.Tensor:
    """(B, 2 out, 2 in, n) impulse responses (before the tone EQ)."""
    H = fdn_transfer(b, c, gamma, U, n, delays)  # (B, F, 2, 2)
    return torch.fft.irfft(H.permute(0, 2, 3, 1), n)


def gamma_max(sr: float = 44100.0, t60_s: float = 9.0, shortest: int = DELAYS[0]) -> float:
    """Largest per-sample decay: T60 <= t60_s at the shortest line."""
    return 10 ** (-60 * shortest / (sr * t60_s) / 20)


def t60_seconds(gamma: torch.Tensor, sr: float = 44100.0, shortest: int = DELAYS[0]) -> torch.Tensor:
    """Reverberation time implied by decay ``gamma`` per ``shortest`` samples: -60 dB time in s."""
    return -60 * shortest / (sr * 20 * torch.log10(gamma))
