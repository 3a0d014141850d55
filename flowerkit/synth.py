"""mini-flowers: a generated stand-in for Oxford 102 Flowers, in its exact on-disk format.

Introduced in notebook ``00_the_challenge``. The real dataset needs a download
that is not always possible (offline laptops, CI), so the course runs by
default on this generated dataset: the same file names, the same two MATLAB
files with the same variables, shapes and dtypes, the same split sizes
(notebook 00 looks at them). Each class is a *recipe*, a petal shape family,
a petal hue and a centre colour (:func:`class_recipes`).

Generation is deterministic (same seed, byte-identical files), idempotent
(complete data is reused) and atomic (it writes into a temporary folder and
renames it only when complete, so an interrupted run is never mistaken for
a finished one).
"""

# The quirks it copies (kept out of the docstring: help() would answer notebook 00's exercises and 02's hunt):
# * flowers-102/jpg/image_00001.jpg ... generic, 5-digit, 1-based names;
# * imagelabels.mat: labels of shape (1, N), uint8, values 1..102, file order grouped by class but *not* in class
#   order (starts 77, ends 62);
# * setid.mat: trnid/valid/tstid of shape (1, k), uint16, 1-based image ids ordered by class; 10 train and 10 val
#   images per class, the rest (a varying number per class) in test;
# * RGB JPEGs, shortest side 500 px, the other side 500-750 px, about 30-45 KiB.
# Colour and shape both carry class information, so a pipeline that throws either away (grayscale, distorting crops)
# visibly loses accuracy. Petal hues share one luma, so grayscale really erases them.

from __future__ import annotations

import colorsys
import contextlib
import io
import itertools
import json
import math
import os
import shutil
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageDraw
from scipy.io import savemat
from torchvision.datasets.utils import verify_str_arg
from tqdm.auto import tqdm

from .facts import (
    _STALE_PARTIAL_S,
    DATASET_FOLDER,
    IMAGE_FOLDER,
    IMAGE_NAME,
    LABELS_FILE,
    NUM_CLASSES,
    SETID_FILE,
    SPLIT_VARIABLES,
    _md5sum,
    cpu_count,
)
from .paths import data_dir

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; generation stays atomic without one
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CENTRE_COLOURS",
    "DEFAULT_SEED",
    "FAMILIES",
    "GENERATOR_VERSION",
    "PETAL_HUES",
    "class_recipes",
    "mini_flowers",
]

GENERATOR_VERSION = 1
DEFAULT_SEED = 102
MARKER = ".mini-flowers.json"

FAMILIES = ("round", "rays", "star", "cup", "dots", "ring")
PETAL_HUES = {"red": 0.0, "orange": 27.0, "yellow": 55.0, "pink": 325.0, "purple": 275.0, "blue": 215.0}
CENTRE_COLOURS = {"brown": (95, 55, 25), "gold": (250, 190, 30), "white": (248, 246, 236)}

# The real file order starts with class 77 and ends with class 62 (1-based).
_FIRST_CLASS, _LAST_CLASS = 77, 62
_PETAL_LUMA = 0.6  # every petal hue is scaled to this luma, so grayscale erases the hue


@dataclass(frozen=True)
class _FlowerRecipe:
    """What makes a mini-flowers class: petal shape family, petal hue and centre colour."""

    family: str
    hue: str
    centre: str

    def describe(self) -> str:
        """Say the recipe in words, e.g. ``'round petals, pink, gold centre'``."""
        shape = {
            "round": "round petals",
            "rays": "thin rays",
            "star": "pointed star",
            "cup": "cup",
            "dots": "cluster of dots",
            "ring": "ring",
        }[self.family]
        return f"{shape}, {self.hue}, {self.centre} centre"


