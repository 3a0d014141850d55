"""The failed teams' pipelines, as each team wrote them, so they can be run, measured and diagnosed.

Notebook ``01_access`` stages the Access team (:mod:`.access`), ``02_transform``
the Quality team (:mod:`.quality`, which also measures each of its bugs alone,
:func:`run_ablation`), ``03_load`` the Efficiency team (:mod:`.efficiency`), and
``04_three_teams`` judges all of them and ours (:mod:`.ours`) on the same
wall-clock budget (:mod:`.capstone`), then scales the costs to the real photos
(:mod:`.extrapolation`). Every team used the same network
(:class:`flowerkit.model.FlowerCNN`); only the data pipeline differs.

What each team got wrong is its notebook's hunt, so ``help(teams)`` does not say: the docstrings stay neutral, the
bugs are annotated in the code's comments (which the notebooks print after their checkers), and the constants that
name them are importable but left out of ``__all__``, whose constants pydoc lists with their values, and of ``dir()``,
which Tab completion lists (notebook 03
offers the Efficiency team's suspicions, decoys among them, from :data:`flowerkit.exercises.EFFICIENCY_SUSPECTS`).
"""

from .access import ACCESS_BUGS as ACCESS_BUGS  # importable, not in __all__ (see above); the same below
from .access import ACCESS_INFO as ACCESS_INFO
from .access import AccessTeamFlowers
from .access import access_team_samples as access_team_samples  # its listdir= would hint at 01's hunt: not in __all__
from .capstone import TEAM_INFO as TEAM_INFO
from .capstone import TEAMS, build_pipeline, results_table, run_team
from .efficiency import EFFICIENCY_BUGS as EFFICIENCY_BUGS
from .efficiency import EFFICIENCY_INFO as EFFICIENCY_INFO
from .efficiency import efficiency_team_loader
from .extrapolation import REAL_TRAIN_IMAGES, extrapolate
from .ours import OURS_INFO as OURS_INFO
from .pipeline import STEP_BATCH, StackedBatches
from .quality import ABLATION as ABLATION
from .quality import ABLATION_BASELINE as ABLATION_BASELINE
from .quality import ABLATION_CONTROL as ABLATION_CONTROL
from .quality import QUALITY_BUGS as QUALITY_BUGS
from .quality import QUALITY_INFO as QUALITY_INFO
from .quality import TRAIN_ROTATION as TRAIN_ROTATION
from .quality import PerImageStandardize as PerImageStandardize
from .quality import (
    ablation_costs,
    ablation_epochs,
    ablation_table,
    quality_team_transform,
    quality_variant,
    run_ablation,
)
from .training import train_pipeline

__all__ = [
    "REAL_TRAIN_IMAGES",
    "STEP_BATCH",
    "TEAMS",
    "AccessTeamFlowers",
    "StackedBatches",
    "ablation_costs",
    "ablation_epochs",
    "ablation_table",
    "build_pipeline",
    "efficiency_team_loader",
    "extrapolate",
    "quality_team_transform",
    "quality_variant",
    "results_table",
    "run_ablation",
    "run_team",
    "train_pipeline",
]


def __dir__() -> list[str]:
    """What ``dir()`` and Tab completion offer: the public names only (the constants that name bugs stay importable),
    but quality_team_transform, whose printout lists the Quality team's steps (notebook 02 names it after its hunt)."""
    return sorted(set(__all__) - {"quality_team_transform"})
