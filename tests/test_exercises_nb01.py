"""Checkers of notebook 01_access (flowerkit.exercises.nb01): the hunt tool, new layouts, the student's own Dataset, spawn."""

from __future__ import annotations

import csv
import os
import random
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch.utils.data
import torchvision.datasets
from PIL import Image
from scipy.io import loadmat
from torch.utils.data import Dataset
from torchvision.transforms import v2

from flowerkit import access as flowerkit_access
from flowerkit import exercises
from flowerkit.access import OxfordFlowers102, image_path
from flowerkit.exercises import nb01


def _run(checker, answer, *args, capsys):
    ok = checker(answer, *args)
    return ok, capsys.readouterr().out


def label_agreement(dataset, truth, k=200, seed=0):  # the reference solution of the hunt tool
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(dataset), size=min(k, len(dataset)), replace=False)
    return float(np.mean([dataset[i][1] == truth[Path(dataset.image_files[i]).name] for i in picks]))


def _first_k(dataset, truth, k=200, seed=0):
    return float(np.mean([dataset[i][1] == truth[Path(dataset.image_files[i]).name] for i in range(min(k, len(dataset)))]))


def _every_item(dataset, truth, k=200, seed=0):
    return float(np.mean([dataset[i][1] == truth[Path(dataset.image_files[i]).name] for i in range(len(dataset))]))


def _unseeded(dataset, truth, k=200, seed=0):
    return label_agreement(dataset, truth, k, seed=None)


def _attribute_labels(dataset, truth, k=200, seed=0):
    return float(np.mean([dataset.labels[i] == truth[Path(dataset.image_files[i]).name] for i in range(k)]))


def _path_as_key(dataset, truth, k=200, seed=0):
    return float(np.mean([dataset[i][1] == truth[dataset.image_files[i]] for i in range(min(k, len(dataset)))]))


def _seed_ignored(dataset, truth, k=200, seed=0):  # a fixed generator: every call draws the same items
    return label_agreement(dataset, truth, k, seed=0)


