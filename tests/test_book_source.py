"""Every code line of every chapter fits the page: at 1280 px a folded cell's code box shows 73
characters (14 px monospace at 8.43 px a character in 622 px; an open cell's, 76), and a longer
line is cut off at the right edge (folded cells count: a reader may open them)."""
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
CODE_WIDTH = 72


def code_lines(text: str):
    for cell in re.findall(r"```\{code-cell\}[^\n]*\n(.*?)\n```", text, flags=re.S):
        if cell.startswith("---\n"):  # the cell's YAML options are not shown
            cell = cell[cell.index("\n---", 3) + 5:]
        yield from cell.splitlines()
    for block in re.findall(r"```(?:bash|python|console)\n(.*?)\n```", text, flags=re.S):
        yield from block.splitlines()


@pytest.mark.parametrize("chapter", sorted(p.name for p in BOOK.glob("*.md")))
def test_code_lines_fit_the_page(chapter):
    long = [line for line in code_lines((BOOK / chapter).read_text()) if len(line) > CODE_WIDTH]
    assert not long, f"{chapter}: {len(long)} code lines longer than {CODE_WIDTH} characters, e.g. {long[0]!r}"


def test_the_scanner_sees_code_not_prose():
    text = "prose " * 30 + "\n```{code-cell} ipython3\n---\ncaption: " + "x" * 90 + "\n---\nok\n```\n"
    assert list(code_lines(text)) == ["ok"]
    assert list(code_lines("```bash\n" + "y" * 80 + "\n```")) == ["y" * 80]
