"""One fit at the paper's settings on the CPU, end to end: the demo vocal repeated to 36 s (four
12 s chunks, so every step uses all of them), rendered with medleydb:0 as the target, 2000 Adam
steps at lr 0.01, through the same code as the book's full mode. Resumable: rerunning continues
from the last checkpoint in ``_build/diffvox-runs``. Writes ``book/results/full_fit_cpu/``
(metrics.json, history.csv, preset.json, provenance.json). About an hour on a 2-core CPU.

    python scripts/full_fit_cpu.py
"""
from __future__ import annotations

import json
import shutil
import time

from diffvox.matching.experiments import ROOT, TARGET_ROWS, full_mode, provenance, run
from diffvox.fileio import write_text_atomic


def main() -> None:
    mode = full_mode()
    if mode.config.device != "cpu":
        raise SystemExit("this script records the CPU fit; a GPU is available, use make gpu-results")
    start = time.perf_counter()
    result = run(TARGET_ROWS[0], "full", mode, progress=True)
    out = ROOT / "book" / "results" / "full_fit_cpu"
    out.mkdir(parents=True, exist_ok=True)
    for name in ("metrics.json", "history.csv", "preset.json"):
        shutil.copyfile(result.folder / name, out / name)
    write_text_atomic(out / "provenance.json", json.dumps({
        **provenance(mode), "target": f"medleydb:{TARGET_ROWS[0]}", "dry": "demo vocal repeated to 36 s",
        "command": "python scripts/full_fit_cpu.py",
        "wall_seconds_of_last_session": time.perf_counter() - start,
        "note": "the machine ran other jobs at the same time; see benchmarks/results/matching_cpu.json "
                "for the step time on an idle machine"}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
