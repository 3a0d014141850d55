"""Checkers of notebook ``04_three_teams``: the majority baseline, the most confused classes, and the intern's loader to fix."""

from __future__ import annotations

import copy
import itertools
import math
import numbers
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms as v1
from torchvision.transforms import v2

from .. import model as _model
from ..access import OxfordFlowers102
from ..doctor import diagnose
from ..facts import DEFAULT_SIZE
from ..load import CachedFlowers
from ..transform import ToRGB, compute_stats
from .nb03 import _LOADER_RULES_HINT, _fixes_once_seen, _train_loader_problems
from .verdict import RAISED_HINT, Verdict, _call, _call_without, _is_stub_function, _unanswered, _verdict

__all__ = [
    "check_fixed_loader",
    "check_lr_at",
    "check_majority_baseline",
    "check_most_confused",
    "intern_loader",
]


def _near(answer: float, value: float, decimals: int = 3) -> bool:
    """Within 0.1% of ``value``, or ``value`` rounded to ``decimals`` places or more (0.015 for 0.01469)."""
    return math.isclose(answer, value, rel_tol=1e-3) or any(
        math.isclose(answer, round(value, d), rel_tol=1e-9, abs_tol=1e-12) for d in range(decimals, 7)
    )


def _rounding_mistake(answer: float, truth: float, largest: int) -> tuple[str, str] | None:
    """An answer floored to 0 by an integer division, or rounded too far to be told apart; None otherwise."""
    if answer == 0 and truth > 0 and largest != 0:  # (0 as the index of class 0 is named by _baseline_mistake)
        return (
            "0: no constant answer scores nothing (it is right on its own class's images). An integer division (//) "
            "floors any share below 1 to 0.",
            "divide with /, not //",
        )
    if any(math.isclose(answer, round(truth, d), abs_tol=1e-12) for d in (1, 2)):  # checked before 1/102 at 3
        return (
            f"{answer:g} is too rounded to tell the right share from the numbers near it (1/102 and others round to it).",
            "give at least 3 significant digits (e.g. 0.0123), or the unrounded number",
        )
    return None


_ONE_IN_102 = (
    "1/102 is what guessing uniformly at random scores on average, and each class's share of a split where every "
    "class has as many photos as the others (train or validation); the question is the best *constant* answer on the "
    "test split."
)


def _baseline_mistake(answer: float, counts: np.ndarray, n: int) -> tuple[str, str]:
    """(message, hint) for a wrong majority baseline: the number it is, when recognised, else what to look for."""
    truth = counts.max() / n
    known = [  # (value, the decimals it may be rounded to, message, hint)
        (
            1 / counts.size,
            3,
            _ONE_IN_102,
            "count the test split's labels: which class has the most test images, and what fraction of the split is it?",
        ),
        (100 * truth, 1, "that is a percentage: give a fraction between 0 and 1.", "divide by 100"),
        (
            counts.max(),
            3,
            "that is the number of images of the largest class: divide by the size of the test split.",
            "len(labels) is the size of the test split",
        ),
        (
            counts.argmax(),
            3,
            "that is the largest class's index (which class to answer), not the accuracy that answer scores.",
            "the accuracy of always answering that class: the share of the test split that is that class",
        ),
        (
            1 - truth,
            3,
            "that is the share of the test split the constant answer gets *wrong*; accuracy is the share it gets right.",
            "1 minus your number",
        ),
        (
            counts[counts > 0].min() / n,
            3,
            "that is the *smallest* class's share; the best constant guess is the largest class.",
            "the largest count, not the smallest",
        ),
    ]
    rounded = _rounding_mistake(answer, truth, int(counts.argmax()))
    if rounded:
        return rounded
    median = float(np.median(counts[counts > 0])) / n  # near 1/102 on mini: named by whichever the answer is closer to
    if _near(answer, median, 3) and abs(answer - median) < abs(answer - 1 / counts.size):
        return "that is a typical (the median) class's share; the best constant guess is the largest class.", "the largest count"
    for value, decimals, message, hint in known:
        if _near(answer, float(value), decimals):
            return message, hint
    return (
        f"{answer:.4g} is not the largest class's share of the test split.",
        "count the test images of each class: a constant answer is right exactly on its own class's images",
    )


def check_majority_baseline(answer: Any, labels: Any) -> Verdict:
    """Notebook ``04_three_teams``: the test accuracy of always answering the most frequent test class (a fraction)."""
    y = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(y)
    truth = counts.max() / y.size
    if _unanswered(answer):
        return _verdict(False, "no answer yet: set `majority` to a number.", "count each class in test_set.labels")
    if isinstance(answer, np.ndarray) and answer.size == 1:  # e.g. counts.max(keepdims=True) / n: one number all the same
        answer = answer.item()
    try:
        answer = float(answer)
    except (TypeError, ValueError, RuntimeError, OverflowError):  # a string, a list, a tensor of several numbers
        return _verdict(False, "`majority` must be a number (a fraction between 0 and 1).", "e.g. majority = 0.02")
    if _near(answer, truth):
        return _verdict(
            True,
            f"always answering the largest test class scores {truth:.1%}: a model near that has learned nothing.",
        )
    message, hint = _baseline_mistake(answer, counts, y.size)
    return _verdict(False, message, hint)


