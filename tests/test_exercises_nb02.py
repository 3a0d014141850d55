"""Checkers of notebook 02_transform (flowerkit.exercises.nb02): each accepts the reference solution and rejects planted mistakes.

The hunt tool (the student's batch check), the naming of the Quality team's causes, and the three transfer
exercises: a Caffe-style model's input, statistics merged from the workers' parts, MixUp/CutMix in a collate_fn on train only.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset, default_collate
from torchvision.transforms import v2

from flowerkit import access, exercises, facts, teams, transform
from flowerkit.exercises import nb02
from flowerkit.facts import NUM_CLASSES
from flowerkit.transform import compute_stats, eval_transform

# ------------------------------------------------------------------ the naming exercise


@pytest.fixture(autouse=True)
def _no_diagnosis_yet(monkeypatch):
    """Each test starts as a kernel in which doctor.diagnose has not run (other tests of this process run it)."""
    monkeypatch.setattr(nb02, "_doctor_found", [])


def test_the_hunt_is_refused_once_the_doctor_has_named_its_answer(mini_root, tmp_path, monkeypatch, capsys):
    from flowerkit import doctor

    right = {"grayscale", "squash", "per-image standardisation", "augmentation at evaluation"}
    monkeypatch.setenv("FLOWERKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sys.modules["flowerkit.doctor.diagnose"], "_FOUND", nb02._doctor_found)  # this test's record
    doctor.diagnose(teams.build_pipeline("access", mini_root, size=16, num_workers=0, progress=False), measure=False)
    assert exercises.check_quality_causes(right), "another team's report names none of them"
    capsys.readouterr()
    doctor.diagnose(teams.build_pipeline("quality", mini_root, size=16, num_workers=0, progress=False), measure=False)
    assert len(nb02._doctor_found[-1] & nb02._QUALITY_FINDINGS) >= 3
    assert not exercises.check_quality_causes(right)
    out = capsys.readouterr().out
    assert "doctor.diagnose has reported these problems in this kernel" in out and "restart the kernel" in out
    assert not exercises.check_quality_causes({"grayscale"}), "a wrong answer is judged as before"
    assert "doctor.diagnose" not in capsys.readouterr().out


def test_quality_causes_checker(capsys):
    assert not exercises.check_quality_causes(...)
    assert not exercises.check_quality_causes({"grayscale", "too few epochs"})  # a wrong pick beside a gap: not named
    out = capsys.readouterr().out
    assert "a pick may be cleared" in out and "too few epochs" not in out, out
    assert not exercises.check_quality_causes({"too few epochs", *teams.QUALITY_BUGS})  # beside every true one: named
    assert "clears 'too few epochs'" in capsys.readouterr().out
    assert not exercises.check_quality_causes({"grayscale"})
    assert "Hint:" in capsys.readouterr().out
    assert not exercises.check_quality_causes({"blur"})
    assert exercises.check_quality_causes({"grayscale", "squash", "per-image standardisation", "augmentation at evaluation"})
    capsys.readouterr()
    assert not exercises.check_quality_causes(5)  # a verdict, not a TypeError
    assert "should be a set of names from exercises.QUALITY_SUSPECTS" in capsys.readouterr().out


def test_quality_causes_hints_read_well_and_name_no_cause_before_it_is_found(capsys):
    """A missing cause's hint is a sentence; the stub's own example, a wrong cause, is cleared without naming a real one."""
    assert not exercises.check_quality_causes({"grayscale", "squash", "per-image standardisation"})
    hint = capsys.readouterr().out.split("Hint: ")[1]
    assert hint.startswith("look again at every measurement above"), hint  # not the one that shows the missing cause
    assert not exercises.check_quality_causes({"too few epochs"})  # the stub's example: no suspect named, cleared or true
    out = capsys.readouterr().out
    assert "the evidence clears" not in out and "Hint:" in out and not any(f"'{c}'" in out for c in teams.QUALITY_BUGS)
    assert not any(word in out.lower() for word in ("colour", "color", "gray", "grey")), out


def test_a_suspect_inside_the_transform_stage_is_cleared_by_the_students_own_batch_check(capsys):
    """Distractors the batch check measured clean: elimination alone no longer leaves only the transform's suspects."""
    for suspect, finding in [
        ("pixels not scaled to [0, 1]", "your batch check's range finding"),
        ("float64 tensors", "your batch check's dtype finding"),
        ("wrong input size", "your batch check's shape check (B, 3, H, W)"),
    ]:
        assert suspect in exercises.QUALITY_SUSPECTS
        assert not exercises.check_quality_causes({suspect, *teams.QUALITY_BUGS})
        assert finding in capsys.readouterr().out


