"""What the Quality team's loader does to each cached item, step by step, next to ours: where its extra time goes.

    .venv/bin/python benchmarks/quality_items.py                # facts.DEFAULT_SIZE (mini's 64 px), one thread
    .venv/bin/python benchmarks/quality_items.py --size 96 --items 2000

Notebook 04 races the Quality team on our budget: its fixed half (gray, squashed) is cached as ours is, its random half
runs on every item in the loader's workers. This times, per item on one thread, on cached uint8 (3, size, size)
images of the mini-flowers train split: our shift and flip (``transform.augment_uint8``, which both pay), their random
rotation (a choice at training, bug 4 at evaluation), and their float conversion with per-image standardisation
(bug 3). Milliseconds per item, the median of five passes; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torchvision.transforms import v2

import flowerkit
from flowerkit.access import OxfordFlowers102
from flowerkit.facts import DEFAULT_SIZE
from flowerkit.load import decode_resized
from flowerkit.teams import PerImageStandardize
from flowerkit.transform import augment_uint8


def ms_per_item(step: torch.nn.Module, images: list[torch.Tensor], passes: int = 5) -> float:
    """Median over ``passes`` of the milliseconds ``step`` takes per image of ``images``."""
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        for image in images:
            step(image)
        times.append((time.perf_counter() - start) / len(images) * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE)
    parser.add_argument("--items", type=int, default=500)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # one loader worker's view
    torch.manual_seed(0)
    files = OxfordFlowers102(flowerkit.dataset_root("mini", progress=False), "train").image_files[: args.items]
    images = [decode_resized(f, args.size) for f in files]  # uint8, as the cache holds them
    floats = [v2.ToDtype(torch.float32, scale=True)(x) for x in images]
    steps = {
        "our shift and flip (both pay it)": (augment_uint8(args.size), images),
        "their rotation": (v2.RandomRotation(30), images),
        "their float conversion + per-image standardisation": (
            v2.Compose([v2.ToDtype(torch.float32, scale=True), PerImageStandardize()]),
            images,
        ),
        "(of which per-image standardisation alone)": (PerImageStandardize(), floats),
    }
    result = {name: ms_per_item(step, items) for name, (step, items) in steps.items()}
    for name, ms in result.items():
        print(f"{name:55s} {ms:6.3f} ms per item")
    print(json.dumps({"size": args.size, "items": len(images), "ms_per_item": result}))
    return result


if __name__ == "__main__":
    main()
