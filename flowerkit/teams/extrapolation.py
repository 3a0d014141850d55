"""From seconds on mini-flowers to hours on the real photos: per-image costs measured here, scaled to a whole run.

Introduced in notebook ``04_three_teams`` (:func:`extrapolate`): the capstone
runs in seconds on mini-flowers; this says what one run of the Efficiency team's
pipeline and of ours would cost on the real train split's 1,020 photos at 224 px for 30 epochs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..access import OxfordFlowers102, load_rgb
from ..device import pick_device
from ..facts import IMAGENET_MEAN, IMAGENET_STD, NUM_CLASSES
from ..load import decode_resized
from ..model import FlowerCNN
from ..transform import normalize_batch
from .efficiency import _classic_transform
from .pipeline import STEP_BATCH

__all__ = ["REAL_TRAIN_IMAGES", "extrapolate"]

#: Images in its train split (``trnid``: 10 per class), what one training run reads per epoch.
REAL_TRAIN_IMAGES = 1020


@dataclass(frozen=True)
class _Extrapolation:
    """Measured per-image costs, scaled to a whole run: ``images`` per epoch, ``epochs`` epochs, ``size`` px.

    Ours decodes each image once (``ours_decode_ms``, a draft decode into the
    cache), then every epoch converts and normalises each batch
    (``ours_epoch_ms`` per image) and pays the training step (``step_ms`` per
    image, in steps of :data:`STEP_BATCH`). The Efficiency team pays a full
    decode and per-image conversion (``theirs_decode_ms``) for every image of
    every epoch, and the same step (their loop stacks single images into
    steps of the same size, :class:`~flowerkit.teams.StackedBatches`). Both
    shift and flip their training images alike, left out of both. What
    :func:`extrapolate` returns; notebook ``04_three_teams`` prints it.
    """

    size: int
    images: int
    epochs: int
    ours_decode_ms: float
    theirs_decode_ms: float
    step_ms: float
    device: str = "cpu"
    ours_epoch_ms: float = 0.0

    @property
    def ours_hours(self) -> float:
        """Our pipeline's whole run, in hours: decode once, then ``epochs`` batched passes (normalise and step)."""
        return (self.images * self.ours_decode_ms + self.epochs * self.images * (self.ours_epoch_ms + self.step_ms)) / 3.6e6

    @property
    def theirs_hours(self) -> float:
        """The Efficiency team's whole run, in hours: decode and step every image, every epoch."""
        return self.epochs * self.images * (self.theirs_decode_ms + self.step_ms) / 3.6e6

    def __str__(self) -> str:
        return "\n".join(
            [
                f"{self.images:,} images, {self.size} px, {self.epochs} epochs (per-image costs measured on this machine, "
                f"the step on {self.device}):",
                f"  Efficiency team: {self.theirs_decode_ms:.1f} ms full decode and conversion + {self.step_ms:.1f} ms "
                f"step (batch {STEP_BATCH}), every epoch -> {_duration(self.theirs_hours)}",
                f"  ours: {self.ours_decode_ms:.1f} ms decode once, then {self.ours_epoch_ms:.1f} ms conversion (per batch) "
                f"+ {self.step_ms:.1f} ms step every epoch -> {_duration(self.ours_hours)} "
                f"({self.theirs_hours / self.ours_hours:.1f}x less)",
            ]
        )


def _duration(hours: float) -> str:
    """``hours`` as a person says it: minutes under two hours, hours above."""
    return f"{hours:.1f} hours" if hours >= 2 else f"{60 * hours:.0f} minutes"


def _median_ms(func: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):  # the first call warms up
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times[1:]))


def _step_ms_per_image(batch_size: int, size: int, repeats: int, device: torch.device) -> float:
    """Milliseconds per image of one AdamW step of FlowerCNN on a (batch_size, 3, size, size) batch (channels-last).

    On ``device``, where the course trains (:func:`flowerkit.device.pick_device`); a GPU is synchronised before the
    clock is read, or the time would be that of queueing the work.
    """
    torch.manual_seed(0)
    model = FlowerCNN().to(device, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters())
    x = torch.randn(batch_size, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, NUM_CLASSES, (batch_size,), device=device)

    def step() -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return _median_ms(step, repeats) / batch_size


def _batch_conversion_ms(size: int, repeats: int) -> float:
    """Milliseconds per image of our per-batch conversion: a :data:`STEP_BATCH` of cached uint8 images normalised into
    one float32 batch (:func:`flowerkit.transform.normalize_batch`, what :class:`flowerkit.load.CollateNormalize` runs)."""
    batch = torch.randint(0, 256, (STEP_BATCH, 3, size, size), dtype=torch.uint8).contiguous(memory_format=torch.channels_last)
    return _median_ms(lambda: normalize_batch(batch, IMAGENET_MEAN, IMAGENET_STD), repeats) / STEP_BATCH


def extrapolate(
    root: str | Path, *, size: int = 224, images: int = REAL_TRAIN_IMAGES, epochs: int = 30, files: int = 6
) -> _Extrapolation:
    """Measure each per-image cost at ``size`` px on this machine, then scale both pipelines to a whole run.

    Decoding is timed on ``files`` JPEGs of the dataset at ``root`` (mini-flowers'
    JPEGs have the real photos' size, 500 px on the short side); our per-batch
    conversion and the training step on random batches (its cost does not depend on the pixels). Defaults:
    one run on the real train split, 1,020 images at 224 px for 30 epochs. Introduced in notebook ``04_three_teams``.
    """
    paths = OxfordFlowers102(root, "train").image_files
    picks = [paths[i] for i in np.linspace(0, len(paths) - 1, files).astype(int)]
    theirs = _classic_transform(size)
    return _Extrapolation(
        size,
        images,
        epochs,
        ours_decode_ms=float(np.median([_median_ms(lambda p=p: decode_resized(p, size), 1) for p in picks])),
        theirs_decode_ms=float(np.median([_median_ms(lambda p=p: theirs(load_rgb(p)), 1) for p in picks])),
        step_ms=_step_ms_per_image(STEP_BATCH, size, 2, device := pick_device()),  # the same step for both teams
        device=str(device),
        ours_epoch_ms=_batch_conversion_ms(size, 3),  # charged in full: on a CPU the workers share the cores with the step
    )