def _confusion_cases() -> list[tuple[Any, Any, int, list[tuple[int, int, int]]]]:
    """(preds, trues, k, the k most frequent mistakes as (true, predicted, count)) of three small hand-made cases.

    In the second, the two most frequent mistakes share a true class, and k is not 3; in the third, a class is
    right more often than any mistake is made (a top-k that keeps the diagonal lists it); in the fourth, fewer
    mistakes were made than k asks for.
    """
    trues = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 3])
    preds = torch.tensor([0, 1, 1, 1, 2, 2, 2, 2, 0, 3, 1, 1, 2, 3])
    #  pairs (true, pred): (0,1) x2, (1,2) x3, (2,0) x1, (3,1) x2, (3,2) x1
    first = (preds, trues, 3, [(1, 2, 3), (0, 1, 2), (3, 1, 2)])
    #  pairs (true, pred): (2,0) x5, (2,3) x4, (0,1) x3, (3,2) x2, (1,0) x1, (0,3) x1; and 4 right answers
    pairs = [(2, 0)] * 5 + [(2, 3)] * 4 + [(0, 1)] * 3 + [(3, 2)] * 2 + [(1, 0), (0, 3), (0, 0), (1, 1), (2, 2), (3, 3)]
    order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(4)).tolist()
    second_trues, second_preds = (torch.tensor([pairs[i][j] for i in order]) for j in (0, 1))
    #  pairs (true, pred): (1,1) x6, right, more often than any mistake; (0,2) x3, (2,1) x2, (3,0) x1, (1,3) x1
    pairs = [(1, 1)] * 6 + [(0, 2)] * 3 + [(2, 1)] * 2 + [(3, 0), (1, 3), (0, 0), (2, 2)]
    order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(5)).tolist()
    third_trues, third_preds = (torch.tensor([pairs[i][j] for i in order]) for j in (0, 1))
    #  pairs (true, pred): (0,1) x2, (1,0) x1, and 4 right answers: 2 mistakes made, 4 asked for (a top-4 of the
    #  confusion matrix would add a pair with count 0, or a right answer)
    fourth_trues, fourth_preds = torch.tensor([0, 0, 1, 1, 2, 2, 2]), torch.tensor([1, 1, 0, 1, 2, 2, 2])
    return [
        first,
        (second_preds, second_trues, 4, [(2, 0, 5), (2, 3, 4), (0, 1, 3), (3, 2, 2)]),
        (third_preds, third_trues, 2, [(0, 2, 3), (2, 1, 2)]),
        (fourth_preds, fourth_trues, 4, [(0, 1, 2), (1, 0, 1)]),
    ]


def _rows(answer: Any) -> list[tuple[int, int, int]] | tuple[str, str]:
    """The answer's rows as (true, predicted, count) ints, read once (a generator too), or (message, hint) if it is not that."""
    shape = "return a list of (true, predicted, count) tuples.", "e.g. [(1, 2, 3), ...]"
    if isinstance(answer, (str, bytes, dict)) or not hasattr(answer, "__iter__"):
        return f"got a value of type {type(answer).__name__}; {shape[0]}", shape[1]
    try:
        rows = list(itertools.islice(answer, 1000))
    except Exception as exc:  # the student's iterable raised
        return f"reading your result raised {type(exc).__name__}: {exc}", RAISED_HINT
    got = []
    for row in rows:
        if isinstance(row, dict):
            return f"your rows are dicts ({row!r}); {shape[0]}", "one tuple per mistake: (true, predicted, count)"
        try:
            values = list(itertools.islice(row, 4))
            numbers = [float(v) for v in values]
        except Exception:  # not a row of numbers: a bare int, a string, an object of the student's
            return f"a row of yours is {row!r}; {shape[0]}", shape[1]
        if len(numbers) != 3:
            return f"a row of yours is {row!r}, {len(numbers)} values; {shape[0]}", shape[1]
        if not numbers[2].is_integer():
            return (
                "your counts are not whole numbers: shares of a row, as confusion() above gives?",
                "count the mistakes themselves; do not divide by the row's total",
            )
        got.append((int(numbers[0]), int(numbers[1]), int(numbers[2])))
    return got


