"""The student version of a course notebook: reference solutions out, runnable stubs in.

The committed notebooks are the instructor's: each exercise is a stub cell
(code that runs, then a checker call) followed by a cell tagged ``solution``
that holds the reference answer and asserts the checker agrees. The student
version replaces every solution cell by a one-line prompt, drops the
presenter notes (see :func:`tools.strip.add_slide_metadata`) and every
output, so the stubs stay and the checkers say "not yet" until the student
answers. ``make student`` runs ``python -m tools.student build/student``.
"""

from __future__ import annotations

import argparse
import ast
import copy
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

from .cells import SOLUTION_TAG, clear_run, course_notebooks, is_presenter_notes, is_solution

__all__ = [
    "ANSWER_PROMPT",
    "MODULE_PROMPT",
    "NEXT_STEP_PROMPT",
    "STUB_MODULE_PROMPT",
    "SOLUTION_TAG",
    "answer_prompt",
    "exercise_cells",
    "exercise_slice",
    "leaked_solution_lines",
    "solution_dependents",
    "solution_lines",
    "student_version",
    "write_student_notebooks",
]

# What a student finds where the instructor's notebook has a reference solution.
ANSWER_PROMPT = "# Your turn: fill in the stub in the cell above and run it; the checker says what to fix.\n"
# Where the solution writes a module: the exercise's text gives the cell's first line.
MODULE_PROMPT = (
    "# Your turn: replace this comment with the module the exercise asks for: a cell whose first line is\n"
    "# {magic}\n"
    "# then the code. Run it; the exercise's next cell imports it.\n"
)
# Where the solution is the step after such a module (the exercise's text above says what it is).
NEXT_STEP_PROMPT = "# Your turn: the exercise's next step goes here (its text above says what); the checker says what to fix.\n"
# Where the solution rewrites a module whose stub (a cell with the same first line) is above.
STUB_MODULE_PROMPT = "# Your turn: complete the stub cell above that starts with {magic}, run it, then the checker cell.\n"


def answer_prompt(solution: str, after_module: bool, stub_modules: set[str], told: set[str]) -> str:
    """What a student finds where the instructor's notebook has the reference solution ``solution``.

    A stub to fill in above it is the usual case (:data:`ANSWER_PROMPT`); a solution that rewrites a module whose stub
    is above (``stub_modules``) names that stub (:data:`STUB_MODULE_PROMPT`). A solution that writes a module
    (``%%writefile``) that the text above asks for (``told``) and no stub above writes has no stub of its own, nor has
    the step that follows it (``after_module``): the prompt says what goes there. A module the student must think of
    unprompted keeps the usual prompt: naming it would give the answer away.
    """
    first = solution.lstrip().splitlines()[0].strip() if solution.strip() else ""
    if first.startswith("%%writefile") and first in stub_modules:
        return STUB_MODULE_PROMPT.format(magic=first)
    if first.startswith("%%writefile") and first in told:
        return MODULE_PROMPT.format(magic=first)
    return NEXT_STEP_PROMPT if after_module else ANSWER_PROMPT


def exercise_cells(nb: nbformat.NotebookNode) -> dict[str, str]:
    """Map each solution cell's id to the id of its exercise stub: the nearest code cell before it that is not a solution."""
    pairs, stub = {}, None
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if is_solution(cell):
            if stub is None:
                raise ValueError(f"solution cell {cell.get('id')} has no exercise stub cell before it")
            pairs[cell.id] = stub
        else:
            stub = cell.id
    return pairs


