"""Load (efficiency): fast decoding, a uint8 cache built once, batched fetch, and tuned DataLoaders.

Introduced in notebook ``03_load``. Where the time goes when feeding a model
from JPEGs, and what each fix buys:

* **decoding**: a 500x700 JPEG decoded in full and then shrunk to 64 px
  wastes most of the work; the JPEG decoder can scale in the DCT domain
  instead (:func:`decode_resized`): PIL's ``draft`` by 1/2, 1/4 or 1/8,
  libjpeg-turbo by any M/8 (see below);
* **per-sample work**: keep images uint8 until the batch, then convert and
  normalise once per batch (:class:`CollateNormalize`);
* **repeated work**: every epoch decodes the same files again; a pre-resized
  uint8 cache (:func:`build_cache`, memory-mapped) is decoded once;
* **fetching**: a cache can hand over a whole batch with one fancy index
  (``__getitems__``) instead of 64 separate reads;
* **the DataLoader**: workers about equal to cores, ``persistent_workers``,
  ``pin_memory`` only with a GPU, and seeded workers for reproducibility.

Which JPEG decoder (:func:`jpeg_decoder` says which is in use). libjpeg-turbo
scales by any M/8 while decoding, so a 500 px photo lands at 188 px for 128
(3/8) where PIL's ``draft`` stops at 250 (1/2): less to decode and less to
resample. It is reached through **simplejpeg**, a small package whose wheels
(Linux, macOS, Windows) bundle libjpeg-turbo, so ``pip install`` is all a
student needs; it exposes exactly this scaling (``min_height``/``min_width``)
and returns NumPy arrays. The alternatives weighed: *PyTurboJPEG* has the same
scaling but loads a system ``libturbojpeg`` through ctypes (a separate
apt/brew/installer step that breaks student installs); ``torchvision.io.decode_jpeg``
is libjpeg-turbo too but has no DCT scaling (a full decode, slower than PIL
``draft``); *pillow-simd* speeds up resizing, not decoding (``draft`` still
1/2^k), replaces Pillow itself and needs a compiler; OpenCV's reduced reads
are 1/2^k too and a large dependency. simplejpeg stays optional: without it,
or for a file it cannot read like PIL (CMYK/YCCK, not a JPEG, truncated or
corrupt), decoding goes through PIL ``draft``, so bad files raise the same
errors naming them. A JPEG whose EXIF tag says it is rotated also takes PIL's path, which
turns it upright like :func:`flowerkit.access.load_rgb` (``torchvision.datasets.Flowers102`` does not).
At the same scale they give identical pixels; at another (128 px: 3/8 vs 1/2)
they differ by about a level on average, so a cache records which one built it.

Everything a worker process must import (datasets, collate functions,
``worker_init_fn``) lives here, never in a notebook: under spawn or
forkserver (macOS, Windows, Python 3.14 Linux) workers import them by name.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import io
import json
import math
import os
import random
import shutil
import time
import types
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import PIL
import torch
from PIL import ExifTags, Image
from torch.utils.data import DataLoader, Dataset, get_worker_info
from torchvision.datasets import VisionDataset
from torchvision.datasets.utils import verify_str_arg
from tqdm.auto import tqdm

from .access import OxfordFlowers102, load_rgb
from .device import DeviceLoader, pick_device
from .facts import _STALE_PARTIAL_S, DEFAULT_SIZE, WORKER_TIMEOUT_S, cpu_count
from .paths import DATA_ENV, _partials, _written_whole, data_dir

try:  # optional: libjpeg-turbo's M/8 DCT scaling; without it decoding falls back to PIL draft
    import simplejpeg
except ImportError:  # pragma: no cover - exercised by forcing decoder="pil"
    simplejpeg = None

__all__ = [
    "CACHE_FORMAT",
    "JPEG_DECODERS",
    "CachedFlowers",
    "CollateNormalize",
    "DecodedFlowers",
    "WORKER_TIMEOUT_S",
    "build_cache",
    "cache_dir",
    "collate_uint8",
    "decode_recipe",
    "decoder_for",
    "decode_resized",
    "jpeg_decoder",
    "make_loader",
    "measure_throughput",
    "seed_worker",
]

CACHE_FORMAT = "flowerkit-cache-v2"  # build_s in the manifest is extra information: old caches stay valid
JPEG_DECODERS = ("simplejpeg", "pil")
# What a cache built with each decoder holds (part of its fingerprint). The PIL text is the one caches were built
# with before libjpeg-turbo's M/8 scaling arrived, so those caches stay valid.
_RECIPES = {
    "pil": "PIL draft to >=S, centre crop to a square, bilinear antialiased resize to SxS, uint8 RGB",
    "simplejpeg": "libjpeg-turbo M/8 DCT scaling to >=S (simplejpeg; PIL draft for files it cannot read), "
    "centre crop to a square, bilinear antialiased resize to SxS, uint8 RGB",
}
# JPEG colour spaces libjpeg-turbo turns into the same RGB as PIL; CMYK/YCCK (and anything else) go to PIL.
_TURBO_COLORSPACES = ("YCbCr", "Gray")


# --------------------------------------------------------------------------------------
# Decoding: libjpeg-turbo's M/8 DCT scaling when simplejpeg is installed, else PIL draft.
# --------------------------------------------------------------------------------------


def _resolve(decoder: str) -> str:
    """``"auto"`` -> the fastest decoder installed; ``"simplejpeg"``/``"pil"`` checked and returned."""
    if decoder == "auto":
        return "simplejpeg" if simplejpeg is not None else "pil"
    verify_str_arg(decoder, "decoder", JPEG_DECODERS, f"decoder must be 'auto' or one of {JPEG_DECODERS}, got {decoder!r}")
    if decoder == "simplejpeg" and simplejpeg is None:
        raise ModuleNotFoundError("decoder='simplejpeg' needs the simplejpeg package: pip install simplejpeg")
    return decoder


def decode_recipe(decoder: str = "auto") -> str:
    """What :func:`decode_resized` does with ``decoder``, in words: recorded in caches and in the app's artifact.

    Introduced in notebook ``03_load``; the artifact of notebook ``05_the_app`` stores it.
    """
    return _RECIPES[_resolve(decoder)]


def decoder_for(recipe: str) -> str:
    """The ``decoder=`` that reproduces ``recipe`` (a :func:`decode_recipe` string, as an artifact records it) here.

    An artifact trained with libjpeg-turbo on a machine where simplejpeg is
    missing is served with PIL ``draft``, with a warning: a small train/serve
    skew (the same picture, resampled from another scale at some sizes).
    A recipe this flowerkit does not know raises ValueError. Introduced in notebook ``05_the_app``.
    """
    decoders = [name for name, words in _RECIPES.items() if words == recipe]
    if not decoders:
        raise ValueError(f"unknown decode recipe {recipe!r}: it was written by another flowerkit version")
    if decoders[0] == "simplejpeg" and simplejpeg is None:
        warnings.warn(
            "the model was trained on images decoded with libjpeg-turbo (simplejpeg), which is not installed here: "
            "photos are decoded with PIL draft instead, which can differ by about a grey level (pip install simplejpeg)",
            RuntimeWarning,
            stacklevel=2,
        )
        return "pil"
    return decoders[0]


def jpeg_decoder(decoder: str = "auto") -> str:
    """Which JPEG decoder :func:`decode_resized` uses, in words, e.g. ``"libjpeg-turbo M/8 scaling (simplejpeg 1.9.0)"``.

    ``decoder="auto"`` (the default everywhere) picks libjpeg-turbo through
    simplejpeg when it is installed, else ``"PIL draft (Pillow x.y)"``;
    ``"pil"`` forces PIL, to compare the two. Introduced in notebook ``03_load``.
    """
    if _resolve(decoder) == "simplejpeg":
        return f"libjpeg-turbo M/8 scaling (simplejpeg {simplejpeg.__version__})"
    return f"PIL draft (Pillow {PIL.__version__})"


def _turbo_decode(path: Path | bytes, size: int) -> np.ndarray | None:
    """libjpeg-turbo decode at the smallest M/8 scale keeping both sides >= ``size``, as (H, W, 3) uint8.

    ``None`` when it cannot give today's pixels: not a JPEG (a PNG named .jpg),
    CMYK/YCCK, truncated or corrupt, missing. The caller then goes through PIL,
    which reads it the old way or raises the error that names the file.
    """
    try:
        data = path.read_bytes() if isinstance(path, Path) else path
        if simplejpeg.decode_jpeg_header(data)[2] not in _TURBO_COLORSPACES or _rotated(data):
            return None
        return simplejpeg.decode_jpeg(data, "rgb", min_height=size, min_width=size)
    except (OSError, ValueError):
        return None


def _rotated(data: bytes) -> bool:
    """Whether a JPEG carries an EXIF orientation other than "upright" (libjpeg-turbo ignores it; PIL's path applies it)."""
    if b"Exif" not in data[:65536]:
        return False
    with Image.open(io.BytesIO(data)) as img:
        return img.getexif().get(ExifTags.Base.Orientation, 1) not in (1, None)


def _decode_hwc(path: Path | bytes, size: int, decoder: str) -> np.ndarray:
    """The picture, decoded at reduced scale with both sides >= ``size``, as (H, W, 3) uint8 RGB."""
    if decoder == "simplejpeg":
        hwc = _turbo_decode(path, size)
        if hwc is not None:
            return hwc
    return np.array(load_rgb(path, draft=size))  # PIL draft; clear errors for bad files (a writable copy)


def _crop_resize(hwc: np.ndarray, size: int) -> torch.Tensor:
    """Centre crop to a square, then antialiased bilinear resize to (3, size, size), uint8.

    The crop is copied to a contiguous channels-last block first: PyTorch's
    vectorised uint8 resize kernel wants exactly that layout (about 1.4x
    faster than resizing a strided view).
    """
    h, w = hwc.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = torch.from_numpy(np.ascontiguousarray(hwc[top : top + side, left : left + side]))
    chw = square.permute(2, 0, 1)  # a view: channels-last memory
    if side != size:
        chw = torch.nn.functional.interpolate(chw[None], size=(size, size), mode="bilinear", antialias=True)[0]
    return chw.contiguous()


def decode_resized(path: str | Path | bytes | BinaryIO, size: int, *, decoder: str = "auto") -> torch.Tensor:
    """Decode a JPEG straight to a uint8 (3, size, size) tensor: reduced-scale decode, centre crop, antialiased resize.

    The same picture as resize-the-short-side-then-centre-crop (no
    distortion), in a fraction of the time. The JPEG decoder scales in the
    DCT domain, producing an image only just larger than ``size``:
    libjpeg-turbo (``decoder="simplejpeg"``, the default when installed) by
    any M/8, e.g. 3/8 takes a 500 px photo to 188 px for 128; PIL's ``draft``
    (``decoder="pil"``) only by 1/2, 1/4 or 1/8 (250 px for 128). The crop
    happens *before* resizing so only kept pixels are resampled, and the
    resize runs on a uint8 tensor in channels-last layout (PyTorch's
    vectorised antialiased kernel, about 2x faster than PIL's). Both decoders
    give the same picture within a level or two; files libjpeg-turbo cannot
    read like PIL (CMYK, not a JPEG, corrupt) go through PIL, so a bad file
    raises the same error naming it. ``path`` may also be the file's bytes or
    an open binary file (a member of a tar shard, notebook
    ``06_beyond_one_machine``). Introduced in notebook ``03_load``.
    """
    if isinstance(path, Image.Image):  # an upload already opened (notebook 05_the_app): PIL decodes it
        return _crop_resize(np.array(load_rgb(path)), size)
    return _crop_resize(_decode_hwc(_source(path), size, _resolve(decoder)), size)


def _source(path: str | Path | bytes | BinaryIO) -> Path | bytes:
    """A path as a Path, an open binary file as its bytes, bytes as they are."""
    if isinstance(path, (bytes, bytearray)):
        return bytes(path)
    if isinstance(path, (str, os.PathLike)):
        return Path(path)
    return path.read()


def _resized_decoder(decoder: str = "auto") -> Callable[[Path, int], torch.Tensor]:
    """:func:`decode_resized` with ``decoder`` fixed, as a function DataLoader workers can unpickle.

    For ``DecodedFlowers(..., decode=resized_decoder("pil"))`` or
    ``build_cache(..., decode=...)``: compare the decoders, or build a cache
    with PIL only.
    """
    _resolve(decoder)  # fail here, not in a worker
    return decode_resized if decoder == "auto" else functools.partial(decode_resized, decoder=decoder)


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
        size: int = DEFAULT_SIZE,
        *,
        decode: Callable[[Path, int], torch.Tensor] = decode_resized,
        **kwargs: Any,
    ) -> None:
        super().__init__(root, split, **kwargs)
        self.size, self.decode = size, decode

    @classmethod
    def of(cls, dataset: Any, size: int, decode: Callable[[Path, int], torch.Tensor] = decode_resized) -> DecodedFlowers:
        """The same files and labels as ``dataset`` (any Dataset with ``root``, ``split``, ``image_files``, ``labels``), decoded.

        Nothing is read from disk: a dataset's files and labels stay exactly as
        they were, paired as it pairs them.
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

    The storage is allocated in shared memory directly, as PyTorch's own
    ``default_collate`` does (``_new_shared``): ``share_memory_()`` on a new
    tensor would copy it there, a wasted pass over a 12 MiB float batch at 128 px.
    ``channels_last`` lays a (B, C, H, W) batch out in memory as (B, H, W, C)
    (same shape and values, other strides), the layout CPU convolution kernels run fastest on.
    """
    b, c, h, w = shape if channels_last else (0, 0, 0, 0)
    layout = (b, h, w, c) if channels_last else shape
    if get_worker_info() is not None:
        nbytes = math.prod(layout) * torch.empty((), dtype=dtype).element_size()
        new_shared = getattr(torch.UntypedStorage, "_new_shared", None)  # private: a later torch may drop it
        if new_shared is None:
            out = torch.empty(layout, dtype=dtype).share_memory_()  # public, one extra pass over the batch
        else:
            out = torch.empty(0, dtype=dtype).set_(new_shared(nbytes)).view(layout)
    else:
        out = torch.empty(layout, dtype=dtype)
    return out.permute(0, 3, 1, 2) if channels_last else out


