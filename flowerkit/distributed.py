"""Training on several processes: ``torchrun``, ``torch.distributed`` (gloo), DistributedSampler or shards, and DDP.

Introduced in notebook ``06_beyond_one_machine``. Run it as::

    torchrun --standalone --nproc_per_node=2 -m flowerkit.distributed [--source files|shards] [--epochs N] [--team TEAM]

``torchrun`` starts one Python process per rank and tells each who it is
through environment variables (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...).
Each process joins a gloo process group (CPU), loads *its own part* of the
train split, and trains the shared :class:`flowerkit.model.FlowerCNN` wrapped
in ``DistributedDataParallel`` (notebook 06, section 5). The global batch (``--batch-size``, 64) is split across ranks, so
one and two processes take the same optimisation steps.

* ``--source files``: the JPEG files, read through a sampler;
* ``--source shards``: tar shards streamed with ``webdataset``;
* ``--team scale``: the Scale team's pipeline (``--team ours``, the default,
  is ours); notebook 06's hunt is to find what differs, and the notebook
  names the other values after it.

Every process records the image ids it trained on; rank 0 prints, as the last
line, one JSON object: world size, the ids each rank read in each epoch, the
test accuracy and the seconds, and (unless ``--no-count``) what
:func:`count_epochs` makes of the ids. :func:`launch` runs the command
as a subprocess and returns that object (used by the notebook and the tests).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from webdataset.shardlists import expand_urls

from .access import OxfordFlowers102
from .config import DATASETS, dataset_root, default_dataset
from .expectations import profile
from .load import WORKER_TIMEOUT_S, DecodedFlowers, build_cache, make_loader
from .model import FlowerCNN, TrainConfig, evaluate, train
from .shards import KeyedCollate, shard_dir, shard_loader, shard_urls, write_shards
from .transform import augment_uint8, compute_stats

__all__ = ["count_epochs", "launch", "main", "pretend_rank"]

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
#: Where every rank trains: gloo processes on the CPU, on any machine (a GPU run wants nccl and a device per process).
CPU = torch.device("cpu")
# --team: ours, the Scale team's pipeline, or one of its two bugs alone (notebook 06 costs each apart, after its hunt;
# kept out of the docstring and private: their names answer the hunt)
_TEAMS = ("ours", "scale", "no-rank-split", "same-order")
#: How far apart the ranks' seeds for their random draws (crops, flips) are: no rank's epoch e draws another's e + k.
_RANK_STRIDE = 10_007


@dataclass(frozen=True)
class _RunConfig:
    """One run's settings, read once from the command line; ``size`` and ``epochs`` already resolved from the profile.

    ``batch_size`` is the global batch, split across ranks; ``workers`` the
    DataLoader workers per rank; ``shards`` shard URLs or a brace pattern
    (None: rank 0 writes ``num_shards`` shards of the split locally); ``team``
    whose pipeline: ``"ours"``, the Scale team's (``"scale"``) or a part of it; ``count``
    whether the summary holds :func:`count_epochs`' counts (``--no-count``: the
    ids each rank read, the counting left to the reader, as notebook 06's hunt does).
    """

    dataset: str
    size: int
    epochs: int
    source: str = "files"
    batch_size: int = 64
    workers: int = 1
    num_shards: int = 8
    shards: str | None = None
    shuffle_buffer: int = 256
    augment: bool = True
    seed: int = 0
    team: str = "ours"
    count: bool = True

    @classmethod
    def from_argv(cls, argv: Sequence[str] | None = None) -> _RunConfig:
        """Parse ``argv`` (the command line when None); ``--size`` and ``--epochs`` default to the dataset's profile."""
        fields = vars(_parser().parse_args(argv))
        prof = profile(fields["dataset"])
        fields["size"] = fields["size"] or prof.size
        fields["epochs"] = fields["epochs"] or prof.epochs
        return cls(**fields)


class _KeyedFlowers(DecodedFlowers):
    """``DecodedFlowers`` whose items also carry the 1-based image id: (uint8 image, label, image id).

    The id lets a training run count which samples each rank saw.
    """

    def __getitem__(self, idx: int) -> tuple[Any, Any, int]:  # type: ignore[override]
        image, label = super().__getitem__(idx)
        return image, label, self.image_ids[idx]


