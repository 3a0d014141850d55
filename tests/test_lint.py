"""ruff: the package, the course tools, the tests and the benchmarks are lint clean and formatted; the notebooks lint clean (``make lint``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINTED = ["flowerkit", "tools", "tests", "benchmarks", "conftest.py"]  # what `make lint` formats and checks


def test_code_is_lint_clean_and_formatted():
    for args in (["check"], ["format", "--check"]):
        result = subprocess.run([sys.executable, "-m", "ruff", *args, *LINTED], cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 0, f"ruff {' '.join(args)}:\n{result.stdout}{result.stderr}\nrun `make lint`"


def test_notebooks_are_lint_clean():
    """The notebooks' code is checked, not formatted: its layout is written for reading in a cell."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "notebooks"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, f"ruff check notebooks:\n{result.stdout}{result.stderr}"
