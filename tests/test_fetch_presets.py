"""`make data`: presets are copied, verified by sha256, and the target replaced atomically."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("fetch_presets", ROOT / "scripts" / "fetch_presets.py")
fetch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fetch)


@pytest.fixture()
def source(tmp_path, reference_dir):
    src = reference_dir.parent / "presets"
    copy = tmp_path / "src"
    shutil.copytree(src, copy)
    return copy


def test_fill_copies_and_verifies(tmp_path, source, monkeypatch):
    monkeypatch.setenv("DIFFVOX_PRESETS", str(source))
    out = tmp_path / "presets"
    assert "10 files verified" in fetch.fill(out, "http://unused.invalid")
    assert fetch.verify(out) == []
    assert "already holds" in fetch.fill(out, "http://unused.invalid")


def test_corrupt_source_is_refused_and_target_kept(tmp_path, source, monkeypatch):
    monkeypatch.setenv("DIFFVOX_PRESETS", str(source))
    out = tmp_path / "presets"
    fetch.fill(out, "http://unused.invalid")
    (out / "medleydb" / "raw_params.npy").write_bytes(b"stale")  # target needs a refill
    with open(source / "internal" / "raw_params.npy", "r+b") as f:  # and the source is corrupt
        f.seek(200)
        f.write(b"\x00\x01\x02")
    with pytest.raises(SystemExit, match="failed verification.*internal/raw_params.npy"):
        fetch.fill(out, "http://unused.invalid")
    assert (out / "medleydb" / "raw_params.npy").read_bytes() == b"stale"  # untouched
    assert not list(tmp_path.glob(".presets-*"))  # no staging left behind