def student_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return a copy of ``nb`` for students: solutions replaced by a prompt, presenter notes and all outputs removed.

    Solution cells keep their id and position (so "the cell below the
    exercise" still makes sense) but lose their tags, hidden flag and any
    other metadata. A solution cell right after another one (a module, then
    the cell that checks it) is dropped where the first prompt covers both,
    so a student never meets two prompts in a row. Introduced by ``make student``; see the README.
    """
    exercise_cells(nb)  # every solution must follow a stub that runs
    out = copy.deepcopy(nb)
    cells = []
    after_module, stub_modules, told = False, set(), set()  # the code cell above a MODULE_PROMPT? modules seen above
    after_solution = False  # the code cell above is a solution's prompt that covers the exercise's next cell too
    for cell in out.cells:
        if is_presenter_notes(cell):
            continue
        clear_run(cell)
        solution = is_solution(cell)
        if solution and after_solution and not after_module:
            continue
        if solution:
            cell.cell_type = "code"
            cell.source = answer_prompt(cell.source, after_module, stub_modules, told).rstrip("\n")
            slideshow = cell.metadata.get("slideshow")
            cell.metadata = nbformat.NotebookNode({"slideshow": slideshow} if slideshow else {})
            cell.pop("attachments", None)
        elif cell.cell_type == "code" and cell.source.startswith("%%writefile"):
            stub_modules.add(cell.source.splitlines()[0].strip())
        elif cell.cell_type == "markdown":
            told |= {line.strip() for line in cell.source.splitlines() if line.strip().startswith("%%writefile")}
        if cell.cell_type == "code":
            after_module = solution and cell.source.startswith(MODULE_PROMPT[:40])
            after_solution = solution
        cells.append(cell)
    out.cells = cells
    out.metadata.pop("widgets", None)
    return out


# ------------------------------------------------------------------ checking that no solution survives


def solution_lines(nb: nbformat.NotebookNode) -> dict[str, set[str]]:
    """For each solution cell id, the lines only the solution has: stripped, no blanks, comments or bare brackets, none shown elsewhere."""
    shown = {line.strip() for c in nb.cells if not is_solution(c) for line in c.source.splitlines()}
    lines = {}
    for cell in nb.cells:
        if is_solution(cell):
            own = {line.strip() for line in cell.source.splitlines()}
            lines[cell.id] = {line for line in own - shown if any(ch.isalnum() for ch in line) and not line.startswith("#")}
    return lines


# A solution line this long is distinctive enough to be searched inside other lines (tracebacks, reprs);
# shorter ones ("dataset,", "shuffle=True,") are only leaks where they stand as a line of their own.
DISTINCTIVE = 24


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _strings(value)


def leaked_solution_lines(course: nbformat.NotebookNode, student: nbformat.NotebookNode) -> list[str]:
    """Solution lines of ``course`` found anywhere in ``student``: sources, outputs, attachments, cell or notebook metadata."""
    text = "\n".join(_strings(student))
    lines = {line.strip() for line in text.splitlines()}
    return sorted(
        {
            line
            for found in solution_lines(course).values()
            for line in found
            if line in lines or (len(line) >= DISTINCTIVE and line in text)
        }
    )


# ------------------------------------------------------------------ checking that the student version still runs


def _python(source: str) -> tuple[ast.Module, str] | None:
    """Parse a cell as IPython runs it (magics become calls); return the tree and the source it was parsed from."""
    python = TransformerManager().transform_cell(source)
    try:
        return ast.parse(python), python
    except SyntaxError:
        return None


_SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


def _this_scope(node: ast.AST) -> Iterator[ast.AST]:
    """Walk a statement without entering the bodies of functions, classes, lambdas and comprehensions (their own scopes)."""
    yield node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, _SCOPES):
            yield child
        else:
            yield from _this_scope(child)


def _binds(stmt: ast.stmt, modules: set[str] = frozenset()) -> tuple[set[str], set[str]]:
    """(names a statement may change, names it certainly rebinds): assignments, defs, imports, and x.attr = / x[k] = / x.method(...).

    Calls on ``modules`` (``torch.manual_seed(0)``) are not counted as changing the module.
    """
    changed: set[str] = set()
    for node in _this_scope(stmt):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            changed.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            changed.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            changed.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            changed |= _base_name(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            changed |= _base_name(node.func) - modules  # e.g. steps.append(...) may change steps
            changed |= _written_module(node)
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        changed -= _locals(stmt)  # the body changes module names once called; its own names are not among them
    certain: set[str] = set()
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        certain = {t.id for t in targets if isinstance(t, ast.Name)}
    elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        certain = {stmt.name}
    return changed, certain


def _locals(func: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """A function's own names: its parameters and what its body binds, less what it declares ``global``."""
    args = func.args
    params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a is not None}
    body = [node for stmt in func.body for node in _this_scope(stmt)]
    bound = {n.id for n in body if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    declared = {name for n in body if isinstance(n, (ast.Global, ast.Nonlocal)) for name in n.names}
    return (params | bound) - declared - {func.name}


def _written_module(call: ast.Call) -> set[str]:
    """``%%writefile name.py`` (``run_cell_magic('writefile', 'name.py', ...)``) changes the module ``name`` a later cell imports."""
    args = call.args
    if (
        isinstance(call.func, ast.Attribute)
        and call.func.attr == "run_cell_magic"
        and len(args) >= 2
        and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args[:2])
        and args[0].value == "writefile"
    ):
        target = Path(args[1].value.split()[-1])
        if target.suffix == ".py":
            return {target.stem}
    return set()


