"""Grade student notebooks with the course's own checkers: ``make grade SUBMISSIONS=dir``.

A submission folder holds one folder per student with the notebooks that
``make student`` wrote, after the student's work: ``dir/<student>/<NN_name>.ipynb``.
Each notebook is executed cell by cell in a fresh kernel whose working
directory is a new temporary folder (notebook 01 writes ``my_flowers.py``
there), with a time limit per cell. Each exercise is graded *at its own
position*: right after the student's cells of that exercise, the grader runs
the checker call that the *course* notebook (``notebooks/``) makes in the
exercise's solution cell, with the repository's ``flowerkit.exercises``, and
records the checker's verdict, message and hint. So a student who edits or
deletes the checker call, reuses a name later, or adds cells is graded on what
they wrote there.

How an exercise is found: in the course notebook, an exercise is a stub cell
and the ``solution`` cell(s) after it (:func:`tools.student.exercise_cells`).
``make student`` keeps every cell's id, so each submission cell is placed by
its id; a cell the student added belongs to the cell above it. An exercise is
graded before the first submission cell that belongs to a course cell below
the exercise. A cell of the exercise that raised, ran past the time limit or
killed the kernel scores that exercise 0 with the reason; after a stuck or dead
kernel, a new kernel replays the cells that had run, and grading goes on.

Outputs in ``build/grades/``: ``gradebook.csv`` (one row per student, notebook
and exercise), ``feedback/<student>.md`` (one page per student) and
``summary.md`` (per exercise: how many got it, the most common "Not yet").
What this does not protect against (see the README): a student who edits the
grader, or a cell that patches what a checker uses inside (its helpers, ``Verdict``,
``sys.modules``); a checker replaced from a cell is caught.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import csv
import importlib
import os
import re
import symtable
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import nbformat
from IPython.core.inputtransformer2 import TransformerManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from flowerkit.facts import _threads_each
from flowerkit.paths import DATA_ENV, data_dir

from .cells import course_notebooks, is_presenter_notes, repo_root
from .student import exercise_cells, student_version

__all__ = [
    "CELL_TIMEOUT_S",
    "Exercise",
    "Grade",
    "checker_calls",
    "course_exercises",
    "feedback_page",
    "find_submissions",
    "grade_notebook",
    "grade_submissions",
    "grading_plan",
    "kernel_env",
    "main",
    "quick_plan",
    "summary",
    "write_reports",
]

CELL_TIMEOUT_S = 300  # a course cell takes at most a few minutes on a 2-core laptop (notebook 04 trains)
PROBE_S = 10  # after an interrupted cell, a kernel that cannot run `pass` in this time is replaced
MAX_RESTARTS = 3  # kernels started again for one notebook before the rest of it is given up
KERNEL = "python3"  # never the kernelspec the submission names
GRADE_MIME = "application/x-flowerkit-grade+json"
TIMED_OUT = "FlowerkitGradeTimeout"
FIRST_ERROR_HINT = "run your notebook from the top (Kernel > Restart Kernel and Run All Cells) and fix the first error"
LOOP_HINT = "every cell should finish in seconds: look for a loop that never ends (Kernel > Interrupt stops it)"
DIED_HINT = (
    "a cell that exits Python (os._exit, sys.exit in a worker) or runs out of memory kills the kernel; " + FIRST_ERROR_HINT
)
SWAPPED_HINT = "the grader uses the course's checkers: do not replace them in your notebook"
COLUMNS = ("student", "notebook", "exercise", "title", "score", "max", "feedback", "hint")

# Run in the student's kernel right after the exercise's cells: the course's checker call, evaluated with the
# repository's checkers bound to `exercises` (whatever the student bound to that name), its verdict sent back
# as one display_data output of its own type.
_CHECK_CELL = """\
def _flowerkit_grade():
    import contextlib, importlib, io
    from IPython.display import display
    checkers = importlib.import_module("flowerkit.exercises")
    code = getattr(getattr(checkers, {checker!r}, None), "__code__", None)  # a checker swapped from a cell is caught
    result = {{"ok": False, "message": "", "hint": "", "printed": "", "error": ""}}
    result["defined_in"] = str(getattr(code, "co_filename", ""))
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            verdict = eval({call!r}, {{**globals(), "exercises": checkers}})
        result.update(ok=bool(verdict), message=str(getattr(verdict, "message", "")))
        result["hint"] = str(getattr(verdict, "hint", "") or "")
    except Exception as exc:
        result["error"] = f"{{type(exc).__name__}}: {{exc}}"
    result["printed"] = printed.getvalue()
    display({{{mime!r}: result}}, raw=True)


