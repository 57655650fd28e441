"""Compressor/expander with lookahead: its parameters."""
from __future__ import annotations

import torch
from torch import nn

from ..contract import Contract, Derived, Field, Range
from ..params import bounded_logit, coef_to_ms, lookahead_ms, ms_to_coef, open_unit, ratio_above_one, unit_logit

CMP_RATIO_BOUNDS = (1.0, 20.0)
#: the coefficients' map keeps them this far inside (0, 1) (float64's eps; :func:`open_unit`)
COEF_RANGE = Range(torch.finfo(torch.float64).eps, 1 - torch.finfo(torch.float64).eps, True, True)


class CompressorExpander(nn.Module):
    """Thresholds ``cmp_th``, ``exp_th`` and ``make_up`` in dB (identity); ``lookahead`` (ms =
    abs mod 15); ``at``, ``rt``, ``avg_coef``, ``exp_ratio`` (sigmoid, kept inside (0, 1));
    ``cmp_ratio`` (1..20, kept above 1). Applied by
    :func:`~diffvox.functional.compressor.compressor_expander`."""

    def __init__(self, sr: float = 44100.0, cmp_ratio: float = 2.0, exp_ratio: float = 0.5,
                 at_ms: float = 50.0, rt_ms: float = 50.0, avg_coef: float = 0.3,
                 cmp_th: float = -18.0, exp_th: float = -48.0, make_up: float = 0.0,
                 lookahead: float = 1.0):
        super().__init__()
        self.sr = sr
        self.init = {"cmp_th": cmp_th, "exp_th": exp_th, "make_up": make_up, "lookahead": lookahead,
                     "at": float(ms_to_coef(at_ms, sr)), "rt": float(ms_to_coef(rt_ms, sr)),
                     "avg_coef": avg_coef, "cmp_ratio": cmp_ratio, "exp_ratio": exp_ratio}

    def preset_contract(self) -> Contract:
        """Thresholds and make-up in dB, ratios, smoothing coefficients (with their times in ms
        as derived fields) and the lookahead in ms; the paper's names CT, CR, ET, ER, α_at, ..."""
        lo, hi = CMP_RATIO_BOUNDS
        unit = COEF_RANGE
        init = self.init
        coef = lambda param, name, notation: Field(  # noqa: E731
            param, name, "", unit, open_unit, unit_logit, notation=notation, init=init[param])
        ms = lambda name, coef_name: Derived(  # noqa: E731
            name, "ms", lambda v: float(coef_to_ms(v[coef_name], self.sr)), coef_name,
            lambda value: float(ms_to_coef(value, self.sr)))
        return Contract((
            Field("cmp_th", "cmp_th_db", "dB", stored=True, notation="CT", init=init["cmp_th"]),
            Field("exp_th", "exp_th_db", "dB", stored=True, notation="ET", init=init["exp_th"]),
            Field("make_up", "make_up_db", "dB", stored=True, notation="make-up", init=init["make_up"]),
            Field("lookahead", "lookahead_ms", "ms", Range(0.0, 15.0, lo_closed=True),
                  lambda z: lookahead_ms(z[..., 0]), lambda v: torch.as_tensor(v).unsqueeze(-1),
                  notation="lookahead", shape=(1,), init=init["lookahead"]),
            coef("at", "at_coef", "α_at"), coef("rt", "rt_coef", "α_rt"),
            coef("avg_coef", "avg_coef", "α_RMS"),
            Field("cmp_ratio", "cmp_ratio", "", Range(lo, hi), lambda z: ratio_above_one(z, lo, hi),
                  lambda v: bounded_logit(v, lo, hi), notation="CR", init=init["cmp_ratio"]),
            Field("exp_ratio", "exp_ratio", "", unit, open_unit, unit_logit, notation="ER",
                  init=init["exp_ratio"]),
        ), (ms("attack_ms", "at_coef"), ms("release_ms", "rt_coef"), ms("rms_average_ms", "avg_coef")),
            effect="COMP")
