"""Collect the GPU check's figures into one JSON object (run by benchmarks/gpu_check.sh; reads only its logs).

    python benchmarks/gpu_summary.py OUTDIR

Each step's exit code and seconds (OUTDIR/steps.tsv, milliseconds there), the last JSON line of each benchmark's log
(the capstone, the loading benchmark at 64 and 128 px, benchmarks/gpu.py) and nbval's per-notebook lines.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

NOTEBOOK_LINE = re.compile(r"^(notebooks/\S+\.ipynb): (\d+) of (\d+) cells executed in ([\d.]+) s", re.M)


def last_json(log: Path) -> dict | None:
    """The last line of ``log`` that parses as a JSON object, or None."""
    if not log.exists():
        return None
    for line in reversed(log.read_text(errors="replace").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def summary(outdir: Path) -> dict:
    """Everything the check measured, keyed by step."""
    steps = {}
    for row in (outdir / "steps.tsv").read_text().splitlines():
        name, rc, ms = row.split("\t")
        steps[name] = {"rc": int(rc), "seconds": round(int(ms) / 1000, 1)}
    out: dict = {"steps": steps}
    for name in ("capstone", "loading64", "loading128", "gpu"):
        out[name] = last_json(outdir / f"{name}.log")
    nb_log = outdir / "notebooks.log"
    text = nb_log.read_text(errors="replace") if nb_log.exists() else ""
    out["notebooks"] = {
        m[1]: {"ran": int(m[2]), "cells": int(m[3]), "seconds": float(m[4])} for m in NOTEBOOK_LINE.finditer(text)
    }
    out["notebooks_summary"] = (text.strip().splitlines() or [""])[-1]
    return out


if __name__ == "__main__":
    print(json.dumps(summary(Path(sys.argv[1]))))
