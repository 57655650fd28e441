"""The built book, opened in headless Chromium: every chapter renders its figures, tables and
audio players, and no page shows a traceback or a stderr block. Runs when DIFFVOX_BOOK_HTML
points at a build (``make book`` does this after building); skipped otherwise."""
from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

HTML = os.environ.get("DIFFVOX_BOOK_HTML")
# chapter: (figures, audio players, tables) it must show at least
EXPECTED = {
    "intro": (1, 0, 1), "state_space": (1, 0, 0), "scan_benchmarks": (1, 0, 2),
    "effects": (5, 1, 0), "exact_chain": (3, 2, 2), "sound_matching": (2, 3, 2), "ablations": (0, 0, 1),
    "correlations": (1, 0, 2), "pca": (3, 5, 3), "preset_generation": (0, 4, 2),
    "style_transfer": (2, 4, 4),
    "reproduce": (0, 0, 0), "references": (0, 0, 0),
}

OUTPUT_WIDTH = 68  # characters of a printed line that the page shows without scrolling (1200 px)

pytestmark = pytest.mark.skipif(not HTML, reason="set DIFFVOX_BOOK_HTML to a built book (make book)")


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    pytest.fail("headless Chromium is needed (Debian: apt-get install chromium)")


def _dom(page: Path) -> str:
    result = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu",
                             "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-500:]
    return result.stdout


@pytest.mark.parametrize("chapter", list(EXPECTED))
def test_chapter_renders(chapter):
    page = Path(HTML).resolve() / "book" / f"{chapter}.html"
    assert page.exists(), f"{chapter} was not built"
    dom = _dom(page)
    main = dom[dom.find('<main'):] if '<main' in dom else dom
    figures, audio, tables = (len(re.findall(p, main)) for p in (r"<img\b", r"<audio\b", r"<table\b"))
    want = EXPECTED[chapter]
    assert (figures, audio, tables) >= want and figures >= want[0] and audio >= want[1] and tables >= want[2], \
        f"{chapter}: {figures} figures, {audio} audio players, {tables} tables; expected at least {want}"
    for src in re.findall(r'<img\b[^>]*\bsrc="([^"]+)"', main):
        if not src.startswith("data:"):
            assert (page.parent / src.split("#")[0]).resolve().exists(), f"{chapter}: missing image {src}"
    for at in (m.start() for m in re.finditer(r"<audio\b", main)):  # every player has a label
        before = main[max(0, at - 2000):at]
        assert "<strong>" in before[before.rfind("</audio>") + 1:], f"{chapter}: an unlabelled audio player"
    for bad in ("Traceback (most recent call last)", 'class="output stderr"', "TqdmWarning",
                "UserWarning", "it/s]"):
        assert bad not in main, f"{chapter} shows {bad!r}"
    if EXPECTED[chapter][0] and chapter not in ("intro",):
        assert "Fig." in main or "Figure" in main, f"{chapter}: figures have no numbered caption"
    for figure in re.findall(r"<figure\b.*?</figure>", main, flags=re.S):  # every figure is captioned
        assert "<figcaption" in figure, f"{chapter}: a figure without a caption"
    # nothing is loaded from the network: scripts, styles and fonts come with the book
    remote = re.findall(r'<script\b[^>]*\bsrc="((?:https?:)?//[^"]+)"', dom) + [
        href for tag in re.findall(r'<link\b[^>]*rel="stylesheet"[^>]*>', dom)
        for href in re.findall(r'href="((?:https?:)?//[^"]+)"', tag)]
    assert not remote, f"{chapter} loads {remote} from the network"
    for part in main.split('<div class="cell_output')[1:]:  # printed results fit the page's width
        part = part.split('<div class="cell_input')[0].split('<div class="cell docutils')[0]
        for pre in re.findall(r"<pre>(.*?)</pre>", part, flags=re.S):
            long = [line for line in html.unescape(re.sub(r"<[^>]+>", "", pre)).splitlines()
                    if len(line) > OUTPUT_WIDTH]
            assert not long, f"{chapter}: a printed line is cut off at the page's edge: {long[0][:60]}..."
    if 'class="math notranslate' in main:  # math typeset by the MathJax served with the book
        assert "<mjx-container" in main, f"{chapter}: its math was not typeset (MathJax did not load)"


def test_pages_show_the_committed_benchmark_results():
    """A chapter that reads a results file must have been rebuilt after it changed (Sphinx
    re-reads only changed sources; `make book` passes --all): the scan-benchmark page states the
    lead over the per-section baseline that benchmarks/results/iir_cpu.json gives."""
    import json

    root = Path(__file__).resolve().parents[1]
    rows = json.loads((root / "benchmarks" / "results" / "iir_cpu.json").read_text())["results"]
    seconds = {(r["method"], r["pass"]): r["seconds"] for r in rows if r.get("seconds")}
    lead = seconds[("torchlpc_modal", "fwd+bwd")] / seconds[("ours", "fwd+bwd")]
    text = html.unescape(re.sub(r"<[^>]+>", "", _dom(Path(HTML).resolve() / "book" / "scan_benchmarks.html")))
    assert f"{lead:.1f}x faster than the original" in re.sub(r"\s+", " ", text), \
        f"the scan-benchmark page does not show the committed {lead:.1f}x: rebuild it (make book)"
