"""The fast formulations of the matching step against the plain ones they replace: the chain's
tail as one response (against the stage-by-stage chain and the original's renders), the STFT and
its adjoint (against torch.stft and the dot-product identity), the MSS and MLDR gradients (against
autograd of independent float64 implementations), the compiled distance kernels (against the
tensor path), prepared targets (against recomputing them) and the IIR kernels' subnormal flush."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
import scipy.signal
import torch

from diffvox import DiffVox
from diffvox.bench.original import autograd_mldr
from diffvox.filters import one_pole, sosfilt
from diffvox.functional import ldr, spectral
from diffvox.functional.stft import stft, stft_adjoint
from diffvox.losses import FFT_SIZES, HOP_SIZES, DiffVoxLoss, a_weight, mldr, mss
from diffvox.params import ms_to_coef
from diffvox.presets import load_dataset


def rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("kwargs,start", [({}, 0), ({}, 12345), ({"delay": False}, 0), ({"reverb": False}, 0),
                                          ({"delay": False, "reverb": False}, 29999), ({"surrogate": False}, 0)])
def test_forward_equals_stage_by_stage_values_and_gradients(kwargs, start):
    """``forward(x, start)`` (the output from ``start`` on, with a shorter transform) against
    the stage-by-stage chain's output sliced."""
    torch.manual_seed(0)
    model = DiffVox(**kwargs).train()
    x = torch.randn(2, 1, 30000) * 0.1
    weight = torch.randn(2, 2, 30000 - start)
    out = {}
    for name, fn in (("fast", lambda v: model(v, start=start)),
                     ("stages", lambda v: model.stages(v)["wet"][..., start:])):
        model.zero_grad()
        y = fn(x)
        (y * weight).sum().backward()
        out[name] = (y.detach(), {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None})
    assert rel(out["fast"][0], out["stages"][0]) < 1e-5
    grads_fast, grads_stages = out["fast"][1], out["stages"][1]
    assert grads_fast.keys() == grads_stages.keys()
    scale = max(float(g.abs().max()) for g in grads_stages.values())
    for k in grads_stages:  # absolute against the largest gradient: some are exactly 0 at 0 dB
        assert float((grads_fast[k] - grads_stages[k]).abs().max()) <= 1e-4 * scale, k


@pytest.mark.parametrize("row", range(5))
def test_forward_matches_original_renders(reference_dir, row):
    dry = torch.from_numpy(np.load(reference_dir / "dry.npy")).view(1, 1, -1)
    with torch.no_grad():
        ours = load_dataset("medleydb").preset(row).to_chain().eval()(dry)[0].double()
    ref = torch.from_numpy(np.load(reference_dir / "wet" / f"wet_medleydb_{row}.npy")).double()
    assert rel(ours, ref) <= 1e-3


@pytest.mark.parametrize("n_fft,hop,length", [(128, 32, 1000), (512, 128, 3001), (2048, 512, 5000),
                                              (2048, 512, 1025), (128, 32, 65)])
@pytest.mark.parametrize("kernels", [True, False])
def test_stft_and_its_adjoint(monkeypatch, n_fft, hop, length, kernels):
    """Against torch.stft, and the adjoint by the dot-product test; compiled and tensor paths."""
    from diffvox.functional import stft as stft_module

    monkeypatch.setattr(stft_module, "_use_kernels", lambda x: kernels)
    gen = torch.Generator().manual_seed(n_fft + length)
    x = torch.randn(3, 2, length, generator=gen, dtype=torch.float64)
    spec = stft(x, n_fft, hop)
    ref = torch.stft(x.reshape(-1, length), n_fft, hop, n_fft, torch.hann_window(n_fft, dtype=torch.float64),
                     return_complex=True)
    torch.testing.assert_close(spec, ref.transpose(-1, -2).reshape(spec.shape), rtol=0, atol=1e-12)
    # <stft(x), G> = <x, adjoint(G)> for the real inner product of the real and imaginary parts
    g = torch.randn(spec.shape, generator=gen, dtype=torch.complex128)
    lhs = (torch.view_as_real(spec) * torch.view_as_real(g)).sum()
    rhs = (x * stft_adjoint(g, n_fft, hop, length)).sum()
    assert float(lhs) == pytest.approx(float(rhs), rel=1e-12)


