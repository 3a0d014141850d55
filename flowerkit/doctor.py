"""flowerkit.doctor: automatic checks that find a broken data pipeline, with the evidence.

Introduced in notebook ``02_transform`` (:func:`check_batch`, the quality
checks). Each check returns a :class:`_Finding` in one of the course's three
categories (access, quality, efficiency); a :class:`_Report` collects them and
prints one line per check, problems first, then the checks it skipped and why.
Notebook ``08_your_own_data`` takes :func:`diagnose` to data it was not written
for (any Dataset or DataLoader, a dict of splits) and to the command line,
``python -m flowerkit.doctor FOLDER_OR_CSV`` (:func:`main`).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import tempfile
import time
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils.data import ConcatDataset, DataLoader, SequentialSampler, Subset, default_collate
from torchvision import transforms as transforms_v1
from torchvision.transforms import v2

from .access import FlowersFormatError, read_labels, read_splits
from .curate import LabelledImages, content_hash, normalise_name
from .facts import DEFAULT_SIZE, LABELS_FILE, NUM_CLASSES, SETID_FILE, cpu_count
from .load import CollateNormalize, DecodedFlowers, decode_resized, make_loader, measure_throughput

__all__ = ["CATEGORIES", "check_batch", "diagnose", "main"]

CATEGORIES = ("access", "quality", "efficiency")


@dataclass(frozen=True)
class _Finding:
    """The result of one check: where it belongs, whether it passed, what it means, the numbers behind it."""

    category: str
    check: str
    ok: bool
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        mark = "ok     " if self.ok else "PROBLEM"
        ev = ", ".join(f"{k}={_fmt(v)}" for k, v in self.evidence.items())
        return f"{mark} [{self.category}] {self.check}: {self.message}" + (f" ({ev})" if ev else "")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)) and v and all(isinstance(i, float) for i in v):
        return "[" + ", ".join(f"{i:.3g}" for i in v) + "]"
    return str(v)


@dataclass(frozen=True)
class _Skipped:
    """A check that did not run, and why (e.g. no file list to compare with a reference)."""

    category: str
    check: str
    reason: str

    def __str__(self) -> str:
        return f"skipped [{self.category}] {self.check}: {self.reason}"


class _Report(list):
    """A list of :class:`_Finding`; ``report.problems`` are the failed ones, ``report.ok`` is True if none failed.

    ``report.skipped`` lists the checks that did not run, each with its reason.
    """

    def __init__(self, findings: Any = (), skipped: Any = ()) -> None:
        super().__init__(findings)
        self.skipped: list[_Skipped] = list(skipped)

    def skip(self, category: str, check: str, reason: str) -> None:
        """Record that ``check`` did not run, and why."""
        self.skipped.append(_Skipped(category, check, reason))

    def extend(self, items: Any) -> None:
        """Add findings; the skipped checks of another report come along."""
        super().extend(items)
        if isinstance(items, _Report):
            self.skipped.extend(items.skipped)

    @property
    def problems(self) -> list[_Finding]:
        """The findings that failed."""
        return [f for f in self if not f.ok]

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.problems

    def by_category(self) -> dict[str, list[str]]:
        """The names of the failed checks in each category, e.g. ``{"access": ["labels match files"], ...}``."""
        return {c: [f.check for f in self.problems if f.category == c] for c in CATEGORIES}

    def has(self, check: str) -> bool:
        """True if the check named ``check`` failed."""
        return any(f.check == check for f in self.problems)

    def __str__(self) -> str:
        if not self:
            return "no checks ran"
        lines = [str(f) for f in sorted(self, key=lambda f: (f.ok, CATEGORIES.index(f.category)))]
        head = "no problem found" if self.ok else f"{len(self.problems)} problem(s) found"
        return "\n".join([head, *lines, *map(str, self.skipped)])

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython display
        p.text(str(self))


def _check_labels(labels: torch.Tensor | Sequence[int], num_classes: int = NUM_CLASSES) -> _Report:
    """Access checks on a batch of labels: integer dtype, range 0..num_classes-1 (not 1-based)."""
    y = torch.as_tensor(labels)
    report = _Report()
    if y.dtype != torch.int64:
        report.append(
            _Finding("access", "label dtype", False, "CrossEntropyLoss wants int64 (long) class indices", {"dtype": str(y.dtype)})
        )
    else:
        report.append(_Finding("access", "label dtype", True, "int64 class indices", {"dtype": "torch.int64"}))
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= num_classes:
        hint = " (1-based labels: subtract 1)" if lo >= 1 and hi == num_classes else ""
        report.append(
            _Finding("access", "label range", False, f"labels must lie in 0..{num_classes - 1}{hint}", {"min": lo, "max": hi})
        )
    else:
        report.append(_Finding("access", "label range", True, f"labels within 0..{num_classes - 1}", {"min": lo, "max": hi}))
    return report


def check_batch(
    batch: Any,
    *,
    size: int | None = None,
    num_classes: int = NUM_CLASSES,
    mean_tol: float = 0.5,
    std_range: tuple[float, float] = (0.5, 2.0),
) -> _Report:
    """Quality checks on one batch ``(images, labels)`` or ``images`` as the model will receive it.

    Reports, each with its evidence: shape (B, 3, H, W) and the expected
    ``size``; dtype float32; NaN or infinite values; value range (0..255
    left unscaled); normalisation (per-channel mean near 0, std near 1);
    three identical channels up to scale (grayscale stored as RGB); constant
    images; every image standardised by its own mean and std. With labels,
    also :func:`_check_labels`. Introduced in notebook ``02_transform``.
    """
    x, y = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
    x = torch.as_tensor(x)
    report = _Report([_shape_finding(x, size)])
    if x.ndim == 4 and x.shape[1] == 3:
        report.append(_dtype_finding(x))
        xf = x.to(torch.float64)
        finite, xf = _finite_finding(xf)
        report.append(finite)
        report.extend([_range_finding(xf), _normalisation_finding(xf, mean_tol, std_range)])
        flat = xf.flatten(2)  # (B, 3, HW)
        constant = (flat.std(dim=2).max(dim=1).values < 1e-6).nonzero().flatten().tolist()
        varying = [i for i in range(x.shape[0]) if i not in set(constant)]
        report.append(_colour_finding(flat, varying))
        report.extend(f for f in [_per_image_finding(flat, varying)] if f is not None)
        report.append(_constant_finding(constant))
    if y is not None:
        report.extend(_check_labels(y, num_classes))
    return report


def _shape_finding(x: torch.Tensor, size: int | None) -> _Finding:
    """(B, 3, H, W) channels first, and ``size`` x ``size`` when a size is expected."""
    if x.ndim != 4 or x.shape[1] != 3:
        hint = " (channels last? use .permute(0, 3, 1, 2))" if x.ndim == 4 and x.shape[-1] == 3 else ""
        return _Finding("quality", "shape", False, f"expected (B, 3, H, W){hint}", {"shape": tuple(x.shape)})
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        return _Finding("quality", "shape", False, f"expected {size}x{size} images", {"shape": tuple(x.shape)})
    return _Finding("quality", "shape", True, "(B, 3, H, W), channels first", {"shape": tuple(x.shape)})


def _dtype_finding(x: torch.Tensor) -> _Finding:
    """float32, the dtype of the model's weights."""
    if x.dtype == torch.float32:
        return _Finding("quality", "dtype", True, "float32", {"dtype": "torch.float32"})
    if x.dtype == torch.uint8:
        msg = "uint8 images: convert with ToDtype(torch.float32, scale=True) and normalise"
        return _Finding("quality", "dtype", False, msg, {"dtype": str(x.dtype)})
    return _Finding("quality", "dtype", False, "the model's weights are float32: use float32", {"dtype": str(x.dtype)})


