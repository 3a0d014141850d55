"""Checkers for the notebooks' exercises: specific feedback (what is wrong, and a hint), never just pass/fail.

Each checker prints its verdict and returns True or False; it never raises on
a wrong or unanswered exercise, so a notebook keeps running. A stub that
still returns ``None`` is told it is unanswered. The notebook that uses each
checker is named in its docstring (the first is notebook ``00_the_challenge``).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import pickle
import random
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import numpy as np
import torch
import torch.utils.data
from PIL import ExifTags, Image, ImageDraw, ImageOps
from scipy.io import savemat
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from torchvision.transforms import v2

from .access import OxfordFlowers102, load_rgb, read_labels, read_splits, to_rgb, torchvision_flowers102, upright
from .classes import CLASSES
from .distributed import count_epochs
from .doctor import diagnose
from .facts import DATASET_FOLDER, IMAGE_FOLDER, LABELS_FILE, SETID_FILE, SPLIT_VARIABLES
from .load import CachedFlowers, cache_dir
from .transform import ToRGB, normalize_batch

__all__ = [
    "RAISED_HINT",
    "SKEW_CHOICES",
    "STUB_HINT",
    "Verdict",
    "check_access_cause",
    "check_balanced_sampler",
    "check_bottleneck",
    "check_channel_stats",
    "check_class_of_first_file",
    "check_collate",
    "check_count_appearances",
    "check_denormalize",
    "check_fixed_loader",
    "check_kiosk_skew",
    "check_flowers_dataset",
    "check_labels_for_split",
    "check_majority_baseline",
    "check_model_input",
    "check_most_confused",
    "check_padded_indices",
    "check_pair_files",
    "check_quality_causes",
    "QUALITY_SUSPECTS",
    "check_reproducible_order",
    "check_robust_input",
    "kiosk_preprocess",
    "odd_photo",
    "check_shard_plan",
    "check_sharded_stream",
    "check_spawn_ready",
    "check_split_sizes",
    "check_test_count",
    "check_train_loader",
    "intern_loader",
]


# What to do when the student's own function raised: its message is in the verdict, the traceback is one call away.
RAISED_HINT = "call your function on its own in a new cell to see the full traceback"
STUB_HINT = "replace the `...` or `return None` in the stub with your code"


class Verdict:
    """A checker's answer: true when the exercise is solved, false otherwise (``assert exercises.check_...(...)`` works).

    The checker has already printed its message ("Correct! ..." or "Not yet: ... Hint: ..."), so a
    notebook shows nothing more for it: no ``Out[n]: False`` under the message.
    Introduced in notebook ``00_the_challenge``.
    """

    __slots__ = ("ok", "message")

    def __init__(self, ok: bool, message: str) -> None:
        self.ok = bool(ok)
        self.message = message

    def __bool__(self) -> bool:
        return self.ok

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (bool, Verdict)):
            return self.ok == bool(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.ok)

    def __repr__(self) -> str:
        return f"Verdict({self.ok})"

    def _ipython_display_(self) -> None:
        """IPython calls this instead of showing ``Out[n]``: show nothing, the message is already printed."""


def _verdict(ok: bool, message: str, hint: str = "") -> Verdict:
    # Every "Not yet" carries a hint: tests/test_exercises.py checks each call site and each cheap failure path.
    if ok:
        print(f"Correct! {message}")
    else:
        print(f"Not yet: {message}" + (f"\nHint: {hint}" if hint else ""))
    return Verdict(ok, message)


def _unanswered(answer: Any) -> bool:
    return answer is None or answer is Ellipsis


def _call(func: Callable[..., Any], *args: Any) -> tuple[Any, str | None]:
    try:
        return func(*args), None
    except Exception as exc:  # the student's code raised: say so, don't crash the notebook
        return None, f"your function raised {type(exc).__name__}: {exc}"


# ------------------------------------------------------------------ 00_the_challenge


def check_split_sizes(answer: Any, root: str | Path) -> Verdict:
    """Notebook ``00_the_challenge``: a dict {"train": n, "val": n, "test": n} of split sizes."""
    if _unanswered(answer):
        return _verdict(False, "no answer yet: set `split_sizes` to a dict.", "read setid.mat and count the ids of each split")
    truth = {k: int(v.size) for k, v in read_splits(Path(root) / DATASET_FOLDER / SETID_FILE).items()}
    if not isinstance(answer, dict) or set(answer) != set(truth):
        return _verdict(
            False, f"expected a dict with keys {sorted(truth)}, got {answer!r}.", 'e.g. {"train": 0, "val": 0, "test": 0}'
        )
    if all(answer[k] == 1 for k in truth):
        return _verdict(
            False, "every split has size 1: that is len() of a (1, N) array.", "use .size, or loadmat(..., squeeze_me=True)"
        )
    wrong = {k: (answer[k], truth[k]) for k in truth if answer[k] != truth[k]}
    if wrong:
        return _verdict(
            False,
            "these splits are off: "
            + ", ".join(
                f"{k}: you said {a}" + (f", that is the size of {other}" if (other := _split_of(a, truth, k)) else f", it is {t}")
                for k, (a, t) in wrong.items()
            )
            + ".",
            "the ids are in setid.mat: trnid, valid, tstid",
        )
    return _verdict(True, f"train {truth['train']}, val {truth['val']}, test {truth['test']}: the test split is the big one.")


def _split_of(n: Any, sizes: dict[str, int], not_this: str) -> str | None:
    return next((k for k, v in sizes.items() if v == n and k != not_this), None)


def check_class_of_first_file(answer: Any, root: str | Path) -> Verdict:
    """Notebook ``00_the_challenge``: the class *name* of ``image_00001.jpg``."""
    if _unanswered(answer):
        return _verdict(False, "no answer yet.", "labels[0] is the 1-based class of image_00001.jpg")
    label = int(read_labels(Path(root) / DATASET_FOLDER / LABELS_FILE)[0])
    if answer == CLASSES[label]:
        return _verdict(
            True, f"image_00001.jpg is a '{CLASSES[label]}' (class {label + 1} in the file, index {label} in Python)."
        )
    if label + 1 < len(CLASSES) and answer == CLASSES[label + 1]:
        return _verdict(
            False, "off by one: that is the next class in the list.", "the .mat labels are 1-based; CLASSES is indexed from 0"
        )
    if isinstance(answer, (int, np.integer)):
        return _verdict(False, "that is a number; the question asks for the class name.", "use flowerkit.CLASSES[...]")
    return _verdict(False, f"{answer!r} is not the class of image_00001.jpg.", "look up labels[0] in imagelabels.mat")


# ------------------------------------------------------------------ 01_access


def check_test_count(func: Callable[[Path], Any], root: str | Path) -> Verdict:
    """Notebook ``01_access``: ``func(setid_path)`` returns the number of test images."""
    path = Path(root) / DATASET_FOLDER / SETID_FILE
    answer, error = _call(func, path)
    if error:
        return _verdict(False, error, RAISED_HINT)
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.", "load the file with scipy.io.loadmat")
    truth = int(read_splits(path)["test"].size)
    if isinstance(answer, tuple):
        return _verdict(False, f"{answer} is a shape, not a count.", "the count is .size (or the product of the shape)")
    if answer == 1:
        return _verdict(
            False, "you got 1: len() of a (1, N) MATLAB row vector is 1.", "use .size, or loadmat(path, squeeze_me=True)"
        )
    if answer == truth:
        return _verdict(True, f"{truth} test images.")
    sizes = {k: int(v.size) for k, v in read_splits(path).items()}
    for split, n in sizes.items():
        if answer == n and split != "test":
            return _verdict(False, f"{answer} is the size of the {split} split.", "the test ids are in the variable 'tstid'")
    return _verdict(False, f"{answer!r} is not the number of test images.", "count the ids in 'tstid'")


def _labels_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A small labels_mat ((1, 40), uint8, 1-based, class 1 included), split ids ((1, 5), uint16) and the right answer."""
    rng = np.random.default_rng(0)
    labels_1b = rng.integers(1, 103, size=(1, 40)).astype(np.uint8)
    labels_1b[0, 0] = 1  # class 1 -> 0; careless uint8 arithmetic wraps it
    ids = np.array([1, 7, 40, 3, 22], dtype=np.uint16).reshape(1, -1)
    truth = labels_1b.astype(np.int64).reshape(-1)[ids.reshape(-1).astype(np.int64) - 1] - 1
    return labels_1b, ids, truth


def _labels_dtype_feedback(got: np.ndarray, truth: np.ndarray) -> Verdict | None:
    """The verdict on an unsigned dtype or a wrapped label, or None if neither."""
    if got.dtype in (np.uint8, np.uint16) and (got > 101).any():
        return _verdict(
            False,
            f"dtype {got.dtype}: some labels wrapped to {int(got.max())}; unsigned 0 - 1 is {np.iinfo(got.dtype).max}, not -1.",
            "convert with .astype(np.int64) before any arithmetic",
        )
    if got.dtype in (np.uint8, np.uint16):
        return _verdict(
            False,
            f"dtype {got.dtype}: CrossEntropyLoss wants int64, and in uint8 a label 0 minus 1 wraps to 255.",
            "convert with .astype(np.int64) before any arithmetic",
        )
    if (got[truth == 0] == 255).any():
        return _verdict(
            False, "label 0 came out as 255: you subtracted in uint8 and converted too late.", "astype(np.int64) first, then - 1"
        )
    return None


