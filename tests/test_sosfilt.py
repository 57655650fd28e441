"""sosfilt against scipy.signal.sosfilt in float64, on random stable sections (real, complex and
repeated poles up to |p| = 0.9999), the neighbourhood of Q = 0.5, and the chain's filter ranges;
gradients by finite differences; the fused CPU kernel against the scan path."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from diffvox.filters import biquad_coefficients, sosfilt
from diffvox.bench.common import random_chain_eq

BACKENDS = ["numba", "scan"]


def rel_rms(y, ref):
    y, ref = np.asarray(y, np.float64), np.asarray(ref, np.float64)
    return float(np.sqrt(np.mean((y - ref) ** 2, axis=-1) / np.mean(ref**2, axis=-1)).max())


def scipy_rows(sos, x):
    """scipy.signal.sosfilt in float64, each row with its own sections. sos (N, K, 6), x (N, T)."""
    sos = np.asarray(sos, np.float64)
    sos = sos / sos[..., 3:4]
    return np.stack([scipy.signal.sosfilt(s, xi) for s, xi in zip(sos, np.asarray(x, np.float64))])


def section_from_poles(p1, p2, rng):
    """A section with the given poles (a conjugate pair or two reals) and random zeros."""
    a = np.real(np.poly([p1, p2]))
    z = rng.uniform(0.2, 1.0) * np.exp(1j * rng.uniform(0, np.pi))
    b = np.real(np.poly([z, np.conj(z)])) * rng.uniform(0.1, 2.0)
    return np.concatenate([b, a])


def random_sections(rng, n_rows, n_sec):
    """Complex pairs, distinct reals and repeated reals, with radii up to 0.9999."""
    rows = []
    for _ in range(n_rows):
        secs = []
        for k in range(n_sec):
            r = rng.choice([0.3, 0.9, 0.99, 0.999, 0.9999])
            kind = k % 3
            if kind == 0:
                p = r * np.exp(1j * rng.uniform(1e-3, np.pi - 1e-3))
                secs.append(section_from_poles(p, np.conj(p), rng))
            elif kind == 1:
                secs.append(section_from_poles(r, -rng.uniform(0, r), rng))
            else:
                secs.append(section_from_poles(r, r, rng))  # repeated pole
        rows.append(secs)
    return np.array(rows)


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_sections_float64(backend):
    rng = np.random.default_rng(0)
    sos = random_sections(rng, 6, 3)
    x = rng.standard_normal((6, 20000))
    y = sosfilt(torch.from_numpy(sos), torch.from_numpy(x), backend=backend)
    assert rel_rms(y, scipy_rows(sos, x)) <= 1e-7


Q_OFFSETS = [-1e-3, -1e-6, -1e-9, 0.0, 1e-9, 1e-6, 1e-3]


@pytest.mark.parametrize("kind,freqs", [("lowpass", [200.0, 2000.0, 18000.0]),
                                        ("highpass", [16.0, 500.0, 5300.0])])
@pytest.mark.parametrize("backend", BACKENDS)
def test_q_half_neighbourhood(kind, freqs, backend):
    """Q = 0.5 gives a repeated real pole; a naive diagonalisation divides by zero there."""
    f, dq = np.meshgrid(freqs, Q_OFFSETS, indexing="ij")
    sos = biquad_coefficients(kind, torch.tensor(f.ravel()), torch.tensor(0.5 + dq.ravel()))
    sos = sos.unsqueeze(1)
    x = np.random.default_rng(1).standard_normal((sos.shape[0], 8000))
    y64 = sosfilt(sos, torch.from_numpy(x), backend=backend)
    assert torch.isfinite(y64).all()
    assert rel_rms(y64, scipy_rows(sos, x)) <= 1e-7
    # float32: compared with the exact result for the same float32 coefficients
    sos32 = sos.float()
    y32 = sosfilt(sos32, torch.from_numpy(x).float(), backend=backend)
    assert rel_rms(y32, scipy_rows(sos32.double(), x.astype(np.float32))) <= 1e-3


@pytest.mark.parametrize("backend", BACKENDS)
def test_chain_ranges(backend):
    gen = torch.Generator().manual_seed(3)
    sos = random_chain_eq(24, gen)
    x = torch.randn(24, 44100, generator=gen, dtype=torch.float64)
    assert rel_rms(sosfilt(sos, x, backend=backend), scipy_rows(sos, x)) <= 1e-7
    sos32 = sos.float()
    y32 = sosfilt(sos32, x.float(), backend=backend)
    assert rel_rms(y32, scipy_rows(sos32.double(), x.float().double())) <= 1e-3


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["peak", "lowshelf", "highshelf", "lowpass", "highpass"]),
                          st.floats(16.0, 20000.0), st.floats(0.2, 20.0), st.floats(-24.0, 24.0)),
                min_size=1, max_size=6),
       st.integers(0, 2**31 - 1))
def test_property_any_chain_like_cascade(sections, seed):
    sos = torch.stack([biquad_coefficients(k, f, q, g) for k, f, q, g in sections]).double()
    x = np.random.default_rng(seed).standard_normal(3000)
    y = sosfilt(sos, torch.from_numpy(x))
    ref = scipy_rows(sos[None], x[None])[0]
    assert rel_rms(y, ref) <= 1e-7


def test_broadcasting():
    gen = torch.Generator().manual_seed(4)
    sos = random_chain_eq(1, gen)[0]  # (6, 6) shared by every row
    x = torch.randn(2, 3, 500, generator=gen, dtype=torch.float64)
    y = sosfilt(sos, x)
    assert y.shape == (2, 3, 500)
    ref = scipy_rows(sos.expand(6, 6, 6), x.reshape(6, 500))
    assert rel_rms(y.reshape(6, 500), ref) <= 1e-10


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck(backend):
    gen = torch.Generator().manual_seed(5)
    sos = torch.cat([random_chain_eq(2, gen)[:, [0, 3]],
                     biquad_coefficients("lowpass", 3000.0, 0.5).expand(2, 1, 6),  # repeated pole
                     biquad_coefficients("highpass", 2000.0, 0.3).expand(2, 1, 6)], dim=1)
    sos = sos.double().requires_grad_(True)
    x = torch.randn(2, 48, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s, x: sosfilt(s, x, backend=backend), (sos, x))


def test_fused_gradients_match_scan_over_many_segments():
    """The fused CPU backward recomputes the forward per 512-sample segment: check long inputs."""
    gen = torch.Generator().manual_seed(6)
    sos = random_chain_eq(3, gen)
    x = torch.randn(3, 5000, dtype=torch.float64, generator=gen)
    grad_out = torch.randn(3, 5000, dtype=torch.float64, generator=gen)
    grads = {}
    for backend in BACKENDS:
        s, xx = sos.clone().requires_grad_(True), x.clone().requires_grad_(True)
        sosfilt(s, xx, backend=backend).backward(grad_out)
        grads[backend] = (s.grad, xx.grad)
    for a, b in zip(grads["numba"], grads["scan"]):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)
    # and against finite differences of the loss along a random direction (float64)
    s = sos.clone().requires_grad_(True)
    loss = lambda s: (sosfilt(s, x) * grad_out).sum()  # noqa: E731
    loss(s).backward()
    direction = torch.randn(sos.shape, dtype=sos.dtype, generator=gen) * sos.abs() * 1e-3
    direction[..., 3] = 0
    # fourth-order central differences: the error is h^4 (truncation) plus the forward's rounding
    # noise over h (measured here: h = 1e-3 -> 2e-6, 1e-4 -> 1e-9, 1e-6 -> 6e-8)
    h = 1e-4
    diff = lambda t: loss(sos + t * direction) - loss(sos - t * direction)  # noqa: E731
    fd = (8 * diff(h) - diff(2 * h)) / (12 * h)
    assert float((s.grad * direction).sum()) == pytest.approx(float(fd), rel=1e-7)


def test_float32_gradients_are_accurate():
    gen = torch.Generator().manual_seed(7)
    sos = random_chain_eq(4, gen)
    x = torch.randn(4, 30000, dtype=torch.float64, generator=gen)
    g = torch.randn_like(x)
    out = {}
    for dt in (torch.float64, torch.float32):
        s, xx = sos.detach().to(dt).requires_grad_(True), x.detach().to(dt).requires_grad_(True)
        sosfilt(s, xx).backward(g.to(dt))
        out[dt] = (s.grad.double(), xx.grad.double())
    s64 = sos.float().double().requires_grad_(True)  # exact gradients at the float32 coefficients
    x64 = x.float().double().requires_grad_(True)
    sosfilt(s64, x64).backward(g.float().double())
    assert rel_rms(out[torch.float32][1], x64.grad) <= 1e-3
    err = (out[torch.float32][0] - s64.grad).norm() / s64.grad.norm()
    assert err <= 1e-3


def test_errors():
    x = torch.randn(1, 100)
    good = biquad_coefficients("peak", 1000.0, 1.0, 3.0).view(1, 6)
    with pytest.raises(ValueError, match="shape"):
        sosfilt(torch.ones(5), x)
    unstable = torch.tensor([[1.0, 0.0, 0.0, 1.0, 0.0, -1.2]])
    with pytest.raises(ValueError, match="unstable"):
        sosfilt(unstable, x)
    nan = good.clone()
    nan[0, 4] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        sosfilt(nan, x)
    zero_a0 = good.clone()
    zero_a0[0, 3] = 0
    with pytest.raises(ValueError, match="a0"):
        sosfilt(zero_a0, x)
    with pytest.raises(ValueError, match="unknown backend"):
        sosfilt(good, x, backend="cuda-magic")


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_scipy_and_cpu_gradients(dtype):
    gen = torch.Generator().manual_seed(8)
    sos = random_chain_eq(8, gen).to(dtype)
    x = torch.randn(8, 100000, dtype=dtype, generator=gen)
    ref = scipy_rows(sos.double(), x.double())
    y = sosfilt(sos.cuda(), x.cuda())
    assert y.device.type == "cuda"
    assert rel_rms(y.cpu(), ref) <= (1e-7 if dtype == torch.float64 else 1e-3)
    g = torch.randn_like(x)
    grads = []
    for dev in ("cpu", "cuda"):
        s = sos.to(dev).requires_grad_(True)
        xx = x.to(dev).requires_grad_(True)
        sosfilt(s, xx).backward(g.to(dev))
        grads.append((s.grad.cpu().double(), xx.grad.cpu().double()))
    tol = 1e-9 if dtype == torch.float64 else 1e-3
    for a, b in zip(*grads):
        assert ((a - b).norm() / b.norm()) <= tol


@pytest.mark.parametrize("case", ["highpass 16 Hz", "low shelf 27 Hz", "peak 33 Hz", "chain EQ"])
def test_mixed_precision_scan_within_its_bound(case):
    """The GPU's default path for float32 signals: relative RMS error at most 1e-4 at the chain's
    extremes (the original's own float32 error: 3e-5 to 1.1e-4), the maximum error below the
    first-order bound of :func:`mixed_scan_error_bound`, gradients as the float64 scan's to 1e-3."""
    from diffvox.filters.statespace import mixed_scan_error_bound

    f64 = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    if case == "chain EQ":
        sos = random_chain_eq(1, torch.Generator().manual_seed(4))[0].double()
    else:
        kind, freq, q, gain = {"highpass 16 Hz": ("highpass", 16.0, 10.0, 0.0),
                               "low shelf 27 Hz": ("lowshelf", 27.0, 0.7, 12.0),
                               "peak 33 Hz": ("peak", 33.0, 5.0, 12.0)}[case]
        sos = biquad_coefficients(kind, f64(freq), f64(q), f64(gain)).view(1, 6)
    sos = sos / sos[:, 3:4]
    x = torch.randn(30000, generator=torch.Generator().manual_seed(5))
    ref = scipy.signal.sosfilt(sos.numpy(), x.double().numpy())
    y = sosfilt(sos, x, backend="mixed").double().numpy()
    assert np.sqrt(np.mean((y - ref) ** 2) / np.mean(ref ** 2)) < 1e-4
    assert np.abs(y - ref).max() <= mixed_scan_error_bound(sos.numpy(), x.numpy())
    grads = []
    for backend in ("mixed", "scan"):
        s = sos.clone().requires_grad_(True)
        xx = x.double().clone().requires_grad_(True)
        sosfilt(s, xx, backend=backend).square().sum().backward()
        grads.append((s.grad, xx.grad))
    # the adjoint runs the poles before the zeros, so its intermediate signals are up to
    # 1 / |A(1)| larger than the result: measured 7e-4 at 16 Hz, 1.5e-4 on a chain EQ
    for a, b in zip(*grads):
        assert float((a - b).norm() / b.norm()) < 1e-3


def test_benchmark_baselines_compute_the_same_filter():
    """The benchmark compares like with like: every baseline equals scipy in float64."""
    from diffvox.bench import iir_baselines

    sos = random_chain_eq(3, torch.Generator().manual_seed(9))
    sos = sos / sos[..., 3:4]
    x = torch.randn(3, 2000, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    ref = scipy_rows(sos, x)
    for fn in (iir_baselines.torchlpc_modal, iir_baselines.torch_associative_scan,
               iir_baselines.python_loop):
        assert rel_rms(fn(sos[..., :3], sos[..., 4:], x), ref) <= 1e-9, fn.__name__


def test_kernel_constants_are_consistent():
    """The fused kernels visit each section _UNROLL samples at a time (_SWEEP in the adjoint):
    checkpoints and flushes must fall on those block boundaries."""
    from diffvox.filters import _cpu_kernels, sos

    for step in (_cpu_kernels._UNROLL, _cpu_kernels._SWEEP):
        assert sos._SEGMENT % step == 0
        assert _cpu_kernels._FLUSH_EVERY % step == 0


@pytest.mark.parametrize("n_time", [1, 3, 5, 9, 511, 512, 513, 1024, 1025, 2051])
def test_fused_kernel_block_edges(n_time):
    """Lengths that end inside a block of samples and inside a checkpoint segment: values against
    scipy, gradients against the scan backend."""
    gen = torch.Generator().manual_seed(n_time)
    sos = random_chain_eq(5, gen)
    sos = sos / sos[..., 3:4]  # scipy takes a0 = 1
    x = torch.randn(5, n_time, dtype=torch.float64, generator=gen)
    ref = np.stack([scipy.signal.sosfilt(sos[i].numpy(), x[i].numpy()) for i in range(5)])
    np.testing.assert_allclose(sosfilt(sos, x, backend="numba").numpy(), ref, rtol=0, atol=1e-9)
    grad_out = torch.randn(5, n_time, dtype=torch.float64, generator=gen)
    grads = []
    for backend in ("numba", "scan"):
        s, xx = sos.clone().requires_grad_(True), x.clone().requires_grad_(True)
        sosfilt(s, xx, backend=backend).backward(grad_out)
        grads.append((s.grad, xx.grad))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_finite_input_propagates(backend):
    """A NaN sample poisons every later output sample of its row, as in scipy: the fused
    kernel's flush of tiny states must not reset a NaN state to zero. The fused kernel matches
    scipy's NaN pattern exactly; the blocked scans also spread it to earlier samples of its block
    (products with the NaN), never to other rows."""
    gen = torch.Generator().manual_seed(11)
    sos = random_chain_eq(2, gen)
    x = torch.randn(2, 3000, dtype=torch.float64, generator=gen)
    x[0, 1000] = float("nan")
    y = sosfilt(sos, x, backend=backend)
    assert torch.isnan(y[0, 1000:]).all() and torch.isfinite(y[1]).all()
    if backend == "numba":
        np.testing.assert_array_equal(torch.isnan(y).numpy(), np.isnan(scipy_rows(sos, x.numpy())))
