"""Compressor/expander with lookahead."""
from __future__ import annotations

import torch
from torch import nn

from ..contract import GAIN_DB, LEVEL_DB, Contract, Derived, Field, Range
from ..functional.compressor import compressor_expander
from ..params import bounded, bounded_logit, coef_to_ms, lookahead_ms, ms_to_coef, open_unit, unit_logit

CMP_RATIO_BOUNDS = (1.0, 20.0)


class CompressorExpander(nn.Module):
    """Logits: thresholds ``cmp_th``, ``exp_th`` and ``make_up`` in dB (identity);
    ``lookahead`` (ms = abs mod 15); ``at``, ``rt``, ``avg_coef``, ``exp_ratio`` (sigmoid);
    ``cmp_ratio`` (1..20). x (B, T) -> (B, T)."""

    def __init__(self, sr: float = 44100.0, cmp_ratio: float = 2.0, exp_ratio: float = 0.5,
                 at_ms: float = 50.0, rt_ms: float = 50.0, avg_coef: float = 0.3,
                 cmp_th: float = -18.0, exp_th: float = -48.0, make_up: float = 0.0,
                 lookahead: float = 1.0):
        super().__init__()
        self.sr = sr
        t = lambda v: torch.tensor(float(v))  # noqa: E731
        self.cmp_th, self.exp_th, self.make_up = (nn.Parameter(t(v)) for v in (cmp_th, exp_th, make_up))
        self.lookahead = nn.Parameter(t(lookahead).view(1))
        self.at = nn.Parameter(torch.logit(ms_to_coef(at_ms, sr)).float())
        self.rt = nn.Parameter(torch.logit(ms_to_coef(rt_ms, sr)).float())
        self.avg_coef = nn.Parameter(torch.logit(t(avg_coef)))
        lo, hi = CMP_RATIO_BOUNDS
        self.cmp_ratio = nn.Parameter(torch.logit(t((cmp_ratio - lo) / (hi - lo))))
        self.exp_ratio = nn.Parameter(torch.logit(t(exp_ratio)))

    def preset_contract(self) -> Contract:
        """Thresholds and make-up in dB, ratios, smoothing coefficients (with their times in ms
        as derived fields) and the lookahead in ms; the paper's names CT, CR, ET, ER, α_at, ..."""
        lo, hi = CMP_RATIO_BOUNDS
        unit = Range(0.0, 1.0)
        coef = lambda param, name, notation: Field(  # noqa: E731
            param, name, "", unit, torch.sigmoid, unit_logit, notation=notation)
        ms = lambda name, coef_name: Derived(  # noqa: E731
            name, "ms", lambda v: float(coef_to_ms(v[coef_name], self.sr)), coef_name,
            lambda value: float(ms_to_coef(value, self.sr)))
        return Contract((
            Field("cmp_th", "cmp_th_db", "dB", LEVEL_DB, stored=True, notation="CT"),
            Field("exp_th", "exp_th_db", "dB", LEVEL_DB, stored=True, notation="ET"),
            Field("make_up", "make_up_db", "dB", GAIN_DB, stored=True, notation="make-up"),
            Field("lookahead", "lookahead_ms", "ms", Range(0.0, 15.0, lo_closed=True),
                  lambda z: lookahead_ms(z).reshape(()), lambda v: torch.as_tensor(v).reshape(1),
                  notation="lookahead"),
            coef("at", "at_coef", "α_at"), coef("rt", "rt_coef", "α_rt"),
            coef("avg_coef", "avg_coef", "α_RMS"),
            Field("cmp_ratio", "cmp_ratio", "", Range(lo, hi), lambda z: bounded(z, lo, hi),
                  lambda v: bounded_logit(v, lo, hi), notation="CR"),
            Field("exp_ratio", "exp_ratio", "", unit, torch.sigmoid, unit_logit, notation="ER"),
        ), (ms("attack_ms", "at_coef"), ms("release_ms", "rt_coef"), ms("rms_average_ms", "avg_coef")),
            effect="COMP")

    def physical(self) -> dict[str, torch.Tensor]:
        lo, hi = CMP_RATIO_BOUNDS
        eps = torch.finfo(self.cmp_ratio.dtype).eps
        return {
            "cmp_th": self.cmp_th, "exp_th": self.exp_th, "make_up": self.make_up,
            "cmp_ratio": bounded(self.cmp_ratio, lo, hi).clamp_min(1 + 2 * eps),
            "exp_ratio": open_unit(self.exp_ratio),
            "at": open_unit(self.at), "rt": open_unit(self.rt), "avg_coef": open_unit(self.avg_coef),
            "lookahead_ms": lookahead_ms(self.lookahead).squeeze(-1),
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = {k: v.reshape(1).to(x.dtype) for k, v in self.physical().items()}
        batch = x.shape[0]
        p = {k: v.expand(batch) for k, v in p.items()}
        return compressor_expander(x, p["cmp_th"], p["cmp_ratio"], p["exp_th"], p["exp_ratio"],
                                   p["at"], p["rt"], p["avg_coef"], p["lookahead_ms"],
                                   p["make_up"], self.sr)
