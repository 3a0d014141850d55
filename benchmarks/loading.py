"""Loading benchmark: images/s of ways to feed the same normalised 3xSxS batches from mini-flowers.

    .venv/bin/python benchmarks/loading.py --size 64
    .venv/bin/python benchmarks/loading.py --size 128
    .venv/bin/python benchmarks/loading.py --quick     # 1,024 images of the split instead of all of it

Pipelines, all on the same full-size JPEGs (about 500 px) of one split:
  naive             the Efficiency team: batch size 1, no workers, full decode, per-image transforms
  torchvision       torchvision.datasets.Flowers102 + Resize, CenterCrop, ToTensor, Normalize, DataLoader
  first_pass        flowerkit DecodedFlowers (fastest decoder: libjpeg-turbo M/8 scaling if simplejpeg is installed,
                    crop, resize, uint8) + batch-wise normalise
  first_pass_pil    the same with PIL draft forced (decode_resized(decoder="pil"))
  first_pass_uint8  the same as first_pass, but uint8 batches cross the worker boundary (a quarter of the bytes through
                    shared memory) and are normalised where the model is (make_loader(normalize="device")): on the
                    GPU when there is one (copied from pinned memory, non_blocking, each batch synchronised), else in
                    the main process; first_pass / first_pass_uint8 is the shared-memory share, measured
  cached            flowerkit CachedFlowers (uint8 memory-mapped cache, batched fetch) + batch-wise normalise
  cached_workers    the same with workers
  decode_limit      the fastest decoder alone at the scale first_pass uses (no crop, resize or collate; nothing
                    returned): the ceiling for a first pass
  decode_limit_pil  PIL draft alone, the ceiling for first_pass_pil
All but naive use batch size 64 and the same number of workers, and every pipeline but the decode limits delivers the
same normalised float32 batches. Honesty rules: a warm-up batch first; rounds interleaved (drift on a shared machine
hits every pipeline alike) and the median per pipeline reported; every measurement runs its epochs to the end, so no
worker is still decoding leftover prefetched batches while the next pipeline is timed (--quick times a subset of the
split, evenly spaced, rather than the first batches of an epoch). The cached pipelines run over as many epochs as it
takes to see about as many images as the full split. Besides images/s, each pipeline's CPU time per image (main
process and workers, with psutil) is reported, and the ratios recomputed from it: on a machine shared with other jobs
the wall-clock ratios drift, the CPU-time ratios much less. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset

try:  # optional: CPU seconds of the main process and its workers (robust to a busy machine)
    import psutil
except ImportError:  # pragma: no cover
    psutil = None

from _decoding import DecodeOnly, count_items  # benchmarks/, first on the path of `python benchmarks/loading.py`

from flowerkit import OxfordFlowers102, dataset_root, torchvision_flowers102
from flowerkit.device import pick_device
from flowerkit.facts import DEFAULT_SIZE, IMAGENET_MEAN, IMAGENET_STD
from flowerkit.load import (
    DecodedFlowers,
    _resized_decoder,
    build_cache,
    jpeg_decoder,
    make_loader,
    measure_throughput,
)
from flowerkit.teams import efficiency_team_loader

QUICK_IMAGES = 1024  # 16 batches of 64: a warm-up batch, then 15 timed


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)  # Linux reports KiB


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its live children (DataLoader workers); NaN without psutil."""
    if psutil is None:
        return float("nan")
    me = psutil.Process()
    total = 0.0
    for proc in (me, *me.children(recursive=True)):
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def measure(make: Any) -> tuple[float, float]:
    """(images/s, CPU microseconds per image over all processes) after one warm-up batch, to the end of the run."""
    it = iter(make())
    next(it)
    c0 = cpu_seconds()
    r = measure_throughput(it, None, warmup=0)
    return r["images_per_s"], (cpu_seconds() - c0) / r["images"] * 1e6


def synchronised(loader: Iterable[Any]) -> Iterator[Any]:
    """``loader``'s batches, each finished on the GPU before the next is asked for (a no-op on a CPU)."""
    for batch in loader:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        yield batch


