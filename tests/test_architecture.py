"""The package's shape: imports run one way, one home per fact, short functions, a notebook named for every public object.

These are the rules of the architecture issue, checked on the source so that
drift fails CI instead of accumulating.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "flowerkit"
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in {"__init__", "__main__"})
NOTEBOOK = re.compile(r"notebooks? ``?\d\d_\w+", re.I)
MAX_FUNCTION_LINES = 50
# Imports that stay inside a function, each for a reason written next to it in the source.
LOCAL_IMPORTS_ALLOWED = {"fcntl"}


def _tree(module: str) -> ast.Module:
    return ast.parse((PACKAGE / f"{module}.py").read_text())


def _package_imports(module: str) -> set[str]:
    """The flowerkit modules that ``module`` imports (relative or absolute), anywhere in the file."""
    found = set()
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:
                found.update(a.name for a in node.names)
            elif node.module and node.module.startswith("flowerkit."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("flowerkit."))
    return found & set(MODULES)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in ``graph`` as a path, or None."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_inside_the_package() -> None:
    graph = {m: _package_imports(m) for m in MODULES}
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"


def test_facts_and_paths_import_nothing_from_the_package() -> None:
    assert _package_imports("facts") == set()
    assert _package_imports("paths") == set()


def test_imports_sit_at_the_top_of_each_module() -> None:
    hidden = []
    for module in MODULES:
        for fn in ast.walk(_tree(module)):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    names = (
                        {a.name for a in node.names} | {node.module or ""}
                        if isinstance(node, ast.ImportFrom)
                        else {a.name for a in node.names}
                    )
                    if not names & LOCAL_IMPORTS_ALLOWED:
                        hidden.append(f"{module}.{fn.name} line {node.lineno}")
    assert hidden == [], f"imports inside functions (move them to the top): {hidden}"


def test_functions_are_short() -> None:
    long = []
    for module in MODULES:
        for node in ast.walk(_tree(module)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {n} lines")
    assert long == [], f"functions over {MAX_FUNCTION_LINES} lines (split them, one job each): {long}"


def _public_objects() -> list[tuple[str, str, object]]:
    objects = []
    for module in MODULES:
        mod = importlib.import_module(f"flowerkit.{module}")
        names = set(getattr(mod, "__all__", [])) | {n for n in vars(mod) if not n.startswith("_")}  # exported or not
        for name in sorted(names):
            obj = getattr(mod, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                if getattr(obj, "__module__", None) == mod.__name__:
                    objects.append((module, name, obj))
    return objects


def test_every_module_declares_its_public_names() -> None:
    missing = [m for m in MODULES if not hasattr(importlib.import_module(f"flowerkit.{m}"), "__all__")]
    assert missing == []


def test_every_public_object_names_the_notebook_that_introduces_it() -> None:
    """Like d2l's library: each function's docstring points back to where the course teaches it."""
    silent = []
    for module, name, obj in _public_objects():
        doc = inspect.getdoc(obj) or ""
        module_doc = importlib.import_module(f"flowerkit.{module}").__doc__ or ""
        if not NOTEBOOK.search(doc) and not (inspect.isclass(obj) and NOTEBOOK.search(module_doc) and NOTEBOOK.search(doc)):
            silent.append(f"{module}.{name}")
    assert silent == [], f"public objects whose docstring names no notebook: {silent}"


def test_every_module_names_its_notebook() -> None:
    silent = [m for m in MODULES if not NOTEBOOK.search(importlib.import_module(f"flowerkit.{m}").__doc__ or "")]
    assert silent == []


@pytest.mark.parametrize("module", ["viz", "widgets", "teams", "doctor"])
def test_importing_changes_no_global_state(module: str) -> None:
    """Importing a module must not restyle matplotlib: the setup cell calls viz.use_course_style()."""
    code = (
        "import matplotlib as mpl; before = dict(mpl.rcParams); "
        f"import flowerkit.{module}; "
        "changed = [k for k, v in mpl.rcParams.items() if before[k] != v]; print(changed)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.strip() == "[]"


def test_the_package_imports_without_the_course_tools() -> None:
    """flowerkit never needs nbformat (a tools/ dependency): a plain `pip install flowerkit` works."""
    code = (
        "import sys; sys.modules['nbformat'] = None; sys.modules['nbconvert'] = None\n"
        "import importlib, pkgutil, flowerkit\n"
        "for m in pkgutil.iter_modules(flowerkit.__path__):\n"
        "    if m.name != '__main__': importlib.import_module('flowerkit.' + m.name)\n"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "ok", out.stderr


def test_no_fact_is_typed_twice() -> None:
    """The folder name, ImageNet statistics and the class count live in flowerkit.facts only."""
    patterns = {
        '"flowers-102"': re.compile(r"[\"']flowers-102[\"']"),
        "ImageNet mean": re.compile(r"0\.485,\s*0\.456"),
        "sched_getaffinity": re.compile(r"sched_getaffinity"),
        "NUM_CLASSES =": re.compile(r"^NUM_CLASSES\s*[:=]", re.M),
        "a class count of 102 as a default": re.compile(r"(num_classes|NUM_CLASSES)[^=\n]*=\s*102\b"),
        "a setid.mat variable as a key": re.compile(r"[\"'](trnid|valid|tstid)[\"']\s*[:\]]"),
        "an md5 helper": re.compile(r"hashlib\.md5\("),
    }
    typed = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.stem == "facts":
            continue
        text = path.read_text()
        typed += [f"{path.name}: {what}" for what, rx in patterns.items() if rx.search(text)]
    assert typed == [], f"facts typed outside flowerkit/facts.py: {typed}"
