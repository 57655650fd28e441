"""Execute book chapters (Jupytext .md) in place of the book build, e.g. at full size on a GPU:

    DIFFVOX_FULL=1 python scripts/execute_chapters.py book/sound_matching.md book/ablations.md

Each chapter runs in a fresh kernel from the repository root; a failing cell stops with its error.
Result files the chapters write (book/results/*.json) are what the book shows afterwards.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    for path in paths:
        start = time.perf_counter()
        notebook = jupytext.read(path)
        NotebookClient(notebook, timeout=None, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT / "book")}}).execute()
        print(f"{path}: executed in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
