"""The Access team: their reading code, their Dataset, their pipeline.

Introduced in notebook ``01_access``, which stages their run, lets the student
find the cause against torchvision's reference, and only then prints
:func:`access_team_samples` (its bugs annotated in its code comments) and the
line of :class:`AccessTeamFlowers` that silenced the crash. The docstrings here
do not name the bugs: ``help(teams)`` in the middle of the hunt would answer it.
Notebook ``04_three_teams`` trains their Dataset behind our transform and
loader (``build_pipeline("access")``), so the capstone measures their bug alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..access import OxfordFlowers102, read_mat
from ..facts import DATASET_FOLDER, IMAGE_FOLDER, LABELS_FILE, SETID_FILE, SPLIT_VARIABLES
from .ours import _our_recipe
from .pipeline import _Pipeline

# ACCESS_BUGS and ACCESS_INFO are importable, and left out of __all__: pydoc lists the values of __all__'s constants.
__all__ = ["AccessTeamFlowers"]  # access_team_samples importable, not listed: its listdir= hints at the hunt

#: The Access team's four bugs, numbered as in :func:`access_team_samples` and :class:`AccessTeamFlowers`.
ACCESS_BUGS = ("unsorted listdir", "1-based labels", "ids as positions", "label % 102")

#: Their entry of :data:`flowerkit.teams.TEAM_INFO`: title, bug in one line, and the notebook that staged it.
ACCESS_INFO: dict[str, str] = {
    "title": "Access team",
    "bug": "files paired with the wrong labels (unsorted listdir, 1-based ids as positions, label % 102)",
    "notebook": "01_access",
}


def access_team_samples(
    root: str | Path, split: str = "train", *, listdir: Callable[[Path], list[str]] | None = None
) -> list[tuple[Path, int]]:
    """The Access team's (file, label) pairs, as their code reads them. Introduced in notebook ``01_access``.

    ``listdir`` replaces a function their code calls (notebook 01 uses it after
    its hunt). Notebook 01 prints this function's code, its comments included,
    once the hunt is over.
    """
    # Their code, and what is wrong with each line:
    # 1. files = os.listdir(jpg): the listing order is whatever the file system returns (hash order on Linux's ext4,
    #    sorted on Windows' NTFS), yet they pair files[k] with labels[k];
    # 2. labels = loadmat(...)["labels"][0]: left 1-based (1..102) and uint8;
    # 3. files[i] for i in trnid: the split's image *ids* (1-based file numbers) used as *positions* in their list; an
    #    id equal to the number of files would crash, so they silently skip it.
    # Every sample is mispaired whatever the listing order. Unsorted, files[i] is a random file. Sorted, files[i] is
    # image i + 1, paired with its own label still 1-based: once AccessTeamFlowers silences the crash with % 102, every
    # image carries the *next* class's label. Either way the label the model is trained on is the image's class for
    # about 1 sample in 102 (chance) or none.
    base = Path(root) / DATASET_FOLDER
    listing = (listdir or os.listdir)(base / IMAGE_FOLDER)
    files = [f for f in listing if f.endswith(".jpg")]  # bug 1: the listing order, whatever it is
    labels = read_mat(base / LABELS_FILE)["labels"][0]  # bug 2: 1-based uint8
    ids = read_mat(base / SETID_FILE)[SPLIT_VARIABLES[split]][0]
    return [(base / IMAGE_FOLDER / files[i], int(labels[i])) for i in ids if i < len(files)]  # bug 3: ids as positions


class AccessTeamFlowers(OxfordFlowers102):
    """The Access team's Dataset: their files and labels behind our Dataset's interface.

    ``samples`` holds their (file, label) pairs as :func:`access_team_samples`
    read them; ``labels`` the labels their model was trained on. Everything
    else (decoding, transforms) is ours, so that notebook ``04_three_teams``
    measures their reading code alone. Introduced in notebook ``01_access``.
    """

    # When CrossEntropyLoss crashed on label 102 ("Target 102 is out of bounds"), they silenced it with label % 102:
    # class 102 became class 0 and every other label stayed shifted by one (bug 4, below).

    def __init__(self, root: str | Path, split: str = "train", transform: Any = None, **kwargs: Any) -> None:
        super().__init__(root, split, transform=transform, **kwargs)
        self.samples = access_team_samples(root, split)
        self.image_files = [path for path, _ in self.samples]
        self.image_ids = [int(path.stem.split("_")[-1]) for path in self.image_files]
        self.labels = [label % 102 for _, label in self.samples]  # bug 4: silence the crash


def _access_pipeline(root: str | Path, size: int, seed: int, num_workers: int | None, progress: bool) -> _Pipeline:
    """Our transform and loader, fed :class:`AccessTeamFlowers`: their (file, label) pairs, everything else ours."""
    return _our_recipe(
        "access", ACCESS_INFO, AccessTeamFlowers(root), root, size, seed, num_workers, progress, name="access-team"
    )


def __dir__() -> list[str]:
    """What ``dir()`` and Tab completion offer: the public names only (the constants that name bugs stay importable)."""
    return sorted(__all__)
