"""Spearman correlations between preset parameters, pair tables and the effect-wise matrix."""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.cluster.hierarchy
import scipy.spatial.distance
import scipy.stats

from .names import EFFECTS

# left out of the pair table, as in the paper: the FDN's input/output gains and matrix
EXCLUDED_FROM_PAIRS = ("b_", "c_", "U_")


def spearman_matrix(x: np.ndarray) -> np.ndarray:
    """(n, d) -> (d, d) Spearman rank correlation; constant columns give NaN rows."""
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or x.shape[0] < 3:
        raise ValueError(f"need an (n >= 3, d) array of presets, got shape {x.shape}")
    return np.atleast_2d(scipy.stats.spearmanr(x).statistic)


def pair_table(scc: np.ndarray, scc_other: np.ndarray, table: list[dict], top: int = 10) -> pd.DataFrame:
    """The ``top`` parameter pairs by |SCC| on one dataset, with their SCC on the other.

    ``table``: :func:`~diffvox.analysis.names.parameter_table` rows of the columns. Pairs within
    one stored parameter (e.g. two decay bands) and pairs with b, c or U are left out.
    """
    keep = [i for i, r in enumerate(table) if not r["name"].startswith(EXCLUDED_FROM_PAIRS)]
    rows = []
    for a_pos, a in enumerate(keep):
        for b in keep[a_pos + 1 :]:
            if table[a]["group"] == table[b]["group"]:
                continue
            rows.append((table[a]["name"], table[b]["name"], scc[a, b], scc_other[a, b]))
    frame = pd.DataFrame(rows, columns=["param_a", "param_b", "scc", "scc_other"])
    frame = frame.reindex(frame["scc"].abs().sort_values(ascending=False, kind="stable").index)
    frame = frame.head(top).reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame


def effect_matrix(scc: np.ndarray, table: list[dict], effects=EFFECTS) -> pd.DataFrame:
    """Mean |SCC| over the parameter pairs of two effects (diagonal: distinct pairs within one
    effect, NaN for one-parameter effects), rows and columns ordered by average-linkage
    hierarchical clustering of ``1 - matrix``."""
    groups = {e: [i for i, r in enumerate(table) if r["effect"] == e] for e in effects}
    groups = {e: idx for e, idx in groups.items() if idx}
    names = list(groups)
    m = np.full((len(names), len(names)), np.nan)
    absolute = np.abs(scc)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            block = absolute[np.ix_(groups[a], groups[b])]
            if a == b:
                off = block[~np.eye(len(block), dtype=bool)]
                m[i, j] = np.nanmean(off) if off.size else np.nan
            else:
                m[i, j] = np.nanmean(block)
    distance = 1 - np.where(np.isnan(m), 1.0, m)
    np.fill_diagonal(distance, 0)
    linkage = scipy.cluster.hierarchy.linkage(scipy.spatial.distance.squareform(distance, checks=False),
                                              "average")
    order = scipy.cluster.hierarchy.leaves_list(linkage)
    ordered = [names[i] for i in order]
    return pd.DataFrame(m, index=names, columns=names).loc[ordered, ordered]
