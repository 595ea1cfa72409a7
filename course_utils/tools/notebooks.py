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

Learner work is never lost. ``generate`` writes only ``notebooks/NN_name.ipynb`` for each
``solutions/NN_name.ipynb`` and deletes nothing; any other file in ``notebooks/`` (a scratch
notebook, Jupyter's ``-Copy1`` duplicates, checkpoints) is left alone. A learner notebook is
*edited by you* when it is none of

- the version committed in git (``git show HEAD:notebooks/NN_name.ipynb``),
- the text this tool last wrote there (its SHA-256 is recorded in ``.cache/generated-notebooks.json``,
  git-ignored; this also protects edits in a copy of the course without git, e.g. a zip),
- the generated text, up to outputs and execution counts (running a notebook is not editing it).

Without git and without that record, any other difference counts as an edit (the safe side).
Edited notebooks are kept unless ``force`` (``--force``) is given; then the edited file is first
copied to ``notebooks/.backup/NN_name.<YYYYmmdd-HHMMSS>.ipynb``. A notebook that is not edited
but differs from what ``solutions/`` generates is *stale* (authors forgot ``make notebooks``)
and safe to regenerate. ``check_notebooks`` never fails because of a learner's edits: for an
edited notebook it checks the committed version instead, so a clean clone (CI) still catches
authors who forgot to regenerate. Likewise a solution that only gained outputs (someone ran
the committed version and saved it) is left alone; an author's changed solution is cleaned.
Git is asked with a fixed argument list (no shell); without git, only the record is used.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import nbformat

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = ("# YOUR CODE HERE", 'raise NotImplementedError("exercise not solved yet")')
ANSWER_PROMPT = "*✏️ Your answer here (double-click to edit).*"
KEPT_CELL_METADATA = ("tags",)
GENERATION_RECORD = Path(".cache") / "generated-notebooks.json"  # under the repo root, git-ignored
BACKUP_DIR = Path("notebooks") / ".backup"
KEPT = "kept {path} (edited by you; use --force to overwrite, a backup is kept)"

#: What version control holds for a path relative to the repo root; None when nothing is committed.
CommittedText = Callable[[Path], str | None]


class MarkerError(ValueError):
    """Solution markers are unbalanced or nested."""


class MissingSolutionsError(FileNotFoundError):
    """There is no ``solutions/*.ipynb`` to generate the learner notebooks from."""


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


def _text(path: Path) -> str | None:
    """A file's text (``\\n`` line ends), or None when there is no such file."""
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))  # byte for byte, whatever the platform's line ends


def _cleaned(text: str) -> str | None:
    """``text`` as a notebook without outputs and editor metadata; None if it is not a notebook."""
    try:
        return render(clean(nbformat.reads(text, as_version=4)))
    except (ValueError, KeyError, AttributeError, TypeError):  # not JSON, or not a notebook
        return None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def git_committed_text(repo_root: Path) -> CommittedText:
    """``git show HEAD:<path>`` in ``repo_root``; None outside a git checkout or for an uncommitted file."""

    def committed(relative: Path) -> str | None:
        try:
            shown = subprocess.run(
                ["git", "show", f"HEAD:./{relative.as_posix()}"],
                cwd=repo_root,
                capture_output=True,
                check=False,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired):  # git not installed, or stuck
            return None
        if shown.returncode != 0:
            return None
        return shown.stdout.decode("utf-8").replace("\r\n", "\n")

    return committed


