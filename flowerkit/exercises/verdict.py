"""The verdict every checker returns, and the helpers the checkers of all notebooks share.

A checker prints its message ("Correct! ..." or "Not yet: ... Hint: ...") and
returns a :class:`Verdict`; it never raises on a wrong or unanswered exercise,
so a notebook keeps running. The first checkers are in notebook ``00_the_challenge``.
"""

from __future__ import annotations

import contextlib
import dis
import functools
import importlib.util
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import CodeType, FunctionType, MethodType, ModuleType
from typing import Any
from unittest import mock

__all__ = ["RAISED_HINT", "STUB_HINT", "Verdict"]


# What to do when the student's own function raised: its message is in the verdict, the traceback is one call away.
RAISED_HINT = "call your function on its own in a new cell to see the full traceback"
STUB_HINT = "replace the `...` or `return None` in the stub with your code"
_RAISED_CHARS = 300  # how much of a student's exception message a verdict quotes
_STALL_S = 10.0  # a student's stream that hands over nothing for this long is stuck (a checker reads a few dozen items)


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


def _is_stub_function(func: Any) -> bool:
    """True if ``func``'s body names nothing and holds no constant but None, ``...`` or a docstring (``...`` or
    ``return None``): a stub, not code that returned None."""
    code = getattr(func, "__code__", None)
    if code is None:
        return False
    consts = [c for c in code.co_consts if c is not None and c is not Ellipsis and not isinstance(c, str)]
    return not code.co_names and not consts


def _question_first(hint: str, questions: Mapping[str, str], hinted: set[str], later: str) -> str:
    """``hint``, except the first time in this process that a hint of ``questions`` comes up: then its question, and
    that ``later`` comes if the problem comes back. ``hinted`` records the hints given in full. For the checkers of
    notebooks 05 to 07, whose first miss gets a question that points at the evidence, not the fix."""
    if hint not in questions or hint in hinted:
        return hint
    hinted.add(hint)
    return f"{questions[hint]} ({later} comes if this comes back)"


def _picked(answer: Any) -> set[Any] | None:
    """The names a "which of these?" answer picks: one string, or a set, list or tuple of them; None for anything else
    (a number, a bool, a nested list), which the checker answers with the shape it expects instead of a traceback."""
    if isinstance(answer, str):
        return {answer}
    if not isinstance(answer, (set, frozenset, list, tuple)) or not all(isinstance(a, str) for a in answer):
        return None
    return set(answer)


#: The end of a message about a stream stopped at :func:`_deadline` (a checker picks :data:`STALLED_HINT` by it).
STALLED = "a loop that never yields (an index that never moves?), or one that never ends"
STALLED_HINT = (
    "read it by hand with a limit, list(itertools.islice(iter(stream), 50)), as each worker: does every pass "
    "of your loop move on, whichever worker runs it?"
)


def _failure_hint(error: str | None) -> str:
    """The hint for a student's code that failed: :data:`STALLED_HINT` for a stream stopped at the deadline, else the general one."""
    return STALLED_HINT if error and STALLED in error else RAISED_HINT


class _Stalled(BaseException):
    """Raised into a student's code that ran past :func:`_deadline`: a loop that never yields, or never ends.

    A BaseException, so that a student's ``except Exception`` (a stream that skips unreadable items) lets it through.
    """


def _stall_error() -> str:
    """The message of a student's code stopped at :func:`_deadline` (what :func:`_call` returns for it)."""
    return f"your code handed over nothing for {_STALL_S:.0f} s: {STALLED}"


