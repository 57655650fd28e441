"""The paper's notation for the dimensions of a preset row, and the effect of each; the names
come from the effects' contracts (:mod:`diffvox.contract`)."""
from __future__ import annotations

import numpy as np

from ..chain import DiffVox
from ..contract import walk
from ..presets import Layout

EFFECTS = ("PK1", "PK2", "LS", "HS", "LP", "HP", "COMP", "DLY", "FDN", "SEND", "PAN")


def parameter_table(layout: Layout | None = None, mask: np.ndarray | None = None) -> list[dict]:
    """One dict per dimension (all 151, or the masked ones): ``name``, ``group`` (the stored
    parameter it belongs to), ``effect`` and ``index`` in the full row."""
    by_key = {e.key: e for e in walk(DiffVox())[0]}
    keys = layout.keys if layout is not None else tuple(by_key)
    rows = []
    for key in keys:
        if key not in by_key:
            raise KeyError(f"no name for preset key {key!r}")
        entry = by_key[key]
        for name in entry.field.names(entry.label, tuple(entry.shape)):
            rows.append({"name": name, "group": key, "effect": entry.effect, "index": len(rows)})
    if mask is not None:
        if len(mask) != len(rows):
            raise ValueError(f"mask has {len(mask)} entries, the layout {len(rows)}")
        rows = [r for r, keep in zip(rows, mask) if keep]
    return rows


def parameter_names(layout: Layout | None = None, mask: np.ndarray | None = None) -> list[str]:
    return [r["name"] for r in parameter_table(layout, mask)]
