"""Checkers of notebook ``05_the_app``: the student's hunt tool, the Deployment team's skews, the kiosk's, and the student's own artifact."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import pickle
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch
from PIL import Image, ImageOps

from .. import doctor as _doctor
from .. import load as _load
from ..access import load_rgb, to_rgb, upright
from ..classes import CLASSES
from ..doctor.compare import compare_batches
from ..facts import IMAGENET_MEAN, IMAGENET_STD
from ..load import decode_resized
from ..model import FlowerCNN
from ..transform import normalize_batch
from .verdict import (
    RAISED_HINT,
    STUB_HINT,
    Verdict,
    _call,
    _call_without,
    _is_stub_function,
    _names_any,
    _question_first,
    _set_verdict,
    _unanswered,
    _verdict,
)

__all__ = [
    "SKEW_CHOICES",
    "check_compare_batches",
    "check_deployment_skews",
    "check_kiosk_skew",
    "check_my_artifact",
    "check_my_input",
    "kiosk_preprocess",
]


#: The skews notebook ``05_the_app`` names: the Deployment team's (in the hunt) and the kiosk's (exercise 5), in
#: alphabetical order (the answers first would be an answer: tests/test_exercises_verdict.py keeps every list sorted).
SKEW_CHOICES = (
    "cropped off-centre",
    "EXIF orientation ignored",
    "flipped left to right",
    "grayscale",
    "ImageNet statistics instead of the train split's",
    "pixels not scaled to [0, 1]",
    "red and blue swapped (BGR order)",
    "squashed to a square",
)
_SKEW_FEEDBACK = {
    "EXIF orientation ignored": "an ignored tag turns a photo a quarter or half turn, but only a photo that has the "
    "tag (a phone's portrait, not the test split's): run the kiosk on such a photo next to training's decode of the "
    "same file. Is the flower turned?",
    "squashed to a square": "show a kiosk tensor next to training's (denormalised with the train statistics): "
    "are the flowers the same shape?",
    "cropped off-centre": "show a kiosk tensor next to training's: is the same part of the photo in the frame?",
    "flipped left to right": "show a kiosk tensor next to training's (denormalised with the train statistics): does "
    "each flower face the same way?",
    "ImageNet statistics instead of the train split's": "other statistics would shift and scale each channel and leave "
    "every photo's correlation at 1: is that what comparing the kiosk's batch with training's shows?",
    "pixels not scaled to [0, 1]": "doctor.check_batch on a kiosk batch reports the value range: is it in the hundreds?",
    "grayscale": "doctor.check_batch's colour check says whether the three channels are copies of one",
}


def kiosk_preprocess(path: str | Path, size: int, mean: Any, std: Any) -> torch.Tensor:
    """Notebook ``05_the_app``, exercise 5: the garden kiosk's preprocessing, photo -> float (3, size, size). It has one skew.

    The kiosk's own code: find what differs from training by comparing its
    tensors with training's, not by reading this code. Exercise 3's checker
    refuses a ``my_input`` that calls it.
    """
    with Image.open(path) as img:
        img.draft("RGB", (size, size))
        upright = ImageOps.exif_transpose(img)
        if upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info:  # a sticker: on a white page
            rgba = upright.convert("RGBA")
            upright = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
        rgb = np.array(upright.convert("RGB"))
    x = torch.from_numpy(np.ascontiguousarray(rgb[..., ::-1])).permute(2, 0, 1)
    side = min(x.shape[1:])
    top, left = (x.shape[1] - side) // 2, (x.shape[2] - side) // 2
    x = torch.nn.functional.interpolate(
        x[None, :, top : top + side, left : left + side], size=(size, size), mode="bilinear", antialias=True
    )
    return normalize_batch(x, list(mean)[::-1], list(std)[::-1])[0]


# ---------------------------------------------------------------------------------------------- the hunt tool

_MEASURES = ("mean_shift", "std_ratio", "photo_corr")
_MEASURE_SHAPES = {
    "mean_shift": "3 values, one per channel",
    "std_ratio": "3 values, one per channel",
    "photo_corr": "one value per photo",
}


def _tool_cases() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(what differs, reference, candidate): smooth random pictures; the same, shifted and scaled, two photos turned."""
    g = torch.Generator().manual_seed(5)
    ref = torch.nn.functional.interpolate(torch.randn(6, 3, 6, 6, generator=g), size=24, mode="bilinear") + 0.2
    turned = ref.clone()
    turned[[1, 4]] = torch.rot90(ref[[1, 4]], 1, dims=(2, 3))
    restated = ref * torch.tensor([0.5, 2.0, 1.3]).view(1, 3, 1, 1) + torch.tensor([1.0, -0.5, 0.25]).view(1, 3, 1, 1)
    restated = restated + torch.linspace(-0.6, 0.6, 6).view(6, 1, 1, 1)  # each photo its own offset: pooled std differs
    return [
        ("the same batch twice", ref, ref.clone()),
        ("a change that shifts and scales each channel, and brightens each photo its own way", ref, restated),
        ("a change to two photos' pixels", ref, turned * 1.1 - 0.3),
    ]


def _as_measure(value: Any) -> torch.Tensor | None:
    """A student's measure as a flat float64 tensor (any shape: a kept dimension is no mistake), or None if no numbers."""
    if isinstance(value, (list, tuple)):
        value = [v.item() if isinstance(v, (torch.Tensor, np.ndarray)) and v.size == 1 else v for v in value]
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        return torch.as_tensor(np.asarray(value, dtype=np.float64)).reshape(-1)
    except (TypeError, ValueError):
        return None


def _measure_problem(key: str, got: torch.Tensor, truth: torch.Tensor, ref: torch.Tensor, cand: torch.Tensor) -> tuple[str, str]:
    """(problem, hint) for a measure that differs from the truth: the classic mistake it matches, else the numbers."""

    def near(x: torch.Tensor) -> bool:
        return x.shape == got.shape and bool(torch.allclose(got, x, atol=0.02, rtol=0.01, equal_nan=True))

    if key == "mean_shift" and near(-truth):
        return "mean_shift has the wrong sign.", "the candidate's mean minus the reference's"
    if key == "std_ratio" and near(1 / truth):
        return "std_ratio is upside down.", "the candidate's std divided by the reference's"
    if key == "std_ratio" and near(cand.std(dim=(2, 3)).mean(0) / ref.std(dim=(2, 3)).mean(0)):
        return (
            "std_ratio divides stds taken photo by photo, then averaged: each photo's own offset is left out of them.",
            "one std per channel over photos and pixels together: x.std(dim=(0, 2, 3))",
        )
    if key == "photo_corr":
        mistakes = [(x, said) for x, said in _photo_corr_mistakes(ref, cand) if near(x)]
        if mistakes:  # alike on some cases: the closest names the mistake
            return min(mistakes, key=lambda m: float((got - m[0]).abs().max()))[1]
    return (
        f"{key} is {[round(v, 3) for v in got.tolist()]}, expected {[round(v, 3) for v in truth.tolist()]}.",
        "per photo, per channel: centre, then correlate; print one photo's three correlations on this case"
        if key == "photo_corr"
        else "print each step on this case: the means over photos and pixels, dims (0, 2, 3)",
    )


