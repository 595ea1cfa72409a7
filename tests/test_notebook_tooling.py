import json
import shutil
import subprocess

import nbformat
import pytest

from course_utils import __main__ as cli
from course_utils.config import REPO_ROOT
from course_utils.tools.notebooks import (
    GENERATION_RECORD,
    CheckReport,
    MarkerError,
    MissingSolutionsError,
    check_notebooks,
    clean,
    generate,
    learner_version,
    render,
    strip_solutions,
)
from course_utils.tools.syllabus import LESSONS

SOLVED = '''def square(x):
    """x squared."""
    ### BEGIN SOLUTION
    y = x * x
    return y
    ### END SOLUTION

print(square(3))'''


def test_strip_solutions_keeps_indentation_and_surroundings():
    stripped = strip_solutions(SOLVED)
    assert stripped.splitlines() == [
        "def square(x):",
        '    """x squared."""',
        "    # YOUR CODE HERE",
        '    raise NotImplementedError("exercise not solved yet")',
        "",
        "print(square(3))",
    ]


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN SOLUTION\nx = 1", "never closed"),
        ("x = 1\n### END SOLUTION", "without"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
    ],
)
def test_unbalanced_markers_are_rejected(source, message):
    with pytest.raises(MarkerError, match=message):
        strip_solutions(source)


def _solution_notebook():
    cells = [
        nbformat.v4.new_markdown_cell("# 99 · Test"),
        nbformat.v4.new_code_cell(SOLVED),
        nbformat.v4.new_markdown_cell("The answer is 42.", metadata={"tags": ["solution"]}),
    ]
    cells[1].outputs = [nbformat.v4.new_output("stream", text="9\n")]
    cells[1].execution_count = 3
    return nbformat.v4.new_notebook(cells=cells)


def test_learner_version_strips_solutions_and_outputs():
    learner = learner_version(_solution_notebook())
    code = learner.cells[1]
    assert "NotImplementedError" in code.source and "x * x" not in code.source
    assert code.outputs == [] and code.execution_count is None
    assert "The answer is 42" not in learner.cells[2].source


def test_the_learner_stub_runs_unsolved():
    namespace = {}
    exec(learner_version(_solution_notebook()).cells[1].source.replace("print(square(3))", ""), namespace)
    with pytest.raises(NotImplementedError):
        namespace["square"](3)


