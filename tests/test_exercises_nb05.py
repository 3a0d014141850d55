"""Checkers of notebook 05_the_app (flowerkit.exercises.nb05): the Deployment team's skews, the kiosk's, your own artifact.

The checks that need a trained Predictor (the kiosk's tensors against
training's) are in tests/test_app_deployment.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from flowerkit import exercises, model
from flowerkit.access import OxfordFlowers102
from flowerkit.exercises import nb05


@pytest.mark.parametrize(
    "answer, feedback",
    [
        ("channels in BGR order", "Correct!"),
        (None, "no answer yet"),
        ("no such skew", "is not one of exercises.SKEW_CHOICES"),
        ("EXIF orientation ignored", "carry no orientation tag"),
        ("squashed to a square", "are the flowers the same shape?"),
        ("ImageNet statistics instead of the train split's", "which channel"),
        ("pixels not scaled to [0, 1]", "value range"),
        ("grayscale", "colour check"),
    ],
)
def test_check_kiosk_skew_feedback(answer, feedback, capsys):
    ok = exercises.check_kiosk_skew(answer)
    out = capsys.readouterr().out
    assert feedback in out and ok == (feedback == "Correct!")
    assert ok or "\nHint: " in out


def test_every_skew_choice_has_its_feedback(capsys):
    for choice in exercises.SKEW_CHOICES:
        exercises.check_kiosk_skew(choice)
        assert capsys.readouterr().out.startswith(("Correct!", "Not yet"))


_THREE = ("EXIF orientation ignored", "squashed to a square", "ImageNet statistics instead of the train split's")


@pytest.mark.parametrize(
    "answer, feedback",
    [
        (set(_THREE), "Correct!"),
        (list(_THREE), "Correct!"),
        (None, "no answer yet"),
        (set(), "no answer yet"),
        ({*_THREE, "BGR"}, "is not one of exercises.SKEW_CHOICES"),
        ({*_THREE, "pixels not scaled to [0, 1]"}, "means in the hundreds"),
        ({*_THREE, "channels in BGR order"}, "keeps its hue"),
        ({*_THREE, "grayscale"}, "three different channels"),
        (set(_THREE[1:]), "which way up"),
        ({_THREE[0], _THREE[2]}, "shapes of the flowers"),
        (_THREE[0], "2 skew(s) still at large"),
    ],
)
def test_check_deployment_skews_feedback(answer, feedback, capsys):
    ok = exercises.check_deployment_skews(answer)
    out = capsys.readouterr().out
    assert feedback in out and ok == (feedback == "Correct!")
    assert ok or "\nHint: " in out


def test_every_skew_choice_is_a_deployment_skew_or_cleared_by_the_evidence():
    for choice in exercises.SKEW_CHOICES:
        assert (choice in nb05._DEPLOYMENT_SKEWS) != (choice in nb05._DEPLOYMENT_CLEARED)


def test_the_kiosk_preprocess_gives_a_float_square_tensor(mini_root):
    test_file = OxfordFlowers102(mini_root, "test").image_files[0]
    x = exercises.kiosk_preprocess(test_file, 16, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32


# ------------------------------------------------------------------ your own artifact


def _save(net, mean, std, size, classes, path):
    artifact = {"state_dict": net.state_dict(), "mean": [float(m) for m in mean], "std": [float(s) for s in std]}
    torch.save({**artifact, "size": int(size), "classes": list(classes)}, path)


def _load(path, **load_kw):
    saved = torch.load(path, **({"weights_only": True} | load_kw))
    net = model.FlowerCNN(num_classes=len(saved["classes"]))
    net.load_state_dict(saved["state_dict"])
    return net.eval(), {k: saved[k] for k in ("mean", "std", "size", "classes")}


def _save_without(key):
    def save(net, mean, std, size, classes, path):
        _save(net, mean, std, size, classes, path)
        torch.save({k: v for k, v in torch.load(path, weights_only=True).items() if k != key}, path)

    return save


def _save_numpy(net, mean, std, size, classes, path):
    torch.save({"state_dict": net.state_dict(), "mean": mean, "std": std, "size": size, "classes": classes}, path)


def _save_model(net, mean, std, size, classes, path):
    torch.save({"net": net, "mean": list(map(float, mean)), "std": list(map(float, std)), "size": size, "classes": classes}, path)


def _save_two_files(net, mean, std, size, classes, path):
    _save(net, mean, std, size, classes, path)
    path.with_suffix(".json").write_text(json.dumps(classes))


def _save_then_move(net, mean, std, size, classes, path):
    _save(net, mean, std, size, classes, path)
    net.to("meta")  # e.g. net.to(device) after saving


def _load_default(path):
    saved = torch.load(path)  # weights_only left to the default
    return _load(path) if saved else None


def _load_102(path):
    net = model.FlowerCNN()
    net.load_state_dict(torch.load(path, weights_only=True)["state_dict"])
    return net.eval(), {}


@pytest.mark.parametrize(
    "save, load, feedback",
    [
        (_save, _load, "Correct!"),
        (lambda *a: None, lambda p: None, "wrote no file: it is still the stub"),
        (_save, lambda p: None, "load_my_artifact returns None: it is still the stub"),
        (lambda *a: 1 / 0, _load, "ZeroDivisionError"),
        (lambda net, m, s, size, c, path: torch.save(net.state_dict(), path), _load, "training statistics (mean)"),
        (_save_without("std"), _load, "training statistics (std)"),
        (_save_without("classes"), _load, "class names are not in the file"),
        (_save_without("size"), _load, "input size (48) is not in the file"),
        (_save_without("state_dict"), _load, "no state_dict"),
        (_save_numpy, _load, "refuses your file: it holds a NumPy value"),
        (_save_model, _load, "refuses your file: it holds a Python object (flowerkit.model.FlowerCNN)"),
        (_save_two_files, _load, "wrote 2 files"),
        (lambda net, m, s, size, c, path: _save(net, m, s, size, c, path.with_name("x.pt")), _load, "not the path"),
        (_save, _load_default, "leaves weights_only to torch.load's default"),
        (_save, lambda p: _load(p, weights_only=False), "torch.load(weights_only=False)"),
        (_save, lambda p: (_load(p)[0].train(), _load(p)[1]), "training mode"),
        (_save, _load_102, "size mismatch"),
        (_save, lambda p: (model.FlowerCNN(num_classes=10).eval(), _load(p)[1]), "predictions differ"),
        (_save, lambda p: _load(p)[0], "expected (network, preprocess)"),
        # a GPU user's habit, .to(device): meta stands for a GPU here (a device that is not the CPU)
        (_save, lambda p: (_load(p)[0].to("meta"), _load(p)[1]), "the network comes back on meta"),
        (_save_then_move, _load, "Correct!"),  # the checker's own network is not moved by the student's save
        (_save, lambda p: (torch.nn.Linear(3, 2).eval(), _load(p)[1]), "cannot predict a batch of 4 images"),
        (_save, lambda p: (_load(p)[0], {**_load(p)[1], "size": 64}), "['size'] differ"),
    ],
)
def test_check_my_artifact_feedback(save, load, feedback, capsys):
    ok = exercises.check_my_artifact(save, load)
    out = capsys.readouterr().out
    assert feedback in out and ok == (feedback == "Correct!"), out
    assert ok or "\nHint: " in out


def test_the_shop_model_leaves_the_global_random_state_alone():
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    nb05._shop_model()
    assert torch.equal(torch.rand(1), before)
    assert isinstance(nb05._shop_model()[1]["mean"], np.ndarray)  # the NumPy statistics a weights-only file refuses


def _my_input(size, mean, std, *, crop=True, stats=None, scale=True, upright=True):
    """The notebook's build-it-yourself input function, or one with a classic mistake."""
    from PIL import Image, ImageOps

    m, s = (torch.tensor(v).view(3, 1, 1) for v in (stats or (mean, std)))

    def my_input(path):
        opened = Image.open(path)
        opened.draft("RGB", (size, size))
        opened = ImageOps.exif_transpose(opened) if upright else opened
        chw = torch.from_numpy(np.array(opened.convert("RGB"))).permute(2, 0, 1)
        if crop:
            square = min(chw.shape[1:])
            y0, x0 = (chw.shape[1] - square) // 2, (chw.shape[2] - square) // 2
            chw = chw[:, y0 : y0 + square, x0 : x0 + square]
        chw = torch.nn.functional.interpolate(chw[None], size=(size, size), mode="bilinear", antialias=True)[0]
        return (chw.float() / 255 - m) / s if scale else chw

    return my_input


