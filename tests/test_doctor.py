"""flowerkit.doctor: check_batch on one batch (notebook 02); diagnose names each failed team's bug with its evidence, passes ours."""

from __future__ import annotations

import re
import time
import warnings

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torch.utils.data import DataLoader, Subset

from flowerkit import OxfordFlowers102, doctor, teams, torchvision_flowers102
from flowerkit.doctor import check_batch, diagnose
from flowerkit.load import DecodedFlowers, make_loader
from flowerkit.transform import compute_stats, eval_transform

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
    assert finding.evidence["agree"] < 0.1 and "in imagelabels.mat, 1-based" in finding.evidence["example"]
    assert "paired wrongly" in finding.message
    found = re.search(r"its class is (\d+) \((\d+) in imagelabels.mat", finding.evidence["example"])
    assert found and int(found[2]) == int(found[1]) + 1, "the 0-based class, and the file's own 1-based number"


def test_quality_team_bugs_are_named(reports):
    r = reports["quality"]
    assert set(r.by_category()["quality"]) == {"colour", "per-image standardisation", "aspect ratio", "random at evaluation"}
    assert not r.by_category()["access"] and not r.by_category()["efficiency"]
    aspect = next(f for f in r.problems if f.check == "aspect ratio")
    assert aspect.evidence["disc_width_over_height"] < 0.8


def test_efficiency_team_bugs_are_named(reports):
    r = reports["efficiency"]
    assert set(r.by_category()["efficiency"]) == {"batch size"}  # the timed checks are off here
    assert not r.by_category()["access"] and not r.by_category()["quality"], "they shuffle, and their images are right"


def test_no_shuffling_is_filed_under_quality_with_the_reason(mini_root):
    loader = DataLoader(OxfordFlowers102(mini_root, "train", transform=eval_transform(S)), batch_size=64, shuffle=False)
    finding = next(f for f in diagnose(loader, measure=False).problems if f.check == "shuffling")
    assert finding.category == "quality" and "costs accuracy" in finding.message


@pytest.mark.timed
def test_timed_checks_flag_the_efficiency_team(default_mini_root):
    """On the course's full-size JPEGs (500 px and more), decoding each in full is what makes workers matter."""
    loader = teams.build_pipeline("efficiency", default_mini_root, size=S, num_workers=0, progress=False).train_loader
    r = diagnose(loader)
    assert r.has("workers"), str(r)  # a full decode per item in the training process, on a machine with 2+ cores
    throughput = next(f for f in r if f.check == "throughput")
    assert throughput.evidence["images_per_s"] > 0 and throughput.evidence["tuned_images_per_s"] > 0


def test_a_pipeline_that_stacks_its_loader_s_batches_is_told_about_its_trips_not_its_steps(mini_root):
    """04 races the Efficiency team with 64 images per step (teams.StackedBatches): BatchNorm sees 64, not 1."""
    pipeline = teams.build_pipeline("efficiency", mini_root, size=S, num_workers=0, progress=False)
    finding = next(f for f in diagnose(pipeline, measure=False).problems if f.check == "batch size")
    assert "stacks 64 of its batches into one step" in finding.message and "BatchNorm" not in finding.message
    assert finding.evidence == {"batch_size": 1, "stacked_per_step": 64}
    alone = next(f for f in diagnose(pipeline.train_loader, measure=False).problems if f.check == "batch size")
    assert "BatchNorm sees 1 image(s)" in alone.message  # the loader alone: nothing says its batches are stacked


def test_one_based_labels_are_named(mini_root):
    ds = OxfordFlowers102(mini_root, "val", transform=eval_transform(S), target_transform=lambda y: y + 1)
    ds.labels = [y + 1 for y in ds.labels]
    r = diagnose(ds, measure=False)
    assert "1-based" in next(f for f in r.problems if f.check == "label range").message
    assert "subtract 1" in next(f for f in r.problems if f.check == "labels match files").message
    assert not r.has("class balance") and "label range" in next(k.reason for k in r.skipped if k.check == "class balance")


def test_the_access_teams_dataset_is_judged_by_the_labels_its_model_sees(mini_root):
    """Their ``samples`` keep the file's 1-based labels; ``labels`` (after % 102) are what items return (notebook 01)."""
    their_set = teams.AccessTeamFlowers(mini_root, "train")
    r = diagnose(their_set, measure=False)
    assert r.by_category()["access"] == ["labels match files", "split leakage"], str(r)
    balance = next(f for f in r if f.check == "class balance")
    counts = torch.bincount(torch.tensor(their_set.labels), minlength=102)
    assert balance.ok and balance.evidence["min_per_class"] == int(counts.min()) >= 1
    assert balance.evidence["max_per_class"] == int(counts.max())


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


