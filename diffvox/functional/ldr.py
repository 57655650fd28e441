"""Loudness dynamic range (LDR) of the paper's MLDR loss, with a hand-written gradient.

``f(x) = log onepole(e, c_s) - R_k(log onepole(e, c_l))`` with ``e = max(x^2, 1e-8)`` per row of
(B*C, T), in float64; ``R_k`` shifts by k = int(sr (l - s) / 2000) samples (the original rolls the
flattened rows, so each row's last k samples take the next row's first; ``strict`` keeps each row
to itself). The gradient of ``mean |f(x) - f(y)|`` is ``sign / count`` divided by the smoothed
energies and sent back through each smoother by the same recursion run backwards in time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..devices import cpu_kernels
from ..filters.recurrence import recurrence_raw
from ..params import ms_to_coef


def shift_samples(short_ms: float, long_ms: float, sr: float) -> int:
    return int(sr * (long_ms - short_ms) * 0.0005)


def _smoother_backend(energy: torch.Tensor) -> str:
    """The recurrence backend of the smoothers: off the CPU the mixed-precision scan (float64
    carries, single-precision products; :func:`diffvox.filters.scan.blocked_scan`)."""
    return "auto" if cpu_kernels(energy) else "mixed"


def _smooth(energy: torch.Tensor, ms: float, sr: float, reverse: bool = False) -> torch.Tensor:
    """onepole over rows (R, T) (or its adjoint, ``reverse``), float64."""
    coef = float(ms_to_coef(ms, sr))
    pole = torch.full((energy.shape[0],), 1 - coef, dtype=energy.dtype, device=energy.device)
    return recurrence_raw(pole, energy * coef, _smoother_backend(energy), reverse=reverse)


def energy_rows(x: torch.Tensor) -> torch.Tensor:
    """(..., T) -> (R, T) float64 ``max(x^2, 1e-8)``."""
    return x.reshape(-1, x.shape[-1]).to(torch.float64).square().clamp_(min=1e-8)


def ldr_rows(log_short: torch.Tensor, log_long: torch.Tensor, k: int, strict: bool) -> torch.Tensor:
    """(R, T) logs of the smoothed energies -> LDR rows (R, T), or (R, T - k) when ``strict``."""
    n_time = log_short.shape[-1]
    if strict:
        if n_time <= k:
            raise ValueError(f"strict MLDR shifts by {k} samples and needs more per signal, got {n_time}")
        return log_short[:, : n_time - k] - log_long[:, k:]
    return log_short - torch.roll(log_long, -k)


@dataclass
class LDRTarget:
    """A (N, C, T) target's log smoothed energies per scale: ``logs[i] = (short, long)``, each
    (N, C, T), computed in float64 and stored in the target's precision (float32 or float64).
    The shift is applied when compared, so sub-batches can be selected; ``rows``: the sub-batch's rows (:meth:`select`; None for all N), read in place by the
    compiled kernels."""

    logs: list
    rows: torch.Tensor | None = None

    @classmethod
    def of(cls, target: torch.Tensor, scales, sr: float) -> "LDRTarget":
        with torch.no_grad():
            energy = energy_rows(target)
            dtype = target.dtype if target.dtype == torch.float32 else torch.float64
            return cls([tuple(_smooth(energy, ms, sr).log_().reshape(target.shape).to(dtype) for ms in scale)
                        for scale in scales])

    def select(self, index: torch.Tensor) -> "LDRTarget":
        """The rows ``index`` (a sub-batch, in that order), without copying."""
        index = torch.as_tensor(index, dtype=torch.long, device=self.logs[0][0].device)
        return LDRTarget(self.logs, index if self.rows is None else self.rows[index])

    def selected_logs(self) -> list:
        """``logs`` of the sub-batch, (B, C, T) each (copies if selected)."""
        if self.rows is None:
            return self.logs
        return [(short[self.rows], long[self.rows]) for short, long in self.logs]

    def signal_rows(self) -> np.ndarray:
        """(B * C,) for each (batch, channel) row of the sub-batch, its row in the stored
        (N * C, T) arrays."""
        n_all, channels = self.logs[0][0].shape[:2]
        rows = np.arange(n_all) if self.rows is None else self.rows.cpu().numpy()
        return (rows[:, None] * channels + np.arange(channels)).reshape(-1).astype(np.int64)


def _use_kernels(x: torch.Tensor) -> bool:
    return cpu_kernels(x)


class MultiScaleLDR(torch.autograd.Function):
    """``apply(x, target, scales, sr, strict)``: sum over (short_ms, long_ms) scales of
    mean |f(x) - f(target)|; x (B, C, T), target an :class:`LDRTarget`. On the CPU the work is
    three compiled passes (:mod:`._ldr_kernels`); elsewhere tensor operations and the recurrence."""

    @staticmethod
    def forward(ctx, x, target, scales, sr, strict):
        if _use_kernels(x):
            return _forward_cpu(ctx, x, target, scales, sr, strict)
        energy = energy_rows(x)
        need_grad = ctx.needs_input_grad[0]
        total, grad_energy = x.new_zeros((), dtype=torch.float64), None
        for (short_ms, long_ms), (t_short, t_long) in zip(scales, target.selected_logs()):
            k = shift_samples(short_ms, long_ms, sr)
            short, long = _smooth(energy, short_ms, sr), _smooth(energy, long_ms, sr)
            diff = ldr_rows(short.log(), long.log(), k, strict)
            diff.sub_(ldr_rows(t_short.reshape(diff.shape[0], -1), t_long.reshape(diff.shape[0], -1), k, strict))
            total = total + diff.abs().mean()
            if not need_grad:
                continue
            sign = diff.sign_().div_(diff.numel())
            if strict:
                g_short = torch.nn.functional.pad(sign, (0, k)).div_(short)
                g_long = torch.nn.functional.pad(sign, (k, 0)).neg_().div_(long)
            else:  # the adjoint of the flattened roll by -k is the roll by +k
                g_short = sign.div(short)
                g_long = torch.roll(sign, k).neg_().div_(long)
            for g, ms in ((g_short, short_ms), (g_long, long_ms)):
                adj = _smooth(g, ms, sr, reverse=True)
                grad_energy = adj if grad_energy is None else grad_energy.add_(adj)
        ctx.grad = None
        if need_grad:  # e = max(x^2, 1e-8): de/dx = 2x where x^2 > 1e-8
            rows = x.reshape(-1, x.shape[-1]).to(torch.float64)
            grad_energy.mul_(rows).mul_(2).mul_(energy > 1e-8)
            ctx.grad = grad_energy.to(x.dtype).reshape(x.shape)
        return total.to(x.dtype)

    @staticmethod
    def backward(ctx, grad_total):
        if ctx.grad is None:
            return _backward_cpu(ctx, grad_total), None, None, None, None
        grad, ctx.grad = ctx.grad, None
        return grad * grad_total, None, None, None, None


def _forward_cpu(ctx, x, target, scales, sr, strict):
    import numpy as np

    from . import _ldr_kernels

    rows = x.detach().reshape(-1, x.shape[-1]).contiguous().numpy()
    n_rows, n_time = rows.shape
    coefs = np.array([float(ms_to_coef(ms, sr)) for scale in scales for ms in scale])
    shifts = np.array([shift_samples(s, l, sr) for s, l in scales], dtype=np.int64)
    # stored in the signal's precision (the recursions run in float64): a float32 fit moves half
    # the bytes through the memory-bound comparison and gradient passes
    stored = rows.dtype if rows.dtype == np.float32 else np.float64
    smoothed = np.empty((len(coefs), n_rows, n_time), dtype=stored)
    _ldr_kernels.smooth(rows, coefs, smoothed)
    grads = np.empty((len(coefs), n_rows, n_time), dtype=stored)
    counts = np.array([n_rows * (n_time - k if strict else n_time) for k in shifts], dtype=np.float64)
    total = 0.0
    target_rows = target.signal_rows()
    if len(target_rows) != n_rows or target.logs[0][0].shape[-1] != n_time:
        raise ValueError(f"MLDR target of {len(target_rows)} x {target.logs[0][0].shape[-1]} samples "
                         f"for a prediction of {n_rows} x {n_time}")
    # a NaN or infinite sample stays in a smoother's state to the end of its row: the last
    # samples tell whether the comparison's logarithms (which skip special values) may run
    finite = bool(np.isfinite(smoothed[:, :, -1]).all())
    for s, (t_short, t_long) in enumerate(target.logs if finite else ()):
        sums = np.empty(n_rows)
        _ldr_kernels.compare(smoothed[2 * s], smoothed[2 * s + 1],
                             t_short.reshape(-1, n_time).contiguous().numpy(),
                             t_long.reshape(-1, n_time).contiguous().numpy(), target_rows,
                             int(shifts[s]), strict, grads[2 * s], grads[2 * s + 1], sums)
        total += sums.sum() / counts[s]
    if not finite:
        grads.fill(0)
        total = float("nan")
    ctx.grad = None
    ctx.cpu = (rows, grads, coefs, counts, x.dtype, x.shape)
    return torch.tensor(total, dtype=x.dtype)


def _backward_cpu(ctx, grad_total):
    import numpy as np

    from . import _ldr_kernels

    rows, grads, coefs, counts, dtype, shape = ctx.cpu
    ctx.cpu = None
    grad = np.empty(rows.shape, dtype=rows.dtype)
    _ldr_kernels.gradient(rows, grads, coefs, float(grad_total) / counts, grad)
    return torch.from_numpy(grad).reshape(shape)