def test_the_causes_are_the_quality_teams_bugs_imported_not_retyped():
    assert nb02._QUALITY_CAUSES is teams.QUALITY_BUGS
    assert set(teams.QUALITY_BUGS) <= set(exercises.QUALITY_SUSPECTS)


# ------------------------------------------------------------------ the hunt tool


def batch_findings(images):
    """The notebook's reference batch check."""
    found = {}
    if images.ndim != 4 or images.shape[1] != 3:
        return {"shape": f"{tuple(images.shape)}"}
    if images.dtype != torch.float32:
        found["dtype"] = str(images.dtype)
    x = images.double()
    if x.max() > 20:
        found["range"] = f"max {x.max():.0f}"
    mean, std = x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))
    if (mean.abs() > 0.5).any() or ((std < 0.5) | (std > 2)).any():
        found["normalisation"] = f"{mean} {std}"
    flat = x.flatten(2)
    z = (flat - flat.mean(2, keepdim=True)) / flat.std(2, keepdim=True).clamp_min(1e-12)
    same = ((z[:, 0] - z[:, 1]).abs().amax(1) < 1e-3) & ((z[:, 1] - z[:, 2]).abs().amax(1) < 1e-3)
    if same.float().mean() > 0.5:
        found["colour"] = f"{int(same.sum())} gray"
    image_mean, image_std = x.mean(dim=(1, 2, 3)), x.std(dim=(1, 2, 3))
    if image_mean.std() < 1e-3 and (image_std - 1).abs().max() < 1e-2:
        found["per-image standardisation"] = "mean 0, std 1"
    return found


def test_the_checkers_known_batches_are_judged_as_flowerkit_doctor_judges_them():
    for case, images, expected in nb02._batch_cases():
        assert nb02._doctor_problems(images) == expected, case
    assert {p for _, _, expected in nb02._batch_cases() for p in expected} == set(exercises.BATCH_CHECKS)


def test_batch_findings_checker_accepts_the_reference_and_shows_it_on_the_real_batches(capsys):
    gray = next(images for name, images, _ in nb02._batch_cases() if name.startswith("a grayscale batch stored as"))
    theirs = (gray - gray.mean((1, 2, 3), keepdim=True)) / gray.std((1, 2, 3), keepdim=True)  # gray, per image
    ours = nb02._batch_cases()[0][1]
    assert exercises.check_batch_findings(batch_findings, theirs, ours)
    out = capsys.readouterr().out
    assert "Your batch check on the Quality team's batch:\n  colour:" in out and "per-image standardisation" in out
    assert "Your batch check on our batch: no problem found" in out
    assert exercises.check_batch_findings(lambda x: set(batch_findings(x)))  # names alone are accepted too


def _without(check):
    return lambda x: {k: v for k, v in batch_findings(x).items() if k != check}


def _exact_gray(x):
    """A colour check that compares raw channels: misses grayscale normalised per channel."""
    found = {k: v for k, v in batch_findings(x).items() if k != "colour"}
    if x.ndim == 4 and x.shape[1] == 3 and torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2]):
        found["colour"] = "equal"
    return found


def _strict_normalisation(x):
    found = batch_findings(x)
    if x.ndim == 4 and x.shape[1] == 3 and (x.double().mean(dim=(0, 2, 3)).abs() > 1e-3).any():
        found["normalisation"] = "not exactly 0"
    return found


def _loose_per_image(x):
    found = batch_findings(x)
    if x.ndim == 4 and x.shape[1] == 3 and x.double().mean(dim=(1, 2, 3)).std() < 0.5:
        found["per-image standardisation"] = "means close"
    return found


def _channels_last_only(x):
    """A shape check that only looks for channels last: a (B, 1, H, W) batch passes it, and the checks below crash."""
    if x.shape[-1] == 3:
        return {"shape": f"{tuple(x.shape)}"}
    return {k: v for k, v in batch_findings(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x).items() if k != "shape"}


