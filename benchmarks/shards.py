"""Shards vs files: images/s of the same normalised batches, read from JPEG files or streamed from tar shards.

    .venv/bin/python benchmarks/shards.py                  # test split, 64 px, 2 workers, 3 rounds
    .venv/bin/python benchmarks/shards.py --repeat 1       # one round, about a minute on 2 cores

Pipelines, all on the same JPEG bytes of one split, batch 64, the same workers:
  files         flowerkit DecodedFlowers (a file per image, DataLoader + CollateNormalize)
  shards        flowerkit.shards.shard_loader (webdataset: tar shards, decode_resized, CollateNormalize)
  shards_read   the same shards read in one process without decoding: the cost of reading the tar files
Both decoding pipelines run the same decode (flowerkit.load.decode_resized), so on a local disk whose files sit in
the page cache they should be close: shards win where each file open is expensive (network file systems, object
stores, millions of files). Rounds are interleaved; the median per pipeline is reported. The last line printed is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time

from flowerkit import OxfordFlowers102, dataset_root
from flowerkit.facts import DEFAULT_SIZE
from flowerkit.load import DecodedFlowers, make_loader, measure_throughput
from flowerkit.shards import read_shard_keys, shard_loader, write_shards

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="mini", choices=["mini", "real"])
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--size", type=int, default=DEFAULT_SIZE)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--num-shards", type=int, default=8)
    p.add_argument("--repeat", type=int, default=3, help="interleaved rounds; the median per pipeline is reported")
    args = p.parse_args()
    root = dataset_root(args.dataset, progress=False)
    split = OxfordFlowers102(root, args.split)
    W, B, S = args.workers, args.batch_size, args.size
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        urls = write_shards(split, folder, num_shards=args.num_shards, progress=False)
        write_s = time.perf_counter() - start
        pipelines = {
            "files": lambda: make_loader(DecodedFlowers(root, args.split, S), batch_size=B, num_workers=W, mean=MEAN, std=STD),
            "shards": lambda: shard_loader(urls, S, batch_size=B, num_workers=W, mean=MEAN, std=STD, shuffle_buffer=B),
        }
        runs: dict[str, list[float]] = {name: [] for name in [*pipelines, "shards_read"]}
        for _ in range(args.repeat):
            for name, make in pipelines.items():
                runs[name].append(measure_throughput(make(), warmup=1)["images_per_s"])
            start = time.perf_counter()
            n = len(read_shard_keys(urls))  # one process, no decoding: the cost of reading the tar files
            runs["shards_read"].append(n / (time.perf_counter() - start))
    result = {name: round(statistics.median(v)) for name, v in runs.items()}
    print(
        f"{args.split} split, {len(split)} images in {args.num_shards} shards (written in {write_s:.1f} s), size {S}, "
        f"batch {B}, workers {W}, median of {args.repeat}",
        file=sys.stderr,
    )
    for name, value in result.items():
        print(f"{name:12s} {value:8,d} images/s", file=sys.stderr)
    print(json.dumps({**result, "images": len(split), "size": S, "workers": W, "repeat": args.repeat}))


if __name__ == "__main__":
    main()
