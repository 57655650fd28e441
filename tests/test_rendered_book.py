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
    "intro": (1, 0, 1), "state_space": (1, 0, 0), "scan_benchmarks": (2, 0, 2),
    "effects": (5, 1, 0), "exact_chain": (3, 2, 2), "sound_matching": (4, 7, 4), "ablations": (0, 0, 2),
    "correlations": (2, 0, 2), "pca": (5, 5, 4), "preset_generation": (0, 4, 2),
    "style_transfer": (2, 4, 4),
    "reproduce": (0, 0, 0), "references": (0, 0, 0),
}

OUTPUT_WIDTH = 68  # characters of a printed line that the page shows without scrolling (1200 px)
WINDOW = (1280, 1600)  # the reader's window, in CSS px
FIGURE_DPI = 100       # matplotlib's inline backend: 100 px per inch
MIN_FONT_PT = 10       # the smallest text the book's figures use (matplotlib's default size)
MIN_TEXT_PX = 10       # ... and the smallest it may appear on the page at WINDOW

# appended to a copy of a page: after load, measures what the reader sees at WINDOW and writes it
# into the DOM as JSON (headless Chromium's --dump-dom then returns it)
_MEASURE = """<script>
window.addEventListener('load', () => setTimeout(() => {
  const main = document.querySelector('main') || document.body;
  const out = {column: main.clientWidth, images: [], cut: []};
  for (const img of main.querySelectorAll('img')) {
    out.images.push({natural: img.naturalWidth, shown: img.getBoundingClientRect().width,
                     src: (img.getAttribute('src') || '').slice(0, 60)});
  }
  const boxes = main.querySelectorAll('div.cell_input pre, div.highlight pre, div.cell_output pre, div.math, mjx-container[display="true"]');
  for (const el of boxes) {
    if (el.scrollWidth > el.clientWidth + 2) {
      const lines = (el.innerText || el.textContent || '').split('\\n');
      const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
      out.cut.push(el.tagName.toLowerCase() + ': ' + longest.trim().slice(0, 70));
    }
  }
  const d = document.createElement('div');
  d.id = 'diffvox-measured';
  d.setAttribute('data-json', JSON.stringify(out));
  document.body.appendChild(d);
}, 1500));
</script>"""

pytestmark = pytest.mark.skipif(not HTML, reason="set DIFFVOX_BOOK_HTML to a built book (make book)")


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    pytest.fail("headless Chromium is needed (Debian: apt-get install chromium)")


def _dom(page: Path) -> str:
    result = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu",
                             f"--window-size={WINDOW[0]},{WINDOW[1]}",
                             "--virtual-time-budget=8000", "--dump-dom", page.as_uri()],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-500:]
    return result.stdout


def _measured(page: Path) -> dict:
    """Widths as laid out at WINDOW: the text column, every image (natural and shown), and every
    code, output or display-math box whose content is wider than the box (cut off, or behind a
    scroll bar)."""
    import json

    copy = page.with_name(f"_measure_{page.name}")
    copy.write_text(page.read_text().replace("</body>", _MEASURE + "</body>"))
    try:
        dom = _dom(copy)
    finally:
        copy.unlink()
    found = re.search(r'id="diffvox-measured" data-json="([^"]*)"', dom)
    assert found, f"{page.name}: the measuring script did not run"
    return json.loads(html.unescape(found.group(1)))


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


@pytest.mark.parametrize("chapter", list(EXPECTED))
def test_chapter_reads_at_page_width(chapter):
    """At 1280 px nothing is cut off at the right edge (code, printed output, display math), and
    every figure is shown large enough for its smallest text (MIN_FONT_PT at FIGURE_DPI) to be
    at least MIN_TEXT_PX: a figure made wider than the column is shrunk, and so is its text."""
    m = _measured(Path(HTML).resolve() / "book" / f"{chapter}.html")
    assert not m["cut"], f"{chapter}: {len(m['cut'])} boxes are cut off at 1280 px, e.g. {m['cut'][:3]}"
    for img in m["images"]:
        if not img["natural"] or img["src"].endswith(".svg"):
            continue
        text_px = MIN_FONT_PT * FIGURE_DPI / 72 * img["shown"] / img["natural"]
        assert text_px >= MIN_TEXT_PX, (
            f"{chapter}: a figure {img['natural']} px wide is shown at {img['shown']:.0f} px "
            f"(column {m['column']} px), so {MIN_FONT_PT} pt text reads at {text_px:.1f} px; "
            f"make it at most {m['column'] * MIN_FONT_PT * FIGURE_DPI / 72 / MIN_TEXT_PX / FIGURE_DPI:.1f} in wide")


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
