"""Checkers of notebook ``02_transform``: the student's batch check, the Quality team's causes, and three transfer tasks.

The hunt tool (:func:`check_batch_findings`) is judged on known-good and
known-bad batches, then on the Quality team's batch and ours against
:func:`flowerkit.doctor.check_batch`. The exercises need the notebook's ideas
on new cases: a Caffe-style model's input (:func:`check_caffe_input`),
per-channel statistics merged from what parallel workers computed on their shards (:func:`check_merge_stats`),
MixUp or CutMix in a ``collate_fn`` on the training loader only (:func:`check_mixup_loaders`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils.data import TensorDataset, default_collate
from torchvision.transforms import v2

from .. import doctor as _doctor
from .. import transform as _transform
from ..doctor import batch as _doctor_batch
from ..doctor import check_batch
from ..doctor.diagnose import _FOUND as _doctor_found
from ..facts import IMAGENET_MEAN, NUM_CLASSES
from ..teams.quality import QUALITY_BUGS as _QUALITY_BUGS
from ..transform import compute_stats
from .verdict import (
    RAISED_HINT,
    STUB_HINT,
    Verdict,
    _answer_without,
    _call,
    _is_stub_function,
    _set_verdict,
    _unanswered,
    _verdict,
)

__all__ = [
    "BATCH_CHECKS",
    "QUALITY_SUSPECTS",
    "check_batch_findings",
    "check_caffe_input",
    "check_merge_stats",
    "check_mixup_loaders",
    "check_quality_causes",
    "check_train_stats",
]


# What the evidence says about each suspect: the checker's answer key, kept out of the public list below.
_QUALITY_EVIDENCE: dict[str, str] = {
    # the four causes: what shows each (for the record: a missing cause's hint lists every measurement, not this one)
    "grayscale": "your batch check's colour finding on their batch (do the three channels carry the same picture?)",
    "squash": "the pictures, theirs next to ours (what shape are the round flowers?)",
    "per-image standardisation": "your batch check's per-image statistics on their batch (how do the images' means and stds compare?)",
    "augmentation at evaluation": "the same test photos passed through their pipeline twice (do the two tensors agree?)",
    "wrong labels": "no: wrong labels (notebook 01's Access team) keep the test score at chance while the loss falls; "
    "theirs is above chance, and their pipeline reads the labels with the Dataset notebook 01 fixed",
    "too few epochs": "no: the epochs are the shared recipe's, the same for every run here, ours included; their "
    "training accuracy still climbs, so more epochs would add a little, but no number of epochs brings back what their "
    "pipeline takes out of a photo before the model sees it",
    "learning rate": "no: it is the shared recipe's, the same as ours, and their loss falls smoothly epoch after epoch "
    "(a learning rate far off stalls or jumps)",
    "no shuffling": "no: no measurement above looked at the order of the samples, and their loader does shuffle "
    "(type(quality_pipe.train_loader.sampler) is RandomSampler: look before you name a cause); that trap is notebook 03's",
    # three more inside the transform stage, each measured clean by the student's own batch check
    "pixels not scaled to [0, 1]": "no: your batch check's range finding on their batch: values within a few units, as "
    "scaled pixels are after normalising (unscaled ones reach the hundreds)",
    "float64 tensors": "no: your batch check's dtype finding on their batch: float32, the model's dtype",
    "wrong input size": "no: their batch passed your batch check's shape check (B, 3, H, W), and their pictures above "
    "came out as large as ours (their_batch[0].shape prints (64, 3, SIZE, SIZE), the size the network takes)",
}
#: The suspects notebook ``02_transform`` offers for the Quality team's weak model (names only: the evidence decides),
#: in alphabetical order (the answers first would be an answer).
QUALITY_SUSPECTS: tuple[str, ...] = tuple(sorted(_QUALITY_EVIDENCE, key=str.casefold))
_QUALITY_CAUSES = _QUALITY_BUGS  # the Quality team's bugs, defined with their code in flowerkit.teams.quality


_LOOK_AGAIN = (
    "look again at every measurement above: each finding of your batch check on their batch, the pictures side by side, "
    "the same photos passed through their pipeline twice"
)


def check_quality_causes(answer: Any) -> Verdict:
    """Notebook ``02_transform``: ``answer`` names, from :data:`QUALITY_SUSPECTS`, every cause the evidence supports."""
    if (
        _doctor_named(_QUALITY_FINDINGS)
        and isinstance(answer, (set, frozenset, list, tuple))
        and set(answer) == set(_QUALITY_CAUSES)
    ):
        return _verdict(
            False,
            "doctor.diagnose has reported these problems in this kernel (on a pipeline with at least three of them): "
            "that is the doctor's answer, and this hunt is yours, from the pictures, the photos twice and your batch check.",
            "restart the kernel, run the cells down to here without the doctor, and name each cause from a measurement",
        )
    return _set_verdict(
        answer,
        QUALITY_SUSPECTS,
        "exercises.QUALITY_SUSPECTS",
        "causes",
        truth=_QUALITY_CAUSES,
        cleared=_QUALITY_EVIDENCE,
        look_again=_LOOK_AGAIN,
        what="causes",
        correct="all four, each backed by a measurement: grayscale, squash, per-image standardisation, augmentation at evaluation.",
    )


#: What :func:`flowerkit.doctor.diagnose` calls the Quality team's four problems.
_QUALITY_FINDINGS = frozenset({"colour", "per-image standardisation", "aspect ratio", "random at evaluation"})


def _doctor_named(findings: frozenset[str], at_least: int = 3) -> bool:
    """True when a :func:`flowerkit.doctor.diagnose` call of this kernel reported ``at_least`` of ``findings``."""
    return any(len(found & findings) >= at_least for found in _doctor_found)


# --------------------------------------------------------------------------------------
# The hunt tool: the student's own batch check.
# --------------------------------------------------------------------------------------

#: The problems the student's batch check names, as :func:`flowerkit.doctor.check_batch` names them (notebook ``02_transform``).
BATCH_CHECKS = ("shape", "dtype", "range", "normalisation", "colour", "per-image standardisation")

_MISSED = {
    "shape": "the model wants (B, 3, H, W): check images.ndim == 4 and images.shape[1] == 3, and stop there if not",
    "dtype": "the model's weights are float32: compare images.dtype with torch.float32",
    "range": "values far above 1 (say over 20) were never scaled to [0, 1]: look at images.max()",
    "normalisation": "per channel, over images and pixels: x.mean(dim=(0, 2, 3)) near 0 (within 0.5) and x.std(dim=(0, 2, 3)) near 1 (0.5 to 2)",
    "colour": "Normalize gives each channel its own scale and shift: standardise each channel of each image first, then "
    "compare the channels (identical pictures give identical numbers)",
    "per-image standardisation": "each image's own statistics: x.mean(dim=(1, 2, 3)) and x.std(dim=(1, 2, 3)); "
    "all means equal and all stds 1 means each image was standardised by itself",
}
_FALSE_ALARM = {
    "shape": "(B, 3, H, W) is right, whatever H and W",
    "dtype": "float32 is what the model's weights are",
    "range": "a normalised batch has values a few units either side of 0; only values far above (say over 20) are unscaled",
    "normalisation": "allow some slack: a per-channel mean within 0.5 of 0 and a std between 0.5 and 2 is normalised",
    "colour": "channels that look alike are not copies: flag only pictures that are the same up to scale and shift (say within 1e-3)",
    "per-image standardisation": "these images still differ in brightness: require every image mean equal (within about 1e-3) and every std 1 (within about 1e-2, as the doctor does)",
}


def _colour_photos() -> torch.Tensor:
    """Sixteen small colour 'photos' in [0, 1]: each its own brightness, contrast and tint."""
    g = torch.Generator().manual_seed(2)
    n, s = 16, 32  # 3,072 values per image: an std with or without Bessel's correction differs by under 1e-3
    brightness = 0.25 + 0.5 * torch.rand(n, 1, 1, 1, generator=g)
    contrast = 0.05 + 0.15 * torch.rand(n, 1, 1, 1, generator=g)
    tint = 0.08 * torch.randn(n, 3, 1, 1, generator=g)
    return (brightness + tint + contrast * torch.randn(n, 3, s, s, generator=g)).clamp(0, 1)


def _batch_cases() -> list[tuple[str, torch.Tensor, frozenset[str]]]:
    """(what it is, a batch, the problems it has): the known-good and known-bad batches the hunt tool must get right."""
    uint8 = (_colour_photos() * 255).round().to(torch.uint8)
    x = uint8.double() / 255
    good = (x - x.mean((0, 2, 3), keepdim=True)) / x.std((0, 2, 3), keepdim=True)
    gray = (x * torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64).view(1, 3, 1, 1)).sum(1, keepdim=True)
    gray = ((gray - gray.mean()) / gray.std()).expand(-1, 3, -1, -1)
    scale, shift = torch.tensor([1.0, 0.8, 1.25]).view(1, 3, 1, 1), torch.tensor([0.1, -0.1, 0.0]).view(1, 3, 1, 1)
    own = (x - x.mean((1, 2, 3), keepdim=True)) / x.std((1, 2, 3), keepdim=True)
    centred = good - good.mean((1, 2, 3), keepdim=True)  # each image's mean off, its contrast kept: not standardised
    one_left = good.clone()
    one_left[:, 2] = x[:, 2]  # blue left in [0, 1]: the batch's own check must look at every channel
    f32 = torch.float32
    return [
        ("a colour batch normalised with its dataset's statistics (known good)", good.to(f32), frozenset()),
        ("a uint8 batch straight from the decoder", uint8, frozenset({"dtype", "range", "normalisation"})),
        ("a float batch in [0, 1], not normalised", x.to(f32), frozenset({"normalisation"})),
        ("a float batch of 0..255 values (ToDtype without scale=True)", uint8.to(f32), frozenset({"range", "normalisation"})),
        ("a channels-last batch (B, H, W, 3)", good.permute(0, 2, 3, 1).contiguous().to(f32), frozenset({"shape"})),
        ("a one-channel batch (B, 1, H, W), as v2.Grayscale() gives", good[:, :1].contiguous().to(f32), frozenset({"shape"})),
        ("one image without its batch dimension (3, H, W)", good[0].contiguous().to(f32), frozenset({"shape"})),
        ("a grayscale batch stored as 3 equal channels", gray.contiguous().to(f32), frozenset({"colour"})),
        (
            "a grayscale batch normalised per channel (each channel its own scale and shift)",
            (gray * scale + shift).to(f32),
            frozenset({"colour"}),
        ),
        (
            "a colour batch, each image standardised by its own mean and std",
            own.to(f32),
            frozenset({"per-image standardisation"}),
        ),
        ("a colour batch, each image's mean taken off, its contrast kept (known good)", centred.to(f32), frozenset()),
        ("a colour batch normalised but for its blue channel, left in [0, 1]", one_left.to(f32), frozenset({"normalisation"})),
    ]


def _doctor_problems(images: torch.Tensor) -> frozenset[str]:
    """The problems :func:`flowerkit.doctor.check_batch` finds in ``images``, among :data:`BATCH_CHECKS`."""
    return frozenset(f.check for f in check_batch(images).problems) & set(BATCH_CHECKS)


def _check_names(answer: Any) -> set[str] | None:
    """The check names a hunt tool returned (the keys of a dict, or a set/list of names), or None if it is neither."""
    if isinstance(answer, dict):
        return set(answer)
    if isinstance(answer, (set, frozenset, list, tuple)) and all(isinstance(a, str) for a in answer):
        return set(answer)
    return None


def _findings_problem(case: str, got: set[str], expected: frozenset[str]) -> tuple[str, str] | None:
    """(message, hint) when the names found on ``case`` are not the ones expected, else None."""
    missing = [c for c in BATCH_CHECKS if c in expected - got]
    if missing:
        found = f"it found {sorted(got)}" if got else "it found nothing"
        return f"on {case}, your tool misses {missing[0]!r} ({found}).", _MISSED[missing[0]]
    extra = [c for c in BATCH_CHECKS if c in got - expected]
    if extra:
        return f"on {case}, your tool reports {extra[0]!r}, a problem that batch does not have.", _FALSE_ALARM[extra[0]]
    return None


def _raised_hint(error: str) -> str:
    """The hint for a hunt tool that raised: uint8 arithmetic, a channels-last batch, or anything else."""
    if "Byte" in error or "dtype" in error.lower():
        return "measure on a float copy: x = images.double() (a uint8 tensor has no mean)"
    if "dimension" in error.lower() or "size" in error.lower() or "index" in error.lower():
        return "check the shape first, and return {'shape': ...} at once when it is not (B, 3, H, W)"
    return RAISED_HINT


def check_batch_findings(
    func: Callable[[torch.Tensor], Any], quality_images: torch.Tensor | None = None, our_images: torch.Tensor | None = None
) -> Verdict:
    """Notebook ``02_transform``: ``func(images)`` returns the problems a batch shows, ``{check name: evidence}``.

    The names are :data:`BATCH_CHECKS`. Judged on known-good and known-bad
    batches (uint8, unscaled, unnormalised, channels-last, grayscale with equal
    or affinely related channels, per-image standardised), then on the Quality
    team's batch and ours, where it must agree with :func:`flowerkit.doctor.check_batch`.
    When it is right, prints what the tool found on those two batches.
    """
    cases = _batch_cases()
    real = [("the Quality team's batch", quality_images), ("our batch", our_images)]
    cases += [(name, images, _doctor_problems(images)) for name, images in real if images is not None]
    answers = {}
    for case, images, expected in cases:
        refused = ((_doctor, "check_batch"), (_doctor_batch, "check_batch"))
        hint = "measure the batch yourself: one torch expression per check, as in the table above"
        answer, ended = _answer_without(refused, hint, func, images.clone(), where=case, raised_hint=_raised_hint)
        if ended is not None:
            return ended
        got = _check_names(answer)
        if got is None:
            msg = f"got a {type(answer).__name__}: return a dict {{check name: evidence}}, {{}} when the batch is fine."
            return _verdict(False, msg, "found = {}; ...; found['dtype'] = f'{images.dtype}'; return found")
        if got - set(BATCH_CHECKS):
            return _verdict(
                False, f"{sorted(got - set(BATCH_CHECKS))} are not check names.", f"use the names {list(BATCH_CHECKS)}"
            )
        problem = _findings_problem(case, got, expected)
        if problem:
            return _verdict(False, problem[0], problem[1])
        answers[case] = answer
    verdict = _verdict(True, f"your batch check gets all {len(cases)} batches right, known good and known bad.")
    for case, _ in real:
        if case in answers:
            print(_findings_text(f"Your batch check on {case}", answers[case]))
    return verdict


def _findings_text(title: str, answer: Any) -> str:
    """The findings of a hunt tool, one line each (names only when it returned names)."""
    if not answer:
        return f"{title}: no problem found"
    lines = [f"  {name}: {answer[name]}" if isinstance(answer, dict) else f"  {name}" for name in sorted(answer)]
    return "\n".join([f"{title}:", *lines])


# --------------------------------------------------------------------------------------
# The fix: the train split's statistics, over every pixel at once.
# --------------------------------------------------------------------------------------


def _brightness_case() -> np.ndarray:
    """Six 8x8 uint8 images, channels last, each of its own brightness and tint with some noise: an average of
    per-image stds misses how far the images lie apart, and the three channels differ."""
    g = torch.Generator().manual_seed(2)
    levels = torch.tensor([[30, 60, 90], [200, 120, 40], [90, 90, 200], [215, 205, 195], [40, 150, 70], [120, 45, 180]])
    noise = torch.randint(-40, 41, (6, 8, 8, 3), generator=g)
    return (levels.view(6, 1, 1, 3) + noise).clamp(0, 255).to(torch.uint8).numpy()


def _three(values: Any) -> torch.Tensor | None:
    """``values`` as a float64 tensor of 3 numbers, or None when it is not one number per channel."""
    try:
        t = torch.as_tensor(values if not isinstance(values, torch.Tensor) else values.detach(), dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None
    return t.flatten() if t.numel() == 3 else None


def _near(a: torch.Tensor, b: torch.Tensor) -> bool:
    """The same statistics: within 0.2%, relative (n or n - 1 in the std of a few hundred pixels, a float16 mean;
    pixels / 256, 0.4% off, are not; float32 sums over a split, about 0.2% off on mini and up to 1% on the real
    photos, are named when they fall outside)."""
    return bool(torch.allclose(a, b, rtol=2e-3, atol=1e-5))


def _float32_sums(images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The statistics of ``images`` as NumPy computes them in float32 (the usual answer, .astype(np.float32) / 255)."""
    x = images.astype(np.float32) / 255
    return (
        torch.from_numpy(x.mean(axis=(0, 1, 2)).astype(np.float64)),
        torch.from_numpy(x.std(axis=(0, 1, 2)).astype(np.float64)),
    )


