"""Render every published preset in float32 and float64 on the demo vocal and report the
largest relative RMS difference and any non-finite output (a consistency check of the chain's
numerics beyond the five reference renders).

    python scripts/check_all_presets.py [--seconds 2] [--out benchmarks/results/all_presets.json]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from diffvox.audio import demo_vocal
from diffvox.bench.common import write_json_atomic
from diffvox.presets import DATASETS, load_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/all_presets.json"))
    args = ap.parse_args()
    x = torch.from_numpy(demo_vocal(args.seconds)).view(1, 1, -1)
    report = {}
    for name in DATASETS:
        ds = load_dataset(name)
        errors, bad = [], []
        for i in tqdm(range(len(ds)), desc=name, unit="preset"):
            with torch.no_grad():
                y32 = ds.preset(i).to_chain().eval()(x.float()).double()
                y64 = ds.preset(i).to_chain().double().eval()(x.double())
            if not (torch.isfinite(y32).all() and torch.isfinite(y64).all()):
                bad.append(i)
                continue
            errors.append(float(((y32 - y64).square().mean() / y64.square().mean()).sqrt()))
        errors = np.array(errors)
        report[name] = {"presets": len(ds), "non_finite": bad, "max_rel_rms_f32_vs_f64": errors.max(),
                        "median_rel_rms_f32_vs_f64": float(np.median(errors)),
                        "worst_row": int(np.argmax(errors))}
        print(name, report[name])
    write_json_atomic(args.out, report)


if __name__ == "__main__":
    main()
