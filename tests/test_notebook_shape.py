"""Every course notebook follows the course shape, and keeps what DataLoader workers need out of the notebook."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from tools.cells import course_notebooks

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = course_notebooks(REPO / "notebooks")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_course_shape(path):
    nb = nbformat.read(path, as_version=4)
    headings = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines() if line.startswith("#")]
    text = "\n".join(headings).lower()
    for section in ("what you will learn", "setup", "exercises", "recap"):
        assert section in text, f"{path.name} has no '{section}' heading"
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert any("DATASET" in src and "dataset_root" in src for src in code), f"{path.name}: no setup cell choosing DATASET"


_DATASET_CLASS = re.compile(r"^\s*class\s+(\w+)\s*\([^)]*Dataset[^)]*\)", re.M)
_WORKERS = re.compile(r"num_workers\s*=\s*(?!0\b)")
_DEF = re.compile(r"^def\s+(\w+)", re.M)  # a notebook's own top-level functions
_HANDED = re.compile(r"\b(?:collate_fn|worker_init_fn)\s*=\s*(\w+)\b(?!\.)")  # a function handed to a DataLoader by name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_defines_no_collate_or_worker_init_and_gives_no_notebook_dataset_to_workers(path):
    # Classes and functions defined in a notebook cannot be pickled into spawn/forkserver workers. A student's own
    # Dataset class may live in a notebook (notebook 01 teaches it), but only with num_workers=0; a class written to a
    # module with %%writefile and imported (my_flowers.FlowersDataset) is importable by name, so workers may use it.
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    in_notebook = [src for src in code if not src.lstrip().startswith("%%writefile")]
    helpers = re.compile(r"^\s*def\s+(collate_fn|worker_init_fn)\b", re.M)
    offenders = [src for src in in_notebook if helpers.search(src)]
    assert not offenders, f"{path.name} defines a collate_fn/worker_init_fn; move it to flowerkit"
    functions = {name for src in in_notebook for name in _DEF.findall(src)}
    passed = [(name, src) for src in code for name in _HANDED.findall(src) if name in functions and _WORKERS.search(src)]
    assert not passed, f"{path.name}: a function defined in the notebook goes to workers (collate_fn/worker_init_fn): {passed}"
    classes = {name for src in in_notebook for name in _DATASET_CLASS.findall(src)}
    for name in classes:
        bare = re.compile(rf"(?<![.\w]){name}\b")
        given = [src for src in code if bare.search(src) and _WORKERS.search(src) and not _DATASET_CLASS.search(src)]
        assert not given, f"{path.name}: the notebook's class {name} is used in a cell with num_workers > 0: {given}"


def test_the_notebook_function_rule_catches_any_name_handed_to_workers():
    cell = "def pad_collate(batch): ...\nloader = DataLoader(ds, num_workers=2, collate_fn=pad_collate, timeout=60)"
    assert _DEF.findall(cell) == ["pad_collate"] and _HANDED.findall(cell) == ["pad_collate"] and _WORKERS.search(cell)
    assert _HANDED.findall("DataLoader(ds, collate_fn=curate.pad_collate)") == []  # a module's function: importable


def test_the_notebook_dataset_rule_tells_a_module_class_from_a_notebook_class():
    notebook_class = "loader = DataLoader(FlowersDataset(ROOT), num_workers=2)"
    module_class = "loader = DataLoader(my_flowers.FlowersDataset(ROOT), num_workers=2)"
    bare = re.compile(r"(?<![.\w])FlowersDataset\b")
    assert bare.search(notebook_class) and _WORKERS.search(notebook_class)
    assert not bare.search(module_class)
    assert not _WORKERS.search("DataLoader(FlowersDataset(ROOT), num_workers=0)")


def _loaders_with_workers_and_no_timeout(source: str) -> list[str]:
    """The ``DataLoader(...)`` calls in a cell's code whose ``num_workers`` may be above 0 and that set no ``timeout``."""
    import ast

    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    found = []
    for node in ast.walk(ast.parse(code)):
        name = getattr(node, "func", None)
        if not isinstance(node, ast.Call) or getattr(name, "id", getattr(name, "attr", None)) != "DataLoader":
            continue
        keywords = {k.arg: k.value for k in node.keywords}
        workers = keywords.get("num_workers")
        if workers is None or (isinstance(workers, ast.Constant) and workers.value == 0):
            continue
        if "timeout" not in keywords and None not in keywords:  # None: a **kwargs that may carry it
            found.append(ast.unparse(node))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_loader_a_notebook_starts_with_workers_has_a_timeout(path):
    # DESIGN: a worker that hangs (a stalled read, a lock taken before fork) must end as an error, not a frozen kernel
    nb = nbformat.read(path, as_version=4)
    found = [
        (i, call)
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for call in _loaders_with_workers_and_no_timeout(c.source)
    ]
    assert not found, f"{path.name}: DataLoader with workers and no timeout= in cells {found}"