def _per_image_slip(std: torch.Tensor, x: torch.Tensor) -> str | None:
    """Which per-image shortcut ``std`` is (x: (N, 3, H, W) in 0..1), worded; None if it is neither."""
    for correction in (0, 1):
        if _near(std, x.std(dim=(2, 3), correction=correction).mean(0)):
            return "the average of each image's own std, which leaves out how far the images lie apart"
        if _near(std, x.mean(dim=(2, 3)).std(0, correction=correction)):
            return "the std of the images' means, which leaves out how the pixels of each image vary"
    return None


def _std_slip(std: torch.Tensor, x: torch.Tensor) -> str | None:
    """Which other std slip ``std`` is (x: (N, 3, H, W) in 0..1): in 0..255 levels, a root mean square, uint8 squares."""
    if _near(std, x.std(dim=(0, 2, 3), correction=0) * 255):
        return "the std in 0..255 levels, while the mean is in 0..1: divide both by 255"
    if _near(std, (x**2).mean(dim=(0, 2, 3)).sqrt()):
        return "the root of the mean square, without taking the mean off first"
    if not torch.isfinite(std).all() or float(std.min()) == 0:
        return "a std of 0 or NaN: squares of uint8 pixels wrap around (200 ** 2 is 64 in uint8); convert to float first"
    return None


