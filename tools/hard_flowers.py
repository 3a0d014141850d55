"""hard-flowers: a stand-in for the *real* Oxford 102 download, hard to learn, packed as the real files.

Test and measurement infrastructure for the real route (issue 13), shared by
``tests/test_real_route.py`` and ``benchmarks/real_route.py``. It lives in
``tools/`` and not in the ``flowerkit`` package because no student needs it,
and not in ``tests/`` because the benchmark imports it too.

mini-flowers is built to be learnable in seconds (about 90% for the course's
small CNN); the real photos are not. To check that every notebook runs *and
tells the truth* on data where a small CNN lands far below 80%, this module
renders mini-flowers images and degrades each one: a random crop and zoom
(the flower may be cut), smaller flowers of other classes as clutter, a
random hue rotation (petal hues stop being a clean cue), saturation,
brightness and contrast changes, blur, sensor noise and a random JPEG
quality. The result is packed exactly as the real files are served:

    102flowers.tgz      jpg/image_00001.jpg ... (5 digits, 1-based)
    imagelabels.mat     labels (1, N) uint8, grouped by class, starts 77, ends 62
    setid.mat           trnid/valid/tstid (1, k) uint16, 10 + 10 per class, test the rest
    md5sums.txt         the md5 of the three files (md5sum format, for FLOWERKIT_CHECKSUMS)

Two sizes: ``full`` has the real dataset's 8,189 images (1,020 train,
1,020 val, 6,149 test, at least 20 test images per class); ``small`` has 11
test images per class (3,162 images: still more test than train images, as
in the real dataset) for CI. Built files are deterministic
and cached under ``<data_dir>/hard-flowers/<size>-v<VERSION>/``.

Command line (from the repository root)::

    python -m tools.hard_flowers build small|full     # prints the folder
    python -m tools.hard_flowers serve small|full     # serves it on 127.0.0.1 until Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import http.server
import json
import os
import shutil
import tarfile
import tempfile
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageStat

from flowerkit import synth
from flowerkit.facts import (
    ARCHIVE,
    IMAGE_FOLDER,
    IMAGE_NAME,
    LABELS_FILE,
    NUM_CLASSES,
    SETID_FILE,
    SPLIT_NAMES,
    SPLIT_VARIABLES,
    _md5sum,
    cpu_count,
)
from flowerkit.paths import data_dir

__all__ = [
    "CHECKSUMS_FILE",
    "SIZES",
    "VERSION",
    "HardSpec",
    "build",
    "hard_flowers",
    "layout",
    "main",
    "real_route_env",
    "render_hard",
    "serve",
]

VERSION = 2  # 2: the same recipe, 1.6x faster pixel degradation (rounding moves a level in 0.7% of values)
#: The md5 table written next to the three files, in ``md5sum`` format.
CHECKSUMS_FILE = "md5sums.txt"
_MARKER = ".hard-flowers.json"
_FIRST_CLASS, _LAST_CLASS = 77, 62  # the real file order starts with class 77 and ends with 62
_REAL_TEST_TOTAL = 6149  # tstid of the real dataset: 8189 images - 1020 train - 1020 val


@dataclass(frozen=True)
class HardSpec:
    """The knobs of a hard-flowers build: split sizes and how hard each degradation hits."""

    test_per_class: int | None = None  # None: the real 6,149 test images, at least 20 per class
    seed: int = 2024
    hue_shift_deg: float = 40.0  # each image's hue is rotated by up to this much either way
    min_crop_area: float = 0.35  # random crop keeps this fraction of the area or more
    max_blur: float = 3.0  # Gaussian blur radius in px at 500 px, uniform in 0..max
    max_noise: float = 14.0  # sensor noise sigma (0..255 scale), uniform in 2..max
    clutter: tuple[int, int] = (1, 4)  # distractor flowers of other classes per image (inclusive)


#: The two builds: the real dataset's size (for measuring) and a small one (for CI).
#: ``small`` keeps 11 test images per class, just enough that test outnumbers train as in the real dataset.
SIZES: dict[str, HardSpec] = {"full": HardSpec(), "small": HardSpec(test_per_class=11)}


def _test_counts(spec: HardSpec, rng: np.random.Generator) -> np.ndarray:
    """Test images per class: ``spec.test_per_class`` each, or the real total (6,149) with >= 20 each."""
    if spec.test_per_class is not None:
        return np.full(NUM_CLASSES, spec.test_per_class)
    weights = rng.lognormal(0.0, 0.8, size=NUM_CLASSES)  # uneven, as in the real dataset (20..238)
    extra = rng.multinomial(_REAL_TEST_TOTAL - 20 * NUM_CLASSES, weights / weights.sum())
    return 20 + extra


def layout(spec: HardSpec) -> synth._Layout:
    """Labels (file order grouped by class, 77 first, 62 last) and the three splits, as the real dataset has them."""
    rng = np.random.default_rng([spec.seed, 1])
    per_class = 20 + _test_counts(spec, rng)
    middle = [c for c in rng.permutation(NUM_CLASSES) + 1 if c not in (_FIRST_CLASS, _LAST_CLASS)]
    labels: list[int] = []
    ids_of: dict[int, np.ndarray] = {}
    for c in [_FIRST_CLASS, *middle, _LAST_CLASS]:
        ids_of[c] = np.arange(len(labels) + 1, len(labels) + 1 + per_class[c - 1])
        labels.extend([c] * int(per_class[c - 1]))
    splits: dict[str, list[int]] = {split: [] for split in SPLIT_NAMES}
    for c in range(1, NUM_CLASSES + 1):  # ordered by class, ids within a class shuffled
        ids = rng.permutation(ids_of[c])
        for split, part in zip(SPLIT_NAMES, (ids[:10], ids[10:20], ids[20:])):  # train, val, test
            splits[split].extend(part)
    arrays = {SPLIT_VARIABLES[split]: np.asarray(v, dtype=np.uint16) for split, v in splits.items()}
    return synth._Layout(labels=np.asarray(labels, dtype=np.uint8), **arrays)


# ----------------------------------------------------------------------------- rendering


def _crop_zoom(img: Image.Image, spec: HardSpec, rng: np.random.Generator) -> Image.Image:
    """Crop a random window (area >= ``min_crop_area``) and scale it back to the original size."""
    w, h = img.size
    area = rng.uniform(spec.min_crop_area, 1.0)
    aspect = np.exp(rng.uniform(-0.25, 0.25))
    cw = int(min(w, round(w * np.sqrt(area * aspect))))
    ch = int(min(h, round(h * np.sqrt(area / aspect))))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return img.resize((w, h), Image.Resampling.BILINEAR, box=(x, y, x + cw, y + ch))


def _add_clutter(
    img: Image.Image, label: int, recipes: list[synth._FlowerRecipe], spec: HardSpec, rng: np.random.Generator
) -> None:
    """Paste a few smaller flowers of *other* classes (soft round cut-outs) onto ``img``, in place."""
    w, h = img.size
    lo, hi = spec.clutter
    for k in range(int(rng.integers(lo, hi + 1))):
        other = int(rng.choice([c for c in range(NUM_CLASSES) if c != label - 1]))
        side = int(min(w, h) * rng.uniform(0.3, 0.55))
        small = synth._MiniFlowersSpec(short_side=side, long_side=(side, side))
        patch = synth._render_image(recipes[other], 100_000 + int(rng.integers(1 << 30)) + k, small)
        mask = Image.new("L", patch.size, 0)
        ImageDraw.Draw(mask).ellipse([side * 0.12, side * 0.12, side * 0.88, side * 0.88], fill=255)
        mask = mask.filter(ImageFilter.GaussianBlur(side * 0.05))
        img.paste(patch, (int(rng.integers(-side // 3, w - side // 2)), int(rng.integers(-side // 3, h - side // 2))), mask)


_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=np.float32)
_NOISE: dict[int, np.ndarray] = {}


def _colour_matrix(spec: HardSpec, rng: np.random.Generator) -> np.ndarray:
    """One 3x3 matrix (row vectors) that rotates the hue and scales saturation and contrast, at random."""
    angle = np.deg2rad(rng.uniform(-1, 1) * spec.hue_shift_deg)
    sat, contrast = rng.uniform(0.55, 1.15), rng.uniform(0.6, 1.2)
    c, s = np.cos(angle), np.sin(angle)
    rotate = np.array([[1, 0, 0], [0, c * sat, -s * sat], [0, s * sat, c * sat]], dtype=np.float32)
    return (np.linalg.inv(_YIQ) @ rotate @ _YIQ).T * contrast


def _noise_tile(seed: int) -> np.ndarray:
    """A fixed tile of unit Gaussian noise per seed (drawing fresh noise for every image is the slow part)."""
    if seed not in _NOISE:
        _NOISE[seed] = np.random.default_rng([seed, 9]).standard_normal((1024, 1024, 3), dtype=np.float32)
    return _NOISE[seed]


def _degrade_pixels(img: Image.Image, spec: HardSpec, rng: np.random.Generator) -> Image.Image:
    """Blur by a random radius, then recolour (hue, saturation, contrast, brightness) and add sensor noise."""
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0, spec.max_blur)))
    mean = np.asarray(ImageStat.Stat(img).mean, dtype=np.float32)  # from the histogram: 7x faster than NumPy's mean
    matrix = _colour_matrix(spec, rng)
    out = np.asarray(img, dtype=np.float32) @ matrix  # (rgb - mean) @ matrix + mean * k, in place where it can be
    out += mean * rng.uniform(0.65, 1.25) - mean @ matrix
    h, w = out.shape[:2]
    tile = _noise_tile(spec.seed)
    y, x = int(rng.integers(0, tile.shape[0] - h + 1)), int(rng.integers(0, tile.shape[1] - w + 1))
    out += tile[y : y + h, x : x + w] * np.float32(rng.uniform(2, spec.max_noise))
    return Image.fromarray(np.clip(out, 0, 255, out=out).astype(np.uint8))


def render_hard(label: int, image_id: int, spec: HardSpec, recipes: list[synth._FlowerRecipe]) -> Image.Image:
    """One hard image of class ``label`` (1-based): a mini-flowers render, cropped, cluttered, recoloured, blurred, noisy."""
    rng = np.random.default_rng([spec.seed, 7, image_id])
    img = synth._render_image(recipes[label - 1], image_id, synth._MiniFlowersSpec(seed=spec.seed, long_side=(500, 800)))
    img = _crop_zoom(img, spec, rng)
    _add_clutter(img, label, recipes, spec, rng)
    return _degrade_pixels(img, spec, rng)


def _render_chunk(args: tuple[Path, HardSpec, list[tuple[int, int]]]) -> int:
    folder, spec, items = args
    recipes = synth.class_recipes(synth.DEFAULT_SEED)  # the same classes as mini-flowers
    for image_id, label in items:
        quality = int(np.random.default_rng([spec.seed, 8, image_id]).integers(72, 92))
        render_hard(label, image_id, spec, recipes).save(folder / IMAGE_NAME.format(image_id), "JPEG", quality=quality)
    return len(items)


# ----------------------------------------------------------------------------- packing


def _pack(jpg: Path, archive: Path) -> None:
    """Write ``archive`` as the real one is: a gzipped tar of ``jpg/`` and its files, deterministic bytes."""

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        info.mode = 0o755 if info.isdir() else 0o644
        return info

    with open(archive, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
            tar.add(jpg, arcname=IMAGE_FOLDER, recursive=False, filter=clean)
            for path in sorted(jpg.iterdir()):
                tar.add(path, arcname=f"{IMAGE_FOLDER}/{path.name}", filter=clean)


def _render_all(jpg: Path, spec: HardSpec, labels: np.ndarray, workers: int) -> None:
    items = [(i + 1, int(c)) for i, c in enumerate(labels)]
    chunks = [(jpg, spec, items[i : i + 64]) for i in range(0, len(items), 64)]
    if workers <= 1:
        for chunk in chunks:
            _render_chunk(chunk)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_render_chunk, chunks))


def build(folder: Path, spec: HardSpec, *, workers: int | None = None) -> dict[str, str]:
    """Write the three files and ``md5sums.txt`` into ``folder`` (created); return {file name: md5}."""
    folder.mkdir(parents=True, exist_ok=True)
    lay = layout(spec)
    with tempfile.TemporaryDirectory(prefix="hard-flowers-", dir=folder) as scratch:
        jpg = Path(scratch) / IMAGE_FOLDER
        jpg.mkdir()
        _render_all(jpg, spec, lay.labels, workers or min(cpu_count(), 8))
        _pack(jpg, folder / ARCHIVE)
    made_by = {"platform": "flowerkit hard-flowers", "creator": "tools.hard_flowers"}  # the fixed header text
    (folder / LABELS_FILE).write_bytes(synth._mat_bytes({"labels": lay.labels[None, :]}, **made_by))
    (folder / SETID_FILE).write_bytes(
        synth._mat_bytes({k: getattr(lay, k)[None, :] for k in SPLIT_VARIABLES.values()}, **made_by)
    )
    md5 = {name: _md5sum(folder / name) for name in (ARCHIVE, LABELS_FILE, SETID_FILE)}
    (folder / CHECKSUMS_FILE).write_text("".join(f"{v}  {k}\n" for k, v in md5.items()))
    return md5


def _is_built(folder: Path, spec: HardSpec) -> bool:
    try:
        info = json.loads((folder / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    return info.get("spec") == json.loads(json.dumps(asdict(spec))) and all(
        (folder / name).is_file() and (folder / name).stat().st_size == size for name, size in info["sizes"].items()
    )


def hard_flowers(size: str = "small", root: Path | None = None, *, workers: int | None = None) -> Path:
    """Return a folder holding the built files of ``SIZES[size]``, building them on first use (cached)."""
    spec = SIZES[size]
    folder = Path(root or data_dir() / "hard-flowers") / f"{size}-v{VERSION}"
    if _is_built(folder, spec):
        return folder
    partial = folder.with_name(f".{folder.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        build(partial, spec, workers=workers)
        sizes = {p.name: p.stat().st_size for p in partial.iterdir() if p.is_file()}
        (partial / _MARKER).write_text(json.dumps({"spec": asdict(spec), "sizes": sizes}, indent=2) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(partial, folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


# ----------------------------------------------------------------------------- serving


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on 127.0.0.1 (a free port) in a thread; yield the mirror's base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def real_route_env(mirror: str, folder: Path, data: Path) -> dict[str, str]:
    """The environment that sends ``dataset_root("real")`` to ``mirror``, checked against ``folder``'s md5 table."""
    return {
        "FLOWERKIT_DATASET": "real",
        "FLOWERKIT_DATA": str(data),
        "FLOWERKIT_MIRRORS": mirror,
        "FLOWERKIT_CHECKSUMS": str(folder / CHECKSUMS_FILE),
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.hard_flowers build|serve small|full``."""
    parser = argparse.ArgumentParser(prog="python -m tools.hard_flowers", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["build", "serve"])
    parser.add_argument("size", choices=sorted(SIZES))
    args = parser.parse_args(argv)
    folder = hard_flowers(args.size)
    print(folder)
    if args.command == "serve":
        with serve(folder) as url, contextlib.suppress(KeyboardInterrupt):
            print("FLOWERKIT_MIRRORS=" + url)
            print(f"FLOWERKIT_CHECKSUMS={folder / CHECKSUMS_FILE}")
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
