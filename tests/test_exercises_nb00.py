"""Checkers of notebook 00_the_challenge (flowerkit.exercises.nb00): each accepts the reference and names each planted mistake."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest
import torch

from flowerkit import exercises
from flowerkit.exercises import nb00


def images_per_class(labels, ids):  # the reference solution of exercise 1
    classes = labels.astype(np.int64).reshape(-1)[ids.astype(np.int64).reshape(-1) - 1] - 1
    return np.bincount(classes, minlength=102)


def classes_per_batch(labels, ids, batch_size):  # the reference solution of exercise 2
    in_order = labels.reshape(-1)[ids.astype(np.int64).reshape(-1) - 1]
    return [len(set(in_order[start : start + batch_size].tolist())) for start in range(0, in_order.size, batch_size)]


def _float_counts(labels, ids):  # np.unique's counts written into np.zeros: float64 whole numbers
    values, counts = np.unique(labels.reshape(-1)[ids.reshape(-1).astype(int) - 1].astype(int) - 1, return_counts=True)
    out = np.zeros(102)
    out[values] = counts
    return out


def _near_equal_chunks(labels, ids, batch_size):  # np.array_split: chunk sizes differ by 1 at most, not a short last batch
    flat = labels.reshape(-1)[ids.reshape(-1).astype(int) - 1]
    return [len(set(c.tolist())) for c in np.array_split(flat, math.ceil(flat.size / batch_size))]


def _one_per_row(labels, ids):  # for i in range(len(ids)): len() of the (1, k) row is 1
    counts = np.zeros(102, dtype=np.int64)
    flat, idx = labels.astype(np.int64).reshape(-1), ids.astype(np.int64).reshape(-1)
    for i in range(len(ids)):
        counts[flat[idx[i] - 1] - 1] += 1
    return counts


def _in_order(labels, ids):
    return labels.reshape(-1)[ids.reshape(-1).astype(int) - 1]


@pytest.mark.parametrize(
    "answer, feedback",
    [
        (images_per_class, "Correct! every class has exactly 10 training images"),
        (lambda labels, ids: ..., "still the stub"),
        (lambda labels, ids: np.bincount(labels.reshape(-1)[ids.reshape(-1) - 1], minlength=102), "counted 1-based"),
        (lambda labels, ids: np.bincount(labels.reshape(-1).astype(int) - 1, minlength=102), "you counted every file"),
        (lambda labels, ids: np.bincount(labels.reshape(-1)[ids.reshape(-1)] - 1, minlength=102), "ids are 1-based"),
        (
            lambda labels, ids: np.bincount(labels[0, np.clip(ids.reshape(-1), 0, labels.size - 1)] - 1, minlength=102),
            "you used the ids as positions",
        ),
        (lambda labels, ids: np.bincount(labels[ids - 1] - 1, minlength=102), ".reshape(-1) flattens both"),
        (lambda labels, ids: np.bincount(labels - 1, minlength=102), ".reshape(-1) flattens both"),
        (_one_per_row, "you counted 1 image of the 12: len() of a (1, k) array is 1"),
        (  # nb00-14's row spelling, labels[0], copied: right on the rows, and size 1 along axis 0 on the columns
            lambda labels, ids: np.bincount(labels.astype(np.int64)[0][ids.astype(np.int64).reshape(-1) - 1] - 1, minlength=102),
            "a row (1, N) or a column (N, 1) has size 1 along one axis",
        ),
        (lambda labels, ids: images_per_class(labels, ids)[:50], "50 counts, expected 102"),
        # sized by the largest class seen: right while a split holds class 102, short on one that does not
        (lambda labels, ids: np.bincount(_in_order(labels, ids).astype(np.int64) - 1), "a split need not hold the last class"),
        (lambda labels, ids: np.histogram(_in_order(labels, ids), bins=102)[0], "your histogram's 102 bins divide the span"),
        (lambda labels, ids: np.histogram(_in_order(labels, ids) - 1, bins=102, range=(0, 102))[0], "Correct! every class"),
        (
            lambda labels, ids: torch.histc(torch.as_tensor(_in_order(labels, ids) - 1.0), bins=102).numpy(),
            "your histogram's 102 bins divide the span",
        ),
        (  # np.unique's counts: one per class present
            lambda labels, ids: np.unique(_in_order(labels, ids), return_counts=True)[1],
            "one per class the split holds",
        ),
        (  # torch on the float64 columns: torch's wording of NumPy's errors
            lambda labels, ids: torch.bincount(
                torch.as_tensor(labels.reshape(-1)[ids.reshape(-1).astype(int) - 1] - 1), minlength=102
            ),
            ".astype(np.int64) before",
        ),
        (
            lambda labels, ids: torch.bincount(
                torch.as_tensor(labels.astype(np.int64))[0][torch.as_tensor(ids.astype(np.int64))[0] - 1] - 1, minlength=102
            ),
            "has size 1 along one axis",
        ),
        # right on the (1, N) uint8 arrays, wrong on MATLAB's other way to save them: float64 columns
        (
            lambda labels, ids: np.bincount(labels[0, ids[0].astype(int) - 1].astype(np.int64) - 1, minlength=102),
            "flattens a row and a column",
        ),
        (lambda labels, ids: np.bincount(labels.reshape(-1)[ids.reshape(-1) - 1] - 1, minlength=102), ".astype(np.int64) before"),
        (lambda labels, ids: images_per_class(labels, ids).reshape(1, -1), "a flat array of 102 counts"),
        (lambda labels, ids: Counter(labels.reshape(-1)[ids.reshape(-1) - 1].tolist()), "you returned a Counter"),
        (lambda labels, ids: images_per_class(labels, ids) / 1.0, "Correct! every class"),  # whole numbers as floats
        (lambda labels, ids: images_per_class(labels, ids) + 0.5, "expected whole numbers (counts), got 2.5 among them"),
        (lambda labels, ids: images_per_class(labels, ids).astype(str), "got dtype <U"),
        (_float_counts, "Correct! every class"),
        (
            lambda labels, ids: np.bincount((labels.reshape(-1) - 1)[ids.reshape(-1).astype(int) - 1] - 1, minlength=102),
            "in uint8, 0 - 1 is 255, not -1",
        ),
    ],
)
def test_check_images_per_class(answer, feedback, mini_root, capsys):
    ok = exercises.check_images_per_class(answer, mini_root)
    out = capsys.readouterr().out
    assert feedback in out, out
    assert ok == feedback.startswith("Correct")


@pytest.mark.parametrize(
    "answer, feedback",
    [
        (classes_per_batch, "Correct! read in order"),
        (lambda labels, ids, b: None, "still the stub"),
        (
            lambda labels, ids, b: [len(np.unique(_in_order(labels, ids)[s : s + b])) for s in range(0, len(ids), b)],
            "1 batch(es) counted",
        ),
        (lambda labels, ids, b: [len(set(labels[s : s + b])) for s in range(0, len(labels), b)], "flatten them first"),
        (
            lambda labels, ids, b: [len(set(labels.ravel()[s : s + b])) for s in range(0, labels.size, b)],
            "not of the split's 12 images",
        ),
        (
            lambda labels, ids, b: [len(set(labels.ravel()[ids.ravel().astype(int)][s : s + b])) for s in range(0, ids.size, b)],
            "ids are 1-based: the last id",  # the last id read as a position: past the end of the 40 made-up labels
        ),
        (  # ids - 1 right, but indexing the (1, N) array itself: index 4 is out of bounds for axis 0 with size 1
            lambda labels, ids, b: [
                len(set(labels[ids.ravel().astype(int) - 1][s : s + b].ravel())) for s in range(0, ids.size, b)
            ],
            "flatten them first",
        ),
        (
            lambda labels, ids, b: [
                len(set(labels.ravel()[np.clip(ids.ravel().astype(int), 0, labels.size - 1)][s : s + b]))
                for s in range(0, ids.size, b)
            ],
            "you used the ids as positions",
        ),
        (
            lambda labels, ids, b: [len(set(_in_order(labels, ids)[s : s + b])) for s in range(0, ids.size - b + 1, b)],
            "the last, shorter batch is missing",
        ),
        (lambda labels, ids, b: [len(_in_order(labels, ids)[s : s + b]) for s in range(0, ids.size, b)], "sizes of the batches"),
        (
            lambda labels, ids, b: [
                1 + np.count_nonzero(np.diff(_in_order(labels, ids)[s : s + b].astype(int))) for s in range(0, ids.size, b)
            ],
            "counted the changes of class",
        ),
        (lambda labels, ids, b: len(set(labels.ravel())), "one number per batch"),
        (lambda labels, ids, b: [c + 1 for c in classes_per_batch(labels, ids, b)], "batch 0 holds"),
        (lambda labels, ids, b: classes_per_batch(labels, np.sort(ids, axis=None)[None], b), "you sorted the ids"),
        (_near_equal_chunks, "near-equal chunks (4, 3, 3 images for 10"),
        (lambda labels, ids, b: itertools.repeat(1), "13 batches, expected 3"),  # never ends: the checker stops reading
        (lambda labels, ids, b: np.array(classes_per_batch(labels, ids, b)), "Correct! read in order"),
        (lambda labels, ids, b: (n for n in classes_per_batch(labels, ids, b)), "Correct! read in order"),
    ],
)
def test_check_classes_per_batch(answer, feedback, mini_root, capsys):
    ok = exercises.check_classes_per_batch(answer, mini_root)
    out = capsys.readouterr().out
    assert feedback in out, out
    assert ok == feedback.startswith("Correct")


def test_the_batch_checker_prints_the_train_split_s_list_that_00_compares_with_a_dataloader(mini_root, capsys):
    from flowerkit.access import OxfordFlowers102, read_labels, read_splits

    assert exercises.check_classes_per_batch(classes_per_batch, mini_root)
    labels = read_labels(mini_root / "flowers-102" / "imagelabels.mat")
    train = labels[read_splits(mini_root / "flowers-102" / "setid.mat")["train"] - 1]
    assert np.array_equal(train, OxfordFlowers102(mini_root, "train").labels)
    expected = [len(set(train[s : s + 64].tolist())) for s in range(0, train.size, 64)]
    assert f"Your function's list for them: {expected}" in capsys.readouterr().out


def test_a_checker_returns_a_verdict_that_asserts(mini_root, capsys):
    # notebook 00 says so: true when solved, so `assert exercises.check_...(...)` works, and it shows no Out[n]
    verdict = exercises.check_images_per_class(images_per_class, mini_root)
    assert isinstance(verdict, exercises.Verdict) and verdict and verdict.message.startswith("every class")
    assert not exercises.check_classes_per_batch(lambda labels, ids, b: None, mini_root)
    capsys.readouterr()


def test_a_function_that_reads_the_notebook_s_labels_instead_of_its_argument_is_named(mini_root, default_mini_root, capsys):
    """nb00-14 leaves the dataset's labels in globals (`labels`, `flat`): a function that reads them counts the wrong files."""
    notebook_labels = nb00._raw(mini_root)[0]
    assert not exercises.check_images_per_class(lambda labels, ids: images_per_class(notebook_labels, ids), mini_root)
    assert "not the `labels` your function was given" in capsys.readouterr().out
    # on the course's mini-flowers (the small one's first files happen to give the batches of sorted ids, a named mistake)
    course_labels = nb00._raw(default_mini_root)[0]
    assert not exercises.check_classes_per_batch(
        lambda labels, ids, b: classes_per_batch(course_labels, ids, b), default_mini_root
    )
    out = capsys.readouterr().out
    assert "not the `labels` your function was given" in out and out.count("Not yet") == 1, out  # one verdict, not two