class _EpochLoader:
    """What :func:`flowerkit.model.train` iterates: one epoch of (images, labels) per ``iter()``, ids recorded.

    ``start_epoch(epoch)`` returns that epoch's batches of (images, labels,
    image ids), e.g. after ``sampler.set_epoch(epoch)``. ``len()`` is the
    number of batches per epoch (the learning-rate schedule's length); an
    epoch never yields more, so a rank with more data stops there (the rest is
    counted as missing). ``seen[e]`` lists the image ids delivered in epoch ``e``,
    in order.
    """

    def __init__(self, start_epoch: Callable[[int], Iterable[Batch]], batches: int) -> None:
        self.start_epoch, self.batches = start_epoch, batches
        self.seen: list[list[int]] = []

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        ids: list[int] = []
        epoch = len(self.seen)
        self.seen.append(ids)
        for images, labels, image_ids in itertools.islice(self.start_epoch(epoch), self.batches):
            ids.extend(image_ids.tolist())
            yield images, labels


def count_epochs(seen_by_rank: Sequence[Sequence[Sequence[int]]], expected: Iterable[int]) -> dict[str, Any]:
    """Count what all ranks together saw in each epoch: per-rank counts, unique, duplicated and missing samples.

    ``seen_by_rank[r][e]`` lists the sample ids rank ``r`` trained on in epoch
    ``e``; ``expected`` is the split's ids. ``appearances_per_epoch[e][k]`` is
    how many of the split's ids were seen exactly ``k`` times in epoch ``e`` (an id from outside the split is counted
    in ``unique`` and ``duplicates``, in no bar). ``orders_differ`` is True when
    every epoch's order (all ranks' lists) differs from the previous epoch's,
    None with fewer than two epochs. It makes the counts of a :func:`launch` summary (unless
    ``--no-count``); notebook ``06_beyond_one_machine`` counts its three runs with it, after
    the student's own hunt tool.
    """
    expected = set(expected)
    epochs = max(len(r) for r in seen_by_rank)
    per_epoch = [[list(r[e]) if e < len(r) else [] for r in seen_by_rank] for e in range(epochs)]
    counts, unique, duplicates, missing, appearances = [], [], [], [], []
    for ranks in per_epoch:
        seen = Counter(itertools.chain.from_iterable(ranks))
        times = Counter(seen[i] for i in expected)  # the split's ids only: an id from elsewhere is in no bar
        appearances.append([times[k] for k in range(max(times, default=0) + 1)])
        counts.append([len(ids) for ids in ranks])
        unique.append(len(seen))
        duplicates.append(sum(seen.values()) - len(seen))
        missing.append(len(expected - set(seen)))
    orders = [tuple(itertools.chain.from_iterable(ranks)) for ranks in per_epoch]
    differ = all(a != b for a, b in zip(orders, orders[1:])) if epochs > 1 else None
    return {
        "per_rank_counts": counts,
        "unique_per_epoch": unique,
        "duplicates_per_epoch": duplicates,
        "missing_per_epoch": missing,
        "duplicates": sum(duplicates),
        "missing": sum(missing),
        "appearances_per_epoch": appearances,
        "orders_differ": differ,
    }


@contextlib.contextmanager
def pretend_rank(rank: int, world_size: int) -> Iterator[None]:
    """Inside the block, code that finds its own rank (``webdataset.split_by_node``) runs as rank ``rank`` of ``world_size``.

    Lets one process see what that rank would read; DataLoader workers started inside the block are that rank's too.
    Everything is restored afterwards. Introduced in notebook ``06_beyond_one_machine`` (how a stream finds its rank is
    its exercise 6).
    """
    saved = {k: os.environ.get(k) for k in ("RANK", "WORLD_SIZE")}  # what torchrun sets; workers inherit them
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --------------------------------------------------------------------------------------
# One rank's data: files through a DistributedSampler, or shards through webdataset.
# --------------------------------------------------------------------------------------