def _labels_value_feedback(got: np.ndarray, labels_1b: np.ndarray, ids: np.ndarray, truth: np.ndarray) -> Verdict:
    """The verdict on the values: 1-based, ids as positions, a constant offset, right, or just wrong."""
    flat = labels_1b.astype(np.int64).reshape(-1)
    id_flat = ids.reshape(-1).astype(np.int64)
    if np.array_equal(got, truth + 1):
        return _verdict(
            False, "your labels are still 1-based (1..102); PyTorch wants 0..101.", "subtract 1 after converting to int64"
        )
    positions = flat[np.clip(id_flat, 0, flat.size - 1)]
    if np.array_equal(got, positions - 1) or np.array_equal(got, positions):
        return _verdict(
            False, "you used the ids as positions: id 7 is image_00007.jpg, which is labels[6].", "index with ids - 1"
        )
    if np.issubdtype(got.dtype, np.integer) and np.unique(got - truth).size == 1 and got[0] != truth[0]:
        d = int(got[0] - truth[0])
        return _verdict(False, f"every label is off by {d:+d}.", "the file stores 1..102: subtract exactly 1")
    if np.array_equal(got, truth):
        if got.dtype != np.int64:
            return _verdict(False, f"right values, but dtype {got.dtype}: CrossEntropyLoss wants int64.", "use .astype(np.int64)")
        return _verdict(True, "0-based int64 labels, picked by image id.")
    return _verdict(False, f"got {got.tolist()}, expected {truth.tolist()}.", "labels[ids - 1] - 1, in int64, flattened")


def check_labels_for_split(func: Callable[[np.ndarray, np.ndarray], Any]) -> Verdict:
    """Notebook ``01_access``: ``func(labels_mat, ids)`` returns the 0-based int64 labels of the 1-based image ``ids``.

    ``labels_mat`` is shaped like ``loadmat(...)["labels"]``: (1, N), uint8, 1-based.
    """
    labels_1b, ids, truth = _labels_case()
    answer, error = _call(func, labels_1b.copy(), ids.copy())
    if error:
        hint = "ids[0] is 1-based: index with ids - 1" if "out of bounds" in error else RAISED_HINT
        return _verdict(False, error, hint)
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
    got = np.asarray(answer)
    if got.shape != truth.shape:
        return _verdict(
            False,
            f"shape {got.shape}, expected {truth.shape}: one label per id, flat.",
            "flatten both arrays first (.reshape(-1) or .ravel())",
        )
    dtype_verdict = _labels_dtype_feedback(got, truth)
    if dtype_verdict is not None:
        return dtype_verdict
    return _labels_value_feedback(got, labels_1b, ids, truth)


def check_pair_files(func: Callable[[list[str], np.ndarray], Any]) -> Verdict:
    """Notebook ``01_access``: ``func(listing, labels)`` pairs each file of an *unsorted* listing with its 0-based label.

    It must return (file name, label) pairs, one per file; any order is fine
    as long as each file has its own label.
    """
    names = [f"image_{i:05d}.jpg" for i in range(1, 121)]
    labels = np.repeat(np.array([76, 12, 5, 61], dtype=np.int64), 30)  # class blocks, not in class order
    listing = names.copy()
    random.Random(4).shuffle(listing)
    listing_with_noise = [*listing, ".DS_Store", "README.txt"]
    answer, error = _call(func, listing_with_noise.copy(), labels.copy())
    if error:
        hint = (
            "skip names that are not image_NNNNN.jpg"
            if "invalid literal" in error
            else "image ids start at 1: image_00001.jpg is labels[0]"
            if "out of bounds" in error
            else RAISED_HINT
        )
        return _verdict(False, error, hint)
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
    pairs = list(answer.items()) if isinstance(answer, dict) else list(answer)
    truth = {n: int(labels[i]) for i, n in enumerate(names)}
    got_names = [p[0] for p in pairs]
    if any(n not in truth for n in got_names):
        return _verdict(
            False,
            "your pairs include files that are not images (.DS_Store, README.txt).",
            "keep only names matching image_NNNNN.jpg",
        )
    if sorted(got_names) != sorted(names):
        return _verdict(False, f"{len(set(got_names))} distinct files paired, expected {len(names)}.", "each image file once")
    wrong = [n for n, lab in pairs if truth[n] != int(lab)]
    if wrong:
        in_listing_order = all(int(lab) == int(labels[k]) for k, (_, lab) in enumerate(pairs))
        if in_listing_order:
            return _verdict(
                False,
                "you paired files with labels in listing order; the listing is not sorted.",
                "take the id from the name: int(name[6:11]) - 1 is the position in labels",
            )
        return _verdict(
            False,
            f"{len(wrong)} of {len(pairs)} files have the wrong label, e.g. {wrong[0]}.",
            "image_00001.jpg has labels[0]: use the number in the name, minus 1",
        )
    return _verdict(True, "every file has its own label, whatever order the listing came in.")


# ------------------------------------------------------------------ 02_transform


def check_model_input(func: Callable[[Any], Any], mean: Any, std: Any, size: int = 64) -> Verdict:
    """Notebook ``02_transform``: ``func(pil_image)`` returns the model's input: float32 (3, size, size), normalised, undistorted."""
    img = Image.new("RGB", (300, 200), (40, 120, 40))
    ImageDraw.Draw(img).ellipse([100, 50, 200, 150], fill=(240, 200, 40))  # a circle in a landscape photo
    answer, error = _call(func, img)
    if error:
        return _verdict(False, error, RAISED_HINT)
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.", "start from transform.eval_transform")
    problem = _model_input_layout(answer, size) or _model_input_values(answer, mean, std)
    if problem:
        message, hint = problem
        return _verdict(False, message, hint)
    return _verdict(True, "float32, (3, H, W), normalised, and the circle is still round.")


def _model_input_layout(answer: Any, size: int) -> tuple[str, str] | None:
    """(message, hint) if ``answer`` is not a float32 (3, size, size) tensor, else None."""
    if not isinstance(answer, torch.Tensor):
        return f"got a {type(answer).__name__}, the model needs a torch.Tensor.", "v2.ToImage() or v2.PILToTensor()"
    if answer.ndim == 3 and answer.shape[-1] == 3 and answer.shape[0] != 3:
        return (
            f"shape {tuple(answer.shape)} is channels-last; PyTorch wants (3, H, W).",
            "use torchvision's transforms, or .permute(2, 0, 1)",
        )
    if tuple(answer.shape) != (3, size, size):
        return f"shape {tuple(answer.shape)}, expected (3, {size}, {size}).", f"Resize({size}) then CenterCrop({size})"
    if answer.dtype != torch.float32:
        return f"dtype {answer.dtype}; the model's weights are float32.", "v2.ToDtype(torch.float32, scale=True)"
    return None


def _model_input_values(answer: torch.Tensor, mean: Any, std: Any) -> tuple[str, str] | None:
    """(message, hint) if the values are unscaled, not normalised with (mean, std), or the circle is squashed."""
    if answer.max() > 20:
        return (
            "values up to 255: you normalised without scaling to [0, 1] first.",
            "ToDtype(torch.float32, scale=True) before Normalize",
        )
    back = answer * torch.as_tensor(std).view(3, 1, 1) + torch.as_tensor(mean).view(3, 1, 1)
    if back.min() < -0.05 or back.max() > 1.05:
        msg = "denormalising your output does not give pixels in [0, 1]: not normalised with the given mean and std."
        return msg, "v2.Normalize(mean, std) as the last step"
    yellow = (back[0] > 0.7) & (back[1] > 0.6)
    rows, cols = yellow.any(1).sum().item(), yellow.any(0).sum().item()
    if rows and abs(rows - cols) > 0.15 * max(rows, cols):
        msg = f"a circle came out {cols}x{rows} px: the resize squashed the aspect ratio."
        return msg, "Resize(size) with one number keeps the aspect ratio; then CenterCrop(size)"
    return None


