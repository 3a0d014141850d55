"""Sampling: which items a DataLoader visits, how often, and in which worker process.

Introduced in notebook ``03_load``. A map-style Dataset is visited through a
*sampler* (indices); a class-balanced sampler (:func:`balanced_sampler`)
draws every class equally often however unevenly the split holds them. An
iterable-style Dataset has no indices: it hands over its items itself, and
:class:`ShardedStream` does so across DataLoader workers.

Everything here is importable by name, so DataLoader worker processes can
unpickle it under spawn or forkserver (macOS, Windows, Python 3.14 Linux).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import torch
import torch.utils.data
from torch.utils.data import IterableDataset, WeightedRandomSampler

__all__ = ["ShardedStream", "balanced_sampler", "class_counts", "worker_share"]

T = TypeVar("T")


def class_counts(labels: Sequence[int] | torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """How many items of each class ``labels`` holds: an int64 tensor of length ``num_classes`` (or max label + 1).

    Introduced in notebook ``03_load`` (the class spread of the test split).
    """
    y = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    return torch.bincount(y, minlength=num_classes or 0)


def _balanced_weights(labels: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """One weight per *sample*: 1 / (number of samples of its class), so every class has the same total weight.

    The weights :class:`torch.utils.data.WeightedRandomSampler` needs to draw
    classes uniformly.
    """
    y = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    return 1.0 / class_counts(y).double()[y]


def balanced_sampler(
    labels: Sequence[int] | torch.Tensor, *, num_samples: int | None = None, seed: int = 0
) -> WeightedRandomSampler:
    """A seeded sampler that draws every class equally often, for ``DataLoader(dataset, sampler=...)``.

    Introduced in notebook ``03_load``.
    """
    # With replacement, num_samples = len(labels) by default: small classes are drawn several times per epoch and
    # large ones only partly; an epoch has the same length, but the model sees a uniform class mix. Not with
    # shuffle=True: the sampler already randomises.
    weights = _balanced_weights(labels)
    generator = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(weights, num_samples or len(weights), replacement=True, generator=generator)


def worker_share(items: Sequence[T]) -> Sequence[T]:
    """The part of ``items`` this DataLoader worker should handle, so that the workers together cover each item once.

    Introduced in notebook ``03_load``.
    """
    # every num_workers-th item from the worker's id; in the main process (num_workers=0, get_worker_info() is None)
    # all of them. Striding rather than cutting into blocks spreads slow and fast items evenly and never drops the
    # remainder (kept out of the docstring: it would answer 03's exercise 6).
    info = torch.utils.data.get_worker_info()  # looked up at call time: None in the main process
    if info is None:
        return items
    return items[info.id :: info.num_workers]


class ShardedStream(IterableDataset):
    """An iterable-style Dataset over ``items``, optionally turned into samples by ``load(item)``, split across workers.

    With ``shard=True`` (the default) an epoch yields every item exactly once
    with any number of workers; ``shard=False`` does not split them (notebook
    03 shows what that does). ``load`` must be importable by name (a
    module-level function, or ``functools.partial`` of one) for workers.
    Introduced in notebook ``03_load``.
    """

    # Each DataLoader worker runs its own copy of __iter__: with shard=False every worker yields every item, and
    # num_workers=2 gives each sample twice (the classic mistake). An iterable dataset decides its own order:
    # DataLoader(shuffle=True) refuses it.

    def __init__(self, items: Sequence[Any], load: Callable[[Any], Any] | None = None, *, shard: bool = True) -> None:
        super().__init__()
        self.items, self.load, self.shard = list(items), load, shard

    def __iter__(self) -> Iterator[Any]:
        mine = worker_share(self.items) if self.shard else self.items
        for item in mine:
            yield item if self.load is None else self.load(item)
