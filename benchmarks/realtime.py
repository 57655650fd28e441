"""Exact time-domain chain ("w/o Approx."): real-time factors on one thread, offline and streamed
in blocks, against a plain per-sample loop of the same recursions, side by side in one run.

    python benchmarks/realtime.py [--seconds 60] [--rows 0 1 2 3 4] [--out FILE]
"""
from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one thread, as the issue's goal states

import argparse  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from diffvox.bench.common import machine, write_json_atomic  # noqa: E402
from diffvox.bench.realtime import time_exact  # noqa: E402
from diffvox.presets import load_dataset  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rows", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="medleydb rows")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "realtime_cpu.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    dataset = load_dataset("medleydb")
    runs = []
    for i, row in enumerate(args.rows):
        r = time_exact(dataset.preset(row), args.seconds, repeat=args.repeat, baseline=(i == 0))
        runs.append(r)
        base = (f", per-sample loop {r['per_sample_rtf']:.1f}x ({r['speedup_over_per_sample']:.1f}x slower)"
                if "per_sample_rtf" in r else "")
        s512 = next(s for s in r["stream"] if s["block"] == 512)
        print(f"{r['preset']}: offline {r['offline_s']:.3f} s = {r['offline_rtf']:.0f}x real time, "
              f"stream@512 {s512['rtf']:.0f}x{base}")
    write_json_atomic(args.out, {"machine": {**machine(torch.device("cpu")), "threads": 1}, "runs": runs})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
