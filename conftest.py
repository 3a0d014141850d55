"""Repository-wide pytest hooks: a notebook that silently ran nothing fails the run; red output fails a cell.

nbval turns every code cell of a notebook into a test item. Like
pytorch/tutorials' check for tutorials that "ran in 0.000 sec", this fails
the session if a course notebook collected under nbval executed no cell, and
reports how long each notebook took (budgets live in NOTEBOOK_BUDGET_S).

nbval fails a cell only on an error reply. A traceback printed to stderr (an
``Exception ignored in ...`` from a garbage-collected DataLoader) or a warning
leaves the cell green, yet a student sees red text: ``pytest_runtest_call``
fails such a cell too, with the offending text (issue 17).
"""

from __future__ import annotations

import collections
import re
from pathlib import Path

import pytest

try:
    from nbval.plugin import NbCellError
except ImportError:  # pytest without nbval: there are no notebook cells to check
    NbCellError = None

# Seconds each notebook should take on a 2-core machine with the data already generated. Report only: a notebook over
# its budget is flagged in the summary, never failed (a shared machine's load is not a bug; the CI total is what we keep
# under 30 minutes), so read the flags of a quiet run before trimming a notebook.
NOTEBOOK_BUDGET_S = {"00": 60, "01": 60, "02": 120, "03": 120, "04": 240, "05": 120, "06": 180, "07": 180, "08": 180}

_ran: dict[str, int] = collections.Counter()
_collected: dict[str, int] = collections.Counter()
_seconds: dict[str, float] = collections.defaultdict(float)


def _notebook_of(nodeid: str) -> str | None:
    path = nodeid.split("::", 1)[0]
    return path if path.endswith(".ipynb") else None


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects: ``make test`` runs ``-m timed`` alone, after the parallel tests
def pytest_collection_modifyitems(session, config, items):
    for item in items:
        nb = _notebook_of(item.nodeid)
        if nb:
            item.add_marker(pytest.mark.timed)  # notebook cells measure speeds (03's cache, 04's budget): never beside others
            _collected[nb] += 1


def pytest_runtest_logreport(report):
    nb = _notebook_of(report.nodeid)
    if nb and report.when == "call":
        _seconds[nb] += report.duration
        if report.passed or report.failed:
            _ran[nb] += 1


def pytest_collectreport(report):
    # a notebook file collected but yielding no cell items at all
    nb = _notebook_of(report.nodeid)
    if nb and report.passed and not report.result:
        _collected.setdefault(nb, 0)


def pytest_sessionfinish(session, exitstatus):
    empty = [nb for nb in _collected if _ran[nb] == 0]
    if empty and exitstatus in (0, 5) and not session.config.option.collectonly:
        session.exitstatus = 1
        session.config._flowerkit_empty = empty


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _collected:
        return
    tr = terminalreporter
    tr.section("notebooks")
    for nb in sorted(_collected):
        budget = NOTEBOOK_BUDGET_S.get(Path(nb).name[:2])
        flag = f" (over its {budget} s budget)" if budget and _seconds[nb] > budget else ""
        tr.write_line(f"{nb}: {_ran[nb]} of {_collected[nb]} cells executed in {_seconds[nb]:.1f} s{flag}")
    for nb in getattr(config, "_flowerkit_empty", []):
        tr.write_line(f"FAILED: {nb} executed no cell (an empty notebook, or every cell skipped)", red=True)


# Red text a student should never see in a cell's output. A traceback anywhere; on stderr also a warning.
# A cell that shows an error on purpose says so with nbval's tag `raises-exception`.
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^Exception ignored in", re.M)
_WARNING = re.compile(r"^(\S+:\d+: )?[A-Z]\w*Warning: ", re.M)


def red_output(outputs: list) -> str | None:
    """The first traceback (any output) or warning (stderr) in a cell's outputs, as text; None if there is none."""
    for out in outputs or []:
        if out.get("output_type") == "stream":
            text, stderr = out.get("text", ""), out.get("name") == "stderr"
        else:
            text, stderr = out.get("data", {}).get("text/plain", ""), False
        text = "".join(text) if isinstance(text, list) else text
        if _TRACEBACK.search(text) or (stderr and _WARNING.search(text)):
            return f"{out.get('name', out.get('output_type'))}:\n{text}"
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    outputs = getattr(item, "test_outputs", None)  # nbval's IPyNbCell keeps what the cell printed
    if outputs is not None and NbCellError and not item.options.get("check_exception"):
        red = red_output(outputs)
        if red:
            raise NbCellError(
                item.cell_num, "the cell printed a traceback or a warning (a student sees it in red)", item.cell.source, red
            )
    return result
