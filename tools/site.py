"""Render the course as a static site: every notebook executed to HTML, its slides and its student version, and an index page.

``make html`` runs ``python -m tools.site build/html``; ``make slides``
runs ``python -m tools.site --slides-only build/slides``. Notebooks run
with ``notebooks/`` as their working directory, exactly as under nbval.

The HTML pages are safe to give to students: solution cells and presenter
notes are left out (the exercises show the stubs' feedback). The slides keep
the presenter notes in reveal.js's speaker view (press ``s``) and skip the
solutions; see :func:`tools.strip.add_slide_metadata`. Each deck is one HTML
file with reveal.js inlined: it works with no network (an offline room).
"""

from __future__ import annotations

import argparse
import base64
import copy
import html
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter, SlidesExporter

from .cells import course_notebooks, is_presenter_notes, is_solution
from .student import write_student_notebooks

__all__ = ["build", "build_slides", "describe", "export_page", "export_slides", "reveal_assets"]


def describe(nb: nbformat.NotebookNode) -> tuple[str, str]:
    """Return (title, first paragraph) of a notebook, from its first markdown cell."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = [line.strip() for line in cell.source.splitlines() if line.strip()]
            title = next((line.lstrip("# ") for line in lines if line.startswith("#")), "")
            body = next((line for line in lines if not line.startswith("#")), "")
            return title, body
    return "", ""


def _execute(path: Path, timeout: int) -> nbformat.NotebookNode:
    """Run a notebook top to bottom with its folder as working directory; return it with its outputs."""
    nb = nbformat.read(path, as_version=4)
    # Figures at twice the pixels, shown at the same size: sharp text when a projector scales a slide up.
    nb.cells.insert(0, nbformat.v4.new_code_cell("%config InlineBackend.figure_formats = ['retina']", id="site-figure-format"))
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    nb.cells.pop(0)
    return nb


def export_page(nb: nbformat.NotebookNode, target: Path) -> Path:
    """Write ``nb`` as an HTML page without its solution cells and presenter notes."""
    page = copy.deepcopy(nb)
    page.cells = [c for c in page.cells if not is_solution(c) and not is_presenter_notes(c)]
    body, _ = HTMLExporter().from_notebook_node(page)
    target.write_text(body, encoding="utf-8")
    return target


REVEAL_DIR = Path(__file__).resolve().parent / "vendor" / "reveal.js"
TEMPLATES = Path(__file__).resolve().parent / "templates"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def reveal_assets() -> dict[str, object]:
    """reveal.js from ``tools/vendor/reveal.js``, ready to inline: its CSS, the theme's CSS, the scripts as data: URLs."""
    theme = (REVEAL_DIR / "dist" / "theme" / "white.css").read_text(encoding="utf-8")
    theme = re.sub(r"@import url\(\./fonts/[^)]*\);", "", theme)  # its web font is not vendored: the fallback font is used
    scripts = [
        "data:text/javascript;base64," + base64.b64encode((REVEAL_DIR / name).read_bytes()).decode("ascii")
        for name in ("dist/reveal.js", "plugin/notes/notes.js")
    ]
    return {"css": (REVEAL_DIR / "dist" / "reveal.css").read_text(encoding="utf-8"), "theme_css": theme, "scripts": scripts}