def _confusion_problem(
    got: list[tuple[int, int, int]], k: int, expected: list[tuple[int, int, int]], where: str
) -> tuple[str, str] | None:
    """(message, hint) for how ``got`` differs from the ``k`` most frequent mistakes ``expected``; None if it does not."""
    if len(got) != len(expected):
        if len(expected) < k and len(got) > len(expected):
            return (
                f"{where}only {len(expected)} different mistakes were made here, fewer than k; your rows past them, "
                f"{got[len(expected) :]}, never happened as mistakes.",
                "return the k most frequent mistakes, or every mistake when fewer were made: a count of 0 is no mistake",
            )
        if where and len(got) == 3:
            return f"{where}your function returns 3 mistakes, as for k=3: is k typed in?", "use the k your function is given"
        if len(got) < len(expected):
            return (
                f"{where}asked for k={k} pairs, got {len(got)}.",
                "drop the correct predictions (true == predicted) before you take the k most frequent",
            )
        return f"{where}asked for k={k} pairs, got {len(got)}.", "keep the first k after sorting: [:k]"
    if any(t == p for t, p, _ in got):
        return f"{where}correct predictions (true == predicted) are in your list.", "skip the diagonal"
    if len({(t, p) for t, p, _ in got}) < len(got):
        return (
            f"{where}the same (true, predicted) pair appears more than once, each counted apart: tensors hash by "
            "identity, so a Counter keyed on them never merges equal pairs.",
            "turn each into an int first: int(t), or trues.tolist()",
        )
    if sorted((p, t, c) for t, p, c in got) == sorted(expected):
        return f"{where}true and predicted are swapped.", "each tuple is (true class, predicted class, count)"
    counts = [c for _, _, c in got]
    if counts != sorted(counts, reverse=True):
        return f"{where}not sorted by count, most frequent first.", "sorted(..., key=lambda t: t[2], reverse=True)"
    if sorted(got) == sorted(expected):  # sorted by count above: only ties may come in another order
        return None
    shared = len({t for t, _, _ in expected}) < len(expected)
    if shared and len({t for t, _, _ in got}) == len(got):
        return (
            f"{where}expected {expected}, got {got}: you keep one mistake per true class, but here two of the most "
            "frequent mistakes have the same true class.",
            "rank every (true, predicted) pair by its count, whatever its true class",
        )
    return (
        f"{where}expected {expected} (ties in any order), got {got}.",
        "count each (true, predicted) pair where the two differ (collections.Counter counts), most frequent first",
    )


def check_most_confused(func: Callable[[Any, Any, int], Any]) -> Verdict:
    """Notebook ``04_three_teams``: ``func(preds, trues, k)`` -> the k most frequent (true, predicted, count), mistakes only.

    Four hand-made cases: k=3; k=4 with the two most frequent mistakes in one true class; k=2 where a class is
    right more often than any mistake; k=4 where only 2 different mistakes were made. The rows may come as tuples, lists, a (k, 3) array or a generator.
    """
    for n, (preds, trues, k, expected) in enumerate(_confusion_cases()):
        where = f"on a {('second', 'third', 'fourth')[n - 1]} case (k={k}): " if n else ""
        answer, error = _call(func, preds, trues, k)
        if error:
            return _verdict(False, where + error, RAISED_HINT)
        if _unanswered(answer):
            return _verdict(
                False, "your function returns None: it is still the stub.", "count (true, predicted) pairs with true != predicted"
            )
        got = _rows(answer)
        if isinstance(got, tuple):
            return _verdict(False, where + got[0], got[1])
        problem = _confusion_problem(got, k, expected, where)
        if problem:
            return _verdict(False, problem[0], problem[1])
    return _verdict(True, "the most frequent mistakes, most frequent first.")


#: The intern's normalisation statistics, as the intern typed them (what they are: nb04-59b, after the checker).
_INTERN_STATS = ((0.1307,) * 3, (0.3081,) * 3)


def intern_loader(root: str | Path, size: int = DEFAULT_SIZE) -> Any:
    """Notebook ``04_three_teams``, exercise 3: the garden intern's training loader, as the intern wrote it."""
    # Its source is the intern's, without notes: `intern_loader??` must not annotate what exercise 3 asks the student
    # to find (the notebook explains each problem after the checker's Correct!, and the checker names them on the way).
    transform = v2.Compose(
        [
            ToRGB(),
            v2.ToImage(),
            v2.RandomCrop(size),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(*_INTERN_STATS),
        ]
    )
    return DataLoader(OxfordFlowers102(root, "train", transform=transform), batch_size=4, shuffle=False)


def _worker_rule(loader: DataLoader) -> list[str]:
    """Notebook ``03_load``'s worker rule, read from the loader's settings (no timing): what it breaks, as check names.

    A dataset that decodes a JPEG per item (anything but a uint8 :class:`~flowerkit.load.CachedFlowers`) needs worker
    processes, or the training loop waits for every decode; workers that exist are kept alive between epochs; items
    stay uint8 until the collate_fn converts and normalises the whole batch.
    """
    broken = []
    decodes = not isinstance(loader.dataset, CachedFlowers)
    if decodes and loader.num_workers < 1:
        kind = type(loader.dataset).__name__
        broken.append(
            f"workers: num_workers=0, and the dataset ({kind}) decodes a JPEG per item in the training process "
            "(notebook 03's rule: about one worker per core where there is decoding to do)"
        )
    if loader.num_workers > 0 and not loader.persistent_workers:
        broken.append("workers: persistent_workers=False, so the workers restart every epoch (persistent_workers=True)")
    item = loader.dataset[0][0]
    dtype = item.dtype if isinstance(item, (torch.Tensor, np.ndarray)) else None
    if dtype is not None and dtype not in (torch.uint8, np.uint8):
        broken.append(
            f"conversion: each item comes out of the dataset as {dtype}, converted and normalised one image at a "
            "time (the Efficiency team's fourth bug); keep items uint8 and normalise once per batch in the collate_fn"
        )
    return broken


