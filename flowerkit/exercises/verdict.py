"""The verdict every checker returns, and the helpers the checkers of all notebooks share.

A checker prints its message ("Correct! ..." or "Not yet: ... Hint: ...") and
returns a :class:`Verdict`; it never raises on a wrong or unanswered exercise,
so a notebook keeps running. The first checkers are in notebook ``00_the_challenge``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any
from unittest import mock

__all__ = ["RAISED_HINT", "STUB_HINT", "Verdict"]


# What to do when the student's own function raised: its message is in the verdict, the traceback is one call away.
RAISED_HINT = "call your function on its own in a new cell to see the full traceback"
STUB_HINT = "replace the `...` or `return None` in the stub with your code"


class Verdict:
    """A checker's answer: true when the exercise is solved, false otherwise (``assert exercises.check_...(...)`` works).

    The checker has already printed its message ("Correct! ..." or "Not yet: ... Hint: ..."), so a
    notebook shows nothing more for it: no ``Out[n]: False`` under the message.
    Introduced in notebook ``00_the_challenge``.
    """

    __slots__ = ("ok", "message")

    def __init__(self, ok: bool, message: str) -> None:
        self.ok = bool(ok)
        self.message = message

    def __bool__(self) -> bool:
        return self.ok

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (bool, Verdict)):
            return self.ok == bool(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.ok)

    def __repr__(self) -> str:
        return f"Verdict({self.ok})"

    def _ipython_display_(self) -> None:
        """IPython calls this instead of showing ``Out[n]``: show nothing, the message is already printed."""


def _verdict(ok: bool, message: str, hint: str = "") -> Verdict:
    """Print the verdict ("Correct! ..." or "Not yet: ...", with the hint) and return it."""
    # Every "Not yet" carries a hint: tests/test_exercises_verdict.py checks each call site and each cheap failure path.
    if ok:
        print(f"Correct! {message}")
    else:
        print(f"Not yet: {message}" + (f"\nHint: {hint}" if hint else ""))
    return Verdict(ok, message)


def _unanswered(answer: Any) -> bool:
    """True if ``answer`` is still a stub's: ``None`` or ``...``."""
    return answer is None or answer is Ellipsis


def _call(func: Callable[..., Any], *args: Any) -> tuple[Any, str | None]:
    """``(func(*args), None)``, or ``(None, what it raised)``: a student's function never crashes a checker."""
    try:
        return func(*args), None
    except Exception as exc:  # the student's code raised: say so, don't crash the notebook
        return None, f"your function raised {type(exc).__name__}: {exc}"


def _answer(func: Callable[..., Any], *args: Any, where: str = "") -> tuple[Any, Verdict | None]:
    """The student's answer, or the verdict that ends the check: what ``func`` raised (after ``where``), or a stub's None."""
    answer, error = _call(func, *args)
    if error:
        return None, _verdict(False, f"{where}{error}", RAISED_HINT)
    if _unanswered(answer):
        return None, _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
    return answer, None


class _FlowerkitVersion(Exception):
    """Raised in place of a flowerkit function while a checker runs a student's rebuild of it (:func:`_call_without`)."""


def _call_without(module: ModuleType, name: str, func: Callable[..., Any], *args: Any) -> tuple[Any, str | None, bool]:
    """:func:`_call` with ``module.name`` refusing to run; the third value is True when the student's code called it.

    For an exercise that rebuilds a flowerkit function (03's ``make_loader``, 04's ``one_cycle``): calling the
    flowerkit version would pass without the work. A name imported on its own (``from module import name``)
    escapes the patch; the prompt asks for the plain-PyTorch route in words too.
    """

    def refuse(*_: Any, **__: Any) -> Any:
        raise _FlowerkitVersion(f"{module.__name__}.{name} is the flowerkit version this exercise rebuilds")

    with mock.patch.object(module, name, refuse):
        answer, error = _call(func, *args)
    return answer, error, error is not None and _FlowerkitVersion.__name__ in error
