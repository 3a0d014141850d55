"""The failed teams' pipelines, each bug named and documented, so they can be run, measured and diagnosed.

Notebook ``01_access`` stages the Access team, ``02_transform`` the Quality
team, ``03_load`` the Efficiency team. Every team used the same
network (:class:`flowerkit.model.FlowerCNN`); only the data pipeline differs.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms as T
from torchvision.transforms import v2

from .access import OxfordFlowers102, load_rgb, read_mat
from .config import dataset_root
from .facts import DATASET_FOLDER, IMAGE_FOLDER, IMAGENET_MEAN, IMAGENET_STD, LABELS_FILE, SETID_FILE, SPLIT_VARIABLES
from .load import build_cache, make_loader
from .model import FlowerCNN, History, TrainConfig, predict, train
from .transform import ToRGB, augment_uint8, compute_stats

__all__ = [
    "EFFICIENCY_TIME_LIMIT_S",
    "TEAMS",
    "TEAM_INFO",
    "AccessTeamFlowers",
    "PerImageStandardize",
    "Pipeline",
    "TeamResult",
    "access_team_samples",
    "build_pipeline",
    "classic_transform",
    "efficiency_team_loader",
    "quality_team_augment",
    "quality_team_decode",
    "quality_team_transform",
    "results_table",
    "run_all",
    "run_team",
]


def access_team_samples(
    root: str | Path, split: str = "train", *, listdir: Callable[[Path], list[str]] | None = None
) -> list[tuple[Path, int]]:
    """The Access team's (file, label) pairs, bugs included. Introduced in notebook ``01_access``.

    Their code, and what is wrong with each line:

    1. ``files = os.listdir(jpg)``: the listing order is whatever the file
       system returns (hash order on Linux's ext4, sorted on Windows' NTFS),
       yet they pair ``files[k]`` with ``labels[k]``;
    2. ``labels = loadmat(...)["labels"][0]``: left 1-based (1..102) and uint8;
    3. ``files[i] for i in trnid``: the split's image *ids* (1-based file
       numbers) used as *positions* in their list; an id equal to the number
       of files would crash, so they silently skip it.

    Every sample is mispaired whatever the listing order. Unsorted, ``files[i]``
    is a random file. Sorted, ``files[i]`` is image ``i + 1``, paired with its
    own label still 1-based: once :class:`AccessTeamFlowers` silences the crash
    with ``% 102``, every image carries the *next* class's label. Either way
    the label the model is trained on is the image's class for about 1 sample
    in 102 (chance) or none. ``listdir`` replaces ``os.listdir`` (e.g.
    ``lambda d: sorted(os.listdir(d))`` shows what a sorting file system gives).
    """
    base = Path(root) / DATASET_FOLDER
    listing = (listdir or os.listdir)(base / IMAGE_FOLDER)
    files = [f for f in listing if f.endswith(".jpg")]  # bug 1: the listing order, whatever it is
    labels = read_mat(base / LABELS_FILE)["labels"][0]  # bug 2: 1-based uint8
    ids = read_mat(base / SETID_FILE)[SPLIT_VARIABLES[split]][0]
    return [(base / IMAGE_FOLDER / files[i], int(labels[i])) for i in ids if i < len(files)]  # bug 3: ids as positions


class AccessTeamFlowers(OxfordFlowers102):
    """The Access team's Dataset: their mispaired files and labels behind our Dataset's interface.

    ``samples`` holds their (file, 1-based label) pairs from
    :func:`access_team_samples`. When ``CrossEntropyLoss`` crashed on label
    102 ("Target 102 is out of bounds"), they silenced it with ``label % 102``:
    class 102 became class 0 and every other label stayed shifted by one.
    ``labels`` are those silenced labels, the ones their model was trained on.
    Everything else (decoding, transforms) is correct, so that notebook
    ``04_three_teams`` measures the access bug alone. Introduced in notebook ``01_access``.
    """

    def __init__(self, root: str | Path, split: str = "train", transform: Any = None, **kwargs: Any) -> None:
        super().__init__(root, split, transform=transform, **kwargs)
        self.samples = access_team_samples(root, split)
        self.image_files = [path for path, _ in self.samples]
        self.image_ids = [int(path.stem.split("_")[-1]) for path in self.image_files]
        self.labels = [label % 102 for _, label in self.samples]  # bug 4: silence the crash


class PerImageStandardize(nn.Module):
    """The Quality team's normalisation: each image by its *own* mean and std.

    Every image comes out with mean 0 and std 1, so brightness and contrast,
    which tell a white centre from a gold one, are erased image by image.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - x.mean()) / x.std().clamp_min(1e-6)


