"""Measuring DataLoader workers from outside: their private memory, an epoch's fate, the shared memory in flight.

Notebook ``07_in_the_wild`` measures every failure before it explains it:
each worker's private memory at its first batch and at the end of an epoch
(:func:`measure_worker_memory`), how far an epoch got and what stopped it
(:func:`run_epoch`), and how many bytes of batches wait in ``/dev/shm``
(:func:`bytes_in_flight`, :func:`shm_in_flight`). Every loader started here
has a ``timeout``: a stuck worker is an error within seconds, not a frozen kernel.
"""

from __future__ import annotations

import gc
import math
import multiprocessing as mp
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from ..load import bytes_in_flight, shm_size

try:  # optional: /proc is read directly on Linux; psutil gives the USS on macOS and Windows
    import psutil
except ImportError:  # pragma: no cover - psutil is in the dev extras and environment.yml
    psutil = None

__all__ = [
    "BlankImages",
    "EpochRun",
    "WorkerMemory",
    "bytes_in_flight",
    "measure_worker_memory",
    "private_mib",
    "readable_error",
    "run_epoch",
    "shm_in_flight",
    "shm_size",
]

MIB = 2**20


def _anonymous_private_kib(pid: int) -> int:
    """KiB of private dirty (and swapped) pages in ``pid``'s anonymous mappings, from ``/proc/PID/smaps``."""
    total, anonymous = 0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and not fields[0].endswith(":"):  # a mapping's header: address perms offset dev inode [path]
            anonymous = len(fields) >= 5 and fields[4] == "0"
        elif anonymous and fields[0] in ("Private_Dirty:", "Swap:"):
            total += int(fields[1])
    return total


def private_mib(pid: int) -> float:
    """MiB that process ``pid`` holds for itself alone: the memory it wrote or copied. Introduced in notebook ``07_in_the_wild``.

    On Linux, the private dirty (and swapped) pages of its anonymous mappings (heap and the like), read
    from ``/proc/PID/smaps``. psutil's USS also counts pages of files only this process has touched, such as
    the part of a memory-mapped cache it read (or, while they are not yet written to disk, a file's
    pages): those belong to the page cache, shared by every reader, and are left out here. Where there is
    no ``/proc`` (macOS, Windows) the USS is returned; NaN without psutil.
    """
    try:
        return _anonymous_private_kib(pid) / 1024
    except (OSError, ValueError, IndexError):
        pass
    if psutil is not None:
        try:
            return psutil.Process(pid).memory_full_info().uss / MIB
        except (psutil.Error, OSError):
            pass
    return math.nan


@dataclass(frozen=True)
class WorkerMemory:
    """Each worker's private MiB after its first batch and at the end of one epoch. Introduced in notebook ``07_in_the_wild``.

    ``growth`` is the difference per worker: what reading the epoch cost each worker.
    """

    first: tuple[float, ...]
    last: tuple[float, ...]
    seconds: float
    items: int

    @property
    def growth(self) -> tuple[float, ...]:
        return tuple(b - a for a, b in zip(self.first, self.last))


def _count(batch: Any) -> int:
    """Items in a batch: the first element's length for a pair or list, else the batch's own (a list of ints, strings or bytes)."""
    first = batch[0] if isinstance(batch, (tuple, list)) and batch and not isinstance(batch[0], (int, str, bytes)) else batch
    return len(first)


def _new_workers(before: set[Any]) -> list[int]:
    """Pids of the processes this process started since ``before`` (DataLoader workers are multiprocessing children)."""
    return sorted(p.pid for p in mp.active_children() if p not in before and p.pid is not None)


