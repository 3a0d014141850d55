"""Checkers of notebook ``07_in_the_wild``: the hunts (a cause named, a size measured, the bad files found) and three fixes.

The fix checkers run the student's class for real, in DataLoader workers
started with fork and with spawn, and measure what happened: each worker's
private memory over an epoch (:func:`check_caption_memory`), the bytes every
worker read from a zip archive (:func:`check_zip_per_worker`), the random
partner of every item, whatever worker reads it (:func:`check_mixup_partners`). The student's
class lives in a module next to the notebook (``%%writefile my_captions.py``),
named to the checker as a string: it is imported by name, as a worker does.
Every loader has a ``timeout``; a spawn worker is only started for a dataset
that pickles small, so a worker that dies cannot leave the notebook waiting.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import multiprocessing as mp
import os
import pickle
import re
import reprlib
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple
from unittest import mock

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .. import wild as wild_package
from ..access import OxfordFlowers102
from ..facts import DATASET_FOLDER, SETID_FILE
from ..wild import measure as wild_measure
from ..wild.copies import make_captions
from ..wild.corrupt import _REVEALED_FOLDERS, _SCANNED_FOLDERS, SkipAndLog, _planted, collate_skipping
from ..wild.handles import write_zip
from ..wild.measure import measure_worker_memory, private_mib
from .verdict import (
    RAISED_HINT,
    STUB_HINT,
    Verdict,
    _call,
    _call_without,
    _class_as_file_reads,
    _is_stub_function,
    _question_first,
    _set_verdict,
    _unanswered,
    _verdict,
)

__all__ = [
    "check_bad_files",
    "check_caption_memory",
    "check_growth_cause",
    "check_memory_meter",
    "check_mixup_partners",
    "check_pickled_size",
    "check_repeat_cause",
    "check_repeating_sources",
    "check_skip_unreadable",
    "check_zip_per_worker",
    "RANDOM_SOURCES",
]

MIB = 2**20
#: A worker is only spawned for a dataset whose pickle fits a pipe's buffer (64 KiB on Linux): were the worker to
#: die before reading it, a larger write would leave the main process waiting forever (notebook 07, section 4).
_SPAWN_PICKLE_LIMIT = 48 * 1024
_TIMEOUT = 120  # seconds a checker's loader waits for a batch (a spawn worker's start included) before it gives up

# ---------------------------------------------------------------------------------------------- the hunts


class _Hoarder(Dataset):
    """Makes 2 MiB its own for every item it reads, in the process that reads it: a meter's known case.

    As the notebook's records do, it writes into pages it shares with the process that forked it: item i writes
    its 2 MiB of ``pages``, made (and resident) before the fork, so a fork worker's private memory grows by 2 MiB
    while its resident size (RSS, which counts shared pages too) stays where it was. ``read`` counts the items all
    processes have read, shared with fork workers (inherited, not pickled: a spawn worker gets a dataset without
    it, and without the pages: it keeps new ones), so the checker knows how far the epoch was at each reading.
    """

    def __init__(self, n: int) -> None:
        self.n, self.kept = n, []
        self.pages: bytearray | None = bytearray(b"\x01") * (n * _HOARD_MIB * MIB)  # every page written: resident
        self.read: Any = mp.get_context("fork").Value("i", 0) if "fork" in mp.get_all_start_methods() else None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "read": None, "pages": None}  # a shared counter and shared pages travel only by fork

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        chunk = _HOARD_MIB * MIB
        if self.pages is not None:  # a write into pages shared with the parent: the worker's copies are private
            self.pages[i * chunk : (i + 1) * chunk] = b"\x02" * chunk
        else:
            self.kept.append(b"\x01" * chunk)  # written byte by byte: every page of it is the worker's own
        if self.read is not None:
            with self.read.get_lock():
                self.read.value += 1
        return i


#: 96 items of 2 MiB in batches of 4: 192 MiB kept in all, far above what this process's own pages can add to a meter
#: that reads it by mistake; at most a few batches are read before the first one arrives.
_HOARD_ITEMS, _HOARD_MIB, _HOARD_BATCH = 96, 2, 4


def _readings(result: Any, name: str) -> tuple[tuple[list[float], list[float]] | None, tuple[str, str] | None]:
    """``(first, last)`` as two lists of 2 MiB readings (one per worker), or the problem with ``result``."""
    if result is None:
        return None, (f"no answer yet: {name} returns None.", STUB_HINT)
    try:
        first, last = ([float(mib) for mib in readings] for readings in result)
    except (TypeError, ValueError):
        first, last = [], []
    if isinstance(result, (tuple, list)) and len(result) == 2 and len(first) == len(last) == 0:
        return None, (
            "your meter returned no readings: it found no workers.",
            "note mp.active_children() before iter(loader) and again after it: the workers are the new ones",
        )
    if not len(first) == len(last) == 2:
        return None, (
            f"it returned {type(result).__name__} {str(result)[:80]}; expected (first, last): two lists of 2 numbers.",
            "one reading per worker (2 workers) after the first batch, one per worker after the last; return (first, last)",
        )
    if any(np.isnan(first + last)):
        return None, (
            f"a reading is NaN (first {first}, last {last}): that process had ended when you read it.",
            "the workers live from iter(loader) until the iterator is finished or dropped: read them while it still "
            "has a batch to give",
        )
    return (first, last), None


class _MeterRun(NamedTuple):
    """The student's meter on the known case: what it returned or raised, and what its readings saw."""

    result: Any
    error: str | None
    read_self: bool  # it asked wild.private_mib about this process (os.getpid())
    read_at_last: int | None  # items the workers had read at its last wild.private_mib reading (None: no reading seen)
    refused: bool  # it called wild.measure_worker_memory, the flowerkit version of what it builds
    others_read: list[str]  # the processes other than this one it read with wild.private_mib, each once, in order
    decoy: str  # the pid of an idle child of this process that ran before and during the meter: not a worker


def _run_meter(func: Callable[..., Any]) -> _MeterRun:
    """Run the student's meter on a :class:`_Hoarder`, Python's collector frozen meanwhile, ``wild.private_mib`` watched."""
    pids: list[Any] = []
    dataset = _Hoarder(_HOARD_ITEMS)
    counts: list[int] = []

    def spy(pid: Any) -> float:
        pids.append(pid)
        counts.append(dataset.read.value if dataset.read is not None else -1)
        return private_mib(pid)

    # a child that is no worker, started before the meter: a meter must tell the loader's workers from other children
    decoy = mp.get_context("spawn").Process(target=time.sleep, args=(300,), daemon=True)  # spawn: shares no page
    decoy.start()
    gc.freeze()  # a full collection here would copy shared pages: a meter reading this process would see it grow
    try:
        with mock.patch.object(wild_package, "private_mib", spy), mock.patch.object(wild_measure, "private_mib", spy):
            result, error, refused = _call_without(wild_package, "measure_worker_memory", func, dataset, _HOARD_BATCH)
    finally:
        gc.unfreeze()
        decoy.terminate()
        decoy.join(5)
    gc.collect()  # a failed run's iterator sits in a cycle with its traceback: end its workers here
    # the counter moves only in fork workers (it is not pickled): a meter with spawn workers is judged on its growth
    last = counts[-1] if counts and max(counts) > 0 else None
    others = list(dict.fromkeys(str(pid) for pid in pids if str(pid) != str(os.getpid())))
    return _MeterRun(result, error, str(os.getpid()) in map(str, pids), last, refused, others, str(decoy.pid))


def _meter_problem(first: list[float], last: list[float], read_self: bool) -> tuple[str, str] | None:
    """What the readings say is wrong with a meter (message, hint), or None when they show the workers' growth."""
    kept, grew = _HOARD_ITEMS * _HOARD_MIB, sum(b - a for a, b in zip(first, last))
    figures = f"your meter read {grew:.0f} MiB of growth in all (first {first[0]:.1f}, {first[1]:.1f}; last {last[0]:.1f}, {last[1]:.1f} MiB)"
    per_worker = (first[1] - first[0]) + (last[1] - last[0])  # the growth, were they one (first, last) pair per worker
    not_this_one = (
        "read the workers (the processes that appear at iter(loader)), not this one, and the same iterator's workers both times"
    )
    if max(first + last) > 1e5:  # 100,000 MiB is 100 GiB: bytes, or KiB
        return (
            f"{figures}: readings of {max(first + last):,.0f} are no MiB.",
            "a MiB is 2**20 bytes (1024 KiB): divide what your source gives by that; wild.private_mib(pid) reads MiB",
        )
    if grew < 0.25 * kept and min(first) > 100:  # the whole resident size: the notebook's own pages counted too
        return (
            f"{figures}, on a dataset whose 2 workers make {kept} MiB their own: your readings barely move. Readings "
            "of hundreds of MiB that barely move are the resident size (RSS), which counts the pages a worker shares "
            "with the notebook too, so it cannot show which of them a worker has made its own.",
            "read each worker's private memory: wild.private_mib(pid), or the Private_* lines of /proc/<pid>/smaps_rollup",
        )
    if grew < 0.5 * kept <= per_worker:
        return (
            f"{figures}: these look like one (first, last) pair per worker.",
            "return (first, last) with first = [worker 0's first reading, worker 1's first reading], last likewise",
        )
    if grew < 0.5 * kept:
        return f"{figures}, on a dataset whose 2 workers keep {kept} MiB between them over the epoch.", not_this_one
    if grew > 1.5 * kept + 16 and read_self:
        return (
            f"{figures}: more than the {kept} MiB the workers kept, because some readings are of this process "
            "(os.getpid()). Once the workers exit, the pages it shared with them are its own alone, and count as private.",
            not_this_one,
        )
    if grew > 1.5 * kept + 16:
        return (
            f"{figures}: more than the {kept} MiB the workers kept.",
            "read each worker once after the first batch, once after the last",
        )
    return None


