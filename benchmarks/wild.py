"""DataLoader in the wild (notebook 07_in_the_wild): each section's figures, measured on this machine.

    .venv/bin/python benchmarks/wild.py                    # mini-flowers at the course's size, about 2 minutes on 2 cores
    .venv/bin/python benchmarks/wild.py --dataset real     # the real photos (or the stand-in of `make test-real`)

Prints, per section: (1) each fork worker's private memory at its first batch and at the end of one shuffled epoch
of 400,000 records, as a list of dicts and as NumPy arrays; (2) what a forkserver worker receives and holds for the
test split's cache opened in __init__ and opened lazily (CachedFlowers), and HDF5 either way; (3) the script without
the __main__ guard: seconds to its first error and to its exit, and the guarded one; (4) a stalled worker with
timeout=2: seconds to the error; a worker that dies before its loop, sent 0 or 64 MiB: what the main process does;
(5) the epoch with two damaged JPEGs: how far it got and when it stopped, and one validation pass; (6) bytes of
batches in /dev/shm, computed and measured; (7) whether the crops of two workers repeat. The last line is one JSON
object. Memory and times move with the machine's load; run it on a quiet machine for the README's figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import pickle
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from flowerkit import OxfordFlowers102, dataset_root, wild
from flowerkit.access import torchvision_flowers102
from flowerkit.expectations import profile
from flowerkit.load import CollateNormalize, build_cache, collate_uint8

FORK = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
SERVER = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


def records(root: Path) -> dict:
    splits = [OxfordFlowers102(root, split) for split in ("train", "val", "test")]
    files = [f for s in splits for f in s.image_files]
    labels = [label for s in splits for label in s.labels]
    out = {}
    for name, cls in (("list of dicts", wild.RecordList), ("numpy arrays", wild.RecordArrays)):
        memory = wild.measure_worker_memory(cls(files, labels, 400_000), context=FORK, batch_size=1000)
        out[name] = {"first_mib": memory.first, "last_mib": memory.last, "seconds": round(memory.seconds, 1)}
    return out


def handles(root: Path, size: int, scratch: Path) -> dict:
    server = mp.get_context(SERVER)
    cache = build_cache(OxfordFlowers102(root, "test"), size, num_workers=2, progress=False)
    out = {"cache_mib": round(cache.nbytes / 2**20, 1)}
    for name, dataset in (("opened in __init__", wild.EagerMemmapCache(cache.path)), ("CachedFlowers", cache)):
        memory = wild.measure_worker_memory(dataset, context=server, batch_size=256, shuffle=False, collate_fn=collate_uint8)
        out[name] = {"pickle_bytes": len(pickle.dumps(dataset)), "worker_private_mib": memory.last}
    h5 = wild.write_hdf5(cache.images, cache.labels, scratch / "test.h5")
    try:
        pickle.dumps(wild.EagerH5Flowers(h5))
    except TypeError as exc:
        out["hdf5 opened in __init__"] = f"TypeError: {exc}"
    out["hdf5 lazy pickle_bytes"] = len(pickle.dumps(wild.LazyH5Flowers(h5)))
    return out


def scripts(scratch: Path) -> dict:
    cases = {"no_guard": ("no_guard", 0, None), "guard": ("guard", 0, None)}
    cases |= {"dies, 0 MiB": ("class_in_guard", 0, None), "dies, 64 MiB": ("class_in_guard", 64, 10)}
    paths = {}
    for name, (kind, mib, _) in cases.items():
        paths[name] = scratch / f"{name.replace(' ', '_').replace(',', '')}.py"
        paths[name].write_text(wild.training_script(kind, payload_mib=mib))

    def run(name: str) -> wild.ScriptRun:
        return wild.run_script(paths[name], deadline_s=300, after_error_s=cases[name][2])

    out = {}
    for pair in (("no_guard", "guard"), ("dies, 0 MiB", "dies, 64 MiB")):  # two at a time, as the notebook runs them
        with ThreadPoolExecutor(2) as pool:
            for name, r in zip(pair, pool.map(run, pair)):
                out[name] = {
                    "first_error_s": r.first_error_s,
                    "seconds": round(r.seconds, 1),
                    "returncode": r.returncode,
                    "stopped_while_waiting": r.timed_out,
                    "last_error": (r.errors or [""])[-1][:120],
                }
    stalled = wild.run_epoch(
        DataLoader(wild.StallingDataset(64, 40, 3), batch_size=8, num_workers=2, multiprocessing_context=FORK, timeout=2)
    )
    out["stalled worker, timeout=2"] = {"seconds": round(stalled.seconds, 1), "error": stalled.error}
    return out


def corrupt(root: Path, size: int, scratch: Path) -> dict:
    planted = wild.planted_damage(wild.plant_bad_images(root, "val", scratch / "damaged"), "val")
    to_tensor = v2.Compose([v2.ToImage(), v2.Resize(size, antialias=True), v2.CenterCrop(size)])
    tv = torchvision_flowers102(scratch / "damaged", "val", transform=to_tensor)
    epoch = wild.run_epoch(DataLoader(tv, batch_size=32, num_workers=2, multiprocessing_context=FORK, timeout=60))
    damaged = OxfordFlowers102(scratch / "damaged", "val")
    found = wild.find_bad_images(damaged.image_files, num_workers=2, draft=size)
    return {
        "planted": planted,
        "stopped_at_share": round(epoch.share, 3),
        "stopped_after_s": round(epoch.seconds, 1),
        "error": epoch.error.splitlines()[-1],
        "found_by_validation": [b.file for b in found],
    }


def shared_memory() -> dict:
    out = {"dev_shm_bytes": (wild.shm_size() or (None,))[0], "sharing_strategy": torch.multiprocessing.get_sharing_strategy()}
    for name, size, collate, itemsize in (
        ("224 px float32", 224, CollateNormalize((0.5,) * 3, (0.25,) * 3), 4),
        ("224 px uint8", 224, collate_uint8, 1),
    ):
        loader = DataLoader(
            wild.BlankImages(640, size),
            batch_size=64,
            num_workers=2,
            prefetch_factor=2,
            collate_fn=collate,
            multiprocessing_context=FORK,
            timeout=60,
        )
        out[name] = {
            "computed_mib": wild.bytes_in_flight(2, 2, 64, (3, size, size), itemsize) / 2**20,
            "measured_mib": (wild.shm_in_flight(loader) or float("nan")) / 2**20,
        }
    return out


def randomness(root: Path, size: int) -> dict:
    cache = build_cache(OxfordFlowers102(root, "val"), size, num_workers=2, progress=False)
    out = {}
    for name, cls in (("generator in __init__", wild.JitterCrops), ("generator per worker", wild.SeededJitterCrops)):
        loader = DataLoader(cls(cache, size * 3 // 4), batch_size=6, num_workers=2, multiprocessing_context=FORK, timeout=60)
        first = [offsets.tolist() for _, _, offsets in loader][:2]
        out[name] = {"worker 1 repeats worker 0": first[0] == first[1]}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="mini", choices=["mini", "real"])
    args = p.parse_args()
    root, size = dataset_root(args.dataset), profile(args.dataset).size
    if SERVER == "forkserver":
        mp.get_context(SERVER).set_forkserver_preload(["flowerkit.wild"])
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        figures = {
            "dataset": args.dataset,
            "size": size,
            "1 copy-on-read": records(root),
            "2 handles": handles(root, size, scratch),
            "3-4 scripts and hangs": scripts(scratch),
            "5 bad JPEGs": corrupt(root, size, scratch),
            "6 shared memory": shared_memory(),
            "7 randomness": randomness(root, size),
        }
    for section, values in figures.items():
        print(f"{section}: {values}")
    print(json.dumps(figures, default=str))


if __name__ == "__main__":
    main()
