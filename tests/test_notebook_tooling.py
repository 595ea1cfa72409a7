import json
import shutil

import nbformat
import pytest

from course_utils.config import REPO_ROOT
from course_utils.tools.notebooks import (
    MarkerError,
    generate,
    learner_version,
    stale_files,
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


@pytest.fixture
def tiny_repo(tmp_path):
    (tmp_path / "solutions").mkdir()
    nbformat.write(_solution_notebook(), tmp_path / "solutions" / "99_test.ipynb")
    return tmp_path


def test_stale_notebooks_are_detected_and_regenerated(tiny_repo):
    assert any("missing" in problem for problem in stale_files(tiny_repo))
    generate(tiny_repo)
    assert stale_files(tiny_repo) == []
    # editing the solution makes the learner notebook stale
    path = tiny_repo / "solutions" / "99_test.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[0].source = "# 99 · Changed"
    nbformat.write(notebook, path)
    assert any("out of date" in problem for problem in stale_files(tiny_repo))
    generate(tiny_repo)
    assert stale_files(tiny_repo) == []
    # a learner notebook without a source is reported, then removed
    shutil.copy(tiny_repo / "notebooks" / "99_test.ipynb", tiny_repo / "notebooks" / "98_orphan.ipynb")
    assert any("no solutions/ source" in problem for problem in stale_files(tiny_repo))
    generate(tiny_repo)
    assert not (tiny_repo / "notebooks" / "98_orphan.ipynb").exists()


def test_this_repository_notebooks_are_up_to_date():
    problems = stale_files(REPO_ROOT)
    assert problems == [], "run `make notebooks`:\n" + "\n".join(problems)


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
