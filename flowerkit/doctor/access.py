"""The access checks of :func:`flowerkit.doctor.diagnose` (notebooks ``04_three_teams`` and ``01_access``).

Do the items load, do the labels lie in range and cover every class, do they belong to their images (against
``imagelabels.mat`` when it lies beside the images, else the label probe), is any file listed twice or saved twice
under two names, and does a split hold images of another (``setid.mat``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..facts import LABELS_FILE, SETID_FILE
from .findings import _Finding, _Report
from .foreign import _identical_files_finding, _probe_finding, _Sample
from .subject import _Subject

__all__: list[str] = []

_IMAGE_ID = re.compile(r"image_(\d+)\.jpg$")
_HASH_LIMIT = 20_000  # files hashed for identical content; more would take minutes


def _image_ids(files: list[Path]) -> list[int | None]:
    out: list[int | None] = []
    for f in files:
        m = _IMAGE_ID.search(f.name)
        out.append(int(m.group(1)) if m else None)
    return out


def _access_checks(s: _Subject, num_classes: int | None, sample: _Sample | None, seed: int) -> _Report:
    report = _Report()
    if sample is not None:
        report.append(_items_finding(sample))
    items = sample is not None and sample.labels is not None
    y = sample.labels if items else (torch.as_tensor(s.labels) if s.labels is not None else None)  # type: ignore[union-attr]
    if y is None:
        report.skip("access", "label range", "no labels: none in the dataset's attributes, none in (image, label) items")
        return report
    # the labels the model gets (items), else the whole dataset's; the range is reported only if it is wrong
    problem = _range_problem(y, num_classes, f"{len(y)} sampled items" if items else str(s.labels_from))
    report.extend([problem] if problem is not None else [])
    if problem is not None:  # counts of out-of-range labels would mislead (a 1-based 102 clamped into class 101)
        report.skip("access", "class balance", "the label range is wrong: fix it first, then count the classes")
    elif s.labels is not None:
        report.append(_class_balance_finding(s, torch.as_tensor(s.labels), num_classes))
    else:
        report.skip("access", "class balance", f"labels known only from a sample of {len(y)} items, not every item's")
    if s.reference is not None:
        report.skip("access", "labels belong to images", f"{LABELS_FILE} beside the images gave the stronger check")
    else:
        probe = _probe_finding(sample, seed) if sample is not None else None
        report.extend([probe] if probe is not None else [])
        if probe is None:
            report.skip("access", "labels belong to images", "too few items per class for the label probe (3 or more each)")
    report.extend(_file_checks(s))
    return report


def _file_checks(s: _Subject) -> _Report:
    """Duplicated files; against Oxford's .mat files when they are beside the images, else identical contents."""
    report = _Report()
    if not s.files:
        report.skip("access", "duplicates", "the dataset keeps no file list the doctor can read")
        report.skip("access", "labels match files", "no file list to look up in a reference")
        return report
    report.append(_duplicates_finding(s.files))
    ids = _image_ids(s.files)
    ref = s.reference
    if ref is None or any(i is None for i in ids):
        report.skip("access", "labels match files", f"no {LABELS_FILE} beside the images (not Oxford's layout)")
        report.skip("access", "split leakage", f"no {SETID_FILE}; give every split, as a dict, to compare them by content")
        if len(s.files) <= _HASH_LIMIT:
            report.append(_identical_files_finding(s.files, s.labels))
        return report
    official, splits = ref
    report.append(_labels_match_finding(s, ids, official))  # type: ignore[arg-type]
    if s.split in splits:
        report.append(_split_leakage_finding(s.split, ids, splits))  # type: ignore[arg-type]
    return report


def _class_balance_finding(s: _Subject, y: torch.Tensor, num_classes: int | None) -> _Finding:
    """Every class has training images; with the class count unknown, only how the classes present are balanced."""
    if num_classes is None:
        present = torch.unique(y, return_counts=True)[1]
        balance = {"classes": len(present), "min_per_class": int(present.min()), "max_per_class": int(present.max())}
        msg = f"{len(present)} classes present (pass num_classes= to look for classes with no image at all)"
        return _Finding("access", "class balance", True, msg, balance)
    counts = torch.bincount(y.clamp(0, num_classes - 1), minlength=num_classes)
    missing = int((counts == 0).sum())
    balance = {"classes": int((counts > 0).sum()), "min_per_class": int(counts.min()), "max_per_class": int(counts.max())}
    if missing and s.split in (None, "train"):
        return _Finding("access", "class balance", False, f"{missing} class(es) have no training image", balance)
    return _Finding("access", "class balance", True, "every class is represented", balance)


