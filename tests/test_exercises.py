import numpy as np
import pytest
import torch

from course_utils.exercises import ClaimFailed, Exercise, Mistake, as_float_array, assert_close, claim


def reference_square(x):
    return x * x


def squares_three_to_nine(candidate):
    if candidate(3) != 9:  # not a bare assert: pytest would rewrite its message
        raise AssertionError(f"square(3) should be 9, got {candidate(3)}")


square = Exercise(
    "Square a number",
    squares_three_to_nine,
    hints=("What does squaring mean?", "Multiply x by itself."),
    reference=reference_square,
    mistakes=[Mistake("doubled", lambda x: x + x, "got 6")],
    alternatives=[lambda x: x**2],
)


def unsolved(x):
    raise NotImplementedError("exercise not solved yet")


def test_check_reports_correct_wrong_and_unsolved(capsys):
    assert square.check(lambda x: x**2)
    assert "✅" in capsys.readouterr().out
    assert not square.check(lambda x: x + x)
    out = capsys.readouterr().out
    assert "❌" in out and "should be 9, got 6. Need help?" in out
    assert not square.check(unsolved)
    assert "not solved yet" in capsys.readouterr().out


def test_a_crash_shows_the_learners_own_lines(capsys):
    def square_with_a_bug(x):
        table = {}
        return table[x]

    assert not square.check(square_with_a_bug)
    out = capsys.readouterr().out
    assert "your code raised KeyError: 3." in out
    assert "in square_with_a_bug: return table[x]" in out
    assert "exercises.py" not in out


def test_none_is_a_forgotten_return(capsys):
    def no_return(x):
        x * x  # noqa: B018

    assert not square.check(no_return)
    assert "your function returned None -- did you forget `return`?" in capsys.readouterr().out


def test_a_called_function_is_not_an_answer(capsys):
    assert not square.check(reference_square(3))
    out = capsys.readouterr().out
    assert "pass the function itself" in out and "got a int" in out


def test_an_error_in_the_checker_is_not_blamed_on_the_learner(capsys):
    def checker_with_a_bug(candidate):
        candidate(3).undefined_attribute  # noqa: B018

    broken = Exercise("Broken", checker_with_a_bug, hints=("a", "b"), reference=reference_square)
    assert not broken.check(lambda x: x * x)
    out = capsys.readouterr().out
    assert "the check itself failed on what your function returned (AttributeError" in out
    assert "your code raised" not in out


def test_rechecking_after_use_says_it_is_the_reference(capsys):
    answer = square.use(unsolved)  # the learner's name now holds the reference
    capsys.readouterr()
    assert not square.check(answer)
    out = capsys.readouterr().out
    assert "this is the reference" in out and "Re-run your definition cell" in out and "correct" not in out
    assert square.use(answer) is reference_square
    out = capsys.readouterr().out
    assert "already holds the reference" in out and "Using your solution" not in out


def test_use_falls_back_to_reference_visibly(capsys):
    assert square.use(unsolved) is reference_square
    out = capsys.readouterr().out
    assert "'Square a number' is not solved yet, so the rest" in out
    assert out.count("not solved yet") == 1
    assert square.use(lambda x: x + x) is reference_square
    assert "is not correct yet (square(3) should be 9, got 6)" in capsys.readouterr().out
    mine = lambda x: x**2  # noqa: E731
    assert square.use(mine) is mine
    assert "Using your solution" in capsys.readouterr().out


def test_hints_come_in_tiers_and_the_solution_prints(capsys):
    square.hint()
    out = capsys.readouterr().out
    assert "hint 1 of 2" in out and "What does squaring mean?" in out and "Multiply" not in out
    square.hint(2)
    assert "Multiply x by itself" in capsys.readouterr().out
    square.hint(5)
    assert "hint 2 of 2" in capsys.readouterr().out
    square.solution()
    assert "def reference_square" in capsys.readouterr().out
    with pytest.raises(ValueError, match="level must be 1, 2"):
        square.hint(0)


def test_a_single_hint_string_is_refused():
    with pytest.raises(ValueError, match="at least two tiers"):
        Exercise("One hint", squares_three_to_nine, hints="Multiply.", reference=reference_square)


def test_classes_are_watched_too(capsys):
    class Doubler(torch.nn.Module):
        def forward(self, x):
            return 2 * x

    def module_doubles(candidate):
        assert torch.equal(candidate()(torch.ones(2)), 2 * torch.ones(2)), "should double"

    exercise = Exercise("Doubler", module_doubles, hints=("a", "b"), reference=Doubler)

    class Forgetful(torch.nn.Module):
        def forward(self, x):
            2 * x  # noqa: B018

    class Crashing(torch.nn.Module):
        def forward(self, x):
            return x.no_such_method()

    assert exercise.diagnose(Doubler) is None
    assert "returned None" in exercise.diagnose(Forgetful)
    reason = exercise.diagnose(Crashing)
    assert "your code raised AttributeError" in reason and "return x.no_such_method()" in reason


def test_claim_raises_only_when_required(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    claim("1 < 2", True, "detail")
    assert "✅ 1 < 2 (detail)" in capsys.readouterr().out
    with pytest.raises(ClaimFailed, match="2 < 1"):
        claim("2 < 1", False)
    claim("2 < 1", False, required=False)
    assert "does not hold in this fast (reduced) run: 2 < 1" in capsys.readouterr().out
    monkeypatch.setenv("COURSE_FAST", "0")
    claim("2 < 1", False, required=False)
    assert "does not hold in this full run: 2 < 1" in capsys.readouterr().out


def test_assert_close_messages():
    assert_close(np.ones(3), np.ones(3), "x")
    with pytest.raises(AssertionError, match="shape"):
        assert_close(np.ones(3), np.ones(4), "x")
    with pytest.raises(AssertionError, match="largest difference"):
        assert_close(np.ones(3), np.zeros(3), "x")
    with pytest.raises(AssertionError, match="contains NaN"):
        assert_close(np.array([1.0, np.nan]), np.ones(2), "x")


def test_assert_close_takes_any_tensor_but_refuses_complex():
    grad = torch.ones(2, requires_grad=True) * 1.0
    assert_close(grad, np.ones(2), "a tensor in a graph")
    assert_close(torch.ones(2, dtype=torch.bfloat16), np.ones(2), "a bfloat16 tensor")
    assert as_float_array(torch.ones(2, dtype=torch.float64), "x").dtype == np.float64
    with pytest.raises(AssertionError, match="is complex"):
        assert_close(np.ones(2) + 0j, np.ones(2), "x")
