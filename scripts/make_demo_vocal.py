"""Regenerate data/demo/vocal_dry.flac: a dry sung "ooh" line from the FluidR3 GM soundfont.

Needs Debian's ``fluidsynth`` and ``fluid-soundfont-gm`` (MIT-licensed samples by Frank Wen):
    apt-get install fluidsynth fluid-soundfont-gm
    python scripts/make_demo_vocal.py
The melody is written here as a MIDI file (GM program 54, "Voice Oohs"); fluidsynth renders it
with its own reverb and chorus off, so the result is dry. It is mixed to mono, trimmed to 8 s
and normalised to -18 LUFS (the level the paper's fits used).
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
SR, SECONDS, LUFS = 44100, 8.0, -18.0
VOICE_OOHS = 53  # GM program 54, zero-based
TICKS = 480  # per beat; tempo 96 bpm
# (MIDI note or None for a rest, beats, velocity): an original phrase with rests and dynamics
MELODY = [(62, 1, 80), (64, 0.5, 72), (66, 0.5, 76), (67, 1.5, 96), (None, 0.5, 0),
          (69, 1, 100), (67, 0.5, 84), (66, 0.5, 70), (64, 2, 88), (None, 1, 0),
          (62, 0.5, 64), (64, 0.5, 70), (62, 1, 82), (59, 1, 90), (62, 2.5, 78)]


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    while value > 0x7F:
        value >>= 7
        out.insert(0, (value & 0x7F) | 0x80)
    return bytes(out)


def melody_midi() -> bytes:
    """A format-0 standard MIDI file of MELODY."""
    events = bytearray()
    events += _varlen(0) + bytes([0xFF, 0x51, 3]) + (625000).to_bytes(3, "big")  # 96 bpm
    events += _varlen(0) + bytes([0xC0, VOICE_OOHS])
    delay = 0
    for note, beats, velocity in MELODY:
        ticks = int(beats * TICKS)
        if note is None:
            delay += ticks
            continue
        events += _varlen(delay) + bytes([0x90, note, velocity])
        events += _varlen(ticks) + bytes([0x80, note, 0])
        delay = 0
    events += _varlen(TICKS) + bytes([0xFF, 0x2F, 0])
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS)
    return header + b"MTrk" + struct.pack(">I", len(events)) + bytes(events)


def main() -> None:
    if not SOUNDFONT.is_file():
        raise SystemExit(f"missing {SOUNDFONT}: apt-get install fluidsynth fluid-soundfont-gm")
    with tempfile.TemporaryDirectory() as tmp:
        midi, wav = Path(tmp) / "line.mid", Path(tmp) / "line.wav"
        midi.write_bytes(melody_midi())
        subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.7", "-r", str(SR),
                        "-F", str(wav), str(SOUNDFONT), str(midi)], check=True)
        audio, sr = sf.read(wav, dtype="float64", always_2d=True)
    assert sr == SR, sr
    mono = audio.mean(axis=1)[: int(SECONDS * SR)]
    fade = int(0.05 * SR)
    mono[-fade:] *= np.linspace(1, 0, fade)
    loudness = pyloudnorm.Meter(SR).integrated_loudness(mono)
    mono = pyloudnorm.normalize.loudness(mono, loudness, LUFS)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    sf.write(OUT, mono.astype(np.float32), SR, subtype="PCM_24")
    print(f"wrote {OUT}: {len(mono) / SR:.1f} s at {LUFS} LUFS, peak {np.abs(mono).max():.2f}")


if __name__ == "__main__":
    main()
