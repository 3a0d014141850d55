"""The prepared GPU check (benchmarks/gpu_check.sh, benchmarks/gpu.py, benchmarks/gpu_summary.py), on the CPU side.

On a machine without CUDA, the check says so and exits 0 without running anything; its summary reads the logs a GPU
run leaves. The GPU figures themselves come from a run on a GPU machine (README, "On a GPU").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the check would really run")


@NO_GPU
def test_the_check_exits_0_and_runs_nothing_without_a_gpu(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", str(tmp_path / "out")], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "no CUDA GPU here" in proc.stdout and not (tmp_path / "out").exists()


@NO_GPU
def test_the_gpu_benchmark_says_so_on_a_cpu() -> None:
    proc = subprocess.run([sys.executable, "benchmarks/gpu.py"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and json.loads(proc.stdout.strip().splitlines()[-1]) == {"cuda": False}


def test_the_summary_collects_each_steps_figures(tmp_path: Path) -> None:
    (tmp_path / "steps.tsv").write_text("data\t0\t1500\ncapstone\t124\t100000\n")
    (tmp_path / "capstone.log").write_text('training...\n{"teams": {"ours": {"test_acc": 0.9}}}\n')
    (tmp_path / "gpu.log").write_text("not json\n")
    (tmp_path / "notebooks.log").write_text("notebooks/03_load.ipynb: 80 of 81 cells executed in 12.5 s\n1 failed, 80 passed\n")
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu_summary.py", str(tmp_path)], cwd=REPO, capture_output=True, text=True, check=True
    )
    out = json.loads(proc.stdout)
    assert out["steps"]["capstone"] == {"rc": 124, "seconds": 100.0}  # 124: the step ran out of time
    assert out["capstone"]["teams"]["ours"]["test_acc"] == 0.9 and out["gpu"] is None and out["loading64"] is None
    assert out["notebooks"]["notebooks/03_load.ipynb"] == {"ran": 80, "cells": 81, "seconds": 12.5}
    assert out["notebooks_summary"] == "1 failed, 80 passed"


def _run_with_a_fake_cuda_python(tmp_path: Path, expect_rc: int = 0, **env: str) -> list[str]:
    """Run the check with a stand-in Python that says CUDA is there and records each call; return the non ``-c`` calls."""
    calls = tmp_path / "calls.txt"
    fake = tmp_path / "python"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> {calls}\n'
        'case "$*" in *cpu_count*) echo 16;; *get_device_name*) echo "gpu_check: a fake GPU";; esac\n'
        "exit 0\n"
    )
    fake.chmod(0o755)
    (tmp_path / "no-wheels").mkdir()  # whatever this checkout's .whl/ holds, the fake installs nothing
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GPU_CHECK_NOTEBOOKS")} | {
        "PYTHON": str(fake),
        "GPU_CHECK_WHEELS": str(tmp_path / "no-wheels"),
        **env,
    }
    proc = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", str(tmp_path / "out")], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == expect_rc, proc.stdout + proc.stderr  # e.g. set -u and an unset variable on a bare machine
    return [line for line in calls.read_text().splitlines() if not line.startswith("-c ")] if calls.exists() else []


def test_the_check_runs_every_step_in_order_with_as_many_workers_as_cores(tmp_path: Path) -> None:
    ran = _run_with_a_fake_cuda_python(tmp_path)
    steps = [line.split("\t")[0] for line in (tmp_path / "out" / "steps.tsv").read_text().splitlines()]
    assert steps == ["data", "notebooks", "capstone", "loading64", "loading128", "gpu"]
    assert "notebooks/03_load.ipynb notebooks/04_three_teams.ipynb" in ran[1] and ran[2] == "-m flowerkit.teams --quiet"
    assert all("--workers 16" in line for line in ran[3:5]) and ran[-1].startswith("benchmarks/gpu_summary.py")


def test_a_second_call_runs_only_the_notebooks_it_names(tmp_path: Path) -> None:
    """``GPU_CHECK_NOTEBOOKS="02 05"``: the data step, then nbval on those notebooks, nothing else (a fake CUDA Python)."""
    ran = _run_with_a_fake_cuda_python(tmp_path, GPU_CHECK_NOTEBOOKS="02 05")
    assert ran[0] == "-m flowerkit data" and len(ran) == 2, ran
    assert ran[1].startswith("-m pytest") and "notebooks/02_transform.ipynb notebooks/05_the_app.ipynb --nbval-lax" in ran[1]
    steps = [line.split("\t")[0] for line in (tmp_path / "out" / "steps.tsv").read_text().splitlines()]
    assert steps == ["data", "notebooks_more"]


def test_a_second_call_naming_a_notebook_that_is_not_there_stops_before_running_anything_else(tmp_path: Path) -> None:
    ran = _run_with_a_fake_cuda_python(tmp_path, expect_rc=2, GPU_CHECK_NOTEBOOKS="02 99")
    assert not any(line.startswith("-m pytest") for line in ran), "an empty list would make pytest run the unit tests"
