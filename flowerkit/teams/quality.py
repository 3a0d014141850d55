"""The Quality team: their transform, their pipeline, and each of their bugs measured alone.

Introduced in notebook ``02_transform``, which stages their run, lets the
student name the causes from measurements, then shows
:func:`quality_team_transform` (its bugs annotated in its code comments) and
measures each bug's cost alone (:func:`run_ablation`, or ``python -m
flowerkit.teams --ablation``). The docstrings here do not name the bugs:
``help(teams)`` in the middle of the hunt would answer it. Notebook
``04_three_teams`` trains their transform, cached (``build_pipeline("quality")``),
against the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.datasets.utils import verify_str_arg
from torchvision.transforms import v2

from ..access import OxfordFlowers102
from ..facts import DEFAULT_SIZE
from ..load import _decode_hwc, _resolve, decode_resized
from ..model import TrainConfig
from ..transform import ToRGB, augment_uint8, compute_stats
from .ours import OURS_INFO
from .pipeline import _batched, _cache, _Pipeline
from .training import _table, _TeamResult, train_pipeline

# The constants that name their bugs (QUALITY_BUGS, QUALITY_INFO, TRAIN_ROTATION, ABLATION...) and the class named
# after one are importable, and left out of __all__: pydoc lists __all__'s constants with their values.
__all__ = [
    "ablation_costs",
    "ablation_epochs",
    "ablation_table",
    "quality_team_transform",
    "quality_variant",
    "run_ablation",
]

#: The Quality team's four bugs, in the order notebook ``02_transform`` meets them.
QUALITY_BUGS = ("grayscale", "squash", "per-image standardisation", "augmentation at evaluation")

#: Their entry of :data:`flowerkit.teams.TEAM_INFO`: title, bugs in one line, and the notebook that staged it.
QUALITY_INFO: dict[str, str] = {
    "title": "Quality team",
    "bug": "grayscale, squashed to a square, per-image standardised, augmented at evaluation too",
    "notebook": "02_transform",
}

#: Not a bug: the Quality team's random rotation on training images only, the control of "augmentation at evaluation"
#: (that bug rotates training and test images; against this control it costs what random evaluation costs, not what
#: rotating the training photos does).
TRAIN_ROTATION = "rotation at training"

#: The ablation's label of that control: ours with :data:`TRAIN_ROTATION`.
ABLATION_CONTROL = f"ours + {TRAIN_ROTATION} only"

#: The ablation of notebook ``02_transform``: our pipeline, ours plus each Quality bug alone (and the control of bug
#: 4), and all four.
ABLATION: dict[str, tuple[str, ...]] = {
    "ours": (),
    **{f"ours + {bug}": (bug,) for bug in QUALITY_BUGS[:3]},
    ABLATION_CONTROL: (TRAIN_ROTATION,),
    f"ours + {QUALITY_BUGS[3]}": (QUALITY_BUGS[3],),
    "all four (Quality team)": QUALITY_BUGS,
}

#: What each ablation row is measured against: ours, except bug 4 and all four, measured against ours with the same
#: rotation at training only (:data:`TRAIN_ROTATION`), so that each bug, and the four together, are charged their own
#: cost and not the rotation's.
ABLATION_BASELINE: dict[str, str] = {
    **{label: "ours" for label in ABLATION if label != "ours"},
    f"ours + {QUALITY_BUGS[3]}": ABLATION_CONTROL,
    "all four (Quality team)": ABLATION_CONTROL,
}


# --------------------------------------------------------------------------------------
# Their transform, as they wrote it, and its two halves for the capstone's cache.
# --------------------------------------------------------------------------------------


class PerImageStandardize(nn.Module):
    """The Quality team's normalisation step. Introduced in notebook ``02_transform`` (what it costs: the ablation).

    Each image by its *own* mean and std: every image comes out with mean 0
    and std 1, so brightness and contrast, which tell a white centre from a
    gold one, are erased image by image.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - x.mean()) / x.std().clamp_min(1e-6)


def quality_team_transform(size: int, train: bool = True) -> v2.Compose:
    """The Quality team's transform, as they wrote it. Introduced in notebook ``02_transform``.

    Notebook 02 prints its code, comments included, once its hunt is over.
    """
    # Each step looks reasonable; each ruins something:
    # 1. Grayscale(num_output_channels=3) "to save memory" (it saves none: three identical channels) throws away
    #    colour, half of what tells the classes apart;
    # 2. Resize((size, size)) squashes every oblong photo (500x700, say) into a square, distorting shapes;
    # 3. PerImageStandardize instead of the train split's statistics: every image mean 0, std 1;
    # 4. augmentation (our shift and flip, and a random rotation: neither is a bug at training) applied at evaluation
    #    too: the same test image gets a different tensor, and prediction, every time. `train` is ignored: bug 4.
    # Everything else is ours: the capstone charges them their four bugs and their rotation at training, a choice
    # notebook 02 prices alone (its control).
    del train  # bug 4: the same random pipeline for evaluation
    return v2.Compose(
        [
            ToRGB(),
            v2.Grayscale(num_output_channels=3),  # bug 1
            v2.ToImage(),
            v2.Resize((size, size), antialias=True),  # bug 2
            *augment_uint8(size).transforms,  # our shift and flip (bug 4: at evaluation too)
            v2.RandomRotation(30),  # bug 4 (at eval)
            v2.ToDtype(torch.float32, scale=True),
            PerImageStandardize(),  # bug 3
        ]
    )