def _meter_run_problem(run: _MeterRun, name: str) -> tuple[tuple[list[float], list[float]] | None, tuple[str, str] | None]:
    """The meter's ``(first, last)`` readings, or what is wrong with its run: raised, malformed, early, one worker, growth."""
    readings, problem = (None, (run.error, RAISED_HINT)) if run.error else _readings(run.result, name)
    if not problem and run.read_at_last is not None and run.read_at_last < _HOARD_ITEMS:
        problem = (
            f"your last reading came when the workers had read {run.read_at_last} of the epoch's {_HOARD_ITEMS} items: "
            "before the epoch ended, so the growth of the rest is missing.",
            "take the last reading after the last batch has arrived, while the iterator (and so its workers) still lives",
        )
    if not problem and run.decoy in run.others_read:
        problem = (
            f"you read process {run.decoy}, a child of this process that was running before your loader started: not "
            "one of its workers (a notebook may have other children: an earlier loader's workers, a server).",
            "which children are there after iter(loader) that were not there before it?",
        )
    if not problem and not run.read_self and len(run.others_read) == 1:  # [m, m]: worker 0's growth counted twice
        problem = (
            f"all your readings are of one process (pid {run.others_read[0]}): both entries of `first`, and of `last`, "
            "read the same worker, so its growth counts twice and the other worker's is missing.",
            "the workers are the processes mp.active_children() lists after iter(loader) and not before: 2 of them, "
            "one reading of each",
        )
    return readings, problem or (None if readings is None else _meter_problem(*readings, run.read_self))


def check_memory_meter(func: Any) -> Verdict:
    """Notebook ``07_in_the_wild``: ``func(dataset, batch_size)`` returns each of 2 fork workers' private MiB, ``(first, last)``.

    The student's hunt tool, before :func:`flowerkit.wild.measure_worker_memory`. Runs the student's
    meter on a dataset that keeps 2 MiB per item in the worker that reads it (96 items in batches of
    4): between its first readings and its last the two workers must have grown by most of the 192 MiB
    they kept, and by not much more. Python's collector is frozen meanwhile (``gc.freeze``), as in ``measure_worker_memory``.
    """
    if "fork" not in mp.get_all_start_methods():
        return _verdict(
            False, "this system has no fork (Windows): the growth cannot be measured here.", "run it on Linux, macOS or WSL"
        )
    run = _run_meter(func)
    if run.refused:
        return _verdict(
            False,
            "your meter calls wild.measure_worker_memory, the flowerkit version of what this exercise builds.",
            "a DataLoader with 2 fork workers, their pids (mp.active_children()), wild.private_mib(pid) twice",
        )
    readings, problem = _meter_run_problem(run, getattr(func, "__name__", "your meter"))
    if problem:
        return _verdict(False, problem[0], problem[1])
    first, last = readings
    kept, grew = _HOARD_ITEMS * _HOARD_MIB, sum(b - a for a, b in zip(first, last))
    figures = f"your meter read {grew:.0f} MiB of growth in all (first {first[0]:.1f}, {first[1]:.1f}; last {last[0]:.1f}, {last[1]:.1f} MiB)"
    reference = measure_worker_memory(_Hoarder(_HOARD_ITEMS), context="fork", batch_size=_HOARD_BATCH)
    return _verdict(
        True,
        f"{figures}, on a dataset whose 2 workers keep {_HOARD_MIB} MiB per item, {kept} MiB between them (what they read "
        f"before the first batch arrived is in the first reading). flowerkit's wild.measure_worker_memory read "
        f"{sum(reference.growth):.0f} MiB on the same dataset.",
    )


# Section 1's suspects for the workers' growing memory (the answer key): (right?, what the evidence says, hint).
_GROWTH_SUSPECTS: dict[str, tuple[bool, str, str]] = {
    "a": (
        False,
        "the one-record run sent as many batches, of the same size, and its workers did not grow; the main process, "
        "which receives every batch, stayed flat too.",
        "compare the run that reads one record 400,000 times with the run that reads them all",
    ),
    "b": (False, "the workers grew without shuffling too.", "compare the shuffled run with the run in order"),
    "c": (
        True,
        "reading a Python object writes to it (its reference count goes up), and a forked worker gets a private "
        "copy of every memory page it writes: copy-on-read. Over an epoch every record is read, so every page "
        "holding one is copied, in every worker.",
        "",
    ),
    "d": (
        False,
        "the one-record run sent as many labels, and its workers did not grow.",
        "what differs between the run that grows and the one that does not?",
    ),
}

# Section 7's suspects for crops repeated across workers (the answer key): (right?, what the evidence says, hint).
_REPEAT_SUSPECTS: dict[str, tuple[bool, str, str]] = {
    "a": (
        False,
        "the two workers cropped different images (items 0-5 and items 6-11), at the same offsets.",
        "compare the offsets with the items each worker read",
    ),
    "b": (
        False,
        "the probe (wild.WorkerSeeds) showed each worker its own NumPy seed, new every epoch; and this dataset draws "
        "no NumPy number at all: its offsets come from torch.randint.",
        "read __getitem__: which library, and which generator, draws the offsets?",
    ),
    "c": (
        False,
        "the probe (wild.WorkerSeeds) showed each worker its own torch seed, new every epoch: torch's draws do differ "
        "between workers.",
        "the probe's torch.initial_seed() is the seed of torch's default generator: is that the generator "
        "__getitem__ draws the offsets from?",
    ),
    "d": (
        True,
        "each worker received a copy of the dataset, `self.g` included, in the state __init__ left it in, so each "
        "draws the same sequence; and workers that start again each epoch start from that state again. PyTorch "
        "reseeds torch's default generator in each worker (torch.manual_seed), not a torch.Generator your dataset "
        'holds: notebook 03\'s "draw from torch" holds for the default generator only.',
        "",
    ),
}


def _letter(answer: Any, suspects: dict[str, tuple[bool, str, str]], variable: str) -> Verdict:
    if _unanswered(answer):
        return _verdict(
            False, f"no answer yet: set `{variable}` to one letter, e.g. 'a'.", "weigh each suspect against the evidence"
        )
    if isinstance(answer, (list, tuple, set, frozenset)) and len(answer) == 1:  # ["b"]: one letter all the same
        answer = next(iter(answer))
    key = str(answer).strip().strip("()").lower()
    if key not in suspects:
        return _verdict(False, f"{answer!r} is not one of the suspects {sorted(suspects)}.", 'answer with one letter, e.g. "c"')
    ok, message, hint = suspects[key]
    return _verdict(ok, message, hint)


def check_growth_cause(answer: Any) -> Verdict:
    """Notebook ``07_in_the_wild``: the letter, from section 1's suspects, that explains the workers' growing memory."""
    return _letter(answer, _GROWTH_SUSPECTS, "cause")


def check_repeat_cause(answer: Any) -> Verdict:
    """Notebook ``07_in_the_wild``: the letter, from section 7's suspects, that explains crops repeated across workers."""
    return _letter(answer, _REPEAT_SUSPECTS, "cause")


#: Notebook 07, exercise 5's second part: eight datasets, each drawing its random number in ``__getitem__`` from
#: another place (the line that draws, and where its generator was made). Which of them draw the same numbers in
#: every worker? (tests/test_exercises_nb07.py runs each in two fork workers to confirm the answer.)
RANDOM_SOURCES = {
    "a": "x = torch.randint(10, (1,))",
    "b": "x = self.rng.integers(10)  # self.rng = np.random.default_rng(0), in __init__",
    "c": "x = random.randint(0, 9)",
    "d": "x = RNG.integers(10)  # RNG = np.random.default_rng(0), at the top of the dataset's module",
    "e": "x = np.random.randint(10)",
    "f": "x = torch.randint(10, (1,), generator=self.g)  # self.g = torch.Generator().manual_seed(0), in __init__",
    "g": "x = self.rng.integers(10)  # self.rng = None in __init__; on first use, "
    "self.rng = np.random.default_rng(get_worker_info().seed)",
    "h": "x = self.r.randint(0, 9)  # self.r = random.Random(0), in __init__",
}
_REPEATING_SOURCES = ["b", "d", "f", "h"]
_SOURCES_CLEARED = {
    "a": "PyTorch seeds torch's default generator in each worker (the probe's torch column)",
    "c": "PyTorch seeds the random module's global generator in each worker (the probe's random column)",
    "e": "PyTorch seeds NumPy's global generator in each worker (the probe's NumPy column)",
    "g": "made in the worker, from the worker's own seed, it differs between workers, and between epochs (each "
    "epoch's workers get new seeds)",
}
#: One pointer for any missing source (a count names no source).
_SOURCES_LOOK_AGAIN = (
    "PyTorch reseeds the three global generators and nothing else: any other generator reaches each worker as it was "
    "when the workers started, whoever holds it"
)


