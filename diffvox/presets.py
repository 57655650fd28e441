"""The published preset datasets and the preset format.

A dataset directory (``$DIFFVOX_PRESETS/<name>``, default ``data/presets``) holds
``raw_params.npy`` (n, 151) logits, ``info.json`` (layout and source tracks),
``feature_mask.npy`` (the 130 dimensions that matter) and, for ``internal``, ``train_index.npy``.
A :class:`Preset` converts between the 151-logit row, the 130-dim masked form, a
:class:`~diffvox.DiffVox` chain and a JSON file of physical values (the effects' contracts,
:mod:`diffvox.contract`, say what each field means; :mod:`diffvox.preset_values` converts).
"""
from __future__ import annotations

import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .chain import DiffVox
from .fileio import write_text_atomic
from .preset_values import decode, encode, same_value, value_at

DATASETS = ("internal", "medleydb")
FORMAT = "diffvox-preset/1"
_ROOT = Path(__file__).resolve().parents[1]

def presets_root() -> Path:
    """``$DIFFVOX_PRESETS``, else ``data/presets`` in the checkout."""
    return Path(os.environ.get("DIFFVOX_PRESETS", _ROOT / "data" / "presets")).expanduser()


@dataclass(frozen=True)
class Layout:
    """Keys and shapes of a 151-logit row, in chain order."""

    keys: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @property
    def sizes(self) -> list[int]:
        return [math.prod(s) for s in self.shapes]

    @property
    def width(self) -> int:
        return sum(self.sizes)

    def split(self, row: np.ndarray) -> dict[str, np.ndarray]:
        """Row (width,) -> {key: array of its shape}."""
        if row.shape != (self.width,):
            raise ValueError(f"a preset row has {self.width} logits, got shape {row.shape}")
        out, start = {}, 0
        for key, shape, size in zip(self.keys, self.shapes, self.sizes):
            out[key] = row[start : start + size].reshape(shape)
            start += size
        return out

    def join(self, values: dict) -> np.ndarray:
        missing = [k for k in self.keys if k not in values]
        if missing:
            raise ValueError(f"preset logits miss {len(missing)} keys, e.g. {missing[0]!r}")
        parts = []
        for key, shape in zip(self.keys, self.shapes):
            arr = np.asarray(values[key], dtype=np.float64)
            if arr.shape != tuple(shape):
                raise ValueError(f"logits {key!r} have shape {arr.shape}, expected {tuple(shape)}")
            parts.append(arr.reshape(-1))
        return np.concatenate(parts)

    @classmethod
    def of_chain(cls, model: DiffVox) -> "Layout":
        """The keys and shapes of ``model``'s effects in the published order (a variant of the
        chain leaves out the keys of the effects it does not have)."""
        return cls(model.keys, tuple(e.shape for e in model.entries))


def chain_layout() -> Layout:
    """The published 151-logit layout of the full chain."""
    return Layout.of_chain(DiffVox())


