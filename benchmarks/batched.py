"""Many fits in one run against the same fits run one by one, end to end, side by side.

8 fits at the robustness settings (200 steps, 3 s chunks, 1 s overlap, batch 4, lr 0.01) on
6 s of the demo vocal, targets rendered from 8 published presets (4 Internal, 4 MedleyDB):
`diffvox match DRY WET` eight times in sequence (each a fresh process: start-up, fit,
evaluation and renders included), then `diffvox match --pairs-file` once. Both write the same
files; the JSON records both wall times, their ratio, and how far the two runs' metrics differ.
Then the time of one training step against the number of fits in it (1, 2, 4, 8, 16).

    python benchmarks/batched.py [--device cpu] [--steps 200] [--fits 8] [--quick]

Writes benchmarks/results/batched_<device>.json (``--out`` to change; ``--quick``: 2 fits of 10
steps, for a smoke test).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from diffvox.audio import demo_vocal, write_audio  # noqa: E402
from diffvox.bench.common import machine, median_time, write_json_atomic  # noqa: E402
from diffvox.chain import DiffVox  # noqa: E402
from diffvox.losses import DiffVoxLoss  # noqa: E402
from diffvox.matching import METRICS  # noqa: E402
from diffvox.memory import keep_freed_memory  # noqa: E402
from diffvox.presets import load_dataset  # noqa: E402

SETTINGS = {"lr": 0.01, "chunk_seconds": 3.0, "overlap_seconds": 1.0, "batch": 4, "seconds_of_audio": 6.0}
TARGETS = [("internal", 12), ("medleydb", 3), ("internal", 97), ("medleydb", 18), ("internal", 201),
           ("medleydb", 41), ("internal", 330), ("medleydb", 66)]


def cli(*args: str, threads: int | None = None) -> float:
    """Wall seconds of one `diffvox` command in a fresh process."""
    env = dict(os.environ)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "diffvox.cli", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def make_pairs(folder: Path, n: int) -> Path:
    dry = demo_vocal(SETTINGS["seconds_of_audio"])
    write_audio(folder / "dry.wav", dry[None])
    lines = []
    for name, row in TARGETS[:n]:
        model = load_dataset(name).preset(row).to_chain().eval()
        with torch.no_grad():
            wet = model(torch.from_numpy(dry).view(1, 1, -1))[0].numpy()
        write_audio(folder / f"{name}{row}.wav", wet)
        lines.append(f"dry.wav\t{name}{row}.wav\t{name}{row}")
    (folder / "pairs.tsv").write_text("\n".join(lines) + "\n")
    return folder / "pairs.tsv"


def step_time(fits: int, device: torch.device, repeat: int = 3) -> float:
    """Median seconds of one forward+backward step of ``fits`` presets on 2 chunks each."""
    ds = load_dataset("medleydb")
    model = DiffVox(presets=fits).to(device).train()
    model.load(ds.logits[np.arange(fits) % len(ds)], ds.layout)
    loss = DiffVoxLoss().to(device)
    gen = torch.Generator().manual_seed(0)
    n = int(SETTINGS["chunk_seconds"] * 44100)
    start = int(SETTINGS["overlap_seconds"] * 44100)
    x = (torch.randn(fits, 2, 1, n, generator=gen) * 0.1).to(device)
    target = (torch.randn(fits, 2, 2, n - start, generator=gen) * 0.1).to(device)
    targets = [loss.prepare(target[p]) for p in range(fits)]

    def step():
        model.zero_grad(set_to_none=True)
        pred = model(x, start=start)
        reg = model.regulariser(per_preset=True)
        total = sum(loss(pred[p], targets[p], reg[p])["total"] for p in range(fits))
        total.backward()

    return median_time(step, device, repeat=repeat, warmup=1)


def end_to_end(args, options: list[str]) -> tuple[float, float, float]:
    """Wall seconds of the solo runs and of the batched run, and the largest relative difference
    of their fitted metrics."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pairs = make_pairs(tmp, args.fits)
        names = [line.split("\t") for line in pairs.read_text().splitlines()]
        solo = 0.0
        for dry, wet, name in names:
            solo += cli("match", str(tmp / dry), str(tmp / wet), "--out", str(tmp / "solo" / name), *options)
            print(f"solo {name}: {solo:.1f} s so far", flush=True)
        batched = cli("match", "--pairs-file", str(pairs), "--out", str(tmp / "batched"), *options)
        print(f"batched: {batched:.1f} s", flush=True)
        differ = 0.0
        for _, _, name in names:
            a = json.loads((tmp / "solo" / name / "metrics.json").read_text())["fitted"]
            b = json.loads((tmp / "batched" / name / "metrics.json").read_text())["fitted"]
            differ = max(differ, *(abs(a[k] - b[k]) / abs(a[k]) for k in METRICS))
    return solo, batched, differ