def _channel_stats_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Six uint8 (3, 8, 8) images of different brightness, with their true per-channel mean and std in [0, 1] units."""
    g = torch.Generator().manual_seed(0)
    base = torch.tensor([200.0, 100.0, 30.0]).view(1, 3, 1, 1)
    noise = torch.randn(6, 1, 1, 1, generator=g) * 40 + torch.randn(6, 3, 8, 8, generator=g) * 10
    images = (base + noise).clamp(0, 255).to(torch.uint8)
    x = images.double() / 255
    return images, x.mean((0, 2, 3)), x.permute(1, 0, 2, 3).reshape(3, -1).std(1, unbiased=False)


def check_channel_stats(func: Callable[[Any], Any]) -> Verdict:
    """Notebook ``02_transform``: ``func(images)`` on a uint8 (N, 3, H, W) tensor returns (mean, std) per channel in [0, 1] units."""
    images, mean, std = _channel_stats_case()
    answer, error = _call(func, images.clone())
    if error:
        hint = "uint8 cannot be averaged: use .float() first" if "dtype" in error.lower() or "Byte" in error else RAISED_HINT
        return _verdict(False, error, hint)
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
    try:
        got_mean, got_std = (torch.as_tensor(v, dtype=torch.float64).reshape(-1) for v in answer)
    except (TypeError, ValueError):
        return _verdict(
            False, "return a pair (mean, std), each with 3 numbers.", "return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))"
        )
    problem = _channel_stats_problem(got_mean, got_std, mean, std, images.double() / 255)
    if problem:
        message, hint = problem
        return _verdict(False, message, hint)
    return _verdict(True, "per-channel mean and std over every pixel, in [0, 1] units.")


def _channel_stats_problem(
    got_mean: torch.Tensor, got_std: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, x: torch.Tensor
) -> tuple[str, str] | None:
    """(message, hint) naming what is wrong with a (mean, std) answer, or None if it is right."""
    if got_mean.numel() != 3 or got_std.numel() != 3:
        msg = f"mean has {got_mean.numel()} numbers and std {got_std.numel()}; expected 3 each (one per channel)."
        return msg, "reduce over dims (0, 2, 3): images, height, width"
    if torch.allclose(got_mean, mean * 255, atol=0.5):
        return "your statistics are on the 0..255 scale; Normalize runs after ToDtype(scale=True), on [0, 1].", "divide by 255"
    if not torch.allclose(got_mean, mean, atol=1e-3):
        return f"mean {got_mean.numpy().round(3)}, expected {mean.numpy().round(3)}.", "x.float().div(255).mean(dim=(0, 2, 3))"
    if torch.allclose(got_std, x.std((2, 3)).mean(0), atol=1e-3):
        msg = "you averaged each image's own std: that misses how much images differ from each other."
        return msg, "take the std over all pixels of all images at once, per channel"
    if not torch.allclose(got_std, std, atol=2e-3):
        return f"std {got_std.numpy().round(3)}, expected {std.numpy().round(3)}.", "std over dims (0, 2, 3)"
    return None


def check_denormalize(func: Callable[[Any, Any, Any], Any]) -> Verdict:
    """Notebook ``02_transform``: ``func(x, mean, std)`` undoes Normalize on a (3, H, W) tensor, for display."""
    g = torch.Generator().manual_seed(1)
    original = torch.rand(3, 5, 5, generator=g)
    mean, std = [0.4, 0.5, 0.3], [0.2, 0.1, 0.25]
    m, s = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
    answer, error = _call(func, (original - m) / s, mean, std)
    if error:
        return _verdict(False, error, "turn mean and std into (3, 1, 1) tensors so they broadcast over H and W")
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
    got = torch.as_tensor(answer)
    if got.shape != original.shape:
        return _verdict(
            False,
            f"shape {tuple(got.shape)}, expected {tuple(original.shape)}.",
            "reshape mean and std to (3, 1, 1), not x: the result keeps x's shape",
        )
    if torch.allclose(got, ((original - m) / s - m) / s, atol=1e-4):
        return _verdict(False, "you normalised a second time instead of undoing it.", "x * std + mean")
    if torch.allclose(got, (original - m) / s * s + m * s, atol=1e-4) or torch.allclose(
        got, ((original - m) / s + m) * s, atol=1e-4
    ):
        return _verdict(False, "the order is off.", "multiply by std first, then add mean")
    if not torch.allclose(got.clamp(0, 1), original, atol=1e-4):
        return _verdict(False, "the result is not the original image.", "x * std + mean, with (3, 1, 1)-shaped tensors")
    return _verdict(True, "x * std + mean: the image is back in [0, 1].")


# ------------------------------------------------------------------ 03_load


def check_train_loader(func: Callable[[Any], Any], *datasets: Any) -> Verdict:
    """Notebook ``03_load``: ``func(dataset)`` returns a DataLoader fit for training on this machine, for each dataset given.

    The rules are the notebook's: shuffled (the files are grouped by class),
    batches of 16 or more, seeded order, ``pin_memory`` only with a GPU,
    workers kept alive when there are any, and batches normalised by the
    ``collate_fn`` (checked on a few items, in this process). Workers are needed where each item
    is decoded from a JPEG (decoding would block the training loop); a uint8
    cache (:class:`flowerkit.load.CachedFlowers`) decodes nothing, so
    ``num_workers=0`` is right there too.
    """
    problems = []
    for dataset in datasets:
        where = f"on the {'cache' if isinstance(dataset, CachedFlowers) else 'JPEGs'}: " if len(datasets) > 1 else ""
        loader, error = _call(func, dataset)
        if error:
            return _verdict(False, where + error, RAISED_HINT)
        if _unanswered(loader):
            return _verdict(
                False, "your function returns None: it is still the stub.", "return torch.utils.data.DataLoader(dataset, ...)"
            )
        if not isinstance(loader, DataLoader):
            return _verdict(
                False, f"{where}got a {type(loader).__name__}, expected a DataLoader.", "return torch.utils.data.DataLoader(...)"
            )
        problems += [where + problem for problem in _train_loader_problems(loader, dataset)]
    if problems:
        return _verdict(
            False, "; ".join(problems) + ".", "each problem names, in brackets, the DataLoader argument that fixes it"
        )
    return _verdict(True, "shuffled, batched, seeded, with workers where there is decoding to do and kept alive.")


def _train_loader_problems(loader: DataLoader, dataset: Any) -> list[str]:
    """What check_train_loader finds wrong with one loader, in the notebook's words."""
    problems = []
    if not isinstance(loader.sampler, RandomSampler):
        problems.append("it does not shuffle, and the split is grouped by class (shuffle=True)")
    if loader.batch_size is None or loader.batch_size < 16:
        problems.append(f"batch_size={loader.batch_size}: too small to keep the CPU busy and BatchNorm sane (try 64)")
    if loader.num_workers < 1 and not isinstance(dataset, CachedFlowers):
        problems.append(
            "num_workers=0: this dataset decodes a JPEG per item, which would block the training loop "
            "(use about one worker per core; a cache decodes nothing, so 0 is fine there)"
        )
    elif loader.num_workers > 0 and not loader.persistent_workers:
        problems.append("persistent_workers=False: the workers restart every epoch")
    if loader.pin_memory and not torch.cuda.is_available():
        problems.append("pin_memory=True without a GPU: PyTorch ignores it and warns (pin_memory=torch.cuda.is_available())")
    if loader.generator is None:
        problems.append("no seeded generator: the shuffled order changes every run (generator=torch.Generator().manual_seed(0))")
    normalised = _batch_normalisation_problem(loader, dataset)
    if normalised:
        problems.append(normalised)
    return problems


def _batch_normalisation_problem(loader: DataLoader, dataset: Any) -> str | None:
    """None if the loader's collate_fn turns a few uint8 items into a normalised float32 batch, else what is wrong."""
    try:
        images = loader.collate_fn([dataset[i] for i in range(min(8, len(dataset)))])[0]
    except Exception as error:  # noqa: BLE001 - the student's collate_fn: report, do not raise
        return f"its collate_fn fails on a list of samples ({type(error).__name__}: {error})"
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        dtype = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
        return f"batches come out as {dtype}, not normalised float32 (collate_fn=load.CollateNormalize(mean, std))"
    if images.min() >= 0 or images.abs().max() > 20:
        return "batches come out unnormalised (collate_fn=load.CollateNormalize(mean, std))"
    return None


def check_reproducible_order(func: Callable[[Any, int], Any], dataset: Any) -> Verdict:
    """Notebook ``03_load``: ``func(dataset, seed)`` returns a shuffling DataLoader whose order depends only on ``seed``."""

    def labels(seed: int) -> list[int] | None:
        loader, error = _call(func, dataset, seed)
        if error or loader is None:
            return None
        return torch.cat([torch.as_tensor(batch[1]) for batch in loader]).tolist()

    a, b, c = labels(0), labels(0), labels(1)
    if a is None:
        loader, error = _call(func, dataset, 0)
        return _verdict(False, error or "your function returns None: it is still the stub.", RAISED_HINT if error else STUB_HINT)
    if sorted(a) != sorted(int(y) for y in getattr(dataset, "labels", a)):
        return _verdict(
            False,
            "one epoch did not visit every sample exactly once.",
            "use shuffle=True (no custom sampler) and drop_last=False",
        )
    if a == sorted(a):
        return _verdict(False, "the order is the file order, grouped by class: not shuffled.", "shuffle=True")
    if a != b:
        return _verdict(
            False, "two loaders with the same seed gave different orders.", "generator=torch.Generator().manual_seed(seed)"
        )
    if a == c:
        return _verdict(False, "seeds 0 and 1 gave the same order: the seed is not used.", "pass the seed to the generator")
    return _verdict(True, "shuffled, and the same seed gives the same order every time.")


# ------------------------------------------------------------------ 04_three_teams


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
        got = [tuple(int(v) for v in item) for item in answer]
    except (TypeError, ValueError):
        return _verdict(False, "return a list of (true, predicted, count) tuples.", "e.g. [(1, 2, 3), ...]")
    if len(got) != 3:
        return _verdict(False, f"asked for k=3 pairs, got {len(got)}.", "keep the first k after sorting: [:k]")
    if any(t == p for t, p, _ in got):
        return _verdict(False, "correct predictions (true == predicted) are in your list.", "skip the diagonal")
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


def intern_loader(root: str | Path, size: int = 64) -> Any:
    """Notebook ``04_three_teams``, exercise 3: the garden intern's training loader, with four bugs for the doctor to find.

    Statistics copied from another dataset, a squashing ``Resize((size, size))``,
    no shuffling, and batches of 4.
    """

    mean, std = (0.43, 0.45, 0.30), (0.26, 0.24, 0.24)  # from another dataset
    transform = v2.Compose(
        [
            ToRGB(),
            v2.ToImage(),
            v2.Resize((size, size), antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean, std),
        ]
    )
    return DataLoader(OxfordFlowers102(root, "train", transform=transform), batch_size=4, shuffle=False)


