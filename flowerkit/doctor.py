"""flowerkit.doctor: automatic checks that find a broken data pipeline, with the evidence.

Introduced in notebook ``02_transform`` (:func:`check_batch`, the quality
checks). Each check returns a :class:`Finding` in one of the course's three
categories (access, quality, efficiency); a :class:`Report` collects them and
prints one line per check, problems first.
"""

from __future__ import annotations

import re
import tempfile
import time
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils.data import DataLoader, SequentialSampler, Subset, default_collate

from .access import FlowersFormatError, read_labels, read_splits
from .facts import NUM_CLASSES, cpu_count
from .load import DecodedFlowers, decode_resized, make_loader, measure_throughput

__all__ = ["CATEGORIES", "Finding", "Report", "check_batch", "check_labels", "diagnose"]

CATEGORIES = ("access", "quality", "efficiency")


@dataclass(frozen=True)
class Finding:
    """The result of one check: where it belongs, whether it passed, what it means, the numbers behind it.

    Introduced in notebook ``02_transform``.
    """

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


class Report(list):
    """A list of :class:`Finding`; ``report.problems`` are the failed ones, ``report.ok`` is True if none failed.

    Introduced in notebook ``02_transform``.
    """

    @property
    def problems(self) -> list[Finding]:
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
        return "\n".join([head, *lines])

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython display
        p.text(str(self))


def check_labels(labels: torch.Tensor | Sequence[int], num_classes: int = NUM_CLASSES) -> Report:
    """Access checks on a batch of labels: integer dtype, range 0..num_classes-1 (not 1-based). Introduced in notebook ``01_access``."""
    y = torch.as_tensor(labels)
    report = Report()
    if y.dtype != torch.int64:
        report.append(
            Finding("access", "label dtype", False, "CrossEntropyLoss wants int64 (long) class indices", {"dtype": str(y.dtype)})
        )
    else:
        report.append(Finding("access", "label dtype", True, "int64 class indices", {"dtype": "torch.int64"}))
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= num_classes:
        hint = " (1-based labels: subtract 1)" if lo >= 1 and hi == num_classes else ""
        report.append(
            Finding("access", "label range", False, f"labels must lie in 0..{num_classes - 1}{hint}", {"min": lo, "max": hi})
        )
    else:
        report.append(Finding("access", "label range", True, f"labels within 0..{num_classes - 1}", {"min": lo, "max": hi}))
    return report


def check_batch(
    batch: Any,
    *,
    size: int | None = None,
    num_classes: int = NUM_CLASSES,
    mean_tol: float = 0.5,
    std_range: tuple[float, float] = (0.5, 2.0),
) -> Report:
    """Quality checks on one batch ``(images, labels)`` or ``images`` as the model will receive it.

    Reports, each with its evidence: shape (B, 3, H, W) and the expected
    ``size``; dtype float32; NaN or infinite values; value range (0..255
    left unscaled); normalisation (per-channel mean near 0, std near 1);
    three identical channels up to scale (grayscale stored as RGB); constant
    images; every image standardised by its own mean and std. With labels,
    also :func:`check_labels`. Introduced in notebook ``02_transform``.
    """
    x, y = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
    x = torch.as_tensor(x)
    report = Report([_shape_finding(x, size)])
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
        report.extend(check_labels(y, num_classes))
    return report


def _shape_finding(x: torch.Tensor, size: int | None) -> Finding:
    """(B, 3, H, W) channels first, and ``size`` x ``size`` when a size is expected."""
    if x.ndim != 4 or x.shape[1] != 3:
        hint = " (channels last? use .permute(0, 3, 1, 2))" if x.ndim == 4 and x.shape[-1] == 3 else ""
        return Finding("quality", "shape", False, f"expected (B, 3, H, W){hint}", {"shape": tuple(x.shape)})
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        return Finding("quality", "shape", False, f"expected {size}x{size} images", {"shape": tuple(x.shape)})
    return Finding("quality", "shape", True, "(B, 3, H, W), channels first", {"shape": tuple(x.shape)})