def _reference_mss(pred, target):
    """auraloss's formulas, written out: four STFTs per signal, autograd through everything."""
    def distances(x, y):
        total = 0
        for n_fft, hop in zip(FFT_SIZES, HOP_SIZES):
            window = torch.hann_window(n_fft, dtype=x.dtype)
            mag = lambda s: torch.sqrt(torch.clamp(  # noqa: E731
                torch.stft(s.reshape(-1, s.shape[-1]), n_fft, hop, n_fft, window, return_complex=True).abs() ** 2,
                min=1e-8))
            xm, ym = mag(x), mag(y)
            total = total + torch.linalg.norm(ym - xm) / torch.linalg.norm(ym) + (xm.log() - ym.log()).abs().mean()
        return total / len(FFT_SIZES)
    p, t = a_weight(pred), a_weight(target)
    return distances(p, t), (distances(p[:, 0] + p[:, 1], t[:, 0] + t[:, 1])
                             + distances(p[:, 0] - p[:, 1], t[:, 0] - t[:, 1])) / 2


def _signals(dtype, length=20000, seed=0):
    gen = torch.Generator().manual_seed(seed)
    pred = torch.randn(2, 2, length, generator=gen, dtype=dtype) * torch.linspace(0, 1, length, dtype=dtype)
    target = torch.randn(2, 2, length, generator=gen, dtype=dtype) * 0.1
    return pred.requires_grad_(), target


def test_mss_gradient_equals_autograd_in_float64():
    pred, target = _signals(torch.float64)
    ours = mss(pred, target)
    ref_lr, ref_ms = _reference_mss(pred, target)
    assert float(ours["mss_lr"].detach()) == pytest.approx(float(ref_lr.detach()), rel=1e-12)
    assert float(ours["mss_ms"].detach()) == pytest.approx(float(ref_ms.detach()), rel=1e-12)
    g_ours = torch.autograd.grad(ours["mss_lr"] + 0.5 * ours["mss_ms"], pred)[0]
    g_ref = torch.autograd.grad(ref_lr + 0.5 * ref_ms, pred)[0]
    assert rel(g_ours, g_ref) < 1e-9


def test_compiled_kernels_equal_the_tensor_path(monkeypatch):
    pred, target = _signals(torch.float32, seed=1)
    kernel = mss(pred, target)
    g_kernel = torch.autograd.grad(kernel["mss_lr"] + 0.5 * kernel["mss_ms"], pred)[0]
    monkeypatch.setattr(spectral, "_use_kernels", lambda spec: False)
    tensor = mss(pred, target)
    g_tensor = torch.autograd.grad(tensor["mss_lr"] + 0.5 * tensor["mss_ms"], pred)[0]
    for k in kernel:
        assert float(kernel[k]) == pytest.approx(float(tensor[k]), rel=1e-6)
    assert rel(g_kernel, g_tensor) < 1e-4  # float32 rounding of 1/|X| near the floor


