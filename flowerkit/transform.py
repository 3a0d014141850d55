"""Transform (quality): what the model needs, as torchvision ``transforms.v2`` pipelines.

Introduced in notebook ``02_transform``. Following torchvision's performance
guidance, images stay uint8 tensors through resizing and cropping (with
antialiasing); conversion to float and normalisation come last.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "eval_transform", "resize_crop", "to_normalized", "train_transform"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_crop(size: int) -> v2.Compose:
    """PIL image -> uint8 tensor (3, size, size): aspect-preserving resize of the short side, then centre crop."""
    return v2.Compose([v2.PILToTensor(), v2.Resize(size, antialias=True), v2.CenterCrop(size)])


def to_normalized(mean: Sequence[float], std: Sequence[float]) -> v2.Compose:
    """uint8 tensor (or batch) -> float32 in [0, 1] -> normalised with ``mean`` and ``std`` per channel."""
    return v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])


def eval_transform(size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> v2.Compose:
    """The deterministic evaluation pipeline: resize, centre crop, float, normalise."""
    return v2.Compose([resize_crop(size), to_normalized(mean, std)])


def train_transform(size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> v2.Compose:
    """The training pipeline: a mild random resized crop and a horizontal flip, then float and normalise."""
    return v2.Compose(
        [
            v2.PILToTensor(),
            v2.RandomResizedCrop(size, scale=(0.5, 1.0), ratio=(0.8, 1.25), antialias=True),
            v2.RandomHorizontalFlip(),
            to_normalized(mean, std),
        ]
    )
