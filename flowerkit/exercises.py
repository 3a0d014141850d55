"""Checkers for the notebooks' exercises: specific feedback (what is wrong, and a hint), never just pass/fail.

Each checker prints its verdict and returns True or False; it never raises on
a wrong or unanswered exercise, so a notebook keeps running. A stub that
still returns ``None`` is told it is unanswered. The notebook that uses each
checker is named in its docstring.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import ExifTags, Image, ImageDraw, ImageOps
from torch.utils.data import DataLoader, RandomSampler
from torchvision.transforms import v2

from .access import OxfordFlowers102, load_rgb, read_labels, read_splits, to_rgb, upright
from .classes import CLASSES
from .doctor import diagnose
from .facts import DATASET_FOLDER, LABELS_FILE, SETID_FILE
from .load import cache_dir
from .transform import ToRGB, normalize_batch

__all__ = [
    "check_channel_stats",
    "check_class_of_first_file",
    "check_denormalize",
    "check_fixed_loader",
    "check_labels_for_split",
    "check_majority_baseline",
    "check_model_input",
    "check_most_confused",
    "check_pair_files",
    "check_reproducible_order",
    "check_split_sizes",
    "check_test_count",
    "check_train_loader",
    "intern_loader",
]


def _verdict(ok: bool, message: str, hint: str = "") -> bool:
    if ok:
        print(f"Correct! {message}")
    else:
        print(f"Not yet: {message}" + (f"\nHint: {hint}" if hint else ""))
    return ok


def _unanswered(answer: Any) -> bool:
    return answer is None or answer is Ellipsis


def _call(func: Callable[..., Any], *args: Any) -> tuple[Any, str | None]:
    try:
        return func(*args), None
    except Exception as exc:  # the student's code raised: say so, don't crash the notebook
        return None, f"your function raised {type(exc).__name__}: {exc}"


# ------------------------------------------------------------------ 00_the_challenge


def check_split_sizes(answer: Any, root: str | Path) -> bool:
    """Notebook ``00_the_challenge``: a dict {"train": n, "val": n, "test": n} of split sizes."""
    if _unanswered(answer):
        return _verdict(False, "no answer yet: set `split_sizes` to a dict.", "read setid.mat and count the ids of each split")
    truth = {k: int(v.size) for k, v in read_splits(Path(root) / DATASET_FOLDER / SETID_FILE).items()}
    if not isinstance(answer, dict) or set(answer) != set(truth):
        return _verdict(False, f"expected a dict with keys {sorted(truth)}, got {answer!r}.")
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


def check_class_of_first_file(answer: Any, root: str | Path) -> bool:
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


def check_test_count(func: Callable[[Path], Any], root: str | Path) -> bool:
    """Notebook ``01_access``: ``func(setid_path)`` returns the number of test images."""
    path = Path(root) / DATASET_FOLDER / SETID_FILE
    answer, error = _call(func, path)
    if error:
        return _verdict(False, error)
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


def check_labels_for_split(func: Callable[[np.ndarray, np.ndarray], Any]) -> bool:
    """Notebook ``01_access``: ``func(labels_mat, ids)`` returns the 0-based int64 labels of the 1-based image ``ids``.

    ``labels_mat`` is shaped like ``loadmat(...)["labels"]``: (1, N), uint8, 1-based.
    """
    rng = np.random.default_rng(0)
    labels_1b = rng.integers(1, 103, size=(1, 40)).astype(np.uint8)
    labels_1b[0, 0] = 1  # class 1 -> 0; careless uint8 arithmetic wraps it
    ids = np.array([1, 7, 40, 3, 22], dtype=np.uint16).reshape(1, -1)
    truth = labels_1b.astype(np.int64).reshape(-1)[ids.reshape(-1).astype(np.int64) - 1] - 1
    answer, error = _call(func, labels_1b.copy(), ids.copy())
    if error:
        hint = "ids[0] is 1-based: index with ids - 1" if "out of bounds" in error else ""
        return _verdict(False, error, hint)
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.")
    got = np.asarray(answer)
    if got.shape != truth.shape:
        return _verdict(
            False,
            f"shape {got.shape}, expected {truth.shape}: one label per id, flat.",
            "flatten both arrays first (.reshape(-1) or .ravel())",
        )
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


def check_pair_files(func: Callable[[list[str], np.ndarray], Any]) -> bool:
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
            else ""
        )
        return _verdict(False, error, hint)
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.")
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
        return _verdict(False, f"{len(set(got_names))} distinct image files paired, expected {len(names)}.")
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


def check_model_input(func: Callable[[Any], Any], mean: Any, std: Any, size: int = 64) -> bool:
    """Notebook ``02_transform``: ``func(pil_image)`` returns the model's input: float32 (3, size, size), normalised, undistorted."""
    img = Image.new("RGB", (300, 200), (40, 120, 40))
    ImageDraw.Draw(img).ellipse([100, 50, 200, 150], fill=(240, 200, 40))  # a circle in a landscape photo
    answer, error = _call(func, img)
    if error:
        return _verdict(False, error)
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.", "start from transform.eval_transform")
    if not isinstance(answer, torch.Tensor):
        return _verdict(
            False, f"got a {type(answer).__name__}, the model needs a torch.Tensor.", "v2.ToImage() or v2.PILToTensor()"
        )
    if answer.ndim == 3 and answer.shape[-1] == 3 and answer.shape[0] != 3:
        return _verdict(
            False,
            f"shape {tuple(answer.shape)} is channels-last; PyTorch wants (3, H, W).",
            "use torchvision's transforms, or .permute(2, 0, 1)",
        )
    if tuple(answer.shape) != (3, size, size):
        return _verdict(
            False, f"shape {tuple(answer.shape)}, expected (3, {size}, {size}).", f"Resize({size}) then CenterCrop({size})"
        )
    if answer.dtype != torch.float32:
        return _verdict(False, f"dtype {answer.dtype}; the model's weights are float32.", "v2.ToDtype(torch.float32, scale=True)")
    if answer.max() > 20:
        return _verdict(
            False,
            "values up to 255: you normalised without scaling to [0, 1] first.",
            "ToDtype(torch.float32, scale=True) before Normalize",
        )
    m = torch.as_tensor(mean).view(3, 1, 1)
    s = torch.as_tensor(std).view(3, 1, 1)
    back = answer * s + m
    if back.min() < -0.05 or back.max() > 1.05:
        return _verdict(
            False,
            "denormalising your output does not give pixels in [0, 1]: not normalised with the given mean and std.",
            "v2.Normalize(mean, std) as the last step",
        )
    yellow = (back[0] > 0.7) & (back[1] > 0.6)
    rows, cols = yellow.any(1).sum().item(), yellow.any(0).sum().item()
    if rows and abs(rows - cols) > 0.15 * max(rows, cols):
        return _verdict(
            False,
            f"a circle came out {cols}x{rows} px: the resize squashed the aspect ratio.",
            "Resize(size) with one number keeps the aspect ratio; then CenterCrop(size)",
        )
    return _verdict(True, "float32, (3, H, W), normalised, and the circle is still round.")


