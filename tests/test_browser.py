"""The course in a real browser: JupyterLab in Chromium (headless, driven by Playwright), and a deck offline (issue 17).

A JupyterLab started here on 127.0.0.1 (a free port, a token) serves a copy of
notebook 01 laid out like the checkout (``notebooks/``, ``tools/``) and its
student copy (``python -m tools.student``). For each, the test runs all cells
through JupyterLab's own command and fails on any error output or any
traceback/warning in an output (stderr included). In the course copy it
operates the image browser widget and checks that the picture changes, then
saves: ``make lab``'s pre-save hook must leave the file byte-identical to the
committed one. Finally it opens one deck (notebook 00's) from ``tools.site`` with every
non-local request blocked and checks that the slides render and advance,
that no code runs off a slide, and that ``s`` opens the speaker view with the
presenter notes.

Screenshots go to ``build/browser/`` for a person to look at, with
``timings.json``. Every wait is bounded; the server is shut down at the end,
also on failure. Needs Debian's Chromium (``apt-get install -y chromium``:
``.ci/run`` installs it) and the ``playwright`` package; without either the
test is skipped with the reason, except in CI (``$CI`` set), where it fails.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "01_access.ipynb"
# The deck: notebook 00, the fastest to execute (7 s; 01 took 31 s, and JupyterLab runs 01 twice already).
DECK_NOTEBOOK = REPO / "notebooks" / "00_the_challenge.ipynb"
SHOTS = REPO / "build" / "browser"
CHROMIUM = Path(os.environ.get("FLOWERKIT_CHROMIUM", "/usr/bin/chromium"))
SERVER_START_S, KERNEL_READY_S, RUN_ALL_S, WIDGET_S, DECK_S = 120, 120, 600, 60, 30
TIMINGS: dict[str, float] = {}


def _red_output():
    """The repository conftest's check for red text, loaded by path (tests/conftest.py shares its module name)."""
    spec = importlib.util.spec_from_file_location("flowerkit_root_conftest", REPO / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.red_output


def _sync_playwright():
    """Playwright's sync API, or a skip (a fail in CI) saying what is missing."""
    missing = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright, missing = None, ["the playwright package (pip install -e '.[test]')"]
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"Chromium at {CHROMIUM} (apt-get install -y chromium, or set $FLOWERKIT_CHROMIUM)")
    if missing:
        reason = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason + "; .ci/run installs Chromium before `make test`")
        pytest.skip(reason)
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _course_copy(tmp: Path) -> Path:
    """``tmp/course``: notebook 01 in ``notebooks/`` and ``tools/`` (so make lab's pre-save hook applies), its student copy."""
    course = tmp / "course"
    (course / "notebooks").mkdir(parents=True)
    shutil.copy2(NOTEBOOK, course / "notebooks" / NOTEBOOK.name)
    shutil.copytree(REPO / "tools", course / "tools", ignore=shutil.ignore_patterns("__pycache__", "vendor"))
    subprocess.run(
        [sys.executable, "-m", "tools.student", str(course / "student"), str(NOTEBOOK)], cwd=REPO, check=True, timeout=120
    )
    return course


def _settings(tmp: Path) -> dict[str, str]:
    """Fresh JupyterLab settings: every cell kept in the page (no windowing), nothing of the user's."""
    settings = tmp / "lab-settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false"}))  # no "get notified about Jupyter news?" over the screenshots
    return {
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "lab-workspaces"),
        "JUPYTER_CONFIG_DIR": str(tmp / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "jupyter-runtime"),
    }


