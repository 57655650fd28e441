"""Generative models of the 130-dim presets: the paper's Gaussian; a Gaussian copula with
kernel-density marginals (non-Gaussian, skewed or bounded marginals); and a Gaussian mixture.
Hyperparameters are chosen by cross-validated log-likelihood on the training rows; a two-sample
test compares samples with held-out presets."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.stats
from scipy.special import ndtr, ndtri
from sklearn.mixture import GaussianMixture

MODELS = ("gaussian", "copula", "gmm")


@dataclass
class Gaussian:
    """Full-covariance Gaussian (maximum likelihood, plus ``ridge`` on the diagonal)."""

    ridge: float = 1e-6

    def fit(self, x: np.ndarray) -> "Gaussian":
        x = np.asarray(x, np.float64)
        self.mean_ = x.mean(axis=0)
        self.cov_ = np.cov(x, rowvar=False, bias=True) + self.ridge * np.eye(x.shape[1])
        return self

    def log_likelihood(self, x: np.ndarray) -> np.ndarray:
        """(n,) log densities."""
        d = np.asarray(x, np.float64) - self.mean_
        chol = np.linalg.cholesky(self.cov_)
        z = np.linalg.solve(chol, d.T)
        return -0.5 * (z**2).sum(axis=0) - np.log(np.diag(chol)).sum() - 0.5 * d.shape[1] * np.log(2 * np.pi)

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        return np.random.default_rng(seed).multivariate_normal(self.mean_, self.cov_, size=n, method="cholesky")


@dataclass
class Mixture:
    """Gaussian mixture (sklearn) with ``components`` full-covariance components."""

    components: int = 2
    reg_covar: float = 1e-3
    seed: int = 0

    def fit(self, x: np.ndarray) -> "Mixture":
        self.model_ = GaussianMixture(self.components, covariance_type="full", reg_covar=self.reg_covar,
                                      n_init=3, random_state=self.seed).fit(np.asarray(x, np.float64))
        return self

    def log_likelihood(self, x: np.ndarray) -> np.ndarray:
        return self.model_.score_samples(np.asarray(x, np.float64))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        self.model_.random_state = seed
        samples, _ = self.model_.sample(n)
        return np.random.default_rng(seed).permutation(samples)  # sklearn orders by component


@dataclass
class GaussianCopula:
    """Gaussian copula with Gaussian-kernel density marginals.

    Each dimension j gets a KDE f_j (bandwidth ``bandwidth_scale`` times Silverman's rule) with
    CDF F_j; z_j = Phi^-1(F_j(x_j)) is modelled as N(0, R) with R the normal-score correlation
    shrunk towards the identity by ``shrinkage``. Density:
    log p(x) = sum_j log f_j(x_j) + log N(z; 0, R) - sum_j log N(z_j; 0, 1).
    """

    bandwidth_scale: float = 1.0
    shrinkage: float = 0.05

    def fit(self, x: np.ndarray) -> "GaussianCopula":
        x = np.asarray(x, np.float64)
        n = len(x)
        self.data_ = x
        self.bandwidth_ = self.bandwidth_scale * 1.06 * x.std(axis=0) * n ** -0.2
        if not (self.bandwidth_ > 0).all():
            raise ValueError("every dimension must vary across the training presets")
        z = self._scores(x)
        r = np.corrcoef(z, rowvar=False)
        self.corr_ = (1 - self.shrinkage) * r + self.shrinkage * np.eye(x.shape[1])
        self.chol_ = np.linalg.cholesky(self.corr_)
        return self

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        """(m, d) -> (m, d) marginal CDF values."""
        out = np.empty_like(x)
        for j in range(x.shape[1]):
            out[:, j] = ndtr((x[:, j, None] - self.data_[None, :, j]) / self.bandwidth_[j]).mean(axis=1)
        return out

    def _scores(self, x: np.ndarray) -> np.ndarray:
        return ndtri(np.clip(self._cdf(x), 1e-12, 1 - 1e-12))

    def log_likelihood(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        log_marginals = np.zeros(len(x))
        for j in range(x.shape[1]):
            u = (x[:, j, None] - self.data_[None, :, j]) / self.bandwidth_[j]
            log_marginals += np.log(scipy.stats.norm.pdf(u).mean(axis=1) / self.bandwidth_[j] + 1e-300)
        z = self._scores(x)
        w = np.linalg.solve(self.chol_, z.T)
        log_copula = (-0.5 * (w**2).sum(axis=0) - np.log(np.diag(self.chol_)).sum()
                      + 0.5 * (z**2).sum(axis=1))
        return log_marginals + log_copula

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """Normal scores from N(0, R), mapped through each marginal's inverse CDF (tabulated)."""
        rng = np.random.default_rng(seed)
        u = ndtr(rng.standard_normal((n, self.corr_.shape[0])) @ self.chol_.T)
        out = np.empty_like(u)
        for j in range(u.shape[1]):
            col, h = self.data_[:, j], self.bandwidth_[j]
            grid = np.linspace(col.min() - 5 * h, col.max() + 5 * h, 4096)
            cdf = ndtr((grid[:, None] - col[None]) / h).mean(axis=1)
            out[:, j] = np.interp(u[:, j], cdf, grid)
        return out


def cross_validated(make, x: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Mean held-out log-likelihood per preset of ``make()`` models in k-fold cross-validation."""
    parts = np.array_split(np.random.default_rng(seed).permutation(len(x)), folds)
    scores = []
    for f in range(folds):
        rest = np.concatenate([parts[g] for g in range(folds) if g != f])
        scores.append(make().fit(x[rest]).log_likelihood(x[parts[f]]).mean())
    return float(np.mean(scores))


def choose_copula(x_train: np.ndarray, bandwidths=(0.5, 1.0, 1.5), shrinkages=(0.02, 0.05, 0.1, 0.2),
                  seed: int = 0) -> tuple[dict, dict]:
    """Copula hyperparameters with the best cross-validated log-likelihood, and all scores."""
    scores = {(b, s): cross_validated(lambda: GaussianCopula(b, s), x_train, seed=seed)
              for b in bandwidths for s in shrinkages}
    best = max(scores, key=scores.get)
    return {"bandwidth_scale": best[0], "shrinkage": best[1]}, scores


def split(n: int, test_share: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random train/test indices."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(n * test_share)))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def choose_mixture(x_train: np.ndarray, candidates=(1, 2, 3, 4), seed: int = 0
                   ) -> tuple[int, dict[int, float]]:
    """Number of mixture components with the best cross-validated log-likelihood, and all scores."""
    scores = {k: cross_validated(lambda: Mixture(k, seed=seed), x_train, seed=seed) for k in candidates}
    return max(scores, key=scores.get), scores


def cache_dir():
    """Where chosen hyperparameters are kept: ``$DIFFVOX_CACHE``, else ``~/.cache/diffvox``."""
    import os
    from pathlib import Path

    return Path(os.environ.get("DIFFVOX_CACHE", Path.home() / ".cache" / "diffvox")).expanduser()


def _cached_choice(model: str, x: np.ndarray, seed: int, choose) -> dict:
    """The cross-validated hyperparameters of ``model`` on ``x`` (``choose()``, tens of seconds),
    computed once and kept in :func:`cache_dir` under a hash of the data, the model and the seed
    (an unwritable cache is skipped: the choice is then made every time)."""
    import hashlib
    import json

    from ..fileio import write_text_atomic

    data = np.ascontiguousarray(x, dtype=np.float64)
    key = hashlib.sha256(f"{model}/{seed}/{data.shape}".encode() + data.tobytes()).hexdigest()[:16]
    path = cache_dir() / f"generative-{model}-{key}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    choice = choose()
    try:
        write_text_atomic(path, json.dumps(choice) + "\n")
    except OSError:
        pass
    return choice


def build(model: str, x: np.ndarray, seed: int = 0):
    """A fitted model: ``gaussian`` (maximum likelihood, as the paper's), ``copula`` or ``gmm``
    (hyperparameters chosen by cross-validation on ``x``, once: the choice is cached, see
    :func:`_cached_choice`, so later calls fit one model)."""
    if model == "gaussian":
        return Gaussian().fit(x)
    if model == "copula":
        best = _cached_choice("copula", x, seed, lambda: choose_copula(x, seed=seed)[0])
        return GaussianCopula(**best).fit(x)
    if model == "gmm":
        k = _cached_choice("gmm", x, seed, lambda: {"components": choose_mixture(x, seed=seed)[0]})
        return Mixture(int(k["components"]), seed=seed).fit(x)
    raise ValueError(f"unknown model {model!r}; expected one of {', '.join(MODELS)}")


def energy_distance_test(a: np.ndarray, b: np.ndarray, permutations: int = 500, seed: int = 0,
                         scale: np.ndarray | None = None) -> tuple[float, float]:
    """Energy distance between samples a (n, d) and b (m, d) (columns divided by ``scale``) and
    its permutation p-value (Szekely and Rizzo 2004)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if scale is not None:
        a, b = a / scale, b / scale
    pooled = np.concatenate([a, b])
    sq = (pooled**2).sum(axis=1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * pooled @ pooled.T, 0))
    n = len(a)

    def statistic(idx):
        ia, ib = idx[:n], idx[n:]
        return (2 * dist[np.ix_(ia, ib)].mean() - dist[np.ix_(ia, ia)].mean()
                - dist[np.ix_(ib, ib)].mean())

    base = np.arange(len(pooled))
    observed = statistic(base)
    rng = np.random.default_rng(seed)
    null = np.array([statistic(rng.permutation(base)) for _ in range(permutations)])
    return float(observed), float((1 + (null >= observed).sum()) / (1 + permutations))
