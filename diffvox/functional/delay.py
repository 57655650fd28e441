"""Ping-pong delay impulse responses, exact and with the paper's surrogate.

One echo kernel ``e[t] = sinc(t - d)`` (t = 0..N-1, d fractional samples) is filtered through the
loop low-pass; with ``E = rfft(e)``, echo k is ``irfft(E^k) * feedback^(k-1)`` for
k = 1..K, ``K = N // int(d + 1)``. Odd echoes go to one pan, even echoes to the other.
"""
from __future__ import annotations

import math

import torch


from ..filters import sosfilt
from .fft import rfft


def echo_kernel(delay_samples: torch.Tensor, n: int) -> torch.Tensor:
    """``sinc(t - d)``, t = 0..n-1. delay_samples (B,) -> (B, n)."""
    t = torch.arange(n, device=delay_samples.device, dtype=delay_samples.dtype)
    return torch.sinc(t - delay_samples.unsqueeze(-1))


def surrogate_echo_kernel(delay_samples: torch.Tensor, log_eta: torch.Tensor, n: int) -> torch.Tensor:
    """The damped delay ``irfft(exp(j log_eta - i 2 pi d j / n))``, j = 0..n/2: smooth in ``d``.

    delay_samples (B,), log_eta (B,) -> (B, n).

    The spectrum is built from its real and imaginary parts, ``eta^j cos`` and ``eta^j sin``.
    ``torch.polar`` would be the same value, but its backward pass divides by the magnitude: once
    ``eta^j`` falls to float32's subnormals (eta = 0.9977 does so past bin 44,000 of the 88,201)
    that is 0/0, and the gradient of eta becomes NaN. Here every derivative is a product, so
    underflowed bins contribute exact zeros.
    """
    j = torch.arange(n // 2 + 1, device=delay_samples.device, dtype=delay_samples.dtype)
    magnitude = torch.exp(j * log_eta.unsqueeze(-1))
    phase = -2 * math.pi * delay_samples.unsqueeze(-1) * j / n
    spectrum = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
    return torch.fft.irfft(spectrum, n)


def num_echoes(delay_samples: torch.Tensor, n: int) -> int:
    """``K = N // int(d + 1)`` for the largest delay in the batch (smaller ones add zeros)."""
    return int(n // int(delay_samples.detach().min().item() + 1))


def pingpong_kernels(delay_samples, feedback, gain, loop_sos, n: int, log_eta=None, rows=None):
    """Odd and even echo trains, each (B, n).

    delay_samples, feedback, gain: (B,); loop_sos: (B, 1, 6) low-pass inside the loop;
    log_eta: (B,) to use the surrogate for gradients (straight-through), or None for the exact
    kernel only; rows: (B,) bool, the rows that use it (default: all, when log_eta is given).
    """
    hard = echo_kernel(delay_samples, n)
    if log_eta is None:
        kernel = hard
    else:
        soft = surrogate_echo_kernel(delay_samples, log_eta, n)
        kernel = soft + (hard - soft).detach()
        if rows is not None:
            kernel = torch.where(rows.unsqueeze(-1), kernel, hard)
    kernel = sosfilt(loop_sos, kernel)
    spectrum = rfft(kernel, n)
    n_echo = max(num_echoes(delay_samples, n), 1)
    k = torch.arange(1, n_echo + 1, device=spectrum.device)
    # each row's own K: echoes beyond it do not exist
    k_max = torch.div(n, torch.floor(delay_samples.detach() + 1), rounding_mode="floor")
    weights = feedback.unsqueeze(-1) ** (k - 1) * (k <= k_max.unsqueeze(-1))  # (B, K)
    # E^k by repeated multiplication: exact gradients where E = 0 (a low-pass zero at Nyquist),
    # where the complex power's exp(k log E) gives NaN
    powers = [spectrum]
    for _ in range(n_echo - 1):
        powers.append(powers[-1] * spectrum)
    powers = torch.stack(powers, dim=-2)  # (B, K, F)
    odd = (weights[:, 0::2, None] * powers[:, 0::2]).sum(-2)
    even = (weights[:, 1::2, None] * powers[:, 1::2]).sum(-2)
    kernels = torch.fft.irfft(torch.stack([odd, even], dim=1), n)  # (B, 2, n)
    return gain.view(-1, 1, 1) * kernels