def test_mss_tensor_path_gradient_is_finite_on_silence(monkeypatch):
    """Bins of exactly zero power (silent frames) have zero gradient on both paths (the tensor
    path, which GPUs run, once divided by |X| = 0 there and returned NaN)."""
    pred, target = _signals(torch.float32, seed=4)
    pred = pred.detach().clone()
    pred[:, :, 5000:12000] = 0.0
    pred.requires_grad_()
    grads = []
    for kernels in (True, False):
        monkeypatch.setattr(spectral, "_use_kernels", lambda spec, k=kernels: k)
        out = mss(pred, target)
        grads.append(torch.autograd.grad(out["mss_lr"] + 0.5 * out["mss_ms"], pred)[0])
    assert bool(torch.isfinite(grads[1]).all())
    assert rel(grads[1], grads[0]) < 1e-4


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("kernels", [True, False])
def test_mss_of_a_non_finite_prediction_is_not_finite(monkeypatch, bad, kernels):
    """A fit must see a non-finite loss (the compiled kernels' logarithm skips special values)."""
    pred, target = _signals(torch.float32, seed=2)
    pred = pred.detach().clone()
    pred[1, 0, 3000] = bad
    if not kernels:
        monkeypatch.setattr(spectral, "_use_kernels", lambda spec: False)
    values = mss(pred, target)
    assert not any(bool(torch.isfinite(v)) for v in values.values())


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("kernels", [True, False])
def test_mldr_of_a_non_finite_prediction_is_not_finite(monkeypatch, bad, kernels):
    pred, target = _signals(torch.float32, length=60000, seed=3)
    pred = pred.detach().clone()
    pred[0, 1, 100] = bad
    if not kernels:
        monkeypatch.setattr(ldr, "_use_kernels", lambda x: False)
    for strict in (False, True):
        assert not bool(torch.isfinite(mldr(pred, target, strict=strict)))


@pytest.mark.parametrize("mid_side,length", [(False, 60000), (True, 60000), (False, 15000)])
def test_mldr_gradient_equals_autograd_in_float64(mid_side, length):
    """15000 samples: the long averages' shifts (20947 and 41895) reach rows further on."""
    pred, target = _signals(torch.float64, length=length, seed=2)
    ours = mldr(pred, target, mid_side=mid_side)
    ref = autograd_mldr(pred, target, mid_side=mid_side)
    assert float(ours.detach()) == pytest.approx(float(ref.detach()), rel=1e-12)
    g_ours, = torch.autograd.grad(ours, pred)
    g_ref, = torch.autograd.grad(ref, pred)
    assert rel(g_ours, g_ref) < 1e-12


def test_mldr_strict_gradient_equals_autograd_in_float64():
    """The strict variant against autograd through ``log onepole`` with the shift in each row."""
    pred, target = _signals(torch.float64, length=50000, seed=3)

    def reference(p):
        total = 0
        for short_ms, long_ms in ((50.0, 1000.0), (100.0, 2000.0)):
            k = int(44100 * (long_ms - short_ms) * 0.0005)
            def ldr_of(x):
                energy = x.reshape(-1, x.shape[-1]).square().clamp_min(1e-8)
                short = torch.log(one_pole(energy, ms_to_coef(short_ms, 44100)))
                long = torch.log(one_pole(energy, ms_to_coef(long_ms, 44100)))
                return short[:, : x.shape[-1] - k] - long[:, k:]
            total = total + (ldr_of(p) - ldr_of(target)).abs().mean()
        return total

    ours, ref = mldr(pred, target, strict=True), reference(pred)
    assert float(ours.detach()) == pytest.approx(float(ref.detach()), rel=1e-12)
    g_ours, = torch.autograd.grad(ours, pred)
    g_ref, = torch.autograd.grad(ref, pred)
    assert rel(g_ours, g_ref) < 1e-12


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mldr_kernels_equal_the_tensor_path(monkeypatch, strict, dtype):
    pred, target = _signals(dtype, length=50000, seed=6)
    kernel = mldr(pred, target, strict=strict, mid_side=True)
    g_kernel, = torch.autograd.grad(kernel, pred)
    monkeypatch.setattr(ldr, "_use_kernels", lambda x: False)
    tensor = mldr(pred, target, strict=strict, mid_side=True)
    g_tensor, = torch.autograd.grad(tensor, pred)
    assert float(kernel.detach()) == pytest.approx(float(tensor.detach()), rel=1e-6 if dtype == torch.float32 else 1e-12)
    assert rel(g_kernel, g_tensor) < (1e-6 if dtype == torch.float32 else 1e-12)


