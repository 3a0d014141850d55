"""What each dataset should give: the training profile per dataset, and the figures each notebook expects.

Introduced in notebook ``00_the_challenge`` (the setup cell picks the dataset;
this module says what that changes). mini-flowers is a synthetic stand-in
built to be learnable by a small CNN in seconds; the real Oxford 102 photos
are far harder for the same network with 10 training images per class. So a
figure such as "ours reaches 80%" is a *mini-flowers* target, while
relations such as "ours is far above chance and above the Quality team" must
hold on *any* dataset. Notebooks assert through :func:`expect`, never with a
number typed in a cell, so a Run All on the real photos only stops for a bug.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

from .facts import NUM_CLASSES

__all__ = ["CHANCE", "PROFILES", "TARGETS", "Profile", "Target", "expect", "profile"]

#: Accuracy of guessing one class at random.
CHANCE: float = 1 / NUM_CLASSES


@dataclass(frozen=True)
class Profile:
    """How the course trains on one dataset: input size, epochs, augmentation. Introduced in notebook ``00_the_challenge``.

    ``minutes`` is the laptop time budget the profile was chosen for (the
    capstone's four trainings together, on 2 cores).
    """

    size: int
    epochs: int
    augment: bool
    minutes: float
    note: str


#: One profile per dataset. mini-flowers keeps the course's 64 px / 14 epochs.
PROFILES: dict[str, Profile] = {
    "mini": Profile(size=64, epochs=14, augment=True, minutes=3, note="the synthetic stand-in: learnable in seconds"),
    "real": Profile(
        size=64, epochs=14, augment=True, minutes=10, note="real photos: expect far lower accuracy with 10 images per class"
    ),
}


def profile(dataset: str) -> Profile:
    """Return the training profile of ``dataset`` (``"mini"`` or ``"real"``). Introduced in notebook ``00_the_challenge``."""
    try:
        return PROFILES[dataset]
    except KeyError:
        raise ValueError(f"no profile for dataset {dataset!r}: choose one of {sorted(PROFILES)}") from None


_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


@dataclass(frozen=True)
class Target:
    """One expected figure: a relation that must hold on any dataset, and a stricter one for mini-flowers.

    Each bound is ``(op, number)`` with op one of ``>=, <=, >, <``, or None.
    ``why`` is the sentence shown when a bound fails. Introduced in notebook ``00_the_challenge``.
    """

    what: str
    anywhere: tuple[str, float] | None
    mini: tuple[str, float] | None
    why: str = ""


#: Every figure a notebook asserts, keyed ``"NN/name"``. Add a notebook's targets in its own block.
TARGETS: dict[str, Target] = {
    # --- 00_the_challenge
    # --- 01_access
    # --- 02_transform
    # --- 03_load
    # --- 04_three_teams
    # --- 05_the_app
    "05/notebook_test_acc": Target(
        "the app's model, test accuracy in the notebook",
        anywhere=(">=", 5 * CHANCE),
        mini=(">=", 0.85),
        why="our pipeline of notebook 04 trained this model; it should learn far above chance",
    ),
    "05/build_first_agreement": Target(
        "my_predict and app.Predictor, same top class on the original photos",
        anywhere=(">=", 0.95),
        mini=(">=", 0.98),
        why="both decode small, crop the centre square, resize with antialiasing and use the saved statistics",
    ),
    "05/fixed_visitor_acc": Target(
        "app.Predictor, accuracy on visitor photos",
        anywhere=(">=", 5 * CHANCE),
        mini=(">=", 0.70),
        why="the Predictor prepares photos as training did; only grayscale photos should stay low",
    ),
    "05/skew_cost": Target(
        "Predictor minus the Deployment team's app, accuracy on visitor photos",
        anywhere=(">=", 0.0),
        mini=(">=", 0.20),
        why="the same weights behind training's preprocessing cannot do worse than behind a skewed copy",
    ),
    # --- 06_beyond_one_machine
}


def _holds(bound: tuple[str, float] | None, value: float) -> bool:
    return bound is None or _OPS[bound[0]](value, bound[1])


def expect(key: str, value: float, dataset: str) -> bool:
    """Check ``value`` against ``TARGETS[key]`` for ``dataset``; raise AssertionError if it fails, else return True.

    The ``anywhere`` bound is checked on every dataset; the ``mini`` bound only
    on mini-flowers (on other data it is printed as not applicable). Introduced
    in notebook ``00_the_challenge``.
    """
    target = TARGETS[key]
    bounds = [("on any dataset", target.anywhere)]
    if dataset == "mini":
        bounds.append(("on mini-flowers", target.mini))
    for where, bound in bounds:
        if not _holds(bound, value):
            op, number = bound  # type: ignore[misc]
            raise AssertionError(f"{target.what} = {value:.4g}, expected {op} {number:.4g} {where}. {target.why}".strip())
    return True
