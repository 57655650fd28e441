"""Ping-pong delay with a low-pass in the feedback loop: its parameters."""
from __future__ import annotations

import torch
from torch import nn

from ..contract import Child, Contract, Field, Range
from ..params import bounded, bounded_logit, unit_logit
from .eq import Band
from .pan import Pan

DELAY_MS_BOUNDS = (100.0, 1000.0)


class PingPongDelay(nn.Module):
    """``delay`` (100..1000 ms), ``feedback``, ``gain`` (sigmoid), the loop low-pass ``lowpass``
    (200..16000 Hz, Q 0.5..2), ``odd_pan``, ``even_pan``. Kernels by
    :func:`~diffvox.functional.delay.pingpong_kernels`; the surrogate's damping ``eta`` is the
    chain's (not part of a preset)."""

    def __init__(self, sr: float = 44100.0, delay_ms: float = 400.0, feedback: float = 0.1,
                 gain: float = 0.1, ir_seconds: float = 4.0):
        super().__init__()
        self.sr, self.n = sr, int(sr * ir_seconds)
        self.init = {"delay": delay_ms, "feedback": feedback, "gain": gain}
        self.eq = Band("lowpass", 8000.0, 200.0, 16000.0, q=0.707, min_q=0.5, max_q=2.0, sr=sr)
        self.odd_pan, self.even_pan = Pan(0.5), Pan(0.5)

    def preset_contract(self) -> Contract:
        """``delay_ms`` (d), ``feedback`` (γ_DLY) and ``gain`` (g_DLY) in (0, 1), the loop
        ``lowpass`` band and the ``odd_pan``/``even_pan``."""
        lo, hi = DELAY_MS_BOUNDS
        return Contract((
            Field("delay", "delay_ms", "ms", Range(lo, hi), lambda z: bounded(z, lo, hi),
                  lambda v: bounded_logit(v, lo, hi), notation="d", init=self.init["delay"]),
            Field("feedback", "feedback", "", Range(0.0, 1.0), torch.sigmoid, unit_logit,
                  notation="γ_DLY", init=self.init["feedback"]),
            Field("gain", "gain", "", Range(0.0, 1.0), torch.sigmoid, unit_logit, notation="g_DLY",
                  init=self.init["gain"]),
            Child("lowpass", self.eq, "eq.", "DLY.LP"),
            Child("odd_pan", self.odd_pan, "odd_pan.", "DLY.odd"),
            Child("even_pan", self.even_pan, "even_pan.", "DLY.even"),
        ), effect="DLY")
