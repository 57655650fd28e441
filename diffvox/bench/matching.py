"""Matching benchmark: seconds per optimisation step, ours against the original's stand-in."""
from __future__ import annotations

import statistics

import torch

from ..chain import DiffVox
from ..losses import DiffVoxLoss
from ..memory import keep_freed_memory
from .common import median_time
from .original import OriginalLoss, original_forward

IMPLEMENTATIONS = ("diffvox", "original")


def _setup(batch, chunk_seconds, overlap_seconds, device, seed, sr):
    """Device, generator, random dry (B, 1, L) and wet (B, 2, L - overlap) chunks, the loss
    offset, and a chain in training mode."""
    device = torch.device(device)
    if device.type == "cpu":
        keep_freed_memory()
    gen = torch.Generator().manual_seed(seed)
    length, loss_from = int(chunk_seconds * sr), int(overlap_seconds * sr)
    dry = (torch.randn(batch, 1, length, generator=gen) * 0.1).to(device)
    wet = (torch.randn(batch, 2, length - loss_from, generator=gen) * 0.1).to(device)
    return device, gen, dry, wet, loss_from, DiffVox(sr).to(device).train()


def _make_step(implementation, batch, chunk_seconds, overlap_seconds, device, sr):
    """One Adam step of ``implementation`` as a closure, and the seconds its target preparation
    took (None for the stand-in, which transforms the target at every step)."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
    device, gen, dry, wet, loss_from, model = _setup(batch, chunk_seconds, overlap_seconds, device, 0, sr)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    prepare_s = None
    if implementation == "diffvox":  # as in a fit: the target chunks prepared once, selected per step
        loss_fn, forward = DiffVoxLoss(sr).to(device), model
        prepare_s = median_time(lambda: loss_fn.prepare(wet), device, 1, warmup=0)
        prepared = loss_fn.prepare(wet)
        order = torch.randperm(batch, generator=gen).to(device)
        dry = dry[order]
        total = lambda p, t: loss_fn(p, prepared.select(order))["total"]  # noqa: E731
    else:
        total = OriginalLoss(sr).to(device)
        forward = lambda x, start: original_forward(model, x)[..., start:]  # noqa: E731

    def step():
        optimiser.zero_grad(set_to_none=True)
        (total(forward(dry, start=loss_from), wet) + model.regulariser().to(device)).backward()
        optimiser.step()
    return step, prepare_s


def time_steps(batch: int = 35, chunk_seconds: float = 12.0, overlap_seconds: float = 5.0,
               device: str | torch.device = "cpu", repeat: int = 3,
               implementations=IMPLEMENTATIONS, sr: int = 44100) -> list[dict]:
    """Median seconds of one Adam step (forward, loss on the last part, backward, update) of
    each implementation, their steps interleaved (after 2 warm-up steps each: the heap has grown)
    so that a machine whose speed drifts slows them alike.

    ``"diffvox"``: ours (the targets' features are prepared once, as a fit does, and selected
    each step; the preparation's time is reported apart); ``"original"``:
    :mod:`diffvox.bench.original`, which transforms the target at every step as the original does.
    Each row also holds ``paired_ratios``: each of our steps over the stand-in's next one."""
    device = torch.device(device)
    steps = {impl: _make_step(impl, batch, chunk_seconds, overlap_seconds, device, sr)
             for impl in implementations}
    times = {impl: [] for impl in implementations}
    for step, _ in steps.values():
        for _ in range(2):
            step()
    for _ in range(repeat):
        for impl, (step, _) in steps.items():
            times[impl].append(median_time(step, device, 1, warmup=0))
    rows = []
    for impl in implementations:
        seconds = statistics.median(times[impl])
        rows.append({"implementation": impl, "batch": batch, "chunk_seconds": chunk_seconds,
                     "overlap_seconds": overlap_seconds, "seconds_per_step": seconds,
                     "minutes_per_song_2000_steps": seconds * 2000 / 60,
                     "target_prepare_s_once": steps[impl][1], "step_seconds": times[impl]})
    if implementations == IMPLEMENTATIONS:
        rows[0]["paired_ratios"] = [a / b for a, b in zip(times["diffvox"], times["original"])]
    return rows


def time_step(batch: int = 35, chunk_seconds: float = 12.0, overlap_seconds: float = 5.0,
              device: str | torch.device = "cpu", repeat: int = 3, implementation: str = "diffvox",
              sr: int = 44100) -> dict:
    """Median seconds of one Adam step of one implementation (see :func:`time_steps`)."""
    return time_steps(batch, chunk_seconds, overlap_seconds, device, repeat, (implementation,), sr)[0]


def time_parts(batch: int = 8, chunk_seconds: float = 12.0, overlap_seconds: float = 5.0,
               device: str | torch.device = "cpu", repeat: int = 3, implementation: str = "diffvox",
               sr: int = 44100) -> dict:
    """Median seconds of the step's parts, each forward+backward: the chain (gradient of a
    fixed random projection of its output) and the losses (on a fixed prediction)."""
    device, gen, dry, wet, loss_from, model = _setup(batch, chunk_seconds, overlap_seconds, device, 1, sr)
    forward = model if implementation == "diffvox" else (  # noqa: E731
        lambda x, start: original_forward(model, x)[..., start:])
    projection = torch.randn(wet.shape, generator=gen).to(device)
    with torch.no_grad():
        pred = forward(dry, start=loss_from)
    if implementation == "diffvox":
        loss_fn = DiffVoxLoss(sr).to(device)
        prepared = loss_fn.prepare(wet)
        loss = lambda p: loss_fn(p, prepared)["total"]  # noqa: E731
    else:
        loss = lambda p: OriginalLoss(sr).to(device)(p, wet)  # noqa: E731

    def chain():
        model.zero_grad(set_to_none=True)
        (forward(dry, start=loss_from) * projection).sum().backward()

    def losses():
        loss(pred.clone().requires_grad_()).backward()

    return {"implementation": implementation, "batch": batch,
            "chain_forward_backward_s": median_time(chain, device, repeat),
            "losses_forward_backward_s": median_time(losses, device, repeat)}
