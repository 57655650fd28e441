"""Parametric EQ bands (RBJ biquads) and their cascade.

A band declares its logits once (:meth:`Band.preset_contract`): frequency (bounded Hz), Q
(bounded; not for shelves, which use 0.707) and gain (dB, identity; peak and shelves only).
The chain hands each band the values of a batch of presets; :meth:`Band.sos` turns them into
cookbook coefficients.
"""
from __future__ import annotations

import torch
from torch import nn

from ..contract import Contract, Derived, Field, Range
from ..filters import biquad_coefficients
from ..params import bounded, bounded_logit

SHELF_Q = 0.707
DEFAULT_Q = {"peak": (0.2, 20.0), "lowpass": (0.5, 10.0), "highpass": (0.5, 10.0)}


class Band(nn.Module):
    """One biquad band of ``kind`` with its ranges and initial values (no parameters of its
    own: the chain holds every preset's logits)."""

    def __init__(self, kind: str, freq: float, min_freq: float, max_freq: float,
                 q: float = 0.707, min_q: float | None = None, max_q: float | None = None,
                 gain_db: float = 0.0, sr: float = 44100.0):
        super().__init__()
        self.kind, self.sr = kind, sr
        self.freq_bounds = (min_freq, max_freq)
        self.init = {"freq": freq, "gain": float(gain_db)}
        self.q_bounds = None
        if kind in DEFAULT_Q:
            lo, hi = DEFAULT_Q[kind]
            self.q_bounds = (min_q if min_q is not None else lo, max_q if max_q is not None else hi)
            self.init["Q"] = min(max(q, self.q_bounds[0] * 1.01), self.q_bounds[1] * 0.99)
        self.has_gain = kind in ("peak", "lowshelf", "highshelf")

    def preset_contract(self) -> Contract:
        """``gain_db`` (dB, peak and shelves), ``freq_hz`` and ``Q`` (not for shelves: fixed 0.707),
        ``type``; the paper's names ``g_``, ``f_``, ``Q_`` + the band's label."""
        items = []
        if self.has_gain:
            items.append(Field("gain", "gain_db", "dB", stored=True, notation="g_{}",
                               init=self.init["gain"]))
        lo, hi = self.freq_bounds
        items.append(Field("freq", "freq_hz", "Hz", Range(lo, hi), lambda z: bounded(z, lo, hi),
                           lambda v: bounded_logit(v, lo, hi), notation="f_{}", init=self.init["freq"]))
        derived = [Derived("type", "", lambda v: self.kind)]
        if self.q_bounds:
            q_lo, q_hi = self.q_bounds
            items.append(Field("Q", "Q", "", Range(q_lo, q_hi), lambda z: bounded(z, q_lo, q_hi),
                               lambda v: bounded_logit(v, q_lo, q_hi), notation="Q_{}",
                               init=self.init["Q"]))
        else:
            derived.append(Derived("Q", "", lambda v: SHELF_Q))
        return Contract(tuple(items), tuple(derived))

    def sos(self, v: dict[str, torch.Tensor]) -> torch.Tensor:
        """(..., 6) cookbook coefficients of the values ``v`` (each (...,))."""
        return biquad_coefficients(self.kind, v["freq"], v.get("Q", SHELF_Q), v.get("gain", 0.0), self.sr)


class EQ(nn.Module):
    """Bands in series."""

    def __init__(self, bands: list[Band]):
        super().__init__()
        self.bands = nn.ModuleList(bands)

    def preset_contract(self) -> Contract:
        return Contract()
