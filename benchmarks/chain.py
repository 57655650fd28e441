"""Chain benchmark: DiffVox forward and forward+backward (training mode, surrogate delay) on a
batch of mono 12-second chunks (4 on the CPU, the paper's 35 on a GPU), ours and the
stage-by-stage computation of the original side by side.

    python benchmarks/chain.py [--device cpu|cuda] [--batch N] [--seconds 12] [--out FILE]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from diffvox.bench.chain import time_chain
from diffvox.bench.common import machine, write_json_atomic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=None, help="chunks (4 on CPU, 35 on GPU)")
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    batch = args.batch or (4 if device.type == "cpu" else 35)
    rows = [time_chain(batch, args.seconds, device, args.repeat, stage_by_stage=s) for s in (False, True)]
    for r in rows:
        print(f"{r['path']} on {device}, batch {batch} x {args.seconds:g} s: forward "
              f"{r['forward_s']:.2f} s, forward+backward {r['forward_backward_s']:.2f} s")
    lead = rows[1]["forward_backward_s"] / rows[0]["forward_backward_s"]
    print(f"forward+backward {lead:.2f}x faster than stage by stage")
    out = args.out or Path(__file__).parent / "results" / f"chain_{device.type}.json"
    write_json_atomic(out, {"machine": machine(device), "rows": rows, "speedup_vs_stage_by_stage": lead})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