def _as_source_letters(answer: Any) -> Any:
    """``answer`` with each pick that names a letter of :data:`RANDOM_SOURCES` as printed ("B", "(b)", " b ") as that
    letter, the way the cause questions read one letter; anything else as it was, for the shared checks to answer."""

    def letter(pick: Any) -> Any:
        key = pick.strip().strip("()").strip().lower() if isinstance(pick, str) else pick
        return key if key in RANDOM_SOURCES else pick

    if isinstance(answer, str):
        parts = [p for p in re.split(r"[\s,;]+", answer.strip()) if p]  # "b, d, f, h" or "b d f h"
        if len(parts) == 1 and len(parts[0]) > 1 and all(ch in RANDOM_SOURCES for ch in parts[0].lower()):
            parts = list(parts[0].lower())  # "bdfh": each letter a pick
        return {letter(p) for p in parts} if len(parts) > 1 else letter(answer)
    if isinstance(answer, (set, frozenset, list, tuple)):
        return type(answer)(letter(pick) for pick in answer)
    return answer


def check_repeating_sources(answer: Any) -> Verdict:
    """Notebook ``07_in_the_wild``: the keys of :data:`RANDOM_SOURCES` whose draws repeat in every worker (a set)."""
    return _set_verdict(
        _as_source_letters(answer),
        RANDOM_SOURCES,
        "exercises.RANDOM_SOURCES",
        "repeats",
        truth=_REPEATING_SOURCES,
        cleared=_SOURCES_CLEARED,
        look_again=_SOURCES_LOOK_AGAIN,
        what="sources that repeat",
        reread="for each line, ask where its generator was made and whether the probe above showed PyTorch reseeding "
        "it in each worker: a generator PyTorch does not reseed reaches every worker as it was",
        correct="b, d, f and h: PyTorch reseeds the three global generators (torch's default, NumPy's, random's) in each "
        "worker, and nothing else; a generator the dataset holds, or one at the top of a module, reaches every worker "
        "in the same state, whatever library made it.",
    )


def _size_unit(received: float, truth: int) -> str | None:
    """The unit ``received`` gives ``truth`` bytes in (MiB, MB, KiB or kB), within 1%; None if none of them."""
    if not 0 < received < truth / 100:
        return None
    units = (("MiB", MIB), ("MB", 10**6), ("KiB", 1024), ("kB", 1000))
    return next((name for name, size in units if abs(received * size - truth) <= 0.01 * truth), None)


def _a_number_of_bytes(received: Any) -> tuple[Any, Verdict | None]:
    """(``received`` as a Python number, None), or (None, the verdict) when it is the pickle itself or no number."""
    if isinstance(received, (bytes, bytearray, memoryview)):
        return None, _verdict(
            False, f"that is the pickle itself ({len(received):,} bytes of it), not its size.", "the number: len() of it"
        )
    if isinstance(received, (np.integer, np.floating)):
        received = received.item()
    if not isinstance(received, (int, float)) or isinstance(received, bool):
        return None, _verdict(False, f"{reprlib.repr(received)} is not a number of bytes.", "an int: the bytes a worker receives")
    return received, None


def _item_bytes(dataset: Dataset) -> int:
    """The bytes of one item's image (0 when the first item is not an array or tensor)."""
    item, _ = _call(dataset.__getitem__, 0)
    image = item[0] if isinstance(item, (tuple, list)) else item
    return int(getattr(image, "nbytes", 0) or 0)  # NumPy arrays and torch tensors both have nbytes


def _pickled_sizes(obj: Any, received: int) -> dict[int, int]:
    """{protocol: length of ``obj``'s pickle} for the protocols a measurement may use, each pickled once, cheap ones first.

    A measurement is exact: what pickle makes (protocols 2 to 5 and the DataLoader's ForkingPickler agree on each).
    Protocol 2 copies a memory map's data slowly (about 1 GB and seconds for the real test cache): tried last, only
    when no other protocol matched ``received``. The default protocol's length is what ``pickle.dumps`` gives.
    """
    sizes: dict[int, int] = {}
    for protocol in dict.fromkeys((pickle.DEFAULT_PROTOCOL, *range(pickle.HIGHEST_PROTOCOL, 1, -1))):
        if protocol == 2 and received in sizes.values():
            break
        sizes[protocol] = len(pickle.dumps(obj, protocol=protocol))
    return sizes


class _ByteCount:
    """A file that keeps nothing but the number of bytes written to it (a pickle's length without the pickle)."""

    def __init__(self) -> None:
        self.n = 0

    def write(self, data: bytes) -> int:
        self.n += len(data)
        return len(data)


def _old_protocol(received: int | float, obj: Any, truth: int) -> int | None:
    """The protocol below 2 (1 or 0) whose pickle of ``obj`` is ``received`` bytes long, or None.

    Tried only for an answer above ``truth``: these protocols write each byte of an array's data as one or more
    characters, so their pickle of a cache is larger (and slow to make: counted, not kept).
    """
    if not received > truth:
        return None
    for protocol in (1, 0):
        count = _ByteCount()
        pickle.Pickler(count, protocol=protocol).dump(obj)
        if count.n == received:
            return protocol
    return None


def _subset_problem(received: int, subset: Any, inner: Any) -> tuple[str, str] | None:
    """(message, hint) for a Subset's size measured on what it wraps, or estimated from its items; else None."""
    if received in _pickled_sizes(inner, received).values():
        return (
            f"{received:,} bytes is what the dataset inside the Subset pickles to: close, but the worker receives the "
            "Subset, its indices with it.",
            "pickle the Subset itself",
        )
    if 0.5 <= received / max(1, len(subset) * _item_bytes(subset)) <= 2:
        return (
            f"{received:,} bytes is about what {len(subset)} images hold: an estimate from the items the Subset "
            "picks, not a measurement of what travels.",
            "measure it: what does pickle make of the Subset, and what does a Subset keep inside it?",
        )
    return None


def _measure_slip(received: int, truth: int, measured: set[int]) -> tuple[str, str] | None:
    """(message, hint) for sys.getsizeof of the pickle, a whole number of pickles (every worker's), or an estimate
    within 1% of it; else None."""
    if received - truth == sys.getsizeof(b""):
        return (
            f"{received:,} is sys.getsizeof of the pickle: the bytes object's memory in this process, "
            f"{sys.getsizeof(b'')} bytes more than the bytes themselves.",
            "what travels to the worker is the bytes: len() of them",
        )
    workers = next((k for k in range(2, 9) if received == k * truth), None)
    if workers:
        return (
            f"{received:,} bytes is exactly {workers} times what pickle writes for the dataset: every worker receives "
            "a copy of its own, and the question is what one worker receives.",
            "one worker: one pickle of the dataset",
        )
    if received not in measured and abs(received - truth) <= 0.01 * truth:
        return (
            f"{received:,} bytes is close, but it is an estimate (the size of the cache's data?), not a measurement: "
            "a worker receives whatever pickle writes, header and all.",
            "measure what the worker receives: the bytes pickle writes for the dataset, not the data inside it",
        )
    return None


def check_pickled_size(received: Any, dataset: Dataset) -> Verdict:
    """Notebook ``07_in_the_wild``: ``received`` is the number of bytes a spawn or forkserver worker receives for ``dataset``."""
    if _unanswered(received):
        return _verdict(
            False,
            "no answer yet: set `received` to a number of bytes.",
            "how does the DataLoader send a Python object to a new process? Measure that, in bytes",
        )
    received, refused = _a_number_of_bytes(received)
    if refused is not None:
        return refused
    sizes = _pickled_sizes(dataset, received)
    truth, measured = sizes[pickle.DEFAULT_PROTOCOL], set(sizes.values())
    inner = getattr(dataset, "dataset", None)  # a Subset: what it picks from travels with it
    problem = None if received in measured else _subset_problem(received, dataset, inner) if inner is not None else None
    problem = problem or _measure_slip(received, truth, measured)
    if problem:
        return _verdict(False, problem[0], problem[1])
    if received in measured:
        picks = (
            f" for {len(dataset)} images: a Subset keeps the whole dataset it picks from, and that travels too,"
            if inner is not None
            else ":"
        )
        return _verdict(
            True,
            f"{truth / MIB:.1f} MiB{picks} every image in the cache. Pickling a numpy.memmap pickles its data, not its "
            "file name: each spawn or forkserver worker receives its own copy and keeps it in private memory.",
        )
    unit = _size_unit(received, truth)
    if unit:
        return _verdict(
            False, f"{received:,.1f} is the size in {unit}; `received` is in bytes.", "keep it in bytes, as len() gives it"
        )
    if received < 4096:
        return _verdict(
            False,
            f"{received} bytes is the size of the Python object or of a path, not of what a worker receives.",
            "measure what pickle produces for the dataset, not the object in this process",
        )
    old_protocol = _old_protocol(received, dataset, truth)
    if old_protocol is not None:
        return _verdict(
            False,
            f"{received:,} bytes is what pickle makes of it at protocol {old_protocol}, one of its oldest formats (it "
            "writes the images' bytes as a text string); the DataLoader sends a worker its dataset at pickle's default "
            f"protocol, {pickle.DEFAULT_PROTOCOL} here.",
            "measure it with pickle's default protocol, as the DataLoader does",
        )
    return _verdict(False, f"{received:,} bytes is not what pickle makes of it.", "measure what pickle produces for the dataset")


