"""The compiled kernels' logarithms against NumPy's (float64 reference), special values included."""
import numba
import numpy as np
import pytest

from diffvox._jit import JIT, log32, log32_positive, log64, log64_positive


@numba.njit(error_model="numpy")
def _apply32(x, out):
    for i in range(x.shape[0]):
        out[i] = log32(x[i])


@numba.njit(error_model="numpy")
def _apply32_positive(x, out):
    for i in range(x.shape[0]):
        out[i] = log32_positive(x[i])


@numba.njit(error_model="numpy")
def _apply64(x, out):
    for i in range(x.shape[0]):
        out[i] = log64(x[i])


@numba.njit(error_model="numpy")
def _apply64_positive(x, out):
    for i in range(x.shape[0]):
        out[i] = log64_positive(x[i])


def _samples(dtype):
    rng = np.random.default_rng(0)
    x = np.exp(rng.uniform(np.log(1e-30), np.log(1e30), 2_000_000)).astype(dtype)
    edges = [1.0, 2.0, 0.5, np.sqrt(0.5), np.sqrt(2.0), 1e-8, 1e-4, 3.0]
    near_one = [np.nextafter(dtype(1), dtype(2)), np.nextafter(dtype(1), dtype(0))]
    return np.concatenate([x, np.array(edges + near_one, dtype)])


@pytest.mark.parametrize("dtype,apply,rtol", [(np.float32, _apply32, 3e-7), (np.float32, _apply32_positive, 3e-7),
                                              (np.float64, _apply64, 1e-15), (np.float64, _apply64_positive, 1e-15)])
def test_log_matches_numpy(dtype, apply, rtol):
    """Error relative to max(|log x|, 1) over 1e-30..1e30 (NumPy's float32 log: 1.2e-7)."""
    x = _samples(dtype)
    out = np.empty_like(x)
    apply(x, out)
    ref = np.log(x.astype(np.float64))
    err = np.abs(out.astype(np.float64) - ref)
    assert (err <= rtol * np.maximum(np.abs(ref), 1.0)).all(), (err / np.maximum(np.abs(ref), 1.0)).max()
    assert out[np.flatnonzero(x == 1.0)[0]] == 0.0


@pytest.mark.parametrize("dtype,apply", [(np.float32, _apply32), (np.float64, _apply64)])
def test_log_special_values_are_those_of_math_log(dtype, apply):
    x = np.array([0.0, -1.0, np.inf, -np.inf, np.nan], dtype)
    out = np.empty_like(x)
    apply(x, out)
    assert out[0] == -np.inf and np.isnan(out[1]) and out[2] == np.inf
    assert np.isnan(out[3]) and np.isnan(out[4])


def test_kernels_do_not_raise_on_division_by_zero():
    """error_model='numpy' (what lets the loops vectorise): x / 0 is inf, not an exception."""
    @numba.jit(**{**JIT, "parallel": False, "cache": False})
    def divide(a, b):
        return a / b
    assert divide(1.0, 0.0) == np.inf