def _dtype_finding(x: torch.Tensor) -> Finding:
    """float32, the dtype of the model's weights."""
    if x.dtype == torch.float32:
        return Finding("quality", "dtype", True, "float32", {"dtype": "torch.float32"})
    if x.dtype == torch.uint8:
        msg = "uint8 images: convert with ToDtype(torch.float32, scale=True) and normalise"
        return Finding("quality", "dtype", False, msg, {"dtype": str(x.dtype)})
    return Finding("quality", "dtype", False, "the model's weights are float32: use float32", {"dtype": str(x.dtype)})


def _finite_finding(xf: torch.Tensor) -> tuple[Finding, torch.Tensor]:
    """No NaN or infinite values; returns the finding and the batch with any such value zeroed for the next checks."""
    bad = int((~torch.isfinite(xf)).sum().item())
    if bad:
        msg = "NaN or infinite values (a division by a zero std?)"
        return Finding("quality", "finite", False, msg, {"count": bad}), torch.nan_to_num(xf, nan=0.0, posinf=0.0, neginf=0.0)
    return Finding("quality", "finite", True, "no NaN or infinite values"), xf


def _range_finding(xf: torch.Tensor) -> Finding:
    """Values on a normalised scale, not 0..255."""
    lo, hi = xf.min().item(), xf.max().item()
    if hi > 20:
        msg = "values up to 255: pixels were not scaled to [0, 1] before normalising"
        return Finding("quality", "range", False, msg, {"min": lo, "max": hi})
    return Finding("quality", "range", True, "values on a normalised scale", {"min": lo, "max": hi})


def _normalisation_finding(xf: torch.Tensor, mean_tol: float, std_range: tuple[float, float]) -> Finding:
    """Per-channel mean near 0 and std near 1 over the batch."""
    lo, hi = xf.min().item(), xf.max().item()
    mean, std = xf.mean(dim=(0, 2, 3)), xf.std(dim=(0, 2, 3))
    evidence = {"mean": mean.tolist(), "std": std.tolist()}
    if (mean.abs() > mean_tol).any() or (std < std_range[0]).any() or (std > std_range[1]).any():
        hint = "scaled to [0, 1] but not normalised" if 0 <= lo and hi <= 1 else "not normalised with the dataset's mean and std"
        return Finding("quality", "normalisation", False, f"per-channel mean should be near 0 and std near 1: {hint}", evidence)
    return Finding("quality", "normalisation", True, "per-channel mean near 0, std near 1", evidence)


def _colour_finding(flat: torch.Tensor, varying: list[int]) -> Finding:
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
        return Finding("quality", "colour", False, msg, {"gray_fraction": gray})
    return Finding("quality", "colour", True, "the channels carry colour", {"gray_fraction": gray})


def _per_image_finding(flat: torch.Tensor, varying: list[int]) -> Finding | None:
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
        return Finding(
            "quality", "per-image standardisation", False, msg, {"spread_of_image_means": spread, "max_std_minus_1": std_dev}
        )
    msg = "images keep their own brightness and contrast"
    return Finding("quality", "per-image standardisation", True, msg, {"spread_of_image_means": spread})


def _constant_finding(constant: list[int]) -> Finding:
    """Images with a single value everywhere."""
    if constant:
        msg = "images with a single value everywhere (blank, or crushed by a transform)"
        return Finding("quality", "constant images", False, msg, {"count": len(constant), "indices": constant[:5]})
    return Finding("quality", "constant images", True, "no constant image")


# --------------------------------------------------------------------------------------
# diagnose(): every check, on a whole Dataset, DataLoader or team pipeline (notebook 04_three_teams).
# --------------------------------------------------------------------------------------

_IMAGE_ID = re.compile(r"image_(\d+)\.jpg$")


@dataclass
class _Subject:
    """What :func:`diagnose` looks at: a dataset, maybe the loader around it, and what is known about its files."""

    dataset: Any
    loader: Any = None
    files: list[Path] | None = None
    labels: list[int] | None = None
    split: str | None = None
    indices: list[int] | None = None  # positions of the dataset's items in the underlying dataset (Subset)


