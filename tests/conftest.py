"""Shared fixtures: where the read-only reference material lives."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _dir(env: str, default: Path) -> Path:
    return Path(os.environ.get(env, default)).expanduser()


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Renders of the original implementation (``DIFFVOX_REFERENCE``, default ../shared/reference)."""
    path = _dir("DIFFVOX_REFERENCE", ROOT.parent / "shared" / "reference")
    if not (path / "README.md").exists():
        if os.environ.get("CI"):
            pytest.fail(f"reference renders not found at {path} (set DIFFVOX_REFERENCE)")
        pytest.skip(f"reference renders not found at {path} (set DIFFVOX_REFERENCE)")
    return path