def _finite_finding(xf: torch.Tensor) -> tuple[_Finding, torch.Tensor]:
    """No NaN or infinite values; returns the finding and the batch with any such value zeroed for the next checks."""
    bad = int((~torch.isfinite(xf)).sum().item())
    if bad:
        msg = "NaN or infinite values (a division by a zero std?)"
        return _Finding("quality", "finite", False, msg, {"count": bad}), torch.nan_to_num(xf, nan=0.0, posinf=0.0, neginf=0.0)
    return _Finding("quality", "finite", True, "no NaN or infinite values"), xf


def _range_finding(xf: torch.Tensor) -> _Finding:
    """Values on a normalised scale, not 0..255."""
    lo, hi = xf.min().item(), xf.max().item()
    if hi > 20:
        msg = "values up to 255: pixels were not scaled to [0, 1] before normalising"
        return _Finding("quality", "range", False, msg, {"min": lo, "max": hi})
    return _Finding("quality", "range", True, "values on a normalised scale", {"min": lo, "max": hi})


def _normalisation_finding(xf: torch.Tensor, mean_tol: float, std_range: tuple[float, float]) -> _Finding:
    """Per-channel mean near 0 and std near 1 over the batch."""
    lo, hi = xf.min().item(), xf.max().item()
    mean, std = xf.mean(dim=(0, 2, 3)), xf.std(dim=(0, 2, 3))
    evidence = {"mean": mean.tolist(), "std": std.tolist()}
    if (mean.abs() > mean_tol).any() or (std < std_range[0]).any() or (std > std_range[1]).any():
        hint = "scaled to [0, 1] but not normalised" if 0 <= lo and hi <= 1 else "not normalised with the dataset's mean and std"
        return _Finding("quality", "normalisation", False, f"per-channel mean should be near 0 and std near 1: {hint}", evidence)
    return _Finding("quality", "normalisation", True, "per-channel mean near 0, std near 1", evidence)


def _colour_finding(flat: torch.Tensor, varying: list[int]) -> _Finding:
    """Grayscale stored as RGB: each channel an affine function of another (normalisation keeps that)."""
    gray = 0.0
    if varying:
        f = flat[varying]
        f = (f - f.mean(dim=2, keepdim=True)) / f.std(dim=2, keepdim=True, correction=0).clamp_min(1e-12)
        corr01 = (f[:, 0] * f[:, 1]).mean(dim=1)
        corr12 = (f[:, 1] * f[:, 2]).mean(dim=1)
        gray = ((corr01 > 0.999) & (corr12 > 0.999)).float().mean().item()
    if gray > 0.5:
        msg = "the three channels are copies of one: grayscale images stored as RGB; colour is lost"
        return _Finding("quality", "colour", False, msg, {"gray_fraction": gray})
    return _Finding("quality", "colour", True, "the channels carry colour", {"gray_fraction": gray})


def _per_image_finding(flat: torch.Tensor, varying: list[int]) -> _Finding | None:
    """Every image with mean 0 and std 1 (brightness and contrast erased); None with fewer than 4 varying images."""
    if len(varying) < 4:
        return None
    per_mean, per_std = flat[varying].mean(dim=(1, 2)), flat[varying].std(dim=(1, 2))
    spread, std_dev = per_mean.std().item(), (per_std - 1).abs().max().item()
    if spread < 1e-3 and std_dev < 1e-2:
        msg = (
            "every image has mean 0 and std 1: each was normalised by its own statistics, which erases "
            "brightness and contrast; normalise with the train split's per-channel mean and std"
        )
        return _Finding(
            "quality", "per-image standardisation", False, msg, {"spread_of_image_means": spread, "max_std_minus_1": std_dev}
        )
    msg = "images keep their own brightness and contrast"
    return _Finding("quality", "per-image standardisation", True, msg, {"spread_of_image_means": spread})


