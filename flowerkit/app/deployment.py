"""Notebook ``05_the_app``'s staged failure: the Deployment team, and the visitor photos they were judged on.

The Deployment team copied the preprocessing by hand from a tutorial
(:func:`deployment_team_preprocess`): it runs on every photo without an error,
and still differs from training, in ways notebook 05's hunt finds from the
tensors (so these docstrings do not name them; the code, and the notebook
after its checker's Correct!, do). The garden judged their app on what
visitors' phones really send (:func:`visitor_photos`: portraits, large
JPEGs, PNGs with alpha, grayscale, CMYK, WebP...), made from the test split
of the active dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import ExifTags, Image, ImageDraw, features

from ..access import OxfordFlowers102, _dataset_signature, load_rgb, upright
from ..facts import IMAGENET_MEAN, IMAGENET_STD
from ..load import cache_dir
from ..transform import Stats

# deployment_team_lines is importable and left out of __all__ and dir(): notebook 05 introduces it after its hunt.
__all__ = ["VISITOR_KINDS", "VisitorPhoto", "deployment_team_preprocess", "visitor_photos"]

# Their code's lines, as notebook 05 numbers them after its hunt (the docstrings below stay silent about what each
# does, so that help(app) in the middle of the hunt does not answer it):
# 1. Image.open does not apply the EXIF orientation tag, so a phone's portrait lies on its side
# 2. resize((size, size)) squashes the photo into a square (training: short side, then centre crop)
# 3. the tutorial's ImageNet mean and std, not the train split's (in the artifact, unread)
# convert("RGB") also drops an alpha channel without compositing it (training's to_rgb puts transparency on white)
_THEIR_LINES = (1, 2, 3)


def deployment_team_preprocess(path: str | Path, size: int) -> torch.Tensor:
    """The Deployment team's app preprocessing, as the garden ran it: photo -> float (3, size, size).

    Introduced in notebook ``05_the_app``, whose hunt compares its tensors
    with training's to find where they differ; the notebook reads its code
    once the checker says Correct!. It runs on every photo without an error.
    """
    return _their_code(path, size, None, keep=_THEIR_LINES)


def deployment_team_lines(path: str | Path, size: int, stats: Stats, *, keep: Sequence[int]) -> torch.Tensor:
    """:func:`deployment_team_preprocess` with only some of its lines: photo -> float (3, size, size).

    Introduced in notebook ``05_the_app``, after its hunt, which shows their
    code with its lines numbered 1 to 3. ``keep`` lists the numbered lines
    that run as they wrote them; every other numbered line is done the
    training way (``stats``: what training's way needs, the train split's
    (mean, std)). The unnumbered steps stay as they wrote them.
    """
    keep = tuple(keep)
    if set(keep) - set(_THEIR_LINES):
        raise ValueError(f"keep={keep}: their code's numbered lines are {list(_THEIR_LINES)}")
    return _their_code(path, size, stats, keep=keep)


def _their_code(path: str | Path, size: int, stats: Stats | None, *, keep: tuple[int, ...]) -> torch.Tensor:
    """Their code, with the numbered lines not in ``keep`` done the training way (normalising with ``stats``)."""
    img = Image.open(path)
    if 1 not in keep:
        img = upright(img)
    img = img.convert("RGB")
    if 2 in keep:
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    else:
        scale = size / min(img.size)
        img = img.resize((max(size, round(img.width * scale)), max(size, round(img.height * scale))), Image.Resampling.BILINEAR)
        left, top = (img.width - size) // 2, (img.height - size) // 2
        img = img.crop((left, top, left + size, top + size))
    x = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float() / 255
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if 3 in keep or stats is None else stats
    return (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


#: How visitors' phones and apps send photos; :func:`visitor_photos` re-encodes test images in each way, in turn.
VISITOR_KINDS = ("portrait", "large JPEG", "PNG with alpha", "grayscale JPEG", "CMYK JPEG", "WebP", "small JPEG")
_VISITORS_VERSION = 1


@dataclass(frozen=True)
class VisitorPhoto:
    """One visitor photo: the file, its true 0-based class, how it was sent, and the test image it was made from.

    What :func:`visitor_photos` returns a list of, in notebook ``05_the_app``.
    """

    path: Path
    label: int
    kind: str
    original: Path


def _scaled(img: Image.Image, long_side: int) -> Image.Image:
    scale = long_side / max(img.size)
    return img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC)


def _write_visitor(img: Image.Image, kind: str, out: Path) -> Path:
    """Save test image ``img`` as a visitor's phone or app would send it (``kind``, one of :data:`VISITOR_KINDS`)."""
    if kind == "portrait":  # the sensor's landscape pixels, and a tag: "turn 90 degrees clockwise to view"
        exif = Image.Exif()
        exif[ExifTags.Base.Orientation] = 6
        _scaled(img, 1280).transpose(Image.Transpose.ROTATE_90).save(out := out.with_suffix(".jpg"), quality=88, exif=exif)
    elif kind == "large JPEG":
        _scaled(img, 1280).save(out := out.with_suffix(".jpg"), quality=90)
    elif kind == "PNG with alpha":  # a sticker: rounded transparent corners, black under the transparency
        mask = Image.new("L", img.size, 0)
        from_corner = min(img.size) // 6
        ImageDraw.Draw(mask).rounded_rectangle((0, 0, img.width - 1, img.height - 1), radius=from_corner, fill=255)
        rgba = Image.composite(img, Image.new("RGB", img.size, 0), mask).convert("RGBA")
        rgba.putalpha(mask)
        rgba.save(out := out.with_suffix(".png"), compress_level=1)
    elif kind == "grayscale JPEG":
        img.convert("L").save(out := out.with_suffix(".jpg"), quality=85)
    elif kind == "CMYK JPEG":
        img.convert("CMYK").save(out := out.with_suffix(".jpg"), quality=90)
    elif kind == "WebP":
        img.save(out := out.with_suffix(".webp"), quality=80, method=0)
    else:  # a messaging app's small copy
        _scaled(img, 320).save(out := out.with_suffix(".jpg"), quality=70)
    return out


