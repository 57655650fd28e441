"""The exact time-domain chain ("w/o Approx."): against the original's renders in
../shared/reference/rt/, the stream against the offline render, and the CLI."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diffvox.cli import main
from diffvox.presets import load_dataset
from diffvox.realtime import (PAPER_CLIP_Q, Stream, UnstableLoopError, exact_parameters,
                              render_exact, render_stream)
from diffvox.realtime import kernels

BRANCHES = {"wet": "wet", "delay_out": "delay", "fdn_out": "reverb"}


def rel_rms(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.sqrt(((a - b) ** 2).mean() / (b ** 2).mean()))


@pytest.fixture(scope="module")
def medleydb():
    return load_dataset("medleydb")


@pytest.fixture(scope="module")
def exact_renders(reference_dir, medleydb):
    dry = np.load(reference_dir / "dry.npy")
    out = {}
    for row in range(5):
        chain = medleydb.preset(row).to_chain().eval()
        for tag, clip in (("rt", None), ("rtclip", PAPER_CLIP_Q)):
            params = exact_parameters(chain, clip)
            out[row, tag] = (params, render_exact(params, dry, check_stable=False, stages=True))
    return out


@pytest.mark.parametrize("branch", BRANCHES)
@pytest.mark.parametrize("tag", ["rt", "rtclip"])
@pytest.mark.parametrize("row", range(5))
def test_exact_chain_matches_original(reference_dir, exact_renders, row, tag, branch):
    ref = np.load(reference_dir / "rt" / f"{branch}_{tag}_medleydb_{row}.npy")
    ours = exact_renders[row, tag][1][BRANCHES[branch]]
    assert ours.shape == ref.shape == (2, 264600)
    assert rel_rms(ours, ref) < 1e-3


def test_every_reference_file_is_covered(reference_dir):
    files = sorted(p.name for p in (reference_dir / "rt").glob("*.npy"))
    expected = sorted(f"{b}_{t}_medleydb_{r}.npy" for b in BRANCHES for t in ("rt", "rtclip")
                      for r in range(5))
    assert files == expected


def test_exact_differs_from_the_frequency_sampled_chain(reference_dir, exact_renders):
    """The two renderers are different computations (CHAIN.md: 0.01 to 0.66 relative RMS)."""
    for row in range(5):
        fs = np.load(reference_dir / "wet" / f"wet_medleydb_{row}.npy")
        assert rel_rms(exact_renders[row, "rtclip"][1]["wet"], fs) > 1e-3


@pytest.mark.parametrize("row", range(5))
def test_stability_verdict_predicts_divergence(exact_renders, row):
    """The loop-gain verdict agrees with what the recursive delay loop does to an impulse."""
    for tag in ("rt", "rtclip"):
        d = exact_renders[row, tag][0].delay
        n = 400 * d["d"]  # 1.03^400 > 1e5: slow growth shows too
        u = np.zeros(n)
        u[0] = 1.0
        odd, even = np.empty(n), np.empty(n)
        kernels.pingpong_delay(u, d["d"], d["loop_sos"], d["feedback"], np.zeros((3, d["d"])),
                               np.zeros((2, 2)), 0, odd, even)
        late = np.abs(odd[-4 * d["d"]:]).max() + np.abs(even[-4 * d["d"]:]).max()
        early = np.abs(odd[: 8 * d["d"]]).max() + np.abs(even[: 8 * d["d"]]).max()
        assert (late > early) == (d["loop_gain"] >= 1), (row, tag, d["loop_gain"])


def test_unstable_loop_is_refused_and_clip_fixes_it(medleydb):
    preset = medleydb.preset(0)
    assert exact_parameters(preset.to_chain(), None).delay["loop_gain"] > 1
    x = np.random.default_rng(0).standard_normal(4410) * 0.1
    with pytest.raises(UnstableLoopError, match=r"^delay: .*--clip-q 0.707"):
        render_exact(preset, x)
    with pytest.raises(UnstableLoopError):
        Stream(preset)
    assert np.isfinite(render_exact(preset, x, clip_q=PAPER_CLIP_Q)).all()


@pytest.fixture(scope="module")
def stream_case(medleydb):
    preset = medleydb.preset(3)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(6000) * np.exp(-np.arange(6000) / 3000) * 0.3
    return preset, x, render_exact(preset, x, clip_q=PAPER_CLIP_Q)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(1, 1500), min_size=1, max_size=12))
def test_stream_is_the_offline_render_delayed(stream_case, sizes):
    preset, x, offline = stream_case
    stream = Stream(preset, clip_q=PAPER_CLIP_Q)
    cuts = np.cumsum(sizes)
    cuts = cuts[cuts < len(x)]
    blocks = np.split(x, cuts)
    out = np.concatenate([stream.process(b) for b in blocks], axis=1)
    assert out.shape == (2, len(x))
    lat = stream.latency
    assert np.abs(out[:, :lat]).max() == 0
    assert np.abs(out[:, lat:] - offline[:, : len(x) - lat]).max() < 1e-6
    tail = stream.flush()
    assert np.abs(tail - offline[:, len(x) - lat:]).max() < 1e-6


def test_stream_of_single_samples_and_reset(stream_case):
    preset, x, offline = stream_case
    stream = Stream(preset, clip_q=PAPER_CLIP_Q)
    assert stream.latency == 661  # 15 ms of lookahead taps at 44.1 kHz
    out = np.concatenate([stream.process(x[i:i + 1]) for i in range(800)], axis=1)
    assert np.abs(out[:, 661:] - offline[:, :139]).max() < 1e-6
    stream.reset()
    again = stream.process(x[:800])
    assert np.abs(again - out).max() < 1e-9
    assert np.array_equal(render_stream(preset, x, 700, clip_q=PAPER_CLIP_Q).shape, offline.shape)
    assert np.abs(render_stream(preset, x, 700, clip_q=PAPER_CLIP_Q) - offline).max() < 1e-6


def test_bad_input_is_refused(stream_case):
    preset = stream_case[0]
    stream = Stream(preset, clip_q=PAPER_CLIP_Q)
    with pytest.raises(ValueError, match="NaN or Inf"):
        stream.process(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="mono"):
        render_exact(preset, np.zeros((2, 100)), clip_q=PAPER_CLIP_Q)
    with pytest.raises(ValueError, match="44100"):
        Stream(preset, sr=48000, clip_q=PAPER_CLIP_Q)
    with pytest.raises(ValueError, match="clip-q"):
        render_exact(preset, np.zeros(10), clip_q=-1.0)
    assert stream.process(np.zeros(0)).shape == (2, 0)


def test_cli_exact_render_and_stream(tmp_path, reference_dir, capsys):
    dry = reference_dir / "dry.wav"
    offline, blocked = tmp_path / "exact.wav", tmp_path / "block.wav"
    assert main(["render", "medleydb:3", str(dry), str(offline), "--exact", "--clip-q", "0.707"]) == 0
    assert main(["render", "medleydb:3", str(dry), str(blocked), "--exact", "--clip-q", "0.707",
                 "--block", "512"]) == 0
    a, b = sf.read(offline, dtype="float32")[0].T, sf.read(blocked, dtype="float32")[0].T
    ref = np.load(reference_dir / "rt" / "wet_rtclip_medleydb_3.npy")
    assert rel_rms(a, ref) < 1e-3
    assert np.abs(a - b).max() < 1e-6
    capsys.readouterr()
    assert main(["render", "medleydb:0", str(dry), str(tmp_path / "u.wav"), "--exact"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "delay" in err[0] and "--clip-q" in err[0]
    assert not (tmp_path / "u.wav").exists()
    assert main(["render", "medleydb:3", str(dry), str(tmp_path / "v.wav"), "--clip-q", "0.7"]) == 2
    assert "--exact" in capsys.readouterr().err


@pytest.mark.parametrize("row", [3, 4])
def test_block_engine_equals_plain_per_sample_loop(medleydb, row):
    """The benchmark's baseline (one per-sample loop, FIRs as dot products) is an independent
    implementation of the same equations: the block-wise engine must agree with it."""
    from diffvox.bench.realtime import render_per_sample

    params = exact_parameters(medleydb.preset(row).to_chain(), PAPER_CLIP_Q)
    x = np.random.default_rng(row).standard_normal(30000) * 0.2
    ours, plain = render_exact(params, x), render_per_sample(params, x)
    assert np.abs(ours - plain).max() < 1e-9 * max(np.abs(plain).max(), 1)


@pytest.mark.parametrize("options", [{"delay": False}, {"reverb": False}, {"delay": False, "reverb": False}])
def test_variant_chains_render_exactly(options):
    """A chain without the delay or the reverb: the exact render is the FS render of the same
    chain wherever the left-out branch made the difference (no branch: they are equal)."""
    import torch

    from diffvox import DiffVox

    chain = DiffVox(**options).eval()
    x = np.random.default_rng(0).standard_normal(5000) * 0.1
    exact = render_exact(chain, x)
    stream = Stream(chain)
    streamed = np.concatenate([stream.process(x[:1234]), stream.process(x[1234:])], axis=1)
    assert np.abs(streamed[:, 661:] - exact[:, :-661]).max() < 1e-9
    if not options.get("delay", True) and not options.get("reverb", True):
        with torch.no_grad():
            fs = chain(torch.from_numpy(x).float().view(1, 1, -1))[0].numpy()
        assert rel_rms(exact, fs) < 1e-4  # EQ, compressor and pan only: no approximation
