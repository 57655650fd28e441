"""Matching benchmark: seconds per optimisation step at the paper's settings."""
from __future__ import annotations

import torch

from ..chain import DiffVox
from ..losses import WEIGHTS, DiffVoxLoss, mldr, mss_modules
from .common import median_time


def _auraloss_terms(mss_lr, mss_ms):
    """The original's loss: auraloss modules for MSS, our MLDR (identical to the original)."""
    def terms(pred, target):
        return (WEIGHTS["mss_lr"] * mss_lr(pred, target) + WEIGHTS["mss_ms"] * mss_ms(pred, target)
                + WEIGHTS["mldr_lr"] * mldr(pred, target)
                + WEIGHTS["mldr_ms"] * mldr(pred, target, mid_side=True))
    return terms


def time_step(batch: int = 35, chunk_seconds: float = 12.0, overlap_seconds: float = 5.0,
              device: str | torch.device = "cpu", repeat: int = 3, mss: str = "diffvox",
              sr: int = 44100) -> dict:
    """Median seconds of one Adam step (forward, loss on the last part, backward, update)."""
    device = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    length, loss_from = int(chunk_seconds * sr), int(overlap_seconds * sr)
    dry = (torch.randn(batch, 1, length, generator=gen) * 0.1).to(device)
    wet = (torch.randn(batch, 2, length - loss_from, generator=gen) * 0.1).to(device)
    model = DiffVox(sr).to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    if mss == "diffvox":
        loss_fn = DiffVoxLoss(sr).to(device)
        total = lambda p, t: loss_fn(p, t)["total"]  # noqa: E731
    elif mss == "auraloss":
        total = _auraloss_terms(*(m.to(device) for m in mss_modules(sr)))
    else:
        raise ValueError(f"mss must be 'diffvox' or 'auraloss', got {mss!r}")

    def step():
        optimiser.zero_grad(set_to_none=True)
        (total(model(dry)[..., loss_from:], wet) + model.regulariser().to(device)).backward()
        optimiser.step()

    seconds = median_time(step, device, repeat)
    return {"batch": batch, "chunk_seconds": chunk_seconds, "overlap_seconds": overlap_seconds,
            "mss": mss, "seconds_per_step": seconds, "minutes_per_song_2000_steps": seconds * 2000 / 60}
