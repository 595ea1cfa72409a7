"""Lint of the notebooks' text: what a reader sees must be what the author meant.

A control character in a markdown cell is almost always an escape sequence that was interpreted
by mistake (``"\\to"`` written in a Python string becomes TAB + ``"o"``, so ``$I \\to 200$``
renders as "I o 200"). Markdown never needs them; code cells are left to ruff and nbval.
"""

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "solutions").glob("*.ipynb")) + sorted((REPO / "notebooks").glob("*.ipynb"))
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # everything below space except the newline


def control_characters(text: str) -> list[str]:
    """Each control character in ``text`` with 20 characters of context, as ``repr`` strings."""
    return [repr(text[max(0, m.start() - 20) : m.end() + 20]) for m in CONTROL.finditer(text)]


def test_the_lint_finds_an_interpreted_escape() -> None:
    assert control_characters("$I \to 200$") == [repr("$I \to 200$")]
    assert control_characters("$I \\to 200$\nnext line") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_markdown_has_no_control_characters(path: Path) -> None:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = {
        index: control_characters("".join(cell["source"]))
        for index, cell in enumerate(cells)
        if cell["cell_type"] == "markdown"
    }
    found = {index: hits for index, hits in found.items() if hits}
    assert not found, (
        f"{path.name}: control characters in markdown cells {found} -- an escape such as \\t in \\to "
        "was interpreted; write the backslash twice in the source that generated the cell"
    )


TEACHING = [path for path in sorted((REPO / "solutions").glob("*.ipynb")) if path.name[:2] != "00"]


@pytest.mark.parametrize("path", TEACHING, ids=lambda path: path.name)
def test_every_teaching_notebook_draws_a_diagram(path: Path) -> None:
    """Notebooks 01-14 show the structure they teach as a picture (``course_utils.diagrams``)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    assert any(
        cell["cell_type"] == "code" and "Diagram(" in "".join(cell["source"]) for cell in cells
    ), f"{path.name} has no diagram cell: draw the structure it teaches with course_utils.diagrams.Diagram"
