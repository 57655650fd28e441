"""The real FFT with its cheaper backward, the convolutions built on it, and overlap-save FIR:
values against scipy.signal, gradients against torch's own backward and finite differences."""
import numpy as np
import pytest
import scipy.signal
import torch

from diffvox.functional.convolution import causal_fft_conv
from diffvox.functional.fft import fft_size, rfft
from diffvox.functional.fir import valid_fir


@pytest.mark.parametrize("length,n", [(1000, 1000), (1000, 2048), (7, 16), (9, 9)])
def test_rfft_gradient_equals_torch(length, n):
    gen = torch.Generator().manual_seed(length + n)
    x = torch.randn(3, length, dtype=torch.float64, generator=gen, requires_grad=True)
    weight = torch.randn(3, n // 2 + 1, dtype=torch.complex128, generator=gen)
    ours, = torch.autograd.grad(torch.view_as_real(rfft(x, n) * weight).sum(), x)
    torch_, = torch.autograd.grad(torch.view_as_real(torch.fft.rfft(x, n) * weight).sum(), x)
    torch.testing.assert_close(ours, torch_, rtol=0, atol=1e-12)
    assert torch.equal(rfft(x, n).detach(), torch.fft.rfft(x.detach(), n))


def test_fft_size_is_even_fast_and_large_enough():
    for length in (1, 5, 100, 1001, 529200 * 2 - 1, 1058399):
        n = fft_size(length)
        assert n >= length and n % 2 == 0
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        assert m == 1, n


@pytest.mark.parametrize("start", [0, 1, 400, 999])
def test_causal_conv_from_start_equals_lfilter(start):
    gen = torch.Generator().manual_seed(start)
    x = torch.randn(2, 1000, dtype=torch.float64, generator=gen)
    h = torch.randn(2, 700, dtype=torch.float64, generator=gen)
    ref = np.stack([scipy.signal.lfilter(h[i].numpy(), [1.0], x[i].numpy()) for i in range(2)])
    np.testing.assert_allclose(causal_fft_conv(x, h, start).numpy(), ref[:, start:], rtol=0, atol=1e-11)


def test_causal_conv_refuses_a_start_outside_the_signal():
    with pytest.raises(ValueError, match="start"):
        causal_fft_conv(torch.zeros(1, 10), torch.zeros(1, 3), 10)


@pytest.mark.parametrize("batch,length,n_taps", [(3, 5000, 707), (2, 1000, 10), (1, 707, 707), (2, 20000, 300)])
def test_valid_fir_equals_lfilter_and_its_gradients(batch, length, n_taps):
    gen = torch.Generator().manual_seed(length)
    x = torch.randn(batch, length, dtype=torch.float64, generator=gen, requires_grad=True)
    taps = torch.randn(batch, n_taps, dtype=torch.float64, generator=gen, requires_grad=True)
    y = valid_fir(x, taps)
    ref = np.stack([scipy.signal.lfilter(taps[i].detach().numpy(), [1.0], x[i].detach().numpy())
                    for i in range(batch)])[:, n_taps - 1:]
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=0, atol=1e-10)
    weight = torch.randn(y.shape, dtype=torch.float64, generator=gen)
    ours = torch.autograd.grad((y * weight).sum(), (x, taps))
    direct = causal_fft_conv(x, taps)[:, n_taps - 1:]
    torch_ = torch.autograd.grad((direct * weight).sum(), (x, taps))
    for a, b in zip(ours, torch_):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_valid_fir_gradcheck():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 60, dtype=torch.float64, generator=gen, requires_grad=True)
    taps = torch.randn(2, 9, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(valid_fir, (x, taps))


def test_valid_fir_refuses_bad_shapes():
    with pytest.raises(ValueError, match="taps"):
        valid_fir(torch.zeros(2, 5), torch.zeros(2, 6))
    with pytest.raises(ValueError, match="valid_fir takes"):
        valid_fir(torch.zeros(5), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="valid_fir takes"):
        valid_fir(torch.zeros(2, 2, 9), torch.zeros(3, 3))


def test_valid_fir_with_shared_taps_equals_per_row_taps():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 4000, dtype=torch.float64, generator=gen)
    taps = torch.randn(101, dtype=torch.float64, generator=gen, requires_grad=True)
    weight = torch.randn(2, 3, 3900, dtype=torch.float64, generator=gen)
    shared = valid_fir(x, taps)
    per_row = valid_fir(x, taps.expand(2, 3, 101))
    torch.testing.assert_close(shared, per_row, rtol=0, atol=1e-12)
    g_shared, = torch.autograd.grad((shared * weight).sum(), taps)
    g_rows, = torch.autograd.grad((per_row * weight).sum(), taps)
    torch.testing.assert_close(g_shared, g_rows, rtol=0, atol=1e-10)