def check_fixed_loader(func: Callable[[Any], Any], root: str | Path) -> Verdict:
    """Notebook ``04_three_teams``: ``func(root)`` returns a training DataLoader on which ``doctor.diagnose`` finds nothing."""

    loader, error = _call(func, root)
    if error:
        return _verdict(False, error, RAISED_HINT)
    if _unanswered(loader):
        return _verdict(False, "your function returns None: it is still the stub.", "start from exercises.intern_loader's code")
    if not isinstance(loader, DataLoader):
        return _verdict(
            False, f"got a {type(loader).__name__}, expected a DataLoader.", "return torch.utils.data.DataLoader(...)"
        )
    n = len(OxfordFlowers102(root, "train"))
    split = getattr(loader.dataset, "split", "train")
    if split != "train" or len(loader.dataset) != n:
        return _verdict(
            False,
            f"the loader holds {len(loader.dataset)} {split} images; the train split has {n}.",
            'OxfordFlowers102(root, "train", transform=...)',
        )
    report, error = _call(lambda: diagnose(loader, measure=False))
    if error:
        return _verdict(False, f"the doctor could not examine it: {error}", "doctor.diagnose(loader) shows the full traceback")
    if report.problems:
        found = "; ".join(f"{f.check}: {f.message}" for f in report.problems)
        return _verdict(
            False,
            f"the doctor still finds {len(report.problems)} problem(s): {found}.",
            "print(doctor.diagnose(loader, measure=False)) shows each problem with its evidence",
        )
    return _verdict(True, "the doctor finds no problem: right labels, undistorted normalised images, shuffled batches.")


# ------------------------------------------------------------------ 03_load: the hunt, collate_fn, samplers, iterable datasets


def check_bottleneck(answer: Any, stage_ms: dict[str, float]) -> Verdict:
    """Notebook ``03_load``: the name of the stage (a key of ``stage_ms``, milliseconds per image) that costs the most.

    Judged against the student's own measurement; when the two largest stages
    are within 15% of each other, either is accepted (a close call on a busy machine).
    """
    if _unanswered(answer):
        return _verdict(False, "no answer yet: set `bottleneck` to the name of a stage.", "read the longest bar")
    if answer not in stage_ms:
        return _verdict(
            False,
            f"{answer!r} is not one of the stages timed: {', '.join(map(repr, stage_ms))}.",
            "copy the name of the longest bar exactly",
        )
    ranked = sorted(stage_ms, key=stage_ms.get, reverse=True)
    top, total = stage_ms[ranked[0]], sum(stage_ms.values())
    if answer == ranked[0] or stage_ms[answer] >= 0.85 * top:
        share = stage_ms[answer] / total
        return _verdict(True, f"{answer!r}: {stage_ms[answer]:.1f} ms of every {total:.1f} ms per image ({share:.0%}).")
    return _verdict(
        False,
        f"{answer!r} takes {stage_ms[answer]:.1f} ms per image; {ranked[0]!r} takes {top:.1f} ms.",
        "the stage with the longest bar is where a fix pays most",
    )