@pytest.mark.parametrize(
    ("func", "phrase"),
    [
        (_channels_last_only, "on a one-channel batch (B, 1, H, W), as v2.Grayscale() gives, your tool misses 'shape'"),
        (_without("dtype"), "misses 'dtype'"),
        (_without("range"), "misses 'range'"),
        (_without("colour"), "misses 'colour'"),
        (_exact_gray, "normalised per channel (each channel its own scale and shift), your tool misses 'colour'"),
        (_without("per-image standardisation"), "misses 'per-image standardisation'"),
        (_strict_normalisation, "reports 'normalisation', a problem that batch does not have"),
        (_loose_per_image, "reports 'per-image standardisation'"),
        (lambda x: x.mean(), "return a dict"),
        (lambda x: {"gray": "yes"}, "are not check names"),
        (
            lambda x: {"shape": 1} if x.shape[1] != 3 else {k: 1 for k in ("dtype", "colour")} if x.dtype == torch.uint8 else {},
            "misses",
        ),
    ],
)
def test_batch_findings_checker_names_each_planted_mistake(func, phrase, capsys):
    assert not exercises.check_batch_findings(func)
    out = capsys.readouterr().out
    assert phrase in out and "\nHint: " in out, out


def test_batch_findings_checker_explains_a_tool_that_crashes_on_uint8_or_channels_last(capsys):
    assert not exercises.check_batch_findings(lambda x: {} if x.dtype != torch.uint8 else x.mean())
    assert "x = images.double()" in capsys.readouterr().out
    assert not exercises.check_batch_findings(lambda x: {"colour": 1} if (x[:, 0] == x[:, 1]).all() else {})
    assert "Not yet" in capsys.readouterr().out


def test_batch_findings_checker_refuses_the_doctor_s_own_check(capsys):
    from flowerkit import doctor
    from flowerkit.doctor import batch

    for module in (doctor, batch):  # the package's name, and the module it is defined in
        wrapper = lambda x, m=module: {f.check: str(f.evidence) for f in m.check_batch(x).problems}  # noqa: E731
        assert not exercises.check_batch_findings(wrapper)
        assert "calls flowerkit's doctor.check_batch, the version this exercise builds" in capsys.readouterr().out
    assert not exercises.check_batch_findings(doctor.check_batch)  # passed as is: no patch of the module sees it
    assert "flowerkit's doctor.check_batch, the version this exercise builds" in capsys.readouterr().out


def test_the_reference_tool_agrees_with_the_doctor_on_the_quality_teams_transform_and_ours(mini_root, capsys):
    torch.manual_seed(0)
    photos = [img for img, _ in (access.OxfordFlowers102(mini_root, "train")[i] for i in range(0, 64, 4))]
    theirs = torch.stack([teams.quality_team_transform(32)(img) for img in photos])
    ours = torch.stack([eval_transform(32, (0.4, 0.4, 0.3), (0.2, 0.15, 0.2))(img) for img in photos])
    assert exercises.check_batch_findings(batch_findings, theirs, ours)
    assert "Your batch check on the Quality team's batch:\n  colour:" in capsys.readouterr().out


def test_batch_findings_checker_holds_the_tool_to_the_doctor_on_the_real_batches(capsys):
    cases = nb02._batch_cases()
    ours_gray = cases[6][1]  # what "ours + grayscale" gives: the doctor flags its colour
    assert not exercises.check_batch_findings(_exact_gray, None, ours_gray)
    assert "Not yet" in capsys.readouterr().out


# ------------------------------------------------------------------ exercise 1: a Caffe-style model's input

MEAN_BGR = torch.tensor([103.939, 116.779, 123.68]).view(3, 1, 1)


def _caffe(steps, flip=True, mean=MEAN_BGR):
    def func(img):
        x = v2.Compose([v2.ToImage(), *steps])(img)
        return (x.flip(0) if flip else x) - mean

    return func


CROP = [v2.Resize(256), v2.CenterCrop(224), v2.ToDtype(torch.float32)]


def _pil_caffe(img):
    """A right answer without transforms: PIL's resize (bilinear, as the card says) and slicing by hand."""
    w, h = img.size
    small = img.resize((round(w * 256 / min(w, h)), round(h * 256 / min(w, h))), Image.BILINEAR)
    top, left = (small.height - 224) // 2, (small.width - 224) // 2
    x = torch.from_numpy(np.array(small)).permute(2, 0, 1)[[2, 1, 0], top : top + 224, left : left + 224]
    return x.float() - MEAN_BGR


def test_the_card_says_what_the_checker_wants(capsys):
    """The student has only the card: read the timm way (crop_pct of the resized short side), it passes the checker."""
    card = exercises.CAFFE_CARD
    size = card["input_size"][-1]
    assert card["input_size"] == (3, 224, 224) and round(size / card["crop_pct"]) == 256
    assert card["channel_order"] == "BGR" and card["pixel_range"] == (0, 255) and set(card["std"]) == {1.0}
    mean = torch.tensor(card["mean"]).view(3, 1, 1)
    assert exercises.check_caffe_input(_caffe([v2.Resize(round(size / card["crop_pct"])), *CROP[1:]], mean=mean))
    assert "Correct!" in capsys.readouterr().out
    assert not exercises.check_caffe_input(_caffe([v2.Resize(size), *CROP[1:]]))  # crop_pct read as nothing
    assert "224 / crop_pct" in capsys.readouterr().out


