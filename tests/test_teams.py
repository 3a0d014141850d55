"""The capstone's pipelines (flowerkit.teams): each failed team's pipeline really holds its bugs, ours none, and all train."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import RandomSampler, SequentialSampler

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
    assert loader.batch_size == 1 and loader.num_workers == 0 and isinstance(loader.sampler, SequentialSampler)
    assert loader.dataset.draft is None
    assert p.max_seconds == teams.EFFICIENCY_TIME_LIMIT_S
    xs = torch.cat([x for x, _ in p.test_loader])
    assert not check_batch(xs[:64], size=S).problems, "their images are right: normalised with the train split's statistics"


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
        assert r.epochs == 1 and 0 <= r.test_acc <= 1 and r.epoch_s > 0 and r.images_per_s > 0
        assert len(r.preds) == len(OxfordFlowers102(mini_root, "test"))
        assert set(r.summary()) == {"test_acc", "epoch_s", "images_per_s", "epochs", "train_s"}
    table = teams.results_table(results)
    assert "Ours" in table and "Access team" in table and "1 of 1" in table
    md = teams.results_table(results, markdown=True)
    assert md.startswith("| team |") and md.count("\n") == 3


def test_efficiency_run_stops_at_its_time_limit(mini_root, monkeypatch):
    from torch.utils.data import DataLoader, Subset

    real = teams.efficiency_team_loader

    def first_items(*args, **kwargs):  # the same loader over 24 images, so one epoch takes a moment
        loader = real(*args, **kwargs)
        return DataLoader(Subset(loader.dataset, range(24)), batch_size=1, shuffle=False, num_workers=0)

    monkeypatch.setattr(teams, "efficiency_team_loader", first_items)
    monkeypatch.setattr(teams, "EFFICIENCY_TIME_LIMIT_S", 0.0)
    r = teams.run_team("efficiency", mini_root, config=TrainConfig(epochs=3), size=S, num_workers=0, progress=False)
    assert r.epochs == 1 and r.epochs_planned == 3, "cut after the first epoch"
    assert "1 of 3" in teams.results_table({"efficiency": r})


def test_cli_prints_the_table_and_a_json_last_line(mini_root, capsys):
    assert teams.main(["--root", str(mini_root), "--teams", "ours", "--epochs", "1", "--size", str(S), "--quiet"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("team")
    last = json.loads(out[-1])
    assert set(last["teams"]) == {"ours"} and 0 <= last["teams"]["ours"]["test_acc"] <= 1


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
