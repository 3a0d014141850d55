"""Load (efficiency): fast decoding, a uint8 cache built once, batched fetch, and tuned DataLoaders.

Introduced in notebook ``03_load``. Where the time goes when feeding a model
from JPEGs, and what each fix buys:

* **decoding**: a 500x700 JPEG decoded in full and then shrunk to 64 px
  wastes most of the work; PIL's ``draft`` mode lets the JPEG decoder scale by
  1/2, 1/4 or 1/8 in the DCT domain (:func:`decode_resized`);
* **per-sample work**: keep images uint8 until the batch, then convert and
  normalise once per batch (:class:`CollateNormalize`);
* **repeated work**: every epoch decodes the same files again; a pre-resized
  uint8 cache (:func:`build_cache`, memory-mapped) is decoded once;
* **fetching**: a cache can hand over a whole batch with one fancy index
  (``__getitems__``) instead of 64 separate reads;
* **the DataLoader**: workers about equal to cores, ``persistent_workers``,
  ``pin_memory`` only with a GPU, and seeded workers for reproducibility.

Everything a worker process must import (datasets, collate functions,
``worker_init_fn``) lives here, never in a notebook: under spawn or
forkserver (macOS, Windows, Python 3.14 Linux) workers import them by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, get_worker_info
from torchvision.datasets import VisionDataset
from tqdm.auto import tqdm

from .access import OxfordFlowers102, load_rgb
from .facts import cpu_count
from .paths import data_dir
from .transform import normalize_batch

__all__ = [
    "CACHE_FORMAT",
    "CachedFlowers",
    "CollateNormalize",
    "DecodedFlowers",
    "DraftDecodeOnly",
    "build_cache",
    "collate_uint8",
    "cache_dir",
    "count_items",
    "decode_resized",
    "make_loader",
    "measure_throughput",
    "seed_worker",
]

CACHE_FORMAT = "flowerkit-cache-v2"
DECODE_RECIPE = "PIL draft to >=S, centre crop to a square, bilinear antialiased resize to SxS, uint8 RGB"


def decode_resized(path: str | Path, size: int) -> torch.Tensor:
    """Decode a JPEG straight to a uint8 (3, size, size) tensor: draft decode, centre crop, antialiased resize.

    The same picture as resize-the-short-side-then-centre-crop (no
    distortion), in a fraction of the time: ``draft`` makes the JPEG decoder
    produce an image only just larger than ``size`` (scaling by 1/2, 1/4 or
    1/8 in the DCT domain), the crop happens *before* resizing so only kept
    pixels are resampled, and the resize runs on a uint8 tensor in
    channels-last layout (PyTorch's vectorised antialiased kernel, about 2x
    faster than PIL's). Introduced in notebook ``03_load``.
    """
    hwc = torch.from_numpy(np.array(load_rgb(path, draft=size), dtype=np.uint8))  # clear errors for bad files
    h, w = hwc.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    chw = hwc.permute(2, 0, 1)[:, top : top + side, left : left + side]  # a view: channels-last memory
    if side != size:
        chw = torch.nn.functional.interpolate(chw[None], size=(size, size), mode="bilinear", antialias=True)[0]
    return chw.contiguous()


class DecodedFlowers(OxfordFlowers102):
    """``OxfordFlowers102`` that decodes each JPEG straight to a uint8 (3, size, size) tensor (a fast first pass).

    A corrupt file raises an error naming the file *and* the index, which the
    DataLoader re-raises in the main process even when a worker met it.
    Introduced in notebook ``03_load``.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        size: int = 64,
        *,
        decode: Callable[[Path, int], torch.Tensor] = decode_resized,
        **kwargs: Any,
    ) -> None:
        super().__init__(root, split, **kwargs)
        self.size, self.decode = size, decode

    @classmethod
    def of(cls, dataset: Any, size: int, decode: Callable[[Path, int], torch.Tensor] = decode_resized) -> DecodedFlowers:
        """The same files and labels as ``dataset`` (any Dataset with ``root``, ``split``, ``image_files``, ``labels``), decoded.

        Nothing is read from disk: e.g. the Access team's mispaired files and
        labels stay exactly as they were (``flowerkit.teams``).
        """
        view = cls.__new__(cls)
        VisionDataset.__init__(view, dataset.root)  # root, no transforms
        view.draft, view.split = None, dataset.split
        view.image_files = list(dataset.image_files)
        view.labels = [int(label) for label in dataset.labels]
        view.image_ids = list(getattr(dataset, "image_ids", range(1, len(view.image_files) + 1)))
        view.size, view.decode = size, decode
        return view

    def _load_image(self, idx: int) -> torch.Tensor:
        return self.decode(self.image_files[idx], self.size)


