"""The Efficiency team: correct images, slow. Their loader and their pipeline.

Introduced in notebook ``03_load``, which stages their run (right answers,
their loop gathering 64 one-image batches per step, far too slow), measures
how long it waits for data and each stage of their loader, then prints
:func:`efficiency_team_loader`, its reviewer's comments included.
Notebook ``04_three_teams`` trains their loader unchanged against the others
on one wall-clock budget (``build_pipeline("efficiency")``), and
:func:`flowerkit.teams.extrapolate` scales their per-image cost to the real dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from torchvision import transforms as T

from ..access import OxfordFlowers102, load_rgb
from ..facts import DEFAULT_SIZE, IMAGENET_MEAN, IMAGENET_STD
from ..load import make_loader
from ..transform import augment_uint8, compute_stats
from .pipeline import STEP_BATCH, _cache, _Pipeline

__all__ = ["efficiency_team_loader"]  # EFFICIENCY_BUGS and EFFICIENCY_INFO importable, not listed: see the package

#: The Efficiency team's four bugs, numbered as in :func:`efficiency_team_loader`.
EFFICIENCY_BUGS = ("batch size 1", "no workers", "full decode every epoch", "per-image conversion")

#: Their entry of :data:`flowerkit.teams.TEAM_INFO`: title, bugs in one line, and the notebook that staged it.
EFFICIENCY_INFO: dict[str, str] = {
    "title": "Efficiency team",
    "bug": "batch size 1, no workers, a full JPEG decode and per-image conversion every epoch (it shuffles)",
    "notebook": "03_load",
}


def _classic_transform(size: int, mean: Any = IMAGENET_MEAN, std: Any = IMAGENET_STD, *, train: bool = False) -> Any:
    """The classic per-image torchvision pipeline: Resize, CenterCrop, ToTensor, Normalize (correct, not fast).

    With ``train=True`` our random shift and flip (:func:`flowerkit.transform.augment_uint8`, on the PIL picture) come
    after the crop: the team's augmentation is ours, so that what sets them apart in notebook ``04_three_teams`` is
    their efficiency bugs alone. The Efficiency team's transform: notebook ``03_load`` prints it inside
    :func:`efficiency_team_loader`, their code.
    """
    shift_flip = [augment_uint8(size)] if train else []
    return T.Compose([T.Resize(size), T.CenterCrop(size), *shift_flip, T.ToTensor(), T.Normalize(mean, std)])


def efficiency_team_loader(
    root: str | Path,
    split: str = "train",
    size: int = DEFAULT_SIZE,
    *,
    shuffle: bool = True,
    seed: int = 0,
    mean: Any = None,
    std: Any = None,
) -> DataLoader:
    """The Efficiency team's DataLoader: correct output, slow. Introduced in notebook ``03_load``.

    Notebook 03 measures what each of their decisions costs before it prints
    this function, its reviewer's comments included; so the docstring does not
    say. ``mean``/``std``: the statistics to normalise with (default: the
    train split's, computed once); ``shuffle`` and ``seed``: the order their
    loader draws the images in (shuffled and seeded, as the team had it).
    """
    # The reviewer's notes, one per decision:
    # 1. batch_size=1: every image makes its own trip through the loader (sampler, fetch, collate). Their training
    #    loop gathers 64 of these one-image batches into each optimiser step (StackedBatches), so the model step is an
    #    ordinary one: the cost is the loader's, paid once per image;
    # 2. num_workers=0: decoding runs in the training process, which waits;
    # 3. a full-size JPEG decode and a resize of every image in **every** epoch (no draft, no cache);
    # 4. per-sample work in the dataset's transform: each image is converted to float and normalised on its own
    #    (_classic_transform), not once per batch.
    # They do shuffle (seeded), augment the training split as we do (a random shift and flip) and normalise with the
    # train split's statistics: their bugs cost time, not correctness.
    if mean is None or std is None:  # the train split's statistics, as ours (notebook 02)
        mean, std = _train_stats(root, size)
    transform = _classic_transform(size, mean, std, train=split == "train")
    dataset = OxfordFlowers102(root, split, transform=transform)
    return DataLoader(dataset, batch_size=1, shuffle=shuffle, num_workers=0, generator=torch.Generator().manual_seed(seed))


def _train_stats(root: str | Path, size: int, progress: bool = False, num_workers: int | None = None) -> Any:
    """The train split's per-channel (mean, std), from the course's uint8 cache (built once, then reused from disk)."""
    return compute_stats(_cache(OxfordFlowers102(root, "train"), size, progress, num_workers), progress=False)


def _efficiency_team_decode(path: Path, size: int) -> torch.Tensor:
    """The Efficiency team's picture as uint8 (3, size, size): a full-size decode, PIL Resize(size) + CenterCrop(size).

    Exactly the pixels their :func:`_classic_transform` hands to ``ToTensor``,
    so a cache of it tests their model on their own images in seconds
    (evaluation is not what the team is judged on for time).
    """
    img = T.CenterCrop(size)(T.Resize(size)(load_rgb(path)))  # full size, no draft: their decode
    return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def _efficiency_pipeline(root: str | Path, size: int, seed: int, num_workers: int | None, progress: bool) -> _Pipeline:
    """Their loader unchanged for training; their own images, cached, for a test that takes seconds, not minutes."""
    stats = _train_stats(root, size, progress, num_workers)
    test_set = _cache(OxfordFlowers102(root, "test"), size, progress, num_workers, decode=_efficiency_team_decode)
    test_loader = make_loader(test_set, batch_size=STEP_BATCH, num_workers=num_workers, mean=stats[0], std=stats[1], seed=seed)
    train_loader = efficiency_team_loader(root, "train", size, seed=seed, mean=stats[0], std=stats[1])
    # their loop stacks single images into steps of STEP_BATCH: the same maths as ours, so only time differs
    info = EFFICIENCY_INFO
    return _Pipeline("efficiency", info["title"], train_loader, test_loader, stack=STEP_BATCH)


def __dir__() -> list[str]:
    """What ``dir()`` and Tab completion offer: the public names only (the constants that name bugs stay importable)."""
    return sorted(__all__)