def epochs(loader: Iterable[Any], n: int) -> Iterator[Any]:
    """The batches of ``n`` whole epochs, one after the other."""
    return itertools.chain.from_iterable(loader for _ in range(n))


def subset_split(ds: OxfordFlowers102, indices: list[int]) -> OxfordFlowers102:
    """``ds`` restricted to ``indices`` (files and labels), still a dataset ``build_cache`` can fingerprint."""
    ds.image_files = [ds.image_files[i] for i in indices]
    ds.labels = [ds.labels[i] for i in indices]
    ds.image_ids = [ds.image_ids[i] for i in indices]
    return ds


def pipelines(args: argparse.Namespace, root: Any, indices: list[int], n_full: int) -> tuple[dict[str, tuple], dict]:
    """name: (iterable factory, note); plus facts about the cache."""
    S, W, B, split = args.size, args.workers, args.batch_size, args.split
    ds = subset_split(OxfordFlowers102(root, split), indices)
    t0 = time.perf_counter()
    cache = build_cache(ds, S, num_workers=W, progress=False, folder=tempfile.mkdtemp(prefix="flowerkit-bench-"))
    build_s = time.perf_counter() - t0
    cache_epochs = max(1, math.ceil(n_full / len(cache)))  # about as many images as the full split, in --quick too
    n_naive = 256 if args.quick else 1024
    naive_ds = efficiency_team_loader(root, split, S).dataset  # the classic per-image transform, full decode
    tv = Subset(torchvision_flowers102(root, split, transform=naive_ds.transform), indices)
    norm = {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}

    def decoded(decode: Any, normalize: str = "worker") -> DataLoader:
        dataset = Subset(DecodedFlowers(root, split, S, decode=decode), indices)
        return make_loader(dataset, batch_size=B, num_workers=W, normalize=normalize, **norm)

    def decode_only(decoder: str) -> DataLoader:
        only = DecodeOnly(ds.image_files, S, decoder=decoder)
        return DataLoader(only, batch_size=B, num_workers=W, collate_fn=count_items, persistent_workers=W > 0)

    cached = make_loader(cache, batch_size=B, num_workers=0, shuffle=True, **norm)
    uint8_to_device = decoded(_resized_decoder(), normalize="device")
    cached_w = make_loader(cache, batch_size=B, num_workers=W, shuffle=True, **norm)
    naive = DataLoader(Subset(naive_ds, indices[:: max(1, len(indices) // n_naive)][:n_naive]), batch_size=1)

    def once(loader: Iterable[Any]) -> Any:
        return lambda: loader

    factories = {  # name: (a fresh iterable for one measurement, note)
        "naive": (once(naive), f"batch 1, no workers, full decode, per-image transforms ({len(naive)} images)"),
        "torchvision": (
            once(DataLoader(tv, batch_size=B, num_workers=W, persistent_workers=W > 0)),
            f"batch {B}, {W} workers, full decode, PIL Resize + CenterCrop + ToTensor + Normalize",
        ),
        "first_pass": (
            once(decoded(_resized_decoder())),
            f"batch {B}, {W} workers, {jpeg_decoder()} + crop + resize, batch-wise normalise",
        ),
        "first_pass_pil": (once(decoded(_resized_decoder("pil"))), f"the same with {jpeg_decoder('pil')}"),
        "first_pass_uint8": (
            lambda: synchronised(uint8_to_device),
            f"the same as first_pass, uint8 across the worker boundary, normalised on {pick_device()}",
        ),
        "cached": (lambda: epochs(cached, cache_epochs), f"batch {B}, shuffled, no workers; {cache_epochs} epoch(s)"),
        "cached_workers": (lambda: epochs(cached_w, cache_epochs), f"batch {B}, shuffled, {W} workers; {cache_epochs} epoch(s)"),
        "decode_limit": (once(decode_only("auto")), f"{W} workers, {jpeg_decoder()} decode only, nothing returned"),
        "decode_limit_pil": (once(decode_only("pil")), f"{W} workers, {jpeg_decoder('pil')} decode only, nothing returned"),
    }
    facts = {"cache_mib": round(cache.nbytes / 2**20, 2), "cache_build_s": round(build_s, 2), "cache_images": len(cache)}
    return factories, facts


def report(args: argparse.Namespace, results: dict[str, list[tuple[float, float]]], notes: dict[str, str], facts: dict) -> None:
    ips = {name: statistics.median(r[0] for r in v) for name, v in results.items()}
    cpu = {name: statistics.median(r[1] for r in v) for name, v in results.items()}
    for name, v in results.items():
        lo, hi = min(r[0] for r in v), max(r[0] for r in v)
        print(f"  {name:<17} {ips[name]:>10.0f} img/s  (min {lo:.0f}, max {hi:.0f}), {cpu[name]:.0f} CPU us/img", file=sys.stderr)
    print("\n| pipeline | images/s | vs torchvision | CPU µs/image | notes |\n|---|---:|---:|---:|---|")
    for name in ips:
        print(f"| {name} | {ips[name]:,.0f} | {ips[name] / ips['torchvision']:.2f}x | {cpu[name]:,.0f} | {notes[name]} |")
    pairs = [
        ("first_pass", "torchvision"),
        ("first_pass", "decode_limit"),
        ("first_pass_pil", "decode_limit_pil"),
        ("first_pass", "first_pass_pil"),
        ("first_pass_uint8", "first_pass"),
        ("decode_limit", "decode_limit_pil"),
        ("first_pass", "naive"),
        ("cached", "torchvision"),
    ]
    ratios = {f"{a}/{b}": ips[a] / ips[b] for a, b in pairs if a in ips and b in ips}
    print("\nratios: " + ", ".join(f"{k} = {v:.2f}" for k, v in ratios.items()))
    # The same ratios from CPU time (all processes): what they would be with the cores to ourselves
    cpu_ratios = {f"{a}/{b}": cpu[b] / cpu[a] for a, b in pairs if a in cpu and b in cpu}
    print("CPU-time ratios: " + ", ".join(f"{k} = {v:.2f}" for k, v in cpu_ratios.items()))
    keys = ("size", "split", "workers", "batch_size", "quick", "repeat")
    out = {k: getattr(args, k) for k in keys} | {"decoder": jpeg_decoder()}
    out |= {"images_per_s": {k: round(v, 1) for k, v in ips.items()}, "ratios": {k: round(v, 2) for k, v in ratios.items()}}
    out |= {"cpu_us_per_image": {k: round(v, 1) for k, v in cpu.items()}}
    out |= {"cpu_ratios": {k: round(v, 2) for k, v in cpu_ratios.items()}}
    print(json.dumps(out | facts | {"peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=DEFAULT_SIZE)
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--quick", action="store_true", help=f"time {QUICK_IMAGES} images of the split, evenly spaced")
    p.add_argument("--dataset", default="mini", choices=["mini", "real"])
    p.add_argument("--repeat", type=int, default=5, help="interleaved rounds; the median per pipeline is reported")
    p.add_argument("--only", nargs="*", help="time only these pipelines (torchvision is always timed: the reference)")
    args = p.parse_args()

    root = dataset_root(args.dataset, progress=False)
    n_full = len(OxfordFlowers102(root, args.split))
    step = n_full / QUICK_IMAGES if args.quick and n_full > QUICK_IMAGES else 1
    indices = [int(i * step) for i in range(min(n_full, QUICK_IMAGES) if args.quick else n_full)]
    print(
        f"{args.split} split, {len(indices)} of {n_full} images, size {args.size}, batch {args.batch_size}, "
        f"workers {args.workers}, {args.repeat} interleaved rounds, decoder: {jpeg_decoder()}",
        file=sys.stderr,
    )
    factories, facts = pipelines(args, root, indices, n_full)
    if args.only:
        factories = {k: v for k, v in factories.items() if k in set(args.only) | {"torchvision"}}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in factories}
    for _ in range(args.repeat):
        for name, (make, _) in factories.items():
            results[name].append(measure(make))
    report(args, results, {k: v[1] for k, v in factories.items()}, facts)


if __name__ == "__main__":
    main()