def _constant_finding(constant: list[int]) -> _Finding:
    """Images with a single value everywhere."""
    if constant:
        msg = "images with a single value everywhere (blank, or crushed by a transform)"
        return _Finding("quality", "constant images", False, msg, {"count": len(constant), "indices": constant[:5]})
    return _Finding("quality", "constant images", True, "no constant image")


# --------------------------------------------------------------------------------------
# diagnose(): every check, on a whole Dataset, DataLoader or team pipeline (notebook 04_three_teams).
# --------------------------------------------------------------------------------------

_IMAGE_ID = re.compile(r"image_(\d+)\.jpg$")


@dataclass
class _Subject:
    """What :func:`diagnose` looks at: a dataset, maybe the loader around it, and what is known about its files and labels."""

    dataset: Any
    loader: Any = None
    files: list[Path] | None = None
    labels: list[int] | None = None
    split: str | None = None
    classes: list[str] | None = None  # class names the dataset declares (ImageFolder's, ours)
    labels_from: str | None = None  # the attribute the labels were read from
    reference: tuple[np.ndarray, dict[str, set[int]]] | None = None  # Oxford's .mat files beside the images
    sampled_classes: int = 0  # classes seen in the items the label probe drew


def _subject(obj: Any) -> _Subject:
    loader = obj if isinstance(obj, DataLoader) else None
    dataset = obj.dataset if loader is not None else obj
    base = dataset
    while isinstance(base, Subset):
        base = base.dataset
    files, labels, where = _lists(dataset)  # ours, torchvision's, ImageFolder's, a list of (path, label) pairs...
    split = getattr(base, "split", None) or getattr(base, "_split", None)
    reference = _reference(files) if files else None
    return _Subject(
        dataset, loader, files or None, labels, split if isinstance(split, str) else None, _classes_of(base), where, reference
    )


def _reference(files: list[Path]) -> tuple[np.ndarray, dict[str, set[int]]] | None:
    """The official labels (0-based, by image id) and split ids from the .mat files beside the images, if present."""
    base = files[0].parent.parent
    try:
        return read_labels(base / LABELS_FILE), {k: set(v.tolist()) for k, v in read_splits(base / SETID_FILE).items()}
    except (OSError, FlowersFormatError):
        return None


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
    problem = _range_problem(y, num_classes, f"{len(y)} sampled items" if items else f"attribute {s.labels_from!r}")
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
    evidence["example"] = f"{wrong[0][0]} labelled {wrong[0][1]}, imagelabels.mat says {wrong[0][2]}"
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


def _probe_jpeg(folder: Path) -> Path:
    """A 300x200 JPEG of a white disc on black: round stays round unless a transform squashes the picture."""
    img = Image.new("RGB", (300, 200), (15, 15, 15))
    ImageDraw.Draw(img).ellipse([100, 50, 200, 150], fill=(240, 240, 240))
    path = folder / "image_probe.jpg"
    img.save(path, quality=95)
    return path


def _disc_aspect(x: Any) -> float | None:
    """Width / height of the bright disc in a transformed probe (any dtype, any normalisation); None if not found."""
    t = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    t = t.detach().to(torch.float64)
    if t.ndim == 3 and t.shape[0] in (1, 3):
        t = t.mean(0)
    elif t.ndim == 3:
        t = t.mean(-1)
    if t.ndim != 2 or t.max() - t.min() < 1e-6:
        return None
    mask = t > (t.max() + t.min()) / 2
    rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
    if not len(rows) or not len(cols):
        return None
    return float(cols[-1] - cols[0] + 1) / float(rows[-1] - rows[0] + 1)


def _transform_attribute(dataset: Any) -> Any:
    """A torchvision transform a dataset keeps under a name of its own (``self._tf = v2.Compose(...)``), or None."""
    kinds = (v2.Transform, v2.Compose, transforms_v1.Compose)
    return next((v for v in getattr(dataset, "__dict__", {}).values() if isinstance(v, kinds)), None)


def _geometry_check(s: _Subject) -> _Finding | None:
    """Pass a round probe through the dataset's own decode or transform and measure whether it stays round."""
    decode = getattr(s.dataset, "decode", None)
    size = getattr(s.dataset, "size", None)
    transform = getattr(s.dataset, "transform", None) or _transform_attribute(s.dataset)
    with tempfile.TemporaryDirectory() as tmp:
        probe = _probe_jpeg(Path(tmp))
        try:
            if hasattr(s.dataset, "decode"):  # decoded by a function (a cache, DecodedFlowers); its transform sees tensors
                if not (callable(decode) and isinstance(size, int)):
                    return None
                out, how = decode(probe, size), f"decode {getattr(decode, '__name__', decode)}"
            elif transform is not None:
                torch.manual_seed(0)
                with Image.open(probe) as img:
                    out, how = transform(img.convert("RGB")), "the transform"
            else:
                return None
        except Exception:  # a transform that does not take PIL images (e.g. uint8 augmentation): nothing to probe
            return None
    aspect = _disc_aspect(out)
    if aspect is None:
        return None
    if abs(np.log(aspect)) > np.log(1.15):
        return _Finding(
            "quality",
            "aspect ratio",
            False,
            "a round disc comes out as an ellipse: the picture is squashed to a square; resize the short side and crop",
            {"disc_width_over_height": aspect, "through": how},
        )
    return _Finding("quality", "aspect ratio", True, "shapes keep their proportions", {"disc_width_over_height": aspect})


def _seen_classes(batch: Any) -> int:
    """A class count that fits every label of ``batch`` (the range is judged on more items, in the access checks)."""
    if isinstance(batch, (tuple, list)) and len(batch) > 1:
        return max(int(torch.as_tensor(batch[1]).max()) + 1, 1)
    return NUM_CLASSES


