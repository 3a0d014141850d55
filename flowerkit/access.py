"""Access: reading Oxford 102 Flowers correctly, as a PyTorch ``Dataset``.

Introduced in notebook ``01_access``. The dataset's metadata lives apart from
its images, in two MATLAB files. This module reads them explicitly and checks
them, so bad input fails with a message that names the file and says what to
do.
"""

# The three traps of those files (kept out of the docstring: help() would answer notebook 01's hunt):
# * loadmat returns (1, N) arrays: len() of them is 1, not N;
# * labels are 1-based uint8 (labels - 1 twice wraps 0 to 255);
# * split files hold 1-based *image ids* (image_00042.jpg is id 42), not positions, and the files are grouped by
#   class, so any off-by-one or listing-order mistake pairs images with the wrong labels.

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from unittest import mock

import numpy as np
import torchvision
from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError
from scipy.io import loadmat
from scipy.io.matlab import MatReadError
from torchvision.datasets import Flowers102, VisionDataset
from torchvision.datasets.utils import verify_str_arg

from .classes import CLASSES
from .download import _download_flowers102
from .facts import DATASET_FOLDER, IMAGE_FOLDER, IMAGE_NAME, LABELS_FILE, NUM_CLASSES, SETID_FILE, SPLIT_NAMES, SPLIT_VARIABLES

__all__ = [
    "FlowersFormatError",
    "ImageSource",
    "OxfordFlowers102",
    "image_path",
    "load_rgb",
    "read_labels",
    "read_mat",
    "read_splits",
    "to_rgb",
    "torchvision_flowers102",
    "upright",
]

_HOW_TO_GET = (
    "To get a good copy: for the embedded stand-in run `flowerkit.mini_flowers(root)` "
    "(it regenerates anything incomplete); for the real data use "
    "`OxfordFlowers102(root, download=True)` (see the README, 'the real dataset')."
)


class FlowersFormatError(ValueError):
    """A dataset file exists but does not hold what Oxford 102 Flowers should. Introduced in notebook ``01_access``."""


def read_mat(path: str | Path) -> dict[str, np.ndarray]:
    """Load a MATLAB v5 file with scipy, turning every known failure into a clear error.

    Arrays keep MATLAB's shape (``(1, N)`` for a row vector): the caller
    decides how to flatten them, which is the point notebook ``01_access`` makes.
    """

    path = Path(path)
    if path.is_dir():
        raise FlowersFormatError(f"{path} is a folder, not a MATLAB file: move or rename it. {_HOW_TO_GET}")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist. {_HOW_TO_GET}")
    with open(path, "rb") as fh:
        head = fh.read(512)
    if not head:
        raise FlowersFormatError(f"{path} is empty (0 bytes): an interrupted download? Delete it. {_HOW_TO_GET}")
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype", b"<html", b"<?xml", b"<head")):
        raise FlowersFormatError(
            f"{path} is an HTML page, not a MATLAB file: a server error page was saved under this name. Delete it. {_HOW_TO_GET}"
        )
    if head.startswith(b"\x89HDF") or b"MATLAB 7.3" in head[:128]:
        raise FlowersFormatError(
            f"{path} is a MATLAB v7.3 (HDF5) file, which scipy cannot read. The original is MATLAB v5: "
            f"re-save it in MATLAB with save(..., '-v7'), or get the original file. {_HOW_TO_GET}"
        )
    try:
        mat = loadmat(path)
    except (MatReadError, ValueError, TypeError, OSError, NotImplementedError, IndexError) as exc:  # IndexError: cut short
        raise FlowersFormatError(f"{path} is not a readable MATLAB v5 file ({exc}). {_HOW_TO_GET}") from exc
    return {k: v for k, v in mat.items() if not k.startswith("__")}


def _integer_vector(mat: dict[str, np.ndarray], name: str, path: Path) -> np.ndarray:
    if name not in mat:
        found = ", ".join(sorted(mat)) or "none"
        raise FlowersFormatError(f"{path} has no variable {name!r} (found: {found}). Is it the right file? {_HOW_TO_GET}")
    arr = np.asarray(mat[name])
    if not np.issubdtype(arr.dtype, np.integer) and not (
        np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))
    ):
        raise FlowersFormatError(f"{path}: {name!r} should hold integers, found dtype {arr.dtype}. {_HOW_TO_GET}")
    if arr.ndim != 2 or 1 not in arr.shape:
        raise FlowersFormatError(f"{path}: {name!r} should be a (1, N) row vector, found shape {arr.shape}. {_HOW_TO_GET}")
    # int64 *before* any arithmetic: uint8 - 1 wraps 0 to 255 silently.
    return arr.astype(np.int64).reshape(-1)