@dataclass(frozen=True)
class _MiniFlowersSpec:
    """The knobs of a mini-flowers dataset; the defaults are what the course uses."""

    seed: int = DEFAULT_SEED
    train_per_class: int = 10
    val_per_class: int = 10
    test_per_class: tuple[int, int] = (10, 30)  # inclusive range, drawn per class
    short_side: int = 500
    long_side: tuple[int, int] = (500, 750)
    quality: int = 85
    num_classes: int = NUM_CLASSES

    def __repr__(self) -> str:
        """Short for the course's spec: help() shows the defaults of the functions that take it, and the per-class
        counts of the default are what notebook 00's exercise 1 has the student count."""
        if self == _MiniFlowersSpec():
            return "<the course's mini-flowers spec>"
        changed = {k: v for k, v in asdict(self).items() if v != getattr(_MiniFlowersSpec(), k)}
        return "_MiniFlowersSpec(" + ", ".join(f"{k}={v!r}" for k, v in changed.items()) + ")"

    def to_json(self) -> dict:
        """Return the spec plus the generator version, as stored in the marker file."""
        return {"generator_version": GENERATOR_VERSION, **asdict(self)}


def class_recipes(seed: int = DEFAULT_SEED, num_classes: int = NUM_CLASSES) -> list[_FlowerRecipe]:
    """Return the recipe of each class (index = 0-based label); distinct for every class. Introduced in notebook ``00_the_challenge``."""
    combos = list(itertools.product(FAMILIES, PETAL_HUES, CENTRE_COLOURS))
    order = np.random.default_rng([seed, 0]).permutation(len(combos))
    if num_classes > len(combos):
        raise ValueError(f"at most {len(combos)} distinct recipes, asked for {num_classes}")
    return [_FlowerRecipe(*combos[i]) for i in order[:num_classes]]


