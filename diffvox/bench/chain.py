"""Chain benchmark: one forward+backward of DiffVox in training mode on a paper-sized batch."""
from __future__ import annotations

import torch

from ..chain import DiffVox
from .common import median_time


def time_chain(batch: int = 35, seconds: float = 12.0, device: str | torch.device = "cpu",
               repeat: int = 3, sr: int = 44100) -> dict:
    """Median seconds of forward, and of forward+backward (loss = mean square, plus regulariser)."""
    device = torch.device(device)
    model = DiffVox(sr).to(device).train()
    x = (torch.randn(batch, 1, int(seconds * sr), generator=torch.Generator().manual_seed(0)) * 0.1).to(device)

    def forward():
        with torch.no_grad():
            model(x)

    def forward_backward():
        model.zero_grad(set_to_none=True)
        (model(x).square().mean() + model.regulariser()).backward()

    return {"batch": batch, "seconds_audio": seconds, "forward_s": median_time(forward, device, repeat),
            "forward_backward_s": median_time(forward_backward, device, repeat)}
