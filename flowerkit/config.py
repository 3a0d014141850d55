"""Where flowerkit keeps its data, and which dataset the notebooks use.

Introduced in notebook ``00_the_challenge`` (the setup cell). Every notebook's
setup cell calls :func:`dataset_root`, so one setting switches the whole course
from the embedded mini-flowers to the real Oxford 102 Flowers.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATASETS", "data_dir", "dataset_root", "repo_root"]

DATASETS = ("mini", "real")


def repo_root() -> Path | None:
    """Return the checkout that holds this package (the folder with ``pyproject.toml``), if any."""
    here = Path(__file__).resolve().parent
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "flowerkit").is_dir():
            return folder
    return None


def data_dir() -> Path:
    """Return the folder for datasets: ``$FLOWERKIT_DATA``, else ``<repo>/data``.

    Notebooks run with their own folder as working directory (nbval does this),
    so a relative path such as ``../data`` would break; this never depends on
    the working directory.
    """
    env = os.environ.get("FLOWERKIT_DATA")
    if env:
        return Path(env).expanduser().resolve()
    repo = repo_root()
    if repo is not None:
        return repo / "data"
    return Path.home() / ".cache" / "flowerkit"


def dataset_root(dataset: str | None = None, *, progress: bool = True) -> Path:
    """Return a root that ``OxfordFlowers102(root)`` and torchvision's ``Flowers102(root)`` read.

    ``dataset`` is ``"mini"`` (the generated stand-in, made on first use) or
    ``"real"`` (downloaded on first use, checksummed). ``None`` reads
    ``$FLOWERKIT_DATASET`` and defaults to ``"mini"``. Both live under
    :func:`data_dir`, in ``mini/flowers-102`` and ``oxford/flowers-102``.
    """
    dataset = dataset or os.environ.get("FLOWERKIT_DATASET", "mini")
    if dataset == "mini":
        from .synth import mini_flowers

        return mini_flowers(data_dir() / "mini", progress=progress)
    if dataset == "real":
        from .download import download_flowers102

        root = data_dir() / "oxford"
        download_flowers102(root, progress=progress)
        return root
    raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