def _sample_batch(s: _Subject, n: int, seed: int) -> Any:
    """``n`` items picked at random (not the first, class-grouped ones), collated as the loader would."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(s.dataset), generator=g)[: min(n, len(s.dataset))].tolist()
    items = [s.dataset[i] for i in idx]
    collate = getattr(s.loader, "collate_fn", None) or default_collate
    return collate(items)


def _quality_checks(s: _Subject, size: int | None, num_classes: int | None, seed: int) -> _Report:
    report = _Report()
    first = s.dataset[0]
    image = first[0] if isinstance(first, tuple) else first
    if isinstance(image, Image.Image):
        report.append(
            _Finding(
                "quality",
                "tensors",
                False,
                "items are PIL images: give the Dataset a transform that returns tensors (see flowerkit.transform)",
                {"item": type(image).__name__},
            )
        )
        report.skip("quality", "batch, aspect ratio, randomness", "items are PIL images, not tensors")
        return report
    batch = _sample_batch(s, 32, seed)
    report.extend(check_batch(batch, size=size, num_classes=num_classes if num_classes is not None else _seen_classes(batch)))
    geometry = _geometry_check(s)
    if geometry is not None:
        report.append(geometry)
    else:
        report.skip("quality", "aspect ratio", "no decode or transform attribute that takes a photo (or it did not take one)")
    # randomness: the same item twice
    torch.manual_seed(seed)
    a, b = s.dataset[0], s.dataset[0]
    xa, xb = (a[0], b[0]) if isinstance(a, tuple) else (a, b)
    same = torch.equal(torch.as_tensor(xa), torch.as_tensor(xb))
    if not same and s.split in ("val", "test"):
        report.append(
            _Finding(
                "quality",
                "random at evaluation",
                False,
                f"the same {s.split} image gives a different tensor each time: augmentation belongs to training only",
                {"split": s.split},
            )
        )
    else:
        msg = "deterministic items" if same else "random augmentation, on the training split"
        report.append(_Finding("quality", "random at evaluation", True, msg, {"split": s.split}))
    return report


def _ms_per_call(funcs: Sequence[Any], items: Sequence[Any]) -> list[float]:
    """Median milliseconds per call of each ``funcs[k](item)``, interleaved item by item after one warm-up.

    Interleaving exposes every function to the same load, and the median
    shrugs off a busy machine's hiccups.
    """
    times: list[list[float]] = [[] for _ in funcs]
    for n, item in enumerate(items):
        for func, record in zip(funcs, times):
            start = time.perf_counter()
            func(item)
            if n:
                record.append(time.perf_counter() - start)
    return [1000 * float(np.median(t)) if t else float("nan") for t in times]


def _efficiency_checks(s: _Subject, size: int | None, seed: int, measure: bool) -> _Report:
    report = _Report()
    if s.loader is not None:
        shuffling = _shuffling_finding(s)
        report.extend([shuffling] if shuffling is not None else [])
        if shuffling is None:
            report.skip("quality", "shuffling", "the loader's batches hold no integer labels to look at")
        report.append(_batch_size_finding(s.loader))
    else:
        report.skip("quality", "shuffling", "a Dataset, not a DataLoader: the order is the loader's (diagnose the loader)")
        report.skip("efficiency", "batch size, workers, throughput", "a Dataset, not a DataLoader")
    if not measure:
        report.skip("efficiency", "decode cost, workers, throughput", "measure=False")
        return report
    decode, item_ms = _decode_cost_finding(s, size, seed)
    report.append(decode)
    if s.loader is not None:
        report.extend([_workers_finding(s.loader, item_ms), _throughput_check(s, size, seed)])
    return report


def _shuffling_finding(s: _Subject) -> _Finding | None:
    """A training loader over class-grouped files must shuffle. Filed under *quality*: it costs accuracy, not time."""
    if s.labels is None:  # labels kept nowhere the doctor can read: look at the order of the first batches
        return _batch_order_finding(s, s.sampled_classes)
    loader = s.loader
    training = s.split not in ("val", "test")
    sampler = loader.batch_sampler.sampler if loader.batch_sampler is not None else loader.sampler
    runs = 1 + sum(a != b for a, b in zip(s.labels, s.labels[1:])) if s.labels else None
    grouped = runs is not None and runs < len(s.labels) / 4  # type: ignore[arg-type]
    evidence = {"sampler": type(sampler).__name__, "label_runs": runs, "items": len(s.dataset)}
    if isinstance(sampler, SequentialSampler) and grouped and training:
        msg = (
            f"no shuffling over files grouped by class: each step sees one class ({runs} runs of the same label in a row); "
            "pass shuffle=True. A correctness bug, not a speed bug: it costs accuracy, which is why it is filed under quality"
        )
        return _Finding("quality", "shuffling", False, msg, evidence)
    why = "evaluation order does not matter" if not training else "items come in mixed order"
    return _Finding("quality", "shuffling", True, why, evidence)


def _batch_size_finding(loader: Any) -> _Finding:
    """Batches large enough that per-step overhead does not dominate."""
    bs = loader.batch_size or (loader.batch_sampler.batch_size if loader.batch_sampler is not None else 1)
    if bs < 16:
        msg = f"batch size {bs}: per-step overhead dominates and BatchNorm sees {bs} image(s); use 32-128"
        return _Finding("efficiency", "batch size", False, msg, {"batch_size": bs})
    return _Finding("efficiency", "batch size", True, f"batches of {bs}", {"batch_size": bs})


def _decode_cost_finding(s: _Subject, size: int | None, seed: int) -> tuple[_Finding, float]:
    """Milliseconds per item against a draft decode of the same files; returns the finding and ms per item."""
    idx = torch.randperm(len(s.dataset), generator=torch.Generator().manual_seed(seed))[:16].tolist()
    ref_ms = None
    if s.files:  # the same files, decoded the fast way
        files = s.files
        item_ms, ref_ms = _ms_per_call([s.dataset.__getitem__, lambda i: decode_resized(files[i], size or 64)], idx)
    else:
        (item_ms,) = _ms_per_call([s.dataset.__getitem__], idx)
    evidence = {"ms_per_item": item_ms, "draft_decode_ms": ref_ms}
    if item_ms > 2.0 and (ref_ms is None or item_ms > 2 * ref_ms):
        msg = "each item costs a full-size decode and resize: decode with PIL draft, or cache the decoded images once"
        return _Finding("efficiency", "decode cost", False, msg, evidence), item_ms
    return _Finding("efficiency", "decode cost", True, "items are cheap to produce", evidence), item_ms


def _workers_finding(loader: Any, item_ms: float) -> _Finding:
    """Worker processes when items are costly, and no more than the cores can run."""
    workers, cores = loader.num_workers, cpu_count()
    evidence = {"num_workers": workers, "cores": cores}
    if workers == 0 and item_ms > 0.5 and cores > 1:
        msg = f"num_workers=0: the training loop waits while each item is decoded; use about {cores} workers"
        return _Finding("efficiency", "workers", False, msg, evidence)
    if workers > 2 * cores:
        return _Finding("efficiency", "workers", False, "more workers than cores: they compete", evidence)
    return _Finding("efficiency", "workers", True, "workers suit the cost of an item", evidence)


def _throughput_check(s: _Subject, size: int | None, seed: int) -> _Finding:
    bs = s.loader.batch_size or 1
    this = measure_throughput(s.loader, batches=max(2, 128 // bs))["images_per_s"]
    evidence: dict[str, Any] = {"images_per_s": this}
    if s.files and s.labels is not None:
        ref = types.SimpleNamespace(
            root=s.files[0].parent.parent.parent, split=s.split or "train", image_files=s.files, labels=s.labels
        )
        tuned = make_loader(DecodedFlowers.of(ref, size or 64), batch_size=64, shuffle=True, num_workers=cpu_count(), seed=seed)
        evidence["tuned_images_per_s"] = measure_throughput(tuned, batches=3)["images_per_s"]
        del tuned
        ratio = evidence["tuned_images_per_s"] / this
        if ratio > 2:
            return _Finding(
                "efficiency",
                "throughput",
                False,
                f"{ratio:.1f}x slower than a tuned loader on the same files (draft decode, batch 64, {cpu_count()} workers)",
                evidence,
            )
        return _Finding("efficiency", "throughput", True, "as fast as a tuned loader or faster", evidence)
    return _Finding("efficiency", "throughput", True, "measured (no files known to compare with a tuned loader)", evidence)


# --------------------------------------------------------------------------------------
# Any image loader (notebook 08_your_own_data): labels from wherever they are kept, a label probe, splits.
# --------------------------------------------------------------------------------------

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm")
_PAIR_ATTRS = ("samples", "imgs")  # torchvision's ImageFolder: (path, class index) pairs
_FILE_ATTRS = ("image_files", "_image_files", "files", "image_paths", "paths", "filenames")
_LABEL_ATTRS = ("labels", "_labels", "targets")
_PROBE_ITEMS = 400  # items the label probe decodes: about a second or two of a typical transform
_HASH_LIMIT = 20_000  # files hashed for identical content; more would take minutes


def _is_path(v: Any) -> bool:
    return isinstance(v, (str, os.PathLike)) and Path(v).suffix.lower() in _IMAGE_SUFFIXES


def _is_label(v: Any) -> bool:
    if isinstance(v, torch.Tensor):
        return v.ndim == 0 and not v.is_floating_point()
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _sequence(obj: Any, n: int) -> list[Any] | None:
    """``obj`` as a list when it is a list, tuple, 1-D array or tensor of ``n`` items."""
    if isinstance(obj, (list, tuple)) and len(obj) == n:
        return list(obj)
    if isinstance(obj, (np.ndarray, torch.Tensor)) and obj.ndim == 1 and len(obj) == n:
        return obj.tolist()
    return None


def _lists_of(ds: Any) -> tuple[list[Path] | None, list[int] | None, str | None]:
    """Files and labels a dataset keeps in attributes: the usual names, or any list of (path, label) pairs or paths.

    A label list (``labels``, ``targets``) wins over the labels of (path, label) pairs, which then give the files
    only: the list is what ``__getitem__`` returns, the pairs may be raw (the Access team's ``samples`` keep the
    file's 1-based labels; ``labels`` holds the ones their model sees).
    """
    n = len(ds)
    own = [k for k in getattr(ds, "__dict__", {}) if k not in _PAIR_ATTRS + _FILE_ATTRS + _LABEL_ATTRS]
    files = labels = where = None
    for name in _LABEL_ATTRS:
        seq = _sequence(getattr(ds, name, None), n) if labels is None else None
        if seq is not None and all(_is_label(v) for v in seq):
            labels, where = [int(v) for v in seq], name
    for name in (*_PAIR_ATTRS, *own):
        seq = _sequence(getattr(ds, name, None), n)
        if seq and all(isinstance(p, (tuple, list)) and len(p) == 2 and _is_path(p[0]) and _is_label(p[1]) for p in seq):
            files = [Path(p[0]) for p in seq]
            if labels is None:
                labels, where = [int(p[1]) for p in seq], name
            break
    for name in (*_FILE_ATTRS, *own):
        seq = _sequence(getattr(ds, name, None), n) if files is None else None
        if seq and all(_is_path(p) for p in seq):
            files = [Path(p) for p in seq]
    return files, labels, where


def _lists(ds: Any) -> tuple[list[Path] | None, list[int] | None, str | None]:
    """:func:`_lists_of` through ``Subset`` and ``ConcatDataset`` wrappers."""
    if isinstance(ds, Subset):
        files, labels, where = _lists(ds.dataset)
        idx = list(ds.indices)
        return ([files[i] for i in idx] if files else None), ([labels[i] for i in idx] if labels is not None else None), where
    if isinstance(ds, ConcatDataset):
        parts = [_lists(d) for d in ds.datasets]
        files = [f for p in parts for f in p[0]] if parts and all(p[0] for p in parts) else None
        labels = [y for p in parts for y in p[1]] if parts and all(p[1] is not None for p in parts) else None
        return files, labels, parts[0][2] if parts else None
    return _lists_of(ds)


def _classes_of(base: Any) -> list[str] | None:
    classes = getattr(base, "classes", None)
    if isinstance(classes, (list, tuple)) and len(classes) > 1 and all(isinstance(c, str) for c in classes):
        return list(classes)
    return None


@dataclass
class _Sample:
    """Items drawn at random through the dataset's own ``__getitem__``: small-image features and the labels they carry."""

    features: np.ndarray | None
    labels: torch.Tensor | None
    drawn: int
    errors: list[str]


def _image_tensor(image: Any) -> torch.Tensor | None:
    """An item's image as float (3, H, W), whatever it is (PIL image, array, tensor, channels first or last); None if not an image."""
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    x = torch.as_tensor(np.asarray(image)) if not isinstance(image, torch.Tensor) else image
    x = x.detach().to(torch.float32)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3 and x.shape[0] not in (1, 3) and x.shape[-1] in (1, 3):
        x = x.permute(2, 0, 1)
    if x.ndim != 3 or x.shape[0] not in (1, 3) or min(x.shape[1:]) < 2:
        return None
    return x.expand(3, -1, -1) if x.shape[0] == 1 else x


def _pooled(a: np.ndarray, cells: int) -> np.ndarray:
    """Block means of the last two axes of ``a`` on a ``cells`` x ``cells`` grid (any size; NumPy, no per-call overhead)."""
    rows = np.linspace(0, a.shape[-2], cells + 1).astype(int)[:-1]
    cols = np.linspace(0, a.shape[-1], cells + 1).astype(int)[:-1]
    sums = np.add.reduceat(np.add.reduceat(a, rows, axis=-2), cols, axis=-1)
    counts = np.outer(np.diff([*rows, a.shape[-2]]), np.diff([*cols, a.shape[-1]]))
    return sums / counts


def _features(x: torch.Tensor) -> np.ndarray:
    """What a simple classifier sees of an image: an 8x8 colour thumbnail, edge strength on a 4x4 grid, channel statistics."""
    a = x.numpy().astype(np.float64)
    gray = a.mean(0)
    edges = [_pooled(np.abs(np.diff(gray, axis=1)), 4), _pooled(np.abs(np.diff(gray, axis=0)), 4)]
    stats = [a.mean((1, 2)), a.std((1, 2))]
    return np.concatenate([_pooled(a, 8).ravel(), *(e.ravel() for e in edges), *stats])


def _draw_sample(s: _Subject, n: int, seed: int) -> _Sample:
    """Up to ``n`` random items through ``dataset[i]`` (labels as the model would get them); items that raise are counted."""
    idx = torch.randperm(len(s.dataset), generator=torch.Generator().manual_seed(seed))[:n].tolist()
    feats, labels, errors = [], [], []
    for i in idx:
        try:
            item = s.dataset[i]
        except Exception as exc:  # a foreign dataset's bad file: the finding, not a crash
            errors.append(f"item {i}: {type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}")
            continue
        image, label = (item[0], item[1]) if isinstance(item, (tuple, list)) and len(item) >= 2 else (item, None)
        x = _image_tensor(image)
        if x is not None and label is not None and _is_label(label):
            feats.append(_features(x))
            labels.append(int(label))
    if not labels:
        return _Sample(None, None, len(idx), errors)
    return _Sample(np.stack(feats), torch.tensor(labels), len(idx), errors)


def _ridge_accuracies(x: np.ndarray, labellings: Sequence[np.ndarray], folds: int = 4, lam: float = 10.0) -> list[float]:
    """Cross-validated accuracy of a ridge classifier (one-hot targets, closed form) for each labelling of the same images.

    One linear solve per fold serves every labelling: fast, stable, nothing to tune.
    """
    n, k = len(x), max(int(y.max()) for y in labellings) + 1
    fold = np.arange(n) % folds
    correct = np.zeros(len(labellings))
    for f in range(folds):
        train, test = fold != f, fold == f
        mu, sd = x[train].mean(0), np.maximum(x[train].std(0), 1e-6)
        a = np.hstack([(x[train] - mu) / sd, np.ones((int(train.sum()), 1))])
        b = np.hstack([(x[test] - mu) / sd, np.ones((int(test.sum()), 1))])
        targets = np.hstack([np.eye(k)[y[train]] for y in labellings])
        scores = b @ np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ targets)
        for m, y in enumerate(labellings):
            correct[m] += int((scores[:, m * k : (m + 1) * k].argmax(1) == y[test]).sum())
    return (correct / n).tolist()


