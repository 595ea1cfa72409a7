"""Self-check exercises: ``check()``, ``hint()``, ``solution()`` -- and a safe fallback.

Each exercise in a notebook is an ``Exercise`` defined in ``course_utils/checks/nbXX.py``::

    from course_utils.checks import nb01
    nb01.reparameterize.check(reparameterize)   # ✅ / ❌ with the reason
    nb01.reparameterize.hint()                  # a nudge: the idea
    nb01.reparameterize.hint(2)                 # the approach or the formula
    nb01.reparameterize.solution()              # prints the reference implementation
    reparameterize = nb01.reparameterize.use(reparameterize)  # yours if correct, else the reference

``use`` is what lets a learner skip an exercise and still run the rest of the notebook: it
says loudly that it fell back to the reference. ``claim`` states a result the notebook
promises and checks it in code.

A ``test`` is a function that receives the learner's answer and raises ``AssertionError``
(with a helpful message) when it is wrong. Learner stubs raise ``NotImplementedError``,
which is reported as "not solved yet" rather than as an error. The test receives the answer
wrapped so that every call of it is watched: an exception raised *by the learner's code* is
reported with the learner's own lines of the traceback, a ``None`` result as a forgotten
``return``, and an exception raised anywhere else (in the checker itself) as the checker's fault.

Each exercise carries its **mistake catalogue**: the wrong answers learners plausibly write
(``Mistake``), each with the diagnosis the check must give, and **alternatives**: correct
answers written differently, which the check must accept. ``tests/test_checks.py`` runs both.
"""

from __future__ import annotations

import functools
import inspect
import sys
import textwrap
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PASS, FAIL, TODO, INFO = "✅", "❌", "📝", "ℹ️"
_PACKAGE_DIR = Path(__file__).resolve().parent
_LIBRARY_DIRS = tuple(str(Path(p).resolve()) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix} if p)


class ClaimFailed(AssertionError):
    """A result that the notebook promises does not hold."""


@dataclass(frozen=True)
class Mistake:
    """A wrong answer learners plausibly write, and (a fragment of) the diagnosis it must get.

    ``answer`` is a small function written the wrong way; ``diagnosis`` must appear in the
    check's message, so the catalogue pins *which* reason a learner reads, not only that the
    answer fails.
    """

    name: str
    answer: Any
    diagnosis: str


class LearnerCodeFailed(Exception):
    """The learner's code raised (or returned ``None``) while the test called it.

    A test may catch it to add what the call was for (e.g. "the notebook calls it without a
    lexicon"), keeping ``message``, which already holds the learner's lines of the traceback.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def as_sentence(self) -> str:
        """``message`` capitalised, to follow another sentence."""
        return self.message[:1].upper() + self.message[1:]


def _is_learner_frame(filename: str) -> bool:
    path = str(Path(filename).resolve()) if not filename.startswith("<") else filename
    if path.startswith(str(_PACKAGE_DIR)) and "/checks/" not in path:
        return False  # course_utils itself (the catalogue's mistakes in checks/ count as learner code)
    return not path.startswith(_LIBRARY_DIRS) and not path.startswith("<frozen")


def _learner_traceback(error: BaseException, skip: int = 1, limit: int = 3) -> str:
    """The learner's own frames of ``error``'s traceback (the last ``limit``), one short line each."""
    frames = traceback.extract_tb(error.__traceback__)[skip:]
    own = [frame for frame in frames if _is_learner_frame(frame.filename)][-limit:]
    lines = [
        f"\n    line {frame.lineno} in {frame.name}" + (f": {frame.line.strip()}" if frame.line else "")
        for frame in own
    ]
    return "".join(lines)


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"a {type(value).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else "")


def _guarded(function: Callable[..., Any], *args: Any, check_none: bool = True, **kwargs: Any) -> Any:
    """Call the learner's ``function``; turn its crash or its ``None`` into ``LearnerCodeFailed``."""
    try:
        result = function(*args, **kwargs)
    except (NotImplementedError, KeyboardInterrupt, SystemExit):
        raise
    except Exception as error:
        where = _learner_traceback(error)
        text = str(error).strip().rstrip(".")
        text = text if len(text) <= 300 else text[:300] + " ..."
        raise LearnerCodeFailed(f"your code raised {type(error).__name__}: {text}.{where}\n") from error
    if check_none and result is None:
        raise LearnerCodeFailed("your function returned None -- did you forget `return`?")
    return result


