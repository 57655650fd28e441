"""Offline and streaming renders of the exact time-domain chain (the paper's "w/o Approx.")."""
from __future__ import annotations

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

from . import kernels
from .engine import Engine
from .parameters import ExactParameters, exact_parameters


def _parameters(preset, clip_q, check):
    """A Preset, a DiffVox chain or ExactParameters -> checked ExactParameters."""
    from ..chain import DiffVox

    if isinstance(preset, ExactParameters):
        params = preset
    elif hasattr(preset, "to_chain") or isinstance(preset, DiffVox):
        chain = preset.to_chain() if hasattr(preset, "to_chain") else preset
        params = exact_parameters(chain, clip_q)
    else:
        hint = f" (load it first: load_preset({preset!r}))" if isinstance(preset, str) else ""
        raise TypeError(f"expected a Preset, a DiffVox chain or ExactParameters, got "
                        f"{type(preset).__name__}{hint}")
    if check:
        params.check_stable()
    return params


def _mono(x, what: str = "the input") -> np.ndarray:
    if x is None or isinstance(x, (str, bytes, dict)):
        raise TypeError(f"{what} must be an array of float samples, got {type(x).__name__}")
    x = np.asarray(x)
    if x.dtype.kind in "iub":
        raise TypeError(f"{what} holds {x.dtype} samples; give float samples in [-1, 1] (scale "
                        "integer PCM first, e.g. x / 32768 for int16)")
    if x.ndim == 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 1:
        raise ValueError(f"{what} must be mono, shape (samples,); got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise ValueError(f"{what} must hold real numbers, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"{what} holds NaN or Inf samples")
    return x


def _lookahead(gain_ext: np.ndarray, taps: np.ndarray, n: int) -> np.ndarray:
    """``out[t] = sum_i taps[i] gain_ext[t + i]``, t < n: direct for blocks, by FFT for long signals."""
    if n < FFT_FROM:
        out = np.empty(n)
        kernels.correlate_valid(gain_ext, taps, out)
        return out
    return _correlate_fft(gain_ext, taps, n)


FFT_FROM = 16384  # samples from which the lookahead is computed by FFT (overlap-save)


