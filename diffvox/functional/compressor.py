"""Compressor/expander with an RMS detector and a fractional lookahead (torchcomp gain)."""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable
from torchcomp.core import CompressorFunction

from ..devices import cpu_kernels
from ..filters import one_pole
from .fir import valid_fir

MAX_LOOKAHEAD_MS = 15.0
PRE_MS = 1.0  # the lookahead kernel also spans 1 ms before the sample


class _GainSmoothing(CompressorFunction):
    """torchcomp's attack/release smoothing (its numba forward; on the CPU our compiled backward,
    elsewhere torchcomp's through torchlpc), saving its tensors for the backward pass only.
    torchcomp also keeps them for forward-mode AD, which ties the output to its own graph node: a reference cycle that Python
    never frees, leaking every call's (B, T) tensors (the full-size CPU fit grew to 23 GB)."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, zi, at, rt = inputs
        y, at_mask = output
        ctx.mark_non_differentiable(at_mask)
        ctx.save_for_backward(x, y, zi, at, rt, at_mask)

    @staticmethod
    def backward(ctx, grad_y, _):
        """On the CPU one compiled pass backwards in time (:mod:`._compressor_kernels`; torchcomp's
        goes through torchlpc and several full-size temporaries); elsewhere torchcomp's."""
        saved = ctx.saved_tensors
        if not cpu_kernels(saved[0]):
            return CompressorFunction.backward(ctx, grad_y, _)
        from . import _compressor_kernels

        x, y, zi, at, rt, at_mask = (t.detach().contiguous() for t in saved)
        grad_x = torch.empty_like(x)
        grads = [torch.empty(x.shape[0], dtype=torch.float64) for _ in range(3)]
        _compressor_kernels.smoothing_backward(
            x.numpy(), y.numpy(), zi.numpy(), at.numpy(), rt.numpy(), at_mask.numpy(),
            grad_y.contiguous().numpy(), grad_x.numpy(), *(g.numpy() for g in grads))
        grad_zi, grad_at, grad_rt = (g.to(t.dtype) for g, t in zip(grads, (zi, at, rt)))
        needs = ctx.needs_input_grad
        return (grad_x if needs[0] else None, grad_zi if needs[1] else None,
                grad_at if needs[2] else None, grad_rt if needs[3] else None)


def smooth_gain(gain: torch.Tensor, attack: torch.Tensor, release: torch.Tensor) -> torch.Tensor:
    """``g[n] = (1 - c) g[n-1] + c f[n]`` from ``g[-1] = 1``, ``c`` = attack where ``f < g`` else
    release. gain f (B, T) linear, attack/release (B,) in (0, 1) -> (B, T)."""
    return _GainSmoothing.apply(gain, gain.new_ones(gain.shape[0]), attack, release)[0]


def static_gain_db(level_db: torch.Tensor, cmp_th, cmp_ratio, exp_th, exp_ratio) -> torch.Tensor:
    """The gain computer in dB: ``min(0, (1 - 1/CR)(CT - L), (1 - 1/ER)(ET - L))``. level_db
    (B, T) or (T,); parameters broadcast against it (use (B, 1) for a batch)."""
    comp = (1 - 1 / cmp_ratio) * (cmp_th - level_db)
    exp = (1 - 1 / exp_ratio) * (exp_th - level_db)
    return torch.minimum(comp, exp).clamp_max(0)


class _TargetGain(torch.autograd.Function):
    """``10^(g / 20)`` with ``g = static_gain_db(20 log10 rms, ...)``, one compiled pass each way
    (CPU); rms (B, T), parameters (B,)."""

    @staticmethod
    def forward(ctx, rms, cmp_th, cmp_ratio, exp_th, exp_ratio):
        from . import _compressor_kernels

        rms = rms.detach().contiguous()
        params = [p.detach().to(torch.float64).contiguous()
                  for p in (cmp_th, cmp_ratio, exp_th, exp_ratio)]
        gain = torch.empty_like(rms)
        _compressor_kernels.target_gain(rms.numpy(), *(p.numpy() for p in params), gain.numpy())
        ctx.save_for_backward(rms, gain, *params)
        return gain

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_gain):
        from . import _compressor_kernels

        rms, gain, *params = ctx.saved_tensors
        grad_rms = torch.empty_like(rms)
        grads = torch.empty(4, rms.shape[0], dtype=torch.float64)
        _compressor_kernels.target_gain_backward(rms.numpy(), gain.numpy(), *(p.numpy() for p in params),
                                                 grad_gain.contiguous().numpy(), grad_rms.numpy(), grads.numpy())
        return (grad_rms, *(g.to(rms.dtype) for g in grads))