_flowerkit_grade()
del _flowerkit_grade
"""


@dataclass(frozen=True)
class Exercise:
    """One exercise of a course notebook: its stub and solution cells, and the checker call that grades it."""

    notebook: str  # e.g. "00_the_challenge"
    name: str  # the checker's name, e.g. "check_access_cause" ("#2" added if a notebook uses it twice)
    cells: tuple[str, ...]  # ids: the stub, then its solution cells
    call: str  # e.g. "exercises.check_access_cause(cause)"
    first: int  # position of the stub in the course notebook
    last: int  # position of its last solution cell
    title: str = ""  # what the notebook calls it, e.g. "Exercise 4, part 2 (medium): a colleague's dataset"

    @property
    def checker(self) -> str:
        """The checker's name in ``flowerkit.exercises``, e.g. ``check_access_cause``."""
        return self.call.split("(", 1)[0].removeprefix("exercises.")


@dataclass
class Grade:
    """One row of the gradebook."""

    student: str
    notebook: str
    exercise: str
    score: int
    max: int = 1
    feedback: str = ""
    hint: str = ""
    title: str = ""

    def row(self) -> list[Any]:
        """The CSV row, in the order of :data:`COLUMNS`."""
        return [self.student, self.notebook, self.exercise, self.title, self.score, self.max, self.feedback, self.hint]

    @property
    def label(self) -> str:
        """The exercise as the notebook names it, with its checker: ``Exercise 2 (easy): ... (check_...)``."""
        return f"{self.title} ({self.exercise})" if self.title else self.exercise


@dataclass
class NotebookResult:
    """What grading one submitted notebook gave: a grade per exercise, notes on cells outside them, seconds taken."""

    student: str
    notebook: str
    grades: list[Grade] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: int = 0  # unchanged course cells that ``quick`` did not run


class Step(NamedTuple):
    """One step of a grading run: a submission cell to execute (``cell``), or an exercise to grade (``exercise``)."""

    cell: nbformat.NotebookNode | None = None
    index: int = -1  # the cell's position in the submission
    region: Exercise | None = None  # the exercise the cell belongs to, if any
    exercise: Exercise | None = None


class Ran(NamedTuple):
    """How one execution went: ``kind`` is ok, error, timeout, died or skipped."""

    kind: str
    detail: str = ""
    outputs: list[Any] = []


# ------------------------------------------------------------------ what to grade, and where


def checker_calls(source: str) -> list[str]:
    """The ``exercises.check_...(...)`` calls a cell makes at top level (bare, asserted, assigned, or an ``if``'s
    condition, as a stub that goes on once its checker agrees), as source text."""
    tree = _parse(source)
    if tree is None:
        return []
    calls = []
    for stmt in tree.body:
        node = stmt.test if isinstance(stmt, (ast.Assert, ast.If)) else getattr(stmt, "value", None)
        func = getattr(node, "func", None)
        if (
            isinstance(node, ast.Call)
            and isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "exercises"
            and func.attr.startswith("check_")
        ):
            calls.append(ast.unparse(node))
    return calls


_LABEL = re.compile(r"^(?:#{2,4}\s+(?P<heading>[^\n]+)|\*\*(?P<bold>[^*\n]{3,140}?)\*\*)", re.MULTILINE)


def exercise_title(course: nbformat.NotebookNode, stub: int) -> str:
    """What the notebook calls the exercise whose stub is cell ``stub``: the last heading or bold lead above it.

    E.g. ``### Exercise 2 (easy): name the cause`` or ``**Exercise 1 (easy): images per class, in one split.**``,
    from the nearest markdown cell above the stub that has one (presenter notes skipped); "" if none.
    """
    for cell in reversed(course.cells[:stub]):
        if cell.cell_type != "markdown" or is_presenter_notes(cell):
            continue
        found = [m.group("heading") or m.group("bold") for m in _LABEL.finditer(cell.source)]
        if found:
            return found[-1].strip().rstrip(".:").strip()
    return ""