# --------------------------------------------------------------------------------------
# The cache: uint8, memory-mapped, with a manifest of what it was built from.
# --------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where caches live: ``$FLOWERKIT_CACHE``, else ``<data_dir>/cache``. Introduced in notebook ``03_load``."""
    env = os.environ.get("FLOWERKIT_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    return data_dir() / "cache"


def _recipe(decode: Callable[[Path, int], torch.Tensor]) -> str:
    """What a cache built with ``decode`` contains: the decode recipe, or a function's name and first docstring line.

    :func:`decode_resized` (or :func:`_resized_decoder`) names the decoder it
    resolves to: libjpeg-turbo at 3/8 and PIL at 1/2 differ by a level or
    two, so caches built with each are kept apart rather than mixed. A ``functools.partial`` names its arguments, a
    callable object its attributes; a lambda or a function defined inside another is refused (TypeError).
    """
    if decode is decode_resized:
        return decode_recipe()
    if isinstance(decode, functools.partial):
        if decode.func is decode_resized and not decode.args and set(decode.keywords) <= {"decoder"}:
            return decode_recipe(decode.keywords.get("decoder", "auto"))
        return f"partial({_recipe(decode.func)}, {decode.args!r}, {sorted(decode.keywords.items())!r})"
    name = getattr(decode, "__qualname__", None) or type(decode).__qualname__
    if "<lambda>" in name or "<locals>" in name:
        raise TypeError(
            f"build_cache(decode=...): {name} has no name to keep a cache under (two lambdas would share one), and spawn "
            "workers cannot import it: define it with def at the top level of a module or notebook"
        )
    doc = (decode.__doc__ or "").strip().splitlines()
    settings = f" {sorted(vars(decode).items())!r}" if not hasattr(decode, "__qualname__") and hasattr(decode, "__dict__") else ""
    code = getattr(decode, "__code__", None)  # a function's body: an edited decode is a new recipe, not the old cache
    body = f" [{_code_digest(code)}]" if isinstance(code, types.CodeType) else ""
    return f"{decode.__module__}.{name}{settings}{body}: {doc[0] if doc else 'undocumented'}"


def _code_digest(code: types.CodeType) -> str:
    """8 hex digits that change when a function's body does (its bytecode, constants and names; nested code included).

    Stable across processes (no addresses), not across Python versions (whose bytecode differs: a rebuild then).
    """
    h = hashlib.sha1(code.co_code)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            h.update(_code_digest(const).encode())
        else:  # a frozenset's order follows the process's string hashing: sorted, so every kernel agrees
            h.update(repr(sorted(map(repr, const)) if isinstance(const, frozenset) else const).encode())
    h.update(repr((code.co_names, code.co_varnames)).encode())
    return h.hexdigest()[:8]


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


def _cached_or_none(
    data_path: Path, fingerprint: dict[str, Any], decode: Callable[[Path, int], torch.Tensor]
) -> CachedFlowers | None:
    """The cache at ``data_path`` if its manifest matches ``fingerprint``, else None (missing, stale or half-written)."""
    try:
        cached = CachedFlowers(data_path, expect=fingerprint)
    except (OSError, ValueError):
        return None
    cached.decode = decode
    return cached


def _reserve(tmp: Path, data_path: Path) -> None:
    """Claim the disk blocks of the new (sparse) cache file ``tmp`` now: a full disk is an error naming the file.

    Without it, writing into the memory map on a full disk kills the process with SIGBUS ("Bus error": a dead kernel,
    no message), as it did to this project's CI when the disk filled up (2026-12-05).
    """
    if not hasattr(os, "posix_fallocate"):  # Windows, macOS: the writes themselves meet the full disk
        return
    nbytes = tmp.stat().st_size
    with open(tmp, "r+b") as fh:
        try:
            os.posix_fallocate(fh.fileno(), 0, nbytes)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):  # a file system without it: nothing to claim early
                return
            raise OSError(
                exc.errno,
                f"no room for the cache {data_path.name}: it needs {nbytes / 2**20:,.0f} MiB in {data_path.parent} "
                f"({exc.strerror}). Free some disk space, or point ${DATA_ENV} at a disk with room, and run again",
            ) from exc


