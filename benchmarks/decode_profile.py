"""Where a first pass spends its time per image, in one process: the profile behind the loading targets.

    .venv/bin/python benchmarks/decode_profile.py            # 64 and 128 px, 400 test images

Steps, cumulative, microseconds per image (best of 3 runs):
  draft_decode      PIL draft + decode: what `decode_limit` in benchmarks/loading.py measures
  to_array          + copying the decoded pixels into a numpy/torch array
  crop_resize       + centre crop and antialiased uint8 resize to SxS (decode_resized, complete)
  collate_normalise + stacking 64 images and normalising the batch (CollateNormalize)
The last line printed is one JSON object.
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch
from PIL import Image

from flowerkit import OxfordFlowers102, dataset_root
from flowerkit.load import CollateNormalize, decode_resized


def best_us(fn, n: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def main() -> None:
    torch.set_num_threads(1)  # one worker's view: DataLoader workers run single-threaded
    files = OxfordFlowers102(dataset_root("mini", progress=False), "test").image_files[:400]
    result = {}
    for size in (64, 128):

        def draft(size=size):
            for f in files:
                with Image.open(f) as im:
                    im.draft("RGB", (size, size))
                    im.load()

        def to_array(size=size):
            for f in files:
                with Image.open(f) as im:
                    im.draft("RGB", (size, size))
                    torch.from_numpy(np.array(im))

        def full(size=size):
            for f in files:
                decode_resized(f, size)

        collate = CollateNormalize((0.5,) * 3, (0.25,) * 3)
        items = [(decode_resized(f, size), 0) for f in files[:64]]
        steps = {
            "draft_decode": best_us(draft, len(files)),
            "to_array": best_us(to_array, len(files)),
            "crop_resize": best_us(full, len(files)),
        }
        steps["collate_normalise"] = steps["crop_resize"] + best_us(
            lambda items=items, collate=collate: [collate(items) for _ in range(10)], 640
        )
        result[size] = {k: round(v, 1) for k, v in steps.items()}
        ceiling = steps["draft_decode"] / steps["collate_normalise"]
        print(
            f"{size} px: "
            + ", ".join(f"{k} {v:.0f} us" for k, v in steps.items())
            + f"  -> first pass at most {ceiling:.2f}x decode_limit"
        )
    print(json.dumps({"us_per_image_cumulative": result}))


if __name__ == "__main__":
    main()
