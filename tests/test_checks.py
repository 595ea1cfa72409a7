"""Every exercise's check against its reference, an unsolved stub, its mistake catalogue and its
correct-but-different alternatives; and its hints never give the reference's code away."""

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import nbformat
import pytest

import course_utils.checks
from course_utils.exercises import Exercise
from course_utils.tools.syllabus import LESSONS

REPO = Path(__file__).resolve().parents[1]

EXERCISES = {
    f"{module.name}.{name}": exercise
    for module in pkgutil.iter_modules(course_utils.checks.__path__)
    for name, exercise in vars(importlib.import_module(f"course_utils.checks.{module.name}")).items()
    if isinstance(exercise, Exercise)
}
MISTAKES = [
    pytest.param(exercise, mistake, id=f"{key}-{mistake.name}")
    for key, exercise in EXERCISES.items()
    for mistake in exercise.mistakes
]
ALTERNATIVES = [
    pytest.param(exercise, alternative, id=f"{key}-alternative{number}")
    for key, exercise in EXERCISES.items()
    for number, alternative in enumerate(exercise.alternatives, start=1)
]
ALL = [pytest.param(exercise, id=key) for key, exercise in EXERCISES.items()]


def unsolved(*args, **kwargs):
    raise NotImplementedError("exercise not solved yet")


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.stem)
def test_every_notebook_has_two_exercises_each_checked_in_it(lesson):
    """Issue 15: >= 2 exercises per notebook, each one checked in its solution notebook."""
    number = lesson.stem[:2]
    names = sorted(key.split(".", 1)[1] for key in EXERCISES if key.startswith(f"nb{number}."))
    assert len(names) >= 2, f"notebook {number} has {len(names)} exercise(s): {names}"
    source = (REPO / "solutions" / f"{lesson.stem}.ipynb").read_text(encoding="utf-8")
    unchecked = [name for name in names if f"nb{number}.{name}.check(" not in source]
    assert not unchecked, f"exercises never checked in {lesson.stem}: {unchecked}"


@pytest.mark.parametrize("exercise", ALL)
def test_reference_passes_its_own_check(exercise):
    assert exercise.diagnose(exercise.reference) is None


@pytest.mark.parametrize("exercise", ALL)
def test_unsolved_stub_is_reported_not_solved(exercise, capsys):
    assert not exercise.check(unsolved)
    assert "not solved yet" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", ALL)
def test_catalogue_has_four_mistakes_and_two_alternatives(exercise):
    assert len(exercise.mistakes) >= 4, [mistake.name for mistake in exercise.mistakes]
    assert len(exercise.alternatives) >= 2
    diagnoses = [mistake.diagnosis for mistake in exercise.mistakes]
    assert all(diagnoses), "every mistake names the diagnosis the learner must read"


@pytest.mark.parametrize(("exercise", "mistake"), MISTAKES)
def test_catalogued_mistake_is_rejected_with_its_diagnosis(exercise, mistake):
    reason = exercise.diagnose(mistake.answer)
    assert reason is not None, f"{mistake.name!r} was accepted"
    assert mistake.diagnosis in reason
    assert not reason.startswith("the check itself failed"), reason


@pytest.mark.parametrize(("exercise", "alternative"), ALTERNATIVES)
def test_correct_alternative_is_accepted(exercise, alternative):
    assert exercise.diagnose(alternative) is None


WINDOW = 30  # characters of code (spaces removed): longer than a name or a call like default_rng(rng)


def _code_lines(source: str) -> list[str]:
    """The code lines of ``source`` without docstrings, comments, signatures, validation and spaces."""
    body = re.sub(r'("""|\'\'\')(.|\n)*?\1', "", source)
    lines = []
    for line in body.splitlines():
        code = line.split("#")[0].strip()
        if not code.startswith(("def ", "class ", "raise ", "if ", 'f"', '"', "@")):
            lines.append("".join(code.removeprefix("return ").split()))
    return [line for line in lines if len(line) >= WINDOW]


def leaked_code(hint: str, code_lines: list[str]) -> list[str]:
    """Every ``WINDOW``-character piece of a code line that ``hint`` repeats (spaces ignored)."""
    flat = "".join(hint.split())
    return [
        line[start : start + WINDOW]
        for line in code_lines
        for start in range(len(line) - WINDOW + 1)
        if line[start : start + WINDOW] in flat
    ]


def test_leak_detector_catches_a_hint_that_is_the_code():
    code = _code_lines("def f(n):\n    return torch.ones(n, n, dtype=torch.bool, device=None).tril()\n")
    assert leaked_code("Use torch.ones(n, n, dtype=torch.bool).tril().", code)
    assert not leaked_code("The lower triangle of a matrix of ones, as a boolean tensor.", code)


@pytest.mark.parametrize("exercise", ALL)
def test_no_hint_tier_contains_the_reference_code(exercise):
    assert len(exercise.hints) >= 2, "a nudge first, then the approach"
    sources = [exercise.solution_text()]
    if not inspect.isclass(exercise.reference):
        sources.append(inspect.getsource(exercise.reference))
    lines = [line for source in sources for line in _code_lines(source)]
    for tier, hint in enumerate(exercise.hints, start=1):
        leaked = leaked_code(hint, lines)
        assert not leaked, f"hint {tier} repeats the reference's code: {leaked[:3]}"


def test_hint_tiers_nudge_first(capsys):
    exercise = EXERCISES["nb07.mmr"]
    exercise.hint()
    first = capsys.readouterr().out
    exercise.hint(2)
    second = capsys.readouterr().out
    assert "hint 1 of 2" in first and "More: .hint(2)" in first
    assert "hint 2 of 2" in second and ".solution()" in second and "min-max" in second


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.stem)
def test_exercises_are_numbered_notebook_dot_k_in_order(lesson):
    """One numbering scheme (CONTRIBUTING.md): ``### Exercise NN.k · title``, k = 1, 2, ... in order."""
    number = lesson.stem[:2]
    notebook = nbformat.read(REPO / "solutions" / f"{lesson.stem}.ipynb", as_version=4)
    headings = [
        match
        for cell in notebook.cells
        if cell.cell_type == "markdown"
        for match in re.findall(r"^#+ Exercise (\S+)", cell.source, flags=re.MULTILINE)
    ]
    assert headings == [f"{number}.{k}" for k in range(1, len(headings) + 1)], headings
