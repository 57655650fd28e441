"""Ping-pong delay with a low-pass in the feedback loop and the paper's surrogate."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..contract import Child, Contract, Field, Range
from ..functional.convolution import causal_fft_conv
from ..functional.delay import pingpong_kernels
from ..params import bounded, bounded_logit, unit_logit
from .eq import Band
from .pan import Pan

DELAY_MS_BOUNDS = (100.0, 1000.0)


class PingPongDelay(nn.Module):
    """Logits: ``delay`` (100..1000 ms), ``feedback``, ``gain`` (sigmoid), the loop low-pass
    ``eq`` (200..16000 Hz, Q 0.5..2), ``odd_pan``, ``even_pan``; and ``eta`` (the surrogate's
    damping, ``log_eta = -softplus(eta)``; not part of the presets). u (B, T) -> (B, 2, T)."""

    def __init__(self, sr: float = 44100.0, delay_ms: float = 400.0, feedback: float = 0.1,
                 gain: float = 0.1, ir_seconds: float = 4.0, surrogate: bool = True):
        super().__init__()
        self.sr, self.n = sr, int(sr * ir_seconds)
        self.surrogate = surrogate
        self.delay = nn.Parameter(bounded_logit(delay_ms, *DELAY_MS_BOUNDS).float())
        self.feedback = nn.Parameter(torch.logit(torch.tensor(float(feedback))))
        self.gain = nn.Parameter(torch.logit(torch.tensor(float(gain))))
        self.eq = Band("lowpass", 8000.0, 200.0, 16000.0, q=0.707, min_q=0.5, max_q=2.0, sr=sr)
        self.odd_pan, self.even_pan = Pan(0.5), Pan(0.5)
        # log_eta = -softplus(eta) starts at -0.01
        self.eta = nn.Parameter(torch.tensor(math.log(math.expm1(0.01))))

    def preset_contract(self) -> Contract:
        """``delay_ms`` (d), ``feedback`` (γ_DLY) and ``gain`` (g_DLY) in (0, 1), the loop
        ``lowpass`` band and the ``odd_pan``/``even_pan``; ``eta`` is not part of a preset."""
        lo, hi = DELAY_MS_BOUNDS
        return Contract((
            Field("delay", "delay_ms", "ms", Range(lo, hi), lambda z: bounded(z, lo, hi),
                  lambda v: bounded_logit(v, lo, hi), notation="d"),
            Field("feedback", "feedback", "", Range(0.0, 1.0), torch.sigmoid, unit_logit,
                  notation="γ_DLY"),
            Field("gain", "gain", "", Range(0.0, 1.0), torch.sigmoid, unit_logit, notation="g_DLY"),
            Child("lowpass", self.eq, "eq.", "DLY.LP"),
            Child("odd_pan", self.odd_pan, "odd_pan.", "DLY.odd"),
            Child("even_pan", self.even_pan, "even_pan.", "DLY.even"),
        ), effect="DLY")

    def delay_ms(self) -> torch.Tensor:
        return bounded(self.delay, *DELAY_MS_BOUNDS)

    def log_eta(self) -> torch.Tensor:
        return -F.softplus(self.eta)

    def regulariser(self) -> torch.Tensor:
        """``(1 - eta)^2``: pushes the surrogate towards the exact delay."""
        return (1 - torch.exp(self.log_eta())) ** 2

    def kernels(self) -> torch.Tensor:
        """(2, N) odd and even echo trains, gain included."""
        d = (self.delay_ms() * self.sr / 1000).reshape(1)
        use_surrogate = self.surrogate and self.training
        return pingpong_kernels(d, torch.sigmoid(self.feedback).reshape(1),
                                torch.sigmoid(self.gain).reshape(1), self.eq.sos().view(1, 1, 6),
                                self.n, self.log_eta().reshape(1) if use_surrogate else None)[0]

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        odd, even = self.kernels().to(u.dtype)
        return (self.odd_pan(causal_fft_conv(u, odd)) + self.even_pan(causal_fft_conv(u, even)))