def _subject(obj: Any) -> _Subject:
    loader = obj if isinstance(obj, DataLoader) else None
    dataset = obj.dataset if loader is not None else obj
    indices = None
    base = dataset
    if isinstance(base, Subset):
        indices, base = list(base.indices), base.dataset
    files = getattr(base, "image_files", None) or getattr(base, "_image_files", None)  # ours, torchvision's
    labels = getattr(base, "labels", None)
    if labels is None:
        labels = getattr(base, "_labels", None)
    split = getattr(base, "split", None) or getattr(base, "_split", None)
    files = [Path(f) for f in files] if files else None
    labels = [int(v) for v in labels] if labels is not None else None
    if indices is not None:
        files = [files[i] for i in indices] if files else None
        labels = [labels[i] for i in indices] if labels is not None else None
    return _Subject(dataset, loader, files, labels, split, indices)


def _reference(files: list[Path]) -> tuple[np.ndarray, dict[str, set[int]]] | None:
    """The official labels (0-based, by image id) and split ids from the .mat files beside the images, if present."""
    base = files[0].parent.parent
    try:
        return read_labels(base / "imagelabels.mat"), {k: set(v.tolist()) for k, v in read_splits(base / "setid.mat").items()}
    except (OSError, FlowersFormatError):
        return None


def _image_ids(files: list[Path]) -> list[int | None]:
    out: list[int | None] = []
    for f in files:
        m = _IMAGE_ID.search(f.name)
        out.append(int(m.group(1)) if m else None)
    return out


def _access_checks(s: _Subject, num_classes: int) -> Report:
    report = Report()
    if s.labels is None:
        return report
    y = torch.as_tensor(s.labels)
    # the whole dataset's labels (check_batch sees only a sample): report the range only if it is wrong
    report.extend(f for f in check_labels(y, num_classes) if f.check == "label range" and not f.ok)
    report.append(_class_balance_finding(s, y, num_classes))
    if not s.files:
        return report
    report.append(_duplicates_finding(s.files))
    ids = _image_ids(s.files)
    ref = _reference(s.files)
    if ref is None or any(i is None for i in ids):
        return report
    official, splits = ref
    report.append(_labels_match_finding(s, ids, official))  # type: ignore[arg-type]
    if s.split in splits:
        report.append(_split_leakage_finding(s.split, ids, splits))  # type: ignore[arg-type]
    return report


def _class_balance_finding(s: _Subject, y: torch.Tensor, num_classes: int) -> Finding:
    """Every class has training images."""
    counts = torch.bincount(y.clamp(0, num_classes - 1), minlength=num_classes)
    missing = int((counts == 0).sum())
    balance = {"classes": int((counts > 0).sum()), "min_per_class": int(counts.min()), "max_per_class": int(counts.max())}
    if missing and s.split in (None, "train"):
        return Finding("access", "class balance", False, f"{missing} class(es) have no training image", balance)
    return Finding("access", "class balance", True, "every class is represented", balance)


def _duplicates_finding(files: list[Path]) -> Finding:
    """Every file appears once."""
    dupes = len(files) - len(set(files))
    if dupes:
        return Finding("access", "duplicates", False, "the same file appears more than once", {"duplicates": dupes})
    return Finding("access", "duplicates", True, "every file appears once", {"files": len(files)})


def _labels_match_finding(s: _Subject, ids: list[int], official: np.ndarray) -> Finding:
    """Each label agrees with ``imagelabels.mat`` for the file's image id (a wrong pairing, or 1-based labels)."""
    labels = s.labels or []
    known = [(i, lab) for i, lab in zip(ids, labels) if 1 <= i <= official.size]
    agree = float(np.mean([official[i - 1] == lab for i, lab in known])) if known else 1.0
    shifted = float(np.mean([official[i - 1] + 1 == lab for i, lab in known])) if known else 0.0
    evidence: dict[str, Any] = {"agree": agree, "checked": len(known), "reference": "imagelabels.mat"}
    if agree >= 0.99:
        return Finding("access", "labels match files", True, "every label matches imagelabels.mat", evidence)
    wrong = [(f.name, lab, int(official[i - 1])) for f, i, lab in zip(s.files or [], ids, labels) if official[i - 1] != lab]
    hint = (
        "labels are 1-based: subtract 1"
        if shifted > 0.9
        else "files and labels are paired wrongly (list order? ids used as positions?)"
    )
    evidence["example"] = f"{wrong[0][0]} labelled {wrong[0][1]}, imagelabels.mat says {wrong[0][2]}"
    msg = f"{100 * (1 - agree):.0f}% of labels disagree with the file's class: {hint}"
    return Finding("access", "labels match files", False, msg, evidence)


