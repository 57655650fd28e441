"""Regenerate data/demo/vocal_dry.flac: a dry sung "ooh" vocal from the FluidR3 GM soundfont,
50 s of varied phrases.

Needs Debian's ``fluidsynth`` and ``fluid-soundfont-gm`` (MIT-licensed samples by Frank Wen):
    apt-get install fluidsynth fluid-soundfont-gm
    python scripts/make_demo_vocal.py
The melodies are written here as MIDI files (GM program 54, "Voice Oohs"); fluidsynth renders
them with its own reverb and chorus off, so the result is dry. Mono, -18 LUFS (the level the
paper's fits used). The first 8 s are the original demo line (``MELODY``); the phrases of
``PHRASES`` follow, each at its own tempo, register, articulation and dynamics, so that 12 s
chunks of the file are distinct audio. ``--extend`` appends them to an existing 8 s file,
keeping its samples bit for bit.
"""
from __future__ import annotations

import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "demo" / "vocal_dry.flac"
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SR, SECONDS, TOTAL_SECONDS, LUFS, PEAK = 44100, 8.0, 50.0, -18.0, 0.9
VOICE_OOHS = 53  # GM program 54, zero-based
TICKS = 480  # per beat; tempo 96 bpm
# (MIDI note or None for a rest, beats, velocity): an original phrase with rests and dynamics
MELODY = [(62, 1, 80), (64, 0.5, 72), (66, 0.5, 76), (67, 1.5, 96), (None, 0.5, 0),
          (69, 1, 100), (67, 0.5, 84), (66, 0.5, 70), (64, 2, 88), (None, 1, 0),
          (62, 0.5, 64), (64, 0.5, 70), (62, 1, 82), (59, 1, 90), (62, 2.5, 78)]
# (tempo in bpm, [(note or None, beats, velocity, gate)]): gate = the sounding part of the beats
PHRASES = [
    (72, [(50, 2, 70, 1), (52, 1, 74, 1), (54, 1, 78, 1), (55, 3, 84, 1), (None, 1, 0, 1),
          (57, 1.5, 80, 1), (55, 0.5, 72, 1), (54, 1, 70, 1), (52, 1, 66, 1), (50, 3, 60, 1)]),
    (132, [(67, 0.5, 96, 0.45), (69, 0.5, 88, 0.45), (71, 0.5, 100, 0.45), (72, 0.5, 92, 0.45),
           (74, 1, 110, 0.5), (None, 0.5, 0, 1), (72, 0.5, 90, 0.45), (71, 0.5, 86, 0.45),
           (69, 0.5, 94, 0.45), (67, 0.5, 84, 0.45), (66, 1, 100, 0.5), (None, 1, 0, 1),
           (64, 0.5, 80, 0.4), (66, 0.5, 86, 0.4), (67, 0.5, 92, 0.4), (69, 0.5, 98, 0.4),
           (71, 2, 104, 0.8)]),
    (84, [(69, 2, 40, 1), (71, 2, 56, 1), (74, 3, 76, 1), (76, 1, 96, 1), (79, 3, 118, 0.9),
          (None, 1, 0, 1), (78, 1, 90, 1), (76, 1, 70, 1), (74, 3, 50, 1)]),
    (108, [(None, 0.5, 0, 1), (62, 0.5, 88, 0.8), (62, 0.5, 70, 0.6), (65, 1, 96, 0.9),
           (None, 0.5, 0, 1), (64, 0.5, 84, 0.7), (62, 1, 90, 0.9), (60, 1.5, 100, 0.9),
           (None, 1, 0, 1), (57, 0.5, 76, 0.6), (60, 0.5, 82, 0.6), (62, 0.5, 88, 0.6),
           (64, 2.5, 94, 1)]),
    (96, [(55, 1, 84, 0.9), (67, 1, 100, 0.9), (59, 1, 80, 0.9), (71, 1.5, 104, 0.9),
          (None, 0.5, 0, 1), (62, 1, 76, 0.9), (74, 1, 96, 0.9), (64, 0.5, 70, 0.8),
          (72, 0.5, 90, 0.8), (67, 3, 86, 1)]),
    (66, [(64, 1, 60, 1), (62, 1, 64, 1), (60, 2, 70, 1), (57, 1, 62, 1), (59, 1, 58, 1),
          (55, 4, 50, 1)]),
]


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    while value > 0x7F:
        value >>= 7
        out.insert(0, (value & 0x7F) | 0x80)
    return bytes(out)


