"""Many fits in one run: one chain holds every fit's preset as a row (and its variant), one
step advances them all.

Each row sees exactly what its solo fit (:func:`~diffvox.matching.fit.fit`) sees: its own
pair's chunks, drawn by its own generator seeded with ``config.seed``; its own loss (the rows'
losses are summed, so no gradient crosses rows); its own Adam state and step count; its own
skipped steps and early stop. Rows of a variant without delay or reverb keep those effects
silenced (:meth:`~diffvox.DiffVox.set_variants`), and are written as that variant's preset.
"""
from __future__ import annotations

import json
import math
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from ..chain import VARIANTS, DiffVox
from ..fileio import OutputConflict, folder_lock, prepare_output_dir, write_text_atomic
from ..losses import DiffVoxLoss
from ..memory import keep_freed_memory
from ..presets import Layout
from .fit import (CHECKPOINT, HISTORY_COLUMNS, MAX_FAILED_STEPS, MatchConfig, _RUN_DEFINING, _save_checkpoint,
                  audio_digest, finalise, history_csv, prepare_pair, target_features)
from .prepare import chunk_pair

MANIFEST = "batch.json"


@dataclass(frozen=True)
class Job:
    """One fit of a batched run: a pair, its name, its variant and its folder under the run's
    (default: the name; ``diffvox match --variants`` uses NAME/VARIANT)."""

    dry: np.ndarray
    wet: np.ndarray
    name: str
    variant: str = "full"
    folder: str = ""
    shift: int | None = None
    seed: int | None = None  # default: the run's (``config.seed``)

    def __post_init__(self):
        if not self.folder:
            object.__setattr__(self, "folder", self.name)


class _RowAdam:
    """Adam (torch's defaults and update order) with a step count per row, so that a row whose
    step is skipped keeps its moments and count, as a solo fit's optimiser does."""

    def __init__(self, params: list[torch.Tensor], lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        rows = params[0].shape[0]
        self.step_count = torch.zeros(rows, dtype=torch.float64)
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, rows: torch.Tensor) -> None:
        """Update the rows where ``rows`` (P,) is True."""
        b1, b2 = self.betas
        self.step_count += rows.double()
        t = self.step_count.clamp_min(1)
        for p, m, v in zip(self.params, self.m, self.v):
            shape = (-1,) + (1,) * (p.dim() - 1)
            keep = rows.view(shape)
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            g = torch.where(keep, g, torch.zeros_like(g))
            m_new = torch.lerp(m, g, 1 - b1)
            v_new = v * b2 + (1 - b2) * g * g
            step_size = (self.lr / (1 - b1 ** t)).to(p.dtype).view(shape)
            denom = v_new.sqrt() / torch.sqrt(1 - b2 ** t).to(p.dtype).view(shape) + self.eps
            p.copy_(torch.where(keep, p - step_size * m_new / denom, p))
            m.copy_(torch.where(keep, m_new, m))
            v.copy_(torch.where(keep, v_new, v))

    def state_dict(self) -> dict:
        return {"step": self.step_count, "m": self.m, "v": self.v}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = state["step"].clone()
        for own, saved in zip(self.m + self.v, state["m"] + state["v"]):
            own.copy_(saved)


def fit_many(jobs: Sequence[Job], out_dir: str | Path, config: MatchConfig | None = None,
             resume: bool = False, progress: bool = True,
             on_checkpoint: Callable[[int], None] | None = None,
             rows_per_pass: int | None = None) -> dict[str, dict]:
    """Fit every job in one run and write each one's files (``preset.json``, ``history.csv``,
    ``metrics.json``, ``render.wav``, ``render_exact.wav``) to ``out_dir/<job.folder>``; the
    run's own checkpoint, lock and manifest stay in ``out_dir``. ``on_checkpoint(step)`` is
    called after each checkpoint is written. ``rows_per_pass`` bounds the memory of a step: the
    fits go through the chain that many at a time (the same values: no gradient crosses rows).
    Returns {folder: metrics}."""
    config = config if config is not None else MatchConfig()
    jobs = list(jobs)
    if not jobs:
        raise ValueError("no fits to run")
    folders = [job.folder for job in jobs]
    if len(set(folders)) != len(folders):
        dup = next(f for f in folders if folders.count(f) > 1)
        raise ValueError(f"two fits would write to {dup}: give each pair its own name")
    for job in jobs:
        if job.variant not in VARIANTS:
            raise ValueError(f"unknown variant {job.variant!r}; expected one of {', '.join(VARIANTS)}")
    out = Path(out_dir)
    if not resume and ((out / CHECKPOINT).exists() or (out / MANIFEST).exists()):
        raise OutputConflict(f"{out} already holds a batched run; resume it with --resume, or "
                             "choose another output directory")
    prepare_output_dir(out)
    with folder_lock(out, f"diffvox match --pairs-file into {out}"):
        return _fit_many(jobs, out, config, resume, progress, on_checkpoint, rows_per_pass or len(jobs))


