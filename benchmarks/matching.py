"""Matching benchmark: seconds per Adam step at the paper's settings (12 s chunks, loss on the
last 7 s), ours against a stand-in for the original (:mod:`diffvox.bench.original`), measured
side by side in one run; plus where the time goes (chain and losses, forward+backward).

The CPU default is the issue's 8 chunks; on a GPU the paper's 35.

    python benchmarks/matching.py [--device cpu|cuda] [--batch N] [--repeat 5] [--out FILE]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from diffvox.bench.common import machine, print_table, write_json_atomic
from diffvox.bench.matching import IMPLEMENTATIONS, time_parts, time_steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=None, help="chunks per step (8 on CPU, 35 on GPU)")
    ap.add_argument("--chunk-seconds", type=float, default=12.0)
    ap.add_argument("--overlap-seconds", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=5, help="timed steps (median); the VM is noisy")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    batch = args.batch or (8 if device.type == "cpu" else 35)
    # the two implementations' steps alternate: a drift of the machine's speed slows both alike
    rows = time_steps(batch, args.chunk_seconds, args.overlap_seconds, device, args.repeat)
    print_table(rows, ["implementation", "batch", "seconds_per_step", "minutes_per_song_2000_steps"])
    ratio = rows[0]["seconds_per_step"] / rows[1]["seconds_per_step"]
    paired = sorted(rows[0]["paired_ratios"])
    print(f"our step takes {ratio:.3f} of the stand-in's ({1 / ratio:.1f}x faster); "
          f"step by step {paired[0]:.3f} to {paired[-1]:.3f}")
    parts = [time_parts(batch, args.chunk_seconds, args.overlap_seconds, device, args.repeat, impl)
             for impl in IMPLEMENTATIONS]
    print_table(parts, list(parts[0]))
    out = args.out or Path(__file__).parent / "results" / f"matching_{device.type}.json"
    write_json_atomic(out, {"machine": machine(device), "rows": rows, "parts": parts,
                            "ratio_to_original_stand_in": ratio})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
