"""Checkers of notebook ``04_three_teams``: the majority baseline, the most confused classes, and the intern's loader to fix."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from torchvision import transforms as v1
from torchvision.transforms import v2

from .. import model as _model
from ..access import OxfordFlowers102
from ..doctor import diagnose
from ..facts import DEFAULT_SIZE
from ..load import CachedFlowers
from ..model import one_cycle
from ..transform import ToRGB
from .verdict import RAISED_HINT, Verdict, _call, _call_without, _unanswered, _verdict

__all__ = [
    "check_fixed_loader",
    "check_lr_at",
    "check_majority_baseline",
    "check_most_confused",
    "intern_loader",
]


def check_majority_baseline(answer: Any, labels: Any) -> Verdict:
    """Notebook ``04_three_teams``: the test accuracy of always answering the most frequent test class (a fraction)."""
    y = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(y)
    truth = counts.max() / y.size
    if _unanswered(answer):
        return _verdict(False, "no answer yet: set `majority` to a number.", "count each class in test_set.labels")
    try:
        answer = float(answer)
    except (TypeError, ValueError):
        return _verdict(False, "`majority` must be a number (a fraction between 0 and 1).", "e.g. majority = 0.02")
    close = lambda a, b: abs(a - b) <= 1e-3 * max(abs(b), 1e-9)  # noqa: E731
    if close(answer, truth):
        return _verdict(
            True,
            f"always answering the largest test class scores {truth:.1%}: a model near that has learned nothing.",
        )
    if close(answer, 1 / counts.size):
        return _verdict(
            False,
            "1/102 is what guessing uniformly at random scores on average; the question is the best *constant* answer.",
            "which class has the most test images, and what fraction of the test split is it?",
        )
    if close(answer, 100 * truth):
        return _verdict(False, "that is a percentage: give a fraction between 0 and 1.", "divide by 100")
    if close(answer, counts.max()):
        return _verdict(
            False,
            "that is the number of images of the largest class: divide by the size of the test split.",
            "len(labels) is the size of the test split",
        )
    if close(answer, counts[counts > 0].min() / y.size):
        return _verdict(
            False,
            "that is the *smallest* class's share; the best constant guess is the largest class.",
            "np.bincount(labels).max(), not .min()",
        )
    return _verdict(
        False, f"{answer:.4g} is not the largest class's share of the test split.", "np.bincount(labels).max() / len(labels)"
    )


def _confusion_case() -> tuple[Any, Any, list[tuple[int, int, int]]]:
    """(preds, trues, the three most frequent mistakes as (true, predicted, count)) of a small hand-made case."""
    trues = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 3])
    preds = torch.tensor([0, 1, 1, 1, 2, 2, 2, 2, 0, 3, 1, 1, 2, 3])
    #  pairs (true, pred): (0,1) x2, (1,2) x3, (2,0) x1, (3,1) x2, (3,2) x1
    return preds, trues, [(1, 2, 3), (0, 1, 2), (3, 1, 2)]


def check_most_confused(func: Callable[[Any, Any, int], Any]) -> Verdict:
    """Notebook ``04_three_teams``: ``func(preds, trues, k)`` -> the k most frequent (true, predicted, count), mistakes only."""
    preds, trues, expected = _confusion_case()
    answer, error = _call(func, preds, trues, 3)
    if error:
        return _verdict(False, error, RAISED_HINT)
    if _unanswered(answer):
        return _verdict(
            False, "your function returns None: it is still the stub.", "count (true, predicted) pairs with true != predicted"
        )
    try:
        if any(not float(item[2]).is_integer() for item in answer):
            return _verdict(
                False,
                "your counts are not whole numbers: shares of a row, as confusion() above gives?",
                "count the mistakes themselves; do not divide by the row's total",
            )
        got = [tuple(int(v) for v in item) for item in answer]
    except (TypeError, ValueError, IndexError):
        return _verdict(False, "return a list of (true, predicted, count) tuples.", "e.g. [(1, 2, 3), ...]")
    if len(got) != 3:
        return _verdict(False, f"asked for k=3 pairs, got {len(got)}.", "keep the first k after sorting: [:k]")
    if any(t == p for t, p, _ in got):
        return _verdict(False, "correct predictions (true == predicted) are in your list.", "skip the diagonal")
    if len({(t, p) for t, p, _ in got}) < len(got):
        return _verdict(
            False,
            "the same (true, predicted) pair appears more than once, each counted apart: tensors hash by identity, so "
            "a Counter keyed on them never merges equal pairs.",
            "turn each into an int first: int(t), or trues.tolist()",
        )
    if [(p, t, c) for t, p, c in got] == expected:
        return _verdict(False, "true and predicted are swapped.", "each tuple is (true class, predicted class, count)")
    counts = [c for _, _, c in got]
    if counts != sorted(counts, reverse=True):
        return _verdict(False, "not sorted by count, most frequent first.", "sorted(..., key=lambda t: t[2], reverse=True)")
    if got[0] != expected[0] or sorted(got[1:]) != sorted(expected[1:]):
        return _verdict(
            False,
            f"expected {expected} (ties in any order), got {got}.",
            "collections.Counter(zip(trues.tolist(), preds.tolist())), without the pairs where true == predicted",
        )
    return _verdict(True, "the most frequent mistakes, most frequent first.")


#: The intern's normalisation statistics: MNIST's (one gray channel, repeated), not this dataset's.
_INTERN_STATS = ((0.1307,) * 3, (0.3081,) * 3)


def intern_loader(root: str | Path, size: int = DEFAULT_SIZE) -> Any:
    """Notebook ``04_three_teams``, exercise 3: the garden intern's training loader. Run ``doctor.diagnose`` on it."""
    transform = v2.Compose(
        [
            ToRGB(),
            v2.ToImage(),
            v2.Resize((size, size), antialias=True),
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
    decodes = not isinstance(loader.dataset, CachedFlowers)
    if decodes and loader.num_workers < 1:
        kind = type(loader.dataset).__name__
        return [
            f"workers: num_workers=0, and the dataset ({kind}) decodes a JPEG per item in the training process "
            "(notebook 03's rule: about one worker per core where there is decoding to do)"
        ]
    if loader.num_workers > 0 and not loader.persistent_workers:
        return ["workers: persistent_workers=False, so the workers restart every epoch (persistent_workers=True)"]
    item = loader.dataset[0][0]
    if isinstance(item, torch.Tensor) and item.dtype != torch.uint8:
        return [
            f"conversion: each item comes out of the dataset as {item.dtype}, converted and normalised one image at a "
            "time (the Efficiency team's fourth bug); keep items uint8 and normalise once per batch in the collate_fn"
        ]
    return []


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


def check_fixed_loader(func: Callable[[Any], Any], root: str | Path, size: int = DEFAULT_SIZE) -> Verdict:
    """Notebook ``04_three_teams``: ``func(intern)`` returns a DataLoader over ``intern.dataset`` that the doctor passes.

    ``intern`` is a fresh :func:`intern_loader`: the answer must keep its dataset (the same object) and fix what the
    doctor names through the dataset's transform and the loader's settings. The doctor runs without measuring
    (``measure=False``: seconds, not minutes); notebook ``03_load``'s worker rule is checked from the loader's
    settings instead (:func:`_worker_rule`), so a loader that decodes JPEGs with no workers does not pass.
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
    mistake = _not_the_intern_dataset(loader, intern)
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
    workers = _worker_rule(loader)
    if workers:
        return _verdict(
            False,
            f"the doctor finds no problem, but {'; '.join(workers)}.",
            "notebook 03's exercise 7: uint8 items, load.CollateNormalize, num_workers=2, persistent_workers=True",
        )
    return _verdict(True, _fixed_message(loader))


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


def _onecycle_lrs(max_lr: float, total_steps: int) -> list[float]:
    """The learning rate ``torch.optim.lr_scheduler.OneCycleLR`` sets at each of ``total_steps`` steps (pct_start 0.25)."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total_steps, pct_start=0.25)
    lrs = []
    for step in range(total_steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if step < total_steps - 1:
            sched.step()
    return lrs


def _lr_mistake(func: Callable[[float, float], Any], max_lr: float) -> tuple[str, str] | None:
    """(message, hint) for a landmark of the curve ``func`` misses (start, peak, end, the cosine's shape); None if none."""
    start, end = max_lr / 25, max_lr / 25 / 1e4
    cos_quarter = max_lr + (start - max_lr) * (1 + math.cos(math.pi / 4)) / 2  # a quarter of the way up the warm-up
    landmarks = [
        (0.0, start, "at progress 0 OneCycleLR starts at max_lr / div_factor", "div_factor is 25 by default"),
        (0.25, max_lr, "the peak, max_lr, comes at pct_start = 0.25 of the run", "warm up over the first quarter"),
        (1.0, end, "at the end it reaches the start's rate / final_div_factor", "final_div_factor is 1e4 by default"),
        (0.0625, cos_quarter, "between the landmarks the curve is a cosine", "anneal_strategy='cos': (1 + cos(pi * t)) / 2"),
        (
            0.5,
            end + (max_lr - end) * 0.75,
            "after the peak one cosine falls over the remaining three quarters of the run to the end",
            "three_phase=False and anneal_strategy='cos' are the defaults",
        ),
    ]
    for k, (progress, want, what, hint) in enumerate(landmarks):
        got, error = _call(func, progress, max_lr)
        if error:
            return error, RAISED_HINT
        if isinstance(got, (tuple, list)):
            return f"lr_at({progress}, {max_lr}) returned {got!r}: return the learning rate alone, a float.", "return lr"
        if not isinstance(got, (int, float)):
            return (
                f"lr_at({progress}, {max_lr}) returned a {type(got).__name__}: return a Python float.",
                "use math.cos, or float(...)",
            )
        if k == 3 and _is_staircase(func, max_lr):
            return (
                "lr_at(0.05) equals lr_at(0.0502): your curve moves in steps (a lookup in a scheduler's run?).",
                "train_for asks for the rate at any fraction of its time: compute it from progress itself",
            )
        if not _close(got, want):
            return f"lr_at({progress}, {max_lr}) returned {got!r}, expected about {want:.4g}: {what}.", hint
    return None


def _close(got: float, want: float) -> bool:
    """Within 2% of OneCycleLR's rate: its phase ends sit a fraction of a step apart from a curve indexed by progress."""
    return math.isclose(got, want, rel_tol=0.02, abs_tol=1e-12)


def _is_staircase(func: Callable[[float, float], Any], max_lr: float) -> bool:
    """Whether ``func`` gives the same rate at most pairs of moments 0.0002 apart (a scheduler of a few hundred steps)."""
    same = [_call(func, p / 10 + 0.05, max_lr)[0] == _call(func, p / 10 + 0.0502, max_lr)[0] for p in range(10)]
    return sum(same) >= 5


def check_lr_at(func: Callable[[float, float], Any]) -> Verdict:
    """Notebook ``04_three_teams``: ``func(progress, max_lr)`` is OneCycleLR's learning rate at ``progress`` (0..1) of a run.

    Compared with ``OneCycleLR(max_lr=..., total_steps=1001, pct_start=0.25)``
    (its other settings at their defaults) at every step ``k`` as progress
    ``k / 1000``, for two peak rates, within 2% (OneCycleLR places its phase
    ends a fraction of a step apart from a curve indexed by progress); then
    with :func:`flowerkit.model.one_cycle`, which ``train_for`` follows.
    """
    answer, error, refused = _call_without(_model, "one_cycle", func, 0.5, 2e-3)  # revealed after the exercise
    if refused:
        return _verdict(
            False,
            "lr_at calls flowerkit.model.one_cycle, the flowerkit version of what this exercise builds.",
            "work the curve out from OneCycleLR itself: help(torch.optim.lr_scheduler.OneCycleLR), or step one and read it",
        )
    if error:
        return _verdict(False, error, RAISED_HINT)
    if _unanswered(answer):
        return _verdict(False, "lr_at returns None: it is still the stub.", "help(torch.optim.lr_scheduler.OneCycleLR)")
    for max_lr in (2e-3, 0.1):
        mistake = _lr_mistake(func, max_lr)
        if mistake:
            message, hint = mistake
            return _verdict(False, message, hint)
        for step, want in enumerate(_onecycle_lrs(max_lr, 1001)):
            got, error = _call(func, step / 1000, max_lr)
            if error or not isinstance(got, (int, float)) or not _close(got, want):
                message = (
                    error or f"at progress {step / 1000} (step {step} of 1001) OneCycleLR sets {want:.4g}, lr_at gave {got!r}."
                )
                return _verdict(False, message, "both halves are cosines of the progress within the phase")
    gap = max(abs(func(p / 200, 0.1) - one_cycle(p / 200, 0.1)[0]) / 0.1 for p in range(201))
    agree = "matches yours" if gap < 1e-9 else f"differs from yours by at most {gap:.1%} of the peak"
    return _verdict(
        True,
        f"OneCycleLR's curve at every step of a 1001-step run, indexed by progress. flowerkit.model.one_cycle, which "
        f"train_for follows, {agree}.",
    )
