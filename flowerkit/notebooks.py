"""Keeping the course notebooks clean: committed without outputs, executed by CI.

Used by ``make strip`` and by the tests (a committed notebook that carries
outputs or execution counts fails CI, as in nbdev's "clean" gate).
Command line: ``python -m flowerkit.notebooks strip|check NOTEBOOK...``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

import nbformat

__all__ = ["course_notebooks", "dirty_cells", "strip"]

# Cell metadata that only records one run (execution timings, widget state).
_RUN_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")


def course_notebooks(folder: str | Path | None = None) -> list[Path]:
    """Return the numbered notebooks (``notebooks/NN_*.ipynb``) in course order."""
    if folder is None:
        from .config import repo_root

        repo = repo_root()
        if repo is None:
            raise FileNotFoundError("no checkout found: pass the notebooks folder explicitly")
        folder = repo / "notebooks"
    return sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))


def dirty_cells(nb: nbformat.NotebookNode) -> list[str]:
    """Describe every trace of a run left in a notebook: outputs, execution counts, widget state."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {i} has {len(cell.outputs)} output(s)")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {i} has execution_count {cell.execution_count}")
    if "widgets" in nb.metadata:
        problems.append("notebook metadata holds widget state")
    return problems


def strip(paths: Iterable[str | Path]) -> list[Path]:
    """Remove outputs, execution counts and run metadata in place; return the files that changed."""
    changed = []
    for path in map(Path, paths):
        nb = nbformat.read(path, as_version=4)
        before = nbformat.writes(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
            for key in _RUN_METADATA:
                cell.metadata.pop(key, None)
        nb.metadata.pop("widgets", None)
        after = nbformat.writes(nb)
        if after != before:
            path.write_text(after + ("" if after.endswith("\n") else "\n"))
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    """``strip`` cleans notebooks in place; ``check`` exits 1 if any is dirty."""
    parser = argparse.ArgumentParser(prog="python -m flowerkit.notebooks")
    parser.add_argument("command", choices=["strip", "check"])
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = args.paths or course_notebooks()
    if args.command == "strip":
        for path in strip(paths):
            print(f"stripped {path}")
        return 0
    status = 0
    for path in paths:
        for problem in dirty_cells(nbformat.read(path, as_version=4)):
            print(f"{path}: {problem}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