def _base_name(node: ast.AST) -> set[str]:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return {node.id} if isinstance(node, ast.Name) else set()


def _modules(trees: list[ast.Module]) -> set[str]:
    """Names bound by import statements anywhere in the notebook."""
    return {
        (a.asname or a.name).split(".")[0]
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for a in node.names
    }


def _reads(tree: ast.AST) -> set[str]:
    """Every name a statement reads, inside nested functions too (they read globals when called)."""
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _parsed(cells: list[nbformat.NotebookNode]) -> dict[str, tuple[ast.Module, str]]:
    parsed = {}
    for cell in cells:
        result = _python(cell.source)
        if result is None:
            raise ValueError(f"cell {cell.get('id')} is not Python that can be analysed")
        parsed[cell.id] = result
    return parsed


def solution_dependents(nb: nbformat.NotebookNode) -> list[str]:
    """Cells that read a name a solution cell binds, other than exercise stubs: in the student version they would see the stub's value.

    An empty list means the student version differs from the course notebook
    only in the exercise cells, so everything else runs exactly as CI runs it.
    """
    stubs = set(exercise_cells(nb).values())
    code = [c for c in nb.cells if c.cell_type == "code"]
    parsed = _parsed(code)
    modules = _modules([tree for tree, _ in parsed.values()])
    problems, bound = [], {}
    for cell in code:
        tree = parsed[cell.id][0]
        if is_solution(cell):
            for stmt in tree.body:
                bound.update(dict.fromkeys(_binds(stmt, modules)[0], cell.id))
        elif cell.id not in stubs:
            problems += [
                f"cell {cell.id} reads {name!r}, which solution cell {bound[name]} defines"
                for name in sorted(_reads(tree) & set(bound))
            ]
    return problems


def exercise_slice(course: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version cut down to what its exercises need: the setup cell, the statements the stubs depend on, the exercise cells.

    A backward slice over top-level statements: walking up from the last
    exercise cell, a statement is kept if it may change a name that a kept
    statement reads. Figures, timings and training that the exercises do not
    read are left out, so the exercises of a slow notebook run in seconds.
    The setup and exercise cells are kept whole, with their ids; cut-down
    cells get ``<id>-slice``.
    """
    student = student_version(course)
    pairs = exercise_cells(course)
    targets = set(pairs) | set(pairs.values())
    code = [c for c in student.cells if c.cell_type == "code"]
    parsed = _parsed(code)
    modules = _modules([tree for tree, _ in parsed.values()])
    setup = code[0].id if code else None
    needed: set[str] = set()
    kept: dict[str, str] = {}
    for cell in reversed(code):
        tree, python = parsed[cell.id]
        if cell.id in targets or cell.id == setup:
            kept[cell.id] = cell.source
            needed |= _reads(tree)
            continue
        chosen = []
        for stmt in reversed(tree.body):
            changed, certain = _binds(stmt, modules)
            if changed & needed:
                chosen.append(ast.get_source_segment(python, stmt) or ast.unparse(stmt))
                needed = (needed - certain) | _reads(stmt)
        if chosen:
            kept[cell.id] = "\n".join(chosen[::-1])
    whole = targets | {setup}
    cells = [nbformat.v4.new_code_cell(kept[c.id], id=c.id if c.id in whole else f"{c.id}-slice") for c in code if c.id in kept]
    return nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(course.metadata))


def write_student_notebooks(out: str | Path, paths: Iterable[str | Path] | None = None) -> list[Path]:
    """Write the student version of each course notebook to ``out``; fail if any solution line survives.

    ``make student`` writes them to ``build/student``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in map(Path, paths or course_notebooks()):
        course = nbformat.read(path, as_version=4)
        student = student_version(course)
        leaked = leaked_solution_lines(course, student)
        if leaked:
            raise RuntimeError(f"{path.name}: solution lines survive in the student version: {leaked}")
        nbformat.validate(student)
        target = out / path.name
        nbformat.write(student, target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.student OUT_DIR [NOTEBOOK...]``: write the student versions (``make student``)."""
    parser = argparse.ArgumentParser(prog="python -m tools.student", description=main.__doc__)
    parser.add_argument("out", type=Path, help="output folder, e.g. build/student")
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: all course notebooks)")
    args = parser.parse_args(argv)
    for path in write_student_notebooks(args.out, args.paths or None):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
