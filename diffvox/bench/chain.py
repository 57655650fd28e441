"""Chain benchmark: one forward+backward of DiffVox in training mode on a paper-sized batch."""
from __future__ import annotations

import torch

from ..chain import DiffVox
from ..memory import keep_freed_memory
from .common import median_time


def time_chain(batch: int = 35, seconds: float = 12.0, device: str | torch.device = "cpu",
               repeat: int = 3, sr: int = 44100, stage_by_stage: bool = False) -> dict:
    """Median seconds of forward, and of forward+backward (loss = mean square, plus regulariser).

    ``stage_by_stage``: every effect convolves its own input, as the original computes the chain
    (:meth:`DiffVox.stages`), instead of our single response after the compressor."""
    device = torch.device(device)
    if device.type == "cpu":
        keep_freed_memory()
    chain = DiffVox(sr).to(device).train()
    model = (lambda v: chain.stages(v)["wet"]) if stage_by_stage else chain  # noqa: E731
    x = (torch.randn(batch, 1, int(seconds * sr), generator=torch.Generator().manual_seed(0)) * 0.1).to(device)

    def forward():
        with torch.no_grad():
            model(x)

    def forward_backward():
        chain.zero_grad(set_to_none=True)
        (model(x).square().mean() + chain.regulariser()).backward()

    return {"path": "stage by stage" if stage_by_stage else "diffvox", "batch": batch, "seconds_audio": seconds, "forward_s": median_time(forward, device, repeat),
            "forward_backward_s": median_time(forward_backward, device, repeat)}
