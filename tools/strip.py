"""Keeping the course notebooks clean and presentable: no outputs, slide metadata on every cell.

Used by ``make strip`` and by the tests (a committed notebook that carries
outputs or execution counts fails CI, as in nbdev's "clean" gate). ``strip``
also gives every cell its slide type by rule (:func:`add_slide_metadata`), so
``jupyter nbconvert --to slides`` makes a deck of any course notebook.
Command line: ``python -m tools.strip strip|check [NOTEBOOK...]`` (``make strip``).
"""

from __future__ import annotations

import argparse
import math
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nbformat

from .cells import clear_run, course_notebooks, dirty_cells, is_presenter_notes, is_solution, repo_root

__all__ = [
    "GIT_FILTER",
    "SLIDE_TYPES",
    "add_slide_metadata",
    "clean",
    "clean_text",
    "install_git_filter",
    "jupyter_pre_save",
    "slide_problems",
    "slide_types",
    "strip",
]

# The git filter named in .gitattributes for notebooks/*.ipynb (installed by `make lab`).
GIT_FILTER = "flowerkit-strip"
SLIDE_TYPES = ("slide", "subslide", "fragment", "skip", "notes")
# How much one slide holds before the next cell opens a sub-slide, in lines of ~100 characters
# (a figure counts as FIGURE_LINES): about what a projector shows at a readable size.
SLIDE_LINES = 24
FIGURE_LINES = 14
_DRAWS = re.compile(r"\bfig\b|show_images|plt\.|render_\w+\(|widgets\.\w+\(|\.plot\(")


def strip(paths: Iterable[str | Path]) -> list[Path]:
    """Remove outputs, execution counts and run metadata, set slide types, in place; return the files that changed."""
    changed = []
    for path in map(Path, paths):
        before = path.read_text(encoding="utf-8")
        after = clean_text(before)
        if after != before:
            path.write_text(after, encoding="utf-8")
            changed.append(path)
    return changed


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip ``nb`` in place (what :func:`strip` does to a file) and return it.

    Besides outputs, counts and run metadata, it undoes what opening and running a notebook in JupyterLab
    changes: the kernel's version details, and a solution cell or presenter note expanded (collapsed again: a
    student working in the course notebook meets neither a solution nor an instructor's hint before trying).
    """
    for cell in nb.cells:
        clear_run(cell)
        if is_solution(cell) or is_presenter_notes(cell):
            cell.metadata["jupyter"] = {"source_hidden": True}
    nb.metadata.pop("widgets", None)
    if "language_info" in nb.metadata:
        nb.metadata["language_info"] = {"name": nb.metadata.language_info.get("name", "python")}
    if nb.metadata.get("kernelspec", {}).get("name") == "python3":
        nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return add_slide_metadata(nb)


def clean_text(text: str) -> str:
    """A notebook's JSON text, stripped (:func:`clean`); text that is not a notebook comes back unchanged."""
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception:  # a half-merged or foreign file: a git filter must never lose it
        return text
    after = nbformat.writes(clean(nb))
    return after + ("" if after.endswith("\n") else "\n")


def jupyter_pre_save(model: dict, path: str, contents_manager: Any, **kwargs: Any) -> None:
    """JupyterLab's pre-save hook (``make lab``): a course notebook is saved stripped, so it stays as committed.

    Jupyter calls it before writing any file; it strips only the numbered notebooks in this checkout's
    ``notebooks/`` folder (their outputs stay on screen until the page is reloaded). A git clean filter
    alone is not enough: git sees a file whose size changed as modified, and ``git pull`` then refuses to
    update it.
    """
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    target = (Path(contents_manager.root_dir) / path.lstrip("/")).resolve()
    if target.parent == (repo_root() / "notebooks").resolve() and re.fullmatch(r"\d\d_.+\.ipynb", target.name):
        model["content"] = clean(nbformat.from_dict(model["content"]))


def install_git_filter(repo: str | Path = ".", python: str | None = None) -> str:
    """Make git commit notebooks stripped, whatever JupyterLab saved (idempotent); return what was set up.

    ``.gitattributes`` routes ``notebooks/*.ipynb`` through the ``flowerkit-strip`` filter; this sets the
    filter's command in the checkout's git config. Git runs it from the top of the work tree, so ``python``
    may be relative to it: by default ``make``'s ``.venv/bin/python`` when the checkout has one, else the
    interpreter running this (the conda route: its absolute path). Outside a git checkout (a downloaded zip)
    it does nothing.
    """
    repo = Path(repo)
    if python is None:
        python = ".venv/bin/python" if (repo / ".venv" / "bin" / "python").exists() else shlex.quote(sys.executable)
    inside = subprocess.run(["git", "-C", str(repo), "rev-parse", "--is-inside-work-tree"], capture_output=True, text=True)
    if inside.returncode != 0:
        return "not a git checkout: no filter installed"
    command = f"{python} -m tools.strip filter"
    for key, value in ((f"filter.{GIT_FILTER}.clean", command), (f"filter.{GIT_FILTER}.required", "false")):
        subprocess.run(["git", "-C", str(repo), "config", key, value], check=True)
    return f"git filter {GIT_FILTER}: notebooks are committed without outputs ({command})"


