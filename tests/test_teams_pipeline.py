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