def _split_leakage_finding(split: str, ids: list[int], splits: dict[str, set[int]]) -> Finding:
    """Every image of the split belongs to that split in ``setid.mat``."""
    outside = [i for i in ids if i not in splits[split]]
    if not outside:
        return Finding("access", "split leakage", True, f"every image belongs to the {split!r} split of setid.mat")
    where = {name: sum(i in splits[name] for i in outside) for name in splits if name != split}
    msg = (
        f"{len(outside)} of {len(ids)} images of the {split!r} split belong to other splits "
        "(read the split's ids from setid.mat, as file numbers)"
    )
    return Finding("access", "split leakage", False, msg, {k: v for k, v in where.items() if v})


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


def _geometry_check(s: _Subject) -> Finding | None:
    """Pass a round probe through the dataset's own decode or transform and measure whether it stays round."""
    decode = getattr(s.dataset, "decode", None)
    size = getattr(s.dataset, "size", None)
    transform = getattr(s.dataset, "transform", None)
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
        return Finding(
            "quality",
            "aspect ratio",
            False,
            "a round disc comes out as an ellipse: the picture is squashed to a square; resize the short side and crop",
            {"disc_width_over_height": aspect, "through": how},
        )
    return Finding("quality", "aspect ratio", True, "shapes keep their proportions", {"disc_width_over_height": aspect})


