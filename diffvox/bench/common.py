"""Shared helpers for the benchmark scripts: timing, machine description, atomic JSON output."""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from ..fileio import write_text_atomic


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(fn, device: torch.device, repeat: int = 3, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` after ``warmup`` calls (device synchronised)."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine(device: torch.device) -> dict:
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    info["device_name"] = info["gpu"] if device.type == "cuda" else _cpu_model() or info["cpu"]
    return info


def _cpu_model() -> str | None:
    """The CPU's model name (Linux: /proc/cpuinfo), None where it cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def write_json_atomic(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)))


#: gains drawn for random EQs: a sampling choice of the benchmarks (the chain's gains are
#: unbounded logits in dB; published presets reach about +-20 dB)
RANDOM_GAIN_DB = (-12.0, 12.0)


def random_chain_eq(n_rows: int, generator: torch.Generator | None = None,
                    dtype: torch.dtype = torch.float64, sr: float = 44100.0) -> torch.Tensor:
    """Random 6-band EQs in the chain's frequency and Q ranges (log-uniform; the bands'
    declarations in :mod:`diffvox.effects.eq` and :data:`diffvox.chain.CHAIN_EQ`) with gains
    uniform in :data:`RANDOM_GAIN_DB`: (n_rows, 6, 6)."""
    from ..chain import CHAIN_EQ
    from ..effects.eq import DEFAULT_Q, SHELF_Q
    from ..filters import biquad_coefficients

    sections = []
    for kind, _, (f_lo, f_hi), _ in CHAIN_EQ:
        q_lo, q_hi = DEFAULT_Q.get(kind, (SHELF_Q, SHELF_Q))
        g_lo, g_hi = RANDOM_GAIN_DB if kind in ("peak", "lowshelf", "highshelf") else (0.0, 0.0)
        u = torch.rand(3, n_rows, generator=generator, dtype=torch.float64)
        freq = f_lo * (f_hi / f_lo) ** u[0]
        q = q_lo * (q_hi / q_lo) ** u[1]
        gain = g_lo + (g_hi - g_lo) * u[2]
        sections.append(biquad_coefficients(kind, freq, q, gain, sr))
    return torch.stack(sections, dim=1).to(dtype)


@contextlib.contextmanager
def locked(path: Path):
    """An exclusive lock on ``path.lock``: shards of a benchmark write the same results file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
