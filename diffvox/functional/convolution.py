"""Causal FFT convolution."""
from __future__ import annotations

import torch

from .fft import fft_size, rfft


def causal_fft_conv(x: torch.Tensor, h: torch.Tensor, start: int = 0) -> torch.Tensor:
    """``y[n] = sum_j h[j] x[n - j]`` for n = start..T-1 (zeros before x[0]).

    x: (..., T); h: (..., N); leading dims broadcast. Returns (..., T - start) in x's dtype.
    Outputs before ``start`` are not needed, so the transform may wrap onto them: it needs
    T + N - 1 - start points instead of T + N - 1.
    """
    n_time, n_taps = x.shape[-1], h.shape[-1]
    if not 0 <= start < n_time:
        raise ValueError(f"start must be in [0, {n_time}), got {start}")
    n_fft = fft_size(max(n_time + n_taps - 1 - start, n_time, n_taps))
    spec = rfft(x, n_fft) * rfft(h, n_fft)
    return torch.fft.irfft(spec, n_fft)[..., start:n_time]