def _new_batch(shape: tuple[int, ...], dtype: torch.dtype, channels_last: bool = False) -> torch.Tensor:
    """An empty tensor, in shared memory when called in a DataLoader worker (so sending it costs no copy).

    ``channels_last`` lays a (B, C, H, W) batch out in memory as (B, H, W, C)
    (same shape and values, other strides), the layout CPU convolution kernels run fastest on.
    """
    if channels_last:
        b, c, h, w = shape
        out = torch.empty((b, h, w, c), dtype=dtype).permute(0, 3, 1, 2)
    else:
        out = torch.empty(shape, dtype=dtype)
    if get_worker_info() is not None:
        out.untyped_storage().share_memory_()
    return out


# --------------------------------------------------------------------------------------
# The cache: uint8, memory-mapped, with a manifest of what it was built from.
# --------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where caches live: ``$FLOWERKIT_CACHE``, else ``<data_dir>/cache``."""
    env = os.environ.get("FLOWERKIT_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    return data_dir() / "cache"


def _recipe(decode: Callable[[Path, int], torch.Tensor]) -> str:
    """A decode function's name and the first line of its docstring: what a cache built with it contains."""
    if decode is decode_resized:
        return DECODE_RECIPE
    doc = (decode.__doc__ or "").strip().splitlines()
    return f"{decode.__module__}.{decode.__qualname__}: {doc[0] if doc else 'undocumented'}"


def _fingerprint(dataset: OxfordFlowers102, size: int, decode: Callable[[Path, int], torch.Tensor]) -> dict[str, Any]:
    """What a cache depends on: the files (names, sizes, mtimes), their labels, the size and the decode recipe."""
    h = hashlib.sha256()
    for path in dataset.image_files:
        path = Path(path)
        st = path.stat()
        h.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    h.update(json.dumps(list(map(int, dataset.labels))).encode())
    return {
        "format": CACHE_FORMAT,
        "root": str(Path(dataset.root).resolve()),
        "split": dataset.split,
        "size": size,
        "decode": _recipe(decode),
        "n": len(dataset),
        "files_sha256": h.hexdigest(),
    }


def _cache_paths(fingerprint: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """``<split>-<size>px-<key>.npy`` and ``.json``; the key hashes the root and the decode recipe.

    The key leaves the files out, so a changed dataset *replaces* its cache
    instead of leaving stale copies behind.
    """
    key = hashlib.sha1(f"{fingerprint['root']}|{fingerprint['decode']}".encode()).hexdigest()[:8]
    stem = f"{fingerprint['split']}-{fingerprint['size']}px-{key}"
    return folder / f"{stem}.npy", folder / f"{stem}.json"


def build_cache(
    dataset: OxfordFlowers102,
    size: int,
    *,
    folder: str | Path | None = None,
    num_workers: int = 0,
    batch_size: int = 64,
    progress: bool = True,
    decode: Callable[[Path, int], torch.Tensor] = decode_resized,
    name: str | None = None,
) -> CachedFlowers:
    """Decode every image of ``dataset`` once into a uint8 (N, 3, size, size) memory-mapped file; return it as a Dataset.

    The manifest beside the data records what it was built from (files,
    sizes, modification times, labels, size, decode recipe). A cache whose
    manifest still matches is reused without decoding anything; any change
    rebuilds it. The data is written under a temporary name and the manifest
    last, so an interrupted build is never used. Introduced in notebook ``03_load``.

    ``dataset`` may be any Dataset with ``root``, ``split``, ``image_files``
    and ``labels`` (e.g. a failed team's). ``decode(path, size)`` turns one
    file into a uint8 (3, size, size) tensor (default :func:`decode_resized`);
    a different recipe gets its own cache. ``name`` tells caches of the same
    split, size and recipe apart (e.g. ``"access-team"``), so they do not
    replace each other.
    """
    folder = Path(folder) if folder is not None else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fingerprint = _fingerprint(dataset, size, decode)
    data_path, manifest_path = _cache_paths(fingerprint, folder)
    if name:
        data_path, manifest_path = (p.with_name(f"{name}-{p.name}") for p in (data_path, manifest_path))
    try:
        cached = CachedFlowers(data_path, expect=fingerprint)
    except (OSError, ValueError):
        cached = None
    if cached is not None:
        cached.decode = decode
        return cached

    manifest_path.unlink(missing_ok=True)  # from here on, the old cache is invalid
    tmp = data_path.with_name(f".{data_path.name}.{uuid.uuid4().hex[:8]}.partial")
    decoded = DecodedFlowers.of(dataset, size, decode)
    loader = DataLoader(decoded, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_uint8)
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(decoded), 3, size, size))
        start = 0
        with tqdm(total=len(decoded), desc=f"cache {name or dataset.split} {size}px", unit="img", disable=not progress) as bar:
            for images, _ in loader:
                out[start : start + len(images)] = images.numpy()
                start += len(images)
                bar.update(len(images))
        out.flush()
        del out
        os.replace(tmp, data_path)
    finally:
        tmp.unlink(missing_ok=True)
    manifest = {
        **fingerprint,
        "labels": list(map(int, dataset.labels)),
        "files": [str(path) for path in dataset.image_files],
        "bytes": data_path.stat().st_size,
    }
    tmp_manifest = manifest_path.with_name(f".{manifest_path.name}.partial")
    tmp_manifest.write_text(json.dumps(manifest))
    os.replace(tmp_manifest, manifest_path)  # written last: the cache is complete
    cached = CachedFlowers(data_path, expect=fingerprint)
    cached.decode = decode
    return cached