def test_caffe_input_checker_accepts_the_reference(capsys):
    assert exercises.check_caffe_input(_caffe(CROP))
    assert exercises.check_caffe_input(lambda img: _caffe(CROP)(img).contiguous())
    assert exercises.check_caffe_input(_pil_caffe)
    assert exercises.check_caffe_input(_caffe([v2.ToDtype(torch.float32), *CROP]))  # resized in float: within a level
    assert "Correct!" in capsys.readouterr().out


@pytest.mark.parametrize("mode", [v2.InterpolationMode.NEAREST, v2.InterpolationMode.BICUBIC])
def test_caffe_input_checker_reads_the_card_s_interpolation(mode, capsys):
    assert not exercises.check_caffe_input(_caffe([v2.Resize(256, interpolation=mode), *CROP[1:]]))
    assert "another interpolation than the card's" in capsys.readouterr().out


def _crop_at(top, left):
    return lambda img: _caffe([v2.Resize(256), v2.ToDtype(torch.float32)])(img)[:, top : top + 224, left : left + 224]


@pytest.mark.parametrize(
    ("func", "phrase"),
    [
        (_caffe(CROP, flip=False), "RGB order"),
        (_caffe(CROP, flip=False, mean=MEAN_BGR.flip(0)), "RGB order"),
        (_caffe(CROP, mean=0), "means were not subtracted"),
        (
            _caffe([v2.Resize(256), v2.CenterCrop(224), v2.ToDtype(torch.float32, scale=True)], mean=MEAN_BGR / 255),
            "scaled to [0, 1]",
        ),
        (_caffe([v2.Resize((224, 224)), v2.ToDtype(torch.float32)]), "squashed"),
        (_caffe([v2.Resize(224), v2.CenterCrop(224), v2.ToDtype(torch.float32)]), "not resized to 256"),
        (_caffe([v2.Resize(256), v2.CenterCrop(256), v2.ToDtype(torch.float32)]), "expected (3, 224, 224)"),
        # scale=True copied from the notebook's pipeline: [0, 1] pixels minus 0..255 means, BGR order and all else right
        (_caffe([v2.Resize(256), v2.CenterCrop(224), v2.ToDtype(torch.float32, scale=True)]), "scaled to [0, 1] (scale=True)"),
        (_caffe([v2.Resize(256), v2.CenterCrop(224), v2.ToDtype(torch.float32, scale=True)], flip=False), "scale=True"),
        (lambda img: _caffe(CROP)(img).unsqueeze(0), "a batch dimension"),
        (lambda img: _caffe(CROP)(img).permute(1, 2, 0), "channels-last"),
        (lambda img: _caffe(CROP)(img).double(), "dtype torch.float64"),
        (lambda img: img, "got a Image"),
        # a crop in the wrong place (the vertical margin forgotten, the top-left corner), mirrored, or random
        (_crop_at(0, 80), "not the central one"),
        (_crop_at(0, 0), "not the central one"),
        (lambda img: _crop_at(0, 0)(img)[[2, 1, 0]], "not the central one"),
        (lambda img: _caffe(CROP)(img).flip(-1), "flipped"),
        (lambda img: _caffe(CROP)(img).flip(-2), "flipped"),
        (_caffe([v2.Resize(256), v2.RandomCrop(224), v2.ToDtype(torch.float32)]), "random"),
    ],
)
def test_caffe_input_checker_names_each_planted_mistake(func, phrase, capsys):
    assert not exercises.check_caffe_input(func)
    out = capsys.readouterr().out
    assert phrase in out and "\nHint: " in out, out


# ------------------------------------------------------------------ exercise 2: statistics merged from the workers' parts


def merge_stats(parts):
    """The notebook's reference: leave out empty parts; weigh means by counts; spread within and between parts."""
    parts = [(n, m, s) for n, m, s in parts if n]
    count = sum(n for n, _, _ in parts)
    mean = sum(n * m for n, m, _ in parts) / count
    return mean, (sum(n * (s**2 + (m - mean) ** 2) for n, m, s in parts) / count).sqrt()


