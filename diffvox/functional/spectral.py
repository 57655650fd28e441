"""auraloss's multi-resolution STFT distances (spectral convergence + mean log-magnitude
distance, A-weighting applied by the caller) on L/R and on L+R / L-R, with a hand-written
gradient.

The STFT is linear, so the L+R and L-R spectra are sums and differences of the L and R ones: two
transforms per signal and resolution instead of four. The forward pass computes the distances;
the backward pass evaluates their gradient with respect to the spectra in closed form and maps it
back with the STFT's adjoint (:mod:`.stft`). On the CPU both passes over the spectra are compiled
kernels (:mod:`._spectral_kernels`); elsewhere the same formulas run as tensor operations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..devices import cpu_kernels
from .fft import bin_weights
from .stft import stft, stft_adjoint

MAGNITUDE_FLOOR = 1e-4  # auraloss's sqrt(clamp(|X|^2, min=1e-8))
VIEWS = ("lr", "sum", "diff")


def _four(spec: torch.Tensor) -> torch.Tensor:
    """(B, 2, M, F) L/R spectra -> (B, 4, M, F): L, R, L+R, L-R."""
    left, right = spec[:, 0], spec[:, 1]
    return torch.stack([left, right, left + right, left - right], dim=1)


def _power(views: torch.Tensor) -> torch.Tensor:
    real = torch.view_as_real(views)
    return real[..., 0].square().addcmul_(real[..., 1], real[..., 1])


def _magnitude(views: torch.Tensor) -> torch.Tensor:
    """auraloss's ``sqrt(clamp(re^2 + im^2, min=1e-8))``."""
    return _power(views).clamp_(min=MAGNITUDE_FLOOR ** 2).sqrt_()


def _per_view(per_four: torch.Tensor) -> torch.Tensor:
    """(4,) sums over L, R, L+R, L-R -> (3,) over the views lr, sum, diff."""
    return torch.stack([per_four[0] + per_four[1], per_four[2], per_four[3]])


@dataclass
class SpectralTarget:
    """A target's clamped magnitudes and their logarithms at one resolution, (N, 4, M, F) for
    L, R, L+R, L-R, and each row's squared magnitudes summed (N, 4), float64. ``rows``: the
    rows of the sub-batch this target stands for (:meth:`select`), or None for all N; the
    compiled kernels read those rows in place instead of copying them."""

    magnitude: torch.Tensor
    log_magnitude: torch.Tensor
    row_power: torch.Tensor
    rows: torch.Tensor | None = None

    @classmethod
    def of(cls, spec: torch.Tensor) -> "SpectralTarget":
        magnitude = _magnitude(_four(spec))
        return cls(magnitude, magnitude.log(), magnitude.square().sum(dim=(2, 3), dtype=torch.float64))

    def select(self, index: torch.Tensor) -> "SpectralTarget":
        """The rows ``index`` (a sub-batch, in that order), without copying."""
        index = torch.as_tensor(index, dtype=torch.long, device=self.magnitude.device)
        return SpectralTarget(self.magnitude, self.log_magnitude, self.row_power,
                              index if self.rows is None else self.rows[index])

    def row_index(self) -> torch.Tensor:
        """(B,) the stored rows of the sub-batch, in order."""
        return torch.arange(self.magnitude.shape[0]) if self.rows is None else self.rows

    def selected(self, field: str = "magnitude") -> torch.Tensor:
        """The sub-batch's ``magnitude`` or ``log_magnitude``, (B, 4, M, F) (a copy if selected)."""
        values = getattr(self, field)
        return values if self.rows is None else values[self.rows]

    def norms(self) -> torch.Tensor:
        """Frobenius norms of the views lr, sum, diff over the batch, (3,) float64."""
        power = self.row_power if self.rows is None else self.row_power[self.rows]
        return _per_view(power.sum(0)).sqrt()

    def counts(self) -> torch.Tensor:
        n = self.magnitude[0, 0].numel() * len(self.row_index())
        return torch.tensor([2.0 * n, n, n], dtype=torch.float64)


def spectral_targets(weighted: torch.Tensor, resolutions) -> list[SpectralTarget]:
    """An A-weighted (B, 2, T) target at each (n_fft, hop) resolution (no gradient)."""
    with torch.no_grad():
        return [SpectralTarget.of(stft(weighted, n, hop)) for n, hop in resolutions]


def _use_kernels(spec: torch.Tensor) -> bool:
    return cpu_kernels(spec) and spec.dtype == torch.complex64


