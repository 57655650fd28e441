"""The preset prior: a Gaussian over the 130 masked logit dimensions of the Internal presets.

Mean and unbiased (ddof 1) covariance of the training rows (``train_index.npy``, 365 presets),
as the authors' published ``gaussian.npz``:

    log p(x) = -0.5 ((x - mu)^T C^-1 (x - mu) + log det C + d log 2 pi).

It differs from :class:`diffvox.analysis.generative.Gaussian`, which takes the biased covariance
plus a ridge (the PCA chapter's model).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..presets import Preset, load_dataset, presets_root


@dataclass
class PresetPrior:
    """N(mean, cov) over masked logits; ``mask`` (151,) and ``layout`` turn a vector into a
    :class:`~diffvox.presets.Preset`."""

    mean: np.ndarray
    cov: np.ndarray
    mask: np.ndarray
    layout: object
    rows: np.ndarray | None = None  # the training presets (n, 130), for the nearest-neighbour baselines

    def __post_init__(self):
        self.mean = np.asarray(self.mean, np.float64)
        self.cov = np.asarray(self.cov, np.float64)
        d = self.mean.shape[0]
        if self.cov.shape != (d, d):
            raise ValueError(f"the prior's covariance has shape {self.cov.shape}, expected ({d}, {d})")
        self.chol = np.linalg.cholesky(self.cov)  # fails loudly if not positive definite
        self.logdet = 2.0 * float(np.log(np.diag(self.chol)).sum())

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    @classmethod
    def fit(cls, rows: np.ndarray, mask: np.ndarray, layout) -> "PresetPrior":
        """Mean and ddof-1 covariance of ``rows`` (n, 130), in float64."""
        x = np.asarray(rows, np.float64)
        if x.ndim != 2 or x.shape[0] <= x.shape[1]:
            raise ValueError(f"fitting a {x.shape[-1]}-dim Gaussian needs more rows than dimensions, "
                             f"got shape {x.shape}")
        return cls(x.mean(0), np.cov(x, rowvar=False, ddof=1), mask, layout, x)

    @classmethod
    def internal(cls, root: str | Path | None = None) -> "PresetPrior":
        """Fitted to the Internal presets' training rows."""
        ds = load_dataset("internal", root)
        if ds.train_index is None:
            raise FileNotFoundError("the internal presets lack train_index.npy (run `make data`)")
        return cls.fit(ds.logits[ds.train_index][:, ds.feature_mask], ds.feature_mask, ds.layout)

    @staticmethod
    def published(root: str | Path | None = None) -> dict[str, np.ndarray]:
        """The authors' ``internal/gaussian.npz`` (mean, cov), when the data folder has it."""
        path = Path(root if root is not None else presets_root()) / "internal" / "gaussian.npz"
        if not path.is_file():
            raise FileNotFoundError(f"no {path} (run `make data`)")
        with np.load(path) as data:
            return {"mean": data["mean"], "cov": data["cov"]}

    # --- density -------------------------------------------------------------------------------
    def log_prob(self, x):
        """log p(x) for x (..., d): a numpy array (float64 result) or a torch tensor
        (differentiable, in x's dtype and device)."""
        if isinstance(x, torch.Tensor):
            chol = torch.as_tensor(self.chol, dtype=x.dtype, device=x.device)
            diff = (x - torch.as_tensor(self.mean, dtype=x.dtype, device=x.device)).unsqueeze(-1)
            z = torch.linalg.solve_triangular(chol, diff, upper=False).squeeze(-1)
            return -0.5 * (z.square().sum(-1) + self.logdet + self.dim * math.log(2 * math.pi))
        x = np.asarray(x, np.float64)
        diff = x - self.mean
        z = np.linalg.solve(self.chol, diff.reshape(-1, self.dim).T).T.reshape(diff.shape)
        return -0.5 * ((z**2).sum(-1) + self.logdet + self.dim * math.log(2 * math.pi))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """(n, d) draws mean + L z, z standard normal, L the Cholesky factor of C."""
        z = np.random.default_rng(seed).standard_normal((n, self.dim))
        return self.mean + z @ self.chol.T

    # --- presets -------------------------------------------------------------------------------
    def preset(self, vector, name: str = "preset") -> Preset:
        """The :class:`Preset` of a masked vector (the 21 unmasked FDN-matrix logits, which do not
        change the output, set to 0)."""
        v = vector.detach().cpu().double().numpy() if isinstance(vector, torch.Tensor) else vector
        return Preset.from_masked(np.asarray(v, np.float64), self.mask, self.layout, name)
