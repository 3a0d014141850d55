"""Quality checks on one batch as the model will receive it: :func:`check_batch` (notebook ``02_transform``).

Shape, dtype, finite values, range, normalisation, colour, per-image standardisation and constant images, one
finding each, and the access checks on the batch's labels (:func:`_check_labels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..facts import NUM_CLASSES
from .findings import _Finding, _Report

__all__ = ["check_batch"]


def _tensor(x: Any) -> torch.Tensor:
    """``x`` as a tensor: a tensor as it is, anything else through NumPy, copied where NumPy's array is read-only.

    Items made by ``np.asarray(pil_image)`` are read-only: ``torch.as_tensor`` would share them and warn.
    """
    if isinstance(x, torch.Tensor):
        return x
    array = np.asarray(x)
    return torch.as_tensor(array if array.flags.writeable else array.copy())


def _check_labels(labels: torch.Tensor | Sequence[int], num_classes: int = NUM_CLASSES) -> _Report:
    """Access checks on a batch of labels: integer dtype, range 0..num_classes-1 (not 1-based)."""
    y = _tensor(labels)
    report = _Report()
    if y.dtype != torch.int64:
        report.append(
            _Finding("access", "label dtype", False, "CrossEntropyLoss wants int64 (long) class indices", {"dtype": str(y.dtype)})
        )
    else:
        report.append(_Finding("access", "label dtype", True, "int64 class indices", {"dtype": "torch.int64"}))
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= num_classes:
        hint = " (1-based labels: subtract 1)" if lo >= 1 and hi == num_classes else ""
        report.append(
            _Finding("access", "label range", False, f"labels must lie in 0..{num_classes - 1}{hint}", {"min": lo, "max": hi})
        )
    else:
        report.append(_Finding("access", "label range", True, f"labels within 0..{num_classes - 1}", {"min": lo, "max": hi}))
    return report


def check_batch(
    batch: Any,
    *,
    size: int | None = None,
    num_classes: int = NUM_CLASSES,
    mean_tol: float = 0.5,
    std_range: tuple[float, float] = (0.5, 2.0),
) -> _Report:
    """Quality checks on one batch ``(images, labels)`` or ``images`` as the model will receive it.

    Reports, each with its evidence: shape (B, 3, H, W) and the expected
    ``size``; dtype float32; NaN or infinite values; value range (0..255
    left unscaled); normalisation (per-channel mean near 0, std near 1);
    three identical channels up to scale (grayscale stored as RGB); constant
    images; every image standardised by its own mean and std. With labels,
    also :func:`_check_labels`. Introduced in notebook ``02_transform``.
    """
    x, y = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
    x = _tensor(x)
    report = _Report([_shape_finding(x, size)])
    if x.ndim == 4 and x.shape[1] == 3:
        report.append(_dtype_finding(x))
        xf = x.to(torch.float64)
        finite, xf = _finite_finding(xf)
        report.append(finite)
        report.extend([_range_finding(xf), _normalisation_finding(xf, mean_tol, std_range)])
        flat = xf.flatten(2)  # (B, 3, HW)
        constant = (flat.std(dim=2).max(dim=1).values < 1e-6).nonzero().flatten().tolist()
        varying = [i for i in range(x.shape[0]) if i not in set(constant)]
        report.append(_colour_finding(flat, varying))
        report.extend(f for f in [_per_image_finding(flat, varying)] if f is not None)
        report.append(_constant_finding(constant))
    if y is not None:
        report.extend(_check_labels(y, num_classes))
    return report


def _shape_finding(x: torch.Tensor, size: int | None) -> _Finding:
    """(B, 3, H, W) channels first, and ``size`` x ``size`` when a size is expected."""
    if x.ndim != 4 or x.shape[1] != 3:
        hint = " (channels last? use .permute(0, 3, 1, 2))" if x.ndim == 4 and x.shape[-1] == 3 else ""
        return _Finding("quality", "shape", False, f"expected (B, 3, H, W){hint}", {"shape": tuple(x.shape)})
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        return _Finding("quality", "shape", False, f"expected {size}x{size} images", {"shape": tuple(x.shape)})
    return _Finding("quality", "shape", True, "(B, 3, H, W), channels first", {"shape": tuple(x.shape)})


def _dtype_finding(x: torch.Tensor) -> _Finding:
    """float32, the dtype of the model's weights."""
    if x.dtype == torch.float32:
        return _Finding("quality", "dtype", True, "float32", {"dtype": "torch.float32"})
    if x.dtype == torch.uint8:
        msg = "uint8 images: convert with ToDtype(torch.float32, scale=True) and normalise"
        return _Finding("quality", "dtype", False, msg, {"dtype": str(x.dtype)})
    return _Finding("quality", "dtype", False, "the model's weights are float32: use float32", {"dtype": str(x.dtype)})