@pytest.mark.parametrize("strict", [False, True])
def test_mldr_with_the_gpu_smoothers_equals_the_kernels(monkeypatch, strict):
    """Off the CPU the smoothers run the mixed-precision scan: same loss to 1e-6, same gradient
    to 1e-4 (run here on the CPU)."""
    pred, target = _signals(torch.float32, length=50000, seed=7)
    kernel = mldr(pred, target, strict=strict)
    g_kernel, = torch.autograd.grad(kernel, pred)
    monkeypatch.setattr(ldr, "_use_kernels", lambda x: False)
    monkeypatch.setattr(ldr, "_smoother_backend", lambda device: "mixed")
    mixed = mldr(pred, target, strict=strict)
    g_mixed, = torch.autograd.grad(mixed, pred)
    assert float(mixed.detach()) == pytest.approx(float(kernel.detach()), rel=1e-6)
    assert rel(g_mixed, g_kernel) < 1e-4


def test_gpu_code_paths_compute_what_the_cpu_kernels_do():
    """``tensor_paths()`` runs on the CPU what a GPU run computes (tensor operations, parallel
    scans in mixed precision): one training step's losses and gradients as with the kernels."""
    from diffvox.devices import tensor_paths

    gen = torch.Generator().manual_seed(11)
    dry = torch.randn(2, 1, 3 * 44100, generator=gen) * 0.1
    wet = torch.randn(2, 2, 2 * 44100, generator=gen) * 0.1
    results = []
    for simulate in (False, True):
        model = load_dataset("medleydb").preset(1).to_chain().train()
        with (tensor_paths() if simulate else contextlib.nullcontext()):
            terms = DiffVoxLoss()(model(dry, start=44100), wet)
            (terms["total"] + model.regulariser()).backward()
        grads = torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])
        results.append(({k: float(v) for k, v in terms.items()}, grads))
    (terms_k, grads_k), (terms_t, grads_t) = results
    for k in terms_k:
        assert terms_t[k] == pytest.approx(terms_k[k], rel=1e-4), k
    # the mixed-precision IIR scans: measured 3.1e-3 (float64 scans there: 5e-5); the smallest
    # components, sums of large terms that nearly cancel, differ by up to a few percent
    assert rel(grads_t, grads_k) < 5e-3


@pytest.mark.parametrize("kernels", [True, False])
def test_prepared_target_selects_the_same_losses(monkeypatch, kernels):
    """A selected target (rows read in place by the kernels, copied by the tensor path), also a
    selection of a selection, gives the values and gradients of the target's rows themselves."""
    if not kernels:
        monkeypatch.setattr(spectral, "_use_kernels", lambda spec: False)
        monkeypatch.setattr(ldr, "_use_kernels", lambda x: False)
    loss = DiffVoxLoss()
    gen = torch.Generator().manual_seed(5)
    pred, target = torch.randn(4, 2, 30000, generator=gen) * 0.1, torch.randn(5, 2, 30000, generator=gen) * 0.1
    index = torch.tensor([4, 0, 3, 1])
    prepared = loss.prepare(target).select(torch.tensor([1, 2, 3, 4, 0])).select(torch.tensor([3, 4, 2, 0]))
    pred = pred.requires_grad_()
    direct = loss(pred, target[index])
    selected = loss(pred, prepared)
    for k, v in selected.items():
        assert float(v) == float(direct[k]), k
    g_direct, = torch.autograd.grad(direct["total"], pred)
    g_selected, = torch.autograd.grad(selected["total"], pred)
    assert torch.equal(g_direct, g_selected)
    with pytest.raises(ValueError, match="one shape"):
        loss(pred[:2], prepared)