def render_all(device: torch.device, seconds: float = 3.0, n: int | None = None) -> dict:
    """Every published preset (455, or the first ``n``) on one dry signal: one call of a
    455-preset chain against 455 calls of one-preset chains (each built from its Preset, as a
    loop over presets would)."""
    x = torch.from_numpy(demo_vocal(seconds)).view(1, 1, -1).to(device)
    sets = [load_dataset(name) for name in ("internal", "medleydb")]
    rows = np.concatenate([ds.logits for ds in sets])[:n]
    presets = [ds.preset(i) for ds in sets for i in range(len(ds))][:n]

    def one_call():
        with torch.no_grad():
            return DiffVox(presets=len(rows)).to(device).eval().load(rows, sets[0].layout)(x)

    def many_calls():
        with torch.no_grad():
            return [p.to_chain().to(device).eval()(x) for p in presets]

    batched = median_time(one_call, device, repeat=1, warmup=1)
    looped = median_time(many_calls, device, repeat=1, warmup=0)
    return {"presets": len(rows), "seconds_of_audio": seconds, "one_call_seconds": batched,
            "calls_seconds": looped, "speedup": looped / batched}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--fits", type=int, default=8)
    ap.add_argument("--curve", default="1,2,4,8,16", help="fits per step for the growth curve")
    ap.add_argument("--quick", "--tiny", action="store_true", help="2 fits of 10 steps, curve 1,2 (smoke test)")
    ap.add_argument("--curve-only", action="store_true",
                    help="only the step time against the number of fits (what a GPU run records)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.quick:
        args.steps, args.fits, args.curve = 10, 2, "1,2"
    device = torch.device(args.device)
    if device.type == "cpu":
        keep_freed_memory()
    out = args.out or ROOT / "benchmarks" / "results" / f"batched_{device.type}{'_quick' if args.quick else ''}.json"
    options = ["--steps", str(args.steps), "--lr", str(SETTINGS["lr"]), "--batch", str(SETTINGS["batch"]),
               "--chunk-seconds", str(SETTINGS["chunk_seconds"]), "--overlap-seconds",
               str(SETTINGS["overlap_seconds"]), "--device", args.device, "--quiet"]
    solo = batched = differ = None
    if not args.curve_only:
        solo, batched, differ = end_to_end(args, options)
    render = render_all(device, 1.0 if args.quick else 3.0, 8 if args.quick else None)
    print(f"{render['presets']} presets on {render['seconds_of_audio']:g} s: one call {render['one_call_seconds']:.1f} s, "
          f"{render['presets']} calls {render['calls_seconds']:.1f} s ({render['speedup']:.2f}x)", flush=True)
    curve = {}
    for fits in (int(v) for v in args.curve.split(",")):
        curve[fits] = step_time(fits, device)
        print(f"step with {fits} fits: {curve[fits]:.3f} s ({curve[fits] / fits:.3f} s per fit)", flush=True)
    result = {
        "machine": machine(device),
        "settings": {**SETTINGS, "steps": args.steps, "fits": args.fits, "targets": TARGETS[: args.fits]},
        "solo_seconds": solo, "batched_seconds": batched, "speedup": solo / batched if solo else None,
        "max_relative_metric_difference": differ,
        "step_seconds_by_fits": curve,
        "render_all_presets": render,
        "baseline": f"{args.fits} `diffvox match DRY WET` runs in sequence, each a fresh process",
    }
    write_json_atomic(out, result)
    if solo:
        print(f"{args.fits} fits: solo {solo:.1f} s, batched {batched:.1f} s: {solo / batched:.2f}x; "
              f"metrics differ by at most {differ:.1e} relative")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
