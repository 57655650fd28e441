"""A chain's physical values <-> its logits, by walking the effects' contracts
(:mod:`diffvox.contract`): ``decode`` writes the nested JSON dict of a preset's values, ``encode``
reads one back, checking every field (present, finite, in range, agreeing with its derived fields)
and naming the field in one line when it is not."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .contract import Entry, path_text, walk

#: values agreeing to these tolerances are the same: files written from float32 parameters
#: (older diffvox, or a chain's float32 values) agree with the float64 decoding to about 1e-7
#: relative, and entries of the FDN matrix to about 1e-7 absolute
RTOL, ATOL = 1e-6, 1e-6


def _json(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().tolist()
    if isinstance(value, np.ndarray):
        return value.astype(np.float64).tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def value_at(obj: Any, path: tuple) -> Any:
    """The value at ``path`` in a nested dict/list (``obj`` for an empty path), or None."""
    for part in path:
        if isinstance(part, int):
            if not isinstance(obj, list) or part >= len(obj):
                return None
        elif not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _set(obj: dict, path: tuple, value: Any) -> None:
    for part, after in zip(path[:-1], path[1:]):
        empty = [] if isinstance(after, int) else {}
        if isinstance(part, int):
            while len(obj) <= part:
                obj.append(empty)
        elif part not in obj:
            obj[part] = empty
        obj = obj[part]
    obj[path[-1]] = value


def decode(model, logits: dict[str, np.ndarray]) -> dict:
    """Nested dict of the physical values of ``logits`` ({published key: array}) for ``model``'s
    effects, derived fields included (those that overflow, such as the time of a coefficient of
    1e-300, are left out); computed in float64."""
    _, sections = walk(model)
    out: dict = {}
    for section in sections:
        values = {}
        for entry in section.entries:
            z = torch.as_tensor(np.asarray(logits[entry.key]), dtype=torch.float64)
            value = entry.field.to_value(z.reshape(entry.shape))
            values[entry.field.name] = _json(value)
            _set(out, entry.path, values[entry.field.name])
        for derived in section.contract.derived:
            value = _json(derived.of(values))
            if isinstance(value, str) or np.isfinite(np.asarray(value, dtype=np.float64)).all():
                _set(out, section.path + (derived.name,), value)  # e.g. a time from a coefficient of 1e-300 is left out
    return out


def same_value(a: Any, b: Any) -> bool:
    """Equal strings, or numbers/arrays of one shape equal to RTOL, ATOL."""
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    try:
        x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return x.shape == y.shape and bool(np.allclose(x, y, rtol=RTOL, atol=ATOL))


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return "[...]" if len(str(value)) > 40 else str(value)
    return repr(value)


def _finite(obj: Any, path: tuple = ()) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            _finite(value, path + (key,))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            _finite(value, path + (i,))
    elif isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"preset field {path_text(path)} is {obj}: every value must be finite")


def encode(model, data: dict) -> dict[str, np.ndarray | None]:
    """{published key: float64 logits, or None where ``data`` lacks the field} for ``model``'s
    effects, from the physical values in ``data``. A one-line ValueError for a value that is not
    finite, has the wrong shape, lies outside its range, or disagrees with a derived field."""
    _finite(data)
    entries, sections = walk(model)
    out: dict[str, np.ndarray | None] = {}
    for section in sections:
        where = path_text(section.path) or "the preset"
        obj = value_at(data, section.path)
        if section.path and obj is None:
            out.update({e.key: None for e in section.entries})
            continue
        if not isinstance(obj, dict):
            raise ValueError(f"preset entry {where} must be an object with its fields")
        known = {e.field.name for e in section.entries} | {d.name for d in section.contract.derived}
        if section.path:
            children = {p for e in entries if e.path[:len(section.path)] == section.path
                        for p in [e.path[len(section.path)]]}
            unknown = sorted(set(obj) - known - children)
            if unknown:
                raise ValueError(f"unknown field {where}.{unknown[0]} (fields here: "
                                 f"{', '.join(sorted(known))})")
        given = dict(obj)
        for derived in section.contract.derived:  # a derived field standing in for its source
            if derived.replaces and derived.replaces not in given and derived.name in given:
                given[derived.replaces] = derived.inverse(given[derived.name])
        values = {}
        for entry in section.entries:
            value = given.get(entry.field.name)
            if value is None:
                out[entry.key] = None
                continue
            out[entry.key] = _logits(entry, value)
            values[entry.field.name] = value
        for derived in section.contract.derived:
            if derived.name not in obj or (derived.replaces and derived.replaces not in values):
                continue
            expected = _json(derived.of(values))
            if not same_value(obj[derived.name], expected):
                field = path_text(section.path + (derived.name,))
                if derived.replaces:
                    source = path_text(section.path + (derived.replaces,))
                    raise ValueError(f"preset fields {field} = {_short(obj[derived.name])} and {source} = "
                                     f"{_short(values[derived.replaces])} disagree (that {derived.replaces} "
                                     f"means {_short(expected)}): edit one and delete the other")
                raise ValueError(f"preset field {field} is {_short(obj[derived.name])}; it must be "
                                 f"{_short(expected)}")
    return out


def _logits(entry: Entry, value: Any) -> np.ndarray:
    field, where = entry.field, entry.where()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"preset field {where} must be a number or an array of numbers, "
                         f"got {_short(value)}") from None
    expected = tuple(field.to_value(torch.zeros(entry.shape, dtype=torch.float64)).shape)
    if array.shape != expected:
        raise ValueError(f"preset field {where} must have shape {list(expected)}, got {list(array.shape)}")
    if not field.range.holds(array):
        bad = array.flat[int(np.argmax(~_inside(field.range, array)))] if array.ndim else float(array)
        unit = f" {field.unit}" if field.unit else ""
        raise ValueError(f"preset field {where} = {bad:.6g}{unit} is outside its range {field.range}{unit}")
    if field.check is not None:
        problem = field.check(array)
        if problem:
            raise ValueError(f"preset field {where}: {problem}")
    logits = field.to_logit(torch.from_numpy(array)).double().reshape(entry.shape)
    back = field.to_value(logits).numpy()
    # the chain must represent the value: a map that saturates (a coefficient kept eps inside
    # (0, 1)) turns a value nearer its end into another one
    represented = field.check is not None or bool(np.allclose(back, array, rtol=RTOL, atol=1e-300))
    if not (np.isfinite(logits.numpy()).all() and field.range.holds(back) and represented):
        raise ValueError(f"preset field {where} = {_short(value)} is too close to an end of its range "
                         f"{field.range} to be stored")
    return logits.numpy()


def _inside(valid, array: np.ndarray) -> np.ndarray:
    return np.array([valid.holds(v) for v in array.flat]).reshape(array.shape)


def describe(model, values: dict) -> list[str]:
    """One line per effect of ``values`` (as :func:`decode` gives them), fields with units."""
    _, sections = walk(model)
    lines = []
    for section in sections:
        obj = value_at(values, section.path)
        if obj is None:
            continue
        parts = []
        units = {e.field.name: e.field.unit for e in section.entries}
        units.update({d.name: d.unit for d in section.contract.derived})
        for name, unit in units.items():
            value = obj.get(name)
            if value is None or name == "type":
                continue
            parts.append(f"{name} {_value_text(value)}{' ' + unit if unit else ''}")
        head = path_text(section.path) or "chain"
        if "type" in obj:
            head += f" ({obj['type']})"
        lines.append(f"  {head:22s} " + "  ".join(parts))
    return lines


def _value_text(value: Any) -> str:
    if isinstance(value, (int, float)):
        return f"{value:.6g}"
    flat = np.asarray(value, dtype=np.float64)
    return f"{'x'.join(map(str, flat.shape))} values in [{flat.min():.4g}, {flat.max():.4g}]"
