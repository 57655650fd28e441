"""Robustness of matching at default settings: fits (lr 0.01, 3 s chunks, 1 s overlap, batch 4)
to targets rendered from published presets of both datasets, counting non-finite (skipped)
steps and recording the four final metrics and the parameter error against the true preset.

Resumable: finished fits are skipped and interrupted ones resume from their checkpoint, so
rerunning the same command continues. Not part of CI. On the 2-core CPU, two shards at once with
one thread each, a fit of 200 steps on 6 s took 3 to 12 minutes depending on the code version and
on what else ran (the JSON's per-fit ``seconds``); the 40 fits took several hours in all.

    python benchmarks/robustness.py [--n 40] [--steps 200] [--seconds 6] [--shard i/n] [--device cpu]

Shards (``--shard 2/3``: every third target from the second) can run at once, in separate
processes; each merges its fits into the one JSON file under a lock.
"""
from __future__ import annotations

import argparse
import csv
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from diffvox.audio import demo_vocal
from diffvox.bench.common import locked, machine, write_json_atomic
from diffvox.matching import MatchConfig, fit
from diffvox.inspect import parameter_error  # noqa: F401 (RMS in Internal's std units)
from diffvox.presets import Preset, load_dataset

ROOT = Path(__file__).resolve().parents[1]


def targets(n: int) -> list[tuple[str, int]]:
    """n presets, alternating Internal and MedleyDB, spread evenly over each dataset's rows."""
    sizes = {name: len(load_dataset(name)) for name in ("internal", "medleydb")}
    half = {"internal": (n + 1) // 2, "medleydb": n // 2}
    rows = {k: np.linspace(0, sizes[k] - 1, half[k]).round().astype(int).tolist() for k in sizes}
    out = []
    for i in range(max(half.values())):
        for name in ("internal", "medleydb"):
            if i < len(rows[name]):
                out.append((name, rows[name][i]))
    return out




def read_fits(path: Path) -> list[dict]:
    return json.loads(path.read_text())["fits"] if path.exists() else []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--runs", type=Path, default=ROOT / "_build" / "robustness")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "robustness_cpu.json")
    ap.add_argument("--shard", default="1/1", help="run the i-th of n shards, e.g. 1/2")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    shard, n_shards = (int(v) for v in args.shard.split("/"))
    config = MatchConfig(steps=args.steps, chunk_seconds=3.0, overlap_seconds=1.0, batch=4, seed=0,
                         device=args.device)
    internal = load_dataset("internal")
    mask = internal.feature_mask
    scale = internal.train[:, mask].std(axis=0) + 1e-6
    dry = demo_vocal(args.seconds)
    with locked(args.out):
        done = {(r["dataset"], r["row"]) for r in read_fits(args.out) if r["steps"] == args.steps}
    for name, row in targets(args.n)[shard - 1::n_shards]:
        if (name, row) in done:
            continue
        true = load_dataset(name).preset(row)
        with torch.no_grad():
            wet = true.to_chain().eval()(torch.from_numpy(dry).view(1, 1, -1))[0].numpy()
        folder = args.runs / f"{name}{row:03d}_steps{args.steps}"
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            metrics = fit(dry, wet, folder, config, resume=(folder / "checkpoint.pt").exists(),
                          progress=False)
        with (folder / "history.csv").open() as f:
            skipped = sum(1 for r in csv.DictReader(f) if r["skipped"])
        fitted = Preset.load(folder / "preset.json")
        result = {
            "dataset": name, "row": row, "steps": args.steps, "skipped_steps": skipped,
            "stopped_early": metrics.get("stopped_early"), "no_processing": metrics["no_processing"],
            "fitted": metrics["fitted"], "fitted_exact": metrics.get("fitted_exact"), "param_error": parameter_error(fitted, true, scale, mask),
            "seconds": time.perf_counter() - start, "warnings": [str(w.message) for w in caught]}
        with locked(args.out):
            results = [r for r in read_fits(args.out)
                       if (r["dataset"], r["row"], r["steps"]) != (name, row, args.steps)] + [result]
            write_json_atomic(args.out, {
                "machine": machine(torch.device(args.device)),
                "settings": {"lr": config.lr, "chunk_seconds": 3.0, "overlap_seconds": 1.0, "batch": 4,
                             "steps": args.steps, "seconds_of_audio": args.seconds, "seed": 0,
                             "dry": "demo vocal", "n_targets": args.n},
                "fits": results})
        r = result
        print(f"{name}:{row}: skipped {skipped}, mss_lr {r['no_processing']['mss_lr']:.3f} -> "
              f"{r['fitted']['mss_lr']:.3f}, param error {r['param_error']:.2f} ({r['seconds']:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
