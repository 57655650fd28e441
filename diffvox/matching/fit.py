"""Fitting a preset to a (dry, wet) pair by gradient descent, with the paper's settings as
defaults, checkpoints, and resumption of a killed run."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from ..audio import SR, write_audio
from ..chain import VARIANTS, DiffVox
from ..fileio import OutputConflict, atomic_path, folder_lock, prepare_output_dir, write_text_atomic
from ..losses import DiffVoxLoss
from ..devices import resolve_device
from ..memory import keep_freed_memory
from ..presets import Preset
from .evaluate import METRICS, as_stereo, evaluate
from .prepare import align, apply_shift, chunk_pair, normalise_loudness

HISTORY_COLUMNS = ("step", "total", *METRICS, "regulariser", "skipped")
# a step whose loss or gradient is not finite is skipped; this many in a row end the fit early
MAX_FAILED_STEPS = 5
CHECKPOINT = "checkpoint.pt"
# the target chunks' spectra and LDR are computed once per fit when they take at most this much
# memory (about 100 MB per 12 s chunk at the paper's settings), else once per step
TARGET_CACHE_BYTES = 6 * 2**30
# settings that must agree between a checkpoint and the run resuming it
# (every setting but the number of steps, which a resumed run may raise)
_RUN_DEFINING = ("lr", "batch", "chunk_seconds", "overlap_seconds", "variant", "seed", "lufs",
                 "device", "checkpoint_every", "keep")


@dataclass
class MatchConfig:
    """Matching settings; the defaults are the paper's."""

    steps: int = 2000
    lr: float = 0.01
    batch: int = 35
    chunk_seconds: float = 12.0
    overlap_seconds: float = 5.0
    variant: str = "full"
    device: str = "cpu"
    seed: int = 0
    checkpoint_every: int = 50
    lufs: float = -18.0
    keep: str = "best"  # the preset written: "best" (lowest loss) or "final" (after the last step)

    def __post_init__(self):
        if self.keep not in ("best", "final"):
            raise ValueError(f"keep must be best or final, got {self.keep!r}")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; expected one of {', '.join(VARIANTS)}")
        for name in ("steps", "batch", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"the learning rate must be a positive number, got {self.lr}")
        if not (self.chunk_seconds > 0 and math.isfinite(self.chunk_seconds)):
            raise ValueError(f"the chunk length must be a positive number of seconds, got {self.chunk_seconds}")
        if not (0 <= self.overlap_seconds < self.chunk_seconds):
            raise ValueError(f"the overlap must be at least 0 s and shorter than the chunk "
                             f"({self.chunk_seconds:g} s), got {self.overlap_seconds}")
        if not math.isfinite(self.lufs):
            raise ValueError(f"the loudness target must be a number of LUFS, got {self.lufs}")
        resolve_device(self.device)


@dataclass
class Pair:
    """An aligned, loudness-normalised pair: dry (T,) and wet (2, T), float32."""

    dry: np.ndarray
    wet: np.ndarray
    shift: int


