"""Checkers of notebook ``00_the_challenge``: images per class in a split, and how many classes a batch of a split read in order holds.

Both exercises take the arrays exactly as ``scipy.io.loadmat`` returns them
((1, N) uint8 labels, 1-based; (1, k) uint16 ids, 1-based) and are run first
on a small toy case built to expose each trap, then on the dataset itself.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import re
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..access import read_mat
from ..facts import DATASET_FOLDER, LABELS_FILE, NUM_CLASSES, SETID_FILE, SPLIT_VARIABLES
from .verdict import RAISED_HINT, STUB_HINT, Verdict, _call, _unanswered, _verdict

__all__ = ["check_classes_per_batch", "check_images_per_class"]

# A toy labels file: 40 images, classes grouped but not in class order, class 1 and class 102 included.
_TOY_LABELS = np.array([[77] * 5 + [1] * 6 + [102] * 4 + [5] * 7 + [40] * 8 + [13] * 10], dtype=np.uint8)
# Toy split ids (1-based), on the borders of the blocks, so that an id read as a position lands in the next class.
_TOY_IDS = np.array([[5, 11, 15, 22, 30, 1, 6, 12, 16, 23, 31, 40]], dtype=np.uint16)
# A split of the toy files that holds neither class 1 nor class 102: counts sized by the largest class seen fall short.
_TOY_FEW_IDS = np.array([[16, 23, 31, 40, 5]], dtype=np.uint16)


def _raw(root: str | Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The labels and each split's ids as ``loadmat`` gives them: (1, N) uint8 and (1, k) uint16."""
    base = Path(root) / DATASET_FOLDER
    setid = read_mat(base / SETID_FILE)
    return read_mat(base / LABELS_FILE)["labels"], {k: setid[v] for k, v in SPLIT_VARIABLES.items()}