# ------------------------------------------------------------------ slides


def _lines(cell: nbformat.NotebookNode) -> int:
    """Roughly how many projected lines a cell takes, its output included."""
    text = sum(max(1, math.ceil(len(line) / 100)) for line in cell.source.splitlines() if line.strip())
    if cell.cell_type != "code":
        return text
    return text + (FIGURE_LINES if _DRAWS.search(cell.source) else 2)


def _heading_level(cell: nbformat.NotebookNode) -> int | None:
    """The level of the highest heading in a markdown cell (1 for ``#``), ignoring fenced code; None if it has none."""
    if cell.cell_type != "markdown":
        return None
    prose = re.sub(r"^```.*?^```", "", cell.source, flags=re.M | re.S)
    levels = [len(m.group(1)) for m in re.finditer(r"^(#{1,6})\s", prose, flags=re.M)]
    return min(levels, default=None)


def _remark(cell: nbformat.NotebookNode, after: nbformat.NotebookNode | None) -> bool:
    """A short prose cell that comments on the result above it (no code of its own follows): it stays on that slide."""
    return cell.cell_type == "markdown" and _lines(cell) <= 3 and (after is None or after.cell_type != "code")


def slide_types(nb: nbformat.NotebookNode) -> list[str]:
    """The slide type of each cell, by rule (see :func:`add_slide_metadata`)."""
    types, used, fresh = [], 0, False
    cells = nb.cells
    for i, cell in enumerate(cells):
        level = _heading_level(cell)
        size = _lines(cell)
        after = cells[i + 1] if i + 1 < len(cells) else None
        if cell.cell_type == "markdown" and after is not None and after.cell_type == "code" and not is_solution(after):
            size += _lines(after)  # prose stays on the slide of the code it introduces
        if is_presenter_notes(cell):
            kind = "notes"
        elif is_solution(cell):
            kind = "skip"
        elif level is not None and level <= 2:
            kind, used, fresh = "slide", _lines(cell), True
        elif (level is not None and level >= 3) or cell.source.lstrip().startswith("**Exercise"):
            kind, used, fresh = "subslide", _lines(cell), True
        elif used + size > SLIDE_LINES and not fresh and not _remark(cell, after):
            kind, used, fresh = "subslide", _lines(cell), cell.cell_type == "markdown"  # prose keeps its code
        else:
            kind, used, fresh = "fragment", used + _lines(cell), False
        types.append(kind)
    return types


def add_slide_metadata(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Give every cell ``metadata.slideshow.slide_type`` so that ``nbconvert --to slides`` makes a sensible deck; returns ``nb``.

    The rules, in order: presenter notes are ``notes`` (speaker view only);
    solution cells are ``skip``; a markdown cell with a ``#``/``##`` heading
    opens a ``slide``, one with a ``###`` heading or starting "**Exercise"
    opens a ``subslide`` (so start a cell at each heading); any
    other cell is a ``fragment`` of the current slide, unless the slide is
    full (:data:`SLIDE_LINES`, a figure counting :data:`FIGURE_LINES`), when
    it opens a ``subslide``. The first cell under a heading stays with it,
    prose stays with the code cell it introduces, and a short remark (3 lines
    at most, no code after it) stays with the result it comments on. Applied by ``make strip`` to every course notebook.
    """
    for cell, kind in zip(nb.cells, slide_types(nb)):
        cell.metadata["slideshow"] = {"slide_type": kind}
    return nb


def slide_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Cells whose slide type is missing or not the one :func:`add_slide_metadata` gives."""
    problems = []
    for i, (cell, kind) in enumerate(zip(nb.cells, slide_types(nb))):
        found = cell.metadata.get("slideshow", {}).get("slide_type")
        if found != kind:
            problems.append(f"cell {i} ({cell.get('id')}) has slide_type {found!r}, the rule gives {kind!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """``strip`` cleans notebooks in place; ``check`` exits 1 if any is dirty or lacks slide metadata;
    ``filter`` strips the notebook on stdin to stdout (git's clean filter); ``install-filter`` sets that filter up."""
    parser = argparse.ArgumentParser(prog="python -m tools.strip")
    parser.add_argument("command", choices=["strip", "check", "filter", "install-filter"])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: all course notebooks)")
    args = parser.parse_args(argv)
    if args.command == "filter":  # git's clean filter: a notebook on stdin, stripped on stdout
        sys.stdout.write(clean_text(sys.stdin.read()))
        return 0
    if args.command == "install-filter":
        print(install_git_filter())
        return 0
    paths = args.paths or course_notebooks()
    if args.command == "strip":
        for path in strip(paths):
            print(f"stripped {path}")
        return 0
    status = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        for problem in dirty_cells(nb) + slide_problems(nb):
            print(f"{path}: {problem}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
