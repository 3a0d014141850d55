"""Which dataset the course uses: the embedded mini-flowers or the real Oxford 102 Flowers.

Introduced in notebook ``00_the_challenge`` (the setup cell). Every notebook's
setup cell reads ``DATASET = os.environ.get("FLOWERKIT_DATASET") or "mini"`` and
calls :func:`dataset_root`, so one setting switches the whole course.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from torchvision.datasets.utils import verify_str_arg

from .download import _download_flowers102
from .facts import DATASET_FOLDER
from .paths import data_dir
from .synth import mini_flowers

__all__ = ["DATASETS", "DATASET_ENV", "dataset_root", "default_dataset"]

#: The datasets the course knows: the generated stand-in and the real photos.
DATASETS: tuple[str, ...] = ("mini", "real")
#: Environment variable that picks the dataset for every notebook and command.
DATASET_ENV: str = "FLOWERKIT_DATASET"


def default_dataset() -> str:
    """Return ``$FLOWERKIT_DATASET`` (checked), else ``"mini"``. Introduced in notebook ``00_the_challenge``."""
    dataset = os.environ.get(DATASET_ENV) or "mini"
    why = f"${DATASET_ENV} is {dataset!r}; set it to one of {DATASETS} (or unset it for mini-flowers)."
    return verify_str_arg(dataset, DATASET_ENV, DATASETS, why)


def dataset_root(dataset: str | None = None, *, progress: bool = True, files: Mapping[str, str] | None = None) -> Path:
    """Return a root that ``OxfordFlowers102(root)`` and torchvision's ``Flowers102(root)`` read.

    ``dataset`` is ``"mini"`` (the generated stand-in, made on first use) or
    ``"real"`` (downloaded on first use, checksummed). ``None`` reads
    ``$FLOWERKIT_DATASET`` and defaults to ``"mini"``. Both live under
    :func:`flowerkit.paths.data_dir`, in ``mini/flowers-102`` and ``oxford/flowers-102``.

    The real route downloads from :data:`flowerkit.download.MIRRORS`, or the
    base URLs in ``$FLOWERKIT_MIRRORS``, and checks each file's md5 against
    :func:`flowerkit.download._checksums`: the published md5s, unless
    ``$FLOWERKIT_CHECKSUMS`` names a JSON or md5sum file of others (for a
    re-packed archive you trust; a warning names the file), or ``files`` maps
    file names to md5s. Introduced in notebook ``00_the_challenge`` (the setup cell).
    """
    dataset = dataset or default_dataset()
    why = f"dataset must be one of {DATASETS}, got {dataset!r} (a root holding {DATASET_FOLDER}/ is what it returns)"
    choice = dataset if isinstance(dataset, str) else repr(dataset)  # a root passed by mistake gets the hint above
    if verify_str_arg(choice, "dataset", DATASETS, why) == "mini":
        return mini_flowers(data_dir() / "mini", progress=progress)
    root = data_dir() / "oxford"
    _download_flowers102(root, progress=progress, files=files)
    return root
