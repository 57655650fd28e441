"""IIR benchmark: the chain's 6-biquad EQ on float32 (70, 529200), forward and forward+backward.

    python benchmarks/iir.py [--device cpu|cuda] [--rows 70] [--time 529200] [--out FILE]

Prints a table and writes a JSON result file (default benchmarks/results/iir_<device>.json).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from diffvox.bench.common import machine, print_table, write_json_atomic
from diffvox.bench.iir import METHODS, bandwidth_fraction, benchmark, copy_bandwidth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rows", type=int, default=70)
    ap.add_argument("--time", type=int, default=529200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    # slow methods are timed on a shorter signal and scaled linearly in T (they are O(T))
    reduced = {"python_loop": 2000, "torch_associative_scan": 20000}
    if device.type == "cpu":  # the scan path is the GPU's; on the CPU it is only informative
        reduced["ours_scan"] = 52920
    print(f"IIR benchmark: 6 biquads on float32 ({args.rows}, {args.time}) on {device}")
    rows = benchmark(args.rows, args.time, device, args.methods.split(","), reduced, args.repeat)
    bw = copy_bandwidth(device)
    bandwidth_fraction(rows, args.rows, args.time, bw)
    table = [{"method": r["method"], "pass": r["pass"],
              "seconds": f"{r['seconds']:.4f}" if r.get("seconds") else r.get("error", "n/a"),
              "x ours": f"{r['ours_speedup']:.1f}" if r.get("ours_speedup") else "",
              "scaled": "yes" if r.get("scaled") else "",
              "bw frac": f"{r['bandwidth_fraction']:.3f}" if r.get("bandwidth_fraction") else ""}
             for r in rows]
    print()
    print_table(table, ["method", "pass", "seconds", "x ours", "scaled", "bw frac"])
    print(f"\ncopy bandwidth (read+write): {bw / 1e9:.1f} GB/s")
    out = args.out or Path(__file__).parent / "results" / f"iir_{device.type}.json"
    write_json_atomic(out, {"machine": machine(device), "rows": args.rows, "time": args.time,
                            "copy_bandwidth_Bps": bw, "results": rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
