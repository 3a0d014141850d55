"""Corrupt or truncated JPEGs in the data: plant them, find them, and the three ways to live with them.

Notebook ``07_in_the_wild``, section 5. :func:`plant_bad_images` copies a
dataset with some of its files damaged. The fixes and their trade-offs:
validate once and report (:func:`find_bad_images`), skip and log while
training (:class:`SkipAndLog` with :func:`collate_skipping`), and what not to
do: make the decoder accept anything (:func:`truncated_images_allowed`),
which silently changes the data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, default_collate

from ..access import _torchvision_files, _truncated_files, read_splits
from ..facts import DATASET_FOLDER, IMAGE_FOLDER, IMAGE_NAME, LABELS_FILE, SETID_FILE

__all__ = [
    "BadImage",
    "SkipAndLog",
    "collate_skipping",
    "find_bad_images",
    "plant_bad_images",
    "truncated_images_allowed",
]

#: Where in a split the damaged files sit (share of the split), and what is done to each.
_DAMAGE = {0.62: "truncated to 40% of its bytes", 0.87: "overwritten with zeros: not an image any more"}

#: The folders (absolute, links not followed) whose files :func:`find_bad_images` has decoded in this process: notebook
#: 07's exercise 4 asks for the hunt before this tool is shown, and its checker refuses an answer for such a folder.
_SCANNED_FOLDERS: set[Path] = set()
#: The damaged copies (absolute) whose answer key :func:`planted_damage` has handed out in this process: the same
#: checker refuses an answer for them too.
_REVEALED_FOLDERS: set[Path] = set()


def _link_or_copy(source: Path, target: Path) -> None:
    """A symbolic link where the system allows one (Linux, macOS), a copy elsewhere (Windows without the right)."""
    try:
        os.symlink(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _damage_plan(n: int) -> dict[int, str]:
    """{position in a split of ``n`` images: what is done to that file}: the same for the same split, every time."""
    return {int(n * share): how for share, how in _DAMAGE.items()}


def planted_damage(dest: str | Path, split: str) -> dict[str, str]:
    """{file name: damage} of the copy :func:`plant_bad_images` wrote at ``dest``, recomputed from its ``setid.mat``.

    The damage is placed by position in the split, so the checker of notebook ``07_in_the_wild`` finds the answer
    without the notebook keeping an answer key in a variable. Once called here, that checker refuses answers for
    ``dest``: the key is shown after the exercise, not used for it.
    """
    _REVEALED_FOLDERS.add(Path(os.path.abspath(dest)))
    return _planted(dest, split)


def _planted(dest: str | Path, split: str) -> dict[str, str]:
    """:func:`planted_damage` for the checker itself: the same answer, nothing recorded."""
    ids = read_splits(Path(dest) / DATASET_FOLDER / SETID_FILE)[split]
    return {IMAGE_NAME.format(int(ids[position])): how for position, how in _damage_plan(len(ids)).items()}


def plant_bad_images(root: str | Path, split: str, dest: str | Path) -> Path:
    """A copy of dataset ``root`` at ``dest`` in which some images of ``split`` are damaged; returns ``dest``.

    The ``.mat`` files are copied and the split's other images linked, so the copy costs almost no disk. How many
    images, which, and what was done to each is what notebook ``07_in_the_wild``'s exercise finds, so neither this
    docstring nor the return value says. Introduced in notebook ``07_in_the_wild``.
    """
    source, target = Path(root) / DATASET_FOLDER, Path(dest) / DATASET_FOLDER
    if target.exists():
        shutil.rmtree(target)
    (target / IMAGE_FOLDER).mkdir(parents=True)
    for name in (LABELS_FILE, SETID_FILE):
        shutil.copyfile(source / name, target / name)
    ids = read_splits(source / SETID_FILE)[split]
    damage = _damage_plan(len(ids))
    for position, image_id in enumerate(ids):
        name = IMAGE_NAME.format(int(image_id))
        if position not in damage:
            _link_or_copy(source / IMAGE_FOLDER / name, target / IMAGE_FOLDER / name)
            continue
        data = (source / IMAGE_FOLDER / name).read_bytes()
        (target / IMAGE_FOLDER / name).write_bytes(
            data[: len(data) * 2 // 5] if "truncated" in damage[position] else bytes(len(data))
        )
    return Path(dest)


@dataclass(frozen=True)
class BadImage:
    """One image that could not be decoded: its index in the dataset, its file (if known) and the error. Introduced in notebook ``07_in_the_wild``."""

    index: int
    file: str
    error: str


class _DecodeCheck(Dataset):
    """Item ``i``: ``(i, "")`` if file ``i`` decodes completely, else ``(i, "ErrorType: message")``."""

    def __init__(self, files: Sequence[str | Path], draft: int | None) -> None:
        self.files, self.draft = [str(f) for f in files], draft

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, idx: int) -> tuple[int, str]:
        try:
            with Image.open(self.files[idx]) as img:
                if self.draft:
                    img.draft("RGB", (self.draft, self.draft))  # a JPEG decoded small still reads every byte
                img.load()
        except (OSError, ValueError, SyntaxError) as exc:  # what PIL raises for truncated, unknown or broken files
            return idx, f"{type(exc).__name__}: {exc}"
        return idx, ""


def _as_list(batch: list[tuple[int, str]]) -> list[tuple[int, str]]:
    return batch


def find_bad_images(
    files: Sequence[str | Path], *, num_workers: int = 2, draft: int | None = None, timeout: float = 120
) -> list[BadImage]:
    """Decode every file once, in ``num_workers`` workers; return those that fail, with the error each raised.

    Validation at access time: run it once when the data arrives, keep the report, and build the
    training set without the bad files, on purpose and on record. ``draft=S`` lets JPEG decode at reduced
    size (at least S px), several times faster; it still reads every byte, so a truncated or corrupt file
    still fails. Introduced in notebook ``07_in_the_wild``.
    """
    check = _DecodeCheck(files, draft)
    _SCANNED_FOLDERS.update(Path(os.path.abspath(file)).parent for file in check.files)
    loader = DataLoader(check, batch_size=32, num_workers=num_workers, collate_fn=_as_list, timeout=timeout if num_workers else 0)
    found = [(idx, error) for batch in loader for idx, error in batch if error]
    return [BadImage(idx, Path(check.files[idx]).name, error) for idx, error in found]


class SkipAndLog(Dataset):
    """Wrap a dataset: an item that raises while loading comes back as a :class:`BadImage` instead of stopping the epoch.

    Use it with :func:`collate_skipping`, which drops those items from the batch and hands them to the
    training loop to log. Trade-offs: batches get shorter, and an epoch sees fewer images than the dataset
    holds; unless someone reads the log, the data shrinks without anyone deciding it. Introduced in notebook ``07_in_the_wild``.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def _file(self, idx: int) -> str:
        files = getattr(self.dataset, "image_files", None)
        if files is None and (public := _torchvision_files(self.dataset)) is not None:
            files = public[0]  # torchvision's Flowers102, read through its public loader
        return Path(files[idx]).name if files is not None else ""

    def __getitem__(self, idx: int) -> Any:
        try:
            return self.dataset[idx]
        except (OSError, ValueError) as exc:
            return BadImage(idx, self._file(idx), f"{type(exc).__name__}: {exc}")


def collate_skipping(batch: list[Any]) -> tuple[torch.Tensor, torch.Tensor, list[BadImage]]:
    """``(images, labels, skipped)``: the default collate of the good items, and the :class:`BadImage` items left out.

    Introduced in notebook ``07_in_the_wild``.
    """
    good = [item for item in batch if not isinstance(item, BadImage)]
    skipped = [item for item in batch if isinstance(item, BadImage)]
    if not good:
        return torch.empty(0), torch.empty(0, dtype=torch.int64), skipped
    images, labels = default_collate(good)
    return images, labels, skipped


@contextlib.contextmanager
def truncated_images_allowed() -> Iterator[None]:
    """Inside the block, PIL decodes truncated JPEGs without an error (the missing part comes out grey).

    ``ImageFile.LOAD_TRUNCATED_IMAGES = True`` is the fix most often suggested online. It does not repair
    anything: it changes the data, silently. Shown in notebook ``07_in_the_wild`` so you recognise it;
    the flag is restored on leaving the block.
    """
    with _truncated_files(allowed=True):
        yield