def _files_loader(cfg: _RunConfig, data: _KeyedFlowers, rank: int, world: int, stats: Any) -> _EpochLoader:
    """Ours: a DistributedSampler (this rank's indices, padded to equal length) and ``set_epoch`` every epoch."""
    per_rank = _per_rank_batch(cfg, world)
    collate = KeyedCollate(*stats)
    if cfg.team != "ours":
        return _buggy_files_loader(cfg, data, rank, world, collate)
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed)
    loader = DataLoader(data, per_rank, sampler=sampler, collate_fn=collate, **_worker_kw(cfg.workers, persistent=True))

    def our_epoch(epoch: int) -> DataLoader:
        sampler.set_epoch(epoch)  # without this line, every epoch repeats epoch 0's order
        return loader

    return _EpochLoader(our_epoch, len(loader))


def _team_bugs(team: str) -> tuple[bool, bool]:
    """Whether ``team``'s pipeline splits the data between ranks, and whether it draws a new order every epoch."""
    return team not in ("scale", "no-rank-split"), team not in ("scale", "same-order")


def _buggy_files_loader(cfg: _RunConfig, data: _KeyedFlowers, rank: int, world: int, collate: Any) -> _EpochLoader:
    """The Scale team's loader (``--team scale``), or one of its two bugs alone (``no-rank-split``, ``same-order``)."""
    per_rank = _per_rank_batch(cfg, world)
    split, new_order = _team_bugs(cfg.team)

    def buggy_epoch(epoch: int) -> DataLoader:
        # rebuilt every epoch from a seeded generator: the same seed replays the order, and the workers' random crops
        seed = cfg.seed + (epoch if new_order else 0)
        kw = {**_worker_kw(cfg.workers), "collate_fn": collate}
        if cfg.team == "scale":  # their code: one generator, the same on every rank, for the order and the crops
            return DataLoader(data, per_rank, shuffle=True, generator=torch.Generator().manual_seed(seed), **kw)
        # one bug alone, on ours' terms but for that bug: the order as the bug has it, the crops each rank's own
        crops = torch.Generator().manual_seed(seed + _RANK_STRIDE * rank)
        if split:  # this rank's indices, but set_epoch is never called
            sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed)
        else:  # every rank the same order of every sample
            sampler = RandomSampler(data, generator=torch.Generator().manual_seed(seed))
        return DataLoader(data, per_rank, sampler=sampler, generator=crops, **kw)

    if split:
        return _EpochLoader(buggy_epoch, math.ceil(math.ceil(len(data) / world) / per_rank))
    return _EpochLoader(buggy_epoch, _unsplit_steps(len(data), per_rank, world))


def _unsplit_steps(n: int, per_rank: int, world: int) -> int:
    """Steps per epoch of a rank that reads all ``n`` samples unsplit but stops at "my share of the steps".

    The bug without a rank split still runs the epoch's length a split would give, so both teams take the same number
    of optimiser steps and only what the ranks read differs.
    """
    return math.ceil(n / per_rank) // world


def _worker_kw(workers: int, persistent: bool = False) -> dict[str, Any]:
    return {
        "num_workers": workers,
        "persistent_workers": persistent and workers > 0,
        "timeout": WORKER_TIMEOUT_S if workers > 0 else 0,  # a dead worker raises instead of hanging the rank
    }


def _per_rank_batch(cfg: _RunConfig, world: int) -> int:
    """Each rank's batch: the global ``--batch-size`` split across ``world`` ranks; an error naming the fix below one."""
    if cfg.batch_size < world:
        raise ValueError(
            f"--batch-size {cfg.batch_size} is the global batch, split across {world} ranks: each would get "
            f"{cfg.batch_size // world} images. Give every rank at least one: --batch-size {64 * world} keeps 64 per rank."
        )
    return cfg.batch_size // world


def _shard_batches(n: int, shards: int, world: int, workers: int, per_rank: int) -> int:
    """Most batches one rank can get from ``shards`` shards of about n / shards samples (each worker batches alone)."""
    readers = world * max(workers, 1)
    per_worker = math.ceil(shards / readers) * math.ceil(n / shards)
    return max(workers, 1) * math.ceil(per_worker / per_rank)


