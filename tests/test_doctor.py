"""flowerkit.doctor.diagnose: names each failed team's bug with its evidence, passes ours, reads torchvision's loader."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Subset

from flowerkit import OxfordFlowers102, teams, torchvision_flowers102
from flowerkit.doctor import diagnose
from flowerkit.load import DecodedFlowers, make_loader
from flowerkit.transform import eval_transform

S = 16


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FLOWERKIT_CACHE", str(tmp_path_factory.getbasetemp() / "doctor-cache"))


@pytest.fixture(scope="module")
def reports(mini_root, tmp_path_factory):
    """diagnose() of every team's pipeline, without the timings (those are tested separately)."""
    import os

    os.environ["FLOWERKIT_CACHE"] = str(tmp_path_factory.getbasetemp() / "doctor-cache")
    try:
        return {
            name: diagnose(teams.build_pipeline(name, mini_root, size=S, num_workers=0, progress=False), measure=False)
            for name in teams.TEAMS
        }
    finally:
        del os.environ["FLOWERKIT_CACHE"]


def test_ours_has_no_problem(reports):
    assert reports["ours"].ok, str(reports["ours"])
    checks = {f.check for f in reports["ours"]}
    assert {"labels match files", "split leakage", "colour", "aspect ratio", "random at evaluation", "shuffling"} <= checks


def test_access_team_bug_is_named_with_evidence(reports):
    r = reports["access"]
    assert r.by_category()["access"] == ["labels match files", "split leakage"]
    assert not r.by_category()["quality"] and not r.by_category()["efficiency"]
    finding = next(f for f in r.problems if f.check == "labels match files")
    assert finding.evidence["agree"] < 0.1 and "imagelabels.mat says" in finding.evidence["example"]
    assert "paired wrongly" in finding.message


def test_quality_team_bugs_are_named(reports):
    r = reports["quality"]
    assert set(r.by_category()["quality"]) == {"colour", "per-image standardisation", "aspect ratio", "random at evaluation"}
    assert not r.by_category()["access"] and not r.by_category()["efficiency"]
    aspect = next(f for f in r.problems if f.check == "aspect ratio")
    assert aspect.evidence["disc_width_over_height"] < 0.8


def test_efficiency_team_bugs_are_named(reports):
    r = reports["efficiency"]
    assert set(r.by_category()["efficiency"]) == {"shuffling", "batch size"}  # the timed checks are off here
    assert not r.by_category()["access"] and not r.by_category()["quality"]


def test_timed_checks_flag_the_efficiency_team(default_mini_root):
    """On the course's full-size JPEGs (500 px and more), decoding each in full is what makes workers matter."""
    loader = teams.build_pipeline("efficiency", default_mini_root, size=S, num_workers=0, progress=False).train_loader
    r = diagnose(loader)
    assert r.has("workers"), str(r)  # a full decode per item in the training process, on a machine with 2+ cores
    throughput = next(f for f in r if f.check == "throughput")
    assert throughput.evidence["images_per_s"] > 0 and throughput.evidence["tuned_images_per_s"] > 0


def test_one_based_labels_are_named(mini_root):
    ds = OxfordFlowers102(mini_root, "val", transform=eval_transform(S), target_transform=lambda y: y + 1)
    ds.labels = [y + 1 for y in ds.labels]
    r = diagnose(ds, measure=False)
    assert "1-based" in next(f for f in r.problems if f.check == "label range").message
    assert "subtract 1" in next(f for f in r.problems if f.check == "labels match files").message


def test_duplicates_and_subsets(mini_root):
    ds = OxfordFlowers102(mini_root, "train", transform=eval_transform(S))
    twice = Subset(ds, [0, 1, 2, 0] + list(range(3, 60)))
    r = diagnose(twice, measure=False)
    assert r.has("duplicates")
    assert not r.has("labels match files") and not r.has("split leakage")


def test_pil_items_are_reported(mini_root):
    r = diagnose(OxfordFlowers102(mini_root, "val"), measure=False)
    assert r.has("tensors")


def test_works_on_a_torchvision_flowers102_loader(mini_root):
    tv = torchvision_flowers102(mini_root, "train", transform=eval_transform(S))
    r = diagnose(DataLoader(tv, batch_size=1, shuffle=False), measure=False)
    assert {"labels match files", "split leakage", "aspect ratio"} <= {f.check for f in r if f.ok}
    assert r.has("shuffling") and r.has("batch size")


def test_a_tuned_loader_passes_the_timed_checks(mini_root):
    loader = make_loader(DecodedFlowers(mini_root, "train", S), shuffle=True, num_workers=0, mean=(0.5,) * 3, std=(0.25,) * 3)
    r = diagnose(loader)
    assert not r.has("shuffling") and not r.has("batch size") and not r.has("aspect ratio")
    assert torch.isfinite(torch.tensor(next(f for f in r if f.check == "decode cost").evidence["ms_per_item"]))
