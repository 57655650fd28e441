"""Sound matching: a fit beats no processing, outputs agree with each other, a killed run
resumes to the same result, and bad input gives clear errors."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from diffvox.audio import demo_vocal
from diffvox.cli import main
from diffvox.matching import METRICS, MatchConfig, chunk_pair, evaluate, fit, prepare_pair
from diffvox.presets import Preset, load_dataset

QUICK = dict(lr=0.05, batch=3, chunk_seconds=3.0, overlap_seconds=1.0)
TINY = dict(lr=0.05, batch=2, chunk_seconds=1.0, overlap_seconds=0.25, checkpoint_every=2)


def render(preset, dry):
    with torch.no_grad():
        return preset.to_chain().eval()(torch.from_numpy(dry).view(1, 1, -1))[0].numpy()


@pytest.fixture(scope="module")
def target():
    dry = demo_vocal(6.0)
    return dry, render(load_dataset("medleydb").preset(3), dry)


@pytest.fixture(scope="module")
def fitted(target, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit")
    metrics = fit(*target, out, MatchConfig(steps=25, **QUICK), progress=False)
    return out, metrics


def test_fit_beats_no_processing(fitted):
    _, metrics = fitted
    for key in METRICS:
        assert metrics["fitted"][key] < 0.75 * metrics["no_processing"][key], key


def test_outputs_agree(fitted, target):
    out, metrics = fitted
    assert json.loads((out / "metrics.json").read_text()) == metrics
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(25))
    assert set(rows[0]) == {"step", "total", *METRICS, "regulariser", "skipped"}
    assert all(r["skipped"] == "" for r in rows)
    best = min(float(r["total"]) for r in rows)
    preset = Preset.load(out / "preset.json")
    assert preset.source["fit"]["best_loss"] == pytest.approx(best, rel=1e-6)
    # the saved preset renders render.wav, and evaluate() on it gives the "fitted" metrics
    pair = prepare_pair(*target)
    wav, sr = sf.read(out / "render.wav", dtype="float32", always_2d=True)
    assert sr == 44100
    np.testing.assert_allclose(render(preset, pair.dry), wav.T, atol=2e-6)
    assert evaluate(wav.T, pair.wet) == pytest.approx(metrics["fitted"], rel=1e-5)
    # "w/o Approx.": the saved preset through the exact chain with the paper's Q clip
    from diffvox.realtime import render_exact

    exact, _ = sf.read(out / "render_exact.wav", dtype="float32", always_2d=True)
    np.testing.assert_allclose(render_exact(preset, pair.dry, clip_q=0.707), exact.T, atol=2e-6)
    assert evaluate(exact.T, pair.wet) == pytest.approx(metrics["fitted_exact"], rel=1e-5)
    assert metrics["fitted_exact"] != metrics["fitted"]


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    dry = demo_vocal(2.5)
    wet = render(load_dataset("medleydb").preset(1), dry)
    config = MatchConfig(steps=6, **TINY)
    fit(dry, wet, tmp_path / "a", config, progress=False)

    def kill(step, row):
        if step == 5:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        fit(dry, wet, tmp_path / "b", config, progress=False, on_step=kill)
    with pytest.raises(ValueError, match="resume"):
        fit(dry, wet, tmp_path / "b", config, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        fit(dry, wet, tmp_path / "b", MatchConfig(steps=6, **{**TINY, "lr": 0.01}),
            resume=True, progress=False)
    fit(dry, wet, tmp_path / "b", config, resume=True, progress=False)
    a, b = ((tmp_path / d / "history.csv").read_text() for d in "ab")
    assert a == b and len(a.splitlines()) == 7
    pa, pb = (Preset.load(tmp_path / d / "preset.json") for d in "ab")
    np.testing.assert_array_equal(pa.logits, pb.logits)


def test_resume_refuses_other_audio_fewer_steps_and_a_busy_folder(tmp_path):
    from diffvox.fileio import OutputConflict, folder_lock

    dry = demo_vocal(2.5)
    wet = render(load_dataset("medleydb").preset(1), dry)
    config = MatchConfig(steps=4, **TINY)
    fit(dry, wet, tmp_path / "run", config, progress=False)
    louder = wet * 1.5
    with pytest.raises(OutputConflict, match="other audio \\(the wet signal differs\\)"):
        fit(dry, louder, tmp_path / "run", MatchConfig(steps=6, **TINY), resume=True, progress=False)
    with pytest.raises(OutputConflict, match="has done 4 steps; --steps 2 is fewer"):
        fit(dry, wet, tmp_path / "run", MatchConfig(steps=2, **TINY), resume=True, progress=False)
    with pytest.raises(OutputConflict, match=r"other settings \(checkpoint_every=2, now 3\)"):
        fit(dry, wet, tmp_path / "run", MatchConfig(steps=6, **{**TINY, "checkpoint_every": 3}),
            resume=True, progress=False)
    # a second run into a folder that a live run holds is refused, naming the first
    with folder_lock(tmp_path / "busy", "the first run"):
        with pytest.raises(OutputConflict, match="in use by a live run \\(the first run, pid"):
            fit(dry, wet, tmp_path / "busy", config, progress=False)
    assert not (tmp_path / "busy" / "checkpoint.pt").exists()
    # a lock left behind by a process that is gone is taken over
    (tmp_path / "stale").mkdir()
    (tmp_path / "stale" / ".lock").write_text(json.dumps({"pid": 2**22 + 12345, "host": __import__("socket").gethostname()}))
    fit(dry, wet, tmp_path / "stale", config, progress=False)
    assert not (tmp_path / "stale" / ".lock").exists()


def test_targets_prepared_once_give_the_per_step_history(tmp_path, monkeypatch):
    """A fit caches every target chunk's spectra and LDR when they fit in memory; with no room
    for the cache it prepares each step's batch again, and the run is the same, bit for bit."""
    import sys
    fit_module = sys.modules["diffvox.matching.fit"]  # the package's "fit" is the function

    dry = demo_vocal(2.5)
    wet = render(load_dataset("medleydb").preset(2), dry)
    config = MatchConfig(steps=3, **TINY)
    fit(dry, wet, tmp_path / "cached", config, progress=False)
    plain = fit_module.target_features
    calls = []

    def no_room(loss_fn, wet_chunks, budget=0):
        calls.append(len(wet_chunks))
        return plain(loss_fn, wet_chunks, budget=0)
    monkeypatch.setattr(fit_module, "target_features", no_room)
    fit(dry, wet, tmp_path / "per_step", config, progress=False)
    assert calls, "the fit did not ask for its target features"
    a, b = ((tmp_path / d / "history.csv").read_text() for d in ("cached", "per_step"))
    assert a == b and len(a.splitlines()) == 4