def test_iir_states_decaying_into_silence_end_at_zero():
    """A resonant low band rings out over a long silence: the states are flushed to 0 once below
    1e-250 (checked every 16 samples) instead of crawling through float64's subnormals; the
    values agree with scipy, and so does the gradient, whose adjoint rings out the same way."""
    sos = scipy.signal.butter(2, 20, fs=44100, output="sos")
    x = np.zeros(400000)
    x[0] = 1.0
    ours = sosfilt(torch.from_numpy(sos), torch.from_numpy(x)).numpy()
    ref = scipy.signal.sosfilt(sos, x)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)
    tail = np.abs(ours[ours != 0])
    assert tail.min() >= np.finfo(np.float64).tiny and ours[-1] == 0.0  # never subnormal
    assert (tail < 1e-250).sum() < 16  # flushed within 16 samples of crossing 1e-250
    # the adjoint: an impulse of gradient at the end rings back through the silence
    x_req = torch.from_numpy(x).requires_grad_(True)
    grad_y = torch.zeros(len(x), dtype=torch.float64)
    grad_y[-1] = 1.0
    sosfilt(torch.from_numpy(sos), x_req).backward(grad_y)
    ref_grad = scipy.signal.sosfilt(sos, grad_y.numpy()[::-1])[::-1]  # the time-reversed filter
    np.testing.assert_allclose(x_req.grad.numpy(), ref_grad, rtol=0, atol=1e-12)
    g_tail = np.abs(x_req.grad.numpy()[x_req.grad.numpy() != 0])
    assert g_tail.min() >= np.finfo(np.float64).tiny and x_req.grad[0] == 0.0


@pytest.mark.parametrize("seed,decay,n", [(1, "random", 20000), (2, "largest", 20000), (3, "largest", 768)])
def test_fdn_solver_kernel_equals_torch_solve_values_and_gradients(monkeypatch, seed, decay, n):
    """The compiled per-bin solver (no pivoting, bins in SIMD groups, the last group partial)
    against torch.linalg.solve (pivoted) with autograd, in float64; "largest": every band at
    the chain's largest decay, where the systems are worst conditioned."""
    from diffvox.functional import fdn

    def run(use_kernels):
        monkeypatch.setattr(fdn, "_use_kernels", lambda b: use_kernels)
        gen = torch.Generator().manual_seed(seed)
        b = torch.randn(1, 6, 2, generator=gen, dtype=torch.float64).requires_grad_()
        c = torch.randn(1, 2, 6, generator=gen, dtype=torch.float64).requires_grad_()
        gamma = torch.rand(1, 49, generator=gen, dtype=torch.float64) * 0.3 + 0.69
        if decay == "largest":
            gamma = torch.full_like(gamma, fdn.gamma_max())
        gamma.requires_grad_()
        skew = torch.randn(6, 6, generator=gen, dtype=torch.float64)
        U = torch.linalg.matrix_exp(skew - skew.T).unsqueeze(0).requires_grad_()
        H = fdn.fdn_transfer(b, c, gamma, U, n)
        weight = torch.randn(H.shape, generator=gen, dtype=H.dtype)
        (torch.view_as_real(H) * torch.view_as_real(weight)).sum().backward()
        return H.detach(), [p.grad for p in (b, c, gamma, U)]

    (h_kernel, g_kernel), (h_torch, g_torch) = run(True), run(False)
    assert rel(h_kernel, h_torch) < 1e-12
    for a, b in zip(g_kernel, g_torch):
        assert rel(a, b) < 1e-12


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(1, 1, 0), "empty signal"),
    (torch.full((1, 1, 100), float("nan")), "NaN or Inf"),
    (torch.tensor([[[0.0, float("inf")]]]), "NaN or Inf"),
])
def test_chain_refuses_empty_and_non_finite_input(bad, message):
    with pytest.raises(ValueError, match=message):
        DiffVox()(bad)


@pytest.mark.parametrize("device, message", [("gpu", "not a torch device"), ("cuda:99", "CUDA"),
                                             ("meta", "cpu or cuda")])
def test_devices_that_do_not_exist_are_refused(device, message):
    from diffvox.devices import resolve_device
    from diffvox.matching import MatchConfig, evaluate

    with pytest.raises(ValueError, match=message):
        resolve_device(device)
    with pytest.raises(ValueError, match=message):
        MatchConfig(device=device)
    with pytest.raises(ValueError, match=message):
        evaluate(np.zeros((2, 4410)), np.zeros((2, 4410)), device=device)