def quality_team_transform(size: int, train: bool = True) -> v2.Compose:
    """The Quality team's transform, for train *and* eval alike. Introduced in notebook ``02_transform``.

    Each step looks reasonable; each ruins something:

    1. ``Grayscale(num_output_channels=3)`` "to save memory" (it saves none:
       three identical channels) throws away colour, half of what tells
       the classes apart;
    2. ``Resize((size, size))`` squashes every 500x750 photo into a square,
       distorting shapes;
    3. :class:`PerImageStandardize` instead of the train split's statistics;
    4. random rotation (augmentation) applied at evaluation too: the same test
       image gets a different tensor, and prediction, every time.

    ``train`` is accepted and ignored, which is bug 4.
    """
    del train  # bug 4: the same random pipeline for evaluation
    return v2.Compose(
        [
            ToRGB(),
            v2.Grayscale(num_output_channels=3),  # bug 1
            v2.ToImage(),
            v2.Resize((size, size), antialias=True),  # bug 2
            v2.RandomRotation(30),  # bug 4 (at eval)
            v2.ToDtype(torch.float32, scale=True),
            PerImageStandardize(),  # bug 3
        ]
    )


def classic_transform(size: int, mean: Any = IMAGENET_MEAN, std: Any = IMAGENET_STD) -> Any:
    """The classic per-image torchvision pipeline: Resize, CenterCrop, ToTensor, Normalize (correct, not fast)."""
    return T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor(), T.Normalize(mean, std)])


def efficiency_team_loader(root: str | Path, split: str = "train", size: int = 64, **transform_kw: Any) -> Any:
    """The Efficiency team's DataLoader: correct output, every performance mistake. Introduced in notebook ``03_load``.

    1. ``batch_size=1``: one image per step, so per-step overhead dominates
       and the network never sees a batch (BatchNorm statistics from one image);
    2. ``num_workers=0``: decoding runs in the training process, which waits;
    3. a full-size JPEG decode and a float resize of every image in every
       epoch, no ``draft``, no cache;
    4. ``shuffle=False`` over a split whose files are grouped by class:
       consecutive steps see one class at a time.
    """

    dataset = OxfordFlowers102(root, split, transform=classic_transform(size, **transform_kw))
    return DataLoader(dataset, batch_size=1, shuffle=False, num_workers=0)


# --------------------------------------------------------------------------------------
# The capstone (notebook 04_three_teams): each team's whole pipeline, trained with the same network.
# --------------------------------------------------------------------------------------

#: The four pipelines, in the order the course met them.
TEAMS = ("access", "quality", "efficiency", "ours")

#: Each team's title, its bug in one line, and the notebook that staged it.
TEAM_INFO: dict[str, dict[str, str]] = {
    "access": {
        "title": "Access team",
        "bug": "files paired with the wrong labels (unsorted listdir, 1-based ids as positions, label % 102)",
        "notebook": "01_access",
    },
    "quality": {
        "title": "Quality team",
        "bug": "grayscale, squashed to a square, per-image standardised, random rotation at evaluation",
        "notebook": "02_transform",
    },
    "efficiency": {
        "title": "Efficiency team",
        "bug": "batch size 1, no workers, a full JPEG decode every epoch, no shuffling over class-grouped files",
        "notebook": "03_load",
    },
    "ours": {
        "title": "Ours",
        "bug": "none: correct pairing, colour, aspect-preserving crop, train-split statistics, cached and shuffled",
        "notebook": "04_three_teams",
    },
}

#: Seconds of training after which the Efficiency team's run is cut (all its planned epochs would take minutes).
EFFICIENCY_TIME_LIMIT_S = 10.0


def quality_team_decode(path: Path, size: int) -> torch.Tensor:
    """Quality team bugs 1 and 2, decoded once: grayscale, then squashed to size x size (uint8, 3 equal channels).

    The deterministic half of :func:`quality_team_transform`, so that notebook
    ``04_three_teams`` can cache it (their problem is quality, not speed).
    """
    gray = load_rgb(path, draft=size).convert("L")  # bug 1
    x = torch.from_numpy(np.array(gray, dtype=np.uint8))[None, None]
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)  # bug 2: squash
    return x[0].expand(3, -1, -1).contiguous()