class CachedFlowers(Dataset):
    """A split decoded once into a memory-mapped uint8 array; items are (uint8 (3, S, S) tensor, label).

    ``__getitems__`` gathers a whole batch with one fancy index, which the
    DataLoader uses when batching (PyTorch >= 2.1). ``transform`` (optional) is applied to each uint8 image,
    e.g. a random crop and flip for training. Introduced in notebook ``03_load``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        expect: dict[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        manifest_path = self.path.with_suffix(".json")
        manifest = json.loads(manifest_path.read_text())  # OSError/ValueError if missing or half-written
        if expect is not None and any(manifest.get(k) != v for k, v in expect.items()):
            raise ValueError(f"{self.path} was built from other files or settings; rebuild it with build_cache()")
        self.manifest = manifest
        self.images = np.load(self.path, mmap_mode="r")
        if self.images.shape != (manifest["n"], 3, manifest["size"], manifest["size"]):
            raise ValueError(f"{self.path} holds {self.images.shape}, its manifest says {manifest['n']} images")
        self.labels: list[int] = manifest["labels"]
        self.size: int = manifest["size"]
        self.split: str = manifest["split"]
        self.root = Path(manifest["root"])
        self.image_files: list[Path] = [Path(f) for f in manifest.get("files", [])]  # what each image was decoded from
        self.decode: Callable[[Path, int], torch.Tensor] | None = None  # set by build_cache: how each image was decoded
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def nbytes(self) -> int:
        """Size of the image data in bytes (on disk, and in memory once the OS has paged it in)."""
        return int(self.images.nbytes)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, int]:
        image = torch.from_numpy(np.array(self.images[idx]))
        if self.transform is not None:
            image = self.transform(image)
        return image, self.labels[idx]

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, int]]:
        """Batched fetch: one fancy index into the memory map for the whole batch, instead of one read per item.

        Returns (image, label) pairs (views into the gathered batch), so any
        ``collate_fn``, the default one included, works unchanged.
        """
        idx = np.asarray(indices)
        images = torch.from_numpy(self.images[idx])
        if self.transform is not None:
            return [(self.transform(im), self.labels[i]) for im, i in zip(images, idx)]
        return [(im, self.labels[i]) for im, i in zip(images, idx)]


# --------------------------------------------------------------------------------------
# Collation, workers and the loader.
# --------------------------------------------------------------------------------------


def collate_uint8(batch: Sequence[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``collate_fn``: stack (image, label) pairs into (images (B, 3, S, S), int64 labels (B,)), keeping the dtype.

    In a worker, the batch is written straight into shared memory, so sending
    it to the main process costs no extra copy. A module-level function, not
    a lambda, so worker processes can unpickle it. Introduced in notebook ``03_load``.
    """
    images, labels = zip(*batch)
    out = _new_batch((len(images), *images[0].shape), images[0].dtype)
    return torch.stack(images, out=out), torch.as_tensor(labels, dtype=torch.int64)


