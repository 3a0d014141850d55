"""Slides and the rendered site: slide types on every cell by rule, presenter notes per section, a deck per notebook, an index linking it all."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tools import site
from tools.cells import course_notebooks, is_presenter_notes, is_solution
from tools.strip import SLIDE_TYPES, add_slide_metadata, slide_problems, strip
from tools.student import leaked_solution_lines

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = course_notebooks(REPO / "notebooks")


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _sections(nb: nbformat.NotebookNode) -> list[tuple[str, list[nbformat.NotebookNode]]]:
    """The notebook cut at its ``##`` headings: (heading, cells from it up to the next)."""
    sections: list[tuple[str, list]] = []
    for cell in nb.cells:
        heading = re.search(r"^## (.+)$", cell.source, re.M) if cell.cell_type == "markdown" else None
        if heading:
            sections.append((heading.group(1), []))
        if sections:
            sections[-1][1].append(cell)
    return sections


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_cell_has_the_slide_type_the_rule_gives(path):
    nb = _read(path)
    assert all(c.metadata.get("slideshow", {}).get("slide_type") in SLIDE_TYPES for c in nb.cells)
    assert slide_problems(nb) == [], "run `make strip`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_deck_opens_a_slide_per_section_skips_solutions_and_has_presenter_notes(path):
    nb = _read(path)
    kinds = {c.id: c.metadata["slideshow"]["slide_type"] for c in nb.cells}
    for title, cells in _sections(nb):
        assert kinds[cells[0].id] == "slide", f"'## {title}' should open a slide"
        notes = [c for c in cells if is_presenter_notes(c)]
        if any(c.cell_type == "code" for c in cells):
            assert notes, f"'## {title}' has code but no presenter notes (a markdown cell starting '**Presenter notes.**')"
        for note in notes:
            assert kinds[note.id] == "notes" and len(note.source) <= 500, f"{note.id}: presenter notes should be short"
    assert all(kinds[c.id] == "skip" for c in nb.cells if is_solution(c))
    assert all(kinds[c.id] in ("fragment", "subslide") for c in nb.cells if c.cell_type == "code" and not is_solution(c))
    # every note, the lesson plan above the first section included: a presenter reads it at a glance
    long_notes = [c.id for c in nb.cells if is_presenter_notes(c) and len(c.source) > 500]
    assert long_notes == [], f"presenter notes over 500 characters: {long_notes}"


def test_slide_rules_on_a_small_notebook():
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cells = [
        md("# Title\nThe story so far."),
        md("## A section"),
        md("**Presenter notes.** Ask the room."),
        code("x = 1"),
        md("Some prose introducing the next cell."),
        code("\n".join(f"y{k} = {k}" for k in range(30))),  # too long for the slide so far
        md("A short remark."),
        md("### A sub-section\nMore."),
        md("Tagged for the presenter."),
        code("answer = 42"),
        code("# solution\nanswer = 42"),
        md("**Exercise 2.** Next one."),
    ]
    cells[8].metadata["tags"] = ["notes"]
    cells[10].metadata["tags"] = ["solution"]
    nb = add_slide_metadata(nbformat.v4.new_notebook(cells=cells))
    assert [c.metadata.slideshow.slide_type for c in nb.cells] == [
        "slide",
        "slide",
        "notes",
        "fragment",
        "subslide",  # prose goes with the long code cell it introduces
        "fragment",
        "fragment",  # a short remark stays with the result above it
        "subslide",
        "notes",
        "fragment",
        "skip",
        "subslide",
    ]
    assert slide_problems(nb) == []
    nb.cells[3].metadata.slideshow.slide_type = "slide"
    problems = slide_problems(nb)
    assert len(problems) == 1 and problems[0].startswith("cell 3 ") and "the rule gives 'fragment'" in problems[0]


