"""The paper's notation for the 130 dimensions of a masked preset, and the effect of each."""
from __future__ import annotations

import numpy as np

from ..presets import CHAIN_KEYS, Layout

EQ_BANDS = ("PK1", "PK2", "LS", "HS", "LP", "HP")
FDN_EQ_BANDS = ("FDN.PK1", "FDN.PK2", "FDN.LS", "FDN.HS")
EFFECTS = ("PK1", "PK2", "LS", "HS", "LP", "HP", "COMP", "DLY", "FDN", "SEND", "PAN")

_COMPRESSOR = {"cmp_th": "CT", "exp_th": "ET", "make_up": "make-up", "lookahead": "lookahead",
               "at": "α_at", "rt": "α_rt", "avg_coef": "α_RMS", "cmp_ratio": "CR", "exp_ratio": "ER"}
_DELAY = {"delay": "d", "feedback": "γ_DLY", "gain": "g_DLY", "eq.freq": "f_DLY.LP",
          "eq.Q": "Q_DLY.LP", "odd_pan": "θ_DLY.odd", "even_pan": "θ_DLY.even"}
_BAND_PARAM = {"gain": "g", "freq": "f", "Q": "Q"}


def _names_of_key(key: str, shape: tuple[int, ...]) -> tuple[list[str], str, str]:
    """Names of one stored parameter's entries, its group (vector parameter) and its effect."""
    parts = key.replace(".parametrizations.", ".").removesuffix(".original").split(".")
    if parts[0] in "012345":  # the 6-band EQ
        band = EQ_BANDS[int(parts[0])]
        return [f"{_BAND_PARAM[parts[2]]}_{band}"], key, band
    if parts[0] == "6":
        return [_COMPRESSOR[parts[2]]], key, "COMP"
    if parts[:3] == ["7", "params", "sends_0"]:
        return ["send"], key, "SEND"
    if parts[:2] == ["7", "pan"]:
        return ["θ_PAN"], key, "PAN"
    if parts[:3] == ["7", "effects", "0"]:
        rest = ".".join(parts[3:]).replace("params.", "").removesuffix(".pan")
        return [_DELAY[rest]], key, "DLY"
    if parts[:3] == ["7", "effects", "1"]:
        if parts[3] == "eq":
            band = FDN_EQ_BANDS[int(parts[4])]
            return [f"{_BAND_PARAM[parts[6]]}_{band}"], key, "FDN"
        name = parts[-1]
        if name == "gamma":
            last = shape[0] - 1
            return [f"γ(e^{{iπ{k}/{last}}})" for k in range(shape[0])], key, "FDN"
        rows, cols = shape
        return [f"{name}_{i + 1},{j + 1}" for i in range(rows) for j in range(cols)], key, "FDN"
    raise KeyError(f"no name for preset key {key!r}")


def parameter_table(layout: Layout | None = None, mask: np.ndarray | None = None) -> list[dict]:
    """One dict per dimension (all 151, or the masked ones): ``name``, ``group`` (the stored
    parameter it belongs to), ``effect`` and ``index`` in the full row."""
    keys = layout.keys if layout is not None else tuple(k for k, _ in CHAIN_KEYS)
    shapes = layout.shapes if layout is not None else tuple(s for _, s in CHAIN_KEYS)
    rows = []
    for key, shape in zip(keys, shapes):
        names, group, effect = _names_of_key(key, tuple(shape))
        for name in names:
            rows.append({"name": name, "group": group, "effect": effect, "index": len(rows)})
    if mask is not None:
        if len(mask) != len(rows):
            raise ValueError(f"mask has {len(mask)} entries, the layout {len(rows)}")
        rows = [r for r, keep in zip(rows, mask) if keep]
    return rows


def parameter_names(layout: Layout | None = None, mask: np.ndarray | None = None) -> list[str]:
    return [r["name"] for r in parameter_table(layout, mask)]
