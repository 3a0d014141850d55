"""Checkers of notebook ``01_access``: the hunt tool, the Access team's cause, the student's own Dataset, spawn workers, new layouts.

The hunt tool (a label-agreement check) is run on toy pipelines of known
agreement, then on our training set and the Access team's.

The Dataset checker first runs a student's class on a toy dataset in the
Oxford format (tiny images painted by id, a shuffled directory listing) to
name the mistake, then compares it with torchvision's Flowers102 item by item.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch.utils.data
import torchvision.datasets
from PIL import Image

from .. import access as _access
from ..access import OxfordFlowers102, image_path, read_labels, read_splits, torchvision_flowers102
from ..facts import DATASET_FOLDER, IMAGE_FOLDER, IMAGE_NAME, LABELS_FILE, SETID_FILE, SPLIT_VARIABLES
from ..synth import _mat_bytes
from ..teams.access import AccessTeamFlowers
from .verdict import (
    RAISED_HINT,
    STUB_HINT,
    Verdict,
    _call,
    _named,
    _names_any,
    _refused,
    _refusing,
    _stale_module_verdict,
    _unanswered,
    _verdict,
)

__all__ = [
    "check_access_cause",
    "check_csv_agreement",
    "check_flowers_dataset",
    "check_herbarium_items",
    "check_label_agreement",
    "check_pair_files",
    "check_spawn_fix",
    "check_spawn_ready",
]

#: The file-name template as a student writes it in the hints: :data:`IMAGE_NAME` with the id named ``i``.
_NAME_TEMPLATE = IMAGE_NAME.replace("{", "{i")
#: Exercise 7's folder: a camera's names (its counter is the photo's id), not Oxford's image_00001.jpg.
_PAIR_NAME = "IMG_{:04d}.jpeg"
#: What every photo of exercise 7's folder looks like, in the hints: ``IMG_NNNN.jpeg``.
_NAME_SHAPE = _PAIR_NAME.format(0).replace("0", "N")
#: The image exercise 7's folder lacks (deleted by a curator), between two images of the same class.
_PAIR_DELETED = 57


_CAUSES = {
    "a": (
        False,
        "no run length explains your tool's numbers: it measured the team's training labels against the reference "
        "before any network trained on them, and the validation photos' labels too.",
        "read your tool's three numbers again, then the pictures with the label each one carries",
    ),
    "b": (
        False,
        "your label-agreement tool found the validation photos' labels right: they agree with torchvision's reference.",
        "look again at what your tool says about each of the three sets",
    ),
    "c": (
        False,
        "the pictures decode whole and look like flowers: nothing in them is corrupt.",
        "your tool's three numbers: which set disagrees with the reference?",
    ),
    "d": (True, "each training image carries a label that is not its own class: images and labels are paired wrongly.", ""),
    "e": (
        False,
        "the team's labels are spread evenly, about 10 per class, like the reference's: label counts look healthy.",
        "what could counts like these not see?",
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
# split ids ordered by class, the last image (id 24) and the first (id 1) in the train split. One image is a grayscale
# JPEG (as some photo collections hold): only .convert("RGB") makes it an RGB image.
_TOY_LABELS = [77] * 6 + [1] * 6 + [102] * 6 + [5] * 6
_TOY_SPLITS = {
    "train": [7, 12, 19, 24, 1, 6, 13, 18],
    "val": [8, 20, 2, 14],
    "test": [10, 11, 21, 22, 23, 3, 4, 5, 15, 16, 17],
}
#: A photo no split lists, removed from the toy folder (a bad image taken out): a listing, even sorted and filtered, then
#: holds the next file at every position after it, while names built from ids stay right.
_TOY_MISSING = 9
_TOY_STEP = 10  # red = 10 * id: JPEG keeps a flat colour within a few levels
_TOY_GRAY = 13  # the grayscale one (mode "L", its grey = 10 * id), in the train split


#: A file that is not a photo in the toy ``jpg/`` folder: a listing holds whatever a folder holds.
_STRAY_FILE = ".DS_Store"
#: A photo saved twice in the toy ``jpg/`` folder, the copy as ``image_00003 (1).jpg``: a sorted listing is not the ids.
_RETRIED = 3


def _write_toy_flowers(root: Path) -> Path:
    """Write the toy dataset under ``root/flowers-102/`` and return ``root``."""
    base = root / DATASET_FOLDER
    (base / IMAGE_FOLDER).mkdir(parents=True)
    for image_id in (i for i in range(1, len(_TOY_LABELS) + 1) if i != _TOY_MISSING):
        colour = (_TOY_STEP * image_id, 255 - _TOY_STEP * image_id, 128)
        size = (12 + image_id % 3, 10)
        image = Image.new("L", size, colour[0]) if image_id == _TOY_GRAY else Image.new("RGB", size, colour)
        image.save(image_path(root, image_id), quality=95)
    (base / IMAGE_FOLDER / _STRAY_FILE).write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(24))  # as Finder leaves on a Mac
    retried = image_path(root, _RETRIED)  # a download retried: a browser saves the second copy beside the first
    retried.with_name(f"{retried.stem} (1){retried.suffix}").write_bytes(retried.read_bytes())
    (base / LABELS_FILE).write_bytes(_mat_bytes({"labels": np.array([_TOY_LABELS], dtype=np.uint8)}))
    splits = {SPLIT_VARIABLES[k]: np.array([v], dtype=np.uint16) for k, v in _TOY_SPLITS.items()}
    (base / SETID_FILE).write_bytes(_mat_bytes(splits))
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


def _library_dataset(cls: Any) -> str | None:
    """What library Dataset ``cls`` is, or subclasses (flowerkit's, torchvision's), in words; None for the student's own."""
    if cls is torchvision_flowers102:
        return "flowerkit's access.torchvision_flowers102"
    if isinstance(cls, type) and issubclass(cls, OxfordFlowers102):
        return "flowerkit's access.OxfordFlowers102" + ("" if cls is OxfordFlowers102 else ", subclassed")
    if isinstance(cls, type) and issubclass(cls, torchvision.datasets.Flowers102):  # VisionDataset is a base to build on
        return "torchvision's Flowers102" + ("" if cls is torchvision.datasets.Flowers102 else ", subclassed")
    return None


def _not_a_class_of_yours(cls: Any) -> Verdict | None:
    """The verdict on an answer that is no class of the student's (an object, the stub, a library's); None otherwise."""
    if isinstance(cls, torch.utils.data.Dataset):
        return _verdict(
            False,
            f"got a {type(cls).__name__} object: the checker builds its own, one per split.",
            "pass the class itself, FlowersDataset, without calling it",
        )
    if _unanswered(cls) or not callable(cls):
        return _verdict(
            False,
            "no answer yet: `FlowersDataset` should be your Dataset class.",
            "write __init__, __len__ and __getitem__ in the stub cell, step by step as above",
        )
    return _library_verdict(cls)


#: A refusal of one of flowerkit's readers (the _FlowerkitVersion message names it), not of a whole library Dataset.
_READERS_NAMED = re.compile(r"access\.(read_mat|read_labels|read_splits|image_path) is the flowerkit version")


@contextlib.contextmanager
def _refusing_libraries() -> Iterator[None]:
    """While the block runs, flowerkit's and torchvision's Flowers Datasets refuse to be built, and flowerkit's readers of
    the .mat files and ids (the exercise's steps 1-3, which the cell after it reveals) to run (:func:`_refusing`)."""
    readers = "OxfordFlowers102,torchvision_flowers102,read_mat,read_labels,read_splits,image_path"  # steps 1-3, built
    with _refusing(_access, readers), _refusing(torchvision.datasets, "Flowers102"):
        yield


def _library_verdict(cls: Any, inside: bool = False) -> Verdict | None:
    """The verdict on a class that is, subclasses or (``inside``) builds a library's Flowers Dataset; None otherwise."""
    borrowed = "builds a library's Flowers Dataset inside" if inside else _library_dataset(cls)
    if not borrowed:
        return None
    said = f"your class {borrowed}" if inside else f"{getattr(cls, '__name__', cls)} is {borrowed}"
    return _verdict(
        False,
        f"{said}: this exercise is to write the Dataset yourself.",
        "subclass torch.utils.data.Dataset and read the two .mat files and the image ids yourself, steps 1-3 above",
    )