def test_torchvisions_files_labels_and_split_come_through_its_public_api(mini_root):
    """Its loader swapped on a copy (nothing decoded), not its private _image_files/_labels/_split; the dataset untouched."""
    from flowerkit.access import _torchvision_files
    from flowerkit.doctor.subject import _subject

    tv = torchvision_flowers102(mini_root, "val", transform=eval_transform(S))
    ours = OxfordFlowers102(mini_root, "val")
    files, labels, split = _torchvision_files(tv)
    assert files == list(ours.image_files) and labels == list(ours.labels) and split == "val"
    assert tv.loader is not None and tv[0][0].shape == (3, S, S)  # the original still decodes and transforms
    subject = _subject(tv)
    assert subject.split == "val" and subject.labels_from == "its items, through its public loader"
    assert _torchvision_files(ours) is None


@pytest.mark.timed
def test_a_tuned_loader_passes_the_timed_checks(mini_root):
    loader = make_loader(DecodedFlowers(mini_root, "train", S), shuffle=True, num_workers=0, mean=(0.5,) * 3, std=(0.25,) * 3)
    r = diagnose(loader)
    assert not r.has("shuffling") and not r.has("batch size") and not r.has("aspect ratio")
    assert torch.isfinite(torch.tensor(next(f for f in r if f.check == "decode cost").evidence["ms_per_item"]))


# ---------------------------------------------------------------- check_batch


def _good_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(16, 3, 32, 32, generator=g), torch.randint(0, 102, (16,), generator=g)


def test_check_batch_passes_a_correct_batch():
    report = check_batch(_good_batch(), size=32)
    assert report.ok, str(report)
    assert "no problem found" in str(report)


@pytest.mark.parametrize(
    "breaks, check",
    [
        (lambda x, y: (x.permute(0, 2, 3, 1), y), "shape"),
        (lambda x, y: (x[:, :, :16, :16], y), "shape"),
        (lambda x, y: ((x * 40 + 128).clamp(0, 255).to(torch.uint8), y), "dtype"),
        (lambda x, y: (x.double(), y), "dtype"),
        (lambda x, y: (x.clone().index_put_((torch.tensor([0]),), torch.tensor(float("nan"))), y), "finite"),
        (lambda x, y: ((x * 40 + 128).clamp(0, 255), y), "range"),
        (lambda x, y: ((x * 0.2 + 0.5).clamp(0, 1), y), "normalisation"),
        (lambda x, y: (x[:, :1].expand(-1, 3, -1, -1) * torch.tensor([1.0, 1.1, 0.9]).view(1, 3, 1, 1), y), "colour"),
        (lambda x, y: (torch.cat([x[:8], torch.zeros(8, 3, 32, 32)]), y), "constant images"),
        (lambda x, y: ((x - x.mean((1, 2, 3), keepdim=True)) / x.std((1, 2, 3), keepdim=True), y), "per-image standardisation"),
        (lambda x, y: (x, y.index_fill(0, torch.tensor([0]), 101) + 1), "label range"),
        (lambda x, y: (x, y.to(torch.int32)), "label dtype"),
    ],
)
def test_check_batch_flags_each_problem_with_evidence(breaks, check):
    report = check_batch(breaks(*_good_batch()), size=32)
    assert report.has(check), str(report)
    finding = next(f for f in report.problems if f.check == check)
    assert finding.message and (finding.evidence or check == "finite")
    assert "PROBLEM" in str(report)


def test_check_batch_says_one_based_labels():
    x, y = _good_batch()
    y[0], y[1] = 1, 102
    report = check_batch((x, y.clamp(1, 102)))
    assert "1-based" in next(f for f in report.problems if f.check == "label range").message


def test_check_batch_on_the_eval_pipeline_output(mini_root):
    train = OxfordFlowers102(mini_root, "train")
    stats = compute_stats(train, size=32, progress=False)
    ds = OxfordFlowers102(mini_root, "val", transform=eval_transform(32, *stats))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0))))
    assert check_batch(batch, size=32).ok


class _SlowPasses:
    """A loader of tiny batches whose first ``slow`` passes sleep 0.25 s per batch: a busy moment, or a slow loader."""

    batch_size = 64

    def __init__(self, slow: int) -> None:
        self.slow, self.passes = slow, 0

    def __iter__(self):
        self.passes += 1
        for _ in range(12):
            if self.passes <= self.slow:
                time.sleep(0.25)
            yield torch.zeros(64, 3, 8, 8), torch.zeros(64, dtype=torch.long)