def _photo_corr_mistakes(ref: torch.Tensor, cand: torch.Tensor) -> list[tuple[torch.Tensor, tuple[str, str]]]:
    """What the classic wrong ``photo_corr`` gives on ``(ref, cand)``, each with its (problem, hint)."""
    a, b = ref.flatten(2), cand.flatten(2)  # (N, 3, pixels)

    def per_channel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # the cosine of each channel, averaged
        return ((x * y).sum(2) / (x.norm(dim=2) * y.norm(dim=2))).mean(1)

    whole = torch.stack([torch.corrcoef(torch.stack([x.flatten(), y.flatten()]))[0, 1] for x, y in zip(ref, cand)])
    photo_mean = per_channel(a - a.mean((1, 2), keepdim=True), b - b.mean((1, 2), keepdim=True))
    return [
        (
            whole,
            (
                "photo_corr correlates each photo's pixels over all three channels at once; then a change of "
                "statistics alone (each channel shifted and scaled its own way) lowers it.",
                "channel by channel: correlate channel c with channel c, then average the three",
            ),
        ),
        (
            photo_mean,
            (
                "photo_corr centres each photo on one mean, over its three channels together, before correlating "
                "channel by channel; then a change of statistics alone (each channel shifted its own way) lowers it.",
                "which mean does each pixel lose? centre each channel of each photo on its own mean, then correlate",
            ),
        ),
        (
            per_channel(a, b),
            (
                "photo_corr does not subtract the means: that is a cosine, not a correlation.",
                "a correlation centres each channel first (x - x.mean()), so a shift changes nothing",
            ),
        ),
    ]


def _tool_problem(func: Callable[..., Any], what: str, ref: torch.Tensor, cand: torch.Tensor) -> tuple[str, str] | None:
    """(problem, hint) for ``func`` on one case, or None when its three measures match :func:`compare_batches`."""
    answer, error, flowerkit_version = _call_without(_doctor, "compare_batches", func, ref.clone().float(), cand.clone().float())
    if flowerkit_version:
        return (
            "compare_batches calls flowerkit's doctor.compare_batches, the version revealed after this exercise: the "
            "exercise is to measure the two batches yourself, in torch or NumPy.",
            "means, stds and correlations over the right dimensions; don't call doctor.compare_batches",
        )
    if error:
        return f"on {what}: {error}", RAISED_HINT
    if _unanswered(answer):
        return "compare_batches returns None: it is still the stub.", STUB_HINT
    if not isinstance(answer, dict) or set(_MEASURES) - set(answer):
        keys = sorted(answer) if isinstance(answer, dict) else type(answer).__name__
        return (
            f"expected a dict with the keys {list(_MEASURES)}, got {keys}.",
            "return {'mean_shift': ..., 'std_ratio': ..., 'photo_corr': ...}",
        )
    truth = compare_batches(ref, cand)
    for key in _MEASURES:
        got, right = _as_measure(answer[key]), getattr(truth, key)
        if got is None or got.shape != right.shape:
            shape = "not an array of numbers" if got is None else f"{got.numel()} value(s), shape {tuple(np.shape(answer[key]))}"
            return f"on {what}: {key} is {shape}; expected {_MEASURE_SHAPES[key]}.", (
                "average over photos and pixels, keeping the channels: dims (0, 2, 3)"
                if key != "photo_corr"
                else "one correlation per photo: average its three channels' correlations"
            )
        if not torch.allclose(got, right, atol=0.01, rtol=0.01):
            problem, hint = _measure_problem(key, got, right, ref.double(), cand.double())
            return f"on {what}: {problem}", hint
    return None


def check_compare_batches(func: Callable[..., Any], evidence: tuple[Any, Any] | None = None) -> Verdict:
    """Notebook ``05_the_app``: the student's hunt tool, ``func(reference, candidate)`` -> a dict of three measures.

    ``mean_shift`` and ``std_ratio`` per channel, ``photo_corr`` per photo
    (channel by channel, averaged), compared with
    :func:`flowerkit.doctor.compare_batches` on three made-up pairs of
    batches whose answers are known, then on ``evidence``, a pair
    ``(reference, candidate)`` of real batches, if given: the student's
    measures there are printed beside flowerkit's. Names the classic
    mistakes (the sign, the ratio upside down, a correlation over all
    channels at once, each photo centred on one mean over its channels, a
    cosine instead of a correlation).
    """
    if _unanswered(func) or not callable(func):
        return _verdict(False, "no answer yet: `compare_batches` should be your function.", STUB_HINT)
    for what, ref, cand in _tool_cases():
        problem = _tool_problem(func, what, ref, cand)
        if problem:
            return _verdict(False, problem[0], problem[1])
    on_evidence = ""
    if evidence is not None:
        ref, cand = (torch.as_tensor(b) for b in evidence)
        problem = _tool_problem(func, f"the evidence ({len(ref)} photos)", ref, cand)
        if problem:
            return _verdict(False, problem[0], problem[1])
        answer, _ = _call(func, ref.clone().float(), cand.clone().float())  # it passed just now: it answers again
        on_evidence = _beside(answer, compare_batches(ref, cand), len(ref))
    return _verdict(
        True,
        "your three measures agree with flowerkit's doctor.compare_batches (revealed below) on three made-up pairs of "
        "batches: the same batch twice, a change that shifts and scales each channel (and brightens each photo its own "
        "way), a change to two photos' pixels. "
        "Read what each kind of change does to each measure." + on_evidence,
    )


def _beside(answer: dict[str, Any], truth: Any, n: int) -> str:
    """The student's measures on the evidence and doctor.compare_batches', rounded, one line each."""

    def line(measures: dict[str, torch.Tensor]) -> str:
        return "; ".join(f"{k} {[round(v, 2) for v in measures[k].tolist()]}" for k in _MEASURES)

    yours = {k: _as_measure(answer[k]) for k in _MEASURES}
    return (
        f"\nOn the evidence ({n} photos), the two agree to about 0.01:\n  yours:                  {line(yours)}"
        f"\n  doctor.compare_batches: {line({k: getattr(truth, k) for k in _MEASURES})}"
    )


# ---------------------------------------------------------------------------------------------- build it yourself

_INPUT_TOLERANCE = 0.15  # mean |difference| in normalised units (about 10 grey levels): other resamplers pass
_UNDER_ALPHA_TOLERANCE = 0.5  # mean |difference| where a photo is transparent: white is 0 away, grey 2, black 4
_FLAT_LEVELS = 28  # a background under the transparency varies less than this (grey levels, per channel; its
# antialiased edge included: 18 at most on the small mini), the photo itself more (40 and up)
_TEST_PHOTO = "test photo"
_CHANNELS = {  # what a photo's extra or missing channels are, by the kind of visitor photo
    "PNG with alpha": "red, green, blue and alpha (the transparency)",
    "CMYK JPEG": "the four inks of a print: cyan, magenta, yellow and black",
    "grayscale JPEG": "one channel of grey",
}
_LOOK = "compare your picture with training's, load.decode_resized(path, SIZE), and find the PIL call that makes them alike"


