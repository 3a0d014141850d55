"""Our pipeline, the one every failed team is measured against: right pairing, colour, crop, statistics, cached.

Introduced in notebook ``04_three_teams`` (built there by
:func:`flowerkit.teams.build_pipeline` as ``"ours"``), from the fixes of
notebooks ``01_access``, ``02_transform`` and ``03_load``: the correct files
and labels, decoded once into a uint8 cache (aspect-preserving crop), random
shift and flip for training only, normalised per batch with the train split's
statistics into channels-last batches, shuffled batches of 64 with seeded workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..access import OxfordFlowers102
from ..transform import augment_uint8, compute_stats
from .pipeline import _batched, _cache, _Pipeline

__all__: list[str] = []  # OURS_INFO importable, not listed: see the package docstring

#: Our entry of :data:`flowerkit.teams.TEAM_INFO`: title, "bug" in one line, and the notebook that builds it.
OURS_INFO: dict[str, str] = {
    "title": "Ours",
    "bug": "none: correct pairing, colour, aspect-preserving crop, train-split statistics, cached and shuffled",
    "notebook": "04_three_teams",
}


def _our_recipe(
    team: str,
    info: dict[str, str],
    train_source: OxfordFlowers102,
    root: str | Path,
    size: int,
    seed: int,
    num_workers: int | None,
    progress: bool,
    **cache_kw: Any,
) -> _Pipeline:
    """Our recipe on ``train_source`` for ``team``: decoded once into a uint8 cache, shift-and-flip, train-split statistics.

    ``cache_kw`` goes to the cache of the train split (e.g. ``name=`` for a failed team's labels).
    """
    train_set = _cache(train_source, size, progress, num_workers, **cache_kw)
    stats = compute_stats(train_set, progress=False)
    train_set.transform = augment_uint8(size)
    test_set = _cache(OxfordFlowers102(root, "test"), size, progress, num_workers)
    return _batched(team, info, train_set, test_set, stats, seed, num_workers)


def _ours_pipeline(root: str | Path, size: int, seed: int, num_workers: int | None, progress: bool) -> _Pipeline:
    """Our pipeline on the dataset at ``root``: :func:`_our_recipe` on the true train split."""
    return _our_recipe("ours", OURS_INFO, OxfordFlowers102(root, "train"), root, size, seed, num_workers, progress)


def __dir__() -> list[str]:
    """What ``dir()`` and Tab completion offer: the public names only (the constants that name bugs stay importable)."""
    return sorted(__all__)
