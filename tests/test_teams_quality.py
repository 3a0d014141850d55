"""flowerkit.teams.quality: the Quality team's pipeline holds its four bugs, and the ablation switches them on one at a time (notebook 02)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torchvision.transforms import v2

from flowerkit import teams, transform
from flowerkit.doctor import check_batch
from flowerkit.teams.quality import _quality_team_decode

S = 16


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FLOWERKIT_CACHE", str(tmp_path_factory.getbasetemp() / "teams-cache"))


def test_quality_pipeline_holds_its_four_bugs(mini_root):
    p = teams.build_pipeline("quality", mini_root, size=S, num_workers=0, progress=False)
    x, _ = next(iter(p.train_loader))
    report = check_batch(x, size=S)
    assert report.has("colour") and report.has("per-image standardisation")
    test = p.test_loader.dataset
    torch.manual_seed(0)
    assert not torch.equal(test[0][0], test[0][0]), "random rotation at evaluation"
    wide = mini_root / "wide.jpg"
    img = Image.new("RGB", (96, 64), (0, 0, 0))
    ImageDraw.Draw(img).rectangle([32, 16, 63, 47], fill=(255, 255, 255))  # a 32x32 square in a 96x64 photo
    try:
        img.save(wide)
        out = _quality_team_decode(wide, S)
    finally:
        wide.unlink()
    assert out.dtype == torch.uint8 and out.shape == (3, S, S) and torch.equal(out[0], out[2])
    mask = out[0] > 127
    assert mask.any(0).sum() < mask.any(1).sum(), "squashed: the square comes out narrower than tall"


def test_the_quality_team_differs_from_ours_by_its_four_bugs_and_its_rotation(mini_root):
    quality = teams.build_pipeline("quality", mini_root, size=S, num_workers=0, progress=False)
    train, test = quality.train_loader.dataset, quality.test_loader.dataset
    assert test.transform is train.transform, "bug 4: the training pipeline, random parts included, for testing"
    cached = torch.from_numpy(np.array(train.images[0]))
    theirs = [v2.RandomRotation(30), v2.ToDtype(torch.float32, scale=True), teams.PerImageStandardize()]
    expected = v2.Compose([transform.augment_uint8(S), *theirs])  # our shift and flip, then their bugs 3 and 4
    torch.manual_seed(0)
    got = [train[0][0] for _ in range(4)]
    torch.manual_seed(0)
    want = [expected(cached) for _ in range(4)]
    assert all(torch.equal(a, b) for a, b in zip(got, want)), "their augmentation is ours plus their rotation"


def test_quality_variants_switch_on_one_bug_each(mini_root):
    gray = teams.quality_variant(mini_root, ["grayscale"], size=S)
    x, _ = next(iter(gray.train_loader))
    assert check_batch(x, size=S).has("colour") and not check_batch(x, size=S).has("per-image standardisation")
    std = teams.quality_variant(mini_root, ["per-image standardisation"], size=S)
    x, _ = next(iter(std.train_loader))
    report = check_batch(x, size=S)
    assert report.has("per-image standardisation") and not report.has("colour")
    aug = teams.quality_variant(mini_root, ["augmentation at evaluation"], size=S).test_loader.dataset
    torch.manual_seed(0)
    assert not torch.equal(aug[0][0], aug[0][0]), "the training augmentation runs on test images"
    ours = teams.quality_variant(mini_root, [], size=S).test_loader.dataset
    assert torch.equal(ours[0][0], ours[0][0])
    control = teams.quality_variant(mini_root, [teams.TRAIN_ROTATION], size=S)
    assert control.name == teams.ABLATION_CONTROL == f"ours + {teams.TRAIN_ROTATION} only"
    test = control.test_loader.dataset
    assert torch.equal(test[0][0], test[0][0]), "the control rotates training images only"
    train = control.train_loader.dataset
    rotations = [t for t in train.transform.transforms if type(t).__name__ == "RandomRotation"]
    assert len(rotations) == 1 and list(rotations[0].degrees) == [-30.0, 30.0]
    with pytest.raises(ValueError, match="unknown bug"):
        teams.quality_variant(mini_root, ["blur"], size=S)
    with pytest.raises(ValueError, match=r"unknown bug\(s\) \['blur'\]: choose from \('grayscale', "):
        teams.quality_variant(mini_root, ["squash", "blur"], size=S)


def test_ablation_reuses_a_finished_run_and_prints_a_table(mini_root):
    done = teams.run_ablation(mini_root, epochs=1, size=S, variants=["ours"])
    results = teams.run_ablation(mini_root, epochs=1, size=S, variants=["ours", "ours + squash"], done=done)
    assert results["ours"] is done["ours"] and list(results) == ["ours", "ours + squash"]
    assert results["ours"].title == "Ours" and results["ours + squash"].title == "ours + squash"
    table = teams.ablation_table(results)
    assert "ours + squash" in table and "measured against" in table and "points lost" in table


def test_each_bug_is_charged_against_its_own_baseline():
    control, bug4 = teams.ABLATION_CONTROL, "ours + augmentation at evaluation"
    assert teams.ABLATION_BASELINE[bug4] == control and teams.ABLATION_BASELINE[control] == "ours"
    assert teams.ABLATION_BASELINE["all four (Quality team)"] == control, "their rotation at training is no bug"
    assert all(teams.ABLATION_BASELINE[f"ours + {bug}"] == "ours" for bug in teams.QUALITY_BUGS[:3])
    accs = {"ours": 0.6, "ours + grayscale": 0.1, control: 0.62, bug4: 0.55, "all four (Quality team)": 0.12}
    costs = teams.ablation_costs(accs)
    assert costs[bug4] == pytest.approx(0.07) and costs[control] == pytest.approx(-0.02)
    assert costs["ours + grayscale"] == pytest.approx(0.5) and "ours" not in costs
    assert bug4 not in teams.ablation_costs({"ours": 0.6, bug4: 0.55}), "no control trained: no cost claimed"


def test_the_quality_bugs_are_named_next_to_their_code():
    assert teams.QUALITY_BUGS == ("grayscale", "squash", "per-image standardisation", "augmentation at evaluation")
    singles = [label for label, bugs in teams.ABLATION.items() if len(bugs) == 1 and bugs[0] in teams.QUALITY_BUGS]
    assert singles == [f"ours + {bug}" for bug in teams.QUALITY_BUGS]
    assert set(teams.ABLATION) == set(teams.ABLATION_BASELINE) | {"ours"}
    assert teams.TEAM_INFO["quality"] is teams.QUALITY_INFO and teams.QUALITY_INFO["notebook"] == "02_transform"
