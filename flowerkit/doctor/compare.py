"""Two batches of the same photos, compared: :func:`compare_batches` (notebook ``05_the_app``).

Train/serve skew can hide from a check of one batch on its own: the app's batch can have the right shape, range and
normalisation and still hold other pictures than training's. The reference is training's batch of the *same* photos.
Per channel, how far apart their statistics are (a change of normalisation shifts and scales a channel); per photo,
how alike the two pictures are (a change of geometry lowers the correlation of that photo alone, a change of
statistics does not, since a correlation ignores shift and scale).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .batch import _tensor

__all__ = ["BatchComparison", "compare_batches"]


@dataclass(frozen=True)
class BatchComparison:
    """What :func:`compare_batches` measures; each a float64 tensor. Introduced in notebook ``05_the_app``.

    ``mean_shift`` (3,): the candidate's per-channel mean minus the reference's;
    ``std_ratio`` (3,): the candidate's per-channel std over the reference's;
    ``photo_corr`` (N,): per photo, the correlation of its two versions
    channel by channel (pixels of channel c against channel c), averaged over
    the channels: 1 for the same picture whatever its normalisation, lower
    for any change to where its pixels are or what they hold;
    ``channel_corr`` (N, 3): the same correlations before the average, to
    see which channel disagrees.
    """

    mean_shift: torch.Tensor
    std_ratio: torch.Tensor
    photo_corr: torch.Tensor
    channel_corr: torch.Tensor

    def as_dict(self) -> dict[str, list[float]]:
        """The three measures as plain lists, e.g. to compare with a student's ``compare_batches``."""
        return {k: getattr(self, k).tolist() for k in ("mean_shift", "std_ratio", "photo_corr")}

    def __str__(self) -> str:
        low = int(self.photo_corr.argmin())
        return (
            f"per channel: mean shift {[round(v, 2) for v in self.mean_shift.tolist()]}, "
            f"std ratio {[round(v, 2) for v in self.std_ratio.tolist()]}, "
            f"median correlation {[round(v, 2) for v in self.channel_corr.nanmedian(dim=0).values.tolist()]}; per photo: "
            f"correlation median {float(self.photo_corr.median()):.2f}, lowest {float(self.photo_corr[low]):.2f} (photo {low})"
        )


def _as_batch(x: Any, name: str) -> torch.Tensor:
    """``x`` as a float64 (N, 3, H, W) tensor, or a ValueError naming what it is."""
    t = _tensor(x)
    if t.ndim == 3:
        raise ValueError(f"{name} has shape {tuple(t.shape)}: one image; stack the photos into a batch, (N, 3, H, W)")
    if t.ndim != 4 or t.shape[1] != 3:
        raise ValueError(f"{name} has shape {tuple(t.shape)}; expected a batch of RGB images, (N, 3, H, W)")
    return t.to(torch.float64)


def _channel_corr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, 3) Pearson correlations of each photo's channel c in ``a`` with its channel c in ``b``; NaN where one is flat."""
    a = a.flatten(2) - a.flatten(2).mean(2, keepdim=True)
    b = b.flatten(2) - b.flatten(2).mean(2, keepdim=True)
    return (a * b).sum(2) / (a.norm(dim=2) * b.norm(dim=2))


def compare_batches(reference: Any, candidate: Any) -> BatchComparison:
    """Compare two batches of the same photos, in the same order: ``reference`` (training's) and ``candidate`` (an app's).

    Both are float (N, 3, H, W). Returns a :class:`BatchComparison`:
    per-channel mean shift and std ratio, and per photo the correlation of
    its two versions, channel by channel (``channel_corr``), averaged over the channels (a
    channel constant in one version does not count; a photo flat in every
    channel gets NaN). Batches of different shapes raise a ValueError: they
    cannot hold the same photos at the same size. Introduced in notebook ``05_the_app``
    (after the student's own ``compare_batches``).
    """
    ref, cand = _as_batch(reference, "reference"), _as_batch(candidate, "candidate")
    if ref.shape != cand.shape:
        raise ValueError(
            f"reference {tuple(ref.shape)} and candidate {tuple(cand.shape)} differ in shape: compare the same photos, "
            "prepared at the same size (resize one side first if the app's size differs)"
        )
    ref_std = ref.std(dim=(0, 2, 3))
    if bool((ref_std == 0).any()):
        flat = (ref_std == 0).nonzero().flatten().tolist()
        raise ValueError(f"the reference's channel(s) {flat} are constant over the whole batch: no std to compare with")
    channel_corr = _channel_corr(ref, cand)
    return BatchComparison(
        mean_shift=cand.mean(dim=(0, 2, 3)) - ref.mean(dim=(0, 2, 3)),
        std_ratio=cand.std(dim=(0, 2, 3)) / ref_std,
        photo_corr=channel_corr.nanmean(dim=1),
        channel_corr=channel_corr,
    )
