"""What :func:`flowerkit.doctor.diagnose` looks at (notebooks ``04_three_teams`` and ``08_your_own_data``): a :class:`_Subject`.

:func:`_subject` unwraps a DataLoader to its dataset and reads, from wherever the dataset keeps them, its files
and labels (ours, torchvision's, ImageFolder's, any list of (path, label) pairs, through ``Subset`` and
``ConcatDataset``), its split, its class names, and Oxford's ``.mat`` files when they lie beside the images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Subset

from ..access import FlowersFormatError, _torchvision_files, _torchvision_split, read_labels, read_splits
from ..facts import LABELS_FILE, SETID_FILE

__all__: list[str] = []

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm")
_PAIR_ATTRS = ("samples", "imgs")  # torchvision's ImageFolder: (path, class index) pairs
# "_image_files", "_labels": a dataset of one's own that keeps them private (torchvision's: read by _torchvision_files)
_FILE_ATTRS = ("image_files", "_image_files", "files", "image_paths", "paths", "filenames")
_LABEL_ATTRS = ("labels", "_labels", "targets")


@dataclass
class _Subject:
    """What :func:`diagnose` looks at: a dataset, maybe the loader around it, and what is known about its files and labels."""

    dataset: Any
    loader: Any = None
    files: list[Path] | None = None
    labels: list[int] | None = None
    split: str | None = None
    classes: list[str] | None = None  # class names the dataset declares (ImageFolder's, ours)
    labels_from: str | None = None  # where the labels were read from (an attribute, its items)
    reference: tuple[np.ndarray, dict[str, set[int]]] | None = None  # Oxford's .mat files beside the images
    sampled_classes: int = 0  # classes seen in the items the label probe drew


def _subject(obj: Any) -> _Subject:
    loader = obj if isinstance(obj, DataLoader) else None
    dataset = obj.dataset if loader is not None else obj
    base = dataset
    while isinstance(base, Subset):
        base = base.dataset
    files, labels, where = _lists(dataset)  # ours, torchvision's, ImageFolder's, a list of (path, label) pairs...
    split = getattr(base, "split", None) or _torchvision_split(base) or getattr(base, "_split", None)
    reference = _reference(files) if files else None
    return _Subject(
        dataset, loader, files or None, labels, split if isinstance(split, str) else None, _classes_of(base), where, reference
    )


def _reference(files: list[Path]) -> tuple[np.ndarray, dict[str, set[int]]] | None:
    """The official labels (0-based, by image id) and split ids from the .mat files beside the images, if present."""
    base = files[0].parent.parent
    try:
        return read_labels(base / LABELS_FILE), {k: set(v.tolist()) for k, v in read_splits(base / SETID_FILE).items()}
    except (OSError, FlowersFormatError):
        return None


def _is_path(v: Any) -> bool:
    return isinstance(v, (str, os.PathLike)) and Path(v).suffix.lower() in _IMAGE_SUFFIXES


def _is_label(v: Any) -> bool:
    if isinstance(v, torch.Tensor):
        return v.ndim == 0 and not v.is_floating_point()
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _sequence(obj: Any, n: int) -> list[Any] | None:
    """``obj`` as a list when it is a list, tuple, 1-D array or tensor of ``n`` items."""
    if isinstance(obj, (list, tuple)) and len(obj) == n:
        return list(obj)
    if isinstance(obj, (np.ndarray, torch.Tensor)) and obj.ndim == 1 and len(obj) == n:
        return obj.tolist()
    return None


def _lists_of(ds: Any) -> tuple[list[Path] | None, list[int] | None, str | None]:
    """Files and labels a dataset keeps in attributes: the usual names, or any list of (path, label) pairs or paths.

    A label list (``labels``, ``targets``) wins over the labels of (path, label) pairs, which then give the files
    only: the list is what ``__getitem__`` returns, the pairs may be raw (the Access team's ``samples`` keep the
    file's 1-based labels; ``labels`` holds the ones their model sees).
    """
    n = len(ds)
    own = [k for k in getattr(ds, "__dict__", {}) if k not in _PAIR_ATTRS + _FILE_ATTRS + _LABEL_ATTRS]
    files = labels = where = None
    for name in _LABEL_ATTRS:
        seq = _sequence(getattr(ds, name, None), n) if labels is None else None
        if seq is not None and all(_is_label(v) for v in seq):
            labels, where = [int(v) for v in seq], f"attribute {name!r}"
    for name in (*_PAIR_ATTRS, *own):
        seq = _sequence(getattr(ds, name, None), n)
        if seq and all(isinstance(p, (tuple, list)) and len(p) == 2 and _is_path(p[0]) and _is_label(p[1]) for p in seq):
            files = [Path(p[0]) for p in seq]
            if labels is None:
                labels, where = [int(p[1]) for p in seq], f"attribute {name!r}"
            break
    for name in (*_FILE_ATTRS, *own):
        seq = _sequence(getattr(ds, name, None), n) if files is None else None
        if seq and all(_is_path(p) for p in seq):
            files = [Path(p) for p in seq]
    return files, labels, where


def _lists(ds: Any) -> tuple[list[Path] | None, list[int] | None, str | None]:
    """:func:`_lists_of` through ``Subset`` and ``ConcatDataset`` wrappers."""
    if isinstance(ds, Subset):
        files, labels, where = _lists(ds.dataset)
        idx = list(ds.indices)
        return ([files[i] for i in idx] if files else None), ([labels[i] for i in idx] if labels is not None else None), where
    if isinstance(ds, ConcatDataset):
        parts = [_lists(d) for d in ds.datasets]
        files = [f for p in parts for f in p[0]] if parts and all(p[0] for p in parts) else None
        labels = [y for p in parts for y in p[1]] if parts and all(p[1] is not None for p in parts) else None
        return files, labels, parts[0][2] if parts else None
    public = _torchvision_files(ds)
    if public is not None:
        return public[0], public[1], "its items, through its public loader"
    return _lists_of(ds)


def _classes_of(base: Any) -> list[str] | None:
    classes = getattr(base, "classes", None)
    if isinstance(classes, (list, tuple)) and len(classes) > 1 and all(isinstance(c, str) for c in classes):
        return list(classes)
    return None