def quality_team_augment() -> v2.Compose:
    """The random half of :func:`quality_team_transform`, on uint8 tensors: rotation, float, per-image standardisation.

    Applied at training *and* evaluation (bugs 3 and 4). Used with
    :func:`quality_team_decode` in notebook ``04_three_teams``.
    """
    return v2.Compose([v2.RandomRotation(30), v2.ToDtype(torch.float32, scale=True), PerImageStandardize()])


@dataclass
class Pipeline:
    """One team's complete pipeline: what it trains on, what it is tested with, and its time limit.

    ``test_loader`` applies the team's *own* evaluation transform to the true
    test split with its true labels: the garden judges every model on the same photos.
    """

    name: str
    title: str
    bug: str
    train_loader: Any
    test_loader: Any
    max_seconds: float | None = None


def build_pipeline(
    name: str,
    root: str | Path,
    *,
    size: int = 64,
    seed: int = 0,
    num_workers: int | None = None,
    progress: bool = True,
) -> Pipeline:
    """Build team ``name``'s pipeline (one of :data:`TEAMS`) on the dataset at ``root``. Used in notebook ``04_three_teams``.

    * ``ours``: the correct files and labels, decoded once into a uint8 cache
      (aspect-preserving crop), random shift and flip for training only,
      normalised per batch with the train split's statistics into
      channels-last batches, shuffled batches of 64 with seeded workers;
    * ``access``: our transform and loader, fed :class:`AccessTeamFlowers`;
    * ``quality``: our loader, fed :func:`quality_team_decode` +
      :func:`quality_team_augment` (their transform, cached);
    * ``efficiency``: :func:`efficiency_team_loader` unchanged, stopped after
      :data:`EFFICIENCY_TIME_LIMIT_S` seconds of training; its test images go
      through its own (correct) transform with a batched loader, so that
      evaluation does not take minutes too.
    """

    if name not in TEAMS:
        raise ValueError(f"unknown team {name!r}: choose one of {TEAMS}")
    info = TEAM_INFO[name]
    loader_kw: dict[str, Any] = {"batch_size": 64, "seed": seed, "num_workers": num_workers}

    def cached(dataset: Any, **kw: Any) -> Any:
        return build_cache(dataset, size, progress=progress, num_workers=num_workers or 0, **kw)

    if name in ("ours", "access"):
        train = cached(OxfordFlowers102(root, "train")) if name == "ours" else cached(AccessTeamFlowers(root), name="access-team")
        mean, std = compute_stats(train, progress=False)
        train.transform = augment_uint8(size)
        test = cached(OxfordFlowers102(root, "test"))
        return Pipeline(
            name,
            info["title"],
            info["bug"],
            make_loader(train, shuffle=True, mean=mean, std=std, channels_last=True, **loader_kw),
            make_loader(test, mean=mean, std=std, channels_last=True, **loader_kw),
        )
    if name == "quality":
        train = cached(OxfordFlowers102(root, "train"), decode=quality_team_decode)
        test = cached(OxfordFlowers102(root, "test"), decode=quality_team_decode)
        train.transform = test.transform = quality_team_augment()  # bug 4: the same random pipeline for testing
        return Pipeline(
            name,
            info["title"],
            info["bug"],
            make_loader(train, shuffle=True, channels_last=True, **loader_kw),
            make_loader(test, channels_last=True, **loader_kw),
        )
    # efficiency: a correct transform (normalised with the train split's statistics), every loading mistake
    mean, std = compute_stats(cached(OxfordFlowers102(root, "train")), progress=False)
    workers = loader_kw["num_workers"]
    test_ds = OxfordFlowers102(root, "test", transform=classic_transform(size, mean, std))
    return Pipeline(
        name,
        info["title"],
        info["bug"],
        efficiency_team_loader(root, "train", size, mean=mean, std=std),
        DataLoader(test_ds, batch_size=64, num_workers=2 if workers is None else workers),
        max_seconds=EFFICIENCY_TIME_LIMIT_S,
    )