def _per_sample_collate(batch: list[tuple[torch.Tensor, int]], mean: Any, std: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The Efficiency team's way: convert and normalise each image on its own, then stack."""
    m = torch.as_tensor(mean, dtype=torch.float32).view(3, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32).view(3, 1, 1)
    images = torch.stack([(image.float() / 255 - m) / s for image, _ in batch])
    return images, torch.as_tensor([label for _, label in batch], dtype=torch.int64)


def _best_ms(func: Callable[..., Any], *args: Any, repeat: int = 7) -> float:
    """The fastest of ``repeat`` runs, in milliseconds: the run least disturbed by other programs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func(*args)
        best = min(best, time.perf_counter() - start)
    return 1000 * best


def _collate_problem(answer: Any, truth: tuple[torch.Tensor, torch.Tensor]) -> tuple[str, str] | None:
    """What is wrong with a collate_fn's output, compared with per-sample conversion; None if nothing."""
    x_true, y_true = truth
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return "return a pair (images, labels).", "return images, labels"
    x, y = answer
    if not isinstance(x, torch.Tensor) or tuple(x.shape) != tuple(x_true.shape):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        return f"images should be one tensor of shape {tuple(x_true.shape)}, got {shape}.", "torch.stack the images"
    if x.dtype == torch.uint8:
        return "the batch is still uint8: stacked, but not converted and normalised.", "x.float() / 255, then (x - mean) / std"
    if x.dtype != torch.float32:
        return f"dtype {x.dtype}: the model's weights are float32.", "x.float()"
    if x.abs().max() > 20:
        return "values up to 255 and beyond: normalised without scaling to [0, 1] first.", "divide by 255 before normalising"
    if not torch.allclose(x, x_true, atol=1e-4):
        worst = float((x - x_true).abs().max())
        return f"the images differ from per-sample conversion by up to {worst:.3g}.", (
            "(x / 255 - mean) / std with mean and std shaped (1, 3, 1, 1) so they broadcast over the batch"
        )
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64:
        return "labels should be an int64 tensor (what CrossEntropyLoss expects).", "torch.tensor(labels)"
    if not torch.equal(y, y_true):
        return "the labels do not match the images, in order.", "keep the (image, label) pairs in the order given"
    return None


class _WatchedImage(torch.Tensor):
    """A uint8 image that records every float tensor computed from it alone (a conversion per image)."""

    per_image_floats: ClassVar[int] = 0

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = super().__torch_function__(func, types, args, kwargs or {})
        if isinstance(out, torch.Tensor) and out.is_floating_point() and out.dim() == 3:
            cls.per_image_floats += 1
        return out


def _converts_per_image(func: Callable[[list[Any]], Any], batch: list[Any]) -> bool:
    """True if ``func`` turns single (3, S, S) images into float tensors instead of converting the stacked batch."""
    _WatchedImage.per_image_floats = 0
    with contextlib.suppress(Exception):
        func([(image.as_subclass(_WatchedImage), label) for image, label in batch])
    return _WatchedImage.per_image_floats >= len(batch)


def check_collate(func: Callable[[list[Any]], Any], dataset: Any, mean: Any, std: Any) -> Verdict:
    """Notebook ``03_load``: ``func(batch)`` turns a list of (uint8 (3, S, S), label) into (normalised float32 batch, int64 labels).

    Checked against per-sample conversion on 64 items of ``dataset``, then
    run on images that record float work done on one image at a time (the
    Efficiency team's way, which this exercise replaces); a correct answer is
    timed against converting each image on its own.
    """
    batch = [dataset[i] for i in range(min(64, len(dataset)))]
    answer, error = _call(func, batch)
    if error:
        return _verdict(False, error, "stack the uint8 images first, then convert the whole batch")
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.", "return images, labels")
    truth = _per_sample_collate(batch, mean, std)
    problem = _collate_problem(answer, truth)
    if problem:
        message, hint = problem
        return _verdict(False, message, hint)
    if _converts_per_image(func, batch):
        return _verdict(
            False,
            "the right batch, but each image is converted to float on its own: that is the Efficiency team's collate.",
            "torch.stack the uint8 images first, then one .float(), / 255 and normalisation for the whole batch",
        )
    yours, per_sample = _best_ms(func, batch), _best_ms(_per_sample_collate, batch, mean, std)
    return _verdict(
        True,
        f"the same batch as per-sample conversion. Yours: {yours:.2f} ms for {len(batch)} images; "
        f"converting each image on its own: {per_sample:.2f} ms.",
    )


def _draw_epochs(sampler: Any, at_least: int) -> tuple[list[int], list[int]]:
    """(the first epoch's indices, all indices drawn over as many epochs as it takes to reach ``at_least``)."""
    first = [int(i) for i in sampler]
    drawn = list(first)
    while first and len(drawn) < at_least:
        drawn += [int(i) for i in sampler]
    return first, drawn


def _balance_problem(first: list[int], drawn: list[int], labels: torch.Tensor) -> tuple[str, str] | None:
    """What keeps the drawn indices from a uniform class mix; None if they are balanced."""
    n, sizes = len(labels), torch.bincount(labels).double()
    if not first:
        return "the sampler yields no index.", "WeightedRandomSampler(weights, num_samples=len(labels), ...)"
    if min(drawn) < 0 or max(drawn) >= n:
        return f"indices outside 0..{n - 1}: a sampler yields positions in the dataset.", ""
    if max(drawn) < sizes.numel() < n:
        return "every index is below the number of classes: you gave one weight per class.", (
            "WeightedRandomSampler wants one weight per *sample*: weights = 1 / counts[labels]"
        )
    if len(first) == n and len(set(first)) == n:
        return "every sample drawn exactly once per epoch: a shuffle, which keeps the imbalance.", "replacement=True"
    drawn_per_class = torch.bincount(labels[drawn], minlength=sizes.numel()).double()
    spread = float(drawn_per_class.max() / drawn_per_class.mean().clamp_min(1e-9))
    if spread <= 1.35 and drawn_per_class.min() > 0:
        return None
    trend = float(torch.corrcoef(torch.stack([drawn_per_class, sizes]))[0, 1])
    if trend > 0.5:
        return "large classes are still drawn more often than small ones.", "weight each sample by 1 / (size of its class)"
    if trend < -0.5:
        return "small classes are now drawn more often than large ones: overcorrected.", "weights 1 / count, not 1 / count**2"
    return f"some classes are drawn {spread:.1f}x as often as the average class.", "weights = 1 / counts[labels]"


def check_balanced_sampler(func: Callable[[Any, int], Any], labels: Any) -> Verdict:
    """Notebook ``03_load``: ``func(labels, seed)`` returns a sampler that draws every class about equally often, seeded.

    Draws at least 400 items per class (over several epochs) and compares the
    class mix with the class sizes.
    """
    y = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    sampler, error = _call(func, list(labels), 0)
    if error:
        return _verdict(False, error, RAISED_HINT)
    if _unanswered(sampler):
        return _verdict(False, "your function returns None: it is still the stub.", "return WeightedRandomSampler(...)")
    if not hasattr(sampler, "__iter__"):
        return _verdict(
            False,
            f"got a {type(sampler).__name__}: a sampler is something that yields indices.",
            "return torch.utils.data.WeightedRandomSampler(weights, num_samples, generator=...)",
        )
    first, drawn = _draw_epochs(sampler, at_least=400 * (int(y.max()) + 1))
    problem = _balance_problem(first, drawn, y)
    if problem:
        message, hint = problem
        return _verdict(False, message, hint)
    again, other = (_call(func, list(labels), seed)[0] for seed in (0, 1))
    if again is None or [int(i) for i in again] != first:
        return _verdict(False, "the same seed gave different draws.", "generator=torch.Generator().manual_seed(seed)")
    if other is not None and [int(i) for i in other] == first:
        return _verdict(False, "seeds 0 and 1 gave the same draws: the seed is not used.", "pass the seed to the generator")
    return _verdict(True, f"every class drawn about equally often over {len(drawn)} draws, and the same seed draws the same.")


@contextlib.contextmanager
def _pretend_worker(worker_id: int, num_workers: int, namespace: dict[str, Any]) -> Iterator[None]:
    """Make ``torch.utils.data.get_worker_info()`` answer as it would in worker ``worker_id`` of ``num_workers``.

    Patches the function in ``torch.utils.data`` and wherever ``namespace``
    (the globals of the student's ``__iter__``) holds it under any name, so
    ``from torch.utils.data import get_worker_info`` is covered too. A
    stand-in for real worker processes, which a class defined in a notebook
    cannot reach under spawn or forkserver.
    """
    original = torch.utils.data.get_worker_info
    info = types.SimpleNamespace(id=worker_id, num_workers=num_workers, seed=worker_id, dataset=None)
    names = [name for name, value in namespace.items() if value is original]
    torch.utils.data.get_worker_info = lambda: info
    namespace.update(dict.fromkeys(names, torch.utils.data.get_worker_info))
    try:
        yield
    finally:
        torch.utils.data.get_worker_info = original
        namespace.update(dict.fromkeys(names, original))


def _yields(cls: type, items: list[int], worker: tuple[int, int] | None = None) -> tuple[list[Any] | None, str | None]:
    """Everything a fresh ``cls(items)`` yields, in the main process or as the given (worker id, num_workers)."""
    namespace = getattr(getattr(cls, "__iter__", None), "__globals__", {})
    with _pretend_worker(*worker, namespace) if worker else contextlib.nullcontext():
        dataset, error = _call(cls, items)
        if error:
            return None, error
        it, error = _call(dataset.__iter__)
        if error or it is None:
            return None, error
        out, error = _call(list, it)
    return out, error


def _sharding_problem(cls: type, items: list[int], num_workers: int) -> tuple[str, str] | None:
    """What goes wrong when ``cls`` runs in ``num_workers`` simulated workers; None if each item comes once."""
    shares = []
    for k in range(num_workers):
        out, error = _yields(cls, items, (k, num_workers))
        if error or out is None:
            return f"as worker {k} of {num_workers}: {error or '__iter__ returned None'}", ""
        shares.append(out)
    counts = Counter(int(x) for share in shares for x in share)
    if all(sorted(map(int, share)) == items for share in shares):
        return (
            f"each of {num_workers} simulated workers yielded all {len(items)} items: every sample arrives {num_workers} times.",
            ("info = get_worker_info(); yield only items[info.id::info.num_workers]"),
        )
    missing = [x for x in items if counts[x] == 0]
    if missing:
        return f"with {num_workers} workers no worker yielded {missing}: the shares leave items out.", (
            "striding, items[info.id::info.num_workers], never drops the remainder"
        )
    twice = [x for x in items if counts[x] > 1]
    if twice:
        return f"with {num_workers} workers, {twice} came from more than one worker.", "the shares must not overlap"
    return None


def check_sharded_stream(cls: type) -> Verdict:
    """Notebook ``03_load``: ``cls(items)`` is an IterableDataset whose workers together yield every item exactly once.

    Runs it in the main process (``get_worker_info()`` is None: it must yield
    everything) and as 2 and 3 simulated workers (:func:`_pretend_worker`),
    with 23 items so that a remainder is left over.
    """
    items = list(range(100, 123))
    if not isinstance(cls, type) or not issubclass(cls, torch.utils.data.IterableDataset):
        return _verdict(False, f"expected a class derived from IterableDataset, got {cls!r}.", "class MyStream(IterableDataset)")
    out, error = _yields(cls, items)
    if error:
        return _verdict(False, error, "with num_workers=0, get_worker_info() returns None: then yield every item")
    if out is None:
        return _verdict(False, "your __iter__ returns None: it is still the stub.", "__iter__ should `yield` items")
    if sorted(int(x) for x in out) != items:
        return _verdict(
            False,
            f"in the main process it yielded {len(out)} items, expected all {len(items)} once each.",
            "with no worker info (get_worker_info() is None), yield every item once",
        )
    for num_workers in (2, 3):
        problem = _sharding_problem(cls, items, num_workers)
        if problem:
            message, hint = problem
            return _verdict(False, message, hint)
    return _verdict(True, "one process yields everything; 2 or 3 workers each yield their own share, every item exactly once.")


# ------------------------------------------------------------------ 02_transform: naming the Quality team's bugs

#: The suspects notebook ``02_transform`` offers for the Quality team's weak model, with what the evidence says.
QUALITY_SUSPECTS: dict[str, str] = {
    "grayscale": "the doctor's colour check: the three channels are copies of one another",
    "squash": "the pictures before and after their transform: round flowers come out as ellipses",
    "per-image standardisation": "the batch statistics: every image has mean 0 and std 1, brightness and contrast are gone",
    "augmentation at evaluation": "the same test image transformed twice gives two different tensors",
    "wrong labels": "no: the Quality team reads the labels with our (fixed) Dataset, and the loss falls",
    "too few epochs": "no: the training accuracy has levelled off, more epochs of the same images would not add colour",
    "learning rate": "no: the loss falls smoothly; it is the same network and schedule as ours",
    "no shuffling": "no: their loader shuffles (check its sampler); that trap is notebook 03's",
}
_QUALITY_CAUSES = ("grayscale", "squash", "per-image standardisation", "augmentation at evaluation")


def check_quality_causes(answer: Any) -> Verdict:
    """Notebook ``02_transform``: ``answer`` names, from :data:`QUALITY_SUSPECTS`, every cause the evidence supports."""
    if _unanswered(answer) or not answer:
        return _verdict(False, "no answer yet: set `causes` to a set of suspects.", "pick from exercises.QUALITY_SUSPECTS")
    picked = {answer} if isinstance(answer, str) else set(answer)
    unknown = sorted(picked - set(QUALITY_SUSPECTS))
    if unknown:
        return _verdict(False, f"{unknown} is not on the list of suspects.", f"choose from {sorted(QUALITY_SUSPECTS)}")
    wrong = sorted(picked - set(_QUALITY_CAUSES))
    if wrong:
        return _verdict(
            False, f"the evidence clears {wrong[0]!r}: {QUALITY_SUSPECTS[wrong[0]]}.", "keep only what a measurement showed"
        )
    missing = [c for c in _QUALITY_CAUSES if c not in picked]
    if missing:
        return _verdict(False, f"{len(missing)} cause(s) still at large.", f"look again at {QUALITY_SUSPECTS[missing[0]]}")
    return _verdict(
        True, "all four, each backed by a measurement: grayscale, squash, per-image standardisation, augmentation at evaluation."
    )


# ------------------------------------------------------------------ 01_access: the hunt, your own Dataset, workers

_CAUSES = {
    "a": (
        False,
        "the training loss falls and the training accuracy rises: the network does learn. What it learns does not "
        "transfer to correctly labelled photos.",
        "look again at the pictures with the label each one carries, and at the comparison with torchvision",
    ),
    "b": (
        False,
        "the validation photos agree item by item with torchvision's reference. It is the team's training samples "
        "that disagree with it.",
        "compare the team's (file, label) pairs with the reference's",
    ),
    "c": (
        False,
        "the pictures decode fine and look like flowers: what is wrong is the class each one is called.",
        "for how many training samples is the team's label the reference's label of the same file?",
    ),
    "d": (True, "each training image carries a label that is not its own class: images and labels are paired wrongly.", ""),
    "e": (
        False,
        "the team's labels are spread evenly, about 10 per class, like the reference's: label counts look healthy. "
        "Counts cannot see *which* image carries a label.",
        "look at which label each file carries, not how many there are",
    ),
}


def check_access_cause(answer: Any) -> Verdict:
    """Notebook ``01_access``: the letter of the Access team's cause, named from the evidence before their code is shown."""
    if _unanswered(answer):
        return _verdict(
            False, "no answer yet: set `cause` to one letter, e.g. 'a'.", "weigh each suspect against the evidence above"
        )
    key = str(answer).strip().strip("()").lower()
    if key not in _CAUSES:
        return _verdict(False, f"{answer!r} is not one of the suspects {sorted(_CAUSES)}.", 'answer with one letter, e.g. "c"')
    ok, message, hint = _CAUSES[key]
    if ok:
        message += " Next, their code shows how."
    return _verdict(ok, message, hint)


# The toy dataset that every student Dataset is first run on: 24 tiny images in the Oxford format, each
# painted a colour that encodes its id, labels grouped by class but not in class order (77, 1, 102, 5),
# split ids ordered by class, the last image (id 24) and the first (id 1) in the train split.
_TOY_LABELS = [77] * 6 + [1] * 6 + [102] * 6 + [5] * 6
_TOY_SPLITS = {
    "train": [7, 12, 19, 24, 1, 6, 13, 18],
    "val": [8, 20, 2, 14],
    "test": [9, 10, 11, 21, 22, 23, 3, 4, 5, 15, 16, 17],
}
_TOY_STEP = 10  # red = 10 * id: JPEG keeps a flat colour within a few levels


def _write_toy_flowers(root: Path) -> Path:
    """Write the toy dataset under ``root/flowers-102/`` and return ``root``."""
    base = root / DATASET_FOLDER
    (base / IMAGE_FOLDER).mkdir(parents=True)
    for image_id in range(1, len(_TOY_LABELS) + 1):
        colour = (_TOY_STEP * image_id, 255 - _TOY_STEP * image_id, 128)
        Image.new("RGB", (12 + image_id % 3, 10), colour).save(base / IMAGE_FOLDER / f"image_{image_id:05d}.jpg", quality=95)
    savemat(base / LABELS_FILE, {"labels": np.array([_TOY_LABELS], dtype=np.uint8)})
    savemat(base / SETID_FILE, {SPLIT_VARIABLES[k]: np.array([v], dtype=np.uint16) for k, v in _TOY_SPLITS.items()})
    return root


def _toy_id(image: Image.Image) -> int:
    """The id a toy image was painted with."""
    return int(round(float(np.asarray(image.convert("RGB"))[..., 0].mean()) / _TOY_STEP))


class _Shuffled:
    """``os.listdir`` / ``os.scandir`` stand-ins that list a folder in a fixed shuffled order (a file system's hash order)."""

    def __init__(self, seed: int = 3) -> None:
        self.seed = seed
        self.listdir, self.scandir = os.listdir, os.scandir

    def _shuffled(self, items: list[Any], key: Callable[[Any], str]) -> list[Any]:
        items = sorted(items, key=key)
        random.Random(self.seed).shuffle(items)
        return items

    def list_names(self, path: Any = ".") -> list[str]:
        return self._shuffled(self.listdir(path), str)

    @contextlib.contextmanager
    def _entries(self, path: Any = ".") -> Iterator[Iterator[os.DirEntry]]:
        with self.scandir(path) as it:
            yield iter(self._shuffled(list(it), lambda e: e.name))

    def scan(self, path: Any = ".") -> Any:
        return _ScanIterator(self._entries(path))

    def patches(self) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        stack.enter_context(mock.patch("os.listdir", self.list_names))
        stack.enter_context(mock.patch("os.scandir", self.scan))
        return stack


class _ScanIterator:
    """What ``os.scandir`` returns: an iterator that is also a context manager."""

    def __init__(self, entries: contextlib.AbstractContextManager) -> None:
        self._cm = entries
        self._it = entries.__enter__()

    def __iter__(self) -> _ScanIterator:
        return self

    def __next__(self) -> os.DirEntry:
        return next(self._it)

    def __enter__(self) -> _ScanIterator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._cm.__exit__(None, None, None)


def _is_stub(dataset: Any) -> bool:
    """True if ``__len__`` of a student's Dataset still returns None (the stub's ``...``)."""
    try:
        return dataset.__len__() is None
    except Exception:  # a half-written __len__: not a stub, the length check reports it
        return False


def _make_dataset(cls: Any, root: Path, split: str = "train", **kw: Any) -> tuple[Any, str | None]:
    dataset, error = _call(lambda: cls(root, split, **kw))
    if error:
        return None, f"{error} while building {getattr(cls, '__name__', cls)}({split!r}, ...)"
    return dataset, None


def _length_feedback(n: Any, expected: int, n_images: int) -> str | None:
    """What is wrong with a Dataset's length, or None if it is right."""
    if n == expected:
        return None
    if n == 1:
        return f"len() is 1, expected {expected}: len() of a (1, N) MATLAB array is 1. Hint: loadmat(..., squeeze_me=True)"
    if n == n_images:
        return f"len() is {n}, the number of *all* images; the {expected} items of the split come from setid.mat"
    if n == expected - 1:
        return f"len() is {n}, one short of {expected}: was the last id skipped? Ids go up to N, which is a file, not a position"
    return f"len() is {n}, expected {expected} (the number of ids in the split)"


def _item_feedback(item: Any) -> str | None:
    """What is wrong with the type of one item, or None: an (RGB PIL image, int label) pair."""
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        return f"__getitem__ returned {type(item).__name__}, expected a pair (image, label). Hint: return image, label"
    image, label = item
    if isinstance(image, (str, Path)):
        return "the image is a path; __getitem__ should open it. Hint: PIL.Image.open(path).convert('RGB')"
    if not isinstance(image, Image.Image):
        return f"the image is a {type(image).__name__}, expected a PIL image (without a transform the image stays PIL, as in torchvision)"
    if image.mode != "RGB":
        return f"the image has mode {image.mode!r}, expected 'RGB'. Hint: .convert('RGB')"
    if isinstance(label, (bool, np.unsignedinteger)) or not isinstance(label, (int, np.integer)):
        kind = f"{type(label).__name__}" + (f" ({label.dtype})" if hasattr(label, "dtype") else "")
        return f"the label is a {kind}, expected a plain int, as torchvision returns. Hint: int(label)"
    return None


def _toy_items(dataset: Any, ids: list[int]) -> tuple[list[Any], str | None]:
    """Every toy item, or the first error, worded (an error naming a neighbour's file is an off-by-one id)."""
    items, first_error = [], None
    for k, image_id in enumerate(ids):
        item, error = _call(dataset.__getitem__, k)
        if error and first_error is None:
            near = any(f"image_{image_id + d:05d}" in error for d in (1, -1))
            first_error = (
                f"off-by-one ids: item {k} (id {image_id}) {error[len('your function ') :]}. "
                "Hint: id i is the file image_{i:05d}.jpg, not position i"
                if near
                else f"item {k} (id {image_id}): {error}"
            )
        items.append(item)
    return items, first_error


def _toy_items_feedback(dataset: Any, listing: list[str]) -> str | None:
    """Run every toy item and name the first kind of mistake: wrap-around, 1-based, off-by-one ids, listing order."""
    ids = _TOY_SPLITS["train"]
    truth = [_TOY_LABELS[i - 1] - 1 for i in ids]
    items, error = _toy_items(dataset, ids)
    fine = [(k, item) for k, item in enumerate(items) if item is not None and not _item_feedback(item)]
    shifts = {_toy_id(item[0]) - ids[k] for k, item in fine}
    if fine and len(shifts) == 1 and shifts <= {1, -1}:
        return _files_feedback([_toy_id(item[0]) for _, item in fine], [ids[k] for k, _ in fine], listing)
    if error:
        return error
    problem = next((p for p in map(_item_feedback, items) if p), None)
    if problem:
        return problem
    got_ids, got = [_toy_id(image) for image, _ in items], [int(label) for _, label in items]
    if got == [t + 1 for t in truth]:
        return "your labels are 1-based (1..102); CrossEntropyLoss wants 0..101. Hint: subtract 1 (in int64)"
    if any(label > 101 for label in got):
        return f"a label came out as {max(got)}: uint8 arithmetic wrapped around (0 - 1 is 255). Hint: .astype(np.int64) before any arithmetic"
    if got_ids != ids:
        return _files_feedback(got_ids, ids, listing)
    if got != truth:
        k = next(k for k in range(len(ids)) if got[k] != truth[k])
        shifted = [_TOY_LABELS[min(i, len(_TOY_LABELS) - 1)] - 1 for i in ids]
        if got == shifted:
            return f"item {k} (id {ids[k]}) got the label of id {ids[k] + 1}: off-by-one ids. Hint: the label of id i is labels[i - 1]"
        return f"item {k} (image_{ids[k]:05d}.jpg) has label {got[k]}, expected {truth[k]}"
    return None


def _files_feedback(got_ids: list[int], ids: list[int], listing: list[str]) -> str:
    """Name the mistake when the items are not the split's files, in the split's order."""
    k = next(k for k in range(len(ids)) if got_ids[k] != ids[k])
    if all(g - i in (1, -1) for g, i in zip(got_ids, ids)) and len(set(g - i for g, i in zip(got_ids, ids))) == 1:
        d = got_ids[0] - ids[0]
        return (
            f"off-by-one ids: item {k} should be image_{ids[k]:05d}.jpg, you opened image_{got_ids[k]:05d}.jpg (id {d:+d}). "
            "Hint: id i is the file image_{i:05d}.jpg"
        )
    jpgs = [n for n in listing if n.endswith(".jpg")]
    by_listing = [int(jpgs[min(i - 1, len(jpgs) - 1)][6:11]) for i in ids]
    by_listing_0 = [int(jpgs[min(i, len(jpgs) - 1)][6:11]) for i in ids]
    if got_ids in (by_listing, by_listing_0):
        return (
            "your files follow the directory listing, and a listing is not sorted (on Linux it comes in hash order). "
            "Hint: build each name from its id, f'image_{i:05d}.jpg', instead of indexing a listing"
        )
    return (
        f"item {k} should be image_{ids[k]:05d}.jpg, you opened image_{got_ids[k]:05d}.jpg. Hint: the split's ids name its files"
    )


class _Marked:
    """A transform that wraps what it is given, so the checker can see it was called."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __call__(self, value: Any) -> tuple[str, Any]:
        return (self.tag, value)


def _transform_feedback(cls: Any, root: Path) -> str | None:
    """Check that ``transform`` is applied to the image and ``target_transform`` to the label."""
    dataset, error = _make_dataset(cls, root, transform=_Marked("image"), target_transform=_Marked("label"))
    if error:
        return f"{error}. Hint: __init__(self, root, split='train', transform=None, target_transform=None)"
    item, error = _call(dataset.__getitem__, 0)
    if error:
        return f"with a transform: {error}"
    image, label = item
    if not (isinstance(image, tuple) and image[:1] == ("image",)):
        return "__getitem__ does not call self.transform on the image. Hint: if self.transform is not None: image = self.transform(image)"
    if not (isinstance(label, tuple) and label[:1] == ("label",)):
        return "__getitem__ does not call self.target_transform on the label (torchvision applies it after the transform)"
    return None


def _toy_feedback(cls: Any) -> str | None:
    """Run a student's Dataset class on the toy dataset, under a shuffled listing; return what is wrong, or None."""
    with tempfile.TemporaryDirectory() as tmp:
        root = _write_toy_flowers(Path(tmp))
        shuffled = _Shuffled()
        listing = shuffled.list_names(root / DATASET_FOLDER / IMAGE_FOLDER)
        with shuffled.patches():
            dataset, error = _make_dataset(cls, root)
            if error:
                return f"{error}. Hint: __init__(self, root, split='train', transform=None, target_transform=None)"
            if _is_stub(dataset):
                return "STUB"
            n, error = _call(len, dataset)
            problem = error or _length_feedback(n, len(_TOY_SPLITS["train"]), len(_TOY_LABELS))
            if problem is None:
                result, error = _call(_toy_items_feedback, dataset, listing)
                problem = error or result
            return problem or _transform_feedback(cls, root)


def _file_name(path: str | Path) -> str:
    """A ``loader`` for torchvision's Flowers102 that opens nothing: items become (file name, label)."""
    return Path(path).name


def _real_feedback(dataset: Any, root: Path, split: str) -> tuple[str | None, int]:
    """Compare a student's Dataset with torchvision's Flowers102 on the real split, item by item (public API only)."""
    names = torchvision_flowers102(root, split, loader=_file_name)
    n, error = _call(len, dataset)
    problem = error or _length_feedback(
        n, len(names), sum(int(v.size) for v in read_splits(root / DATASET_FOLDER / SETID_FILE).values())
    )
    if problem:
        return f"on the {split} split: {problem}", 0
    reference = torchvision_flowers102(root, split)
    spot = set(np.linspace(0, len(names) - 1, 8).astype(int).tolist())
    for k in range(len(names)):
        item, error = _call(dataset.__getitem__, k)
        if error:
            return f"on the {split} split, item {k}: {error}", k
        (image, label), (name, true_label) = item, names[k]
        with Image.open(root / DATASET_FOLDER / IMAGE_FOLDER / name) as expected:
            size = expected.size
        if int(label) != true_label or image.size != size:
            return (
                f"on the {split} split, item {k} is ({image.size} px, label {int(label)}); torchvision says {name} ({size} px), label {true_label}",
                k,
            )
        if k in spot and not np.array_equal(np.asarray(image), np.asarray(reference[k][0])):
            return f"on the {split} split, item {k}'s pixels differ from torchvision's {name}", k
    return None, len(names)


def check_flowers_dataset(cls: Any, root: str | Path, split: str = "train") -> Verdict:
    """Notebook ``01_access``: a student's map-style Dataset class for Oxford 102, checked item by item.

    ``cls(root, split, transform=None, target_transform=None)`` must give (RGB
    PIL image, int label 0..101) items. It is first run on a toy dataset in
    the same format (tiny images painted by id, a shuffled directory listing),
    which names the mistake (off-by-one ids, 1-based labels, uint8
    wrap-around, listing order, a missing transform call, the wrong type or
    length), then compared with ``torchvision.datasets.Flowers102`` on every
    item of ``split`` of the data at ``root``, through its public API.
    """
    root = Path(root)
    if _unanswered(cls) or not callable(cls):
        return _verdict(
            False,
            "no answer yet: `FlowersDataset` should be your Dataset class.",
            "write __init__, __len__ and __getitem__ in the stub cell, step by step as above",
        )
    problem = _toy_feedback(cls)
    if problem == "STUB":
        return _verdict(
            False, "__len__ returns None: your FlowersDataset is still the stub.", "start with __init__: steps 1-3 above"
        )
    if problem:
        message, _, hint = problem.partition(" Hint: ")
        return _verdict(False, f"on a toy dataset in the Oxford format: {message.rstrip('.')}.", hint)
    dataset, error = _make_dataset(cls, root, split)
    problem, n = (error, 0) if error else _real_feedback(dataset, root, split)
    if problem:
        return _verdict(False, problem.rstrip(".") + ".", "run your class and torchvision's on that item and compare")
    return _verdict(
        True,
        f"your {cls.__name__} agrees with torchvision's Flowers102 on all {n} {split} items (files, labels, image sizes; "
        "pixels on 8 items spread over the split), "
        "handles a shuffled listing, and calls transform and target_transform.",
    )


# What a spawn worker does first: unpickle the dataset in a fresh Python, which imports its class by module and name.
_UNPICKLE = "import pickle, sys; dataset = pickle.loads(sys.stdin.buffer.read()); print(type(dataset).__module__)"


def _spawn_round_trip(dataset: Any, timeout: float = 120) -> str | None:
    """Pickle ``dataset`` here and unpickle it in a fresh Python, as a spawn worker does; return the error, or None.

    Nothing is started but one short interpreter, so a class that workers
    cannot import shows its error here instead of killing (or hanging) a
    DataLoader. The fresh Python runs in the current folder, like a worker.
    """
    try:
        blob = pickle.dumps(dataset)
    except Exception as exc:  # e.g. a lambda transform: cannot be pickled at all
        return f"{type(exc).__name__}: {exc}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # spawn hands its sys.path on too
    run = subprocess.run(
        [sys.executable, "-c", _UNPICKLE], input=blob, capture_output=True, timeout=timeout, cwd=os.getcwd(), env=env
    )
    if run.returncode == 0:
        return None
    lines = run.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"the fresh Python exited with code {run.returncode}"


def check_spawn_ready(dataset: Any) -> Verdict:
    """Notebook ``01_access``: can DataLoader workers started with spawn (macOS, Windows, Python 3.14 Linux) use ``dataset``?

    A stub is reported as such. Otherwise the dataset is pickled and
    unpickled in a fresh Python (``_spawn_round_trip``): a class defined in
    the notebook (``__main__``) fails there, a class imported from a module
    next to the notebook passes.
    """
    if _unanswered(dataset):
        return _verdict(
            False, "no answer yet: pass an instance of your Dataset.", 'e.g. my_flowers.FlowersDataset(ROOT, "train")'
        )
    if _is_stub(dataset):
        return _verdict(
            False, "__len__ returns None: your FlowersDataset is still the stub.", "finish the Dataset exercise first"
        )
    where = type(dataset).__module__
    error = _spawn_round_trip(dataset)
    if error is None:
        return _verdict(
            True,
            f"a fresh Python imported {where}.{type(dataset).__qualname__} and unpickled your dataset: spawn workers can too.",
        )
    if where == "__main__":
        return _verdict(
            False,
            f"your class lives in the notebook (__main__); a spawn worker is a fresh Python without the notebook, and fails with\n  {error}",
            "write the class into my_flowers.py next to the notebook (%%writefile), then import my_flowers and use my_flowers.FlowersDataset",
        )
    return _verdict(
        False, f"a fresh Python could not unpickle your dataset:\n  {error}", "everything it holds must be importable by name"
    )


# ------------------------------------------------------------------ 06_beyond_one_machine


def _appearance_cases() -> list[tuple[list[list[int]], list[int]]]:
    return [
        ([[0, 2, 4], [1, 3, 5]], list(range(6))),  # a perfect split
        ([[0, 1, 2], [0, 1, 2]], list(range(6))),  # the Scale team: both ranks read the same half
        ([[0, 2, 4, 0], [1, 3, 5, 1]], list(range(6))),  # padding repeats the first samples
        ([[5, 5, 5], []], list(range(6))),
    ]


def check_count_appearances(func: Callable[[Any, Any], Any]) -> Verdict:
    """Notebook ``06_beyond_one_machine``: ``func(ids_by_rank, expected_ids)`` -> {"duplicates": n, "missing": n} for one epoch."""
    for ids_by_rank, expected in _appearance_cases():
        answer, error = _call(func, ids_by_rank, expected)
        if error:
            return _verdict(False, error, RAISED_HINT)
        if _unanswered(answer):
            return _verdict(
                False, "your function returns None: it is still the stub.", "collections.Counter over every rank's ids"
            )
        truth = count_epochs([[ids] for ids in ids_by_rank], expected)
        want = {"duplicates": truth["duplicates"], "missing": truth["missing"]}
        if not isinstance(answer, dict) or set(answer) != set(want):
            return _verdict(
                False,
                f"return a dict with the keys {sorted(want)}, got {answer!r}.",
                'return {"duplicates": ..., "missing": ...}',
            )
        if answer != want:
            return _verdict(
                False,
                f"for ranks {ids_by_rank} over ids {expected} expected {want}, got {answer}.",
                "duplicates = appearances - distinct ids seen; missing = expected ids never seen",
            )
    return _verdict(True, "duplicates and missing samples counted: the two numbers the Scale team never looked at.")


def check_padded_indices(func: Callable[[int, int, int], Any]) -> Verdict:
    """Notebook ``06_beyond_one_machine``: ``func(n, rank, world_size)`` -> rank's indices, as DistributedSampler(shuffle=False)."""
    for n, world in ((10, 2), (11, 2), (10, 3), (5, 4), (2, 3)):
        for rank in range(world):
            truth = list(DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False))
            answer, error = _call(func, n, rank, world)
            if error:
                return _verdict(False, error, RAISED_HINT)
            if _unanswered(answer):
                return _verdict(
                    False, "your function returns None: it is still the stub.", "list(range(n))[rank::world_size], padded"
                )
            got = [int(i) for i in answer]
            if got == truth:
                continue
            if got == list(range(n))[rank::world]:
                return _verdict(
                    False,
                    f"n={n}, {world} ranks: right split, but no padding: rank {rank} gets {len(got)}, others more.",
                    "pad the index list to ceil(n / world_size) * world_size by repeating it from the start",
                )
            return _verdict(
                False,
                f"n={n}, rank {rank} of {world}: expected {truth}, got {got}.",
                "pad the index list to a multiple of world_size by repeating from the start, then take every world_size-th from rank",
            )
    return _verdict(True, "every rank gets ceil(n / world_size) indices, padded from the start: DistributedSampler's rule.")


