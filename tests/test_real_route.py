"""The real route, as a student with internet takes it: one switch, the download code, every notebook (issue 13).

Two kinds of test:

* fast (``make test``): every notebook's setup cell obeys ``$FLOWERKIT_DATASET``
  as the README says (unset or ``mini``: mini-flowers; ``real``: the
  download), checked by running each setup cell with the dataset recorded;
* slow (``make test-real``, which CI runs): every notebook runs under nbval
  with ``FLOWERKIT_DATASET=real`` on *hard-flowers* (``tools.hard_flowers``:
  mini-flowers degraded until a small CNN lands far below 80%, packed as the
  real ``102flowers.tgz``, ``imagelabels.mat`` and ``setid.mat``), brought
  in through ``flowerkit.dataset_root("real")`` and the download code from a
  mirror on 127.0.0.1, checked against a test-only md5 table given with
  ``$FLOWERKIT_CHECKSUMS``. Set ``FLOWERKIT_REAL_ROUTE=1`` to run it. Every
  training runs for ``$FLOWERKIT_EPOCHS`` epochs (default here
  :data:`ROUTE_EPOCHS`, a quarter of the real profile's): the route's code is the same
  at any length, the bounds it checks are the ones that hold on any data (fewer epochs only make the accuracy
  bounds harder to meet: at 2, notebook 05's visitor accuracy fell below its 5x-chance bound, 2026-12-06), and CI stays
  short (8 epochs took about 2 minutes more, 2026-12-05). ``make bench-real`` times the full profile.
  The notebooks run in three groups at once (:data:`GROUPS`), with ``$CI`` unset in their kernels: a timing
  the other group's load moves prints the notebook's warning, as on a student's busy laptop; ``make test`` asserts
  the timings, on mini-flowers, with nothing else running.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib as mpl
import nbformat
import numpy as np
import pytest

import flowerkit
from flowerkit import app, expectations, synth
from flowerkit.facts import _threads_each
from tools import hard_flowers

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("0*.ipynb"))
REAL_ROUTE_ENV = "FLOWERKIT_REAL_ROUTE"
#: Epochs of every training on the tested real route, unless $FLOWERKIT_EPOCHS says otherwise.
ROUTE_EPOCHS = expectations.PROFILES["real"].epochs // 4
SWITCH = re.compile(r'^DATASET = os\.environ\.get\("FLOWERKIT_DATASET"\) or "mini"', re.M)  # empty means mini too


def _setup_cell(path: Path) -> str:
    """The one code cell that calls ``flowerkit.dataset_root``."""
    cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code" and "dataset_root(" in c.source]
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells call dataset_root; the setup cell alone should"
    return cells[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_setup_cell_reads_the_switch(path: Path) -> None:
    source = _setup_cell(path)
    assert SWITCH.search(source), f"{path.name}: the setup cell must read DATASET from $FLOWERKIT_DATASET (default mini)"
    assert re.findall(r"dataset_root\(([^)]*)\)", source) == ["DATASET"], f"{path.name}: pass DATASET, never a literal"
    others = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code" and c.source != source]
    assert not [s for s in others if re.search(r"^\s*DATASET\s*=", s, re.M)], f"{path.name}: DATASET is set again later"


@pytest.mark.parametrize("env, expected", [(None, "mini"), ("", "mini"), ("mini", "mini"), ("real", "real")])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_setup_cell_obeys_flowerkit_dataset(
    path: Path, env: str | None, expected: str, mini_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """README: unset (or empty) means mini-flowers; ``FLOWERKIT_DATASET=real`` switches every notebook. (Run on a small mini-flowers.)"""
    asked: list[str | None] = []
    # a setup cell may make a scratch folder that its notebook's last cell removes: here, pytest's tmp_path holds it
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def record(dataset: str | None = None, **kwargs: object) -> Path:
        asked.append(dataset)
        return mini_root

    if env is None:
        monkeypatch.delenv("FLOWERKIT_DATASET", raising=False)
    else:
        monkeypatch.setenv("FLOWERKIT_DATASET", env)
    monkeypatch.setattr(flowerkit, "dataset_root", record)
    # notebook 05's setup trains the app's model (a minute at the real profile's size): the switch is all this tests
    monkeypatch.setattr(app, "trained_artifact", lambda root, dataset=None, **kw: asked.append(f"artifact:{dataset}"))
    monkeypatch.setattr(app, "visitor_photos", lambda root, **kw: [])
    namespace: dict[str, object] = {}
    with mpl.rc_context():  # the setup cell restyles matplotlib; keep that out of the other tests
        exec(compile(_setup_cell(path), f"{path.name}:setup", "exec"), namespace)  # noqa: S102
    trained = ["artifact:" + expected] if "trained_artifact(" in _setup_cell(path) else []
    assert asked == [expected, *trained] and namespace["DATASET"] == expected


@pytest.mark.parametrize("size, test_total", [("full", 6149), ("small", 1122)])
def test_hard_flowers_has_the_real_layout(size: str, test_total: int) -> None:
    """The stand-in's files follow the real dataset's layout; ``full`` has its exact counts."""
    lay = hard_flowers.layout(hard_flowers.SIZES[size])
    labels = lay.labels.astype(int)
    assert lay.labels.dtype == np.uint8 and {lay.trnid.dtype, lay.valid.dtype, lay.tstid.dtype} == {np.dtype(np.uint16)}
    assert (lay.trnid.size, lay.valid.size, lay.tstid.size) == (1020, 1020, test_total)
    assert labels.size == 2040 + test_total and (labels[0], labels[-1]) == (77, 62)
    assert 1 + np.count_nonzero(np.diff(labels)) == 102, "grouped by class, one block each"
    ids = np.concatenate([lay.trnid, lay.valid, lay.tstid]).astype(int)
    assert sorted(ids.tolist()) == list(range(1, labels.size + 1))
    for split, per_class in ((lay.trnid, 10), (lay.valid, 10)):
        assert np.array_equal(np.bincount(labels[split.astype(int) - 1], minlength=103)[1:], np.full(102, per_class))
    assert np.bincount(labels[lay.tstid.astype(int) - 1], minlength=103)[1:].min() >= (20 if size == "full" else 11)
    assert np.all(np.diff(labels[lay.tstid.astype(int) - 1]) >= 0), "setid lists each split ordered by class"


def test_hard_flowers_images_are_deterministic() -> None:
    recipes = synth.class_recipes()
    a, b = (hard_flowers.render_hard(5, 123, hard_flowers.SIZES["small"], recipes) for _ in range(2))
    assert a.mode == "RGB" and min(a.size) == 500 and a.tobytes() == b.tobytes()


#: ``make test-real`` runs the notebooks in these groups at once, each group in its own pytest, in course order (08 reuses
#: the app model 05 trains; what every group needs first, the download, one fetches while the others wait on its lock).
#: A notebook named in no group joins the last. Three groups on 2 cores, balanced by time: 346, 361 and 357 s on
#: 2026-12-06 (373 s in all, the stand-in built); two groups (00-02+04, 03+05-08) took 367 and 433 s, one core idle
#: for the last minute, and a third group fills some waits (workers starting, watchdogs).
GROUPS = (("03", "04"), ("00", "01", "02", "06"), ("05", "07", "08"))


def _nbval(notebooks: list[Path], env: dict[str, str], log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pytest", *map(str, notebooks), "--nbval-lax", "--nbval-current-env"]
    cmd += [
        "--nbval-cell-timeout=900",
        "--nbval-kernel-startup-timeout=300",
        "-p",
        "no:cacheprovider",
        "-q",
        "-rf",
        "--tb=line",
        "--durations=12",
    ]
    with open(log, "w") as out:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)


def run_notebooks_on_the_real_route(size: str, data: Path, notebooks: list[Path], log: Path, *, together: bool = True) -> int:
    """Serve hard-flowers ``size`` on 127.0.0.1 and run ``notebooks`` under nbval with FLOWERKIT_DATASET=real.

    With ``together`` the :data:`GROUPS` run at the same time, and ``$CI`` is unset in their kernels: the other group's
    load moves their timings, so a missed timing prints the notebook's "Warning, not an error", as on a student's busy
    laptop (the promise here: nothing halts a Run All on the real data for a reason that is not a bug); every other check
    holds. ``make test`` asserts the timings, on mini-flowers, alone. Returns 0 when every cell passed; ``log`` gets
    each group's output in turn.
    """
    folder = hard_flowers.hard_flowers(size)
    groups = [[p for p in notebooks if p.name[:2] in group] for group in GROUPS] if together else [notebooks]
    groups[-1] += [p for p in notebooks if not any(p in group for group in groups)]  # a new notebook is never left out
    groups = [group for group in groups if group]
    logs = [log.with_name(f"{log.stem}.{i}{log.suffix}") for i in range(len(groups))]
    with hard_flowers.serve(folder) as mirror:
        env = {**os.environ, **hard_flowers.real_route_env(mirror, folder, data)}
        env.setdefault(expectations.EPOCHS_ENV, str(ROUTE_EPOCHS))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        if len(groups) > 1:
            env.pop(expectations.CI_ENV, None)
            env.setdefault("OMP_NUM_THREADS", str(_threads_each(len(groups))))  # each group its share of the cores
        procs = [_nbval(group, env, group_log) for group, group_log in zip(groups, logs)]
        codes = [proc.wait() for proc in procs]
    log.write_text("".join(group_log.read_text() for group_log in logs))
    return max(codes, default=0)


def excused_summary(path: Path) -> str:
    """The targets the notebooks missed but excused (timings under load, accuracies after shortened training), one line each."""
    misses = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    lines = [f"  {m['key']}: {m['value']:.4g}, expected {m['bound']} (excused: {m['excuse']})" for m in misses]
    unknown = sorted({m["key"] for m in misses} - set(expectations.TARGETS))
    assert not unknown, f"excused misses of targets expectations.TARGETS does not have: {unknown}"
    return "\n".join([f"targets missed but excused on the real route: {len(misses)}", *lines])


@pytest.mark.skipif(os.environ.get(REAL_ROUTE_ENV) != "1", reason="minutes: run with make test-real")
def test_every_notebook_runs_on_the_real_route(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log = tmp_path / "nbval.log"
    excused = tmp_path / "excused.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(expectations.EXPECT_LOG_ENV, str(excused))
        code = run_notebooks_on_the_real_route("small", data, NOTEBOOKS, log)
    output = log.read_text()
    print(output[-8000:])  # each group's slowest cells and per-notebook times (conftest.py), shown with -s or on failure
    print(excused_summary(excused))
    failed = re.findall(r"^FAILED (\S+)", output, re.M)
    assert code == 0, f"cells failing on the real route: {failed}\n{output[-8000:]}"
    ran = re.findall(r"^notebooks/(\d\d)_\S+: (\d+) of (\d+) cells executed", output, re.M)
    assert sorted(nb for nb, done, of in ran if done == of) == [p.name[:2] for p in NOTEBOOKS], f"not every cell ran: {ran}"
    assert (data / "oxford" / "flowers-102" / ".jpg.complete").is_file(), "the dataset came through the download code"
    assert not (data / "mini").exists(), "a notebook ignored FLOWERKIT_DATASET=real and generated mini-flowers"