# -- generation keeps learner work ------------------------------------------------------------------
def _git(repo, *args):
    subprocess.run(
        ["git", "-c", "user.name=Author", "-c", "user.email=author@example.org", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def _write_solution(repo, title="# 99 · Test"):
    """An author's solution, as committed: cleaned of outputs."""
    notebook = _solution_notebook()
    notebook.cells[0].source = title
    (repo / "solutions" / "99_test.ipynb").write_text(render(clean(notebook)))


def _fill_in_exercise(path):
    """What a learner does: replace the stub by their own code (and run it, saving outputs)."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[1].source = notebook.cells[1].source.replace(
        'raise NotImplementedError("exercise not solved yet")', "return x ** 2  # my answer"
    )
    notebook.cells[1].outputs = [nbformat.v4.new_output("stream", text="9\n")]
    nbformat.write(notebook, path)
    return path.read_bytes()


@pytest.fixture
def tiny_repo(tmp_path):
    """A course without git (like a zip): solutions/99_test.ipynb, nothing generated yet."""
    (tmp_path / "solutions").mkdir()
    _write_solution(tmp_path)
    return tmp_path


@pytest.fixture
def git_repo(tiny_repo):
    """The tiny course as a git checkout with the generated notebook committed."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    generate(tiny_repo)
    _git(tiny_repo, "init", "-q")
    _git(tiny_repo, "add", "solutions", "notebooks")
    _git(tiny_repo, "commit", "-q", "-m", "course")
    (tiny_repo / GENERATION_RECORD).unlink()  # as in a fresh clone: git is the only record
    return tiny_repo


def test_generation_writes_missing_notebooks_then_reports_them_unchanged(tiny_repo):
    assert generate(tiny_repo) == ["wrote notebooks/99_test.ipynb (was missing)"]
    expected = render(learner_version(_solution_notebook(), name="99_test.ipynb"))
    assert (tiny_repo / "notebooks" / "99_test.ipynb").read_text() == expected
    assert generate(tiny_repo) == ["unchanged notebooks/99_test.ipynb"]
    assert check_notebooks(tiny_repo) == CheckReport(problems=[], notes=[])


def test_foreign_files_and_edited_notebooks_survive_generation(git_repo):
    notebooks = git_repo / "notebooks"
    edited = _fill_in_exercise(notebooks / "99_test.ipynb")
    foreign = {
        notebooks / "my_experiments.ipynb": b'{"cells": []}',
        notebooks / "99_test-Copy1.ipynb": edited,
        notebooks / ".ipynb_checkpoints" / "99_test-checkpoint.ipynb": edited,
        notebooks / "notes.txt": b"my notes",
    }
    for path, content in foreign.items():
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)

    report = generate(git_repo)

    assert (notebooks / "99_test.ipynb").read_bytes() == edited
    assert all(path.read_bytes() == content for path, content in foreign.items())
    assert report == [
        "kept notebooks/99_test.ipynb (edited by you; use --force to overwrite, a backup is kept)",
        "left alone notebooks/99_test-Copy1.ipynb (not generated)",
        "left alone notebooks/my_experiments.ipynb (not generated)",
    ]
    assert not any(line.startswith("wrote") for line in report)


def test_check_passes_on_a_learner_working_copy_and_names_their_edits(git_repo):
    _fill_in_exercise(git_repo / "notebooks" / "99_test.ipynb")
    (git_repo / "notebooks" / "my_experiments.ipynb").write_text("{}")
    report = check_notebooks(git_repo)
    assert report.problems == []
    assert report.notes == [
        "notebooks/99_test.ipynb: edited by you, left alone",
        "notebooks/my_experiments.ipynb: not generated, left alone",
    ]


def test_running_a_notebook_is_not_editing_it(git_repo):
    path = git_repo / "notebooks" / "99_test.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[1].outputs = [nbformat.v4.new_output("stream", text="9\n")]
    notebook.cells[1].execution_count = 1
    nbformat.write(notebook, path)
    ran = path.read_bytes()
    assert check_notebooks(git_repo) == CheckReport(problems=[], notes=[])
    assert generate(git_repo) == ["unchanged notebooks/99_test.ipynb"]
    assert path.read_bytes() == ran  # the learner's outputs stay


def test_stale_is_told_apart_from_edited(git_repo):
    # authors change a solution and forget `make notebooks`: the committed learner notebook is stale
    _write_solution(git_repo, "# 99 · Changed")
    assert check_notebooks(git_repo).problems == ["notebooks/99_test.ipynb is out of date"]
    # a learner who edited that notebook is not blamed, but the stale commit is still reported
    edited = _fill_in_exercise(git_repo / "notebooks" / "99_test.ipynb")
    _git(git_repo, "commit", "-q", "-m", "solution changed, notebooks forgotten", "solutions")
    assert check_notebooks(git_repo).problems == [
        "notebooks/99_test.ipynb is out of date in the last commit (your edited copy is kept)"
    ]
    assert generate(git_repo)[0].startswith("kept notebooks/99_test.ipynb (edited by you")
    assert (git_repo / "notebooks" / "99_test.ipynb").read_bytes() == edited
    # the unedited notebook is safe to regenerate, and then everything is up to date
    _git(git_repo, "checkout", "notebooks/99_test.ipynb")
    assert generate(git_repo) == ["wrote notebooks/99_test.ipynb (was out of date)"]
    assert check_notebooks(git_repo).problems == []


def test_authors_can_regenerate_again_before_committing(git_repo):
    for title in ("# 99 · First change", "# 99 · Second change"):
        _write_solution(git_repo, title)
        assert generate(git_repo) == ["wrote notebooks/99_test.ipynb (was out of date)"]
    assert "Second change" in (git_repo / "notebooks" / "99_test.ipynb").read_text()


def test_without_git_the_generation_record_protects_edits(tiny_repo):
    generate(tiny_repo)
    _write_solution(tiny_repo, "# 99 · Changed")  # e.g. an updated solutions/ copied into the folder
    assert generate(tiny_repo) == ["wrote notebooks/99_test.ipynb (was out of date)"]
    edited = _fill_in_exercise(tiny_repo / "notebooks" / "99_test.ipynb")
    _write_solution(tiny_repo, "# 99 · Changed again")
    assert generate(tiny_repo)[0].startswith("kept notebooks/99_test.ipynb (edited by you")
    assert (tiny_repo / "notebooks" / "99_test.ipynb").read_bytes() == edited
    assert check_notebooks(tiny_repo).notes == [
        "notebooks/99_test.ipynb: edited by you, left alone (no committed version to check)"
    ]


def test_without_git_or_record_any_difference_counts_as_an_edit(tiny_repo):
    generate(tiny_repo)
    (tiny_repo / GENERATION_RECORD).unlink()
    _write_solution(tiny_repo, "# 99 · Changed")
    assert generate(tiny_repo)[0].startswith("kept notebooks/99_test.ipynb")


def test_force_overwrites_an_edited_notebook_after_a_backup(git_repo):
    path = git_repo / "notebooks" / "99_test.ipynb"
    edited = _fill_in_exercise(path)
    report = generate(git_repo, force=True)
    backups = list((git_repo / "notebooks" / ".backup").glob("99_test.*.ipynb"))
    assert len(backups) == 1 and backups[0].read_bytes() == edited
    backup = f"notebooks/.backup/{backups[0].name}"
    assert report == [f"wrote notebooks/99_test.ipynb (your edited version is backed up at {backup})"]
    assert path.read_text() == render(learner_version(_solution_notebook(), name="99_test.ipynb"))
    # a second forced overwrite in the same second keeps the first backup
    _fill_in_exercise(path)
    generate(git_repo, force=True)
    assert len(list((git_repo / "notebooks" / ".backup").glob("99_test.*.ipynb"))) == 2


@pytest.mark.parametrize("solutions", ["missing", "empty"])
def test_no_solutions_aborts_without_deleting_anything(tmp_path, solutions, monkeypatch, capsys):
    if solutions == "empty":
        (tmp_path / "solutions").mkdir()
    (tmp_path / "notebooks").mkdir()
    learner = tmp_path / "notebooks" / "06_diversity_metrics.ipynb"
    learner.write_text("my work")
    for run in (generate, check_notebooks):
        with pytest.raises(MissingSolutionsError, match="nothing was changed"):
            run(tmp_path)
    monkeypatch.setattr(cli, "REPO_ROOT", tmp_path)
    assert cli.main(["notebooks"]) == 1
    assert "nothing was changed" in capsys.readouterr().out
    assert learner.read_text() == "my work"
    assert [path.name for path in tmp_path.rglob("*") if path.is_file()] == [learner.name]


def test_a_committed_notebook_without_a_source_fails_the_check(git_repo):
    shutil.copy(git_repo / "notebooks" / "99_test.ipynb", git_repo / "notebooks" / "98_renamed.ipynb")
    _git(git_repo, "add", "notebooks")
    _git(git_repo, "commit", "-q", "-m", "orphan")
    assert check_notebooks(git_repo).problems == [
        "notebooks/98_renamed.ipynb is committed but has no solutions/ source (authors: git rm it)"
    ]
    generate(git_repo)
    assert (git_repo / "notebooks" / "98_renamed.ipynb").exists()


def test_solution_outputs_are_cleaned_for_authors_and_left_alone_when_only_run(git_repo):
    path = git_repo / "solutions" / "99_test.ipynb"
    nbformat.write(_solution_notebook(), path)  # with outputs, as saved by Jupyter; code as committed
    ran = path.read_bytes()
    assert check_notebooks(git_repo) == CheckReport(
        problems=[], notes=["solutions/99_test.ipynb: has outputs saved here (not committed), left alone"]
    )
    assert generate(git_repo)[0] == "kept solutions/99_test.ipynb (outputs saved here, not committed)"
    assert path.read_bytes() == ran
    # an author's change with outputs is a problem, and generation cleans it
    notebook = _solution_notebook()
    notebook.cells[0].source = "# 99 · Changed"
    nbformat.write(notebook, path)
    assert "solutions/99_test.ipynb has outputs or editor metadata" in check_notebooks(git_repo).problems
    assert generate(git_repo)[0] == "cleaned solutions/99_test.ipynb (outputs and editor metadata removed)"
    assert check_notebooks(git_repo).problems == []


def test_check_command_advises_authors_only(git_repo, monkeypatch, capsys):
    monkeypatch.setattr(cli, "REPO_ROOT", git_repo)
    assert cli.main(["notebooks", "--check"]) == 0
    assert capsys.readouterr().out == "notebooks/ up to date\n"
    _write_solution(git_repo, "# 99 · Changed")
    assert cli.main(["notebooks", "--check"]) == 1
    out = capsys.readouterr().out
    assert "stale: notebooks/99_test.ipynb is out of date" in out
    assert "Authors: run `make notebooks`" in out and "never overwrites" in out


def test_this_repository_notebooks_are_up_to_date():
    problems = check_notebooks(REPO_ROOT).problems
    assert problems == [], "authors: run `make notebooks`:\n" + "\n".join(problems)


def test_every_notebook_is_in_the_syllabus_and_follows_the_template():
    stems = {lesson.stem for lesson in LESSONS}
    for path in sorted((REPO_ROOT / "solutions").glob("*.ipynb")):
        assert path.stem in stems, f"{path.name} is not listed in course_utils/tools/syllabus.py"
        cells = json.loads(path.read_text())["cells"]
        text = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
        assert "".join(cells[0]["source"]).startswith(f"# {path.stem[:2]} ·"), f"{path.name}: title cell"
        for heading in ("Learning objectives", "Time", "Prerequisites", "## Summary", "## References"):
            assert heading in text, f"{path.name} lacks '{heading}'"
        tagged = [cell for cell in cells if "parameters" in cell.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1 and "fast_mode()" in "".join(tagged[0]["source"]), (
            f"{path.name}: needs one settings cell tagged 'parameters' that reads fast_mode()"
        )
