"""Repository-wide pytest hooks: a notebook that silently ran nothing fails the run.

nbval turns every code cell of a notebook into a test item. Like
pytorch/tutorials' check for tutorials that "ran in 0.000 sec", this fails
the session if a course notebook collected under nbval executed no cell, and
reports how long each notebook took (budgets live in NOTEBOOK_BUDGET_S).
"""

from __future__ import annotations

import collections
from pathlib import Path

# Seconds each notebook should take on a 2-core machine with the data already generated.
NOTEBOOK_BUDGET_S = {"00": 60, "01": 60, "02": 90, "03": 120, "04": 240, "05": 120}

_ran: dict[str, int] = collections.Counter()
_collected: dict[str, int] = collections.Counter()
_seconds: dict[str, float] = collections.defaultdict(float)


def _notebook_of(nodeid: str) -> str | None:
    path = nodeid.split("::", 1)[0]
    return path if path.endswith(".ipynb") else None


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        nb = _notebook_of(item.nodeid)
        if nb:
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
