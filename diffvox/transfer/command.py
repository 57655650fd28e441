"""``diffvox transfer DRY REFERENCE --out DIR``: the command line of style transfer.

Writes ``preset.json``, ``render.wav`` (the whole dry track through the preset),
``history.csv`` and ``settings.json`` to DIR (and ``checkpoint.pt`` during an ITO run, so that
``--resume`` continues a killed run). A folder holding a run is refused without ``--resume``; a
second process writing into the same folder is refused by a lock.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

CHECKPOINT = "checkpoint.pt"
OUTPUTS = ("preset.json", "render.wav", "history.csv", "settings.json")
# settings that must agree between a checkpoint and the run resuming it (all but --steps)
_RUN_DEFINING = ("method", "encoder", "alpha", "lr", "seed", "device", "chunk_seconds")


# the choices, written here so that ``--help`` needs no torch (tests/test_transfer.py holds them
# to core.METHODS, encoders.ENCODERS and core.CHUNK_SECONDS)
METHODS = ("ito", "mean", "nn-emb")
ENCODERS = ("mfcc", "mir")
CHUNK_SECONDS = 11.0


def add_parser(sub) -> None:
    """Register ``transfer`` on the command line's subparsers."""

    p = sub.add_parser("transfer", help="style transfer: the preset that makes a dry vocal sound "
                                        "like a reference (ITO with the preset prior)")
    p.add_argument("dry", help="dry vocal (mono; stereo is downmixed), 44.1 kHz")
    p.add_argument("reference", help="processed vocal of another song (stereo; mono is duplicated), 44.1 kHz")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--method", choices=list(METHODS), default="ito",
                   help="ito: optimise with the prior (default); mean: the prior mean; nn-emb: the "
                        "training preset whose render is likeliest")
    p.add_argument("--encoder", choices=list(ENCODERS), default="mfcc", help="audio embedding (default mfcc)")
    p.add_argument("--alpha", type=float, default=0.01, help="weight of the prior (default 0.01)")
    p.add_argument("--steps", type=int, default=1000, help="Adam steps (default 1000)")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate (default 0.01)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    p.add_argument("--chunk-seconds", type=float, default=CHUNK_SECONDS,
                   help=f"chunk length (default {CHUNK_SECONDS:g}, the authors')")
    p.add_argument("--checkpoint-every", type=int, default=50, help="steps between checkpoints (default 50)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _digest(audio: np.ndarray) -> str:
    a = np.ascontiguousarray(audio, dtype=np.float32)
    return hashlib.sha256(repr(a.shape).encode() + a.tobytes()).hexdigest()


def _history_csv(rows: list[dict], columns) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _read_inputs(args):
    """Both files read and checked, and their chunks; one-line errors, before any file is made."""
    from ..audio import read_audio
    from .core import active_chunks

    dry = read_audio(args.dry)
    ref = read_audio(args.reference)
    if dry.shape[0] > 1:
        warnings.warn(f"{args.dry} has {dry.shape[0]} channels: using their mean", stacklevel=1)
    dry = dry.mean(0)
    if ref.shape[0] > 2:
        raise ValueError(f"{args.reference} has {ref.shape[0]} channels; the reference must be mono or stereo")
    if ref.shape[0] == 1:
        warnings.warn(f"{args.reference} is mono: duplicating it to stereo", stacklevel=1)
        ref = np.repeat(ref, 2, 0)
    for path, audio in ((args.dry, dry), (args.reference, ref)):
        if not np.any(audio):
            raise ValueError(f"{path} is silent")
    queries = active_chunks(dry[None], f"dry signal {args.dry}", args.chunk_seconds)
    references = active_chunks(ref, f"reference {args.reference}", args.chunk_seconds)
    return dry, ref, queries, references


def _check_args(args) -> None:
    from ..devices import resolve_device
    from .core import check_settings

    try:
        resolve_device(args.device)
    except ValueError as err:
        raise ValueError(f"--device: {err}") from None
    for option, value in (("alpha", args.alpha), ("steps", args.steps), ("lr", args.lr)):
        try:
            check_settings(**{"alpha": 0.0, "steps": 1, "lr": 0.01, option: value})
        except ValueError as err:
            raise ValueError(f"--{option}: {err}") from None
    if not (math.isfinite(args.chunk_seconds) and args.chunk_seconds >= 0.1):
        raise ValueError(f"--chunk-seconds must be at least 0.1, got {args.chunk_seconds}")
    if args.checkpoint_every < 1:
        raise ValueError(f"--checkpoint-every must be at least 1, got {args.checkpoint_every}")


def run(args) -> None:
    """The handler of ``diffvox transfer``."""
    from ..fileio import folder_lock, prepare_output_dir

    _check_args(args)
    out = Path(args.out)
    held = [name for name in (CHECKPOINT, *OUTPUTS) if (out / name).exists()]
    if held and not args.resume:
        raise ValueError(f"{out} already holds a transfer run ({held[0]}); pass --resume to continue it, "
                         "or choose another output directory")
    if (out / "preset.json").exists():
        raise ValueError(f"the run in {out} is finished (preset.json exists); choose another output directory")
    inputs = _read_inputs(args)
    prepare_output_dir(out)
    with folder_lock(out, f"diffvox transfer into {out}"):
        _run(args, out, *inputs)


def _run(args, out: Path, dry, ref, queries, references) -> None:
    import torch
    from tqdm import tqdm

    from ..audio import write_audio
    from ..fileio import OutputConflict, atomic_path, write_text_atomic
    from .core import HISTORY_COLUMNS, Problem, State, ito, nearest_embedding
    from .prior import PresetPrior

    started = time.time()
    settings = {k: getattr(args, k) for k in ("method", "encoder", "alpha", "steps", "lr", "seed",
                                               "device", "chunk_seconds")}
    audio = {"dry": _digest(dry), "reference": _digest(ref)}
    torch.manual_seed(args.seed)
    prior = PresetPrior.internal()
    ckpt = out / CHECKPOINT
    history_columns = HISTORY_COLUMNS
    if args.method == "mean":
        vector, history, extra = prior.mean, [], {}
    else:
        problem = Problem.make(queries[:, :1], references, args.encoder, prior, args.device)
        if args.method == "nn-emb":
            bar = tqdm(total=len(prior.rows), desc="transfer nn-emb", unit="preset", disable=args.quiet,
                       dynamic_ncols=True)
            index, scores = nearest_embedding(problem, progress=lambda i, n: bar.update(i - bar.n))
            bar.close()
            vector = prior.rows[index]
            history_columns = ("candidate", "log_likelihood")
            history = [{"candidate": i, "log_likelihood": float(s)} for i, s in enumerate(scores)]
            extra = {"nearest_training_row": index}
        else:
            state = None
            if args.resume and ckpt.exists():
                state = _load(ckpt, settings, audio, args.steps, OutputConflict)
            elif args.resume:
                warnings.warn(f"no checkpoint in {out}: starting a new run", stacklevel=1)
            bar = tqdm(total=args.steps, initial=state.step if state else 0, desc="transfer ito",
                       unit="step", disable=args.quiet, dynamic_ncols=True)

            def save(s: State) -> None:
                with atomic_path(ckpt) as tmp:
                    torch.save({"settings": settings, "audio": audio, "step": s.step,
                                "vector": s.vector.cpu(), "optimiser": s.optimiser,
                                "history": s.history}, tmp)
                write_text_atomic(out / "history.csv", _history_csv(s.history, HISTORY_COLUMNS))

            def on_step(s: State) -> None:
                bar.update(1)
                bar.set_postfix(loss=f"{s.history[-1]['loss']:.4f}", refresh=False)
                if s.step % args.checkpoint_every == 0 or s.step == args.steps:
                    save(s)

            state = ito(problem, args.alpha, args.steps, args.lr, state, on_step)
            bar.close()
            vector, history = state.vector, state.history
            extra = {"final": history[-1] if history else None}
    preset = prior.preset(vector, f"transfer-{args.method}")
    preset.source = {"transfer": {**settings, "dry": str(args.dry), "reference": str(args.reference)}}
    model = preset.to_chain().to(args.device).eval()
    with torch.no_grad():
        render = model(torch.from_numpy(dry).to(args.device).view(1, 1, -1))[0].cpu().numpy()
    write_audio(out / "render.wav", render)
    write_text_atomic(out / "history.csv", _history_csv(history, history_columns))
    write_text_atomic(out / "settings.json", json.dumps({
        **settings, "dry": str(args.dry), "reference": str(args.reference), "audio_sha256": audio,
        "query_chunks": int(len(queries)), "reference_chunks": int(len(references)),
        "seconds": round(time.time() - started, 3), **extra}, indent=1) + "\n")
    preset.save(out / "preset.json")  # last: its presence marks a finished run
    print(f"wrote preset.json, render.wav, history.csv and settings.json to {out} "
          f"({len(queries)} query and {len(references)} reference chunks of {args.chunk_seconds:g} s)",
          file=sys.stdout)


def _load(path: Path, settings: dict, audio: dict, steps: int, conflict):
    import torch

    from .core import State

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - a damaged or foreign file
        raise conflict(f"cannot read the checkpoint {path}: {str(err).splitlines()[0]}") from None
    differ = [k for k in _RUN_DEFINING if saved["settings"].get(k) != settings[k]]
    if differ:
        raise conflict(f"the checkpoint in {path.parent} was made with other settings ("
                       + ", ".join(f"{k}={saved['settings'].get(k)!r}, now {settings[k]!r}" for k in differ)
                       + "); use the same settings or another output directory")
    changed = [k for k in ("dry", "reference") if saved["audio"][k] != audio[k]]
    if changed:
        raise conflict(f"the checkpoint in {path.parent} was made with another {' and '.join(changed)} "
                       "signal; use the same files or another output directory")
    if steps < saved["step"]:
        raise conflict(f"the run in {path.parent} has done {saved['step']} steps; --steps {steps} is "
                       f"fewer: pass --steps {saved['step']} or more")
    return State(saved["vector"].to(settings["device"]), saved["optimiser"], saved["step"], saved["history"])
