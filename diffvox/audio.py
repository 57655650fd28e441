"""Reading and writing audio files with the checks a user's files need."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from .fileio import atomic_path

SR = 44100


class AudioError(ValueError):
    """A file that cannot be used, with a one-line reason."""


def read_audio(path: str | Path, sr: int = SR, what: str = "") -> np.ndarray:
    """Read a file as float32 (channels, T). Raises :class:`AudioError` for a missing file, a
    folder, unreadable or empty files, another sample rate, and NaN/Inf samples; ``what`` (e.g.
    "dry") names the file's role in the message."""
    role = f"the {what} file " if what else ""
    if not str(path).strip():
        raise AudioError(f"{role or 'an audio file '}was given as an empty name")
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{role}{path} does not exist")
    if path.is_dir():
        raise AudioError(f"{role}{path} is a folder, not an audio file")
    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises several types
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        reason = reason.removeprefix(f"Error opening {str(path)!r}: ")
        raise AudioError(f"cannot read {role}{path}: {reason}") from None
    if file_sr != sr:
        raise AudioError(f"{path} is sampled at {file_sr} Hz; diffvox works at {sr} Hz "
                         f"(resample it first, e.g. `sox {path.name} -r {sr} out.wav`)")
    if data.shape[0] == 0:
        raise AudioError(f"{path} holds no samples")
    if not np.isfinite(data).all():
        raise AudioError(f"{path} holds NaN or Inf samples")
    return np.ascontiguousarray(data.T)


def as_float_audio(audio, what: str = "audio") -> np.ndarray:
    """``audio`` as a float32 array. Integer samples are refused (they would be taken as raw
    values, e.g. 16-bit PCM peaking at 32767): scale them to [-1, 1] first. A TypeError for
    something that is not an array of numbers."""
    import torch

    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    if not isinstance(audio, (np.ndarray, list, tuple)):
        raise TypeError(f"{what} must be a numpy array of float samples, got {type(audio).__name__}")
    array = np.asarray(audio)
    if array.dtype.kind in "iub":
        raise TypeError(f"{what} holds {array.dtype} samples; diffvox takes float samples in [-1, 1]: "
                        f"scale integer PCM first (e.g. x / 32768 for int16)")
    if array.dtype.kind not in "f":
        raise TypeError(f"{what} must hold float samples, got dtype {array.dtype}")
    return array.astype(np.float32, copy=False)


def to_mono(audio: np.ndarray) -> tuple[np.ndarray, bool]:
    """(C, T) -> (T,) and whether a downmix (mean of channels) happened."""
    if audio.shape[0] == 1:
        return audio[0], False
    return audio.mean(axis=0), True


# output container by file suffix: (soundfile format, subtype)
OUTPUT_FORMATS = {".wav": ("WAV", "FLOAT"), ".flac": ("FLAC", "PCM_24")}


def output_format(path: str | Path) -> tuple[str, str]:
    """The (format, subtype) an output path's suffix asks for; a one-line error for others."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise AudioError(f"cannot write {Path(path).name}: the output must end in .wav (32-bit float) "
                         "or .flac (24-bit)")
    return OUTPUT_FORMATS[suffix]


def write_audio(path: str | Path, audio: np.ndarray, sr: int = SR) -> Path:
    """Write (C, T) atomically (a temp file renamed into place): a 32-bit float WAV, or a 24-bit
    FLAC for a ``.flac`` path (samples beyond +-1 are then clipped, with a warning)."""
    path = Path(path)
    fmt, subtype = output_format(path)
    if not np.isfinite(audio).all():
        raise AudioError("refusing to write NaN or Inf samples")
    data = np.asarray(audio, np.float32)
    if fmt == "FLAC" and np.abs(data).max(initial=0) > 1:
        import warnings

        warnings.warn(f"{path.name}: peak {np.abs(data).max():.2f} exceeds full scale and is clipped in "
                      "FLAC; write .wav to keep it", stacklevel=2)
        data = np.clip(data, -1, 1)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), data.T, sr, subtype=subtype, format=fmt)
    return path


DEMO_VOCAL = Path(__file__).resolve().parents[1] / "data" / "demo" / "vocal_dry.flac"


def demo_vocal(seconds: float | None = None) -> np.ndarray:
    """The committed demo vocal (mono float32, 44.1 kHz), optionally cut to ``seconds``."""
    if seconds is not None and not (isinstance(seconds, (int, float)) and seconds > 0):
        raise ValueError(f"demo_vocal takes a positive number of seconds (or None: all of it), got {seconds!r}")
    audio = read_audio(DEMO_VOCAL)[0]
    return audio if seconds is None else audio[: int(seconds * SR)]
