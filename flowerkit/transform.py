"""Transform (quality): what the model needs, as torchvision ``transforms.v2`` pipelines.

Introduced in notebook ``02_transform``. The model needs every image as a
float32 tensor of shape (3, S, S), channels first, normalised per channel
with statistics of the *train* split. Following torchvision's performance
guidance, images stay uint8 tensors through resizing and cropping (with
antialiasing); conversion to float and normalisation come last, and can even
run once per batch (:func:`normalize_batch`).

Augmentation (random crops, flips, colour jitter) belongs to training only:
the evaluation pipeline is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2
from tqdm.auto import tqdm

from .access import to_rgb
from .facts import IMAGENET_MEAN, IMAGENET_STD, WORKER_TIMEOUT_S

__all__ = [
    "ToRGB",
    "augment_uint8",
    "Stats",
    "compute_stats",
    "denormalize",
    "eval_transform",
    "normalize_batch",
    "train_transform",
]


Stats = tuple[tuple[float, float, float], tuple[float, float, float]]


class ToRGB(nn.Module):
    """Make any input 3-channel RGB: PIL grayscale/CMYK/palette/RGBA, or a 1- or 4-channel tensor.

    A 4-channel tensor is taken as RGBA and its alpha dropped (CMYK only
    exists as a PIL mode, which :func:`flowerkit.access.to_rgb` converts). Introduced in notebook ``02_transform``.
    """

    def forward(self, img: Any) -> Any:
        if isinstance(img, Image.Image):
            return to_rgb(img)
        if isinstance(img, torch.Tensor) and img.ndim >= 3:
            channels = img.shape[-3]
            if channels == 1:
                return img.expand(*img.shape[:-3], 3, *img.shape[-2:]).clone()
            if channels == 4:
                return img[..., :3, :, :]
        return img


def _resize_crop(size: int) -> v2.Compose:
    """Any image -> uint8 tensor (3, size, size): aspect-preserving resize of the short side, then centre crop.

    Unlike ``Resize((size, size))``, which squashes a 500x750 photo into a
    square, this keeps shapes undistorted. Images smaller than ``size`` are
    upscaled first, so the crop never pads.
    """
    return v2.Compose([ToRGB(), v2.ToImage(), v2.Resize(size, antialias=True), v2.CenterCrop(size)])


def _to_normalized(mean: Sequence[float], std: Sequence[float]) -> v2.Compose:
    """uint8 tensor (image or batch) -> float32 in [0, 1] -> ``(x - mean) / std`` per channel."""
    return v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])


def eval_transform(size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> v2.Compose:
    """The deterministic evaluation pipeline: RGB, resize short side, centre crop, float, normalise. Introduced in notebook ``02_transform``."""
    return v2.Compose([_resize_crop(size), _to_normalized(mean, std)])


def train_transform(
    size: int,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    *,
    scale: tuple[float, float] = (0.5, 1.0),
    rotation: float = 0.0,
    jitter: float = 0.0,
) -> v2.Compose:
    """The training pipeline: random resized crop (mild aspect change), flip, optional rotation and jitter, normalise.

    ``jitter`` changes brightness, contrast and saturation only: hue jitter
    would change what a flower *is* when hue is part of its class. Introduced in notebook ``02_transform``.
    """
    steps: list[nn.Module] = [
        ToRGB(),
        v2.ToImage(),
        v2.RandomResizedCrop(size, scale=scale, ratio=(0.8, 1.25), antialias=True),
        v2.RandomHorizontalFlip(),
    ]
    if rotation:
        steps.append(v2.RandomRotation(rotation))
    if jitter:
        steps.append(v2.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter))
    return v2.Compose([*steps, _to_normalized(mean, std)])


def augment_uint8(size: int, pad: int | None = None) -> v2.Compose:
    """Training augmentation for uint8 (3, size, size) tensors, e.g. from a cache: a random shift and a flip.

    The shift is a random ``size`` crop of the image padded by ``pad`` pixels
    (default ``size // 10``, edge pixels repeated); the output stays uint8
    and the same size, so it can be normalised once per batch. Used by our
    pipeline in notebook ``04_three_teams`` (:mod:`flowerkit.teams`).
    """
    pad = size // 10 if pad is None else pad
    return v2.Compose([v2.RandomCrop(size, padding=pad, padding_mode="edge"), v2.RandomHorizontalFlip()])


def normalize_batch(
    batch: torch.Tensor, mean: Sequence[float], std: Sequence[float], *, out: torch.Tensor | None = None
) -> torch.Tensor:
    """uint8 batch (B, 3, H, W) -> normalised float32 batch, in one vectorised step (notebook ``03_load``).

    Computes ``(x / 255 - mean) / std`` as ``x * (1 / (255 std)) - mean / std``
    with in-place ops on the new float tensor (or ``out``): one allocation, two passes.
    """
    std_t = torch.as_tensor(std, dtype=torch.float32, device=batch.device).view(1, -1, 1, 1)
    scale = 1.0 / (255.0 * std_t)
    shift = torch.as_tensor(mean, dtype=torch.float32, device=batch.device).view(1, -1, 1, 1) / std_t
    out = batch.to(torch.float32) if out is None else out.copy_(batch)
    return out.mul_(scale).sub_(shift)


def denormalize(x: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """Undo normalisation for display: ``x * std + mean``, clipped to [0, 1], on (3,H,W) or (B,3,H,W). Introduced in notebook ``05_the_app``."""
    shape = (-1, 1, 1)
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(shape)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(shape)
    return (x * s + m).clamp(0, 1)


def compute_stats(
    images: Iterable[Any],
    *,
    size: int | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = True,
) -> Stats:
    """Per-channel mean and std (in [0, 1] units) over every pixel of a dataset: pass the *train* split.

    ``images`` is a Dataset of (image, label) pairs or of images. With
    ``size`` the images are first resized and centre-cropped (as the model
    will see them); without it the Dataset must already return tensors of
    one size: uint8 (0..255) or float (0..1). Sums are accumulated in float64, so the result
    equals a direct computation over all pixels. Introduced in notebook ``02_transform``: statistics from the test split would leak it into training.
    """
    if size is not None:
        if not isinstance(images, Dataset):
            raise TypeError("compute_stats(size=...) needs a Dataset, so that its transform can be replaced")
        images = _Resized(images, size)
    timeout = WORKER_TIMEOUT_S if num_workers > 0 else 0  # a stuck worker: an error, not a frozen kernel
    loader = DataLoader(images, batch_size=batch_size, num_workers=num_workers, timeout=timeout)  # type: ignore[arg-type]
    total = torch.zeros(3, dtype=torch.float64)
    total_sq = torch.zeros(3, dtype=torch.float64)
    count = 0
    # Never hand the loader itself to tqdm: tqdm.auto's class calls iter() on it in its constructor, which starts
    # a second set of worker processes that nobody consumes; in Jupyter that orphaned iterator ends up in the next
    # loader's forked workers and dies there with "AssertionError: can only test a child process" (issue 17).
    with tqdm(total=len(loader), desc="channel statistics", unit="batch", disable=not progress) as bar:
        for batch in loader:
            x = batch[0] if isinstance(batch, list | tuple) else batch
            x = x.to(torch.float64) / 255.0 if x.dtype == torch.uint8 else x.to(torch.float64)
            total += x.sum(dim=(0, 2, 3))
            total_sq += (x * x).sum(dim=(0, 2, 3))
            count += x.shape[0] * x.shape[2] * x.shape[3]
            bar.update()
    if count == 0:
        raise ValueError("compute_stats got an empty dataset")
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(0).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())  # type: ignore[return-value]


class _Resized:
    """Wrap a Dataset so its images come out as uint8 (3, size, size) tensors (for :func:`compute_stats`)."""

    def __init__(self, dataset: Any, size: int) -> None:
        if getattr(dataset, "transform", None) is not None:
            raise ValueError("compute_stats(size=...) needs a Dataset without a transform (it applies its own resize)")
        self.dataset, self.transform = dataset, _resize_crop(size)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> torch.Tensor:
        item = self.dataset[idx]
        image = item[0] if isinstance(item, tuple) else item
        return self.transform(image)
