"""Preparing a (dry, wet) pair for matching, with the paper's settings as defaults: align dry to
wet by cross-correlation, normalise both to -18 LUFS, cut 12-second chunks overlapping by 5 s
(the loss sees each chunk's last 7 s), and drop silent chunks."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pyloudnorm
import scipy.fft
import scipy.signal

SR = 44100


def align(dry: np.ndarray, wet: np.ndarray) -> tuple[np.ndarray, int]:
    """Shift mono ``dry`` (T,) to best match ``wet`` (C, T') by cross-correlation with wet's
    channel mean. Returns the shifted dry (same length, zero-filled) and the shift in samples
    (positive: dry was early and is delayed)."""
    ref = np.asarray(wet, np.float64).reshape(-1, np.shape(wet)[-1]).mean(axis=0)
    corr = scipy.signal.correlate(ref, np.asarray(dry, np.float64), mode="full", method="fft")
    shift = int(np.argmax(corr)) - (len(dry) - 1)
    return apply_shift(dry, shift), shift


def apply_shift(dry: np.ndarray, shift: int) -> np.ndarray:
    """``dry`` (T,) delayed by ``shift`` samples (advanced when negative), zero-filled."""
    out = np.zeros_like(dry)
    if abs(shift) >= len(dry):
        return out
    if shift >= 0:
        out[shift:] = dry[: len(dry) - shift]
    else:
        out[:shift] = dry[-shift:]
    return out


def normalise_loudness(audio: np.ndarray, lufs: float = -18.0, sr: int = SR) -> np.ndarray:
    """Scale (T,) or (C, T) audio to ``lufs`` integrated loudness (ITU-R BS.1770, pyloudnorm)."""
    data = np.asarray(audio, np.float64)
    if not np.isfinite(data).all():
        raise ValueError("audio holds NaN or Inf samples")
    loudness = pyloudnorm.Meter(sr).integrated_loudness(data.T if data.ndim == 2 else data)
    if not np.isfinite(loudness):
        raise ValueError("audio is silent (its loudness is -inf LUFS); nothing to match")
    return (data * 10 ** ((lufs - loudness) / 20)).astype(np.float32)


@dataclass
class Chunks:
    """Matching chunks: dry (N, 1, L), wet (N, 2, L); the loss uses samples ``loss_from:``."""

    dry: np.ndarray
    wet: np.ndarray
    loss_from: int
    starts: np.ndarray


def chunk_pair(dry: np.ndarray, wet: np.ndarray, chunk_seconds: float = 12.0,
               overlap_seconds: float = 5.0, silence_db: float = -60.0, sr: int = SR,
               allow_short: bool = True) -> Chunks:
    """Cut aligned dry (T,) and wet (2, T) into overlapping chunks; the first ``overlap`` of each
    chunk only warms up the chain's state. Chunks whose wet loss window is below ``silence_db``
    RMS are dropped. A pair shorter than one chunk raises, or (``allow_short``) gives one
    shorter chunk with a warning."""
    if wet.ndim != 2 or wet.shape[0] != 2:
        raise ValueError(f"wet must be stereo (2, T), got shape {wet.shape}")
    if len(dry) != wet.shape[1]:
        raise ValueError(f"dry and wet lengths differ: {len(dry)} and {wet.shape[1]} samples")
    if not 0 <= overlap_seconds < chunk_seconds:
        raise ValueError("overlap must be at least 0 and shorter than the chunk")
    length, overlap = int(chunk_seconds * sr), int(overlap_seconds * sr)
    n_time = len(dry)
    if n_time < length:
        minimum = f"{chunk_seconds:g} s ({length} samples)"
        if not allow_short or n_time <= overlap:
            raise ValueError(f"the pair lasts {n_time / sr:.2f} s; matching needs at least {minimum}")
        warnings.warn(f"the pair lasts {n_time / sr:.2f} s, shorter than one {chunk_seconds:g} s "
                      "chunk: using a single shorter chunk", stacklevel=2)
        length = n_time
    hop = length - overlap
    starts = np.arange(0, n_time - length + 1, hop)
    dry_chunks = np.stack([dry[s : s + length] for s in starts])[:, None]
    wet_chunks = np.stack([wet[:, s : s + length] for s in starts])
    window = wet_chunks[..., overlap:]
    rms_db = 10 * np.log10(np.mean(np.square(window, dtype=np.float64), axis=(1, 2)) + 1e-20)
    keep = rms_db > silence_db
    if not keep.any():
        window_s = (length - overlap) / sr
        raise ValueError(f"the wet track is below {silence_db:g} dB RMS in every chunk's loss window "
                         f"(the last {window_s:.2f} s of each {length / sr:.2f} s chunk, after "
                         f"{overlap / sr:g} s of warm-up); a shorter --overlap-seconds or "
                         "--chunk-seconds may help")
    return Chunks(dry_chunks[keep].astype(np.float32), wet_chunks[keep].astype(np.float32),
                  overlap, starts[keep])