def check_shard_plan(func: Callable[[int, int, int, float], Any]) -> Verdict:
    """Notebook ``06_beyond_one_machine``: ``func(images, bytes_per_image, readers, shard_mb)`` -> number of shards.

    Enough shards of about ``shard_mb`` MiB to hold the data, at least one per
    reader (ranks x workers), and a multiple of ``readers`` so that every reader gets as many.
    """
    cases = ((1_000_000, 42_000, 512, 256.0), (1_000, 42_000, 4, 8.0), (8_189, 42_000, 16, 512.0), (100, 1_000, 3, 1.0))
    for images, size, readers, shard_mb in cases:
        by_size = math.ceil(images * size / (shard_mb * 2**20))
        truth = math.ceil(max(by_size, readers) / readers) * readers
        answer, error = _call(func, images, size, readers, shard_mb)
        if error:
            return _verdict(False, error, RAISED_HINT)
        if _unanswered(answer):
            return _verdict(
                False, "your function returns None: it is still the stub.", "start from the total bytes / shard bytes"
            )
        if answer == by_size and by_size != truth:
            return _verdict(
                False,
                f"{images:,} images for {readers} readers: {answer} shards hold the data, but then not every reader "
                "gets the same number of shards.",
                "at least `readers` shards, rounded up to a multiple of `readers`",
            )
        if answer != truth:
            return _verdict(
                False,
                f"{images:,} images of {size:,} B, {readers} readers, {shard_mb} MiB shards: expected {truth}, got {answer}.",
                "shards = ceil(total bytes / shard size), at least `readers`, rounded up to a multiple of `readers`",
            )
    return _verdict(True, "enough shards for the data, and the same number for every reader.")


