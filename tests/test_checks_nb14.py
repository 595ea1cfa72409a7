"""Notebook 14's exercises: every reference passes, every catalogued mistake gets its own diagnosis."""

import pytest

from course_utils.checks import nb14

CATALOGUE = [
    (exercise, name, answer, diagnosis)
    for exercise, mistakes in nb14.MISTAKES.items()
    for name, (answer, diagnosis) in mistakes.items()
]


@pytest.mark.parametrize("exercise", sorted(nb14.MISTAKES))
def test_reference_passes_and_catalogue_is_large_enough(exercise):
    check = getattr(nb14, exercise)
    assert check._diagnose(check.reference) is None
    assert len(nb14.MISTAKES[exercise]) >= 4


@pytest.mark.parametrize(
    ("exercise", "name", "answer", "diagnosis"), CATALOGUE, ids=[c[1] for c in CATALOGUE]
)
def test_each_mistake_is_rejected_with_its_diagnosis(exercise, name, answer, diagnosis):
    reason = getattr(nb14, exercise)._diagnose(answer)
    assert reason is not None, f"{name} was accepted"
    assert diagnosis in reason, f"{name}: expected '{diagnosis}' in: {reason}"


def test_an_unsolved_stub_is_reported_as_not_solved():
    def stub(*args, **kwargs):
        raise NotImplementedError("exercise not solved yet")

    for exercise in nb14.MISTAKES:
        assert getattr(nb14, exercise)._diagnose(stub).startswith("not solved yet")