@dataclass
class TeamResult:
    """What one team's training run produced: the history, the trained model, and its test predictions."""

    name: str
    title: str
    bug: str
    history: History
    model: nn.Module
    preds: torch.Tensor
    trues: torch.Tensor
    epochs_planned: int

    @property
    def test_acc(self) -> float:
        """Accuracy on the true test split (0..1)."""
        return float((self.preds == self.trues).float().mean()) if self.trues.numel() else float("nan")

    @property
    def epoch_s(self) -> float:
        """Median seconds per training epoch (loading included)."""
        return float(np.median(self.history.seconds))

    @property
    def images_per_s(self) -> float:
        """Median training images per second (loading and the training step together)."""
        return float(np.median(self.history.images_per_s))

    @property
    def epochs(self) -> int:
        """Epochs actually run (fewer than planned when a time limit cut the run)."""
        return len(self.history.seconds)

    def summary(self) -> dict[str, float | int]:
        """The figures of the results table, rounded, as a JSON-ready dict."""
        return {
            "test_acc": round(self.test_acc, 4),
            "epoch_s": round(self.epoch_s, 2),
            "images_per_s": round(self.images_per_s, 1),
            "epochs": self.epochs,
            "train_s": round(self.history.total_seconds, 1),
        }


def run_team(
    name: str,
    root: str | Path,
    *,
    config: TrainConfig | None = None,
    size: int = 64,
    num_workers: int | None = None,
    progress: bool = True,
) -> TeamResult:
    """Train a fresh :class:`~flowerkit.model.FlowerCNN` behind team ``name``'s pipeline and test it.

    Every team gets the same network, the same seed and the same
    :class:`~flowerkit.model.TrainConfig`; only the pipeline differs.
    Introduced in notebook ``04_three_teams``.
    """
    config = config or TrainConfig()
    pipe = build_pipeline(name, root, size=size, seed=config.seed, num_workers=num_workers, progress=progress)
    torch.manual_seed(config.seed)
    model = FlowerCNN()
    history = train(model, pipe.train_loader, config, max_seconds=pipe.max_seconds, progress=progress)
    preds, trues = predict(model, pipe.test_loader)
    return TeamResult(pipe.name, pipe.title, pipe.bug, history, model, preds, trues, config.epochs)


def run_all(root: str | Path, teams: Sequence[str] = TEAMS, **kwargs: Any) -> dict[str, TeamResult]:
    """:func:`run_team` for each team, in order; returns {name: result}. Used by ``python -m flowerkit.teams``."""
    return {name: run_team(name, root, **kwargs) for name in teams}


def results_table(results: dict[str, TeamResult], *, markdown: bool = False) -> str:
    """The results as a table: test accuracy, seconds per epoch, images/s, epochs run. Used in notebook ``04_three_teams``."""
    head = ["team", "test accuracy", "s / epoch", "images / s", "epochs"]
    rows = [
        [r.title, f"{100 * r.test_acc:.1f}%", f"{r.epoch_s:.1f}", f"{r.images_per_s:,.0f}", f"{r.epochs} of {r.epochs_planned}"]
        for r in results.values()
    ]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*head), *(fmt.format(*row) for row in rows)])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flowerkit.teams``: train every team on mini-flowers (or the real data) and print the table.

    The last line printed is one JSON object: ``{"teams": {name: {"test_acc", "epoch_s", "images_per_s", ...}}}``.
    """

    parser = argparse.ArgumentParser(prog="python -m flowerkit.teams", description=main.__doc__)
    parser.add_argument("--dataset", choices=["mini", "real"], default=None, help="default: $FLOWERKIT_DATASET or mini")
    parser.add_argument("--root", type=Path, default=None, help="a folder holding flowers-102/ (instead of --dataset)")
    parser.add_argument("--teams", nargs="+", choices=TEAMS, default=list(TEAMS))
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    root = args.root if args.root is not None else dataset_root(args.dataset, progress=not args.quiet)
    start = time.perf_counter()
    results = run_all(
        root, args.teams, config=TrainConfig(epochs=args.epochs, seed=args.seed), size=args.size, progress=not args.quiet
    )
    total = time.perf_counter() - start
    print(results_table(results))
    print(f"total {total:.0f} s for {len(results)} team(s) on {torch.get_num_threads()} thread(s), {root}")
    print(json.dumps({"teams": {name: r.summary() for name, r in results.items()}, "total_s": round(total, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