def test_strip_gives_a_new_notebook_its_slide_types(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## Section"), nbformat.v4.new_code_cell("1 + 1")])
    path = tmp_path / "04_new.ipynb"
    nbformat.write(nb, path)
    assert slide_problems(_read(path))
    assert strip([path]) == [path]
    assert slide_problems(_read(path)) == []
    assert strip([path]) == []


def test_slides_build_writes_a_deck_per_notebook_with_notes_and_without_solutions(tmp_path):
    decks = site.build_slides(tmp_path, NOTEBOOKS, execute=False)
    assert [d.name for d in decks] == [f"{p.stem}.slides.html" for p in NOTEBOOKS]
    for path, deck in zip(NOTEBOOKS, decks):
        nb, text = _read(path), deck.read_text()
        assert "reveal" in text.lower()
        slides = sum(c.metadata.slideshow.slide_type in ("slide", "subslide") for c in nb.cells)
        assert text.count("<section") >= slides, f"{deck.name}: fewer sections than slides"
        assert text.count('<aside class="notes">') == sum(map(is_presenter_notes, nb.cells))
        for cell in nb.cells:  # nbconvert marks each cell it renders with its id
            assert (f'id="cell-id={cell.id}"' in text) != is_solution(cell), f"{deck.name}: cell {cell.id}"


def test_site_index_links_each_page_its_student_notebook_and_its_slides(tmp_path, monkeypatch):
    path = REPO / "notebooks" / "00_the_challenge.ipynb"
    monkeypatch.setattr(site, "_execute", lambda p, timeout: _read(p))  # the pages, not the execution, are under test
    index = site.build(tmp_path, [path])
    text = index.read_text()
    for link in ("00_the_challenge.html", "student/00_the_challenge.ipynb", "slides/00_the_challenge.slides.html"):
        assert f'href="{link}"' in text
        assert (tmp_path / link).is_file(), link
    page = (tmp_path / "00_the_challenge.html").read_text()
    course = _read(path)
    for cell in course.cells:  # the pages are for students: no solutions, no presenter notes
        assert (f'id="cell-id={cell.id}"' in page) != (is_solution(cell) or is_presenter_notes(cell)), cell.id
    assert leaked_solution_lines(course, _read(tmp_path / "student/00_the_challenge.ipynb")) == []


def test_a_deck_is_one_file_that_loads_nothing_from_the_network(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## A slide"), nbformat.v4.new_code_cell("1 + 1")])
    nb.cells[1].outputs = [
        nbformat.v4.new_output(
            "display_data", {"application/vnd.jupyter.widget-view+json": {"model_id": "x"}, "text/plain": "VBox(children=(...))"}
        )
    ]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2, "version_minor": 0}}
    text = site.export_slides(add_slide_metadata(nb), tmp_path / "deck.slides.html").read_text()
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"'#][^"']*)""", text) + re.findall(
        r"""(?:import|url\()\s*["']?(https?:[^"')]+)""", text
    )
    assert [u for u in urls if not u.startswith("data:")] == [], "a deck must not load anything: it is presented offline"
    for needed in ("require(", "$(", "MathJax", "unpkg.com", "cdnjs", "jsdelivr"):
        assert needed not in text, needed
    assert text.count("data:text/javascript;base64,") == 2 and "Reveal.initialize" in text and "RevealNotes" in text
    assert "VBox(children" not in text and "widget-state" not in text, "a deck shows the fixed figure, not a dead widget"


def test_the_vendored_reveal_js_is_the_npm_release_it_names():
    import hashlib

    source = (site.REVEAL_DIR / "SOURCE.txt").read_text()
    sums = re.findall(r"^([0-9a-f]{64})  (\S+)$", source, re.M)
    assert {name for _, name in sums} == {
        "LICENSE",
        "dist/reveal.js",
        "dist/reveal.css",
        "dist/theme/white.css",
        "plugin/notes/notes.js",
    }
    for digest, name in sums:
        assert hashlib.sha256((site.REVEAL_DIR / name).read_bytes()).hexdigest() == digest, name
    version = re.search(r"reveal\.js (\d+\.\d+\.\d+)", source).group(1)
    major = version.split(".")[0]  # the npm release 5.2.1 carries the banner "reveal.js 5.2.0"
    assert f"reveal.js {major}." in (site.REVEAL_DIR / "dist" / "reveal.js").read_text()[:200]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_course_markdown_has_no_tex_the_offline_decks_could_not_render(path):
    # The decks ship no MathJax (it would be the largest thing in them): write formulas as code or Unicode.
    tex = [
        c.id
        for c in _read(path).cells
        if c.cell_type == "markdown" and re.search(r"\$\$|\\\(|\\\[|(?<![\w$])\$[^\s$][^$\n]*\\[a-z]+[^$\n]*\$", c.source)
    ]
    assert tex == [], f"{path.name}: TeX in markdown cells {tex}; the offline decks have no MathJax"