def _sample_batch(s: _Subject, n: int, seed: int) -> Any:
    """``n`` items picked at random (not the first, class-grouped ones), collated as the loader would."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(s.dataset), generator=g)[: min(n, len(s.dataset))].tolist()
    items = [s.dataset[i] for i in idx]
    collate = getattr(s.loader, "collate_fn", None) or default_collate
    return collate(items)


def _quality_checks(s: _Subject, size: int | None, num_classes: int, seed: int) -> Report:
    report = Report()
    first = s.dataset[0]
    image = first[0] if isinstance(first, tuple) else first
    if isinstance(image, Image.Image):
        report.append(
            Finding(
                "quality",
                "tensors",
                False,
                "items are PIL images: give the Dataset a transform that returns tensors (see flowerkit.transform)",
                {"item": type(image).__name__},
            )
        )
        return report
    report.extend(check_batch(_sample_batch(s, 32, seed), size=size, num_classes=num_classes))
    geometry = _geometry_check(s)
    if geometry is not None:
        report.append(geometry)
    # randomness: the same item twice
    torch.manual_seed(seed)
    a, b = s.dataset[0], s.dataset[0]
    xa, xb = (a[0], b[0]) if isinstance(a, tuple) else (a, b)
    same = torch.equal(torch.as_tensor(xa), torch.as_tensor(xb))
    if not same and s.split in ("val", "test"):
        report.append(
            Finding(
                "quality",
                "random at evaluation",
                False,
                f"the same {s.split} image gives a different tensor each time: augmentation belongs to training only",
                {"split": s.split},
            )
        )
    else:
        msg = "deterministic items" if same else "random augmentation, on the training split"
        report.append(Finding("quality", "random at evaluation", True, msg, {"split": s.split}))
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


def _efficiency_checks(s: _Subject, size: int | None, seed: int, measure: bool) -> Report:
    report = Report()
    if s.loader is not None:
        report.extend([_shuffling_finding(s), _batch_size_finding(s.loader)])
    if not measure:
        return report
    decode, item_ms = _decode_cost_finding(s, size, seed)
    report.append(decode)
    if s.loader is not None:
        report.extend([_workers_finding(s.loader, item_ms), _throughput_check(s, size, seed)])
    return report


def _shuffling_finding(s: _Subject) -> Finding:
    """A training loader over class-grouped files must shuffle. Filed under *quality*: it costs accuracy, not time."""
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
        return Finding("quality", "shuffling", False, msg, evidence)
    why = "evaluation order does not matter" if not training else "items come in mixed order"
    return Finding("quality", "shuffling", True, why, evidence)


def _batch_size_finding(loader: Any) -> Finding:
    """Batches large enough that per-step overhead does not dominate."""
    bs = loader.batch_size or (loader.batch_sampler.batch_size if loader.batch_sampler is not None else 1)
    if bs < 16:
        msg = f"batch size {bs}: per-step overhead dominates and BatchNorm sees {bs} image(s); use 32-128"
        return Finding("efficiency", "batch size", False, msg, {"batch_size": bs})
    return Finding("efficiency", "batch size", True, f"batches of {bs}", {"batch_size": bs})


def _decode_cost_finding(s: _Subject, size: int | None, seed: int) -> tuple[Finding, float]:
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
        return Finding("efficiency", "decode cost", False, msg, evidence), item_ms
    return Finding("efficiency", "decode cost", True, "items are cheap to produce", evidence), item_ms


def _workers_finding(loader: Any, item_ms: float) -> Finding:
    """Worker processes when items are costly, and no more than the cores can run."""
    workers, cores = loader.num_workers, cpu_count()
    evidence = {"num_workers": workers, "cores": cores}
    if workers == 0 and item_ms > 0.5 and cores > 1:
        msg = f"num_workers=0: the training loop waits while each item is decoded; use about {cores} workers"
        return Finding("efficiency", "workers", False, msg, evidence)
    if workers > 2 * cores:
        return Finding("efficiency", "workers", False, "more workers than cores: they compete", evidence)
    return Finding("efficiency", "workers", True, "workers suit the cost of an item", evidence)


def _throughput_check(s: _Subject, size: int | None, seed: int) -> Finding:
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
            return Finding(
                "efficiency",
                "throughput",
                False,
                f"{ratio:.1f}x slower than a tuned loader on the same files (draft decode, batch 64, {cpu_count()} workers)",
                evidence,
            )
        return Finding("efficiency", "throughput", True, "as fast as a tuned loader or faster", evidence)
    return Finding("efficiency", "throughput", True, "measured (no files known to compare with a tuned loader)", evidence)


def diagnose(
    target: Any,
    *,
    size: int | None = None,
    num_classes: int = NUM_CLASSES,
    measure: bool = True,
    seed: int = 0,
) -> Report:
    """Check a whole pipeline and report, per category, what was found and the evidence. Introduced in notebook ``04_three_teams``.

    ``target`` is a Dataset, a DataLoader, or a :class:`flowerkit.teams.Pipeline`
    (whose train loader is checked, and whose test loader is checked for
    randomness at evaluation). Works on ``torchvision.datasets.Flowers102`` and
    on flowerkit's datasets; checks that need something a dataset does not
    expose (e.g. its file list) are skipped rather than guessed.

    * **access**: label range; class balance; duplicated files; labels against
      ``imagelabels.mat`` beside the images (a wrong pairing or 1-based
      labels); split leakage against ``setid.mat``;
    * **quality**: a random batch through :func:`check_batch` (shape, dtype,
      range, normalisation, colour, per-image standardisation); a round probe
      image through the dataset's own decode or transform (squashing); the
      same item fetched twice (randomness on a val/test split); no shuffling
      over class-grouped files (filed here, not under efficiency, because it
      costs accuracy, not time: every batch holds one class);
    * **efficiency**: batch size; workers; milliseconds per item against a
      draft decode; images/s against a tuned loader on the same files
      (``measure=False`` skips the timings).
    """
    test_loader = getattr(target, "test_loader", None)
    if test_loader is not None and hasattr(target, "train_loader"):
        report = diagnose(target.train_loader, size=size, num_classes=num_classes, measure=measure, seed=seed)
        test = _subject(test_loader)
        randomness = [f for f in _quality_checks(test, size, num_classes, seed) if f.check == "random at evaluation"]
        report[:] = [f for f in report if f.check != "random at evaluation"] + randomness
        return report
    s = _subject(target)
    if size is None:  # the size the model sees, for the tuned loader and the draft decode to compare with
        first = s.dataset[0]
        image = first[0] if isinstance(first, tuple) else first
        inferred = int(image.shape[-1]) if isinstance(image, torch.Tensor) and image.ndim == 3 else None
    else:
        inferred = size
    report = Report()
    report.extend(_access_checks(s, num_classes))
    report.extend(_quality_checks(s, size, num_classes, seed))
    report.extend(_efficiency_checks(s, size or inferred, seed, measure))
    return report
