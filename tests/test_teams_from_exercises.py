"""The failed teams' bugs are real (moved from tests/test_exercises.py; to merge into tests/test_teams.py)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils.data import SequentialSampler
from torchvision.transforms import v2

from flowerkit import OxfordFlowers102, teams, transform


def test_access_team_labels_disagree_with_the_truth_and_ours_agree(mini_root):
    truth = {}
    for split in ("train", "val", "test"):
        ds = OxfordFlowers102(mini_root, split)
        truth.update({p.name: lab for p, lab in zip(ds.image_files, ds.labels)})
    theirs = teams.access_team_samples(mini_root, "train")
    agreement = np.mean([lab % 102 == truth[p.name] for p, lab in theirs])  # what their model is fed
    assert agreement < 0.2
    assert max(lab for _, lab in theirs) == 102, "their labels are 1-based"
    ours = OxfordFlowers102(mini_root, "train")
    assert all(truth[p.name] == lab for p, lab in zip(ours.image_files, ours.labels))
    team_ds = teams.AccessTeamFlowers(mini_root, "train")
    assert all(0 <= team_ds.samples[i][1] % 102 < 102 for i in range(len(team_ds)))
    image, label = team_ds[0]
    assert image.mode == "RGB" and 0 <= label < 102


def test_quality_team_transform_really_has_its_bugs():
    img = Image.new("RGB", (300, 200), (40, 120, 40))
    ImageDraw.Draw(img).ellipse([100, 50, 200, 150], fill=(240, 200, 40))
    t = teams.quality_team_transform(32, train=False)
    torch.manual_seed(0)
    a, b = t(img), t(img)
    assert not torch.equal(a, b), "random at evaluation"
    assert torch.allclose(a[0], a[1]) and torch.allclose(a[1], a[2]), "grayscale"
    assert abs(a.mean().item()) < 1e-4 and abs(a.std().item() - 1) < 1e-3, "per-image standardisation"
    resizes = [step for step in t.transforms if isinstance(step, v2.Resize)]
    assert [r.size for r in resizes] == [[32, 32]], "a fixed-size (squashing) resize"
    ours = transform.augment_uint8(32).transforms
    assert [repr(step) for step in t.transforms[4:6]] == [repr(step) for step in ours], "our shift and flip: no bug of theirs"


def test_efficiency_team_loader_has_its_bugs(mini_root):
    loader = teams.efficiency_team_loader(mini_root, "train", 16)
    assert loader.batch_size == 1 and loader.num_workers == 0 and not isinstance(loader.sampler, SequentialSampler), "it shuffles"
    assert loader.dataset.draft is None, "full-size decode every epoch"
    x, y = next(iter(loader))
    assert x.shape == (1, 3, 16, 16) and x.dtype.is_floating_point, "the output itself is correct"
