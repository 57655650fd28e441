"""Chain benchmark: DiffVox forward and forward+backward (training mode, surrogate delay) on a
batch of 35 mono 12-second chunks (the paper's batch).

    python benchmarks/chain.py [--device cpu|cuda] [--batch 35] [--seconds 12] [--out FILE]
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
    ap.add_argument("--batch", type=int, default=35)
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    result = time_chain(args.batch, args.seconds, device, args.repeat)
    print(f"DiffVox on {device}, batch {args.batch} x {args.seconds:g} s: forward "
          f"{result['forward_s']:.2f} s, forward+backward {result['forward_backward_s']:.2f} s")
    out = args.out or Path(__file__).parent / "results" / f"chain_{device.type}.json"
    write_json_atomic(out, {"machine": machine(device), **result})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