def _make_dataset(cls: Any, root: Path, split: str = "train", **kw: Any) -> tuple[Any, str | None]:
    """``cls(root, split, **kw)``, or (None, what it raised while being built)."""
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
        return (
            f"len() is {n}, the number of *all* images; the {expected} items of the split come from setid.mat. "
            "Hint: one item per id of the split (trnid, valid or tstid), not per file"
        )
    if n == expected - 1:
        return (
            f"len() is {n}, one short of {expected}: was the last id skipped? Ids go up to N, which is a file, not a "
            "position. Hint: one item per id of the split"
        )
    return f"len() is {n}, expected {expected} (the number of ids in the split). Hint: one item per id of the split"


def _item_feedback(item: Any) -> str | None:
    """What is wrong with the type of one item, or None: an (RGB PIL image, int label) pair."""
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        return f"__getitem__ returned {type(item).__name__}, expected a pair (image, label). Hint: return image, label"
    image, label = item
    if isinstance(label, Image.Image) and not isinstance(image, Image.Image):
        return (
            "your items are (label, image); torchvision's datasets, and every training loop written for them, unpack "
            "(image, label). Hint: return image, label"
        )
    if isinstance(image, (str, Path)):
        return "the image is a path; __getitem__ should open it. Hint: PIL.Image.open(path).convert('RGB')"
    if not isinstance(image, Image.Image):
        return (
            f"the image is a {type(image).__name__}, expected a PIL image (without a transform the image stays PIL, as "
            "in torchvision). Hint: leave any conversion to the transform the caller passes"
        )
    unreadable = _unreadable(image)
    if unreadable:
        return unreadable
    if image.mode != "RGB":
        return (
            f"the image has mode {image.mode!r}, expected 'RGB' (a grayscale JPEG opens as 'L': the toy dataset holds "
            "one, as some real collections do). Hint: .convert('RGB') after opening"
        )
    if isinstance(label, (bool, np.unsignedinteger)) or not isinstance(label, (int, np.integer)):
        kind = f"{type(label).__name__}" + (f" ({label.dtype})" if hasattr(label, "dtype") else "")
        return f"the label is a {kind}, expected a plain int, as torchvision returns. Hint: int(label)"
    return None


def _unreadable(image: Image.Image) -> str | None:
    """What stops the checker reading a PIL image's pixels (a lazily opened file closed by a ``with``), or None."""
    try:
        image.load()
    except Exception as exc:  # a closed file (AssertionError in Pillow), or a broken one
        if getattr(image, "fp", True) is None:
            return (
                "the image's file is closed and its pixels were never read: Image.open reads only the header, and "
                "the file was closed (leaving the `with` block closes it) before anything read the pixels. Hint: call "
                ".convert('RGB') inside the `with` block: it reads the pixels into a new image"
            )
        return f"the image's pixels cannot be read ({type(exc).__name__}: {exc}). Hint: {RAISED_HINT}"
    return None


def _init_error(error: str) -> str:
    """The message for what building the class on the toy train split raised, with the likeliest hint."""
    if re.search(r"KeyError: '(train|val|test)'", error):
        hint = "setid.mat holds one variable per split: trnid (train), valid (val), tstid (test)"
    elif re.search(r"out of bounds for (axis|dimension) 0 with size 1\b", error):
        hint = "loadmat gives (1, N) arrays, one row: loadmat(..., squeeze_me=True), or .reshape(-1)"
    else:
        hint = "__init__(self, root, split='train', transform=None, target_transform=None)"
    return f"{error}. Hint: {hint}"


def _id_as_position(error: str) -> str | None:
    """The off-by-one hint for an index one past the end of the labels: ids (1..N) used as positions (0..N-1)."""
    past_end = re.search(r"index (\d+) is out of bounds", error)
    if (past_end and int(past_end.group(1)) == len(_TOY_LABELS)) or "index out of range" in error:
        return (
            f"{error}: off-by-one ids, most likely. The last image has id {len(_TOY_LABELS)}, and its label sits at "
            f"position {len(_TOY_LABELS) - 1}. Hint: the label of id i is labels[i - 1]"
        )
    return None


def _toy_items(dataset: Any, ids: list[int]) -> tuple[list[Any], str | None]:
    """Every toy item, or the first error, worded (an error naming a neighbour's file is an off-by-one id)."""
    items, first_error = [], None
    for k, image_id in enumerate(ids):
        item, error = _call(dataset.__getitem__, k)
        if error and first_error is None:
            near = any(Path(IMAGE_NAME.format(image_id + d)).stem in error for d in (1, -1))
            first_error = (
                f"off-by-one ids: item {k} (id {image_id}) {error[len('your function ') :]}. "
                f"Hint: id i is the file {_NAME_TEMPLATE}, not position i"
                if near
                else _id_as_position(plain := f"item {k} (id {image_id}): {error}") or f"{plain}. Hint: {RAISED_HINT}"
            )
        items.append(item)
    return items, first_error


def _toy_items_feedback(dataset: Any, listing: list[str], split: str = "train") -> str | None:
    """Run every toy item of ``split`` and name the first kind of mistake: wrap-around, 1-based, off-by-one ids, listing order."""
    ids = _TOY_SPLITS[split]
    truth = [_TOY_LABELS[i - 1] - 1 for i in ids]
    items, error = _toy_items(dataset, ids)
    if error and _STRAY_FILE in error:
        return (
            f"your class opened jpg/{_STRAY_FILE}, which is not a photo: a folder holds whatever was put in it (Finder "
            "writes .DS_Store on a Mac), so the k-th name of a listing need not be image k. "
            f"Hint: build each name from its id, f'{_NAME_TEMPLATE}', instead of indexing a listing"
        )
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
        return (
            f"item {k} ({IMAGE_NAME.format(ids[k])}) has label {got[k]}, expected {truth[k]}. Hint: the label of id i is "
            "in imagelabels.mat at position i - 1, 1-based"
        )
    return None


def _files_feedback(got_ids: list[int], ids: list[int], listing: list[str]) -> str:
    """Name the mistake when the items are not the split's files, in the split's order."""
    k = next(k for k in range(len(ids)) if got_ids[k] != ids[k])
    if got_ids == sorted(ids):
        return (
            f"your items are the split's files, sorted by id: item {k} should be {IMAGE_NAME.format(ids[k])}, you opened "
            f"{IMAGE_NAME.format(got_ids[k])}. A Dataset of a split keeps the order setid.mat lists its ids (torchvision's "
            "does), and the checker compares item by item. Hint: take the ids as they come, without sorting"
        )
    if all(g - i in (1, -1) for g, i in zip(got_ids, ids)) and len(set(g - i for g, i in zip(got_ids, ids))) == 1:
        d = got_ids[0] - ids[0]
        return (
            f"off-by-one ids: item {k} should be {IMAGE_NAME.format(ids[k])}, you opened {IMAGE_NAME.format(got_ids[k])} (id {d:+d}). "
            f"Hint: id i is the file {_NAME_TEMPLATE}"
        )
    jpgs = [n for n in listing if n.endswith(".jpg")]
    by_listing = [int(jpgs[min(i - 1, len(jpgs) - 1)][6:11]) for i in ids]
    by_listing_0 = [int(jpgs[min(i, len(jpgs) - 1)][6:11]) for i in ids]
    if got_ids in (by_listing, by_listing_0):
        return (
            "your files follow the directory listing, and a listing is not sorted (on Linux it comes in hash order). "
            f"Hint: build each name from its id, f'{_NAME_TEMPLATE}', instead of indexing a listing"
        )
    in_order = sorted(jpgs)
    if got_ids == [int(in_order[min(i, len(in_order) - 1)][6:11]) for i in ids]:  # ids as 0-based positions
        return (
            f"off-by-one ids: item {k} should be {IMAGE_NAME.format(ids[k])}, you opened {IMAGE_NAME.format(got_ids[k])}. "
            f"Hint: id i is the file {_NAME_TEMPLATE}"
        )
    photos = sorted(n for n in jpgs if re.fullmatch(r"image_\d{5}\.jpg", n))  # the listing sorted, strays filtered out
    if got_ids == [int(photos[min(i - 1, len(photos) - 1)][6:11]) for i in ids]:
        return (
            f"item {k} should be {IMAGE_NAME.format(ids[k])}, you opened {IMAGE_NAME.format(got_ids[k])}: your files are "
            f"the k-th of a sorted, filtered listing. The folder has no {IMAGE_NAME.format(_TOY_MISSING)} (no split lists "
            "it), so from there on each position holds the next file: a listing is what a folder holds, not the ids. "
            f"Hint: build each name from its id, f'{_NAME_TEMPLATE}', instead of indexing a listing"
        )
    if got_ids == [int(in_order[min(i - 1, len(in_order) - 1)][6:11]) for i in ids]:
        return (
            f"item {k} should be {IMAGE_NAME.format(ids[k])}, you opened {IMAGE_NAME.format(got_ids[k])}: your files "
            "come from the folder's listing, by position, not from the split's ids. "
            f"Hint: build each name from its id, f'{_NAME_TEMPLATE}', instead of indexing a listing"
        )
    return (
        f"item {k} should be {IMAGE_NAME.format(ids[k])}, you opened {IMAGE_NAME.format(got_ids[k])}. "
        "Hint: the split's ids name its files"
    )


