"""Render the course as a static site: every notebook executed to HTML, and an index page.

``make html`` runs ``python -m flowerkit.site build/html``. Notebooks run
with ``notebooks/`` as their working directory, exactly as under nbval.
"""

from __future__ import annotations

import argparse
import html
import sys
import time
from pathlib import Path

import nbformat

from .notebooks import course_notebooks

__all__ = ["build", "describe"]


def describe(nb: nbformat.NotebookNode) -> tuple[str, str]:
    """Return (title, first paragraph) of a notebook, from its first markdown cell."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = [line.strip() for line in cell.source.splitlines() if line.strip()]
            title = next((line.lstrip("# ") for line in lines if line.startswith("#")), "")
            body = next((line for line in lines if not line.startswith("#")), "")
            return title, body
    return "", ""


def build(out: str | Path, notebooks: list[Path] | None = None, *, timeout: int = 600) -> Path:
    """Execute each notebook, write ``<out>/<name>.html`` and ``<out>/index.html``; return the index."""
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    notebooks = notebooks or course_notebooks()
    exporter = HTMLExporter()
    rows = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        print(f"executing {path.name} ...", flush=True)
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
        body, _ = exporter.from_notebook_node(nb)
        (out / f"{path.stem}.html").write_text(body, encoding="utf-8")
        title, blurb = describe(nb)
        rows.append((path.stem, title, blurb, time.perf_counter() - start))
        print(f"  wrote {out / (path.stem + '.html')} ({rows[-1][3]:.0f} s)", flush=True)
    items = "\n".join(
        f'<li><a href="{html.escape(stem)}.html">{html.escape(title or stem)}</a><br><small>{html.escape(blurb)}</small></li>'
        for stem, title, blurb, _ in rows
    )
    index = out / "index.html"
    index.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>flowerkit</title>"
        "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.5}li{margin:.8em 0}</style>"
        "</head><body><h1>flowerkit: the PyTorch data pipeline on Oxford 102 Flowers</h1>"
        f"<p>Access &rarr; transform &rarr; load, one notebook per stage, executed on {time.strftime('%Y-%m-%d')}.</p>"
        f"<ol>{items}</ol></body></html>\n",
        encoding="utf-8",
    )
    return index


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m flowerkit.site OUT_DIR [NOTEBOOK ...]``."""
    parser = argparse.ArgumentParser(prog="python -m flowerkit.site")
    parser.add_argument("out", type=Path)
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    print(f"open {build(args.out, args.notebooks or None)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