def _visitor_kinds() -> tuple[str, ...]:
    return VISITOR_KINDS if features.check("webp") else tuple(k for k in VISITOR_KINDS if k != "WebP")


def visitor_photos(root: str | Path, *, per_class: int = 2, folder: str | Path | None = None) -> list[VisitorPhoto]:
    """Test images re-encoded as visitors' phones send them: the first ``per_class`` test images of each class.

    Photo ``k`` is sent the ``k % len(VISITOR_KINDS)``-th way (:data:`VISITOR_KINDS`):
    portraits, large JPEGs, PNGs with alpha, grayscale, CMYK, WebP (if
    Pillow reads it), small JPEGs. Deterministic; written once under
    ``folder`` (default ``<cache_dir>/visitor-photos-<key>``) with a manifest,
    then reused. Introduced in notebook ``05_the_app``.
    """
    test = OxfordFlowers102(root, "test")
    picks = [k for c in sorted(set(test.labels)) for k in [i for i, y in enumerate(test.labels) if y == c][:per_class]]
    kinds = _visitor_kinds()
    signature = _dataset_signature(root)  # a dataset replaced at the same path gets new photos
    key = hashlib.sha1(f"{Path(root).resolve()}|{signature}|{per_class}|{kinds}|{_VISITORS_VERSION}".encode()).hexdigest()[:8]
    folder = Path(folder) if folder is not None else cache_dir() / f"visitor-photos-{key}"
    rows = _complete_rows(folder, len(picks))
    if rows is None:
        tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.partial")  # never a half-written folder in place
        tmp.mkdir(parents=True)
        try:
            rows = []
            for n, k in enumerate(picks):
                kind = kinds[n % len(kinds)]
                out = _write_visitor(load_rgb(test.image_files[k]), kind, tmp / f"visitor_{n:04d}")
                rows.append({"file": out.name, "label": test.labels[k], "kind": kind, "original": str(test.image_files[k])})
            (tmp / "manifest.json").write_text(json.dumps(rows))  # written last: the folder is complete
            if _complete_rows(folder, len(picks)) is None:  # else another process (a second kernel) finished first
                shutil.rmtree(folder, ignore_errors=True)
                os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return [VisitorPhoto(folder / r["file"], r["label"], r["kind"], Path(r["original"])) for r in rows]


def _complete_rows(folder: Path, n: int) -> list[dict[str, Any]] | None:
    """The manifest's rows if ``folder`` holds ``n`` visitor photos and their manifest; None otherwise."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return None
    rows = json.loads(manifest.read_text())
    return rows if len(rows) == n and all((folder / r["file"]).is_file() for r in rows) else None


def __dir__() -> list[str]:
    """What ``dir()`` and Tab completion offer: the public names only."""
    return sorted(__all__)