def _clear_stale_partials(data_path: Path) -> None:
    """Delete what killed builds of ``data_path`` left: full-size hidden files nothing else would ever remove."""
    for stale in _partials(data_path):
        with contextlib.suppress(OSError):  # another process's, just finished or removed
            if time.time() - stale.stat().st_mtime > _STALE_PARTIAL_S:
                stale.unlink()


def _write_images(
    decoded: DecodedFlowers, data_path: Path, *, num_workers: int, batch_size: int, desc: str, progress: bool
) -> None:
    """Decode every image into a temporary memory-mapped .npy, then rename it to ``data_path`` (never half-written)."""
    _clear_stale_partials(data_path)
    timeout = WORKER_TIMEOUT_S if num_workers > 0 else 0  # a stuck worker: an error, not a frozen kernel
    loader = DataLoader(decoded, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_uint8, timeout=timeout)
    size = decoded.size
    with _written_whole(data_path) as tmp:  # the file appears complete, or not at all
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(decoded), 3, size, size))
        _reserve(tmp, data_path)
        start = 0
        with tqdm(total=len(decoded), desc=desc, unit="img", disable=not progress) as bar:
            for images, _ in loader:
                out[start : start + len(images)] = images.numpy()
                start += len(images)
                bar.update(len(images))
        out.flush()
        del out