def _normalised(pixels: torch.Tensor, mean: Any, std: Any) -> torch.Tensor:
    """uint8 (3, H, W) -> normalised float, as training's collate_fn does it."""
    return normalize_batch(pixels[None], mean, std)[0]


def _squareness(path: Path) -> float:
    """Short side / long side of the picture at ``path`` (1 for a square), read from its header."""
    with Image.open(path) as img:
        return min(img.size) / max(img.size)


def _photos_to_check(visitors: Sequence[Any]) -> list[tuple[str, Path]]:
    """(kind, path): a test photo as the dataset stores it, then one visitor photo of each kind.

    Of the PNGs with alpha, the squarest: its transparent corners survive the centre crop.
    """
    checks = [(_TEST_PHOTO, Path(visitors[0].original))]
    for kind in dict.fromkeys(v.kind for v in visitors):
        paths = [Path(v.path) for v in visitors if v.kind == kind]
        if kind == "PNG with alpha":
            paths.sort(key=_squareness, reverse=True)
        if paths[0] not in {path for _, path in checks}:
            checks.append((kind, paths[0]))
    return checks


def _squashed(path: Path, size: int) -> torch.Tensor:
    """The photo at ``path``, upright and in RGB, squashed whole to ``size`` x ``size``: uint8 (3, size, size)."""
    with load_rgb(path) as img:
        return torch.from_numpy(np.array(img.resize((size, size), Image.Resampling.BILINEAR))).permute(2, 0, 1)


def _near_misses(kind: str, path: Path, size: int, mean: Any, std: Any) -> dict[str, tuple[torch.Tensor, str]]:
    """What a plausible wrong ``my_input`` gives for ``path``, each with the hint that names its mistake."""
    pixels = decode_resized(path, size)
    squashed = _squashed(path, size)
    misses = {
        "squashed to a square": (
            _normalised(squashed, mean, std),
            "crop the centre square first (min of height and width), then resize",
        ),
        "normalised with ImageNet's statistics": (
            _normalised(pixels, IMAGENET_MEAN, IMAGENET_STD),
            "normalise with the saved mean and std, not ImageNet's",
        ),
        "scaled to [0, 1], not normalised": (
            pixels.float() / 255,
            "after scaling to [0, 1], subtract the saved mean and divide by the saved std",
        ),
    }
    for name, shifted in _off_centre(path, size).items():
        misses[name] = (
            _normalised(shifted, mean, std),
            "the same part of the photo? crop the centre: the square's corner at ((height - side) // 2, (width - side) // 2)",
        )
    if kind == "CMYK JPEG":  # PIL writes RGB as CMYK with no black ink: cyan = 255 - red, and so on
        misses["with its inks read as colours (cyan, magenta, yellow for red, green, blue)"] = (
            _normalised(255 - pixels, mean, std),
            "the file holds inks, not light: PIL converts between modes itself (Image.convert); " + _LOOK,
        )
    for k, turn in ((1, "on its side (turned left"), (-1, "on its side (turned right"), (2, "upside down (turned half round")):
        misses[f"{turn}: the EXIF orientation tag ignored, lost, or read as another turn)"] = (
            torch.rot90(_normalised(pixels, mean, std), k, dims=(1, 2)),
            "a phone stores a portrait sideways, with a tag saying how to turn it: PIL's ImageOps reads that tag, on the "
            "image as Image.open returns it (a new image made from it, such as Image.alpha_composite's, has no tag); " + _LOOK,
        )
    return misses


def _centre_rounded_up(path: Path, size: int) -> torch.Tensor | None:
    """Training's picture of ``path`` with the centre square one pixel further on where the slack is odd (training
    rounds the half pixel down, ``(h - side) // 2``; torchvision's ``center_crop`` rounds half to even, so half its odd
    slacks start one pixel later), None where it is even."""
    hwc = _load._decode_hwc(_load._source(path), size, _load._resolve("auto"))
    h, w = hwc.shape[:2]
    if (max(h, w) - min(h, w)) % 2 == 0:
        return None
    return _load._crop_resize(hwc[1:] if h > w else hwc[:, 1:], size)  # one line fewer: the crop starts half a pixel on


def _off_centre(path: Path, size: int) -> dict[str, torch.Tensor]:
    """Training's picture of ``path`` with the square taken off the centre: at either edge, or halfway to it."""
    with load_rgb(path) as img:
        chw = torch.from_numpy(np.array(img)).permute(2, 0, 1)
    side = min(chw.shape[1:])
    slack, axis = max(chw.shape[1:]) - side, 1 if chw.shape[1] > chw.shape[2] else 2
    ends = ("the top", "the bottom") if axis == 1 else ("the left", "the right")
    crops: dict[str, torch.Tensor] = {}
    if slack < 4:  # a square photo, or nearly: every crop is the centre's
        return crops
    for fraction, where in (
        (0, f"at {ends[0]} edge"),
        (0.25, f"towards {ends[0]}"),
        (0.75, f"towards {ends[1]}"),
        (1, f"at {ends[1]} edge"),
    ):
        start = round(fraction * slack)
        square = chw.narrow(axis, start, side)[None].float()
        resized = torch.nn.functional.interpolate(square, size=(size, size), mode="bilinear", antialias=True)[0]
        crops[f"cropped off-centre (the square {where})"] = resized.round().clamp(0, 255).byte()
    return crops


def _shape_problem(x: Any, kind: str, where: str, size: int) -> tuple[str, str] | None:
    """(problem, hint) if ``x`` is not a float-able (3, size, size) tensor; None if it is."""
    shape = tuple(x.shape) if isinstance(x, torch.Tensor) else None
    if shape == (3, size, size):
        return None
    if shape == (1, 3, size, size):
        return f"{where}: shape (1, 3, {size}, {size}): one photo, still with a batch dimension.", "drop it: x[0]"
    if shape == (size, size, 3):
        return f"{where}: shape ({size}, {size}, 3): channels last.", "channels first: .permute(2, 0, 1)"
    if shape in ((4, size, size), (1, size, size), (size, size)) and kind in _CHANNELS:
        return (
            f"{where}: shape {shape}: your tensor keeps the file's channels, {_CHANNELS[kind]}.",
            f"the network takes 3 channels, red, green, blue: see what training makes of a {kind}: {_LOOK}",
        )
    return (
        f"{where}: expected a tensor of shape (3, {size}, {size}), got {shape or type(x).__name__}.",
        "channels first, then crop the centre square and resize it to (SIZE, SIZE)",
    )