@contextlib.contextmanager
def _deadline(seconds: float | None = None) -> Iterator[None]:
    """Stop the block's student code after ``seconds`` with :class:`_Stalled`, which :func:`_call` turns into a message.

    For streams a checker reads: a ``__iter__`` that loops without yielding would hang the notebook. Uses SIGALRM, so
    it works on the main thread of a POSIX process (a Jupyter cell runs there); elsewhere the block runs unbounded.
    """
    seconds = _STALL_S if seconds is None else seconds
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(*_: Any) -> None:
        raise _Stalled(f"handed over nothing for {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    timer = signal.setitimer(signal.ITIMER_REAL, seconds, seconds)  # repeating: a bare `except:` cannot end it
    try:
        yield
    except _Stalled:  # fired in the checker's own code, between the student's calls: the caller reports a stall
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if timer[0] > 0:  # someone else's timer was running: give it back
            signal.setitimer(signal.ITIMER_REAL, *timer)


def _picked_from(answer: Any, choices: Iterable[str], variable: str, listing: str) -> tuple[set[Any], Verdict | None]:
    """A set answer's picks among ``choices``, or the verdict that ends the check: no answer yet, not a set of names,
    or a name that is not in ``listing`` (how the notebook names ``choices``, e.g. ``exercises.SKEW_CHOICES``)."""
    if _unanswered(answer) or not answer:
        return set(), _verdict(
            False, f"no answer yet: set `{variable}` to a set of names from {listing}.", f"pick from {listing}"
        )
    picked = _picked(answer)
    if picked is None:
        return set(), _verdict(
            False, f"`{variable}` is {answer!r}; it should be a set of names from {listing}.", f"pick from {listing}"
        )
    unknown = sorted(str(p) for p in picked - set(choices))
    if unknown:
        return set(), _verdict(False, f"{unknown} is not one of {listing}.", "copy the names exactly, as printed")
    return picked, None


_REREAD = "go through the measurements above one by one, and write down which suspect each one supports or clears"


def _set_problem(
    picked: set[str],
    truth: Sequence[str],
    cleared: Mapping[str, str],
    look_again: str | None,
    what: str,
    reread: str = _REREAD,
) -> tuple[str, str] | None:
    """(message, hint) for a "which of these did the evidence show?" set that is not ``truth``; None when it is.

    Feedback that names suspects one by one could be played one suspect per try, so a suspect is
    named (with the evidence that clears it) only when it is the one wrong pick beside every true one, and a gap is
    counted (with ``look_again``, one pointer to the evidence whichever item is missing, so it names none) only when at
    least two right picks and no wrong one stand beside it. Every other incomplete or crowded set, a single right pick
    or every suspect at once included, gets one message that says nothing about any pick: a count of wrong picks
    beside every true one would tell the size of the truth, and dropping one pick at a time would then find it. Pairs
    can still be tried (n^2 / 2 tries to a counted gap). ``look_again`` may be None when the truth has two items (two
    right picks are then the whole truth: a gap is never counted).
    """
    wrong = sorted(picked - set(truth))
    missing = [t for t in truth if t not in picked]
    if (missing and (wrong or len(picked) < 2 or look_again is None)) or len(wrong) > 1:
        return (
            f"that set is not the {what} the evidence shows: a pick may be cleared by it, or some of what it shows is missing.",
            reread,
        )
    if wrong:
        return f"the evidence clears {wrong[0]!r}: {cleared[wrong[0]]}.", "keep only what the evidence shows"
    if missing and look_again:  # the first test above: with missing items, only here is there a pointer
        return f"{len(missing)} of the {what} still at large.", look_again
    return None


def _set_verdict(
    answer: Any,
    choices: Iterable[str],
    listing: str,
    variable: str,
    *,
    truth: Sequence[str],
    cleared: Mapping[str, str],
    look_again: str | None,
    what: str,
    correct: str,
    reread: str = _REREAD,
) -> Verdict:
    """The verdict of a "which of these did the evidence show?" checker, on ``answer``, a set of names from ``choices``
    (named ``listing`` in the notebook and set as ``variable``): :func:`_picked_from`'s ending, :func:`_set_problem`'s,
    or ``correct``. ``reread``: where to look again when the set says nothing pick by pick (the measurements, by
    default; a question answered by reasoning points at what to reason from)."""
    picked, ended = _picked_from(answer, choices, variable, listing)
    if ended is not None:
        return ended
    problem = _set_problem(picked, truth, cleared, look_again, what, reread)
    if problem:
        return _verdict(False, problem[0], problem[1])
    return _verdict(True, correct)


def _call(func: Callable[..., Any], *args: Any) -> tuple[Any, str | None]:
    """``(func(*args), None)``, or ``(None, what it raised)``: a student's function never crashes a checker."""
    try:
        return func(*args), None
    except _Stalled:  # inside _deadline
        return None, _stall_error()
    except Exception as exc:  # the student's code raised: say so, don't crash the notebook
        said = str(exc)
        if len(said) > _RAISED_CHARS:  # e.g. an error that prints a whole tensor: the traceback has it all
            said = said[:_RAISED_CHARS].rstrip() + " [...]"
        return None, f"your function raised {type(exc).__name__}: {said}"


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
    """:func:`_call` with ``module.name`` refusing to run; the third value is True when the student's code calls it.

    For an exercise that rebuilds a flowerkit function (03's ``make_loader``, 04's ``one_cycle``): calling the
    flowerkit version would pass without the work. Through the module (``load.make_loader``) the call is refused as
    it runs; passed as is, wrapped in a partial, or named on its own (``from flowerkit.load import make_loader as
    ml``) in ``func`` or a function of the student's it names, it is found before anything runs (:func:`_names_any`),
    in a branch the check's call would not take too. ``name`` may list several names, separated by commas
    (``"ShardedStream,worker_share"``).
    """
    return _call_refusing(((module, name),), func, *args)


def _call_refusing(
    refused: Sequence[tuple[ModuleType, str]], func: Callable[..., Any], *args: Any
) -> tuple[Any, str | None, bool]:
    """:func:`_call_without` for several modules' names at once: each ``(module, names)`` of ``refused``."""
    if _names_any(func, [obj for m, ns in refused for obj in _named(m, ns)]):  # passed as is, or named on its own
        return None, f"{_FlowerkitVersion.__name__}: {func!r} names the flowerkit version", True
    with contextlib.ExitStack() as stack:
        for m, ns in refused:
            stack.enter_context(_refusing(m, ns))
        answer, error = _call(func, *args)
    return answer, error, _refused(error)


def _named(module: ModuleType, names: str) -> list[Any]:
    """The objects ``module``'s comma-separated ``names`` are bound to."""
    return [getattr(module, name.strip()) for name in names.split(",")]


def _reachable(obj: Any) -> Iterator[Any]:
    """``obj`` and everything its code can reach by name without running: for a function, what its code loads by name
    (:func:`_loaded`), its closure and its defaults; for a partial or bound method, its function and arguments; for a class
    or an instance's class, its own methods and its base classes. The walk goes on only into the functions and classes of ``obj``'s own
    module (the notebook's, or the student's ``%%writefile`` module), never into a library's code."""
    root = obj
    while isinstance(root, (functools.partial, MethodType)):  # the student's own function inside decides the home
        root = root.func if isinstance(root, functools.partial) else root.__func__
    home = getattr(root, "__module__", None) or getattr(type(root), "__module__", None)
    todo, seen = [obj if isinstance(obj, (FunctionType, type, MethodType, functools.partial)) else type(obj)], set()
    while todo:
        o = todo.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        yield o
        if isinstance(o, functools.partial):
            todo += [o.func, *o.args, *o.keywords.values()]
        elif isinstance(o, MethodType):
            todo.append(o.__func__)
        elif getattr(o, "__module__", None) != home:
            continue  # a library's function or class: named, not walked into
        elif isinstance(o, type):
            members = (getattr(v, "__func__", v) for v in vars(o).values())  # staticmethod, classmethod: their function
            todo += [v for v in members if isinstance(v, (FunctionType, type))]
            todo += o.__bases__  # a library's base class is named (subclassed), not walked into
        elif isinstance(o, FunctionType):
            todo += [value for code in _code_objects(o.__code__) for value in _loaded(code, o.__globals__)]
            todo += [cell.cell_contents for cell in o.__closure__ or () if _filled(cell)]
            todo += [*(o.__defaults__ or ()), *(o.__kwdefaults__ or {}).values()]


def _loaded(code: CodeType, namespace: Mapping[str, Any]) -> Iterator[Any]:
    """What ``code`` loads by name without running it: its global names, attribute chains on a module (``model.one_cycle``,
    ``flowerkit.model.one_cycle``) and names imported inside it, read from its instructions (an attribute of another
    object, ``self.image_path``, is not looked up)."""
    current: Any = None  # the module an attribute chain has reached so far
    imported: Any = None  # the module of an `import` or `from ... import` inside the code
    for instruction in dis.get_instructions(code):
        name, value = instruction.opname, instruction.argval
        if name in ("LOAD_GLOBAL", "LOAD_NAME") and value in namespace:
            current = namespace[value]
        elif name in ("LOAD_ATTR", "LOAD_METHOD") and isinstance(current, ModuleType):
            current = getattr(current, value, None)
        elif name == "IMPORT_NAME":
            current = imported = sys.modules.get(value)
        elif name == "IMPORT_FROM" and isinstance(imported, ModuleType):
            current = getattr(imported, value, None)
        else:
            current = None
            continue
        if current is not None:
            yield current


def _filled(cell: Any) -> bool:
    """True when a closure cell holds a value (a name not yet assigned leaves it empty)."""
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


def _names_any(obj: Any, targets: Sequence[Any]) -> bool:
    """True when ``obj`` is one of ``targets`` or reaches one by name (:func:`_reachable`): an alias, a helper, a partial."""
    return any(o is t for o in _reachable(obj) for t in targets)


@contextlib.contextmanager
def _refusing(module: ModuleType, names: str) -> Iterator[None]:
    """While the block runs, each of ``module``'s comma-separated ``names`` raises instead of running (:func:`_refused`)."""

    def refuser(name: str) -> Callable[..., Any]:
        def refuse(*_: Any, **__: Any) -> Any:
            raise _FlowerkitVersion(f"{module.__name__}.{name} is the flowerkit version this exercise rebuilds")

        return refuse

    with contextlib.ExitStack() as stack:
        for name in names.split(","):
            stack.enter_context(mock.patch.object(module, name.strip(), refuser(name.strip())))
        yield


def _version_named(refused: Sequence[tuple[ModuleType, str]], hint: str) -> Verdict:
    """The verdict on a student's code that calls (or passes, or subclasses) the flowerkit version an exercise builds:
    the first ``(module, names)`` pair of ``refused`` names it, ``"match_name,normalise_name"`` as
    ``match_name (or normalise_name)``."""
    module, names = refused[0]
    first, *others = [n.strip() for n in names.split(",")]
    tool = f"{module.__name__.removeprefix('flowerkit.')}.{first}" + (f" (or {', '.join(others)})" if others else "")
    classes = any(isinstance(getattr(m, n.strip()), type) for m, ns in refused for n in ns.split(","))
    calls = "calls (or subclasses)" if classes else "calls"
    return _verdict(False, f"your code {calls} flowerkit's {tool}, the version this exercise builds.", hint)


def _answer_without(
    refused: Sequence[tuple[ModuleType, str]],
    hint: str,
    func: Callable[..., Any],
    *args: Any,
    where: str,
    raised_hint: Callable[[str], str] = lambda _: RAISED_HINT,
) -> tuple[Any, Verdict | None]:
    """``func(*args)`` with each ``(module, names)`` of ``refused`` refusing to run (:func:`_refusing`), or the verdict
    that ends the check: the flowerkit version passed as is or called (:func:`_version_named`, with ``hint``), what
    ``func`` raised (on ``where``, with ``raised_hint(error)``), a stub's None. Notebooks 02 and 08."""
    answer, error, flowerkit_version = _call_refusing(refused, func, *args)
    if flowerkit_version:
        return None, _version_named(refused, hint)
    if error:
        return None, _verdict(False, f"on {where}: {error}", raised_hint(error))
    if _unanswered(answer):
        return None, _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
    return answer, None


def _refused(error: str | None) -> bool:
    """True when ``error`` is a flowerkit function refusing to run inside :func:`_refusing`."""
    return error is not None and _FlowerkitVersion.__name__ in error


def _code_objects(code: CodeType) -> Iterator[CodeType]:
    """``code`` and every code object nested in it (functions, classes, methods, comprehensions)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _code_objects(const)


def _functions_of(obj: Any) -> list[FunctionType]:
    """The Python functions that make up ``obj``: itself, or a class's own methods."""
    if isinstance(obj, FunctionType):
        return [obj]
    if isinstance(obj, type):
        return [v for v in vars(obj).values() if isinstance(v, FunctionType)]
    return []


def _changed_since_import(obj: Any) -> str | None:
    """The name of the module next to the notebook (the working folder) that defines ``obj``, when its file no
    longer holds the code this kernel runs (edited and rewritten since ``import``, not reloaded); else None."""
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    path = Path(getattr(module, "__file__", None) or "")
    if module is None or path.suffix != ".py" or path.parent.resolve() != Path.cwd().resolve() or not path.is_file():
        return None
    try:
        fresh = compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return module.__name__  # the file changed into something that does not even compile
    by_name: dict[str, list[CodeType]] = {}
    for code in _code_objects(fresh):
        by_name.setdefault(code.co_name, []).append(code)
    for function in _functions_of(obj):
        if not any(code == function.__code__ for code in by_name.get(function.__code__.co_name, [])):
            return module.__name__
    return None


def _stale_module_verdict(dataset: Any) -> Verdict | None:
    """A refusal when ``dataset``'s class or a function it holds comes from a module edited since it was imported.

    Notebook ``01_access`` has students rewrite a ``%%writefile`` module and import it: a second ``import`` of a
    changed module does nothing, so the kernel runs the old code while a spawn worker, a fresh Python, imports the
    new file. (Checkers given a module's name, as in ``07_in_the_wild``, reload it themselves.)
    """
    held = [type(dataset), *(v for v in vars(dataset).values() if callable(v))] if hasattr(dataset, "__dict__") else []
    stale = next((name for name in map(_changed_since_import, held) if name), None)
    if stale is None:
        return None
    return _verdict(
        False,
        f"{stale}.py has changed since this kernel imported it, so your dataset still runs the old code (a second "
        f"`import {stale}` does nothing), while a spawn worker would import the new file.",
        f"{stale} = importlib.reload({stale}), then build the dataset again",
    )


def _class_as_file_reads(module_name: str, qualname: str, kind: str = "class") -> tuple[Any, str | None]:
    """The class ``qualname`` of module ``module_name`` as its file reads now, as a new process would import it.

    A module already imported is executed again from its file, into the same module object (as ``importlib.reload``
    does, without needing the folder on ``sys.path``); one not yet imported is imported. Returns (the class, None), or
    (None, what is wrong: the file does not import, or defines no such class). For checkers of a student's
    ``%%writefile`` module (notebooks ``06_beyond_one_machine`` and ``07_in_the_wild``): a module rewritten below the
    cell that imported it is judged as written, as a worker or a ``torchrun`` rank would see it. ``kind="function"``
    looks for a function instead of a class.
    """
    module = sys.modules.get(module_name)
    try:
        if module is not None and getattr(module, "__file__", None):
            spec = importlib.util.spec_from_file_location(module_name, module.__file__)
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            module = importlib.import_module(module_name)
    except Exception as exc:  # the student's file does not import: say so
        return None, f"{module_name}.py does not import: {type(exc).__name__}: {exc}"
    found: Any = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if not isinstance(found, type if kind == "class" else FunctionType):
        return None, f"{module_name}.py has no {kind} {qualname}."
    return found, None
