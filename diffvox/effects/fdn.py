"""Feedback delay network reverb with a tone EQ: its parameters."""
from __future__ import annotations

import torch
from torch import nn

from ..contract import Child, Contract, Derived, Field, Range, matrix_notation
from ..functional.fdn import DELAYS, gamma_max, t60_seconds
from ..params import orthogonal, orthogonal_logits, orthogonality_error, unit_logit
from .eq import EQ, Band

N_DECAY_BANDS = 49


class FDNReverb(nn.Module):
    """``b`` (6, 2) input and ``c`` (2, 6) output gains (identity), ``gamma`` (49, 1) decay per
    band (``gamma_max * sigmoid``), ``U`` (6, 6) -> ``expm(T - T^T)``; then ``eq`` (peak, peak,
    low shelf, high shelf). Response by :func:`~diffvox.functional.fdn.fdn_impulse_response`."""

    def __init__(self, sr: float = 44100.0, ir_seconds: float = 12.0, seed: int = 0):
        super().__init__()
        self.sr, self.n = sr, int(sr * ir_seconds)
        self.gamma_max = gamma_max(sr)
        gen = torch.Generator().manual_seed(seed)
        lines = len(DELAYS)
        b = torch.randn(lines, 2, generator=gen) / lines**0.5
        c = torch.randn(2, lines, generator=gen) / lines**0.5 * 0.1
        u = torch.randn(lines, lines, generator=gen)
        self.init = {"b": b.double(), "c": c.double(), "U": orthogonal(u.double()),
                     "gamma": float(self.gamma_max * torch.sigmoid(torch.tensor(2.0, dtype=torch.float64)))}
        self.eq = EQ([
            Band("peak", 800.0, 200.0, 2500.0, q=0.707, min_q=0.1, max_q=3.0, sr=sr),
            Band("peak", 4000.0, 600.0, 7000.0, q=0.707, min_q=0.1, max_q=3.0, sr=sr),
            Band("lowshelf", 115.0, 30.0, 450.0, sr=sr),
            Band("highshelf", 8000.0, 1500.0, 16000.0, sr=sr),
        ])

    def preset_contract(self) -> Contract:
        """Input gains ``b`` (6, 2) and output gains ``c`` (2, 6), the orthogonal feedback matrix
        ``U`` (6, 6), the decay ``decay_gamma`` per 997 samples at 49 frequencies (with
        ``t60_s`` derived), then the tone ``eq`` (FDN.PK1, FDN.PK2, FDN.LS, FDN.HS)."""
        g_max, sr = self.gamma_max, self.sr
        last = N_DECAY_BANDS - 1
        lines = len(DELAYS)
        return Contract((
            Field("b", "b", "", stored=True, notation=matrix_notation("b"), shape=(lines, 2),
                  init=self.init["b"]),
            Field("c", "c", "", stored=True, notation=matrix_notation("c"), shape=(2, lines),
                  init=self.init["c"]),
            Field("gamma", "decay_gamma", "", Range(0.0, g_max), lambda z: g_max * torch.sigmoid(z[..., 0]),
                  lambda v: unit_logit(torch.as_tensor(v) / g_max).unsqueeze(-1),
                  notation=lambda shape: [f"γ(e^{{iπ{k}/{last}}})" for k in range(shape[0])],
                  shape=(N_DECAY_BANDS, 1), init=[self.init["gamma"]] * N_DECAY_BANDS),
            Field("U", "U", "", to_value=orthogonal, to_logit=orthogonal_logits,
                  notation=matrix_notation("U"), check=orthogonality_error, shape=(lines, lines),
                  init=self.init["U"]),
            *[Child("eq[]", band, f"eq.{i}.", f"FDN.{label}")
              for i, (band, label) in enumerate(zip(self.eq.bands, ("PK1", "PK2", "LS", "HS")))],
        ), (
            Derived("delays_samples", "samples", lambda v: list(DELAYS)),
            Derived("decay_freqs_hz", "Hz", lambda v: [sr / 2 * k / last for k in range(last + 1)]),
            Derived("t60_s", "s", lambda v: t60_seconds(torch.as_tensor(v["decay_gamma"]), sr).tolist(),
                    "decay_gamma", lambda t60: (10 ** (-60 * DELAYS[0] / (sr * 20 * torch.as_tensor(
                        t60, dtype=torch.float64)))).tolist()),
        ), effect="FDN")