def melody_midi(melody=None, bpm: float = 96.0) -> bytes:
    """A format-0 standard MIDI file of ``melody`` (default ``MELODY``): (note or None, beats,
    velocity[, gate]) at ``bpm``."""
    melody = MELODY if melody is None else melody
    events = bytearray()
    events += _varlen(0) + bytes([0xFF, 0x51, 3]) + int(60e6 / bpm).to_bytes(3, "big")
    events += _varlen(0) + bytes([0xC0, VOICE_OOHS])
    delay = 0
    for note, beats, velocity, *gate in melody:
        ticks = int(beats * TICKS)
        if note is None:
            delay += ticks
            continue
        on = max(1, int(ticks * (gate[0] if gate else 1.0)))
        events += _varlen(delay) + bytes([0x90, note, velocity])
        events += _varlen(on) + bytes([0x80, note, 0])
        delay = ticks - on
    events += _varlen(delay + TICKS) + bytes([0xFF, 0x2F, 0])
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS)
    return header + b"MTrk" + struct.pack(">I", len(events)) + bytes(events)


def render(midi_bytes: bytes) -> np.ndarray:
    """fluidsynth's render of a MIDI file: mono float64 at SR."""
    with tempfile.TemporaryDirectory() as tmp:
        midi, wav = Path(tmp) / "line.mid", Path(tmp) / "line.wav"
        midi.write_bytes(midi_bytes)
        subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.7", "-r", str(SR),
                        "-F", str(wav), str(SOUNDFONT), str(midi)], check=True)
        audio, sr = sf.read(wav, dtype="float64", always_2d=True)
    assert sr == SR, sr
    return audio.mean(axis=1)


def phrases() -> np.ndarray:
    """The phrases after the first 8 s, each trimmed of trailing silence and followed by 0.4 s of
    rest, up to TOTAL_SECONDS - SECONDS, faded out, at LUFS."""
    parts = []
    for bpm, melody in PHRASES:
        audio = render(melody_midi(melody, bpm))
        loud = np.flatnonzero(np.abs(audio) > 1e-4)
        parts += [audio[: loud[-1] + 1], np.zeros(int(0.4 * SR))]
    out = np.concatenate(parts)
    n = int((TOTAL_SECONDS - SECONDS) * SR)
    if len(out) < n:
        raise SystemExit(f"the phrases last {len(out) / SR:.1f} s, fewer than {n / SR:.1f} s")
    out = out[:n]
    fade = int(0.05 * SR)
    out[-fade:] *= np.linspace(1, 0, fade)
    out = out * 10 ** ((LUFS - pyloudnorm.Meter(SR).integrated_loudness(out)) / 20)
    return out * min(1.0, PEAK / np.abs(out).max())  # at most PEAK: the loudest phrase may sit below LUFS


def first_line() -> np.ndarray:
    """The original 8 s demo line at LUFS."""
    mono = render(melody_midi())[: int(SECONDS * SR)]
    fade = int(0.05 * SR)
    mono[-fade:] *= np.linspace(1, 0, fade)
    loudness = pyloudnorm.Meter(SR).integrated_loudness(mono)
    return pyloudnorm.normalize.loudness(mono, loudness, LUFS)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extend", action="store_true",
                        help="keep the first 8 s of the existing file bit for bit and append the phrases")
    args = parser.parse_args()
    if not SOUNDFONT.is_file():
        raise SystemExit(f"missing {SOUNDFONT}: apt-get install fluidsynth fluid-soundfont-gm")
    if args.extend:
        head, sr = sf.read(OUT, dtype="float64")
        assert sr == SR and len(head) >= int(SECONDS * SR), (sr, len(head))
        head = head[: int(SECONDS * SR)]
    else:
        head = first_line()
    mono = np.concatenate([head, phrases()])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_suffix(".tmp.flac")
    sf.write(tmp, mono.astype(np.float32), SR, subtype="PCM_24")
    tmp.replace(OUT)
    print(f"wrote {OUT}: {len(mono) / SR:.1f} s, peak {np.abs(mono).max():.2f}")


if __name__ == "__main__":
    main()
