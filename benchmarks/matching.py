"""Matching benchmark: seconds per Adam step at the paper's settings (batch 35 x 12 s chunks,
loss on the last 7 s), with our MSS and with auraloss's, side by side; from that, minutes per
song for 2000 steps (the paper: 20-40 minutes on an RTX 3090).

    python benchmarks/matching.py [--device cpu|cuda] [--batch 35] [--repeat 3] [--out FILE]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from diffvox.bench.common import machine, print_table, write_json_atomic
from diffvox.bench.matching import time_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=35)
    ap.add_argument("--chunk-seconds", type=float, default=12.0)
    ap.add_argument("--overlap-seconds", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    rows = [time_step(args.batch, args.chunk_seconds, args.overlap_seconds, device, args.repeat, mss)
            for mss in ("diffvox", "auraloss")]
    print_table(rows, ["mss", "batch", "chunk_seconds", "seconds_per_step", "minutes_per_song_2000_steps"])
    speedup = rows[1]["seconds_per_step"] / rows[0]["seconds_per_step"]
    print(f"step with our MSS: {speedup:.2f}x faster than with auraloss's")
    out = args.out or Path(__file__).parent / "results" / f"matching_{device.type}.json"
    write_json_atomic(out, {"machine": machine(device), "rows": rows, "speedup_vs_auraloss": speedup})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
