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