def _file_names_problem(names: set[str], damaged: str | Path | dict[str, str], split: str) -> tuple[str, str] | None:
    """(message, hint) for names that are not JPEG file names, or not files of the damaged copy's split; else None."""
    odd = sorted(n for n in names if not n.lower().endswith((".jpg", ".jpeg")))
    if odd:
        return (
            f"{odd[0]!r} is not a file name of the split.",
            f"give names such as 'image_00001.jpg' (access.OxfordFlowers102(DAMAGED, '{split}').image_files[i].name), "
            "not positions",
        )
    split_names = None if isinstance(damaged, dict) else {f.name for f in OxfordFlowers102(damaged, split).image_files}
    strangers = sorted(names - split_names) if split_names is not None else []
    if strangers:
        return (
            f"{strangers[0]} is not a file of the {split} split.",
            f"look only at the damaged copy's {split} split: access.OxfordFlowers102(DAMAGED, '{split}').image_files",
        )
    return None


def check_bad_files(bad_files: Any, damaged: str | Path | dict[str, str], split: str = "val") -> Verdict:
    """Notebook ``07_in_the_wild``: ``bad_files`` names (file names or paths) every file of the split that cannot be decoded.

    ``damaged``: the copy :func:`flowerkit.wild.plant_bad_images` wrote, or a ``{file name: damage}`` dict.
    """
    if _unanswered(bad_files):
        return _verdict(
            False,
            "no answer yet: set `bad_files` to the names of the files that cannot be decoded.",
            "decode every item once; keep the file name of each one that raises",
        )
    if not isinstance(bad_files, (str, Path, set, frozenset, list, tuple)):
        return _verdict(
            False,
            f"`bad_files` is a {type(bad_files).__name__}; it should hold the names of the files that cannot be decoded.",
            "a set of file names such as 'image_00001.jpg'",
        )
    if not isinstance(damaged, dict) and not (Path(damaged) / DATASET_FOLDER / SETID_FILE).exists():
        return _verdict(
            False,
            f"the damaged copy is gone from {damaged} (the notebook's last cell, or a restart, removes the scratch folder).",
            "run the setup cell and the cell that plants the damaged copy (section 5) again, then your loop",
        )
    planted = damaged if isinstance(damaged, dict) else _planted(damaged, split)
    names = {Path(str(name)).name for name in ([bad_files] if isinstance(bad_files, (str, Path)) else bad_files)}
    problem = _file_names_problem(names, damaged, split)
    if problem:
        return _verdict(False, problem[0], problem[1])
    problem = _found_files_problem(names, planted) or _shown_problem(damaged)
    if problem:
        return _verdict(False, problem[0], problem[1])
    details = "; ".join(f"{name}: {how}" for name, how in sorted(planted.items()))
    return _verdict(True, f"both: {details}.")


def _found_files_problem(names: set[str], planted: dict[str, str]) -> tuple[str, str] | None:
    """(message, hint) for found ``names`` that are not the ``planted`` files: one that decodes, or some missing."""
    wrong = sorted(names - set(planted))
    if wrong:
        return f"{wrong[0]} decodes fine.", "keep only the files whose decoding raised"
    missing = sorted(set(planted) - names)
    if names and missing and all("truncated" in planted[name] for name in missing):
        return (
            f"you found {len(names)} of {len(planted)}. The file you miss opens (its header is whole) and fails only "
            "partway through decoding its pixels: Image.open and Image.verify() read the header and check the file's "
            "structure without decoding, so neither finds it; an epoch stops at it, but its error does not name the file.",
            "decode every file in full (tv_val[i], or img.load() in PIL), with try/except around each",
        )
    if missing:
        return (
            f"you found {len(names)} of {len(planted)}: an epoch stops at the first bad file, so one look does not show the rest.",
            "decode every item of the split in a loop, with try/except around each",
        )
    return None


def _shown_problem(damaged: str | Path | dict[str, str]) -> tuple[str, str] | None:
    """(message, hint) when the answer for the folder ``damaged`` was shown in this session before it was found: the
    flowerkit hunt (:func:`flowerkit.wild.find_bad_images`) decoded its files, or its answer key was read."""
    if isinstance(damaged, dict):
        return None
    root = Path(os.path.abspath(damaged))
    again = "decode the items yourself, in a loop with try/except (restart the kernel if you ran the cells below first)"
    if any(folder.is_relative_to(root) for folder in _SCANNED_FOLDERS):
        return (
            "wild.find_bad_images has decoded this folder's files in this session: that is its report, the flowerkit "
            "version shown after this exercise.",
            again,
        )
    if root in _REVEALED_FOLDERS:
        return (
            "wild.planted_damage has handed out this copy's answer key in this session: it is shown after this exercise.",
            again,
        )
    return None


# ---------------------------------------------------------------------------------------------- exercise 4, part 2: skip

_SKIP_BATCH = 32  # the batch size of the notebook's loaders over the damaged split


class _Recorder(Dataset):
    """The dataset as the student's wrapper reads it, item for item, noting which items raised and the label of each
    item that loaded (read in this process: a worker's notes would stay in the worker)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset, self.raised, self.labels = dataset, set(), {}

    def __getattr__(self, name: str) -> Any:  # the dataset's own attributes (image_files, ...), for a wrapper that reads them
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> Any:
        try:
            item = self.dataset[idx]
        except Exception:
            self.raised.add(idx)
            raise
        label = item[1] if isinstance(item, (tuple, list)) and len(item) > 1 else None
        self.labels[idx] = label.tolist() if isinstance(label, (torch.Tensor, np.ndarray)) else label
        return item


def _collated(batch: Any) -> tuple[int, list[Any]] | None:
    """``(images, labels)`` of a batch collated as the DataLoader's default collate does, as (how many, the labels);
    None for anything else."""
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        return None
    images, labels = batch[0], batch[1]
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor) or images.dim() == 0:
        return None
    return len(images), labels.tolist()


def _skip_pieces_problem(wrapper: Any, collate_fn: Any, dataset: Dataset) -> tuple[Any, tuple[str, str] | None]:
    """``wrapper(dataset)``, or the problem: a stub, the flowerkit version, raised, or no dataset of the same length."""
    if wrapper is SkipAndLog or collate_fn is collate_skipping:
        return None, (
            "that is wild.SkipAndLog or wild.collate_skipping, the flowerkit version shown after this exercise.",
            "write both with plain PyTorch: try/except in __getitem__, and a collate_fn that filters the batch",
        )
    stubs = [f for f in (getattr(wrapper, "__getitem__", wrapper), collate_fn) if _is_stub_function(f)]
    if stubs:
        return None, (f"{getattr(stubs[0], '__qualname__', 'a function')} is still the stub.", STUB_HINT)
    wrapped, error = _call(wrapper, dataset)
    if error:
        return None, (f"SkipUnreadable(dataset): {error}", RAISED_HINT)
    length, error = _call(len, wrapped)
    if error or length != len(dataset):
        return None, (
            f"SkipUnreadable(dataset) gave {reprlib.repr(wrapped)}, whose len() is {error or length}; the dataset has "
            f"{len(dataset)} items.",
            "keep the stub's class: item i of the wrapper is item i of the dataset (or None), so the lengths agree",
        )
    return wrapped, None


def _raised(error: str) -> str:
    """:func:`_call`'s message about the student's function as a predicate ("raised ValueError: ..."), with a full stop."""
    return error.replace("your function raised", "raised", 1).rstrip(".") + "."


def _skip_items_problem(wrapped: Any, collate_fn: Any, bad: list[int], good: int) -> tuple[str, str] | None:
    """Each bad item must come back None, a good one as itself; a batch of two good items and a None must collate to
    two images."""
    for i in bad[:3]:
        item, error = _call(wrapped.__getitem__, i)
        if error or item is not None:
            return (
                f"item {i} cannot be loaded; through your wrapper "
                + (f"it {_raised(error)}" if error else f"it came back as a {type(item).__name__}, not None."),
                "catch the error that loading item idx raises, in __getitem__, and return None for that item",
            )
    item, error = _call(wrapped.__getitem__, good)
    if error or item is None:
        return (
            f"item {good} loads fine; through your wrapper " + (f"it {_raised(error)}" if error else "it came back as None."),
            "return None only when loading raises; otherwise the dataset's item itself",
        )
    out, error = _call(collate_fn, [item, None, item])
    summary = None if error else _collated(out)
    if summary is None or summary[0] != 2:
        said = _raised(error) if error else f"kept {summary[0]} of the 2 items that load." if summary else _not_collated(out)
        return (
            f"on a batch of two items that load and a None, your collate_fn {said}",
            "leave the None items out of the batch, then collate the rest as the DataLoader would (default_collate)",
        )
    return _nothing_left_problem(collate_fn)


def _nothing_left_problem(collate_fn: Any) -> tuple[str, str] | None:
    """A batch whose items all failed (damaged neighbours, or batch_size=1) must not stop the epoch: the collate_fn
    may return None (the loop skips it) or an empty batch, but not raise."""
    out, error = _call(collate_fn, [None, None])
    summary = None if error or out is None else _collated(out)
    if error or (out is not None and (summary is None or summary[0] != 0)):
        said = _raised(error) if error else f"gave {reprlib.repr(out)}."
        return (
            f"on a batch whose two items both failed (neighbouring files damaged together, or any bad file at "
            f"batch_size=1), your collate_fn {said} The epoch would stop there.",
            "decide what a batch with nothing left is: None, which the loop skips, or empty tensors; default_collate "
            "of an empty list cannot guess",
        )
    return None


def _not_collated(out: Any) -> str:
    """What a collate_fn's output is instead of (images, labels) tensors, in words."""
    pair = isinstance(out, (tuple, list)) and len(out) == 2
    if pair and isinstance(out[0], torch.Tensor) and not isinstance(out[1], torch.Tensor):
        return f"gave images and labels as a {type(out[1]).__name__}: the labels should be a tensor too, as default_collate makes them."
    return f"gave a {type(out).__name__}, not (images, labels)."