@contextlib.contextmanager
def _jupyterlab(course: Path, tmp: Path):
    """A JupyterLab server on 127.0.0.1 serving ``course``; yields (base URL, token); always shut down after."""
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, **_settings(tmp), "PYTHONPATH": os.pathsep.join([str(course), str(REPO)])}
    env.setdefault("FLOWERKIT_DATA", str(REPO / "data"))
    log = (tmp / "jupyterlab.log").open("w")
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}",
        "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ContentsManager.pre_save_hook=tools.strip.jupyter_pre_save",
    ]  # fmt: skip
    cmd += ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []  # CI runs as root
    server = subprocess.Popen(cmd, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(server, f"{base}/api/status?token={token}", tmp / "jupyterlab.log")
        yield base, token
    finally:
        _shut_down(server, f"{base}/api/shutdown?token={token}")
        log.close()


def _wait_for_server(server: subprocess.Popen, status_url: str, log: Path) -> None:
    start = time.monotonic()
    while time.monotonic() - start < SERVER_START_S:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(status_url, timeout=5) as reply:
                if reply.status == 200:
                    TIMINGS["jupyterlab_start_s"] = round(time.monotonic() - start, 1)
                    return
        time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s:\n{log.read_text()[-3000:]}")


def _shut_down(server: subprocess.Popen, shutdown_url: str) -> None:
    """Ask the server to stop (it stops its kernels), then end its process group if it has not."""
    with contextlib.suppress(OSError):
        urllib.request.urlopen(urllib.request.Request(shutdown_url, method="POST"), timeout=10).close()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def _only_local(blocked: list[str]):
    """A Playwright route handler: let 127.0.0.1, file:, data: and blob: through, abort (and note) everything else."""

    def route(r) -> None:
        url = r.request.url
        if url.startswith(("file:", "data:", "blob:", "http://127.0.0.1:", "ws://127.0.0.1:")):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    return route


# JavaScript run in the page; `window.jupyterapp` is there because of --LabApp.expose_app_in_browser.
_PANEL = "(path) => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget; return !!(w && w.context && w.context.path === path && w.content && w.content.model); }"
_KERNEL_IDLE = "() => { const k = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel; return !!k && k.status === 'idle' && k.connectionStatus === 'connected'; }"
_RUN_ALL = """async (limit) => {
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(`run all did not finish in ${limit} s`)), limit * 1000));
  await Promise.race([window.jupyterapp.commands.execute('notebook:run-all-cells'), timeout]);
  return window.jupyterapp.shell.currentWidget.content.model.toJSON();
}"""
_SAVE = "async () => { await window.jupyterapp.commands.execute('docmanager:save'); return true; }"


def _problems(nb_json: dict, red_output) -> list[str]:
    """What a student would see in red, or a cell that did not run, in a notebook's JSON as JupyterLab holds it."""
    problems = []
    for i, cell in enumerate(c for c in nbformat.from_dict(nb_json).cells if c.cell_type == "code"):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors:
            problems.append(f"code cell {i}: {errors[0].ename}: {errors[0].evalue}")
        elif red := red_output(cell.outputs):
            problems.append(f"code cell {i}: {red[:1500]}")
        elif cell.source.strip() and cell.execution_count is None:
            problems.append(f"code cell {i} did not run")
        elif "exercises.check_" in cell.source and any(o.output_type == "execute_result" for o in cell.outputs):
            problems.append(f"code cell {i}: a checker cell shows Out[{cell.execution_count}] under its message")
    return problems


def _run_notebook(page, base: str, token: str, path: str, shot: str, red_output) -> dict:
    start = time.monotonic()
    page.goto(f"{base}/lab/tree/{path}?token={token}&reset", timeout=KERNEL_READY_S * 1000)
    page.wait_for_function(_PANEL, arg=path, timeout=KERNEL_READY_S * 1000)
    page.wait_for_function(_KERNEL_IDLE, timeout=KERNEL_READY_S * 1000)
    TIMINGS[f"{shot}_open_s"] = round(time.monotonic() - start, 1)
    start = time.monotonic()
    nb_json = page.evaluate(_RUN_ALL, RUN_ALL_S)
    TIMINGS[f"{shot}_run_all_s"] = round(time.monotonic() - start, 1)
    page.screenshot(path=SHOTS / f"{shot}-after-run-all.png")
    problems = _problems(nb_json, red_output)
    assert not problems, f"{path} in JupyterLab:\n" + "\n".join(problems)
    return nb_json


def _picture_src(picture) -> str:
    return picture.get_attribute("src", timeout=WIDGET_S * 1000) or ""


def _operate_image_browser(page) -> None:
    """Pick another class and another split in the image browser; the picture must change each time."""
    browser = (
        page.locator(".widget-vbox")
        .filter(has=page.locator(".widget-dropdown", has_text="class"))
        .filter(has=page.locator(".widget-toggle-buttons", has_text="split"))
    )
    browser = browser.last  # the innermost box holding both controls and the picture
    browser.scroll_into_view_if_needed(timeout=WIDGET_S * 1000)
    picture = browser.locator("img.widget-image").first
    picture.wait_for(state="visible", timeout=WIDGET_S * 1000)
    page.screenshot(path=SHOTS / "01_access-image-browser-before.png")
    before = _picture_src(picture)
    start = time.monotonic()
    browser.locator(".widget-dropdown select").first.select_option(index=5, timeout=WIDGET_S * 1000)
    page.wait_for_function(
        "([img, old]) => img.src && img.src !== old", arg=[picture.element_handle(), before], timeout=WIDGET_S * 1000
    )
    TIMINGS["image_browser_redraw_class_s"] = round(time.monotonic() - start, 1)
    after_class = _picture_src(picture)
    start = time.monotonic()
    browser.locator(".widget-toggle-buttons button", has_text="val").first.click(timeout=WIDGET_S * 1000)
    page.wait_for_function(
        "([img, old]) => img.src && img.src !== old", arg=[picture.element_handle(), after_class], timeout=WIDGET_S * 1000
    )
    TIMINGS["image_browser_redraw_split_s"] = round(time.monotonic() - start, 1)
    page.wait_for_timeout(500)  # let the new picture paint before the screenshot
    page.screenshot(path=SHOTS / "01_access-image-browser-after.png")
    assert len({before, after_class, _picture_src(picture)}) == 3


def _check_deck(page, deck: Path) -> None:
    """Open a deck offline: it must render, have slides, advance, and load nothing from outside."""
    blocked, errors = [], []
    page.route("**/*", _only_local(blocked))
    page.on("pageerror", lambda e: errors.append(str(e)))
    start = time.monotonic()
    page.goto(deck.as_uri(), timeout=DECK_S * 1000)
    page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=DECK_S * 1000)
    TIMINGS["deck_ready_s"] = round(time.monotonic() - start, 1)
    total = page.evaluate("Reveal.getTotalSlides()")
    assert total >= 10, f"{deck.name}: only {total} slides"
    page.screenshot(path=SHOTS / f"deck-{DECK_NOTEBOOK.stem}-slide-1.png")
    seen = [page.evaluate("JSON.stringify(Reveal.getIndices())")]
    for _ in range(3):
        page.keyboard.press("ArrowRight")
        page.wait_for_function("(old) => JSON.stringify(Reveal.getIndices()) !== old", arg=seen[-1], timeout=DECK_S * 1000)
        seen.append(page.evaluate("JSON.stringify(Reveal.getIndices())"))
    page.wait_for_timeout(800)  # the slide transition
    page.screenshot(path=SHOTS / f"deck-{DECK_NOTEBOOK.stem}-slide-4.png")
    assert len(set(seen)) == 4 and page.evaluate("Reveal.hasPlugin('notes')")
    assert page.locator(".reveal .slides section.present").first.inner_text(timeout=DECK_S * 1000).strip(), "empty slide"
    overflowing = page.evaluate(
        "() => [...document.querySelectorAll('.reveal section.present pre')].filter(p => p.scrollWidth > p.clientWidth + 1).length"
    )
    assert overflowing == 0, f"{overflowing} code blocks run off the slide (a projector cannot scroll sideways)"
    _check_speaker_view(page)
    assert blocked == [] and errors == [], f"blocked requests {blocked}, page errors {errors}"