# --------------------------------------------------------------------------------------
# Layout: which image belongs to which class and split.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Labels (1-based, file order) and split ids (1-based, ordered by class); fields named as in ``setid.mat``.

    The dataset's two .mat files are written from one.
    """

    labels: np.ndarray  # (N,) uint8, 1..102
    trnid: np.ndarray  # uint16
    valid: np.ndarray
    tstid: np.ndarray


def _make_layout(spec: _MiniFlowersSpec) -> _Layout:
    """Decide the class of every image id and the three splits, as the real dataset lays them out.

    Grouped by class, 77 first and 62 last, 10 + 10 per class.
    """
    rng = np.random.default_rng([spec.seed, 1])
    n = spec.num_classes
    lo, hi = spec.test_per_class
    n_test = rng.integers(lo, hi + 1, size=n)
    per_class = spec.train_per_class + spec.val_per_class + n_test

    # File order: grouped by class, classes in a shuffled order (77 first, 62 last when n=102).
    middle = [c for c in rng.permutation(n) + 1 if c not in (_FIRST_CLASS, _LAST_CLASS)]
    class_order = [_FIRST_CLASS, *middle, _LAST_CLASS] if n == NUM_CLASSES else list(rng.permutation(n) + 1)

    labels: list[int] = []
    ids_of: dict[int, np.ndarray] = {}
    for c in class_order:
        start = len(labels) + 1
        ids_of[c] = np.arange(start, start + per_class[c - 1])
        labels.extend([c] * per_class[c - 1])

    train, val, test = (SPLIT_VARIABLES[split] for split in ("train", "val", "test"))
    splits: dict[str, list[int]] = {train: [], val: [], test: []}
    for c in range(1, n + 1):  # setid lists classes in label order, ids within a class unsorted
        ids = rng.permutation(ids_of[c])
        a, b = spec.train_per_class, spec.train_per_class + spec.val_per_class
        splits[train].extend(ids[:a])
        splits[val].extend(ids[a:b])
        splits[test].extend(ids[b:])
    return _Layout(
        labels=np.asarray(labels, dtype=np.uint8),
        **{k: np.asarray(v, dtype=np.uint16) for k, v in splits.items()},
    )


# --------------------------------------------------------------------------------------
# Rendering one image.
# --------------------------------------------------------------------------------------


def _petal_rgb(hue_deg: float, rng: np.random.Generator) -> np.ndarray:
    """An RGB colour (0..1) of the given hue whose luma is fixed, so grayscale cannot tell hues apart."""
    hue = ((hue_deg + rng.uniform(-6, 6)) % 360) / 360
    pure = np.array(colorsys.hsv_to_rgb(hue, 1.0, 1.0))
    luma = _PETAL_LUMA + rng.uniform(-0.03, 0.03)
    chroma = pure - pure @ np.array([0.299, 0.587, 0.114])
    # the largest saturation that keeps every channel inside 0..1, then a random fraction of it
    with np.errstate(divide="ignore"):
        limits = np.where(chroma > 0, (1 - luma) / chroma, np.where(chroma < 0, -luma / chroma, np.inf))
    return luma + chroma * limits.min() * rng.uniform(0.8, 0.95)


def _to255(rgb: np.ndarray | Sequence[float]) -> tuple[int, int, int]:
    r, g, b = (int(round(min(max(v, 0.0), 1.0) * 255)) for v in rgb)
    return (r, g, b)


def _ellipse(cx: float, cy: float, a: float, b: float, angle: float, n: int = 20) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = a * np.cos(t), b * np.sin(t)
    c, s = math.cos(angle), math.sin(angle)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


class _Canvas:
    """Draws in a flower-local frame: unit = flower radius, then rotation, foreshortening, translation."""

    def __init__(self, draw: ImageDraw.ImageDraw, cx: float, cy: float, radius: float, angle: float, squash: float):
        self.draw, self.cx, self.cy, self.r = draw, cx, cy, radius
        self.c, self.s, self.squash = math.cos(angle), math.sin(angle), squash

    def map(self, pts: np.ndarray) -> list[tuple[float, float]]:
        x, y = pts[:, 0] * self.r, pts[:, 1] * self.r
        xr, yr = self.c * x - self.s * y, (self.s * x + self.c * y) * self.squash
        return list(zip((xr + self.cx).tolist(), (yr + self.cy).tolist()))

    def poly(self, pts: np.ndarray, fill: tuple[int, int, int]) -> None:
        self.draw.polygon(self.map(pts), fill=fill)

    def disc(self, x: float, y: float, radius: float, fill: tuple[int, int, int], n: int = 18) -> None:
        self.poly(_ellipse(x, y, radius, radius, 0.0, n), fill)


def _shaded(canvas: _Canvas, outer: np.ndarray, inner: np.ndarray, petal: np.ndarray) -> None:
    """A petal in two tones: darker at its edge, lighter inside (cheap shading)."""
    canvas.poly(outer, _to255(petal * 0.72))
    canvas.poly(inner, _to255(petal * 1.0 + 0.06))


def _centre_disc(canvas: _Canvas, radius: float, centre: np.ndarray, rng: np.random.Generator) -> None:
    canvas.disc(0, 0, radius, _to255(centre * 0.7), n=24)
    canvas.disc(0, 0, radius * 0.82, _to255(centre), n=24)
    for _ in range(6):  # a few darker stamens for texture
        ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0, radius * 0.6)
        canvas.disc(dist * math.cos(ang), dist * math.sin(ang), radius * 0.12, _to255(centre * 0.8), n=8)


def _draw_round(canvas: _Canvas, petal: np.ndarray, centre: np.ndarray, rng: np.random.Generator) -> None:
    """Five to seven broad, rounded petals around a disc."""
    n = int(rng.integers(5, 8))
    for k in range(n):
        a = 2 * np.pi * k / n
        ca, sa = math.cos(a), math.sin(a)
        _shaded(canvas, _ellipse(0.55 * ca, 0.55 * sa, 0.46, 0.30, a), _ellipse(0.62 * ca, 0.62 * sa, 0.34, 0.21, a), petal)
    _centre_disc(canvas, 0.24, centre, rng)


def _draw_rays(canvas: _Canvas, petal: np.ndarray, centre: np.ndarray, rng: np.random.Generator) -> None:
    """Sixteen to twenty-two thin rays, like a daisy."""
    n = int(rng.integers(16, 23))
    for k in range(n):
        a = 2 * np.pi * k / n
        ca, sa = math.cos(a), math.sin(a)
        _shaded(canvas, _ellipse(0.56 * ca, 0.56 * sa, 0.46, 0.07, a, 12), _ellipse(0.6 * ca, 0.6 * sa, 0.36, 0.04, a, 12), petal)
    _centre_disc(canvas, 0.2, centre, rng)


def _draw_star(canvas: _Canvas, petal: np.ndarray, centre: np.ndarray, rng: np.random.Generator) -> None:
    """Five pointed kite-shaped petals."""
    kite = np.array([[0.1, -0.24], [1.0, 0.0], [0.1, 0.24], [0.0, 0.0]])
    for k in range(5):
        a = 2 * np.pi * k / 5
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        _shaded(canvas, kite @ rot.T, (kite * [0.8, 0.55] + [0.12, 0]) @ rot.T, petal)
    _centre_disc(canvas, 0.17, centre, rng)


_CUP = np.array(
    [
        [-0.62, -0.55],
        [-0.3, -0.2],
        [0.0, -0.7],
        [0.3, -0.2],
        [0.62, -0.55],
        [0.6, 0.05],
        [0.45, 0.45],
        [0.0, 0.68],
        [-0.45, 0.45],
        [-0.6, 0.05],
    ]
)


def _draw_cup(canvas: _Canvas, petal: np.ndarray, centre: np.ndarray, rng: np.random.Generator) -> None:
    """A tulip-like cup seen from the side, stamens rising out of it."""
    for x in (-0.3, 0.0, 0.3):  # stamens rising out of the cup, tipped with the centre colour
        canvas.poly(np.array([[x - 0.03, -0.1], [x + 0.03, -0.1], [x + 0.03, -0.78], [x - 0.03, -0.78]]), _to255(centre * 0.6))
        canvas.disc(x, -0.8, 0.12, _to255(centre))
    canvas.poly(_CUP, _to255(petal * 0.72))
    canvas.poly(_CUP * [0.78, 0.82] + [0, 0.04], _to255(petal + 0.06))
    canvas.disc(0, 0.2, 0.16, _to255(centre))  # a blotch of the centre colour on the cup


def _draw_dots(canvas: _Canvas, petal: np.ndarray, centre: np.ndarray, rng: np.random.Generator) -> None:
    """A cluster of 34 small florets on a golden-angle spiral, the inner ones in the centre colour."""
    n = 34
    golden = np.pi * (3 - math.sqrt(5))
    for k in range(n - 1, -1, -1):
        r = 0.88 * math.sqrt((k + 0.5) / n)
        a = k * golden
        colour = centre if r < 0.32 else petal
        canvas.disc(r * math.cos(a), r * math.sin(a), 0.15, _to255(colour * 0.72), n=12)
        canvas.disc(r * math.cos(a) - 0.02, r * math.sin(a) - 0.02, 0.1, _to255(colour + 0.06), n=12)


def _draw_ring(canvas: _Canvas, petal: np.ndarray, centre: np.ndarray, rng: np.random.Generator) -> None:
    """A ring of fourteen round petals around a large disc."""
    n = 14
    for k in range(n):
        a = 2 * np.pi * k / n
        canvas.disc(0.7 * math.cos(a), 0.7 * math.sin(a), 0.25, _to255(petal * 0.72))
    for k in range(n):
        a = 2 * np.pi * k / n
        canvas.disc(0.68 * math.cos(a), 0.68 * math.sin(a), 0.17, _to255(petal + 0.06))
    _centre_disc(canvas, 0.5, centre, rng)


_DRAW = {"round": _draw_round, "rays": _draw_rays, "star": _draw_star, "cup": _draw_cup, "dots": _draw_dots, "ring": _draw_ring}


def _draw_flower(canvas: _Canvas, family: str, petal: np.ndarray, centre: np.ndarray, rng: np.random.Generator) -> None:
    """Draw the flower head of one shape family (see :data:`FAMILIES`)."""
    verify_str_arg(family, "family", FAMILIES, f"unknown family {family!r}: choose one of {FAMILIES}")
    _DRAW[family](canvas, petal, centre, rng)


def _background(w: int, h: int, rng: np.random.Generator) -> Image.Image:
    """A soft, out-of-focus garden: blotches of foliage greens and a few bokeh lights."""
    base_hue = rng.uniform(0.2, 0.38)
    coarse = np.empty((4, 5, 3))
    for idx in np.ndindex(4, 5):
        coarse[idx] = colorsys.hsv_to_rgb(base_hue + rng.uniform(-0.05, 0.05), rng.uniform(0.35, 0.7), rng.uniform(0.2, 0.55))
    img = Image.fromarray(_as_uint8(coarse)).resize((w, h), Image.Resampling.BICUBIC)
    bokeh = Image.new("L", (w // 4, h // 4), 0)
    bd = ImageDraw.Draw(bokeh)
    for _ in range(int(rng.integers(3, 9))):
        x, y, r = rng.uniform(0, w / 4), rng.uniform(0, h / 4), rng.uniform(3, 10)
        bd.ellipse([x - r, y - r, x + r, y + r], fill=int(rng.uniform(20, 60)))
    light = Image.new("RGB", (w, h), _to255(colorsys.hsv_to_rgb(base_hue, 0.3, 0.9)))
    return Image.composite(light, img, bokeh.resize((w, h), Image.Resampling.BICUBIC))


def _as_uint8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.round(a * 255), 0, 255).astype(np.uint8)


def _draw_stem_and_leaves(
    draw: ImageDraw.ImageDraw, cx: float, cy: float, radius: float, h: int, rng: np.random.Generator
) -> None:
    green = np.array(colorsys.hsv_to_rgb(rng.uniform(0.25, 0.33), rng.uniform(0.55, 0.8), rng.uniform(0.35, 0.55)))
    bend = rng.uniform(-0.6, 0.6) * radius
    t = np.linspace(0, 1, 10)
    xs = cx + bend * np.sin(t * np.pi / 2) + rng.uniform(-0.3, 0.3) * radius * t
    ys = cy + (h + 10 - cy) * t
    width = max(2, int(radius * 0.08))
    draw.line(list(zip(xs.tolist(), ys.tolist())), fill=_to255(green * 0.8), width=width, joint="curve")
    for _ in range(int(rng.integers(1, 3))):
        k = int(rng.integers(4, 9))
        side = rng.choice([-1.0, 1.0])
        angle = -np.pi / 2 + side * rng.uniform(0.5, 1.1)
        length = radius * rng.uniform(0.45, 0.7)
        lx, ly = xs[k] + math.cos(angle) * length * 0.9, ys[k] + math.sin(angle) * length * 0.9
        leaf = _ellipse(lx, ly, length, length * 0.28, angle, 16)
        draw.polygon([tuple(p) for p in leaf.tolist()], fill=_to255(green))
        draw.line(
            [(xs[k], ys[k]), (lx + math.cos(angle) * length * 0.8, ly + math.sin(angle) * length * 0.8)],
            fill=_to255(green * 0.75),
            width=1,
        )


_NOISE: dict[int, np.ndarray] = {}


def _grain(seed: int) -> np.ndarray:
    """A fixed tile of sensor grain, shared by all images of one seed (cheap, deterministic)."""
    if seed not in _NOISE:
        _NOISE[seed] = np.random.default_rng([seed, 2]).normal(0, 4.0, size=(800, 800, 3)).astype(np.int16)
    return _NOISE[seed]


def _render_image(recipe: _FlowerRecipe, image_id: int, spec: _MiniFlowersSpec = _MiniFlowersSpec()) -> Image.Image:
    """Render one flower photo (an RGB PIL image) of the given class recipe, deterministically from the id."""
    rng = np.random.default_rng([spec.seed, 3, image_id])
    long = int(rng.integers(spec.long_side[0], spec.long_side[1] + 1))
    landscape = rng.random() < 0.6
    W, H = (long, spec.short_side) if landscape else (spec.short_side, long)
    w, h = W // 2, H // 2  # draw at half size; the upscale softens edges like a lens would

    img = _background(w, h, rng)
    draw = ImageDraw.Draw(img)
    short = min(w, h)
    radius = short * rng.uniform(0.28, 0.4)
    cx = w / 2 + rng.uniform(-0.12, 0.12) * short
    cy = h / 2 + rng.uniform(-0.12, 0.08) * short
    _draw_stem_and_leaves(draw, cx, cy, radius, h, rng)

    petal = _petal_rgb(PETAL_HUES[recipe.hue], rng)
    centre = np.array(CENTRE_COLOURS[recipe.centre]) / 255 * rng.uniform(0.92, 1.05)
    if recipe.family == "cup":
        angle, squash = rng.uniform(-0.25, 0.25), 1.0
    else:
        angle, squash = rng.uniform(0, 2 * np.pi), rng.uniform(0.82, 1.0)
    _draw_flower(_Canvas(draw, cx, cy, radius, angle, squash), recipe.family, petal, centre, rng)

    big = img.resize((W, H), Image.Resampling.BICUBIC)
    arr = np.asarray(big, dtype=np.int16)
    gain = rng.uniform(0.82, 1.12) * (1 + rng.uniform(-0.04, 0.04, size=3))  # lighting and white balance
    arr = arr * gain
    grain = _grain(spec.seed)
    oy, ox = int(rng.integers(0, grain.shape[0] - H + 1)), int(rng.integers(0, grain.shape[1] - W + 1))
    arr = arr + grain[oy : oy + H, ox : ox + W]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


# --------------------------------------------------------------------------------------
# Writing the dataset.
# --------------------------------------------------------------------------------------


def _render_chunk(args: tuple[Path, _MiniFlowersSpec, list[tuple[int, _FlowerRecipe]]]) -> int:
    folder, spec, items = args
    for image_id, recipe in items:
        img = _render_image(recipe, image_id, spec)
        img.save(folder / IMAGE_NAME.format(image_id), format="JPEG", quality=spec.quality)
    return len(items)


def _mat_bytes(
    variables: dict[str, np.ndarray], *, platform: str = "flowerkit mini-flowers", creator: str = "flowerkit.synth"
) -> bytes:
    """A MATLAB v5 file with a fixed header (scipy writes the creation time; that would break determinism).

    The one MATLAB writer of the project: ``tools/hard_flowers.py`` writes its stand-in's files with it too, under its
    own ``platform`` and ``creator`` (the 116-byte header text; the rest of the file is scipy's).
    """
    buf = io.BytesIO()
    savemat(buf, variables, format="5", oned_as="row")
    data = bytearray(buf.getvalue())
    header = f"MATLAB 5.0 MAT-file, Platform: {platform}, Created by: {creator}".encode()
    data[:116] = header.ljust(116, b" ")
    return bytes(data)


def _is_generated(folder: Path, spec: _MiniFlowersSpec = _MiniFlowersSpec()) -> bool:
    """Whether ``folder`` (a ``flowers-102`` folder) holds a finished mini-flowers made from ``spec``."""
    marker = folder / MARKER
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if info.get("spec") != json.loads(json.dumps(spec.to_json())):
        return False
    for name, md5 in info.get("md5", {}).items():
        if not (folder / name).is_file() or _md5sum(folder / name) != md5:
            return False
    jpg = folder / IMAGE_FOLDER
    try:
        n_files = sum(1 for e in os.scandir(jpg) if e.name.endswith(".jpg"))
    except OSError:
        return False
    return n_files == info.get("n_images")


LOCK_FILE = ".mini-flowers.lock"
LOCK_TIMEOUT_ENV = "FLOWERKIT_LOCK_TIMEOUT_S"
LOCK_TIMEOUT_S = 600.0  # how long a second process waits for a running generation before it gives up
_POLL_S = 0.5
# File descriptors of the locks this process holds: a forked pool worker closes its copies at once (see
# _worker_init), so only this process keeps the lock alive, and the kernel releases it the moment it dies.
_held_lock_fds: set[int] = set()


def _lock_timeout() -> float:
    value = os.environ.get(LOCK_TIMEOUT_ENV, "")
    try:
        return float(value) if value.strip() else LOCK_TIMEOUT_S
    except ValueError:
        raise ValueError(f"${LOCK_TIMEOUT_ENV} must be a number of seconds, not {value!r}") from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _holder(path: Path) -> str:
    """Who holds the lock, from what the holder wrote into the lock file."""
    try:
        info = json.loads(path.read_text() or "{}")
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return "an unknown process (its lock file names no pid)"
    since = time.strftime("%H:%M:%S", time.localtime(float(info.get("since", 0))))
    who = f"pid {pid} on {info.get('host', '?')}, since {since}"
    if info.get("host") == socket.gethostname() and not _pid_alive(pid):
        who += (
            f" (pid {pid} is no longer running: processes it left behind still hold the lock;"
            f" `fuser -v {path}` or `lsof {path}` names them, kill them)"
        )
    return who


def _acquire(fh: IO[str], path: Path, doing: str) -> None:
    """Take the lock on ``fh``, saying who holds it while waiting, and give up after the timeout."""
    timeout, waited, told = _lock_timeout(), 0.0, False
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if waited >= timeout:
            raise TimeoutError(
                f"gave up after {waited:.0f} s waiting for {path}: it is held by {_holder(path)}, which is {doing}. "
                "Let it finish, or stop it and run again "
                f"(${LOCK_TIMEOUT_ENV} sets how long to wait, now {timeout:g} s)."
            )
        if not told:
            print(f"waiting for {path}: held by {_holder(path)} (giving up after {timeout:g} s)", file=sys.stderr, flush=True)
            told = True
        time.sleep(_POLL_S)
        waited += _POLL_S


@contextlib.contextmanager
def _lock(root: Path, name: str = LOCK_FILE, doing: str | None = None) -> Iterator[None]:
    """Hold an exclusive lock (the file ``root / name``) so two processes never write into ``root`` at once.

    The lock file says who holds it (pid, host, since when); ``doing`` says what the holder does, for the message of
    a process that waits. Waiting is bounded by ``$FLOWERKIT_LOCK_TIMEOUT_S`` (default 600 s). Also what the
    download (``dataset_root("real")``) holds, so two notebooks started together fetch the files once.
    """
    root.mkdir(parents=True, exist_ok=True)
    path = root / name
    with open(path, "a+") as fh:  # "a+", not "w": opening must not erase the holder's pid
        if fcntl is None:  # Windows: no lock, generation is still atomic
            yield
            return
        _acquire(fh, path, doing or f"generating mini-flowers into {root}")
        _held_lock_fds.add(fh.fileno())
        try:
            fh.truncate(0)
            fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}) + "\n")
            fh.flush()
            yield
        finally:
            _held_lock_fds.discard(fh.fileno())
            fh.truncate(0)
            fh.flush()
            fcntl.flock(fh, fcntl.LOCK_UN)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_POLL_S)
    os._exit(1)  # the generating process died (killed, kernel restarted): do not outlive it


def _worker_init(parent: int) -> None:
    """Run first in each pool worker: drop the inherited lock, and exit when the parent process dies."""
    for fd in list(_held_lock_fds):
        with contextlib.suppress(OSError):
            os.close(fd)
    _held_lock_fds.clear()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="flowerkit-parent-watch").start()


def _generate(
    folder: Path, spec: _MiniFlowersSpec = _MiniFlowersSpec(), *, workers: int | None = None, progress: bool = True
) -> None:
    """Write a complete mini-flowers into ``folder`` (which must not exist yet)."""
    layout = _make_layout(spec)
    recipes = class_recipes(spec.seed, spec.num_classes)
    jpg = folder / IMAGE_FOLDER
    jpg.mkdir(parents=True)
    items = [(i + 1, recipes[int(c) - 1]) for i, c in enumerate(layout.labels)]
    chunks = [(jpg, spec, items[i : i + 50]) for i in range(0, len(items), 50)]
    workers = workers or min(cpu_count(), 8)
    with tqdm(total=len(items), desc="mini-flowers", unit="img", disable=not progress) as bar:
        if workers <= 1:
            for chunk in chunks:
                bar.update(_render_chunk(chunk))
        else:
            with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init, initargs=(os.getpid(),)) as pool:
                for done in pool.map(_render_chunk, chunks):
                    bar.update(done)

    md5 = {}
    for name, variables in (
        (LABELS_FILE, {"labels": layout.labels}),
        (SETID_FILE, {var: getattr(layout, var) for var in SPLIT_VARIABLES.values()}),
    ):
        data = _mat_bytes(variables)
        (folder / name).write_bytes(data)
        md5[name] = _md5sum(folder / name)
    info = {"spec": spec.to_json(), "n_images": len(items), "md5": md5}
    (folder / MARKER).write_text(json.dumps(info, indent=2) + "\n")  # written last: the folder is complete


def mini_flowers(
    root: str | Path | None = None,
    spec: _MiniFlowersSpec = _MiniFlowersSpec(),
    *,
    progress: bool = True,
    workers: int | None = None,
) -> Path:
    """Make sure mini-flowers exists under ``root`` and return ``root``.

    The return value is what ``OxfordFlowers102(root)`` and
    ``torchvision.datasets.Flowers102(root)`` expect: the folder that holds
    ``flowers-102/``. ``root=None`` means ``<data_dir>/mini`` (see
    :func:`flowerkit.paths.data_dir`). Complete data made from the same spec
    is reused without rendering anything; otherwise the dataset is generated
    in a temporary folder and renamed into place when finished.

    Introduced in notebook ``00_the_challenge``.
    """
    if root is None:
        root = data_dir() / "mini"
    root = Path(root).expanduser().resolve()
    target = root / DATASET_FOLDER
    if _is_generated(target, spec):
        return root
    with _lock(root):
        if _is_generated(target, spec):  # another process finished while we waited
            return root
        for stale in root.glob(f".{DATASET_FOLDER}.partial-*"):
            # a lock holder may clear every partial; without locks (Windows) a recent one may be another's, being written
            if fcntl is not None or time.time() - stale.stat().st_mtime > _STALE_PARTIAL_S:
                shutil.rmtree(stale, ignore_errors=True)
        if target.exists():
            if not (target / MARKER).exists() and any(target.iterdir()):
                raise FileExistsError(
                    f"{target} exists but was not made by flowerkit.mini_flowers (no {MARKER} in it). "
                    f"It may hold the real dataset: pass another root, or move that folder away and run again."
                )
            shutil.rmtree(target)  # our own dataset from another spec or version, or an empty folder
        partial = root / f".{DATASET_FOLDER}.partial-{uuid.uuid4().hex[:8]}"
        try:
            _generate(partial, spec, workers=workers, progress=progress)
            if not _is_generated(target, spec):  # without locks another process may have finished first: keep its copy
                os.replace(partial, target)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return root
