"""The intro's status table lists every result file a chapter reads: a chapter that shows a
result kind (a file, a MedleyDB folder, a run in the build) not listed in
diffvox.results_index.RESULTS fails here."""
from pathlib import Path

import pytest

from diffvox.results_index import BUILD, KINDS, RESULTS, referenced, status_rows

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(p.stem for p in BOOK.glob("*.md") if p.stem not in ("intro", "reproduce", "references"))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_result_a_chapter_reads_is_in_the_status_table(chapter):
    listed = {r.source if r.source == BUILD or r.source.startswith("$") else Path(r.source).name
              for r in RESULTS if r.chapter == chapter}
    missing = referenced((BOOK / f"{chapter}.md").read_text()) - listed
    assert not missing, f"{chapter} reads {sorted(missing)}, which the intro's status table does not list"


def test_every_listed_result_is_read_by_its_chapter():
    for r in RESULTS:
        name = r.source if r.source == BUILD or r.source.startswith("$") else Path(r.source).name
        assert name in referenced((BOOK / f"{r.chapter}.md").read_text()), f"{r.chapter} does not read {name}"


def test_the_reference_scanner_finds_each_form():
    text = ('x = ROOT / "book" / "results" / "full_fit_cpu"\n'
            'p = ROOT / "benchmarks" / "results" / f"matching_{device}.json"\n'
            'load_results("ablations"); os.environ.get("MEDLEYDB_RUNS"); mode = current_mode()\n'
            'write(ROOT / "book" / "results" / f"scan_{device}.json")\n')
    assert referenced(text) == {"full_fit_cpu", "matching_cpu.json", "matching_cuda.json",
                                "ablations_full.json", "$MEDLEYDB_RUNS", BUILD}


def test_status_table_marks_missing_files(tmp_path, monkeypatch):
    monkeypatch.delenv("MEDLEYDB_RUNS", raising=False)
    rows = {r["chapter"]: r for r in status_rows(tmp_path)}  # an empty checkout: nothing committed
    assert rows["scan_benchmarks"][KINDS[2]] == "iir_cuda.json: none yet (make gpu-results)"
    assert rows["ablations"][KINDS[3]] == "$MEDLEYDB_RUNS: none yet (diffvox medleydb)"
    assert rows["ablations"][KINDS[0]] == BUILD
    assert rows["exact_chain"][KINDS[0]] == "-"