def _duplicates_finding(files: list[Path]) -> _Finding:
    """Every file appears once."""
    dupes = len(files) - len(set(files))
    if dupes:
        return _Finding("access", "duplicates", False, "the same file appears more than once", {"duplicates": dupes})
    return _Finding("access", "duplicates", True, "every file appears once", {"files": len(files)})


def _labels_match_finding(s: _Subject, ids: list[int], official: np.ndarray) -> _Finding:
    """Each label agrees with ``imagelabels.mat`` for the file's image id (a wrong pairing, or 1-based labels)."""
    labels = s.labels or []
    known = [(i, lab) for i, lab in zip(ids, labels) if 1 <= i <= official.size]
    agree = float(np.mean([official[i - 1] == lab for i, lab in known])) if known else 1.0
    shifted = float(np.mean([official[i - 1] + 1 == lab for i, lab in known])) if known else 0.0
    evidence: dict[str, Any] = {"agree": agree, "checked": len(known), "reference": LABELS_FILE}
    if agree >= 0.99:
        return _Finding("access", "labels match files", True, "every label matches imagelabels.mat", evidence)
    wrong = [(f.name, lab, int(official[i - 1])) for f, i, lab in zip(s.files or [], ids, labels) if official[i - 1] != lab]
    hint = (
        "labels are 1-based: subtract 1"
        if shifted > 0.9
        else "files and labels are paired wrongly (list order? ids used as positions?)"
    )
    name, got, want = wrong[0]  # official labels are 0-based here; the file holds them 1-based
    evidence["example"] = f"{name} labelled {got}, its class is {want} ({want + 1} in imagelabels.mat, 1-based)"
    msg = f"{100 * (1 - agree):.0f}% of labels disagree with the file's class: {hint}"
    return _Finding("access", "labels match files", False, msg, evidence)


def _split_leakage_finding(split: str, ids: list[int], splits: dict[str, set[int]]) -> _Finding:
    """Every image of the split belongs to that split in ``setid.mat``."""
    outside = [i for i in ids if i not in splits[split]]
    if not outside:
        return _Finding("access", "split leakage", True, f"every image belongs to the {split!r} split of setid.mat")
    where = {name: sum(i in splits[name] for i in outside) for name in splits if name != split}
    msg = (
        f"{len(outside)} of {len(ids)} images of the {split!r} split belong to other splits "
        "(read the split's ids from setid.mat, as file numbers)"
    )
    return _Finding("access", "split leakage", False, msg, {k: v for k, v in where.items() if v})


def _range_problem(y: torch.Tensor, num_classes: int | None, where: str) -> _Finding | None:
    """A label range problem, or None: out of 0..num_classes-1 (1-based?), or, with the class count unknown, no 0 but a 1."""
    lo, hi = int(y.min()), int(y.max())
    evidence = {"min": lo, "max": hi, "labels_from": where}
    if num_classes is not None and (lo < 0 or hi >= num_classes):
        hint = " (1-based labels: subtract 1)" if lo >= 1 and hi == num_classes else ""
        return _Finding("access", "label range", False, f"labels must lie in 0..{num_classes - 1}{hint}", evidence)
    if lo < 0:
        return _Finding("access", "label range", False, "negative labels: class indices start at 0", evidence)
    if num_classes is None and lo == 1 and y.unique().numel() >= 2:
        msg = "no label is 0 and the smallest is 1: 1-based labels? subtract 1 (or pass num_classes= if class 0 is really empty)"
        return _Finding("access", "label range", False, msg, evidence)
    return None


def _items_finding(sample: _Sample) -> _Finding:
    """Every sampled item loads: a file that raises stops training mid-epoch."""
    if sample.errors:
        msg = (
            f"{len(sample.errors)} of {sample.drawn} sampled items raised an error: one bad file stops a training run "
            "mid-epoch. Check every file once when the dataset is built, and skip (and report) the bad ones"
        )
        return _Finding("access", "items load", False, msg, {"first": sample.errors[0]})
    return _Finding("access", "items load", True, f"all {sample.drawn} sampled items load", {"sampled": sample.drawn})