def _sums_merge(parts):
    """Back to sums and sums of squares (what an all-reduce adds), in float64: also exact enough."""
    parts = [(n, m, s) for n, m, s in parts if n]
    count = sum(n for n, _, _ in parts)
    mean = sum(n * m for n, m, _ in parts) / count
    return mean.tolist(), (sum(n * (s * s + m * m) for n, m, s in parts) / count - mean**2).clamp_min(0).sqrt().tolist()


def _chan_merge(parts):
    """Chan et al.'s pairwise merge of (count, mean, M2), skipping empty parts: also exact."""
    n, mean, m2 = 0, torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    for k, mk, sk in parts:
        if k:
            delta, total = mk - mean, n + k
            mean, m2, n = mean + delta * k / total, m2 + k * sk**2 + delta**2 * n * k / total, total
    return mean, (m2 / n).sqrt()


def _float32_sums(parts):
    count, total, total_sq = 0, torch.zeros(3), torch.zeros(3)  # float32 accumulators: += rounds each part
    for n, m, s in parts:
        if n:
            count, total, total_sq = count + n, total.add_(n * m), total_sq.add_(n * (s * s + m * m))
    mean = total / count
    return mean, (total_sq / count - mean**2).clamp_min(0).sqrt()


def _full(parts):
    return [(n, m, s) for n, m, s in parts if n]


def _mean_of_means(parts):
    return torch.stack([m for _, m, _ in _full(parts)]).mean(0), merge_stats(parts)[1]


def _mean_of_stds(weighted):
    def func(parts):
        w = torch.tensor([float(n) if weighted else 1.0 for n, _, _ in _full(parts)], dtype=torch.float64).view(-1, 1)
        return merge_stats(parts)[0], (w * torch.stack([s for _, _, s in _full(parts)])).sum(0) / w.sum()

    return func


def _within_only(parts):
    """The variances weighted by count, without the spread of the parts' means."""
    count = sum(n for n, _, _ in _full(parts))
    return merge_stats(parts)[0], (sum(n * s**2 for n, _, s in _full(parts)) / count).sqrt()


def _sample_std(parts):
    mean, std = merge_stats(parts)
    count = sum(n for n, _, _ in parts)
    return mean, std * (count / (count - 1)) ** 0.5


def _textbook(divisor):
    """The "combined standard deviation" found online, written for sample stds: (n - 1) * s**2 per part."""

    def func(parts):
        full = _full(parts)
        count = sum(n for n, _, _ in full)
        mean = merge_stats(parts)[0]
        squares = sum((n - 1) * s**2 + n * (m - mean) ** 2 for n, m, s in full)
        return mean, (squares / {"n-1": count - 1, "n": count, "n-k": count - len(full)}[divisor]).sqrt()

    return func


def _off_by_a_pixel(parts):
    """An exact merge but for a total count one too many: too far off for rounding, not a known formula."""
    mean, std = merge_stats(parts)
    count = sum(n for n, _, _ in parts)
    return mean, std * (count / (count + 1)) ** 0.5


def _keeps_the_empty_part(parts):
    count = sum(n for n, _, _ in parts)
    return sum(n * m for n, m, _ in parts) / count, merge_stats(parts)[1]


def test_merge_stats_checker_accepts_the_reference_sums_a_pairwise_merge_and_float32_results(capsys):
    assert exercises.check_merge_stats(merge_stats)
    assert exercises.check_merge_stats(_sums_merge)
    assert exercises.check_merge_stats(_chan_merge)
    assert exercises.check_merge_stats(lambda parts: tuple(v.float() for v in merge_stats(parts)))  # float64 merge, float32 out
    assert capsys.readouterr().out.count("Correct!") == 4


def test_merge_stats_checkers_cases_are_the_statistics_of_all_the_pixels_at_once():
    cases = nb02._merge_cases()
    pixels = torch.cat([x.permute(1, 0, 2, 3).reshape(3, -1) for x in nb02._shards()], dim=1)
    for case in cases[:2]:
        assert torch.allclose(case.mean, pixels.mean(1)) and torch.allclose(case.std, pixels.std(1, correction=0))
    counts = [[n for n, _, _ in case.parts] for case in cases]
    assert len(set(counts[0])) == 3 and 0 in counts[1], "unequal counts, then an empty part"
    empty = next(p for p in cases[1].parts if p[0] == 0)
    assert empty[1].isnan().all() and empty[2].isnan().all(), "an empty shard's mean and std are NaN, as torch's mean"
    assert sum(counts[2]) > 2**31, "the herbarium's counts need more than 32 bits"
    assert torch.allclose(torch.stack(merge_stats(cases[2].parts)), torch.stack([cases[2].mean, cases[2].std]), rtol=1e-9)
    between = torch.stack(_within_only(cases[2].parts)[1:] + (cases[2].std,))
    assert not torch.allclose(between[0], between[1], rtol=0.05), "the herbarium's means lie apart as far as its stds"