def _every_nth(dataset, truth, k=200, seed=0):  # evenly spaced items, not a random sample
    picks = range(0, len(dataset), max(1, len(dataset) // k))[:k]
    return float(np.mean([dataset[i][1] == truth[Path(dataset.image_files[i]).name] for i in picks]))


def _count(dataset, truth, k=200, seed=0):  # how many agree, not the share
    picks = np.random.default_rng(seed).choice(len(dataset), size=min(k, len(dataset)), replace=False)
    return sum(dataset[i][1] == truth[Path(dataset.image_files[i]).name] for i in picks)


def _k_larger_than_the_dataset(dataset, truth, k=200, seed=0):
    picks = np.random.default_rng(seed).choice(len(dataset), size=k, replace=False)
    return float(np.mean([dataset[i][1] == truth[Path(dataset.image_files[i]).name] for i in picks]))


def _reads_twice(dataset, truth, k=200, seed=0):
    """A right sample, each item read twice (once for the label, once for the image)."""
    picks = np.random.default_rng(seed).choice(len(dataset), size=min(k, len(dataset)), replace=False)
    images = [dataset[i][0] for i in picks]  # noqa: F841 - kept, as a tool that looks at the pictures would
    return float(np.mean([dataset[i][1] == truth[Path(dataset.image_files[i]).name] for i in picks]))


def _dot_name(dataset, truth, k=200, seed=0):  # right where image_files holds Path objects only
    picks = np.random.default_rng(seed).choice(len(dataset), size=min(k, len(dataset)), replace=False)
    return float(np.mean([dataset[i][1] == truth[dataset.image_files[i].name] for i in picks]))


def _random_sample_of_k(dataset, truth, k=200, seed=0):
    picks = random.Random(seed).sample(range(len(dataset)), k)  # raises when the dataset is smaller than k
    return float(np.mean([dataset[i][1] == truth[Path(dataset.image_files[i]).name] for i in picks]))


@pytest.mark.parametrize(
    "answer, feedback",
    [
        (label_agreement, "Correct! on 200 sampled training items your tool finds 100% of our labels right"),
        (lambda d, t, k=200, seed=0: None, "still the stub"),
        (_every_item, "fetched 300 different items of a toy pipeline, for k=50"),
        (_reads_twice, "read each sampled item more than once"),
        (_first_k, "looked at the first or last items only"),
        (_unseeded, "the same seed gave two different answers"),
        (_seed_ignored, "seeds 3 and 4 drew the same 20 items: your tool ignores its `seed`"),
        (_every_nth, "seeds 3 and 4 drew the same 20 items"),
        (_attribute_labels, "dataset[i][1]"),
        (_path_as_key, "keyed by file name"),
        (_dot_name, "Path(dataset.image_files[i]).name takes both"),
        (_k_larger_than_the_dataset, "min(k, len(dataset))"),
        (_random_sample_of_k, "min(k, len(dataset))"),
        (lambda d, t, k=200, seed=0: 100 * label_agreement(d, t, k, seed), "a percentage?"),
        (lambda d, t, k=200, seed=0: round(min(k, len(d)) * label_agreement(d, t, k, seed)), "that is a count: divide by"),
        (_count, "that is a count: divide by the number you sampled"),
        (lambda d, t, k=200, seed=0: label_agreement(d, t, k, seed) == 1.0, "True/False"),
        (lambda d, t, k=200, seed=0: 1 - label_agreement(d, t, k, seed), "expected 100%"),
    ],
    ids=lambda v: getattr(v, "__name__", v if isinstance(v, str) else "")[:40],
)
def test_check_label_agreement_feedback(answer, feedback, mini_root, capsys):
    ok = exercises.check_label_agreement(answer, mini_root)
    out = capsys.readouterr().out
    assert feedback in out, out
    assert ok == feedback.startswith("Correct")


def test_check_label_agreement_compares_with_the_count_over_every_item(mini_root, capsys):
    # right on the toy pipelines, wrong on the real ones: only the Access team's training set can catch it
    def always_right_on_big_sets(dataset, truth, k=200, seed=0):
        return 1.0 if len(dataset) > 1000 else label_agreement(dataset, truth, k, seed)

    assert not exercises.check_label_agreement(always_right_on_big_sets, mini_root)
    assert "on the Access team's training set your tool says 100.0%" in capsys.readouterr().out


def csv_agreement(csv_path, truth):  # the reference solution of exercise 5
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    return float(np.mean([int(row["label"]) - 1 == truth[Path(row["file"]).name] for row in rows]))


def _split_lines(csv_path, truth, skip_header=True, strip=False):
    text = Path(csv_path).read_text()
    lines = (text.strip() if strip else text).split("\n")[1 if skip_header else 0 :]
    return float(np.mean([int(c) - 1 == truth[Path(f).name] for f, c in (line.split(",") for line in lines)]))


def _path_as_csv_key(csv_path, truth):
    with open(csv_path, newline="") as f:
        return float(np.mean([int(row["label"]) - 1 == truth[row["file"]] for row in csv.DictReader(f)]))


def _label_as_text(csv_path, truth):  # the 1-based label handled, but as the text the CSV holds: never equal to an int
    with open(csv_path, newline="") as f:
        return float(np.mean([row["label"] == truth[Path(row["file"]).name] + 1 for row in csv.DictReader(f)]))


def _sorted_apart(csv_path, truth):  # file names sorted on their own: each file meets another row's label
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    files = sorted(row["file"] for row in rows)
    return float(np.mean([int(row["label"]) - 1 == truth[Path(f).name] for f, row in zip(files, rows)]))


def _csv_count(csv_path, truth):  # how many rows agree, not the share
    with open(csv_path, newline="") as f:
        return sum(int(row["label"]) - 1 == truth[Path(row["file"]).name] for row in csv.DictReader(f))


def _next_row(csv_path, truth):
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    labels = [r["label"] for r in rows[1:]] + [rows[0]["label"]]  # each file with the next row's label
    return float(np.mean([int(c) - 1 == truth[Path(r["file"]).name] for r, c in zip(rows, labels)]))


def _one_row_per_photo(csv_path, truth, last=True):  # a dict keyed by the file: a photo's second row replaces its first
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    checked = {Path(row["file"]).name: int(row["label"]) - 1 for row in (rows if last else rows[::-1])}
    return float(np.mean([label == truth[name] for name, label in checked.items()]))


@pytest.mark.parametrize(
    "answer, feedback",
    [
        (csv_agreement, "Correct!"),
        (_one_row_per_photo, "it kept one row per photo"),
        (lambda p, t: _one_row_per_photo(p, t, last=False), "it kept one row per photo"),
        (lambda p, t: np.float32(csv_agreement(p, t)), "Correct!"),  # float32 arithmetic: 0.6666667
        (lambda p, t: round(csv_agreement(p, t), 3), "Correct!"),
        (lambda p, t: ..., "still the stub"),
        (lambda p, t: _split_lines(p, t, skip_header=False), "the first row is a header"),
        (lambda p, t: _split_lines(p, t), "skip empty rows"),
        (lambda p, t: _split_lines(p, t, strip=True), "read them by the header's names"),
        (lambda p, t: csv_agreement(p, {k: v - 1 for k, v in t.items()}), "the labels are 1-based"),  # no - 1
        (_label_as_text, "'5' == 5 is False"),
        (lambda p, t: csv_agreement(p, {k: v + 1 for k, v in t.items()}), "no row agrees, though every row is right"),
        (_sorted_apart, "no row agrees, though every row is right"),  # an int compare, wrong pairs: not the text
        (_path_as_csv_key, "Path(row['file']).name"),
        (_next_row, "your function says"),
        (lambda p, t: csv_agreement(p, t) * 30 / 31, "counted a row too many"),
        (lambda p, t: csv_agreement(p, t) * 30 / 32, "counted 2 rows too many"),  # split("\\n"): 2 blank lines
        (lambda p, t: 100 * csv_agreement(p, t), "a percentage?"),
        (_csv_count, "that is a count: divide by the number of photo rows"),
    ],
    ids=lambda v: getattr(v, "__name__", v if isinstance(v, str) else "")[:40],
)
def test_check_csv_agreement_feedback(answer, feedback, capsys):
    ok = exercises.check_csv_agreement(answer)
    out = capsys.readouterr().out
    assert feedback in out, out
    assert ok == feedback.startswith("Correct")


def herbarium_items(index, labels, positions):  # the reference solution of exercise 6
    return [(index[p], int(labels[p])) for p in positions]


@pytest.mark.parametrize(
    "answer, feedback",
    [
        (herbarium_items, "Correct!"),
        (lambda i, l, p: [(i[q], int(l[q])) for q in sorted(p)], "Correct!"),  # any order: a split is a set of items
        (lambda i, l, p: {i[q]: l[q] for q in p}, "Correct!"),
        (lambda i, l, p: None, "still the stub"),
        (lambda i, l, p: [(i[q - 1], int(l[q - 1])) for q in p], "here positions are 0-based"),
        (lambda i, l, p: [(f"scan_{q:04d}.png", int(l[q])) for q in p], "you built each name from its position"),
        (lambda i, l, p: [(sorted(i)[q], int(l[q])) for q in p], "you sorted the index"),
        (lambda i, l, p: [(i[q], int(l[q]) - 1) for q in p], "already 0-based"),
        (lambda i, l, p: [(i[q], 0) for q in p], "the files are right"),
        (lambda i, l, p: [i[q] for q in p], "expected (file, label) pairs"),
        (lambda i, l, p: 1 / 0, "ZeroDivisionError"),
        (lambda i, l, p: [(i[q], int(l[q])) for q in p[:-1]], "4 pairs for 5 positions"),
        (lambda i, l, p: [(i[(q + 3) % len(i)], int(l[q])) for q in p], "5 of your 5 pairs are not items of the split"),
        (lambda i, l, p: 7, "expected (file, label) pairs, got 7"),
    ],
)
def test_check_herbarium_items_feedback(answer, feedback, capsys):
    ok = exercises.check_herbarium_items(answer)
    out = capsys.readouterr().out
    assert feedback in out, out
    assert ok == feedback.startswith("Correct")
    assert "for p in positions" not in out  # no hint is the reference solution


def _id(name):  # IMG_0057.jpeg -> 57
    return int(name[4:8])


def test_check_pair_files(capsys):
    right = lambda names, labels: [(n, labels[_id(n) - 1]) for n in names if n.startswith("IMG_")]  # noqa: E731
    assert exercises.check_pair_files(right)
    assert not exercises.check_pair_files(lambda names, labels: list(zip(names, labels)))
    assert "not images" in capsys.readouterr().out
    assert not exercises.check_pair_files(lambda names, labels: list(zip([n for n in names if n.startswith("IMG_")], labels)))
    assert "listing order" in capsys.readouterr().out
    assert not exercises.check_pair_files(lambda names, labels: [(n, labels[_id(n) - 1]) for n in names])
    out = capsys.readouterr().out
    assert "invalid literal" in out and "skip names that are not IMG_NNNN.jpeg" in out, out
    twice = lambda names, labels: [(n, labels[_id(n) - 1] - 1) for n in names if n.startswith("IMG_")]  # noqa: E731
    assert not exercises.check_pair_files(twice)  # Oxford's - 1 applied to labels that are 0-based already
    assert "0-based already" in capsys.readouterr().out


def test_check_pair_files_refuses_oxfords_pattern_copied_from_notebook_00(capsys):
    oxford = re.compile(r"image_\d{5}\.jpg")  # nb00-08's pattern: no name of this folder matches it
    assert not exercises.check_pair_files(
        lambda names, labels: [(n, labels[int(n[6:11]) - 1]) for n in names if oxford.fullmatch(n)]
    )
    assert "Not yet" in capsys.readouterr().out


def test_check_pair_files_rejects_sorted_positions_and_apple_double_files(capsys):
    """Sorting the listing and pairing by position is right on a complete folder only; a ._ file ends in .jpeg too."""
    images = lambda names: sorted(n for n in names if n.startswith("IMG_"))  # noqa: E731
    assert not exercises.check_pair_files(lambda names, labels: [(n, labels[k]) for k, n in enumerate(images(names))])
    assert "IMG_0057.jpeg is not in this folder" in capsys.readouterr().out
    assert not exercises.check_pair_files(
        lambda names, labels: [(n, labels[int(n[-9:-5]) - 1]) for n in names if n.endswith(".jpeg")]
    )
    out = capsys.readouterr().out
    assert "macOS metadata" in out and "ends in .jpeg" in out, out
    assert not exercises.check_pair_files(lambda names, labels: [(n, labels[_id(n) - 1]) for n in images(names)][:-1])
    assert "expected 119" in capsys.readouterr().out
    # a complete folder assumed: the deleted photo's name is built from the ids, though the listing lacks it
    assert not exercises.check_pair_files(lambda names, labels: [(f"IMG_{i:04d}.jpeg", labels[i - 1]) for i in range(1, 121)])
    assert "IMG_0057.jpeg, which is not in the listing" in capsys.readouterr().out
    assert not exercises.check_pair_files(lambda names, labels: 120)
    assert "expected (file, label) pairs" in capsys.readouterr().out


def test_check_pair_files_hints_at_1_based_ids_and_accepts_a_dict(capsys):
    assert not exercises.check_pair_files(lambda names, labels: [(n, labels[_id(n)]) for n in names if n.startswith("IMG_")])
    assert "image ids start at 1" in capsys.readouterr().out
    assert exercises.check_pair_files(lambda names, labels: {n: labels[_id(n) - 1] for n in names if n.startswith("IMG_")})


SPLIT_VARIABLE = {"train": "trnid", "val": "valid", "test": "tstid"}


class RightFlowers(Dataset):
    """The reference answer of notebook 01's Dataset exercise; subclasses below each plant one classic mistake."""

    def __init__(self, root, split="train", transform=None, target_transform=None):
        self.transform, self.target_transform = transform, target_transform
        self.base = Path(root) / "flowers-102"
        self.raw_labels = loadmat(self.base / "imagelabels.mat", squeeze_me=True)["labels"]
        self.ids = loadmat(self.base / "setid.mat", squeeze_me=True)[SPLIT_VARIABLE[split]].astype(np.int64)
        self.files = [self.base / "jpg" / f"image_{i:05d}.jpg" for i in self.ids]
        self.labels = (self.raw_labels.astype(np.int64)[self.ids - 1] - 1).tolist()

    def __len__(self):
        return len(self.files)

    def load(self, idx):
        with Image.open(self.files[idx]) as img:
            return img.convert("RGB")

    def __getitem__(self, idx):
        image, label = self.load(idx), self.labels[idx]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label


class StubFlowers(Dataset):
    def __init__(self, root, split="train", transform=None, target_transform=None): ...

    def __len__(self): ...

    def __getitem__(self, idx): ...


class OneBasedLabels(RightFlowers):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.labels = [label + 1 for label in self.labels]


class Uint8Wrap(RightFlowers):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.labels = [int(v) for v in (self.raw_labels[self.ids - 1] - 1 - 1)]  # "-1" twice, in uint8


class IdsAsPositionsForLabels(RightFlowers):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        flat = self.raw_labels.astype(np.int64) - 1
        self.labels = flat[np.minimum(self.ids, flat.size - 1)].tolist()


class IdsAsPositionsInInit(RightFlowers):  # the first attempt cell 49 expects: the last id indexes past the end
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.labels = (self.raw_labels.astype(np.int64)[self.ids] - 1).tolist()


class IdsAsPositionsInGetitem(RightFlowers):
    def __getitem__(self, idx):
        return self.load(idx), int(self.raw_labels.astype(np.int64)[self.ids[idx]] - 1)


class OffByOneFiles(RightFlowers):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.files = [self.base / "jpg" / f"image_{i + 1:05d}.jpg" for i in self.ids]  # sorted(listdir)[i]: image i + 1


class ListingOrder(RightFlowers):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        listing = [n for n in os.listdir(self.base / "jpg") if n.endswith(".jpg")]
        self.files = [self.base / "jpg" / listing[i - 1] for i in self.ids]


class SortedListing(RightFlowers):  # right on a complete folder, where the sorted listing is the ids
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        listing = sorted(n for n in os.listdir(self.base / "jpg") if n.startswith("image_"))
        self.files = [self.base / "jpg" / listing[i - 1] for i in self.ids]


class SortedIdsAsPositions(RightFlowers):  # the Access team's slip on a sorted listing: files[i] for id i
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        listing = sorted(n for n in os.listdir(self.base / "jpg") if n.endswith(".jpg"))
        self.files = [self.base / "jpg" / listing[min(i, len(listing) - 1)] for i in self.ids]


class SortedFilteredListing(RightFlowers):  # the sorted listing of names that match the pattern exactly, by position
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        listing = sorted(n for n in os.listdir(self.base / "jpg") if re.fullmatch(r"image_\d{5}\.jpg", n))
        self.files = [self.base / "jpg" / listing[min(i - 1, len(listing) - 1)] for i in self.ids]


class OnVisionDataset(RightFlowers, torchvision.datasets.VisionDataset):  # written by hand on torchvision's base
    pass


class SortedIds(RightFlowers):  # the right files and labels, in id order rather than setid.mat's
    def __init__(self, root, split="train", transform=None, target_transform=None):
        super().__init__(root, split, transform, target_transform)
        order = np.argsort(self.ids)
        self.ids, self.files = self.ids[order], [self.files[i] for i in order]
        self.labels = [self.labels[i] for i in order]


class FlowerkitReaders(RightFlowers):  # steps 1-3 done by flowerkit's readers, which the cell after the exercise reveals
    def __init__(self, root, split="train", transform=None, target_transform=None):
        super().__init__(root, split, transform, target_transform)
        self.ids = flowerkit_access.read_splits(self.base / "setid.mat")[split]


class ReaderByName(RightFlowers):  # flowerkit's image_path imported on its own: the module patch does not reach it
    def __init__(self, root, split="train", transform=None, target_transform=None):
        super().__init__(root, split, transform, target_transform)
        self.files = [image_path(root, int(i)) for i in self.ids]


class ReaderPerItem(RightFlowers):  # flowerkit's reader called in __getitem__: refused there, named as such
    def load(self, idx):
        with Image.open(flowerkit_access.image_path(self.base.parent, int(self.ids[idx]))) as img:
            return img.convert("RGB")


class SubclassesFlowerkit(OxfordFlowers102):
    pass


class WrapsFlowerkit(Dataset):  # flowerkit's class inside: nothing of the exercise written
    def __init__(self, root, split="train", transform=None, target_transform=None):
        self.inner = flowerkit_access.OxfordFlowers102(root, split, transform=transform, target_transform=target_transform)

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, idx):
        return self.inner[idx]


class WrapsTorchvision(WrapsFlowerkit):
    def __init__(self, root, split="train", transform=None, target_transform=None):
        self.inner = torchvision.datasets.Flowers102(root, split, transform=transform, target_transform=target_transform)


class NoTransform(RightFlowers):
    def __getitem__(self, idx):
        return self.load(idx), self.labels[idx]


class NoTargetTransform(RightFlowers):
    def __getitem__(self, idx):
        image = self.load(idx)
        return (self.transform(image) if self.transform else image), self.labels[idx]


class TargetTransformOnlyWithTransform(RightFlowers):  # the label's transform nested under the image's test
    def __getitem__(self, idx):
        image, label = self.load(idx), self.labels[idx]
        if self.transform is not None:
            image = self.transform(image)
            label = self.target_transform(label)
        return image, label


class OnlyBoth(RightFlowers):  # both transforms applied together or not at all
    def __getitem__(self, idx):
        image, label = self.load(idx), self.labels[idx]
        if self.transform and self.target_transform:
            image, label = self.transform(image), self.target_transform(label)
        return image, label


class TransformBeforeConvert(RightFlowers):  # the transform sees the grayscale photo as it is
    def __getitem__(self, idx):
        with Image.open(self.files[idx]) as img:
            img.load()
            image = self.transform(img) if self.transform is not None else img.convert("RGB")
        label = self.labels[idx]
        return image, self.target_transform(label) if self.target_transform is not None else label


class StringSplitKey(RightFlowers):  # setid["train"]: the variables are trnid, valid, tstid
    def __init__(self, root, split="train", transform=None, target_transform=None):
        loadmat(Path(root) / "flowers-102" / "setid.mat")[split]


class ReturnsPath(RightFlowers):
    def __getitem__(self, idx):
        return self.files[idx], self.labels[idx]


class ReturnsDict(RightFlowers):
    def __getitem__(self, idx):
        return {"image": self.load(idx), "label": self.labels[idx]}


class Uint8Label(RightFlowers):
    def __getitem__(self, idx):
        return self.load(idx), np.uint8(self.labels[idx])


class UnsqueezedLength(RightFlowers):
    def __len__(self):
        return len(loadmat(self.base / "setid.mat")["trnid"])  # (1, N): len() is 1


class EveryImage(RightFlowers):
    def __len__(self):
        return self.raw_labels.size


class WrongSignature(RightFlowers):
    def __init__(self, root):
        super().__init__(root)


class IgnoresSplit(RightFlowers):  # step 2's `trnid` copied into __init__: every split gives the training items
    def __init__(self, root, split="train", transform=None, target_transform=None):
        super().__init__(root, "train", transform, target_transform)


class ClosedImage(RightFlowers):  # the reference's `with` without .convert: the file closes before the pixels are read
    def load(self, idx):
        with Image.open(self.files[idx]) as img:
            return img


class NoConvert(RightFlowers):  # right on RGB JPEGs only
    def load(self, idx):
        return Image.open(self.files[idx])


class TensorImage(RightFlowers):
    def load(self, idx):
        return v2.functional.pil_to_tensor(super().load(idx))


class LabelFirst(RightFlowers):
    def __getitem__(self, idx):
        image, label = super().__getitem__(idx)
        return label, image


class HoldsOpenFile(RightFlowers):  # importable by name, but an open file cannot be pickled for a worker
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.labels_file = open(self.base / "imagelabels.mat", "rb")  # noqa: SIM115


class FailsLate(RightFlowers):
    def __getitem__(self, idx):
        if idx >= 500:  # past the toy dataset: only the real split reaches it
            raise OSError("cannot identify image file")
        return super().__getitem__(idx)


@pytest.mark.parametrize(
    "cls, feedback",
    [
        (RightFlowers, "Correct! your RightFlowers agrees with torchvision's Flowers102 on all"),
        (StubFlowers, "still the stub"),
        (OneBasedLabels, "labels are 1-based"),
        (Uint8Wrap, "wrapped around"),
        (IdsAsPositionsForLabels, "off-by-one ids"),
        (IdsAsPositionsInInit, "off-by-one ids, most likely. The last image has id 24"),
        (IdsAsPositionsInGetitem, "item 3 (id 24): your function raised IndexError: index 24 is out of bounds"),
        (OffByOneFiles, "off-by-one ids: item 0 should be image_00007.jpg, you opened image_00008.jpg"),
        (ListingOrder, "follow the directory listing"),
        (SortedListing, "your files come from the folder's listing, by position, not from the split's ids"),
        (SortedIdsAsPositions, "off-by-one ids: item 1 should be image_00012.jpg, you opened image_00013.jpg"),
        (SortedFilteredListing, "the k-th of a sorted, filtered listing. The folder has no image_00009.jpg"),
        (OnVisionDataset, "Correct"),  # torchvision's base class for datasets of one's own: no library Dataset
        (SortedIds, "your items are the split's files, sorted by id"),
        (FlowerkitReaders, "calls flowerkit's readers of the .mat files and ids"),
        (ReaderByName, "calls flowerkit's readers of the .mat files and ids"),
        (ReaderPerItem, "calls flowerkit's readers of the .mat files and ids"),
        (WrapsTorchvision, "builds a library's Flowers Dataset inside"),  # refused on the toy already
        (OxfordFlowers102, "OxfordFlowers102 is flowerkit's access.OxfordFlowers102: this exercise is to write"),
        (SubclassesFlowerkit, "flowerkit's access.OxfordFlowers102, subclassed"),
        (flowerkit_access.torchvision_flowers102, "flowerkit's access.torchvision_flowers102"),
        (torchvision.datasets.Flowers102, "torchvision's Flowers102"),
        (WrapsFlowerkit, "builds a library's Flowers Dataset inside"),
        (NoTransform, "does not call self.transform"),
        (NoTargetTransform, "does not call self.target_transform"),
        (TargetTransformOnlyWithTransform, "with only a transform: your function raised TypeError"),
        (OnlyBoth, "with only a transform, __getitem__ does not call self.transform on the image"),
        (TransformBeforeConvert, "the transform was given a L image (the grayscale photo)"),
        (StringSplitKey, "setid.mat holds one variable per split: trnid (train)"),
        (ReturnsPath, "the image is a path"),
        (ReturnsDict, "expected a pair (image, label)"),
        (Uint8Label, "expected a plain int"),
        (UnsqueezedLength, "len() of a (1, N) MATLAB array is 1"),
        (EveryImage, "the number of *all* images"),
        (IgnoresSplit, "IgnoresSplit(root, 'val') has 8 items, as many as the train split"),
        (ClosedImage, "the image's file is closed and its pixels were never read"),
        (NoConvert, "the image has mode 'L', expected 'RGB'"),
        (TensorImage, "the image is a Tensor, expected a PIL image"),
        (LabelFirst, "your items are (label, image)"),
        (WrongSignature, "TypeError"),
        (FailsLate, "on the train split, item 500: your function raised OSError: cannot identify image file"),
        (None, "no answer yet"),
    ],
    ids=lambda v: v if isinstance(v, str) else getattr(v, "__name__", str(v)),
)
def test_check_flowers_dataset_feedback(cls, feedback, mini_root, capsys):
    ok = exercises.check_flowers_dataset(cls, mini_root)
    out = capsys.readouterr().out
    assert feedback in out, out
    assert ok == feedback.startswith("Correct")
    assert ok or "\nHint: " in out, out  # every "Not yet" says what to try


def test_check_flowers_dataset_finds_a_wrong_item_on_the_real_split(mini_root, capsys):
    class LastLabelWrong(RightFlowers):  # right on the toy dataset, wrong on one item of the real split
        def __init__(self, root, *args, **kw):
            super().__init__(root, *args, **kw)
            if len(self.labels) > 100:
                self.labels[-1] = (self.labels[-1] + 1) % 102

    assert not exercises.check_flowers_dataset(LastLabelWrong, mini_root)
    assert "on the train split, item 1019" in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, feedback",
    [
        ("d", "Correct!"),
        ("(D)", "Correct!"),
        ("a", "before any network trained on them"),
        ("b", "found the validation photos' labels right"),
        ("c", "decode whole"),
        ("e", "label counts look healthy"),
        ("z", "not one of the suspects"),
        (None, "no answer yet"),
    ],
)
def test_check_access_cause_feedback(answer, feedback, capsys):
    ok = exercises.check_access_cause(answer)
    assert feedback in capsys.readouterr().out
    assert ok == (feedback == "Correct!")