def _per_class(labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The right answer: how many of the 1-based ``ids`` belong to each 0-based class."""
    classes = labels.astype(np.int64).reshape(-1)[ids.astype(np.int64).reshape(-1) - 1] - 1
    return np.bincount(classes, minlength=NUM_CLASSES)


def _as_counts(answer: Any) -> tuple[np.ndarray | None, str | None, str]:
    """The answer as a flat int array, or None, what is wrong with its shape or type, and the hint.

    Whole numbers stored as floats (``np.zeros(102)`` filled with counts) are counts too.
    """
    if isinstance(answer, Mapping):  # a Counter or a dict: class -> count
        return (
            None,
            f"you returned a {type(answer).__name__} (class -> count); expected one count per class in a flat array "
            f"of {NUM_CLASSES}, position k for class k (0 where the split has none)",
            "turn it into a list of 102 counts, position k for the 0-based class k; mind which classes are 1-based",
        )
    try:
        got = np.asarray(answer)
    except Exception:  # an object numpy cannot make an array of
        return None, f"expected an array of counts, got {type(answer).__name__}", "return an array or a list of 102 numbers"
    if got.ndim != 1:
        return (
            None,
            f"expected a flat array of {NUM_CLASSES} counts, got shape {got.shape}",
            "one count per class, in a flat array (or list)",
        )
    if got.dtype.kind == "f":
        whole = np.isfinite(got) & (got == np.round(got))
        if whole.all():
            return got.astype(np.int64), None, ""
        return (
            None,
            f"expected whole numbers (counts), got {float(got[~whole][0]):g} among them",
            "a count says how many images of the split carry a class: no fractions",
        )
    if got.dtype.kind not in "iu":
        return None, f"expected whole numbers (counts), got dtype {got.dtype}", "return numbers: one count per class"
    return got.astype(np.int64), None, ""


#: (message, hint) for a function that counted the notebook's global labels instead of the ones it was given.
_NOTEBOOK_LABELS = (
    "you counted the dataset's labels at these ids, not the `labels` your function was given.",
    "use the arguments: the checker calls your function with labels and ids of its own",
)


def _read_the_notebook(
    got: Any, labels: np.ndarray, notebook_labels: np.ndarray | None, answer: Callable[[np.ndarray], Any]
) -> bool:
    """Whether ``got`` is the right ``answer`` for the notebook's (the dataset's) labels rather than the ``labels`` given."""
    if notebook_labels is None or labels.shape == notebook_labels.shape:
        return False
    try:
        want = answer(notebook_labels)
    except IndexError:  # ids past the dataset's end
        return False
    return bool(np.array_equal(np.asarray(got), np.asarray(want)))


def _size_verdict(got: np.ndarray, labels: np.ndarray, ids: np.ndarray, where: str) -> Verdict:
    """Not 102 counts: too few when sized by the largest class the split holds (np.bincount without minlength)."""
    short = got.size < NUM_CLASSES and got.size == int(_in_order(labels, ids).max())
    present = got.size == np.unique(_in_order(labels, ids)).size  # np.unique's counts: the classes present only
    more = ": a split need not hold the last class, and a class it lacks still needs its 0." if short else "."
    if present and not short:
        more = ": one per class the split holds; a class it lacks still needs its 0."
    return _verdict(
        False,
        f"on {where}: {got.size} counts, expected {NUM_CLASSES}, one per class{more}",
        f"np.bincount(..., minlength={NUM_CLASSES})",
    )


def _counts_feedback(
    got: np.ndarray, labels: np.ndarray, ids: np.ndarray, where: str, notebook_labels: np.ndarray | None = None
) -> Verdict | None:
    """The verdict on wrong counts (every file, 1-based, ids as positions, the notebook's labels), or None if right."""
    truth = _per_class(labels, ids)
    if got.size == truth.size and np.array_equal(got, truth):
        return None
    if _read_the_notebook(got, labels, notebook_labels, lambda other: _per_class(other, ids)):
        return _verdict(False, f"on {where}: {_NOTEBOOK_LABELS[0]}", _NOTEBOOK_LABELS[1])
    flat = labels.astype(np.int64).reshape(-1)
    if got.size == NUM_CLASSES + 1 or (got.size == NUM_CLASSES and np.array_equal(got[1:], truth[:-1])):
        return _verdict(
            False,
            f"on {where}: your classes are counted 1-based: class 1 of the file is index 0 in Python.",
            "subtract 1 from the labels (in int64) before counting",
        )
    if got.size in (256, 65536) and got[-1] > 0:  # np.bincount of labels that wrapped from 0 - 1 to 255 (or 65535)
        return _verdict(
            False,
            f"on {where}: {got.size} counts, expected {NUM_CLASSES}: a class came out as {got.size - 1}. Unsigned arithmetic wrapped "
            f"around: in uint{8 if got.size == 256 else 16}, 0 - 1 is {got.size - 1}, not -1.",
            "convert the labels to int64 (.astype(np.int64)) before any arithmetic",
        )
    if got.size == NUM_CLASSES and int(got.sum()) == 1 < ids.size:  # for i in range(len(ids)) on a (1, k) row
        return _verdict(
            False,
            f"on {where}: you counted 1 image of the {ids.size}: len() of a (1, k) array is 1 (one row), not k.",
            "flatten the arrays first: .reshape(-1)",
        )
    if got.size != NUM_CLASSES:
        return _size_verdict(got, labels, ids, where)
    if int(got.sum()) == flat.size and flat.size != ids.size:
        return _verdict(
            False,
            f"on {where}: you counted every file ({flat.size}), not the {ids.size} images of the split.",
            "pick the split's labels first: labels[ids - 1]",
        )
    return _picked_wrong_verdict(got, flat, ids, truth, where)


def _picked_wrong_verdict(got: np.ndarray, flat: np.ndarray, ids: np.ndarray, truth: np.ndarray, where: str) -> Verdict:
    """102 counts of the split's size, wrong: ids used as positions, a histogram's stretched bins, or other."""
    positions = np.clip(ids.astype(np.int64).reshape(-1), 0, flat.size - 1)
    if np.array_equal(got, np.bincount(flat[positions] - 1, minlength=NUM_CLASSES)):
        return _verdict(
            False, f"on {where}: you used the ids as positions: id 5 is the 5th image, at position 4.", "index with ids - 1"
        )
    if _stretched_histogram(got, flat, ids):
        return _verdict(
            False,
            f"on {where}: your histogram's {NUM_CLASSES} bins divide the span from the smallest class in the split to the "
            "largest, not from the first class to the last: this split lacks the classes at the ends, so the bins no "
            "longer fall one per class.",
            "give the bins their edges yourself: 102 bins from 0 to 102 for 0-based classes",
        )
    return _verdict(
        False,
        f"on {where}: {int((got != truth).sum())} of the {NUM_CLASSES} counts are wrong.",
        "pick the split's labels by id (ids are 1-based, positions 0-based), make them 0-based, then count each class",
    )


def _stretched_histogram(got: np.ndarray, flat: np.ndarray, ids: np.ndarray) -> bool:
    """True if ``got`` is a histogram of the split's classes, 0- or 1-based, whose 102 bins span only the classes
    present (np.histogram or torch.histc without a range)."""
    picked = flat[np.clip(ids.astype(np.int64).reshape(-1), 1, flat.size) - 1]
    for classes in (picked - 1, picked):
        counts = np.histogram(classes, bins=NUM_CLASSES)[0]
        if np.array_equal(got, counts) or np.array_equal(got, _histc(classes)):
            return True
    return False


def _histc(classes: np.ndarray) -> np.ndarray:
    """torch.histc(classes, bins=102) without min and max: the bins span the smallest to the largest value."""
    return torch.histc(torch.as_tensor(classes, dtype=torch.float64), bins=NUM_CLASSES).numpy()


def _index_hint(error: str) -> str:
    """The hint for what indexing or counting MATLAB's arrays raised: ids past the end, a (1, N) array, floats."""
    if (
        "must be of integer" in error or "dtype('float64')" in error or "'Double'" in error
    ):  # floats: not indices, nor what bincount counts
        return "MATLAB stores numbers as float64 unless told otherwise: .astype(np.int64) before indexing or counting"
    if re.search(r"(axis|dimension) 1 with size 1\b(?!\d)", error):  # labels[0, ...] on a column (NumPy, torch)
        return "this file stores columns, (N, 1): .reshape(-1) flattens a row and a column alike"
    if "too deep" in error or "1 dimension" in error or re.search(r"(axis|dimension) 0 with size 1\b(?!\d)", error):
        return "a row (1, N) or a column (N, 1) has size 1 along one axis: .reshape(-1) flattens both first"
    return "ids are 1-based: the last id is the number of files" if "out of bounds" in error else RAISED_HINT


def check_images_per_class(func: Callable[[np.ndarray, np.ndarray], Any], root: str | Path) -> Verdict:
    """Notebook ``00_the_challenge``: ``func(labels, ids)`` counts the images of each class among a split's ``ids``.

    ``labels`` and ``ids`` are as ``loadmat`` returns them ((1, N) uint8
    1-based classes; (1, k) uint16 1-based image ids); the answer is one count
    per 0-based class, 102 in all. Run on a toy case whose ids sit on the
    borders of the class blocks, the same toy saved as float64 columns (MATLAB's default, (N, 1)), then on every
    split of the data at ``root``.
    """
    labels, splits = _raw(root)
    toy = f"made-up labels of {_TOY_LABELS.size} files and ids {_TOY_IDS[0].tolist()}"
    columns = "the same made-up labels and ids saved as MATLAB's default, float64 columns: (40, 1) and (12, 1)"
    few = f"the made-up labels and a split of ids {_TOY_FEW_IDS[0].tolist()}, which holds neither class 1 nor class 102"
    cases = [(toy, _TOY_LABELS, _TOY_IDS), (columns, _TOY_LABELS.T.astype(np.float64), _TOY_IDS.T.astype(np.float64))]
    cases += [(few, _TOY_LABELS, _TOY_FEW_IDS), *((f"the {k} split", labels, v) for k, v in splits.items())]
    for where, toy_labels, ids in cases:
        answer, error = _call(func, toy_labels.copy(), ids.copy())
        if error:
            return _verdict(False, f"on {where}, {error}", _index_hint(error))
        if _unanswered(answer):
            return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
        got, problem, hint = _as_counts(answer)
        if problem:
            return _verdict(False, f"on {where}: {problem}.", hint)
        verdict = _counts_feedback(got, toy_labels, ids, where, labels)
        if verdict is not None:
            return verdict
    train, test = _per_class(labels, splits["train"]), _per_class(labels, splits["test"])
    each = f"exactly {train.min()}" if train.min() == train.max() else f"{train.min()} to {train.max()}"
    return _verdict(True, f"every class has {each} training images; the test split holds {test.min()} to {test.max()} per class.")


def _in_order(labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The split's labels in the order of its 1-based ``ids``: what a DataLoader without shuffling reads."""
    return labels.reshape(-1)[ids.astype(np.int64).reshape(-1) - 1]


def _distinct(flat: np.ndarray, batch_size: int) -> list[int]:
    """Distinct classes in each batch of ``batch_size`` consecutive labels, the last batch shorter."""
    return [len(set(flat[i : i + batch_size].tolist())) for i in range(0, flat.size, batch_size)]


def _batch_sizes(n: int, batch_size: int) -> list[int]:
    """How many images each batch of a DataLoader without shuffling holds: ``batch_size``, the last one shorter."""
    return [min(batch_size, n - start) for start in range(0, n, batch_size)]


def _wrong_images(got: list[int], labels: np.ndarray, ids: np.ndarray, batch_size: int, where: str) -> Verdict | None:
    """The verdict when ``got`` batches the wrong images (every file, or the ids read as positions); else None."""
    every_file = labels.reshape(-1)
    if ids.size != every_file.size and got == _distinct(every_file, batch_size):
        return _verdict(
            False,
            f"on {where}: those are batches of every file ({every_file.size}), not of the split's {ids.size} images.",
            "a loader over a split reads its images in the order of its ids: pick the labels of the ids first",
        )
    truth = _distinct(_in_order(labels, ids), batch_size)
    if got == _distinct(_in_order(labels, np.sort(ids, axis=None)), batch_size) != truth:
        return _verdict(
            False,
            f"on {where}: you sorted the ids; a loader reads a split in the order setid.mat lists them.",
            "keep the ids in the order they come: labels[ids - 1], without sorting",
        )
    positions = np.clip(ids.astype(np.int64).reshape(-1), 0, every_file.size - 1)
    if got == _distinct(every_file[positions], batch_size) != truth:
        return _verdict(
            False, f"on {where}: you used the ids as positions: id 5 is the 5th image, at position 4.", "index with ids - 1"
        )
    return None


def _miscut(got: list[int], flat: np.ndarray, batch_size: int, where: str) -> Verdict | None:
    """The verdict when ``got`` counts class changes, or cuts near-equal chunks instead of batches; else None."""
    changes = [
        1 + int(np.count_nonzero(np.diff(flat[i : i + batch_size].astype(np.int64)))) for i in range(0, flat.size, batch_size)
    ]
    if got == changes:
        return _verdict(
            False,
            f"on {where}: you counted the changes of class; a class that comes back later in a batch is counted twice.",
            "count distinct classes: len(set(batch))",
        )
    chunks = np.array_split(flat, -(-flat.size // batch_size))  # near-equal chunks: sizes differ by 1 at most
    if got == [len(set(c.tolist())) for c in chunks] and [c.size for c in chunks] != _batch_sizes(flat.size, batch_size):
        return _verdict(
            False,
            f"on {where}: your batches are near-equal chunks ({', '.join(str(c.size) for c in chunks)} images for "
            f"{flat.size}, as np.array_split cuts them); a loader takes {batch_size} at a time and only the last batch "
            f"is shorter ({', '.join(map(str, _batch_sizes(flat.size, batch_size)))}).",
            "batches start at 0, batch_size, 2 * batch_size, ...",
        )
    return None


def _batches_feedback(got: list[int], labels: np.ndarray, ids: np.ndarray, batch_size: int, where: str) -> Verdict | None:
    """The verdict on a wrong list of classes per batch, or None if it is right; ``where`` names the case."""
    flat = _in_order(labels, ids)
    truth = _distinct(flat, batch_size)
    if got == truth:
        return None
    if len(got) <= 1 and len(truth) > 1:
        return _verdict(
            False,
            f"on {where}: {len(got)} batch(es) counted, for {len(truth)}: len() of a (1, k) array is 1 (one row), not k.",
            "flatten the arrays first: .reshape(-1)",
        )
    wrong_images = _wrong_images(got, labels, ids, batch_size, where)
    if wrong_images is not None:
        return wrong_images
    if got == truth[:-1] and flat.size % batch_size:
        return _verdict(
            False,
            f"on {where}: the last, shorter batch is missing: {flat.size} images make {len(truth)} batches of up to "
            f"{batch_size}.",
            "a loader keeps a last, shorter batch unless told to drop it",
        )
    if got == _batch_sizes(flat.size, batch_size):
        return _verdict(
            False, f"on {where}: those are the sizes of the batches.", "count the *distinct* classes in each: len(set(...))"
        )
    miscut = _miscut(got, flat, batch_size, where)
    if miscut is not None:
        return miscut
    if len(got) != len(truth):
        return _verdict(
            False,
            f"on {where}: {len(got)} batches, expected {len(truth)}.",
            "batches start at 0, batch_size, 2 * batch_size, ...",
        )
    k = next(k for k in range(len(truth)) if got[k] != truth[k])
    return _verdict(
        False,
        f"on {where}: batch {k} holds {truth[k]} classes, you said {got[k]}.",
        "batch k is the split's images k * batch_size to (k + 1) * batch_size - 1, in the order of the ids: count its "
        "distinct classes",
    )


def _one_case_verdict(
    got: list[int], case: tuple[np.ndarray, np.ndarray, int], notebook_labels: np.ndarray, where: str
) -> Verdict | None:
    """The verdict on one case's list of classes per batch (the labels, ids and batch size of ``case``); None if right.

    A list that is the notebook's labels' answer is named so, unless a named mistake explains it better.
    """
    labels, ids, batch_size = case
    with contextlib.redirect_stdout(io.StringIO()) as said:  # a verdict prints as it is made: one is shown
        verdict = _batches_feedback(got, labels, ids, batch_size, where)
    generic = verdict is not None and re.search(r"batch \d+ holds \d+ classes, you said|\d+ batches, expected", verdict.message)
    if generic and _read_the_notebook(got, labels, notebook_labels, lambda other: _distinct(_in_order(other, ids), batch_size)):
        return _verdict(False, f"on {where}: {_NOTEBOOK_LABELS[0]}", _NOTEBOOK_LABELS[1])
    if verdict is not None:
        print(said.getvalue(), end="")
    return verdict


def _batch_cases(root: str | Path) -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    """(where, labels, ids, batch_size): three made-up files, then the train split at ``root`` in batches of 64."""
    labels, splits = _raw(root)
    not_grouped = np.array([[3, 3, 1, 3, 7, 7, 2, 7, 7, 1, 2]], dtype=np.uint8)  # class 3 comes back within a batch
    # 10 images in batches of 4 are 4, 4 and 2; np.array_split's near-equal chunks (4, 3, 3) hold other classes
    short_last = np.array([[9, 9, 9, 9, 4, 4, 4, 6, 6, 8, 5, 5]], dtype=np.uint8)
    every = np.arange(1, 13, dtype=np.uint16)[None, :10]
    return [
        (f"made-up labels of {_TOY_LABELS.size} files and a split of {_TOY_IDS.size} ids {_TOY_IDS[0].tolist()}", _TOY_LABELS,
         _TOY_IDS, 4),
        (f"made-up labels {not_grouped[0].tolist()}, a split of every file", not_grouped,
         np.arange(1, 12, dtype=np.uint16)[None], 4),
        (f"made-up labels {short_last[0].tolist()}, a split of the first 10 files", short_last, every, 4),
        ("the train split, batches of 64", labels, splits["train"], 64),
    ]  # fmt: skip


def check_classes_per_batch(func: Callable[[np.ndarray, np.ndarray, int], Any], root: str | Path) -> Verdict:
    """Notebook ``00_the_challenge``: ``func(labels, ids, batch_size)`` counts the classes in each batch of a split read in order.

    ``labels`` and ``ids`` are as ``loadmat`` returns them ((1, N) uint8; (1, k) uint16, 1-based); the batches are
    the split's images in the order of its ids, ``batch_size`` at a time and the last one shorter, as a DataLoader
    without shuffling takes them. Run on made-up files (a split on the borders of class blocks, one not grouped by
    class, one whose near-equal chunks differ from its batches), then on the train split at ``root``.
    """
    notebook_labels, splits = _raw(root)
    for where, labels, ids, batch_size in _batch_cases(root):
        answer, error = _call(func, labels.copy(), ids.copy(), batch_size)
        if error:
            hint = "loadmat gives (1, N) arrays: flatten them first, .reshape(-1)" if "unhashable" in error else RAISED_HINT
            if "out of bounds" in error:
                hint = "ids are 1-based: the last id is the number of files, at position N - 1"
                if re.search(r"axis 0 with size 1\b(?!\d)", error):  # labels[ids - 1] on the (1, N) array itself
                    hint = "loadmat gives (1, N) arrays: flatten them first, .reshape(-1)"
            return _verdict(False, f"on {where}: {error}", hint)
        if _unanswered(answer):
            return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
        try:  # at most one batch per image, plus one to see that there are too many: a student's generator may not end
            got = [int(n) for n in itertools.islice(answer, ids.size + 1)]
        except (TypeError, ValueError):
            return _verdict(
                False,
                f"on {where}: expected one number per batch, got {answer!r:.60}.",
                "return a list: [classes in batch 0, ...]",
            )
        verdict = _one_case_verdict(got, (labels, ids, batch_size), notebook_labels, where)
        if verdict is not None:
            return verdict
    per_batch = _distinct(_in_order(notebook_labels, splits["train"]), 64)
    counts = Counter(per_batch)
    most, n = counts.most_common(1)[0]
    return _verdict(
        True,
        f"read in order, {n} of the {sum(counts.values())} batches of 64 training images hold {most} "
        f"class{'es' * (most != 1)}, and none holds more than {max(counts)} of the {NUM_CLASSES}. Your function's "
        f"list for them: {per_batch}",
    )
