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
