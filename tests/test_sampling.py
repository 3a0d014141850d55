"""flowerkit.sampling: balanced sampling draws classes uniformly, and a sharded stream yields each item once with real workers."""

from __future__ import annotations

import collections
import functools

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, WeightedRandomSampler

from flowerkit import exercises, sampling
from flowerkit.exercises import nb03

LABELS = [0] * 40 + [1] * 10 + [2] * 25 + [3] * 5  # imbalanced: 8x between the largest and smallest class


def test_class_counts_counts_each_class_and_keeps_empty_ones():
    assert sampling.class_counts(LABELS).tolist() == [40, 10, 25, 5]
    assert sampling.class_counts([1, 1, 3], num_classes=5).tolist() == [0, 2, 0, 1, 0]


def test_balanced_weights_give_every_class_the_same_total_weight():
    w = sampling._balanced_weights(LABELS)
    assert w.shape == (len(LABELS),)
    y = torch.tensor(LABELS)
    totals = torch.stack([w[y == c].sum() for c in range(4)])
    assert torch.allclose(totals, torch.ones(4, dtype=w.dtype))


def test_balanced_sampler_draws_classes_uniformly_and_is_seeded():
    sampler = sampling.balanced_sampler(LABELS, num_samples=8000, seed=0)
    assert isinstance(sampler, WeightedRandomSampler) and len(sampler) == 8000
    drawn = list(sampler)
    per_class = sampling.class_counts(torch.tensor(LABELS)[drawn], 4).double()
    assert per_class.max() / per_class.min() < 1.2
    assert drawn == list(sampling.balanced_sampler(LABELS, num_samples=8000, seed=0))
    assert drawn != list(sampling.balanced_sampler(LABELS, num_samples=8000, seed=1))
    assert len(sampling.balanced_sampler(LABELS)) == len(LABELS), "an epoch keeps its length by default"


def test_worker_share_is_everything_in_the_main_process():
    assert sampling.worker_share([1, 2, 3]) == [1, 2, 3]


@pytest.mark.parametrize("workers", [1, 2])
def test_sharded_stream_yields_every_item_once_with_real_workers(workers):
    items = list(range(23))  # not a multiple of the number of workers
    seen = collections.Counter(int(x) for x in DataLoader(sampling.ShardedStream(items), batch_size=None, num_workers=workers))
    assert sorted(seen) == items and set(seen.values()) == {1}


def test_an_unsharded_stream_yields_everything_in_every_worker():
    items = list(range(10))
    seen = collections.Counter(
        int(x) for x in DataLoader(sampling.ShardedStream(items, shard=False), batch_size=None, num_workers=2)
    )
    assert sorted(seen) == items and set(seen.values()) == {2}


def test_sharded_stream_loads_items_in_the_worker_and_refuses_shuffle():
    stream = sampling.ShardedStream(range(6), load=functools.partial(pow, exp=2))
    assert sorted(int(x) for x in DataLoader(stream, batch_size=None, num_workers=2)) == [0, 1, 4, 9, 16, 25]
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(stream, shuffle=True)


def test_the_flowerkit_versions_meet_the_checkers_rules(monkeypatch, capsys):
    """The checkers refuse flowerkit's versions handed in as a student's answer; by their rules, those versions pass."""
    assert not exercises.check_sharded_stream(sampling.ShardedStream)
    assert "the version this exercise builds" in capsys.readouterr().out
    items = list(range(100, 123))
    assert sorted(nb03._yields(sampling.ShardedStream, items)[0]) == items
    assert all(nb03._sharding_problem(sampling.ShardedStream, items, n) is None for n in (2, 3))
    monkeypatch.setattr(nb03, "_call_without", lambda module, name, func, *args: (*nb03._call(func, *args), False))
    assert exercises.check_balanced_sampler(lambda labels, seed: sampling.balanced_sampler(labels, seed=seed), LABELS * 3)
    assert capsys.readouterr().out.count("Correct!") == 1


def test_pretending_to_be_a_worker_restores_get_worker_info():
    original = torch.utils.data.get_worker_info

    class Naive(IterableDataset):
        def __init__(self, items):
            self.items = list(items)

        def __iter__(self):
            yield from self.items

    exercises.check_sharded_stream(Naive)
    assert torch.utils.data.get_worker_info is original and original() is None