def test_the_timeout_rule_sees_a_missing_timeout():
    assert _loaders_with_workers_and_no_timeout("x = DataLoader(ds, num_workers=WORKERS)")
    assert not _loaders_with_workers_and_no_timeout("x = DataLoader(ds, num_workers=WORKERS, timeout=60)")
    assert not _loaders_with_workers_and_no_timeout("%%time\nx = DataLoader(ds, num_workers=0)")


def test_what_a_notebook_writes_next_to_itself_is_git_ignored():
    # notebook 01 writes the student's module with %%writefile: a run must leave `git status` clean
    written = [
        m.group(1)
        for path in NOTEBOOKS
        for c in nbformat.read(path, as_version=4).cells
        if c.cell_type == "code" and (m := re.match(r"\s*%%writefile\s+(?:-a\s+)?(\S+)", c.source))
    ]
    assert written, "no notebook writes a file (notebook 01 should write my_flowers.py)"
    for name in written:
        target = (REPO / "notebooks" / name).relative_to(REPO)
        result = subprocess.run(["git", "check-ignore", "-q", str(target)], cwd=REPO)
        assert result.returncode == 0, f"{target} is written by a notebook but not git-ignored"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_cell_that_says_solution_is_tagged_solution(path):
    """The tag, not the comment, is what the student copy, the slides and the grader go by: a "# solution" cell without
    it would reach students answered; a tagged cell without the comment would not say what it is to a reader."""
    for k, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "code":
            continue
        lines = [line for line in cell.source.splitlines() if not line.startswith("%%writefile")]
        says = bool(lines) and lines[0].startswith("# solution")
        tagged = "solution" in cell.metadata.get("tags", [])
        assert says == tagged, f"{path.name} cell {k}: says solution {says}, tagged {tagged}"


def _deleted_but_not_made_here(source: str) -> set[str]:
    """Names a cell deletes (``del x``) without assigning them itself: rerun, the cell meets a NameError."""
    import ast

    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(code)
    except SyntaxError:  # a stub with `...` parses; anything else is not this rule's business
        return set()
    deleted = {t.id for node in ast.walk(tree) if isinstance(node, ast.Delete) for t in node.targets if isinstance(t, ast.Name)}
    made = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return deleted - made


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_cell_can_be_run_twice_without_losing_a_name_it_deletes(path):
    """A student reruns cells; a cell that deletes a name made by another cell fails the second time (NameError)."""
    nb = nbformat.read(path, as_version=4)
    unsafe = {c.get("id"): sorted(_deleted_but_not_made_here(c.source)) for c in nb.cells if c.cell_type == "code"}
    assert not {k: v for k, v in unsafe.items() if v}, f"{path.name}: rebind to None instead of del"


def test_the_rerun_rule_sees_a_deleted_name_from_another_cell():
    assert _deleted_but_not_made_here("x = records[0]\ndel records") == {"records"}
    assert _deleted_but_not_made_here("out = open_map()\ndel out") == set()
