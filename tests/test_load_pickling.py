"""flowerkit.load's caches travel to workers by path, not by value (notebook 07_in_the_wild, the package fix).

Pickling an open ``numpy.memmap`` copies its data: a cache opened in ``__init__`` would send all its images to
every spawn/forkserver worker. These tests pickle the cache and run it in real spawn and fork workers.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from flowerkit.access import OxfordFlowers102
from flowerkit.load import CachedFlowers, build_cache, collate_uint8


@pytest.fixture(scope="module")
def cache(mini_root: Path, tmp_path_factory: pytest.TempPathFactory) -> CachedFlowers:
    """The small mini's train split at 96 px: 1,020 images, 27 MiB of pixels."""
    return build_cache(OxfordFlowers102(mini_root, "train"), 96, folder=tmp_path_factory.mktemp("cache"), progress=False)


def test_the_pickled_cache_is_small_whatever_its_size(cache: CachedFlowers) -> None:
    assert cache.nbytes > 20 * 2**20
    blob = pickle.dumps(cache)
    assert len(blob) < 2**20, f"the pickled cache is {len(blob) / 2**20:.1f} MiB: the memory map travelled by value"
    back = pickle.loads(blob)
    assert back._images is None  # opened lazily, in the process that reads it
    image, label = back[5]
    assert torch.equal(image, cache[5][0]) and label == cache[5][1]


def test_a_rebuilt_cache_refuses_a_stale_pickle(cache: CachedFlowers, tmp_path: Path) -> None:
    state = cache.__getstate__() | {"files_sha256": "0" * 64}
    stale = CachedFlowers.__new__(CachedFlowers)
    with pytest.raises(ValueError, match="rebuild it with build_cache"):
        stale.__setstate__(state)


def _epoch(dataset: CachedFlowers, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    loader = DataLoader(
        dataset,
        batch_size=128,
        num_workers=2,
        collate_fn=collate_uint8,
        multiprocessing_context=mp.get_context(method),
        timeout=120,
    )
    images, labels = zip(*loader)
    return torch.cat(images), torch.cat(labels)


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_workers_read_the_same_items_whatever_the_start_method(cache: CachedFlowers, method: str) -> None:
    images, labels = _epoch(cache, method)
    assert (
        torch.equal(images, torch.from_numpy(np.array(cache.images))) and labels.tolist() == cache.labels
    )  # a copy: the map is read-only
