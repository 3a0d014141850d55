"""The failed teams' pipelines, each bug named and documented, so they can be run, measured and diagnosed.

Notebook ``01_access`` stages the Access team (:mod:`.access`), ``02_transform``
the Quality team (:mod:`.quality`, which also measures each of its bugs alone,
:func:`run_ablation`), ``03_load`` the Efficiency team (:mod:`.efficiency`), and
``04_three_teams`` judges all of them and ours (:mod:`.ours`) on the same
wall-clock budget (:mod:`.capstone`), then scales the costs to the real photos
(:mod:`.extrapolation`). Every team used the same network
(:class:`flowerkit.model.FlowerCNN`); only the data pipeline differs. Each
team's bugs are importable by name: :data:`ACCESS_BUGS`, :data:`QUALITY_BUGS`,
:data:`EFFICIENCY_BUGS`.
"""

from .access import ACCESS_BUGS, ACCESS_INFO, AccessTeamFlowers, access_team_samples
from .capstone import TEAM_INFO, TEAMS, build_pipeline, results_table, run_team
from .efficiency import EFFICIENCY_BUGS, EFFICIENCY_INFO, efficiency_team_loader
from .extrapolation import REAL_TRAIN_IMAGES, extrapolate
from .ours import OURS_INFO
from .pipeline import STEP_BATCH, StackedBatches
from .quality import (
    ABLATION,
    ABLATION_BASELINE,
    ABLATION_CONTROL,
    QUALITY_BUGS,
    QUALITY_INFO,
    TRAIN_ROTATION,
    PerImageStandardize,
    ablation_costs,
    ablation_epochs,
    ablation_table,
    quality_team_transform,
    quality_variant,
    run_ablation,
)
from .training import train_pipeline

__all__ = [
    "ABLATION",
    "ABLATION_BASELINE",
    "ABLATION_CONTROL",
    "ACCESS_BUGS",
    "ACCESS_INFO",
    "EFFICIENCY_BUGS",
    "EFFICIENCY_INFO",
    "OURS_INFO",
    "QUALITY_BUGS",
    "QUALITY_INFO",
    "REAL_TRAIN_IMAGES",
    "STEP_BATCH",
    "TEAMS",
    "TEAM_INFO",
    "TRAIN_ROTATION",
    "AccessTeamFlowers",
    "PerImageStandardize",
    "StackedBatches",
    "ablation_costs",
    "ablation_epochs",
    "ablation_table",
    "access_team_samples",
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