def _load_record(repo_root: Path) -> dict[str, str]:
    """``{"notebooks/NN_name.ipynb": sha256 of the text generate last wrote}``; empty if none."""
    try:
        record = json.loads((repo_root / GENERATION_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _save_record(repo_root: Path, record: dict[str, str]) -> None:
    path = repo_root / GENERATION_RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    _write(temporary, json.dumps(record, indent=1, sort_keys=True) + "\n")
    temporary.replace(path)


# -- what is there ------------------------------------------------------------------------------------
UP_TO_DATE, MISSING, STALE, EDITED = "up to date", "missing", "stale", "edited by you"


@dataclass(frozen=True)
class LearnerNotebook:
    """One generated notebook: where it goes, the text ``solutions/`` generates, and the file's state.

    ``state`` is ``UP_TO_DATE`` (the generated text, or only outputs added by running it),
    ``MISSING``, ``STALE`` (the committed or last generated text, but not today's: safe to
    regenerate) or ``EDITED`` (changed by the learner: never overwritten without ``force``).
    """

    path: Path  # relative to the repo root: notebooks/NN_name.ipynb
    generated: str
    state: str
    committed: str | None  # what git has committed for it; None outside git or when not committed


def _solution_paths(repo_root: Path) -> list[Path]:
    solutions_dir = repo_root / "solutions"
    paths = sorted(solutions_dir.glob("*.ipynb"))
    if not paths:
        what = "has no notebooks" if solutions_dir.is_dir() else "does not exist"
        raise MissingSolutionsError(
            f"{solutions_dir} {what}: notebooks/ is generated from solutions/, so there is nothing to "
            "generate or check, and nothing was changed. (A copy of the course without solutions/ "
            "needs no generation: work in notebooks/.)"
        )
    return paths


def _state(working: str | None, generated: str, committed: str | None, recorded: str | None) -> str:
    if working is None:
        return MISSING
    if working == generated:
        return UP_TO_DATE
    if working == committed or _sha256(working) == recorded:
        return STALE
    if _cleaned(working) == generated:
        return UP_TO_DATE  # only outputs differ: the learner ran it
    return EDITED


def learner_notebooks(repo_root: Path, committed: CommittedText | None = None) -> list[LearnerNotebook]:
    """Every ``notebooks/NN_name.ipynb`` that ``solutions/`` generates, with its state (nothing is written).

    ``committed`` gives what version control holds for a path (default: ``git show HEAD:``).
    Raises ``MissingSolutionsError`` when ``solutions/`` is missing or has no notebooks.
    """
    committed = committed or git_committed_text(repo_root)
    record = _load_record(repo_root)
    notebooks = []
    for source in _solution_paths(repo_root):
        relative = Path("notebooks") / source.name
        generated = render(learner_version(_read(source), name=source.name))
        in_git = committed(relative)
        state = _state(_text(repo_root / relative), generated, in_git, record.get(relative.as_posix()))
        notebooks.append(LearnerNotebook(relative, generated, state, in_git))
    return notebooks


def foreign_notebooks(repo_root: Path) -> list[Path]:
    """Notebooks in ``notebooks/`` that ``solutions/`` does not generate (the learner's own, copies)."""
    generated = {path.name for path in (repo_root / "solutions").glob("*.ipynb")}
    return sorted(
        path.relative_to(repo_root)
        for path in (repo_root / "notebooks").glob("*.ipynb")
        if path.name not in generated
    )


def _unclean_solutions(repo_root: Path, committed: CommittedText) -> list[tuple[Path, str, bool]]:
    """Solutions with outputs or editor metadata: (path, cleaned text, only run locally).

    "Only run locally" means the cleaned text is exactly what git has committed: someone ran
    the notebook and saved it, which ``generate`` and ``check_notebooks`` leave alone.
    """
    unclean = []
    for path in _solution_paths(repo_root):
        relative = path.relative_to(repo_root)
        cleaned = render(clean(_read(path)))
        if _text(path) != cleaned:
            unclean.append((relative, cleaned, committed(relative) == cleaned))
    return unclean


# -- checking and generating --------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckReport:
    """``problems`` fail the check (authors must act); ``notes`` are for information only."""

    problems: list[str]
    notes: list[str]


def check_notebooks(repo_root: Path, committed: CommittedText | None = None) -> CheckReport:
    """Is ``notebooks/`` what ``solutions/`` generates? Learner edits never count as a problem.

    An edited learner notebook is reported as a note, and its *committed* version is checked
    instead, so a clean clone (CI) still fails when authors forgot ``make notebooks``.
    """
    committed = committed or git_committed_text(repo_root)
    problems, notes = [], []
    for notebook in learner_notebooks(repo_root, committed):
        if notebook.state == MISSING:
            problems.append(f"{notebook.path} is missing")
        elif notebook.state == STALE:
            problems.append(f"{notebook.path} is out of date")
        elif notebook.state == EDITED and notebook.committed is None:
            notes.append(f"{notebook.path}: edited by you, left alone (no committed version to check)")
        elif notebook.state == EDITED and notebook.committed != notebook.generated:
            problems.append(f"{notebook.path} is out of date in the last commit (your edited copy is kept)")
        elif notebook.state == EDITED:
            notes.append(f"{notebook.path}: edited by you, left alone")
    for path in foreign_notebooks(repo_root):
        if committed(path) is None:
            notes.append(f"{path}: not generated, left alone")
        else:
            problems.append(f"{path} is committed but has no solutions/ source (authors: git rm it)")
    for path, _, only_run_locally in _unclean_solutions(repo_root, committed):
        if only_run_locally:
            notes.append(f"{path}: has outputs saved here (not committed), left alone")
        else:
            problems.append(f"{path} has outputs or editor metadata")
    return CheckReport(problems, notes)


def _back_up(repo_root: Path, relative: Path, moment: datetime) -> Path:
    """Copy ``relative`` to ``notebooks/.backup/<stem>.<YYYYmmdd-HHMMSS>.ipynb``; return the copy's path."""
    backup_dir = repo_root / BACKUP_DIR
    backup_dir.mkdir(parents=True, exist_ok=True)
    stem, stamp = relative.stem, moment.strftime("%Y%m%d-%H%M%S")
    backup, number = backup_dir / f"{stem}.{stamp}.ipynb", 1
    while backup.exists():
        backup, number = backup_dir / f"{stem}.{stamp}-{number}.ipynb", number + 1
    shutil.copy2(repo_root / relative, backup)
    return backup.relative_to(repo_root)


def generate(repo_root: Path, *, force: bool = False, committed: CommittedText | None = None) -> list[str]:
    """Clean ``solutions/`` and write the learner notebooks; return one report line per file.

    Writes only ``notebooks/NN_name.ipynb`` for each ``solutions/NN_name.ipynb`` and deletes
    nothing. Missing and stale notebooks are written; notebooks edited by the learner are kept,
    unless ``force``, which first copies them to ``notebooks/.backup/``. Raises
    ``MissingSolutionsError`` (before touching anything) when ``solutions/`` has no notebooks.
    """
    committed = committed or git_committed_text(repo_root)
    notebooks = learner_notebooks(repo_root, committed)
    report = []
    for path, cleaned, only_run_locally in _unclean_solutions(repo_root, committed):
        if only_run_locally:
            report.append(f"kept {path} (outputs saved here, not committed)")
        else:
            _write(repo_root / path, cleaned)
            report.append(f"cleaned {path} (outputs and editor metadata removed)")
    (repo_root / "notebooks").mkdir(exist_ok=True)
    record, moment = _load_record(repo_root), datetime.now()
    for notebook in notebooks:
        if notebook.state == UP_TO_DATE:
            if _text(repo_root / notebook.path) == notebook.generated:  # not merely with outputs added
                record[notebook.path.as_posix()] = _sha256(notebook.generated)
            report.append(f"unchanged {notebook.path}")
            continue
        if notebook.state == EDITED and not force:
            report.append(KEPT.format(path=notebook.path))
            continue
        detail = {MISSING: "was missing", STALE: "was out of date"}.get(notebook.state)
        if notebook.state == EDITED:
            detail = f"your edited version is backed up at {_back_up(repo_root, notebook.path, moment)}"
        _write(repo_root / notebook.path, notebook.generated)
        record[notebook.path.as_posix()] = _sha256(notebook.generated)
        report.append(f"wrote {notebook.path} ({detail})")
    _save_record(repo_root, record)
    report += [f"left alone {path} (not generated)" for path in foreign_notebooks(repo_root)]
    return report
