import numpy as np
import pytest

from course_utils.exercises import ClaimFailed, Exercise, assert_close, claim


def reference_square(x):
    return x * x


def squares_three_to_nine(candidate):
    assert candidate(3) == 9, f"square(3) should be 9, got {candidate(3)}"


square = Exercise(
    "Square a number", squares_three_to_nine, hint="Multiply x by itself.", reference=reference_square
)


def unsolved(x):
    raise NotImplementedError("exercise not solved yet")


def test_check_reports_correct_wrong_and_unsolved(capsys):
    assert square.check(lambda x: x**2)
    assert "✅" in capsys.readouterr().out
    assert not square.check(lambda x: x + x)
    out = capsys.readouterr().out
    assert "❌" in out and "should be 9, got 6" in out
    assert not square.check(unsolved)
    assert "not solved yet" in capsys.readouterr().out


def test_check_survives_a_crashing_answer(capsys):
    assert not square.check(lambda x: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_use_falls_back_to_reference_visibly(capsys):
    assert square.use(unsolved) is reference_square
    assert "uses the reference" in capsys.readouterr().out
    mine = lambda x: x**2  # noqa: E731
    assert square.use(mine) is mine


def test_hint_and_solution_print(capsys):
    square.hint()
    square.solution()
    out = capsys.readouterr().out
    assert "Multiply x by itself" in out and "def reference_square" in out


def test_claim_raises_only_when_required(capsys):
    claim("1 < 2", True, "detail")
    assert "✅ 1 < 2 (detail)" in capsys.readouterr().out
    with pytest.raises(ClaimFailed, match="2 < 1"):
        claim("2 < 1", False)
    claim("2 < 1", False, required=False)
    assert "not in this (reduced) run" in capsys.readouterr().out


def test_assert_close_messages():
    assert_close(np.ones(3), np.ones(3), "x")
    with pytest.raises(AssertionError, match="shape"):
        assert_close(np.ones(3), np.ones(4), "x")
    with pytest.raises(AssertionError, match="largest difference"):
        assert_close(np.ones(3), np.zeros(3), "x")
