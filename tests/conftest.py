"""Shared fixtures: a small mini-flowers for fast unit tests, the course's default dataset, the app's model and a photo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from flowerkit import app
from flowerkit.access import OxfordFlowers102, load_rgb
from flowerkit.facts import _threads_each
from flowerkit.synth import _MiniFlowersSpec, mini_flowers

# Same format and quirks as the default (102 classes, 77 first, 62 last, 10 train + 10 val per class),
# but tiny images and few test images: generated in a few seconds.
SMALL_SPEC = _MiniFlowersSpec(num_classes=102, test_per_class=(1, 2), short_side=64, long_side=(64, 96))


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test``) each worker gets its share of the cores, and so do the processes it starts.

    Two workers that each run a thread per core spin against each other: on 2 cores notebook 05's student slice took
    178 s instead of 25, the capstone's CLI ablation 88 s instead of 22 (2026-12-05).
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        threads = _threads_each(workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)  # kernels, torchrun and scripts started by the tests
        torch.set_num_threads(threads)


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


#: Image side of the app's test model: small and fast (the course uses 64).
APP_SIZE = 32


@pytest.fixture(scope="session")
def artifact(mini_root: Path) -> dict:
    """The app's artifact after one epoch of our pipeline on the small mini-flowers: plumbing, not accuracy (tests/test_app_*)."""
    return app.train_artifact(mini_root, size=APP_SIZE, epochs=1, num_workers=0, progress=False)


@pytest.fixture(scope="session")
def artifact_file(artifact: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`artifact` saved once for the session."""
    return app.save_artifact(artifact, tmp_path_factory.getbasetemp() / "app-artifact.pt")


@pytest.fixture(scope="session")
def predictor(artifact_file: Path) -> app.Predictor:
    """The app's Predictor on :func:`artifact_file`."""
    return app.Predictor.load(artifact_file)


@pytest.fixture(scope="session")
def photo(mini_root: Path) -> Image.Image:
    """A test image, upscaled to a phone-ish 300x200 so that crops and rotations show."""
    return load_rgb(OxfordFlowers102(mini_root, "test").image_files[0]).resize((300, 200))
