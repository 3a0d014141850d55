"""flowerkit.teams.access: the Access team's samples and Dataset really pair images with the wrong labels (notebook 01)."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

from flowerkit import OxfordFlowers102, teams
from flowerkit.access import read_splits
from flowerkit.doctor import check_batch
from flowerkit.expectations import CHANCE

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


def test_access_pipeline_pairs_files_with_wrong_labels(mini_root, truth):
    p = teams.build_pipeline("access", mini_root, size=S, num_workers=0, progress=False)
    ds = p.train_loader.dataset
    agree = np.mean([truth[f.name] == lab for f, lab in zip(ds.image_files, ds.labels)])
    assert agree < 0.1, "their labels should mostly disagree with imagelabels.mat"
    assert set(ds.labels) <= set(range(102)), "label % 102 silenced the crash"
    x, _ = next(iter(p.train_loader))
    assert not check_batch(x, size=S).problems, "their transform is correct: only access is broken"


@pytest.mark.parametrize("order", ["sorted", "shuffled", "reversed"])
def test_access_team_is_near_chance_whatever_order_the_file_system_lists_files_in(mini_root, truth, monkeypatch, order):
    # ext4 lists in hash order, NTFS sorted: the team's documented failure must hold for both (and any other order)
    real_listdir = os.listdir

    def listdir(path):
        names = sorted(real_listdir(path))
        if order == "shuffled":
            random.Random(0).shuffle(names)
        return names[::-1] if order == "reversed" else names

    monkeypatch.setattr(os, "listdir", listdir)
    samples = teams.access_team_samples(mini_root, "train")
    assert len(samples) >= len(OxfordFlowers102(mini_root, "train")) - 1
    dataset = teams.AccessTeamFlowers(mini_root, "train")
    agreement = np.mean([truth[f.name] == label for f, label in zip(dataset.image_files, dataset.labels)])
    assert agreement <= 5 * CHANCE, f"{order} listing: the Access team's labels agree with the truth for {agreement:.1%}"
    assert max(label for _, label in samples) == 102, "their labels stay 1-based"
    if order == "sorted":  # a consistent shift: every image carries the next class's label
        assert all(label == (truth[f.name] + 1) % 102 for f, label in zip(dataset.image_files, dataset.labels))


def test_access_team_samples_takes_a_listing_function(mini_root):
    ids = read_splits(mini_root / "flowers-102" / "setid.mat")["train"]
    sorted_samples = teams.access_team_samples(mini_root, "train", listdir=lambda d: sorted(os.listdir(d)))
    assert sorted_samples[0][0].name == f"image_{ids[0] + 1:05d}.jpg", "sorted, files[i] is image i + 1"


def test_the_access_bugs_are_named_next_to_their_code():
    assert teams.ACCESS_BUGS == ("unsorted listdir", "1-based labels", "ids as positions", "label % 102")
    assert teams.TEAM_INFO["access"] is teams.ACCESS_INFO and teams.ACCESS_INFO["notebook"] == "01_access"
