"""Project hygiene: set-up files agree, notebooks are committed clean and follow the course shape."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import tomllib
import yaml

from tools.cells import course_notebooks, dirty_cells
from tools.strip import strip

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = course_notebooks(REPO / "notebooks")


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0].strip().lower()


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += [r for r in extra if not r.startswith("flowerkit")]
    return {_name(r): r.replace(" ", "") for r in reqs}


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_reqs = {_name(r): r.replace(" ", "") for r in pip if not r.startswith("-e")}
    assert conda_reqs == _pyproject_requirements()
    assert "-e ." in pip, "environment.yml should install flowerkit itself"


def test_constraints_pin_versions_inside_the_pyproject_ranges():
    from packaging.requirements import Requirement

    ranges = {Requirement(r).name: Requirement(r).specifier for r in _pyproject_requirements().values()}
    pins = [line.split("#")[0].strip() for line in (REPO / "constraints.txt").read_text().splitlines()]
    for pin in filter(None, pins):
        req = Requirement(pin)
        version = next(iter(req.specifier)).version
        assert version in ranges[req.name], f"constraints.txt pins {pin}, outside pyproject's {ranges[req.name]}"


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^\s*make test\s*$", ci, re.M), ".ci/run must call the README's test command"


def test_there_are_course_notebooks():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    problems = dirty_cells(nbformat.read(path, as_version=4))
    assert not problems, f"{path.name}: {problems}; run `make strip`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_course_shape(path):
    nb = nbformat.read(path, as_version=4)
    headings = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines() if line.startswith("#")]
    text = "\n".join(headings).lower()
    for section in ("what you will learn", "setup", "exercises", "recap"):
        assert section in text, f"{path.name} has no '{section}' heading"
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert any("DATASET" in src and "dataset_root" in src for src in code), f"{path.name}: no setup cell choosing DATASET"


_DATASET_CLASS = re.compile(r"^\s*class\s+(\w+)\s*\([^)]*Dataset[^)]*\)", re.M)
_WORKERS = re.compile(r"num_workers\s*=\s*(?!0\b)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_defines_no_collate_or_worker_init_and_gives_no_notebook_dataset_to_workers(path):
    # Classes and functions defined in a notebook cannot be pickled into spawn/forkserver workers. A student's own
    # Dataset class may live in a notebook (notebook 01 teaches it), but only with num_workers=0; a class written to a
    # module with %%writefile and imported (my_flowers.FlowersDataset) is importable by name, so workers may use it.
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    in_notebook = [src for src in code if not src.lstrip().startswith("%%writefile")]
    helpers = re.compile(r"^\s*def\s+(collate_fn|worker_init_fn)\b", re.M)
    offenders = [src for src in in_notebook if helpers.search(src)]
    assert not offenders, f"{path.name} defines a collate_fn/worker_init_fn; move it to flowerkit"
    classes = {name for src in in_notebook for name in _DATASET_CLASS.findall(src)}
    for name in classes:
        bare = re.compile(rf"(?<![.\w]){name}\b")
        given = [src for src in code if bare.search(src) and _WORKERS.search(src) and not _DATASET_CLASS.search(src)]
        assert not given, f"{path.name}: the notebook's class {name} is used in a cell with num_workers > 0: {given}"


def test_the_notebook_dataset_rule_tells_a_module_class_from_a_notebook_class():
    notebook_class = "loader = DataLoader(FlowersDataset(ROOT), num_workers=2)"
    module_class = "loader = DataLoader(my_flowers.FlowersDataset(ROOT), num_workers=2)"
    bare = re.compile(r"(?<![.\w])FlowersDataset\b")
    assert bare.search(notebook_class) and _WORKERS.search(notebook_class)
    assert not bare.search(module_class)
    assert not _WORKERS.search("DataLoader(FlowersDataset(ROOT), num_workers=0)")


def test_what_a_notebook_writes_next_to_itself_is_git_ignored():
    # notebook 01 writes the student's module with %%writefile: a run must leave `git status` clean
    written = [
        m.group(1)
        for path in NOTEBOOKS
        for c in nbformat.read(path, as_version=4).cells
        if c.cell_type == "code" and (m := re.match(r"\s*%%writefile\s+(?:-a\s+)?(\S+)", c.source))
    ]
    assert written, "no notebook writes a file (notebook 01 should write my_flowers.py)"
    for name in written:
        target = (REPO / "notebooks" / name).relative_to(REPO)
        result = subprocess.run(["git", "check-ignore", "-q", str(target)], cwd=REPO)
        assert result.returncode == 0, f"{target} is written by a notebook but not git-ignored"


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


def test_code_is_lint_clean_and_formatted():
    for args in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args, "flowerkit", "tests", "benchmarks", "conftest.py"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"ruff {' '.join(args)}:\n{result.stdout}{result.stderr}\nrun `make lint`"
