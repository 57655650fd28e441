"""The real FFT with a cheaper backward pass.

``torch.fft.rfft``'s backward pass pads the half spectrum's gradient to the full length and runs
a complex-to-complex transform, about twice the work of the forward pass. The adjoint of the
real FFT is a real inverse transform: ``x_bar[t] = Re sum_k G_k e^{2 pi i k t / n}``, i.e. an
unnormalised ``irfft`` of the gradient with the bins between DC and Nyquist halved (they stand
for two conjugate bins). Same values, same gradients (to rounding), half the backward work.
"""
from __future__ import annotations

import scipy.fft
import torch
from torch.autograd.function import once_differentiable


def fft_size(length: int) -> int:
    """The smallest even 5-smooth size >= length (fast for pocketfft and cuFFT; even, so that
    :func:`rfft`'s cheaper backward applies)."""
    return 2 * scipy.fft.next_fast_len(-(-length // 2), real=True)


def bin_weights(n_bins: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(n_bins,) 1 at DC and at Nyquist (even n), 1/2 between: the real FFT's adjoint weights."""
    scale = torch.full((n_bins,), 0.5, device=device, dtype=dtype)
    scale[0] = scale[-1] = 1.0
    return scale


def rfft_adjoint(grad: torch.Tensor, n: int, length: int, bins_scaled: bool = False) -> torch.Tensor:
    """Gradient with respect to a real (..., length) signal of a real loss, given its gradient
    ``grad`` (..., n // 2 + 1) with respect to ``rfft(x, n)`` (PyTorch's convention for complex
    tensors: dL/dRe + i dL/dIm). ``bins_scaled``: :func:`bin_weights` already applied."""
    if n % 2:
        raise ValueError(f"rfft_adjoint needs an even transform size, got {n}")
    if not bins_scaled:
        grad = grad * bin_weights(grad.shape[-1], grad.device, grad.real.dtype)
    out = torch.fft.irfft(grad, n, norm="forward")
    return out[..., :length] if length <= n else torch.nn.functional.pad(out, (0, length - n))


class _RFFT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, n):
        ctx.n, ctx.length = n, x.shape[-1]
        return torch.fft.rfft(x, n)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return rfft_adjoint(grad, ctx.n, ctx.length), None


def rfft(x: torch.Tensor, n: int | None = None) -> torch.Tensor:
    """``torch.fft.rfft(x, n)`` along the last dimension, (..., T) -> (..., n // 2 + 1), with the
    backward pass above (first-order gradients only). Odd ``n`` falls back to torch's."""
    n = x.shape[-1] if n is None else n
    if n % 2 or n < x.shape[-1] or not (x.requires_grad and torch.is_grad_enabled()):
        return torch.fft.rfft(x, n)
    return _RFFT.apply(x, n)