def test_merge_stats_checker_agrees_with_compute_stats_on_a_split_dataset():
    images = (torch.rand(10, 3, 5, 7, generator=torch.Generator().manual_seed(1)) * 255).round().to(torch.uint8)
    expected = torch.tensor(compute_stats(TensorDataset(images, torch.zeros(10)), progress=False), dtype=torch.float64)
    parts = [nb02._part_of(images[a:b].double() / 255) for a, b in ((0, 3), (3, 3), (3, 10))]
    assert torch.allclose(torch.stack(merge_stats(parts)), expected, atol=1e-7)


@pytest.mark.parametrize(
    ("func", "phrase"),
    [
        (_mean_of_means, "averaged the parts' means"),
        (_mean_of_stds(weighted=False), "averaged the parts' stds: that misses"),
        (_mean_of_stds(weighted=True), "averaged the parts' stds, weighted by count"),
        (_within_only, "averaged the parts' variances, weighted by count"),
        (_sample_std, "divided by count - 1"),
        (lambda parts: (merge_stats(parts)[0], merge_stats(parts)[1] ** 2), "returned the variance"),
        (_keeps_the_empty_part, "0 * NaN is still NaN"),
        (lambda parts: merge_stats(parts) if all(n for n, _, _ in parts) else [1 / n for n, _, _ in parts], "ZeroDivisionError"),
        (_float32_sums, "float32 rounding"),
        (_textbook("n-1"), "close, not exact: you weighed each part's variance by its count - 1 and divided by count - 1"),
        (_textbook("n"), "close, not exact: you weighed each part's variance by its count - 1 and divided by the count"),
        (_textbook("n-k"), "divided by count - (number of parts)"),
        (_off_by_a_pixel, "more than rounding explains"),
        (lambda parts: merge_stats(parts)[::-1], "(std, mean), the other way round"),
        (lambda parts: (merge_stats(parts)[0].mean(), merge_stats(parts)[1].mean()), "one per channel"),
        (lambda parts: sum(n for n, _, _ in parts), "return a pair"),
        (lambda parts: (merge_stats(parts)[0], merge_stats(parts)[0]), "std ["),
    ],
)
def test_merge_stats_checker_names_each_planted_mistake(func, phrase, capsys):
    assert not exercises.check_merge_stats(func)
    out = capsys.readouterr().out
    assert phrase in out and "\nHint: " in out, out


# ------------------------------------------------------------------ exercise 3: MixUp or CutMix in a collate_fn, train only


def _loaders(train_collate, test_collate=None):
    def make_loaders(train_set, test_set):
        train = DataLoader(train_set, batch_size=8, shuffle=True, collate_fn=train_collate)
        return train, DataLoader(test_set, batch_size=8, **({"collate_fn": test_collate} if test_collate else {}))

    return make_loaders


def _mixup(alpha=0.4):
    mix = v2.MixUp(alpha=alpha, num_classes=NUM_CLASSES)
    return lambda items: mix(*default_collate(items))


def _hand_mixup(label_weight):
    def collate(items):
        x, y = default_collate(items)
        lam = float(torch.distributions.Beta(0.4, 0.4).sample())
        perm = torch.randperm(len(x))
        soft = torch.nn.functional.one_hot(y, NUM_CLASSES).float()
        return lam * x + (1 - lam) * x[perm], label_weight(lam) * soft + (1 - label_weight(lam)) * soft[perm]

    return collate


def test_mixup_checker_accepts_mixup_cutmix_and_a_hand_written_mix(capsys):
    assert exercises.check_mixup_loaders(_loaders(_mixup()))
    cutmix = v2.CutMix(alpha=1.0, num_classes=NUM_CLASSES)
    assert exercises.check_mixup_loaders(_loaders(lambda items: cutmix(*default_collate(items))))
    assert exercises.check_mixup_loaders(_loaders(_hand_mixup(lambda lam: lam)))
    assert capsys.readouterr().out.count("Correct!") == 3


