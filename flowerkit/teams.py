"""The failed teams' pipelines, each bug named and documented, so they can be run, measured and diagnosed.

Notebook ``01_access`` stages the Access team. Every team used the same
network (:class:`flowerkit.model.FlowerCNN`); only the data pipeline differs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PIL import Image
from torch.utils.data import Dataset

from .access import SPLITS, read_mat

__all__ = ["AccessTeamFlowers", "access_team_samples"]


def access_team_samples(root: str | Path, split: str = "train") -> list[tuple[Path, int]]:
    """The Access team's (file, label) pairs, bugs included. Introduced in notebook ``01_access``.

    Their code, and what is wrong with each line:

    1. ``files = os.listdir(jpg)``: the listing order is whatever the file
       system returns (on ext4, hash order), **not** sorted by name, yet they
       pair ``files[k]`` with ``labels[k]``;
    2. ``labels = loadmat(...)["labels"][0]``: left 1-based (1..102) and uint8;
    3. ``files[i] for i in trnid``: the split's image *ids* (1-based file
       numbers) used as *positions* in their list (off by one even if the
       list were sorted); an id equal to the number of files would crash, so
       they silently skip it.
    """
    base = Path(root) / "flowers-102"
    files = [f for f in os.listdir(base / "jpg") if f.endswith(".jpg")]  # bug 1: unsorted listing
    labels = read_mat(base / "imagelabels.mat")["labels"][0]  # bug 2: 1-based uint8
    ids = read_mat(base / "setid.mat")[SPLITS[split]][0]
    return [(base / "jpg" / files[i], int(labels[i])) for i in ids if i < len(files)]  # bug 3: ids as positions


class AccessTeamFlowers(Dataset):
    """The Access team's Dataset: (RGB PIL image, label) from :func:`access_team_samples`.

    When ``CrossEntropyLoss`` crashed on label 102 ("Target 102 is out of
    bounds"), they silenced it with ``label % 102``: class 102 became class 0,
    and every other label stayed shifted by one. Introduced in notebook ``01_access``.
    """

    def __init__(self, root: str | Path, split: str = "train", transform: Any = None) -> None:
        self.samples = access_team_samples(root, split)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, idx: int) -> tuple[Any, int]:
        path, label = self.samples[idx]
        with Image.open(path) as img:
            image: Any = img.convert("RGB")
        if self.transform is not None:
            image = self.transform(image)
        return image, label % 102
