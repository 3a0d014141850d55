"""flowerkit.teams.efficiency: the Efficiency team's loader is correct but slow by design, and steps on 64 images (notebook 03)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import RandomSampler

from flowerkit import teams
from flowerkit.doctor import check_batch
from flowerkit.teams.efficiency import _efficiency_team_decode

S = 16


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FLOWERKIT_CACHE", str(tmp_path_factory.getbasetemp() / "teams-cache"))


def pipeline(root):
    return teams.build_pipeline("efficiency", root, size=S, num_workers=0, progress=False)


def test_efficiency_pipeline_is_correct_but_slow_by_design(mini_root):
    p = pipeline(mini_root)
    loader = p.train_loader
    assert loader.batch_size == 1 and loader.num_workers == 0 and isinstance(loader.sampler, RandomSampler), "it shuffles"
    assert loader.dataset.draft is None
    xs = torch.cat([x for x, _ in p.test_loader])
    assert not check_batch(xs[:64], size=S).problems, "their images are right: normalised with the train split's statistics"
    x, _ = loader.dataset[0]
    cached = p.test_loader.dataset
    assert torch.equal(cached[0][0], _efficiency_team_decode(cached.image_files[0], S)), "their own images at test time"
    assert x.shape == (3, S, S)


def test_the_efficiency_team_steps_on_64_images_gathered_from_their_one_image_loader(mini_root):
    pipe = pipeline(mini_root)
    assert pipe.train_loader.batch_size == 1 and pipe.stack == 64  # their loader unchanged; their loop stacks
    x, y = next(iter(teams.StackedBatches(pipe.train_loader, pipe.stack)))
    assert x.shape == (64, 3, S, S) and y.shape == (64,)


def test_the_efficiency_bugs_are_named_next_to_their_code():
    assert teams.EFFICIENCY_BUGS == ("batch size 1", "no workers", "full decode every epoch", "per-image conversion")
    assert teams.TEAM_INFO["efficiency"] is teams.EFFICIENCY_INFO and teams.EFFICIENCY_INFO["notebook"] == "03_load"
