"""Section 1's datasets: an index of photos as a list of records and as NumPy arrays, and visitor captions.

Notebook ``07_in_the_wild``, section 1, and its first fix exercise. :class:`RecordList`
is the dataset whose workers grow, :class:`RecordArrays` the same items from NumPy
arrays. :class:`CaptionList` is the caption exercise's dataset, over
:func:`make_captions`. Why the workers grow is the notebook's exercise 2 (the
comment below; ``help(wild)`` shows these docstrings, so they do not say).
"""

# Why: under fork, a worker shares its parent's memory page by page until it writes to a page. Reading a Python object
# writes to it (its reference count), so a worker that reads every record of a Python list copies, over one epoch,
# every page those records live on (copy-on-read).

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ..classes import CLASSES

__all__ = ["CaptionList", "RecordArrays", "RecordList", "make_captions"]


class RecordList(Dataset):
    """An index of ``n`` photos as a Python list of dicts, one per photo: the dataset whose workers grow.

    Record ``k`` describes ``files[k % len(files)]`` (its path, label and id), as an index of a large
    collection would. An item is ``(path, label)``; a real dataset would then open the file, left out
    here so that an epoch of a few hundred thousand items takes seconds. Introduced in notebook ``07_in_the_wild``.
    """

    def __init__(self, files: Sequence[str | Path], labels: Sequence[int], n: int) -> None:
        self.records = [{"file": str(files[k % len(files)]), "label": int(labels[k % len(files)]), "id": k} for k in range(n)]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, idx: int) -> tuple[str, int]:
        record = self.records[idx]
        return record["file"], record["label"]


class RecordArrays(Dataset):
    """The same index and items as :class:`RecordList`, held in two NumPy arrays.

    The paths are one fixed-width bytes array, the labels one int64 array. Introduced in notebook
    ``07_in_the_wild``.
    """

    # no Python object per photo: reading an item creates new objects in the worker and writes nothing shared (an
    # array is one object, however many elements it holds)

    def __init__(self, files: Sequence[str | Path], labels: Sequence[int], n: int) -> None:
        picks = np.arange(n) % len(files)
        self.files = np.array([str(f).encode() for f in files])[picks]  # dtype S<longest path>
        self.labels = np.asarray(labels, dtype=np.int64)[picks]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: int) -> tuple[str, int]:
        return self.files[idx].decode(), int(self.labels[idx])


def make_captions(n: int, seed: int = 0) -> list[str]:
    """``n`` visitor captions of different lengths, the same for the same seed. Introduced in notebook ``07_in_the_wild``.

    E.g. "visitor 17 saw a pink primrose near the pond at 09:41": the data of the notebook's caption exercise.
    """
    rng = np.random.default_rng(seed)
    places = ("the pond", "the glasshouse", "the rose garden", "the main gate", "the herb beds", "the old wall")
    flowers = rng.integers(0, len(CLASSES), n)
    spots = rng.integers(0, len(places), n)
    minutes = rng.integers(8 * 60, 18 * 60, n)
    return [
        f"visitor {k} saw a {CLASSES[f]} near {places[p]} at {m // 60:02d}:{m % 60:02d}"
        for k, (f, p, m) in enumerate(zip(flowers.tolist(), spots.tolist(), minutes.tolist()))
    ]


class CaptionList(Dataset):
    """The caption exercise's dataset: visitor captions as a Python list of ``str``; item ``i`` is caption ``i``.

    The exercise asks for a class that gives the same items. Introduced in notebook ``07_in_the_wild``.
    """

    # one Python object per caption: each worker copies the pages of every caption it reads (copy-on-read under fork)

    def __init__(self, captions: Sequence[str]) -> None:
        self.captions = list(captions)

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, idx: int) -> str:
        return self.captions[idx]
