"""README: the two commands (and CI runs the test one), and its map from each notebook to the modules behind it."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import nbformat

import flowerkit

REPO = Path(__file__).resolve().parents[1]


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    block = re.search(r"## Two commands\n.*?```bash\n(.*?)```", readme, re.S)
    assert block, "README's 'Two commands' section holds a bash block"
    assert [line.split("#")[0].strip() for line in block.group(1).splitlines()] == ["make lab", "make test"]
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^\s*make test\s*$", ci, re.M), ".ci/run must call the README's test command"


def test_readme_maps_each_notebook_to_the_modules_it_imports() -> None:
    """README's "where the code behind each notebook lives": per notebook, exactly the flowerkit modules it uses."""
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


def test_readme_names_only_objects_that_exist_and_that_the_notebook_uses() -> None:
    """A name in a row (`` `teams` (`run_team`) `` or `` `access.torchvision_flowers102` ``) is in that module and the notebook."""
    modules = {m.name for m in pkgutil.iter_modules(flowerkit.__path__)} - {"__main__"}
    readme = (REPO / "README.md").read_text()
    wrong = []
    for number, cell in re.findall(r"^\| (0\d) \| [^|]+ \| ([^\n]+) \|$", readme, re.M):
        pairs = re.findall(r"`(\w+)\.(\w+)`", cell)
        for module, inside in re.findall(r"`(\w+)` \(([^)]*)\)", cell):
            pairs += [(module, name) for name in re.findall(r"`(\w+)`", inside)]
        notebook = next((REPO / "notebooks").glob(f"{number}_*.ipynb"))
        text = "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells)
        for module, name in pairs:
            if module in modules and not (
                hasattr(importlib.import_module(f"flowerkit.{module}"), name) and re.search(rf"\b{name}\b", text)
            ):
                wrong.append(f"{number}: {module}.{name}")
    assert wrong == [], f"README names objects that do not exist or that the notebook does not use: {wrong}"


def _anchors(path: Path) -> set[str]:
    """The anchors Jupyter gives a notebook's markdown headings: the text without backticks, spaces as hyphens."""
    headings = [
        line.lstrip("#").strip()
        for cell in nbformat.read(path, as_version=4).cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if re.match(r"#{1,6} ", line)
    ]
    return {heading.replace("`", "").replace(" ", "-") for heading in headings}


def test_readme_links_into_notebooks_reach_a_heading() -> None:
    """The troubleshooting list links to sections by heading: a renamed heading must not leave a dead link."""
    from urllib.parse import unquote

    links = re.findall(r"\]\((notebooks/[\w.]+\.ipynb)#([^)\s]+(?:\)[^)\s]*)?)\)", (REPO / "README.md").read_text())
    assert links, "README links to notebook sections (its troubleshooting list)"
    dead = [f"{name}#{anchor}" for name, anchor in links if unquote(anchor) not in _anchors(REPO / name)]
    assert not dead, f"README links to headings that do not exist: {dead}"