def read_labels(path: str | Path) -> np.ndarray:
    """Return the 0-based class of every image, in file order, from ``imagelabels.mat``.

    The file stores ``labels`` as a (1, N) uint8 array of 1-based classes
    (1..102); this returns a flat int64 array of 0..101, where element ``i`` is
    the class of ``image_{i+1:05d}.jpg``. Introduced in notebook ``01_access``.
    """
    path = Path(path)
    labels = _integer_vector(read_mat(path), "labels", path)
    bad = np.flatnonzero((labels < 1) | (labels > NUM_CLASSES))
    if labels.size == 0 or bad.size:
        where = f"image ids {(bad[:5] + 1).tolist()} hold {labels[bad[:5]].tolist()}" if bad.size else "it is empty"
        raise FlowersFormatError(
            f"{path}: labels must be 1-based classes 1..{NUM_CLASSES}, but {where}. "
            f"Was it saved 0-based, or by another dataset? {_HOW_TO_GET}"
        )
    return labels - 1


def read_splits(path: str | Path) -> dict[str, np.ndarray]:
    """Return the 1-based image ids of each split (``"train"``, ``"val"``, ``"test"``) from ``setid.mat``.

    Introduced in notebook ``01_access``.
    """
    # The ids name files (id 42 is image_00042.jpg) and are *not* positions: the labels of a split are labels[ids - 1]
    # (kept out of the docstring: help(access) would answer 01's hunt)
    path = Path(path)
    mat = read_mat(path)
    splits = {split: _integer_vector(mat, var, path) for split, var in SPLIT_VARIABLES.items()}
    for split, ids in splits.items():
        if ids.size and ids.min() < 1:
            raise FlowersFormatError(
                f"{path}: {SPLIT_VARIABLES[split]!r} holds id {ids.min()}, but image ids start at 1. {_HOW_TO_GET}"
            )
    return splits


def _dataset_signature(root: str | Path) -> str:
    """A short hash of what the dataset at ``root`` holds now: its two .mat files' bytes and which ``jpg/`` folder it has.

    For folders made *from* a dataset (notebook 05's visitor photos, 08's hand-over): keyed by the root's path alone,
    they would outlive a dataset replaced at the same path (another download, a regenerated mini-flowers), whose
    ``jpg/`` folder is always moved in whole. Private: behind notebook 05's and 08's generated photos.
    """
    folder = Path(root) / DATASET_FOLDER
    h = hashlib.sha1()
    for name in (LABELS_FILE, SETID_FILE):
        path = folder / name
        h.update(path.read_bytes() if path.is_file() else b"missing")
    images = folder / IMAGE_FOLDER
    st = images.stat() if images.is_dir() else None  # ctime: set by the system when the folder is made or moved in
    h.update(f"{st.st_ino}:{st.st_ctime_ns}".encode() if st else b"missing")
    return h.hexdigest()[:12]


def image_path(root: str | Path, image_id: int) -> Path:
    """Return the JPEG of a 1-based image id: ``<root>/flowers-102/jpg/image_00042.jpg``. Introduced in notebook ``01_access``."""
    return Path(root) / DATASET_FOLDER / IMAGE_FOLDER / IMAGE_NAME.format(int(image_id))


def to_rgb(img: Image.Image) -> Image.Image:
    """Return ``img`` as 3-channel RGB: grayscale, CMYK and palette are converted, transparency lands on white.

    Introduced in notebook ``01_access``; the transform presets of ``02_transform`` start with it.
    """
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I") or img.mode == "F":  # 16-bit or float pixels: PIL's convert would clip them to 255
        return _to_8_bit(img).convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _to_8_bit(img: Image.Image) -> Image.Image:
    """A 16-bit (``I;16``, ``I``) or float (``F``) single-channel image as 8-bit grayscale, its range kept.

    Integers above 255 are taken as 16-bit (divided by 257); floats up to 1 as 0..1, larger ones clipped to 0..255.
    """
    x = np.asarray(img, dtype=np.float64)
    if img.mode == "F":
        x = x * 255 if np.nanmax(x, initial=0.0) <= 1.0 else x
    elif x.max(initial=0.0) > 255:
        x = x / 257
    return Image.fromarray(np.clip(np.nan_to_num(x), 0, 255).round().astype(np.uint8))  # 2-D uint8: mode "L"


#: What :func:`load_rgb` reads: a file path, the bytes of a file, an open binary file, or an already opened PIL image.
ImageSource = str | Path | bytes | bytearray | BinaryIO | Image.Image


def _source_name(source: ImageSource) -> str:
    """How an error names a source: its path, an open file's name, or what kind of object it is."""
    if isinstance(source, (str, Path)):
        return str(source)
    if isinstance(source, (bytes, bytearray)):
        return f"<{len(source)} bytes>"
    return str(getattr(source, "name", None) or f"<{type(source).__name__}>")