def target_gain(rms: torch.Tensor, cmp_th, cmp_ratio, exp_th, exp_ratio) -> torch.Tensor:
    """The gain computer's linear gain ``10^(static_gain_db(20 log10 rms) / 20)``: rms (B, T),
    parameters (B,). On the CPU one compiled pass each way (float64 inside), elsewhere tensor
    operations; the same values and gradients (tests)."""
    if cpu_kernels(rms) and rms.dtype in (torch.float32, torch.float64):
        return _TargetGain.apply(rms, cmp_th, cmp_ratio, exp_th, exp_ratio)
    col = lambda p: p.unsqueeze(-1)  # noqa: E731
    return 10 ** (static_gain_db(20 * torch.log10(rms), col(cmp_th), col(cmp_ratio), col(exp_th),
                                 col(exp_ratio)) / 20)


def rms_envelope(x: torch.Tensor, avg_coef: torch.Tensor) -> torch.Tensor:
    """``sqrt(onepole(max(x^2, 1e-8), avg_coef))``. x (B, T), avg_coef (B,) -> (B, T)."""
    return torch.sqrt(one_pole(x.square().clamp_min(1e-8), avg_coef))


def lookahead_kernel(lookahead_ms: torch.Tensor, sr: float) -> tuple[torch.Tensor, int]:
    """Sinc taps ``k[j] = sinc(j - pre - Ls)``, j = 0..int(sr * 0.016), Ls = ms * sr / 1000.

    lookahead_ms (B,) -> taps (B, n_taps) and ``pre`` (taps before the sample, 44 at 44.1 kHz).
    """
    pre = int(sr * PRE_MS / 1000)
    n_taps = int(sr * (PRE_MS + MAX_LOOKAHEAD_MS) / 1000) + 1
    shift = lookahead_ms * sr / 1000
    j = torch.arange(n_taps, device=shift.device, dtype=shift.dtype)
    return torch.sinc(j - pre - shift.unsqueeze(-1)), pre


def apply_lookahead(gain: torch.Tensor, lookahead_ms: torch.Tensor, sr: float) -> torch.Tensor:
    """``g_la[n] = sum_m g[n + m] sinc(m - Ls)``, m = -pre..n_taps-1-pre, edges held.

    gain (B, T), lookahead_ms (B,) -> (B, T).
    """
    taps, pre = lookahead_kernel(lookahead_ms, sr)
    post = taps.shape[-1] - 1 - pre
    padded = torch.cat([gain[:, :1].expand(-1, pre), gain, gain[:, -1:].expand(-1, post)], dim=-1)
    # correlation with k == convolution with k reversed; keep the samples aligned to g's start
    return valid_fir(padded, taps.flip(-1))


def compressor_expander(x, cmp_th, cmp_ratio, exp_th, exp_ratio, attack, release, avg_coef,
                        lookahead_ms, make_up_db, sr: float) -> torch.Tensor:
    """Apply the compressor/expander.

    x: (B, T) mono; every parameter (B,) (thresholds and make-up in dB, ratios, attack/release and
    averaging as smoothing coefficients in (0, 1), lookahead in ms). Returns (B, T).
    """
    target = target_gain(rms_envelope(x, avg_coef), cmp_th, cmp_ratio, exp_th, exp_ratio)
    gain = apply_lookahead(smooth_gain(target, attack, release), lookahead_ms, sr)
    return x * gain * (10 ** (make_up_db / 20)).unsqueeze(-1)


def static_curve(level_db: torch.Tensor, cmp_th, cmp_ratio, exp_th, exp_ratio) -> torch.Tensor:
    """Steady-state output level (dB) for an input level (dB), before make-up gain."""
    return level_db + static_gain_db(level_db, cmp_th, cmp_ratio, exp_th, exp_ratio)

