"""JupyterLab's pre-save hook (``make lab``, and the README's conda route): a course notebook is saved as committed."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import nbformat

from tools.cells import course_notebooks
from tools.strip import jupyter_pre_save

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = course_notebooks(REPO / "notebooks")


def test_jupyterlab_saves_a_course_notebook_exactly_as_committed(tmp_path):
    path = NOTEBOOKS[0]
    committed = path.read_text()
    run = nbformat.read(path, as_version=4)
    for i, cell in enumerate(c for c in run.cells if c.cell_type == "code"):
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="out\n")]
        cell.execution_count = i + 1
    run.metadata["language_info"] = {"name": "python", "version": "3.12.1"}
    model = {"type": "notebook", "content": run}
    jupyter_pre_save(model=model, path=f"notebooks/{path.name}", contents_manager=SimpleNamespace(root_dir=str(REPO)))
    assert nbformat.writes(nbformat.from_dict(model["content"])) + "\n" == committed
    # Any other notebook (a student's own, a copy elsewhere) keeps its outputs.
    other = {"type": "notebook", "content": nbformat.read(path, as_version=4)}
    other["content"].cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="mine\n")]
    jupyter_pre_save(model=other, path=path.name, contents_manager=SimpleNamespace(root_dir=str(tmp_path)))
    assert other["content"].cells[1].outputs


def test_make_lab_strips_what_jupyterlab_saves():
    lab = re.search(r"^lab:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), re.M).group(1)
    assert "pre_save_hook=tools.strip.jupyter_pre_save" in lab and "PYTHONPATH=$(CURDIR)" in lab
    assert "$(ROOT_FLAG)" in lab  # JupyterLab refuses to start as root without --allow-root (found 2026-12-07)
    flag = subprocess.run(
        ["make", "-s", "--eval=show-flag: ; @echo '$(ROOT_FLAG)'", "show-flag"], cwd=REPO, capture_output=True, text=True
    )
    assert flag.stdout.strip() == ("--allow-root" if os.getuid() == 0 else ""), flag
    conda = (REPO / "README.md").read_text().split("With conda instead of make")[1].split("\n\n")[0]
    assert "python -m tools.strip install-filter" in conda, "the conda route installs the git filter too"
    assert "python -m jupyterlab --ContentsManager.pre_save_hook=tools.strip.jupyter_pre_save" in conda.replace("\n", " ")