def _correlate_fft(signal: np.ndarray, taps: np.ndarray, n: int, n_fft: int = 8192) -> np.ndarray:
    """Overlap-save correlation, all frames in one batched FFT (equals the direct sum to ~1e-15)."""
    hop = n_fft - len(taps) + 1
    frames = -(-n // hop)
    need = frames * hop + len(taps) - 1
    signal = np.concatenate([signal[:need], np.zeros(max(need - len(signal), 0))])
    windows = sliding_window_view(signal, n_fft)[::hop]
    spectrum = np.conj(scipy.fft.rfft(taps, n_fft))
    out = scipy.fft.irfft(scipy.fft.rfft(windows, axis=-1) * spectrum, n_fft, axis=-1)[:, :hop]
    return out.reshape(-1)[:n]


def render_exact(preset, x, clip_q: float | None = None, check_stable: bool = True,
                 stages: bool = False):
    """Render mono ``x`` (T,) with the exact chain: (2, T) float64 (or every stage with
    ``stages=True``: peq, comp (T,); direct, delay, reverb, wet (2, T)).

    ``preset``: a :class:`~diffvox.presets.Preset`, a :class:`~diffvox.DiffVox` chain or
    :class:`ExactParameters`. ``clip_q`` clips the delay loop's low-pass Q (the paper: 0.707).
    An unstable loop raises :class:`UnstableLoopError` unless ``check_stable=False``.
    """
    params = _parameters(preset, clip_q, check_stable)
    x = _mono(x)
    engine = Engine(params)
    x_eq, gain = _in_chunks(engine.front, x)
    if len(x) == 0:
        out = {k: np.zeros((2, 0)) for k in ("direct", "delay", "reverb", "wet")}
        return {"peq": x_eq, "comp": x_eq, **out} if stages else out["wet"]
    pre, post = params.lookahead_pre, params.latency
    gain_ext = np.concatenate([np.full(pre, gain[0]), gain, np.full(post, gain[-1])])
    u = x_eq * _lookahead(gain_ext, params.lookahead_taps, len(x)) * params.make_up
    out = _in_chunks(lambda v: engine.back(v, stages), u)
    if stages:
        return {"peq": x_eq, "comp": u, **out}
    wet = out["wet"]
    if not np.isfinite(wet).all():  # a loop at the edge of stability on a very long input
        raise ValueError("the exact render is not finite: a feedback loop of this preset diverges")
    return wet


CHUNK = 32768  # offline work goes through the engine in chunks that stay in cache


def _in_chunks(step, x: np.ndarray):
    """Run a stateful engine step over x in CHUNK-sample pieces and join the results (the state
    carries over, so this equals one call on all of x)."""
    parts = [step(x[i:i + CHUNK]) for i in range(0, len(x), CHUNK)] or [step(x)]
    first = parts[0]
    if isinstance(first, dict):
        return {k: np.concatenate([p[k] for p in parts], axis=-1) for k in first}
    return tuple(np.concatenate([p[i] for p in parts], axis=-1) for i in range(len(first)))


class Stream:
    """The exact chain on a live signal, block by block.

    ``process(block)`` takes a mono block (any length, 1 included) and returns (2, len(block));
    the output is the offline :func:`render_exact` delayed by :attr:`latency` samples (the
    compressor's lookahead reads that far ahead). :meth:`flush` returns the last ``latency``
    samples of the offline render and ends the stream; :meth:`reset` starts it anew.
    """

    def __init__(self, preset, sr: int = 44100, clip_q: float | None = None):
        if sr != 44100:
            raise ValueError(f"the presets are defined at 44100 Hz; got sr={sr}")
        self.params = _parameters(preset, clip_q, True)
        self.latency = self.params.latency
        self.engine = Engine(self.params)
        self.reset()

    def reset(self) -> None:
        """Forget the signal so far (zero state)."""
        self.engine.reset()
        self._gain = None  # gains from abs. index (received - len) on, the held first value included
        self._x_eq = np.zeros(0)
        self._received = 0
        self._ended = False

    def process(self, block) -> np.ndarray:
        """Mono block (n,) -> stereo (2, n) float64."""
        if self._ended:
            raise ValueError("this stream was flushed; call reset() to start a new one")
        x = _mono(block, "the block")
        n = len(x)
        if n == 0:
            return np.zeros((2, 0))
        p, lat = self.params, self.latency
        x_eq, gain = self.engine.front(x)
        if self._gain is None:
            self._gain = np.full(p.lookahead_pre, gain[0])
        start = self._received
        gains = np.concatenate([self._gain, gain])
        xs = np.concatenate([self._x_eq, x_eq])
        end = start + n
        u = np.zeros(n)
        k0, k1 = max(start, lat) - lat, end - lat  # compressor samples ready now
        if k1 > k0:
            g0 = end - len(gains)  # absolute index of gains[0]
            window = gains[k0 - p.lookahead_pre - g0:]
            g_la = _lookahead(window, p.lookahead_taps, k1 - k0)
            x0 = end - len(xs)
            u[n - (k1 - k0):] = xs[k0 - x0:k1 - x0] * g_la * p.make_up
        keep = len(p.lookahead_taps) - 1
        self._gain = gains[-keep:] if len(gains) > keep else gains
        self._x_eq = xs[-lat:] if len(xs) > lat else xs
        self._received = end
        return self.engine.back(u, stages=False)["wet"]

    def flush(self) -> np.ndarray:
        """The offline render's last ``min(latency, samples received)`` samples, (2, m); ends the stream."""
        if self._ended:
            raise ValueError("this stream was already flushed; call reset() to start a new one")
        self._ended = True
        p, lat, end = self.params, self.latency, self._received
        if end == 0:
            return np.zeros((2, 0))
        k0 = max(end - lat, 0)
        gains = np.concatenate([self._gain, np.full(lat, self._gain[-1])])
        g0 = end - len(self._gain)
        window = gains[k0 - p.lookahead_pre - g0:]
        g_la = _lookahead(window, p.lookahead_taps, end - k0)
        x0 = end - len(self._x_eq)
        u = self._x_eq[k0 - x0:] * g_la * p.make_up
        return self.engine.back(u, stages=False)["wet"]


def render_stream(preset, x, block: int, clip_q: float | None = None) -> np.ndarray:
    """``render_exact`` computed through a :class:`Stream` in blocks of ``block`` samples: (2, T)."""
    if block < 1:
        raise ValueError(f"the block size must be at least 1 sample, got {block}")
    stream = Stream(preset, clip_q=clip_q)
    x = _mono(x)
    parts = [stream.process(x[i:i + block]) for i in range(0, len(x), block)]
    out = np.concatenate(parts + [np.zeros((2, 0))], axis=1)[:, stream.latency:]
    return np.concatenate([out, stream.flush()], axis=1)
