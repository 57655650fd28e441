"""Execute book chapters (Jupytext .md) in place of the book build, e.g. at full size on a GPU:

    DIFFVOX_FULL=1 python scripts/execute_chapters.py book/sound_matching.md book/ablations.md
    python scripts/execute_chapters.py --save book/reference_outputs book/correlations.md
    python scripts/execute_chapters.py --executed results/ book/scan_benchmarks.md

With ``--save DIR`` the executed notebooks are written to DIR/<chapter>.ipynb: the reference
outputs nbval compares for cells marked ``# NBVAL_CHECK_OUTPUT`` (``make nbval-refs``). With
``--executed DIR`` they are written there whole, every output kept (scripts/gpu_results.py).
Each chapter runs in a fresh kernel from the repository root; a failing cell stops with its error.
Result files the chapters write (book/results/*.json) are what the book shows afterwards.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

from diffvox.fileio import atomic_path

ROOT = Path(__file__).resolve().parents[1]


def main(args: list[str]) -> int:
    save = executed = None
    while args[:1] in (["--save"], ["--executed"]) and len(args) > 1:
        if args[0] == "--save":
            save = Path(args[1])
        else:
            executed = Path(args[1])
        args = args[2:]
    if not args:
        print(__doc__)
        return 2
    for path in args:
        start = time.perf_counter()
        notebook = jupytext.read(path)
        try:
            NotebookClient(notebook, timeout=None, kernel_name="python3",
                           resources={"metadata": {"path": str(ROOT / "book")}}).execute()
        finally:  # a failed chapter is kept too, up to its failing cell and its traceback
            if executed is not None:
                with atomic_path(executed / f"{Path(path).stem}.ipynb") as tmp:
                    nbformat.write(notebook, str(tmp))
        print(f"{path}: executed in {time.perf_counter() - start:.0f} s", flush=True)
        if save is not None:  # keep only the outputs nbval compares
            for cell in notebook.cells:
                if cell.cell_type == "code" and "NBVAL_CHECK_OUTPUT" not in cell.source:
                    cell.outputs = []
            with atomic_path(save / f"{Path(path).stem}.ipynb") as tmp:
                nbformat.write(notebook, str(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