def upright(img: Image.Image) -> Image.Image:
    """Turn ``img`` the way its EXIF ``Orientation`` tag says a viewer shows it (a no-op without the tag).

    Phones store a portrait photo as landscape pixels plus a tag saying
    "rotate me"; ``Image.open`` ignores the tag. Introduced in notebook ``05_the_app``.
    """
    if img.getexif().get(ExifTags.Base.Orientation, 1) in (1, None):
        return img
    return ImageOps.exif_transpose(img)


def load_rgb(path: ImageSource, draft: int | None = None) -> Image.Image:
    """Open an image as a fully decoded, upright RGB PIL image; grayscale, CMYK, palette and RGBA become RGB.

    ``draft=S`` lets the JPEG decoder scale down by 1/2, 1/4 or 1/8 while
    decoding (``PIL.Image.draft``), keeping both sides >= S: several times
    faster when you will resize to S anyway (notebook ``03_load``).
    A missing, empty or corrupt file raises an error that names it.
    Introduced in notebook ``00_the_challenge`` (a first look at the pictures). Since notebook ``05_the_app`` it also
    reads bytes, open files and PIL images (the app decodes uploads in memory
    through the same code as training) and applies the EXIF orientation (:func:`upright`).
    """
    if isinstance(path, Image.Image):
        return to_rgb(upright(path))
    if not isinstance(path, (str, Path)):
        return _load_in_memory(path, draft)
    path = Path(path)
    try:
        return _decode(Image.open(path), draft)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing. {_remedy(path)}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        size = path.stat().st_size if isinstance(path, Path) and path.exists() else -1
        what = "is empty (0 bytes)" if size == 0 else f"is not a readable image ({exc})"
        if isinstance(exc, Image.DecompressionBombError):  # PIL's guard against a few bytes that claim gigapixels
            what = f"has too many pixels to decode safely ({exc})"
        delete = "Delete it. " if _in_the_dataset(path) else ""
        raise FlowersFormatError(f"{path} {what}: {delete}{_remedy(path)}") from exc


@contextlib.contextmanager
def _truncated_files(allowed: bool) -> Iterator[None]:
    """PIL's truncated-file check set for the block (off when ``allowed``), whatever the kernel set; restored after.

    The one home of ``ImageFile.LOAD_TRUNCATED_IMAGES`` in flowerkit: ``curate`` (notebook ``08_your_own_data``) decodes
    strictly under it, ``wild.truncated_images_allowed`` (notebook ``07_in_the_wild``) shows what allowing them does.
    """
    before = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = allowed
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before


def _in_the_dataset(path: Path) -> bool:
    """True for an image of the dataset itself (``flowers-102/jpg/...``), which the download or mini-flowers restores."""
    return path.parent.name == IMAGE_FOLDER and path.parent.parent.name == DATASET_FOLDER


def _remedy(path: Path) -> str:
    """How to get a good copy of an image: the dataset's own way for its files, the general one for any other file."""
    if _in_the_dataset(path):
        return _HOW_TO_GET
    return "Replace it with a good copy from where it came from, or leave it out of the dataset."


def _decode(img: Image.Image, draft: int | None) -> Image.Image:
    """Decode an opened image (at reduced size with ``draft``), upright and RGB; closes ``img``."""
    with img:
        if draft is not None and img.format == "JPEG":
            img.draft("RGB", (draft, draft))
        img.load()
        return to_rgb(upright(img))


def _load_in_memory(source: bytes | bytearray | BinaryIO, draft: int | None) -> Image.Image:
    """:func:`load_rgb` for bytes or an open binary file: the same decode, errors that name the source."""
    name = _source_name(source)
    stream = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray)) else source
    try:
        return _decode(Image.open(stream), draft)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FlowersFormatError(f"{name} is not a readable image ({exc})") from exc