def test_mixup_checker_leaves_the_notebooks_random_generator_as_it_was():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    exercises.check_mixup_loaders(_loaders(_mixup()))
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("func", "phrase"),
    [
        (_loaders(_hand_mixup(lambda lam: 1 - lam)), "its label gives those classes"),
        (_loaders(_hand_mixup(lambda lam: 1.0)), "its label gives those classes"),
        (_loaders(lambda items: (_mixup()(items)[0], default_collate(items)[1])), "needs a soft label"),
        (_loaders(_mixup(), _mixup()), "test labels of shape"),
        (_loaders(_mixup(), lambda items: (_mixup()(items)[0], default_collate(items)[1])), "test loader mixes"),
        (_loaders(None), "needs a soft label"),
        (_loaders(lambda items: (default_collate(items)[0] * 0.5, _mixup()(items)[1])), "not a mix"),
        (
            _loaders(
                lambda items: (
                    default_collate(items)[0],
                    torch.nn.functional.one_hot(default_collate(items)[1], NUM_CLASSES).float(),
                )
            ),
            "does not mix",
        ),
        (_loaders(lambda items: (lambda x, y: (x, y * 2))(*_mixup()(items))), "sums to 2.00"),
        (lambda train, test: DataLoader(train), "return a pair"),
        (lambda train, test: (DataLoader(train, shuffle=True, collate_fn=_mixup()), DataLoader(test)), "batches of 1 image"),
        (_loaders(lambda items: 1 / 0), "raised ZeroDivisionError"),
        (_loaders(lambda items: None), "collate_fn (mix_collate?) is still the stub"),
    ],
)
def test_mixup_checker_names_each_planted_mistake(func, phrase, capsys):
    assert not exercises.check_mixup_loaders(func)
    out = capsys.readouterr().out
    assert phrase in out and "\nHint: " in out, out


# ---------------------------------------------------------------- the fix: the train split's statistics


def _stats_of(x, correction=0):  # x: uint8 (N, S, S, 3), channels last
    x = torch.from_numpy(x).double() / 255
    return x.mean(dim=(0, 1, 2)), x.std(dim=(0, 1, 2), correction=correction)


def _chw(x):
    return torch.from_numpy(x).permute(0, 3, 1, 2).double() / 255


_IMAGES = torch.randint(0, 256, (12, 16, 16, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8).numpy()


@pytest.mark.parametrize(
    "func",
    [
        lambda x: tuple(t.tolist() for t in _stats_of(x)),
        lambda x: _stats_of(x, correction=1),  # n - 1: the same statistics, to a hair
        lambda x: torch.stack(_stats_of(x)),  # one (2, 3) tensor
        lambda x: ((x / 255).mean(axis=(0, 1, 2)), (x / 255).std(axis=(0, 1, 2))),  # NumPy
        lambda x: ((x.astype(np.float16) / 255).reshape(-1, 3).mean(0), (x.astype(np.float32) / 255).reshape(-1, 3).std(0)),
        lambda x: tuple(t.tolist() for t in (_chw(x).mean((0, 2, 3)), _chw(x).std((0, 2, 3)))),  # permuted first
    ],
    ids=["lists", "n - 1", "a (2, 3) tensor", "numpy", "float16 mean", "permuted"],
)
def test_check_train_stats_accepts_the_statistics_in_any_form(func, capsys):
    assert exercises.check_train_stats(func, _IMAGES)
    out = capsys.readouterr().out
    assert "flowerkit's transform.compute_stats agrees: mean" in out, out


@pytest.mark.parametrize(
    "func, says",
    [
        (lambda x: (_stats_of(x)[0], _chw(x).std(dim=(2, 3)).mean(0)), "the average of each image's own std"),
        (lambda x: (_stats_of(x)[0], _chw(x).std(dim=(2, 3), correction=0).mean(0)), "the average of each image's own std"),
        (lambda x: (_stats_of(x)[0], _chw(x).mean(dim=(2, 3)).std(0)), "the std of the images' means"),
        (lambda x: tuple(255 * t for t in _stats_of(x)), "in 0..255 levels"),
        (lambda x: (facts.IMAGENET_MEAN, facts.IMAGENET_STD), "ImageNet's statistics"),
        (lambda x: _stats_of(x)[::-1], "the other way round"),  # torch.std_mean's order
        (lambda x: ([x.mean() / 255] * 3, [x.std() / 255] * 3), "channel by channel"),
        (lambda x: (_chw(x).mean((0, 1, 2)), _chw(x).std((0, 1, 2))), "not one number per channel"),  # wrong axes: 16 each
        (lambda x: (_stats_of(x)[0], _stats_of(x)[1] ** 2), "the variance, not the std"),
        (lambda x: transform.compute_stats(torch.from_numpy(x).permute(0, 3, 1, 2), progress=False), "calls flowerkit's"),
        (transform.compute_stats, "flowerkit's transform.compute_stats, the version"),  # passed as is
        (lambda x: (torch.from_numpy(x).mean((0, 1, 2)), 0), "could not infer output dtype"),  # uint8 has no mean
        (lambda x: _stats_of(x)[0], "not (mean, std)"),
        (lambda x: None, "still the stub"),
    ],
    ids=[
        "per-image std",
        "per-image std, n",
        "std of means",
        "0..255",
        "ImageNet's",
        "std_mean",
        "over the channels too",
        "channels-first axes",
        "variance",
        "flowerkit's",
        "compute_stats itself",
        "uint8",
        "mean only",
        "stub",
    ],
)
def test_check_train_stats_names_each_slip(func, says, capsys):
    assert not exercises.check_train_stats(func, _IMAGES)
    out = capsys.readouterr().out
    assert says in out and "\nHint: " in out, out


def _float32_numpy(images):  # the usual answer: float32 sums, off by more the more (and the brighter) pixels there are
    x = images.astype(np.float32) / 255
    return x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))