class _Marked:
    """A transform that wraps what it is given, so the checker can see it was called."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __call__(self, value: Any) -> tuple[str, Any]:
        return (self.tag, value)


def _transform_feedback(cls: Any, root: Path) -> str | None:
    """Check that ``transform`` is applied to the RGB image and ``target_transform`` to the label, each whenever it is
    given: alone or with the other (torchvision's datasets take either on its own); on the grayscale photo too."""
    grey = _TOY_SPLITS["train"].index(_TOY_GRAY)
    for given in (("transform", "target_transform"), ("transform",), ("target_transform",)):
        kw = {name: _Marked(tag) for name, tag in (("transform", "image"), ("target_transform", "label")) if name in given}
        with_what = "with a transform and a target_transform" if len(given) == 2 else f"with only a {given[0]}"
        each = "apply each one whenever it is given, on its own: if self.transform is not None: ..., and the same for target_transform"
        dataset, error = _make_dataset(cls, root, **kw)
        if error:
            return f"{error}. Hint: __init__(self, root, split='train', transform=None, target_transform=None)"
        for i in (0, grey):
            item, error = _call(dataset.__getitem__, i)
            if error:
                return f"{with_what}: {error}. Hint: {each if len(given) == 1 else RAISED_HINT}"
            problem = _transformed_item_feedback(item, given, with_what, each)
            if problem:
                return problem
    return None


def _transformed_item_feedback(item: Any, given: tuple[str, ...], with_what: str, each: str) -> str | None:
    """What is wrong with one item built ``with_what`` (the transforms ``given`` mark what they are called on)."""
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        return (
            f"{with_what}, __getitem__ returned {type(item).__name__}, expected a pair (image, label). Hint: return image, label"
        )
    image, label = item
    if "transform" in given and not (isinstance(image, tuple) and image[:1] == ("image",)):
        hint = each if len(given) == 1 else "when a transform is given, the item's image is what the transform returns"
        return f"{with_what}, __getitem__ does not call self.transform on the image. Hint: {hint}"
    if "target_transform" in given and not (isinstance(label, tuple) and label[:1] == ("label",)):
        hint = (
            each
            if len(given) == 1
            else "treat the label as you treat the image, with target_transform (torchvision applies it after the transform)"
        )
        return f"{with_what}, __getitem__ does not call self.target_transform on the label. Hint: {hint}"
    if "transform" in given and isinstance(image[1], Image.Image) and image[1].mode != "RGB":
        return (
            f"{with_what}, the transform was given a {image[1].mode} image (the grayscale photo): a transform expects "
            "what the dataset promises, RGB. Hint: convert to RGB first, then the transform"
        )
    return None


def _toy_feedback(cls: Any) -> str | None:
    """Run a student's Dataset class on the toy dataset, under a shuffled listing; return what is wrong, or None."""
    with tempfile.TemporaryDirectory() as tmp:
        root = _write_toy_flowers(Path(tmp))
        shuffled = _Shuffled()
        listing = shuffled.list_names(root / DATASET_FOLDER / IMAGE_FOLDER)
        with shuffled.patches(), _refusing_libraries():
            dataset, error = _make_dataset(cls, root)
            if _refused(error):
                return "READERS" if _READERS_NAMED.search(error) else "LIBRARY"
            if error:
                return _id_as_position(error) or _init_error(error)
            if _is_stub(dataset):
                return "STUB"
            problem = _toy_split_feedback(dataset, "train", listing)
            for split in ("val", "test"):
                problem = problem or _other_split_feedback(cls, root, split, listing)
            return problem or _transform_feedback(cls, root)


def _toy_split_feedback(dataset: Any, split: str, listing: list[str]) -> str | None:
    """What is wrong with the length or the items of ``dataset``, built on the toy ``split``, or None."""
    n, error = _call(len, dataset)
    if error:
        return f"len(): {error}. Hint: {RAISED_HINT}"
    problem = _length_feedback(n, len(_TOY_SPLITS[split]), len(_TOY_LABELS))
    if problem and n == len(_TOY_LABELS) + 1:  # every .jpg in the folder, the retried copy too: all the images
        problem = _length_feedback(n, len(_TOY_SPLITS[split]), n)
    if problem is None:
        result, error = _call(_toy_items_feedback, dataset, listing, split)
        problem = f"{error}. Hint: {RAISED_HINT}" if error else result
    return problem


def _other_split_feedback(cls: Any, root: Path, split: str, listing: list[str]) -> str | None:
    """The toy ``split`` (not train) built and checked: a class that ignores ``split`` gives train's items."""
    dataset, error = _make_dataset(cls, root, split)
    if error:
        return f"{error}. Hint: setid.mat holds one variable per split: trnid (train), valid (val), tstid (test)"
    n, _ = _call(len, dataset)
    if n == len(_TOY_SPLITS["train"]):
        name = getattr(cls, "__name__", "your class")
        return (
            f"{name}(root, {split!r}) has {n} items, as many as the train split; the {split} split holds "
            f"{len(_TOY_SPLITS[split])}: your class ignores `split`. Hint: pick the split's ids from setid.mat by "
            "its name: trnid (train), valid (val), tstid (test)"
        )
    problem = _toy_split_feedback(dataset, split, listing)
    return f"on its {split} split, {problem}" if problem else None


def _file_name(path: str | Path) -> str:
    """A ``loader`` for torchvision's Flowers102 that opens nothing: items become (file name, label)."""
    return Path(path).name


def _real_feedback(dataset: Any, root: Path, split: str) -> tuple[str | None, int]:
    """Compare a student's Dataset with torchvision's Flowers102 (and flowerkit's) on the real split, item by item."""
    names = torchvision_flowers102(root, split, loader=_file_name)
    n, error = _call(len, dataset)
    problem = error or _length_feedback(
        n, len(names), sum(int(v.size) for v in read_splits(root / DATASET_FOLDER / SETID_FILE).values())
    )
    if problem:
        return f"on the {split} split: {problem}", 0
    reference = torchvision_flowers102(root, split)
    ours = OxfordFlowers102(root, split)  # flowerkit's version, which the notebook reveals after the exercise
    spot = set(np.linspace(0, len(names) - 1, 8).astype(int).tolist())
    for k in range(len(names)):
        if (ours.image_files[k].name, ours.labels[k]) != names[k]:  # a flowerkit bug, not the student's
            return f"flowerkit's OxfordFlowers102 disagrees with torchvision on {split} item {k}: please report it", k
        item, error = _call(dataset.__getitem__, k)
        problem = error or _item_feedback(item)
        if problem:
            return f"on the {split} split, item {k}: {problem}", k
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
    the same format (tiny images painted by id), which names the mistake it
    finds, then compared with ``torchvision.datasets.Flowers102`` on every
    item of ``split`` of the data at ``root``, through its public API.
    """
    root = Path(root)
    if (not_yours := _not_a_class_of_yours(cls)) is not None:
        return not_yours
    readers = _named(_access, "read_mat,read_labels,read_splits,image_path")  # imported on their own too
    problem = "READERS" if _names_any(cls, readers) else _toy_feedback(cls)
    if problem and problem not in ("LIBRARY", "STUB") and _READERS_NAMED.search(problem):  # called per item, refused
        problem = "READERS"
    if problem == "LIBRARY":
        return _library_verdict(cls, inside=True)
    if problem == "READERS":
        return _verdict(
            False,
            "your class calls flowerkit's readers of the .mat files and ids (access.read_labels, read_splits, read_mat, "
            "image_path), the hardened version the cell below reveals: steps 1-3 are the exercise.",
            "loadmat(..., squeeze_me=True), then the ids and labels yourself, steps 1-3 above",
        )
    if problem == "STUB":
        return _verdict(
            False, "__len__ returns None: your FlowersDataset is still the stub.", "start with __init__: steps 1-3 above"
        )
    if problem:
        message, _, hint = problem.partition(" Hint: ")
        return _verdict(False, f"on a toy dataset in the Oxford format: {message.rstrip('.')}.", hint or RAISED_HINT)
    with _refusing_libraries():
        dataset, error = _make_dataset(cls, root, split)  # a class that wraps a library's Dataset: refused here
    if error and _refused(error):
        return _library_verdict(cls, inside=True)
    problem, n = (error, 0) if error else _real_feedback(dataset, root, split)
    if problem:
        message, _, hint = problem.partition(" Hint: ")
        return _verdict(False, message.rstrip(".") + ".", hint or "run your class and torchvision's on that item and compare")
    return _verdict(
        True,
        f"your {getattr(cls, '__name__', 'class')} agrees with torchvision's Flowers102 on all {n} {split} items (labels and image "
        f"sizes; pixels on 8 items spread over the split), as flowerkit's access.OxfordFlowers102, revealed below, does (files and "
        "labels, every item): the two agree. It handles a shuffled listing, each split and a grayscale JPEG, and calls transform and target_transform.",
    )


# What a spawn worker does first: unpickle the dataset in a fresh Python, which imports its class by module and name.
# A worker unpickles the dataset, then reads items: the fresh Python reads item 0 as one would (a NameError in
# __getitem__, an import the module forgot, shows only there).
_UNPICKLED = "-- unpickled --"  # written between the two steps: an error after it is the item's, not the unpickling's
_UNPICKLE = (
    "import pickle, sys; dataset = pickle.loads(sys.stdin.buffer.read()); "
    f"print({_UNPICKLED!r}, file=sys.stderr, flush=True); dataset[0] if len(dataset) else None; "
    "print(type(dataset).__module__)"
)


_ITEM_FAILED = "reading item 0"


def _spawn_round_trip(dataset: Any, timeout: float = 120) -> str | None:
    """Pickle ``dataset`` here, unpickle it in a fresh Python and read item 0, as a spawn worker does; the error, or None.

    Nothing is started but one short interpreter, so a class that workers
    cannot import shows its error here instead of killing (or hanging) a
    DataLoader. The fresh Python runs in the current folder, like a worker.
    """
    try:
        blob = pickle.dumps(dataset)
    except Exception as exc:  # e.g. a lambda transform: cannot be pickled at all
        return f"pickling it here, before any worker: {type(exc).__name__}: {exc}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # spawn hands its sys.path on too
    run = subprocess.run(
        [sys.executable, "-c", _UNPICKLE], input=blob, capture_output=True, timeout=timeout, cwd=os.getcwd(), env=env
    )
    if run.returncode == 0:
        return None
    log = run.stderr.decode(errors="replace")
    lines = log.strip().splitlines()
    last = lines[-1] if lines else f"exit code {run.returncode}"
    if _UNPICKLED in log:
        return f"{_ITEM_FAILED} in a fresh Python (it unpickled): {last}"
    return f"unpickling it in a fresh Python: {last}"


def _not_a_dataset_verdict(dataset: Any) -> Verdict | None:
    """The verdict for an answer to check_spawn_ready that is no dataset instance of the student's own; None otherwise."""
    if _unanswered(dataset):
        return _verdict(
            False, "no answer yet: pass an instance of your Dataset.", 'e.g. my_flowers.FlowersDataset(ROOT, "train")'
        )
    if isinstance(dataset, type):
        return _verdict(
            False,
            f"you passed the class {dataset.__name__} itself; a DataLoader hands its workers a dataset, an instance.",
            f'build one and pass it, e.g. {dataset.__name__}(ROOT, "train"), or loader.dataset',
        )
    if type(dataset).__module__ == "builtins":  # a list of items, a batch: data, not the dataset a worker receives
        return _verdict(
            False,
            f"you passed a {type(dataset).__name__}; a DataLoader hands its workers the dataset object, an instance of "
            "your class, which they ask for items.",
            "pass the dataset itself (loader.dataset), an instance of your FlowersDataset",
        )
    if isinstance(dataset, torch.utils.data.DataLoader):
        return _verdict(
            False,
            "you passed a DataLoader; what its workers receive is its dataset.",
            "pass the dataset itself (loader.dataset), an instance of your FlowersDataset",
        )
    if _is_stub(dataset):
        return _verdict(
            False, "__len__ returns None: your FlowersDataset is still the stub.", "finish the Dataset exercise first"
        )
    return None


def _wrapped(dataset: Any) -> Any:
    """The dataset a ``Subset`` or ``ConcatDataset`` (nested or not) wraps, its first for a concatenation; else itself."""
    while isinstance(dataset, (torch.utils.data.Subset, torch.utils.data.ConcatDataset)):
        dataset = dataset.dataset if isinstance(dataset, torch.utils.data.Subset) else dataset.datasets[0]
    return dataset


def check_spawn_ready(dataset: Any) -> Verdict:
    """Notebook ``01_access``: can DataLoader workers started by spawn (macOS, Windows) or forkserver (Linux, Python 3.14) use ``dataset``?

    A stub is reported as such, and a module edited since its import. Otherwise the dataset is pickled and unpickled
    in a fresh Python (``_spawn_round_trip``): a class defined in the notebook (``__main__``) fails there, a class
    imported from a module next to the notebook passes.
    """
    refused = _not_a_dataset_verdict(dataset)
    if refused is not None:
        return refused
    inner = _wrapped(dataset)  # a Subset (or ConcatDataset) of the student's dataset: judged by what it wraps
    stale = _stale_module_verdict(inner)
    if stale is not None:
        return stale
    where = type(inner).__module__
    error = _spawn_round_trip(dataset)  # the whole object: a worker receives the wrapper and what it holds
    library = where.split(".")[0]
    if error is None and library in ("flowerkit", "torch", "torchvision"):
        return _verdict(
            False,
            f"{type(inner).__qualname__} is {library}'s class, importable by name already, and this one holds nothing "
            "from the notebook: it says nothing about yours.",
            "pass an instance of your FlowersDataset (exercise 3), imported from the module you wrote it into",
        )
    if error is None:
        return _verdict(
            True,
            f"a fresh Python imported {where}.{type(inner).__qualname__}, unpickled your dataset and read its first item: spawn workers can too.",
        )
    return _spawn_failure_verdict(error, where, type(inner).__qualname__)


def _spawn_failure_verdict(error: str, where: str, name: str) -> Verdict:
    """The verdict on a dataset of class ``where.name`` whose round trip to a spawn worker failed with ``error``."""
    held = re.search(r"cannot pickle '([\w.]+)' object", error)
    if held:
        what = "an open file" if held.group(1).startswith("_io.") else f"a {held.group(1)} object"
        return _verdict(
            False,
            f"this dataset holds {what}, which pickle cannot copy to a worker, failing at\n  {error}",
            "keep plain data in the dataset (paths, labels) and open each file in __getitem__",
        )
    if where == "__main__":
        return _verdict(
            False,
            f"your class lives in the notebook (__main__); a spawn worker is a fresh Python without the notebook, and fails with\n  {error}",
            "write the class into my_flowers.py next to the notebook (%%writefile), then import my_flowers and use my_flowers.FlowersDataset",
        )
    if error.startswith(_ITEM_FAILED):
        return _verdict(
            False,
            f"a spawn worker received this dataset ({where}.{name}), then failed reading item 0, at\n  {error}",
            "the module a worker imports must carry its own imports (a NameError: one is missing from the file); "
            "run the class from the module on its own in a new cell to see the traceback",
        )
    return _verdict(
        False,
        f"a spawn worker could not receive this dataset ({where}.{name} and what it holds), failing at\n  {error}",
        "everything it holds must be importable by name",
    )


def _same_item(mine: Any, theirs: tuple[Any, int]) -> bool:
    """True if ``mine`` is the pair ``theirs`` is: the same label, and an image with the same pixels (tensor or PIL)."""
    if not isinstance(mine, (tuple, list)) or len(mine) != 2 or mine[1] != theirs[1]:
        return False
    a, b = (np.asarray(x) for x in (mine[0], theirs[0]))
    return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))


