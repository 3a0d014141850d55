"""flowerkit.teams.pipeline: the training loop's own batching (StackedBatches) that the capstone uses (notebook 04)."""

from __future__ import annotations

import pytest
import torch

from flowerkit import teams


def test_stacked_batches_concatenates_consecutive_batches_and_keeps_the_remainder():
    loader = [(torch.full((1, 3, 2, 2), float(i)), torch.tensor([i])) for i in range(5)]

    class Loader(list):
        dataset = "the dataset"

    stacked = teams.StackedBatches(Loader(loader), 2)
    batches = list(stacked)
    assert len(stacked) == len(batches) == 3 and stacked.dataset == "the dataset"
    assert [b[1].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    assert batches[0][0].shape == (2, 3, 2, 2) and batches[0][0][1].eq(1).all()
    with pytest.raises(ValueError, match="at least 1"):
        teams.StackedBatches(loader, 0)


def test_a_curve_is_scored_on_every_kth_test_item_with_the_loaders_settings():
    from torch.utils.data import DataLoader, TensorDataset

    from flowerkit.teams.training import _curve_loader

    items = TensorDataset(torch.arange(3000), torch.arange(3000) // 30)  # grouped by class, like the test split
    loader = DataLoader(items, batch_size=64, collate_fn=lambda b: b)
    sample = _curve_loader(loader, limit=1024)
    picked = [int(x) for batch in sample for x, _ in batch]
    assert picked == list(range(0, 3000, 3)) and len(picked) <= 1024  # every 3rd: 1,000 items, every class
    assert sample.batch_size == 64 and sample.collate_fn is loader.collate_fn
    whole = _curve_loader(loader, limit=5000)  # small enough: scored whole, by a loader of its own
    assert whole.dataset is items and whole is not loader


def test_scoring_a_curve_draws_from_neither_the_global_rng_nor_the_test_loaders_generator():
    # The curve's copies are scored before the final test: with the test loader's generator (or the global RNG) each
    # pass would move the worker seeds of the final evaluation, which is random for the Quality team (its rotation).
    from torch.utils.data import DataLoader, TensorDataset

    from flowerkit.teams.training import _curve_loader

    items = TensorDataset(torch.arange(3000), torch.arange(3000) // 30)
    for limit in (1024, 5000):
        loader = DataLoader(items, batch_size=64, generator=torch.Generator().manual_seed(7))
        sample = _curve_loader(loader, limit=limit)
        assert sample.generator is not loader.generator and sample.generator.initial_seed() == 7
        torch.manual_seed(0)
        untouched, test_state = torch.rand(3), loader.generator.get_state()
        torch.manual_seed(0)
        for _ in range(3):
            for _ in sample:
                pass
        assert torch.equal(torch.rand(3), untouched) and torch.equal(loader.generator.get_state(), test_state)