def _stats_problem(mean: torch.Tensor, std: torch.Tensor, images: np.ndarray, where: str) -> tuple[str, str] | None:
    """(message, hint) when ``(mean, std)`` are not the per-channel statistics of every pixel of ``images``
    (uint8, channels last); else None."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).to(torch.float64) / 255
    want_mean, want_std = x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3), correction=0)
    shown = f"mean {[round(v, 3) for v in mean.tolist()]}, std {[round(v, 3) for v in std.tolist()]}"
    if float(mean.max()) > 1.5:
        return f"on {where}: {shown}: in 0..255 levels; the model's pixels are in 0..1.", "divide by 255 first"
    if torch.allclose(mean, torch.tensor(IMAGENET_MEAN, dtype=torch.float64), atol=1e-3):
        return f"on {where}: {shown}: ImageNet's statistics, not these images'.", "compute them from the images given"
    if _near(mean, want_std) and _near(std, want_mean):
        return f"on {where}: {shown}: (std, mean), the other way round.", "torch.std_mean returns the std first"
    low = _float32_sums(images)
    if not (_near(mean, want_mean) and _near(std, want_std)) and _near(mean, low[0]) and not _near(low[0], want_mean):
        return (
            f"on {where}: {shown}: float32 sums. Adding up millions of pixels in float32 loses digits (7 per number), "
            "more the more pixels there are: the real photos lose more than mini-flowers.",
            "convert to float64 before the mean and std (images.astype(np.float64) / 255), as compute_stats adds up",
        )
    if _near(mean, want_mean * 255 / 256):
        return f"on {where}: {shown}: divided by 256; the brightest level, 255, is 1.0.", "divide by 255"
    if not _near(mean, want_mean):
        return f"on {where}: {shown}: not the mean of every pixel, channel by channel.", (
            "the channels are the last axis here: average over all the others, one number per channel"
        )
    if not _near(std, want_std):
        if _near(std, want_std**2):
            return f"on {where}: {shown}: the variance, not the std.", "the std is the variance's square root"
        slip = _per_image_slip(std, x) or _std_slip(std, x) or "the mean is right, the std is not"
        return f"on {where}: {shown}: {slip}.", "the std of every pixel of every image at once, channel by channel"
    return None


def check_train_stats(func: Callable[[np.ndarray], Any], images: np.ndarray | None = None) -> Verdict:
    """Notebook ``02_transform``: ``func(images)``, uint8 (N, S, S, 3) channels last -> (mean, std), the per-channel
    statistics that ``Normalize`` needs, in 0..1 units. Tried on images the checker makes, then on the notebook's."""
    cases = [("six small images of different brightness", _brightness_case())]  # first: its messages name the slip
    cases += [("the train split's images", np.asarray(images))] if images is not None else []
    for where, pixels in cases:
        hint = "plain NumPy or PyTorch: a float copy of the images, then mean and std over the right axes"
        answer, ended = _answer_without(((_transform, "compute_stats"),), hint, func, pixels.copy(), where=where)
        if ended is not None:
            return ended
        pairs = (tuple, list, torch.Tensor, np.ndarray)  # (mean, std), or a (2, 3) array of them
        pair = list(answer) if isinstance(answer, pairs) and len(answer) == 2 else None
        mean, std = (_three(pair[0]), _three(pair[1])) if pair else (None, None)
        if pair and (mean is None or std is None):
            sizes = [int(np.size(np.asarray(part, dtype=object))) for part in pair]
            return _verdict(
                False,
                f"your mean and std hold {sizes[0]} and {sizes[1]} numbers, not one number per channel (on {where}).",
                "the channels are the last axis here: average over all the others",
            )
        if mean is None or std is None:
            return _verdict(False, f"your function returned a {type(answer).__name__!r}, not (mean, std).", "three numbers each")
        problem = _stats_problem(mean, std, pixels, where)
        if problem:
            return _verdict(False, problem[0], problem[1])
    return _verdict(True, "one mean and one std per channel over every pixel of every image." + _flowerkit_agrees(images))