def course_exercises(course: nbformat.NotebookNode, notebook: str) -> list[Exercise]:
    """The exercises of a course notebook, in order, each graded by the last checker call of its solution cells.

    The solution's own ``assert exercises.check_...(...)`` is the reference's
    check (in notebook 01, exercise 3 checks ``loader.dataset``, not the stub's
    ``dataset``); a stub's call is used only if no solution cell makes one.
    """
    position = {cell.id: i for i, cell in enumerate(course.cells)}
    by_stub: dict[str, list[str]] = {}
    for solution, stub in exercise_cells(course).items():
        by_stub.setdefault(stub, []).append(solution)
    exercises, seen = [], Counter()
    for stub, solutions in sorted(by_stub.items(), key=lambda item: position[item[0]]):
        ids = (stub, *sorted(solutions, key=position.get))
        calls = [call for cell_id in ids for call in checker_calls(course.cells[position[cell_id]].source)]
        if not calls:
            raise ValueError(f"{notebook}: exercise {stub} has no exercises.check_...() call to grade it with")
        name = calls[-1].split("(", 1)[0].removeprefix("exercises.")
        seen[name] += 1
        name = name if seen[name] == 1 else f"{name}#{seen[name]}"
        last = max(position[i] for i in ids)
        exercises.append(Exercise(notebook, name, ids, calls[-1], position[stub], last, exercise_title(course, position[stub])))
    return exercises


def grading_plan(course: nbformat.NotebookNode, submission: nbformat.NotebookNode, exercises: list[Exercise]) -> list[Step]:
    """The submission's code cells in order, with each exercise graded right after the cells that belong to it.

    A submission cell belongs to the course cell with its id; a cell the
    student added belongs to the cell above it. An exercise is graded before
    the first cell that belongs to a course cell below its last solution cell
    (or at the end), so later cells cannot change what it is graded on.
    """
    position = {cell.id: i for i, cell in enumerate(course.cells)}
    pending = sorted(exercises, key=lambda e: e.last)
    steps, owner = [], -1
    for index, cell in enumerate(submission.cells):
        owner = position.get(cell.get("id"), owner)
        while pending and pending[0].last < owner:
            steps.append(Step(exercise=pending.pop(0)))
        if cell.cell_type == "code" and cell.source.strip():
            region = next((e for e in exercises if e.first <= owner <= e.last), None)
            steps.append(Step(cell=cell, index=index, region=region))
    return steps + [Step(exercise=e) for e in pending]


def _parse(source: str, with_python: bool = False) -> Any:
    """A cell's syntax tree, parsed as IPython runs it (magics become calls); None if it is not Python.

    ``with_python``: the pair (tree, the Python it was parsed from).
    """
    python = TransformerManager().transform_cell(source)
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return None
    return (tree, python) if with_python else tree


