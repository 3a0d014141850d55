"""Where a first pass spends its time per image, in one process: the profile behind the loading targets.

    .venv/bin/python benchmarks/decode_profile.py            # 64 and 128 px, 300 test images, both decoders

Steps, cumulative, CPU microseconds per image (this thread's CPU time, best of 5 runs: robust to a busy machine):
  decode            the JPEG decoder alone at the scale used: what `decode_limit` in benchmarks/loading.py measures
  decode_resized    + crop and antialiased uint8 resize to SxS (flowerkit.load.decode_resized, complete)
  collate_normalise + stacking 64 images and normalising the batch (CollateNormalize)
  shared_memory     + writing the float batch into fresh shared memory, as a DataLoader worker does
for each decoder: libjpeg-turbo M/8 scaling (simplejpeg, when installed) and PIL draft. The ceiling for a first pass
against the decode limit is decode / shared_memory. The last line printed is one JSON object.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import torch
from _decoding import DecodeOnly  # benchmarks/, first on the path of `python benchmarks/decode_profile.py`

from flowerkit import OxfordFlowers102, dataset_root
from flowerkit.load import JPEG_DECODERS, CollateNormalize, decode_resized, jpeg_decoder


def best_us(fn: Callable[[], object], n: int, repeat: int = 5) -> float:
    """CPU microseconds per item of ``fn`` (which handles ``n`` items): the best of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.thread_time()
        fn()
        best = min(best, time.thread_time() - start)
    return best / n * 1e6


def profile(files: list, size: int, decoder: str) -> dict[str, float]:
    only = DecodeOnly(files, size, decoder=decoder)
    collate = CollateNormalize((0.5,) * 3, (0.25,) * 3)
    items = [(decode_resized(f, size, decoder=decoder), 0) for f in files[:64]]
    batch = collate(items)[0]
    steps = {
        "decode": best_us(lambda: [only[i] for i in range(len(only))], len(files)),
        "decode_resized": best_us(lambda: [decode_resized(f, size, decoder=decoder) for f in files], len(files)),
    }
    steps["collate_normalise"] = steps["decode_resized"] + best_us(lambda: [collate(items) for _ in range(10)], 640)
    # a worker writes each float batch into fresh shared memory (flowerkit.load._new_batch): the extra cost is the
    # new pages (allocation and page faults) over writing into memory already mapped
    fresh = best_us(lambda: [shared_like(batch).fill_(0) for _ in range(10)], 640)
    steps["shared_memory"] = steps["collate_normalise"] + max(
        0.0, fresh - best_us(lambda: [batch.fill_(0) for _ in range(10)], 640)
    )
    return steps


def shared_like(batch: torch.Tensor) -> torch.Tensor:
    """An empty tensor like ``batch`` in new shared memory, allocated as a DataLoader worker does."""
    storage = torch.UntypedStorage._new_shared(batch.numel() * batch.element_size())
    return torch.empty(0, dtype=batch.dtype).set_(storage).view(batch.shape)


def main() -> None:
    torch.set_num_threads(1)  # one worker's view: DataLoader workers run single-threaded
    files = OxfordFlowers102(dataset_root("mini", progress=False), "test").image_files[::20][:300]
    decoders = [d for d in JPEG_DECODERS if d == "pil" or jpeg_decoder().startswith("libjpeg")]
    result: dict[str, dict] = {}
    for size in (64, 128):
        for decoder in decoders:
            steps = profile(files, size, decoder)
            result[f"{size}px {decoder}"] = {k: round(v, 1) for k, v in steps.items()}
            ceiling = steps["decode"] / steps["shared_memory"]
            print(
                f"{size} px, {jpeg_decoder(decoder)}: "
                + ", ".join(f"{k} {v:.0f} us" for k, v in steps.items())
                + f"  -> first pass at most {ceiling:.2f}x its decode limit"
            )
    print(json.dumps({"cpu_us_per_image_cumulative": result}))


if __name__ == "__main__":
    main()