def _skip_epoch(wrapped: Any, collate_fn: Any) -> tuple[list[Any] | None, str | None]:
    """(how many, labels) of every batch of one epoch in order, in batches of 32, in this process; or the error."""
    try:
        return [_collated(batch) for batch in DataLoader(wrapped, batch_size=_SKIP_BATCH, collate_fn=collate_fn)], None
    except Exception as exc:  # the student's wrapper or collate_fn raised: the direct checks say which
        return None, f"{type(exc).__name__}: {exc}"


def check_skip_unreadable(wrapper: Any, collate_fn: Any, dataset: Dataset) -> Verdict:
    """Notebook ``07_in_the_wild``: ``wrapper(dataset)[i]`` is ``dataset[i]``, or None where loading it raises, and
    ``collate_fn`` collates a batch without its None items.

    Runs one epoch over ``wrapper(dataset)`` in batches of 32 with ``collate_fn``, in this process, and compares the
    images the loop sees with the items of ``dataset`` that load.
    """
    recorder = _Recorder(dataset)
    wrapped, problem = _skip_pieces_problem(wrapper, collate_fn, recorder)
    if problem:
        return _verdict(False, problem[0], problem[1])
    mine, error = _skip_epoch(wrapped, collate_fn)
    bad = sorted(recorder.raised)
    good = next((i for i in range(len(dataset)) if i not in recorder.raised and _call(dataset.__getitem__, i)[1] is None), 0)
    problem = _skip_items_problem(wrapped, collate_fn, bad, good)
    if not problem and (error or None in mine):
        problem = (f"an epoch through your two stopped: {error or 'a batch is not (images, labels)'}", RAISED_HINT)
    expected = [recorder.labels.get(i) for i in range(len(dataset)) if i not in recorder.raised]
    if not problem and [label for _, labels in mine for label in labels] != expected:
        problem = (
            f"your loop saw {sum(n for n, _ in mine)} of {len(dataset)} images; {len(expected)} of them load, every "
            f"item but the {len(bad)} that raise.",
            "drop only the None items: every item that loads reaches its batch, in order",
        )
    if problem:
        return _verdict(False, problem[0], problem[1])
    return _verdict(
        True,
        f"your loop saw {len(expected)} of {len(dataset)} images: every item but the {len(bad)} whose loading raised. "
        "A None does not say which file failed, or why: the flowerkit version (next) hands that to the loop, to log.",
    )


# ---------------------------------------------------------------------------------------------- the student's module


def _student_class(module: str, name: str) -> tuple[type | None, tuple[str, str] | None]:
    """Import ``module`` afresh (a worker imports the file as it is now) and return its class ``name``, or the problem."""
    if not isinstance(module, str):
        return None, (
            'pass the module\'s name as a string, e.g. "my_captions".',
            "the checker imports it by name, as a worker does",
        )
    if module == "__main__":
        return None, (
            "a class defined in the notebook (__main__) cannot reach spawn workers: they import it by module and name.",
            f"write the class into a file next to the notebook (%%writefile my_module.py) and pass its name, {name!r}'s module",
        )
    if module.endswith(".py"):
        return None, (
            f"{module!r} is a file name; the checker takes the module's name, as an import does.",
            f"pass {module.removesuffix('.py')!r}",
        )
    importlib.invalidate_caches()
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:  # a dotted name whose package is missing, or a module without a spec
        return None, (f"the checker cannot find module {module!r}: {exc}.", "pass the name of the .py file next to the notebook")
    if spec is None:
        return None, (f"no answer yet: there is no {module}.py next to this notebook.", "run the %%writefile cell above first")
    cls, problem = _class_as_file_reads(module, name)
    if problem is None:
        return cls, None
    if "does not import" in problem:
        return None, (problem, "run it on its own: import " + module)
    return None, (problem, f"keep the class name {name}: the checker looks for it")


def _build(cls: type, *args: Any) -> tuple[Any, tuple[str, str] | None]:
    """``cls(*args)``, or the problem: it raised, or it is still the stub (``__len__`` or an item is None)."""
    dataset, error = _call(cls, *args)
    if error:
        return None, (error, RAISED_HINT)
    length, error = _call(type(dataset).__len__, dataset)
    item, item_error = _call(type(dataset).__getitem__, dataset, 0) if length else (None, None)
    if error or item_error:
        return None, (error or item_error, RAISED_HINT)
    if length is None or item is None:
        return None, (
            f"{cls.__name__} is still the stub: __len__ or __getitem__ returns None.",
            "fill in the methods marked YOUR CODE",
        )
    return dataset, None


def _loader(dataset: Dataset, context: str, *, batch_size: int, seed: int = 0, collate: Any = None) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=2,
        multiprocessing_context=mp.get_context(context),
        timeout=_TIMEOUT,
        generator=torch.Generator().manual_seed(seed),
        collate_fn=collate,
    )


def _epoch(loader: DataLoader) -> tuple[list[Any] | None, str | None]:
    """Every batch of one epoch, or the error that stopped it (as text)."""
    try:
        return list(loader), None
    except Exception as exc:  # a worker's error, re-raised by the DataLoader: report it
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1]}"
    gc.collect()  # the failed iterator sits in a cycle with its traceback: end it here, not in a worker forked later
    return None, error


