"""The published preset datasets and the preset format.

A dataset directory (``$DIFFVOX_PRESETS/<name>``, default ``data/presets``) holds
``raw_params.npy`` (n, 151) logits, ``info.json`` (layout and source tracks),
``feature_mask.npy`` (the 130 dimensions that matter) and, for ``internal``, ``train_index.npy``.
A :class:`Preset` converts between the 151-logit row, the 130-dim masked form, a
:class:`~diffvox.DiffVox` chain and a human-readable JSON file.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .chain import DiffVox
from .fileio import write_text_atomic
from .functional.fdn import DELAYS, t60_seconds
from .params import coef_to_ms

DATASETS = ("internal", "medleydb")
FORMAT = "diffvox-preset/1"
_ROOT = Path(__file__).resolve().parents[1]

# original parameter key (info.json) -> parameter name in DiffVox
_KEY_RULES = (
    (r"^([0-5])\.params\.(\w+)$", r"eq.bands.\1.\2"),
    (r"^6\.params\.(\w+)$", r"compressor.\1"),
    (r"^7\.params\.sends_0$", "send"),
    (r"^7\.effects\.0\.params\.(\w+)$", r"delay.\1"),
    (r"^7\.effects\.0\.eq\.params\.(\w+)$", r"delay.eq.\1"),
    (r"^7\.effects\.0\.(odd|even)_pan\.params\.pan$", r"delay.\1_pan.pan"),
    (r"^7\.effects\.1\.params\.(\w+)$", r"reverb.\1"),
    (r"^7\.effects\.1\.eq\.([0-3])\.params\.(\w+)$", r"reverb.eq.bands.\1.\2"),
    (r"^7\.pan\.params\.pan$", "pan.pan"),
)


# the published 151-logit row: keys (original names) and shapes, in chain order
CHAIN_KEYS: tuple[tuple[str, tuple[int, ...]], ...] = (
    *[kv for i, names in enumerate(["gfQ", "gfQ", "gf", "gf", "fQ", "fQ"])
      for kv in ([(f"{i}.params.gain", ())] if "g" in names else [])
      + [(f"{i}.params.parametrizations.freq.original", ())]
      + ([(f"{i}.params.parametrizations.Q.original", ())] if "Q" in names else [])],
    ("6.params.cmp_th", ()), ("6.params.exp_th", ()), ("6.params.make_up", ()),
    ("6.params.parametrizations.lookahead.original", (1,)),
    *[(f"6.params.parametrizations.{k}.original", ())
      for k in ("at", "rt", "avg_coef", "cmp_ratio", "exp_ratio")],
    ("7.params.parametrizations.sends_0.original", (1,)),
    *[(f"7.effects.0.params.parametrizations.{k}.original", ()) for k in ("delay", "feedback", "gain")],
    ("7.effects.0.eq.params.parametrizations.freq.original", ()),
    ("7.effects.0.eq.params.parametrizations.Q.original", ()),
    ("7.effects.0.odd_pan.params.parametrizations.pan.original", ()),
    ("7.effects.0.even_pan.params.parametrizations.pan.original", ()),
    ("7.effects.1.params.b", (6, 2)), ("7.effects.1.params.c", (2, 6)),
    ("7.effects.1.params.parametrizations.gamma.original", (49, 1)),
    ("7.effects.1.params.parametrizations.U.original", (6, 6)),
    *[kv for i, names in enumerate(["gfQ", "gfQ", "gf", "gf"])
      for kv in [(f"7.effects.1.eq.{i}.params.gain", ()),
                 (f"7.effects.1.eq.{i}.params.parametrizations.freq.original", ())]
      + ([(f"7.effects.1.eq.{i}.params.parametrizations.Q.original", ())] if "Q" in names else [])],
    ("7.pan.params.parametrizations.pan.original", ()),
)


def chain_parameter_name(key: str) -> str:
    """Map an original key (e.g. ``6.params.parametrizations.at.original``) to ours."""
    short = key.replace(".parametrizations.", ".").removesuffix(".original")
    for pattern, repl in _KEY_RULES:
        if re.match(pattern, short):
            return re.sub(pattern, repl, short)
    raise KeyError(f"unknown preset parameter key {key!r}")


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
        """The published layout, less the keys of effects that ``model`` (a variant) leaves out."""
        names = dict(model.named_parameters())
        kept = [(k, s) for k, s in CHAIN_KEYS if chain_parameter_name(k) in names]
        return cls(tuple(k for k, _ in kept), tuple(s for _, s in kept))


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
        values = self.layout.split(self.logits)
        with torch.no_grad():
            for key, value in values.items():
                name = chain_parameter_name(key)
                try:
                    param = model.get_parameter(name)
                except AttributeError:
                    continue  # an effect this variant of the chain leaves out
                param.copy_(torch.as_tensor(value, dtype=param.dtype).reshape(param.shape))
        return model

    @classmethod
    def from_chain(cls, model: DiffVox, layout: Layout | None = None,
                   name: str = "preset") -> "Preset":
        """The preset of ``model``'s current parameters (layout: :meth:`Layout.of_chain`)."""
        layout = layout if layout is not None else Layout.of_chain(model)
        values = {k: model.get_parameter(chain_parameter_name(k)).detach().cpu().double().numpy()
                  .reshape(s) for k, s in zip(layout.keys, layout.shapes)}
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
        """Every physical value with its unit (nested dict of floats and lists)."""
        model = self.to_chain().eval()
        return decode_chain(model)

    def to_json(self) -> dict:
        variant = {"chain": self.chain} if self.chain else {}
        return {"format": FORMAT, "name": self.name, "source": self.source, **variant, **self.decode(),
                "logits": {k: v.tolist() for k, v in self.layout.split(self.logits).items()},
                "layout": {"keys": list(self.layout.keys),
                           "shapes": [list(s) for s in self.layout.shapes]}}

    def save(self, path: str | Path) -> Path:
        """Write the JSON file atomically."""
        return write_text_atomic(path, json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def from_json(cls, data: dict) -> "Preset":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a diffvox preset (expected \"format\": \"{FORMAT}\")")
        for needed in ("logits", "layout"):
            if needed not in data:
                raise ValueError(f"preset JSON lacks the {needed!r} entry")
        layout = Layout(tuple(data["layout"]["keys"]),
                        tuple(tuple(s) for s in data["layout"]["shapes"]))
        for key in layout.keys:
            chain_parameter_name(key)  # unknown keys fail here
        chain = data.get("chain", {})
        if not isinstance(chain, dict) or not set(chain) <= {"delay", "reverb"} or not all(
                isinstance(v, bool) for v in chain.values()):
            raise ValueError('a preset\'s "chain" entry may only set "delay" and "reverb" to true/false')
        return cls(layout.join(data["logits"]), layout, data.get("name", "preset"),
                   data.get("source", {}), chain)

    @classmethod
    def load(cls, path: str | Path) -> "Preset":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not a preset JSON file (binary data: is it audio? the preset "
                             "comes first, e.g. `diffvox render medleydb:0 dry.wav out.wav`)") from None
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read preset {path}: {err}") from None
        return cls.from_json(data)


def _band(band) -> dict:
    p = {k: float(v.detach()) for k, v in band.physical().items()}
    out = {"type": band.kind, "freq_hz": p["freq"], "Q": p["Q"]}
    if band.has_gain:
        out["gain_db"] = p["gain"]
    return out


def _pan(pan) -> dict:
    p = float(pan.value().detach())
    return {"pan": p, "pan_percent": 200 * p - 100}


@torch.no_grad()
def decode_chain(model: DiffVox) -> dict:
    """Physical values of a chain's parameters, with units in the key names."""
    sr = model.sr
    c = {k: v.detach().double() for k, v in model.compressor.physical().items()}
    ms = lambda coef: float(coef_to_ms(coef, sr))  # noqa: E731
    out = {
        "sample_rate_hz": sr,
        "eq": [_band(b) for b in model.eq.bands],
        "compressor": {
            "cmp_th_db": float(c["cmp_th"]), "cmp_ratio": float(c["cmp_ratio"]),
            "exp_th_db": float(c["exp_th"]), "exp_ratio": float(c["exp_ratio"]),
            "make_up_db": float(c["make_up"]),
            "attack_ms": ms(c["at"]), "release_ms": ms(c["rt"]), "rms_average_ms": ms(c["avg_coef"]),
            "at_coef": float(c["at"]), "rt_coef": float(c["rt"]), "avg_coef": float(c["avg_coef"]),
            "lookahead_ms": float(c["lookahead_ms"]),
        },
        "direct_pan": _pan(model.pan),
    }
    if model.delay is not None:
        d = model.delay
        out["delay"] = {"delay_ms": float(d.delay_ms()), "feedback": float(torch.sigmoid(d.feedback)),
                        "gain": float(torch.sigmoid(d.gain)), "lowpass": _band(d.eq),
                        "odd_pan": _pan(d.odd_pan), "even_pan": _pan(d.even_pan)}
    if model.send is not None:
        out["send_delay_to_reverb"] = float(torch.sigmoid(model.send))
    if model.reverb is not None:
        r = model.reverb
        gamma = r.decay().detach().double()
        n_bands = gamma.shape[0]
        out["reverb"] = {
            "delays_samples": list(DELAYS),
            "b": r.b.detach().double().tolist(), "c": r.c.detach().double().tolist(),
            "U": r.feedback_matrix().detach().double().tolist(),
            "decay_freqs_hz": [sr / 2 * k / (n_bands - 1) for k in range(n_bands)],
            "decay_gamma": gamma.tolist(),
            "t60_s": t60_seconds(gamma, sr).tolist(),
            "eq": [_band(b) for b in r.eq.bands],
        }
    return out


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
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.name} has {len(self)} presets (0..{len(self) - 1}); got {index}")
        index %= len(self)
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
    match = re.fullmatch(r"(internal|medleydb):(-?\d+)", spec)
    if match:
        dataset, index = load_dataset(match.group(1)), int(match.group(2))
        if index < 0:  # medleydb:-1 would silently be row 69
            raise IndexError(f"{dataset.name} presets are numbered 0..{len(dataset) - 1}; got {index}")
        return dataset.preset(index)
    if Path(spec).suffix == ".json" or Path(spec).exists():
        return Preset.load(spec)
    raise ValueError(f"unknown preset {spec!r}: use medleydb:N, internal:N or a .json file")