def _transparency_problem(x: torch.Tensor, where: str, path: Path, size: int, mean: Any, std: Any) -> tuple[str, str] | None:
    """(problem, hint) if ``x`` differs from training's where the photo at ``path`` is transparent; None otherwise."""
    with Image.open(path) as img:
        if "A" not in img.getbands():
            return None
        alpha = img.getchannel("A")
    see_through = decode_resized(Image.merge("RGB", [alpha] * 3), size)[0] < 128  # mostly transparent pixels
    if int(see_through.sum()) == 0:
        return None
    reference = _normalised(decode_resized(path, size), mean, std)
    if float((x.float() - reference).abs()[:, see_through].mean()) <= _UNDER_ALPHA_TOLERANCE:
        return None
    if float((x.float() - reference).abs()[:, ~see_through].mean()) > _INPUT_TOLERANCE:
        return None  # the photo itself differs too (its framing, its turn): the checks after this one name that first
    levels = (x.float()[:, see_through] * torch.as_tensor(std).view(3, 1) + torch.as_tensor(mean).view(3, 1)) * 255
    if float(levels.std(1).max()) > _FLAT_LEVELS:
        return None  # not a background there but the photo itself: a crop a little off, which the checks after name
    yours = levels.mean(1)
    return (
        f"{where}: your tensor differs from training's where the photo is transparent "
        f"({int(see_through.sum())} of {size * size} pixels): yours is about RGB "
        f"{tuple(int(c) for c in yours.round().clamp(0, 255).tolist())} there.",
        _asked_first(_ON_WHITE),
    )


_ON_WHITE = (
    "training puts the transparency on white, as a viewer shows a sticker on a page: Image.alpha_composite over a white image"
)
#: A hint that would answer the question outright: its question first, the hint itself when the same problem comes back.
_QUESTION_FIRST = {
    _ON_WHITE: "put your picture of the PNG next to training's, load.decode_resized(path, SIZE): what colour are the "
    "corners in each?",
}
_HINTED: set[str] = set()  # the hints given in full already, in this process


def _asked_first(hint: str) -> str:
    """:func:`~flowerkit.exercises.verdict._question_first` with this notebook's questions (:data:`_QUESTION_FIRST`)."""
    return _question_first(hint, _QUESTION_FIRST, _HINTED, "a fuller hint")


def _input_problem(func: Callable[[Path], Any], kind: str, path: Path, size: int, mean: Any, std: Any) -> tuple[str, str] | None:
    """How ``func(path)`` differs from training's tensor for ``path`` (a photo of ``kind``), as (problem, hint); None when it matches."""
    where = f"the {kind} ({path.name})"
    x, error = _call(func, path)
    if error:
        look = f"; training's decode reads every kind of photo: {_LOOK}" if kind != _TEST_PHOTO else ""
        if kind in _CHANNELS:
            look = f"; a {kind} holds {_CHANNELS[kind]}: see what training makes of it: {_LOOK}"
        return f"{where}: {error}", RAISED_HINT + look
    if x is None:
        return "my_input returns None: it is still the stub.", STUB_HINT
    problem = _shape_problem(x, kind, where, size)
    if problem:
        return problem
    if not x.is_floating_point() or float(x.abs().max()) > 20:
        return f"{where}: values up to {float(x.abs().max()):.0f}.", "scale to [0, 1] (.float() / 255) before normalising"
    problem = _transparency_problem(x, where, path, size, mean, std)
    if problem:
        return problem
    off = float((x.float() - _normalised(decode_resized(path, size), mean, std)).abs().mean())
    if off <= _INPUT_TOLERANCE:
        return None
    up = _centre_rounded_up(path, size)
    if up is not None and float((x.float() - _normalised(up, mean, std)).abs().mean()) <= _INPUT_TOLERANCE:
        return None  # torchvision's center_crop: the same centre, its half pixel rounded the other way
    misses = _near_misses(kind, path, size, mean, std)
    name = min(misses, key=lambda k: float((x.float() - misses[k][0]).abs().mean()))  # the closest: misses may be alike
    if float((x.float() - misses[name][0]).abs().mean()) <= _INPUT_TOLERANCE:
        return f"{where}: your tensor is training's photo {name}.", misses[name][1]
    return (
        f"{where}: your tensor differs from training's by {off:.2f} on average (normalised units).",
        _LOOK[0].upper() + _LOOK[1:],
    )