def _shards_loader(cfg: _RunConfig, urls: list[str], n: int, world: int, stats: Any) -> _EpochLoader:
    """Ours: webdataset with split_by_node and split_by_worker, a new shard order each epoch (``epoch=``)."""
    size, per_rank = cfg.size, _per_rank_batch(cfg, world)
    transform = augment_uint8(size) if cfg.augment else None
    kw = {"batch_size": per_rank, "num_workers": cfg.workers, "mean": stats[0], "std": stats[1], "transform": transform}
    split, new_order = _team_bugs(cfg.team)
    if cfg.team != "ours":  # the Scale team (or one of its bugs): no split_by_node, the same epoch every epoch

        def buggy_epoch(epoch: int) -> DataLoader:
            return shard_loader(
                urls, size, seed=cfg.seed, epoch=epoch if new_order else 0, split_nodes=split,
                shuffle_buffer=cfg.shuffle_buffer, **kw,
            )  # fmt: skip

        if not split:
            return _EpochLoader(buggy_epoch, _unsplit_steps(n, per_rank, world))
        return _EpochLoader(buggy_epoch, _shard_batches(n, len(urls), world, cfg.workers, per_rank))

    def our_epoch(epoch: int) -> DataLoader:
        return shard_loader(urls, size, seed=cfg.seed, epoch=epoch, shuffle_buffer=cfg.shuffle_buffer, **kw)

    return _EpochLoader(our_epoch, _shard_batches(n, len(urls), world, cfg.workers, per_rank))


def _shard_urls(cfg: _RunConfig, train_set: OxfordFlowers102, rank: int) -> list[str]:
    """``--shards`` expanded (a brace pattern, URLs or paths), or the split written locally by rank 0."""
    if cfg.shards:
        return list(expand_urls(cfg.shards))
    folder = shard_dir(cfg.dataset)
    if rank == 0:
        write_shards(train_set, folder, num_shards=cfg.num_shards, seed=cfg.seed, progress=False)
    dist.barrier()  # the other ranks wait until every shard is complete
    return [str(path) for path in shard_urls(folder, train_set.split)]  # checked against the index rank 0 wrote


def _train_stats(root: Path, size: int, rank: int) -> list[Any]:
    """The train split's channel statistics: rank 0 computes them (from the course's cache), every rank receives them."""
    stats: list[Any] = [None, None]
    if rank == 0:
        stats = list(compute_stats(build_cache(OxfordFlowers102(root, "train"), size, progress=False), progress=False))
    dist.broadcast_object_list(stats, src=0)
    return stats


# --------------------------------------------------------------------------------------
# The entry point.
# --------------------------------------------------------------------------------------


def _init_process_group() -> tuple[int, int]:
    """Join the gloo group torchrun describes in the environment, or a group of one when run without torchrun."""
    if "MASTER_ADDR" in os.environ and "RANK" in os.environ:
        dist.init_process_group("gloo")
    else:
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    return dist.get_rank(), dist.get_world_size()


def _team(value: str) -> str:
    """``--team``'s value, checked; an unknown one is told ours and scale only (the other two are 06's, after its hunt)."""
    if value not in _TEAMS:
        raise argparse.ArgumentTypeError(f"unknown team {value!r}: ours or scale")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="torchrun --standalone --nproc_per_node=2 -m flowerkit.distributed")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default=default_dataset())
    parser.add_argument("--source", choices=("files", "shards"), default="files")
    parser.add_argument("--epochs", type=int, default=None, help="default: the dataset's training profile")
    parser.add_argument("--size", type=int, default=None, help="image size; default: the dataset's training profile")
    parser.add_argument("--batch-size", type=int, default=64, help="global batch, split across ranks")
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers per rank")
    parser.add_argument("--num-shards", type=int, default=8)
    parser.add_argument(
        "--shards", default=None, help="shard URLs or a brace pattern, e.g. 'https://host/train-{000000..000099}.tar'"
    )
    parser.add_argument("--shuffle-buffer", type=int, default=256, help="samples in the shard stream's shuffle buffer")
    parser.add_argument("--no-augment", dest="augment", action="store_false")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--team",
        type=_team,
        default="ours",
        metavar="TEAM",
        help="whose pipeline: ours (the default) or scale, the Scale team's; notebook 06 names two more after its hunt",
    )
    parser.add_argument(
        "--no-count",
        dest="count",
        action="store_false",
        help="leave the counts of duplicated and missing samples out of the summary (its 'seen' ids still hold them)",
    )
    return parser


