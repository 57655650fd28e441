"""RBJ audio-EQ-cookbook biquad coefficients (batched, differentiable).

All inputs are tensors (or floats) that broadcast together; the result has shape ``(..., 6)``
holding ``[b0, b1, b2, a0, a1, a2]`` *not* normalised by ``a0`` (as the cookbook writes them).
"""
from __future__ import annotations

import math

import torch

KINDS = ("peak", "lowshelf", "highshelf", "lowpass", "highpass")


def _as_tensor(v, like: torch.Tensor | None = None) -> torch.Tensor:
    if isinstance(v, torch.Tensor):
        return v
    dtype = like.dtype if like is not None else torch.get_default_dtype()
    device = like.device if like is not None else None
    return torch.as_tensor(v, dtype=dtype, device=device)


def biquad_coefficients(kind: str, freq, q, gain_db=0.0, sr: float = 44100.0) -> torch.Tensor:
    """RBJ cookbook coefficients.

    Args:
        kind: one of ``peak``, ``lowshelf``, ``highshelf``, ``lowpass``, ``highpass``.
        freq: centre / corner frequency in Hz, ``0 < freq < sr / 2``.
        q: quality factor (> 0). Shelves use it as the cookbook's Q (the chain fixes 0.707).
        gain_db: gain in dB (peak and shelves; ignored by lowpass/highpass).
        sr: sample rate in Hz.

    Returns:
        ``(..., 6)`` tensor ``[b0, b1, b2, a0, a1, a2]``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown biquad kind {kind!r}; expected one of {', '.join(KINDS)}")
    ref = next((v for v in (freq, q, gain_db) if isinstance(v, torch.Tensor)), None)
    freq, q, gain_db = (_as_tensor(v, ref) for v in (freq, q, gain_db))
    freq, q, gain_db = torch.broadcast_tensors(freq, q, gain_db)
    if freq.device.type == "cpu" and not freq.requires_grad:
        if bool(((freq <= 0) | (freq >= sr / 2)).any()):
            raise ValueError(f"biquad frequency must lie in (0, {sr / 2}) Hz")
        if bool((q <= 0).any()):
            raise ValueError("biquad Q must be positive")

    # Evaluated in the parameters' dtype, in the original implementation's order: float32
    # parameters give its coefficients bit for bit; float64 parameters give exact ones.
    w0 = 2 * math.pi * freq / sr
    cos_w0, sin_w0 = torch.cos(w0), torch.sin(w0)
    alpha = sin_w0 / (2 * q)
    one = torch.ones_like(cos_w0)

    if kind == "lowpass":
        b1 = 1 - cos_w0
        coeffs = (b1 / 2, b1, b1 / 2, 1 + alpha, -2 * cos_w0, 1 - alpha)
    elif kind == "highpass":
        b1 = -(1 + cos_w0)
        coeffs = (-b1 / 2, b1, -b1 / 2, 1 + alpha, -2 * cos_w0, 1 - alpha)
    elif kind == "peak":
        amp = 10 ** (gain_db / 40)
        coeffs = (1 + alpha * amp, -2 * cos_w0 * one, 1 - alpha * amp,
                  1 + alpha / amp, -2 * cos_w0 * one, 1 - alpha / amp)
    else:
        amp = 10 ** (gain_db / 40)
        two_sqrt_a_alpha = 2 * torch.sqrt(amp) * alpha
        ap1, am1 = amp + 1, amp - 1
        if kind == "lowshelf":
            coeffs = (
                amp * (ap1 - am1 * cos_w0 + two_sqrt_a_alpha),
                2 * amp * (am1 - ap1 * cos_w0),
                amp * (ap1 - am1 * cos_w0 - two_sqrt_a_alpha),
                ap1 + am1 * cos_w0 + two_sqrt_a_alpha,
                -2 * (am1 + ap1 * cos_w0),
                ap1 + am1 * cos_w0 - two_sqrt_a_alpha,
            )
        else:  # highshelf
            coeffs = (
                amp * (ap1 + am1 * cos_w0 + two_sqrt_a_alpha),
                -2 * amp * (am1 + ap1 * cos_w0),
                amp * (ap1 + am1 * cos_w0 - two_sqrt_a_alpha),
                ap1 - am1 * cos_w0 + two_sqrt_a_alpha,
                2 * (am1 - ap1 * cos_w0),
                ap1 - am1 * cos_w0 - two_sqrt_a_alpha,
            )
    return torch.stack(coeffs, dim=-1)