def test_check_my_input_accepts_training_s_tensors_and_names_each_classic_mistake(mini_root, tmp_path, capsys):
    from types import SimpleNamespace

    from PIL import ExifTags, Image

    from flowerkit.facts import IMAGENET_MEAN, IMAGENET_STD

    size, mean, std = 32, (0.45, 0.4, 0.3), (0.25, 0.25, 0.25)
    test = OxfordFlowers102(mini_root, "test")
    visitors = [
        SimpleNamespace(path=f, original=f, label=y, kind="original") for f, y in zip(test.image_files[::97], test.labels[::97])
    ]
    portrait = tmp_path / "portrait.jpg"  # stored sideways with a tag, as visitors.make_visitors writes one
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    with Image.open(test.image_files[5]) as img:
        img.convert("RGB").transpose(Image.Transpose.ROTATE_90).save(portrait, quality=95, exif=exif)
    visitors.append(
        SimpleNamespace(path=portrait, original=test.image_files[5], label=test.labels[5], kind="portrait, EXIF-rotated")
    )
    net = model.FlowerCNN().eval()
    assert exercises.check_my_input(_my_input(size, mean, std), net, visitors, size, mean, std)
    assert "your tensors are training's" in capsys.readouterr().out
    for wrong, says in (
        (_my_input(size, mean, std, crop=False), "squashed to a square"),
        (_my_input(size, mean, std, stats=(IMAGENET_MEAN, IMAGENET_STD)), "ImageNet's statistics"),
        (_my_input(size, mean, std, stats=((0, 0, 0), (1, 1, 1))), "not normalised"),
        (_my_input(size, mean, std, scale=False), "values up to"),
        (_my_input(size, mean, std, upright=False), "the EXIF orientation tag ignored"),
        (lambda path: _my_input(size, mean, std)(path)[None], "still with a batch dimension"),
        (lambda path: _my_input(size, mean, std)(path).permute(1, 2, 0), "channels last"),
    ):
        assert not exercises.check_my_input(wrong, net, visitors, size, mean, std)
        out = capsys.readouterr().out
        assert says in out and "Hint:" in out, out