def _write_manifest(manifest_path: Path, fingerprint: dict[str, Any], dataset: Any, data_path: Path, build_s: float) -> None:
    """Write the manifest last, under a temporary name then renamed: its presence says the cache is complete."""
    manifest = {
        **fingerprint,
        "labels": list(map(int, dataset.labels)),
        "files": [os.path.abspath(path) for path in dataset.image_files],  # absolute (links kept): valid from any folder
        "bytes": data_path.stat().st_size,
        "build_s": round(build_s, 6),
    }
    with _written_whole(manifest_path) as tmp_manifest:  # two writers: each its own temporary name
        tmp_manifest.write_text(json.dumps(manifest))


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
    last, so an interrupted build is never used. The manifest also records
    the seconds the build took (:attr:`CachedFlowers.build_s`): a one-off
    decode, which notebook ``04_three_teams`` charges to a team's budget.
    Introduced in notebook ``03_load``.

    ``dataset`` may be any Dataset with ``root``, ``split``, ``image_files``
    and ``labels`` (e.g. a failed team's). ``decode(path, size)`` turns one
    file into a uint8 (3, size, size) tensor (default :func:`decode_resized`
    with the fastest decoder installed); a different recipe, the other JPEG
    decoder included, gets its own cache. ``name`` tells caches of the same
    split, size and recipe apart (e.g. ``"access-team"``), so they do not
    replace each other.
    """
    folder = Path(folder) if folder is not None else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fingerprint = _fingerprint(dataset, size, decode)
    data_path, manifest_path = _cache_paths(fingerprint, folder)
    if name:
        data_path, manifest_path = (p.with_name(f"{name}-{p.name}") for p in (data_path, manifest_path))
    cached = _cached_or_none(data_path, fingerprint, decode)
    if cached is not None:
        return cached
    manifest_path.unlink(missing_ok=True)  # from here on, the old cache is invalid
    decoded = DecodedFlowers.of(dataset, size, decode)
    desc = f"cache {name or dataset.split} {size}px"
    started = time.perf_counter()
    _write_images(decoded, data_path, num_workers=num_workers, batch_size=batch_size, desc=desc, progress=progress)
    _write_manifest(manifest_path, fingerprint, dataset, data_path, time.perf_counter() - started)
    cached = CachedFlowers(data_path, expect=fingerprint)
    cached.decode = decode
    return cached


class CachedFlowers(Dataset):
    """A split decoded once into a memory-mapped uint8 array; items are (uint8 (3, S, S) tensor, label).

    ``__getitems__`` gathers a whole batch with one fancy index, which the
    DataLoader uses when batching (PyTorch >= 2.1). ``transform`` (optional) is applied to each uint8 image,
    e.g. a random crop and flip for training. Introduced in notebook ``03_load``.

    It pickles as its path and settings only (under 1 KiB) and opens the memory map on first use, in the process
    that reads it (notebook ``07_in_the_wild``).
    """

    # Why lazily: pickling an open numpy.memmap copies all its data, which is what a spawn or forkserver worker would
    # otherwise receive, once per worker and per epoch (notebook 07's exercise 3 measures it; help() shows the docstring)

    def __init__(
        self,
        path: str | Path,
        *,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        expect: dict[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.transform = transform
        self.decode: Callable[[Path, int], torch.Tensor] | None = None  # set by build_cache: how each image was decoded
        self._images: np.ndarray | None = None
        self._read_manifest(expect)
        if self.images.shape != (self.manifest["n"], 3, self.size, self.size):
            raise ValueError(f"{self.path} holds {self.images.shape}, its manifest says {self.manifest['n']} images")

    def _read_manifest(self, expect: dict[str, Any] | None) -> None:
        """Read the manifest beside the data; refuse one that does not match ``expect``."""
        manifest_path = self.path.with_suffix(".json")
        manifest = json.loads(manifest_path.read_text())  # OSError/ValueError if missing or half-written
        if expect is not None and any(manifest.get(k) != v for k, v in expect.items()):
            raise ValueError(f"{self.path} was built from other files or settings; rebuild it with build_cache()")
        if expect is not None and not all(Path(f).is_absolute() for f in manifest.get("files", [])):
            # written by an older flowerkit, relative to the folder it ran in: wrong from any other folder
            raise ValueError(f"{self.path}'s manifest names its files relative to another folder; rebuild it")
        self.manifest = manifest
        self.labels: list[int] = manifest["labels"]
        self.size: int = manifest["size"]
        self.split: str = manifest["split"]
        self.root = Path(manifest["root"])
        self.image_files: list[Path] = [Path(f) for f in manifest.get("files", [])]  # what each image was decoded from
        #: Seconds the build took (decoding and writing every image), as timed when it was built; NaN if not recorded.
        self.build_s: float = float(manifest.get("build_s", "nan"))

    @property
    def images(self) -> np.ndarray:
        """The uint8 (N, 3, S, S) memory map, opened on first use in the process that reads it."""
        if self._images is None:
            try:
                self._images = np.load(self.path, mmap_mode="r")
            except ValueError as exc:  # e.g. "mmap length is greater than file size": cut short after its manifest
                raise ValueError(f"{self.path} is not a complete cache ({exc}); rebuild it with build_cache()") from exc
        return self._images

    def __getstate__(self) -> dict[str, Any]:
        """What a worker receives: the path, the settings and the manifest's fingerprint; never the memory map."""
        return {
            "path": self.path,
            "transform": self.transform,
            "decode": self.decode,
            "files_sha256": self.manifest["files_sha256"],
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path, self.transform, self.decode = state["path"], state["transform"], state["decode"]
        self._images = None
        self._read_manifest({"files_sha256": state["files_sha256"]})

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
        ``collate_fn``, the default one included, works unchanged; the pairs
        also carry the gathered batch itself (a :class:`_GatheredBatch`), so
        :class:`CollateNormalize` and :func:`collate_uint8` skip re-stacking it.
        """
        idx = np.asarray(indices)
        images = torch.from_numpy(self.images[idx])
        labels = [self.labels[i] for i in idx]
        if self.transform is not None:
            return [(self.transform(im), label) for im, label in zip(images, labels)]
        return _GatheredBatch(images, labels)


class _GatheredBatch(list):
    """A list of (image, label) pairs that also holds them already stacked: ``images`` (B, 3, S, S) and ``labels``.

    What :meth:`CachedFlowers.__getitems__` returns: a plain list to any
    ``collate_fn``, while the course's collate functions take ``images``
    as the batch instead of stacking 64 views of it again.
    """

    def __init__(self, images: torch.Tensor, labels: Sequence[int]) -> None:
        super().__init__(zip(images, labels))
        self.images, self.labels = images, list(labels)


# --------------------------------------------------------------------------------------
# Collation, workers and the loader.
# --------------------------------------------------------------------------------------


def _images_and_labels(batch: Sequence[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor | Sequence[torch.Tensor], torch.Tensor]:
    """A batch's images (already one tensor for a :class:`_GatheredBatch`, else a sequence) and int64 labels."""
    if isinstance(batch, _GatheredBatch):
        return batch.images, torch.as_tensor(batch.labels, dtype=torch.int64)
    images, labels = zip(*batch)
    return images, torch.as_tensor(labels, dtype=torch.int64)


def _fill(out: torch.Tensor, images: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """Write a batch (one tensor, or a sequence of images to stack) into ``out``, whatever its memory layout."""
    if isinstance(images, torch.Tensor):
        return out.copy_(images)
    if out.is_contiguous():
        return torch.stack(images, out=out)
    return out.copy_(torch.stack(images))


def collate_uint8(batch: Sequence[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``collate_fn``: stack (image, label) pairs into (images (B, 3, S, S), int64 labels (B,)), keeping the dtype.

    In a worker, the batch is written straight into shared memory, so sending
    it to the main process costs no extra copy; a batch the cache gathered in
    the main process is returned as it is. A module-level function, not
    a lambda, so worker processes can unpickle it. Introduced in notebook ``03_load``.
    """
    images, labels = _images_and_labels(batch)
    if isinstance(images, torch.Tensor) and get_worker_info() is None:
        return images, labels  # already one batch, and no process boundary to cross
    out = _new_batch((len(images), *images[0].shape), images[0].dtype)
    return _fill(out, images), labels


class CollateNormalize:
    """``collate_fn``: stack uint8 images into one batch, then convert and normalise the whole batch at once.

    Runs in the worker processes (so the main process stays free for the
    model), writing the float batch straight into shared memory. Without ``mean``/``std`` batches stay uint8.
    ``channels_last=True`` writes batches in channels-last memory layout
    (notebook ``04_three_teams``; the training loop, :func:`flowerkit.model.train` or :func:`flowerkit.model.train_for`,
    steps FlowerCNN channels-last whatever it is given, and convolutions on a CPU run about a quarter faster). A class, not a lambda, so worker processes can unpickle it.
    Normalising is ``x * (1 / (255 std)) - mean / std`` as in :func:`flowerkit.transform.normalize_batch`
    (the same floats), converting and scaling in one pass. Introduced in notebook ``03_load``.
    """

    def __init__(
        self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None, *, channels_last: bool = False
    ) -> None:
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        self.mean = tuple(mean) if mean is not None else None
        self.std = tuple(std) if std is not None else None
        self.channels_last = channels_last
        self._scale_shift: tuple[torch.Tensor, torch.Tensor] | None = None
        if self.mean is not None and self.std is not None:
            std_t = torch.as_tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
            self._scale_shift = (1.0 / (255.0 * std_t), torch.as_tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1) / std_t)

    def __call__(self, batch: Sequence[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        if self._scale_shift is None and not self.channels_last:
            return collate_uint8(batch)
        images, labels = _images_and_labels(batch)
        shape = (len(images), *images[0].shape)
        if self._scale_shift is None:
            return _fill(_new_batch(shape, images[0].dtype, channels_last=True), images), labels
        if not isinstance(images, torch.Tensor):
            images = torch.stack(images)  # uint8: a quarter of the float batch's bytes
        scale, shift = self._scale_shift
        out = _new_batch(shape, torch.float32, self.channels_last)
        return torch.mul(images, scale, out=out).sub_(shift), labels


#: Where Linux keeps the shared memory that batches cross from workers to the main process.
SHM = Path("/dev/shm")


def bytes_in_flight(num_workers: int, prefetch_factor: int, batch_size: int, item_shape: Sequence[int], itemsize: int) -> int:
    """Bytes of batches waiting in shared memory: workers x prefetch_factor batches, plus the one being used.

    ``item_shape`` is one image's shape (e.g. ``(3, 224, 224)``), ``itemsize`` its element's bytes
    (4 for float32, 1 for uint8). Introduced in notebook ``07_in_the_wild``; :func:`make_loader` uses it.
    """
    return (num_workers * prefetch_factor + 1) * batch_size * math.prod(item_shape) * itemsize


def shm_size() -> tuple[int, int] | None:
    """``(total, used)`` bytes of ``/dev/shm``, or None where there is none (macOS, Windows). Introduced in notebook ``07_in_the_wild``."""
    if not SHM.is_dir():
        return None
    usage = shutil.disk_usage(SHM)
    return usage.total, usage.used


#: A batch larger than any the course makes (256 images of 3 x 256 x 256 float32 is 192 MiB): with this much free
#: ``/dev/shm`` per batch in flight, :func:`make_loader` does not read an item to size its batches.
_LARGEST_BATCH = 256 * 2**20


def _first_image(dataset: Dataset) -> torch.Tensor | None:
    """Item 0's image, read with every random generator put back as it was; None if it cannot be read that way."""
    torch_state, py_state, np_state = torch.get_rng_state(), random.getstate(), np.random.get_state()
    try:
        item = dataset[0]
        image = item[0] if isinstance(item, (tuple, list)) else item
        return image if isinstance(image, torch.Tensor) else None
    except Exception:  # an iterable dataset, a bad first file: the workers will say what is wrong
        return None
    finally:
        torch.set_rng_state(torch_state)
        random.setstate(py_state)
        np.random.set_state(np_state)


def _workers_that_fit(dataset: Dataset, num_workers: int | None, batch_size: int, float_batches: bool) -> int:
    """The number of workers whose batches fit in ``/dev/shm``'s free space; warns when they do not.

    With ``num_workers=None`` it is one per core, fewer where ``/dev/shm`` is small (a container); a number asked
    for is kept, with a warning naming the bytes and the fixes (notebook ``07_in_the_wild``'s bus error). Item 0 is
    read (to size a batch) only where ``/dev/shm`` is small for the workers: reading it in the main process could open
    a file there before the workers start.
    """
    workers, shm = cpu_count() if num_workers is None else num_workers, shm_size()
    free = shm[0] - shm[1] if shm is not None else None
    if workers == 0 or free is None or free >= (2 * workers + 1) * _LARGEST_BATCH:
        return workers  # room for any plausible batch: the dataset is not touched
    image = _first_image(dataset)
    if image is None:
        return workers
    itemsize = 4 if float_batches else image.element_size()
    need = functools.partial(bytes_in_flight, prefetch_factor=2, batch_size=batch_size, item_shape=image.shape, itemsize=itemsize)
    if need(workers) <= free:
        return workers
    fit = max((n for n in range(workers) if need(n) <= free), default=0)
    kept = workers if num_workers is not None else fit
    warnings.warn(
        f"make_loader: {workers} workers keep about {need(workers) / 2**20:.0f} MiB of batches ({batch_size} x "
        f"{tuple(image.shape)} {'float32' if float_batches else str(image.dtype).removeprefix('torch.')}) in /dev/shm, which has "
        f"{free / 2**20:.0f} MiB free: a worker would die with 'Bus error'. "
        + (f"Using {kept} workers instead. " if kept != workers else "")
        + "Fixes: more shared memory (docker run --shm-size=2g), uint8 batches (normalize='device'), fewer workers "
        "or a smaller batch (notebook 07, section 6).",
        stacklevel=3,
    )
    return kept


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
    normalize: str = "worker",
    device: str | torch.device | None = None,
    timeout: float = WORKER_TIMEOUT_S,
) -> DataLoader | DeviceLoader:
    """A DataLoader with the course's defaults: seeded order and workers, batch-wise normalisation.

    ``num_workers=None`` uses the number of CPU cores the process may use, fewer if their batches would not fit in
    ``/dev/shm`` (a container's 64 MB; see :func:`_workers_that_fit`). With workers, a batch not ready within ``timeout``
    seconds raises an error (a dead or stuck worker, not a frozen kernel); without, it is 0, as DataLoader requires.
    ``persistent_workers`` defaults to True with workers (no re-spawn each epoch); ``pin_memory`` to True only when
    batches go to a CUDA GPU (:func:`flowerkit.device.pick_device`). The seeded generator makes a run repeat: whenever
    the loader starts its workers it draws a base seed from it, from which every worker seeds torch, ``random`` and
    NumPy (PyTorch does this) and the dataset's own generators (:func:`seed_worker`). With ``mean`` and ``std``, uint8
    batches come out normalised float32 (see :class:`CollateNormalize`).

    ``normalize`` says where: ``"worker"`` (in the worker processes, float32 batches cross shared memory) or
    ``"device"`` (uint8 batches cross shared memory and, pinned, the bus; converted and normalised on ``device``,
    default :func:`flowerkit.device.pick_device`): the loader is then a :class:`flowerkit.device.DeviceLoader` around
    the DataLoader, yielding batches already on the device. Introduced in notebook ``03_load``.
    """
    on_device = verify_str_arg(normalize, "normalize", ("worker", "device")) == "device"
    float_batches = not on_device and mean is not None and std is not None
    num_workers = _workers_that_fit(dataset, num_workers, batch_size, float_batches)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=collate_uint8 if on_device else CollateNormalize(mean, std, channels_last=channels_last),
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=num_workers > 0 and persistent_workers is not False,
        pin_memory=pick_device(device).type == "cuda" if pin_memory is None else pin_memory,  # pinned pages help a GPU copy only
        drop_last=drop_last,
        timeout=timeout if num_workers > 0 else 0,
        worker_init_fn=seed_worker,
    )
    return DeviceLoader(loader, device, mean, std, channels_last=channels_last) if on_device else loader


def _holders(dataset: Any) -> list[Any]:
    """``dataset`` and every dataset it wraps (through ``Subset.dataset`` and ``ConcatDataset.datasets``), each once."""
    found: list[Any] = []
    todo = [dataset]
    while todo:
        item = todo.pop(0)
        if any(item is seen for seen in found):
            continue
        found.append(item)
        todo += [item.dataset] if isinstance(item, torch.utils.data.Subset) else []
        todo += list(item.datasets) if isinstance(item, torch.utils.data.ConcatDataset) else []
    return found


def _reseeded(generator: np.random.Generator | torch.Generator | random.Random, seed: np.random.SeedSequence) -> Any:
    """A new generator of ``generator``'s kind (NumPy, torch or ``random``), seeded from ``seed``."""
    if isinstance(generator, np.random.Generator):
        return np.random.default_rng(seed)
    number = int(seed.generate_state(1, np.uint64)[0])
    if isinstance(generator, torch.Generator):
        return torch.Generator(device=generator.device).manual_seed(number)
    return random.Random(number)


def seed_worker(worker_id: int) -> None:
    """A ``worker_init_fn``: in a worker, every random generator its dataset keeps as an attribute gets a new seed.

    NumPy ``Generator``, ``torch.Generator`` and ``random.Random``
    attributes are replaced, on the dataset and on the datasets a ``Subset``
    or ``ConcatDataset`` wraps, each seeded from ``get_worker_info().seed``
    and its place among them. Outside a worker it does nothing.
    ``make_loader`` passes it; spawn workers can import it by name.
    Notebook ``03_load`` has the student write it first (exercise 5).
    """
    # Why: PyTorch seeds torch, random and NumPy's global generator in each worker, but a generator made in the
    # dataset's __init__ is pickled into every worker as it stands, so all workers would draw the same numbers.
    # get_worker_info().seed is base_seed + id: different per worker and per epoch, repeated by a seeded loader.
    info = get_worker_info()
    if info is None:
        return
    kinds = (np.random.Generator, torch.Generator, random.Random)
    found = [
        (owner, name)
        for owner in _holders(info.dataset)
        for name, value in getattr(owner, "__dict__", {}).items()
        if isinstance(value, kinds)
    ]
    for (owner, name), seed in zip(found, np.random.SeedSequence(info.seed).spawn(len(found))):
        setattr(owner, name, _reseeded(getattr(owner, name), seed))


def _batch_len(batch: Any) -> int:
    """Images in a batch: an (images, labels) pair, a tensor, or a plain count (from a ``collate_fn`` that only counts)."""
    if isinstance(batch, int):
        return batch
    return len(batch[0] if isinstance(batch, (tuple, list)) else batch)


def _synchronize(batch: Any) -> None:
    """Wait for the accelerator work queued for ``batch`` (a tensor, or a tuple/list whose first item is one)."""
    first = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
    if isinstance(first, torch.Tensor) and first.is_cuda:
        torch.cuda.synchronize(first.device)
    elif isinstance(first, torch.Tensor) and first.device.type == "mps":
        torch.mps.synchronize()


def measure_throughput(
    loader: Iterable[Any], batches: int | None = None, *, warmup: int = 1, min_seconds: float = 0.0
) -> dict[str, float]:
    """Images per second delivered by ``loader`` (after ``warmup`` batches), over ``batches`` batches or one epoch.

    With ``min_seconds``, it keeps reading past ``batches`` until that much
    time has passed (or the epoch ends): a window of a few milliseconds is at
    the mercy of one scheduling hiccup.

    Counts the images in each batch (the first element's first dimension, or
    the batch itself if it is an int, as from the benchmarks' ``count_items``).
    Returns ``{"images_per_s", "seconds", "images", "batches"}``. Introduced in
    notebook ``06_beyond_one_machine`` (shards against the files); notebook ``03_load`` times loaders through
    :func:`flowerkit.widgets.measure_loader`, which calls it.
    """
    it = iter(loader)
    batch = None
    for _ in range(warmup):
        batch = next(it, None)
    _synchronize(batch)  # a DeviceLoader's warm-up batch may still be on its way: not on the clock
    images, n, start, batch = 0, 0, time.perf_counter(), None
    for batch in it:
        images += _batch_len(batch)
        n += 1
        if batches is not None and n >= batches and time.perf_counter() - start >= min_seconds:
            break
    _synchronize(batch)  # a DeviceLoader's batch: the GPU's work is queued, not done
    seconds = time.perf_counter() - start
    return {"images_per_s": images / seconds if seconds > 0 else float("inf"), "seconds": seconds, "images": images, "batches": n}