def _imported(tree: ast.AST) -> set[str]:
    return {
        (alias.asname or alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }


def _globals(table: symtable.SymbolTable) -> tuple[set[str], set[str]]:
    """(global names assigned, global names read) in a cell's symbol table and in every scope nested in it.

    A function's parameters and locals are not globals: ``images`` inside
    ``def pair_files`` is not the notebook's ``images``.
    """
    module = table.get_type() == "module"
    assigned, read = set(), set()
    for symbol in table.get_symbols():
        if module or symbol.is_global():
            if symbol.is_referenced():
                read.add(symbol.get_name())
            if symbol.is_assigned() or symbol.is_imported():
                assigned.add(symbol.get_name())
    for child in table.get_children():
        more_assigned, more_read = _globals(child)
        assigned |= more_assigned
        read |= more_read
    return assigned, read


def _certain(stmt: ast.stmt) -> set[str]:
    """Names a statement surely binds (``x = ``, ``a, b = ``, ``def f``, ``class C``, ``import m``), not ``for x in``."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return _imported(stmt)
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
    names = set()
    for target in targets:
        elements = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
        names |= {e.id for e in elements if isinstance(e, ast.Name)}
    return names


def _statement(stmt: ast.stmt, modules: set[str]) -> tuple[set[str], set[str], set[str]] | None:
    """(global names a statement may change, global names it reads, names it surely binds); None if it cannot compile.

    Changed: assigned, defined, imported, or the base of ``x.a = ``, ``x[k] = ``
    or ``x.method()``; a method called on a module (``torch.manual_seed(0)``)
    does not count as changing the module.
    """
    try:
        assigned, read = _globals(symtable.symtable(ast.unparse(stmt), "<cell>", "exec"))
    except SyntaxError:
        return None
    mutated = set()
    for node in ast.walk(stmt):
        if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            mutated |= _base(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            mutated |= _base(node.func) - modules
    return assigned | (mutated & read), read, _certain(stmt)


def _slice(tree: ast.Module, modules: set[str], needed: set[str], whole: bool) -> tuple[list[ast.stmt], set[str]] | None:
    """Walk a cell's statements from the end: keep all (``whole``) or those that may change a needed name.

    Returns the statements kept, in order, and the names needed before the
    cell (``images, labels = next(it)`` then ``print(images)`` needs no earlier
    ``images``); None if a statement cannot compile.
    """
    chosen = []
    for stmt in reversed(tree.body):
        names = _statement(stmt, modules)
        if names is None:
            return None
        changed, read, certain = names
        if whole or changed & needed:
            chosen.append(stmt)
            needed = (needed - certain) | read
    return chosen[::-1], needed


def _base(node: ast.AST) -> set[str]:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return {node.id} if isinstance(node, ast.Name) else set()


def quick_plan(plan: list[Step], course: nbformat.NotebookNode) -> list[Step]:
    """The plan cut down to what the exercises need: the course's cells the student left unchanged, sliced.

    A backward slice over top-level statements, as :func:`tools.student.exercise_slice`
    does for the course: the setup cell, every cell of an exercise and every
    cell the student added or edited run whole; of the other cells, only the
    statements that may change a name that something kept below reads (a
    checker call included) run, so training runs, timings and figures the
    exercises do not read are skipped. What it cannot see: state changed other
    than through a name (the global random state, a file a skipped statement
    writes). ``--quick`` of ``make grade``.
    """
    as_handed_out = {cell.id: cell.source for cell in student_version(course).cells}
    parsed = {step.index: _parse(step.cell.source, with_python=True) for step in plan if step.cell is not None}
    modules = set().union(*(_imported(tree) for tree, _ in filter(None, parsed.values())))
    setup = min(parsed, default=-1)
    needed: set[str] = set()
    kept = []
    for step in reversed(plan):
        if step.exercise is not None:
            needed |= {n.id for n in ast.walk(ast.parse(step.exercise.call)) if isinstance(n, ast.Name)}
            kept.append(step)
            continue
        own = step.region is not None or as_handed_out.get(step.cell.get("id")) != step.cell.source
        whole = own or step.index == setup
        sliced = _slice(parsed[step.index][0], modules, needed, whole) if parsed[step.index] else None
        if sliced is None or whole:
            kept.append(step)
            needed = sliced[1] if sliced else needed
        elif sliced[0]:
            python = parsed[step.index][1]
            source = "\n".join(ast.get_source_segment(python, stmt) or ast.unparse(stmt) for stmt in sliced[0])
            kept.append(step._replace(cell=nbformat.v4.new_code_cell(source, id=step.cell.get("id"))))
            needed = sliced[1]
    return kept[::-1]


# ------------------------------------------------------------------ running cells in a kernel that can get stuck or die


class _Kernel:
    """A fresh IPython kernel in ``folder`` that runs one cell at a time with a time limit."""

    def __init__(self, folder: Path, timeout: int, env: dict[str, str]) -> None:
        self.folder, self.timeout, self.env = folder, timeout, env
        self.client: NotebookClient | None = None
        self._stack = contextlib.ExitStack()
        self._reply: dict[str, Any] = {}

    def start(self) -> None:
        """Start the kernel (the submission's kernelspec is ignored: always this environment's ``python3``)."""
        scratch = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")])
        self.client = NotebookClient(
            scratch,
            timeout=self.timeout,
            kernel_name=KERNEL,
            allow_errors=True,
            interrupt_on_timeout=True,
            error_on_timeout={"ename": TIMED_OUT, "evalue": "", "traceback": []},
            shutdown_kernel="immediate",
            on_cell_executed=self._keep_reply,
        )
        self._stack.enter_context(self.client.setup_kernel(cwd=str(self.folder), env=self.env))

    def stop(self) -> None:
        """Shut the kernel down (at once: it may be stuck)."""
        self._stack.close()
        self.client = None

    def _keep_reply(self, execute_reply: dict[str, Any], **_: Any) -> None:
        self._reply = execute_reply or {}

    def run(self, source: str, timeout: int | None = None) -> Ran:
        """Execute ``source``; a cell past its time limit is interrupted and reported as ``timeout``."""
        assert self.client is not None, "start() the kernel first"
        cell = nbformat.v4.new_code_cell(source)
        self.client.timeout = timeout or self.timeout
        self._reply = {}
        try:
            self.client.execute_cell(cell, 0)
        except DeadKernelError:
            return Ran("died", "", cell.outputs)
        content = self._reply.get("content", {})
        if content.get("status") != "error":
            return Ran("ok", "", cell.outputs)
        if content.get("ename") == TIMED_OUT:
            return Ran("timeout", "", cell.outputs)
        return Ran("error", f"{content.get('ename')}: {content.get('evalue')}".strip(), cell.outputs)


class _Session:
    """One submission's run: cells in order; a stuck or dead kernel is replaced and the cells that had run are replayed."""

    def __init__(self, folder: Path, timeout: int, env: dict[str, str]) -> None:
        self.kernel = _Kernel(folder, timeout, env)
        self.history: list[str] = []  # cells that ran to their end (with or without an error), to replay
        self.restarts = 0
        self.lost = ""  # why the rest of the notebook cannot run

    def __enter__(self) -> _Session:
        self.kernel.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kernel.stop()

    def run(self, source: str, record: bool = True) -> Ran:
        """Run a cell (``record``: a submission cell, replayed after a restart; else a grading cell)."""
        if self.lost:
            return Ran("skipped", self.lost)
        ran = self.kernel.run(source)
        if ran.kind in ("ok", "error"):
            if record:
                self.history.append(source)
            return ran
        if ran.kind == "timeout" and self.kernel.run("pass", min(PROBE_S, self.kernel.timeout)).kind == "ok":
            return ran  # the interrupt worked: the kernel goes on from where the cell stopped
        self._restart()
        return ran

    def _restart(self) -> None:
        self.kernel.stop()
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            self.lost = f"not run: the kernel was lost {MAX_RESTARTS + 1} times in this notebook"
            return
        try:
            self.kernel.start()
        except Exception as exc:  # e.g. the machine is out of memory: the rest of this notebook cannot run
            self.lost = f"not run: a new kernel did not start ({type(exc).__name__}: {exc})"
            return
        for source in self.history:
            if self.kernel.run(source).kind not in ("ok", "error"):
                self.lost = "not run: the kernel could not be restored (replaying the cells above got stuck or crashed)"
                return


# ------------------------------------------------------------------ grading one exercise, one notebook


def kernel_env(jobs: int = 1) -> dict[str, str]:
    """The grading kernels' environment: the repository's data folder and its ``flowerkit`` first on the path.

    With ``jobs`` kernels at a time each gets its share of the cores as ``OMP_NUM_THREADS`` (unless set): kernels that
    each start a thread per core spin against each other (``flowerkit.facts._threads_each``).
    """
    env = dict(os.environ)
    env[DATA_ENV] = str(data_dir())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo_root()), env.get("PYTHONPATH", "")) if p)
    if jobs > 1:
        env.setdefault("OMP_NUM_THREADS", str(_threads_each(jobs)))
    return env


