"""The set-up files agree: environment.yml lists pyproject's dependencies, constraints.txt pins inside their ranges."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, from PyPI (the test extra installs it there)
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]


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
    conda_reqs = {_name(r): r.replace(" ", "") for r in pip if not r.startswith("-")}
    assert conda_reqs == _pyproject_requirements()
    assert "-e ." in pip, "environment.yml should install flowerkit itself"
    assert pip[0] == "-c constraints.txt", "environment.yml should install the versions CI tests (constraints.txt)"


def test_constraints_pin_versions_inside_the_pyproject_ranges():
    ranges = {Requirement(r).name: Requirement(r).specifier for r in _pyproject_requirements().values()}
    pins = [line.split("#")[0].strip() for line in (REPO / "constraints.txt").read_text().splitlines()]
    for pin in filter(None, pins):
        req = Requirement(pin)
        version = next(iter(req.specifier)).version
        assert version in ranges[req.name], f"constraints.txt pins {pin}, outside pyproject's {ranges[req.name]}"