def _calls_flowerkit_decode(func: Callable[[Path], Any], path: Path) -> str | None:
    """The name of flowerkit's decode function (or the kiosk's preprocessing) that ``func(path)`` calls, whatever name
    it was imported under; else None."""
    ours = {f.__code__: f.__name__ for f in (decode_resized, load_rgb, to_rgb, upright, kiosk_preprocess)}
    called: list[str] = []

    def watch(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code in ours:
            called.append(ours[frame.f_code])

    previous = sys.getprofile()
    sys.setprofile(watch)
    try:
        _call(func, path)
    finally:
        sys.setprofile(previous)
    return called[0] if called else None


_KIOSK_REFUSED = (
    "my_input calls exercises.kiosk_preprocess, the garden kiosk's preprocessing that exercise 5 asks you to judge: "
    "a tensor built from another app's code is that app's, not yours. This exercise is to build training's tensor "
    "yourself, in PIL and torch.",
    "leave the kiosk out of my_input: put your picture next to load.decode_resized(path, SIZE) and find the PIL call "
    "that makes them alike (Image.convert, ImageOps, Image.alpha_composite)",
)


def _aliasing_problem(
    func: Callable[[Path], Any], checks: list[tuple[str, Path]], size: int, mean: Any, std: Any
) -> tuple[str, str] | None:
    """(problem, hint) if ``func`` shrinks the large photo without smoothing (no antialias, or nearest); else None."""
    for kind, path in checks:
        if kind != "large JPEG":
            continue
        x = func(path).float()
        to_training = float((x - _normalised(decode_resized(path, size), mean, std)).abs().mean())
        with load_rgb(path) as img:
            chw = torch.from_numpy(np.array(img)).permute(2, 0, 1)
        side = min(chw.shape[1:])
        top, left = (chw.shape[1] - side) // 2, (chw.shape[2] - side) // 2
        square = chw[None, :, top : top + side, left : left + side].float()
        jagged = [
            torch.nn.functional.interpolate(square, size=(size, size), mode=mode, antialias=False)[0]
            for mode in ("bilinear", "nearest")
        ]
        if (
            min(float((x - _normalised(j.round().clamp(0, 255).byte(), mean, std)).abs().mean()) for j in jagged)
            < 0.5 * to_training
        ):
            return (
                f"the {kind} ({path.name}): your tensor is training's crop shrunk without smoothing (no antialias, "
                "or nearest): jagged petals that training never showed the network.",
                "as in notebook 02: interpolate(..., antialias=True), or PIL's resize with BILINEAR, BICUBIC or LANCZOS",
            )
    return None


@torch.no_grad()
def check_my_input(func: Any, net: torch.nn.Module, visitors: Sequence[Any], size: int, mean: Any, std: Any) -> Verdict:
    """Notebook ``05_the_app``: ``func(path)`` gives the tensor training gave the photo, before ``app.Predictor`` does.

    Compared with training's own (``load.decode_resized`` normalised with the
    saved statistics) on a test photo as the dataset stores it and on one
    visitor photo of each kind in ``visitors``: the first that differs is
    named, with what differs. Then ``net``'s answers from ``func``'s tensors
    and from training's are compared on every visitor photo.
    """
    with tempfile.TemporaryDirectory() as tmp:
        checks = _photos_to_check(visitors) + _turned_copies(Path(visitors[0].original), Path(tmp))
        return _judge_my_input(func, net, visitors, checks, (size, mean, std))


def _turned_copies(original: Path, folder: Path) -> list[tuple[str, Path]]:
    """The upright photo ``original`` stored turned, as cameras store it, with the EXIF tag that turns it back: tag 3
    (half a turn) and tag 8 (a quarter); the visitor portraits carry tag 6 only."""
    copies = []
    with load_rgb(original) as img:
        for tag, stored in ((3, img.transpose(Image.Transpose.ROTATE_180)), (8, img.transpose(Image.Transpose.ROTATE_270))):
            exif = Image.Exif()
            exif[0x0112] = tag  # Orientation: 8 is shown turned a quarter to the left (ImageOps.exif_transpose's ROTATE_90)
            path = folder / f"camera_tag{tag}.jpg"
            stored.save(path, quality=95, exif=exif)
            copies.append((f"photo with EXIF orientation {tag}", path))
    return copies


def _judge_my_input(
    func: Any, net: torch.nn.Module, visitors: Sequence[Any], checks: list[tuple[str, Path]], preprocess: tuple[int, Any, Any]
) -> Verdict:
    """:func:`check_my_input`'s verdict on ``checks`` (kind, path), with training's ``(size, mean, std)``."""
    size, mean, std = preprocess
    if _names_any(func, [kiosk_preprocess]):  # named, even in a branch the checks below would not take
        return _verdict(False, _KIOSK_REFUSED[0], _KIOSK_REFUSED[1])
    used = next(filter(None, (_calls_flowerkit_decode(func, path) for _, path in checks)), None)  # a kind may branch
    if used == "kiosk_preprocess":
        return _verdict(False, _KIOSK_REFUSED[0], _KIOSK_REFUSED[1])
    if used:
        return _verdict(
            False,
            f"my_input calls flowerkit's {used}: training's own decode, the one-home fix that app.Predictor shows next. "
            "This exercise is to build the tensor yourself, in PIL and torch.",
            "put your picture next to load.decode_resized(path, SIZE) and find the PIL call that makes them alike "
            "(Image.convert, ImageOps, Image.alpha_composite); don't call flowerkit's decode in my_input",
        )
    for kind, path in checks:
        problem = _input_problem(func, kind, path, size, mean, std) or (
            _aliasing_problem(func, checks, size, mean, std) if kind == "large JPEG" else None
        )
        if problem:
            return _verdict(False, problem[0], problem[1])
    measured, costly = _measured_on_visitors(func, net, visitors, size, mean, std)
    if costly:
        return _verdict(
            False,
            f"your tensors are close to training's on every kind, within the checker's tolerance, but not the same: {measured} "
            "A decoder or resampler other than training's is a skew too, smaller than a rotated or squashed photo.",
            "decode as training does (load.decode_resized's docstring lists its steps: a reduced-size decode, the centre "
            "square, an antialiased resize) and put your tensor beside its, on one photo, until they agree",
        )
    return _verdict(
        True,
        f"your tensors are training's on a {_TEST_PHOTO} and on a visitor photo of each kind, within the checker's "
        f"tolerance. {measured}\n{_agreement(func, checks, size, mean, std)}",
    )


def _agreement(func: Any, checks: list[tuple[str, Path]], size: int, mean: Any, std: Any) -> str:
    """How far ``func``'s tensor is from training's on each of ``checks``: the mean and the largest |difference|."""
    rows = []
    for kind, path in checks:
        off = (func(path).float() - _normalised(decode_resized(path, size), mean, std)).abs()
        rows.append(f"  {kind + ':':34} mean {float(off.mean()):.3f}, largest {float(off.max()):.2f}")
    level = sorted(1 / 255 / float(v) for v in std)  # one grey level, in each channel's normalised units
    said = f"|your tensor - training's| in normalised units (one grey level is {level[0]:.3f} to {level[-1]:.3f}):"
    return "\n".join([said, *rows])


_COSTLY_P = 0.05  # a one-sided sign test on the photos the two tensors' answers disagree on: below this, a skew


@torch.no_grad()
def _measured_on_visitors(
    func: Any, net: torch.nn.Module, visitors: Sequence[Any], size: int, mean: Any, std: Any
) -> tuple[str, bool]:
    """The fix measured against the symptom: the network's accuracy on every visitor photo from ``func``'s tensors,
    and whether it falls short of training's tensors' by more than chance: of the photos where exactly one of the two
    is right, training's wins so many that a fair coin would give that few wins to yours with probability under
    :data:`_COSTLY_P` (a paired sign test; on mini-flowers' 102 photos a 3-photo gap, 4 wins to 1, is chance)."""
    net.eval()
    mine = torch.stack([net(func(v.path).float()[None]).argmax(1)[0] for v in visitors])
    theirs = torch.stack([net(_normalised(decode_resized(v.path, size), mean, std)[None]).argmax(1)[0] for v in visitors])
    labels = torch.tensor([v.label for v in visitors])
    same, acc_mine, acc_theirs = (
        int((mine == theirs).sum()),
        float((mine == labels).float().mean()),
        float((theirs == labels).float().mean()),
    )
    said = (
        f"On all {len(visitors)} visitor photos the network answers {acc_mine:.1%} right from your tensors, "
        f"{acc_theirs:.1%} from training's (the same answer on {same}"
        + (" of them)." if same < len(visitors) else ": every one).")
    )
    mine_only = int(((mine == labels) & (theirs != labels)).sum())
    theirs_only = int(((theirs == labels) & (mine != labels)).sum())
    return said, _sign_test(mine_only, theirs_only) < _COSTLY_P


def _sign_test(wins: int, losses: int) -> float:
    """P(at most ``wins`` heads in ``wins + losses`` fair coin flips): how likely chance alone makes a tie this lopsided."""
    n = wins + losses
    return sum(math.comb(n, k) for k in range(wins + 1)) / 2**n if n else 1.0


def check_kiosk_skew(answer: Any, channels: Any) -> Verdict:
    """Notebook ``05_the_app``: which of :data:`SKEW_CHOICES` is the skew of :func:`kiosk_preprocess`, and the
    measurement it rests on: ``channels``, for each channel of the kiosk's tensor (0, 1, 2), the channel of training's
    tensor that it follows, as the student measured it on test photos.

    The name must be one of the choices, the measurement three channel numbers; the two must agree with the kiosk's
    tensors and with each other.
    """
    if _unanswered(answer):
        return _verdict(False, "no answer yet: set `kiosk_skew` to one of exercises.SKEW_CHOICES.", "compare tensors first")
    if isinstance(answer, (set, frozenset, list, tuple)):  # a set, as the Deployment team's skews were asked for
        if len(answer) != 1:
            return _verdict(
                False,
                f"{len(answer)} answers: the kiosk has one skew.",
                "set kiosk_skew to one string of exercises.SKEW_CHOICES",
            )
        (answer,) = answer
    if not isinstance(answer, str) or answer not in SKEW_CHOICES:
        return _verdict(False, f"{answer!r} is not one of exercises.SKEW_CHOICES.", "copy one of its strings exactly")
    problem = _channels_problem(channels)
    if problem:
        return _verdict(False, problem[0], problem[1])
    if answer != _KIOSK_SKEW:
        return _verdict(
            False,
            f"not {answer!r}: it would not give the channel order your measurement shows, kiosk_channels = {_KIOSK_CHANNELS}.",
            _SKEW_FEEDBACK[answer],
        )
    return _verdict(
        True,
        f"your measurement, kiosk_channels = {_KIOSK_CHANNELS}, shows it: the kiosk's camera library hands over pixels "
        "as blue, green, red (as OpenCV's cv2.imread does), so red petals reach the model as blue ones. The batch check "
        "passes; a comparison with training's tensors, channel by channel, or the pictures show it.",
    )


_KIOSK_SKEW = "red and blue swapped (BGR order)"
_KIOSK_CHANNELS = (2, 1, 0)  # the kiosk's channel c follows training's channel _KIOSK_CHANNELS[c]
_MEASURE_CHANNELS = (
    "for each kiosk channel c, correlate kiosk[:, c] with each of training's channels over a shuffled batch of test "
    "photos (np.corrcoef on the flattened pixels): the training channel it correlates with most is the one it follows"
)


def _channels_problem(channels: Any) -> tuple[str, str] | None:
    """(message, hint) when ``channels`` is not the kiosk's measured channel order; None when it is."""
    if _unanswered(channels):
        return (
            "no measurement yet: set `kiosk_channels` to what you measured, for each channel of the kiosk's tensor "
            "(0, 1, 2), the channel of training's tensor that it follows.",
            _MEASURE_CHANNELS,
        )
    if isinstance(channels, (torch.Tensor, np.ndarray)):
        channels = channels.tolist()
    if (
        not isinstance(channels, (list, tuple))
        or len(channels) != 3
        or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in channels)
    ):
        return (
            f"kiosk_channels is {channels!r}; expected three channel numbers, one per kiosk channel: "
            "(0, 1, 2) if each follows training's channel of the same number.",
            _MEASURE_CHANNELS,
        )
    if tuple(int(c) for c in channels) != _KIOSK_CHANNELS:
        return (
            f"kiosk_channels = {tuple(int(c) for c in channels)} is not what the kiosk's tensors show: measure it "
            "before naming the skew (the name comes after the evidence).",
            _MEASURE_CHANNELS,
        )
    return None