def _where(step: Step) -> str:
    first = next((line.strip() for line in step.cell.source.splitlines() if line.strip()), "")
    return f"cell {step.index + 1} (`{first[:60]}{'...' if len(first) > 60 else ''}`)"


def _problem(step: Step, ran: Ran, timeout: int) -> str:
    """What went wrong in a submission cell, in words a student can act on."""
    where = _where(step)
    if ran.kind == "error":
        return f"{where} raised {ran.detail}"
    if ran.kind == "timeout":
        return f"{where} did not finish within {timeout} s (a loop that never ends?) and was interrupted"
    if ran.kind == "died":
        return f"{where} killed the kernel (it crashed or exited); the cells above it were run again in a new kernel"
    return f"{where} was {ran.detail}"


def _verdict_of(ran: Ran) -> dict[str, Any] | None:
    """The grading cell's result (ok, message, hint, printed, error, defined_in), if it sent one."""
    for output in ran.outputs:
        data = output.get("data", {})
        if GRADE_MIME in data:
            return dict(data[GRADE_MIME])
    return None


def _hint_of(result: dict[str, Any]) -> str:
    """The verdict's hint, or the one the checker printed after "Hint:"."""
    if result.get("hint"):
        return str(result["hint"])
    match = re.search(r"^Hint: (.*)", result.get("printed", ""), re.MULTILINE | re.DOTALL)
    return match.group(1).strip() if match else ""


