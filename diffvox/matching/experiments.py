"""The book's matching experiments: targets made by rendering the demo vocal with published
MedleyDB presets, fitted in a quick mode (CPU, CI) or at the paper's settings (``DIFFVOX_FULL=1``).

Runs are cached in ``$DIFFVOX_RUNS`` (default ``_build/diffvox-runs``), one folder per target,
variant and mode, so chapters that share a run (sound matching and the ablations' "full" row)
fit it once; ``make clean`` removes the cache.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..audio import demo_vocal
from ..bench.common import machine
from ..fileio import write_text_atomic
from ..presets import Preset, load_dataset
from .fit import MatchConfig, fit, prepare_pair

ROOT = Path(__file__).resolve().parents[2]
TARGET_ROWS = (0, 3, 7)  # medleydb presets rendered as targets


@dataclass(frozen=True)
class Mode:
    """Audio length and matching settings of one mode."""

    name: str
    seconds: float
    config: MatchConfig = field(default_factory=MatchConfig)


def quick_mode() -> Mode:
    return Mode("quick", 6.0, MatchConfig(steps=25, lr=0.05, batch=3, chunk_seconds=3.0,
                                          overlap_seconds=1.0))


def full_mode() -> Mode:
    """The paper's settings on the demo vocal repeated to 36 s (four 12 s chunks)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return Mode("full", 36.0, MatchConfig(device=device))


def current_mode() -> Mode:
    """Full with ``DIFFVOX_FULL=1``, otherwise quick."""
    return full_mode() if os.environ.get("DIFFVOX_FULL") == "1" else quick_mode()


def runs_dir() -> Path:
    return Path(os.environ.get("DIFFVOX_RUNS", ROOT / "_build" / "diffvox-runs"))


def demo_dry(seconds: float) -> np.ndarray:
    """The demo vocal, repeated as needed, cut to ``seconds``."""
    voice = demo_vocal()
    n = int(seconds * 44100)
    return np.tile(voice, -(-n // len(voice)))[:n]


def render_preset(preset: Preset, dry: np.ndarray, device: str = "cpu") -> np.ndarray:
    """(T,) -> (2, T), the preset's chain in evaluation mode (exact delay)."""
    with torch.no_grad():
        model = preset.to_chain().to(device).eval()
        return model(torch.from_numpy(dry).to(device).view(1, 1, -1))[0].cpu().numpy()


@dataclass
class Run:
    """One fit: its target row, variant, metrics, loss history and presets."""

    row: int
    variant: str
    metrics: dict
    history: list[dict]
    fitted: Preset
    target: Preset
    folder: Path

    def audio(self, mode: Mode) -> dict[str, np.ndarray]:
        """Loudness-normalised dry (mono), target and fitted render (stereo)."""
        dry = demo_dry(mode.seconds)
        pair = prepare_pair(dry, render_preset(self.target, dry))
        return {"dry": pair.dry, "target": pair.wet,
                "fitted": render_preset(self.fitted, pair.dry)}


def run(row: int, variant: str = "full", mode: Mode | None = None, progress: bool = False) -> Run:
    """Fit ``variant`` to the demo vocal rendered with ``medleydb:row`` (cached)."""
    mode = mode if mode is not None else current_mode()
    config = MatchConfig(**{**asdict(mode.config), "variant": variant})
    recorded = asdict(config)
    if recorded["keep"] == "best":  # a setting added later enters the key only off its default,
        del recorded["keep"]        # so runs recorded before it keep their folders
    settings = json.dumps({"seconds": mode.seconds, **recorded}, sort_keys=True)
    key = hashlib.sha256(settings.encode()).hexdigest()[:10]  # a changed setting is a new run
    folder = runs_dir() / f"{mode.name}-{key}" / f"medleydb{row:02d}_{variant}"
    target = load_dataset("medleydb").preset(row)
    if not (folder / "metrics.json").exists():
        dry = demo_dry(mode.seconds)
        fit(dry, render_preset(target, dry, config.device), folder, config,
            resume=(folder / "checkpoint.pt").exists(),
            progress=progress, name=f"fit of medleydb:{row} ({variant})")
    with (folder / "history.csv").open() as f:
        history = [{k: v if k == "skipped" else float(v) for k, v in r.items()}
                   for r in csv.DictReader(f)]
    return Run(row, variant, json.loads((folder / "metrics.json").read_text()), history,
               Preset.load(folder / "preset.json"), target, folder)


def provenance(mode: Mode) -> dict:
    """Where and when results were measured (``device``: GPU model or CPU, ``date``, ``torch``)."""
    m = machine(torch.device(mode.config.device))
    return {"mode": mode.name, "device": m.get("gpu", m["cpu"]), "torch": m["torch"],
            "date": m["date"][:10], "machine": m, "settings": asdict(mode.config),
            "seconds_of_audio": mode.seconds}


def save_results(name: str, mode: Mode, results: dict) -> Path:
    """``book/results/<name>_<mode>.json`` with provenance (atomic)."""
    path = ROOT / "book" / "results" / f"{name}_{mode.name}.json"
    write_text_atomic(path, json.dumps({**provenance(mode), "results": results}, indent=1) + "\n")
    return path


def load_results(name: str, mode_name: str = "full") -> dict | None:
    path = ROOT / "book" / "results" / f"{name}_{mode_name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def compare_parameters(target: Preset, fitted: Preset) -> list[dict]:
    """Main physical values of two presets, side by side (rows: name, unit, target, fitted)."""
    a, b = target.decode(), fitted.decode()
    rows = []
    for i, (ba, bb) in enumerate(zip(a["eq"], b["eq"]), 1):
        rows.append({"parameter": f"EQ {i} ({ba['type']}) frequency", "unit": "Hz",
                     "target": ba["freq_hz"], "fitted": bb["freq_hz"]})
        if "gain_db" in ba:
            rows.append({"parameter": f"EQ {i} ({ba['type']}) gain", "unit": "dB",
                         "target": ba["gain_db"], "fitted": bb["gain_db"]})
    for key, label, unit in (("cmp_th_db", "compressor threshold", "dB"), ("cmp_ratio", "compressor ratio", ""),
                             ("attack_ms", "attack", "ms"), ("release_ms", "release", "ms"),
                             ("make_up_db", "make-up gain", "dB")):
        rows.append({"parameter": label, "unit": unit, "target": a["compressor"][key],
                     "fitted": b["compressor"][key]})
    rows.append({"parameter": "direct pan", "unit": "%", "target": a["direct_pan"]["pan_percent"],
                 "fitted": b["direct_pan"]["pan_percent"]})
    if "delay" in b:
        for key, label, unit in (("delay_ms", "delay time", "ms"), ("gain", "delay gain", ""),
                                 ("feedback", "delay feedback", "")):
            rows.append({"parameter": label, "unit": unit, "target": a["delay"][key],
                         "fitted": b["delay"][key]})
    if "reverb" in b:
        rows.append({"parameter": "reverb median T60", "unit": "s",
                     "target": float(np.median(a["reverb"]["t60_s"])),
                     "fitted": float(np.median(b["reverb"]["t60_s"]))})
    return rows