def test_check_train_stats_names_float32_sums_on_the_real_profile_s_split(capsys):
    """1,020 train photos at 96 px (the real route's size), bright: NumPy's float32 mean is off by several percent."""
    bright = np.random.default_rng(0).integers(200, 256, (1020, 96, 96, 3)).astype(np.uint8)
    assert not exercises.check_train_stats(_float32_numpy, bright)
    out = capsys.readouterr().out
    assert "float32 sums" in out and "float64" in out, out


@pytest.mark.parametrize(
    "func, feedback",
    [
        (lambda images: tuple(v * 255 / 256 for v in _float32_numpy(images.astype(np.float64))), "divided by 256"),
        (lambda images: ((images / 255).mean(axis=(0, 1, 2)), images.std(axis=(0, 1, 2))), "in 0..255 levels"),
        (
            lambda images: ((images / 255).mean(axis=(0, 1, 2)), np.sqrt(((images / 255) ** 2).mean(axis=(0, 1, 2)))),
            "the root of the mean square",
        ),
    ],
)
def test_check_train_stats_names_256_and_std_slips(func, feedback, capsys):
    bright = np.random.default_rng(0).integers(200, 256, (64, 16, 16, 3)).astype(np.uint8)
    assert not exercises.check_train_stats(func, bright)
    out = capsys.readouterr().out
    assert feedback in out and "\nHint: " in out, out


def _resized_by_height(img):
    """The height to 256, whatever the shape: right on a landscape photo, too narrow (then padded) on a portrait."""
    w, h = img.size
    return _caffe([v2.Resize((256, round(w * 256 / h))), v2.CenterCrop(224), v2.ToDtype(torch.float32)])(img)


def test_caffe_input_checker_tries_a_portrait_too(capsys):
    assert not exercises.check_caffe_input(_resized_by_height)
    assert "turned to portrait" in capsys.readouterr().out
    assert exercises.check_caffe_input(_caffe(CROP)) and "and a portrait" in capsys.readouterr().out


def _labels_as_pairs(items):
    """The classic MixUp collate of many codebases: the images mixed, the labels kept apart as (y_a, y_b, lam)."""
    x, y = default_collate(items)
    perm = torch.randperm(len(x))
    return 0.7 * x + 0.3 * x[perm], (y, y[perm], 0.7)


def test_mixup_checker_names_labels_kept_apart_and_a_batch_of_another_form(capsys):
    assert not exercises.check_mixup_loaders(_loaders(_labels_as_pairs))
    assert "(y_a, y_b, lam)" in capsys.readouterr().out
    assert not exercises.check_mixup_loaders(_loaders(lambda items: {"x": default_collate(items)[0]}))
    assert "a train batch is a dict of 1" in capsys.readouterr().out


def test_batch_findings_half_checks_are_refused(capsys):
    """Per-image standardisation judged on the means alone, or normalisation on the whole batch's single mean and std."""

    def means_only(x):
        found = batch_findings(x)
        found.pop("per-image standardisation", None)
        if x.ndim == 4 and x.dtype == torch.float32 and float(x.double().mean(dim=(1, 2, 3)).abs().max()) < 1e-3:
            found["per-image standardisation"] = "every image has mean 0"
        return found

    def one_number(x):
        found = batch_findings(x)
        found.pop("normalisation", None)
        xd = x.double()
        if x.ndim == 4 and (abs(float(xd.mean())) > 0.5 or not 0.5 < float(xd.std()) < 2):
            found["normalisation"] = "the batch's mean and std"
        return found

    for tool in (means_only, one_number):
        assert not exercises.check_batch_findings(tool)
        assert "Not yet" in capsys.readouterr().out
