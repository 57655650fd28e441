"""The exact chain's parameters, read from a :class:`~diffvox.DiffVox` chain, and loop stability.

Values are decoded in the chain's dtype (float32, as the original does) by the chain's own
declarations (:meth:`~diffvox.DiffVox.decode`) and then held in float64.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal
import torch

from ..filters import biquad_coefficients
from ..functional.compressor import MAX_LOOKAHEAD_MS, PRE_MS, lookahead_kernel
from ..functional.fdn import DELAYS
from ..functional.pan import pan_gains

FIR_TAPS = 97  # linear-phase decay filter per FDN line (group delay 48 samples)
PAPER_CLIP_Q = 0.707  # the paper's "w/o Approx." setting for the delay's loop low-pass


class UnstableLoopError(ValueError):
    """A feedback loop of the exact chain has a gain of at least one at some frequency."""


def _normalised_sos(sos: torch.Tensor) -> np.ndarray:
    """(K, 6) [b0 b1 b2 a0 a1 a2] -> (K, 5) float64 ``b / a0, a1 / a0, a2 / a0``."""
    s = sos.detach().double().cpu().numpy().reshape(-1, 6)
    return np.concatenate([s[:, :3], s[:, 4:]], axis=1) / s[:, 3:4]


def peak_gain(sos5: np.ndarray, n: int = 1 << 15) -> float:
    """Largest magnitude of a biquad cascade (K, 5) on a dense grid from DC to Nyquist."""
    b = sos5[:, :3]
    a = np.concatenate([np.ones((len(sos5), 1)), sos5[:, 3:]], axis=1)
    _, h = scipy.signal.sosfreqz(np.concatenate([b, a], axis=1), worN=n)
    return float(np.abs(h).max())


def decay_filters(gamma: np.ndarray, delays=DELAYS, n_taps: int = FIR_TAPS) -> np.ndarray:
    """Per line, the 49-band decay ``gamma^(m_i / m_0)`` as a linear-phase FIR (``firwin2``,
    Hamming window), rounded to float32 as the original stores it. gamma (K,) -> (L, n_taps)."""
    bands = np.linspace(0.0, 1.0, len(gamma))
    return np.stack([
        scipy.signal.firwin2(n_taps, bands, gamma ** (m / delays[0]), fs=2).astype(np.float32)
        for m in delays]).astype(np.float64)


@dataclass
class ExactParameters:
    """Everything the exact renderer needs, float64 numpy."""

    eq_sos: np.ndarray            # (6, 5)
    avg_coef: float
    cmp_th: float
    cmp_slope: float
    exp_th: float
    exp_slope: float
    attack: float
    release: float
    lookahead_taps: np.ndarray    # (706,) sinc taps, 44 before the sample
    lookahead_pre: int
    make_up: float                # linear
    direct_gains: np.ndarray      # (2,)
    delay: dict | None            # d, loop_sos (5,), feedback, gain, odd_gains, even_gains, loop_gain
    send: float
    reverb: dict | None           # b, c, U, taps, delays, tone_sos, loop_gain

    @property
    def latency(self) -> int:
        """Samples the lookahead reads ahead (the stream's delay)."""
        return len(self.lookahead_taps) - 1 - self.lookahead_pre

    def check_stable(self) -> None:
        """Raise :class:`UnstableLoopError` naming the effect whose loop gain reaches 1."""
        d = self.delay
        if d is not None and d["loop_gain"] >= 1:
            raise UnstableLoopError(
                f"delay: the exact feedback loop is unstable (loop gain {d['loop_gain']:.3f} = feedback "
                f"{d['feedback']:.3f} x low-pass peak {d['lowpass_peak']:.3f} at Q {d['q']:.3f}); "
                f"render with --clip-q {PAPER_CLIP_Q} (the paper's setting)")
        r = self.reverb
        if r is not None and r["loop_gain"] >= 1:
            raise UnstableLoopError(
                f"reverb: the exact FDN loop is unstable (its decay filters peak at "
                f"{r['loop_gain']:.4f} >= 1)")


@torch.no_grad()
def exact_parameters(chain, clip_q: float | None = None, row: int = 0) -> ExactParameters:
    """Read preset ``row`` of a :class:`~diffvox.DiffVox` chain (float32, any mode) into
    :class:`ExactParameters`.

    ``clip_q`` clips the delay's loop low-pass Q to at most that value (the original's
    ``--clip-Q``; the paper used 0.707); None leaves it as fitted.
    """
    if clip_q is not None and not (np.isfinite(clip_q) and clip_q > 0):
        raise ValueError(f"--clip-q must be a positive number, got {clip_q}")
    sr = chain.sr
    values = chain.decode(rows=slice(row, row + 1))
    v = {module: {k: t[0].detach() for k, t in params.items()} for module, params in values.items()}
    c = v[chain.compressor]
    taps, pre = lookahead_kernel(c["lookahead"].reshape(1).double(), sr)
    assert taps.shape[-1] == int(sr * (PRE_MS + MAX_LOOKAHEAD_MS) / 1000) + 1
    f = lambda t: float(t.detach().reshape(-1)[0])  # noqa: E731
    params = ExactParameters(
        eq_sos=_normalised_sos(chain.eq_sos(values)[0]),
        avg_coef=f(c["avg_coef"]), cmp_th=f(c["cmp_th"]), cmp_slope=1 - 1 / f(c["cmp_ratio"]),
        exp_th=f(c["exp_th"]), exp_slope=1 - 1 / f(c["exp_ratio"]), attack=f(c["at"]),
        release=f(c["rt"]), lookahead_taps=taps[0].numpy(), lookahead_pre=pre,
        make_up=10 ** (f(c["make_up"]) / 20),
        direct_gains=pan_gains(v[chain.pan]["pan"]).double().numpy(), delay=None, send=0.0, reverb=None)
    if chain.delay is not None:
        d, band = v[chain.delay], v[chain.delay.eq]
        q = float(band["Q"])
        if clip_q is not None:
            q = min(q, clip_q)
        loop_sos = _normalised_sos(biquad_coefficients(
            "lowpass", band["freq"], torch.tensor(q, dtype=band["freq"].dtype), 0.0, sr))[0]
        feedback = f(d["feedback"])
        peak = peak_gain(loop_sos[None])
        params.delay = {
            "d": int(round(sr * f(d["delay"]) / 1000)), "loop_sos": loop_sos, "q": q,
            "feedback": feedback, "gain": f(d["gain"]), "lowpass_peak": peak,
            "loop_gain": feedback * peak,
            "odd_gains": pan_gains(v[chain.delay.odd_pan]["pan"]).double().numpy(),
            "even_gains": pan_gains(v[chain.delay.even_pan]["pan"]).double().numpy()}
    if chain.has_send:
        params.send = f(v[chain]["send"])
    if chain.reverb is not None:
        r = v[chain.reverb]
        fir = decay_filters(r["gamma"].double().numpy())
        spectrum = np.abs(np.fft.rfft(fir, 1 << 14, axis=-1))
        tone = torch.stack([band.sos(v[band]) for band in chain.reverb.eq.bands])
        params.reverb = {
            "b": r["b"].double().numpy(), "c": r["c"].double().numpy(),
            "U": r["U"].double().numpy(), "taps": fir,
            "symmetric": bool(np.array_equal(fir, fir[:, ::-1])),
            "delays": np.array(DELAYS, dtype=np.int64) - (FIR_TAPS - 1) // 2,
            "tone_sos": _normalised_sos(tone), "loop_gain": float(spectrum.max())}
    return params
