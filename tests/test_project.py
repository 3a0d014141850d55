"""Project hygiene: set-up files agree, notebooks are committed clean and follow the course shape."""

from __future__ import annotations

import os
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


def _git(repo: Path, *args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO), "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    ident = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    return subprocess.run(["git", *ident, *args], cwd=cwd or repo, env=env, capture_output=True, text=True, check=True).stdout


def test_the_git_filter_keeps_committed_notebooks_clean_after_a_jupyterlab_run(tmp_path):
    from tools.strip import clean, install_git_filter

    repo = tmp_path / "course"
    (repo / "notebooks").mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / ".gitattributes").write_text((REPO / ".gitattributes").read_text())
    (repo / ".venv" / "bin").mkdir(parents=True)
    venv_python = repo / ".venv" / "bin" / "python"  # stands in for `make lab`'s venv
    venv_python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    venv_python.chmod(0o755)
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
    assert _git(repo, "config", "--get-all", "filter.flowerkit-strip.clean").splitlines() == [
        ".venv/bin/python -m tools.strip filter"
    ]
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
    from tools.strip import clean_text

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


def test_jupyterlab_saves_a_course_notebook_exactly_as_committed(tmp_path):
    from types import SimpleNamespace

    from tools.strip import jupyter_pre_save

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
    conda = (REPO / "README.md").read_text().split("With conda instead of make")[1].split("\n\n")[0]
    assert "python -m tools.strip install-filter" in conda, "the conda route installs the git filter too"
    assert "python -m jupyterlab --ContentsManager.pre_save_hook=tools.strip.jupyter_pre_save" in conda.replace("\n", " ")


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


# Each script starts from the same sys.path, and what an earlier one imported from the checkout (flowerkit, tools) is
# forgotten, so one script's path fix cannot hide another's missing one; torch stays imported (the slow part).
_IMPORT_AS_SCRIPT = """
import runpy, sys, traceback
repo, scripts, path = sys.argv[1], sys.argv[2:], list(sys.path)
failed = []
for script in scripts:
    sys.path[:] = [script.rsplit("/", 1)[0], *path[1:]]
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None) or ""
        if where.startswith(repo) and not where.startswith(sys.prefix):  # the checkout's code, not the venv's
            del sys.modules[name]
    try:
        runpy.run_path(script, run_name="imported")
    except BaseException:
        failed.append(script + ":\\n" + traceback.format_exc(limit=3))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_benchmark_script_imports_when_run_as_a_script() -> None:
    """``python benchmarks/x.py`` puts benchmarks/ first on the path, not the repo: its imports must still resolve.

    One fresh Python for all scripts (torch imports once), each run as ``python benchmarks/x.py`` would see the path.
    """
    scripts = sorted(str(p) for p in (REPO / "benchmarks").glob("*.py"))
    assert len(scripts) >= 5
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [sys.executable, "-c", _IMPORT_AS_SCRIPT, str(REPO), *scripts]
    proc = subprocess.run(cmd, cwd="/", env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"benchmarks that do not import as a script:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}"


def test_readme_maps_each_notebook_to_the_modules_it_imports() -> None:
    """README's "where the code behind each notebook lives": per notebook, exactly the flowerkit modules it uses."""
    import pkgutil

    import flowerkit

    modules = {m.name for m in pkgutil.iter_modules(flowerkit.__path__)} - {"__main__"}
    readme = (REPO / "README.md").read_text()
    table: dict[str, set[str]] = {}
    for number, cell in re.findall(r"^\| (0\d) \| [^|]+ \| ([^\n]+) \|$", readme, re.M):
        named = {token.split(".")[0] for token in re.findall(r"`([\w.]+)`", cell)}
        table.setdefault(number, set()).update(named & modules)
    for path in sorted((REPO / "notebooks").glob("0*.ipynb")):
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        imported = set()
        for names in re.findall(r"^from flowerkit import ([\w, ]+)$", code, re.M):
            imported |= {n.strip() for n in names.split(",")}
        used = (imported & modules) | {"config"}  # flowerkit.dataset_root, in every setup cell
        documented = table.get(path.name[:2], set()) | {"config", "viz"}  # named once, in notebook 00's row
        assert documented == used | {"viz"}, (
            f"README's rows for {path.name}: add {used - documented}, drop {documented - used - {'viz'}}"
        )
