"""Multivariate normality tests: Royston's H test and the Henze-Zirkler test."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.stats


@dataclass
class TestResult:
    statistic: float
    p_value: float
    df: float | None = None  # Royston: equivalent degrees of freedom


def _royston_z(w: np.ndarray, n: int) -> np.ndarray:
    """Shapiro-Wilk W -> approximately standard normal z (Royston 1992)."""
    if 4 <= n <= 11:
        x = n
        g = -2.273 + 0.459 * x
        m = 0.5440 - 0.39978 * x + 0.025054 * x**2 - 0.0006714 * x**3
        s = np.exp(1.3822 - 0.77857 * x + 0.062767 * x**2 - 0.0020322 * x**3)
        return (-np.log(g - np.log1p(-w)) - m) / s
    x = np.log(n)
    m = -1.5861 - 0.31082 * x - 0.083751 * x**2 + 0.0038915 * x**3
    s = np.exp(-0.4803 - 0.082676 * x + 0.0030302 * x**2)
    return (np.log1p(-w) - m) / s


def royston(x: np.ndarray) -> TestResult:
    """Royston's H test of multivariate normality, x (n, p) with 4 <= n <= 2000.

    Each column's Shapiro-Wilk W is mapped to a normal z, then to a chi-square(1) value; H is their
    mean times the equivalent degrees of freedom e, which accounts for correlated columns, and
    H ~ chi-square(e) under normality (Royston 1983, 1992).
    """
    x = np.asarray(x, np.float64)
    n, p = x.shape
    if not 4 <= n <= 2000:
        raise ValueError(f"Royston's test needs 4 <= n <= 2000 observations, got {n}")
    w = np.array([scipy.stats.shapiro(col).statistic for col in x.T])
    z = _royston_z(np.minimum(w, 1 - 1e-15), n)
    psi = scipy.stats.norm.ppf(scipy.stats.norm.cdf(-z) / 2) ** 2
    ln = np.log(n)
    nu = 0.21364 + 0.015124 * ln**2 - 0.0018034 * ln**3
    lam, mu = 5.0, 0.715
    r = np.corrcoef(x, rowvar=False) if p > 1 else np.ones((1, 1))
    c = r**lam * (1 - mu / nu * (1 - r) ** mu)
    off = ~np.eye(p, dtype=bool)
    c_bar = c[off].mean() if p > 1 else 0.0
    e = p / (1 + (p - 1) * c_bar)
    h = e * psi.mean()
    return TestResult(float(h), float(scipy.stats.chi2.sf(h, e)), float(e))


def _hz_one_minus_null_mean(b2: float, p: int) -> float:
    a = 1 + 2 * b2
    return a ** (-p / 2) * (1 + p * b2 / a + p * (p + 2) * b2**2 / (2 * a**2))


def henze_zirkler_null_mean_excess(n: int, p: int) -> float:
    """E[HZ] - 1 under multivariate normality (Henze and Zirkler 1990), for n observations in p
    dimensions at the test's bandwidth: negative, so a Gaussian sample's HZ - 1 is negative too."""
    b2 = (((2 * p + 1) * n / 4) ** (1 / (p + 4)) / np.sqrt(2)) ** 2
    return -_hz_one_minus_null_mean(b2, p)


def henze_zirkler(x: np.ndarray) -> TestResult:
    """Henze-Zirkler test of multivariate normality, x (n, p), with the optimal bandwidth
    beta = ((2p + 1) n / 4)^(1/(p+4)) / sqrt(2) and the log-normal approximation of the
    statistic's null distribution (Henze and Zirkler 1990)."""
    x = np.asarray(x, np.float64)
    n, p = x.shape
    if n <= p:
        raise ValueError(f"the Henze-Zirkler test needs more observations ({n}) than variables ({p})")
    centred = x - x.mean(axis=0)
    s_inv = np.linalg.pinv(np.cov(x, rowvar=False, bias=True))
    d_i = np.einsum("ij,jk,ik->i", centred, s_inv, centred)
    y = centred @ s_inv
    gram = y @ centred.T
    d_ij = d_i[:, None] + d_i[None, :] - 2 * gram
    b = ((2 * p + 1) * n / 4) ** (1 / (p + 4)) / np.sqrt(2)
    b2 = b * b
    # In high dimension HZ is 1 + a tiny excess (the i = j terms give exactly 1), so the excess
    # and the log-normal moments are computed as small numbers, never as 1 + small.
    off = ~np.eye(n, dtype=bool)
    excess = (np.exp(-b2 / 2 * d_ij[off]).sum() / n
              - 2 * n * (1 + b2) ** (-p / 2) * np.exp(-b2 / (2 * (1 + b2)) * d_i).mean()
              + n * (1 + 2 * b2) ** (-p / 2))
    a = 1 + 2 * b2
    wb = (1 + b2) * (1 + 3 * b2)
    one_minus_mean = _hz_one_minus_null_mean(b2, p)
    var = (2 * (1 + 4 * b2) ** (-p / 2)
           + 2 * a ** (-p) * (1 + 2 * p * b2**2 / a**2 + 3 * p * (p + 2) * b2**4 / (4 * a**4))
           - 4 * wb ** (-p / 2) * (1 + 3 * p * b2**2 / (2 * wb) + p * (p + 2) * b2**4 / (2 * wb**2)))
    # log-normal with the statistic's mean and variance: log HZ ~ N(log_mean, log_sd^2)
    log_m = np.log1p(-one_minus_mean)
    log_m2_plus_var = np.log1p(-2 * one_minus_mean + one_minus_mean**2 + var)
    log_mean = 2 * log_m - 0.5 * log_m2_plus_var
    log_sd = np.sqrt(log_m2_plus_var - 2 * log_m)
    z = (np.log1p(excess) - log_mean) / log_sd
    return TestResult(float(1 + excess), float(scipy.stats.norm.sf(z)))