def _flowerkit_agrees(images: np.ndarray | None) -> str:
    """The sentence that puts transform.compute_stats' numbers on ``images`` beside a direct computation."""
    if images is None:
        return ""
    chw = torch.from_numpy(np.asarray(images)).permute(0, 3, 1, 2)
    mean, std = compute_stats(chw, progress=False)
    x = chw.to(torch.float64) / 255
    as64 = torch.tensor(mean, dtype=torch.float64), torch.tensor(std, dtype=torch.float64)
    same = _near(as64[0], x.mean(dim=(0, 2, 3))) and _near(as64[1], x.std(dim=(0, 2, 3), correction=0))
    said = "agrees" if same else "DISAGREES (please report it)"
    return (
        f" On the train split, flowerkit's transform.compute_stats {said}: mean {[round(v, 3) for v in mean]}, "
        f"std {[round(v, 3) for v in std]}."
    )


# --------------------------------------------------------------------------------------
# Exercise 1: the input of a model trained the Caffe way (BGR, 0..255, mean subtracted, 256 -> 224).
# --------------------------------------------------------------------------------------

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_CAFFE_RESIZE, _CAFFE_CROP = 256, 224

#: Notebook ``02_transform``, exercise 1: the card of an older model trained the Caffe way, in the keys of a timm
#: ``pretrained_cfg`` (plus the two conventions such a config leaves implicit: channel order and pixel range).
CAFFE_CARD: dict[str, Any] = {
    "input_size": (3, _CAFFE_CROP, _CAFFE_CROP),
    "crop_pct": _CAFFE_CROP / _CAFFE_RESIZE,
    "crop_mode": "center",
    "interpolation": "bilinear",
    "channel_order": "BGR",
    "pixel_range": (0, 255),
    "mean": _CAFFE_MEAN_BGR,
    "std": (1.0, 1.0, 1.0),
}


_CROP_PCT_HINT = (
    f"crop_pct is the share of the resized short side the centre crop keeps: Resize(round({_CAFFE_CROP} / crop_pct)) = "
    f"Resize({_CAFFE_RESIZE}), then CenterCrop({_CAFFE_CROP})"
)
_CAFFE_MARKER_RGB = (40, 60, 220)  # a blue square right of the circle: where it lands tells a mirror or an off-centre crop


_CAFFE_STRIPES = (slice(30, 60), slice(90, 120))  # rows, columns of the photo: 1-pixel stripes


def _caffe_photo() -> Image.Image:
    """A landscape photo (360x240): green background, a yellow circle 100 px across in the centre, a blue square right of
    it, and a patch of 1-pixel stripes above its left (where the interpolation shows)."""
    img = Image.new("RGB", (360, 240), (40, 120, 40))
    draw = ImageDraw.Draw(img)
    draw.ellipse([130, 70, 229, 169], fill=(240, 200, 40))
    draw.rectangle([240, 80, 259, 99], fill=_CAFFE_MARKER_RGB)
    rows, cols = _CAFFE_STRIPES  # light and dark green: they brighten the sum of channels far less than the circle does
    for x in range(cols.start, cols.stop):
        draw.line([x, rows.start, x, rows.stop - 1], fill=(80, 160, 80) if x % 2 else (0, 0, 0))
    return img


