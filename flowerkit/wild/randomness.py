"""Random augmentations read by DataLoader workers: crops at random offsets, MixUp partners, and a probe of seeds.

Notebook ``07_in_the_wild``, section 7, and its third fix exercise (:class:`MixupPartners`). What
their workers draw is what section 7 measures; the explanation is in the notebook, after its
question, and in the comment block below (outside every method: the notebook prints the source of
``TorchJitterCrops.__init__`` and of the whole ``MixupPartners`` above their questions), not in these docstrings,
which ``help(wild)`` shows.
"""

# Why the draws repeat: each worker receives a copy of the dataset, generator included, in the same state, so every
# worker draws the same "random" numbers, and without persistent workers every epoch draws them again. PyTorch seeds
# torch's default generator, `random` and NumPy's global generator in each worker, not a numpy.random.Generator
# (JitterCrops) nor a torch.Generator (TorchJitterCrops) the dataset holds: make that one in the worker, from
# get_worker_info().seed (SeededJitterCrops), or draw from torch's default generator. TorchJitterCrops' generator is
# seeded (the same run, run after run) and arrives in every worker in the state __init__ left it in (it pickles as that
# state, about 5 KiB). MixupPartners: every worker draws the same partners, every epoch, and an item's partner depends
# on what was read before it (so on the number of workers); the exercise's fix decides each partner by the seed, the
# epoch and the item.

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

__all__ = ["JitterCrops", "MixupPartners", "SeededJitterCrops", "TorchJitterCrops", "WorkerSeeds"]


class JitterCrops(Dataset):
    """Random ``crop`` x ``crop`` crops of a dataset's uint8 images, at offsets drawn with NumPy from ``seed``.

    An item is ``(crop, label, offset)`` with ``offset = tensor([top, left])``, so the draws can be
    compared. Introduced in notebook ``07_in_the_wild``.
    """

    def __init__(self, dataset: Dataset, crop: int, seed: int = 0) -> None:
        self.dataset, self.crop, self.seed = dataset, crop, seed
        self.rng = np.random.default_rng(seed)  # the bug: made once, so every worker starts from this same state

    def __len__(self) -> int:
        return len(self.dataset)

    def _generator(self) -> np.random.Generator:
        return self.rng

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, int, torch.Tensor]:
        image, label = self.dataset[idx]
        top, left = (int(v) for v in self._generator().integers(0, image.shape[-1] - self.crop + 1, size=2))
        return image[:, top : top + self.crop, left : left + self.crop], label, torch.tensor([top, left])


class TorchJitterCrops(Dataset):
    """:class:`JitterCrops` drawing its offsets with torch, seeded so that a run repeats.

    Notebook 03's advice, "draw from torch", taken by a team that wanted repeatable runs. An item is ``(crop, label, offset)``, as in :class:`JitterCrops`. Introduced in notebook
    ``07_in_the_wild``, whose section 7 asks what its workers draw.
    """

    def __init__(self, dataset: Dataset, crop: int, seed: int = 0) -> None:
        self.dataset, self.crop = dataset, crop
        self.g = torch.Generator().manual_seed(seed)

    def __getstate__(self) -> dict[str, Any]:
        # the generator's state as bytes: a torch.Generator itself kills spawn and forkserver workers (pytorch#146828)
        return {**self.__dict__, "g": self.g.get_state().numpy().tobytes()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        generator = torch.Generator()
        generator.set_state(torch.frombuffer(bytearray(state["g"]), dtype=torch.uint8))
        self.__dict__.update(state, g=generator)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, int, torch.Tensor]:
        image, label = self.dataset[idx]
        offset = torch.randint(0, image.shape[-1] - self.crop + 1, (2,), generator=self.g)
        top, left = offset.tolist()
        return image[:, top : top + self.crop, left : left + self.crop], label, offset


class SeededJitterCrops(JitterCrops):
    """:class:`JitterCrops` whose NumPy generator is seeded from ``seed`` and ``get_worker_info().seed``.

    Without workers, ``seed`` alone decides. Introduced in notebook ``07_in_the_wild``.
    """

    # The fix of section 7: a generator per worker, made on first use in the process that reads. The worker's seed is
    # PyTorch's base_seed + worker_id, and base_seed is drawn from the loader's generator each time its workers start:
    # draws differ between workers and between epochs, and a seeded loader repeats them exactly.

    def __init__(self, dataset: Dataset, crop: int, seed: int = 0) -> None:
        super().__init__(dataset, crop, seed)
        self._owner: tuple[int, int | None] | None = None

    def _generator(self) -> np.random.Generator:
        info = get_worker_info()
        owner = (os.getpid(), None if info is None else info.seed)
        if owner != self._owner:  # a new worker (or a new epoch's worker): a generator of its own
            self.rng = np.random.default_rng([self.seed] if info is None else [self.seed, info.seed])
            self._owner = owner
        return self.rng


class MixupPartners(Dataset):
    """The randomness exercise's broken dataset: item ``i`` is ``(i, partner)``, a random image to mix image ``i`` with.

    MixUp blends each image with a random partner; here only the indices, drawn with NumPy from ``seed``.
    Introduced in notebook ``07_in_the_wild``, whose exercise measures its partners across workers and epochs
    and fixes it.
    """

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n = n
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, idx: int) -> tuple[int, int]:
        return idx, int(self.rng.integers(self.n))


class WorkerSeeds(Dataset):
    """A probe: item ``i`` is ``tensor([torch seed, NumPy word, random word])`` of the process that reads it, mod 2**31.

    The torch seed is ``torch.initial_seed()``; the NumPy one, a word of the global generator's state
    (``np.random.get_state()[1][1]``; the first word is the same constant after seeding with an array, as PyTorch
    seeds it in each worker from the worker's seed); the random one, a word of the standard library's global
    generator (``random.getstate()[1][1]``, for the same reason). Read by 2 workers over 2 epochs, it shows what
    PyTorch seeds per worker and per epoch. Introduced in notebook ``07_in_the_wild``.
    """

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, idx: int) -> torch.Tensor:
        numpy_word, random_word = int(np.random.get_state()[1][1]), int(random.getstate()[1][1])
        return torch.tensor([torch.initial_seed() % 2**31, numpy_word % 2**31, random_word % 2**31])
