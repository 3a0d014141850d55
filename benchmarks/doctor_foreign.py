"""The doctor on pipelines it was not written for: 8 planted-bug pipelines over a 10-class ImageFolder of non-flower images.

Notebook 08_your_own_data asks whether ``flowerkit.doctor.diagnose`` finds, on data that is not Oxford 102 and
has no ``.mat`` files beside it, what can be found without them. This script writes a small ImageFolder of
drawn scenes (sun, moon, tree, house, fish, car, cloud, mountain, boat, star; every size and aspect), builds
eight pipelines over it, each with one bug planted (or none), runs the doctor on each and judges it: right when
the checks it flags are exactly the planted bug's (and nothing for the healthy one).

    .venv/bin/python benchmarks/doctor_foreign.py                        # the table, with today's doctor
    .venv/bin/python benchmarks/doctor_foreign.py --doctor-from 6860862  # also the doctor of that commit

``--doctor-from`` loads ``flowerkit/doctor.py`` as it was at a git commit (6860862: before notebook 08), to
compare. The timed checks are off (``measure=False``): they judge the machine as much as the pipeline. The last
line printed is one JSON object with the verdicts.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets
from torchvision.transforms import v2

from flowerkit import doctor

REPO = Path(__file__).resolve().parents[1]
SCENES = ("sun", "moon", "tree", "house", "fish", "car", "cloud", "mountain", "boat", "star")
SIZE = 48


# ------------------------------------------------------------------ a 10-class ImageFolder of drawn scenes


def _jitter(rng: np.random.Generator, rgb: tuple[int, int, int], amount: int = 40) -> tuple[int, ...]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb)


def _ground_things(kind: str, d: ImageDraw.ImageDraw, cx: float, cy: float, s: float, rng: np.random.Generator) -> None:
    if kind == "tree":
        d.rectangle([cx - s * 0.08, cy, cx + s * 0.08, cy + s / 2], fill=_jitter(rng, (110, 70, 30)))
        d.polygon([(cx, cy - s / 2), (cx - s / 2.5, cy + s / 4), (cx + s / 2.5, cy + s / 4)], fill=_jitter(rng, (30, 120, 40)))
    elif kind == "house":
        d.rectangle([cx - s / 2.5, cy - s / 6, cx + s / 2.5, cy + s / 2], fill=_jitter(rng, (200, 180, 150)))
        d.polygon([(cx - s / 2, cy - s / 6), (cx + s / 2, cy - s / 6), (cx, cy - s / 2)], fill=_jitter(rng, (170, 50, 40)))
    elif kind == "car":
        d.rectangle([cx - s / 2, cy - s / 8, cx + s / 2, cy + s / 5], fill=_jitter(rng, (200, 30, 40)))
        d.rectangle([cx - s / 4, cy - s / 3, cx + s / 5, cy - s / 8], fill=_jitter(rng, (200, 30, 40)))
        for x in (cx - s / 3, cx + s / 3):
            d.ellipse([x - s / 9, cy + s / 8, x + s / 9, cy + s / 3], fill=(20, 20, 20))
    elif kind == "mountain":
        for k in range(2):
            x = cx + s * (k - 0.5) * 0.6
            d.polygon([(x - s / 2, cy + s / 2), (x, cy - s / 2), (x + s / 2, cy + s / 2)], fill=_jitter(rng, (120, 120, 130), 20))
    elif kind == "boat":
        hull = [(cx - s / 2, cy + s / 4), (cx + s / 2, cy + s / 4), (cx + s / 3, cy + s / 2), (cx - s / 3, cy + s / 2)]
        d.polygon(hull, fill=_jitter(rng, (120, 70, 30)))
        d.polygon([(cx, cy - s / 2), (cx, cy + s / 5), (cx + s / 3, cy + s / 5)], fill=_jitter(rng, (250, 250, 250), 10))


def _sky_things(
    kind: str, img: Image.Image, d: ImageDraw.ImageDraw, cx: float, cy: float, s: float, rng: np.random.Generator
) -> None:
    if kind == "sun":
        d.ellipse([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2], fill=_jitter(rng, (250, 210, 40)))
    elif kind == "moon":
        d.ellipse([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2], fill=_jitter(rng, (235, 235, 215), 20))
        o = s * 0.35
        d.ellipse([cx - s / 2 + o, cy - s / 2 - o / 3, cx + s / 2 + o, cy + s / 2 - o / 3], fill=img.getpixel((1, 1)))
    elif kind == "fish":
        d.ellipse([cx - s / 2, cy - s / 5, cx + s / 3, cy + s / 5], fill=_jitter(rng, (245, 140, 30)))
        d.polygon([(cx + s / 4, cy), (cx + s / 2, cy - s / 5), (cx + s / 2, cy + s / 5)], fill=_jitter(rng, (245, 140, 30)))
    elif kind == "cloud":
        for _ in range(4):
            r = s * rng.uniform(0.15, 0.3)
            x, y = cx + s * rng.uniform(-0.35, 0.35), cy + s * rng.uniform(-0.1, 0.1)
            d.ellipse([x - r, y - r, x + r, y + r], fill=_jitter(rng, (245, 245, 245), 10))
    elif kind == "star":
        radii = [s / 2 if k % 2 == 0 else s / 5 for k in range(10)]
        angles = [np.pi / 2 + k * np.pi / 5 for k in range(10)]
        d.polygon([(cx + r * np.cos(a), cy - r * np.sin(a)) for r, a in zip(radii, angles)], fill=_jitter(rng, (250, 230, 60)))


def render_scene(kind: str, rng: np.random.Generator) -> Image.Image:
    """One drawn scene of ``kind`` at a random size, aspect, position and colour, with sensor noise."""
    w = int(rng.integers(160, 321))
    h = int(w / rng.choice([4 / 3, 3 / 4, 16 / 9, 1.0, 3 / 2]))
    sky = {"moon": (20, 25, 60), "star": (15, 15, 45), "fish": (30, 90, 160)}.get(kind, (110, 160, 220))
    img = Image.new("RGB", (w, h), _jitter(rng, sky, 30))
    d = ImageDraw.Draw(img)
    s = min(w, h) * rng.uniform(0.35, 0.6)
    cx, cy = w * rng.uniform(0.3, 0.7), h * rng.uniform(0.3, 0.7)
    if kind in ("tree", "house", "car", "mountain", "boat"):
        d.rectangle([0, h * 0.75, w, h], fill=_jitter(rng, (40, 90, 170) if kind == "boat" else (60, 130, 60), 25))
        _ground_things(kind, d, cx, h * 0.75 - s / 2, s, rng)
    else:
        _sky_things(kind, img, d, cx, cy, s, rng)
    a = np.asarray(img, dtype=np.float32) + rng.normal(0, 8, (h, w, 1)).astype(np.float32)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.7))


def scene_folders(root: Path, *, train_per_class: int = 40, test_per_class: int = 12, seed: int = 0) -> Path:
    """``root/train/<scene>/*.jpg`` and ``root/test/<scene>/*.jpg``, deterministic; reused when complete."""
    marker = root / f".complete-{train_per_class}-{test_per_class}-{seed}"
    if marker.is_file():
        return root
    for s, (split, n) in enumerate((("train", train_per_class), ("test", test_per_class))):
        for c, kind in enumerate(SCENES):
            folder = root / split / kind
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(n):
                render_scene(kind, np.random.default_rng([seed, s, c, k])).save(folder / f"{kind}_{k:03d}.jpg", quality=88)
    marker.touch()
    return root


# ------------------------------------------------------------------ pipelines, each with one planted bug (or none)


class CsvImages(Dataset):
    """A student's own CSV-backed Dataset: rows of (file, label), kept under a name the doctor does not know."""

    def __init__(self, csv_path: Path, transform: Callable[[Any], Any], pair_wrongly: bool = False) -> None:
        with open(csv_path, newline="") as fh:
            rows = [(csv_path.parent / r["file"], int(r["label"])) for r in csv.DictReader(fh)]
        if pair_wrongly:  # the bug: files from a sorted listing, labels in the CSV's (upload) order
            rows = list(zip(sorted(p for p, _ in rows), (y for _, y in rows)))
        self._rows, self._tf = rows, transform

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        path, label = self._rows[i]
        with Image.open(path) as img:
            return self._tf(img.convert("RGB")), label


def _stats(root: Path, gray: bool = False) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the train split, through the pipeline's own colour handling."""
    steps = [v2.ToImage(), v2.Resize(SIZE), v2.CenterCrop(SIZE), *([v2.Grayscale(3)] if gray else [])]
    ds = datasets.ImageFolder(root / "train", transform=v2.Compose(steps))
    x = torch.stack([ds[i][0] for i in range(0, len(ds), 3)]).float().div(255)
    return x.mean((0, 2, 3)).tolist(), x.std((0, 2, 3)).tolist()


def _transform(mean: list[float], std: list[float], *, squash: bool = False, gray: bool = False) -> v2.Compose:
    size = [v2.Resize((SIZE, SIZE))] if squash else [v2.Resize(SIZE), v2.CenterCrop(SIZE)]
    return v2.Compose(
        [
            v2.ToImage(),
            *size,
            *([v2.Grayscale(3)] if gray else []),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean, std),
        ]
    )


def _csv_of(root: Path, split: str) -> Path:
    """The split as a CSV of file and label, rows in a shuffled (upload) order."""
    folder = datasets.ImageFolder(root / split)
    rows = [(Path(p).relative_to(root), y) for p, y in folder.samples]
    order = np.random.default_rng(1).permutation(len(rows))
    path = root / f"{split}.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label"])
        writer.writerows([str(rows[i][0]), rows[i][1]] for i in order)
    return path


def _leaky_test(root: Path) -> Path:
    """A test folder holding copies (new names, same bytes) of 3 training photos per class, beside its own."""
    leaky = root / "test-leaky"
    for kind in SCENES:
        (leaky / kind).mkdir(parents=True, exist_ok=True)
        for p in sorted((root / "test" / kind).iterdir()):
            (leaky / kind / p.name).write_bytes(p.read_bytes())
        for p in sorted((root / "train" / kind).iterdir())[:3]:
            (leaky / kind / f"copy_{p.name}").write_bytes(p.read_bytes())
    return leaky


def pipelines(root: Path) -> list[tuple[str, str, Callable[[], Any], set[str]]]:
    """(name, planted bug, target builder, the checks the doctor should flag) for the 8 pipelines."""
    mean, std = _stats(root)
    good = _transform(mean, std)
    g = torch.Generator().manual_seed(0)

    def folder(tf: Any = good, **kw: Any) -> datasets.ImageFolder:
        return datasets.ImageFolder(root / "train", transform=tf, **kw)

    def loader(ds: Dataset, batch_size: int = 64, shuffle: bool = True) -> DataLoader:
        return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=g)

    def test_loader(name: str) -> DataLoader:
        return loader(datasets.ImageFolder(root / name, transform=good), shuffle=False)

    return [
        ("healthy", "none", lambda: loader(folder()), set()),
        ("CSV, files paired wrongly", "labels from the CSV, files from a sorted listing", lambda: loader(CsvImages(_csv_of(root, "train"), good, pair_wrongly=True)), {"labels belong to images"}),
        ("class folders, no shuffling", "shuffle=False over class-grouped folders", lambda: loader(folder(), shuffle=False), {"shuffling"}),
        ("1-based labels", "target_transform adds 1", lambda: loader(folder(target_transform=lambda y: y + 1)), {"label range"}),
        ("grayscale", "Grayscale(3) in the transform", lambda: loader(folder(_transform(*_stats(root, gray=True), gray=True))), {"colour"}),
        ("squashed", "Resize((S, S)) instead of Resize(S) + CenterCrop(S)", lambda: loader(folder(_transform(mean, std, squash=True))), {"aspect ratio"}),
        ("train photos in test", "3 training photos per class copied into test", lambda: {"train": loader(folder()), "test": test_loader(_leaky_test(root).name)}, {"duplicates across splits"}),
        ("batch size 1", "batch_size=1", lambda: loader(folder(), batch_size=1), {"batch size"}),
    ]  # fmt: skip


# ------------------------------------------------------------------ judging


def _doctor_at(commit: str) -> Any:
    """``flowerkit/doctor.py`` as it was at ``commit``, imported beside today's (its relative imports resolve in flowerkit)."""
    shown = subprocess.run(["git", "show", f"{commit}:flowerkit/doctor.py"], cwd=REPO, capture_output=True, text=True)
    if shown.returncode != 0:  # the doctor became a package (flowerkit/doctor/) after 0490e22
        raise SystemExit(f"--doctor-from {commit}: no flowerkit/doctor.py there; give a commit up to 0490e22")
    source = shown.stdout
    path = Path(tempfile.mkdtemp()) / "doctor_then.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("flowerkit.doctor_then", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def judge(diagnose: Callable[..., Any], target: Any, expected: set[str]) -> dict[str, Any]:
    """Run ``diagnose`` (timings off) and compare the checks it flags with ``expected``: right only if they are equal."""
    start = time.perf_counter()
    try:
        if isinstance(target, dict) and not _takes_splits(diagnose):
            target = next(iter(target.values()))  # a doctor that takes one split at a time gets the training one
        flagged = sorted({f.check for f in diagnose(target, measure=False).problems})
    except Exception as exc:  # an older doctor may crash on a pipeline it was not written for: that is its verdict
        flagged = [f"error: {type(exc).__name__}: {exc}"[:90]]
    return {"flagged": flagged, "right": set(flagged) == expected, "seconds": round(time.perf_counter() - start, 1)}


def _takes_splits(diagnose: Callable[..., Any]) -> bool:
    """Whether this version of the doctor takes a dict of splits (it has the code that compares them)."""
    return "_diagnose_splits" in diagnose.__globals__


def run(root: Path, doctors: dict[str, Callable[..., Any]]) -> list[dict[str, Any]]:
    """Every pipeline judged by every doctor in ``doctors`` (name -> its ``diagnose``)."""
    rows = []
    for name, bug, build, expected in pipelines(root):
        row: dict[str, Any] = {"pipeline": name, "bug": bug, "expected": sorted(expected) or ["nothing"]}
        for who, diagnose in doctors.items():
            row[who] = judge(diagnose, build(), expected)
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]], doctors: list[str]) -> str:
    """The verdicts as a Markdown table, with the number judged right per doctor."""
    head = "| pipeline | planted bug | should flag | " + " | ".join(f"{d}: flags | right?" for d in doctors) + " |"
    lines = [head, "|" + "---|" * (3 + 2 * len(doctors))]
    for r in rows:
        cells = [f"{', '.join(r[d]['flagged']) or 'nothing'} | {'yes' if r[d]['right'] else '**no**'}" for d in doctors]
        lines.append(f"| {r['pipeline']} | {r['bug']} | {', '.join(r['expected'])} | " + " | ".join(cells) + " |")
    lines.append(
        "| **judged right** | | | "
        + " | ".join(f"| **{sum(r[d]['right'] for r in rows)} of {len(rows)}**" for d in doctors)
        + " |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="where to write the scenes (default: a temporary folder)")
    parser.add_argument("--train-per-class", type=int, default=40)
    parser.add_argument("--doctor-from", metavar="COMMIT", help="also judge flowerkit/doctor.py as it was at COMMIT")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = scene_folders(args.data or Path(tmp), train_per_class=args.train_per_class)
        doctors = {"today": doctor.diagnose}
        if args.doctor_from:
            doctors[f"at {args.doctor_from}"] = _doctor_at(args.doctor_from).diagnose
        start = time.perf_counter()
        rows = run(root, doctors)
        print(table(rows, list(doctors)))
        summary = {
            "rows": rows,
            "right": {d: sum(r[d]["right"] for r in rows) for d in doctors},
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
