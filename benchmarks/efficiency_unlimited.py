"""Given the epochs instead of a deadline, does the Efficiency team's pipeline learn as well as ours?

    .venv/bin/python benchmarks/efficiency_unlimited.py              # their loop stacks 64 images per step
    .venv/bin/python benchmarks/efficiency_unlimited.py --no-stack   # one image per optimiser step

Trains the Efficiency team's pipeline (``teams.build_pipeline("efficiency")``)
for ``--epochs`` full epochs with no time budget and reports its test
accuracy. With one image per step BatchNorm normalises each training image by
its own statistics and test images by running averages, so the network does
not learn: the reason the capstone stacks their single images into steps of
``teams.STEP_BATCH`` (notebook 04). About 1 minute stacked, 2.5 minutes not,
on 2 cores. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

from flowerkit import dataset_root, expectations, teams
from flowerkit.model import TrainConfig


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="mini", choices=["mini", "real"])
    p.add_argument("--epochs", type=int, default=None, help="default: the dataset's profile (14 on mini)")
    p.add_argument("--no-stack", action="store_true", help="one image per optimiser step, as their loader hands them over")
    args = p.parse_args()
    prof = expectations.profile(args.dataset)
    config = TrainConfig(epochs=args.epochs or prof.epochs)
    pipe = teams.build_pipeline("efficiency", dataset_root(args.dataset), size=prof.size, progress=False)
    if args.no_stack:
        pipe = dataclasses.replace(pipe, stack=1)
    start = time.perf_counter()
    result = teams.train_pipeline(pipe, config, curve=False)
    wall = time.perf_counter() - start
    print(f"Efficiency team, {config.epochs} epochs, {pipe.stack} image(s) per step: test accuracy {result.test_acc:.1%}")
    print(f"{result.train_s:.0f} s of training, {wall:.0f} s in all")
    summary = {"dataset": args.dataset, "epochs": config.epochs, "stack": pipe.stack, "test_acc": round(result.test_acc, 4)}
    print(json.dumps({**summary, "train_s": round(result.train_s, 1), "wall_s": round(wall, 1)}))


if __name__ == "__main__":
    main()
