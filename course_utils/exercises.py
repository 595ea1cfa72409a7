"""Self-check exercises: ``check()``, ``hint()``, ``solution()`` -- and a safe fallback.

Each exercise in a notebook is an ``Exercise`` defined in ``course_utils/checks/nbXX.py``::

    from course_utils.checks import nb01
    nb01.reparameterize.check(reparameterize)   # ✅ / ❌ with the reason
    nb01.reparameterize.hint()
    nb01.reparameterize.solution()              # prints the reference implementation
    reparameterize = nb01.reparameterize.use(reparameterize)  # yours if correct, else the reference

``use`` is what lets a learner skip an exercise and still run the rest of the notebook: it
says loudly that it fell back to the reference. ``claim`` states a result the notebook
promises and checks it in code.

A ``test`` is a function that receives the learner's answer and raises ``AssertionError``
(with a helpful message) when it is wrong. Learner stubs raise ``NotImplementedError``,
which is reported as "not solved yet" rather than as an error.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np

PASS, FAIL, TODO = "✅", "❌", "📝"


class ClaimFailed(AssertionError):
    """A result that the notebook promises does not hold."""


class Exercise:
    """One exercise: a test for the learner's answer, a hint, and a reference solution."""

    def __init__(
        self,
        title: str,
        test: Callable[[Any], None],
        hint: str,
        reference: Any,
        solution: str | None = None,
    ) -> None:
        self.title = title
        self._test = test
        self._hint = textwrap.dedent(hint).strip()
        self.reference = reference
        self._solution = solution
        self.solved: bool | None = None

    def __repr__(self) -> str:
        state = {None: "not checked", True: "solved", False: "not solved"}[self.solved]
        return f"Exercise({self.title!r}, {state})"

    def _diagnose(self, answer: Any) -> str | None:
        """Return ``None`` if ``answer`` passes the test, else the reason it does not."""
        try:
            self._test(answer)
        except NotImplementedError:
            return "not solved yet: replace the `raise NotImplementedError` line with your code."
        except AssertionError as error:
            return str(error) or "the answer does not give the expected result."
        except Exception as error:  # the learner's code crashed: show why, don't crash the notebook
            return f"your code raised {type(error).__name__}: {error}"
        return None

    def check(self, answer: Any) -> bool:
        """Test ``answer``; print a clear pass/fail message with the reason; return the result."""
        reason = self._diagnose(answer)
        self.solved = reason is None
        if self.solved:
            print(f"{PASS} {self.title}: correct!")
        elif reason.startswith("not solved yet"):
            print(f"{TODO} {self.title}: {reason} Need help? Call .hint()")
        else:
            print(f"{FAIL} {self.title}: {reason} Need help? Call .hint()")
        return self.solved

    def hint(self) -> None:
        """Print the hint."""
        print(f"💡 {self.title}: {self._hint}")

    def solution(self) -> None:
        """Print the reference solution (its source code when it is a function or class)."""
        if self._solution is not None:
            text = textwrap.dedent(self._solution).strip()
        else:
            text = inspect.getsource(self.reference)
        print(f"📖 Solution of '{self.title}':\n\n{text}")

    def use(self, answer: Any) -> Any:
        """Return ``answer`` if it passes the test, otherwise the reference -- and say so."""
        reason = self._diagnose(answer)
        self.solved = reason is None
        if self.solved:
            print(f"{PASS} Using your solution of '{self.title}'.")
            return answer
        name = getattr(self.reference, "__qualname__", type(self.reference).__name__)
        module = getattr(self.reference, "__module__", "course_utils")
        print(
            f"↪️  '{self.title}' is not solved yet ({reason.rstrip('.')}), so the rest of the "
            f"notebook uses the reference {module}.{name}."
        )
        return self.reference


def claim(statement: str, holds: bool, detail: str = "", required: bool = True) -> None:
    """State a result of the notebook and check it in code.

    Prints ✅ when it holds. When it does not hold: raises ``ClaimFailed`` if ``required``,
    otherwise prints a visible warning (use ``required=not fast_mode()`` for results that only
    hold at full size, so fast CI runs still show the number honestly without failing).
    """
    suffix = f" ({detail})" if detail else ""
    if holds:
        print(f"{PASS} {statement}{suffix}")
    elif required:
        raise ClaimFailed(f"{FAIL} expected: {statement}{suffix}")
    else:
        print(f"⚠️  not in this (reduced) run: {statement}{suffix}")


def assert_close(actual: Any, expected: Any, what: str, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Assert two arrays/tensors have the same shape and values; the message says what differs."""
    actual_array = np.asarray(actual.detach().cpu() if hasattr(actual, "detach") else actual, dtype=float)
    expected_array = np.asarray(
        expected.detach().cpu() if hasattr(expected, "detach") else expected, dtype=float
    )
    if actual_array.shape != expected_array.shape:
        raise AssertionError(f"{what} has shape {actual_array.shape}, expected {expected_array.shape}.")
    if not np.allclose(actual_array, expected_array, atol=atol, rtol=rtol, equal_nan=False):
        worst = np.nanmax(np.abs(actual_array - expected_array))
        raise AssertionError(f"{what} differs from the expected values (largest difference {worst:.3g}).")