def test_check_spawn_ready_passes_an_importable_class_and_explains_a_notebook_class(mini_root, capsys):
    assert exercises.check_spawn_ready(RightFlowers(mini_root))
    assert "spawn workers can too" in capsys.readouterr().out
    in_notebook = type("FlowersDataset", (RightFlowers,), {"__module__": "__main__"})
    assert not exercises.check_spawn_ready(in_notebook(mini_root))
    out = capsys.readouterr().out
    assert "lives in the notebook (__main__)" in out and "%%writefile" in out
    assert not exercises.check_spawn_ready(StubFlowers(mini_root))
    assert "still the stub" in capsys.readouterr().out
    # a Subset of theirs (two batches read another way): judged by the class it wraps, not refused as torch's
    assert exercises.check_spawn_ready(torch.utils.data.Subset(RightFlowers(mini_root), range(128)))
    assert "RightFlowers, unpickled your dataset" in capsys.readouterr().out
    assert not exercises.check_spawn_ready(torch.utils.data.Subset(in_notebook(mini_root), range(128)))
    assert "lives in the notebook (__main__)" in capsys.readouterr().out


def test_check_spawn_ready_names_a_class_passed_itself_and_an_open_file(mini_root, capsys):
    assert not exercises.check_spawn_ready(OxfordFlowers102(mini_root, "val"))  # flowerkit's: no work of the student's
    assert "is flowerkit's class, importable by name already" in capsys.readouterr().out
    assert not exercises.check_spawn_ready(torch.utils.data.DataLoader(RightFlowers(mini_root)))
    assert "pass the dataset itself (loader.dataset)" in capsys.readouterr().out
    assert not exercises.check_spawn_ready(RightFlowers)  # as check_flowers_dataset takes it: the class, not an instance
    assert "you passed the class RightFlowers itself" in capsys.readouterr().out
    assert not exercises.check_spawn_ready(HoldsOpenFile(mini_root))
    out = capsys.readouterr().out
    assert "holds an open file" in out and "open each file in __getitem__" in out, out
    items = [RightFlowers(mini_root)[i] for i in range(3)]  # a list of items, or a batch: data, not the dataset
    assert not exercises.check_spawn_ready(items)
    assert "you passed a list" in capsys.readouterr().out


