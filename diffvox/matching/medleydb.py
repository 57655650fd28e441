"""MedleyDB's vocal (raw, stem) pairs by the paper's rule, matched one by one, resumably.

A track folder holds ``<Track>_METADATA.yaml``, the raw tracks in ``raw_dir`` (``<Track>_RAW``)
and the stems in ``stem_dir`` (``<Track>_STEMS``). The original's rule: a pair is a stem whose
instrument label contains (case-sensitive) ``speaker``, ``singer``, ``vocal``, ``voice`` or
``speech`` and that has exactly one raw track, in a track not marked instrumental; a raw whose
side channel ``0.707 (L / max(L) - R / max(R))`` (max: the plain maximum) peaks above -10 dB is
skipped when it is read.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from ..audio import read_audio
from ..fileio import OutputConflict, write_text_atomic
from ..progress import progress_bar
from .evaluate import METRICS
from .fit import MatchConfig, audio_digest, fit, match_folder
from .runfolder import CHECKPOINT, MATCH_FILES, MEDLEYDB_FILES, RunFolder, read_manifest

VOCAL_WORDS = ("speaker", "singer", "vocal", "voice", "speech")  # matched case-sensitively
SIDE_THRESHOLD_DB = -10.0


@dataclass(frozen=True)
class VocalPair:
    """One raw (dry) and stem (wet) file of a MedleyDB track."""

    track: str
    stem: str
    instrument: str
    raw_path: Path
    stem_path: Path
    shift: int | None = None  # the published alignment (samples; positive: dry delayed), if any

    @property
    def name(self) -> str:
        return f"{self.track}_{self.stem}"


def _is_yes(value) -> bool:
    return value is True or str(value).strip().lower() in ("yes", "true")


def track_pairs(metadata_file: Path) -> list[VocalPair]:
    """The vocal pairs of one track, from its ``<Track>_METADATA.yaml``."""
    try:
        meta = yaml.safe_load(metadata_file.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ValueError(f"{metadata_file} is not valid YAML{where}: fix or remove it") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read {metadata_file}: {getattr(err, 'strerror', None) or err}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("stems", {}), (dict, type(None))) \
            or "stems" not in meta:
        raise ValueError(f"{metadata_file} is not a MedleyDB metadata file (no 'stems' entry)")
    try:
        return _track_pairs(metadata_file, meta)
    except (AttributeError, TypeError, KeyError) as err:
        raise ValueError(f"{metadata_file} is not a MedleyDB metadata file (a stem entry lacks "
                         f"{err if isinstance(err, KeyError) else 'its fields'})") from None


def _track_pairs(metadata_file: Path, meta: dict) -> list[VocalPair]:
    if _is_yes(meta.get("instrumental")):
        return []
    folder = metadata_file.parent
    track = metadata_file.name.removesuffix("_METADATA.yaml")
    raw_dir = folder / meta.get("raw_dir", f"{track}_RAW")
    stem_dir = folder / meta.get("stem_dir", f"{track}_STEMS")
    pairs = []
    for stem_id, stem in sorted((meta.get("stems") or {}).items()):
        instrument = str(stem.get("instrument", ""))
        raws = stem.get("raw") or {}
        if len(raws) != 1 or not any(w in instrument for w in VOCAL_WORDS):
            continue
        raw = next(iter(raws.values()))
        pairs.append(VocalPair(track, stem_id, instrument, raw_dir / raw["filename"],
                               stem_dir / stem["filename"]))
    return pairs


def find_pairs(roots: list[str | Path]) -> list[VocalPair]:
    """Every vocal pair under the given MedleyDB folders, sorted by name."""
    pairs, found = [], 0
    for root in audio_roots(roots):
        for meta in sorted(root.rglob("*_METADATA.yaml")):
            found += 1
            pairs.extend(track_pairs(meta))
    where = ", ".join(map(str, roots))
    if not found:
        raise ValueError(f"no MedleyDB track metadata (*_METADATA.yaml) under {where}: --pairs rule "
                         "needs the tracks' metadata files")
    if not pairs:
        raise ValueError(f"--pairs rule found no vocal pair in the {found} tracks under {where}")
    return sorted(pairs, key=lambda p: p.name)


def audio_roots(roots: list[str | Path]) -> list[Path]:
    """The MedleyDB audio folders: each root as given, or its ``Audio`` folder when it holds
    one (the dataset's root). A missing root is a one-line FileNotFoundError."""
    out = []
    for root in map(Path, roots):
        if not str(root).strip():
            raise ValueError("an empty MedleyDB folder name was given")
        if not root.is_dir():
            raise FileNotFoundError(f"no MedleyDB folder at {root}"
                                    + (" (it is a file)" if root.exists() else ""))
        out.append(root / "Audio" if (root / "Audio").is_dir() else root)
    return out


def published_relative_paths(info: dict) -> list[tuple[Path, Path, int]]:
    """(dry, wet, shift) of the paper's pairs, paths relative to a MedleyDB audio folder
    (``<Track>/<Track>_RAW/<file>`` and ``<Track>/<Track>_STEMS/<file>``), from the published
    ``medleydb/info.json``."""
    shifts = info.get("alignment_shifts") or [0] * len(info["dry_files"])
    return [(Path(*Path(dry).parts[-3:]), Path(*Path(wet).parts[-3:]), int(shift))
            for dry, wet, shift in zip(info["dry_files"], info["wet_files"], shifts)]


def published_pairs(roots: list[str | Path], info: dict | None = None) -> list[VocalPair]:
    """The paper's pairs, in the published order, found under ``roots`` (the first root that
    holds a file wins) with their published alignment shifts. A missing file is named."""
    if info is None:
        from ..presets import presets_root

        path = presets_root() / "medleydb" / "info.json"
        if not path.is_file():
            raise FileNotFoundError(f"no {path} (run `make data` or set DIFFVOX_PRESETS)")
        info = json.loads(path.read_text())
    roots = audio_roots(roots)

    def find(relative: Path) -> Path:
        for root in roots:
            if (root / relative).is_file():
                return root / relative
        raise FileNotFoundError(f"{relative} (a published pair's file) is under none of "
                                f"{', '.join(map(str, roots))}")

    pairs = []
    for dry, wet, shift in published_relative_paths(info):
        track = dry.parts[0]
        stem = wet.stem.removeprefix(f"{track}_")
        pairs.append(VocalPair(track, stem, "", find(dry), find(wet), shift))
    return pairs


def relative_to_root(path: Path, roots: list[str | Path]) -> Path:
    for root in audio_roots(roots):
        try:
            return path.relative_to(root)
        except ValueError:
            continue
    return path


def side_peak_db(audio: np.ndarray) -> float:
    """Peak of the original's side channel ``0.707 (L / max(L) - R / max(R))`` in dB, with max
    the plain (signed) maximum as the original computes it; -inf for mono (1, T). A channel
    whose maximum is not positive contributes nothing (the original would divide by it)."""
    if audio.shape[0] == 1:
        return -np.inf
    left, right = audio[0].astype(np.float64), audio[1].astype(np.float64)
    scaled = [c / c.max() if c.max() > 0 else np.zeros_like(c) for c in (left, right)]
    peak = np.abs(0.707 * (scaled[0] - scaled[1])).max()
    return float(20 * np.log10(peak)) if peak > 0 else -np.inf


def side_to_mid_db(audio: np.ndarray) -> float:
    """Energy of (L - R) relative to (L + R) in dB; -inf for mono (1, T)."""
    if audio.shape[0] == 1:
        return -np.inf
    left, right = audio[0].astype(np.float64), audio[1].astype(np.float64)
    side, mid = np.sum((left - right) ** 2), np.sum((left + right) ** 2)
    if side == 0:
        return -np.inf
    return float(10 * np.log10(side / mid)) if mid > 0 else np.inf


def parse_shard(spec: str) -> tuple[int, int]:
    """``"i/n"`` (1 <= i <= n) -> (i, n)."""
    try:
        i, n = (int(part) for part in spec.split("/"))
    except ValueError:
        raise ValueError(f"--shard takes i/n, e.g. 1/4; got {spec!r}") from None
    if not 1 <= i <= n:
        raise ValueError(f"--shard i/n needs 1 <= i <= n; got {spec!r}")
    return i, n


def select_pairs(roots: list[str | Path], how: str = "published") -> list[VocalPair]:
    """``published``: the paper's 70 pairs (:func:`published_pairs`); ``rule``: the original's
    selection rule on the tracks' metadata (:func:`find_pairs`)."""
    if how == "published":
        return published_pairs(roots)
    if how == "rule":
        return find_pairs(roots)
    raise ValueError(f"--pairs takes published or rule, got {how!r}")


def run_medleydb(roots: list[str | Path], out: str | Path, config: MatchConfig | None = None,
                 shard: tuple[int, int] = (1, 1), progress: bool = True,
                 pairs: str = "published", overwrite: bool = False) -> pd.DataFrame:
    """Match this shard's pairs (the i-th of every n) into ``out/<pair>/``, then write the
    summary of every finished pair in ``out``.

    ``out`` is the run's folder (:mod:`.runfolder`): empty, or holding a ``medleydb`` run made
    with the same settings; anything else is refused before any work. A pair's finished fit is
    reused only when its settings, variant and audio (sha256) match; otherwise the pair is
    refused, or refitted with ``overwrite``. A killed pair is resumed from its checkpoint."""
    config = config if config is not None else MatchConfig()
    i, n = shard
    how = pairs
    pairs = select_pairs(roots, how)  # a missing root or file is refused before any writing
    mine = pairs[i - 1 :: n]
    top = RunFolder(out, "medleydb", {"pairs": how, **asdict(config)}, None, MEDLEYDB_FILES,
                    subfolders=[p.name for p in pairs], what=f"diffvox medleydb into {out}")
    status = top.check(overwrite=overwrite)
    with top.claim(status):
        pass  # writes the manifest (settings); the pairs' folders are locked one by one
    out = top.path
    for pair in progress_bar(mine, desc=f"MedleyDB shard {i}/{n}", unit="pair", enabled=progress):
        folder = out / pair.name
        _forget_skip(folder, config)
        try:
            raw, stem = read_audio(pair.raw_path), read_audio(pair.stem_path)
            side = side_peak_db(raw)
            if how == "rule" and side > SIDE_THRESHOLD_DB:
                raise ValueError(f"the raw track's side channel peaks at {side:.1f} dB (above "
                                 f"{SIDE_THRESHOLD_DB:g} dB)")
            run = match_folder(folder, config, audio_digest(raw, stem), same_steps=True)
            resume = (folder / CHECKPOINT).is_file() and (read_manifest(folder) or {}).get("state") != "finished"
            state = run.check(resume=resume, overwrite=overwrite)
            if state == "finished":
                continue  # same settings, variant and audio: its results stand
            fit(raw, stem, folder, config, resume=state == "resume", progress=progress,
                name=pair.name, shift=pair.shift, overwrite=state == "overwrite")
        except OutputConflict:  # another run's folder or checkpoint: not a property of the audio
            raise
        except ValueError as err:  # unusable audio: recorded, and the other pairs go on
            warnings.warn(f"{pair.name}: skipped: {err}", stacklevel=2)
            _record_skip(folder, config, str(err))
    return write_summary(out, pairs, config.variant)


def _record_skip(folder: Path, config: MatchConfig, reason: str) -> None:
    run = RunFolder(folder, "match", asdict(config), None, MATCH_FILES)
    if run.foreign() or (folder / "metrics.json").exists():
        raise OutputConflict(f"{folder} holds files that are not a diffvox match run: choose another --out")
    with run.claim("restart" if folder.is_dir() and os.listdir(folder) else "new") as claimed:
        write_text_atomic(folder / "skipped.json", json.dumps({"reason": reason}) + "\n")
        claimed.finish(state="skipped", skipped=reason)


def _forget_skip(folder: Path, config: MatchConfig) -> None:
    """A pair skipped before is looked at again (reading it is cheap, and the files may have
    been fixed): its own skip record goes."""
    manifest = read_manifest(folder) if folder.is_dir() else None
    if manifest is not None and manifest.get("state") == "skipped":
        RunFolder(folder, "match", asdict(config), None, MATCH_FILES).clear()
        if not os.listdir(folder):
            folder.rmdir()


def _pair_variant(folder: Path) -> str | None:
    """The variant a pair's folder was fitted with (its manifest, else its preset's source)."""
    manifest = read_manifest(folder)
    if manifest is not None and manifest.get("settings"):
        return manifest["settings"].get("variant")
    try:
        return json.loads((folder / "preset.json").read_text())["source"]["fit"]["variant"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_summary(out: Path, pairs: list[VocalPair], variant: str = "full") -> pd.DataFrame:
    """``summary.csv`` (per finished pair) and ``table.csv`` (the paper's mean table), rebuilt
    from what the pairs' folders hold: each row's variant is the one its folder was fitted
    with (a run folder mixing variants is refused by :func:`mean_table`)."""
    rows = []
    for pair in pairs:
        metrics_file = out / pair.name / "metrics.json"
        if metrics_file.exists():
            m = json.loads(metrics_file.read_text())
            rows.append({"pair": pair.name, "track": pair.track, "stem": pair.stem,
                         "instrument": pair.instrument,
                         "variant": _pair_variant(out / pair.name) or variant,
                         **{f"no_processing_{k}": _number(m["no_processing"].get(k)) for k in METRICS},
                         **{f"fitted_{k}": _number(m["fitted"].get(k)) for k in METRICS},
                         **{f"fitted_exact_{k}": _number((m.get("fitted_exact") or {}).get(k))
                            for k in METRICS}})
    summary = pd.DataFrame(rows, columns=["pair", "track", "stem", "instrument", "variant",
                                          *[f"{w}_{k}" for w in ("no_processing", "fitted", "fitted_exact")
                                            for k in METRICS]])
    table = mean_table(summary if len(summary) else summary.assign(variant=pd.Series([], dtype=str)),
                       variant)
    write_text_atomic(out / "summary.csv", summary.to_csv(index=False))
    write_text_atomic(out / "table.csv", table.to_csv())
    return summary


def _number(value) -> float:
    """A metric, NaN where it is not defined (None: M/S of a mono target)."""
    return float("nan") if value is None else float(value)


#: the row label of each variant's fitted presets in the paper's table
VARIANT_LABELS = {"full": "DiffVox", "no-reverb": "w/o FDN", "no-delay": "w/o DLY",
                  "no-spatial": "w/o DLY&FDN", "exact-delay-grad": "exact delay gradient"}


def mean_table(summary: pd.DataFrame, variant: str = "full") -> pd.DataFrame:
    """Rows "No processing", the variant's label ("DiffVox" for the full chain, "w/o FDN", ...)
    and, for the full chain, "w/o Approx." (its presets rendered by the exact chain, as the
    paper's row); columns the four metrics: means over pairs."""
    variants = set(summary["variant"]) if "variant" in summary and len(summary) else {variant}
    if len(variants) > 1:
        raise ValueError(f"the summary mixes variants ({', '.join(sorted(variants))}); one run folder per variant")
    variant = variants.pop()
    rows = [("No processing", "no_processing"), (VARIANT_LABELS[variant], "fitted")]
    if variant == "full":
        rows.append(("w/o Approx.", "fitted_exact"))
    return pd.DataFrame({label: [summary[f"{prefix}_{k}"].mean() for k in METRICS]
                         for label, prefix in rows if f"{prefix}_{METRICS[0]}" in summary},
                        index=list(METRICS)).T


def combined_table(root: str | Path) -> pd.DataFrame:
    """The paper's MedleyDB table from ``root/table.csv`` (one run), or from the runs in
    ``root``'s subfolders (one per variant, e.g. ``runs/full``, ``runs/no-delay``): "No
    processing" once (from the full run when there is one), then every variant's rows in the
    paper's order."""
    root = Path(root)
    if (root / "table.csv").is_file():
        return pd.read_csv(root / "table.csv", index_col=0)
    tables = [pd.read_csv(t, index_col=0) for t in sorted(root.glob("*/table.csv"))]
    if not tables:
        raise FileNotFoundError(f"no table.csv in {root} or its subfolders (run `diffvox medleydb`)")
    order = ["DiffVox", "w/o Approx.", *[v for v in VARIANT_LABELS.values() if v != "DiffVox"]]
    first = next((t for t in tables if "DiffVox" in t.index), tables[0])
    rows = {label: t.loc[label] for t in tables for label in t.index if label != "No processing"}
    return pd.DataFrame([first.loc["No processing"], *[rows[k] for k in order if k in rows]])