def _probe_finding(sample: _Sample, seed: int) -> _Finding | None:
    """Do the labels belong to the images? A simple classifier on small images, with these labels and with shuffled ones."""
    x, y = sample.features, sample.labels
    if x is None or y is None or len(y) < 30 or int((torch.bincount(y.clamp_min(0)) >= 2).sum()) < 2:
        return None
    if len(y) < 3 * y.unique().numel():  # a classifier cannot learn a class from one or two examples: no verdict
        return None
    y = (y - y.min()).numpy()  # the probe needs 0..K-1; the range check reports 1-based labels
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))  # folds that mix the classes, whatever the dataset's order
    x, y = x[order], y[order]
    acc, *null = _ridge_accuracies(x, [y, *(y[rng.permutation(len(y))] for _ in range(8))])
    mean, sd = float(np.mean(null)), float(np.std(null))
    margin = 4 * max(sd, (mean * (1 - mean) / len(y)) ** 0.5)
    evidence = {"probe_accuracy": acc, "shuffled_labels_accuracy": mean, "items": len(y), "classes": len(np.unique(y))}
    if acc < mean + margin:
        msg = (
            f"a simple classifier on small images does no better with these labels ({acc:.0%}) than with shuffled ones "
            f"({mean:.0%}): the labels carry nothing about their images. Files and labels paired wrongly (two lists in "
            "different orders, ids used as positions)?"
        )
        return _Finding("access", "labels belong to images", False, msg, evidence)
    msg = f"labels are predictable from the images ({acc:.0%}, against {mean:.0%} with shuffled labels)"
    return _Finding("access", "labels belong to images", True, msg, evidence)


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