def _train_loader(cfg: _RunConfig, rank: int, world: int) -> tuple[_EpochLoader, list[int], Any]:
    """This rank's _EpochLoader, the split's image ids and the train statistics used to normalise."""
    root = dataset_root(cfg.dataset)
    stats = _train_stats(root, cfg.size, rank)
    train_set = OxfordFlowers102(root, "train")
    if cfg.source == "shards":
        loader = _shards_loader(cfg, _shard_urls(cfg, train_set, rank), len(train_set), world, stats)
    else:
        data = _KeyedFlowers(root, "train", cfg.size, transform=augment_uint8(cfg.size) if cfg.augment else None)
        loader = _files_loader(cfg, data, rank, world, stats)
    return loader, train_set.image_ids, stats


def _test_accuracy(model: torch.nn.Module, cfg: _RunConfig, stats: Any) -> float:
    """Accuracy on the test split, from the course's uint8 cache (decoded once, then reused by every run)."""
    test_set = build_cache(OxfordFlowers102(dataset_root(cfg.dataset), "test"), cfg.size, progress=False)
    loader = make_loader(test_set, batch_size=128, num_workers=0, mean=stats[0], std=stats[1], device=CPU)
    return evaluate(model, loader, device=CPU)


def _run(cfg: _RunConfig, rank: int, world: int) -> dict[str, Any]:
    """Train on this rank's data with DDP; return the summary (complete on rank 0)."""
    loader, ids, stats = _train_loader(cfg, rank, world)
    torch.manual_seed(cfg.seed)
    # gloo on the CPU, whatever the machine: a model moved to a GPU after wrapping would stop DDP's gradient averaging
    # without an error (model.train refuses to), and GPUs want nccl with one device per process
    model = DistributedDataParallel(FlowerCNN().to(CPU))
    # shards may split unevenly: join() lets a rank that runs out shadow the others' all-reduces instead of hanging
    with model.join(enable=cfg.source == "shards"):
        # a seed per rank: train() seeds the global generator, from which each rank's DataLoader draws its workers'
        # base seed (and, without workers, its crops and flips); the same seed on every rank would give rank 1's half
        # of each global batch the crops and flips of rank 0's (rank 0 keeps the seed a 1-process run uses). The
        # order is the sampler's, seeded alike on every rank (seed + epoch), as it must be.
        config = TrainConfig(epochs=cfg.epochs, seed=cfg.seed + _RANK_STRIDE * rank)
        history = train(model, loader, config, progress=False, device=CPU)
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, {"seen": loader.seen, "seconds": history.total_seconds})
    accuracy = _test_accuracy(model.module, cfg, stats) if rank == 0 else float("nan")
    dist.barrier()
    seconds = max(g["seconds"] for g in gathered)
    seen = [g["seen"] for g in gathered]
    read = sum(len(ids_read) for by_epoch in seen for ids_read in by_epoch)
    return {
        "world_size": world,
        "source": cfg.source,
        "team": cfg.team,
        "epochs": cfg.epochs,
        "size": cfg.size,
        "dataset_size": len(ids),
        **(count_epochs(seen, ids) if cfg.count else {}),
        "loss": history.loss,
        "test_accuracy": accuracy,
        "seen": seen,
        "train_seconds": seconds,
        "images_per_s": read / seconds if seconds > 0 else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """The ``torchrun`` entry point: train with DDP, print one JSON summary as rank 0's last line.

    Introduced in notebook ``06_beyond_one_machine``. Also runs without
    ``torchrun`` (``python -m flowerkit.distributed``), as a group of one.
    """
    cfg = _RunConfig.from_argv(argv)
    start = time.perf_counter()
    rank, world = _init_process_group()
    try:
        result = _run(cfg, rank, world)
        if rank == 0:
            result["seconds"] = time.perf_counter() - start
            print(json.dumps(result), flush=True)
    finally:
        dist.destroy_process_group()
    return 0


# --------------------------------------------------------------------------------------
# Launching it from Python (a notebook, a test, a benchmark).
# --------------------------------------------------------------------------------------


def _torchrun_command(nproc: int, *args: str) -> list[str]:
    """The command :func:`launch` runs: ``torchrun --standalone --nproc_per_node=N -m flowerkit.distributed ARGS``.

    Spelled ``python -m torch.distributed.run`` (what the ``torchrun`` script
    runs), so it uses this Python and its packages.
    """
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "flowerkit.distributed",
        *args,
    ]


