"""Many fits in one run (diffvox.matching.batch) against the same fits run alone, and the chain
over a batch of presets."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from diffvox import DiffVox
from diffvox.audio import demo_vocal
from diffvox.matching import MatchConfig, fit
from diffvox.matching.batch import Job, fit_many
from diffvox.presets import Preset, load_dataset

CONFIG = dict(steps=30, chunk_seconds=1.5, overlap_seconds=0.5, batch=2, lr=0.01, checkpoint_every=10)


@pytest.fixture(scope="module")
def pairs():
    dry = demo_vocal(4.0)
    out = []
    for row in (3, 6):
        chain = load_dataset("medleydb").preset(row).to_chain().eval()
        with torch.no_grad():
            wet = chain(torch.from_numpy(dry).view(1, 1, -1))[0].numpy()
        out.append((dry, wet, f"m{row}"))
    return out


def _logits(folder):
    return Preset.load(folder / "preset.json").logits


@pytest.mark.slow
def test_batched_fits_equal_solo_fits(tmp_path, pairs):
    """Each row of one batched run (two pairs, three variants, two rows per pass) equals its solo
    fit after 30 steps:
    final logits and the four metrics to 1e-4 relative."""
    jobs = [Job(pairs[0][0], pairs[0][1], "m3", "full"), Job(pairs[1][0], pairs[1][1], "m6", "no-delay"),
            Job(pairs[0][0], pairs[0][1], "m3b", "no-reverb")]
    batched = fit_many(jobs, tmp_path / "batch", MatchConfig(**CONFIG), progress=False, rows_per_pass=2)
    for job in jobs:
        solo = fit(job.dry, job.wet, tmp_path / "solo" / job.folder,
                   MatchConfig(**CONFIG, variant=job.variant), progress=False)
        a, b = _logits(tmp_path / "batch" / job.folder), _logits(tmp_path / "solo" / job.folder)
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max(), job.folder
        for kind in ("fitted", "fitted_exact"):
            for metric, value in solo[kind].items():
                assert batched[job.folder][kind][metric] == pytest.approx(value, rel=1e-4), (job.folder, metric)
        names = sorted(p.name for p in (tmp_path / "batch" / job.folder).iterdir())
        solo_names = sorted(p.name for p in (tmp_path / "solo" / job.folder).iterdir()
                            if p.name not in ("checkpoint.pt", "diffvox-run.json"))  # the run's state: in DIR
        assert names == solo_names
    manifest = json.loads((tmp_path / "batch" / "batch.json").read_text())
    assert [f["folder"] for f in manifest["fits"]] == ["m3", "m6", "m3b"]


def test_batched_run_resumes_bit_identically(tmp_path, pairs):
    """Killed after 10 steps (a checkpoint) and resumed: the same presets as one go."""
    jobs = [Job(d, w, n) for d, w, n in pairs]
    cfg = dict(CONFIG, steps=14, checkpoint_every=5)
    fit_many(jobs, tmp_path / "one", MatchConfig(**cfg), progress=False)
    fit_many(jobs, tmp_path / "two", MatchConfig(**dict(cfg, steps=10)), progress=False)
    fit_many(jobs, tmp_path / "two", MatchConfig(**cfg), resume=True, progress=False)
    for _, _, name in pairs:
        np.testing.assert_array_equal(_logits(tmp_path / "one" / name), _logits(tmp_path / "two" / name))


def test_batched_run_refuses_other_settings_and_clobbering(tmp_path, pairs):
    jobs = [Job(d, w, n) for d, w, n in pairs]
    cfg = dict(CONFIG, steps=2)
    fit_many(jobs, tmp_path / "r", MatchConfig(**cfg), progress=False)
    with pytest.raises(ValueError, match="already holds a batched run"):
        fit_many(jobs, tmp_path / "r", MatchConfig(**cfg), progress=False)
    with pytest.raises(ValueError, match="other settings"):
        fit_many(jobs, tmp_path / "r", MatchConfig(**dict(cfg, lr=0.02)), resume=True, progress=False)
    with pytest.raises(ValueError, match="would write to"):
        fit_many([jobs[0], jobs[0]], tmp_path / "d", MatchConfig(**cfg), progress=False)


def test_a_nonfinite_row_is_skipped_alone(tmp_path, pairs, monkeypatch):
    """A row whose loss is NaN skips its step (its logits stay) while the other row moves on."""
    jobs = [Job(d, w, n) for d, w, n in pairs]
    original = DiffVox.forward

    def poisoned(self, x, start=0, rows=None):
        y = original(self, x, start, rows)
        return torch.cat([y[:1], y[1:] * float("nan")]) if y.shape[0] == 2 and y.dim() == 4 else y

    monkeypatch.setattr(DiffVox, "forward", poisoned)
    with pytest.warns(UserWarning, match="no step"):
        result = fit_many(jobs, tmp_path / "n", MatchConfig(**dict(CONFIG, steps=6)), progress=False)
    assert "fitted" in result["m3"]
    assert result["m6"] == {"error": "no step gave a finite loss and gradient"}
    import csv
    rows = list(csv.DictReader(open(tmp_path / "n" / "m6" / "history.csv")))
    assert len(rows) == 5 and all(r["skipped"] for r in rows)  # stopped after 5 failures in a row
    assert not any(r["skipped"] for r in csv.DictReader(open(tmp_path / "n" / "m3" / "history.csv")))


def test_chain_broadcasts_presets_and_signals():
    ds = load_dataset("medleydb")
    chain = DiffVox(presets=3).eval().load(ds.logits[:3], ds.layout)
    x = torch.randn(1, 1, 4410) * 0.1
    with torch.no_grad():
        y = chain(x)
        assert y.shape == (3, 2, 4410)
        for i in range(3):
            ref = ds.preset(i).to_chain().eval()(x)[0]
            torch.testing.assert_close(y[i], ref, rtol=1e-5, atol=1e-6)
        chunks = torch.randn(3, 2, 1, 4410) * 0.1
        yc = chain(chunks)
        assert yc.shape == (3, 2, 2, 4410)
        torch.testing.assert_close(yc[1, 0], ds.preset(1).to_chain().eval()(chunks[1, :1])[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="does not match"):
        chain(torch.randn(2, 1, 100))
    with pytest.raises(TypeError, match="float samples"):
        chain(torch.ones(1, 1, 100, dtype=torch.int16))


def test_variant_rows_equal_variant_chains():
    """A no-delay row of a full chain renders what a chain built without the delay renders."""
    preset = load_dataset("medleydb").preset(5)
    chain = DiffVox(presets=4).eval().load(np.tile(preset.logits, (4, 1)), preset.layout)
    chain.set_variants(["full", "no-reverb", "no-delay", "no-spatial"])
    x = torch.randn(1, 1, 8820) * 0.1
    with torch.no_grad():
        y = chain(x)
        for i, options in enumerate([{}, {"reverb": False}, {"delay": False}, {"delay": False, "reverb": False}]):
            ref = preset.to_chain(DiffVox(**options)).eval()(x)[0]
            torch.testing.assert_close(y[i], ref, rtol=1e-5, atol=1e-6)