@dataclass
class Preset:
    """One preset: its logits (float64 copy of the stored float32 row) and where it came from."""

    logits: np.ndarray
    layout: Layout
    name: str = "preset"
    source: dict = field(default_factory=dict)
    chain: dict = field(default_factory=dict)  # DiffVox options of a variant, e.g. {"delay": False}

    # --- chain ------------------------------------------------------------------------------
    def to_chain(self, model: DiffVox | None = None, **kwargs) -> DiffVox:
        """Load the logits into ``model`` (by default a new ``DiffVox(**self.chain, **kwargs)``)."""
        model = model if model is not None else DiffVox(**{**self.chain, **kwargs})
        return model.load(self.logits, self.layout)

    @classmethod
    def from_chain(cls, model: DiffVox, layout: Layout | None = None,
                   name: str = "preset", row: int = 0) -> "Preset":
        """The preset of row ``row`` of ``model``'s logits (layout: :meth:`Layout.of_chain`;
        a wider layout's keys that the chain lacks must not be asked for)."""
        own = Layout.of_chain(model)
        layout = layout if layout is not None else own
        values = own.split(model.logits[row].detach().cpu().double().numpy())
        chain = {k: False for k in ("delay", "reverb") if getattr(model, k) is None}
        return cls(layout.join(values), layout, name, chain=chain)

    # --- masked form ---------------------------------------------------------------------------
    def masked(self, mask: np.ndarray) -> np.ndarray:
        """The 130 dimensions that affect the output."""
        return self.logits[mask]

    @classmethod
    def from_masked(cls, vector: np.ndarray, mask: np.ndarray, layout: Layout, name="preset"):
        """Inverse of :meth:`masked`; the dropped FDN matrix logits (no effect) are set to 0."""
        if vector.shape != (int(mask.sum()),):
            raise ValueError(f"masked preset must have shape ({int(mask.sum())},), got {vector.shape}")
        row = np.zeros(layout.width)
        row[mask] = vector
        return cls(row, layout, name)

    # --- physical values -----------------------------------------------------------------------
    def decode(self) -> dict:
        """Every physical value (nested dict of floats and lists; units in the contracts), in
        float64 from the logits."""
        return decode(DiffVox(**self.chain), self.layout.split(self.logits))

    def to_json(self) -> dict:
        variant = {"chain": self.chain} if self.chain else {}
        return {"format": FORMAT, "name": self.name, "source": self.source, **variant, **self.decode(),
                "logits": {k: v.tolist() for k, v in self.layout.split(self.logits).items()},
                "layout": {"keys": list(self.layout.keys),
                           "shapes": [list(s) for s in self.layout.shapes]}}

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the JSON file atomically; an existing file is replaced only with ``overwrite``."""
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"{path} is a folder; give a preset file name")
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        return write_text_atomic(path, json.dumps(self.to_json(), indent=1, allow_nan=False) + "\n")

    @classmethod
    def from_physical(cls, values: dict, name: str = "preset", chain: dict | None = None,
                      source: dict | None = None) -> "Preset":
        """A preset from physical values (the nested dict :meth:`decode` gives; derived fields
        such as ``attack_ms`` may be left out, or given instead of their source)."""
        return cls.from_json({"format": FORMAT, "name": name, "source": source or {},
                              **({"chain": chain} if chain else {}), **values})

    @classmethod
    def from_json(cls, data: dict) -> "Preset":
        """Read a preset: the physical values are the source of truth; ``logits`` are optional.
        Where a file has both and they disagree, the physical values win, with a warning naming
        the fields."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a diffvox preset (expected \"format\": \"{FORMAT}\")")
        chain = data.get("chain", {})
        if not isinstance(chain, dict) or not set(chain) <= {"delay", "reverb"} or not all(
                isinstance(v, bool) for v in chain.values()):
            raise ValueError('a preset\'s "chain" entry may only set "delay" and "reverb" to true/false')
        model = DiffVox(**chain)
        layout = Layout.of_chain(model)
        for effect in ("delay", "reverb"):
            if getattr(model, effect) is None and effect in data:
                raise ValueError(f"the preset's chain leaves out the {effect} (\"chain\": {{\"{effect}\": "
                                 f"false}}) but the file has a \"{effect}\" entry")
        _check_top_level(model, data)
        physical = encode(model, data)
        stored = cls._stored_logits(data, layout)
        entries = model.entries
        missing = [e.where() for e in entries if physical[e.key] is None]
        if stored is None and missing:
            raise ValueError(f"preset field {missing[0]} is missing"
                             + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        values = stored if stored is not None else {}
        if stored is not None:
            from_logits = decode(model, stored)
            moved = []
            for e in entries:
                given = physical[e.key]
                if given is None:
                    continue
                if not same_value(value_at(data, e.path), value_at(from_logits, e.path)):
                    moved.append(e.where())
                    values[e.key] = given
            if moved:
                warnings.warn(f"{data.get('name', 'preset')}: the physical values of {', '.join(moved)} "
                              "differ from the stored logits; using the physical values", stacklevel=2)
        else:
            values = physical
        return cls(layout.join(values), layout, str(data.get("name", "preset")),
                   data.get("source", {}) or {}, chain)

    @staticmethod
    def _stored_logits(data: dict, layout: Layout) -> dict | None:
        if "logits" not in data:
            return None
        if "layout" in data:
            keys = tuple(data["layout"].get("keys", ())) if isinstance(data["layout"], dict) else ()
            if keys != layout.keys:
                raise ValueError("the preset's \"layout\" does not match its chain's parameters; "
                                 "delete \"logits\" and \"layout\" to use the physical values alone")
        if not isinstance(data["logits"], dict):
            raise ValueError('a preset\'s "logits" entry must be an object {key: values}')
        from .preset_values import did_you_mean

        unknown = sorted(set(data["logits"]) - set(layout.keys))
        if unknown:
            raise ValueError(f"unknown key logits.{unknown[0]}{did_you_mean(unknown[0], layout.keys)}: "
                             "delete it (\"logits\" holds the chain's published keys)")
        return layout.split(layout.join(data["logits"]))

    @classmethod
    def load(cls, path: str | Path) -> "Preset":
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"{path} is a directory, not a preset JSON file")
        try:
            data = json.loads(path.read_text())
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not a preset JSON file (binary data: is it audio? the preset "
                             "comes first, e.g. `diffvox render medleydb:0 dry.wav out.wav`)") from None
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read preset {path}: {err}") from None
        return cls.from_json(data)