def _quality_team_decode(path: Path, size: int) -> torch.Tensor:
    """The Quality team's decode, cached, uint8 (3, size, size).

    The capstone caches it (their problem is quality, not speed); its random half runs on every item.
    """
    # bugs 1 and 2, decoded once: grayscale (3 equal channels), then squashed to size x size. Decoded as ours is (the
    # fastest JPEG decoder installed, at reduced scale): the decoder is no bug of theirs, and their one-off decode comes
    # out of the capstone's budget. The docstring stays silent: Shift-Tab on their pipeline's decode in notebook 02's
    # hunt would answer it.
    gray = Image.fromarray(_decode_hwc(Path(path), size, _resolve("auto"))).convert("L")  # bug 1
    x = torch.from_numpy(np.array(gray, dtype=np.uint8))[None, None]
    return _squash(x, size)[0].expand(3, -1, -1).contiguous()


def _squash(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize a uint8 (B, C, H, W) batch to size x size whatever its aspect ratio (the squashing resize)."""
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)


def _decode_squashed(path: Path, size: int) -> torch.Tensor:
    """Colour kept, squashed to size x size (Quality team bug 2 alone), uint8."""
    rgb = torch.from_numpy(_decode_hwc(Path(path), size, _resolve("auto"))).permute(2, 0, 1)
    return _squash(rgb[None].contiguous(), size)[0].contiguous()


def _decode_grayscale(path: Path, size: int) -> torch.Tensor:
    """Aspect-preserving crop kept, converted to grayscale as 3 equal channels (Quality team bug 1 alone), uint8."""
    return v2.functional.rgb_to_grayscale(decode_resized(path, size), num_output_channels=3).contiguous()


class _TheirTransform(v2.Compose):
    """The Quality team's transform as their pipeline runs it (notebook ``02_transform`` prints its code after the hunt)."""

    # its repr stays opaque: printing their pipeline's dataset in notebook 02's hunt would otherwise list its steps;
    # so does its list of steps, which Tab offers as `transforms` (a v2.Compose runs them from there)

    def __init__(self, transforms: Sequence[Any]) -> None:
        super().__init__(list(transforms))
        self.transforms = _Steps(self.transforms)

    def __repr__(self) -> str:
        return "TheirTransform(...)"


class _Steps(list):
    """A transform's list of steps whose printout does not list them (notebook ``02_transform``'s hunt)."""

    def __repr__(self) -> str:
        return f"[... {len(self)} steps of theirs ...]"


def _quality_pipeline(root: str | Path, size: int, seed: int, num_workers: int | None, progress: bool) -> _Pipeline:
    """Their transform, cached: the fixed half decoded once (:func:`_quality_team_decode`), then its random half.

    The random half runs on training *and* test images (bug 4).
    """
    pipe = _variant_pipeline(root, frozenset(QUALITY_BUGS), "quality", QUALITY_INFO, size, seed, num_workers, progress)
    theirs = _TheirTransform(pipe.train_loader.dataset.transform.transforms)
    pipe.train_loader.dataset.transform = pipe.test_loader.dataset.transform = theirs
    return pipe


# --------------------------------------------------------------------------------------
# Each Quality bug alone (notebook 02_transform).
# --------------------------------------------------------------------------------------

_DECODERS: dict[frozenset[str], Callable[[Path, int], torch.Tensor]] = {
    frozenset(): decode_resized,
    frozenset({"grayscale"}): _decode_grayscale,
    frozenset({"squash"}): _decode_squashed,
    frozenset({"grayscale", "squash"}): _quality_team_decode,
}


def _variant_transforms(bugs: frozenset[str], size: int) -> tuple[v2.Compose, v2.Compose | None]:
    """(train, test) item transforms on cached uint8 images: our shift and flip, plus whichever of bugs 3, 4 and the control are on."""
    steps: list[nn.Module] = [augment_uint8(size)]
    if bugs & {"augmentation at evaluation", TRAIN_ROTATION}:
        steps.append(v2.RandomRotation(30))
    tail: list[nn.Module] = []
    if "per-image standardisation" in bugs:
        tail = [v2.ToDtype(torch.float32, scale=True), PerImageStandardize()]
    train_tf = v2.Compose(steps + tail)
    if "augmentation at evaluation" in bugs:
        return train_tf, train_tf  # bug 4: the training pipeline, random parts included, used for testing
    return train_tf, (v2.Compose(tail) if tail else None)


def ablation_epochs(profile_epochs: int) -> int:
    """Epochs of each ablation run: half the dataset's training profile (7 of 14 on mini-flowers), at least 2.

    Seven trainings must fit one cell of notebook ``02_transform`` (about a minute on mini-flowers, several on the real
    photos); ``python -m flowerkit.teams --ablation``
    prints the ablation for two seeds. Introduced in notebook ``02_transform``.
    """
    # the ranking of the bugs' costs holds at 7 and 14 epochs for the costliest (grayscale) and across seeds; the
    # order of the small ones changes with the seed
    return max(2, profile_epochs // 2)


def quality_variant(
    root: str | Path,
    bugs: Sequence[str],
    *,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    num_workers: int | None = 0,
    progress: bool = False,
) -> _Pipeline:
    """Our pipeline with some of the Quality team's bugs switched on (the names notebook 02 lists after its hunt).

    Everything else is ours: the uint8 cache, shift-and-flip augmentation,
    the train split's statistics (of the variant's own decoded images),
    shuffled batches of 64 (one more name, no bug of theirs, gives the
    ablation's control); all their bugs give their pipeline itself
    (:func:`flowerkit.teams.build_pipeline` ``("quality")``). Introduced in notebook ``02_transform``.
    """
    # "augmentation at evaluation" adds their random rotation (up to 30 degrees) to training *and* runs the training
    # pipeline on the test images; TRAIN_ROTATION, its control, adds the rotation to training only
    on = frozenset(bugs)
    choices = (*QUALITY_BUGS, TRAIN_ROTATION)
    unknown = sorted(on - set(choices))
    for bug in on:
        verify_str_arg(bug, "bugs", choices, custom_msg=f"unknown bug(s) {unknown}: choose from {choices}")
    if on == set(QUALITY_BUGS):
        return _quality_pipeline(root, size, seed, num_workers, progress)
    label = next((k for k, v in ABLATION.items() if frozenset(v) == on), " + ".join(["ours", *sorted(on)]))
    info = OURS_INFO if label == "ours" else {"title": label, "bug": label}
    return _variant_pipeline(root, on, label, info, size, seed, num_workers, progress)


def _variant_pipeline(
    root: str | Path,
    on: frozenset[str],
    name: str,
    info: dict[str, str],
    size: int,
    seed: int,
    num_workers: int | None,
    progress: bool,
) -> _Pipeline:
    """Our cached pipeline with the bugs in ``on``: the decode of bugs 1 and 2, then :func:`_variant_transforms`."""
    decode = _DECODERS[on & {"grayscale", "squash"}]
    train_set = _cache(OxfordFlowers102(root, "train"), size, progress, num_workers, decode=decode)
    test_set = _cache(OxfordFlowers102(root, "test"), size, progress, num_workers, decode=decode)
    stats = None if "per-image standardisation" in on else compute_stats(train_set, progress=False)
    train_set.transform, test_set.transform = _variant_transforms(on, size)
    return _batched(name, info, train_set, test_set, stats, seed, num_workers)


def run_ablation(
    root: str | Path,
    *,
    epochs: int = 6,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    variants: Sequence[str] | None = None,
    done: dict[str, _TeamResult] | None = None,
    progress: bool = False,
) -> dict[str, _TeamResult]:
    """Each Quality bug's cost alone: train every ``teams.ABLATION`` variant with the same network, epochs and seed.

    Trains from uint8 caches in the main process (``num_workers=0``: no
    worker processes, deterministic on the CPU). ``done`` holds variants already trained
    (e.g. the Quality team's own run), which are reused, not retrained.
    Introduced in notebook ``02_transform``; ``python -m flowerkit.teams --ablation``
    prints the table for two seeds.
    """
    config = TrainConfig(epochs=epochs, seed=seed)
    results = dict(done or {})
    for label in variants or list(ABLATION):
        if label not in results:
            pipe = quality_variant(root, ABLATION[label], size=size, seed=seed, num_workers=0, progress=progress)
            pipe.name = label
            results[label] = train_pipeline(pipe, config, curve=False)
    return {label: results[label] for label in (variants or list(ABLATION)) if label in results}


def ablation_costs(accs: dict[str, float]) -> dict[str, float]:
    """What each ablation variant loses against its baseline (``teams.ABLATION_BASELINE``), from test accuracies by label.

    Variants whose baseline is missing from ``accs`` are left out. Introduced in notebook ``02_transform``.
    """
    return {label: accs[base] - acc for label, acc in accs.items() if (base := ABLATION_BASELINE.get(label)) in accs}


def ablation_table(results: dict[str, _TeamResult], *, markdown: bool = False) -> str:
    """The ablation as a table: test accuracy of each variant, its baseline and its cost in points against it. Introduced in notebook ``02_transform``."""
    costs = ablation_costs({label: r.test_acc for label, r in results.items()})
    head = ["variant", "test accuracy", "measured against", "points lost"]
    rows = [
        [
            label,
            f"{100 * r.test_acc:.1f}%",
            *([ABLATION_BASELINE[label], f"{100 * costs[label]:.1f}"] if label in costs else ["", ""]),
        ]
        for label, r in results.items()
    ]
    return _table(head, rows, markdown)


def __dir__() -> list[str]:
    """What ``dir()`` and Tab completion offer: the public names only (the constants that name bugs stay importable)."""
    return sorted(__all__)