def _child_env(threads: int) -> dict[str, str]:
    """This environment, plus ``threads`` compute threads per process (torchrun sets 1, with a warning) and this flowerkit."""
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    package_parent = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    return env


def _process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it, parents first (read from ``/proc``; only ``pid`` where there is none)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])  # after "(name)": state, then parent pid
            children.setdefault(parent, []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop(0))
        todo.extend(children.get(tree[-1], []))
    return tree


def _stop_process_tree(proc: subprocess.Popen) -> None:
    """Kill ``proc`` and every process it started, however deep, and wait for ``proc``.

    torchrun starts each rank in a session of its own, so killing torchrun's
    process group misses the ranks, and a rank left without its torchrun
    waits for its peers until the process group's timeout (30 minutes). So
    every process in the tree is first stopped (``SIGSTOP``: a stopped
    process cannot start another), top down until no new one appears, then
    killed. Where there is no ``/proc`` (macOS, Windows) torchrun is asked to
    stop its ranks (``SIGTERM``, which it handles) before its group is killed.
    """
    if not Path("/proc/self/stat").exists():
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        with contextlib.suppress(OSError, AttributeError):
            os.killpg(proc.pid, signal.SIGKILL)  # type: ignore[attr-defined]  # no process groups on Windows
        proc.kill()
        proc.wait()
        return
    stopped: list[int] = []
    while new := [pid for pid in _process_tree(proc.pid) if pid not in stopped]:
        for pid in new:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
    for pid in stopped:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()


def launch(nproc: int = 2, *args: Any, timeout: float = 600, threads: int = 1) -> dict[str, Any]:
    """Run :func:`_torchrun_command` as a subprocess and return its JSON summary (plus ``command`` and ``stderr``).

    Each process gets ``threads`` compute threads (``OMP_NUM_THREADS``; 1 is
    torchrun's own default for several processes, and keeps a comparison of
    1 and N processes per process); its DataLoader workers come on top.
    The processes' stderr (torchrun's and the ranks' logs) is captured, not
    shown. A run that fails raises RuntimeError with the end of that log; one
    that takes longer than ``timeout`` seconds is killed, with every process it
    started (:func:`_stop_process_tree`), and raises TimeoutError: a failure is
    reported, never a hang. Introduced in notebook ``06_beyond_one_machine``.
    """
    cmd = _torchrun_command(nproc, *map(str, args))
    shown = " ".join(["torchrun", *cmd[3:]])
    # files, not pipes: a straggler that still holds the pipe could keep a read waiting for its end
    with tempfile.TemporaryFile("w+") as out_file, tempfile.TemporaryFile("w+") as err_file:
        proc = subprocess.Popen(cmd, stdout=out_file, stderr=err_file, text=True, env=_child_env(threads), start_new_session=True)
        try:
            proc.wait(timeout=timeout)
            overran = False
        except subprocess.TimeoutExpired:
            _stop_process_tree(proc)
            overran = True
        out, err = (_read_all(f) for f in (out_file, err_file))
    if overran:
        raise TimeoutError(f"`{shown}` did not finish within {timeout:.0f} s and was stopped. Its log ends:\n{err[-3000:]}")
    lines = out.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"`{shown}` failed (exit code {proc.returncode}). Its log ends:\n{err[-3000:]}")
    return {**json.loads(lines[-1]), "command": shown, "stderr": err}


def _read_all(file: Any) -> str:
    """Everything written to an open temporary file."""
    file.seek(0)
    return file.read()


if __name__ == "__main__":
    sys.exit(main())
