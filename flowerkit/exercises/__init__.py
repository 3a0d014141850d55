"""Checkers for the notebooks' exercises: specific feedback (what is wrong, and a hint), never just pass/fail.

Each checker prints its verdict and returns a :class:`Verdict`, true or false;
it never raises on a wrong or unanswered exercise, so a notebook keeps
running. A stub that still returns ``None`` is told it is unanswered.

One module per notebook holds its checkers, from ``nb00`` for
notebook ``00_the_challenge`` to ``nb08`` for notebook ``08_your_own_data``;
``verdict`` holds what they share. The notebooks reach them all through this
package: ``from flowerkit import exercises; exercises.check_images_per_class(...)``.
"""

from __future__ import annotations

from .nb00 import check_classes_per_batch, check_images_per_class
from .nb01 import (
    check_access_cause,
    check_csv_agreement,
    check_flowers_dataset,
    check_herbarium_items,
    check_label_agreement,
    check_pair_files,
    check_spawn_fix,
    check_spawn_ready,
)
from .nb02 import (
    BATCH_CHECKS,
    CAFFE_CARD,
    QUALITY_SUSPECTS,
    check_batch_findings,
    check_caffe_input,
    check_merge_stats,
    check_mixup_loaders,
    check_quality_causes,
    check_train_stats,
)
from .nb03 import (
    EFFICIENCY_SUSPECTS,
    CroppedFlowers,
    check_balanced_sampler,
    check_bug_ranking,
    check_collate,
    check_predict_loader,
    check_sharded_stream,
    check_train_loader,
    check_wait_meter,
    check_worker_seeding,
)
from .nb04 import check_fixed_loader, check_lr_at, check_majority_baseline, check_most_confused, intern_loader
from .nb05 import (
    SKEW_CHOICES,
    check_compare_batches,
    check_deployment_skews,
    check_kiosk_skew,
    check_my_artifact,
    check_my_input,
    kiosk_preprocess,
)
from .nb06 import (
    SCALE_SUSPECTS,
    check_count_appearances,
    check_ddp_by_hand,
    check_my_shard,
    check_padded_indices,
    check_rank_stream,
    check_scale_bugs,
    check_shuffle_buffer,
    check_torchrun_stream,
)
from .nb07 import *  # noqa: F403  (notebook 07's checkers: the names in nb07.__all__)
from .nb08 import *  # noqa: F403  (notebook 08's checkers: the names in nb08.__all__)
from .verdict import RAISED_HINT, STUB_HINT, Verdict

__all__ = [
    "RAISED_HINT",
    "SKEW_CHOICES",
    "STUB_HINT",
    "Verdict",
    "check_access_cause",
    "check_balanced_sampler",
    "check_bug_ranking",
    "check_batch_findings",
    "CAFFE_CARD",
    "check_caffe_input",
    "check_classes_per_batch",
    "check_collate",
    "check_count_appearances",
    "check_ddp_by_hand",
    "check_my_shard",
    "check_merge_stats",
    "check_fixed_loader",
    "check_kiosk_skew",
    "check_flowers_dataset",
    "check_label_agreement",
    "check_majority_baseline",
    "check_lr_at",
    "check_mixup_loaders",
    "check_most_confused",
    "check_padded_indices",
    "check_pair_files",
    "check_quality_causes",
    "check_train_stats",
    "QUALITY_SUSPECTS",
    "EFFICIENCY_SUSPECTS",
    "CroppedFlowers",
    "BATCH_CHECKS",
    "check_wait_meter",
    "check_worker_seeding",
    "check_my_artifact",
    "check_my_input",
    "kiosk_preprocess",
    "check_compare_batches",
    "check_deployment_skews",
    "check_rank_stream",
    "check_shuffle_buffer",
    "check_torchrun_stream",
    "check_scale_bugs",
    "SCALE_SUSPECTS",
    "check_sharded_stream",
    "check_spawn_fix",
    "check_spawn_ready",
    "check_images_per_class",
    "check_csv_agreement",
    "check_herbarium_items",
    "check_train_loader",
    "check_predict_loader",
    "intern_loader",
]
