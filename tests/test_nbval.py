"""The repository conftest under nbval: a notebook that runs no cell fails the session, and red output fails a cell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]


def test_a_notebook_that_runs_no_cell_fails_the_session(tmp_path):
    # the repository conftest turns "collected under nbval but executed nothing" into a failure
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# only prose")])
    nbformat.write(nb, tmp_path / "00_empty.ipynb")
    (tmp_path / "conftest.py").write_text((REPO / "conftest.py").read_text())
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "00_empty.ipynb"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0, result.stdout
    assert "executed no cell" in result.stdout


_RED_CELLS = {  # cell source -> whether nbval, with the repository conftest, passes it
    "print('hello')": True,
    "import sys\nsys.stderr.write('Traceback (most recent call last):\\n  File \"x\", line 1\\nAssertionError: can only test a child process\\n')": False,
    "import warnings\nwarnings.warn('a student should not see this')": False,
    "class Leaky:\n    def __del__(self):\n        raise AssertionError('can only test a child process')\n\nLeaky()\nimport gc; gc.collect()": False,
    "print('FileNotFoundError: the team looked in the wrong folder')  # a symptom shown on purpose, no traceback": True,
    "import sys; print('progress 10/10', file=sys.stderr)  # stderr without a traceback or warning": True,
}


def test_a_cell_that_prints_a_traceback_or_a_warning_fails_under_nbval(tmp_path):
    # nbval alone fails only on an error reply; the repository conftest also fails red text, stderr included
    cells = [nbformat.v4.new_code_cell(src) for src in _RED_CELLS]
    tagged = nbformat.v4.new_code_cell("import traceback\ntry:\n    1 / 0\nexcept ZeroDivisionError:\n    traceback.print_exc()")
    tagged.metadata["tags"] = ["raises-exception"]  # an error shown on purpose is marked as such
    nbformat.write(nbformat.v4.new_notebook(cells=[*cells, tagged]), tmp_path / "00_red.ipynb")
    (tmp_path / "conftest.py").write_text((REPO / "conftest.py").read_text())
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider", "-rA", "00_red.ipynb"]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    expected = [ok for ok in _RED_CELLS.values()] + [True]
    for i, ok in enumerate(expected):
        assert f"{'PASSED' if ok else 'FAILED'} 00_red.ipynb::Cell {i}" in result.stdout, (i, result.stdout[-3000:])
    assert result.stdout.count("a student sees it in red") >= 3 and "can only test a child process" in result.stdout
