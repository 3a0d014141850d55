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
import sys
from collections.abc import Iterable
from pathlib import Path

import nbformat

from .cells import RUN_METADATA, course_notebooks, dirty_cells, is_presenter_notes, is_solution

__all__ = [
    "SLIDE_TYPES",
    "add_slide_metadata",
    "slide_problems",
    "slide_types",
    "strip",
]

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
        nb = nbformat.read(path, as_version=4)
        before = nbformat.writes(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
            for key in RUN_METADATA:
                cell.metadata.pop(key, None)
        nb.metadata.pop("widgets", None)
        add_slide_metadata(nb)
        after = nbformat.writes(nb)
        if after != before:
            path.write_text(after + ("" if after.endswith("\n") else "\n"))
            changed.append(path)
    return changed


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
    """``strip`` cleans notebooks in place; ``check`` exits 1 if any is dirty or lacks slide metadata."""
    parser = argparse.ArgumentParser(prog="python -m tools.strip")
    parser.add_argument("command", choices=["strip", "check"])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: all course notebooks)")
    args = parser.parse_args(argv)
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
