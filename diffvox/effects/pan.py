"""Constant-power pan of a mono signal."""
from __future__ import annotations

import torch
from torch import nn

from ..contract import Contract, Derived, Field, Range
from ..params import unit_logit


class Pan(nn.Module):
    """``pan`` = sigmoid(logit) in (0, 1), 0.5 = centre; gains by :func:`~diffvox.functional.pan.pan_gains`."""

    def __init__(self, pan: float = 0.5):
        super().__init__()
        self.init = float(pan)

    def preset_contract(self) -> Contract:
        """``pan`` in (0, 1), 0.5 = centre (``θ_`` + label); ``pan_percent`` = 200 pan - 100."""
        return Contract(
            (Field("pan", "pan", "", Range(0.0, 1.0), torch.sigmoid, unit_logit, notation="θ_{}",
                   init=self.init),),
            (Derived("pan_percent", "%", lambda v: 200 * v["pan"] - 100, "pan",
                     lambda percent: (percent + 100) / 200),))
