"""The failed teams' pipelines, each bug named and documented, so they can be run, measured and diagnosed.

Notebook ``01_access`` stages the Access team, ``02_transform`` the Quality
team, ``03_load`` the Efficiency team. Every team used the same
network (:class:`flowerkit.model.FlowerCNN`); only the data pipeline differs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from torch.utils.data import Dataset
from torchvision.transforms import v2

from .access import SPLITS, read_mat
from .transform import ToRGB

__all__ = [
    "AccessTeamFlowers",
    "PerImageStandardize",
    "access_team_samples",
    "classic_transform",
    "efficiency_team_loader",
    "quality_team_transform",
]


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


class PerImageStandardize(nn.Module):
    """The Quality team's normalisation: each image by its *own* mean and std.

    Every image comes out with mean 0 and std 1, so brightness and contrast,
    which tell a white centre from a gold one, are erased image by image.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - x.mean()) / x.std().clamp_min(1e-6)


def quality_team_transform(size: int, train: bool = True) -> v2.Compose:
    """The Quality team's transform, for train *and* eval alike. Introduced in notebook ``02_transform``.

    Each step looks reasonable; each ruins something:

    1. ``Grayscale(num_output_channels=3)`` "to save memory" (it saves none:
       three identical channels) throws away colour, half of what tells
       the classes apart;
    2. ``Resize((size, size))`` squashes every 500x750 photo into a square,
       distorting shapes;
    3. :class:`PerImageStandardize` instead of the train split's statistics;
    4. random rotation (augmentation) applied at evaluation too: the same test
       image gets a different tensor, and prediction, every time.

    ``train`` is accepted and ignored, which is bug 4.
    """
    del train  # bug 4: the same random pipeline for evaluation
    return v2.Compose(
        [
            ToRGB(),
            v2.Grayscale(num_output_channels=3),  # bug 1
            v2.ToImage(),
            v2.Resize((size, size), antialias=True),  # bug 2
            v2.RandomRotation(30),  # bug 4 (at eval)
            v2.ToDtype(torch.float32, scale=True),
            PerImageStandardize(),  # bug 3
        ]
    )


def classic_transform(size: int, mean: Any = (0.485, 0.456, 0.406), std: Any = (0.229, 0.224, 0.225)) -> Any:
    """The classic per-image torchvision pipeline: Resize, CenterCrop, ToTensor, Normalize (correct, not fast)."""
    from torchvision import transforms as T

    return T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor(), T.Normalize(mean, std)])


def efficiency_team_loader(root: str | Path, split: str = "train", size: int = 64, **transform_kw: Any) -> Any:
    """The Efficiency team's DataLoader: correct output, every performance mistake. Introduced in notebook ``03_load``.

    1. ``batch_size=1``: one image per step, so per-step overhead dominates
       and the network never sees a batch (BatchNorm statistics from one image);
    2. ``num_workers=0``: decoding runs in the training process, which waits;
    3. a full-size JPEG decode and a float resize of every image in every
       epoch, no ``draft``, no cache;
    4. ``shuffle=False`` over a split whose files are grouped by class:
       consecutive steps see one class at a time.
    """
    from torch.utils.data import DataLoader

    from .access import OxfordFlowers102

    dataset = OxfordFlowers102(root, split, transform=classic_transform(size, **transform_kw))
    return DataLoader(dataset, batch_size=1, shuffle=False, num_workers=0)
