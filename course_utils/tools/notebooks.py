"""Generate learner notebooks (``notebooks/``) from the solved ones (``solutions/``).

Authors write only ``solutions/``. Inside a code cell, the solution of an exercise is fenced::

    def reparameterize(mu, logvar):
        ### BEGIN SOLUTION
        std = torch.exp(0.5 * logvar)
        return mu + std * torch.randn_like(std)
        ### END SOLUTION

and the learner version gets, at the same indentation::

        # YOUR CODE HERE
        raise NotImplementedError("exercise not solved yet")

Markdown cells tagged ``solution`` (worked answers to questions) become a prompt to answer.
Outputs and execution counts are stripped from both versions so that diffs stay readable.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = ("# YOUR CODE HERE", 'raise NotImplementedError("exercise not solved yet")')
ANSWER_PROMPT = "*✏️ Your answer here (double-click to edit).*"
KEPT_CELL_METADATA = ("tags",)


class MarkerError(ValueError):
    """Solution markers are unbalanced or nested."""


def strip_solutions(source: str, where: str = "cell") -> str:
    """Replace every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block by the stub."""
    output, inside = [], False
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise MarkerError(f"{where}, line {number}: nested {BEGIN}")
            inside = True
            indent = re.match(r"\s*", line).group(0)
            output.extend(indent + stub for stub in STUB)
        elif stripped == END:
            if not inside:
                raise MarkerError(f"{where}, line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            output.append(line)
    if inside:
        raise MarkerError(f"{where}: {BEGIN} is never closed by {END}")
    return "\n".join(output)


def clean(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove outputs, execution counts and editor metadata (in place); return the notebook."""
    for cell in notebook.cells:
        cell.metadata = {key: value for key, value in cell.metadata.items() if key in KEPT_CELL_METADATA}
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.pop("id", None)
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    notebook.nbformat, notebook.nbformat_minor = 4, 4
    return notebook


def learner_version(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The learner notebook for a solved notebook: solutions stubbed out, outputs removed."""
    learner = clean(nbformat.from_dict(solution))
    for index, cell in enumerate(learner.cells):
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, where=f"{name}, cell {index}")
        elif "solution" in cell.metadata.get("tags", []):
            cell.source = ANSWER_PROMPT
            cell.metadata["tags"] = [tag for tag in cell.metadata["tags"] if tag != "solution"]
            if not cell.metadata["tags"]:
                del cell.metadata["tags"]
    return learner


def render(notebook: nbformat.NotebookNode) -> str:
    """The canonical text of a notebook file (stable formatting, trailing newline)."""
    return nbformat.writes(notebook, version=4) + "\n"


def _read(path: Path) -> nbformat.NotebookNode:
    with path.open(encoding="utf-8") as handle:
        return nbformat.read(handle, as_version=4)


def expected_files(solutions_dir: Path) -> dict[Path, str]:
    """Map each learner notebook path (``notebooks/...``) to the text it must have."""
    learner_dir = solutions_dir.parent / "notebooks"
    return {
        learner_dir / path.name: render(learner_version(_read(path), name=path.name))
        for path in sorted(solutions_dir.glob("*.ipynb"))
    }


def stale_files(repo_root: Path) -> list[str]:
    """Notebooks that ``generate`` would change: out-of-date, missing, orphaned or uncleaned."""
    solutions_dir = repo_root / "solutions"
    problems = []
    expected = expected_files(solutions_dir)
    for path, text in expected.items():
        if not path.exists():
            problems.append(f"{path.relative_to(repo_root)} is missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path.relative_to(repo_root)} is out of date")
    for path in sorted((repo_root / "notebooks").glob("*.ipynb")):
        if path not in expected:
            problems.append(f"{path.relative_to(repo_root)} has no solutions/ source")
    for path in sorted(solutions_dir.glob("*.ipynb")):
        if path.read_text(encoding="utf-8") != render(clean(_read(path))):
            problems.append(f"{path.relative_to(repo_root)} has outputs or editor metadata")
    return problems


def generate(repo_root: Path) -> list[Path]:
    """Clean ``solutions/`` in place and (re)write ``notebooks/``; return the files written."""
    solutions_dir, learner_dir = repo_root / "solutions", repo_root / "notebooks"
    learner_dir.mkdir(exist_ok=True)
    written = []
    for path in sorted(solutions_dir.glob("*.ipynb")):
        cleaned = render(clean(_read(path)))
        if path.read_text(encoding="utf-8") != cleaned:
            path.write_text(cleaned, encoding="utf-8")
            written.append(path)
    expected = expected_files(solutions_dir)
    for path, text in expected.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    for path in learner_dir.glob("*.ipynb"):
        if path not in expected:
            path.unlink()
            written.append(path)
    return written