def _checker_says(ran: Ran, timeout: int, call: str) -> tuple[bool, str, str]:
    """(ok, feedback, hint) from running the course's checker call after the exercise's cells."""
    result = _verdict_of(ran)
    if ran.kind == "timeout":
        return False, f"the checker did not finish within {timeout} s calling your code (a loop that never ends?)", LOOP_HINT
    if ran.kind == "died":
        return False, "the checker killed the kernel calling your code", DIED_HINT
    if ran.kind == "skipped":
        return False, f"the checker was {ran.detail}", FIRST_ERROR_HINT
    if result is None:
        return False, f"the checker sent no verdict ({ran.detail or 'no output'})", FIRST_ERROR_HINT
    if result["error"]:
        return (
            False,
            f"the checker could not run: {result['error']}",
            f"the grader calls `{call}` right after your cells for this exercise: define what it uses there",
        )
    checkers = repo_root() / "flowerkit"
    if not result["defined_in"] or not Path(result["defined_in"]).resolve().is_relative_to(checkers):
        return False, f"the checker was not the course's: it was defined in {result['defined_in'] or 'no file'}", SWAPPED_HINT
    if result["ok"]:
        return True, f"Correct! {result['message']}".strip(), ""
    return False, f"Not yet: {result['message']}".strip(), _hint_of(result)


def _grade_exercise(session: _Session, exercise: Exercise, problems: list[tuple[str, str]], grade: Grade) -> Grade:
    """Score one exercise where it stands: 0 with the reason if its cells failed, else the checker's verdict."""
    kinds = {kind for kind, _ in problems}
    fatal = [text for kind, text in problems if kind in ("timeout", "died", "skipped")]
    if fatal:
        grade.feedback = "Not graded: " + "; ".join(fatal) + "."
        grade.hint = LOOP_HINT if "timeout" in kinds else DIED_HINT if "died" in kinds else FIRST_ERROR_HINT
        return grade
    ran = session.run(_CHECK_CELL.format(call=exercise.call, checker=exercise.checker, mime=GRADE_MIME), record=False)
    ok, feedback, hint = _checker_says(ran, session.kernel.timeout, exercise.call)
    errors = [text for kind, text in problems if kind == "error"]
    if errors:  # a cell of the exercise raised: 0, whatever the checker says of what was left
        feedback = "; ".join(errors) + ". The checker then said: " + feedback
        ok, hint = False, hint or FIRST_ERROR_HINT
    grade.score, grade.feedback, grade.hint = int(ok), feedback, hint
    return grade


def _run_plan(session: _Session, plan: list[Step], result: NotebookResult) -> None:
    """Execute the plan's cells, grading each exercise at its step; note failures of cells outside the exercises."""
    problems: dict[str, list[tuple[str, str]]] = {}
    for step in plan:
        if step.exercise is not None:
            grade = Grade(result.student, result.notebook, step.exercise.name, 0, title=step.exercise.title)
            result.grades.append(_grade_exercise(session, step.exercise, problems.pop(step.exercise.name, []), grade))
            continue
        ran = session.run(step.cell.source)
        if ran.kind == "ok" or (ran.kind == "skipped" and step.region is None):
            continue
        text = _problem(step, ran, session.kernel.timeout)
        if step.region is None:
            result.notes.append(text)
        else:
            problems.setdefault(step.region.name, []).append((ran.kind, text))
    if session.lost:
        result.notes.append(f"the rest of the notebook was {session.lost}")


def grade_notebook(
    student: str,
    path: str | Path,
    course_path: str | Path,
    timeout: int = CELL_TIMEOUT_S,
    quick: bool = False,
    jobs: int = 1,
) -> NotebookResult:
    """Execute one submitted notebook in a fresh temporary folder and grade each exercise at its position.

    The checker calls come from ``course_path`` (the course notebook), never
    from the submission. Nothing is written next to the submission or in the
    repository: the kernel's working directory is a temporary folder, removed
    afterwards. ``quick``: skip what :func:`quick_plan` finds no exercise needs. ``jobs``: how many kernels grade
    at once (:func:`kernel_env` shares the cores among them).
    """
    start = time.monotonic()
    course_path = Path(course_path)
    course = nbformat.read(course_path, as_version=4)
    exercises = course_exercises(course, course_path.stem)
    result = NotebookResult(student, course_path.stem)
    try:
        submission = nbformat.read(path, as_version=4)
    except Exception as exc:  # not JSON, not a notebook: every exercise scores 0 with the reason
        result.grades = [_missing(student, e, f"could not read {Path(path).name}: {exc}") for e in exercises]
        return result
    plan = grading_plan(course, submission, exercises)
    if not {cell.get("id") for cell in submission.cells} & {cell.id for cell in course.cells}:
        result.notes.append("no cell has an id of the course notebook (not a copy from `make student`?): graded at the end")
    if quick:
        kept = quick_plan(plan, course)
        result.skipped, plan = len(plan) - len(kept), kept
    with (
        tempfile.TemporaryDirectory(prefix="flowerkit-grade-", ignore_cleanup_errors=True) as folder,
        _Session(Path(folder), timeout, kernel_env(jobs)) as session,
    ):
        _run_plan(session, plan, result)
    result.seconds = time.monotonic() - start
    return result


