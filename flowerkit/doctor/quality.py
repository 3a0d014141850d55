"""The quality checks of :func:`flowerkit.doctor.diagnose` on a whole dataset (notebook ``04_three_teams``).

A random batch through :func:`flowerkit.doctor.check_batch`, a round probe image through the dataset's own decode
or transform (squashing), and the same item fetched twice (randomness on a val/test split).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils.data import default_collate
from torchvision import transforms as transforms_v1
from torchvision.transforms import v2

from ..facts import NUM_CLASSES
from .batch import _tensor, check_batch
from .findings import _Finding, _Report
from .subject import _Subject

__all__: list[str] = []


def _probe_jpeg(folder: Path) -> Path:
    """A 300x200 JPEG of a white disc on black: round stays round unless a transform squashes the picture."""
    img = Image.new("RGB", (300, 200), (15, 15, 15))
    ImageDraw.Draw(img).ellipse([100, 50, 200, 150], fill=(240, 240, 240))
    path = folder / "image_probe.jpg"
    img.save(path, quality=95)
    return path


def _disc_aspect(x: Any) -> float | None:
    """Width / height of the bright disc in a transformed probe (any dtype, any normalisation); None if not found."""
    t = _tensor(x).detach().to(torch.float64)
    if t.ndim == 3 and t.shape[0] in (1, 3):
        t = t.mean(0)
    elif t.ndim == 3:
        t = t.mean(-1)
    if t.ndim != 2 or t.max() - t.min() < 1e-6:
        return None
    mask = t > (t.max() + t.min()) / 2
    rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
    if not len(rows) or not len(cols):
        return None
    return float(cols[-1] - cols[0] + 1) / float(rows[-1] - rows[0] + 1)


def _transform_attribute(dataset: Any) -> Any:
    """A torchvision transform a dataset keeps under a name of its own (``self._tf = v2.Compose(...)``), or None."""
    kinds = (v2.Transform, v2.Compose, transforms_v1.Compose)
    return next((v for v in getattr(dataset, "__dict__", {}).values() if isinstance(v, kinds)), None)


#: How many seeded draws of a random transform the geometry check measures (their median ratio is judged).
_GEOMETRY_DRAWS = 9


def _geometry_check(s: _Subject) -> _Finding | None:
    """Pass a round probe through the dataset's own decode or transform and measure whether it stays round.

    A random transform is drawn :data:`_GEOMETRY_DRAWS` times, and a problem needs every draw stretched the same
    way: a squash distorts each draw alike, while a random crop's ratio jitter (a training augmentation) stretches
    some draws one way and some the other, and a crop that cuts through the probe's disc measures a sliver (on the
    landscape probe, large crops can only be landscape, so their median leans one way too). The median is reported.
    """
    decode = getattr(s.dataset, "decode", None)
    size = getattr(s.dataset, "size", None)
    transform = getattr(s.dataset, "transform", None) or _transform_attribute(s.dataset)
    with tempfile.TemporaryDirectory() as tmp:
        probe = _probe_jpeg(Path(tmp))
        try:
            if hasattr(s.dataset, "decode"):  # decoded by a function (a cache, DecodedFlowers); its transform sees tensors
                if not (callable(decode) and isinstance(size, int)):
                    return None
                outs, how = [decode(probe, size)], f"decode {getattr(decode, '__name__', decode)}"
            elif transform is not None:
                with Image.open(probe) as img:
                    picture = img.convert("RGB")
                outs, how = [], "the transform"
                with torch.random.fork_rng(devices=[]):  # seeded draws that leave the caller's generator as it was
                    for seed in range(_GEOMETRY_DRAWS):  # a random crop's ratio jitter averages out; a squash does not
                        torch.manual_seed(seed)
                        outs.append(transform(picture))
            else:
                return None
        except Exception:  # a transform that does not take PIL images (e.g. uint8 augmentation): nothing to probe
            return None
    aspects = [a for a in (_disc_aspect(o) for o in outs) if a is not None]
    if not aspects:
        return None
    aspect = float(np.exp(np.median(np.log(aspects))))
    logs = np.log(aspects)
    if (logs > np.log(1.15)).all() or (logs < -np.log(1.15)).all():  # every draw stretched the same way
        return _Finding(
            "quality",
            "aspect ratio",
            False,
            "a round disc comes out as an ellipse: the picture is squashed to a square; resize the short side and crop",
            {"disc_width_over_height": aspect, "through": how},
        )
    return _Finding("quality", "aspect ratio", True, "shapes keep their proportions", {"disc_width_over_height": aspect})


def _seen_classes(batch: Any) -> int:
    """A class count that fits every label of ``batch`` (the range is judged on more items, in the access checks)."""
    if isinstance(batch, (tuple, list)) and len(batch) > 1:
        return max(int(torch.as_tensor(batch[1]).max()) + 1, 1)
    return NUM_CLASSES


def _sample_batch(s: _Subject, n: int, seed: int) -> Any:
    """``n`` items picked at random (not the first, class-grouped ones), collated as the loader would."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(s.dataset), generator=g)[: min(n, len(s.dataset))].tolist()
    items = [s.dataset[i] for i in idx]
    collate = getattr(s.loader, "collate_fn", None) or default_collate
    return collate(items)


def _quality_checks(s: _Subject, size: int | None, num_classes: int | None, seed: int) -> _Report:
    report = _Report()
    first = s.dataset[0]
    image = first[0] if isinstance(first, tuple) else first
    if isinstance(image, Image.Image):
        report.append(
            _Finding(
                "quality",
                "tensors",
                False,
                "items are PIL images: give the Dataset a transform that returns tensors (see flowerkit.transform)",
                {"item": type(image).__name__},
            )
        )
        report.skip("quality", "batch, aspect ratio, randomness", "items are PIL images, not tensors")
        return report
    batch = _sample_batch(s, 32, seed)
    report.extend(check_batch(batch, size=size, num_classes=num_classes if num_classes is not None else _seen_classes(batch)))
    geometry = _geometry_check(s)
    if geometry is not None:
        report.append(geometry)
    else:
        report.skip("quality", "aspect ratio", "no decode or transform attribute that takes a photo (or it did not take one)")
    # randomness: the same item twice
    torch.manual_seed(seed)
    a, b = s.dataset[0], s.dataset[0]
    xa, xb = (a[0], b[0]) if isinstance(a, tuple) else (a, b)
    same = torch.equal(_tensor(xa), _tensor(xb))
    if not same and s.split in ("val", "test"):
        report.append(
            _Finding(
                "quality",
                "random at evaluation",
                False,
                f"the same {s.split} image gives a different tensor each time: augmentation belongs to training only",
                {"split": s.split},
            )
        )
    else:
        msg = "deterministic items" if same else "random augmentation, on the training split"
        report.append(_Finding("quality", "random at evaluation", True, msg, {"split": s.split}))
    return report
