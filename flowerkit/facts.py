"""The facts of Oxford 102 Flowers and of this machine, each written once.

Introduced in notebook ``00_the_challenge`` (the dataset's files and their
quirks). Every other module imports these names instead of typing the values
again; this module imports nothing from the package.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = [
    "ARCHIVE",
    "DATASET_FOLDER",
    "FILES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DEFAULT_SIZE",
    "IMAGE_FOLDER",
    "IMAGE_NAME",
    "LABELS_FILE",
    "NUM_CLASSES",
    "SETID_FILE",
    "SPLIT_NAMES",
    "SPLIT_VARIABLES",
    "cpu_count",
]

#: Sub-folder of a dataset root that holds everything (the same name as torchvision's).
DATASET_FOLDER: str = "flowers-102"
#: Folder of the JPEGs inside :data:`DATASET_FOLDER`: ``jpg/image_00001.jpg`` (5 digits, 1-based).
IMAGE_FOLDER: str = "jpg"
#: File name of image ``i`` (1-based) inside :data:`IMAGE_FOLDER`: ``IMAGE_NAME.format(1) == "image_00001.jpg"``.
IMAGE_NAME: str = "image_{:05d}.jpg"
#: The image archive; it unpacks to :data:`IMAGE_FOLDER`.
ARCHIVE: str = "102flowers.tgz"
#: MATLAB v5 file with ``labels``: shape (1, N), uint8, values 1..102, in file order.
LABELS_FILE: str = "imagelabels.mat"
#: MATLAB v5 file with the 1-based image ids of each split.
SETID_FILE: str = "setid.mat"
#: File name -> md5 of the three files that make up the real Oxford 102 Flowers.
FILES: dict[str, str] = {
    ARCHIVE: "52808999861908f626f3c1f4e79d11fa",
    LABELS_FILE: "e0620be6f572b9609742df49c70aed4d",
    SETID_FILE: "a5357ecc9cb78c4bef273ce3793fc85c",
}
#: Our split names -> the variable that holds its ids inside ``setid.mat``.
SPLIT_VARIABLES: dict[str, str] = {"train": "trnid", "val": "valid", "test": "tstid"}
#: The split names, in the order the course shows them.
SPLIT_NAMES: tuple[str, ...] = tuple(SPLIT_VARIABLES)
#: Number of flower classes.
NUM_CLASSES: int = 102
#: The course's default image side in pixels (mini-flowers' profile; the real profile sets its own in expectations).
DEFAULT_SIZE: int = 64
#: Per-channel statistics of ImageNet's training set: what a pipeline uses when it does not compute its own.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


#: Seconds a loader with workers waits for the next batch before it raises (a dead or stuck worker, not a frozen kernel).
WORKER_TIMEOUT_S = 120

#: A temporary file or folder this old (seconds) is a killed writer's (a kernel restarted mid-build): a build or a
#: generation takes minutes, so it may be removed (the cache in ``load``, mini-flowers in ``synth``).
_STALE_PARTIAL_S = 3600


def cpu_count() -> int:
    """Return the number of CPU cores this process may use (at least 1).

    ``os.sched_getaffinity`` respects containers and ``taskset``; macOS and
    Windows do not have it, so they fall back to ``os.cpu_count()``.
    Introduced in notebook ``06_beyond_one_machine`` (how many workers, how many processes).
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _threads_each(jobs: int) -> int:
    """Threads for each of ``jobs`` processes that share this machine: its share of the cores, at least 1.

    Processes that each start a thread per core spin against each other (on 2 cores, notebook 02's ablation cell beside
    another notebook took 331 s, 73 s with a thread each). For ``make grade --jobs``, pytest-xdist and the real route.
    """
    return max(1, cpu_count() // max(1, jobs))


def _md5sum(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Return the hex md5 digest of the file at ``path``, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