# The Deployment team's three skews, named in the hunt of notebook 05 from the tensors and pictures alone.
_DEPLOYMENT_SKEWS = ("EXIF orientation ignored", "squashed to a square", "ImageNet statistics instead of the train split's")
_DEPLOYMENT_CLEARED = {
    "pixels not scaled to [0, 1]": "unscaled pixels would give channel means in the hundreds; the app's are a few units "
    "at most, like training's",
    "red and blue swapped (BGR order)": "swapped channels would turn red petals blue; in their pictures every flower keeps its hue, "
    "only shifted in brightness and tint",
    "cropped off-centre": "their pictures keep the whole photo, edge to edge, squeezed into the square: nothing is cut "
    "off on one side",
    "flipped left to right": "only the tagged portraits change orientation, and each is training's picture turned a "
    "quarter, not mirrored; a flip in their code would mirror every photo, and the large JPEG and the PNG face the way "
    "they do in training's",
    "grayscale": "the app turns no photo gray: the gray ones arrived gray from the visitor (their originals are in "
    "colour), and any pipeline, training's included, decodes that file gray: a difference of the photo, not of the "
    "app's code (the training batch here decodes the colour originals; training's own decode of the visitor's gray "
    "file, load.decode_resized(v.path, SIZE), is just as gray)",
}
#: One pointer for any missing skew: a pointer per skew would name the last one to a student holding the other two.
_DEPLOYMENT_LOOK_AGAIN = (
    "look again at every kind of evidence: the pictures side by side (orientation, shape, framing, facing, hue), "
    "the value range, the colour check, and the per-channel mean_shift, std_ratio and correlation of your comparison"
)


def check_deployment_skews(answer: Any) -> Verdict:
    """Notebook ``05_the_app``: the Deployment team's skews, a set of :data:`SKEW_CHOICES` named from the evidence."""
    return _set_verdict(
        answer,
        SKEW_CHOICES,
        "exercises.SKEW_CHOICES",
        "deployment_skews",
        truth=_DEPLOYMENT_SKEWS,
        cleared=_DEPLOYMENT_CLEARED,
        look_again=_DEPLOYMENT_LOOK_AGAIN,
        what="skews",
        correct="all three, each seen in the tensors or the pictures, and none of them raised an error.",
    )


# --------------------------------------------------------------------------------------
# Exercise 4: the student's own artifact, saved in one file and loaded with weights_only=True.
# --------------------------------------------------------------------------------------


def _shop_model(num_classes: int = 10, size: int = 48) -> tuple[FlowerCNN, dict[str, Any]]:
    """The gift shop's model: a FlowerCNN with BatchNorm statistics of its own, and its NumPy statistics.

    The default is the shop's (10 classes, 48 px); another shape catches a loader that builds the shop's network from
    what it knows rather than from the file.
    """
    values = {
        # computed with NumPy, as the shop did; four digits, so that a file that keeps two (round(m, 2)) shows it
        "mean": np.array([0.4727, 0.4139, 0.3338], dtype=np.float32),
        "std": np.array([0.2636, 0.2431, 0.2734], dtype=np.float32),
        "size": size,
        "classes": [CLASSES[i] for i in range(3, 103, 10)][:num_classes],
    }
    with torch.random.fork_rng():
        torch.manual_seed(5 + num_classes)
        net = FlowerCNN(num_classes=len(values["classes"]))
        with torch.no_grad():
            for _ in range(2):  # training mode: BatchNorm's running statistics move away from their defaults
                net(torch.randn(8, 3, values["size"], values["size"]) * 2 + 1)
    return net.eval(), values


def _nodes(obj: Any) -> list[Any]:
    """``obj`` and everything inside it: the values of dicts, the items of lists and tuples, at any depth."""
    found, todo = [], [obj]
    while todo:
        node = todo.pop()
        found.append(node)
        if isinstance(node, dict):
            todo.extend(node.values())
        elif isinstance(node, (list, tuple)):
            todo.extend(node)
        elif isinstance(node, (str, bytes)) and node[:1] in ("{", "[", b"{", b"["):  # settings saved as JSON text
            with contextlib.suppress(ValueError):
                todo.append(json.loads(node))
    return found


# float16 (and bfloat16) keep statistics near 0.3 to about 1e-3: plenty for normalising, so a file may store them so.
_STATS_ATOL = 1e-3
_ROUGHLY = 0.05  # closer than this, not within _STATS_ATOL: the statistics at too low a precision (one decimal)


