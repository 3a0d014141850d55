"""What the real route costs: download + extract, disk, each notebook's time and our pipeline's accuracy.

The real Oxford 102 photos cannot be downloaded here, so this measures the
route on *hard-flowers* (``tools/hard_flowers.py``): a synthetic stand-in
at the real dataset's size (8,189 images, the real split counts), much harder
to learn than mini-flowers, packed as the real three files and served from
127.0.0.1. Everything goes through ``flowerkit.dataset_root("real")`` with
``FLOWERKIT_MIRRORS`` and ``FLOWERKIT_CHECKSUMS``, in a fresh data folder.

    .venv/bin/python benchmarks/real_route.py                  # full size, every notebook, the teams
    .venv/bin/python benchmarks/real_route.py --size small     # the CI-sized stand-in
    .venv/bin/python benchmarks/real_route.py --notebooks 00 02 --no-teams --epochs 30 --img-size 96

Label the figures "measured on a hard synthetic stand-in at the real
dataset's size" (and "on a busy machine" when it was shared): the time on
real photos differs (real JPEGs decode at about the same speed, sizes up to
1000 px), and real accuracies are not measured here. The last line printed
is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script, this folder comes first on the path; tools/ lives at the repo root

from flowerkit import expectations  # noqa: E402
from flowerkit.facts import ARCHIVE, DATASET_FOLDER  # noqa: E402
from tools import hard_flowers  # noqa: E402


def _du(path: Path) -> int:
    """Bytes on disk under ``path`` (allocated blocks, like ``du``)."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_blocks * 512 for p in files)


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, proc


def download(env: dict[str, str], data: Path) -> dict[str, float]:
    """Time ``dataset_root("real")`` from an empty data folder; measure what it leaves on disk."""
    seconds, proc = _run([sys.executable, "-c", "import flowerkit; print(flowerkit.dataset_root('real', progress=False))"], env)
    if proc.returncode:
        raise SystemExit(f"download failed:\n{proc.stderr[-3000:]}")
    folder = data / "oxford" / DATASET_FOLDER
    return {
        "download_extract_s": round(seconds, 1),
        "archive_mb": round((folder / ARCHIVE).stat().st_size / 1e6, 1),
        "disk_mb": round(_du(folder) / 1e6, 1),
        "disk_without_archive_mb": round((_du(folder) - _du(folder / ARCHIVE)) / 1e6, 1),
    }


def notebook(path: Path, env: dict[str, str]) -> dict[str, object]:
    """Run one notebook under nbval (as ``make test`` does); return its wall time and the cells that failed."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(path),
        "--nbval-lax",
        "--nbval-current-env",
        "--nbval-cell-timeout=1800",
        "--nbval-kernel-startup-timeout=300",
    ]
    seconds, proc = _run([*cmd, "-p", "no:cacheprovider", "-q", "-rf", "--tb=line"], env)
    failed = re.findall(r"^FAILED \S+::(Cell \d+)", proc.stdout, re.M)
    errors = re.findall(r"^E\s+(.*(?:Error|assert).*)$", proc.stdout, re.M)
    return {"seconds": round(seconds, 1), "passed": proc.returncode == 0, "failed_cells": failed, "errors": errors[:5]}


def teams(env: dict[str, str], size: int, epochs: int) -> dict[str, object]:
    """``python -m flowerkit.teams --dataset real`` at the given profile; its JSON line and wall time."""
    cmd = [sys.executable, "-m", "flowerkit.teams", "--dataset", "real", "--size", str(size), "--epochs", str(epochs)]
    seconds, proc = _run([*cmd, "--quiet"], env)
    if proc.returncode:
        return {"error": proc.stderr[-2000:]}
    print(proc.stdout)
    return {"size": size, "epochs": epochs, "wall_s": round(seconds, 1), **json.loads(proc.stdout.strip().splitlines()[-1])}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the measurements in order (never in parallel), print the table and JSON."""
    profile = expectations.profile("real")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(hard_flowers.SIZES), default="full")
    parser.add_argument("--notebooks", nargs="*", default=None, help="prefixes such as 00 02 (default: all)")
    parser.add_argument("--no-teams", action="store_true", help="skip python -m flowerkit.teams")
    parser.add_argument("--img-size", type=int, default=profile.size, help="default: PROFILES['real'].size")
    parser.add_argument("--epochs", type=int, default=profile.epochs, help="default: PROFILES['real'].epochs")
    parser.add_argument("--data", type=Path, default=None, help="data folder to download into (default: a temporary one)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    folder = hard_flowers.hard_flowers(args.size)
    result: dict[str, object] = {"stand_in": args.size, "stand_in_build_s": round(time.perf_counter() - start, 1)}
    paths = sorted((REPO / "notebooks").glob("0*.ipynb"))
    if args.notebooks is not None:
        paths = [p for p in paths if p.name[:2] in args.notebooks]
    with tempfile.TemporaryDirectory(prefix="real-route-") as tmp, hard_flowers.serve(folder) as mirror:
        data = args.data or Path(tmp) / "data"
        env = {**os.environ, **hard_flowers.real_route_env(mirror, folder, data)}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        result["download"] = download(env, data)
        print(json.dumps(result["download"]), flush=True)
        result["notebooks"] = {}
        for path in paths:
            result["notebooks"][path.stem] = notebook(path, env)  # type: ignore[index]
            print(path.stem, json.dumps(result["notebooks"][path.stem]), flush=True)  # type: ignore[index]
        # what the notebooks leave beside the photos: decoded caches, shards, artifacts (README "What to expect")
        result["disk_after_notebooks_mb"] = {
            folder.name: round(_du(folder) / 1e6, 1) for folder in sorted(data.iterdir()) if folder.is_dir()
        }
        print(json.dumps(result["disk_after_notebooks_mb"]), flush=True)
        if not args.no_teams:
            result["teams"] = teams(env, args.img_size, args.epochs)
    result["cores"] = os.cpu_count()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
