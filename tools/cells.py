"""What a course notebook is made of: which files, which cells are solutions or presenter notes, what a run leaves behind.

The bottom of the course-building tools (``tools/``): :mod:`tools.strip`,
:mod:`tools.student` and :mod:`tools.site` import it; it imports none of them.
These tools build the course (clean notebooks, student copies, slides, the
site); they are not part of the ``flowerkit`` package that students import.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

__all__ = [
    "NOTES_PREFIX",
    "NOTES_TAG",
    "RUN_METADATA",
    "SOLUTION_TAG",
    "clear_run",
    "course_notebooks",
    "dirty_cells",
    "is_presenter_notes",
    "is_solution",
    "repo_root",
]

# Cell metadata that only records one run (execution timings, widget state).
RUN_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")
NOTES_TAG = "notes"
NOTES_PREFIX = "**Presenter notes"
SOLUTION_TAG = "solution"


def repo_root() -> Path:
    """The checkout these tools belong to (the folder above ``tools/``)."""
    return Path(__file__).resolve().parent.parent


def course_notebooks(folder: str | Path | None = None) -> list[Path]:
    """Return the numbered notebooks (``notebooks/NN_*.ipynb``) in course order."""
    folder = Path(folder) if folder is not None else repo_root() / "notebooks"
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


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


def is_presenter_notes(cell: nbformat.NotebookNode) -> bool:
    """True for a markdown cell written for the instructor: tagged ``notes`` or starting with ``**Presenter notes``."""
    if cell.cell_type != "markdown":
        return False
    return NOTES_TAG in cell.get("metadata", {}).get("tags", []) or cell.source.lstrip().startswith(NOTES_PREFIX)


def is_solution(cell: nbformat.NotebookNode) -> bool:
    """True for a cell tagged ``solution`` (a reference answer the instructor reveals)."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def clear_run(cell: nbformat.NotebookNode) -> None:
    """Remove what running left in ``cell``: outputs, execution count, run metadata (in place)."""
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    for key in RUN_METADATA:
        cell.metadata.pop(key, None)
