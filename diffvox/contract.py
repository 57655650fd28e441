"""What an effect promises about its preset: the fields of its JSON entry, their units and ranges,
the maps between its logits and those values, its keys in the published ``info.json`` and its
names in the paper's notation. Each effect class builds its :class:`Contract`; :mod:`diffvox.presets`
only walks the chain (:func:`walk`)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch


@dataclass(frozen=True)
class Range:
    """An interval of valid values; open at an end unless that end is ``closed``."""

    lo: float = -math.inf
    hi: float = math.inf
    lo_closed: bool = False
    hi_closed: bool = False

    def holds(self, values: np.ndarray) -> bool:
        v = np.asarray(values, dtype=np.float64)
        above = v >= self.lo if self.lo_closed else v > self.lo
        below = v <= self.hi if self.hi_closed else v < self.hi
        return bool(np.all(above & below))

    def __str__(self) -> str:
        if math.isinf(self.lo) and math.isinf(self.hi):
            return "any finite value"
        return f"{'[' if self.lo_closed else '('}{self.lo:g}, {self.hi:g}{']' if self.hi_closed else ')'}"


ANY = Range()


def _identity(z: torch.Tensor) -> torch.Tensor:
    return z


@dataclass(frozen=True)
class Field:
    """One stored parameter of an effect and its physical value.

    ``param``: the parameter's name (the end of its published key); ``name``: its JSON field;
    ``shape``: the logits' shape in one preset (the published row's); ``init``: the value a new
    chain starts from (physical, as ``to_value`` gives it); ``to_value`` maps logits (..., *shape)
    to values (..., *value shape), any leading batch dims, ``to_logit`` back; ``stored``:
    True when the published row holds it as ``params.<param>`` (identity), False for
    ``params.parametrizations.<param>.original``; ``notation``: the paper's name, ``{}`` standing
    for the effect's label (a callable gives one name per entry of an array); ``check`` returns
    an error text for a value that is in range but still invalid (e.g. a matrix not orthogonal).
    """

    param: str
    name: str
    unit: str = ""
    range: Range = ANY
    to_value: Callable[[torch.Tensor], torch.Tensor] = _identity
    to_logit: Callable[[torch.Tensor], torch.Tensor] = _identity
    stored: bool = False
    notation: str | Callable[[tuple[int, ...]], list[str]] = ""
    check: Callable[[np.ndarray], str | None] | None = None
    effect: str = ""  # overrides the section's effect group (the chain's send)
    stored_name: str = ""  # the published key's name when it is not ``param``, e.g. "7.sends_0"
    shape: tuple[int, ...] = ()
    init: Any = 0.0

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def init_logits(self) -> torch.Tensor:
        """The logits (shape) of ``init``, float64."""
        z = self.to_logit(torch.as_tensor(self.init, dtype=torch.float64))
        return torch.as_tensor(z, dtype=torch.float64).reshape(self.shape)

    def key(self) -> str:
        """The key's end in the published ``info.json``; "7.sends_0" gives "7.params....sends_0..."."""
        head, _, name = (self.stored_name or self.param).rpartition(".")
        head = f"{head}." if head else ""
        return f"{head}params.{name}" if self.stored else f"{head}params.parametrizations.{name}.original"

    def names(self, label: str, shape: tuple[int, ...]) -> list[str]:
        if callable(self.notation):
            return self.notation(shape)
        return [self.notation.format(label)]


@dataclass(frozen=True)
class Derived:
    """A field computed from the others (redundant, e.g. ``attack_ms`` from ``at_coef``) or fixed
    (e.g. a shelf's Q). A file may hold it; it must then agree. With ``inverse`` it may stand in
    for ``replaces`` when a hand-written file gives only it."""

    name: str
    unit: str
    of: Callable[[dict], Any]
    replaces: str | None = None
    inverse: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Child:
    """An effect held by another: its JSON entry ``name`` (``name[]``: the next element of a
    list, e.g. EQ bands), the module, the prefix of its published keys and its notation label."""

    name: str
    module: Any
    prefix: str
    label: str = ""


@dataclass(frozen=True)
class Contract:
    """An effect's fields and children (``items``, in the published row's order), its derived
    fields, and the paper's effect group (PK1, COMP, DLY, ...; empty: the parent's, else the
    label)."""

    items: tuple[Field | Child, ...] = ()
    derived: tuple[Derived, ...] = ()
    effect: str = ""


@dataclass(frozen=True)
class Entry:
    """A field found by :func:`walk`: where its value sits in the JSON (``path``), its key in the
    published row, the module and the paper's names and effect group."""

    path: tuple
    field: Field
    module: Any
    key: str
    label: str
    effect: str

    @property
    def shape(self) -> tuple[int, ...]:
        return self.field.shape

    def where(self) -> str:
        return path_text(self.path)


def path_text(path: tuple) -> str:
    """("eq", 0, "freq_hz") -> "eq[0].freq_hz"."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass
class Section:
    """An effect's place in the JSON: its path, contract and entries (for derived fields)."""

    path: tuple
    contract: Contract
    entries: list[Entry] = field(default_factory=list)


def walk(module, path: tuple = (), prefix: str = "", label: str = "", effect: str = "",
         sections: list[Section] | None = None) -> tuple[list[Entry], list[Section]]:
    """Every field of ``module`` and its children, in the published row's order."""
    sections = [] if sections is None else sections
    contract: Contract = module.preset_contract()
    effect = contract.effect or effect
    section = Section(path, contract)
    sections.append(section)
    entries: list[Entry] = []
    counters: dict[str, int] = {}
    for item in contract.items:
        if isinstance(item, Field):
            entry = Entry(path + (item.name,), item, module, prefix + item.key(), label,
                          item.effect or effect or label)
            section.entries.append(entry)
            entries.append(entry)
            continue
        if item.module is None:
            continue
        name = item.name
        if name.endswith("[]"):
            name = name[:-2]
            counters[name] = counters.get(name, -1) + 1
            child_path = path + (name, counters[name])
        else:
            child_path = path + (name,)
        found, _ = walk(item.module, child_path, prefix + item.prefix, item.label or label, effect,
                        sections)
        entries.extend(found)
    return entries, sections


def matrix_notation(symbol: str) -> Callable[[tuple[int, ...]], list[str]]:
    """Names ``symbol_i,j`` (1-based) of a matrix's entries, row-major."""
    def names(shape: tuple[int, ...]) -> list[str]:
        rows, cols = shape
        return [f"{symbol}_{i + 1},{j + 1}" for i in range(rows) for j in range(cols)]
    return names
