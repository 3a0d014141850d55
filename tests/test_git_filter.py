"""The git filter (``python -m tools.strip filter``, installed by ``make lab``): notebooks are committed clean after a run."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools.cells import dirty_cells
from tools.strip import clean, clean_text, install_git_filter

REPO = Path(__file__).resolve().parents[1]


def _git(repo: Path, *args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO), "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    ident = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    return subprocess.run(["git", *ident, *args], cwd=cwd or repo, env=env, capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("route", ["make", "conda"])
def test_the_git_filter_keeps_committed_notebooks_clean_after_a_jupyterlab_run(tmp_path, route):
    repo = tmp_path / "course"
    (repo / "notebooks").mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / ".gitattributes").write_text((REPO / ".gitattributes").read_text())
    if route == "make":
        (repo / ".venv" / "bin").mkdir(parents=True)
        venv_python = repo / ".venv" / "bin" / "python"  # stands in for `make lab`'s venv
        venv_python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        venv_python.chmod(0o755)
    # the conda route has no .venv: the filter runs the interpreter that installed it, by its absolute path
    cells = [
        nbformat.v4.new_markdown_cell("## A section"),
        nbformat.v4.new_code_cell("x = 1\nx"),
        nbformat.v4.new_code_cell("# solution\ny = 2"),
    ]
    cells[2].metadata["tags"] = ["solution"]
    nb = clean(
        nbformat.v4.new_notebook(
            cells=cells,
            metadata={
                "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                "language_info": {"name": "python"},
            },
        )
    )
    path = repo / "notebooks" / "01_x.ipynb"
    nbformat.write(nb, path)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "course")
    for _ in range(2):  # idempotent
        assert "committed without outputs" in install_git_filter(repo)
    python = ".venv/bin/python" if route == "make" else shlex.quote(sys.executable)
    assert _git(repo, "config", "--get-all", "filter.flowerkit-strip.clean").splitlines() == [f"{python} -m tools.strip filter"]
    # What a class leaves behind: outputs, counts, the kernel's details, a solution expanded, widget state.
    run = nbformat.read(path, as_version=4)
    run.cells[1].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "1"}, execution_count=1)]
    run.cells[1].execution_count = 1
    run.cells[1].metadata["execution"] = {"iopub.status.busy": "2025-01-01T00:00:00"}
    run.cells[2].metadata.pop("jupyter")
    run.metadata["language_info"] = {"name": "python", "version": "3.12.1", "mimetype": "text/x-python"}
    run.metadata["kernelspec"]["display_name"] = "Python 3 (ipykernel)"
    run.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(run, path)
    assert dirty_cells(nbformat.read(path, as_version=4))
    assert _git(repo, "diff", cwd=repo / "notebooks") == ""  # from any folder of the checkout
    _git(repo, "add", "-A")  # git status lists a file whose size changed until it is added (make lab's pre-save hook avoids that)
    assert _git(repo, "status", "--porcelain") == ""
    # A real edit still shows, and is committed without the outputs.
    run.cells[1].source = "x = 2\nx"
    nbformat.write(run, path)
    assert _git(repo, "status", "--porcelain").strip() == "M notebooks/01_x.ipynb"
    _git(repo, "add", "-A")
    staged = nbformat.reads(_git(repo, "show", ":notebooks/01_x.ipynb"), as_version=4)
    assert not dirty_cells(staged) and staged.cells[1].source == "x = 2\nx"


def test_the_git_filter_passes_a_broken_file_through_and_strips_on_stdin():
    assert clean_text("<<<<<<< HEAD\n{") == "<<<<<<< HEAD\n{"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    nb.cells[0].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    out = subprocess.run(
        [sys.executable, "-m", "tools.strip", "filter"],
        input=nbformat.writes(nb),
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    ).stdout
    assert not dirty_cells(nbformat.reads(out, as_version=4))


def test_make_lab_installs_the_git_filter():
    lab = re.search(r"^lab:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), re.M).group(1)
    assert "tools.strip install-filter" in lab
    assert "filter=flowerkit-strip" in (REPO / ".gitattributes").read_text()