@pytest.mark.parametrize("variant, absent", [("no-delay", "delay"), ("no-spatial", "reverb")])
def test_variants_write_presets_of_their_chain(tmp_path, variant, absent):
    dry = demo_vocal(2.0)
    wet = render(load_dataset("medleydb").preset(0), dry)
    fit(dry, wet, tmp_path, MatchConfig(steps=1, variant=variant, **TINY), progress=False)
    preset = Preset.load(tmp_path / "preset.json")
    assert absent not in preset.decode()
    assert getattr(preset.to_chain(), absent) is None


def test_bad_input_is_refused_clearly():
    dry = demo_vocal(3.0)
    wet = np.stack([dry, dry])
    with pytest.raises(ValueError, match="NaN"):
        prepare_pair(np.where(np.arange(len(dry)) == 100, np.nan, dry), wet)
    with pytest.raises(ValueError, match="the wet signal is silent"):
        prepare_pair(dry, np.zeros_like(wet))
    with pytest.raises(ValueError, match="at least 0.5 s"):
        prepare_pair(dry[:1000], wet[:, :1000])
    with pytest.raises(ValueError, match="stereo"):
        prepare_pair(dry, np.stack([dry] * 3))
    with pytest.warns(UserWarning, match="mono"):
        pair = prepare_pair(dry, dry)
    assert pair.wet.shape == (2, len(dry)) and np.isfinite(pair.wet).all()
    with pytest.warns(UserWarning, match=r"dry signal lasts 3.00 s and the wet 1.50 s"):
        pair = prepare_pair(dry, wet[:, : len(dry) // 2])
    assert pair.dry.shape == (len(dry) // 2,)
    with pytest.raises(ValueError, match="variant"):
        MatchConfig(variant="no-eq")
    with pytest.raises(ValueError, match="at least 12 s"):
        chunk_pair(dry, wet, allow_short=False)


def test_short_pair_falls_back_to_one_chunk(tmp_path):
    dry = demo_vocal(2.0)
    wet = render(load_dataset("medleydb").preset(0), dry)
    with pytest.warns(UserWarning, match="single shorter chunk"):
        fit(dry, wet, tmp_path, MatchConfig(steps=1, lr=0.01, batch=1, chunk_seconds=3.0,
                                            overlap_seconds=1.0), progress=False)
    assert (tmp_path / "preset.json").exists()


def _write(path, audio, sr=44100):
    sf.write(path, np.asarray(audio).T, sr, subtype="FLOAT")
    return str(path)


def test_cli_match_and_evaluate(tmp_path, capsys):
    dry = demo_vocal(2.5)
    wet = render(load_dataset("medleydb").preset(2), dry)
    d, w = _write(tmp_path / "dry.wav", dry), _write(tmp_path / "wet.wav", wet)
    args = ["match", d, w, "--out", str(tmp_path / "run"), "--steps", "2", "--batch", "2",
            "--chunk-seconds", "1", "--overlap-seconds", "0.25", "--quiet"]
    assert main(args) == 0
    assert "fitted" in capsys.readouterr().out
    assert main(args) == 2  # the folder holds a finished run: named, with what to do
    err = capsys.readouterr().err
    assert "finished diffvox match run" in err and "--resume" in err and "--overwrite" in err
    assert main(args + ["--resume", "--steps", "3"]) == 0
    assert len((tmp_path / "run" / "history.csv").read_text().splitlines()) == 4
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run" / "render.wav"), w, "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics) == set(METRICS) and all(np.isfinite(v) for v in metrics.values())
    assert main(["evaluate", w, w, "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert max(same.values()) < 1e-6


def test_cli_errors_without_traceback(tmp_path, capsys):
    dry = demo_vocal(2.0)
    d = _write(tmp_path / "dry.wav", dry)
    w48 = _write(tmp_path / "wet48.wav", np.stack([dry, dry]), sr=48000)
    _write(tmp_path / "wet.wav", np.stack([dry, dry]))
    silent = _write(tmp_path / "silent.wav", np.zeros((2, len(dry))))
    short = _write(tmp_path / "short.wav", np.stack([dry[:5000]] * 2))
    cases = [(["match", d, w48], "48000 Hz"), (["match", d, silent], "silent"),
             (["evaluate", w48.replace("48", ""), short], "differ in length"),
             (["match", d, d, "--device", "cuda:7"] if not torch.cuda.is_available() else
              ["match", d, d, "--device", "nonsense"], "device")]
    for args, message in cases:
        out = ["--out", str(tmp_path / "x"), "--quiet"] if args[0] == "match" else []
        assert main(args + out) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