def check_channel_stats(func: Callable[[Any], Any]) -> bool:
    """Notebook ``02_transform``: ``func(images)`` on a uint8 (N, 3, H, W) tensor returns (mean, std) per channel in [0, 1] units."""
    g = torch.Generator().manual_seed(0)
    base = torch.tensor([200.0, 100.0, 30.0]).view(1, 3, 1, 1)
    images = (
        (base + torch.randn(6, 1, 1, 1, generator=g) * 40 + torch.randn(6, 3, 8, 8, generator=g) * 10)
        .clamp(0, 255)
        .to(torch.uint8)
    )
    x = images.double() / 255
    mean = x.mean((0, 2, 3))
    std = x.permute(1, 0, 2, 3).reshape(3, -1).std(1, unbiased=False)
    answer, error = _call(func, images.clone())
    if error:
        hint = (
            "uint8 tensors cannot be averaged: convert with .float() first" if "dtype" in error.lower() or "Byte" in error else ""
        )
        return _verdict(False, error, hint)
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.")
    try:
        got_mean, got_std = (torch.as_tensor(v, dtype=torch.float64).reshape(-1) for v in answer)
    except (TypeError, ValueError):
        return _verdict(False, "return a pair (mean, std), each with 3 numbers.")
    if got_mean.numel() != 3 or got_std.numel() != 3:
        return _verdict(
            False,
            f"mean has {got_mean.numel()} numbers and std {got_std.numel()}; expected 3 each (one per channel).",
            "reduce over dims (0, 2, 3): images, height, width",
        )
    if torch.allclose(got_mean, mean * 255, atol=0.5):
        return _verdict(
            False,
            "your statistics are on the 0..255 scale; Normalize runs after ToDtype(scale=True), on [0, 1].",
            "divide by 255",
        )
    if not torch.allclose(got_mean, mean, atol=1e-3):
        return _verdict(
            False,
            f"mean {got_mean.numpy().round(3)}, expected {mean.numpy().round(3)}.",
            "x.float().div(255).mean(dim=(0, 2, 3))",
        )
    per_image = x.std((2, 3)).mean(0)
    if torch.allclose(got_std, per_image, atol=1e-3):
        return _verdict(
            False,
            "you averaged each image's own std: that misses how much images differ from each other.",
            "take the std over all pixels of all images at once, per channel",
        )
    if not torch.allclose(got_std, std, atol=2e-3):
        return _verdict(False, f"std {got_std.numpy().round(3)}, expected {std.numpy().round(3)}.", "std over dims (0, 2, 3)")
    return _verdict(True, "per-channel mean and std over every pixel, in [0, 1] units.")


