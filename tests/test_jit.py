"""The compiled kernels' logarithms against NumPy's (float64 reference), special values included;
``njit_noalias`` and the vectorised biquad adjoint step it exists for."""
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


def _packed_fma_count(dispatcher) -> int:
    """Packed (SIMD) float64 fused multiply-adds in the compiled code of ``dispatcher``."""
    import re

    asm = dispatcher.inspect_asm(dispatcher.signatures[0])
    return len(re.findall(r"\n\s+vfn?m(?:add|sub)\w*pd\s", asm))


def test_noalias_sets_the_flag_and_keeps_results():
    from diffvox._jit import njit_noalias

    @njit_noalias()
    def scaled_copy(src, dst, scale):
        for i in range(src.shape[0]):
            dst[i] = scale * src[i]

    src = np.arange(10.0)
    dst = np.zeros(10)
    scaled_copy(src, dst, 2.0)
    np.testing.assert_array_equal(dst, 2.0 * src)
    assert scaled_copy._compiler._customize_flags(numba.core.compiler.Flags()).noalias


def test_biquad_adjoint_step_compiles_to_simd():
    """The fused backward pass's hot loop: without ``noalias`` LLVM gives up on it ("too many
    memory checks") and it runs scalar, several times slower."""
    from diffvox.filters import _cpu_kernels as K

    @numba.njit(error_model="numpy")
    def sweep_once(g, buf, coefs, states, sums):
        K._adjoint_steps(2, g.shape[1], g[0:K._SWEEP], K._SWEEP, buf, 0, coefs[0], coefs[1], coefs[2],
                         coefs[3], coefs[4], states[0], states[1],
                         sums[0], sums[1], sums[2], sums[3], sums[4])

    lanes, n_sec = 8, 4
    rng = np.random.default_rng(0)
    g = rng.standard_normal((K._SWEEP, lanes))
    buf = rng.standard_normal((K._SWEEP, n_sec + 1, lanes))
    coefs = tuple(rng.standard_normal((n_sec, lanes)) * 0.3 for _ in range(5))
    states = tuple(np.zeros((n_sec, lanes)) for _ in range(2))
    sums = tuple(np.zeros((n_sec, lanes)) for _ in range(5))
    g_in = g.copy()
    sweep_once(g, buf, coefs, states, sums)
    assert _packed_fma_count(sweep_once) > 0
    # and it computes the adjoint: lam[n] = g[n] - a1 lam[n+1] - a2 lam[n+2] backwards from zero
    b0, b1, b2, m1, m2 = (c[2] for c in coefs)
    lam = np.zeros((K._SWEEP + 2, lanes))
    for n in range(K._SWEEP - 1, -1, -1):
        lam[n] = g_in[n] + m1 * lam[n + 1] + m2 * lam[n + 2]
    np.testing.assert_allclose(g, b0 * lam[:-2] + b1 * lam[1:-1] + b2 * lam[2:], rtol=1e-12)
    np.testing.assert_allclose(sums[0][2], (lam[:-2] * buf[:, 2]).sum(0), rtol=1e-12)
    np.testing.assert_allclose(sums[4][2], -(lam[2:] * buf[:, 3]).sum(0), rtol=1e-12)
