"""The first-order recurrence: every backend against scipy.signal.lfilter, exact gradients."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from diffvox.filters import linear_recurrence, one_pole
from diffvox.filters.scan import blocked_scan

BACKENDS = ["numba", "scan", "doubling", "loop"]


def _lfilter_rows(p, u):
    return np.stack([scipy.signal.lfilter([1.0], [1.0, -pi], ui) for pi, ui in zip(p, u)])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-10), (torch.complex64, 2e-4)])
def test_matches_lfilter(backend, dtype, tol):
    """float32 error grows like eps / (1 - |p|): about 6e-4 at |p| = 0.9999 in the worst case."""
    rng = np.random.default_rng(1)
    radius = np.array([0.0, 0.5, 0.99, 0.9999])
    p = radius * np.exp(1j * rng.uniform(-np.pi, np.pi, 4))
    u = rng.standard_normal((4, 3000)) + 1j * rng.standard_normal((4, 3000))
    h = linear_recurrence(torch.from_numpy(p).to(dtype), torch.from_numpy(u).to(dtype), backend)
    ref = _lfilter_rows(p, u)
    err = np.linalg.norm(h.numpy() - ref, axis=1) / np.linalg.norm(ref, axis=1)
    assert err.max() < tol


@pytest.mark.parametrize("n_time", [1, 63, 64, 65, 4097])
@pytest.mark.parametrize("block", [8, 64])
def test_blocked_scan_lengths(n_time, block):
    rng = np.random.default_rng(n_time)
    p = torch.tensor([0.3 + 0.9j, -0.999, 0.0], dtype=torch.complex128)
    u = torch.from_numpy(rng.standard_normal((3, n_time)) + 0j)
    h = blocked_scan(p, u, block)
    np.testing.assert_allclose(h.numpy(), _lfilter_rows(p.numpy(), u.numpy()), atol=1e-10)


@pytest.mark.parametrize("n_time", [1, 31, 32, 33, 4097])
def test_mixed_scan_error_is_not_amplified_by_the_pole(n_time):
    """In-block products in complex64, carries in complex128: at |p| = 0.9999 the error stays
    near float32's rounding of a 32-term sum (the all-complex64 scan's grows like 1 / (1 - |p|))."""
    rng = np.random.default_rng(n_time)
    p = np.array([0.9999 * np.exp(0.001j), -0.999, 0.5j, 0.0])
    u = rng.standard_normal((4, n_time)) + 1j * rng.standard_normal((4, n_time))
    ref = _lfilter_rows(p, u)
    pt, ut = torch.from_numpy(p), torch.from_numpy(u)
    mixed = blocked_scan(pt, ut, 32, torch.complex64).numpy()
    single = blocked_scan(pt.to(torch.complex64), ut.to(torch.complex64), 32).numpy()
    scale = np.linalg.norm(ref, axis=1) + 1e-300
    err_mixed = np.linalg.norm(mixed - ref, axis=1) / scale
    assert err_mixed.max() < 1e-6
    if n_time > 1000:
        err_single = np.linalg.norm(single - ref, axis=1) / scale
        assert err_single[0] > 10 * err_mixed[0]
    h = linear_recurrence(pt, ut, "mixed")
    np.testing.assert_allclose(h.numpy(), mixed)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_complex(backend):
    gen = torch.Generator().manual_seed(0)
    p = torch.tensor([0.9 + 0.3j, -0.5 + 0.1j], dtype=torch.complex128, requires_grad=True)
    u = torch.randn(2, 40, dtype=torch.complex128, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p, u: linear_recurrence(p, u, backend), (p, u))


def test_gradcheck_real_and_broadcast():
    p = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)  # one pole for every row
    u = torch.randn(2, 3, 30, dtype=torch.float64, requires_grad=True)
    assert linear_recurrence(p, u).shape == (2, 3, 30)
    assert torch.autograd.gradcheck(lambda p, u: linear_recurrence(p, u), (p, u))


def test_real_input_complex_pole_is_promoted():
    u = torch.randn(2, 50, dtype=torch.float64)
    p = torch.tensor([0.5j, 0.2], dtype=torch.complex128)
    h = linear_recurrence(p, u)
    assert h.dtype == torch.complex128
    np.testing.assert_allclose(h.numpy(), _lfilter_rows(p.numpy(), u.numpy() + 0j), atol=1e-12)


def test_one_pole_matches_lfilter():
    c = torch.tensor([0.01, 0.3], dtype=torch.float64)
    v = torch.rand(2, 1000, dtype=torch.float64)
    ref = np.stack([scipy.signal.lfilter([ci], [1, ci - 1], vi) for ci, vi in zip(c.numpy(), v.numpy())])
    np.testing.assert_allclose(one_pole(v, c).numpy(), ref, rtol=1e-10)


def test_bad_backend():
    with pytest.raises(ValueError, match="unknown backend"):
        linear_recurrence(torch.tensor(0.5), torch.zeros(1, 4), backend="fft")
