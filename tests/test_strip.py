"""tools.strip: ``make strip`` removes outputs and execution counts, idempotently."""

from __future__ import annotations

import nbformat

from tools.cells import dirty_cells
from tools.strip import strip


def test_strip_removes_outputs_and_counts(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    nb.cells[0].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    nb.cells[0].execution_count = 1
    path = tmp_path / "00_x.ipynb"
    nbformat.write(nb, path)
    assert dirty_cells(nbformat.read(path, as_version=4))
    assert strip([path]) == [path]
    assert not dirty_cells(nbformat.read(path, as_version=4))
    assert strip([path]) == []  # idempotent


def test_strip_collapses_solutions_and_presenter_notes_again(tmp_path):
    """A solution or a presenter note expanded in JupyterLab is collapsed on save: a student meets neither before trying."""
    solution = nbformat.v4.new_code_cell("# solution\nx = 1", metadata={"tags": ["solution"]})
    note = nbformat.v4.new_markdown_cell("**Presenter notes.** The answer is (c).")
    prose = nbformat.v4.new_markdown_cell("## A section")
    path = tmp_path / "00_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[solution, note, prose]), path)
    strip([path])
    cells = nbformat.read(path, as_version=4).cells
    assert [c.metadata.get("jupyter", {}).get("source_hidden", False) for c in cells] == [True, True, False]
