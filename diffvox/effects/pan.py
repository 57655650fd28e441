"""Constant-power pan of a mono signal."""
from __future__ import annotations

import torch
from torch import nn

from ..functional.pan import pan_gains, pan_mono


class Pan(nn.Module):
    """Logit ``pan`` -> p = sigmoid (0.5 centre). x (B, T) -> (B, 2, T)."""

    def __init__(self, pan: float = 0.5):
        super().__init__()
        self.pan = nn.Parameter(torch.logit(torch.tensor(float(pan))))

    def value(self) -> torch.Tensor:
        return torch.sigmoid(self.pan)

    def gains(self) -> torch.Tensor:
        """(2,) left/right gains."""
        return pan_gains(self.value())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pan_mono(x, self.value())
