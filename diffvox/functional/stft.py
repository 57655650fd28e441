"""The short-time Fourier transform of auraloss's losses (``torch.stft`` with a periodic Hann
window, centred frames, reflect padding) as frames x bins, and its adjoint.

The adjoint maps a gradient on the spectrum back to the signal by an inverse real FFT, the window
and an overlap-add of ``n_fft / hop`` shifted frame blocks, instead of autograd's strided
scatter, which dominated the loss's backward pass. On the CPU the framing and the overlap-add
are compiled kernels (:mod:`._stft_kernels`); elsewhere tensor operations.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from ..devices import cpu_kernels
from .fft import rfft_adjoint


@functools.lru_cache(maxsize=16)
def _window(n_fft: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.hann_window(n_fft, device=device, dtype=dtype)


def _use_kernels(x: torch.Tensor) -> bool:
    """The compiled framing and overlap-add (:mod:`._stft_kernels`): real CPU tensors that
    autograd does not follow."""
    return (cpu_kernels(x) and x.dtype in (torch.float32, torch.float64)
            and not (x.requires_grad and torch.is_grad_enabled()))


def _check(n_fft: int, hop: int, length: int) -> None:
    if n_fft % hop or n_fft % 2:
        raise ValueError(f"n_fft ({n_fft}) must be even and a multiple of the hop ({hop})")
    if length <= n_fft // 2:
        raise ValueError(f"an STFT of size {n_fft} needs more than {n_fft // 2} samples, got {length}")


def stft(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """(..., T) real -> (..., M, n_fft // 2 + 1) complex, M = 1 + T // hop frames; the values of
    ``torch.stft(x, n_fft, hop, window=hann_window(n_fft), return_complex=True)`` transposed."""
    _check(n_fft, hop, x.shape[-1])
    window = _window(n_fft, x.device, x.dtype)
    if _use_kernels(x):
        from . import _stft_kernels

        rows = x.detach().reshape(-1, x.shape[-1]).contiguous()
        frames = torch.empty(rows.shape[0], 1 + x.shape[-1] // hop, n_fft, dtype=x.dtype)
        _stft_kernels.frames(rows.numpy(), window.numpy(), hop, frames.numpy())
    else:
        rows = x.reshape(-1, 1, x.shape[-1])
        padded = F.pad(rows, (n_fft // 2, n_fft // 2), mode="reflect")[:, 0]
        frames = padded.unfold(-1, n_fft, hop) * window
    spec = torch.fft.rfft(frames)
    return spec.reshape(*x.shape[:-1], *spec.shape[-2:])


def stft_adjoint(grad: torch.Tensor, n_fft: int, hop: int, length: int,
                 bins_scaled: bool = False) -> torch.Tensor:
    """The gradient of a real loss with respect to the signal, given its gradient ``grad``
    (..., M, F) with respect to :func:`stft`'s output (PyTorch's convention for complex
    tensors, dL/dRe + i dL/dIm). ``bins_scaled``: ``grad`` is already multiplied by the real
    FFT's adjoint weights (1 at DC and Nyquist, 1/2 between). Returns (..., length)."""
    _check(n_fft, hop, length)
    pad, overlap = n_fft // 2, n_fft // hop
    n_frames = grad.shape[-2]
    frames = rfft_adjoint(grad, n_fft, n_fft, bins_scaled)
    if _use_kernels(frames):
        from . import _stft_kernels

        frames = frames.reshape(-1, n_frames, n_fft).contiguous()
        out = torch.empty(frames.shape[0], length, dtype=frames.dtype)
        _stft_kernels.overlap_add(frames.numpy(), _window(n_fft, frames.device, frames.dtype).numpy(),
                                  hop, out.numpy())
        return out.reshape(*grad.shape[:-2], length)
    frames = frames.reshape(-1, n_frames, overlap, hop)
    window = _window(n_fft, grad.device, frames.dtype).reshape(overlap, hop)
    # windowed overlap-add: frame m, block q lands on block m + q of the padded signal
    blocks = frames.new_zeros(frames.shape[0], n_frames + overlap - 1, hop)
    for q in range(overlap):
        blocks[:, q:q + n_frames].addcmul_(frames[:, :, q], window[q])
    padded = blocks.reshape(blocks.shape[0], -1)
    padded = F.pad(padded, (0, length + 2 * pad - padded.shape[-1]))
    # adjoint of the reflect padding: mirrored samples add back onto the ones they copy
    out = padded[:, pad:pad + length].clone()
    out[:, 1:pad + 1] += padded[:, :pad].flip(-1)
    out[:, length - 1 - pad:length - 1] += padded[:, pad + length:].flip(-1)
    return out.reshape(*grad.shape[:-2], length)