def _watched(answer: Any) -> Any:
    """``answer`` wrapped so that its crashes and ``None`` results are told apart from the checker's.

    A class is wrapped in a subclass whose construction and calls are watched the same way.
    """
    if inspect.isclass(answer):

        class Watched(answer):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                _guarded(super().__init__, *args, check_none=False, **kwargs)

            def __call__(self, *args: Any, **kwargs: Any) -> Any:
                return _guarded(super().__call__, *args, **kwargs)

        Watched.__name__, Watched.__qualname__ = answer.__name__, answer.__qualname__
        return Watched

    @functools.wraps(answer)
    def call(*args: Any, **kwargs: Any) -> Any:
        return _guarded(answer, *args, **kwargs)

    return call


def _sentence(reason: str) -> str:
    """End ``reason`` with a full stop (or keep its own ?, !, :, or a trailing newline)."""
    stripped = reason.rstrip()
    if reason.endswith("\n") or stripped.endswith((".", "?", "!")):
        return reason
    return stripped + "."


class Exercise:
    """One exercise: a test for the learner's answer, hints in tiers, a reference solution, and the
    catalogue of mistakes (with their diagnoses) and of correct alternatives that tests run."""

    def __init__(
        self,
        title: str,
        test: Callable[[Any], None],
        hints: Sequence[str],
        reference: Any,
        solution: str | None = None,
        mistakes: Sequence[Mistake] = (),
        alternatives: Sequence[Any] = (),
    ) -> None:
        if isinstance(hints, str) or len(hints) < 2:
            raise ValueError(
                f"{title!r}: give hints as a sequence of at least two tiers (a nudge, then the approach), "
                f"got {hints!r}"
            )
        self.title = title
        self._test = test
        self.hints = tuple(textwrap.dedent(hint).strip() for hint in hints)
        self.reference = reference
        self._solution = solution
        self.mistakes = tuple(mistakes)
        self.alternatives = tuple(alternatives)
        self.solved: bool | None = None

    def __repr__(self) -> str:
        state = {None: "not checked", True: "solved", False: "not solved"}[self.solved]
        return f"Exercise({self.title!r}, {state})"

    def diagnose(self, answer: Any) -> str | None:
        """Return ``None`` if ``answer`` passes the test, else the reason it does not (a sentence)."""
        if not callable(answer):
            return (
                f"pass the function itself, e.g. check(my_function), not check(my_function(...)): "
                f"got {_describe(answer)}, which cannot be called."
            )
        try:
            self._test(_watched(answer))
        except NotImplementedError:
            return "not solved yet: replace the `raise NotImplementedError` line with your code."
        except LearnerCodeFailed as failure:
            return failure.message
        except AssertionError as error:
            return _sentence(str(error) or "the answer does not give the expected result.")
        except Exception as error:  # raised by the checker itself, on the learner's result
            return (
                f"the check itself failed on what your function returned ({type(error).__name__}: "
                f"{str(error).strip().rstrip('.')}). Compare the type, shape and dtype of your result with "
                "the task; if they match, this is a bug in the course's check -- please report it."
            )
        return None

    def _is_reference(self, answer: Any) -> bool:
        return answer is self.reference

    def _reference_name(self) -> str:
        name = getattr(self.reference, "__qualname__", type(self.reference).__name__)
        module = getattr(self.reference, "__module__", "course_utils")
        return f"{module}.{name}"

    def _reference_note(self) -> str:
        return (
            f"{INFO}  {self.title}: this is the reference {self._reference_name()} (installed by .use()), "
            "not your code. Re-run your definition cell first, then check again."
        )

    def check(self, answer: Any) -> bool:
        """Test ``answer``; print a clear pass/fail message with the reason; return the result."""
        if self._is_reference(answer):
            print(self._reference_note())
            return False
        reason = self.diagnose(answer)
        self.solved = reason is None
        if reason is None:
            print(f"{PASS} {self.title}: correct!")
        elif reason.startswith("not solved yet"):
            print(f"{TODO} {self.title}: {reason} Need help? Call .hint()")
        else:
            separator = "" if reason.endswith("\n") else " "
            print(f"{FAIL} {self.title}: {reason}{separator}Need help? Call .hint()")
        return self.solved

    def hint(self, level: int = 1) -> None:
        """Print hint ``level``: 1 is a nudge (the idea), 2 the approach or the formula.

        ``solution()`` shows the code.
        """
        if not isinstance(level, int) or level < 1:
            raise ValueError(f"level must be 1, 2, ... (got {level!r}): hint() is the nudge, hint(2) more")
        shown = min(level, len(self.hints))
        more = (
            f" More: .hint({shown + 1})."
            if shown < len(self.hints)
            else " Still stuck? .solution() shows the code."
        )
        print(f"💡 {self.title} (hint {shown} of {len(self.hints)}): {self.hints[shown - 1]}{more}")

    def solution(self) -> None:
        """Print the reference solution (its source code when it is a function or class)."""
        print(f"📖 Solution of '{self.title}':\n\n{self.solution_text()}")

    def solution_text(self) -> str:
        """The reference solution as text: ``solution`` if given, else the reference's source."""
        if self._solution is not None:
            return textwrap.dedent(self._solution).strip()
        return inspect.getsource(self.reference)

    def use(self, answer: Any) -> Any:
        """Return ``answer`` if it passes the test, otherwise the reference -- and say so."""
        if self._is_reference(answer):
            print(
                f"↪️  '{self.title}': the name already holds the reference {self._reference_name()} "
                "(installed by an earlier .use()), so the notebook goes on with it. To use your own code, "
                "re-run your definition cell, then this cell."
            )
            return self.reference
        reason = self.diagnose(answer)
        self.solved = reason is None
        if reason is None:
            print(f"{PASS} Using your solution of '{self.title}'.")
            return answer
        if reason.startswith("not solved yet"):
            state = "is not solved yet"
        else:
            state = f"is not correct yet ({reason.strip().rstrip('.')})"
        reference = self._reference_name()
        print(f"↪️  '{self.title}' {state}, so the rest of the notebook uses the reference {reference}.")
        return self.reference


