"""The paper's sound-matching ablation at its settings, as one batched, resumable run on the CPU.

Targets: the demo vocal's first 36 s (three distinct 12 s chunks and a fourth, 5 s overlap)
rendered with published MedleyDB presets whose delay and reverb are audible, by the exact
time-domain chain with the Q clip 0.707 (as the paper's "w/o Approx." renderer; real recordings
come from time-domain effects). Audible: both the delay's and the reverb's level relative to the
direct path (energy of their response from the compressor's output, :func:`effect_levels`) at
least ``THRESHOLD_DB``; of those, the three with the highest lesser level.

Fits (2000 Adam steps, lr 0.01, 12 s chunks, 5 s overlap, batch 35): every target x (full,
no-reverb, no-delay, no-spatial); the first target's full fit again with seeds 1 and 2 (the
run-to-run spread) and against its FS-rendered target (both kinds of target); and the committed
full fit's pair (medleydb:0, FS target) on the new demo. One batched run, checkpointed every 25
steps in ``_build/ablations_full``; each checkpoint is copied to ``book/results/ablations_full/``
(committed, so that a later sitting on a fresh checkout resumes it):

    python scripts/ablations_full.py            # start or continue; prints progress
    python scripts/ablations_full.py --status   # steps done, no work

The fits' small files (preset.json, metrics.json, history.csv) land in
``book/results/ablations_full/<name>/<variant>/``; their renders stay in ``_build``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from diffvox.audio import demo_vocal  # noqa: E402
from diffvox.chain import DiffVox  # noqa: E402
from diffvox.fileio import atomic_path, write_text_atomic  # noqa: E402
from diffvox.matching import MatchConfig  # noqa: E402
from diffvox.matching.batch import Job, fit_many  # noqa: E402
from diffvox.presets import load_dataset  # noqa: E402
from diffvox.realtime import PAPER_CLIP_Q, render_exact  # noqa: E402

OUT = ROOT / "book" / "results" / "ablations_full"
RUN = ROOT / "_build" / "ablations_full"
STATE = ("checkpoint.pt", "batch.json")
SECONDS = 36.0
THRESHOLD_DB = -20.0
VARIANTS = ("full", "no-reverb", "no-delay", "no-spatial")
CONFIG = MatchConfig(steps=2000, lr=0.01, batch=35, chunk_seconds=12.0, overlap_seconds=5.0,
                     checkpoint_every=25)


@torch.no_grad()
def effect_levels(dataset: str) -> dict[str, np.ndarray]:
    """Per preset: the delay's and the reverb's energy relative to the direct path's (dB), from
    the chain's responses after the compressor (the direct pan's energy is 2 for every pan)."""
    ds = load_dataset(dataset)
    chain = DiffVox(presets=len(ds)).double().eval().load(ds.logits, ds.layout)
    v = chain.decode()
    direct = 2.0
    delay = chain.delay_response(v).square().sum((-1, -2))
    reverb = chain.reverb_response(v).sum(-2).square().sum((-1, -2))  # both inputs carry u
    return {"delay_db": 10 * np.log10(delay.numpy() / direct + 1e-30),
            "reverb_db": 10 * np.log10(reverb.numpy() / direct + 1e-30)}


def choose_targets(levels: dict[str, np.ndarray], n: int = 3) -> list[int]:
    audible = np.minimum(levels["delay_db"], levels["reverb_db"])
    rows = [int(i) for i in np.argsort(-audible) if audible[i] >= THRESHOLD_DB]
    if len(rows) < n:
        raise SystemExit(f"only {len(rows)} presets have delay and reverb above {THRESHOLD_DB} dB")
    return rows[:n]


def jobs() -> tuple[list[Job], dict]:
    ds = load_dataset("medleydb")
    levels = effect_levels("medleydb")
    rows = choose_targets(levels)
    dry = demo_vocal(SECONDS)
    x = torch.from_numpy(dry).view(1, 1, -1)

    def exact(row):
        return render_exact(ds.preset(row), dry, clip_q=PAPER_CLIP_Q).astype(np.float32)

    def fs(row):
        with torch.no_grad():
            return ds.preset(row).to_chain().eval()(x)[0].numpy()

    out = []
    for row in rows:
        wet = exact(row)
        out += [Job(dry, wet, f"medleydb{row}", v, f"medleydb{row}/{v}") for v in VARIANTS]
    first = rows[0]
    wet = exact(first)
    out += [Job(dry, wet, f"medleydb{first}", "full", f"medleydb{first}/full_seed{s}", seed=s) for s in (1, 2)]
    out.append(Job(dry, fs(first), f"medleydb{first}_fs", "full", f"medleydb{first}_fs/full"))
    out.append(Job(dry, fs(0), "medleydb0_fs", "full", "medleydb0_fs/full"))
    info = {"threshold_db": THRESHOLD_DB, "targets": rows,
            "levels_db": {int(r): {k: float(levels[k][r]) for k in levels} for r in rows},
            "medleydb0_levels_db": {k: float(levels[k][0]) for k in levels},
            "n_audible": int((np.minimum(levels["delay_db"], levels["reverb_db"]) >= THRESHOLD_DB).sum()),
            "seconds_of_audio": SECONDS, "dry": "demo vocal, first 36 s (data/demo/vocal_dry.flac)",
            "targets_rendered_by": "exact time-domain chain, Q clipped to 0.707, except *_fs (FS chain)"}
    return out, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--status", action="store_true")
    ap.add_argument("--steps", type=int, default=CONFIG.steps, help="stop after this many steps (resumable)")
    ap.add_argument("--rows-per-pass", type=int, default=2,
                    help="fits through the chain at a time (memory: about 2 GB per fit at these settings)")
    args = ap.parse_args()
    if args.status:
        path = OUT / "checkpoint.pt"
        state = torch.load(path, weights_only=True) if path.exists() else None
        print(f"{state['step'] if state else 0} of {CONFIG.steps} steps done")
        return
    job_list, info = jobs()
    OUT.mkdir(parents=True, exist_ok=True)
    write_text_atomic(OUT / "targets.json", json.dumps(info, indent=1) + "\n")
    if (OUT / "checkpoint.pt").exists() and not (RUN / "checkpoint.pt").exists():
        RUN.mkdir(parents=True, exist_ok=True)
        for name in STATE:  # a fresh checkout: continue from the committed state
            shutil.copyfile(OUT / name, RUN / name)

    def keep(step: int) -> None:
        for name in STATE:
            with atomic_path(OUT / name) as tmp:
                shutil.copyfile(RUN / name, tmp)

    start = time.perf_counter()
    config = MatchConfig(**{**CONFIG.__dict__, "steps": args.steps})
    results = fit_many(job_list, RUN, config, resume=(RUN / "checkpoint.pt").exists(), on_checkpoint=keep,
                       rows_per_pass=args.rows_per_pass)
    for job in job_list:
        for name in ("preset.json", "metrics.json", "history.csv"):
            if (RUN / job.folder / name).exists():
                (OUT / job.folder).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(RUN / job.folder / name, OUT / job.folder / name)
    write_text_atomic(OUT / "summary.json", json.dumps({
        "steps": args.steps, "wall_seconds_of_last_sitting": time.perf_counter() - start,
        "results": results}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