def _squashes(transform: Any) -> bool:
    """Whether ``transform`` (a v2 pipeline, nested or not) resizes to a (height, width) pair: a square squashes."""
    if isinstance(transform, (v2.Resize, v1.Resize)):  # the older API too, as the Efficiency team wrote it
        size = transform.size
        return size is not None and not isinstance(size, int) and len(size) == 2
    return any(_squashes(t) for t in getattr(transform, "transforms", []))


def _not_the_intern_dataset(loader: DataLoader, intern: DataLoader) -> tuple[str, str] | None:
    """(message, hint) when ``loader`` does not read the intern's dataset itself, its split and all; None when it does."""
    if loader.dataset is not intern.dataset:
        return (
            f"your loader reads a new dataset ({type(loader.dataset).__name__}), not the intern's: the garden keeps "
            "intern.dataset, the same object.",
            "a new dataset: fix intern.dataset.transform and the loader's settings",
        )
    n = len(OxfordFlowers102(intern.dataset.root, "train"))
    split = getattr(loader.dataset, "split", "train")
    if split != "train" or len(loader.dataset) != n:
        return (
            f"the loader holds {len(loader.dataset)} {split} images; the train split has {n}.",
            "leave the intern's files, labels and split as they are: change its transform",
        )
    return None


def _first_item_fails(loader: DataLoader) -> tuple[str, str] | None:
    """(message, hint) when the dataset's transform raises on its first item (e.g. Normalize on uint8); else None."""
    _, error = _call(loader.dataset.__getitem__, 0)
    if not error:
        return None
    return (
        f"the dataset's first item fails: {error.replace('your function raised', 'your transform raised')}",
        "run intern.dataset[0] in a new cell for the traceback: each step takes what the step before gives "
        "(Normalize wants floats, ToDtype comes before it)",
    )


def _doctor_hint(loader: DataLoader, intern: DataLoader, theirs: str, checks: set[str]) -> tuple[str, str]:
    """(what the answer left, a hint) for what the doctor still finds, from where it lives; ``theirs``: repr(transform)."""
    if loader is intern:
        return "", "a DataLoader's settings are fixed when it is built: return DataLoader(intern.dataset, ...) with yours"
    if repr(loader.dataset.transform) == theirs:
        return (
            " The dataset still has the intern's transform, and a loader's settings cannot change what each item is.",
            "set intern.dataset.transform to a new pipeline that ends in uint8 tensors; convert and normalise per batch",
        )
    if "aspect ratio" in checks and _squashes(loader.dataset.transform):
        return (
            " Your transform still resizes to a (height, width) pair.",
            "v2.Resize(size) with one int resizes the short side, keeping the shape; then v2.CenterCrop(size)",
        )
    item = loader.dataset[0][0]
    if {"dtype", "range"} & checks and isinstance(item, torch.Tensor) and item.dtype == torch.uint8:
        return (
            " Your items are uint8, as they should be; nothing converts the batch.",
            "collate_fn=load.CollateNormalize(mean, std), with this dataset's statistics (transform.compute_stats)",
        )
    if "normalisation" in checks:
        return (
            "",
            "the mean and std of this dataset's train split, as your transform delivers it: transform.compute_stats",
        )
    return "", "print(doctor.diagnose(loader, measure=False)) shows each problem with its evidence"


_RAMP_SIZE = (660, 500)  # a probe photo as large as the real ones (the short side 500 px)
_SHOWN_AT_LEAST = 0.7  # of the probe's short side: Resize(short side) then a crop shows all of it; 256/224 shows 88%


def _ramp_jpeg(folder: Path) -> Path:
    """A JPEG whose red rises left to right and green top to bottom: an item's range of each tells how much it shows."""
    width, height = _RAMP_SIZE
    x, y = np.meshgrid(np.linspace(0, 255, width), np.linspace(0, 255, height))
    pixels = np.stack([x, y, np.full_like(x, 128)], -1).round().astype(np.uint8)
    path = folder / "image_ramp.jpg"
    Image.fromarray(pixels).save(path, quality=95)
    return path


