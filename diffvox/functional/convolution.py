"""Causal FFT convolution."""
from __future__ import annotations

import scipy.fft
import torch


def causal_fft_conv(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``y[n] = sum_j h[j] x[n - j]`` keeping x's length (zeros before x[0]).

    x: (..., T); h: (..., N); leading dims broadcast. Returns (..., T) in x's dtype.
    """
    n_time, n_taps = x.shape[-1], h.shape[-1]
    n_fft = scipy.fft.next_fast_len(n_time + n_taps - 1, real=True)
    spec = torch.fft.rfft(x, n_fft) * torch.fft.rfft(h, n_fft)
    return torch.fft.irfft(spec, n_fft)[..., :n_time]
