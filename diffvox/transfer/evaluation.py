"""The authors' evaluation protocol on data we have (benchmarks/transfer.py runs it).

Each of the 70 MedleyDB presets is a target: the demo vocal (normalised to -18 LUFS) rendered
with the preset by the exact time-domain chain (delay-loop Q clipped to 0.707), so that even the
oracle, rendered by the frequency-sampled chain, does not score zero. The references are the even
active chunks of the target, the queries the odd active chunks of the dry. Every method's preset
is scored by the parameter MSE over the 130 masked raw logits, and by the four MSS/MLDR metrics
of its whole-track render (frequency-sampled chain) against the target.

A target's results go to ``runs/<target>.json`` after each method (an ITO run also checkpoints
every 50 steps to ``runs/<target>/<method>.pt``), so an interrupted evaluation resumes.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..audio import SR, demo_vocal
from ..fileio import atomic_path, write_text_atomic
from ..matching.evaluate import METRICS, evaluate
from ..matching.prepare import normalise_loudness
from ..presets import load_dataset
from .core import (CHUNK_SECONDS, Problem, State, candidate_scores, evaluation_chunks, ito,
                   nearest_parameters, parameter_mse)
from .prior import PresetPrior

# method name -> (kind, encoder, alpha)
METHODS = {
    "oracle": ("oracle", None, None),
    "mean": ("mean", None, None),
    "nn-theta": ("nn-theta", None, None),
    "nn-mfcc": ("nn-emb", "mfcc", None),
    "nn-mir": ("nn-emb", "mir", None),
    "ito-mfcc-0": ("ito", "mfcc", 0.0),
    "ito-mfcc-0.01": ("ito", "mfcc", 0.01),
    "ito-mfcc-0.1": ("ito", "mfcc", 0.1),
    "ito-mfcc-1": ("ito", "mfcc", 1.0),
    "ito-mir-0": ("ito", "mir", 0.0),
    "ito-mir-0.1": ("ito", "mir", 0.1),
}
N_TARGETS = 70


def dry_track(seconds: float | None = None) -> np.ndarray:
    """The demo vocal at -18 LUFS (the authors normalise the dry and the wet to -18 LUFS)."""
    return normalise_loudness(demo_vocal(seconds), -18.0)


def check_length(dry: np.ndarray, chunk_seconds: float) -> None:
    """The protocol needs at least two chunks (one reference, one query)."""
    n = len(dry) // int(round(chunk_seconds * SR))
    if n < 2:
        raise ValueError(f"the demo vocal lasts {len(dry) / SR:.2f} s: the evaluation needs at least 2 "
                         f"chunks of {chunk_seconds:g} s (one reference, one query); extend the demo "
                         "vocal (scripts/make_demo_vocal.py) or run the labelled quick mode (--quick)")


def target_audio(row: int, dry: np.ndarray) -> np.ndarray:
    """MedleyDB preset ``row`` on ``dry`` by the exact chain, Q clipped to 0.707: (2, T) float32."""
    from ..realtime import PAPER_CLIP_Q, render_exact

    return render_exact(load_dataset("medleydb").preset(row), dry, clip_q=PAPER_CLIP_Q).astype(np.float32)


def render_track(prior: PresetPrior, vector: np.ndarray, dry: np.ndarray, device="cpu") -> np.ndarray:
    """The whole dry track through the frequency-sampled chain with the masked ``vector``."""
    model = prior.preset(np.asarray(vector, np.float64)).to_chain().to(device).eval()
    with torch.no_grad():
        return model(torch.from_numpy(dry).to(device).view(1, 1, -1))[0].cpu().numpy()


def nearest_embeddings(problems: dict[str, Problem], rows: np.ndarray,
                       progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """log p(y | x) of every candidate row under each problem (one per encoder, same query and
    reference): each candidate is rendered once and embedded by every encoder."""
    return dict(zip(problems, candidate_scores(list(problems.values()), rows, progress=progress)))


def evaluate_target(row: int, runs: Path, methods: list[str], steps: int, lr: float = 0.01,
                    chunk_seconds: float = CHUNK_SECONDS, dry: np.ndarray | None = None,
                    prior: PresetPrior | None = None, device: str = "cpu",
                    log: Callable[[str], None] = print, candidates: int | None = None) -> dict:
    """Every method of ``methods`` on MedleyDB target ``row``; resumes from ``runs``. Returns the
    target's record: {"row", "chunks", "methods": {name: {param_mse, metrics..., vector, seconds}}}.
    ``candidates``: search only the first N training presets in NN-emb (a labelled quick mode)."""
    prior = prior if prior is not None else PresetPrior.internal()
    dry = dry if dry is not None else dry_track()
    name = f"medleydb_{row:02d}"
    path = runs / f"{name}.json"
    record = json.loads(path.read_text()) if path.exists() else {"row": row, "methods": {}}
    settings = {"steps": steps, "lr": lr, "chunk_seconds": chunk_seconds, "dry_samples": len(dry),
                "candidates": candidates}
    if record.get("settings", settings) != settings:
        raise ValueError(f"{path} was made with other settings ({record['settings']}, now {settings}); "
                         "use another --runs folder")
    record["settings"] = settings
    todo = [m for m in methods if m not in record["methods"]]
    if not todo:
        return record
    target = target_audio(row, dry)
    truth = load_dataset("medleydb").masked[row].astype(np.float64)
    reference, query = evaluation_chunks(dry, target, chunk_seconds)
    record["chunks"] = {"reference": len(reference), "query": len(query)}
    problems: dict[str, Problem] = {}

    def problem(encoder: str) -> Problem:
        if encoder not in problems:
            renderer = next(iter(problems.values())).renderer if problems else None
            problems[encoder] = Problem.make(query, reference, encoder, prior, device, renderer)
        return problems[encoder]

    def finish(method: str, vector: np.ndarray, started: float, extra: dict | None = None) -> None:
        render = render_track(prior, vector, dry, device)
        record["methods"][method] = {
            "param_mse": parameter_mse(vector, truth),
            **evaluate(render, target, device=device),
            "seconds": round(time.time() - started, 2), **(extra or {}),
            "vector": [float(v) for v in vector]}
        write_text_atomic(path, json.dumps(record, indent=1) + "\n")
        log(f"{name} {method}: param MSE {record['methods'][method]['param_mse']:.3f}, "
            f"MSS L/R {record['methods'][method]['mss_lr']:.3f} ({time.time() - started:.0f} s)")

    nn_todo = [m for m in todo if METHODS[m][0] == "nn-emb"]
    if nn_todo:
        started = time.time()
        rows = prior.rows if candidates is None else prior.rows[:candidates]
        scores = nearest_embeddings({m: problem(METHODS[m][1]) for m in nn_todo}, rows)
        for m in nn_todo:
            best = int(np.argmax(scores[m]))
            finish(m, rows[best], started, {"nearest_training_row": best})
    for method in todo:
        kind, encoder, alpha = METHODS[method]
        started = time.time()
        if kind == "oracle":
            finish(method, truth, started)
        elif kind == "mean":
            finish(method, prior.mean, started)
        elif kind == "nn-theta":
            index = nearest_parameters(prior, truth)
            finish(method, prior.rows[index], started, {"nearest_training_row": index})
        elif kind == "ito":
            ckpt = runs / name / f"{method}.pt"
            state = None
            if ckpt.exists():
                saved = torch.load(ckpt, map_location="cpu", weights_only=True)
                state = State(saved["vector"].to(device), saved["optimiser"], saved["step"], saved["history"])
                started -= saved.get("seconds", 0.0)

            def on_step(s: State) -> None:
                if s.step % 50 == 0 or s.step == steps:
                    ckpt.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_path(ckpt) as tmp:
                        torch.save({"vector": s.vector.cpu(), "optimiser": s.optimiser, "step": s.step,
                                    "history": s.history, "seconds": time.time() - started}, tmp)

            state = ito(problem(encoder), alpha, steps, lr, state, on_step)
            vector = state.vector.detach().cpu().double().numpy()
            elapsed = time.time() - started
            finish(method, vector, started, {"seconds_per_step": round(elapsed / max(steps, 1), 3),
                                             "final": state.history[-1]})
    return record


def summarise(records: list[dict], methods: list[str]) -> dict:
    """Mean over targets of each metric, per method (targets that have the method)."""
    out = {}
    for m in methods:
        rows = [r["methods"][m] for r in records if m in r["methods"]]
        if rows:
            out[m] = {"n": len(rows), **{k: float(np.mean([r[k] for r in rows]))
                                        for k in ("param_mse", *METRICS)}}
    return out


# the authors' means over their 65 MedleyDB tracks: MSS L/R, MLDR L/R, parameter MSE, computed
# from eval_data/raw_scores.csv of SonyResearch/diffvox (commit a157924, 2025-07-14; models
# oracle, mean, nn_param, nn_mfcc, nn_mir, mfcc[_001|_01|_1], mir[_01]; 65 rows each)
PUBLISHED = {
    "oracle": (0.765, 0.403, 0.0),
    "mean": (1.142, 0.949, 6.904),
    "nn-theta": (1.147, 0.874, 5.248),
    "nn-mfcc": (1.113, 0.883, 10.513),
    "ito-mfcc-0": (1.605, 1.503, 10.046),
    "ito-mfcc-0.01": (1.286, 1.088, 7.617),
    "ito-mfcc-0.1": (1.100, 0.932, 6.950),
    "ito-mfcc-1": (1.105, 0.917, 6.843),
    "nn-mir": (1.214, 1.023, 11.340),
    "ito-mir-0": (1.837, 1.250, 7.932),
    "ito-mir-0.1": (1.267, 1.074, 6.935),
}
