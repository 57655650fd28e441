"""Which result files each chapter of the book reads, by kind: what the intro's status table
shows, and what ``tests/test_results_index.py`` checks against the chapters' sources (a chapter
that reads a result file not listed here fails that test)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# kinds of result, in the order of the status table's columns
KINDS = ("quick (in this build)", "CPU, full size", "GPU, full size", "MedleyDB")
BUILD = "computed in this build"


@dataclass(frozen=True)
class Result:
    chapter: str
    kind: str
    source: str   # a path under the repository root, an environment variable ($NAME), or BUILD
    how: str      # how to make it when it is missing

    def present(self, root: Path = ROOT) -> bool:
        if self.source == BUILD:
            return True
        if self.source.startswith("$"):
            return bool(os.environ.get(self.source[1:]))
        return (root / self.source).exists()

    @property
    def name(self) -> str:
        if self.source == BUILD or self.source.startswith("$"):
            return self.source
        return Path(self.source).name


QUICK, CPU, GPU, MEDLEYDB = KINDS
RESULTS = (
    Result("scan_benchmarks", QUICK, BUILD, ""),
    Result("scan_benchmarks", CPU, "benchmarks/results/iir_cpu.json", "make bench"),
    Result("scan_benchmarks", GPU, "benchmarks/results/iir_cuda.json", "make gpu-results"),
    Result("exact_chain", CPU, "book/results/exact_vs_fs.json", "make exact-vs-fs"),
    Result("exact_chain", CPU, "benchmarks/results/realtime_cpu.json", "make bench"),
    Result("sound_matching", QUICK, BUILD, ""),
    Result("sound_matching", CPU, "book/results/full_fit_cpu", "make full-fit-cpu"),
    Result("sound_matching", CPU, "benchmarks/results/robustness_cpu.json", "make robustness"),
    Result("sound_matching", CPU, "benchmarks/results/matching_cpu.json", "make bench"),
    Result("sound_matching", CPU, "benchmarks/results/profile_step_cpu.json", "make bench"),
    Result("sound_matching", CPU, "benchmarks/results/profile_step_cpu_before.json", "committed"),
    Result("sound_matching", GPU, "book/results/sound_matching_full.json", "make gpu-chapters"),
    Result("sound_matching", GPU, "benchmarks/results/matching_cuda.json", "make gpu-results"),
    Result("sound_matching", MEDLEYDB, "$MEDLEYDB_RUNS", "diffvox medleydb"),
    Result("ablations", QUICK, BUILD, ""),
    Result("ablations", CPU, "book/results/ablations_full", "python scripts/ablations_full.py"),
    Result("style_transfer", QUICK, "benchmarks/results/transfer_quick_cpu.json",
           "python benchmarks/transfer.py --quick"),
    Result("ablations", GPU, "book/results/ablations_full.json", "make gpu-chapters"),
    Result("ablations", MEDLEYDB, "$MEDLEYDB_RUNS", "diffvox medleydb"),
)
# chapters whose results are complete at any size: they use every published preset
PRESET_CHAPTERS = ("correlations", "pca", "preset_generation")


def status_rows(root: Path = ROOT) -> list[dict]:
    """One row per compute-heavy chapter: for each kind, the files it reads that this checkout
    has, "name: none yet (how to make it)" for those it lacks, "-" where the chapter has no result
    of that kind. Entries are joined by ``<br>`` (an HTML table)."""
    rows = []
    for chapter in dict.fromkeys(r.chapter for r in RESULTS):
        row = {"chapter": chapter}
        for kind in KINDS:
            entries = [r for r in RESULTS if r.chapter == chapter and r.kind == kind]
            row[kind] = "<br>".join(  # the table is HTML: one file a line
                (r.source if r.source == BUILD else r.name) if r.present(root)
                else f"{r.name}: none yet ({r.how})" for r in entries) or "-"
        rows.append(row)
    rows.append({"chapter": ", ".join(PRESET_CHAPTERS), QUICK: "all published presets",
                 CPU: "-", GPU: "-", MEDLEYDB: "-"})
    return rows


# result folders (e.g. a fit's files): read when a chapter names them under book/results
_FOLDERS = {Path(r.source).name for r in RESULTS
            if r.source != BUILD and not r.source.startswith("$") and not r.source.endswith(".json")}
_REFERENCE = re.compile(r"""(?:benchmarks|book)["'/ ),]+results["'/ ),]+(?:["'])?([\w{}]+(?:\.json)?)"""
                        r"""|["'f]([a-z_]+_(?:cpu|cuda|full|\{device\})(?:_before)?\.json)["']"""
                        r"""|load_results\(["'](\w+)["']\)|(MEDLEYDB_RUNS)|(current_mode\(\)|sweep\()""")


def referenced(source: str) -> set[str]:
    """The result sources the code cells of a chapter read (the whole text if it has none):
    file names, $MEDLEYDB_RUNS, or BUILD."""
    found = set()
    cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)\n```", source, flags=re.S)
    lines = "\n".join(cells or [source]).splitlines()
    # a file the chapter writes (in the call's arguments, which may span lines) is not a read
    read, depth = [], 0
    for line in lines:
        if depth == 0 and re.search(r"write\w*\(|save_results\(", line):
            depth = max(line.count("(") - line.count(")"), 0)
            continue
        if depth:
            depth = max(depth + line.count("(") - line.count(")"), 0)
            continue
        read.append(line)
    for path, name, loaded, env, build in _REFERENCE.findall("\n".join(read)):
        if build:
            found.add(BUILD)
        elif env:
            found.add("$" + env)
        elif loaded:
            found.add(f"{loaded}_full.json")
        else:
            name = name or path
            if name.endswith(".json") or name in _FOLDERS:
                for device in ("cpu", "cuda"):
                    found.add(name.replace("{device}", device))
    return {f for f in found if "{" not in f}