def _same_numbers(node: Any, values: Any, atol: float = _STATS_ATOL) -> bool:
    """True if ``node`` holds the numbers ``values`` (to ``atol``): a list, a tuple, or an array or tensor of any
    shape whose values, or one row or column of which, are those numbers ((3,), (3, 1, 1) to broadcast, (2, 3) or
    (3, 2) mean and std)."""
    if isinstance(node, (torch.Tensor, np.ndarray)):
        try:  # through float64 in torch first: NumPy has no bfloat16 or float8
            array = node.detach().cpu().double().numpy() if isinstance(node, torch.Tensor) else np.asarray(node, np.float64)
        except (TypeError, ValueError, RuntimeError):
            return False
        if array.size == 0:
            return False
        rows = [array.reshape(-1)]
        if array.ndim >= 2:
            flat = array.reshape(array.shape[0], -1)
            rows += [*flat, *flat.T]
        return any(row.size == len(values) and np.allclose(row, np.asarray(values), rtol=0, atol=atol) for row in rows)
    if not isinstance(node, (list, tuple)) or len(node) != len(values):
        return False
    if any(isinstance(v, (str, bytes, bool)) for v in node):  # "0.47" is text: an app's torch.tensor(...) refuses it
        return False
    try:
        return bool(np.allclose(np.asarray(node, dtype=np.float64), np.asarray(values), rtol=0, atol=atol))
    except (TypeError, ValueError, RuntimeError):
        return False


def _stats_problem(nodes: list[Any], name: str, values: Any) -> tuple[str, str] | None:
    """(message, hint) when no node of the file is the training ``name`` (mean or std); None when one is."""
    if any(_same_numbers(n, values) for n in nodes):
        return None
    rough = next((n for n in nodes if _same_numbers(n, values, atol=_ROUGHLY)), None)
    texts = [n for n in nodes if isinstance(n, (list, tuple)) and n and all(isinstance(v, str) for v in n)]
    as_text = next((n for n in texts if _same_numbers(_floats_or_none(n), values)), None)
    if as_text is not None:
        return (
            f"the training {name} is in the file as text ({list(as_text)[:3]}): an app's torch.tensor(...) refuses "
            "strings, and so does any arithmetic.",
            "save numbers: float(v) for each, or .tolist() of an array",
        )
    if rough is not None:
        dtype = str(getattr(rough, "dtype", "")).removeprefix("torch.")
        stored = f"as {dtype}" if dtype.startswith(("float16", "bfloat16", "float8")) else "rounded"
        return (
            f"the training {name} is in the file only roughly ({stored}): precision lost, off by more than "
            f"{_STATS_ATOL:g} from the {[round(float(v), 4) for v in values]} the shop computed, and every input the app "
            "normalises with it is off too.",
            "save the statistics at full precision, every digit: plain floats (no round), or a float32 tensor",
        )
    return (
        f"no {len(values)} numbers in the file equal the training {name}: an app that loads it has to "
        "guess them, as the Deployment team guessed ImageNet's.",
        "save the mean and the std, as lists of floats",
    )


def _floats_or_none(texts: Sequence[str]) -> list[float] | None:
    """``texts`` read as numbers, or None if one of them is not one."""
    try:
        return [float(t) for t in texts]
    except ValueError:
        return None


def _is_size(node: Any, size: int) -> bool:
    """True if ``node`` is the input size: a number, a one-number tensor, or a (height, width) pair of it."""
    if isinstance(node, torch.Tensor):
        return node.numel() in (1, 2) and node.ndim <= 1 and bool((node == size).all())
    if isinstance(node, (list, tuple)) and len(node) == 2:
        return all(_is_size(n, size) and not isinstance(n, (list, tuple)) for n in node)
    return isinstance(node, (int, np.integer)) and not isinstance(node, bool) and node == size  # 48.0: interpolate refuses


def _class_list(node: Any) -> list[Any] | None:
    """``node`` as names in class order: a list or tuple, or a dict from class index (0, 1, ...) to name; else None."""
    if isinstance(node, (list, tuple)):
        return list(node)
    if isinstance(node, dict) and all(type(k) is int for k in node) and sorted(node) == list(range(len(node))):
        return [node[i] for i in range(len(node))]
    return None


def _classes_problem(nodes: list[Any], classes: list[str]) -> tuple[str, str] | None:
    """(message, hint) when no node of the file is the class names in class order; None when one is."""
    if any(_class_list(n) == classes for n in nodes):
        return None
    for n in nodes:
        if isinstance(n, dict) and n and sorted(map(str, n.values())) == sorted(classes):
            key = next(iter(n))
            return (
                f"the class names are in the file, but in a dict keyed by {key!r} ({type(key).__name__}): the app "
                "turns the network's answer, a class index (0, 1, ...), into its name.",
                "a list in class order, or a dict from each class index (an int) to its name",
            )
        if isinstance(n, dict) and n and sorted(map(str, n)) == sorted(classes):
            return (
                "the class names are in the file as a dict from name to index; the app goes the other way: the "
                "network answers a class index, and the app needs its name.",
                "a list in class order, or a dict from each class index to its name",
            )
    return "the class names are not in the file: the app could only answer with a number.", "save list(classes)"


def _unsafe_what(exc: BaseException) -> tuple[str, str]:
    """What weights_only refused (from torch's message), and the hint that fixes it."""
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
    what = found.group(1) if found else str(exc).strip().splitlines()[-1][:160]
    if what.startswith("numpy"):
        return f"a NumPy value ({what})", "store the statistics as plain floats: [float(m) for m in mean] (or a tensor)"
    if what.startswith(("flowerkit", "torch.nn", "__main__")):
        return f"a Python object ({what})", "save net.state_dict() (tensors), not the network: unpickling an object runs code"
    return what, "save only tensors, dicts, lists, strings and numbers"