def _files_of(dataset: Any) -> list[Any] | None:
    """A dataset's list of image files, under flowerkit's name (``image_files``) or the exercise's (``files``), or None."""
    files = getattr(dataset, "image_files", getattr(dataset, "files", None))
    return files if isinstance(files, (list, tuple)) else None


def _mismatch_verdict(dataset: Any, reference: Any, i: int, mine: Any) -> Verdict:
    """Item ``i`` differs from the colleague's: name another split's files, the channel flip lost, or say so plainly."""
    files, theirs = _files_of(dataset), _files_of(reference)
    if files is not None and theirs is not None and len(files) > i and Path(files[i]).name != Path(theirs[i]).name:
        return _verdict(
            False,
            f"item {i} is {Path(files[i]).name}, the colleague's is {Path(theirs[i]).name}: not the same files, so "
            "not the colleague's items.",
            "build your dataset on the colleague's split",
        )
    their_image = np.asarray(reference[i][0])
    with contextlib.suppress(Exception):  # a student's image numpy cannot read: the plain message below
        image = np.asarray(mine[0])
        if image.shape == their_image.shape and image.ndim == 3 and np.array_equal(image[::-1], their_image):
            return _verdict(
                False,
                f"item {i} has the colleague's pixels with the channels in the other order: their function ends by "
                "flipping red, green, blue to blue, green, red.",
                "keep every step of their function, the channel flip included",
            )
    return _verdict(
        False,
        f"item {i} is not the colleague's: {_difference(mine, reference[i])}; the same label and the same pixels are the point.",
        "keep every step of their function, in its order, the channel flip included: the same pixels, the same labels",
    )