# ------------------------------------------------------------------ 05_the_app


#: The skews exercise 1 of notebook ``05_the_app`` chooses from.
SKEW_CHOICES = (
    "EXIF orientation ignored",
    "squashed to a square",
    "ImageNet statistics instead of the train split's",
    "pixels not scaled to [0, 1]",
    "channels in BGR order",
    "grayscale",
)
_SKEW_FEEDBACK = {
    "EXIF orientation ignored": "the test photos carry no orientation tag, so that cannot change them: "
    "the kiosk's tensor for a test photo has the flower the right way up",
    "squashed to a square": "show a kiosk tensor next to training's (denormalised with the train statistics): "
    "are the flowers the same shape?",
    "ImageNet statistics instead of the train split's": "other statistics would shift every channel by a constant; "
    "look at which channel of the kiosk's tensor matches which channel of training's",
    "pixels not scaled to [0, 1]": "doctor.check_batch on a kiosk batch reports the value range: is it in the hundreds?",
    "grayscale": "doctor.check_batch's colour check says whether the three channels are copies of one",
}


def kiosk_preprocess(path: str | Path, size: int, mean: Any, std: Any) -> torch.Tensor:
    """Notebook ``05_the_app``, exercise 1: the garden kiosk's preprocessing, photo -> float (3, size, size). It has one skew.

    Written for the kiosk's camera library; find what differs from training
    by comparing its tensors with training's, not by reading this code.
    """
    with Image.open(path) as img:
        img.draft("RGB", (size, size))
        rgb = np.array(ImageOps.exif_transpose(img).convert("RGB"))
    x = torch.from_numpy(np.ascontiguousarray(rgb[..., ::-1])).permute(2, 0, 1)  # the camera library's pixel order
    side = min(x.shape[1:])
    top, left = (x.shape[1] - side) // 2, (x.shape[2] - side) // 2
    x = torch.nn.functional.interpolate(
        x[None, :, top : top + side, left : left + side], size=(size, size), mode="bilinear", antialias=True
    )
    return normalize_batch(x, mean, std)[0]


