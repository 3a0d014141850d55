"""The package's shape: imports run one way, one home per fact, short functions, a true notebook pointer for every public object.

These are the rules of the architecture issue, checked on the source so that
drift fails CI instead of accumulating. Every rule walks the sub-packages too
(``exercises.nb01``, ``teams.quality``, ``app.server``): a module is named by its
dotted path under ``flowerkit``, and a package's ``__init__`` by the package's name.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import io
import json
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "flowerkit"
NOTEBOOKS = REPO / "notebooks"
NOTEBOOK = re.compile(r"notebooks?\s+``?(\d\d_\w+)", re.I)
INTRODUCED = re.compile(r"introduced\s+in\s+notebooks?\s+``?(\d\d_\w+)", re.I)
MAX_FUNCTION_LINES = 50
# Imports that stay inside a function, each for a reason written next to it in the source.
LOCAL_IMPORTS_ALLOWED = {"fcntl"}
# Folders whose Python files the one-home-per-fact rules read (the package, the course tools, the benchmarks).
SCANNED = ("flowerkit", "tools", "benchmarks")


def _modules() -> dict[str, Path]:
    """Every module of the package, as Python imports it: dotted name under flowerkit -> file.

    ``exercises`` is ``exercises/__init__.py`` when that package exists (a package shadows a module of the same
    name), else ``exercises.py``; a folder without ``__init__.py`` is a namespace package unless a module of the
    same name shadows it. ``__main__`` files are named too (``teams.__main__``); the root ``__init__`` is not.
    """
    found: dict[str, Path] = {}

    def walk(folder: Path, prefix: str) -> None:
        files = {p.stem: p for p in folder.glob("*.py") if p.stem != "__init__"}
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isidentifier()):
            init = sub / "__init__.py"
            if init.is_file():
                found[prefix + sub.name] = init
                files.pop(sub.name, None)
                walk(sub, f"{prefix}{sub.name}.")
            elif sub.name not in files and any(sub.glob("*.py")):
                walk(sub, f"{prefix}{sub.name}.")
        for stem, path in sorted(files.items()):
            found[prefix + stem] = path

    walk(PACKAGE, "")
    return dict(sorted(found.items()))


MODULES = _modules()
# What ``import flowerkit.<name>`` may run: every module but the ``__main__`` scripts.
IMPORTABLE = [m for m in MODULES if m.rpartition(".")[2] != "__main__"]


@functools.cache
def _tree(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text())


def _package_of(module: str) -> str:
    """The package a relative import in ``module`` starts from ("" for flowerkit itself)."""
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _import_base(node: ast.ImportFrom, module: str) -> str | None:
    """The dotted name under flowerkit that ``from <base> import ...`` reads, or None outside the package."""
    if node.level:
        parts = _package_of(module).split(".") if _package_of(module) else []
        if node.level - 1 > len(parts):
            return None
        parts = parts[: len(parts) - (node.level - 1)]
        return ".".join([*parts, node.module] if node.module else parts)
    if node.module == "flowerkit":
        return ""
    if node.module and node.module.startswith("flowerkit."):
        return node.module.removeprefix("flowerkit.")
    return None


def _package_imports(module: str) -> set[str]:
    """The flowerkit modules that ``module`` imports (relative or absolute), anywhere in the file."""
    found = set()
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.ImportFrom) and (base := _import_base(node, module)) is not None:
            for alias in node.names:
                name = f"{base}.{alias.name}" if base else alias.name
                found.add(name if name in MODULES else base)  # a module by name, else the module the name lives in
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("flowerkit.") for a in node.names if a.name.startswith("flowerkit."))
    return (found & set(MODULES)) - {module}


def _graph() -> dict[str, set[str]]:
    return {m: _package_imports(m) for m in MODULES}


def _top_level_graph() -> dict[str, set[str]]:
    """The import graph between top-level modules and packages: ``teams.quality -> doctor`` counts as ``teams -> doctor``."""
    top: dict[str, set[str]] = {}
    for module, imported in _graph().items():
        head = module.split(".")[0]
        top.setdefault(head, set()).update(m.split(".")[0] for m in imported)
    return {m: deps - {m} for m, deps in top.items()}


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


def test_the_module_walk_sees_both_layouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A module, a package beside its old module (the package wins), a namespace folder and a ``__main__``."""
    for name in ("a.py", "b.py", "b/__init__.py", "b/c.py", "b/__main__.py", "d/e.py", "f/__init__.py", "__init__.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    assert _modules() == {
        "a": tmp_path / "a.py",
        "b": tmp_path / "b" / "__init__.py",
        "b.__main__": tmp_path / "b" / "__main__.py",
        "b.c": tmp_path / "b" / "c.py",
        "d.e": tmp_path / "d" / "e.py",
        "f": tmp_path / "f" / "__init__.py",
    }