#: the fields of a preset file besides its effects' entries
FILE_FIELDS = ("format", "name", "source", "chain", "logits", "layout")


def _check_top_level(model: DiffVox, data: dict) -> None:
    """Unknown top-level fields (e.g. a typo such as ``direct_pann``) and nulls are refused."""
    from .preset_values import did_you_mean

    known = set(FILE_FIELDS) | {e.path[0] for e in model.entries} | {"delay", "reverb"}
    known |= {d.name for d in model.preset_contract().derived}
    for key in data:
        if key not in known:
            raise ValueError(f"unknown preset field {key!r}{did_you_mean(key, known)}; a preset file "
                             f"holds {', '.join(sorted(known))}")
    if not isinstance(data.get("name", ""), str):
        raise ValueError(f'a preset\'s "name" must be a string, got {data["name"]!r}')
    if not isinstance(data.get("source", {}), dict):
        raise ValueError('a preset\'s "source" must be an object')


@dataclass
class PresetDataset:
    """A published dataset: logits (n, 151), layout, mask, train rows and track names."""

    name: str
    logits: np.ndarray
    layout: Layout
    feature_mask: np.ndarray
    train_index: np.ndarray | None
    dry_files: list[str]
    wet_files: list[str]

    def __len__(self) -> int:
        return self.logits.shape[0]

    @property
    def masked(self) -> np.ndarray:
        """(n, 130) the dimensions that affect the output."""
        return self.logits[:, self.feature_mask]

    @property
    def train(self) -> np.ndarray:
        """Rows the paper analyses (all rows when the dataset has no train index)."""
        return self.logits if self.train_index is None else self.logits[self.train_index]

    def preset(self, index: int) -> Preset:
        """Row ``index`` (0..n-1); negative indices are refused, as :func:`load_preset` does."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"a preset index is an integer, got {type(index).__name__}")
        if not 0 <= index < len(self):
            raise IndexError(f"{self.name} has {len(self)} presets (0..{len(self) - 1}); got {index}")
        index = int(index)
        source = {"dataset": self.name, "row": index}
        if index < len(self.dry_files):
            source["dry_file"] = Path(self.dry_files[index]).name
        return Preset(self.logits[index].astype(np.float64), self.layout, f"{self.name}:{index}", source)


def load_dataset(name: str, root: str | Path | None = None) -> PresetDataset:
    """Load ``internal`` or ``medleydb`` from ``root`` (default :func:`presets_root`)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    directory = Path(root) if root is not None else presets_root()
    folder = directory / name
    if not (folder / "raw_params.npy").is_file():
        raise FileNotFoundError(f"no presets at {folder} (run `make data` or set DIFFVOX_PRESETS)")
    info = json.loads((folder / "info.json").read_text())
    layout = Layout(tuple(info["params_keys"]), tuple(tuple(s) for s in info["params_original_shapes"]))
    logits = np.load(folder / "raw_params.npy")
    if logits.ndim != 2 or logits.shape[1] != layout.width:
        raise ValueError(f"{folder / 'raw_params.npy'} has shape {logits.shape}, expected (n, {layout.width})")
    train = folder / "train_index.npy"
    return PresetDataset(name, logits, layout, np.load(folder / "feature_mask.npy"),
                         np.load(train) if train.is_file() else None,
                         list(info.get("dry_files", [])), list(info.get("wet_files", [])))


def load_preset(spec: str) -> Preset:
    """``medleydb:N``, ``internal:N`` or a path to a preset JSON file."""
    if not isinstance(spec, (str, Path)):
        raise TypeError(f"a preset is medleydb:N, internal:N or a .json path, got {type(spec).__name__}")
    spec = str(spec)
    if not spec.strip():
        raise ValueError("an empty preset name was given: use medleydb:N, internal:N or a .json file")
    match = re.fullmatch(r"(internal|medleydb):(-?\d+)", spec)
    if match:
        dataset, index = load_dataset(match.group(1)), int(match.group(2))
        if index < 0:  # medleydb:-1 would silently be row 69
            raise IndexError(f"{dataset.name} presets are numbered 0..{len(dataset) - 1}; got {index}")
        return dataset.preset(index)
    if Path(spec).suffix == ".json" or Path(spec).exists():
        if not Path(spec).exists():
            raise FileNotFoundError(f"no preset file {spec}")
        return Preset.load(spec)
    raise ValueError(f"unknown preset {spec!r}: use medleydb:N, internal:N or a .json file")