def measure_worker_memory(
    dataset: Dataset,
    *,
    context: str | Any = "fork",
    num_workers: int = 2,
    batch_size: int = 1000,
    shuffle: bool = True,
    timeout: float = 120,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    freeze_gc: bool = True,
) -> WorkerMemory:
    """One epoch of ``dataset`` through ``num_workers`` workers; their private memory at its start and its end.

    ``context`` is a start method (``"fork"``, ``"spawn"``, ``"forkserver"``) or a multiprocessing context.
    The memory is read with :func:`private_mib`, once after the first batch and once at the end of the
    epoch. The loader has a ``timeout``, so a stuck worker raises instead of hanging. ``freeze_gc``: notebook 07
    says what it does, and why, after its exercise 2. Introduced in notebook ``07_in_the_wild``.
    """
    # freeze_gc: a full collection in a worker writes to every tracked object it inspects, the parent's included, and
    # so copies their pages at a moment no one chooses
    ctx = mp.get_context(context) if isinstance(context, str) else context
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        multiprocessing_context=ctx,
        timeout=timeout,
        collate_fn=collate_fn,
        generator=torch.Generator().manual_seed(0),
    )
    # the end's reading comes after the last batch arrives and before the iterator ends: the workers are still alive
    before, start = set(mp.active_children()), time.perf_counter()
    if freeze_gc:
        gc.freeze()  # the objects that exist now: no collection in a worker will inspect (and copy) them
    batches = iter(loader)
    try:
        pids = _new_workers(before)
        items = _count(next(batches))
        first = tuple(private_mib(pid) for pid in pids)
        for _ in range(len(loader) - 1):
            items += _count(next(batches))
        last = tuple(private_mib(pid) for pid in pids)  # before the iterator ends: the workers are still alive
    finally:
        del batches  # shuts the workers down
        if freeze_gc:
            gc.unfreeze()
    return WorkerMemory(first, last, time.perf_counter() - start, items)


@dataclass(frozen=True)
class EpochRun:
    """How far one epoch got: items delivered, seconds, and the error that stopped it (None if it finished).

    ``error`` is ``"ExceptionType: message"``; a worker's traceback is inside the message. Introduced in
    notebook ``07_in_the_wild``.
    """

    items: int
    total: int
    seconds: float
    error: str | None

    @property
    def share(self) -> float:
        """The share of the epoch delivered before it stopped."""
        return self.items / self.total if self.total else 0.0


def run_epoch(loader: DataLoader, total: int | None = None) -> EpochRun:
    """Iterate ``loader`` once; return how far it got and what stopped it, instead of raising.

    ``total`` is the number of items an epoch should deliver (default ``len(loader.dataset)``). Give the
    loader a ``timeout`` when it has workers: a stuck worker then stops the epoch with an error. Introduced
    in notebook ``07_in_the_wild``.
    """
    total = len(loader.dataset) if total is None else total
    items, start, error = 0, time.perf_counter(), None
    try:
        for batch in loader:
            items += _count(batch)
    except Exception as exc:  # what a student would see raised: keep it as text, let the iterator go
        error = f"{type(exc).__name__}: {exc}"
    if error:
        gc.collect()  # the failed iterator sits in a cycle with its traceback: end it here, not in a worker forked later
    return EpochRun(items, total, time.perf_counter() - start, error)


def readable_error(error: str, lines: int = 6) -> str:
    """The first line and the last ``lines`` lines of an error that carries a worker's traceback.

    A DataLoader re-raises a worker's exception in the main process with the worker's traceback in its
    message ("Caught OSError in DataLoader worker process 1. Original Traceback ..."). This keeps the
    worker and the frames nearest the error, the part worth reading. Introduced in notebook ``07_in_the_wild``.
    """
    text = error.replace("Traceback (most recent call last):", "traceback in the worker, most recent call last:")
    rows = [row for row in text.splitlines() if row.strip() and not set(row.strip()) <= set("^~ ")]
    if len(rows) <= lines + 1:
        return "\n".join(rows)
    return "\n".join([rows[0], "    ...", *rows[-lines:]])


def shm_in_flight(loader: DataLoader, settle_s: float = 1.0) -> float | None:
    """Bytes ``/dev/shm`` gains while ``loader`` holds its first batch and its workers fill their prefetch queue.

    Measures the machine's ``/dev/shm``, so other programs using it at the same moment move the figure.
    None where there is no ``/dev/shm``. Introduced in notebook ``07_in_the_wild``.
    """
    before = shm_size()
    if before is None:
        return None
    batches = iter(loader)
    try:
        batch = next(batches)
        time.sleep(settle_s)  # the workers fill their queues: workers x prefetch_factor batches
        grown = shm_size()[1] - before[1]  # type: ignore[index]
        del batch
    finally:
        del batches
    return float(grown)


class BlankImages(Dataset):
    """``n`` uint8 images of ``size`` x ``size`` (each one flat grey), labels ``i % 10``: batches of a chosen size, no decoding.

    For measuring what batches cost in shared memory at a size the data does not have (e.g. 224 px).
    Introduced in notebook ``07_in_the_wild``.
    """

    def __init__(self, n: int, size: int) -> None:
        self.n, self.size = n, size

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, int]:
        return torch.full((3, self.size, self.size), idx % 256, dtype=torch.uint8), idx % 10