def _identical_files_finding(files: list[Path], labels: list[int] | None) -> _Finding:
    """Byte-identical files (the same photo saved twice under two names): harmless, unless they carry different labels."""
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(files):
        if f.is_file():
            groups.setdefault(content_hash(f), []).append(i)
    copies = [g for g in groups.values() if len(g) > 1]
    extra = sum(len(g) - 1 for g in copies)
    conflicts = [g for g in copies if labels is not None and len({labels[i] for i in g}) > 1]
    evidence: dict[str, Any] = {"identical_copies": extra}
    if conflicts:
        g = conflicts[0]
        evidence["example"] = ", ".join(f"{files[i].name} labelled {labels[i]}" for i in g[:3])  # type: ignore[index]
        msg = f"{len(conflicts)} photo(s) saved more than once carry different labels: at most one label is right"
        return _Finding("access", "identical photos", False, msg, evidence)
    msg = f"{extra} file(s) are byte-identical copies of another (they count twice)" if extra else "no two files are identical"
    return _Finding("access", "identical photos", True, msg, evidence)


def _cross_split_finding(subjects: dict[str, _Subject]) -> _Finding | None:
    """No photo in two splits, by content (a copy under another name counts): a leak inflates the test score."""
    if any(not s.files for s in subjects.values()):
        return None
    names = list(subjects)
    hashes = {n: {content_hash(f): f for f in subjects[n].files if f.is_file()} for n in names}  # type: ignore[union-attr]
    shared = {(a, b): sorted(set(hashes[a]) & set(hashes[b])) for i, a in enumerate(names) for b in names[i + 1 :]}
    evidence = {f"{a}&{b}": len(h) for (a, b), h in shared.items()}
    leaks = [(a, b, h) for (a, b), h in shared.items() if h]
    if leaks:
        a, b, h = leaks[0]
        evidence["example"] = f"{hashes[a][h[0]].name} ({a}) = {hashes[b][h[0]].name} ({b})"
        msg = "the same photo (identical bytes) is in two splits: the test score is inflated; split by content hash"
        return _Finding("access", "duplicates across splits", False, msg, evidence)
    return _Finding("access", "duplicates across splits", True, f"no photo is in two of {', '.join(names)}", evidence)