def _spawn_refusal(dataset: Dataset, data_bytes: int | None = None) -> tuple[str, str] | None:
    """Why ``dataset`` cannot go to spawn workers safely (it does not pickle, or pickles too large), or None.

    ``data_bytes``: the size of the data the dataset reads (an archive); a pickle under a tenth of it carries metadata
    (names, offsets), not the data, however many files it lists.
    """
    try:
        size = len(pickle.dumps(dataset))
    except Exception as exc:  # what DataLoader would raise when it starts a spawn or forkserver worker
        return (
            f"your dataset cannot be pickled ({type(exc).__name__}: {exc}): spawn and forkserver workers receive it pickled.",
            "keep the path in __init__; open the file on first use in each process, and leave the handle out of the pickle",
        )
    if size > (_SPAWN_PICKLE_LIMIT if data_bytes is None else max(_SPAWN_PICKLE_LIMIT, data_bytes // 10)):
        return (
            f"a small instance pickles to {size / 1024:.0f} KiB: it carries its data by value.",
            "hold a path or shared arrays",
        )
    return None


def _list_batch(batch: list[Any]) -> list[Any]:
    return batch


# ---------------------------------------------------------------------------------------------- exercise: captions

_CAPTIONS = 300_000  # enough captions for the growth to stand far above the noise (about 30 MiB of str objects)
_CAPTIONS_SPAWN = 300


def _small_captions(captions: Sequence[str]) -> list[str]:
    """The first :data:`_CAPTIONS_SPAWN` captions, three of them a visitor's long note with accents.

    Real captions differ in length by far more than the generated ones: a fixed-width array pads every caption to the
    longest, and offsets counted in characters miss the two bytes of an accented letter.
    """
    small = list(captions[:_CAPTIONS_SPAWN])
    for k in (7, _CAPTIONS_SPAWN // 2, _CAPTIONS_SPAWN - 1):
        small[k] = f"{small[k]}; note: {'we came back each week to see it open, ' * (10 * k % 23 + 12)}très joli!"
    return small


def _caption_problem(dataset: Dataset, captions: Sequence[str]) -> tuple[str, str] | None:
    """The first item that differs from its caption (or a length that differs), as a problem; None if all agree."""
    n, error = _call(len, dataset)
    if error:
        return f"len(dataset): {error}", "__len__ returns an int: the number of captions"
    if n != len(captions):
        return (
            f"len() says {n} for {len(captions)} captions.",
            "n captions have n start offsets; if you keep one more (the end of the blob), len() is one less than their count",
        )
    for k, caption in enumerate(captions):
        item, error = _call(dataset.__getitem__, k)
        if error:
            last = k == len(captions) - 1 and "IndexError" in error
            return f"item {k} of {len(captions)}: {error}", (
                "item k is the slice [start[k], start[k + 1]): the last item needs an end too, so keep n + 1 offsets "
                "(the end of the blob last)"
                if last
                else RAISED_HINT
            )
        if isinstance(item, bytes):
            return f"item {k} is bytes ({item[:30]!r}...); it should be the caption, a str.", "decode it: .decode()"
        if item != caption:
            return (
                f"item {k} is {reprlib.repr(item)}, expected {reprlib.repr(caption)}.",
                "check the offsets of item k: its slice is [start[k], start[k + 1]), counted in bytes of the encoded "
                "text ('è' is two bytes), not in characters",
            )
    return None


_CAPTION_MS = 1.0  # the slowest read per caption the memory epoch waits for (a slice takes microseconds)


def _caption_speed_problem(dataset: Dataset, n: int) -> tuple[str, str] | None:
    """A dataset whose items take over :data:`_CAPTION_MS` each to read (a search or a split per item), as a problem:
    the memory epoch over all ``n`` captions would take many minutes."""
    picks = np.random.default_rng(0).integers(0, n, 50).tolist()
    start = time.perf_counter()
    for k in picks:
        dataset[k]
    ms = 1000 * (time.perf_counter() - start) / len(picks)
    if ms <= _CAPTION_MS:
        return None
    return (
        f"each item takes {ms:.1f} ms to read: an epoch of {n:,} captions would take {ms * n / 60000:.0f} minutes.",
        "an item should be one slice of the blob, at offsets looked up by index, not a search or a split of it",
    )


def _caption_size_problem(dataset: Dataset, captions: Sequence[str]) -> tuple[str, str] | None:
    """A dataset that pickles to more than twice its text (a fixed-width array pads every caption), as a problem."""
    text = sum(len(caption.encode()) for caption in captions)
    try:
        size = len(pickle.dumps(dataset))
    except Exception:  # reported by _spawn_refusal, with its hint
        return None
    if size <= 2 * text + 4096:
        return None
    return (
        f"{len(captions)} captions, {text / 1024:.0f} KiB of UTF-8 text, pickle to {size / 1024:.0f} KiB: a fixed-width "
        "array pads every caption to the longest (and NumPy's str dtype takes 4 bytes a character). Every spawn "
        "worker receives all of it.",
        "picture all the captions joined into one long bytes string: what else would you need to cut caption i back out of it?",
    )


def _per_caption_objects(dataset: Dataset, n: int) -> tuple[str, str] | None:
    """A Python container in ``dataset`` with an entry per caption (``n`` of them or more), as a problem; else None.

    A list of offsets grows a worker by less than the checker's measurement can tell from noise, but it is the same
    copy-on-read pattern as a list of str: one Python object per caption.
    """
    held = list(getattr(dataset, "__dict__", {}).items())
    for name, value in list(held):  # one level down too: {"blob": ..., "starts": [...]} keeps a list all the same
        inner = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, tuple) else ()
        held += [(f"{name}[{key!r}]", v) for key, v in inner if isinstance(v, (list, tuple, dict, set, frozenset))]
    for name, value in held:
        if isinstance(value, (list, tuple, dict, set, frozenset)) and len(value) >= n:
            kinds = sorted({type(v).__name__ for v in list(value)[:1000]})
            return (
                f"your Captions keeps `{name}`, a Python {type(value).__name__} of {len(value)} {'/'.join(kinds)} objects, "
                "one per caption: every read writes an object's reference count, so a fork worker copies its page "
                "(copy-on-read, as with the list of str; smaller here, but it grows with the captions).",
                "keep the numbers in a NumPy array, as the exercise says: one block of memory, no object per caption",
            )
    return None


_OBJECT_ARRAY_HINT = (
    "an array of dtype=object is one object holding a pointer per caption to a Python str, each str still a page the "
    "worker copies when it reads it: keep the text itself in an array of numbers or bytes"
)


def _holds_object_array(dataset: Any) -> bool:
    """Whether ``dataset`` keeps a NumPy array of dtype object as an attribute (a list of str in disguise)."""
    return any(isinstance(v, np.ndarray) and v.dtype == object for v in vars(dataset).values())


def check_caption_memory(module: str = "my_captions") -> Verdict:
    """Notebook ``07_in_the_wild``: ``<module>.Captions(captions)`` gives each caption without workers' memory growing.

    Checks every item of a small instance in this process and through 2 spawn workers, then measures
    the private memory of 2 fork workers over one shuffled epoch of 300,000 captions: it must grow by
    less than a quarter of what the captions take as Python objects (a list of ``str`` grows by all of it).
    """
    cls, problem = _student_class(module, "Captions")
    captions = make_captions(_CAPTIONS)
    small = _small_captions(captions)
    dataset, problem = (None, problem) if problem else _build(cls, small)
    problem = problem or _caption_problem(dataset, small) or _caption_size_problem(dataset, small) or _spawn_refusal(dataset)
    if problem:
        return _verdict(False, problem[0], problem[1])
    batches, error = _epoch(_loader(dataset, "spawn", batch_size=50))
    if error or [c for batch in batches for c in batch] != small:
        return _verdict(
            False, f"through 2 spawn workers the items differ from the captions ({error or 'wrong items'}).", RAISED_HINT
        )
    if "fork" not in mp.get_all_start_methods():
        return _verdict(
            False, "this system has no fork (Windows): the growth cannot be measured here.", "run it on Linux, macOS or WSL"
        )
    full, problem = _build(cls, captions)
    problem = problem or _caption_speed_problem(full, len(captions))
    if problem:
        return _verdict(False, problem[0], problem[1])
    memory = measure_worker_memory(full, context="fork", batch_size=2000)
    as_objects = sum(sys.getsizeof(c) for c in captions) / MIB
    grew = max(memory.growth)
    figures = f"each fork worker grew by {grew:.1f} MiB over an epoch of {len(captions):,} captions (as str objects they take {as_objects:.0f} MiB)"
    if not grew < 0.25 * as_objects:
        return _verdict(
            False,
            f"{figures}: every caption read is still a Python object whose page the worker copies.",
            _OBJECT_ARRAY_HINT
            if _holds_object_array(full)
            else "section 1's fix held the paths in NumPy arrays of bytes, one object however many paths: what could "
            "hold captions of any length that way, without padding each to the longest?",
        )
    problem = _per_caption_objects(dataset, len(small))
    if problem:
        return _verdict(False, f"{figures}; {problem[0]}", problem[1])
    return _verdict(True, f"{figures}; the items match, in this process and through 2 spawn workers.")


# ---------------------------------------------------------------------------------------------- exercise: zip archive

_ZIP_FILES = 400
# The zip's fix, and the question asked before it is given (the first time its problem shows, in this process).
_OWN_ZIP = "each process needs its own ZipFile: remember os.getpid() when you open it, and open again when it differs"
_OWN_ZIP_ASK = "which process opened the ZipFile your workers read through, and which processes read it?"
_ZIP_FORK_EPOCHS = 3


def _zip_items_problem(
    batches: list[list[bytes]] | None, error: str | None, expected: list[bytes], how: str
) -> tuple[str, str] | None:
    if error:
        return f"{how}, an epoch failed: {error}", _asked_first(_OWN_ZIP)
    got = [item for batch in batches or [] for item in batch]
    wrong = [k for k, (a, b) in enumerate(zip(got, expected)) if a != b]
    if len(got) != len(expected) or wrong:
        at = wrong[0] if wrong else min(len(got), len(expected))
        return (
            f"{how}, item {at} is not the bytes of the {at}-th file by sorted name.",
            _asked_first(_OWN_ZIP),
        )
    return None


def _positions(path: Path) -> dict[int, int]:
    """The file position of each descriptor this process holds open on ``path`` (Linux ``/proc``; ``{}`` elsewhere)."""
    found = {}
    for fd in Path("/proc/self/fd").glob("*") if Path("/proc/self/fdinfo").is_dir() else []:
        with contextlib.suppress(OSError, AttributeError, ValueError):
            if os.readlink(fd) == str(path):
                pos = re.search(r"^pos:\s*(\d+)", (fd.parent.parent / "fdinfo" / fd.name).read_text(), re.M)
                found[int(fd.name)] = int(pos.group(1))
    return found


def _fork_problem(dataset: Dataset, archive: Path, expected: list[bytes]) -> tuple[str, str] | None:
    """Epochs through 2 fork workers: wrong items, or a file position of this process moved by the workers' reads."""
    before = _positions(archive)
    for _ in range(_ZIP_FORK_EPOCHS):
        batches, error = _epoch(_loader(dataset, "fork", batch_size=8, collate=_list_batch))
        problem = _zip_items_problem(batches, error, expected, "through 2 fork workers")
        if problem:
            return problem
    moved = [fd for fd, pos in _positions(archive).items() if before.get(fd, pos) != pos]
    if moved:
        return (
            "through 2 fork workers the items came out right this time, but the workers read through the file this "
            "process opened (its position moved while this process read nothing): one position shared by every "
            "worker, and on another run their reads get mixed (BadZipFile).",
            _asked_first(_OWN_ZIP),
        )
    return None


def check_zip_per_worker(module: str, files: Sequence[str | Path]) -> Verdict:
    """Notebook ``07_in_the_wild``: reads the archive through ``<module>.ZipImages(zip_path)`` in spawn and fork workers.

    Writes the first 400 of ``files`` (by name) to an archive, in a shuffled order; item ``i`` must be the bytes of the
    archive's ``i``-th name in sorted order. Reads item 0 in this process, then every item through 2 spawn workers and
    through 3 epochs of 2 fork workers, and compares each with its file (on Linux, watching this process's open
    files too).
    """
    cls, problem = _student_class(module, "ZipImages")
    if problem:
        return _verdict(False, problem[0], problem[1])
    chosen = sorted((Path(f) for f in files), key=lambda p: p.name)[:_ZIP_FILES]
    expected = [p.read_bytes() for p in chosen]
    stored = [chosen[k] for k in np.random.default_rng(7).permutation(len(chosen))]  # the archive's order is not sorted
    with tempfile.TemporaryDirectory() as tmp:
        archive = write_zip(stored, Path(tmp) / "flowers.zip").resolve()
        dataset, problem = _build(cls, archive)
        if not problem and dataset[0] != expected[0]:
            problem = (
                "item 0 is not the bytes of the first file (sorted by name).",
                "sort the archive's names: sorted(namelist())",
            )
        problem = problem or _spawn_refusal(dataset, archive.stat().st_size)
        if not problem:
            spawned = _epoch(_loader(dataset, "spawn", batch_size=40, collate=_list_batch))
            problem = _zip_items_problem(*spawned, expected, "through 2 spawn workers")
        if not problem and "fork" in mp.get_all_start_methods():
            problem = _fork_problem(dataset, archive, expected)
    if problem:
        return _verdict(False, problem[0], problem[1])
    return _verdict(
        True,
        f"all {len(expected)} files, byte for byte, through 2 spawn workers and {_ZIP_FORK_EPOCHS} epochs of 2 fork workers; "
        f"the dataset pickles to {len(pickle.dumps(dataset))} bytes.",
    )


# ---------------------------------------------------------------------------------------------- exercise: MixUp partners

_PAIRS = 64
_PAIRS_BATCH = 8
#: The runs the partner checker compares with the partners drawn in this process: (what, start method, workers, epoch).
_PAIR_RUNS = (("2 fork workers", "fork", 2, 0), ("3 fork workers", "fork", 3, 1), ("2 spawn workers", "spawn", 2, 1))
_PER_ITEM_ASK = "what may an item's partner depend on, if it must not depend on who reads it, or on what was read before it?"
_PER_ITEM_HINT = (
    "make a generator inside __getitem__ from the things that decide the partner (seed, epoch, idx), and nothing else"
)


_QUESTION_FIRST = {_OWN_ZIP: _OWN_ZIP_ASK, _PER_ITEM_HINT: _PER_ITEM_ASK}
_HINTED: set[str] = set()  # the hints of _QUESTION_FIRST given in full already, in this process


def _asked_first(hint: str) -> str:
    """:func:`~flowerkit.exercises.verdict._question_first` with this notebook's questions (:data:`_QUESTION_FIRST`)."""
    return _question_first(hint, _QUESTION_FIRST, _HINTED, "the full hint")


def _partners_read(dataset: Any, epoch: int, context: str | None = None, workers: int = 0) -> tuple[list[int] | None, str | None]:
    """Every item's partner for ``epoch``, read in order by ``workers`` workers (0: in this process), or the error."""
    _, error = _call(dataset.set_epoch, epoch)
    if error:
        return None, f"set_epoch({epoch}): {error}"
    with warnings.catch_warnings():  # 3 workers on a 2-core machine: PyTorch's advice is beside the point here
        warnings.filterwarnings("ignore", "This DataLoader will create", UserWarning)
        loader = DataLoader(
            dataset,
            batch_size=_PAIRS_BATCH,
            num_workers=workers,
            multiprocessing_context=mp.get_context(context) if workers else None,
            timeout=_TIMEOUT if workers else 0,
            generator=torch.Generator().manual_seed(1000 * epoch + workers),  # a different loader seed for every run
        )
        batches, error = _epoch(loader)
    return (None, error) if error else ([int(p) for _, partners in batches for p in partners], None)


def _is_pair(item: Any, k: int) -> bool:
    """Whether ``item`` is ``(k, partner)`` with an integer partner in ``0 .. _PAIRS - 1``."""
    if not (isinstance(item, (tuple, list)) and len(item) == 2 and item[0] == k):
        return False
    partner = item[1]
    if isinstance(partner, np.generic) or (isinstance(partner, torch.Tensor) and partner.numel() == 1):
        partner = partner.item()
    return isinstance(partner, int) and not isinstance(partner, bool) and 0 <= partner < _PAIRS


_SUM_HINT = (
    "a sum such as seed + epoch + idx gives (seed, epoch + 1, idx) and (seed, epoch, idx + 1) one generator: keep "
    "each number apart (np.random.default_rng accepts more than one number)"
)


def _moved_by_one(a: list[int], b: list[int]) -> bool:
    """Whether ``b[i]`` is mostly ``a[i + 1]`` (or ``a[i - 1]``): one generator shared by (x + 1, item i) and (x, i + 1)."""
    ahead = sum(x == y for x, y in zip(a[1:], b))
    behind = sum(x == y for x, y in zip(a, b[1:]))
    return max(ahead, behind) > _PAIRS // 4


def _partner_items_problem(cls: type) -> tuple[str, str] | None:
    """What is wrong with ``cls``'s items in this process: the stub, invalid items, no set_epoch, or no randomness."""
    dataset, problem = _build(cls, _PAIRS, 0)
    if problem:
        return problem
    if not callable(getattr(dataset, "set_epoch", None)):
        return "MixupPartners has no set_epoch(epoch).", "store the epoch: the training loop calls set_epoch before each epoch"
    first = cls(_PAIRS, 0)  # fresh: _build has read item 0 of `dataset` already
    items, error = _call(lambda: [first[i] for i in range(_PAIRS)])
    if error:
        return error, RAISED_HINT
    if not all(_is_pair(item, k) for k, item in enumerate(items)):
        return "item i should be (i, partner) with 0 <= partner < n.", "return idx, int(partner)"
    different = len({int(p) for _, p in items})
    if different < _PAIRS // 4:
        return f"{_PAIRS} items have only {different} different partners: that is not random.", _asked_first(_PER_ITEM_HINT)
    offsets = len({(int(p) - k) % _PAIRS for k, (_, p) in enumerate(items)})
    if offsets < _PAIRS // 4:  # (i + c) % n: every partner a fixed step away, so neighbours always meet
        return (
            f"the partners of {_PAIRS} items sit only {offsets} different step(s) away from their items "
            "(partner - i): a shift, not a random draw.",
            _asked_first(_PER_ITEM_HINT),
        )
    return None


def _partner_determinism_problem(cls: type) -> tuple[str, str] | None:
    """Without workers: the same partner for the same (seed, epoch, item), however often and in whatever order it is read."""
    a, b, other = cls(_PAIRS, 0), cls(_PAIRS, 0), cls(_PAIRS, 1)
    forward = [int(a[i][1]) for i in range(_PAIRS)]
    again = [int(a[i][1]) for i in range(_PAIRS)]
    backward = [int(b[i][1]) for i in reversed(range(_PAIRS))][::-1]
    if again != forward or backward != forward:
        k = next(k for k in range(_PAIRS) if again[k] != forward[k] or backward[k] != forward[k])
        return (
            f"item {k} got partner {forward[k]}, then {again[k] if again[k] != forward[k] else backward[k]} when read "
            "again (or in another order): each partner depends on the draws before it, so on which worker reads what.",
            _asked_first(_PER_ITEM_HINT),
        )
    seeded = [int(other[i][1]) for i in range(_PAIRS)]
    if seeded == forward:
        return "seed=1 gives the same partners as seed=0.", "let `seed` decide the draws"
    if _moved_by_one(forward, seeded):
        return "seed=1 gives seed=0's partners moved by one item: the same draws, not new ones.", _SUM_HINT
    return None


def _partner_epoch_problem(dataset: Any) -> tuple[list[list[int]] | None, tuple[str, str] | None]:
    """Epochs 0 and 1 in this process; a problem if set_epoch(1) does not give new partners."""
    epochs = [_partners_read(dataset, epoch) for epoch in (0, 1)]
    error = epochs[0][1] or epochs[1][1]
    if error:
        return None, (f"without workers, an epoch failed: {error}", RAISED_HINT)
    same = sum(a == b for a, b in zip(epochs[0][0], epochs[1][0]))
    if same > _PAIRS // 4:
        return None, (
            f"after set_epoch(1), {same} of {_PAIRS} items kept their partner of epoch 0.",
            "let the epoch decide the draws too",
        )
    if _moved_by_one(epochs[0][0], epochs[1][0]):
        return None, ("after set_epoch(1) the partners are epoch 0's moved by one item: the same draws again.", _SUM_HINT)
    return [partners for partners, _ in epochs], None


#: The larger instance the shift check reads without workers: a shift of a few hundred items shows in most of it.
_SHIFT_PAIRS = 2048


def _best_shift(a: list[int], b: list[int]) -> tuple[int, int]:
    """``(k, count)``: the constant shift ``k`` for which ``b[i] == a[i + k]`` holds for the most items, and how many."""
    where: dict[int, list[int]] = {}
    for j, value in enumerate(a):
        where.setdefault(value, []).append(j)
    shifts: dict[int, int] = {}
    for i, value in enumerate(b):
        for j in where.get(value, [])[:8]:  # a value drawn many times says nothing about a shift: a few places do
            shifts[j - i] = shifts.get(j - i, 0) + 1
    return max(shifts.items(), key=lambda kv: kv[1], default=(0, 0))


def _partners_at(cls: type, seed: int, epoch: int) -> tuple[list[int] | None, str | None]:
    """Every partner of ``cls(_SHIFT_PAIRS, seed)`` after ``set_epoch(epoch)``, read in this process, or the error."""

    def read() -> list[int]:
        dataset = cls(_SHIFT_PAIRS, seed)
        dataset.set_epoch(epoch)
        return [int(dataset[i][1]) for i in range(_SHIFT_PAIRS)]

    return _call(read)


def _partner_shift_problem(cls: type) -> tuple[str, str] | None:
    """Without workers, at n = 2048: another epoch, another seed, or seed 1's epoch 0 against seed 0's epoch 1 must not
    give the same draws moved along by any constant number of items (``b[i] == a[i + k]`` for most items)."""
    runs = {(seed, epoch): _partners_at(cls, seed, epoch) for seed, epoch in ((0, 0), (0, 1), (1, 0))}
    error = next((error for _, error in runs.values() if error), None)
    if error:
        return f"with n={_SHIFT_PAIRS}: {error}", RAISED_HINT
    pairs = (
        ((0, 0), (0, 1), "after set_epoch(1) the partners are epoch 0's"),
        ((0, 0), (1, 0), "with seed=1 the partners are seed=0's"),
        ((0, 1), (1, 0), "seed=1's partners in epoch 0 are seed=0's of epoch 1"),
    )
    for a, b, what in pairs:
        k, count = _best_shift(runs[a][0], runs[b][0])
        if count >= max(64, (_SHIFT_PAIRS - abs(k)) // 2):  # chance gives a shift a handful of items at most
            moved = "item for item" if k == 0 else f"moved along by {abs(k)} item{'s' if abs(k) > 1 else ''}"
            return f"with n={_SHIFT_PAIRS}, {what} {moved} ({count} of them): the same draws, not new ones.", _APART_HINT
        step, count = Counter((y - x) % _SHIFT_PAIRS for x, y in zip(runs[a][0], runs[b][0])).most_common(1)[0]
        if count > _SHIFT_PAIRS // 4:  # chance: a few dozen at most
            return (
                f"with n={_SHIFT_PAIRS}, {what} plus {step} (mod n) for {count} of the items: a new seed or epoch adds "
                "a constant to a formula instead of drawing.",
                _asked_first(_PER_ITEM_HINT),
            )
    return _far_shift_problem(cls)


_APART_HINT = (
    "here a change of seed, epoch or item gives back a generator already used for another: keep the three numbers "
    "apart, not added or scaled into one (np.random.default_rng accepts a list of them)"
)
#: The far check's instance and the items it compares: a dataset of this size is what a partner's range must cover.
_FAR_PAIRS = 2**24
_FAR_ITEMS = [k * 2**17 + 7 for k in range(32)]
#: Steps a seed made of one number tends to use between epoch, seed and item (epoch * 10_000 + idx, ...).
_ROUND_STEPS = sorted({10**j for j in range(1, 8)} | {2**j for j in range(4, 24)})


def _far_shift_problem(cls: type) -> tuple[str, str] | None:
    """Partners drawn far apart at n = 2**24: epoch 1's (or seed 1's) partner of item i must not be epoch 0's partner
    of item i + k for a round k (a seed such as seed * 10**6 + epoch * 10**4 + idx passes the small instances)."""

    def partner(dataset: Any, i: int) -> int:
        return int(dataset[i][1])

    def at(seed: int, epoch: int) -> Any:
        dataset = cls(_FAR_PAIRS, seed)
        dataset.set_epoch(epoch)
        return dataset

    runs, error = _call(lambda: {key: at(*key) for key in ((0, 0), (0, 1), (1, 0))})
    if error:
        return f"with n={_FAR_PAIRS:,}: {error}", RAISED_HINT
    for later, what in (((0, 1), "epoch 1"), ((1, 0), "seed 1")):
        ahead, error = _call(lambda later=later: [partner(runs[later], i) for i in _FAR_ITEMS])
        if error:
            return f"with n={_FAR_PAIRS:,}: {error}", RAISED_HINT
        for step in _ROUND_STEPS:
            same, error = _call(
                lambda step=step, ahead=ahead: sum(partner(runs[(0, 0)], i + step) == p for i, p in zip(_FAR_ITEMS, ahead))
            )
            if error:
                return f"with n={_FAR_PAIRS:,}: {error}", RAISED_HINT
            if same > len(_FAR_ITEMS) // 2:  # partners in 0 .. 2**24: chance agrees once in millions
                return (
                    f"with n={_FAR_PAIRS:,}, {what}'s partner of item i is seed 0's epoch-0 partner of item i + {step:,} "
                    f"({same} of {len(_FAR_ITEMS)} items tried): on a dataset of more than {step:,} items the same "
                    "draws come back.",
                    _APART_HINT,
                )
    return None


def _partner_workers_problem(dataset: Any, expected: list[list[int]]) -> tuple[str, str] | None:
    """Each run of :data:`_PAIR_RUNS` must give every item the partner it got in this process, for the same epoch."""
    for how, context, workers, epoch in _PAIR_RUNS:
        if context not in mp.get_all_start_methods():
            continue
        got, error = _partners_read(dataset, epoch, context, workers)
        if error:
            return f"through {how}: {error}", RAISED_HINT
        k = next((k for k, (a, b) in enumerate(zip(got, expected[epoch])) if a != b), None)
        if k is not None and context != "fork" and epoch and got == expected[0]:
            return (
                f"in epoch {epoch}, through {how}, every item got its epoch-0 partner: the workers never saw set_epoch.",
                "a spawn worker imports your module afresh and receives the dataset by pickling: an epoch kept outside "
                "the instance (a module global, a class attribute) is back at its start there; keep it in self.epoch",
            )
        if k is not None:
            return (
                f"in epoch {epoch}, through {how}, item {k} got partner {got[k]}; without workers it got {expected[epoch][k]}.",
                "the partner may depend on seed, epoch and idx only, not on which worker reads it or its seed",
            )
    return None


def check_mixup_partners(module: str = "my_partners") -> Verdict:
    """Notebook ``07_in_the_wild``: compares every item's partner from ``<module>.MixupPartners(n, seed)`` across workers,
    start methods, seeds and epochs.

    Reads the items in this process (more than once, in more than one order, with two seeds, in two epochs, and on a
    larger instance), then through 2 and 3 fork workers and 2 spawn workers, each with a loader seed of its own.
    """
    cls, problem = _student_class(module, "MixupPartners")
    problem = problem or _partner_items_problem(cls) or _partner_determinism_problem(cls)
    dataset = None if problem else cls(_PAIRS, 0)
    problem = problem or _spawn_refusal(dataset)
    expected, problem = (None, problem) if problem else _partner_epoch_problem(dataset)
    problem = problem or _partner_shift_problem(cls) or _partner_workers_problem(dataset, expected)
    if problem:
        return _verdict(False, problem[0], problem[1])
    return _verdict(
        True,
        "every item kept its partner whoever read it: without workers, through 2 and 3 fork workers and 2 spawn "
        "workers; set_epoch(1) drew new ones. A partner decided by (seed, epoch, item) alone does not care how items "
        "are split among workers: a run with 8 workers reproduces with num_workers=0, under a debugger. set_epoch "
        "reaches the workers because each epoch starts new ones from the dataset as it is now; persistent_workers "
        "would keep the epoch they started with.",
    )