@pytest.mark.parametrize("slow, flagged", [(1, False), (99, True)])
def test_throughput_is_measured_again_before_a_loader_is_called_slow(mini_root, slow, flagged):
    """One slow pass (the machine busy for a moment) is not a finding; a loader that is slow twice is."""
    from flowerkit.doctor.efficiency import _throughput_check
    from flowerkit.doctor.subject import _Subject

    train = OxfordFlowers102(mini_root, "train")
    loader = _SlowPasses(slow)
    finding = _throughput_check(_Subject(train, loader, list(train.image_files), list(train.labels), "train"), S, 0)
    assert finding.ok is not flagged and loader.passes == 2, finding


def test_a_random_resized_crop_keeps_proportions_a_squash_does_not(mini_root):
    """RandomResizedCrop's ratio jitter stretches single draws either way: the median of several draws is judged."""
    from torchvision.transforms import v2

    def aspect_ok(transform):
        ds = OxfordFlowers102(mini_root, "val", transform=transform)
        return next(f for f in diagnose(ds, measure=False) if f.check == "aspect ratio").ok

    to_tensor = [v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True)]
    for size in (S, 64):
        for crop in (
            v2.RandomResizedCrop(size),
            v2.RandomResizedCrop(size, scale=(0.5, 1.0)),
            v2.Compose([v2.RandomHorizontalFlip(), v2.RandomResizedCrop(size)]),
        ):
            assert aspect_ok(v2.Compose([crop, *to_tensor])), (size, crop)
        assert not aspect_ok(v2.Compose([v2.Resize((size, size)), *to_tensor]))
        squash_and_crop = v2.Compose([v2.Resize((size + size // 8,) * 2), v2.RandomCrop(size)])  # a squash, jittered
        assert not aspect_ok(v2.Compose([squash_and_crop, *to_tensor]))


# ------------------------------------------------------------------ compare_batches (notebook 05)


def _smooth_batch(n=5, size=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.interpolate(torch.randn(n, 3, 5, 5, generator=g), size=size, mode="bilinear")


def test_compare_batches_separates_statistics_from_geometry():
    ref = _smooth_batch()
    restated = ref * torch.tensor([0.5, 2.0, 1.0]).view(1, 3, 1, 1) + torch.tensor([1.0, 0.0, -1.0]).view(1, 3, 1, 1)
    same = doctor.compare_batches(ref, restated)
    assert torch.allclose(same.photo_corr, torch.ones(5, dtype=torch.float64))  # statistics alone: every photo intact
    assert torch.allclose(same.std_ratio, torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64))
    turned = ref.clone()
    turned[2] = torch.rot90(ref[2], 2, dims=(1, 2))
    corr = doctor.compare_batches(ref, turned).photo_corr
    assert corr[2] < 0.5 and torch.allclose(corr[[0, 1, 3, 4]], torch.ones(4, dtype=torch.float64))
    swapped = doctor.compare_batches(ref, ref[:, [2, 1, 0]])
    assert bool((swapped.photo_corr < 0.9).all())  # channels swapped: every photo, not one kind
    assert "std ratio" in str(swapped) and set(swapped.as_dict()) == {"mean_shift", "std_ratio", "photo_corr"}


def test_compare_batches_refuses_batches_that_cannot_hold_the_same_photos():
    ref = _smooth_batch()
    with pytest.raises(ValueError, match=r"\(5, 3, 20, 20\) and candidate \(5, 3, 16, 16\) differ in shape"):
        doctor.compare_batches(ref, ref[:, :, :16, :16])
    with pytest.raises(ValueError, match="one image; stack the photos"):
        doctor.compare_batches(ref[0], ref[0])
    with pytest.raises(ValueError, match="expected a batch of RGB images"):
        doctor.compare_batches(ref[:, :1], ref[:, :1])
    flat = ref.clone()
    flat[:, 1] = 0.5
    with pytest.raises(ValueError, match=r"channel\(s\) \[1\] are constant"):
        doctor.compare_batches(flat, ref)


def test_read_only_numpy_items_are_measured_without_a_warning():
    # np.asarray(pil_image) is read-only: torch.as_tensor would share it and print PyTorch's UserWarning in class
    from flowerkit.doctor.foreign import _image_tensor
    from flowerkit.doctor.quality import _disc_aspect

    image = Image.new("RGB", (40, 30), (10, 10, 10))
    ImageDraw.Draw(image).ellipse([10, 5, 30, 25], fill=(250, 250, 250))
    item = np.asarray(image)
    batch = np.stack([item.transpose(2, 0, 1)] * 4).astype(np.float32)
    batch.flags.writeable = False
    assert not item.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _image_tensor(item).shape == (3, 30, 40)
        assert _disc_aspect(item) == pytest.approx(1.0, abs=0.1)
        assert doctor.check_batch(batch, size=30).has("normalisation")