def test_imports_resolve_to_modules_inside_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative imports from a sub-package name the sibling, the parent's module or the package itself."""
    sources = {
        "load": "from .facts import X",
        "facts": "",
        "exercises": "from .nb01 import check\nfrom .verdict import Verdict",
        "exercises.nb01": "from . import verdict\nfrom .. import load\nfrom ..facts import X\nfrom flowerkit.exercises import V",
        "exercises.verdict": "import flowerkit.facts",
    }
    monkeypatch.setattr(
        sys.modules[__name__], "MODULES", {m: Path(f"{m}.py") for m in sources} | {"exercises": Path("__init__.py")}
    )
    monkeypatch.setattr(sys.modules[__name__], "_tree", lambda m: ast.parse(sources[m]))
    assert _package_imports("exercises.nb01") == {"exercises.verdict", "load", "facts", "exercises"}
    assert _package_imports("exercises") == {"exercises.nb01", "exercises.verdict"}
    assert _package_imports("exercises.verdict") == {"facts"}
    assert _cycle(_graph()) == ["exercises", "exercises.nb01", "exercises"]  # nb01 imports its own package's __init__
    assert _top_level_graph() == {"load": {"facts"}, "facts": set(), "exercises": {"load", "facts"}}


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_between_top_level_modules() -> None:
    graph = _top_level_graph()
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"


def test_no_import_cycles_between_modules_inside_packages() -> None:
    graph = _graph()
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


