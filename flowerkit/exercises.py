"""Checkers for the notebooks' exercises: specific feedback (what is wrong, and a hint), never just pass/fail.

Each checker prints its verdict and returns True or False; it never raises on
a wrong or unanswered exercise, so a notebook keeps running. A stub that
still returns ``None`` is told it is unanswered. The notebook that uses each
checker is named in its docstring.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .access import read_labels, read_splits

__all__ = [
    "check_class_of_first_file",
    "check_labels_for_split",
    "check_pair_files",
    "check_split_sizes",
    "check_test_count",
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
    truth = {k: int(v.size) for k, v in read_splits(Path(root) / "flowers-102" / "setid.mat").items()}
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
            "these splits are off: " + ", ".join(f"{k}: you said {a}, it is not" for k, (a, _) in wrong.items()) + ".",
            "the ids are in setid.mat: trnid, valid, tstid",
        )
    return _verdict(True, f"train {truth['train']}, val {truth['val']}, test {truth['test']}: the test split is the big one.")


def check_class_of_first_file(answer: Any, root: str | Path) -> bool:
    """Notebook ``00_the_challenge``: the class *name* of ``image_00001.jpg``."""
    from .classes import CLASSES

    if _unanswered(answer):
        return _verdict(False, "no answer yet.", "labels[0] is the 1-based class of image_00001.jpg")
    label = int(read_labels(Path(root) / "flowers-102" / "imagelabels.mat")[0])
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
    path = Path(root) / "flowers-102" / "setid.mat"
    answer, error = _call(func, path)
    if error:
        return _verdict(False, error)
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.", "load the file with scipy.io.loadmat")
    truth = int(read_splits(path)["test"].size)
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
    if got.dtype == np.uint8 or got.dtype == np.uint16:
        return _verdict(
            False,
            f"dtype {got.dtype}: subtracting 1 from uint8 label 0 wraps to 255.",
            "convert with .astype(np.int64) before any arithmetic",
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
        return _verdict(False, error, "skip names that are not image_NNNNN.jpg" if "invalid literal" in error else "")
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.")
    pairs = list(answer)
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
