"""flowerkit.teams.quality: the Quality team's pipeline holds its four bugs, and the ablation switches them on one at a time (notebook 02)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image, ImageDraw

from flowerkit import teams
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
    with pytest.raises(ValueError, match="unknown bug"):
        teams.quality_variant(mini_root, ["blur"], size=S)
    with pytest.raises(ValueError, match=r"unknown bug\(s\) \['blur'\]: choose from \('grayscale', "):
        teams.quality_variant(mini_root, ["squash", "blur"], size=S)


def test_ablation_reuses_a_finished_run_and_prints_a_table(mini_root):
    done = teams.run_ablation(mini_root, epochs=1, size=S, variants=["ours"])
    results = teams.run_ablation(mini_root, epochs=1, size=S, variants=["ours", "ours + squash"], done=done)
    assert results["ours"] is done["ours"] and list(results) == ["ours", "ours + squash"]
    assert results["ours"].title == "Ours" and results["ours + squash"].bug == "squash"
    table = teams.ablation_table(results)
    assert "ours + squash" in table and "points below ours" in table


def test_the_quality_bugs_are_named_next_to_their_code():
    assert teams.QUALITY_BUGS == ("grayscale", "squash", "per-image standardisation", "augmentation at evaluation")
    assert list(teams.ABLATION)[1:5] == [f"ours + {bug}" for bug in teams.QUALITY_BUGS]
    assert teams.TEAM_INFO["quality"] is teams.QUALITY_INFO and teams.QUALITY_INFO["notebook"] == "02_transform"
