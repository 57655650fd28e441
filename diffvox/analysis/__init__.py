"""Analysis of the published presets: names, Spearman correlations, PCA, normality tests and
generative models. The paper analyses Internal's 365 train rows and MedleyDB's 70 rows, on the
130 dimensions that affect the output (logits)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..presets import DATASETS, load_dataset
from .correlations import effect_matrix, pair_table, spearman_matrix
from .names import EFFECTS, parameter_names, parameter_table
from .pca import PCA, components_for, summary, variance_ratio_on

__all__ = ["DATASETS", "EFFECTS", "PCA", "analysed_rows", "components_for", "correlation_table",
           "effect_matrix", "pair_table", "parameter_names", "parameter_table", "pca_summary",
           "spearman_matrix", "summary", "variance_ratio_on"]


def analysed_rows(name: str) -> np.ndarray:
    """(n, 130) float64 logits the paper analyses: Internal's train rows, all of MedleyDB."""
    ds = load_dataset(name)
    return ds.train[:, ds.feature_mask].astype(np.float64)


def _other(name: str) -> str:
    return next(d for d in DATASETS if d != name)


def correlation_table(dataset: str = "internal", top: int = 10) -> pd.DataFrame:
    """``rank, param_a, param_b, scc, scc_other``: the strongest pairs on ``dataset``."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    if top < 1:
        raise ValueError(f"--top must be at least 1, got {top}")
    ds = load_dataset(dataset)
    table = parameter_table(ds.layout, ds.feature_mask)
    return pair_table(spearman_matrix(analysed_rows(dataset)),
                      spearman_matrix(analysed_rows(_other(dataset))), table, top)


def pca_summary(dataset: str = "internal", projected_on: str | None = None) -> dict:
    """Explained and cumulative variance ratios and the share of components for 99 % of
    ``dataset``; with ``projected_on``, of ``dataset`` along that dataset's components."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    x = analysed_rows(dataset)
    if projected_on is None:
        return summary(PCA.fit(x).explained_variance_ratio)
    return summary(variance_ratio_on(PCA.fit(analysed_rows(projected_on)), x))