class CollateNormalize:
    """``collate_fn``: stack uint8 images into one batch, then convert and normalise the whole batch at once.

    Runs in the worker processes (so the main process stays free for the
    model), writing the float batch straight into shared memory. Without ``mean``/``std`` batches stay uint8.
    ``channels_last=True`` writes float batches in channels-last memory layout
    (notebook ``04_three_teams``: :func:`flowerkit.model.train` then converts the model to match, and convolutions
    on a CPU run about a quarter faster). A class, not a lambda, so worker processes can unpickle it.
    Introduced in notebook ``03_load``.
    """

    def __init__(
        self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None, *, channels_last: bool = False
    ) -> None:
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        self.mean = tuple(mean) if mean is not None else None
        self.std = tuple(std) if std is not None else None
        self.channels_last = channels_last

    def __call__(self, batch: Sequence[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mean is None or self.std is None:
            if not self.channels_last:
                return collate_uint8(batch)
            images, labels = zip(*batch)
            out = _new_batch((len(images), *images[0].shape), images[0].dtype, channels_last=True)
            return out.copy_(torch.stack(images)), torch.as_tensor(labels, dtype=torch.int64)
        images = torch.stack([image for image, _ in batch])
        labels = torch.as_tensor([label for _, label in batch], dtype=torch.int64)
        out = _new_batch(tuple(images.shape), torch.float32, self.channels_last)
        return normalize_batch(images, self.mean, self.std, out=out), labels


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed Python's and NumPy's RNGs in each worker from the loader's seed.

    PyTorch seeds ``torch`` in every worker; any NumPy or ``random`` use in a
    Dataset would otherwise repeat the same numbers in every worker (or every
    epoch under fork). Introduced in notebook ``03_load``.
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int = 64,
    shuffle: bool = False,
    num_workers: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    seed: int = 0,
    persistent_workers: bool | None = None,
    pin_memory: bool | None = None,
    drop_last: bool = False,
    channels_last: bool = False,
) -> DataLoader:
    """A DataLoader with the course's defaults: seeded order, seeded workers, batch-wise normalisation.

    ``num_workers=None`` uses the number of CPU cores the process may use.
    ``persistent_workers`` defaults to True when there are workers (no
    re-spawn each epoch); ``pin_memory`` defaults to True only when a CUDA
    GPU is present (pinning is wasted work otherwise). With ``mean`` and
    ``std``, uint8 batches come out normalised float32 (see :class:`CollateNormalize`).
    Introduced in notebook ``03_load``.
    """
    if num_workers is None:
        num_workers = cpu_count()
    if persistent_workers is None:
        persistent_workers = num_workers > 0
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=CollateNormalize(mean, std, channels_last=channels_last),
        generator=torch.Generator().manual_seed(seed),
        worker_init_fn=seed_worker if num_workers else None,
        persistent_workers=persistent_workers and num_workers > 0,
        pin_memory=pin_memory,
        drop_last=drop_last,
    )


def _batch_len(batch: Any) -> int:
    """Images in a batch: an (images, labels) pair, a tensor, or a plain count (see :func:`count_items`)."""
    if isinstance(batch, int):
        return batch
    return len(batch[0] if isinstance(batch, (tuple, list)) else batch)


def measure_throughput(loader: Iterable[Any], batches: int | None = None, *, warmup: int = 1) -> dict[str, float]:
    """Images per second delivered by ``loader`` (after ``warmup`` batches), over ``batches`` batches or one epoch.

    Counts the images in each batch (the first element's first dimension, or
    the batch itself if it is an int, as from :func:`count_items`).
    Returns ``{"images_per_s", "seconds", "images", "batches"}``. Introduced in
    notebook ``03_load``.
    """
    it = iter(loader)
    for _ in range(warmup):
        next(it, None)
    images, n, start = 0, 0, time.perf_counter()
    for batch in it:
        images += _batch_len(batch)
        n += 1
        if batches is not None and n >= batches:
            break
    seconds = time.perf_counter() - start
    return {"images_per_s": images / seconds if seconds > 0 else float("inf"), "seconds": seconds, "images": images, "batches": n}


class DraftDecodeOnly(Dataset):
    """Decode each JPEG with ``draft`` to about ``size`` and return nothing else: the ceiling for a first pass.

    Used by ``benchmarks/loading.py`` (``decode_limit``) and notebook ``03_load``
    to show how much of a first pass is pure decoding.
    """

    def __init__(self, files: Sequence[str | Path], size: int) -> None:
        self.files, self.size = [Path(f) for f in files], size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, idx: int) -> int:
        with Image.open(self.files[idx]) as img:
            img.draft("RGB", (self.size, self.size))
            img.load()
            return img.size[0] * img.size[1]


def count_items(batch: Sequence[Any]) -> int:
    """A ``collate_fn`` that returns only the number of items (for timing fetch without collation)."""
    return len(batch)