def _as_chw(item: Any) -> torch.Tensor | None:
    """An item's image as a (3, H, W) tensor: a tensor as it is, a NumPy array or PIL image (channels last, as
    decoders give them) moved channels-first; None for anything else."""
    if isinstance(item, Image.Image):
        item = np.asarray(item.convert("RGB"))
    if isinstance(item, np.ndarray) and item.ndim == 3:
        item = torch.from_numpy(np.array(item if item.shape[0] == 3 else item.transpose(2, 0, 1)))  # a writable copy
    return item if isinstance(item, torch.Tensor) and item.ndim == 3 and item.shape[0] == 3 else None


def _probe_items(dataset: Any, draws: int, *, full_decode: bool) -> list[torch.Tensor | None]:
    """``draws`` items of the probe photo through the dataset's own transform (a shallow copy whose files are the
    probe; with ``full_decode``, its ``draft`` off), seeded; each a uint8 (3, H, W) tensor, or None where the item
    raised or is no uint8 image (:func:`_as_chw`)."""
    with tempfile.TemporaryDirectory() as folder:
        probe = copy.copy(dataset)
        probe.image_files, probe.labels = [_ramp_jpeg(Path(folder))] * draws, [0] * draws
        if full_decode and getattr(probe, "draft", None) is not None:
            probe.draft = None  # what the transform keeps of the whole photo, whatever the decode's reduction
        items: list[torch.Tensor | None] = []
        with torch.random.fork_rng():
            torch.manual_seed(0)
            for i in range(draws):
                got, error = _call(probe.__getitem__, i)
                item = None if error else _as_chw(got[0] if isinstance(got, (tuple, list)) else got)
                items.append(item if item is not None and item.dtype == torch.uint8 else None)
    return items


_MIRROR_DRAWS = 16  # items of the probe photo: a fair coin comes up the same 16 times once in 30,000 tries


