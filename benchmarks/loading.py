"""Loading benchmark: images/s of five ways to feed the same normalised 3xSxS batches from mini-flowers.

    .venv/bin/python benchmarks/loading.py --size 64
    .venv/bin/python benchmarks/loading.py --size 128
    .venv/bin/python benchmarks/loading.py --quick     # a subset, under a minute

Pipelines, all on the same full-size JPEGs (about 500 px) of one split:
  naive         the Efficiency team: batch size 1, no workers, full decode, per-image transforms
  torchvision   torchvision.datasets.Flowers102 + Resize, CenterCrop, ToTensor, Normalize, DataLoader
  first_pass    flowerkit DecodedFlowers (draft decode, crop, resize, uint8) + batch-wise normalise
  cached        flowerkit CachedFlowers (uint8 memory-mapped cache, batched fetch) + batch-wise normalise
  decode_limit  draft decode alone (no resize, no collate): the ceiling for a first pass
All but naive use batch size 64 and the same number of workers. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time

from torch.utils.data import DataLoader

from flowerkit import OxfordFlowers102, dataset_root, torchvision_flowers102
from flowerkit.facts import IMAGENET_MEAN, IMAGENET_STD
from flowerkit.load import DecodedFlowers, DraftDecodeOnly, build_cache, count_items, make_loader, measure_throughput
from flowerkit.teams import classic_transform


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)  # Linux reports KiB


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--quick", action="store_true", help="time a subset of batches (under a minute)")
    p.add_argument("--dataset", default="mini", choices=["mini", "real"])
    p.add_argument("--repeat", type=int, default=5, help="interleaved rounds; the median per pipeline is reported")
    args = p.parse_args()
    S, W, B = args.size, args.workers, args.batch_size

    root = dataset_root(args.dataset, progress=False)
    n_batches = 12 if args.quick else None  # None: one whole epoch of the split

    ds = OxfordFlowers102(root, args.split)
    print(
        f"{args.split} split, {len(ds)} images, size {S}, batch {B}, workers {W}, {args.repeat} interleaved rounds",
        file=sys.stderr,
    )

    t0 = time.perf_counter()
    cache = build_cache(ds, S, num_workers=W, progress=False, folder=tempfile.mkdtemp(prefix="flowerkit-bench-"))
    build_s = time.perf_counter() - t0

    n_naive = 256 if args.quick else 1024
    tv = torchvision_flowers102(root, args.split, transform=classic_transform(S))
    pipelines = {  # name: (loader, batches per measurement or None for one epoch, note)
        "naive": (
            DataLoader(OxfordFlowers102(root, args.split, transform=classic_transform(S)), batch_size=1, num_workers=0),
            n_naive,
            f"batch 1, no workers, full decode, per-image transforms ({n_naive} images)",
        ),
        "torchvision": (
            DataLoader(tv, batch_size=B, num_workers=W, persistent_workers=W > 0),
            n_batches,
            f"batch {B}, {W} workers, full decode, PIL Resize + CenterCrop + ToTensor + Normalize",
        ),
        "first_pass": (
            make_loader(DecodedFlowers(root, args.split, S), batch_size=B, num_workers=W, mean=IMAGENET_MEAN, std=IMAGENET_STD),
            n_batches,
            f"batch {B}, {W} workers, draft decode + crop + resize, batch-wise normalise",
        ),
        "cached": (
            make_loader(cache, batch_size=B, num_workers=0, mean=IMAGENET_MEAN, std=IMAGENET_STD, shuffle=True),
            None,
            f"batch {B}, shuffled, no workers needed; {cache.nbytes / 2**20:.1f} MiB cache built once in {build_s:.1f} s",
        ),
        "cached_workers": (
            make_loader(cache, batch_size=B, num_workers=W, mean=IMAGENET_MEAN, std=IMAGENET_STD, shuffle=True),
            None,
            f"batch {B}, shuffled, {W} workers (sending batches between processes costs more than it saves)",
        ),
        "decode_limit": (
            DataLoader(
                DraftDecodeOnly(ds.image_files, S), batch_size=B, num_workers=W, collate_fn=count_items, persistent_workers=W > 0
            ),
            n_batches,
            f"{W} workers, draft decode only, nothing returned",
        ),
    }
    # Interleaved rounds, median per pipeline: a shared 2-core machine drifts, and drift then hits every pipeline alike.
    results: dict[str, list[float]] = {name: [] for name in pipelines}
    for _ in range(args.repeat):
        for name, (loader, batches, _) in pipelines.items():
            results[name].append(measure_throughput(loader, batches, warmup=1)["images_per_s"])
    rows = {
        name: {"images_per_s": statistics.median(v), "spread": (min(v), max(v)), "note": pipelines[name][2]}
        for name, v in results.items()
    }
    for name, row in rows.items():
        lo, hi = row["spread"]
        print(f"  {name:<15} {row['images_per_s']:>10.0f} img/s  (min {lo:.0f}, max {hi:.0f})", file=sys.stderr)

    ips = {k: v["images_per_s"] for k, v in rows.items()}
    print("\n| pipeline | images/s | vs torchvision | notes |\n|---|---:|---:|---|")
    for k, v in rows.items():
        print(f"| {k} | {v['images_per_s']:,.0f} | {v['images_per_s'] / ips['torchvision']:.2f}x | {v['note']} |")
    ratios = {
        "first_pass/torchvision": ips["first_pass"] / ips["torchvision"],
        "first_pass/decode_limit": ips["first_pass"] / ips["decode_limit"],
        "first_pass/naive": ips["first_pass"] / ips["naive"],
        "cached/torchvision": ips["cached"] / ips["torchvision"],
    }
    print("\nratios: " + ", ".join(f"{k} = {v:.2f}" for k, v in ratios.items()))
    print(
        json.dumps(
            {
                "size": S,
                "split": args.split,
                "workers": W,
                "batch_size": B,
                "quick": args.quick,
                "images_per_s": {k: round(v, 1) for k, v in ips.items()},
                "ratios": {k: round(v, 2) for k, v in ratios.items()},
                "cache_mib": round(cache.nbytes / 2**20, 2),
                "cache_build_s": round(build_s, 2),
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


if __name__ == "__main__":
    main()