def claim(statement: str, holds: bool, detail: str = "", required: bool = True) -> None:
    """State a result of the notebook and check it in code.

    Prints ✅ when it holds. When it does not hold: raises ``ClaimFailed`` if ``required``,
    otherwise prints a visible warning (use ``required=not fast_mode()`` for results that only
    hold at full size, so fast CI runs still show the number honestly without failing). The
    warning says which kind of run it is: in fast mode the data is reduced; in a full run a soft
    claim that does not hold is reported as not holding, not excused by the run's size.
    """
    suffix = f" ({detail})" if detail else ""
    if holds:
        print(f"{PASS} {statement}{suffix}")
    elif required:
        raise ClaimFailed(f"{FAIL} expected: {statement}{suffix}")
    else:
        from course_utils.config import fast_mode

        run = "this fast (reduced) run" if fast_mode() else "this full run"
        print(f"⚠️  does not hold in {run}: {statement}{suffix}")


def as_float_array(value: Any, what: str) -> np.ndarray:
    """``value`` (array, tensor of any dtype/device/grad state, list or number) as a float64 array.

    Complex values raise ``AssertionError``: a complex result is a mistake, not a float.
    """
    if hasattr(value, "detach"):  # a torch tensor: leave the graph and the device, widen bfloat16/half
        value = value.detach().cpu()
        if value.is_complex():
            raise AssertionError(f"{what} is complex ({value.dtype}); return real numbers.")
        value = value.double().numpy()
    array = np.asarray(value)
    if np.iscomplexobj(array):
        raise AssertionError(f"{what} is complex ({array.dtype}); return real numbers.")
    try:
        return array.astype(np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"{what} should be numbers, got {_describe(value)} of {array.dtype}.") from None


def assert_close(actual: Any, expected: Any, what: str, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Assert two arrays/tensors have the same shape and values; the message says what differs."""
    actual_array = as_float_array(actual, what)
    expected_array = as_float_array(expected, "the expected value")
    if actual_array.shape != expected_array.shape:
        raise AssertionError(f"{what} has shape {actual_array.shape}, expected {expected_array.shape}.")
    if np.isnan(actual_array).any() and not np.isnan(expected_array).any():
        raise AssertionError(f"{what} contains NaN (not a number); expected finite values.")
    if not np.allclose(actual_array, expected_array, atol=atol, rtol=rtol, equal_nan=True):
        worst = np.nanmax(np.abs(actual_array - expected_array))
        raise AssertionError(f"{what} differs from the expected values (largest difference {worst:.3g}).")