def _fit_many(jobs: list[Job], out: Path, config: MatchConfig, resume: bool, progress: bool,
              on_checkpoint, rows_per_pass: int) -> dict:
    device = torch.device(config.device)
    if device.type == "cpu":
        keep_freed_memory()
    audio = [audio_digest(job.dry, job.wet) for job in jobs]
    pairs, chunks = [], []
    for job in jobs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # warned once per file by the caller
            pair = prepare_pair(job.dry, job.wet, config.lufs, shift=job.shift)
            chunks.append(chunk_pair(pair.dry, pair.wet, config.chunk_seconds, config.overlap_seconds))
        pairs.append(pair)
    if len({c.dry.shape[-1] for c in chunks}) > 1 or len({c.loss_from for c in chunks}) > 1:
        raise ValueError("every pair of a batched run needs at least one full chunk "
                         f"({config.chunk_seconds:g} s): a shorter pair must be fitted alone")
    loss_from = chunks[0].loss_from
    rows = len(jobs)
    loss_fn = DiffVoxLoss().to(device)
    dry = [torch.from_numpy(c.dry).to(device) for c in chunks]
    targets = [target_features(loss_fn, torch.from_numpy(c.wet[..., loss_from:]).to(device)) for c in chunks]
    sizes = [min(config.batch, len(d)) for d in dry]
    width = max(sizes)

    torch.manual_seed(config.seed)
    model = DiffVox(presets=rows).to(device).train()
    model.set_variants([job.variant for job in jobs])
    params = [model.logits, model.eta]
    optimiser = _RowAdam(params, config.lr)
    generators = [torch.Generator().manual_seed(config.seed if job.seed is None else job.seed) for job in jobs]
    start = done = 0
    best = [{"loss": math.inf, "step": -1, "logits": None} for _ in jobs]
    history: list[list[dict]] = [[] for _ in jobs]
    failed = [0] * rows
    stopped: list[dict | None] = [None] * rows
    ckpt = out / CHECKPOINT
    manifest = {"config": {k: v for k, v in asdict(config).items() if k != "variant"},
                "fits": [{"folder": job.folder, "name": job.name, "variant": job.variant,
                          "seed": config.seed if job.seed is None else job.seed, "audio": a}
                         for job, a in zip(jobs, audio)]}

    if resume and ckpt.exists():
        try:
            state = torch.load(ckpt, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - a damaged or foreign file
            raise OutputConflict(f"cannot read the checkpoint {ckpt} (damaged?): remove it to start anew") from None
        saved = state["manifest"]
        differ = [k for k in _RUN_DEFINING if k != "variant" and saved["config"].get(k) != getattr(config, k)]
        if differ or saved["fits"] != manifest["fits"]:
            what = ", ".join(differ) if differ else "the pairs, names, variants or audio"
            raise OutputConflict(f"the batched run in {out} was made with other settings ({what}); "
                                 "use the same ones or another output directory")
        if config.steps < state["step"]:
            raise OutputConflict(f"the run in {out} has done {state['step']} steps; --steps {config.steps} "
                                 f"is fewer: pass --steps {state['step']} or more")
        with torch.no_grad():
            model.logits.copy_(state["logits"])
            model.eta.copy_(state["eta"])
        optimiser.load_state_dict(state["optimiser"])
        for g, s in zip(generators, state["generators"]):
            g.set_state(s)
        start, best, history = state["step"], state["best"], state["history"]
        done = start
        failed, stopped = state["failed"], state["stopped"]
    elif resume:
        raise OutputConflict(f"no checkpoint of a batched run in {out}: nothing to resume")
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")

    def checkpoint(step: int) -> None:
        _save_checkpoint(ckpt, {
            "manifest": manifest, "step": step, "logits": model.logits.detach().cpu(),
            "eta": model.eta.detach().cpu(), "optimiser": optimiser.state_dict(),
            "generators": [g.get_state() for g in generators], "best": best, "history": history,
            "failed": failed, "stopped": stopped})
        if on_checkpoint is not None:
            on_checkpoint(step)

    bar = tqdm(total=config.steps, initial=min(start, config.steps), desc=f"match x{rows}", unit="step",
               disable=not progress, dynamic_ncols=True)
    for step in range(start, config.steps):
        active = [stopped[p] is None for p in range(rows)]
        if not any(active):
            break
        index = [torch.randperm(len(dry[p]), generator=generators[p])[: sizes[p]] for p in range(rows)]
        padded = [torch.cat([i, i[:1].expand(width - len(i))]) for i in index]  # same B per row
        x = torch.stack([dry[p][padded[p].to(device)] for p in range(rows)])  # (P, B, 1, T)
        model.logits.grad = model.eta.grad = None
        terms, totals, ok = [], [], []
        for first in range(0, rows, rows_per_pass):
            group = slice(first, min(first + rows_per_pass, rows))
            pred = model(x[group], start=loss_from, rows=group)
            reg = model.regulariser(per_preset=True, rows=group).to(device)
            live = []
            for q, p in enumerate(range(group.start, group.stop)):
                terms.append(loss_fn(pred[q, : sizes[p]], targets[p](index[p].to(device)), reg[q]))
                totals.append(float(terms[p]["total"].detach()))
                ok.append(active[p] and math.isfinite(totals[p]))
                if ok[p] and totals[p] < best[p]["loss"]:
                    best[p] = {"loss": totals[p], "step": step, "logits": model.logits[p].detach().cpu().clone()}
                if ok[p]:
                    live.append(terms[p]["total"])
            if live:
                torch.stack(live).sum().backward()
            del pred
        for p in range(rows):
            if ok[p] and not bool(torch.isfinite(model.logits.grad[p]).all() & torch.isfinite(model.eta.grad[p])):
                ok[p] = False
                terms[p]["failure"] = "non-finite gradient"
        optimiser.step(torch.tensor(ok, device=model.logits.device))
        for p in range(rows):
            if not active[p]:
                continue
            failure = "" if ok[p] else terms[p].get("failure", f"loss is {totals[p]}")
            failed[p] = 0 if ok[p] else failed[p] + 1
            if failure and progress:
                bar.write(f"diffvox: {jobs[p].folder}: step {step} skipped: {failure}", file=sys.stderr)
            if failed[p] >= MAX_FAILED_STEPS:
                stopped[p] = {"step": step, "reason": f"{failed[p]} steps in a row failed; the last: {failure}"}
            history[p].append({"step": step, **{k: float(terms[p][k].detach()) if k in terms[p] else 0.0
                                                for k in HISTORY_COLUMNS[1:-1]}, "skipped": failure})
        bar.set_postfix(loss=f"{np.mean([t for t, a in zip(totals, active) if a]):.4f}", refresh=False)
        bar.update(1)
        done = step + 1
        if done % config.checkpoint_every == 0:
            checkpoint(done)
    bar.close()
    checkpoint(done)
    if config.keep == "final":  # the parameters after the last update, as the original evaluates
        best = [{"loss": None, "step": done, "logits": model.logits[p].detach().cpu().clone()}
                if stopped[p] is None else best[p] for p in range(rows)]
    return _finalise_all(model, jobs, pairs, best, history, stopped, config, out)


def _finalise_all(model: DiffVox, jobs: list[Job], pairs, best, history, stopped, config: MatchConfig,
                  out: Path) -> dict:
    layout = Layout.of_chain(model)
    results = {}
    for p, job in enumerate(jobs):
        folder = out / job.folder
        write_text_atomic(folder / "history.csv", history_csv(history[p]))
        if best[p]["logits"] is None:
            results[job.folder] = {"error": "no step gave a finite loss and gradient"}
            warnings.warn(f"{job.folder}: no step of the fit gave a finite loss and gradient; "
                          "try a lower learning rate (--lr)", stacklevel=2)
            continue
        solo = DiffVox(**VARIANTS[job.variant]).to(config.device)
        solo.load(best[p]["logits"].double().numpy(), layout)
        if stopped[p] is not None:
            warnings.warn(f"{job.folder}: the fit stopped early at step {stopped[p]['step']} "
                          f"({stopped[p]['reason']}); the best preset is saved", stacklevel=2)
        solo_config = MatchConfig(**{**asdict(config), "variant": job.variant,
                                     "seed": config.seed if job.seed is None else job.seed})
        results[job.folder] = finalise(solo, solo.state_dict(), best[p]["step"], best[p]["loss"], pairs[p],
                                       folder, solo_config, job.name, stopped[p])
    return results


def read_pairs_file(path: str | Path) -> list[tuple[Path, Path, str]]:
    """``DRY<TAB>WET<TAB>NAME`` per line (blank lines and ``#`` comments skipped); relative
    paths are read from the file's folder. A one-line ValueError naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"--pairs-file {path}: cannot read it ({getattr(err, 'strerror', None) or err})") from None
    pairs, names = [], set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = line.rstrip("\n").split("\t")
        if len(cells) != 3 or not all(c.strip() for c in cells):
            raise ValueError(f"{path}:{number}: expected DRY<TAB>WET<TAB>NAME, got {len(cells)} "
                             f"tab-separated field{'s' if len(cells) != 1 else ''}")
        dry, wet, name = (c.strip() for c in cells)
        if name in (".", "..") or "/" in name or "\\" in name:
            raise ValueError(f"{path}:{number}: the name {name!r} must be a plain folder name")
        if name in names:
            raise ValueError(f"{path}:{number}: the name {name!r} is used twice")
        names.add(name)
        files = [Path(f) if Path(f).is_absolute() else path.parent / f for f in (dry, wet)]
        for what, f in zip(("dry", "wet"), files):
            if not f.is_file():
                raise ValueError(f"{path}:{number}: the {what} file {f} does not exist")
        pairs.append((files[0], files[1], name))
    if not pairs:
        raise ValueError(f"--pairs-file {path} lists no pairs")
    return pairs
