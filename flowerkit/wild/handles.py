"""Datasets that hold a memory map, an HDF5 file or a zip archive, and what each does in DataLoader workers.

Notebook ``07_in_the_wild``, section 2, and its second fix exercise.
:class:`EagerMemmapCache` opens a memory map in ``__init__``, as
``flowerkit.load.CachedFlowers`` used to; :class:`EagerH5Flowers` opens an HDF5
file in ``__init__``, :class:`LazyH5Flowers` on first use; :class:`ZipImages`
is the zip exercise's dataset. What happens to each in workers is what the
notebook measures and asks; the comment below says why, not these docstrings
(``help(wild)`` shows them).
"""

# Why: under spawn and forkserver a worker receives its dataset pickled. An open numpy.memmap pickles *all its data*
# (EagerMemmapCache: every spawn or forkserver worker receives its own copy of every image, once per epoch without
# persistent workers); an h5py.File or a zipfile.ZipFile does not pickle at all, and under fork an open ZipFile is one
# file position shared by every worker, so their reads get mixed. The fix is the same each time: hold the path, open
# the file in the process that reads it (LazyH5Flowers, and CachedFlowers today), and leave the handle out of the
# pickle.

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from ..paths import _written_whole

__all__ = ["EagerH5Flowers", "EagerMemmapCache", "LazyH5Flowers", "ZipImages", "write_hdf5", "write_zip"]


class EagerMemmapCache(Dataset):
    """A uint8 cache opened the old way: ``np.load(..., mmap_mode="r")`` in ``__init__``; items ``(image, label)``.

    Reads the same ``.npy`` and manifest as ``flowerkit.load.CachedFlowers``. Introduced in notebook
    ``07_in_the_wild``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.images = np.load(self.path, mmap_mode="r")
        self.labels: list[int] = json.loads(self.path.with_suffix(".json").read_text())["labels"]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(np.array(self.images[idx])), self.labels[idx]


def write_hdf5(images: np.ndarray, labels: Sequence[int], path: str | Path) -> Path:
    """Write uint8 ``images`` (N, 3, S, S) and their labels to an HDF5 file, one chunk per image; return its path.

    Written under a temporary name, then renamed. Introduced in notebook ``07_in_the_wild``.
    """
    path = Path(path)
    with _written_whole(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("images", data=np.asarray(images), chunks=(1, *np.shape(images)[1:]))
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.int64))
    return path


class EagerH5Flowers(Dataset):
    """Images from an HDF5 file opened with ``h5py`` in ``__init__``; items ``(image, label)``.

    Introduced in notebook ``07_in_the_wild``.
    """

    # the handle cannot be pickled, so spawn and forkserver workers fail; under fork the workers inherit the open file
    # (HDF5's own advice is to open a file in each process that reads it)

    def __init__(self, path: str | Path) -> None:
        self.file = h5py.File(path, "r")
        self.images = self.file["images"]
        self.labels = self.file["labels"][:]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.images[idx]), int(self.labels[idx])


class LazyH5Flowers(Dataset):
    """Images from an HDF5 file, safe in DataLoader workers under fork, spawn and forkserver.

    How it stays safe is what exercise 7 of notebook ``07_in_the_wild`` asks the student to build: the notebook
    shows this code after it. Introduced in notebook ``07_in_the_wild``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with h5py.File(self.path, "r") as f:
            self.labels = f["labels"][:]
        self._file: h5py.File | None = None
        self._pid: int | None = None

    def _images(self) -> h5py.Dataset:
        # opened on first use in each process; a worker forked from a process that had it open opens its own
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._file["images"]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None, "_pid": None}  # pickles as its path: an open handle does not travel

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self._images()[idx]), int(self.labels[idx])


def write_zip(files: Sequence[str | Path], path: str | Path) -> Path:
    """Store ``files`` (uncompressed, JPEGs are compressed already) in a zip archive at ``path``; return its path.

    Introduced in notebook ``07_in_the_wild``, for the zip exercise.
    """
    path = Path(path)
    with _written_whole(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, strict_timestamps=False) as archive:
        for file in files:  # strict_timestamps=False: files dated before 1980 too
            archive.write(file, Path(file).name)
    return path


class ZipImages(Dataset):
    """The zip exercise's broken dataset: a ``zipfile.ZipFile`` opened in ``__init__``; an item is one file's bytes.

    What goes wrong in workers, and why, is the exercise. Introduced in notebook ``07_in_the_wild``.
    """

    def __init__(self, zip_path: str | Path) -> None:
        self.archive = zipfile.ZipFile(zip_path)
        self.names = sorted(self.archive.namelist())

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, idx: int) -> bytes:
        return self.archive.read(self.names[idx])
