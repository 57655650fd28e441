"""The MedleyDB runner on a small fake MedleyDB tree (no MedleyDB audio is committed)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import yaml

from diffvox.audio import demo_vocal
from diffvox.cli import main
from diffvox.matching import MatchConfig
from diffvox.matching.medleydb import (combined_table, find_pairs, parse_shard, run_medleydb, side_peak_db,
                                       side_to_mid_db)
from diffvox.presets import load_dataset, presets_root

ARGS = ["--steps", "2", "--batch", "2", "--chunk-seconds", "1", "--overlap-seconds", "0.25", "--quiet"]
SAME = MatchConfig(steps=2, batch=2, chunk_seconds=1.0, overlap_seconds=0.25, keep="final")  # ARGS


def _track(root, name, stems, instrumental="no"):
    folder = root / name
    (folder / f"{name}_RAW").mkdir(parents=True)
    (folder / f"{name}_STEMS").mkdir()
    meta = {"artist": "test", "instrumental": instrumental, "raw_dir": f"{name}_RAW",
            "stem_dir": f"{name}_STEMS", "stems": {}}
    for i, (instrument, raws) in enumerate(stems, 1):
        stem_file = f"{name}_STEM_{i:02d}.wav"
        meta["stems"][f"S{i:02d}"] = {
            "instrument": instrument, "filename": stem_file,
            "raw": {f"R{j:02d}": {"filename": f"{name}_RAW_{i:02d}_{j:02d}.wav",
                                  "instrument": instrument} for j in range(1, len(raws) + 1)}}
        for j, raw in enumerate(raws, 1):
            sf.write(folder / f"{name}_RAW" / f"{name}_RAW_{i:02d}_{j:02d}.wav", raw.T, 44100)
        wet = raws[0].mean(axis=0)
        with torch.no_grad():
            wet = load_dataset("medleydb").preset(i).to_chain().eval()(
                torch.from_numpy(wet).float().view(1, 1, -1))[0].numpy()
        sf.write(folder / f"{name}_STEMS" / stem_file, wet.T, 44100, subtype="FLOAT")
    (folder / f"{name}_METADATA.yaml").write_text(yaml.safe_dump(meta))


@pytest.fixture(scope="module")
def fake_medleydb(tmp_path_factory):
    root = tmp_path_factory.mktemp("medleydb")
    voice = demo_vocal(2.0)[None]
    noise = (np.random.default_rng(0).standard_normal((1, voice.shape[1])) * 0.05).astype(np.float32)
    wide = np.concatenate([voice, -voice])  # side channel only
    _track(root, "Artist_SongA", [("male singer", [voice]), ("electric guitar", [noise])])
    _track(root, "Artist_SongB", [("female singer", [voice, voice])])  # two raws: left out
    _track(root, "Artist_SongC", [("vocalists", [wide]), ("male speaker", [voice + noise]),
                                  ("Rapper", [voice]), ("Male Singer", [voice])])  # not matched
    _track(root, "Artist_SongD", [("male singer", [voice])], instrumental="yes")
    return root


def test_pair_rule(fake_medleydb):
    pairs = find_pairs([fake_medleydb])
    assert [p.name for p in pairs] == ["Artist_SongA_S01", "Artist_SongC_S01", "Artist_SongC_S02"]
    assert all(p.raw_path.exists() and p.stem_path.exists() for p in pairs)
    assert side_to_mid_db(np.stack([np.ones(10), np.ones(10)])) == -np.inf
    assert side_to_mid_db(np.ones((1, 10))) == -np.inf


def test_side_peak_rule_uses_the_plain_maximum():
    t = np.linspace(0, 1, 1000)
    voice = np.sin(2 * np.pi * 5 * t)
    assert side_peak_db(np.stack([voice, voice])) == -np.inf           # identical channels
    assert side_peak_db(np.stack([voice, 0.5 * voice])) == -np.inf     # levels are normalised away
    # an inverted channel: its plain maximum is the positive peak of -voice, so the side is 2x
    assert side_peak_db(np.stack([voice, -voice])) == pytest.approx(20 * np.log10(0.707 * 2), abs=1e-3)
    # a small difference stays below -10 dB, a large one does not
    assert side_peak_db(np.stack([voice, voice + 0.05 * np.cos(40 * t)])) < -10
    assert side_peak_db(np.stack([voice, np.roll(voice, 100)])) > -10
    assert side_peak_db(np.ones((1, 10))) == -np.inf


def test_shards_cover_everything_once_and_reruns_skip(fake_medleydb, tmp_path, capsys):
    out = tmp_path / "runs"
    with pytest.warns(UserWarning, match="side channel peaks at"):
        for shard in ("1/2", "2/2"):
            assert main(["medleydb", str(fake_medleydb), "--pairs", "rule", "--out", str(out),
                         "--shard", shard, *ARGS]) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["pair"]) == ["Artist_SongA_S01", "Artist_SongC_S02"]
    assert "side channel" in json.loads((out / "Artist_SongC_S01" / "skipped.json").read_text())["reason"]
    table = pd.read_csv(out / "table.csv", index_col=0)
    assert list(table.index) == ["No processing", "DiffVox", "w/o Approx."]
    np.testing.assert_allclose(table.loc["DiffVox", "mss_lr"], summary["fitted_mss_lr"].mean())
    np.testing.assert_allclose(table.loc["w/o Approx.", "mss_lr"], summary["fitted_exact_mss_lr"].mean())
    assert summary["fitted_exact_mss_lr"].notna().all()
    fit_source = json.loads((out / "Artist_SongA_S01" / "preset.json").read_text())["source"]["fit"]
    assert fit_source["keep"] == "final" and fit_source["best_step"] == 2  # the original's final preset
    stamp = (out / "Artist_SongA_S01" / "preset.json").stat().st_mtime_ns
    with pytest.warns(UserWarning, match="side channel"):  # the skipped pair is looked at again
        run_medleydb([fake_medleydb], out, SAME, shard=(1, 1), progress=False, pairs="rule")  # all finished
    assert (out / "Artist_SongA_S01" / "preset.json").stat().st_mtime_ns == stamp
    assert "2 finished pairs" in capsys.readouterr().out
    # reuse is earned: another variant or another number of steps into the same folder is
    # refused before any work, and every file stays as it was
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    for extra, message in ((["--variant", "no-delay"], "variant='full', now 'no-delay'"),
                           (["--steps", "5"], "steps=2, now 5")):
        argv = ["medleydb", str(fake_medleydb), "--pairs", "rule", "--out", str(out), *ARGS, *extra]
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and "--overwrite" in err[0], err
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
    # a pair folder fitted with other settings (e.g. copied from another run) is refused too
    (out / "diffvox-run.json").unlink()
    settings = json.loads((out / "Artist_SongA_S01" / "diffvox-run.json").read_text())
    settings["settings"]["steps"] = 3
    (out / "Artist_SongA_S01" / "diffvox-run.json").write_text(json.dumps(settings))
    with pytest.raises(ValueError, match="other settings \\(steps=3, now 2\\)"):
        run_medleydb([fake_medleydb], out, SAME, shard=(1, 1), progress=False, pairs="rule")
    # --overwrite refits with the new variant; the tables are rebuilt from what the folders hold
    with pytest.warns(UserWarning, match="side channel"):
        assert main(["medleydb", str(fake_medleydb), "--pairs", "rule", "--out", str(out), *ARGS,
                     "--variant", "no-delay", "--overwrite"]) == 0
    table = pd.read_csv(out / "table.csv", index_col=0)
    assert list(table.index) == ["No processing", "w/o DLY"]
    for pair in ("Artist_SongA_S01", "Artist_SongC_S02"):
        preset = json.loads((out / pair / "preset.json").read_text())
        assert preset["source"]["fit"]["variant"] == "no-delay" and "delay" not in preset
    _table_rows_are_labelled_by_variant(tmp_path, out)


def _table_rows_are_labelled_by_variant(tmp_path, out):
    table = pd.read_csv(out / "table.csv", index_col=0)
    assert list(table.index) == ["No processing", "w/o DLY"]
    assert set(pd.read_csv(out / "summary.csv")["variant"]) == {"no-delay"}
    # the ablation chapter's table from one run folder per variant
    full = tmp_path / "full"
    full.mkdir()
    full_table = table.rename(index={"w/o DLY": "DiffVox"}) * 0.5
    full_table.loc["w/o Approx."] = full_table.loc["DiffVox"] * 1.1
    full_table.to_csv(full / "table.csv")
    combined = combined_table(out.parent)
    assert list(combined.index) == ["No processing", "DiffVox", "w/o Approx.", "w/o DLY"]
    np.testing.assert_allclose(combined.loc["w/o DLY"], table.loc["w/o DLY"])
    np.testing.assert_allclose(combined.loc["No processing"], full_table.loc["No processing"])
    pd.testing.assert_frame_equal(combined_table(out), table)


def test_bad_shard_and_root(tmp_path):
    for spec in ("0/2", "3/2", "a/b", "1"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(spec)
    with pytest.raises(FileNotFoundError):
        find_pairs([tmp_path / "missing"])


def _published_tree(tmp_path, info):
    """A fake MedleyDB split over two roots: the 70 published files (empty) plus decoys."""
    from diffvox.matching.medleydb import published_relative_paths

    roots = [tmp_path / "V1", tmp_path / "V2"]
    for i, (dry, wet, _) in enumerate(published_relative_paths(info)):
        for rel in (dry, wet):
            path = roots[i % 2] / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
        decoy = roots[i % 2] / dry.parent / "decoy_RAW_99_01.wav"  # another raw of the track
        decoy.write_bytes(b"")
    other = roots[0] / "Other_Track" / "Other_Track_STEMS" / "Other_Track_STEM_01.wav"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"")
    return roots


def test_list_prints_the_70_published_pairs(tmp_path, capsys):
    info = json.loads((presets_root() / "medleydb" / "info.json").read_text())
    roots = _published_tree(tmp_path, info)
    assert main(["medleydb", *map(str, roots), "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 70
    expected = ["/".join(d.split("/")[-3:]) + "\t" + "/".join(w.split("/")[-3:])
                for d, w in zip(info["dry_files"], info["wet_files"])]
    assert lines == expected
    # the rule, on the same tree, finds nothing: there is no metadata, which is an error
    assert main(["medleydb", *map(str, roots), "--list", "--pairs", "rule"]) == 2
    assert "no MedleyDB track metadata" in capsys.readouterr().err
    # the dataset's root (the folder holding Audio/) is taken as well as its Audio folder
    dataset = tmp_path / "MedleyDB"
    dataset.mkdir()
    roots[0].rename(dataset / "Audio")
    assert main(["medleydb", str(dataset), str(roots[1]), "--list"]) == 0
    assert capsys.readouterr().out.splitlines() == expected
    roots[0] = dataset
    # a missing file is named
    missing = "/".join(info["wet_files"][7].split("/")[-3:])
    for root in roots:
        (root / missing).unlink(missing_ok=True)
    assert main(["medleydb", *map(str, roots), "--list"]) == 2
    err = capsys.readouterr().err
    assert missing in err and len(err.strip().splitlines()) == 1


def test_published_pairs_use_the_published_shift(tmp_path):
    """A pair run with --pairs published is aligned by its published shift, not by
    cross-correlation: a shift the data contradicts is applied as given."""
    from diffvox.matching.fit import prepare_pair

    voice = demo_vocal(2.0)
    wet = np.stack([voice, voice])
    assert prepare_pair(voice, wet).shift == 0
    shifted = prepare_pair(voice, wet, shift=441)
    assert shifted.shift == 441
    np.testing.assert_array_equal(shifted.dry[:441], 0)
    info = {"dry_files": ["/x/Audio/T/T_RAW/T_RAW_01_01.wav"], "wet_files": ["/x/Audio/T/T_STEMS/T_STEM_01.wav"],
            "alignment_shifts": [-20]}
    for rel in ("T/T_RAW/T_RAW_01_01.wav", "T/T_STEMS/T_STEM_01.wav"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    from diffvox.matching.medleydb import published_pairs

    (pair,) = published_pairs([tmp_path], info)
    assert (pair.track, pair.stem, pair.shift, pair.name) == ("T", "STEM_01", -20, "T_STEM_01")


def test_medleydb_tree_mistakes_give_one_line_and_leave_nothing(fake_medleydb, tmp_path, capsys):
    """A malformed metadata file, an empty root, a missing root and a rule pair with a missing
    file: one line naming the file (or a note for --list), and no --out folder left behind."""
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(fake_medleydb / "Artist_SongA", bad / "Artist_SongA")
    meta = bad / "Artist_SongA" / "Artist_SongA_METADATA.yaml"
    meta.write_text("stems:\n  S01: {instrument: [unclosed\n")
    (tmp_path / "empty").mkdir()
    cases = [([str(bad), "--pairs", "rule", "--list"], f"{meta} is not valid YAML"),
             ([str(bad), "--pairs", "rule", "--out", str(tmp_path / "o1")], "is not valid YAML"),
             ([str(tmp_path / "empty"), "--pairs", "rule", "--out", str(tmp_path / "o2")], "no MedleyDB track metadata"),
             ([str(tmp_path / "nowhere"), "--out", str(tmp_path / "o3")], "no MedleyDB folder at"),
             ([str(tmp_path / "nowhere"), "--pairs", "rule", "--out", str(tmp_path / "o4")], "no MedleyDB folder at")]
    for argv, message in cases:
        capsys.readouterr()
        assert main(["medleydb", *argv, *ARGS]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and "Traceback" not in err[0], (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "empty"]
    # a rule pair whose stem is missing is listed with a note naming the file
    shutil.copytree(fake_medleydb / "Artist_SongA", tmp_path / "ok" / "Artist_SongA")
    stem = tmp_path / "ok" / "Artist_SongA" / "Artist_SongA_STEMS" / "Artist_SongA_STEM_01.wav"
    stem.unlink()
    capsys.readouterr()
    assert main(["medleydb", str(tmp_path / "ok"), "--pairs", "rule", "--list"]) == 0
    out = capsys.readouterr()
    assert out.out.strip().endswith("Artist_SongA_STEM_01.wav") and f"{stem} is missing" in out.err