def _without_widgets(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without live widgets: a deck cannot run them (each has a fixed figure before it)."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if WIDGET_VIEW not in o.get("data", {})]
    return nb


def export_slides(nb: nbformat.NotebookNode, target: Path) -> Path:
    """Write ``nb`` as a reveal.js deck, scrolling where a slide runs long, without prompts, in one self-contained file.

    nbconvert's own reveal template loads reveal.js, require.js, jQuery and MathJax from CDNs: with no network
    there are no slides. The ``flowerkit_reveal`` template (tools/templates) inlines reveal.js 5 and its notes
    plugin from ``tools/vendor/reveal.js`` instead and needs nothing else, so a deck works offline, from any folder.
    """
    exporter = SlidesExporter(
        template_name="flowerkit_reveal",
        extra_template_basedirs=[str(TEMPLATES)],
        reveal_scroll=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(_without_widgets(nb), resources={"flowerkit_reveal": reveal_assets()})
    target.write_text(body, encoding="utf-8")
    return target


def build_slides(out: str | Path, notebooks: list[Path] | None = None, *, execute: bool = True, timeout: int = 600) -> list[Path]:
    """Write ``<out>/<name>.slides.html`` for each notebook, executed first unless ``execute=False``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    decks = []
    for path in notebooks or course_notebooks():
        start = time.perf_counter()
        nb = _execute(path, timeout) if execute else nbformat.read(path, as_version=4)
        decks.append(export_slides(nb, out / f"{path.stem}.slides.html"))
        print(f"  wrote {decks[-1]} ({time.perf_counter() - start:.0f} s)", flush=True)
    return decks


def build(out: str | Path, notebooks: list[Path] | None = None, *, timeout: int = 600) -> Path:
    """Execute each notebook; write its page, slides and student version, and ``<out>/index.html`` linking them; return the index.

    Layout: ``<out>/<name>.html``, ``<out>/slides/<name>.slides.html``,
    ``<out>/student/<name>.ipynb``.
    """
    out = Path(out)
    (out / "slides").mkdir(parents=True, exist_ok=True)
    notebooks = notebooks or course_notebooks()
    write_student_notebooks(out / "student", notebooks)
    rows = []
    for path in notebooks:
        start = time.perf_counter()
        print(f"executing {path.name} ...", flush=True)
        nb = _execute(path, timeout)
        export_page(nb, out / f"{path.stem}.html")
        export_slides(nb, out / "slides" / f"{path.stem}.slides.html")
        title, blurb = describe(nb)
        rows.append((path.stem, title, blurb, time.perf_counter() - start))
        print(f"  wrote {out / (path.stem + '.html')} and its slides ({rows[-1][3]:.0f} s)", flush=True)
    items = "\n".join(
        f'<li><a href="{html.escape(stem)}.html">{html.escape(title or stem)}</a><br><small>{html.escape(blurb)}</small><br>'
        f'<small><a href="student/{html.escape(stem)}.ipynb">student notebook</a> · '
        f'<a href="slides/{html.escape(stem)}.slides.html">slides</a></small></li>'
        for stem, title, blurb, _ in rows
    )
    index = out / "index.html"
    index.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>flowerkit</title>"
        "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.5}li{margin:.8em 0}</style>"
        "</head><body><h1>flowerkit: the PyTorch data pipeline on Oxford 102 Flowers</h1>"
        f"<p>Access &rarr; transform &rarr; load, one notebook per stage, executed on {time.strftime('%Y-%m-%d')}.</p>"
        f"<ol>{items}</ol>"
        "<p><small>Each page is the executed notebook without its solutions. The <em>student notebook</em> is the one to "
        "download and work in: exercises with stubs and checkers, no solutions. The <em>slides</em> are for presenting "
        "(press <kbd>s</kbd> for the presenter notes).</small></p></body></html>\n",
        encoding="utf-8",
    )
    return index


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m tools.site [--slides-only [--no-execute]] OUT_DIR [NOTEBOOK ...]``."""
    parser = argparse.ArgumentParser(prog="python -m tools.site")
    parser.add_argument("out", type=Path)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--slides-only", action="store_true", help="write only <OUT>/<name>.slides.html")
    parser.add_argument("--no-execute", action="store_true", help="with --slides-only: decks without outputs, in seconds")
    args = parser.parse_args(argv)
    if args.slides_only:
        decks = build_slides(args.out, args.notebooks or None, execute=not args.no_execute)
        print(f"open {decks[0].parent if decks else args.out}")
        return 0
    print(f"open {build(args.out, args.notebooks or None)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