def _caffe_interpolation(answer: torch.Tensor, expected: torch.Tensor) -> tuple[str, str] | None:
    """(message, hint) when the striped patch shows another interpolation than the card's bilinear; None when it does not."""
    scale, (x0, y0) = _CAFFE_RESIZE / 240, ((round(360 * _CAFFE_RESIZE / 240) - _CAFFE_CROP) // 2, 16)
    rows, cols = _CAFFE_STRIPES
    ys = slice(int(rows.start * scale - y0) + 1, int(rows.stop * scale - y0) - 1)
    xs = slice(int(cols.start * scale - x0) + 1, int(cols.stop * scale - x0) - 1)
    gap = float((answer[:, ys, xs] - expected[:, ys, xs]).abs().mean())
    if gap <= 3:  # a bilinear resize in another library, or in float, is within a level; bicubic is 7 away, nearest 50
        return None
    return (
        f"the patch of 1-pixel stripes (above the circle, to its left) differs from the card's resize by {gap:.0f} "
        "levels on average: another interpolation than the card's.",
        "the card's interpolation is bilinear: v2.Resize's default (InterpolationMode.BILINEAR), PIL's Image.BILINEAR",
    )


def _caffe_reference(img: Image.Image) -> torch.Tensor:
    """What the Caffe-style model wants: resize short side to 256, centre crop 224, BGR, 0..255 minus the BGR means."""
    x = v2.Compose([v2.ToImage(), v2.Resize(_CAFFE_RESIZE, antialias=True), v2.CenterCrop(_CAFFE_CROP)])(img)
    return x.flip(0).to(torch.float32) - torch.tensor(_CAFFE_MEAN_BGR).view(3, 1, 1)


def _circle_extent(bgr: torch.Tensor) -> tuple[int, int]:
    """(columns, rows) covered by the yellow circle in a Caffe-style (BGR, mean-subtracted) image."""
    b, g, r = (bgr + torch.tensor(_CAFFE_MEAN_BGR).view(3, 1, 1)).unbind(0)
    yellow = (r > 200) & (g > 160) & (b < 100)
    return int(yellow.any(0).sum()), int(yellow.any(1).sum())


def _caffe_layout(answer: Any) -> tuple[str, str] | None:
    """(message, hint) if ``answer`` is not a float32 (3, 224, 224) tensor, else None."""
    crop = _CAFFE_CROP
    if not isinstance(answer, torch.Tensor):
        return f"got a {type(answer).__name__}, the model needs a torch.Tensor.", "start with v2.ToImage()"
    if answer.ndim == 3 and answer.shape[-1] == 3 and answer.shape[0] != 3:
        return f"shape {tuple(answer.shape)} is channels-last; PyTorch wants (3, H, W).", "v2.ToImage() gives (3, H, W)"
    if answer.ndim == 4 and answer.shape[0] == 1:
        return f"shape {tuple(answer.shape)}: a batch dimension in front of one image.", (
            "return the single image, (3, H, W): the DataLoader adds the batch dimension when it stacks images"
        )
    if tuple(answer.shape) != (3, crop, crop):
        return f"shape {tuple(answer.shape)}, expected (3, {crop}, {crop}).", _CROP_PCT_HINT
    if answer.dtype != torch.float32:
        return f"dtype {answer.dtype}; the model's weights are float32.", "v2.ToDtype(torch.float32) (without scale=True)"
    return None


def _circle_centre(x: torch.Tensor) -> tuple[float, float] | None:
    """(row, column) of the yellow circle's centre in any channel order, scale or shift; None if it is not there.

    Over the green background the circle brightens two channels, the blue square only one: the circle is what
    brightens the sum of the channels the most.
    """
    lift = (x - x.flatten(1).median(1).values.view(3, 1, 1)).sum(0)
    rows, cols = (lift > 0.6 * float(lift.amax())).nonzero(as_tuple=True) if float(lift.amax()) > 0 else ((), ())
    return (float(rows.float().mean()), float(cols.float().mean())) if len(rows) else None


def _caffe_position(answer: torch.Tensor, expected: torch.Tensor) -> tuple[str, str] | None:
    """(message, hint) if the circle is not where the central crop puts it, else None (before any colour check)."""
    got, want = _circle_centre(answer), _circle_centre(expected)
    if got is None:
        return "your image is one flat colour: the circle is gone.", "Resize(256) then CenterCrop(224): nothing else moves"
    if max(abs(g - w) for g, w in zip(got, want)) <= 3:
        return None
    return (
        f"the circle's centre sits at row {got[0]:.0f}, column {got[1]:.0f} of your image, expected row {want[0]:.0f}, "
        f"column {want[1]:.0f}: the crop is not the central one.",
        "CenterCrop(224) after Resize(256): the same margin on each side, and nothing random in a model's input",
    )


def _caffe_marker(answer: torch.Tensor, expected: torch.Tensor) -> tuple[str, str] | None:
    """(message, hint) if the blue square is mirrored or moved (once colours, order and size are right), else None."""
    marker = torch.tensor(_CAFFE_MARKER_RGB[::-1]).view(3, 1, 1) - torch.tensor(_CAFFE_MEAN_BGR).view(3, 1, 1)

    def where(x: torch.Tensor) -> tuple[float, float] | None:
        rows, cols = ((x - marker).abs().amax(0) < 30).nonzero(as_tuple=True)
        return (float(rows.float().mean()), float(cols.float().mean())) if len(rows) else None

    got, want = where(answer), where(expected)
    if want is None or (got is not None and max(abs(g - w) for g, w in zip(got, want)) <= 3):
        return None
    if got is None:
        return "the blue square right of the circle is gone.", "Resize(256) then CenterCrop(224), and nothing painted over"
    if abs(got[1] - (_CAFFE_CROP - 1 - want[1])) <= 3 or abs(got[0] - (_CAFFE_CROP - 1 - want[0])) <= 3:
        return (
            f"the blue square sits at row {got[0]:.0f}, column {got[1]:.0f}, expected row {want[0]:.0f}, column "
            f"{want[1]:.0f}: your image is flipped.",
            "no flip: augmentation belongs to training, a model's input is the photo as it is",
        )
    return (
        f"the blue square sits at row {got[0]:.0f}, column {got[1]:.0f}, expected row {want[0]:.0f}, column {want[1]:.0f}.",
        "Resize(256) then CenterCrop(224), nothing else that moves pixels",
    )


def _caffe_values(answer: torch.Tensor, expected: torch.Tensor) -> tuple[str, str] | None:
    """(message, hint) if the values are scaled, in RGB order, or without the means subtracted, else None."""
    no_scale = "v2.ToDtype(torch.float32) without scale=True, then subtract the means; divide by nothing"
    if answer.abs().max() < 5:
        return (
            f"values only up to {answer.abs().max():.2f}: scaled to [0, 1] or divided by a std; this model wants 0..255.",
            no_scale,
        )
    means = torch.tensor(_CAFFE_MEAN_BGR).view(3, 1, 1)
    if any(float((answer + m).amin()) > -0.01 and float((answer + m).amax()) < 1.01 for m in (means, means.flip(0))):
        return (
            f"every value is its channel's mean, negated, plus less than 1 (from {answer.amin():.1f} to "
            f"{answer.amax():.1f}): the pixels were scaled to [0, 1] (scale=True) before the means, which are in "
            "0..255 levels, were subtracted.",
            no_scale,
        )
    moved = _caffe_position(answer, expected)
    if moved:
        return moved
    centre = answer[:, _CAFFE_CROP // 2, _CAFFE_CROP // 2]
    want = expected[:, _CAFFE_CROP // 2, _CAFFE_CROP // 2]
    if torch.allclose(centre, want, atol=4):
        return None
    shown = [round(v) for v in centre.tolist()]
    if torch.allclose(centre, want + torch.tensor(_CAFFE_MEAN_BGR), atol=4):
        return (
            f"the yellow circle's centre is {shown}: the means were not subtracted.",
            "subtract (103.939, 116.779, 123.68) from B, G, R",
        )
    if centre[0] > centre[2] + 50:
        return (
            f"the yellow circle's centre is {shown}: red comes first, so the channels are in RGB order.",
            "flip the channels: x.flip(0), or x[[2, 1, 0]]",
        )
    return (
        f"the yellow circle's centre is {shown}, expected {[round(v) for v in want.tolist()]}.",
        "BGR order, then subtract (103.939, 116.779, 123.68)",
    )


def check_caffe_input(func: Callable[[Any], Any]) -> Verdict:
    """Notebook ``02_transform``: ``func(pil_image)`` makes the input that :data:`CAFFE_CARD` describes.

    Compared with the card's reference input (reading the card is the exercise), on a
    landscape photo with a yellow circle (its colour tells the channel order, its shape the resize, its place the crop),
    a blue square beside it (a mirror) and a patch of thin stripes (the interpolation), called twice (nothing random).
    """
    img = _caffe_photo()
    answer, error = _call(func, img.copy())
    if error:
        return _verdict(False, error, RAISED_HINT)
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
    expected = _caffe_reference(img)
    problem = _caffe_layout(answer) or _caffe_values(answer.detach(), expected)
    if problem:
        return _verdict(False, problem[0], problem[1])
    again, _ = _call(func, img.copy())
    if not isinstance(again, torch.Tensor) or again.shape != answer.shape or not torch.equal(again, answer):
        return _verdict(
            False,
            "the same photo twice gave two different inputs: something in your function is random.",
            "a model's input is deterministic: CenterCrop, not RandomCrop; no flips (augmentation is for training)",
        )
    (cols, rows), (want, _) = _circle_extent(answer.detach()), _circle_extent(expected)
    if abs(cols - rows) > 0.15 * max(cols, rows, 1):
        return _verdict(
            False, f"the circle came out {cols}x{rows} px: squashed.", "Resize(256) with one number keeps the aspect ratio"
        )
    if abs(cols - want) > 4:
        msg = f"the circle is {cols} px across, expected {want}: not resized to {_CAFFE_RESIZE} before the {_CAFFE_CROP} crop."
        return _verdict(False, msg, _CROP_PCT_HINT)
    problem = (
        _caffe_marker(answer.detach(), expected)
        or _caffe_interpolation(answer.detach(), expected)
        or _caffe_portrait_problem(func, img.transpose(Image.Transpose.ROTATE_90))
    )
    if problem:
        return _verdict(False, problem[0], problem[1])
    return _verdict(
        True,
        "BGR, 0..255 minus the means, 256 then the central 224, bilinear: the circle is round, yellow and the right size, "
        "on a landscape photo and a portrait.",
    )


def _caffe_portrait_problem(func: Callable[[Any], Any], portrait: Image.Image) -> tuple[str, str] | None:
    """(message, hint) when ``func`` makes another input than the card's of the same photo turned to portrait (the
    short side is then the width); None when it makes the card's."""
    answer, error = _call(func, portrait.copy())
    if error:
        return f"on the same photo turned to portrait (240x360): {error}", RAISED_HINT
    expected = _caffe_reference(portrait)
    if isinstance(answer, torch.Tensor) and answer.shape == expected.shape:
        gap = float((answer.detach().float() - expected).abs().mean())
        if gap <= 3:  # as the interpolation check: another library's bilinear resize is within a level
            return None
    return (
        "right on the landscape photo, but not on the same photo turned to portrait (240x360): resized by its height, "
        "or to a fixed (height, width), the portrait comes out too narrow and the crop pads it.",
        "resize the *short* side to 256, whichever it is: v2.Resize(256) with one number does",
    )


# --------------------------------------------------------------------------------------
# Exercise 2: per-channel statistics merged from the parts that workers (or machines) computed on their shards.
# --------------------------------------------------------------------------------------

#: (pixels per channel, mean, std) of the parts three machines computed over the garden's herbarium scans: near-white paper.
_HERBARIUM = (
    (1_100_000_000, (0.93, 0.91, 0.88), (0.014, 0.016, 0.019)),
    (2_300_000_000, (0.94, 0.92, 0.90), (0.012, 0.014, 0.017)),
    (700_000_000, (0.92, 0.90, 0.87), (0.016, 0.018, 0.021)),
)
_MERGE_RTOL = 1e-6  # the notebook's own tolerance for "the same statistics" (compute_stats against the cell above)

_Part = tuple[int, torch.Tensor, torch.Tensor]  # (pixels per channel, mean, std), as one worker sends it


class _MergeCase(NamedTuple):
    """Parts to merge, and the (mean, std) of all their pixels at once."""

    name: str
    parts: list[_Part]
    mean: torch.Tensor
    std: torch.Tensor


def _part_of(x: torch.Tensor) -> _Part:
    """What one worker sends back for its shard ``x`` (B, 3, H, W) in [0, 1]: (pixels per channel, mean, std).

    The std divides by the count, as :func:`flowerkit.transform.compute_stats`;
    an empty shard's mean and std are NaN (the mean of no pixels), as torch's.
    """
    pixels = x.double().transpose(0, 1).reshape(3, -1)  # one row per channel
    mean = pixels.mean(1)
    return pixels.shape[1], mean, ((pixels - mean[:, None]) ** 2).mean(1).sqrt()


def _shards() -> list[torch.Tensor]:
    """Three workers' shards of a new dataset, in [0, 1]: 2 dark, 5 bright and 13 middling images of 6x8 px."""
    g = torch.Generator().manual_seed(4)
    tint = torch.tensor([0.05, 0.0, -0.06], dtype=torch.float64).view(1, 3, 1, 1)
    shards = []
    for n, level in ((2, 0.25), (5, 0.7), (13, 0.45)):
        x = level + tint + 0.08 * torch.randn(n, 3, 6, 8, generator=g, dtype=torch.float64)
        shards.append((x.clamp(0, 1) * 255).round() / 255)  # pixel values a JPEG could hold
    return shards


def _exact_stats(parts: list[_Part]) -> tuple[torch.Tensor, torch.Tensor]:
    """The merged (mean, std) of ``parts``, in exact rational arithmetic (too many pixels to hold at once)."""
    full = [(n, m, s) for n, m, s in parts if n]
    count = sum(n for n, _, _ in full)
    means, stds = [], []
    for c in range(3):
        mean = sum(n * Fraction(float(m[c])) for n, m, _ in full) / count
        squares = sum(n * (Fraction(float(s[c])) ** 2 + Fraction(float(m[c])) ** 2) for n, m, s in full)
        means.append(float(mean))
        stds.append(math.sqrt(squares / count - mean * mean))
    return torch.tensor(means, dtype=torch.float64), torch.tensor(stds, dtype=torch.float64)


def _merge_cases() -> list[_MergeCase]:
    """Parts with unequal counts, the same with an empty part, and the herbarium's billions of near-white pixels."""
    shards = _shards()
    pixels = torch.cat([x.permute(1, 0, 2, 3).reshape(3, -1) for x in shards], dim=1)  # every pixel, all at once
    mean, std = pixels.mean(1), pixels.std(1, correction=0)  # population std, as compute_stats
    parts = [_part_of(x) for x in shards]
    empty = _part_of(torch.zeros(0, 3, 6, 8))
    herbarium = [(n, torch.tensor(m, dtype=torch.float64), torch.tensor(s, dtype=torch.float64)) for n, m, s in _HERBARIUM]
    return [
        _MergeCase("three workers' shards of 2, 5 and 13 images", parts, mean, std),
        _MergeCase("the same shards and a fourth worker whose shard was empty", [parts[0], empty, *parts[1:]], mean, std),
        _MergeCase(
            "the herbarium's parts (4.1 billion pixels per channel, from three machines)", herbarium, *_exact_stats(herbarium)
        ),
    ]


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = _MERGE_RTOL) -> bool:
    """True if ``a`` and ``b`` agree to ``rtol`` (relative)."""
    return bool(torch.allclose(a, b, rtol=rtol, atol=0.0))


def _wrong_stds(case: _MergeCase) -> dict[str, torch.Tensor]:
    """The classic wrong stds of ``case``, each by what it did: they all ignore how far the parts' means lie apart."""
    full = [(n, s) for n, _, s in case.parts if n]
    counts = torch.tensor([n for n, _ in full], dtype=torch.float64).view(-1, 1)
    stds = torch.stack([s for _, s in full])
    return {
        "averaged the parts' stds": stds.mean(0),
        "averaged the parts' stds, weighted by count": (counts * stds).sum(0) / counts.sum(),
        "averaged the parts' variances, weighted by count": ((counts * stds**2).sum(0) / counts.sum()).sqrt(),
    }


def _sample_formula_stds(case: _MergeCase) -> dict[str, torch.Tensor]:
    """The textbook "combined standard deviation" of ``case``'s parts, read as sample stds: near, never exact, here."""
    full = [(n, m, s) for n, m, s in case.parts if n]
    count = sum(n for n, _, _ in full)
    between = sum(n * (m - case.mean) ** 2 for n, m, _ in full)
    within = sum((n - 1) * s**2 for n, _, s in full)  # what a sample std's squares add up to; these parts' add to n * s**2
    divisors = {"count - 1": count - 1, "the count": count, "count - (number of parts)": count - len(full)}
    return {
        f"weighed each part's variance by its count - 1 and divided by {d}": ((within + between) / v).sqrt()
        for d, v in divisors.items()
    }


_MERGE_HINT = "recover what adds up: a part's sum is count * mean; add the sums and the counts; divide once"


def _merge_mean_problem(mean: torch.Tensor, case: _MergeCase) -> tuple[str, str] | None:
    """(message, hint) if the merged mean is wrong, else None."""
    full = [(n, m) for n, m, _ in case.parts if n]
    mean_of_means = torch.stack([m for _, m in full]).mean(0)
    if _close(mean, mean_of_means) and not _close(mean_of_means, case.mean):
        counts = ", ".join(str(n) for n, _ in full)
        msg = f"on {case.name}, you averaged the parts' means, but the parts hold different numbers of pixels ({counts})."
        return msg, _MERGE_HINT
    if not _close(mean, case.mean):
        return f"on {case.name}, mean {mean.numpy().round(4)}, expected {case.mean.numpy().round(4)}.", _MERGE_HINT
    return None


def _merge_std_problem(std: torch.Tensor, case: _MergeCase) -> tuple[str, str] | None:
    """(message, hint) if the merged std is wrong, else None."""
    count = sum(n for n, _, _ in case.parts)
    spread = (
        "a part's pixels lie around the part's own mean; measured from the merged mean, each also lies "
        "(its part's mean - the merged mean) further"
    )
    sample = case.std * math.sqrt(count / (count - 1))
    if _close(std, sample) and not _close(sample, case.std):
        msg = f"on {case.name}, you divided by count - 1 (the sample std, torch.std's default); compute_stats divides by count."
        return msg, "the parts' stds divide by their counts: so does the merged one"
    for did, wrong in _wrong_stds(case).items():
        if _close(std, wrong) and not _close(wrong, case.std):
            return (
                f"on {case.name}, you {did}: that misses how far the parts' means lie apart (a dark shard, a bright one).",
                spread,
            )
    if _close(std, case.std**2):
        return f"on {case.name}, you returned the variance.", "std = var.sqrt()"
    for did, wrong in _sample_formula_stds(case).items():
        if _close(std, wrong) and not _close(wrong, case.std):
            return (
                f"on {case.name}, close, not exact: you {did}. That formula is written for sample stds (each divided by "
                "its count - 1); these parts' stds divide by their counts.",
                "a part's squared distances add up to count * std ** 2 (no - 1): add those, and divide once, by the total count",
            )
    error = float(((std - case.std) / case.std).abs().max())
    if _close(std, case.std, rtol=1e-3) and not _close(std, case.std) and (error < 1e-5 or count > 10**8):
        msg = (
            f"on {case.name}, your std is off by {error:.0e} (relative): float32 rounding. A variance from sums of "
            "squares subtracts two nearly equal numbers, and float32 keeps only 7 digits of each."
        )
        return msg, "keep float64: the parts' tensors are float64 already; add and divide them as they are"
    if _close(std, case.std, rtol=1e-2) and not _close(std, case.std):  # too far off for rounding: a count is off
        msg = f"on {case.name}, close, not exact: your std is off by {error:.0e} (relative), more than rounding explains."
        return msg, "an exact merge leaves no error: look for a count off by one, or a part weighted by something else"
    if not _close(std, case.std):
        return f"on {case.name}, std {std.numpy().round(4)}, expected {case.std.numpy().round(4)}.", spread
    return None


def _pair(answer: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``answer`` as (mean, std) float64 vectors, or None if it is not a pair."""
    try:
        mean, std = (torch.as_tensor(v, dtype=torch.float64).reshape(-1) for v in answer)
    except (TypeError, ValueError, RuntimeError):
        return None
    return mean, std


def _merge_verdict(answer: Any, case: _MergeCase) -> Verdict | None:
    """The "Not yet" verdict for ``answer`` on ``case``, or None if it is right."""
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
    got = _pair(answer)
    if got is None:
        return _verdict(False, "return a pair (mean, std), each with 3 numbers.", "return mean.tolist(), std.tolist()")
    mean, std = got
    if mean.numel() != 3 or std.numel() != 3:
        msg = f"mean has {mean.numel()} number(s) and std {std.numel()}; expected 3 each (one per channel)."
        return _verdict(False, msg, "keep the channels apart: the parts' means are tensors of 3, compute with them as they are")
    if not (mean.isfinite().all() and std.isfinite().all()):
        if any(n == 0 for n, _, _ in case.parts):
            msg = (
                f"on {case.name}, your answer holds NaN: the empty shard's mean and std are NaN (the mean of no pixels, "
                "0 / 0), and 0 * NaN is still NaN."
            )
            return _verdict(False, msg, "a part with count 0 holds no pixels: leave it out of the merge")
        return _verdict(False, f"on {case.name}, your answer holds NaN or inf.", "a variance is never negative")
    if _close(mean, case.std) and _close(std, case.mean) and not _close(case.mean, case.std):
        return _verdict(False, f"on {case.name}: (std, mean), the other way round.", "return mean, std: the mean first")
    problem = _merge_mean_problem(mean, case) or _merge_std_problem(std, case)
    return _verdict(False, problem[0], problem[1]) if problem else None


def check_merge_stats(func: Callable[[Any], Any]) -> Verdict:
    """Notebook ``02_transform``: ``func(parts)`` merges the per-worker statistics into the dataset's per-channel (mean, std).

    Each part is what one DataLoader worker (or machine) computed over its own
    shard: ``(count, mean, std)``, with ``count`` the pixels per channel (an
    int) and ``mean``, ``std`` float64 tensors of 3 values in [0, 1] units. The answer must equal the statistics of all the pixels
    at once, the std divided by the count as
    :func:`flowerkit.transform.compute_stats` does. Checked on cases of its own.
    """
    # the cases: parts with unequal counts and means, an empty part, and billions of near-white pixels
    for case in _merge_cases():
        parts = [(n, m.clone(), s.clone()) for n, m, s in case.parts]  # a function that changes them in place changes a copy
        answer, error = _call(func, parts)
        if error:
            if "ZeroDivision" in error:
                msg = f"{error} (on {case.name}): a shard can be empty, and its count is 0."
                return _verdict(False, msg, "a part with count 0 holds no pixels: leave it out; divide once, by the total count")
            return _verdict(False, f"{error} (on {case.name})", RAISED_HINT)
        verdict = _merge_verdict(answer, case)
        if verdict is not None:
            return verdict
    return _verdict(
        True,
        "the counts weigh the means, and each part's spread is measured from the merged mean: the same statistics as "
        "all the pixels at once, whatever the shards' sizes, empty ones left out.",
    )


# --------------------------------------------------------------------------------------
# Exercise 3: MixUp or CutMix in a collate_fn, on the training loader only.
# --------------------------------------------------------------------------------------


def _mix_sets() -> tuple[TensorDataset, TensorDataset]:
    """(train, test) datasets of float (3, 8, 8) images with distinct classes; random images, so any mix can be undone."""
    g = torch.Generator().manual_seed(3)
    labels = torch.arange(40) * 2 % NUM_CLASSES
    images = torch.randn(40, 3, 8, 8, generator=g)
    return TensorDataset(images[:24], labels[:24]), TensorDataset(images[24:], labels[24:])


def _weights(image: torch.Tensor, bank: torch.Tensor) -> torch.Tensor | None:
    """How much of each ``bank`` image ``image`` holds: pixel shares (a CutMix or none) or blend weights (a MixUp); None if neither."""
    flat, rows = image.reshape(-1).double(), bank.reshape(len(bank), -1).double()
    match = (rows - flat).abs() < 1e-5
    if match.any(0).all():
        return torch.bincount(match.double().argmax(0), minlength=len(bank)).double() / flat.numel()
    w = torch.linalg.lstsq(rows.T, flat[:, None]).solution[:, 0]
    blend = (rows.T @ w - flat).abs().max() < 1e-3 and abs(float(w.sum()) - 1) < 1e-3 and w.min() > -1e-3
    return w if blend else None


def _expected_soft(weights: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The soft label of an image holding ``weights`` of each bank image: each class gets its images' shares."""
    return torch.zeros(NUM_CLASSES, dtype=torch.float64).index_add_(0, labels, weights)


def _label_problem(soft: torch.Tensor, expected: torch.Tensor) -> tuple[str, str] | None:
    """(message, hint) when a train image's soft label is not the shares of its images, else None."""
    if torch.allclose(soft, expected, atol=1e-3):
        return None
    top = expected.topk(2)
    shares = ", ".join(f"{w:.2f} of class {c}" for w, c in zip(top.values.tolist(), top.indices.tolist()) if w > 1e-3)
    said = ", ".join(f"{soft[c]:.2f}" for c in top.indices.tolist())
    hint = "the label of each class is its image's share: lam for one, 1 - lam for the other (the same lam as the pixels)"
    if abs(float(soft.sum()) - 1) > 1e-3:
        return f"a soft label sums to {float(soft.sum()):.2f}, not 1.", hint
    return f"a train image is {shares}, but its label gives those classes {said}.", hint


def _train_problem(loader: Any, bank: TensorDataset) -> tuple[str, str] | None:
    """(message, hint) if the train loader's batches are not consistent mixes with matching soft labels, else None."""
    images, labels = bank.tensors
    if getattr(loader, "batch_size", None) == 1:
        return (
            "train batches of 1 image: MixUp and CutMix mix the images *within* a batch, so one image has nothing to mix with.",
            "give the train DataLoader a batch_size, e.g. DataLoader(train_set, batch_size=8, shuffle=True, collate_fn=mix_collate)",
        )
    mixed = 0
    for _ in range(3):
        for batch in loader:
            form = _batch_form_problem(batch)
            if form:
                return form
            x, y = batch
            if y.ndim != 2 or y.shape[1] != NUM_CLASSES:
                msg = f"train labels of shape {tuple(y.shape)}: a mixed image needs a soft label, one column per class, ({len(x)}, {NUM_CLASSES})."
                return (
                    msg,
                    "one_hot(labels, NUM_CLASSES).float(), then mix the rows with the same lam as the images (or v2.MixUp)",
                )
            for image, soft in zip(x, y):
                w = _weights(image, images)
                if w is None:
                    return "a train image is not a mix of the batch's images.", "lam * x + (1 - lam) * x[perm]: mix whole images"
                problem = _label_problem(soft.double(), _expected_soft(w, labels))
                if problem:
                    return problem
                mixed += int((w > 0.02).sum() >= 2)
    if not mixed and getattr(loader, "collate_fn", None) not in (None, default_collate):
        return (
            "no train image is a mix of two, though the train loader has a collate_fn of yours: it does not mix, or "
            "mixes each image with itself, or its lam is always 0 or 1.",
            "mix each image with another image of the batch (a shuffled order of the batch: x[perm]), with lam drawn "
            "from Beta(alpha, alpha)",
        )
    if not mixed:
        return "no train image is a mix of two: the collate_fn does not mix.", "give the train DataLoader collate_fn=mix_collate"
    return None


def _batch_form_problem(batch: Any) -> tuple[str, str] | None:
    """(message, hint) when a train batch is not (images, labels) tensors; None when it is."""
    if batch is None:
        return (
            "your train loader's batches are None: its collate_fn (mix_collate?) is still the stub.",
            "look at next(iter(train_loader)) in a new cell",
        )
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[1], (tuple, list)) and len(batch[1]) == 3:
        return (
            "train labels as (y_a, y_b, lam), the form a loss that mixes two losses reads; this course's loop takes one "
            "label tensor.",
            "mix the labels into soft labels, (B, 102): lam * one_hot(y_a) + (1 - lam) * one_hot(y_b)",
        )
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2 and all(isinstance(t, torch.Tensor) for t in batch)):
        kind = f"a {type(batch).__name__} of {len(batch)}" if isinstance(batch, (tuple, list, dict)) else type(batch).__name__
        return f"a train batch is {kind}, not (images, labels) tensors.", "return images, soft_labels: two tensors"
    return None


def _test_problem(loader: Any, bank: TensorDataset) -> tuple[str, str] | None:
    """(message, hint) if the test loader mixes images or labels, else None."""
    images, labels = bank.tensors
    hint = "give the test DataLoader no collate_fn: the default one stacks the images and labels as they are"
    for x, y in loader:
        if y.ndim != 1:
            return f"test labels of shape {tuple(y.shape)}: evaluation wants class indices, one per image.", hint
        for image, label in zip(x, y):
            w = _weights(image, images)
            if w is None or w.max() < 0.999:
                return "the test loader mixes images: evaluation must see the real photos.", hint
            if labels[int(w.argmax())] != label:
                return "a test image came with another image's label.", hint
    return None


def check_mixup_loaders(func: Callable[[Any, Any], Any]) -> Verdict:
    """Notebook ``02_transform``: ``func(train_set, test_set)`` returns (train loader, test loader), mixing on train only.

    The train loader's ``collate_fn`` mixes images (MixUp: a blend; CutMix: a
    pasted box; ``torchvision.transforms.v2.MixUp`` or ``CutMix`` are fine) and
    gives soft labels (B, NUM_CLASSES) with each class weighted by its
    image's share; the test loader gives the images and class indices unmixed.
    The images are random, so every output image can be traced to its sources.
    """
    train_set, test_set = _mix_sets()
    answer, error = _call(func, train_set, test_set)
    if error:
        return _verdict(False, error, RAISED_HINT)
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return _verdict(False, "return a pair: (train_loader, test_loader).", "return DataLoader(...), DataLoader(...)")
    with torch.random.fork_rng():  # the checker's randomness leaves the notebook's generator as it was
        torch.manual_seed(0)
        try:
            problem = _train_problem(answer[0], train_set) or _test_problem(answer[1], test_set)
        except Exception as exc:  # the student's collate_fn raised inside the loader: say so, don't crash
            said = f"iterating your loaders raised {type(exc).__name__}: {exc}"
            collate = getattr(answer[0], "collate_fn", None)
            if _is_stub_function(collate) or (collate is not None and _call(collate, [train_set[0]]) == (None, None)):
                said = "your train loader's batches are None: its collate_fn (mix_collate?) is still the stub."
            return _verdict(False, said, "look at next(iter(train_loader)) in a new cell")
    if problem:
        return _verdict(False, problem[0], problem[1])
    return _verdict(True, "train batches are mixes with matching soft labels; test batches are the photos as they are.")