def _finite_finding(xf: torch.Tensor) -> tuple[_Finding, torch.Tensor]:
    """No NaN or infinite values; returns the finding and the batch with any such value zeroed for the next checks."""
    bad = int((~torch.isfinite(xf)).sum().item())
    if bad:
        msg = "NaN or infinite values (a division by a zero std?)"
        return _Finding("quality", "finite", False, msg, {"count": bad}), torch.nan_to_num(xf, nan=0.0, posinf=0.0, neginf=0.0)
    return _Finding("quality", "finite", True, "no NaN or infinite values"), xf


def _range_finding(xf: torch.Tensor) -> _Finding:
    """Values on a normalised scale, not 0..255."""
    lo, hi = xf.min().item(), xf.max().item()
    if hi > 20:
        msg = "values up to 255: pixels were not scaled to [0, 1] before normalising"
        return _Finding("quality", "range", False, msg, {"min": lo, "max": hi})
    return _Finding("quality", "range", True, "values on a normalised scale", {"min": lo, "max": hi})


def _normalisation_finding(xf: torch.Tensor, mean_tol: float, std_range: tuple[float, float]) -> _Finding:
    """Per-channel mean near 0 and std near 1 over the batch."""
    lo, hi = xf.min().item(), xf.max().item()
    mean, std = xf.mean(dim=(0, 2, 3)), xf.std(dim=(0, 2, 3))
    evidence = {"mean": mean.tolist(), "std": std.tolist()}
    if (mean.abs() > mean_tol).any() or (std < std_range[0]).any() or (std > std_range[1]).any():
        hint = "scaled to [0, 1] but not normalised" if 0 <= lo and hi <= 1 else "not normalised with the dataset's mean and std"
        return _Finding("quality", "normalisation", False, f"per-channel mean should be near 0 and std near 1: {hint}", evidence)
    return _Finding("quality", "normalisation", True, "per-channel mean near 0, std near 1", evidence)


def _colour_finding(flat: torch.Tensor, varying: list[int]) -> _Finding:
    """Grayscale stored as RGB: each channel an affine function of another (normalisation keeps that)."""
    gray = 0.0
    if varying:
        f = flat[varying]
        f = (f - f.mean(dim=2, keepdim=True)) / f.std(dim=2, keepdim=True, correction=0).clamp_min(1e-12)
        corr01 = (f[:, 0] * f[:, 1]).mean(dim=1)
        corr12 = (f[:, 1] * f[:, 2]).mean(dim=1)
        gray = ((corr01 > 0.999) & (corr12 > 0.999)).float().mean().item()
    if gray > 0.5:
        msg = "the three channels are copies of one: grayscale images stored as RGB; colour is lost"
        return _Finding("quality", "colour", False, msg, {"gray_fraction": gray})
    return _Finding("quality", "colour", True, "the channels carry colour", {"gray_fraction": gray})


def _per_image_finding(flat: torch.Tensor, varying: list[int]) -> _Finding | None:
    """Every image with mean 0 and std 1 (brightness and contrast erased); None with fewer than 4 varying images."""
    if len(varying) < 4:
        return None
    per_mean, per_std = flat[varying].mean(dim=(1, 2)), flat[varying].std(dim=(1, 2))
    spread, std_dev = per_mean.std().item(), (per_std - 1).abs().max().item()
    if spread < 1e-3 and std_dev < 1e-2:
        msg = (
            "every image has mean 0 and std 1: each was normalised by its own statistics, which erases "
            "brightness and contrast; normalise with the train split's per-channel mean and std"
        )
        return _Finding(
            "quality", "per-image standardisation", False, msg, {"spread_of_image_means": spread, "max_std_minus_1": std_dev}
        )
    msg = "images keep their own brightness and contrast"
    return _Finding("quality", "per-image standardisation", True, msg, {"spread_of_image_means": spread})


def _constant_finding(constant: list[int]) -> _Finding:
    """Images with a single value everywhere."""
    if constant:
        msg = "images with a single value everywhere (blank, or crushed by a transform)"
        return _Finding("quality", "constant images", False, msg, {"count": len(constant), "indices": constant[:5]})
    return _Finding("quality", "constant images", True, "no constant image")