def _loader_labels(loader: Any, at_most: int = 256) -> list[int] | None:
    """The labels of the loader's first batches, in the order training would see them; None if batches hold no labels."""
    seen: list[int] = []
    try:
        for batch in loader:
            if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                return None
            y = torch.as_tensor(batch[1]).reshape(-1)
            if y.is_floating_point():
                return None
            seen += y.tolist()
            if len(seen) >= at_most:
                break
    except Exception:  # a loader the doctor cannot iterate: the check is skipped, not the diagnosis
        return None
    return seen


def _batch_order_finding(s: _Subject, classes_seen: int) -> _Finding | None:
    """Shuffling judged from the first batches (labels kept nowhere the doctor can read): long runs of one label."""
    seen = _loader_labels(s.loader)
    if not seen or classes_seen < 2:
        return None
    runs = 1 + sum(a != b for a, b in zip(seen, seen[1:]))
    evidence = {"labels_seen": len(seen), "label_runs": runs, "labels_from": "the first batches"}
    if runs < len(seen) / 4 and s.split not in ("val", "test"):
        msg = (
            f"the first {len(seen)} labels the loader delivers come in {runs} run(s) of one class: the data is grouped by "
            "class and not shuffled; pass shuffle=True. It costs accuracy, which is why it is filed under quality"
        )
        return _Finding("quality", "shuffling", False, msg, evidence)
    return _Finding("quality", "shuffling", True, "the first batches mix the classes", evidence)


