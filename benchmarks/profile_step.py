"""Where one matching step's time goes: the step of ``benchmarks/matching.py`` (8 x 12 s chunks on
the CPU, loss on the last 7 s) timed, then profiled once with ``torch.profiler``; writes the
stage times (chain forward, losses forward, backward, update) and the operators with the most
time of their own (compiled kernels appear under their autograd function's name).

    python benchmarks/profile_step.py [--device cpu|cuda] [--batch 8] [--top 25] [--out FILE]
        [--chunk-seconds 12] [--overlap-seconds 5] [--repeat 3]   (smaller: a smoke run)
"""
from __future__ import annotations

import argparse
import inspect
import subprocess
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from diffvox.bench.common import machine, median_time, sync, write_json_atomic
from diffvox.chain import DiffVox
from diffvox.losses import DiffVoxLoss
from diffvox.memory import keep_freed_memory


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=None, help="chunks per step (8 on CPU, 35 on GPU)")
    ap.add_argument("--chunk-seconds", type=float, default=12.0)
    ap.add_argument("--overlap-seconds", type=float, default=5.0, help="the loss sees the rest of the chunk")
    ap.add_argument("--repeat", type=int, default=3, help="timed steps (median), and steps averaged per stage")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    batch = args.batch or (8 if device.type == "cpu" else 35)
    if device.type == "cpu":
        keep_freed_memory()
    if not 0 <= args.overlap_seconds < args.chunk_seconds:
        ap.error(f"--overlap-seconds {args.overlap_seconds:g} must be in [0, --chunk-seconds {args.chunk_seconds:g})")
    sr = 44100
    length, loss_from = int(args.chunk_seconds * sr), int(args.overlap_seconds * sr)
    gen = torch.Generator().manual_seed(0)
    dry = (torch.randn(batch, 1, length, generator=gen) * 0.1).to(device)
    wet = (torch.randn(batch, 2, length - loss_from, generator=gen) * 0.1).to(device)
    model = DiffVox(sr).to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = DiffVoxLoss(sr).to(device)
    prepared = loss_fn.prepare(wet)
    takes_start = "start" in inspect.signature(model.forward).parameters  # older code: slice after
    stages = {"chain_forward": 0.0, "losses_forward": 0.0, "backward": 0.0, "update": 0.0}

    def step(record: bool = False):
        marks = [time.perf_counter()]
        optimiser.zero_grad(set_to_none=True)
        with record_function("chain_forward"):
            pred = model(dry, start=loss_from) if takes_start else model(dry)[..., loss_from:]
            sync(device)
            marks.append(time.perf_counter())
        with record_function("losses_forward"):
            total = loss_fn(pred, prepared)["total"] + model.regulariser().to(device)
            sync(device)
            marks.append(time.perf_counter())
        with record_function("backward"):
            total.backward()
            sync(device)
            marks.append(time.perf_counter())
        optimiser.step()
        sync(device)
        marks.append(time.perf_counter())
        if record:
            for key, a, b in zip(stages, marks, marks[1:]):
                stages[key] += (b - a) / args.repeat

    seconds = median_time(step, device, repeat=args.repeat, warmup=2)
    for _ in range(args.repeat):
        step(record=True)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        step()
    events = [e for e in prof.key_averages() if e.key not in stages]
    self_time = (lambda e: e.self_device_time_total) if device.type == "cuda" else (lambda e: e.self_cpu_time_total)
    top = sorted(events, key=self_time, reverse=True)[: args.top]
    result = {
        "machine": machine(device), "commit": _commit(), "batch": batch, "chunk_seconds": args.chunk_seconds,
        "loss_seconds": args.chunk_seconds - args.overlap_seconds, "seconds_per_step": seconds,
        "stages_s": stages,
        "top_operators": [{"name": e.key, "self_ms": self_time(e) / 1000, "calls": e.count} for e in top],
    }
    print(f"one step: {seconds:.3f} s; " + ", ".join(f"{k} {v:.3f} s" for k, v in stages.items()))
    for row in result["top_operators"][:12]:
        print(f"  {row['self_ms']:8.1f} ms  {row['calls']:4d}x  {row['name']}")
    out = args.out or Path(__file__).parent / "results" / f"profile_step_{device.type}.json"
    write_json_atomic(out, result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
