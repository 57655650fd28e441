"""Matching data preparation: alignment, loudness, chunking, bad input."""
from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest

from diffvox.matching import align, chunk_pair, normalise_loudness

SR = 44100


def _voice(seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 0.7 * t))
    return (rng.standard_normal(len(t)) * envelope * 0.1).astype(np.float32)


@pytest.mark.parametrize("shift", [0, 137, -2205])
def test_align_recovers_a_known_shift(shift):
    dry = _voice(3)
    wet = np.roll(dry, shift)
    wet = np.stack([0.8 * wet, 0.6 * wet])
    aligned, found = align(dry, wet)
    assert found == shift
    core = slice(3000, -3000)
    np.testing.assert_allclose(aligned[core], wet[0, core] / 0.8, atol=1e-6)


def test_normalise_loudness_hits_the_target():
    x = _voice(4) * 0.01
    y = normalise_loudness(np.stack([x, 0.5 * x]))
    assert pyloudnorm.Meter(SR).integrated_loudness(y.T.astype(np.float64)) == pytest.approx(-18.0, abs=1e-3)
    with pytest.raises(ValueError, match="silent"):
        normalise_loudness(np.zeros(SR))
    with pytest.raises(ValueError, match="NaN"):
        normalise_loudness(np.full(SR, np.nan))


def test_chunks_overlap_and_drop_silence():
    dry = _voice(40)
    wet = np.stack([dry, dry])
    wet[:, 14 * SR : 28 * SR] = 0  # a silent stretch
    chunks = chunk_pair(dry, wet)
    length, hop = 12 * SR, 7 * SR
    assert chunks.dry.shape[1:] == (1, length) and chunks.wet.shape[1:] == (2, length)
    assert chunks.loss_from == 5 * SR
    all_starts = np.arange(0, len(dry) - length + 1, hop)
    assert set(chunks.starts) < set(all_starts)  # the chunk whose loss window is silent is gone
    for start, d in zip(chunks.starts, chunks.dry):
        np.testing.assert_array_equal(d[0], dry[start : start + length])


def test_short_pairs_and_bad_shapes():
    dry = _voice(8)
    wet = np.stack([dry, dry])
    with pytest.warns(UserWarning, match="single shorter chunk"):
        chunks = chunk_pair(dry, wet)
    assert chunks.dry.shape == (1, 1, len(dry))
    with pytest.raises(ValueError, match="at least 12 s"):
        chunk_pair(dry, wet, allow_short=False)
    with pytest.raises(ValueError, match="stereo"):
        chunk_pair(dry, dry[None])
    with pytest.raises(ValueError, match="lengths differ"):
        chunk_pair(dry, wet[:, :-5])


def test_a_silent_loss_window_is_explained():
    """A 6 s pair with the default 12 s chunks: one 6 s chunk whose loss window is its last
    second; when that second is silent, the error says which window and what to change."""
    sr = 44100
    t = np.arange(6 * sr) / sr
    dry = (np.sin(2 * np.pi * 220 * t) * (t < 4.5)).astype(np.float32)
    wet = np.stack([dry, dry])
    with pytest.warns(UserWarning, match="single shorter chunk"):
        with pytest.raises(ValueError, match=r"last 1.00 s of each 6.00 s chunk, after 5 s of warm-up.*--overlap-seconds"):
            chunk_pair(dry, wet)
    assert chunk_pair(dry, wet, 6.0, 1.0).dry.shape == (1, 1, 6 * sr)
