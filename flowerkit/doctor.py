"""flowerkit.doctor: automatic checks that find a broken data pipeline, with the evidence.

Introduced in notebook ``02_transform`` (:func:`check_batch`, the quality
checks). Each check returns a :class:`Finding` in one of the course's three
categories (access, quality, efficiency); a :class:`Report` collects them and
prints one line per check, problems first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["CATEGORIES", "Finding", "Report", "check_batch", "check_labels"]

CATEGORIES = ("access", "quality", "efficiency")


@dataclass(frozen=True)
class Finding:
    """The result of one check: where it belongs, whether it passed, what it means, and the numbers behind it."""

    category: str
    check: str
    ok: bool
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        mark = "ok     " if self.ok else "PROBLEM"
        ev = ", ".join(f"{k}={_fmt(v)}" for k, v in self.evidence.items())
        return f"{mark} [{self.category}] {self.check}: {self.message}" + (f" ({ev})" if ev else "")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)) and v and all(isinstance(i, float) for i in v):
        return "[" + ", ".join(f"{i:.3g}" for i in v) + "]"
    return str(v)


class Report(list):
    """A list of :class:`Finding`; ``report.problems`` are the failed ones, ``report.ok`` is True if none failed."""

    @property
    def problems(self) -> list[Finding]:
        """The findings that failed."""
        return [f for f in self if not f.ok]

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.problems

    def has(self, check: str) -> bool:
        """True if the check named ``check`` failed."""
        return any(f.check == check for f in self.problems)

    def __str__(self) -> str:
        if not self:
            return "no checks ran"
        lines = [str(f) for f in sorted(self, key=lambda f: (f.ok, CATEGORIES.index(f.category)))]
        head = "no problem found" if self.ok else f"{len(self.problems)} problem(s) found"
        return "\n".join([head, *lines])

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython display
        p.text(str(self))


def check_labels(labels: torch.Tensor | Sequence[int], num_classes: int = 102) -> Report:
    """Access checks on a batch of labels: integer dtype, range 0..num_classes-1 (not 1-based)."""
    y = torch.as_tensor(labels)
    report = Report()
    if y.dtype != torch.int64:
        report.append(
            Finding("access", "label dtype", False, "CrossEntropyLoss wants int64 (long) class indices", {"dtype": str(y.dtype)})
        )
    else:
        report.append(Finding("access", "label dtype", True, "int64 class indices", {"dtype": "torch.int64"}))
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= num_classes:
        hint = " (1-based labels: subtract 1)" if lo >= 1 and hi == num_classes else ""
        report.append(
            Finding("access", "label range", False, f"labels must lie in 0..{num_classes - 1}{hint}", {"min": lo, "max": hi})
        )
    else:
        report.append(Finding("access", "label range", True, f"labels within 0..{num_classes - 1}", {"min": lo, "max": hi}))
    return report


def check_batch(
    batch: Any,
    *,
    size: int | None = None,
    num_classes: int = 102,
    mean_tol: float = 0.5,
    std_range: tuple[float, float] = (0.5, 2.0),
) -> Report:
    """Quality checks on one batch ``(images, labels)`` or ``images`` as the model will receive it.

    Reports, each with its evidence: shape (B, 3, H, W) and the expected
    ``size``; dtype float32; NaN or infinite values; value range (0..255
    left unscaled); normalisation (per-channel mean near 0, std near 1);
    three identical channels up to scale (grayscale stored as RGB); constant
    images. With labels, also :func:`check_labels`. Introduced in notebook
    ``02_transform``.
    """
    x, y = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
    x = torch.as_tensor(x)
    report = Report()

    # shape
    if x.ndim != 4 or x.shape[1] != 3:
        hint = " (channels last? use .permute(0, 3, 1, 2))" if x.ndim == 4 and x.shape[-1] == 3 else ""
        report.append(Finding("quality", "shape", False, f"expected (B, 3, H, W){hint}", {"shape": tuple(x.shape)}))
        if y is not None:
            report.extend(check_labels(y, num_classes))
        return report
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        report.append(Finding("quality", "shape", False, f"expected {size}x{size} images", {"shape": tuple(x.shape)}))
    else:
        report.append(Finding("quality", "shape", True, "(B, 3, H, W), channels first", {"shape": tuple(x.shape)}))

    # dtype
    if x.dtype == torch.float32:
        report.append(Finding("quality", "dtype", True, "float32", {"dtype": "torch.float32"}))
    elif x.dtype == torch.uint8:
        report.append(
            Finding(
                "quality",
                "dtype",
                False,
                "uint8 images: convert with ToDtype(torch.float32, scale=True) and normalise",
                {"dtype": str(x.dtype)},
            )
        )
    else:
        report.append(Finding("quality", "dtype", False, "the model's weights are float32: use float32", {"dtype": str(x.dtype)}))
    xf = x.to(torch.float64)

    # NaN / inf
    bad = (~torch.isfinite(xf)).sum().item()
    if bad:
        report.append(
            Finding("quality", "finite", False, "NaN or infinite values (a division by a zero std?)", {"count": int(bad)})
        )
        xf = torch.nan_to_num(xf, nan=0.0, posinf=0.0, neginf=0.0)
    else:
        report.append(Finding("quality", "finite", True, "no NaN or infinite values"))

    # range and normalisation
    lo, hi = xf.min().item(), xf.max().item()
    if hi > 20:
        report.append(
            Finding(
                "quality",
                "range",
                False,
                "values up to 255: pixels were not scaled to [0, 1] before normalising",
                {"min": lo, "max": hi},
            )
        )
    else:
        report.append(Finding("quality", "range", True, "values on a normalised scale", {"min": lo, "max": hi}))
    mean = xf.mean(dim=(0, 2, 3))
    std = xf.std(dim=(0, 2, 3))
    if (mean.abs() > mean_tol).any() or (std < std_range[0]).any() or (std > std_range[1]).any():
        hint = "scaled to [0, 1] but not normalised" if 0 <= lo and hi <= 1 else "not normalised with the dataset's mean and std"
        report.append(
            Finding(
                "quality",
                "normalisation",
                False,
                f"per-channel mean should be near 0 and std near 1: {hint}",
                {"mean": mean.tolist(), "std": std.tolist()},
            )
        )
    else:
        report.append(
            Finding(
                "quality",
                "normalisation",
                True,
                "per-channel mean near 0, std near 1",
                {"mean": mean.tolist(), "std": std.tolist()},
            )
        )

    # grayscale stored as RGB: each channel an affine function of another (normalisation keeps that)
    flat = xf.flatten(2)  # (B, 3, HW)
    per_image_std = flat.std(dim=2)  # (B, 3)
    constant = (per_image_std.max(dim=1).values < 1e-6).nonzero().flatten().tolist()
    varying = [i for i in range(x.shape[0]) if i not in set(constant)]
    if varying:
        f = flat[varying]
        f = (f - f.mean(dim=2, keepdim=True)) / f.std(dim=2, keepdim=True).clamp_min(1e-12)
        corr01 = (f[:, 0] * f[:, 1]).mean(dim=1)
        corr12 = (f[:, 1] * f[:, 2]).mean(dim=1)
        gray = ((corr01 > 0.999) & (corr12 > 0.999)).float().mean().item()
    else:
        gray = 0.0
    if gray > 0.5:
        report.append(
            Finding(
                "quality",
                "colour",
                False,
                "the three channels are copies of one: grayscale images stored as RGB; colour is lost",
                {"gray_fraction": gray},
            )
        )
    else:
        report.append(Finding("quality", "colour", True, "the channels carry colour", {"gray_fraction": gray}))

    if constant:
        report.append(
            Finding(
                "quality",
                "constant images",
                False,
                "images with a single value everywhere (blank, or crushed by a transform)",
                {"count": len(constant), "indices": constant[:5]},
            )
        )
    else:
        report.append(Finding("quality", "constant images", True, "no constant image"))

    if y is not None:
        report.extend(check_labels(y, num_classes))
    return report
