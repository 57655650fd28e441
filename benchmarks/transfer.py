"""Style transfer with the preset prior: the authors' evaluation (WASPAA 2025, arXiv 2505.11315)
on data we have. Targets: MedleyDB presets rendered on the demo vocal by the exact chain (Q clip
0.707); methods: oracle, mean, NN-theta, NN-mfcc, NN-mir, ITO-mfcc (alpha 0, 0.01, 0.1, 1),
ITO-mir (alpha 0, 0.1); metrics: parameter MSE over the 130 masked logits and MSS/MLDR of the
whole-track render. See diffvox/transfer/evaluation.py for the protocol.

    python benchmarks/transfer.py [--targets 70] [--steps 1000] [--shard k/n] [--device cuda]
    python benchmarks/transfer.py --quick            # labelled quick mode: short chunks, few steps

Resumable: each target's results are in --runs (default _build/transfer[_quick]/) as JSON,
written after every method, and ITO runs checkpoint every 50 steps; rerunning the same command
continues. Shards (--shard 2/4: every fourth target from the second) may run at once in separate
processes; each merges the finished targets into the one results JSON under a lock. The full
run (70 targets, 1000 steps) needs at least two 11 s chunks of the demo vocal, i.e. a demo of
22 s or more; with a shorter demo it stops with a message naming --quick.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from diffvox.bench.common import locked, machine, write_json_atomic
from diffvox.transfer.core import CHUNK_SECONDS
from diffvox.transfer.evaluation import (METHODS, N_TARGETS, check_length, dry_track, evaluate_target,
                                         summarise)
from diffvox.transfer.prior import PresetPrior

ROOT = Path(__file__).resolve().parents[1]
QUICK = {"chunk_seconds": 2.0, "steps": 20, "targets": 2}




def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", type=int, default=None, help=f"the first N MedleyDB presets (default "
                    f"{N_TARGETS}; quick: {QUICK['targets']})")
    ap.add_argument("--steps", type=int, default=None, help="ITO steps (default 1000; quick: 20)")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ", ".join(METHODS))
    ap.add_argument("--quick", action="store_true",
                    help=f"labelled quick mode: {QUICK['chunk_seconds']:g} s chunks (the demo may be short)")
    ap.add_argument("--candidates", type=int, default=None,
                    help="NN-emb searches only the first N training presets (labelled in the JSON)")
    ap.add_argument("--shard", default="1/1", help="run the k-th of n shards, e.g. 2/4")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch and numba threads (default: all cores)")
    ap.add_argument("--runs", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    try:
        shard, n_shards = (int(v) for v in args.shard.split("/"))
        assert 1 <= shard <= n_shards
    except (ValueError, AssertionError):
        print(f"transfer.py: error: --shard must be k/n with 1 <= k <= n, got {args.shard}", file=sys.stderr)
        return 2
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        print(f"transfer.py: error: unknown method {unknown[0]!r}; expected some of {', '.join(METHODS)}",
              file=sys.stderr)
        return 2
    if args.threads:  # torch's threads and the compiled (numba) kernels' threads
        import numba

        torch.set_num_threads(args.threads)
        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    mode = "quick" if args.quick else "full"
    chunk = QUICK["chunk_seconds"] if args.quick else CHUNK_SECONDS
    steps = args.steps if args.steps is not None else (QUICK["steps"] if args.quick else 1000)
    n_targets = args.targets if args.targets is not None else (QUICK["targets"] if args.quick else N_TARGETS)
    if not 1 <= n_targets <= N_TARGETS:
        print(f"transfer.py: error: --targets must be 1..{N_TARGETS}, got {n_targets}", file=sys.stderr)
        return 2
    dev = "cpu" if args.device == "cpu" else args.device
    suffix = f"{mode}_{'cpu' if dev == 'cpu' else 'gpu'}"
    runs = args.runs or ROOT / "_build" / f"transfer_{mode}"
    out = args.out or ROOT / "benchmarks" / "results" / f"transfer_{suffix}.json"
    dry = dry_track()
    try:
        check_length(dry, chunk)
    except ValueError as err:
        print(f"transfer.py: error: {err}", file=sys.stderr)
        return 2
    prior = PresetPrior.internal()
    rows = list(range(n_targets))[shard - 1::n_shards]
    runs.mkdir(parents=True, exist_ok=True)
    started = time.time()
    for row in rows:
        try:
            evaluate_target(row, runs, methods, steps, args.lr, chunk, dry, prior, dev,
                            log=lambda s: print(s, flush=True), candidates=args.candidates)
        except ValueError as err:  # e.g. too few active chunks for this target
            print(f"medleydb_{row:02d}: skipped: {err}", flush=True)
            continue
        with locked(out):
            records = [json.loads(p.read_text()) for p in sorted(runs.glob("medleydb_*.json"))]
            records = [r for r in records if r["row"] < n_targets]
            write_json_atomic(out, {
                "what": "style transfer evaluation (benchmarks/transfer.py)",
                "mode": mode, "machine": machine(torch.device(dev)),
                "settings": {"steps": steps, "lr": args.lr, "chunk_seconds": chunk, "targets": n_targets,
                             "dry_seconds": round(len(dry) / 44100, 3), "candidates": args.candidates,
                             "methods": methods},
                "complete": sorted(r["row"] for r in records if all(m in r["methods"] for m in methods)),
                "summary": summarise(records, methods),
                "targets": {f"medleydb_{r['row']:02d}": r for r in records}})
        print(f"medleydb_{row:02d} done ({time.time() - started:.0f} s so far); results in {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