def _read_back(path: Path) -> tuple[Any, tuple[str, str] | None]:
    """``torch.load(path, weights_only=True)``, or why it refused the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True), None
    except pickle.UnpicklingError as exc:
        what, hint = _unsafe_what(exc)
        return None, (f"torch.load(weights_only=True) refuses your file: it holds {what}.", hint)
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        return None, (f"torch.load cannot read your file: {exc}.", "write it with torch.save(one_dict, path)")


def _missing_content(content: Any, net: FlowerCNN, values: dict[str, Any]) -> tuple[str, str] | None:
    """(message, hint) for the first thing an app needs that the loaded file does not hold; None if all is there."""
    nodes = _nodes(content)
    keys = set(net.state_dict())
    if not any(isinstance(n, dict) and keys <= set(n) for n in nodes):
        return (
            "the file holds no state_dict with all the network's weights (BatchNorm's running statistics included).",
            "save net.state_dict()",
        )
    problem = _stats_problem(nodes, "mean", values["mean"]) or _stats_problem(nodes, "std", values["std"])
    if problem:
        return problem
    problem = _classes_problem(nodes, values["classes"])
    if problem:
        return problem
    if not any(_is_size(n, values["size"]) for n in nodes):
        near = next(
            (n for n in nodes if isinstance(n, (float, str)) and str(n).strip() in (f"{values['size']}.0", str(values["size"]))),
            None,
        )
        if near is not None:
            return (
                f"the input size is in the file as {near!r}, not the int {values['size']}: interpolate and Resize refuse it.",
                "save int(size)",
            )
        return f"the input size ({values['size']}) is not in the file: the app would have to guess it.", "save int(size)"
    return None


def _saved_problem(save: Callable[..., Any], net: FlowerCNN, values: dict[str, Any], path: Path) -> tuple[str, str] | None:
    """(message, hint) for what is wrong with the file ``save`` writes at ``path`` (alone in its folder); None if nothing."""
    # a copy: a save that moves the network (e.g. .to(device)) must not move the checker's reference
    _, error = _call(save, copy.deepcopy(net), values["mean"], values["std"], values["size"], list(values["classes"]), path)
    if error:
        return f"save_my_artifact: {error}", RAISED_HINT
    written = sorted(p.name for p in path.parent.iterdir())
    if not written:
        said = "it is still the stub" if _is_stub_function(save) else "nothing was saved"
        return f"save_my_artifact wrote no file: {said}.", "torch.save(one dict of everything, path)"
    if path.name not in written:
        return f"save_my_artifact wrote {written}, not the path it was given.", "torch.save(..., path)"
    if len(written) > 1:
        return (
            f"save_my_artifact wrote {len(written)} files ({written}): the app needs all of them, and one day one goes missing.",
            "put everything in one dict and save it with one torch.save",
        )
    content, refused = _read_back(path)
    return refused or _missing_content(content, net, values)


def _load_calls(load: Callable[[Path], Any], path: Path) -> tuple[Any, str | None, list[Any]]:
    """``load(path)``, what it raised, and the ``weights_only`` argument of every torch.load it made.

    ``torch.load`` (and ``torch.serialization.load``, the same function) is watched on the modules and under any name
    ``load``'s module gave it (``from torch import load``).
    """
    calls: list[Any] = []
    real = torch.load

    def recording(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    namespace = getattr(load, "__globals__", {})
    aliases = [name for name, value in namespace.items() if value is real]  # `from torch import load` at the top
    with mock.patch.object(torch, "load", recording), mock.patch.object(torch.serialization, "load", recording):
        namespace.update(dict.fromkeys(aliases, recording))
        try:
            answer, error = _call(load, path)
        finally:
            namespace.update(dict.fromkeys(aliases, real))
    return answer, error, calls


def _loaded_problem(load: Callable[[Path], Any], net: FlowerCNN, values: dict[str, Any], path: Path) -> tuple[str, str] | None:
    """(message, hint) for what is wrong with what ``load(path)`` returns; None if it is the network and its preprocessing."""
    answer, error, calls = _load_calls(load, path)
    if error:
        hint = "build FlowerCNN(num_classes=len(classes)) from the file" if "size mismatch" in error else RAISED_HINT
        return "load_my_artifact: " + "\n".join(error.splitlines()[:2]), hint
    if _unanswered(answer):
        return "load_my_artifact returns None: it is still the stub.", "return (network, preprocess)"
    if False in calls:
        return "load_my_artifact calls torch.load(weights_only=False): a file from anyone could run code as it loads.", (
            "torch.load(path, weights_only=True)"
        )
    if calls and None in calls:
        return (
            "load_my_artifact leaves weights_only to torch.load's default: True only since PyTorch 2.6; "
            "on an older PyTorch the same line unpickles anything.",
            "write weights_only=True",
        )
    if isinstance(answer, (tuple, list)) and len(answer) == 2 and isinstance(answer[1], torch.nn.Module):
        return "expected (network, preprocess), got (preprocess, network): the network comes first.", "swap them"
    if not isinstance(answer, (tuple, list)) or len(answer) != 2 or not isinstance(answer[0], torch.nn.Module):
        return f"expected (network, preprocess), got {type(answer).__name__}.", "return net.eval(), {...}"
    return _network_problem(answer[0], net, values["size"]) or _preprocess_problem(answer[1], values)


def _network_problem(mine: torch.nn.Module, net: FlowerCNN, size: int) -> tuple[str, str] | None:
    if mine.training:
        return (
            "the network is in training mode: BatchNorm would use each batch's own statistics, Dropout drop features.",
            "return net.eval()",
        )
    on = {str(p.device) for p in mine.parameters()}
    if on - {"cpu"}:
        return (
            f"the network comes back on {sorted(on)[0]}; the app feeds it CPU tensors and has no GPU to rely on.",
            "build it on the CPU: no .to(device) in load_my_artifact, and torch.load(path, map_location='cpu', ...)",
        )
    x = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        outputs, error = _call(lambda: (mine(x), net(x)))
    if error:
        return (
            f"the network it returns cannot predict a batch of 4 images of {size} px: {error}",
            "rebuild FlowerCNN(num_classes=len(classes)), load the saved state_dict into it, and return it in eval mode",
        )
    same = outputs[0].shape == outputs[1].shape and torch.allclose(outputs[0], outputs[1], atol=1e-5)
    if not same:
        return "its predictions differ from the saved network's.", "net.load_state_dict(saved weights)"
    return None


def _preprocess_problem(pre: Any, values: dict[str, Any]) -> tuple[str, str] | None:
    if not isinstance(pre, dict) or not {"mean", "std", "size", "classes"} <= set(pre):
        return "the preprocessing should be a dict with mean, std, size and classes.", 'return net, {"mean": ..., ...}'
    if _same_numbers(pre["mean"], values["std"]) and _same_numbers(pre["std"], values["mean"]):
        return (
            "the preprocessing's mean is the training std and its std the mean: swapped, in the file or on the way out.",
            "check save_my_artifact's keys (mean: the mean) and load_my_artifact's",
        )
    wrong = [k for k in ("mean", "std") if not _same_numbers(pre[k], values[k])]
    wrong += [k for k in ("size",) if not _is_size(pre[k], values["size"])]
    wrong += [k for k in ("classes",) if _class_list(pre[k]) != values["classes"]]
    if wrong:
        return f"the preprocessing's {wrong} differ from what was saved.", "return the values read from the file"
    return None


def check_my_artifact(save: Callable[..., Any], load: Callable[[Path], Any]) -> Verdict:
    """Notebook ``05_the_app``: ``save(net, mean, std, size, classes, path)`` writes one file that ``load(path)`` turns back into the app.

    Round-trips the gift shop's model (10 classes, 48 px, statistics as NumPy
    arrays), then another (7 classes, 40 px): the file must be one file that ``torch.load(weights_only=True)``
    reads, holding the weights, both statistics, the size and the class
    names; ``load`` must call ``torch.load`` with ``weights_only=True`` and
    return ``(network in eval mode, {"mean", "std", "size", "classes"})`` that
    predicts what the saved network predicts.
    """
    for num_classes, size in ((10, 48), (7, 40)):  # the shop's model, then another: nothing may be hard-coded
        net, values = _shop_model(num_classes, size)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "shop.pt"
            problem = _saved_problem(save, net, values, path) or _loaded_problem(load, net, values, path)
        if problem:
            message, hint = problem
            where = "" if num_classes == 10 else f"with another model ({num_classes} classes, {size} px): "
            return _verdict(False, where + message, hint)
    return _verdict(
        True, "one file, read with weights_only=True, and back come the same predictions, statistics, size and names."
    )
