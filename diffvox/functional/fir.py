"""FIR filtering with a short kernel by overlap-save FFT blocks, with a hand-written backward.

For a few hundred taps on a long signal one FFT of the whole signal is wasteful: blocks of a few
thousand samples transform faster (they stay in cache), and the backward pass is two more
overlap-save passes (the signal's gradient is a convolution with the reversed taps; the taps'
gradient is a cross-correlation summed over the blocks in the frequency domain, one inverse FFT
per row).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable


def block_size(n_taps: int) -> int:
    """FFT block length for ``n_taps`` taps: a power of two about 8 times the kernel."""
    return max(256, 1 << (8 * n_taps - 1).bit_length())


def _blocks(x: torch.Tensor, n_taps: int, n_out: int, nb: int) -> torch.Tensor:
    """(R, T) -> (R, K, nb): the overlapping blocks whose valid outputs cover ``n_out`` samples."""
    hop = nb - n_taps + 1
    n_blocks = -(-n_out // hop)
    need = (n_blocks - 1) * hop + nb
    return F.pad(x, (0, need - x.shape[-1])).unfold(-1, nb, hop)


def _valid(x: torch.Tensor, taps_spec: torch.Tensor, n_taps: int, n_out: int, nb: int):
    """Overlap-save: ``y[m] = sum_j taps[j] x[m + N - 1 - j]``, m < n_out; also the blocks' spectra.
    x (R, T); taps_spec (R, F) or (F,)."""
    spec = torch.fft.rfft(_blocks(x, n_taps, n_out, nb), nb)
    out = torch.fft.irfft(spec * taps_spec.unsqueeze(-2), nb)[..., n_taps - 1:]
    return out.reshape(x.shape[0], -1)[:, :n_out], spec


class _ValidFIR(torch.autograd.Function):
    """x (R, T), taps (R, N) or (N,) shared by every row -> (R, T - N + 1)."""

    @staticmethod
    def forward(ctx, x, taps, nb):
        n_taps, n_out = taps.shape[-1], x.shape[-1] - taps.shape[-1] + 1
        y, spec = _valid(x, torch.fft.rfft(taps, nb), n_taps, n_out, nb)
        ctx.save_for_backward(taps, spec if ctx.needs_input_grad[1] else None)
        ctx.nb, ctx.length = nb, x.shape[-1]
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        taps, spec = ctx.saved_tensors
        nb, n_taps, n_out = ctx.nb, taps.shape[-1], grad.shape[-1]
        grad_x = grad_taps = None
        if ctx.needs_input_grad[0]:  # x_bar[t] = sum_i taps[N-1-i] y_bar[t - N + 1 + i]
            flipped = torch.fft.rfft(taps.flip(-1), nb)
            padded = F.pad(grad, (n_taps - 1, n_taps - 1))
            grad_x, _ = _valid(padded, flipped, n_taps, ctx.length, nb)
        if ctx.needs_input_grad[1]:  # taps_bar[j] = sum_m y_bar[m] x[m + N - 1 - j]
            g_blocks = _blocks(F.pad(grad, (n_taps - 1, 0)), n_taps, n_out, nb)
            # keep only each block's valid part (the first N - 1 samples belong to the previous)
            g_blocks = F.pad(g_blocks[..., n_taps - 1:], (n_taps - 1, 0))
            cross = (torch.fft.rfft(g_blocks, nb) * spec.conj()).sum(-2)
            if taps.dim() == 1:
                cross = cross.sum(0)
            grad_taps = torch.fft.irfft(cross, nb)[..., :n_taps]
        return grad_x, grad_taps, None


def valid_fir(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """``y[m] = sum_j taps[j] x[m + N - 1 - j]`` for m = 0..T-N: the outputs of the causal
    convolution that see no sample before x[0] ("valid"). x (..., T); taps (N,) shared by every
    row, or (..., N) with x's leading shape. Returns (..., T - N + 1)."""
    if taps.dim() not in (1, x.dim()) or (taps.dim() > 1 and taps.shape[:-1] != x.shape[:-1]):
        raise ValueError(f"valid_fir takes x (..., T) and taps (N,) or (..., N) with x's leading "
                         f"shape, got {tuple(x.shape)} and {tuple(taps.shape)}")
    if taps.shape[-1] > x.shape[-1]:
        raise ValueError(f"valid_fir needs at least as many samples ({x.shape[-1]}) as taps ({taps.shape[-1]})")
    rows = x.reshape(-1, x.shape[-1])
    taps2 = taps if taps.dim() == 1 else taps.reshape(-1, taps.shape[-1])
    y = _ValidFIR.apply(rows, taps2, block_size(taps.shape[-1]))
    return y.reshape(*x.shape[:-1], y.shape[-1])
