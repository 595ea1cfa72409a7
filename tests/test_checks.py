"""Every exercise's reference passes its own test, and an unsolved stub is 'not solved yet'."""

import importlib
import pkgutil

import pytest

import course_utils.checks
from course_utils.exercises import Exercise

EXERCISES = [
    pytest.param(exercise, id=f"{module.name}.{name}")
    for module in pkgutil.iter_modules(course_utils.checks.__path__)
    for name, exercise in vars(importlib.import_module(f"course_utils.checks.{module.name}")).items()
    if isinstance(exercise, Exercise)
]


def unsolved(*args, **kwargs):
    raise NotImplementedError("exercise not solved yet")


@pytest.mark.parametrize("exercise", EXERCISES)
def test_reference_passes_its_own_check(exercise, capsys):
    assert exercise.check(exercise.reference), capsys.readouterr().out


@pytest.mark.parametrize("exercise", EXERCISES)
def test_unsolved_stub_is_reported_not_solved(exercise, capsys):
    assert not exercise.check(unsolved)
    assert "not solved yet" in capsys.readouterr().out
