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
    assert _curve_loader(loader, limit=5000) is loader  # small enough: scored whole


def test_scoring_a_curve_between_epochs_leaves_the_global_random_state_alone():
    # Ours scores its curve between epochs (model.train's val_loader): a loader without a generator would draw its
    # workers' seed from the global RNG on every pass, and change ours' dropout for the rest of the run.
    from torch.utils.data import DataLoader, TensorDataset

    from flowerkit.teams.training import _curve_loader

    items = TensorDataset(torch.arange(3000), torch.arange(3000) // 30)
    loader = DataLoader(items, batch_size=64, generator=torch.Generator().manual_seed(0))
    sample = _curve_loader(loader, limit=1024)
    assert sample.generator is loader.generator
    torch.manual_seed(0)
    untouched = torch.rand(3)
    torch.manual_seed(0)
    for _ in sample:
        pass
    assert torch.equal(torch.rand(3), untouched)