def diagnose(
    target: Any,
    *,
    size: int | None = None,
    num_classes: int | None = None,
    measure: bool = True,
    seed: int = 0,
) -> _Report:
    """Check a whole pipeline and report, per category, what was found and the evidence. Introduced in notebook ``04_three_teams``.

    ``target`` is a Dataset, a DataLoader, a :class:`flowerkit.teams.Pipeline`
    (its train loader, and its test loader for randomness at evaluation), or a
    dict of splits, ``{"train": ..., "test": ...}`` (the first is diagnosed, and
    no photo may be in two). Any dataset: Oxford's, ``ImageFolder``, your own
    (notebook ``08_your_own_data``). Labels are read from ``labels``,
    ``targets``, ``samples`` or any list of (path, label) pairs, else from the
    items; ``num_classes`` from ``classes``, Oxford's files, or the labels.
    Checks a dataset gives no handle for are listed in ``report.skipped``.

    * **access**: label range (1-based?); class balance; items that raise;
      duplicated files; labels against ``imagelabels.mat`` when beside the
      images, else a label probe (a simple classifier on small images must beat
      shuffled labels) and identical files with different labels; split
      leakage against ``setid.mat``, or across the splits given;
    * **quality**: a random batch through :func:`check_batch`; a round probe
      image through the dataset's own decode or transform (squashing); the
      same item fetched twice (randomness on a val/test split); no shuffling
      over class-grouped data (filed here: it costs accuracy, not time);
    * **efficiency**: batch size; workers; milliseconds per item against a
      draft decode; images/s against a tuned loader (``measure=False`` skips the timings).
    """
    if isinstance(target, Mapping):
        return _diagnose_splits(target, size=size, num_classes=num_classes, measure=measure, seed=seed)
    if getattr(target, "test_loader", None) is not None and hasattr(target, "train_loader"):
        return _diagnose_pipeline(target, size=size, num_classes=num_classes, measure=measure, seed=seed)
    s = _subject(target)
    num_classes = num_classes if num_classes is not None else _num_classes(s)
    sample = _draw_sample(s, _PROBE_ITEMS, seed) if s.reference is None or s.labels is None else None
    if sample is not None and sample.labels is not None:
        s.sampled_classes = int(sample.labels.unique().numel())
    report = _Report()
    report.extend(_access_checks(s, num_classes, sample, seed))
    report.extend(_guarded(_quality_checks, "quality", s, size, num_classes, seed))
    report.extend(_guarded(_efficiency_checks, "efficiency", s, size or _item_size(s), seed, measure))
    if s.reference is None:
        report.skip("access", "duplicates across splits", 'one split given: pass all, diagnose({"train": ..., "test": ...})')
    return report


def _num_classes(s: _Subject) -> int | None:
    """The class count: the names the dataset declares, Oxford's 102 when its .mat files are beside the images, else unknown."""
    if s.classes:
        return len(s.classes)
    return NUM_CLASSES if s.reference is not None else None


def _item_size(s: _Subject) -> int | None:
    """The size the model sees, from the first item (for the tuned loader and the draft decode to compare with)."""
    try:
        first = s.dataset[0]
    except Exception:  # reported by the checks that fetch items
        return None
    image = first[0] if isinstance(first, (tuple, list)) else first
    return int(image.shape[-1]) if isinstance(image, torch.Tensor) and image.ndim == 3 else None


def _guarded(checks: Any, category: str, s: _Subject, *args: Any) -> _Report:
    """Run a category's checks; an error raised by the dataset itself becomes a finding instead of a crash."""
    try:
        return checks(s, *args)
    except Exception as exc:  # a foreign dataset that raises: say so with its words
        msg = (
            f"the pipeline raised {type(exc).__name__} while being checked: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
        )
        return _Report([_Finding(category, "items load" if category == "quality" else "timing", False, msg)])


def _diagnose_pipeline(target: Any, **kwargs: Any) -> _Report:
    """A team's pipeline: its train loader, with randomness at evaluation judged on its test loader."""
    report = diagnose(target.train_loader, **kwargs)
    test = _subject(target.test_loader)
    num_classes = kwargs["num_classes"] if kwargs["num_classes"] is not None else _num_classes(test)
    randomness = [
        f for f in _quality_checks(test, kwargs["size"], num_classes, kwargs["seed"]) if f.check == "random at evaluation"
    ]
    report[:] = [f for f in report if f.check != "random at evaluation"] + randomness
    return report


def _diagnose_splits(splits: Mapping[str, Any], **kwargs: Any) -> _Report:
    """The first split diagnosed in full, and every pair of splits compared for the same photo in both."""
    if not splits:
        raise ValueError("no splits given: diagnose({'train': train_loader, 'test': test_loader})")
    names = list(splits)
    report = diagnose(splits[names[0]], **kwargs)
    report.skipped = [k for k in report.skipped if k.check != "duplicates across splits"]
    cross = _cross_split_finding({n: _subject(splits[n]) for n in names}) if len(names) > 1 else None
    if cross is not None:
        report.append(cross)
    else:
        report.skip("access", "duplicates across splits", "one split only, or a split keeps no file list to hash")
    return report


# --------------------------------------------------------------------------------------
# python -m flowerkit.doctor: a user's own images, from a folder or a CSV (notebook 08_your_own_data).
# --------------------------------------------------------------------------------------

_SPLIT_FOLDERS = ("train", "val", "valid", "validation", "test")
_FILE_COLUMNS = ("file", "filename", "file_name", "path", "image", "image_path")
_LABEL_COLUMNS = ("label", "class", "species", "target", "category", "y")
_Table = tuple[list[Path], list[int]]


def _class_folders(folder: Path, classes: list[str]) -> _Table:
    """Every file under ``folder/<class>/`` (image suffixes), labelled by the class folder's index in ``classes``."""
    files, labels = [], []
    for k, name in enumerate(classes):
        found = sorted(f for f in (folder / name).rglob("*") if f.is_file() and f.suffix.lower() in _IMAGE_SUFFIXES)
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
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        rows, columns = list(reader), list(reader.fieldnames or [])
    if len(columns) < 2 or not rows:
        raise ValueError(f"{path}: expected a header line and rows with at least a file and a label column")
    fc = _column(columns, args.file_column, _FILE_COLUMNS, 0)
    lc = _column(columns, args.label_column, _LABEL_COLUMNS, 1)
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


def _loader_for(files: list[Path], labels: list[int], size: int, seed: int) -> tuple[DataLoader, LabelledImages]:
    """The files as a shuffled loader of normalised batches (statistics from up to 256 of them): the data, not a pipeline, is checked."""
    ds = LabelledImages(files, labels, size)
    if not len(ds):
        raise ValueError("none of the files can be read")
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
        loaders = {name: _loader_for(files, labels, args.size, args.seed) for name, (files, labels) in tables.items()}
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


if __name__ == "__main__":
    sys.exit(main())
