"""``python -m flowerkit.doctor FOLDER_OR_CSV``: a user's own images, from a folder or a CSV (notebook ``08_your_own_data``).

:func:`main` reads an image folder (one sub-folder per class, optionally inside ``train/ val/ test/``) or a CSV
of file and label (and maybe split), runs :func:`flowerkit.doctor.diagnose` on it, adds the files that cannot be
read and the label names that are one class written several ways, prints the report and exits 1 on a problem.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from ..curate import LabelledImages, normalise_name
from ..facts import DEFAULT_SIZE
from ..load import CollateNormalize
from .diagnose import diagnose
from .findings import _Finding

__all__ = ["main"]

_SPLIT_FOLDERS = ("train", "val", "valid", "validation", "test")
_FILE_COLUMNS = ("file", "filename", "file_name", "path", "image", "image_path")
_LABEL_COLUMNS = ("label", "class", "species", "target", "category", "y")
_Table = tuple[list[Path], list[int]]


def _class_folders(folder: Path, classes: list[str]) -> _Table:
    """Every file under ``folder/<class>/``, labelled by the class folder's index in ``classes``.

    Hidden files (``.DS_Store``) are left out; any other file is kept whatever its suffix, so that a photo flowerkit
    cannot read (``.heic``) or a stray file is reported as unusable instead of silently ignored.
    """
    files, labels = [], []
    for k, name in enumerate(classes):
        found = sorted(f for f in (folder / name).rglob("*") if f.is_file() and not f.name.startswith("."))
        files += found
        labels += [k] * len(found)
    return files, labels


def _read_folder(folder: Path) -> tuple[dict[str, _Table], list[str]]:
    """A class-per-folder tree (ImageFolder's layout), optionally one per split (train/, val/, test/); classes sorted by name."""
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if subdirs and all(d.name.lower() in _SPLIT_FOLDERS for d in subdirs):
        roots = {d.name: d for d in subdirs}
    else:
        roots = {folder.name: folder}
    classes = sorted({d.name for r in roots.values() for d in r.iterdir() if d.is_dir() and not d.name.startswith(".")})
    if not classes:
        raise ValueError(f"{folder} has no class folders: put each class's images in a folder named after it, or give a CSV")
    return {name: _class_folders(root, classes) for name, root in roots.items()}, classes


def _column(columns: Sequence[str], given: str | None, usual: Sequence[str], fallback: int) -> str:
    if given:
        if given not in columns:
            raise ValueError(f"no column {given!r}; the CSV has {list(columns)}")
        return given
    return next((c for c in columns if c.strip().lower() in usual), columns[min(fallback, len(columns) - 1)])


def _read_table(path: Path, images: Path, args: Any) -> tuple[dict[str, _Table], list[str] | None]:
    """A CSV of file and label (and maybe split): integer labels stay as written, names become indices (sorted)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            rows, columns = list(reader), list(reader.fieldnames or [])
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text ({exc.reason}): is it a CSV? Saved by Excel, save it as 'CSV UTF-8'") from exc
    if len(columns) < 2 or not rows:
        raise ValueError(f"{path}: expected a header line and rows with at least a file and a label column")
    fc = _column(columns, args.file_column, _FILE_COLUMNS, 0)
    lc = _column(columns, args.label_column, _LABEL_COLUMNS, 1)
    _check_rows(path, rows, (fc, lc))
    sc = _column(columns, args.split_column, ("split",), len(columns)) if args.split_column or "split" in columns else None
    values = [r[lc] for r in rows]
    numeric = all(v.strip().lstrip("-").isdigit() for v in values)
    classes = None if numeric else sorted(set(values))
    index = {name: k for k, name in enumerate(classes or [])}
    tables: dict[str, _Table] = {}
    for r, v in zip(rows, values):
        files, labels = tables.setdefault(r[sc] if sc else path.stem, ([], []))
        files.append(images / r[fc])
        labels.append(int(v) if numeric else index[v])
    return tables, classes


def _check_rows(path: Path, rows: Sequence[dict[str, str | None]], needed: Sequence[str]) -> None:
    """Refuse a row with an empty or missing cell in a column the audit needs, naming its line."""
    for number, row in enumerate(rows, 2):  # line 1 is the header
        empty = [column for column in needed if not (row.get(column) or "").strip()]
        if empty:
            raise ValueError(f"{path} line {number}: no {empty[0]!r} value; every row needs a file and a label")


def _label_names_finding(classes: Sequence[str]) -> _Finding:
    """Label names that mean the same class once case, spaces, punctuation and plurals are set aside."""
    groups: dict[str, list[str]] = {}
    for name in classes:
        groups.setdefault(normalise_name(name), []).append(name)
    same = [g for g in groups.values() if len(g) > 1]
    evidence = {"names": len(classes), "after_normalising": len(groups)}
    if same:
        evidence["example"] = " = ".join(repr(n) for n in same[0][:4])
        msg = f"{sum(len(g) for g in same)} label names are {len(same)} classes written in several ways: each becomes a class of its own"
        return _Finding("access", "label names", False, msg, evidence)
    return _Finding("access", "label names", True, "every label name is a different class", evidence)


def _unreadable_finding(skipped: Sequence[tuple[Path, str]], total: int) -> _Finding:
    if skipped:
        first = "; ".join(f"{p.name}: {why}" for p, why in skipped[:3])
        msg = f"{len(skipped)} of {total} files cannot be used (missing, empty, not an image, truncated): fix or drop them"
        return _Finding("access", "unreadable files", False, msg, {"first": first})
    return _Finding("access", "unreadable files", True, f"all {total} files decode", {"files": total})


def _loader_for(
    files: list[Path], labels: list[int], size: int, seed: int, where: str = "", hint: str = ""
) -> tuple[DataLoader, LabelledImages]:
    """The files as a shuffled loader of normalised batches (statistics from up to 256 of them): the data, not a pipeline, is checked."""
    ds = LabelledImages(files, labels, size)
    if not len(ds):
        example = f", e.g. {ds.skipped[0][0]}: {ds.skipped[0][1]}" if ds.skipped else ""
        raise ValueError(f"{where}: none of its {len(files)} files can be used{example}. {hint}".strip())
    pick = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:256].tolist()
    x = torch.stack([ds[i][0] for i in pick]).float().div_(255)
    mean, std = x.mean((0, 2, 3)).tolist(), x.std((0, 2, 3)).clamp_min(1e-3).tolist()
    g = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=64, shuffle=True, collate_fn=CollateNormalize(mean, std), generator=g), ds


def _cli_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flowerkit.doctor",
        description="Audit your own images and labels: an image folder (one sub-folder per class, optionally inside "
        "train/ val/ test/) or a CSV of file and label. Prints the report; exits 1 if it finds a problem.",
    )
    parser.add_argument("data", type=Path, help="an image folder, or a .csv file")
    parser.add_argument("--images", type=Path, help="where a CSV's files are (default: the CSV's folder)")
    parser.add_argument("--file-column", help="the CSV column with file names (default: file, path, image...)")
    parser.add_argument("--label-column", help="the CSV column with labels (default: label, class, species...)")
    parser.add_argument("--split-column", help="the CSV column naming each row's split (default: split, if present)")
    parser.add_argument("--num-classes", type=int, help="how many classes there should be (checks the label range)")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="image size for the checks (default %(default)s)")
    parser.add_argument("--measure", action="store_true", help="also time decoding and loading")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flowerkit.doctor DATA``: audit an image folder or a CSV of file and label; 1 if a problem is found, else 0.

    Introduced in notebook ``08_your_own_data``. Prints how the data was read, then the report of
    :func:`diagnose` with the checks it skipped and why; with several splits (folders or a split column) it
    also looks for the same photo in two splits.
    """
    parser = _cli_parser()
    args = parser.parse_args(argv)
    try:
        if args.data.is_dir():
            tables, classes = _read_folder(args.data)
        else:
            tables, classes = _read_table(args.data, args.images or args.data.parent, args)
        hint = (
            "Each class folder should hold image files."
            if args.data.is_dir()
            else f"Files are looked up in {args.images or args.data.parent}: pass --images FOLDER if they are elsewhere."
        )
        loaders = {
            name: _loader_for(files, labels, args.size, args.seed, f"{args.data}, split {name!r}", hint)
            for name, (files, labels) in tables.items()
        }
    except (OSError, ValueError, KeyError) as exc:
        parser.error(str(exc))
    kinds = f"{len(classes)} class names" if classes else "integer labels"
    print(f"{args.data}: {sum(len(t[0]) for t in tables.values())} files in {', '.join(tables)}; {kinds}")
    num_classes = args.num_classes or (len(classes) if classes else None)
    target = {name: loader for name, (loader, _) in loaders.items()}
    report = diagnose(
        target if len(target) > 1 else next(iter(target.values())), num_classes=num_classes, measure=args.measure, seed=args.seed
    )
    skipped = [s for _, ds in loaders.values() for s in ds.skipped]
    report.append(_unreadable_finding(skipped, sum(len(t[0]) for t in tables.values())))
    if classes:
        report.append(_label_names_finding(classes))
    print(report)
    return 1 if report.problems else 0
