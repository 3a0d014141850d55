"""The command line: ``python -m flowerkit.app train|predict|serve`` (notebook ``05_the_app``).

::

    python -m flowerkit.app train --out app.pt [--dataset mini|real]
    python -m flowerkit.app predict app.pt photo.jpg [photo2.png ...] [--top 5]
    python -m flowerkit.app serve app.pt [--port 8000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..config import DATASETS, dataset_root, default_dataset
from .artifact import ArtifactError, PhotoError, Predictor, save_artifact
from .server import HOST, make_server
from .training import train_artifact

__all__ = ["main"]


def _unwritable(out: Path) -> str | None:
    """Why the artifact cannot be written to ``out`` (checked before minutes of training), or None."""
    out = Path(out)
    if out.is_dir():
        return f"--out {out} is a folder: give a file name, e.g. {out / 'flowers.pt'}"
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        return f"--out {out}: the folder {folder} does not exist: create it first"
    if not os.access(folder, os.W_OK):
        return f"--out {out}: the folder {folder} is not writable: choose another place"
    return None


def _cmd_train(args: argparse.Namespace) -> int:
    problem = _unwritable(args.out)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    dataset = args.dataset or default_dataset()
    root = args.root or dataset_root(dataset, progress=not args.quiet)
    artifact = train_artifact(root, dataset=dataset, epochs=args.epochs, seed=args.seed, progress=not args.quiet)
    save_artifact(artifact, args.out)
    print(json.dumps({"artifact": str(args.out), **artifact["provenance"]}))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    try:
        predictor = Predictor.load(args.artifact)
    except ArtifactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for photo in args.photos:
        try:
            print(json.dumps({"file": photo, "top": predictor.predict(photo, args.top)}), flush=True)
        except PhotoError as exc:
            failed += 1
            print(json.dumps({"file": photo, "error": str(exc)}), flush=True)
    return 1 if failed else 0


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        server = make_server(Predictor.load(args.artifact), args.port, quiet=False)
    except ArtifactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"the garden's app: http://{HOST}:{server.server_address[1]}/  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m flowerkit.app", description="The botanical garden's app (notebook 05).")
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train our pipeline and save the model as one artifact file")
    tr.add_argument("--out", type=Path, required=True, help="the artifact file to write, e.g. app.pt")
    tr.add_argument("--dataset", choices=DATASETS, default=None, help="default: $FLOWERKIT_DATASET or mini")
    tr.add_argument(
        "--root", type=Path, default=None, help="a folder holding flowers-102/; --dataset then only picks the training profile"
    )
    tr.add_argument("--epochs", type=int, default=None, help="default: the dataset's profile (flowerkit.expectations)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--quiet", action="store_true", help="no progress bars")
    pr = sub.add_parser("predict", help="print one JSON line per photo: its top classes, or an error")
    pr.add_argument("artifact", type=Path)
    pr.add_argument("photos", nargs="+")
    pr.add_argument("--top", type=int, default=5, help="how many classes per photo (default 5)")
    se = sub.add_parser("serve", help=f"a one-page app on http://{HOST}:PORT/")
    se.add_argument("artifact", type=Path)
    se.add_argument("--port", type=int, default=8000)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flowerkit.app train|predict|serve``; returns the exit code (``predict``: 1 if any photo failed).

    Introduced in notebook ``05_the_app``.
    """
    args = _parser().parse_args(argv)
    return {"train": _cmd_train, "predict": _cmd_predict, "serve": _cmd_serve}[args.command](args)
