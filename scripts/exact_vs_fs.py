"""Every published preset (385 Internal + 70 MedleyDB rows) rendered by the frequency-sampled
chain and by the exact time-domain chain (Q clip 0.707) on the demo vocal; the four metrics
between the two, and the loop stability of each preset without and with the clip. Writes
book/results/exact_vs_fs.json, which the approximate-vs-exact chapter shows. About 5 minutes
on the 2-core CPU.

    python scripts/exact_vs_fs.py [--seconds 6] [--out book/results/exact_vs_fs.json]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm import tqdm

from diffvox.audio import demo_vocal
from diffvox.bench.common import machine, write_json_atomic
from diffvox.presets import DATASETS, load_dataset
from diffvox.realtime.compare import compare_renders, loop_report

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--out", type=Path, default=ROOT / "book" / "results" / "exact_vs_fs.json")
    args = ap.parse_args()
    dry = demo_vocal(args.seconds)
    rows = []
    for name in DATASETS:
        ds = load_dataset(name)
        for i in tqdm(range(len(ds)), desc=name, unit="preset"):
            preset = ds.preset(i)
            rows.append({"dataset": name, "row": i, **loop_report(preset),
                         **compare_renders(preset, dry)["metrics"]})
    write_json_atomic(args.out, {"machine": machine(torch.device("cpu")), "seconds_of_audio": args.seconds,
                                 "dry": "demo vocal", "clip_q": 0.707, "rows": rows})
    print(f"wrote {args.out} ({len(rows)} presets)")


if __name__ == "__main__":
    main()