def _missing(student: str, exercise: Exercise, why: str) -> Grade:
    return Grade(student, exercise.notebook, exercise.name, 0, feedback=f"Not graded: {why}.", title=exercise.title)


# ------------------------------------------------------------------ all submissions, and what is written


def find_submissions(folder: str | Path, courses: list[Path]) -> dict[str, dict[str, Path]]:
    """Map each student (a sub-folder of ``folder``) to their notebooks, keyed by course notebook name.

    A file is matched to a course notebook by its number (``01_access (1).ipynb``
    is notebook 01); the course's exact file name wins if there are several.
    """
    by_number = {course.name[:2]: course for course in courses}
    found: dict[str, dict[str, Path]] = {}
    for student in sorted(p for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith(".")):
        mine: dict[str, Path] = {}
        for path in sorted(student.glob("[0-9][0-9]_*.ipynb")):
            course = by_number.get(path.name[:2])
            if course is not None and (course.stem not in mine or path.name == course.name):
                mine[course.stem] = path
        found[student.name] = mine
    return found


def grade_submissions(
    folder: str | Path,
    out: str | Path,
    notebooks: Iterable[str] = (),
    timeout: int = CELL_TIMEOUT_S,
    quick: bool = False,
    jobs: int = 1,
) -> list[NotebookResult]:
    """Grade every student's notebooks and write the gradebook, the feedback pages and the summary to ``out``.

    ``notebooks`` limits grading to these numbers or names (e.g. ``["00", "01"]``);
    by default every course notebook that some student handed in is graded, and
    a student who did not hand it in scores 0 on its exercises. ``jobs`` notebooks are graded at a time, each in its
    own kernel (one per core or fewer: a notebook that trains keeps a core busy); results come in the same order.
    """
    wanted = set(notebooks)
    courses = [p for p in course_notebooks() if not wanted or {p.name[:2], p.stem, p.name} & wanted]
    submissions = find_submissions(folder, courses)
    handed_in = {stem for mine in submissions.values() for stem in mine}
    courses = [p for p in courses if wanted or p.stem in handed_in]
    _check_the_checkers(courses)
    tasks = [(student, mine.get(course.stem), course) for student, mine in submissions.items() for course in courses]

    def grade(task: tuple[str, Path | None, Path]) -> NotebookResult:
        student, path, course = task
        if path is not None:
            return grade_notebook(student, path, course, timeout, quick, jobs)
        exercises = course_exercises(nbformat.read(course, as_version=4), course.stem)
        return NotebookResult(student, course.stem, [_missing(student, e, f"no {course.name} handed in") for e in exercises])

    results = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # each grade runs its own kernel process
        for result in pool.map(grade, tasks):
            score = sum(g.score for g in result.grades)
            skipped = f", {result.skipped} unchanged course cells skipped" if result.skipped else ""
            print(
                f"{result.student}/{result.notebook}: {score} of {len(result.grades)} in {result.seconds:.1f} s{skipped}",
                flush=True,
            )
            results.append(result)
    write_reports(results, out)
    return results


def _check_the_checkers(courses: list[Path]) -> None:
    """Fail before grading anyone if the course's checkers do not import or lack one a notebook calls.

    That would be the checkout's fault, not the students': every exercise would score 0.
    """
    try:
        checkers = importlib.import_module("flowerkit.exercises")
    except Exception as exc:
        raise RuntimeError(
            f"the course's checkers do not import ({type(exc).__name__}: {exc}): fix flowerkit in this checkout, then grade"
        ) from exc
    for course in courses:
        for exercise in course_exercises(nbformat.read(course, as_version=4), course.stem):
            if not callable(getattr(checkers, exercise.checker, None)):
                raise RuntimeError(f"{course.name} calls exercises.{exercise.checker}, which flowerkit.exercises lacks")