def check_denormalize(func: Callable[[Any, Any, Any], Any]) -> bool:
    """Notebook ``02_transform``: ``func(x, mean, std)`` undoes Normalize on a (3, H, W) tensor, for display."""
    g = torch.Generator().manual_seed(1)
    original = torch.rand(3, 5, 5, generator=g)
    mean, std = [0.4, 0.5, 0.3], [0.2, 0.1, 0.25]
    m, s = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
    answer, error = _call(func, (original - m) / s, mean, std)
    if error:
        return _verdict(False, error, "turn mean and std into (3, 1, 1) tensors so they broadcast over H and W")
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.")
    got = torch.as_tensor(answer)
    if got.shape != original.shape:
        return _verdict(False, f"shape {tuple(got.shape)}, expected {tuple(original.shape)}.")
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


def check_train_loader(func: Callable[[Any], Any], dataset: Any) -> bool:
    """Notebook ``03_load``: ``func(dataset)`` returns a DataLoader fit for training on this machine."""
    loader, error = _call(func, dataset)
    if error:
        return _verdict(False, error)
    if _unanswered(loader):
        return _verdict(
            False, "your function returns None: it is still the stub.", "return torch.utils.data.DataLoader(dataset, ...)"
        )
    if not isinstance(loader, DataLoader):
        return _verdict(False, f"got a {type(loader).__name__}, expected a DataLoader.")
    problems = []
    if not isinstance(loader.sampler, RandomSampler):
        problems.append("it does not shuffle, and the split is grouped by class (shuffle=True)")
    if loader.batch_size is None or loader.batch_size < 16:
        problems.append(f"batch_size={loader.batch_size}: too small to keep the CPU busy and BatchNorm sane (try 64)")
    if loader.num_workers < 1:
        problems.append("num_workers=0: decoding blocks the training loop (use about one worker per core)")
    elif not loader.persistent_workers:
        problems.append("persistent_workers=False: the workers restart every epoch")
    if loader.pin_memory and not torch.cuda.is_available():
        problems.append("pin_memory=True without a GPU is wasted work")
    if loader.generator is None:
        problems.append("no seeded generator: the shuffled order changes every run (generator=torch.Generator().manual_seed(0))")
    if problems:
        return _verdict(False, "; ".join(problems) + ".")
    return _verdict(True, f"shuffled, batch {loader.batch_size}, {loader.num_workers} workers kept alive, seeded.")


def check_reproducible_order(func: Callable[[Any, int], Any], dataset: Any) -> bool:
    """Notebook ``03_load``: ``func(dataset, seed)`` returns a shuffling DataLoader whose order depends only on ``seed``."""

    def labels(seed: int) -> list[int] | None:
        loader, error = _call(func, dataset, seed)
        if error or loader is None:
            return None
        return torch.cat([torch.as_tensor(batch[1]) for batch in loader]).tolist()

    a, b, c = labels(0), labels(0), labels(1)
    if a is None:
        loader, error = _call(func, dataset, 0)
        return _verdict(False, error or "your function returns None: it is still the stub.")
    if sorted(a) != sorted(int(y) for y in getattr(dataset, "labels", a)):
        return _verdict(False, "one epoch did not visit every sample exactly once.")
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


def check_majority_baseline(answer: Any, labels: Any) -> bool:
    """Notebook ``04_three_teams``: the test accuracy of always answering the most frequent test class (a fraction)."""
    y = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(y)
    truth = counts.max() / y.size
    if _unanswered(answer):
        return _verdict(False, "no answer yet: set `majority` to a number.", "count each class in test_set.labels")
    try:
        answer = float(answer)
    except (TypeError, ValueError):
        return _verdict(False, "`majority` must be a number (a fraction between 0 and 1).")
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
        return _verdict(False, "that is a percentage: give a fraction between 0 and 1.")
    if close(answer, counts.max()):
        return _verdict(False, "that is the number of images of the largest class: divide by the size of the test split.")
    if close(answer, counts[counts > 0].min() / y.size):
        return _verdict(False, "that is the *smallest* class's share; the best constant guess is the largest class.")
    return _verdict(
        False, f"{answer:.4g} is not the largest class's share of the test split.", "np.bincount(labels).max() / len(labels)"
    )


