"""Principal components of the 130-dim preset logits (covariance eigendecomposition)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PCA:
    """Components of (n, d) data: ``mean`` (d,), ``variances`` (d,) descending, ``components``
    (d, d) with one unit eigenvector per column, and ``rank``: the number of components that can
    carry variance, ``min(n - 1, d)`` (69 for MedleyDB's 70 presets)."""

    mean: np.ndarray
    variances: np.ndarray
    components: np.ndarray
    rank: int

    @classmethod
    def fit(cls, x: np.ndarray) -> "PCA":
        x = np.asarray(x, np.float64)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"PCA needs an (n >= 2, d) array, got shape {x.shape}")
        mean = x.mean(axis=0)
        values, vectors = np.linalg.eigh(np.cov(x, rowvar=False))
        order = np.argsort(values)[::-1]
        values, vectors = np.clip(values[order], 0, None), vectors[:, order]
        # fix each eigenvector's sign: its largest-magnitude entry is positive
        signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])])
        return cls(mean, values, vectors * signs, min(x.shape[0] - 1, x.shape[1]))

    @property
    def explained_variance_ratio(self) -> np.ndarray:
        """(rank,) share of the total variance along each component that can carry any."""
        return self.variances[: self.rank] / self.variances.sum()

    def project(self, x: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
        """(n, d) -> (n, d) coordinates on the components (centred on ``centre``, default own mean)."""
        centre = self.mean if centre is None else centre
        return (np.asarray(x, np.float64) - centre) @ self.components

    def whiten(self, x: np.ndarray, k: int) -> np.ndarray:
        """(n, d) -> (n, k): the first k coordinates divided by their standard deviations."""
        return self.project(x)[:, :k] / np.sqrt(self.variances[:k])

    def along(self, component: int, sigmas: float) -> np.ndarray:
        """The point ``mean + sigmas * sqrt(variance) * component`` (d,)."""
        return self.mean + sigmas * np.sqrt(self.variances[component]) * self.components[:, component]


def variance_ratio_on(pca: PCA, x: np.ndarray) -> np.ndarray:
    """(d,) share of ``x``'s total squared deviation from ``pca``'s mean along each of ``pca``'s
    components: another dataset seen in this one's frame (the paper's "MedleyDB on Internal's
    PCA": centred on Internal's mean, projected on Internal's components). On ``pca``'s own data
    this is its explained variance ratio."""
    second_moment = np.square(pca.project(x)).mean(axis=0)
    return second_moment / second_moment.sum()


def components_for(ratio: np.ndarray, level: float = 0.99) -> int:
    """Fewest leading components whose cumulative share reaches ``level``."""
    return int(np.searchsorted(np.cumsum(ratio), level - 1e-12) + 1)


def summary(ratio: np.ndarray, level: float = 0.99) -> dict:
    """``explained_variance_ratio``, ``cumulative``, ``components_for_99`` and ``share_for_99``."""
    k = components_for(ratio, level)
    return {"explained_variance_ratio": ratio.tolist(), "cumulative": np.cumsum(ratio).tolist(),
            "components_for_99": k, "share_for_99": k / len(ratio)}
