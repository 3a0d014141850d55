"""The capstone's pipelines (flowerkit.teams): each failed team's pipeline really holds its bugs, ours none, and all train."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import RandomSampler

from flowerkit import OxfordFlowers102, teams
from flowerkit.doctor import check_batch
from flowerkit.model import TrainConfig

S = 16


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FLOWERKIT_CACHE", str(tmp_path_factory.getbasetemp() / "teams-cache"))


@pytest.fixture(scope="module")
def truth(mini_root):
    out = {}
    for split in ("train", "val", "test"):
        ds = OxfordFlowers102(mini_root, split)
        out.update({p.name: lab for p, lab in zip(ds.image_files, ds.labels)})
    return out


def pipeline(name, root):
    return teams.build_pipeline(name, root, size=S, num_workers=0, progress=False)


def first_batch(loader):
    x, y = next(iter(loader))
    return x, y


def test_unknown_team_is_named(mini_root):
    with pytest.raises(ValueError, match="unknown team 'best'"):
        teams.build_pipeline("best", mini_root)


def test_access_pipeline_pairs_files_with_wrong_labels(mini_root, truth):
    p = pipeline("access", mini_root)
    ds = p.train_loader.dataset
    agree = np.mean([truth[f.name] == lab for f, lab in zip(ds.image_files, ds.labels)])
    assert agree < 0.1, "their labels should mostly disagree with imagelabels.mat"
    assert set(ds.labels) <= set(range(102)), "label % 102 silenced the crash"
    x, _ = first_batch(p.train_loader)
    assert not check_batch(x, size=S).problems, "their transform is correct: only access is broken"


def test_quality_pipeline_holds_its_four_bugs(mini_root):
    p = pipeline("quality", mini_root)
    x, _ = first_batch(p.train_loader)
    report = check_batch(x, size=S)
    assert report.has("colour") and report.has("per-image standardisation")
    test = p.test_loader.dataset
    torch.manual_seed(0)
    assert not torch.equal(test[0][0], test[0][0]), "random rotation at evaluation"
    wide = mini_root / "wide.jpg"
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (96, 64), (0, 0, 0))
    ImageDraw.Draw(img).rectangle([32, 16, 63, 47], fill=(255, 255, 255))  # a 32x32 square in a 96x64 photo
    try:
        img.save(wide)
        out = teams.quality_team_decode(wide, S)
    finally:
        wide.unlink()
    assert out.dtype == torch.uint8 and out.shape == (3, S, S) and torch.equal(out[0], out[2])
    mask = out[0] > 127
    assert mask.any(0).sum() < mask.any(1).sum(), "squashed: the square comes out narrower than tall"


def test_efficiency_pipeline_is_correct_but_slow_by_design(mini_root):
    p = pipeline("efficiency", mini_root)
    loader = p.train_loader
    assert loader.batch_size == 1 and loader.num_workers == 0 and isinstance(loader.sampler, RandomSampler), "it shuffles"
    assert loader.dataset.draft is None
    xs = torch.cat([x for x, _ in p.test_loader])
    assert not check_batch(xs[:64], size=S).problems, "their images are right: normalised with the train split's statistics"
    x, _ = loader.dataset[0]
    cached = p.test_loader.dataset
    assert torch.equal(cached[0][0], teams.efficiency_team_decode(cached.image_files[0], S)), "their own images at test time"
    assert x.shape == (3, S, S)


def test_our_pipeline_has_no_bug(mini_root, truth):
    p = pipeline("ours", mini_root)
    loader = p.train_loader
    assert isinstance(loader.sampler, RandomSampler) and loader.batch_size == 64
    ds = loader.dataset
    assert all(truth[f.name] == lab for f, lab in zip(ds.image_files, ds.labels))
    x, y = first_batch(loader)
    assert not check_batch((x, y), size=S).problems
    test = p.test_loader.dataset
    assert torch.equal(test[3][0], test[3][0]), "deterministic evaluation"


def test_every_team_trains_and_reports(mini_root):
    config = TrainConfig(epochs=1)
    results = {
        name: teams.run_team(name, mini_root, config=config, size=S, num_workers=0, progress=False) for name in ("ours", "access")
    }
    for r in results.values():
        assert r.epochs == 1 and 0 <= r.test_acc <= 1 and r.epoch_s > 0 and r.images_per_s > 0 and r.per_image_ms > 0
        assert len(r.preds) == len(OxfordFlowers102(mini_root, "test"))
        assert {"test_acc", "acc_at_budget", "curve", "per_image_ms", "epochs", "train_s", "budget_s"} <= set(r.summary())
        assert len(r.curve) == 1 and r.curve[0][1] == pytest.approx(r.test_acc)
    table = teams.results_table(results)
    assert "Ours" in table and "Access team" in table and "ms / image" in table
    md = teams.results_table(results, markdown=True)
    assert md.startswith("| team |") and md.count("\n") == 3


def test_every_team_gets_the_same_budget(mini_root):
    results = teams.run_capstone(
        mini_root, ("ours", "efficiency"), config=TrainConfig(epochs=1), size=S, num_workers=0, progress=False
    )
    ours, eff = results["ours"], results["efficiency"]
    assert list(results) == ["efficiency", "ours"] and eff.budget_s == pytest.approx(ours.train_s)
    assert eff.train_s == pytest.approx(ours.train_s, rel=0.5, abs=0.5), "trained for the budget, not for epochs"
    assert len(eff.curve) == 6 and eff.curve[-1][0] <= eff.budget_s + 1e-6
    assert eff.per_image_ms > ours.per_image_ms, "batch 1 and a full decode per image cost more per image"


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


def test_ablation_reuses_a_finished_run_and_prints_a_table(mini_root):
    done = teams.run_ablation(mini_root, epochs=1, size=S, variants=["ours"])
    results = teams.run_ablation(mini_root, epochs=1, size=S, variants=["ours", "ours + squash"], done=done)
    assert results["ours"] is done["ours"] and list(results) == ["ours", "ours + squash"]
    table = teams.ablation_table(results)
    assert "ours + squash" in table and "points below ours" in table


def test_extrapolation_scales_measured_costs(mini_root):
    ext = teams.extrapolate(mini_root, size=32, images=100, epochs=2, files=2)
    assert ext.theirs_decode_ms > 0 and ext.step_ms > 0
    assert ext.theirs_hours == pytest.approx(2 * 100 * (ext.theirs_decode_ms + ext.step_ms) / 3.6e6)
    assert "hours" in str(ext)


def test_cli_prints_the_table_and_a_json_last_line(mini_root, capsys):
    assert teams.main(["--root", str(mini_root), "--teams", "ours", "--epochs", "1", "--size", str(S), "--quiet"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("team")
    last = json.loads(out[-1])
    ours = last["teams"]["ours"]
    assert set(last["teams"]) == {"ours"} and 0 <= ours["acc_at_budget"] <= 1 and ours["curve"] and last["budget_s"] > 0


def test_cli_ablation_prints_each_seed(mini_root, capsys, monkeypatch):
    monkeypatch.setattr(teams, "ABLATION", {k: v for k, v in teams.ABLATION.items() if k in ("ours", "ours + grayscale")})
    argv = ["--root", str(mini_root), "--ablation", "--seeds", "0", "1", "--epochs", "1", "--size", str(S), "--quiet"]
    assert teams.main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    last = json.loads(out[-1])
    assert set(last["ablation"]) == {"0", "1"} and "ranking stable across seeds" in "\n".join(out)


@pytest.mark.parametrize("order", ["sorted", "shuffled", "reversed"])
def test_access_team_is_near_chance_whatever_order_the_file_system_lists_files_in(mini_root, truth, monkeypatch, order):
    # ext4 lists in hash order, NTFS sorted: the team's documented failure must hold for both (and any other order)
    import os
    import random

    from flowerkit.expectations import CHANCE

    real_listdir = os.listdir

    def listdir(path):
        names = sorted(real_listdir(path))
        if order == "shuffled":
            random.Random(0).shuffle(names)
        return names[::-1] if order == "reversed" else names

    monkeypatch.setattr(teams.os, "listdir", listdir)
    samples = teams.access_team_samples(mini_root, "train")
    assert len(samples) >= len(OxfordFlowers102(mini_root, "train")) - 1
    dataset = teams.AccessTeamFlowers(mini_root, "train")
    agreement = np.mean([truth[f.name] == label for f, label in zip(dataset.image_files, dataset.labels)])
    assert agreement <= 5 * CHANCE, f"{order} listing: the Access team's labels agree with the truth for {agreement:.1%}"
    assert max(label for _, label in samples) == 102, "their labels stay 1-based"
    if order == "sorted":  # a consistent shift: every image carries the next class's label
        assert all(label == (truth[f.name] + 1) % 102 for f, label in zip(dataset.image_files, dataset.labels))


def test_access_team_samples_takes_a_listing_function(mini_root):
    import os

    from flowerkit.access import read_splits

    ids = read_splits(mini_root / "flowers-102" / "setid.mat")["train"]
    sorted_samples = teams.access_team_samples(mini_root, "train", listdir=lambda d: sorted(os.listdir(d)))
    assert sorted_samples[0][0].name == f"image_{ids[0] + 1:05d}.jpg", "sorted, files[i] is image i + 1"


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


def test_the_efficiency_team_steps_on_64_images_gathered_from_their_one_image_loader(mini_root):
    pipe = pipeline("efficiency", mini_root)
    assert pipe.train_loader.batch_size == 1 and pipe.stack == 64  # their loader unchanged; their loop stacks
    x, y = next(iter(teams.StackedBatches(pipe.train_loader, pipe.stack)))
    assert x.shape == (64, 3, S, S) and y.shape == (64,)