def prepare_pair(dry: np.ndarray, wet: np.ndarray, lufs: float = -18.0, sr: int = SR,
                 shift: int | None = None) -> Pair:
    """Check and condition a pair: dry (T,) or (C, T) is downmixed; a mono wet is duplicated
    (with a warning); dry is aligned to wet (by cross-correlation, or delayed by ``shift``
    samples when given) and both are normalised to ``lufs``."""
    dry, wet = np.asarray(dry, np.float32), np.asarray(wet, np.float32)
    for what, audio in (("dry", dry), ("wet", wet)):
        if audio.size == 0 or audio.ndim not in (1, 2):
            raise ValueError(f"the {what} signal must be (samples,) or (channels, samples); "
                             f"got shape {audio.shape}")
        if not np.isfinite(audio).all():
            raise ValueError(f"the {what} signal holds NaN or Inf samples")
        if audio.shape[-1] < sr // 2:
            raise ValueError(f"the {what} signal lasts {audio.shape[-1] / sr:.2f} s; "
                             "matching needs at least 0.5 s")
    if dry.ndim == 2:
        if dry.shape[0] > 1:
            warnings.warn(f"the dry signal has {dry.shape[0]} channels: using their mean", stacklevel=2)
        dry = dry.mean(axis=0)
    if wet.ndim == 2 and wet.shape[0] > 2:
        raise ValueError(f"the wet signal must be stereo, got {wet.shape[0]} channels")
    wet, duplicated = as_stereo(wet, "the wet signal")
    if duplicated:
        warnings.warn("the wet signal is mono: duplicating it to stereo", stacklevel=2)
    if abs(len(dry) - wet.shape[1]) > sr:
        warnings.warn(f"the dry signal lasts {len(dry) / sr:.2f} s and the wet {wet.shape[1] / sr:.2f} s: "
                      "the dry is aligned to the wet and then cut or padded with silence to its length",
                      stacklevel=2)
    dry, shift = align(dry, wet) if shift is None else (apply_shift(dry, int(shift)), int(shift))
    n = wet.shape[1]
    dry = dry[:n] if len(dry) >= n else np.pad(dry, (0, n - len(dry)))
    try:
        dry = normalise_loudness(dry, lufs, sr)
    except ValueError as err:
        raise ValueError(f"dry: {err}") from None
    try:
        wet = normalise_loudness(wet, lufs, sr)
    except ValueError as err:
        raise ValueError(f"wet: {err}") from None
    return Pair(dry, wet, shift)


