"""Parametric EQ bands (RBJ biquads) and their cascade."""
from __future__ import annotations

import torch
from torch import nn

from ..contract import GAIN_DB, Contract, Derived, Field, Range
from ..filters import biquad_coefficients, sosfilt
from ..params import bounded, bounded_logit

SHELF_Q = 0.707
DEFAULT_Q = {"peak": (0.2, 20.0), "lowpass": (0.5, 10.0), "highpass": (0.5, 10.0)}


class Band(nn.Module):
    """One biquad band. Logits: ``freq`` (bounded Hz), ``Q`` (bounded; not for shelves), and
    ``gain`` (dB, identity; peak and shelves only)."""

    def __init__(self, kind: str, freq: float, min_freq: float, max_freq: float,
                 q: float = 0.707, min_q: float | None = None, max_q: float | None = None,
                 gain_db: float = 0.0, sr: float = 44100.0):
        super().__init__()
        self.kind, self.sr = kind, sr
        self.freq_bounds = (min_freq, max_freq)
        self.freq = nn.Parameter(bounded_logit(freq, min_freq, max_freq).float())
        self.q_bounds = None
        if kind in DEFAULT_Q:
            lo, hi = DEFAULT_Q[kind]
            self.q_bounds = (min_q if min_q is not None else lo, max_q if max_q is not None else hi)
            q = min(max(q, self.q_bounds[0] * 1.01), self.q_bounds[1] * 0.99)
            self.Q = nn.Parameter(bounded_logit(q, *self.q_bounds).float())
        self.has_gain = kind in ("peak", "lowshelf", "highshelf")
        if self.has_gain:
            self.gain = nn.Parameter(torch.tensor(float(gain_db)))

    def physical(self) -> dict[str, torch.Tensor]:
        """Frequency (Hz), Q and gain (dB) as tensors."""
        out = {"freq": bounded(self.freq, *self.freq_bounds)}
        out["Q"] = bounded(self.Q, *self.q_bounds) if self.q_bounds else torch.full_like(self.freq, SHELF_Q)
        out["gain"] = self.gain if self.has_gain else torch.zeros_like(self.freq)
        return out

    def preset_contract(self) -> Contract:
        """``gain_db`` (dB, peak and shelves), ``freq_hz`` and ``Q`` (not for shelves: fixed 0.707),
        ``type``; the paper's names ``g_``, ``f_``, ``Q_`` + the band's label."""
        items = []
        if self.has_gain:
            items.append(Field("gain", "gain_db", "dB", GAIN_DB, stored=True, notation="g_{}"))
        lo, hi = self.freq_bounds
        items.append(Field("freq", "freq_hz", "Hz", Range(lo, hi), lambda z: bounded(z, lo, hi),
                           lambda v: bounded_logit(v, lo, hi), notation="f_{}"))
        derived = [Derived("type", "", lambda v: self.kind)]
        if self.q_bounds:
            q_lo, q_hi = self.q_bounds
            items.append(Field("Q", "Q", "", Range(q_lo, q_hi), lambda z: bounded(z, q_lo, q_hi),
                               lambda v: bounded_logit(v, q_lo, q_hi), notation="Q_{}"))
        else:
            derived.append(Derived("Q", "", lambda v: SHELF_Q))
        return Contract(tuple(items), tuple(derived))

    def sos(self) -> torch.Tensor:
        """(6,) cookbook coefficients."""
        p = self.physical()
        return biquad_coefficients(self.kind, p["freq"], p["Q"], p["gain"], self.sr)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sosfilt(self.sos().unsqueeze(0), x)


class EQ(nn.Module):
    """Bands in series. x (..., T) -> (..., T)."""

    def __init__(self, bands: list[Band]):
        super().__init__()
        self.bands = nn.ModuleList(bands)

    def sos(self) -> torch.Tensor:
        """(n_bands, 6)."""
        return torch.stack([band.sos() for band in self.bands])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sosfilt(self.sos(), x)