def test_check_spawn_ready_tells_an_item_that_fails_from_a_dataset_that_does_not_unpickle(mini_root, tmp_path, capsys):
    """A module that forgot an import unpickles, then fails reading item 0: not an importability problem."""
    import importlib

    (tmp_path / "forgot_import.py").write_text(
        "from torch.utils.data import Dataset\n\n\nclass Flowers(Dataset):\n    def __len__(self):\n        return 3\n\n"
        "    def __getitem__(self, i):\n        return np.zeros(3), i  # numpy never imported in this file\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("forgot_import")
        assert not exercises.check_spawn_ready(module.Flowers())
    finally:
        sys.path.remove(str(tmp_path))
    out = capsys.readouterr().out
    assert "then failed reading item 0" in out and "NameError" in out and "carry its own imports" in out, out


def _flip(x):
    return x.flip(0)


def _to_small(img):
    return v2.functional.center_crop(v2.functional.resize(v2.functional.pil_to_tensor(img), 32), 32).flip(0)


def test_check_spawn_fix_wants_the_same_items_and_an_importable_transform(mini_root, capsys):
    in_notebook = types.FunctionType(_to_small.__code__, globals(), "to_small")  # as if defined in a notebook cell
    in_notebook.__module__, in_notebook.__qualname__ = "__main__", "to_small"
    colleague = OxfordFlowers102(mini_root, "val", transform=in_notebook)
    same = OxfordFlowers102(mini_root, "val", transform=_to_small)  # the function, importable from this module
    assert exercises.check_spawn_fix(same, colleague)
    assert "its class and its transform are importable by name" in capsys.readouterr().out
    computed = torch.utils.data.TensorDataset(  # every item made up front: right items, but no transform held
        torch.stack([colleague[i][0] for i in range(len(colleague))]),
        torch.tensor([colleague[i][1] for i in range(len(colleague))]),
    )
    assert exercises.check_spawn_fix(computed, colleague) is not None
    out = capsys.readouterr().out
    assert "importable by name (it holds no transform" in out or "Not yet" in out, out
    bgr_lost = OxfordFlowers102(mini_root, "val", transform=v2.Compose([v2.PILToTensor(), v2.Resize(32), v2.CenterCrop(32)]))
    assert not exercises.check_spawn_fix(bgr_lost, colleague)
    assert "the channel flip included" in capsys.readouterr().out
    for answer, says in (
        (..., "no answer yet"),
        (colleague, "still could not receive"),
        (OxfordFlowers102(mini_root, "val", transform=lambda img: _to_small(img)), "pickling it here, before any worker"),
        (
            OxfordFlowers102(mini_root, "val", transform=v2.Compose([v2.PILToTensor(), v2.Resize((32, 32))])),
            "not the colleague's",
        ),
        (OxfordFlowers102(mini_root, "test", transform=_to_small), "items, the colleague's has"),
        (  # the same values as float32: not the same items (np.array_equal alone passed it)
            OxfordFlowers102(mini_root, "val", transform=v2.Compose([_to_small, v2.ToDtype(torch.float32)])),
            "not the colleague's",
        ),
        (OxfordFlowers102(mini_root, "train", transform=_to_small), "not the same files"),  # as long as val, not val
        (  # resized without antialiasing: the same shape and dtype, other pixels
            OxfordFlowers102(
                mini_root,
                "val",
                transform=v2.Compose([v2.PILToTensor(), v2.Resize(32, antialias=False), v2.CenterCrop(32), _flip]),
            ),
            "values differ, by up to",
        ),
        (42, "not a dataset"),
    ):
        assert not exercises.check_spawn_fix(answer, colleague)
        out = capsys.readouterr().out
        assert says in out and "Hint: " in out, out


def test_check_spawn_fix_names_a_module_rewritten_but_not_reloaded(mini_root, tmp_path, monkeypatch, capsys):
    """01's exercise 4: a student fixes my_transforms.py and imports it again; the kernel keeps the old function."""
    import importlib

    monkeypatch.chdir(tmp_path)  # a notebook runs in its own folder, where %%writefile puts the module
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_transforms", raising=False)
    steps = "v2.functional.center_crop(v2.functional.resize(v2.functional.pil_to_tensor(img), 32), 32)"
    module = tmp_path / "my_transforms.py"
    module.write_text(f"from torchvision.transforms import v2\n\n\ndef to_small(img):\n    return {steps}\n")
    first = importlib.import_module("my_transforms")  # the first try forgot the flip
    in_notebook = types.FunctionType(_to_small.__code__, globals(), "to_small")
    in_notebook.__module__, in_notebook.__qualname__ = "__main__", "to_small"
    colleague = OxfordFlowers102(mini_root, "val", transform=in_notebook)
    module.write_text(f"from torchvision.transforms import v2\n\n\ndef to_small(img):\n    return {steps}.flip(0)\n")
    importlib.import_module("my_transforms")  # `import my_transforms` again: nothing happens
    assert not exercises.check_spawn_fix(OxfordFlowers102(mini_root, "val", transform=first.to_small), colleague)
    out = capsys.readouterr().out
    assert "my_transforms.py has changed since this kernel imported it" in out and "importlib.reload" in out, out
    fixed = importlib.reload(first)
    assert exercises.check_spawn_fix(OxfordFlowers102(mini_root, "val", transform=fixed.to_small), colleague)


def test_a_class_from_main_fails_to_unpickle_in_a_fresh_python(tmp_path):
    # what check_spawn_ready shows in the notebook: the class is found by module and name, and a fresh Python has no notebook
    script = (
        "import pickle, subprocess, sys\n"
        "class FlowersDataset: pass\n"
        "blob = pickle.dumps(FlowersDataset())\n"
        "run = subprocess.run([sys.executable, '-c', 'import pickle, sys; pickle.loads(sys.stdin.buffer.read())'], input=blob, capture_output=True)\n"
        "print(run.stderr.decode().strip().splitlines()[-1])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path).stdout
    assert "Can't get attribute 'FlowersDataset'" in out


def test_check_flowers_dataset_reads_flowerkit_s_class_beside_the_student_s(mini_root, capsys, monkeypatch):
    assert exercises.check_flowers_dataset(RightFlowers, mini_root)
    assert (
        "as flowerkit's access.OxfordFlowers102, revealed below, does (files and labels, every item)" in capsys.readouterr().out
    )

    class ShiftedLabels(OxfordFlowers102):  # a flowerkit regression: the checker must not call the student right
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.labels = [(label + 1) % 102 for label in self.labels]

    monkeypatch.setattr(nb01, "OxfordFlowers102", ShiftedLabels)
    assert not exercises.check_flowers_dataset(RightFlowers, mini_root)
    assert "flowerkit's OxfordFlowers102 disagrees with torchvision on train item 0: please report it" in capsys.readouterr().out


def test_no_wrong_cause_names_the_right_one(capsys):
    """A wrong letter's message says what the evidence clears, never what is wrong (one guess would give it away)."""
    for letter in "abce":
        exercises.check_access_cause(letter)
        out = capsys.readouterr().out.lower()
        assert "pair" not in out and "which image carries" not in out and "same file" not in out, (letter, out)