def _sums(spec: torch.Tensor, target: SpectralTarget) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared residual norms and summed absolute log ratios of the views lr, sum, diff (3,) each."""
    if _use_kernels(spec):
        from . import _spectral_kernels as k

        b, n_all = spec.shape[0], target.magnitude.shape[0]
        x = spec.reshape(b, 2, -1).numpy()
        mag = target.magnitude.reshape(n_all, 4, -1).numpy()
        logmag = target.log_magnitude.reshape(n_all, 4, -1).numpy()
        out = np.zeros((b * -(-x.shape[2] // k._BLOCK), 6))
        k.distance_sums(x, mag, logmag, target.row_index().numpy(), np.float32(MAGNITUDE_FLOOR ** 2),
                        out)
        total = torch.from_numpy(out.sum(0))
        return total[:3], total[3:]
    target_mag, target_log = target.selected(), target.selected("log_magnitude")
    magnitude = _magnitude(_four(spec))
    sq = (target_mag - magnitude).square_().sum(dim=(0, 2, 3), dtype=torch.float64)
    lg = magnitude.log_().sub_(target_log).abs_().sum(dim=(0, 2, 3), dtype=torch.float64)
    return _per_view(sq), _per_view(lg)


def _grads(spec: torch.Tensor, target: SpectralTarget, w_sc: torch.Tensor, w_log: torch.Tensor) -> torch.Tensor:
    """(B, 2, M, F) gradient of ``sum_k w_sc[k] ||Y_k - |X_k| ||^2 / 2 + w_log[k] sum |log ratio|``
    with respect to the L/R spectra, times the real FFT's adjoint weights. On the CPU it is
    written over ``spec``."""
    n_bins = spec.shape[-1]
    scale = bin_weights(n_bins, spec.device, spec.real.dtype)
    if _use_kernels(spec):
        from . import _spectral_kernels as k

        # in place: the spectrum is the backward pass's own and is not read again
        k.distance_grads(spec.numpy(), target.magnitude.numpy(),
                         target.row_index().numpy(), np.float32(MAGNITUDE_FLOOR ** 2), w_sc.numpy(),
                         w_log.numpy(), scale.numpy())
        return spec
    target_mag = target.selected()
    power = _power(_four(spec))
    clamped = power < MAGNITUDE_FLOOR ** 2
    raw = power.clamp(min=MAGNITUDE_FLOOR ** 2).sqrt_()  # the floor only keeps 1 / |X| finite
    expand = lambda w: w[[0, 0, 1, 2]].to(raw.dtype).view(4, 1, 1)  # noqa: E731
    coef = (raw - target_mag).mul_(expand(w_sc))
    coef.add_(torch.sign(raw - target_mag).div_(raw).mul_(expand(w_log)))  # sign of the log ratio
    coef.div_(raw).masked_fill_(clamped, 0.0).mul_(scale)
    left, right = spec[:, 0], spec[:, 1]
    c0, c1, c2, c3 = coef.unbind(1)
    cross = c2 - c3
    return torch.stack([left * (c0 + c2 + c3) + right * cross, right * (c1 + c2 + c3) + left * cross], 1)


class MultiResolutionDistances(torch.autograd.Function):
    """``apply(weighted, targets, resolutions)`` -> (mss_lr, mss_ms): the mean over resolutions
    of SC + log distance on L/R, and of the mean of those on L+R and L-R."""

    @staticmethod
    def forward(ctx, weighted, targets, resolutions):
        specs, terms = [], []
        for (n_fft, hop), target in zip(resolutions, targets):
            spec = stft(weighted, n_fft, hop)
            sq, lg = _sums(spec, target)
            distance = sq.sqrt()
            counts = target.counts()
            sc, lm = distance / target.norms(), lg / counts
            terms.append(sc + lm)
            specs.append((spec, target, distance, counts, n_fft, hop))
        n_res = len(resolutions)
        per_view = torch.stack(terms).sum(0) / n_res
        ctx.specs, ctx.length = specs, weighted.shape[-1]
        dtype = weighted.dtype
        return per_view[0].to(dtype), ((per_view[1] + per_view[2]) / 2).to(dtype)

    @staticmethod
    def backward(ctx, grad_lr, grad_ms):
        n_res = len(ctx.specs)
        weights = torch.stack([grad_lr.double(), grad_ms.double() / 2, grad_ms.double() / 2]).cpu() / n_res
        total = None
        for spec, target, distance, counts, n_fft, hop in ctx.specs:
            real = spec.real.dtype
            w_sc = (weights / (distance * target.norms().cpu()).clamp_min(1e-30)).to(spec.device, real)
            w_log = (weights / counts).to(spec.device, real)
            g = stft_adjoint(_grads(spec, target, w_sc, w_log),
                             n_fft, hop, ctx.length, bins_scaled=True)
            total = g if total is None else total.add_(g)
        ctx.specs = None
        return total, None, None