def _confusion_case() -> tuple[Any, Any, list[tuple[int, int, int]]]:
    trues = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 3])
    preds = torch.tensor([0, 1, 1, 1, 2, 2, 2, 2, 0, 3, 1, 1, 2, 3])
    #  pairs (true, pred): (0,1) x2, (1,2) x3, (2,0) x1, (3,1) x2, (3,2) x1
    return preds, trues, [(1, 2, 3), (0, 1, 2), (3, 1, 2)]


def check_most_confused(func: Callable[[Any, Any, int], Any]) -> bool:
    """Notebook ``04_three_teams``: ``func(preds, trues, k)`` -> the k most frequent (true, predicted, count), mistakes only."""
    preds, trues, expected = _confusion_case()
    answer, error = _call(func, preds, trues, 3)
    if error:
        return _verdict(False, error)
    if _unanswered(answer):
        return _verdict(
            False, "your function returns None: it is still the stub.", "count (true, predicted) pairs with true != predicted"
        )
    try:
        got = [tuple(int(v) for v in item) for item in answer]
    except (TypeError, ValueError):
        return _verdict(False, "return a list of (true, predicted, count) tuples.")
    if len(got) != 3:
        return _verdict(False, f"asked for k=3 pairs, got {len(got)}.")
    if any(t == p for t, p, _ in got):
        return _verdict(False, "correct predictions (true == predicted) are in your list.", "skip the diagonal")
    if [(p, t, c) for t, p, c in got] == expected:
        return _verdict(False, "true and predicted are swapped.", "each tuple is (true class, predicted class, count)")
    counts = [c for _, _, c in got]
    if counts != sorted(counts, reverse=True):
        return _verdict(False, "not sorted by count, most frequent first.")
    if got[0] != expected[0] or sorted(got[1:]) != sorted(expected[1:]):
        return _verdict(False, f"expected {expected} (ties in any order), got {got}.")
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


def check_fixed_loader(func: Callable[[Any], Any], root: str | Path) -> bool:
    """Notebook ``04_three_teams``: ``func(root)`` returns a training DataLoader on which ``doctor.diagnose`` finds nothing."""

    loader, error = _call(func, root)
    if error:
        return _verdict(False, error)
    if _unanswered(loader):
        return _verdict(False, "your function returns None: it is still the stub.", "start from exercises.intern_loader's code")
    if not isinstance(loader, DataLoader):
        return _verdict(False, f"got a {type(loader).__name__}, expected a DataLoader.")
    n = len(OxfordFlowers102(root, "train"))
    split = getattr(loader.dataset, "split", "train")
    if split != "train" or len(loader.dataset) != n:
        return _verdict(False, f"the loader holds {len(loader.dataset)} {split} images; the train split has {n}.")
    report, error = _call(lambda: diagnose(loader, measure=False))
    if error:
        return _verdict(False, f"the doctor could not examine it: {error}")
    if report.problems:
        found = "; ".join(f"{f.check}: {f.message}" for f in report.problems)
        return _verdict(False, f"the doctor still finds {len(report.problems)} problem(s): {found}.")
    return _verdict(True, "the doctor finds no problem: right labels, undistorted normalised images, shuffled batches.")


# ------------------------------------------------------------------ 05_the_app

__all__ += ["SKEW_CHOICES", "check_kiosk_skew", "check_robust_input", "kiosk_preprocess", "odd_photo"]

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


def check_kiosk_skew(answer: Any) -> bool:
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


def check_robust_input(func: Callable[[Path], Any], predictor: Any, root: str | Path) -> bool:
    """Notebook ``05_the_app``: ``func(path)`` gives the Predictor's model input for :func:`odd_photo` and for a plain test JPEG."""
    odd, plain = odd_photo(root), OxfordFlowers102(root, "test").image_files[1]
    for path in (plain, odd):
        answer, error = _call(func, path)
        if error:
            return _verdict(False, f"on {path.name}: {error}")
        if _unanswered(answer):
            return _verdict(False, "your function returns None: it is still the stub.", "start from my_input")
        x, problem = _as_input(answer, predictor.size)
        if problem:
            return _verdict(False, f"on {path.name}: {problem}.")
        reference = predictor.inputs([path])[0]
        gap = (x - reference).abs().mean().item()
        if gap > 0.2:  # resampling differences (e.g. no draft decode) stay well under; a skew does not
            break
    else:
        return _verdict(True, "upright, transparency on white as in training, normalised with the saved statistics.")
    if path == plain:
        return _verdict(False, f"on an ordinary test JPEG your input differs from the Predictor's by {gap:.2f} on average.")
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
