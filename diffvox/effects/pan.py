"""Constant-power pan of a mono signal."""
from __future__ import annotations

import torch
from torch import nn

from ..contract import Contract, Derived, Field, Range
from ..functional.pan import pan_gains, pan_mono
from ..params import unit_logit


class Pan(nn.Module):
    """Logit ``pan`` -> p = sigmoid (0.5 centre). x (B, T) -> (B, 2, T)."""

    def __init__(self, pan: float = 0.5):
        super().__init__()
        self.pan = nn.Parameter(torch.logit(torch.tensor(float(pan))))

    def preset_contract(self) -> Contract:
        """``pan`` in (0, 1), 0.5 = centre (``θ_`` + label); ``pan_percent`` = 200 pan - 100."""
        return Contract(
            (Field("pan", "pan", "", Range(0.0, 1.0), torch.sigmoid, unit_logit, notation="θ_{}"),),
            (Derived("pan_percent", "%", lambda v: 200 * v["pan"] - 100, "pan",
                     lambda percent: (percent + 100) / 200),))

    def value(self) -> torch.Tensor:
        return torch.sigmoid(self.pan)

    def gains(self) -> torch.Tensor:
        """(2,) left/right gains."""
        return pan_gains(self.value())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pan_mono(x, self.value())