class OxfordFlowers102(VisionDataset):
    """Oxford 102 Flowers, read correctly: (RGB PIL image, 0-based label) pairs for one split.

    Same conventions as ``torchvision.datasets.Flowers102`` (``root`` holds
    ``flowers-102/``; ``split`` is ``"train"``, ``"val"`` or ``"test"``), so
    the two can be swapped and compared item for item. Introduced in notebook
    ``01_access``, where it is built step by step.

    ``draft=S`` (not in torchvision) decodes JPEGs at reduced size, keeping
    both sides >= S: much faster when the transform resizes to S anyway
    (notebook ``03_load``). Attributes: ``image_ids`` (1-based ids),
    ``labels`` (0-based ints), ``image_files`` (paths), ``classes`` (102 names).
    """

    classes: list[str] = list(CLASSES)

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Callable[..., Any] | None = None,
        target_transform: Callable[..., Any] | None = None,
        download: bool = False,
        draft: int | None = None,
    ) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.draft = draft
        self.split = verify_str_arg(split, "split", SPLIT_NAMES, f"split must be one of {SPLIT_NAMES}, got {split!r}")
        base = Path(self.root) / DATASET_FOLDER
        if download:
            _download_flowers102(self.root)
        images = base / IMAGE_FOLDER
        if not images.is_dir():
            raise FileNotFoundError(
                f"{images} does not exist: no images under root={self.root!s}. root must be the folder that holds "
                f"'{DATASET_FOLDER}/'. {_HOW_TO_GET}"
            )
        all_labels = read_labels(base / LABELS_FILE)
        ids = read_splits(base / SETID_FILE)[split]
        if ids.size and ids.max() > all_labels.size:
            raise FlowersFormatError(
                f"{base / SETID_FILE}: split {split!r} refers to image id {ids.max()}, but "
                f"{base / LABELS_FILE} labels only {all_labels.size} images: the two files do not belong "
                f"together. {_HOW_TO_GET}"
            )
        self.image_ids: list[int] = ids.tolist()
        self.labels: list[int] = all_labels[ids - 1].tolist()
        self.image_files: list[Path] = [images / IMAGE_NAME.format(i) for i in self.image_ids]
        present = {e.name for e in os.scandir(images)}
        missing = [p for p in self.image_files if p.name not in present]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} of the {len(self.image_files)} {split} images are missing from {images}, "
                f"e.g. {', '.join(p.name for p in missing[:3])}. {_HOW_TO_GET}"
            )

    def __len__(self) -> int:
        return len(self.image_files)

    def _load_image(self, idx: int) -> Any:
        """Decode image ``idx``; subclasses change how (e.g. ``flowerkit.load.DecodedFlowers``)."""
        return load_rgb(self.image_files[idx], draft=self.draft)

    def __getitem__(self, idx: int) -> tuple[Any, Any]:
        try:
            image: Any = self._load_image(idx)
        except (OSError, ValueError) as exc:  # name the item too: the DataLoader re-raises this from a worker
            raise type(exc)(f"{self.split} item {idx} ({self.image_files[idx].name}): {exc}") from exc
        label: Any = self.labels[idx]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def extra_repr(self) -> str:
        return f"split={self.split}"


def _torchvision_files(dataset: Any) -> tuple[list[Path], list[int], str | None] | None:
    """Files, labels and split of a ``torchvision.datasets.Flowers102``, through its public API; None for other datasets.

    Its ``loader`` (a public attribute since torchvision 0.22) is swapped, on a shallow copy, for one that returns the
    path it is given, and its transforms for none: each item is then ``(path, label)``, nothing decoded. The split is
    what its ``extra_repr`` says. So the doctor and ``wild.SkipAndLog`` never read its private ``_image_files``,
    ``_labels`` or ``_split``, which a torchvision release may rename.
    """
    if not isinstance(dataset, Flowers102) or not callable(getattr(dataset, "loader", None)):
        return None
    probe = copy.copy(dataset)
    probe.loader, probe.transform, probe.target_transform = _same_path, None, None
    items = [probe[i] for i in range(len(probe))]
    return [Path(path) for path, _ in items], [int(label) for _, label in items], _torchvision_split(dataset)


def _torchvision_split(dataset: Any) -> str | None:
    """The split a ``torchvision.datasets.Flowers102`` states in its public ``extra_repr`` ("split=train"); else None."""
    if not isinstance(dataset, Flowers102):
        return None
    return dataset.extra_repr().partition("split=")[2].split(",")[0].strip() or None


def _same_path(path: Any) -> Any:
    """A ``loader`` that opens nothing (importable by name, unlike a lambda)."""
    return path


def torchvision_flowers102(root: str | Path, split: str = "train", **kwargs: Any) -> Any:
    """Open ``torchvision.datasets.Flowers102`` on ``root``; for mini-flowers, skip only its md5 check of the .mat files.

    torchvision checks the md5 of the *real* ``imagelabels.mat`` and
    ``setid.mat``: the real dataset opens through the public constructor as
    it is. mini-flowers has the same format but other contents, so when that
    check refuses the folder it is skipped (a patch of torchvision's private
    ``_check_integrity``, kept to this one place) and everything else runs
    unchanged. Introduced in notebook ``01_access``, to compare our Dataset with torchvision's.
    """
    try:
        return Flowers102(str(root), split=split, **kwargs)
    except RuntimeError as exc:  # "Dataset not found or corrupted": the md5 of the real .mat files
        if not hasattr(Flowers102, "_check_integrity"):
            raise RuntimeError(
                f"torchvision {torchvision.__version__}'s Flowers102 refused {root} (its md5 check of the real .mat files) "
                "and no longer has the private check flowerkit skips for mini-flowers: use the real dataset, or the "
                "torchvision version in constraints.txt"
            ) from exc
        with mock.patch.object(Flowers102, "_check_integrity", return_value=True):
            return Flowers102(str(root), split=split, **kwargs)