def check_kiosk_skew(answer: Any) -> Verdict:
    """Notebook ``05_the_app``: which of :data:`SKEW_CHOICES` is the skew of :func:`kiosk_preprocess`."""
    if _unanswered(answer):
        return _verdict(False, "no answer yet: set `kiosk_skew` to one of exercises.SKEW_CHOICES.", "compare tensors first")
    if answer not in SKEW_CHOICES:
        return _verdict(False, f"{answer!r} is not one of exercises.SKEW_CHOICES.", "copy one of its strings exactly")
    if answer == "channels in BGR order":
        return _verdict(
            True,
            "the kiosk's camera library hands over pixels as blue, green, red (as OpenCV's cv2.imread does): "
            "red petals reach the model as blue ones, and no batch check can tell, only a comparison with training.",
        )
    return _verdict(False, f"not {answer!r}.", _SKEW_FEEDBACK[answer])


def odd_photo(root: str | Path, folder: str | Path | None = None) -> Path:
    """Notebook ``05_the_app``, exercise 2: a visitor's odd photo, a round-cropped PNG with transparency, stored sideways.

    Made from the first test image: everything outside a centred ellipse is
    transparent (black underneath), and the pixels are stored turned 90
    degrees with an EXIF tag (orientation 8) that tells viewers to turn them back.
    Written once to ``folder`` (default: the cache folder) and reused.
    """
    source = OxfordFlowers102(root, "test").image_files[0]
    folder = Path(folder) if folder is not None else cache_dir()
    out = folder / f"odd-photo-{hashlib.sha1(str(Path(source).resolve()).encode()).hexdigest()[:8]}.png"
    if out.is_file():
        return out
    img = load_rgb(source)
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).ellipse((0, 0, img.width - 1, img.height - 1), fill=255)
    rgba = Image.composite(img, Image.new("RGB", img.size, 0), mask).convert("RGBA")
    rgba.putalpha(mask)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 8  # "turn 90 degrees anticlockwise to view"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    rgba.transpose(Image.Transpose.ROTATE_270).save(tmp, format="PNG", exif=exif)
    os.replace(tmp, out)
    return out


def _as_input(x: Any, size: int) -> tuple[torch.Tensor | None, str | None]:
    """A student's model input as a float (3, size, size) tensor, or why it is not one."""
    if not isinstance(x, torch.Tensor):
        return None, f"expected a tensor, got {type(x).__name__}"
    x = x[0] if x.ndim == 4 and x.shape[0] == 1 else x
    if tuple(x.shape) != (3, size, size) or not x.is_floating_point():
        return None, f"expected a float (3, {size}, {size}) tensor, got {x.dtype} {tuple(x.shape)}"
    return x.detach().float(), None


def _odd_photo_variants(path: Path, predictor: Any) -> dict[str, torch.Tensor]:
    """The odd photo as the model would get it with each mistake: sideways (EXIF ignored), transparency on black."""
    with Image.open(path) as img:
        img.load()
        stood_up = upright(img)
        sideways = Image.fromarray(np.asarray(img))  # the pixels as stored, without the EXIF tag

    def bare(image: Image.Image) -> Image.Image:
        return Image.fromarray(np.asarray(image))  # no EXIF tag left for the Predictor to apply

    return {
        "EXIF orientation ignored": predictor.inputs([bare(to_rgb(sideways))])[0],
        "transparency on black": predictor.inputs([bare(stood_up.convert("RGB"))])[0],  # alpha dropped, not composited
        "both": predictor.inputs([bare(sideways.convert("RGB"))])[0],
    }


def check_robust_input(func: Callable[[Path], Any], predictor: Any, root: str | Path) -> Verdict:
    """Notebook ``05_the_app``: ``func(path)`` gives the Predictor's model input for :func:`odd_photo` and for a plain test JPEG."""
    odd, plain = odd_photo(root), OxfordFlowers102(root, "test").image_files[1]
    for path in (plain, odd):
        answer, error = _call(func, path)
        if error:
            return _verdict(False, f"on {path.name}: {error}", RAISED_HINT)
        if _unanswered(answer):
            return _verdict(False, "your function returns None: it is still the stub.", "start from my_input")
        x, problem = _as_input(answer, predictor.size)
        if problem:
            return _verdict(
                False,
                f"on {path.name}: {problem}.",
                "return a float32 (3, S, S) tensor, normalised with the artifact's statistics",
            )
        reference = predictor.inputs([path])[0]
        gap = (x - reference).abs().mean().item()
        if gap > 0.2:  # resampling differences (e.g. no draft decode) stay well under; a skew does not
            break
    else:
        return _verdict(True, "upright, transparency on white as in training, normalised with the saved statistics.")
    if path == plain:
        return _verdict(
            False,
            f"on an ordinary test JPEG your input differs from the Predictor's by {gap:.2f} on average.",
            "decode, crop and normalise exactly as training does: flowerkit.load.decode_resized, then the saved mean/std",
        )
    near = {name: (x - v).abs().mean().item() for name, v in _odd_photo_variants(odd, predictor).items()}
    hints = {
        "EXIF orientation ignored": "the flower lies on its side: PIL.ImageOps.exif_transpose turns it upright",
        "transparency on black": "the round crop's outside is black: composite the alpha channel on white, as "
        "flowerkit.access.to_rgb does in training",
        "both": "it lies on its side (EXIF orientation) and the transparency is black: flowerkit.load_rgb fixes both",
    }
    name = min(near, key=near.get)
    if near[name] < 0.2:
        return _verdict(False, f"on the odd photo: {name}.", hints[name])
    return _verdict(False, f"on the odd photo your input differs from the Predictor's by {gap:.2f} on average.", hints["both"])