def _difference(mine: Any, theirs: tuple[Any, int]) -> str:
    """How item ``mine`` differs from the colleague's ``theirs``: its form, its label, or how far its pixels are off."""
    if not isinstance(mine, (tuple, list)) or len(mine) != 2:
        return f"yours is a {type(mine).__name__}, theirs an (image, label) pair"
    if mine[1] != theirs[1]:
        return f"label {mine[1]!r}, theirs {theirs[1]!r}"
    try:
        a, b = np.asarray(mine[0]), np.asarray(theirs[0])
    except Exception:  # noqa: BLE001 - a student's image NumPy cannot read
        return f"an image of type {type(mine[0]).__name__}"
    if a.shape != b.shape:
        return f"an image of shape {a.shape}, theirs {b.shape}"
    if a.dtype != b.dtype:
        return f"an image of dtype {a.dtype}, theirs {b.dtype}"
    off = np.abs(a.astype(np.int64) - b.astype(np.int64)) if a.dtype.kind in "iub" else np.abs(a - b)
    return f"{int((off > 0).sum())} of its {off.size} values differ, by up to {off.max():g}"


def check_spawn_fix(dataset: Any, reference: Any) -> Verdict:
    """Notebook ``01_access``, exercise 4's new case: ``dataset`` gives ``reference``'s items, and spawn workers can use it.

    ``reference`` holds a transform defined in the notebook (``__main__``): its class is importable, its
    transform is not. Items are compared at the start, middle and end; then the dataset makes the round
    trip a spawn worker makes (:func:`_spawn_round_trip`).
    """
    if _unanswered(dataset):
        return _verdict(
            False,
            "no answer yet: set `spawn_ready_set` to a dataset.",
            "read what the first check said could not be unpickled: that is what to change",
        )
    if not callable(getattr(dataset, "__getitem__", None)) or not callable(getattr(dataset, "__len__", None)):
        return _verdict(
            False,
            f"got a {type(dataset).__name__}, not a dataset.",
            'a Dataset, e.g. access.OxfordFlowers102(ROOT, "train", ...)',
        )
    stale = _stale_module_verdict(dataset)
    if stale is not None:
        return stale
    n, error = _call(len, dataset)
    if error:
        return _verdict(False, f"len(): {error}", RAISED_HINT)
    if n != len(reference):
        return _verdict(False, f"{n} items, the colleague's has {len(reference)}.", "the same split, the same items")
    for i in (0, len(reference) // 2, len(reference) - 1):
        mine, error = _call(dataset.__getitem__, i)
        if error:
            return _verdict(False, f"item {i}: {error}", RAISED_HINT)
        if not _same_item(mine, reference[i]):
            return _mismatch_verdict(dataset, reference, i, mine)
    error = _spawn_round_trip(dataset)
    if error is not None:
        return _verdict(
            False,
            f"the same items, but a spawn worker still could not receive the dataset, failing at\n  {error}",
            "everything it holds, its transform included, must be importable by name: a function in a module next to "
            "the notebook, as your class, or torchvision's transform classes",
        )
    return _verdict(True, _spawn_fix_praise(dataset))


def _spawn_fix_praise(dataset: Any) -> str:
    """check_spawn_fix's "Correct!" message: what a fresh Python could import, the transform named where there is one."""
    held = getattr(_wrapped(dataset), "transform", None)
    return "the same items, and a fresh Python unpickled the dataset and read an item: " + (
        "its class and its transform are importable by name."
        if held is not None
        else "its class is importable by name (it holds no transform: its items are made another way)."
    )


# ------------------------------------------------------------------ the hunt tool: a label-agreement check

#: The toy truth the hunt tool is first run on: 300 files, a 0-based class each (seeded).
_TOY_TRUTH = {IMAGE_NAME.format(i): int(c) for i, c in enumerate(np.random.default_rng(7).integers(0, 102, 300), 1)}


class _ToyPipeline:
    """A pipeline as the hunt tool sees it: ``image_files`` and ``(image, label)`` items; it counts the items fetched."""

    def __init__(self, labels: list[int], folder: str = "/garden/flowers-102/jpg", as_str: bool = False) -> None:
        files = [Path(folder) / name for name in list(_TOY_TRUTH)[: len(labels)]]
        self.image_files: list[Any] = [str(f) for f in files] if as_str else files  # str paths, as many datasets keep
        self._labels = labels
        self.indices: list[int] = []  # which items, in order

    @property
    def fetched(self) -> int:
        """How many items the tool fetched."""
        return len(self.indices)

    def __len__(self) -> int:
        return len(self.image_files)

    def __getitem__(self, idx: int) -> tuple[str, int]:
        self.indices.append(int(idx))
        return f"the pixels of {Path(self.image_files[idx]).name}", self._labels[idx]


class _LabelsOnly:
    """A real dataset's items without decoding: the label its ``__getitem__`` gives (no target_transform), no pixels."""

    def __init__(self, dataset: Any) -> None:
        self.image_files, self._labels = dataset.image_files, dataset.labels

    def __len__(self) -> int:
        return len(self.image_files)

    def __getitem__(self, idx: int) -> tuple[None, int]:
        return None, self._labels[idx]


def _share(answer: Any, k: int | None = None, per: str = "the number you sampled") -> tuple[float | None, str | None]:
    """The answer as a share in 0..1, or None and what is wrong with it (a whole number from 1 to ``k`` is a count)."""
    if isinstance(answer, (bool, np.bool_)):
        return None, "you returned True/False; the tool should say *how many* agree: a share between 0 and 1"
    try:
        share = float(answer)
    except (TypeError, ValueError):
        return None, f"expected a number between 0 and 1, got {type(answer).__name__}"
    if not 0 <= share <= 1 and k is not None and share.is_integer() and 1 <= share <= k:
        return None, f"{share:g} is not a share between 0 and 1; that is a count: divide by {per}"
    if not 0 <= share <= 1:
        return None, f"{share:g} is not a share between 0 and 1" + (" (a percentage?)" if share <= 100 else "")
    return share, None


def _agreement_error(error: str) -> str:
    """The hint for what a student's tool raised."""
    if "KeyError" in error:
        return "truth is keyed by file name ('image_00042.jpg'): look up Path(dataset.image_files[i]).name"
    if any(words in error.lower() for words in ("larger sample than population", "sample larger than population", "exceeds")):
        return "a dataset can be smaller than k: sample min(k, len(dataset)) items"
    if "AttributeError" in error and "'str' object" in error:
        return "image_files may hold str paths as well as Path objects: Path(dataset.image_files[i]).name takes both"
    if "AttributeError" in error and "labels" in error:
        return "take the label the pipeline gives: dataset[i][1] (not every Dataset has a .labels list)"
    return RAISED_HINT


def _toy_agreement_feedback(func: Callable[..., Any]) -> Verdict | None:
    """Run the tool on toy pipelines with known agreement; return the verdict on the first mistake, or None."""
    truth = list(_TOY_TRUTH.values())
    half = truth[:150] + [(c + 1) % 102 for c in truth[150:]]  # in blocks, like a dataset grouped by class
    cases = [
        ("every label right", _ToyPipeline(truth), 50, 1.0, 0.0),
        ("every label one class off", _ToyPipeline([(c + 1) % 102 for c in truth]), 50, 0.0, 0.0),
        ("the first half right, the second half wrong", _ToyPipeline(half), 100, 0.5, 0.15),
        ("24 items, fewer than k", _ToyPipeline(truth[:24]), 200, 1.0, 0.0),
        ("every label right, its image_files str paths", _ToyPipeline(truth, as_str=True), 50, 1.0, 0.0),
    ]
    for what, pipeline, k, expected, tolerance in cases:
        answer, error = _call(func, pipeline, dict(_TOY_TRUTH), k, 0)
        if error:
            return _verdict(False, f"on a toy pipeline ({what}): {error}.", _agreement_error(error))
        if _unanswered(answer):
            return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
        share, problem = _share(answer, min(k, len(pipeline)))
        if problem:
            return _verdict(False, f"on a toy pipeline ({what}): {problem}.", "return agreeing / checked")
        if pipeline.fetched == 0:
            return _verdict(
                False, f"on a toy pipeline ({what}) your tool fetched no item.", "the label the pipeline gives is dataset[i][1]"
            )
        if len(set(pipeline.indices)) > k:
            return _verdict(
                False,
                f"your tool fetched {len(set(pipeline.indices))} different items of a toy pipeline, for k={k}.",
                "a sample of k items is enough, and quick on 8,189 photos: rng.choice(len(dataset), size=k, replace=False)",
            )
        if pipeline.fetched > k:
            return _verdict(
                False,
                f"your tool read each sampled item more than once ({pipeline.fetched} reads for k={k}): every read of a "
                "real photo decodes it again.",
                "read dataset[i] once per sampled i and keep what you need from it: image, label = dataset[i]",
            )
        if abs(share - expected) > tolerance and expected == 0.5 and share in (0.0, 1.0):
            return _verdict(
                False,
                f"on a toy pipeline ({what}) your tool says {share:.0%}: it looked at the first or last items only.",
                "sample at random over the whole dataset: a dataset grouped by class hides a bug in one part of it",
            )
        if abs(share - expected) > tolerance:
            return _verdict(
                False,
                f"on a toy pipeline ({what}) your tool says {share:.0%}, expected {expected:.0%}.",
                "count the sampled items whose label equals truth[file name], divide by the number sampled",
            )
    return _seed_feedback(func, half)


def _seed_feedback(func: Callable[..., Any], half: list[int]) -> Verdict | None:
    """The same seed must draw the same items, and another seed other items; the verdict on the first failure, or None."""
    # The same seed must sample the same items: compare which items, not the shares (two unseeded samples of 20 from
    # half-right items give the same share often enough to pass 3 tries in about one run of 30).
    pipelines = [_ToyPipeline(half) for _ in range(3)]
    for pipeline in pipelines:
        _call(func, pipeline, dict(_TOY_TRUTH), 20, 3)
    if len({tuple(sorted(p.indices)) for p in pipelines}) > 1:
        return _verdict(False, "the same seed gave two different answers.", "draw the sample with np.random.default_rng(seed)")
    other = _ToyPipeline(half)
    _call(func, other, dict(_TOY_TRUTH), 20, 4)
    if sorted(other.indices) == sorted(pipelines[0].indices):
        return _verdict(
            False,
            "seeds 3 and 4 drew the same 20 items: your tool ignores its `seed` (or does not draw at random).",
            "draw the sample from a generator made from the `seed` argument: np.random.default_rng(seed)",
        )
    return None


def _real_agreement(func: Callable[..., Any], root: Path, k: int) -> tuple[Verdict | None, dict[str, tuple[float, float]]]:
    """Run the tool on ours and on the Access team's training set; compare with the count over every item."""
    labels = read_labels(root / DATASET_FOLDER / LABELS_FILE)
    truth = {IMAGE_NAME.format(i): int(c) for i, c in enumerate(labels.tolist(), 1)}
    found = {}
    for name, dataset in (("ours", OxfordFlowers102(root, "train")), ("the Access team's", AccessTeamFlowers(root, "train"))):
        full = float(np.mean([truth[f.name] == c for f, c in zip(dataset.image_files, dataset.labels)]))
        answer, error = _call(func, _LabelsOnly(dataset), truth, k, 0)
        share, problem = _share(answer, min(k, len(dataset))) if error is None else (None, error)
        if problem:
            hint = _agreement_error(problem) if error else "return agreeing / checked"
            return _verdict(False, f"on {name} training set: {problem}.", hint), found
        if abs(share - full) > 4 * (full * (1 - full) / k) ** 0.5 + 0.02:
            return _verdict(
                False,
                f"on {name} training set your tool says {share:.1%}; counted over all {len(dataset)} items it is {full:.1%}.",
                "compare dataset[i][1] with truth[Path(dataset.image_files[i]).name] for each sampled i",
            ), found
        found[name] = (share, full)
    return None, found


def check_label_agreement(func: Callable[..., Any], root: str | Path, k: int = 200) -> Verdict:
    """Notebook ``01_access``: the student's hunt tool, ``func(dataset, truth, k, seed)``, the share of labels that are right.

    ``dataset`` has ``image_files`` and gives ``(image, label)`` items;
    ``truth`` maps a file name to its 0-based class. The tool samples ``k``
    items (seeded) and returns the share whose label is the truth's. It is run
    on toy pipelines of known agreement (all right, all one class off, half
    wrong, fewer items than ``k``), then on our training set and the Access
    team's, whose agreement over every item the checker counts itself.
    """
    if _unanswered(func) or not callable(func):
        return _verdict(False, "no answer yet: `label_agreement` should be your function.", "write it in the stub cell")
    verdict = _toy_agreement_feedback(func)
    if verdict is None:
        verdict, found = _real_agreement(func, Path(root), k)
    if verdict is not None:
        return verdict
    (ours, _), (theirs, full) = found["ours"], found["the Access team's"]
    return _verdict(
        True,
        f"on {k} sampled training items your tool finds {ours:.0%} of our labels right and {theirs:.1%} of the Access "
        f"team's (counted over all their items: {full:.1%}; a random guess: {1 / 102:.1%}).",
    )


# ------------------------------------------------------------------ a new format: the gardeners' CSV


def _csv_cases() -> list[tuple[str, str, float]]:
    """Toy CSV files (what, text, the right share) against :data:`_TOY_TRUTH`'s first 30 files."""
    names = list(_TOY_TRUTH)[:30]
    rows = [(f"jpg/{n}", _TOY_TRUTH[n] + 1) for n in names]  # 1-based, as in imagelabels.mat
    order = random.Random(5).sample(range(30), 30)
    right = "file,label\n" + "".join(f"{rows[i][0]},{rows[i][1]}\n" for i in order) + "\n"
    third = "file,label\n" + "".join(f"{f},{(c % 102) + 1 if i % 3 == 0 else c}\n" for i, (f, c) in enumerate(rows))
    shifted_labels = [c for _, c in rows[1:]] + [rows[0][1]]  # the planted off-by-one: each file has the next row's label
    shifted = "file,label\n" + "".join(f"{f},{c}\n" for (f, _), c in zip(rows, shifted_labels))
    swapped = "label,file,gardener\n" + "".join(f"{c},{f},Ada\n" for f, c in rows)
    share = float(np.mean([c == right_c for c, (_, right_c) in zip(shifted_labels, rows)]))
    twice = "file,label\n" + "".join(f"{f},{c}\n" for f, c in rows) + "".join(f"{f},{(c % 102) + 1}\n" for f, c in rows[:10])
    return [
        ("every row right, rows in any order, a blank last line", right, 1.0),
        ("a third of the rows wrong", third, 2 / 3),
        ("the label column shifted by one row", shifted, share),
        ("columns label,file,gardener", swapped, 1.0),
        (_TWICE, twice, 30 / 40),  # 30 rows right of 40; one row per photo would give 20 / 30 or 30 / 30
    ]


#: The toy CSV whose first 10 photos have a second row, by a gardener who disagrees with the first.
_TWICE = "10 photos checked twice, by a second gardener who disagrees"


def _csv_error_hint(error: str) -> str:
    """The hint for what a student's CSV reader raised."""
    if "invalid literal" in error and ("'label'" in error or "'file'" in error):
        return "the first row is a header, not a photo: skip it (csv.DictReader reads it as the column names)"
    if "invalid literal" in error and "jpg" in error or "KeyError" in error and "jpg" not in error or "too many values" in error:
        return "the columns may come in another order: read them by the header's names (csv.DictReader)"
    if "index out of range" in error or "not enough values" in error or "invalid literal for int() with base 10: ''" in error:
        return "the file ends with a blank line: skip empty rows"
    if "KeyError" in error and "jpg/" in error:
        return "truth is keyed by file name: Path(row['file']).name"
    return RAISED_HINT


#: How far a CSV share may be from the right one and still be right: float32 arithmetic or rounding to 3 decimals
#: (the toy files' shares are fractions of about 30 rows, at least 0.001 apart).
_SHARE_TOLERANCE = 5e-4


def check_csv_agreement(func: Callable[[Path, dict[str, int]], Any]) -> Verdict:
    """Notebook ``01_access``: ``func(csv_path, truth)``, the share of a CSV's rows whose label agrees with ``truth``.

    The CSV has a header naming its columns (``file`` and ``label``, in any
    order, maybe more), a path per row (``jpg/image_00042.jpg``) and a
    1-based label, like ``imagelabels.mat``. Tried on toy files of its own.
    """
    # the toy files plant a blank last line, a third of the labels wrong, the label column shifted by one row, swapped
    # columns, and photos with a second row
    with tempfile.TemporaryDirectory() as tmp:
        for what, text, expected in _csv_cases():
            path = Path(tmp) / "checked.csv"
            path.write_text(text)
            answer, error = _call(func, path, dict(_TOY_TRUTH))
            if error:
                return _verdict(False, f"on a CSV with {what}: {error}.", _csv_error_hint(error))
            if _unanswered(answer):
                return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
            rows = sum(1 for line in text.splitlines()[1:] if line.strip())
            share, problem = _share(answer, rows, "the number of photo rows")
            if problem:
                return _verdict(False, f"on a CSV with {what}: {problem}.", "return agreeing rows / rows")
            if abs(share - expected) > _SHARE_TOLERANCE:
                return _csv_feedback(what, share, expected, func, Path(tmp))
    return _verdict(True, "header, paths, 1-based labels, blank lines, column order and a photo checked twice all handled.")


class _TextEqualInt(int):
    """A class number that also equals its own text (``"5" == _TextEqualInt(5)``), and stays one through + and -.

    Given as ``truth``'s numbers, it tells a function that compares a CSV's text with numbers (never equal) from
    one whose numbers are wrong: only the first starts to agree.
    """

    def __eq__(self, other: object) -> bool:
        return other.strip() == str(int(self)) if isinstance(other, str) else int(self) == other

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = int.__hash__

    def __add__(self, other: Any) -> Any:
        return _TextEqualInt(int(self) + other) if isinstance(other, int) else int(self) + other

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        return _TextEqualInt(int(self) - other) if isinstance(other, int) else int(self) - other


def _probe_share(func: Callable[[Path, dict[str, int]], Any], path: Path, text: str, truth: dict[str, Any]) -> float:
    """The student's share on a probe CSV (``text``) against ``truth``; -1 if it raised or is not a share."""
    path.write_text(text)
    answer, error = _call(func, path, truth)
    share, problem = (None, error) if error else _share(answer)
    return -1.0 if share is None or problem else share


def _nothing_agrees_verdict(what: str, func: Callable[[Path, dict[str, int]], Any], folder: Path) -> Verdict:
    """0% on a file where every row is right: the label compared as text, the - 1 forgotten, or something else."""
    rows = list(_TOY_TRUTH.items())[:30]
    rows = [rows[i] for i in random.Random(5).sample(range(30), 30)]  # not in name order, as the file it said 0% on
    one_based = "file,label\n" + "".join(f"jpg/{n},{c + 1}\n" for n, c in rows)
    if _probe_share(func, folder / "probe.csv", one_based, {n: _TextEqualInt(c) for n, c in _TOY_TRUTH.items()}) > 0.99:
        return _verdict(
            False,
            f"on a CSV with {what} your function says 0%: no label ever matches, because it compares the label as "
            "the CSV gives it, text, with a number: '5' == 5 is False.",
            "turn the label into a number (int) before comparing it with truth's",
        )
    zero_based = "file,label\n" + "".join(f"jpg/{n},{c}\n" for n, c in rows)
    if _probe_share(func, folder / "probe.csv", zero_based, dict(_TOY_TRUTH)) > 0.99:
        return _verdict(
            False,
            f"on a CSV with {what} your function says 0%: the labels are 1-based, like imagelabels.mat.",
            "int(row['label']) - 1",
        )
    return _verdict(
        False,
        f"on a CSV with {what} your function says 0%: no row agrees, though every row is right.",
        "print a few rows: the file name, the label you compute from the row, and truth's, side by side",
    )


def _csv_feedback(what: str, share: float, expected: float, func: Callable[..., Any], folder: Path) -> Verdict:
    """The verdict on a wrong share from a CSV (``func`` is run on probe files in ``folder`` when it says 0%)."""
    if expected == 1.0 and share < 0.1:
        return _nothing_agrees_verdict(what, func, folder)
    if what == _TWICE and any(abs(share - per_photo) < _SHARE_TOLERANCE for per_photo in (20 / 30, 1.0)):
        return _verdict(
            False,
            f"on a CSV with {what} your function says {share:.1%}, expected {expected:.1%}: it kept one row per photo.",
            "every row is a check to judge, a photo's second row too: a dict keyed by the file keeps only one of them",
        )
    extra = next((m for n in (29, 30, 31) for m in (1, 2, 3) if abs(share - expected * n / (n + m)) < 1e-6), 0)
    if extra:  # e.g. split("\n") keeps the header's or the blank last lines' empty strings
        rows = "a row" if extra == 1 else f"{extra} rows"
        return _verdict(
            False,
            f"on a CSV with {what} you counted {rows} too many (a header or a blank line?).",
            "divide by the number of photo rows only",
        )
    return _verdict(
        False,
        f"on a CSV with {what} your function says {share:.1%}, expected {expected:.1%}.",
        "read columns by name: csv.DictReader",
    )


# ------------------------------------------------------------------ another layout: the herbarium's 0-based index

#: The herbarium's index in the archive's order (by scanning date, not by name), its 0-based labels, a split.
_SCANS = [f"scan_{n:04d}.png" for n in (17, 2, 31, 0, 5, 29, 1, 30, 3, 8, 26, 4)]
_SCAN_LABELS = np.array([3, 0, 101, 54, 3, 17, 0, 88, 42, 17, 9, 60], dtype=np.int64)
_SCAN_SPLIT = [0, 2, 11, 6, 3]


def _as_pairs(answer: Any, most: int) -> tuple[list[tuple[str, int]] | None, str | None]:
    """The answer as (file name, int label) pairs, from a list of pairs or a dict (at most ``most`` read), or what is wrong."""
    items = answer.items() if isinstance(answer, dict) else answer
    try:
        pairs = [(name, label) for name, label in itertools.islice(items, most)]
        text = next(((name, label) for name, label in pairs if isinstance(label, (str, bytes))), None)
        if text is not None:  # int("3") would pass it: a loss function would not
            return None, f"the label of {text[0]} is the string {text[1]!r}: a label is a number, an int, as a loss needs"
        return [(str(name), int(label)) for name, label in pairs], None
    except (TypeError, ValueError):  # not an iterable of pairs, or a label that is not a number
        return None, f"expected (file, label) pairs, got {answer!r:.80}"


def _herbarium_feedback(got: list[tuple[str, int]]) -> Verdict:
    """Name the mistake in a wrong list of herbarium items (in any order)."""
    truth = [(_SCANS[p], int(_SCAN_LABELS[p])) for p in _SCAN_SPLIT]
    names, labels = sorted(n for n, _ in got), [lab for _, lab in got]
    if names == sorted(_SCANS[p - 1] for p in _SCAN_SPLIT):
        return _verdict(
            False, "you took the line before each position: here positions are 0-based.", "index[p], not index[p - 1]"
        )
    if names == sorted(f"scan_{p:04d}.png" for p in _SCAN_SPLIT):
        return _verdict(
            False,
            "you built each name from its position; the index is in scanning order, not in name order.",
            "the index says which file sits at each position: index[p]",
        )
    if names == sorted(sorted(_SCANS)[p] for p in _SCAN_SPLIT):
        return _verdict(False, "you sorted the index; the labels follow its own order.", "keep the index as it is")
    if sorted(got) == sorted((n, t - 1) for n, t in truth):
        return _verdict(
            False, "your labels are one too low: here they are already 0-based.", "Oxford's - 1 is a fact about Oxford's files"
        )
    if names == sorted(n for n, _ in truth):
        return _verdict(False, f"the files are right, the labels are {labels}.", "labels[p]: one label per line of the index")
    if len(got) != len(truth):
        return _verdict(
            False, f"{len(got)} pairs for {len(truth)} positions.", "one (file, label) pair per position of the split"
        )
    wrong = [pair for pair in got if pair not in truth]
    return _verdict(
        False,
        f"{len(wrong)} of your {len(got)} pairs are not items of the split, e.g. {wrong[0]}.",
        "a position is a line number of the index, and labels holds one label per line of the index",
    )


def check_herbarium_items(func: Callable[[list[str], np.ndarray, list[int]], Any]) -> Verdict:
    """Notebook ``01_access``: ``func(index, labels, positions)`` gives the (file, label) items of a split of another layout.

    The layout: ``index`` lists file names in the archive's own order (not
    sorted), ``labels`` holds a 0-based label per line of the index, and a
    split is 0-based positions in the index. The pairs may come in any order (a split is a set of items), as a list
    or a dict of file name to label.
    """
    # Oxford's habits (ids name files, subtract 1) are wrong here: the planted slips
    answer, error = _call(func, list(_SCANS), _SCAN_LABELS.copy(), list(_SCAN_SPLIT))
    if error:
        return _verdict(False, error, RAISED_HINT)
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
    got, problem = _as_pairs(answer, 10 * len(_SCANS))
    if got is None:
        return _verdict(False, f"{problem}.", "return a list of (name, label) tuples")
    truth = [(_SCANS[p], int(_SCAN_LABELS[p])) for p in _SCAN_SPLIT]
    if sorted(got) == sorted(truth):
        order = "" if got == truth else " (In another order than `positions`, which is fine: the same items.)"
        return _verdict(
            True,
            "the index says which file, the labels follow it, and nothing is shifted: this layout's rules, not Oxford's." + order,
        )
    return _herbarium_feedback(got)


def _strays_verdict(strays: list[str], listing: list[str]) -> Verdict:
    """Exercise 7's pairs hold files that are not images: name the first (a macOS ``._`` file is explained)."""
    unlisted = [n for n in strays if n not in listing]
    if unlisted:
        more = f" (and {len(unlisted) - 1} more)" if len(unlisted) > 1 else ""
        return _verdict(
            False,
            f"your pairs include {unlisted[0]}{more}, which is not in the listing: this folder does not hold it.",
            "pair the names the listing holds; a name built from a range of ids may be a file that is not there",
        )
    apple = [n for n in strays if n.startswith("._")]
    why = (
        f"{apple[0]} ends in {Path(apple[0]).suffix} but is macOS metadata (an AppleDouble file, written beside every "
        "file a Mac copies to a foreign disk or zip), not a photo"
        if apple
        else f"{strays[0]} is not an image"
    )
    more = f" (and {len(strays) - 1} more)" if len(strays) > 1 else ""
    return _verdict(
        False,
        f"your pairs include files that are not images: {why}{more}.",
        f"keep only names matching {_NAME_SHAPE}",
    )


def _wrong_pairs_verdict(pairs: list[Any], wrong: list[str], sorted_names: list[str], labels: np.ndarray) -> Verdict:
    """Exercise 7's wrong labels, named: by position in the sorted listing, in listing order, or otherwise."""
    by_sorted_position = {n: int(labels[k]) for k, n in enumerate(sorted_names)}
    truth = {n: int(labels[int(re.search(r"(\d+)", n).group(1)) - 1]) for n, _ in pairs}
    if all(int(lab) == truth[n] - 1 for n, lab in pairs):
        return _verdict(
            False,
            "every label is one lower than the file's: these labels are 0-based already, and a second - 1 shifts them "
            "(Oxford's - 1 is a fact about Oxford's 1-based file, not a step of every dataset).",
            "labels[id - 1] as it is: the - 1 is on the id (a position), not on the label",
        )
    if all(by_sorted_position[n] == int(lab) for n, lab in pairs):
        return _verdict(
            False,
            f"you paired the k-th name of the sorted listing with labels[k]. That holds only while no image is "
            f"missing: {_PAIR_NAME.format(_PAIR_DELETED)} is not in this folder, so from there on every file "
            f"takes its predecessor's label ({len(wrong)} wrong here, where the classes change; e.g. {wrong[0]}).",
            "each file's id is in its name: read it from there, whatever else the folder holds or lacks",
        )
    if all(int(lab) == int(labels[k]) for k, (_, lab) in enumerate(pairs)):
        return _verdict(
            False,
            "you paired files with labels in listing order; the listing is not sorted.",
            "take each file's id from its name: ids are 1-based, positions in labels 0-based",
        )
    return _verdict(
        False,
        f"{len(wrong)} of {len(pairs)} files have the wrong label, e.g. {wrong[0]}.",
        f"{_PAIR_NAME.format(1)} has labels[0]: use the number in the name, minus 1",
    )


def check_pair_files(func: Callable[[list[str], np.ndarray], Any]) -> Verdict:
    """Notebook ``01_access``: ``func(listing, labels)`` pairs each image of a folder's listing with its 0-based label.

    ``labels[i - 1]`` is image id ``i``'s label (as in ``imagelabels.mat``);
    the folder is the one the exercise describes (a volunteer's copy from a
    Mac, one photo deleted). It must return (file name, label) pairs, one per
    image in the listing; any order is fine as long as each file has its own label.
    """
    # The traps: a macOS "._IMG_0007.jpeg" ends in .jpeg; and with photo 57 deleted, sorting the listing and pairing
    # by position (right on a complete folder) gives every later file its predecessor's label.
    ids = [i for i in range(1, 121) if i != _PAIR_DELETED]
    names = [_PAIR_NAME.format(i) for i in ids]
    labels = np.repeat(np.array([76, 12, 5, 61], dtype=np.int64), 30)  # class blocks, not in class order
    listing = [*names, ".DS_Store", "README.txt", "._" + _PAIR_NAME.format(7)]  # macOS metadata beside photo 7
    random.Random(4).shuffle(listing)
    answer, error = _call(func, listing.copy(), labels.copy())
    if error:
        hint = (
            f"skip names that are not {_NAME_SHAPE}"
            if "invalid literal" in error
            else f"image ids start at 1: {_PAIR_NAME.format(1)} is labels[0]"
            if "out of bounds" in error
            else RAISED_HINT
        )
        return _verdict(False, error, hint)
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
    pairs, problem = _as_pairs(answer, 2 * len(listing))
    if pairs is None:
        return _verdict(False, f"{problem}.", "return a list of (file_name, label) tuples")
    truth = {n: int(labels[i - 1]) for i, n in zip(ids, names)}
    got_names = [n for n, _ in pairs]
    strays = sorted({n for n in got_names if n not in truth})
    if strays:
        return _strays_verdict(strays, listing)
    if sorted(got_names) != sorted(names):
        return _verdict(
            False, f"{len(set(got_names))} distinct files paired, expected {len(names)}.", "each image file in the listing once"
        )
    wrong = [n for n, lab in pairs if truth[n] != int(lab)]
    if wrong:
        return _wrong_pairs_verdict(pairs, wrong, sorted(names), labels)
    return _verdict(True, "every file has its own label, whatever order the listing came in.")
