"""The matching benchmark's interleaved timing, at a tiny size (no timing is asserted)."""
from __future__ import annotations

import statistics

import pytest

from diffvox.bench.matching import time_step, time_steps


def test_interleaved_steps_report_medians_and_pairs():
    rows = time_steps(batch=1, chunk_seconds=1.5, overlap_seconds=0.5, device="cpu", repeat=3)
    assert [r["implementation"] for r in rows] == ["diffvox", "original"]
    for r in rows:
        assert len(r["step_seconds"]) == 3
        assert r["seconds_per_step"] == statistics.median(r["step_seconds"])
    ours, theirs = rows[0]["step_seconds"], rows[1]["step_seconds"]
    assert rows[0]["paired_ratios"] == pytest.approx([a / b for a, b in zip(ours, theirs)])
    assert rows[0]["target_prepare_s_once"] > 0 and rows[1]["target_prepare_s_once"] is None


def test_unknown_implementation_is_refused():
    with pytest.raises(ValueError, match="implementation must be one of"):
        time_step(batch=1, chunk_seconds=1.5, overlap_seconds=0.5, implementation="nope")