def history_csv(history: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return buf.getvalue()


def _save_checkpoint(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def audio_digest(dry: np.ndarray, wet: np.ndarray) -> dict[str, str]:
    """sha256 of each signal as given (float32 samples and shape)."""
    out = {}
    for name, audio in (("dry", dry), ("wet", wet)):
        a = np.ascontiguousarray(audio, dtype=np.float32)
        out[name] = hashlib.sha256(repr(a.shape).encode() + a.tobytes()).hexdigest()
    return out


def _load_checkpoint(path: Path, config: MatchConfig, audio: dict[str, str]) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - a damaged or foreign file
        raise OutputConflict(f"cannot read the checkpoint {path}: {err}") from None
    saved = state["config"]
    defaults = asdict(MatchConfig())  # a setting older checkpoints lack had its default value
    saved = {**{k: defaults[k] for k in _RUN_DEFINING if k not in saved}, **saved}
    differ = [k for k in _RUN_DEFINING if saved[k] != getattr(config, k)]
    if differ:
        raise OutputConflict(f"the checkpoint in {path.parent} was made with other settings "
                         f"({', '.join(f'{k}={saved[k]!r}, now {getattr(config, k)!r}' for k in differ)}); "
                         "use the same settings or another output directory")
    if "audio" not in state:
        warnings.warn(f"the checkpoint in {path.parent} predates audio checks: cannot confirm it was "
                      "made with the same dry and wet audio", stacklevel=3)
    else:
        changed = [k for k in ("dry", "wet") if state["audio"][k] != audio[k]]
        if changed:
            raise OutputConflict(f"the checkpoint in {path.parent} was made with other audio (the "
                             f"{' and '.join(changed)} signal{'s differ' if len(changed) > 1 else ' differs'}); "
                             "use the same files or another output directory")
    if config.steps < state["step"]:
        raise OutputConflict(f"the run in {path.parent} has done {state['step']} steps; --steps "
                         f"{config.steps} is fewer: pass --steps {state['step']} or more")
    return state


def _copy_params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def fit(dry: np.ndarray, wet: np.ndarray, out_dir: str | Path, config: MatchConfig | None = None,
        resume: bool = False, progress: bool = True, name: str | None = None,
        on_step: Callable[[int, dict], None] | None = None, shift: int | None = None) -> dict:
    """Fit a chain to the pair and write ``preset.json``, ``history.csv``, ``metrics.json``,
    ``render.wav`` (and ``checkpoint.pt``) to ``out_dir``. Returns the metrics dict.

    dry: (T,) or (C, T); wet: (2, T) (mono is duplicated with a warning), both at 44.1 kHz.
    ``resume`` continues from ``out_dir/checkpoint.pt``; without it a directory holding a run
    is refused. ``on_step(step, terms)`` is called after every step. ``shift``: align the dry
    by this many samples (e.g. MedleyDB's published shifts) instead of by cross-correlation.
    """
    config = config if config is not None else MatchConfig()
    out = Path(out_dir)
    if not resume and ((out / CHECKPOINT).exists() or (out / "preset.json").exists()):
        raise ValueError(f"{out} already holds a matching run; pass resume=True (--resume) to "
                         "continue it, or choose another output directory")
    prepare_output_dir(out)
    with folder_lock(out, f"diffvox match into {out}"):
        return _fit(dry, wet, out, config, resume, progress, name, on_step, shift)


def _fit(dry, wet, out: Path, config: MatchConfig, resume: bool, progress: bool, name: str | None,
         on_step, shift: int | None) -> dict:
    ckpt_path = out / CHECKPOINT
    audio = audio_digest(dry, wet)
    pair = prepare_pair(dry, wet, config.lufs, shift=shift)
    chunks = chunk_pair(pair.dry, pair.wet, config.chunk_seconds, config.overlap_seconds)
    device = torch.device(config.device)
    dry_chunks = torch.from_numpy(chunks.dry).to(device)
    wet_chunks = torch.from_numpy(chunks.wet[..., chunks.loss_from:]).to(device)

    if device.type == "cpu":
        keep_freed_memory()
    torch.manual_seed(config.seed)
    model = DiffVox(**VARIANTS[config.variant]).to(device).train()
    loss_fn = DiffVoxLoss().to(device)
    targets = target_features(loss_fn, wet_chunks)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    start, best_loss, best_step, best_state, history = 0, float("inf"), -1, None, []
    failed_in_row, stopped_early = 0, None

    if resume and ckpt_path.exists():
        state = _load_checkpoint(ckpt_path, config, audio)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        generator.set_state(state["generator"])
        start, best_loss, best_step = state["step"], state["best_loss"], state["best_step"]
        best_state, history = state["best_state"], state["history"]
        failed_in_row, stopped_early = state.get("failed_in_row", 0), state.get("stopped_early")
    elif resume:
        warnings.warn(f"no checkpoint in {out}: starting a new run", stacklevel=2)

    def checkpoint(step: int) -> None:
        _save_checkpoint(ckpt_path, {
            "config": asdict(config), "audio": audio, "step": step, "model": model.state_dict(),
            "optimiser": optimiser.state_dict(), "generator": generator.get_state(),
            "best_loss": best_loss, "best_step": best_step, "best_state": best_state,
            "history": history, "failed_in_row": failed_in_row, "stopped_early": stopped_early})
        write_text_atomic(out / "history.csv", history_csv(history))

    bar = tqdm(total=config.steps, initial=min(start, config.steps), desc="match", unit="step",
               disable=not progress, dynamic_ncols=True)
    for step in range(start, config.steps):
        if stopped_early is not None:
            break
        index = torch.randperm(len(dry_chunks), generator=generator)[: config.batch].to(device)
        pred = model(dry_chunks[index], start=chunks.loss_from)
        terms = loss_fn(pred, targets(index), model.regulariser().to(device))
        total = float(terms["total"].detach())
        optimiser.zero_grad(set_to_none=True)
        failure = None if np.isfinite(total) else f"loss is {total}"
        if failure is None:
            if total < best_loss:  # the parameters that produced this loss, before the update
                best_loss, best_step, best_state = total, step, _copy_params(model)
            terms["total"].backward()
            failure = nonfinite_gradient(model)
        if failure is None:
            optimiser.step()
            failed_in_row = 0
        else:  # the update is not applied: parameters and optimiser state stay as they were
            optimiser.zero_grad(set_to_none=True)
            failed_in_row += 1
            if progress:
                bar.write(f"diffvox: step {step} skipped: {failure}", file=sys.stderr)
            if failed_in_row >= MAX_FAILED_STEPS and best_state is None:
                bar.close()
                raise RuntimeError(f"the first {failed_in_row} steps all failed ({failure}); "
                                   "try a lower learning rate (--lr)")
            if failed_in_row >= MAX_FAILED_STEPS:
                stopped_early = {"step": step, "reason": f"{failed_in_row} steps in a row failed; "
                                 f"the last: {failure}"}
        row = {"step": step, **{k: float(terms[k].detach()) if k in terms else 0.0
                                for k in HISTORY_COLUMNS[1:-1]}, "skipped": failure or ""}
        history.append(row)
        bar.set_postfix(loss=f"{total:.4f}", best=f"{best_loss:.4f}", refresh=False)
        bar.update(1)
        if (step + 1) % config.checkpoint_every == 0 or stopped_early is not None:
            checkpoint(step + 1)
        if on_step is not None:
            on_step(step + 1, row)
    bar.close()
    if best_state is None:
        raise RuntimeError(f"no step of the fit gave a finite loss and gradient ({history[-1]['skipped']}); "
                           "try a lower learning rate (--lr)")
    if stopped_early is not None:
        warnings.warn(f"the fit stopped early at step {stopped_early['step']} "
                      f"({stopped_early['reason']}); the best preset (step {best_step}) is saved",
                      stacklevel=2)
    else:
        checkpoint(config.steps)
        if config.keep == "final":  # the parameters after the last update, as the original evaluates
            best_state, best_step, best_loss = _copy_params(model), config.steps, None
    return finalise(model, best_state, best_step, best_loss, pair, out, config,
                    name or out.name, stopped_early)


def target_features(loss_fn: DiffVoxLoss, wet_chunks: torch.Tensor,
                    budget: int = TARGET_CACHE_BYTES) -> Callable[[torch.Tensor], object]:
    """``index -> target`` for the losses: every chunk's features prepared once and selected,
    when they fit in ``budget`` bytes; otherwise the chunks themselves (prepared each step).
    Either gives the same loss values."""
    if loss_fn.prepare(wet_chunks[:1]).nbytes() * len(wet_chunks) > budget:
        return lambda index: wet_chunks[index]
    prepared = loss_fn.prepare(wet_chunks)
    return prepared.select


def exact_metrics(model: DiffVox, pair: Pair, out: Path) -> dict:
    """The paper's "w/o Approx." evaluation: the fitted preset rendered by the exact time-domain
    chain with the Q clip (0.707), scored on the whole aligned, loudness-normalised track.
    Writes ``render_exact.wav``. Returns ``{"fitted_exact": metrics}``, or ``{"fitted_exact":
    None, "fitted_exact_error": reason}`` when the exact loop is unstable even with the clip."""
    from ..realtime import PAPER_CLIP_Q, UnstableLoopError, render_exact

    try:
        render = render_exact(model, pair.dry, clip_q=PAPER_CLIP_Q).astype(np.float32)
    except UnstableLoopError as err:
        return {"fitted_exact": None, "fitted_exact_error": str(err)}
    write_audio(out / "render_exact.wav", render)
    return {"fitted_exact": evaluate(render, pair.wet)}


def nonfinite_gradient(model: torch.nn.Module) -> str | None:
    """The names of parameters whose gradient holds NaN or Inf, as one phrase; None if all are finite."""
    bad = [name for name, p in model.named_parameters()
           if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
    return f"non-finite gradient of {', '.join(bad)}" if bad else None


def finalise(model: DiffVox, best_state: dict, best_step: int, best_loss: float | None, pair: Pair,
             out: Path, config: MatchConfig, name: str, stopped_early: dict | None = None) -> dict:
    """Write the best preset, its render of the whole dry track, and the metrics."""
    model.load_state_dict(best_state)
    model.eval()
    preset = Preset.from_chain(model, name=name)
    preset.source = {"fit": {"best_step": best_step, "best_loss": best_loss, "shift_samples": pair.shift,
                             **asdict(config)}}
    preset.save(out / "preset.json")
    with torch.no_grad():
        render = model(torch.from_numpy(pair.dry).to(config.device).view(1, 1, -1))[0].cpu().numpy()
    write_audio(out / "render.wav", render)
    metrics = {"no_processing": evaluate(as_stereo(pair.dry)[0], pair.wet, device=config.device),
               "fitted": evaluate(render, pair.wet, device=config.device)}
    metrics.update(exact_metrics(model, pair, out))
    if stopped_early is not None:
        metrics["stopped_early"] = stopped_early
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    return metrics
