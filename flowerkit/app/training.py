"""Training the app's model: our pipeline of notebook ``04_three_teams``, saved as one artifact with its provenance.

Introduced in notebook ``05_the_app`` (:func:`trained_artifact`, the model the
garden's app serves), and behind ``python -m flowerkit.app train``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import torch

from ..access import OxfordFlowers102
from ..expectations import profile
from ..load import CachedFlowers, build_cache, cache_dir, make_loader
from ..model import FlowerCNN, TrainConfig, evaluate, train
from ..transform import Stats, augment_uint8, compute_stats
from .artifact import _EVERY_PHOTO, ArtifactError, load_artifact, make_artifact, save_artifact

__all__ = ["train_artifact", "trained_artifact"]


def _train_split_stats(root: str | Path, size: int, num_workers: int, progress: bool) -> tuple[CachedFlowers, Stats]:
    """The train split decoded once (``decode_resized``) and its per-channel statistics (train split only)."""
    train_set = build_cache(OxfordFlowers102(root, "train"), size, progress=progress, num_workers=num_workers)
    return train_set, compute_stats(train_set, progress=False)


def train_artifact(
    root: str | Path,
    *,
    dataset: str = "mini",
    size: int | None = None,
    epochs: int | None = None,
    seed: int = 0,
    num_workers: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train :class:`~flowerkit.model.FlowerCNN` with our pipeline on ``root`` and return its artifact (see :func:`~flowerkit.app.make_artifact`).

    Behind :func:`trained_artifact`, which notebook ``05_the_app`` calls, and
    ``python -m flowerkit.app train``. Our pipeline of notebook ``04_three_teams``:
    a uint8 cache of the train split (``decode_resized``), its statistics,
    random shifts and flips, shuffled batches normalised by ``CollateNormalize``.
    ``size`` and ``epochs`` default to ``expectations.profile(dataset)``. The
    test accuracy (same cache recipe) goes into the provenance.
    """
    prof = profile(dataset)
    size, epochs = size or prof.size, epochs or prof.epochs
    workers = 0 if num_workers is None else num_workers
    train_set, stats = _train_split_stats(root, size, workers, progress)
    train_set.transform = augment_uint8(size)
    loader = make_loader(
        train_set, shuffle=True, mean=stats[0], std=stats[1], seed=seed, num_workers=num_workers, channels_last=True
    )
    torch.manual_seed(seed)
    model = FlowerCNN()
    history = train(model, loader, TrainConfig(epochs=epochs, seed=seed), progress=progress)
    test_set = build_cache(OxfordFlowers102(root, "test"), size, progress=progress, num_workers=workers)
    test_acc = evaluate(model, make_loader(test_set, mean=stats[0], std=stats[1], num_workers=num_workers))
    provenance = {
        "dataset": dataset,
        "root": str(Path(root).resolve()),
        "train_files_sha256": train_set.manifest["files_sha256"],
        "epochs": epochs,
        "seed": seed,
        "train_seconds": round(history.total_seconds, 1),
        "test_acc": round(test_acc, 4),
        "test_images": len(test_set),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return make_artifact(model.cpu(), size=size, stats=stats, provenance=provenance)


def _recipe_in_full(artifact: dict[str, Any], path: Path) -> Path:
    """``path``, its artifact rewritten first if its decode recipe predates :func:`~flowerkit.app.artifact._artifact_recipe`
    (the same decoding, described without the steps every photo goes through before the crop): the model is the same."""
    recipe = artifact["preprocess"]["decode"]
    if not recipe.endswith(_EVERY_PHOTO):
        artifact["preprocess"]["decode"] = recipe + _EVERY_PHOTO
        save_artifact(artifact, path)
    return path


def trained_artifact(
    root: str | Path,
    *,
    dataset: str = "mini",
    path: str | Path | None = None,
    seed: int = 0,
    progress: bool = False,
    num_workers: int | None = None,
) -> Path:
    """The app's artifact file for ``dataset``: reused if it was trained on these files with these settings, else trained and saved.

    ``path`` defaults to ``<cache_dir>/app-<dataset>-<size>px-<epochs>ep-seed<seed>.pt``.
    Training is seeded (on the CPU, deterministic), so a saved artifact is the model a new run would train (on a GPU,
    whose kernels vary a little from run to run, one as good); delete the file to retrain. Returns the file's path.
    Introduced in notebook ``05_the_app``.
    """
    prof = profile(dataset)
    path = Path(path) if path is not None else cache_dir() / f"app-{dataset}-{prof.size}px-{prof.epochs}ep-seed{seed}.pt"
    train_set, _ = _train_split_stats(root, prof.size, 0, progress)
    wanted = {"train_files_sha256": train_set.manifest["files_sha256"], "epochs": prof.epochs, "seed": seed}
    try:
        artifact = load_artifact(path)
        if all(artifact["provenance"].get(k) == v for k, v in wanted.items()) and artifact["preprocess"]["size"] == prof.size:
            return _recipe_in_full(artifact, path)
    except ArtifactError:
        pass
    artifact = train_artifact(root, dataset=dataset, seed=seed, progress=progress, num_workers=num_workers)
    return save_artifact(artifact, path)