def _mirrored_share(dataset: Any, draws: int = _MIRROR_DRAWS) -> float | None:
    """The share of ``draws`` items of the probe photo that come out mirrored (its red falls left to right), through
    the dataset's own transform; None when the items are not uint8 images (:func:`_as_chw`)."""
    items = _probe_items(dataset, draws, full_decode=False)
    if any(item is None for item in items):
        return None
    half = [item.shape[-1] // 2 for item in items]
    return sum(float(x[0, :, :h].float().mean()) > float(x[0, :, -h:].float().mean()) for x, h in zip(items, half)) / draws


def _share_shown(dataset: Any, draws: int = 16) -> float | None:
    """How much of a photo's short side the dataset's items show at most, over ``draws`` items of a probe photo.

    Through the dataset's own transform, decoded in full: a ``draft`` decode keeps between 1 and 2 times the size
    asked for of the short side (125 px of 500 for 64 or for 96), so a crop of the draft would show 51% at 64 px and
    77% at 96, one answer judged two ways. A random crop or zoom is drawn anew each time. None when the items are not
    uint8 images (:func:`_as_chw`).
    """
    width, height = _RAMP_SIZE
    shown = []
    for item in _probe_items(dataset, draws, full_decode=True):
        if item is None:
            return None
        span = (item[:2].amax((1, 2)) - item[:2].amin((1, 2))).float() / 255  # red: across, green: down
        shown.append(max(float(span[0]) * width, float(span[1]) * height) / min(width, height))
    return max(shown)


def check_fixed_loader(func: Callable[[Any], Any], root: str | Path, size: int = DEFAULT_SIZE) -> Verdict:
    """Notebook ``04_three_teams``: ``func(intern)`` returns a DataLoader over ``intern.dataset`` that the doctor passes.

    ``intern`` is a fresh :func:`intern_loader`: the answer must keep its dataset (the same object) and fix what the
    doctor names through the dataset's transform and the loader's settings. The doctor runs without measuring
    (``measure=False``: seconds, not minutes); what a measurement would show is read from the loader's settings.
    """
    intern = intern_loader(root, size)
    theirs = repr(intern.dataset.transform)  # a student may edit the intern's transform in place
    loader, error = _call(func, intern)
    if error:
        hint = RAISED_HINT
        if "should not be set after DataLoader is initialized" in error:
            hint = "a DataLoader's settings are fixed when it is built: return a new DataLoader over intern.dataset"
        return _verdict(False, error, hint)
    if _unanswered(loader):
        return _verdict(False, "your function returns None: it is still the stub.", "start from the doctor's evidence above")
    if not isinstance(loader, DataLoader):
        return _verdict(
            False, f"got a {type(loader).__name__}, expected a DataLoader.", "return torch.utils.data.DataLoader(...)"
        )
    mistake = _not_the_intern_dataset(loader, intern) or _first_item_fails(loader)
    if mistake:
        message, hint = mistake
        return _verdict(False, message, hint)
    report, error = _call(lambda: diagnose(loader, measure=False))
    if error:
        return _verdict(False, f"the doctor could not examine it: {error}", "doctor.diagnose(loader) shows the full traceback")
    if report.problems:
        found = "; ".join(f"{f.check}: {f.message}" for f in report.problems)
        left, hint = _doctor_hint(loader, intern, theirs, {f.check for f in report.problems})
        return _verdict(False, f"the doctor still finds {len(report.problems)} problem(s): {found}.{left}", hint)
    refused = _beyond_the_doctor(loader, intern.dataset, size)  # a Verdict is falsy when "Not yet": no `or` here
    return refused if refused is not None else _verdict(True, _fixed_message(loader))


_PADDED_AT_MOST = 0.02  # of an item's pixels: a crop of the decoded photo pads none; JPEG's ringing blurs an edge


def _padding_share(dataset: Any, draws: int = 4) -> float:
    """How much of an item is padding, through the dataset's own transform and its own ``draft``, on the probe photo
    (whose blue is 128 everywhere: a pixel with almost none is padding); 0 when the items are not uint8 images."""
    items = _probe_items(dataset, draws, full_decode=False)
    return max([0.0] + [float((item[2] < 32).float().mean()) for item in items if item is not None])


def _loader_rules(loader: DataLoader, dataset: Any, size: int) -> list[str]:
    """Notebook 03's training-loader rules that ``loader`` breaks (exercise 7's), each with its fix once it comes back;
    the batches compared with the train split's statistics: its photos shrunk and centre-cropped to ``size``, decoded
    as the student's dataset decodes them (a random crop or zoom for training keeps those statistics)."""
    canonical = copy.copy(dataset)
    canonical.transform = v2.Compose([ToRGB(), v2.ToImage(), v2.Resize(size, antialias=True), v2.CenterCrop(size)])
    stats, error = _call(lambda: compute_stats(canonical, progress=False))
    return _fixes_once_seen(_train_loader_problems(loader, dataset, None if error else stats))


def _beyond_the_doctor(loader: DataLoader, dataset: Any, size: int) -> Verdict | None:
    """The "Not yet" for a loader the doctor passes: notebook 03's worker rule, padding under a draft decode, a crop
    that shows a patch, the intern's flip dropped, notebook 03's other loader rules; None when it keeps them all."""
    workers = _worker_rule(loader)
    if workers:
        return _verdict(
            False,
            f"the doctor finds no problem, but {'; '.join(workers)}.",
            "notebook 03's exercise 7 met the same problem: what did its fix change?",
        )
    padded = _padding_share(loader.dataset)
    if padded > _PADDED_AT_MOST:
        return _verdict(
            False,
            f"the doctor finds no problem, but an item is {padded:.0%} black padding (a test photo of "
            f"{_RAMP_SIZE[0]}x{_RAMP_SIZE[1]} through your dataset): your crop asks for more pixels than the decode "
            "gives, and pads the rest"
            + (
                f" (with draft = {dataset.draft} the decode is only a little larger than that size)."
                if getattr(dataset, "draft", None)
                else "."
            ),
            "crop what the decode gives, at any draft: v2.Resize(size) with one int (the short side), then v2.CenterCrop(size)",
        )
    shown = _share_shown(loader.dataset)
    if shown is not None and shown < _SHOWN_AT_LEAST:
        return _verdict(
            False,
            f"the doctor finds no problem, but an item shows only {shown:.0%} of a photo's short side (a test photo of "
            f"{_RAMP_SIZE[0]}x{_RAMP_SIZE[1]}, decoded in full, through your dataset's transform; decoded smaller, "
            f"a photo shows more, and a larger one less): {_what_a_crop_keeps(shown)}, not the whole flower shrunk to "
            f"{size} px. A crop keeps a disc round, so the doctor cannot see it.",
            "shrink the whole photo first (v2.Resize(size) with one int: its short side), then crop what sticks out",
        )
    if _mirrored_share(loader.dataset) == 0:
        return _verdict(
            False,
            f"the doctor finds no problem, but no item ever comes out mirrored ({_MIRROR_DRAWS} draws of a test photo "
            "through your dataset): a training loader keeps a random flip (notebook 02: augmentation on train only), "
            "and the intern's transform had one.",
            "fix what is wrong and keep what was right: a v2.RandomHorizontalFlip() in the training transform",
        )
    rules = _loader_rules(loader, dataset, size)
    if rules:
        return _verdict(
            False, "the doctor finds no problem, but notebook 03's rules: " + "; ".join(rules) + ".", _LOADER_RULES_HINT
        )
    return None


def _what_a_crop_keeps(shown: float) -> str:
    """How a crop that shows ``shown`` of a photo's short side reads to a student: a patch, or a part."""
    return "a patch cut out of the photo, a petal or two" if shown < 0.5 else "a part of the photo, its edges cut away"


def _fixed_message(loader: DataLoader) -> str:
    """The "Correct!" message: what the doctor found right, the workers, and whether the JPEGs decode at reduced size."""
    message = (
        "the doctor finds no problem: right labels, undistorted normalised images, shuffled batches; and "
        f"{loader.num_workers} workers decode the JPEGs, kept alive between epochs."
    )
    if getattr(loader.dataset, "draft", 0) is None:
        message += (
            " One more from notebook 03: each JPEG is still decoded in full, then resized; intern.dataset.draft = size "
            "decodes at reduced size (the doctor's timed checks, measure=True, flag the full decode)."
        )
    return message


# ------------------------------------------------------------------ exercise 4: a one-cycle schedule indexed by progress

#: The scheduler the exercise asks for: three phases (up, back down to the start, then to the end), pct_start 0.3,
#: every other setting at OneCycleLR's default (div_factor 25, final_div_factor 1e4, anneal_strategy 'cos').
_PCT = 0.3


def _onecycle_lrs(max_lr: float, total_steps: int) -> list[float]:
    """The learning rate ``OneCycleLR(three_phase=True, pct_start=0.3)`` sets at each of ``total_steps`` steps."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total_steps, pct_start=_PCT, three_phase=True)
    lrs = []
    for step in range(total_steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if step < total_steps - 1:
            sched.step()
    return lrs


def _half_cosine(a: float, b: float, t: float) -> float:
    """From ``a`` at t = 0 to ``b`` at t = 1 along half a cosine (OneCycleLR's anneal_strategy='cos')."""
    return b + (a - b) * (1 + math.cos(math.pi * t)) / 2


def _ends(max_lr: float) -> tuple[float, float]:
    """The rate OneCycleLR starts at (max_lr / div_factor) and ends at (that / final_div_factor), at their defaults."""
    start = max_lr / 25
    return start, start / 1e4


def _landmarks(max_lr: float) -> list[tuple[float, float, str, str]]:
    """(progress, the rate there, what it shows, a hint) along the three-phase curve, in the order they are checked."""
    start, end = _ends(max_lr)
    return [
        (0.0, start, "at progress 0 OneCycleLR starts at max_lr / div_factor", "div_factor is 25 by default"),
        (_PCT, max_lr, "the peak, max_lr, comes at pct_start = 0.3 of the run", "warm up over the first 30%"),
        (
            2 * _PCT,
            start,
            "with three_phase=True a second phase, as long as the first, brings the rate back down to the start's rate",
            "help(OneCycleLR): three_phase=True uses a third phase to annihilate the learning rate",
        ),
        (
            1.0,
            end,
            "at the end it reaches the start's rate / final_div_factor",
            "final_div_factor is 1e4 by default, and the last phase's own progress reaches 1 exactly at progress 1.0",
        ),
        (
            _PCT / 4,
            _half_cosine(start, max_lr, 0.25),
            "between the landmarks the curve is a cosine",
            "anneal_strategy='cos': a half cosine from one rate to the other over each phase",
        ),
        (
            0.8,
            (start + end) / 2,
            "half way through the third phase (from 2 x pct_start to the end) the cosine is half way down",
            "each phase's own progress runs from 0 to 1 over that phase: measure it in units of the phase's length",
        ),
        (
            0.7,
            _half_cosine(start, end, 0.25),
            "the third phase is a half cosine too (a quarter of the way through it, 85% of the way down)",
            "anneal_strategy='cos': a half cosine from one rate to the other over each phase",
        ),
    ]


def _lr_mistake(func: Callable[[float, float], Any], max_lr: float) -> tuple[str, str] | None:
    """(message, hint) for a landmark of the curve ``func`` misses (start, peak, the return, the end, the cosine's shape)."""
    for k, (progress, want, what, hint) in enumerate(_landmarks(max_lr)):
        got, error = _call(func, progress, max_lr)
        if error:
            return error, RAISED_HINT
        if isinstance(got, (tuple, list)):
            shown = f"{got!r}" if len(got) <= 4 else f"a {type(got).__name__} of {len(got)} numbers"
            return f"lr_at({progress}, {max_lr}) returned {shown}: return the learning rate alone, a float.", "return lr"
        rate = _as_rate(got)
        if rate is None:
            return (
                f"lr_at({progress}, {max_lr}) returned a {type(got).__name__}: return one number, the learning rate.",
                "a float, e.g. computed with math.cos",
            )
        if k == 4 and _is_staircase(func, max_lr):
            return (
                "lr_at(0.05) equals lr_at(0.0502): your curve moves in steps (a lookup in a scheduler's run?).",
                "train_for asks for the rate at any fraction of its time: compute it from progress itself",
            )
        if not _close(rate, want):
            if progress == 1.0 and _close(rate, _half_cosine(*_ends(max_lr), 1 - 2 * _PCT)):  # the phase's progress undivided
                what = "the third phase runs from 2 x pct_start to the end, and its cosine must reach the end there"
                hint = "each phase's own progress runs from 0 to 1 over that phase: divide by the phase's length"
            return f"lr_at({progress}, {max_lr}) returned {rate!r}, expected about {want:.4g}: {what}.", hint
    return None


def _as_rate(got: Any) -> float | None:
    """``got`` as a float when it is one real number (Python, NumPy, or a 0-d array or tensor); None otherwise."""
    if isinstance(got, torch.Tensor):
        one = got.ndim == 0 and got.dtype != torch.bool and not got.is_complex()
        return float(got) if one else None
    if isinstance(got, np.ndarray):
        return float(got) if got.ndim == 0 and got.dtype.kind in "iuf" else None
    if isinstance(got, bool) or not isinstance(got, numbers.Real):
        return None
    return float(got)


def _close(got: float, want: float) -> bool:
    """Within 2% of the rate: at the landmarks a curve indexed by progress meets OneCycleLR's exactly."""
    return math.isclose(got, want, rel_tol=0.02, abs_tol=1e-12)


def _step_close(got: float, want: float, max_lr: float, progress: float) -> bool:
    """Within 2% of OneCycleLR's rate; in the second phase's last sixth, 1% of the peak: its phase ends sit a step or
    two from progress' (pct_start * total_steps - 1, then 2 * pct_start * total_steps - 2), which shifts the rate by
    up to 3.4% of itself near the second phase's end, where it is low (steps 509 to 586 of 1001; nowhere else)."""
    slack = 0.01 * max_lr if 1.5 * _PCT < progress <= 2 * _PCT else 1e-12
    return math.isclose(got, want, rel_tol=0.02, abs_tol=slack)


def _is_staircase(func: Callable[[float, float], Any], max_lr: float) -> bool:
    """Whether ``func`` gives the same rate at most pairs of moments 0.0002 apart (a scheduler of a few hundred steps)."""
    rate = lambda progress: _as_rate(_call(func, progress, max_lr)[0])  # noqa: E731
    same = [rate(p / 10 + 0.05) == rate(p / 10 + 0.0502) for p in range(10)]
    return sum(same) >= 5


#: The checker's own reference, which an lr_at must not call (exercises.nb04 is reachable from the notebook).
_REFERENCE = "_onecycle_lrs,_half_cosine,_ends,_landmarks"


def _every_step_problem(func: Callable[[float, float], Any], max_lr: float) -> str | None:
    """The first step of a 1001-step run where ``func`` and OneCycleLR disagree, as a message; None if none."""
    for step, want in enumerate(_onecycle_lrs(max_lr, 1001)):
        got, error = _call(func, step / 1000, max_lr)
        rate = _as_rate(got)
        if error or rate is None or not _step_close(rate, want, max_lr, step / 1000):
            return error or f"at progress {step / 1000} (step {step} of 1001) OneCycleLR sets {want:.4g}, lr_at gave {got!r}."
    return None


def check_lr_at(func: Callable[[float, float], Any]) -> Verdict:
    """Notebook ``04_three_teams``: ``func(progress, max_lr)`` is a OneCycleLR's learning rate at ``progress`` (0..1).

    The scheduler: ``OneCycleLR(max_lr=..., total_steps=1001, pct_start=0.3,
    three_phase=True)``, its other settings at their defaults, compared at
    every step ``k`` as progress ``k / 1000``, for two peak rates, within 2%
    (or 1% of the peak, where a phase's end a step away shifts a low rate);
    and at landmarks of the curve between the steps.
    """
    _, _, peeked = _call_without(sys.modules[__name__], _REFERENCE, func, 0.5, 2e-3)
    if peeked:
        return _verdict(
            False,
            "lr_at uses the checker's own reference curve (the private helpers of flowerkit.exercises.nb04).",
            "work the curve out yourself: help(torch.optim.lr_scheduler.OneCycleLR), or step one and read it",
        )
    answer, error, refused = _call_without(_model, "one_cycle", func, 0.5, 2e-3)  # revealed after the exercise
    if refused:
        return _verdict(
            False,
            "lr_at calls flowerkit.model.one_cycle, the flowerkit version of a schedule in progress (another one).",
            "work the curve out from OneCycleLR itself: help(torch.optim.lr_scheduler.OneCycleLR), or step one and read it",
        )
    if error:
        return _verdict(False, error, RAISED_HINT)
    if _unanswered(answer):
        if not _is_stub_function(func):
            return _verdict(
                False,
                "lr_at(0.5, 2e-3) returned None: past the warm-up, no branch returns a rate.",
                "return a rate at any progress",
            )
        return _verdict(False, "lr_at returns None: it is still the stub.", "help(torch.optim.lr_scheduler.OneCycleLR)")
    for max_lr in (2e-3, 0.1):
        mistake = _lr_mistake(func, max_lr)
        if mistake:
            return _verdict(False, mistake[0], mistake[1])
        problem = _every_step_problem(func, max_lr)
        if problem:
            return _verdict(False, problem, "each phase is a half cosine of the progress within that phase")
    return _verdict(
        True,
        "OneCycleLR's three-phase curve at every step of a 1001-step run, indexed by progress. flowerkit.model.one_cycle, "
        "which train_for follows, is the same idea on OneCycleLR's default two phases (the warm-up, then one long decay).",
    )