def _check_speaker_view(page) -> None:
    """README: `s` opens the speaker view with the presenter notes. Go to a slide with notes, press s, read them there."""
    page.evaluate(
        "() => { const s = Reveal.getSlides().find(s => s.querySelector('aside.notes'));"
        " const i = Reveal.getIndices(s); Reveal.slide(i.h, i.v); }"
    )
    with page.expect_popup(timeout=DECK_S * 1000) as popup:
        page.keyboard.press("s")
    speaker = popup.value
    shown = "() => (document.querySelector('.speaker-controls-notes .value') || {}).textContent || ''"
    speaker.wait_for_function(f"() => ({shown})().trim().length > 0", timeout=DECK_S * 1000)
    speaker.screenshot(path=SHOTS / f"deck-{DECK_NOTEBOOK.stem}-speaker-view.png")
    assert "Presenter notes" in speaker.evaluate(shown), "the speaker view shows the slide's presenter notes"
    speaker.close()


def test_jupyterlab_runs_notebook_01_and_its_student_copy_and_a_deck_works_offline(tmp_path):
    sync_playwright = _sync_playwright()
    from tools import site

    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    red_output, course = _red_output(), _course_copy(tmp_path)
    total = time.monotonic()
    start = time.monotonic()
    deck = site.build_slides(tmp_path / "slides", [DECK_NOTEBOOK], execute=True)[0]
    TIMINGS["deck_build_with_execution_s"] = round(time.monotonic() - start, 1)
    with _jupyterlab(course, tmp_path) as (base, token), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], timeout=60_000)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            blocked: list[str] = []
            context.route("**/*", _only_local(blocked))
            page = context.new_page()
            page.set_default_timeout(WIDGET_S * 1000)
            _run_notebook(page, base, token, f"notebooks/{NOTEBOOK.name}", "01_access-course", red_output)
            _operate_image_browser(page)
            page.evaluate(_SAVE)  # through make lab's pre-save hook: the file must stay exactly as committed
            assert (course / "notebooks" / NOTEBOOK.name).read_text() == NOTEBOOK.read_text(), "saving left outputs behind"
            _run_notebook(page, base, token, f"student/{NOTEBOOK.name}", "01_access-student", red_output)
            _check_deck(browser.new_page(viewport={"width": 1280, "height": 800}), deck)
        finally:
            browser.close()
    TIMINGS["total_s"] = round(time.monotonic() - total, 1)
    TIMINGS["requests_blocked_in_jupyterlab"] = len(blocked)
    (SHOTS / "timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")
    print(f"screenshots and timings in {SHOTS}: {json.dumps(TIMINGS)}")
