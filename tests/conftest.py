"""Shared fixtures: a small mini-flowers for fast unit tests, and the course's default dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowerkit.synth import _MiniFlowersSpec, mini_flowers

# Same format and quirks as the default (102 classes, 77 first, 62 last, 10 train + 10 val per class),
# but tiny images and few test images: generated in a few seconds.
SMALL_SPEC = _MiniFlowersSpec(num_classes=102, test_per_class=(1, 2), short_side=64, long_side=(64, 96))


@pytest.fixture(scope="session")
def small_spec() -> _MiniFlowersSpec:
    """The spec that :func:`mini_root` was generated from."""
    return SMALL_SPEC


@pytest.fixture(scope="session")
def mini_root(tmp_path_factory) -> Path:
    """Root of a small mini-flowers (102 classes, 64 px images), shared by the session: do not modify it."""
    return mini_flowers(tmp_path_factory.mktemp("mini"), spec=SMALL_SPEC, progress=False)


@pytest.fixture(scope="session")
def default_mini_root() -> Path:
    """Root of the course's default mini-flowers (generated into data/mini on first use, then reused)."""
    import flowerkit

    return flowerkit.dataset_root("mini", progress=False)