def _function_lengths() -> list[tuple[int, str]]:
    """(lines, "module.function") of every function and method, longest first."""
    lengths = [
        (node.end_lineno - node.lineno + 1, f"{module}.{node.name}")
        for module in MODULES
        for node in ast.walk(_tree(module))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    return sorted(lengths, reverse=True)


def test_functions_are_short() -> None:
    long = [f"{name}: {n} lines" for n, name in _function_lengths() if n > MAX_FUNCTION_LINES]
    assert long == [], f"functions over {MAX_FUNCTION_LINES} lines (split them, one job each): {long}"


def _only_reexports(module: str) -> bool:
    """A package ``__init__`` whose body is a docstring, imports and ``__all__``: it defines nothing of its own."""
    if MODULES[module].name != "__init__.py":
        return False
    for node in _tree(module).body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if targets and all(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            continue
        return False
    return True


def _public_objects() -> list[tuple[str, str, object]]:
    """(module, name, object) of every function and class a module defines under a public name."""
    objects = []
    for module in IMPORTABLE:
        mod = importlib.import_module(f"flowerkit.{module}")
        names = set(getattr(mod, "__all__", [])) | {n for n in vars(mod) if not n.startswith("_")}  # exported or not
        for name in sorted(names):
            obj = getattr(mod, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                if getattr(obj, "__module__", None) == mod.__name__:
                    objects.append((module, name, obj))
    return objects


def test_every_module_declares_its_public_names() -> None:
    missing = [m for m in IMPORTABLE if not hasattr(importlib.import_module(f"flowerkit.{m}"), "__all__")]
    assert missing == []


def test_every_public_object_names_the_notebook_that_introduces_it() -> None:
    """Like d2l's library: each function's docstring points back to where the course teaches it."""
    silent = [f"{module}.{name}" for module, name, obj in _public_objects() if not NOTEBOOK.search(inspect.getdoc(obj) or "")]
    assert silent == [], f"public objects whose docstring names no notebook: {silent}"


def test_every_module_names_its_notebook() -> None:
    """A package ``__init__`` that only re-exports its modules' names is exempt: each of its modules names its own."""
    silent = [
        m
        for m in IMPORTABLE
        if not _only_reexports(m) and not NOTEBOOK.search(importlib.import_module(f"flowerkit.{m}").__doc__ or "")
    ]
    assert silent == []


@functools.cache
def _notebook_text(stem: str) -> str | None:
    """Every cell of ``notebooks/<stem>.ipynb`` (code and markdown) as one text, or None if there is no such notebook."""
    path = NOTEBOOKS / f"{stem}.ipynb"
    if not path.is_file():
        return None
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells)


def _pointer(doc: str) -> str | None:
    """The notebook a docstring points to: the one it says introduces the object, else the first it names."""
    found = INTRODUCED.search(doc) or NOTEBOOK.search(doc)
    return found.group(1) if found else None


def _mentions(stem: str, name: str) -> bool:
    text = _notebook_text(stem)
    return text is not None and re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", text) is not None


def _false_pointers() -> list[str]:
    false = []
    stems = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    for module, name, obj in _public_objects():
        stem = _pointer(inspect.getdoc(obj) or "")
        if stem is not None and not _mentions(stem, name):
            used = [s for s in stems if _mentions(s, name)]
            where = f"used in {', '.join(used)}" if used else "no notebook uses it: make it private (_name)"
            false.append(f"{module}.{name} -> {stem} ({where})")
    return false


def test_the_pointer_is_the_notebook_that_introduces_the_object() -> None:
    assert _pointer("Decode it (notebook ``03_load``).\nIntroduced in\nnotebook ``01_access``.") == "01_access"
    assert _pointer("Used by notebook ``04_three_teams``.") == "04_three_teams"
    assert _pointer("No pointer.") is None


def test_every_notebook_pointer_is_true() -> None:
    """The notebook a public object's docstring names mentions the object (in a code or a markdown cell).

    A pointer to a notebook that never shows the object sends a student to the wrong place: point to the notebook
    that uses it, or, if no notebook does, make it private (``_name``); a notebook never uses a private name.
    """
    false = _false_pointers()
    assert false == [], f"{len(false)} docstrings point to a notebook that does not mention the object: {false}"


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
        "import importlib\n"
        f"for m in {IMPORTABLE!r}:\n"
        "    importlib.import_module('flowerkit.' + m)\n"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "ok", out.stderr


# ------------------------------------------------------------------------------------------------------------------
# One home per fact: what a pattern finds is allowed in its home file only (docstrings and comments are not read).
# ------------------------------------------------------------------------------------------------------------------

FACTS_HOME = "flowerkit/facts.py"
FACT_PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    '"flowers-102"': (re.compile(r"[\"']flowers-102[\"']"), FACTS_HOME),
    "ImageNet mean": (re.compile(r"0\.485,\s*0\.456"), FACTS_HOME),
    "sched_getaffinity (facts.cpu_count)": (re.compile(r"sched_getaffinity"), FACTS_HOME),
    "NUM_CLASSES =": (re.compile(r"^NUM_CLASSES\s*[:=]", re.M), FACTS_HOME),
    "a class count of 102 as a default": (re.compile(r"(num_classes|NUM_CLASSES)[^=\n]*=\s*102\b"), FACTS_HOME),
    "a setid.mat variable as a key or an item (facts.SPLIT_VARIABLES)": (
        re.compile(r"[\"'](trnid|valid|tstid)[\"']\s*[:\]]|[\"'](trnid|tstid)[\"']\s*[,)]"),  # "valid" alone is a common word
        FACTS_HOME,
    ),
    "an md5 helper": (re.compile(r"hashlib\.md5\("), FACTS_HOME),
    "the default image size 64 (facts.DEFAULT_SIZE)": (
        re.compile(r"\b(?:image_)?size\s*(?::\s*int\s*)?=\s*64\b|[\"']--size[\"'][^)\n]*\bdefault\s*=\s*64\b", re.I),
        FACTS_HOME,
    ),
    "the image file-name template (facts.IMAGE_NAME)": (re.compile(r"image_\{[^}]*05d\}|image_%05d"), FACTS_HOME),
    "a .mat file name (facts.LABELS_FILE, facts.SETID_FILE)": (re.compile(r"[\"'](imagelabels|setid)\.mat[\"']"), FACTS_HOME),
    "reading $FLOWERKIT_DATASET (config.default_dataset)": (
        re.compile(
            r"(environ\.get|getenv)\(\s*[\"']FLOWERKIT_DATASET[\"']|environ\[\s*[\"']FLOWERKIT_DATASET[\"']\s*\](?!\s*=[^=])"
        ),
        "flowerkit/config.py",
    ),
    "a MATLAB file writer (synth._mat_bytes)": (re.compile(r"\bsavemat\("), "flowerkit/synth.py"),
}
HAND_WRITTEN_CHOICE = re.compile(r"raise\s+\w+\(\s*f?[\"'][^\n]*\bone of\b")


def _scanned_files() -> list[Path]:
    return sorted(p for folder in SCANNED for p in (REPO / folder).rglob("*.py") if "__pycache__" not in p.parts)


@functools.cache
def _code(path: Path) -> str:
    """The file with its comments and docstrings blanked (same lines and columns): what the code itself types."""
    source = path.read_text()
    lines = source.splitlines(keepends=True)
    docstrings = {
        (node.body[0].value.lineno, node.body[0].value.col_offset)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
        and isinstance(node.body[0].value.value, str)
    }
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT or (tok.type == tokenize.STRING and tok.start in docstrings):
            (r0, c0), (r1, c1) = tok.start, tok.end
            for r in range(r0, r1 + 1):
                line = lines[r - 1]
                start, end = (c0 if r == r0 else 0), (c1 if r == r1 else len(line.rstrip("\n")))
                lines[r - 1] = line[:start] + " " * (end - start) + line[end:]
    return "".join(lines)


def _findings(patterns: dict[str, tuple[re.Pattern[str], str | None]]) -> list[str]:
    found = []
    for path in _scanned_files():
        rel = path.relative_to(REPO).as_posix()
        text = _code(path)
        for what, (rx, home) in patterns.items():
            if rel != home:
                found += [f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: {what}" for m in rx.finditer(text)]
    return found


def test_the_code_reader_skips_docstrings_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "x.py"
    path.write_text(
        '"""image_{i:05d}.jpg"""\n\ndef f(size: int = 64):  # size=64\n    """size=64"""\n    return "image_{:05d}.jpg"\n'
    )
    code = _code(path)
    assert code.count("size") == 1 and code.count("image_") == 1 and code.splitlines()[2].startswith("def f(size: int = 64):")


def test_each_fact_pattern_finds_what_it_names() -> None:
    samples = {
        "the default image size 64 (facts.DEFAULT_SIZE)": [
            "size: int = 64",
            "f(size=64)",
            'add_argument("--size", type=int, default=64)',
        ],
        "the image file-name template (facts.IMAGE_NAME)": ['f"image_{i:05d}.jpg"', '"image_{:05d}.jpg"'],
        "a .mat file name (facts.LABELS_FILE, facts.SETID_FILE)": ['base / "setid.mat"', "'imagelabels.mat'"],
        "reading $FLOWERKIT_DATASET (config.default_dataset)": [
            'os.environ.get("FLOWERKIT_DATASET", "mini")',
            'os.environ.get("FLOWERKIT_DATASET") or "mini"',
            "os.environ['FLOWERKIT_DATASET']",
        ],
        "a setid.mat variable as a key or an item (facts.SPLIT_VARIABLES)": [
            '{"trnid": []}',
            'splits["tstid"]',
            '("trnid", "valid")',
        ],
    }
    for what, hits in samples.items():
        assert all(FACT_PATTERNS[what][0].search(s) for s in hits), what
    misses = [
        "batch_size=64",
        "size=640",
        'env["FLOWERKIT_DATASET"] = "real"',
        "'the variable tstid'",
        "image_{i}.png",
        '("train", "val", "valid", "test")',
    ]
    assert not any(rx.search(s) for s in misses for rx, _ in FACT_PATTERNS.values())
    assert HAND_WRITTEN_CHOICE.search('raise ValueError(f"split must be one of {SPLITS}, got {split!r}")')
    assert HAND_WRITTEN_CHOICE.search("raise ValueError(\n    f\"decoder must be 'auto' or one of {DECODERS}\"")


def test_no_fact_is_typed_twice() -> None:
    """The dataset's names and numbers live in flowerkit.facts (reading the dataset choice in config), in
    flowerkit/ and its sub-packages, tools/ and benchmarks/: each finding is ``file:line: what``."""
    typed = _findings(FACT_PATTERNS)
    assert typed == [], f"facts typed outside their home: {typed}"


def test_string_choices_are_checked_by_torchvision() -> None:
    """``verify_str_arg`` (torchvision.datasets.utils) checks a string argument against its choices, not a hand-written
    ``if x not in CHOICES: raise ValueError("... one of ...")``."""
    typed = _findings({"a hand-written 'one of' check (use verify_str_arg)": (HAND_WRITTEN_CHOICE, None)})
    assert typed == [], f"hand-written choice checks: {typed}"
