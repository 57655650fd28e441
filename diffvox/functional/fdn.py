"""Feedback delay network impulse response by frequency sampling."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

DELAYS = (997, 1153, 1327, 1559, 1801, 2099)


def decay_per_bin(gamma: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Linear interpolation of (B, K) decay values onto n_bins bins (first at DC, last at
    Nyquist): (B, n_bins)."""
    return F.interpolate(gamma.unsqueeze(1), size=n_bins, mode="linear", align_corners=True).squeeze(1)


def fdn_transfer(b, c, gamma, U, n: int, delays=DELAYS) -> torch.Tensor:
    """``H(w) = c (diag(exp(i w m)) - U diag(g(w)))^-1 b`` on the n//2+1 bins of an n-point FFT.

    b (B, L, 2), c (B, 2, L), gamma (B, K) in (0, 1), U (B, L, L); returns (B, F, 2, 2)
    complex, [out, in]. The per-line decay is ``gamma(w)^(m_i / m_0)``. Phases are evaluated in
    float64 whatever the parameters' dtype.
    """
    m = torch.tensor(delays, dtype=torch.float64, device=b.device)
    n_bins = n // 2 + 1
    w = 2 * math.pi * torch.arange(n_bins, dtype=torch.float64, device=b.device) / n
    cdt = torch.complex128 if b.dtype == torch.float64 else torch.complex64
    phase = torch.polar(torch.ones_like(w).unsqueeze(-1) * torch.ones_like(m), w.unsqueeze(-1) * m)
    g = decay_per_bin(gamma, n_bins).unsqueeze(-1) ** (m / m[0]).to(gamma.dtype)  # (B, F, L)
    feedback = U.unsqueeze(1) * g.unsqueeze(-2)  # column i scaled by line i's decay
    system = torch.diag_embed(phase.to(cdt)).unsqueeze(0) - feedback.to(cdt)
    x = torch.linalg.solve(system, b.to(cdt).unsqueeze(1).expand(-1, n_bins, -1, -1))
    return c.to(cdt).unsqueeze(1) @ x


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
