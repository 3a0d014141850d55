"""Checkers of notebook 02_transform (flowerkit.exercises.nb02): each accepts the reference solution and rejects planted mistakes.

The hunt tool (the student's batch check), the naming of the Quality team's causes, and the three transfer
exercises: a Caffe-style model's input, statistics streamed over a loader, MixUp/CutMix in a collate_fn on train only.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, default_collate
from torchvision.transforms import v2

from flowerkit import access, exercises, teams
from flowerkit.exercises import nb02
from flowerkit.facts import NUM_CLASSES
from flowerkit.transform import eval_transform

# ------------------------------------------------------------------ the naming exercise


def test_quality_causes_checker(capsys):
    assert not exercises.check_quality_causes(...)
    assert not exercises.check_quality_causes({"grayscale", "too few epochs"})
    assert "clears 'too few epochs'" in capsys.readouterr().out
    assert not exercises.check_quality_causes({"grayscale"})
    assert "Hint:" in capsys.readouterr().out
    assert not exercises.check_quality_causes({"blur"})
    assert exercises.check_quality_causes({"grayscale", "squash", "per-image standardisation", "augmentation at evaluation"})


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
    gray = nb02._batch_cases()[5][1]
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


@pytest.mark.parametrize(
    ("func", "phrase"),
    [
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


def test_caffe_input_checker_accepts_the_reference(capsys):
    assert exercises.check_caffe_input(_caffe(CROP))
    assert exercises.check_caffe_input(lambda img: _caffe(CROP)(img).contiguous())
    assert "Correct!" in capsys.readouterr().out


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
        (lambda img: _caffe(CROP)(img).permute(1, 2, 0), "channels-last"),
        (lambda img: _caffe(CROP)(img).double(), "dtype torch.float64"),
        (lambda img: img, "got a Image"),
    ],
)
def test_caffe_input_checker_names_each_planted_mistake(func, phrase, capsys):
    assert not exercises.check_caffe_input(func)
    out = capsys.readouterr().out
    assert phrase in out and "\nHint: " in out, out


# ------------------------------------------------------------------ exercise 2: statistics streamed over a loader


def stream_stats(loader):
    total, total_sq, count = torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64), 0
    for images, _ in loader:
        x = images.double() / 255
        total += x.sum(dim=(0, 2, 3))
        total_sq += (x * x).sum(dim=(0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    return mean, (total_sq / count - mean**2).sqrt()


def _kept_all(loader):
    kept = [images for images, _ in loader]
    flat = torch.cat([x.double().div(255).permute(1, 0, 2, 3).reshape(3, -1) for x in kept], dim=1)
    return flat.mean(1), flat.std(1)


def _per_batch(reduce_std):
    def func(loader):
        means, stds = [], []
        for images, _ in loader:
            x = images.double() / 255
            means.append(x.mean((0, 2, 3)))
            stds.append(x.std((0, 2, 3)) if reduce_std == "batch" else x.std((2, 3)).mean(0))
        return torch.stack(means).mean(0), torch.stack(stds).mean(0)

    return func


def _weighted_means_batch_stds(loader):
    mean, _ = stream_stats(loader)
    return mean, _per_batch("batch")(loader)[1]


def test_stream_stats_checker_accepts_the_reference_and_a_two_pass_answer(capsys):
    assert exercises.check_stream_stats(stream_stats)

    def two_pass(loader):
        mean, _ = stream_stats(loader)
        sq, n = torch.zeros(3, dtype=torch.float64), 0
        for images, _ in loader:
            d = images.double() / 255 - mean.view(1, 3, 1, 1)
            sq += (d * d).sum(dim=(0, 2, 3))
            n += d[:, 0].numel()
        return mean.tolist(), (sq / n).sqrt().tolist()

    assert exercises.check_stream_stats(two_pass)
    assert capsys.readouterr().out.count("Correct!") == 2


@pytest.mark.parametrize(
    ("func", "phrase"),
    [
        (_kept_all, "held"),
        (lambda loader: torch.stack([x for x, _ in loader]), "cannot be stacked"),
        (lambda loader: _per_batch("batch")(loader), "averaged the batches' means"),
        (_weighted_means_batch_stds, "each batch's own std"),
        (lambda loader: (stream_stats(loader)[0], _per_batch("image")(loader)[1]), "each image's own std"),
        (lambda loader: tuple(v * 255 for v in stream_stats(loader)), "0..255 scale"),
        (lambda loader: (stream_stats(loader)[0].mean(), stream_stats(loader)[1].mean()), "one per channel"),
        (lambda loader: sum(x.float().sum() for x, _ in loader), "return a pair"),
        (lambda loader: [x.mean() for x, _ in loader], "Hint"),
    ],
)
def test_stream_stats_checker_names_each_planted_mistake(func, phrase, capsys):
    assert not exercises.check_stream_stats(func)
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
        (_loaders(lambda items: 1 / 0), "raised ZeroDivisionError"),
    ],
)
def test_mixup_checker_names_each_planted_mistake(func, phrase, capsys):
    assert not exercises.check_mixup_loaders(func)
    out = capsys.readouterr().out
    assert phrase in out and "\nHint: " in out, out
