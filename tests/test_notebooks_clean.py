"""The course notebooks are committed clean: no outputs, no execution counts (``make strip`` removes them)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tools.cells import course_notebooks, dirty_cells

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = course_notebooks(REPO / "notebooks")


def test_every_numbered_notebook_is_a_course_notebook():
    numbered = sorted(p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert numbered and [p.name for p in NOTEBOOKS] == numbered


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    problems = dirty_cells(nbformat.read(path, as_version=4))
    assert not problems, f"{path.name}: {problems}; run `make strip`"