def write_reports(results: list[NotebookResult], out: str | Path) -> None:
    """Write ``gradebook.csv``, ``summary.md`` and ``feedback/<student>.md`` to ``out``."""
    out = Path(out)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    with open(out / "gradebook.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(grade.row() for result in results for grade in result.grades)
    for student in dict.fromkeys(r.student for r in results):
        page = feedback_page(student, [r for r in results if r.student == student])
        (out / "feedback" / f"{_file_name(student)}.md").write_text(page, encoding="utf-8")
    (out / "summary.md").write_text(summary(results), encoding="utf-8")


def _file_name(student: str) -> str:
    return re.sub(r"[^\w.-]", "_", student).lstrip(".") or "student"


def _one_line(text: str, width: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def feedback_page(student: str, results: list[NotebookResult]) -> str:
    """A student's feedback page (markdown): score, feedback and hint per exercise, and notes on other cells."""
    total = sum(g.score for r in results for g in r.grades)
    possible = sum(g.max for r in results for g in r.grades)
    lines = [f"# Feedback for {student}", "", f"**Total: {total} of {possible}.**", ""]
    for result in results:
        score = sum(g.score for g in result.grades)
        lines += [f"## {result.notebook}: {score} of {len(result.grades)}", ""]
        for grade in result.grades:
            lines += [f"### {grade.label}: {grade.score} of {grade.max}", "", "```text", grade.feedback, "```"]
            lines += [f"Hint: {grade.hint}", ""] if grade.hint else [""]
        if result.notes:
            lines += ["Other cells that did not run cleanly:", ""] + [f"- {note}" for note in result.notes] + [""]
    return "\n".join(lines)


def summary(results: list[NotebookResult]) -> str:
    """The instructor's summary (markdown): per exercise, how many got it and the most common "Not yet"."""
    by_exercise: dict[tuple[str, str, str], list[Grade]] = {}
    for result in results:
        for grade in result.grades:
            by_exercise.setdefault((grade.notebook, grade.title, grade.exercise), []).append(grade)
    students = len({r.student for r in results})
    lines = [f"# Grading summary: {students} student(s)", ""]
    lines += [
        '| notebook | exercise | checker | got it | most common "Not yet" | missed for another reason |',
        "|---|---|---|---:|---|---:|",
    ]
    for (notebook, title, exercise), grades in by_exercise.items():
        not_yet = Counter(_one_line(g.feedback) for g in grades if not g.score and g.feedback.startswith("Not yet"))
        common = f"{not_yet.most_common(1)[0][0]} ({not_yet.most_common(1)[0][1]}x)" if not_yet else ""
        got, other = sum(g.score for g in grades), sum(not g.score for g in grades) - sum(not_yet.values())
        cells = [notebook, title.replace("|", "/"), exercise, f"{got} of {len(grades)}", common.replace("|", "/"), str(other)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Another reason: a cell raised, ran too long or killed the kernel, or the checker could not run (see feedback).",
    ]
    seconds = [r.seconds for r in results if r.seconds]
    if seconds:
        lines += ["", f"{len(seconds)} notebook(s) executed, {sum(seconds):.0f} s in all, {max(seconds):.0f} s the longest."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.grade SUBMISSIONS [--out DIR] [--timeout S] [--notebooks NN ...] [--quick] [--jobs N]`` (``make grade``)."""
    parser = argparse.ArgumentParser(prog="python -m tools.grade", description=main.__doc__)
    parser.add_argument("submissions", type=Path, help="a folder with one folder per student: <student>/<NN_name>.ipynb")
    parser.add_argument("--out", type=Path, default=repo_root() / "build" / "grades", help="default: build/grades")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT_S, help="seconds per cell (default: %(default)s)")
    parser.add_argument("--notebooks", nargs="*", default=[], help="only these, e.g. 00 01 (default: those handed in)")
    parser.add_argument("--quick", action="store_true", help="skip unchanged course cells that no exercise needs")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks graded at a time (default: 1; at most one per core)")
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder: give the folder that holds one folder per student")
    results = grade_submissions(args.submissions, args.out, args.notebooks, args.timeout, args.quick, args.jobs)
    print(summary(results))
    print(f"wrote {args.out / 'gradebook.csv'}, {args.out / 'summary.md'} and {args.out / 'feedback'}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
