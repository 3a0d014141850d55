"""Checkers of notebook ``06_beyond_one_machine``: the Scale team's hunt (counting, naming), padding, a stream by rank and worker.

The student's rank- and worker-split stream is checked twice. In class
(:func:`check_rank_stream`), in this process: each rank is the class built
with its ``rank`` and ``world_size``, each worker a copy of it iterated while
``get_worker_info()`` answers as that worker would. As homework
(:func:`check_torchrun_stream`), for real: a small driver script started with
``torchrun --standalone --nproc_per_node=2`` (2 ranks, gloo, CPU), each rank
reading the stream through a DataLoader with 2 spawn workers. Either way the
items every rank read are counted.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import itertools
import json
import math
import os
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import types
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch
import torch.distributed as dist
import webdataset as wds
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler, IterableDataset

from .. import distributed as _distributed
from .. import shards as _shards
from ..distributed import _child_env, _stop_process_tree, count_epochs
from ..shards import read_shard_keys, write_shards
from .nb03 import _pretend_worker, _worker_info
from .verdict import (
    RAISED_HINT,
    STUB_HINT,
    Verdict,
    _call,
    _call_without,
    _class_as_file_reads,
    _deadline,
    _failure_hint,
    _is_stub_function,
    _names_any,
    _question_first,
    _set_verdict,
    _stall_error,
    _unanswered,
    _verdict,
)

__all__ = [
    "SCALE_SUSPECTS",
    "check_count_appearances",
    "check_ddp_by_hand",
    "check_my_shard",
    "check_padded_indices",
    "check_rank_stream",
    "check_scale_bugs",
    "check_shuffle_buffer",
    "check_torchrun_stream",
]


def _appearance_cases() -> list[tuple[list[list[int]], list[int]]]:
    """(ids read by each rank, the ids of the epoch): a perfect split and the ways a split goes wrong."""
    return [
        ([[0, 2, 4], [1, 3, 5]], list(range(6))),  # a perfect split
        ([[0, 1, 2], [0, 1, 2]], list(range(6))),  # both ranks read the same half
        ([[0, 2, 4, 0], [1, 3, 5, 1]], list(range(6))),  # padding repeats the first samples
        ([[5, 5, 5], []], list(range(6))),
        ([[0, 9], [1]], [0, 1, 2, 3]),  # id 9 is not in the split: it belongs to no bar
        ([[3, 1, 0, 2]], list(range(4))),  # one rank: it reads everything once
        ([[0, 3], [1, 4, 0], [2, 5]], list(range(6))),  # three ranks: the number of processes changes
    ]


def _histogram(answer: Any) -> dict[int, int] | None:
    """A student's {times read: ids} as plain ints without the empty bars (a 0 count is no mistake), or None."""
    try:
        pairs = [(float(k), float(v)) for k, v in dict(answer).items()]
    except (TypeError, ValueError):
        return None
    if any(k != int(k) or v != int(v) for k, v in pairs):
        return None  # a share or a mean is not a count
    return {int(k): int(v) for k, v in pairs if v != 0}


def _appearance_problem(
    got: dict[int, int], want: dict[int, int], ids_by_rank: list[list[int]], expected: list[int]
) -> tuple[str, str]:
    """(problem, hint) for a histogram that is not ``want``: the classic slips first."""
    case = f"ranks {ids_by_rank} over ids {expected}"
    read = Counter(i for ids in ids_by_rank for i in ids)
    if set(got) and set(got) <= set(expected) and got == {i: n for i, n in read.items() if n}:
        return (
            f"for {case} you returned each id's count ({got}); the tool summarises them.",
            "count the counts: how many ids were read 0 times, how many once, how many twice (Counter of the values)",
        )
    if got == {k: v for k, v in want.items() if k != 0}:
        return (
            f"for {case} expected {want}, got {got}: the ids nobody read are not in it.",
            "go through expected_ids, not through the ids read: an id no rank read was read 0 times",
        )
    outside = sorted(set(read) - set(expected))
    if outside and got == dict(Counter(read[i] for i in read) + Counter(0 for i in expected if i not in read)):
        return (
            f"for {case} expected {want}, got {got}: you counted id {outside[0]}, which is not among the expected ids.",
            "count the reads of the expected ids only: a read of another id belongs to no bar",
        )
    if got == {n: i for i, n in want.items()} and got != want:
        return (
            f"for {case} expected {want}, got {got}: keys and values swapped.",
            "the keys are the times read, the values how many ids were read that often",
        )
    if got == dict(Counter(1 for i in expected if i in read) + Counter(0 for i in expected if i not in read)):
        return (
            f"for {case} expected {want}, got {got}: an id read twice counts as read once.",
            "count every read (a Counter over all ranks' lists), not the set of ids read",
        )
    return (
        f"for {case} expected {want}, got {got}.",
        "count this small case by hand: for each expected id, how many times did the ranks read it? Then how many ids "
        "share each number",
    )


_CALLS_COUNT_EPOCHS = "your function calls flowerkit's distributed.count_epochs, the version this exercise builds."


def _changed_input_verdict(ids_by_rank: list[list[int]], expected: list[int], given: tuple[Any, Any]) -> Verdict:
    """The verdict on a count that changed the lists it was handed (``given``, afterwards)."""
    return _verdict(
        False,
        f"for ranks {ids_by_rank} over ids {expected} your function changed the lists it was given "
        f"(afterwards: {given[0]} over {given[1]}).",
        "count without changing the arguments: all_ids = ids_by_rank[0] + ... makes a new list, += extends the first",
    )


def check_count_appearances(func: Callable[[Any, Any], Any]) -> Verdict:
    """Notebook ``06_beyond_one_machine``: ``func(ids_by_rank, expected_ids)`` -> {times read: number of ids} for one
    epoch: how many of the split's ids the ranks together read 0 times, once, twice, ... (bars of 0 may be left out).

    Compared with the flowerkit version on five small cases (which it is, the message says once the answer is right).
    """
    for ids_by_rank, expected in _appearance_cases():
        given = [list(ids) for ids in ids_by_rank], list(expected)  # the student's copies: a function may change them
        answer, error, refused = _call_without(_distributed, "count_epochs", func, *given)
        if refused:
            return _verdict(False, _CALLS_COUNT_EPOCHS, "count the reads yourself: a Counter over all ranks' lists")
        if error:
            return _verdict(False, error, RAISED_HINT)
        if _unanswered(answer):
            return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
        if given != (ids_by_rank, expected):
            return _changed_input_verdict(ids_by_rank, expected, given)
        bars = count_epochs([[ids] for ids in ids_by_rank], expected)["appearances_per_epoch"][0]
        want = {k: n for k, n in enumerate(bars) if n}
        got = _histogram(answer)
        if got is None:
            return _verdict(
                False,
                f"return a dict of times read -> number of ids (whole numbers), got {answer!r:.80}.",
                "e.g. {1: 6} when each of 6 ids was read once: counts, not shares; a Counter is a dict",
            )
        if (
            got != want
            and got != {n: i for i, n in want.items()}
            and abs(sum(float(v) for v in dict(answer).values()) - 1) < 1e-6
        ):
            return _verdict(
                False,
                f"for ranks {ids_by_rank} over ids {expected} your bars add up to 1 ({answer!r:.60}): shares of the ids.",
                "return numbers of ids, not shares: counts, so that the bars add up to len(expected_ids)",
            )
        if got != want:
            problem, hint = _appearance_problem(got, want, ids_by_rank, expected)
            return _verdict(False, problem, hint)
    return _verdict(
        True,
        "the same as flowerkit's distributed.count_epochs on all "
        f"{len(_appearance_cases())} cases (its appearances_per_epoch; it counts every epoch at once, and every run "
        "distributed.launch summarises in section 5 is counted by it). A healthy epoch is one bar: every id read once. "
        "Now count the Scale team's epochs.",
    )


# ---------------------------------------------------------------------------------------------- a shard by hand


def _shard_samples(dataset: Any, n: int = 12) -> list[tuple[int, Path, int]]:
    """``n`` (image id, JPEG path, label) samples spread over ``dataset``, as exercise "a shard by hand" hands them over."""
    picks = sorted({round(k * (len(dataset) - 1) / (n - 1)) for k in range(n)})
    return [(int(dataset.image_ids[i]), Path(dataset.image_files[i]), int(dataset.labels[i])) for i in picks]


def _members(path: Path) -> list[tuple[str, bytes]] | str:
    """Every member of the tar file at ``path`` as (name, bytes), in order; or what keeps tarfile from reading it."""
    try:
        with tarfile.open(path) as tar:
            return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]  # type: ignore[union-attr]
    except (OSError, tarfile.TarError) as err:
        return f"{type(err).__name__}: {err}"


#: The first bytes of a compressed file, by compression (what tarfile's modes "w:gz", "w:bz2", "w:xz" write).
_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}


def _compression_problem(path: Path) -> tuple[str, str] | None:
    """(message, hint) for a shard written compressed (gzip, bzip2, xz: read from its first bytes); None for a plain tar."""
    with open(path, "rb") as file:
        head = file.read(6)
    packed = next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)
    if packed is None:
        return None
    return (
        f"your shard is a compressed tar ({packed}): JPEGs are compressed already, so it saves next to nothing, and "
        "every reader of every epoch pays to decompress it (and a .tar name promises a plain tar).",
        "open it for writing without compression: mode 'w'",
    )


def _key_runs(names: list[str]) -> list[str]:
    """The keys (names without extension) of consecutive members, each run of one key counted once."""
    keys = [name.split(".", 1)[0] for name in names]
    return [k for n, k in enumerate(keys) if n == 0 or keys[n - 1] != k]


def _shard_problem(members: list[tuple[str, bytes]], samples: list[tuple[int, Path, int]]) -> tuple[str, str] | None:
    """What keeps ``members`` from being the samples' shard: names, order, the JPEG's bytes, the label's text."""
    want = [
        (f"{i:06d}.{ext}", data) for i, path, y in samples for ext, data in (("jpg", path.read_bytes()), ("cls", str(y).encode()))
    ]
    names, want_names = [n for n, _ in members], [n for n, _ in want]
    if sorted(names) != sorted(want_names):
        extra, missing = sorted(set(names) - set(want_names))[:3], sorted(set(want_names) - set(names))[:3]
        return (
            f"the members are not the samples' files: unexpected {extra}, missing {missing}.",
            "two members per sample, named by its id in 6 digits: f'{image_id:06d}.jpg' and f'{image_id:06d}.cls'",
        )
    runs = _key_runs(names)
    if runs != [f"{i:06d}" for i, _, _ in samples]:
        if len(runs) == len(samples):  # each sample's files together, the samples in another order
            return (
                "each sample's two files follow one another, but the samples are in another order than `samples`.",
                "write the samples in the order they are given: a shard's order is the order a stream reads them",
            )
        return (
            "the right members, in another order: a sample's two files must follow one another, samples in the given order.",
            "webdataset groups consecutive members that share a key into one sample: write each sample's .jpg and .cls together",
        )
    written = dict(members)
    for name, expected in want:
        data = written[name]
        if not data:
            return (
                f"{name} is an empty member (0 bytes) in the shard.",
                "tar.addfile(info, fileobj) copies info.size bytes from fileobj, and a new TarInfo's size is 0: set it "
                "to the length of the bytes",
            )
        if data != expected and name.endswith(".jpg"):
            return f"{name} is not the JPEG file's bytes.", "put the file's bytes in the shard untouched: Path(path).read_bytes()"
        if data.strip() != expected:  # a label written "3\n" reads as 3 too
            return f"{name} holds {data[:20]!r}, expected {expected!r}.", "the 0-based label as text: str(label).encode()"
    return None


def _webdataset_problem(shard: Path, samples: list[tuple[int, Path, int]]) -> tuple[str, str] | None:
    """What webdataset's reader makes of ``shard``, if not the samples' (id, label) pairs in order."""
    read = [(k, y) for k, y, _ in read_shard_keys([shard])]
    if read != [(i, y) for i, _, y in samples]:
        return f"webdataset reads {read[:3]}... from it.", "two members per sample, named f'{image_id:06d}.jpg' and '.cls'"
    return None


def _same_as_write_shards(members: list[tuple[str, bytes]], samples: list[tuple[int, Path, int]], folder: Path) -> bool:
    """Whether :func:`flowerkit.shards.write_shards` packs ``samples`` into the same members, samples in the same order."""
    picked = types.SimpleNamespace(
        split="picked",
        image_files=[p for _, p, _ in samples],
        image_ids=[i for i, _, _ in samples],
        labels=[y for _, _, y in samples],
    )
    (ours,) = write_shards(picked, folder, num_shards=1, seed=None, progress=False)
    theirs = _members(ours)
    return (
        not isinstance(theirs, str)
        and dict(theirs) == dict(members)
        and _key_runs([n for n, _ in theirs]) == _key_runs([n for n, _ in members])
    )


def check_my_shard(func: Callable[[list[tuple[int, Path, int]], Path], Any], dataset: Any) -> Verdict:
    """Notebook ``06_beyond_one_machine``: ``func(samples, path)`` writes one WebDataset shard (a tar file) at ``path``.

    ``samples`` are (image id, JPEG path, 0-based label), 12 spread over ``dataset``; the shard must hold
    ``{id:06d}.jpg`` (the file's bytes) and ``{id:06d}.cls`` (the label as text) per sample, in order. Read back
    with ``tarfile`` and with webdataset (:func:`flowerkit.shards.read_shard_keys`), then compared member by member
    with :func:`flowerkit.shards.write_shards` on the same samples.
    """
    samples = _shard_samples(dataset)
    with tempfile.TemporaryDirectory() as tmp:
        mine = Path(tmp) / "mine.tar"
        answer, error, refused = _call_without(_shards, "write_shards", func, list(samples), mine)
        if refused:
            return _verdict(
                False,
                "your function calls flowerkit's shards.write_shards, the version this exercise builds.",
                "write the tar yourself: tarfile.open(path, 'w'), then tar.addfile(TarInfo, io.BytesIO(data)) per member",
            )
        if error:
            return _verdict(False, error, RAISED_HINT)
        if not mine.is_file():
            stub = _unanswered(answer) and _is_stub_function(func)
            return _verdict(
                False,
                "your function wrote no file at `path`: it is still the stub."
                if stub
                else "no file at `path`, the path the checker passed (written somewhere else?).",
                STUB_HINT if stub else "with tarfile.open(path, 'w') as tar: ... writes it",
            )
        members = _members(mine)
        if isinstance(members, str):
            return _verdict(False, f"tarfile cannot read it ({members}).", "write it with tarfile.open(path, 'w')")
        problem = _compression_problem(mine) or _shard_problem(members, samples) or _webdataset_problem(mine, samples)
        if problem:
            message, hint = problem
            return _verdict(False, message, hint)
        same = _same_as_write_shards(members, samples, Path(tmp) / "ours")
    return _verdict(
        True,
        f"webdataset reads your shard back: {len(samples)} samples in order, ids and labels intact. "
        + (
            "shards.write_shards writes the very same members with the same contents, samples in the same order; "
            if same
            else "shards.write_shards' members differ from yours; "
        )
        + "it also fixes every member's date and owner (the same split gives the same bytes on any machine) and renames "
        "a shard into place only when it is complete.",
    )


#: The suspects notebook ``06_beyond_one_machine`` offers for the Scale team's run: short name -> what it would mean,
#: in alphabetical order (the answers first would be an answer).
SCALE_SUSPECTS: dict[str, str] = {
    "drop_last": "each rank drops its last, incomplete batch",
    "no all-reduce": "DDP does not average the gradients of the ranks",
    "no rank split": "every rank reads from the same list of samples",
    "own seeds": "each rank shuffles with a seed of its own",
    "same order": "every epoch replays the first epoch's order",
    "worker crash": "a DataLoader worker died and its samples were lost",
}
_SCALE_BUGS = ("no rank split", "same order")
# What the evidence says against each wrong suspect, and where to look for a cause not yet named.
_CLEARED = {
    "drop_last": "dropping an incomplete batch loses fewer samples than one batch per rank and never reads one twice; "
    "your count found hundreds missing and as many read twice",
    "worker crash": "a lost worker never makes a sample appear twice, and the run would have stopped with an error; "
    "your count found ids read twice in a run without one",
    "own seeds": "ranks that shuffle with seeds of their own start each epoch with different ids; compare the first ids "
    "of rank 0 and rank 1 in the same epoch",
    "no all-reduce": "gradients cannot change which images a rank reads, and the counts alone show what went wrong",
}


def check_scale_bugs(answer: Any) -> Verdict:
    """Notebook ``06_beyond_one_machine``: the keys of :data:`SCALE_SUSPECTS` that the counts show, named before the code."""
    return _set_verdict(
        answer,
        SCALE_SUSPECTS,
        "exercises.SCALE_SUSPECTS",
        "scale_bugs",
        truth=_SCALE_BUGS,
        cleared=_CLEARED,
        look_again=None,  # a truth of two: one right pick reads like a wrong one
        what="causes",
        correct="both: the two ranks read the same images (as many ids read twice as ids nobody read), "
        "and every epoch replayed the first one (the same half, never the other).",
    )


#: (n, world_size) the sampler checker tries, with drop_last False and True: 4 and 5 ranks, n a multiple of the ranks,
#: and fewer samples than ranks, none of them in the notebook's evidence (3 ranks, n = 2, 6, 7, 8).
_SAMPLER_CASES = ((10, 4), (11, 4), (13, 5), (9, 2), (8, 4), (3, 5), (1, 4))


def _sampler_truth(n: int, rank: int, world: int, drop_last: bool) -> list[int]:
    """What ``DistributedSampler(range(n), world, rank, shuffle=False, drop_last=drop_last)`` gives ``rank``."""
    return list(DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False, drop_last=drop_last))


def _sampler_mistake(n: int, rank: int, world: int, drop_last: bool, got: list[int]) -> tuple[str, str]:
    """(message, hint) for a wrong answer of ``padded_indices``, naming the likeliest misreading of the evidence."""
    truth = _sampler_truth(n, rank, world, drop_last)
    case = f"n={n}, rank {rank} of {world}, drop_last={drop_last}: expected {truth}, got {got}"
    if n < world and not drop_last:
        once = list(range(n)) + list(range(n))[: math.ceil(n / world) * world - n]  # padded with the list's head, once
        if got == once[rank::world]:
            return (
                f"{case}. Padding with the list's own first items adds at most {n} index(es); {world} ranks need more.",
                f"how many copies of a {n}-item list does it take to give each of {world} ranks one index?",
            )
        return (
            f"{case}. With fewer samples than ranks, every rank still gets one.",
            "n=2 on 3 ranks: where did rank 2's index come from?",
        )
    if n < world:
        return f"{case}. With fewer samples than ranks, no rank can have a whole share.", "n=2 on 3 ranks with drop_last=True"
    if n % world == 0 and len(got) > len(truth):
        return (
            f"{case}. {n} samples split evenly among {world} ranks: nothing needs adding.",
            "n=6 on 3 ranks in the evidence: how many indices are added when n is a multiple of the ranks?",
        )
    if drop_last and got == _sampler_truth(n, rank, world, False):
        return f"{case}. With drop_last=True no index is repeated.", "in the evidence, which index does drop_last=True leave out?"
    if len(got) != len(truth) and got == list(range(n))[rank::world]:
        return (
            f"{case}: rank {rank} gets {len(got)} indices, but every rank must get as many as the others ({len(truth)}).",
            "count what each rank gets for n=7 in the evidence, with each drop_last, and find which index is added or left out",
        )
    if got and got == list(range(rank * len(truth), (rank + 1) * len(truth))):
        return f"{case}: a block per rank.", "in the evidence, which rank got index 1? The ranks take turns"
    return f"{case}.", "compare with the evidence: how many indices does each rank get, which repeat or go, in what order?"


def _call_without_a_sampler(func: Callable[..., Any], *args: Any) -> tuple[Any, str | None, bool]:
    """(answer, error, whether ``func`` built a DistributedSampler while it ran): the rule, not the sampler, is asked for."""
    built: list[bool] = []
    original = DistributedSampler.__init__

    @functools.wraps(original)
    def spy(self: DistributedSampler, *a: Any, **kw: Any) -> None:
        built.append(True)
        original(self, *a, **kw)

    with mock.patch.object(DistributedSampler, "__init__", spy):
        answer, error = _call(func, *args)
    return answer, error, bool(built)


def check_padded_indices(func: Callable[[int, int, int, bool], Any]) -> Verdict:
    """Notebook ``06_beyond_one_machine``: ``func(n, rank, world_size, drop_last)`` -> what DistributedSampler(shuffle=False) gives rank.

    Worked out from the sampler's output for 3 ranks; checked on cases the
    evidence does not show (4 and 5 ranks, fewer samples than ranks), with
    ``drop_last`` False and True.
    """
    for drop_last in (False, True):
        for n, world in _SAMPLER_CASES:
            for rank in range(world):
                answer, error, copied = _call_without_a_sampler(func, n, rank, world, drop_last)
                if error:
                    return _verdict(False, error, RAISED_HINT)
                if _unanswered(answer):
                    return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
                if copied:
                    return _verdict(
                        False,
                        "padded_indices builds a DistributedSampler: that repeats the evidence instead of explaining it.",
                        "work the rule out from the printed lists: how many indices does each rank get, and where do "
                        "the extra (or missing) ones come from?",
                    )
                try:
                    got = [int(i) for i in itertools.islice(answer, 2 * n + 1)]  # an endless generator stops here
                except (TypeError, ValueError):
                    return _verdict(False, f"return a list of indices, got {answer!r}.", "e.g. [0, 3, 6]")
                if got != _sampler_truth(n, rank, world, drop_last):
                    message, hint = _sampler_mistake(n, rank, world, drop_last, got)
                    return _verdict(False, message, hint)
    return _verdict(
        True,
        "DistributedSampler makes the list a multiple of world_size (drop_last=False: repeating it from the start, as "
        "often as it takes; True: cutting its tail), then gives rank r every world_size-th index.",
    )


# --------------------------------------------------------------------------------------
# A rank- and worker-split stream: in this process first (class), then under torchrun (homework).
# --------------------------------------------------------------------------------------

#: Items the splits are counted on: 103 leaves a remainder for 2 x 2 and 3 x 2 readers, which a block split drops.
_STREAM_ITEMS = list(range(1000, 1103))
#: (ranks, workers per rank) the class check simulates, after rank 0 of 1 in this process.
_SIMULATED = ((2, 0), (2, 2), (3, 2), (2, 3))
_RANKS = _WORKERS = 2  # the torchrun check: 2 ranks x 2 spawn workers
_EPOCH = 1  # the epoch the splits are read at, set in each rank's main process before its workers start

# The program each rank runs. Plain torch only, and a __main__ guard: spawn workers import this file again.
_DRIVER = """\
import importlib, json, os, sys
import torch.distributed as dist
from torch.utils.data import DataLoader


def main(folder, module, name, n, workers, epoch):
    sys.path.insert(0, folder)
    os.environ["LOCAL_RANK"], os.environ["LOCAL_WORLD_SIZE"] = "0", "1"  # as on two machines, one process on each
    dist.init_process_group("gloo")
    stream = getattr(importlib.import_module(module), name)(list(range(1000, 1000 + n)), seed=0)
    stream.set_epoch(epoch)
    loader = DataLoader(stream, batch_size=None, num_workers=workers, multiprocessing_context="spawn", timeout=120)
    read = [int(item) for item in loader]
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, read)
    if dist.get_rank() == 0:
        print(json.dumps(gathered), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
"""


def _one_epoch(cls: type, items: list[int], epoch: int, seed: int = 0) -> tuple[list[Any] | None, str | None]:
    """What a fresh ``cls(items, seed=seed)`` yields in this process (no torchrun, no workers) after ``set_epoch(epoch)``."""
    with _deadline():  # the student's __init__, set_epoch and __iter__ all run under it
        stream, error = _call(cls, items, seed)
        if error:
            return None, f"{cls.__name__}(items, seed={seed}) raised: {error.removeprefix('your function raised ')}"
        if not callable(getattr(stream, "set_epoch", None)):
            return None, "it has no set_epoch(epoch) method"
        _, error = _call(stream.set_epoch, epoch)
        if error:
            return None, f"set_epoch({epoch}) raised: {error.removeprefix('your function raised ')}"
        it, iter_error = _call(stream.__iter__)
        if iter_error or it is None:
            return None, iter_error
        return _call(list, itertools.islice(it, 4 * len(items) + 1))  # a stream that never ends stops here
    return None, _stall_error()  # the deadline fired between the student's calls


def _in_one_process(cls: type) -> tuple[str, str] | None:
    """(message, hint) for what goes wrong with ``cls`` in this process, as rank 0 of 1 without workers; None if nothing."""
    items = list(range(100, 123))
    epochs = []
    for epoch in (0, 0, 1):
        out, error = _one_epoch(cls, items, epoch)
        if error:
            no_group = "process group" in error or "init_process_group" in error
            no_env = "KeyError: 'RANK'" in error or "KeyError: 'WORLD_SIZE'" in error
            hint = (
                "outside torchrun there is no process group: you are rank 0 of 1 (dist.is_initialized() says which)"
                if no_group
                else "outside torchrun RANK and WORLD_SIZE are not set: you are rank 0 of 1 (int(os.environ.get('RANK', 0)))"
                if no_env
                else _failure_hint(error)
            )
            return f"in one process, without torchrun or workers: {error.rstrip('.')}.", hint
        if out is None:
            return "your __iter__ returns None: it is still the stub.", "__iter__ should `yield` the items of this reader"
        epochs.append(out)
    strangers = {int(x) for x in epochs[0]} - set(items)
    if strangers:
        return (
            f"in one process without workers it yielded {len(strangers)} values that are not among the items given.",
            "yield self.items[i], never the position i",
        )
    if sorted(int(x) for x in epochs[0]) != items:
        return (
            f"in one process without workers it yielded {len(epochs[0])} items, expected all {len(items)} once each.",
            "as rank 0 of 1, with get_worker_info() None (worker 0 of 1), a reader's share is everything",
        )
    if epochs[0] != epochs[1]:
        return (
            "two streams built alike gave different orders for epoch 0: on two ranks they would draw different "
            "permutations, and their shares would overlap and leave gaps.",
            "shuffle with torch.Generator().manual_seed(self.seed + self.epoch), the same on every rank",
        )
    if epochs[2] == epochs[0]:
        if len(_pairs(epochs[0]) & _pairs(items)) > (len(items) - 1) // 2:  # no shuffling at all: say that first
            return _not_shuffled(cls, items, epochs[0], epochs[2])
        return "set_epoch(1) gave the order of epoch 0: every epoch would replay the first.", "use self.epoch in the seed"
    problem = _not_shuffled(cls, items, epochs[0], epochs[2]) or _reseeds_globally(cls, items)
    return problem or _read_twice_problem(cls, items)  # last: it leaves a global reseed in place, which the others see


def _read_twice_problem(cls: type, items: list[int]) -> tuple[str, str] | None:
    """(message, hint) when one stream, iterated twice at the same epoch, gives two orders; None if it repeats."""
    with _deadline():
        stream, error = _call(cls, list(items), 0)
        if error is None:
            _call(stream.set_epoch, 0)
            first, error = _call(lambda: list(itertools.islice(iter(stream), 4 * len(items) + 1)))
            second, error2 = _call(lambda: list(itertools.islice(iter(stream), 4 * len(items) + 1)))
            if error is None and error2 is None and first != second:
                return (
                    "one stream, iterated twice at epoch 0, gave two orders: its order depends on how often it was "
                    "read, not on the epoch alone (a rank that reads once more, to count its length, or a resumed "
                    "run would draw another than the other ranks).",
                    "in __iter__, draw the permutation into a new list from a generator seeded with seed + epoch; "
                    "never shuffle self.items in place, nor keep drawing from one generator",
                )
    return None


def _pairs(order: list[Any]) -> set[frozenset[Any]]:
    """The neighbouring pairs of ``order``, either way round (a reversed order keeps them all)."""
    return {frozenset(pair) for pair in zip(order, order[1:])}


def _not_shuffled(cls: type, items: list[int], first: list[Any], second: list[Any]) -> tuple[str, str] | None:
    """(message, hint) if epoch 0 keeps the items' own order, epoch 1 is epoch 0 moved, or the seed is ignored; else None.

    A random order of n items keeps about 2 of their n - 1 neighbouring pairs; half of them is far beyond chance.
    """
    most = (len(items) - 1) // 2
    kept = len(_pairs(first) & _pairs(items))
    if kept > most:
        return (
            f"epoch 0 keeps {kept} of the {len(items) - 1} neighbouring pairs of the items' own order: the split is "
            "grouped by class, so a stream this close to it gives batches of one or two classes.",
            "a random order each epoch, drawn from a generator seeded with self.seed + self.epoch",
        )
    shared = len(_pairs(first) & _pairs(second))
    if shared > most:
        return (
            f"epochs 0 and 1 share {shared} of their {len(items) - 1} neighbouring pairs: epoch 1 is epoch 0 moved "
            "(shifted or reversed), so the same items meet in the same batches every epoch.",
            "a new random order each epoch, not the last one moved",
        )
    with _global_rng_kept():  # a stream that reseeds the global generator is caught next, from the state it found
        other_seed, _ = _one_epoch(cls, items, 0, seed=1)
    if other_seed == first:
        return (
            "seed=1 gave seed 0's order: the stream ignores its seed, so two runs meant to differ read alike.",
            "use self.seed in the generator's seed, with self.epoch",
        )
    return None


def _rng_states() -> tuple[torch.Tensor, Any, Any]:
    """The process's global random states: torch's, ``random``'s and numpy's."""
    return torch.get_rng_state(), random.getstate(), np.random.get_state()


@contextlib.contextmanager
def _global_rng_kept() -> Any:
    """Run the student's stream, then put the global random states back as they were (later cells draw the same)."""
    before = _rng_states()
    try:
        yield before
    finally:
        torch.set_rng_state(before[0])
        random.setstate(before[1])
        np.random.set_state(before[2])


def _changed_rngs(before: tuple[torch.Tensor, Any, Any], after: tuple[torch.Tensor, Any, Any]) -> list[str]:
    """The global random generators (torch, random, numpy) whose state differs between two :func:`_rng_states`."""
    same = (
        torch.equal(before[0], after[0]),
        before[1] == after[1],
        all(np.array_equal(a, b) for a, b in zip(before[2], after[2])),
    )
    return [name for name, kept in zip(("torch", "random", "numpy"), same) if not kept]


def _reseeds_globally(cls: type, items: list[int]) -> tuple[str, str] | None:
    """(message, hint) if one epoch of ``cls`` changes the process's global random state (torch, random, numpy)."""
    with _global_rng_kept() as before:
        _one_epoch(cls, items, 0)
        after = _rng_states()
    changed = _changed_rngs(before, after)
    if not changed:
        return None
    users = "dropout, a sampler, torchvision's random transforms" if "torch" in changed else "augmentations that draw from it"
    return (
        f"your order is right, but iterating reseeds the process's global random generator ({', '.join(changed)}): in a "
        f"DataLoader every worker would then draw the same 'random' numbers, and whatever else draws from it ({users}) "
        "would restart at each epoch.",
        "draw the permutation from a generator of your own (torch.Generator, random.Random, np.random.default_rng) "
        "instead of the global one",
    )


def _simulated_rank(cls: type, rank: int, world: int, workers: int, epoch: int = _EPOCH) -> tuple[list[Any] | None, str | None]:
    """What rank ``rank`` of ``world`` reads at ``epoch``: built and ``set_epoch`` here, iterated by each simulated worker.

    As in a DataLoader, the rank's process builds the stream (``get_worker_info()``
    is None there) and each worker iterates its own copy.
    """
    call = f"{cls.__name__}(items, seed=0, rank={rank}, world_size={world})"
    stream, error = None, _stall_error()  # what stands if the deadline fires between the student's calls
    with _deadline():  # the student's __init__ and set_epoch run under it too
        stream, error = _call(lambda: cls(list(_STREAM_ITEMS), seed=0, rank=rank, world_size=world))
        if error is None:
            _, error = _call(stream.set_epoch, epoch)
    if error:
        return None, f"{call} then set_epoch({epoch}) raised {error.removeprefix('your function raised ')}"
    read: list[Any] = []
    cap = 4 * len(_STREAM_ITEMS) + 1  # a stream that never ends stops here, one that never yields at the deadline
    for worker in range(workers) if workers else [None]:
        copied = copy.deepcopy(stream)  # a worker gets a copy of the rank's stream
        info = _worker_info(worker, workers, seed=worker, dataset=copied) if worker is not None else None
        out, error = None, _stall_error()  # what stands if the deadline fires outside the student's call
        with _pretend_worker(info) if info else contextlib.nullcontext(), _deadline():
            out, error = _call(lambda s=copied, n=cap: list(itertools.islice(iter(s), n)))
        if error:
            where = f"as worker {worker} of {workers}" if info else "without workers"
            return None, f"{call}, iterated {where}: {error.removeprefix('your function raised ')}"
        read.extend(out)
    return read, None


def _same_share_problem(cls: type, two_ranks: list[list[Any]] | None) -> tuple[str, str] | None:
    """The problem when rank 0 of 2 reads the same items at :data:`_EPOCH` and the epoch after (a fixed share, shuffled
    inside): on a split grouped by class, each rank would keep the same classes every epoch; else None."""
    if not two_ranks:
        return None
    after, error = _simulated_rank(cls, 0, 2, 0, epoch=_EPOCH + 1)
    if error:
        return error, _failure_hint(error)
    if sorted(map(int, after or [])) != sorted(map(int, two_ranks[0])):
        return None
    mine = sorted(map(int, two_ranks[0]))
    block = mine == list(range(mine[0], mine[0] + len(mine)))  # a contiguous run of the items (they are 100, 101, ...)
    return (
        f"as rank 0 of 2, your stream reads the same {len(two_ranks[0])} items at epochs {_EPOCH} and {_EPOCH + 1}, only "
        "in another order: each rank keeps one fixed share, where it should get a new one every epoch. A rank "
        "never reads the other ranks' items, so which photos can share a batch never changes"
        + (
            " (and a block of a list grouped by class, as the flowers' is, holds the same classes every epoch)." if block else "."
        ),
        "draw a new order of the whole list each epoch (seed and epoch), then take this rank's share of it",
    )


def check_rank_stream(cls: type) -> Verdict:
    """Notebook ``06_beyond_one_machine``: ``cls(items, seed=0, rank=0, world_size=1)`` streams each item once across ranks x workers.

    In this process: as rank 0 of 1 without workers (every item, the same order
    for the same epoch, another for the next), then as 2 ranks without workers,
    2 ranks x 2 workers, 3 ranks x 2 workers and 2 ranks x 3 workers (workers simulated: each
    iterates a copy of its rank's stream while ``get_worker_info()`` answers
    as it would in that worker), on 103 items; the items every rank read are
    counted. :func:`check_torchrun_stream` then runs a stream in real processes.
    The process's global random states are as before the check, whatever the
    stream does to them.
    """
    with _global_rng_kept():
        return _judge_rank_stream(cls)


def _judge_rank_stream(cls: type) -> Verdict:
    """:func:`check_rank_stream`'s verdict, the global random states left to the caller to restore."""
    if not isinstance(cls, type) or not issubclass(cls, IterableDataset):
        return _verdict(
            False, f"expected a class derived from IterableDataset, got {cls!r}.", "class MyRankStream(IterableDataset)"
        )
    problem, two_ranks = _in_one_process(cls), None
    for world, workers in _SIMULATED if problem is None else ():
        read = []
        for rank in range(world):
            got, error = _simulated_rank(cls, rank, world, workers)
            if error:
                return _verdict(False, error, _failure_hint(error))
            read.append(got)
        problem, two_ranks = _count_problem(read, workers, _EVERY_RANK_EVERYTHING), two_ranks or read
        if problem:
            break
    problem = problem or _same_share_problem(cls, two_ranks)
    if problem:
        message, hint = problem
        return _verdict(False, message, hint)
    order, _ = _one_epoch(cls, list(_STREAM_ITEMS), _EPOCH)  # rank 0 of 1: the whole epoch's order
    strided = all({int(x) for x in got} == {int(x) for x in order[rank::2]} for rank, got in enumerate(two_ranks))
    rule = (
        "each rank's share is the stride order[rank::world_size] of the epoch's order: the rule shown next, and webdataset's"
        if strided
        else "your ranks' shares are not the stride order[rank::world_size] shown next; right all the same, since the count is"
    )
    return _verdict(
        True,
        f"as 2 ranks (no workers), 2 ranks x 2 workers, 3 ranks x 2 workers and 2 ranks x 3 workers, all "
        f"{len(_STREAM_ITEMS)} items were read exactly once, in a new order each epoch; {rule}. Exactly once means "
        f"uneven shares when the ranks do not divide the items ({len(_STREAM_ITEMS) - len(_STREAM_ITEMS) // 2} and "
        f"{len(_STREAM_ITEMS) // 2} here), and under DDP uneven shares are trouble: see 'An uneven split' below.",
    )


def _module_root(cls: type) -> tuple[Path, str] | None:
    """(the folder to put on sys.path, the module name) from which a new process can import ``cls``; None if none."""
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    if cls.__module__ == "__main__" or not file:
        return None
    root = Path(file).resolve().parent
    for _ in range(cls.__module__.count(".") + (Path(file).name == "__init__.py")):
        root = root.parent
    return root, cls.__module__


def _run_under_torchrun(cls: type, root: Path, module: str, timeout: float) -> tuple[Any, str]:
    """Run :data:`_DRIVER` on ``cls`` with torchrun: (the items each rank read, or None, and the ranks' log)."""
    args = [str(root), module, cls.__qualname__, str(len(_STREAM_ITEMS)), str(_WORKERS), str(_EPOCH)]
    return _torchrun(_DRIVER, args, root, timeout)


def _torchrun(driver: str, args: list[str], root: Path, timeout: float, files: dict[str, Any] | None = None) -> tuple[Any, str]:
    """Run the script ``driver`` on :data:`_RANKS` ranks with ``torchrun --standalone``, ``args`` after it, the student's
    folder ``root`` importable: (the JSON of rank 0's last line, or None, and the ranks' log). ``files`` are saved
    (``torch.save``) beside the script first, each named by its key; the script finds them in its working folder."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "driver.py"
        script.write_text(driver)
        for name, value in (files or {}).items():
            torch.save(value, Path(tmp) / name)
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={_RANKS}", str(script), *args]
        env = _child_env(1)
        env["PYTHONPATH"] = os.pathsep.join((str(root), env["PYTHONPATH"]))
        with open(Path(tmp) / "out", "w+") as out, open(Path(tmp) / "err", "w+") as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env, cwd=tmp, start_new_session=True)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _stop_process_tree(proc)
                return None, f"TIMEOUT after {timeout:.0f} s"
            out.seek(0)
            err.seek(0)
            lines, log = out.read().strip().splitlines(), err.read()
    if proc.returncode != 0 or not lines:
        return None, log
    return json.loads(lines[-1]), log


# A traceback's last line, as a rank prints it ("[rank0]: ValueError: ..."): the error behind a failed run.
_ERROR_LINE = re.compile(r"^(?:\[rank\d+\]:\s*)?((?:[\w.]+Error|[\w.]*Exception): .+)$", re.M)


# The errors of a rank that torchrun stopped because another failed: effects, never the cause.
_STOPPED_BY_TORCHRUN = re.compile(r"killed by signal|SignalException|Signals\.SIG|got signal")


def _failure(log: str) -> tuple[str, str]:
    """(message, hint) for a torchrun run that failed or hung, from the end of its log."""
    if log.startswith("TIMEOUT"):
        return (
            f"under torchrun the ranks did not finish ({log[8:]}) and were stopped.",
            "does __iter__ end? Does every rank read a finite share?",
        )
    errors = [m.group(1) for m in _ERROR_LINE.finditer(log) if "ChildFailedError" not in m.group(1)]
    # When one rank fails, torchrun stops the others: their "killed by signal" errors may come later in the log.
    causes = [e for e in errors if not _STOPPED_BY_TORCHRUN.search(e)] or errors
    error = causes[-1] if causes else (log.strip().splitlines() or ["no output"])[-1]
    if "process group has not been initialized" in log:
        hint = (
            "a DataLoader worker is a new process, without the rank's process group: ask torch.distributed in "
            "__init__ (it runs in the rank's own process) and keep the answer, or read RANK and WORLD_SIZE from os.environ"
        )
    elif "pickle" in log:
        hint = "a spawn worker receives the stream by pickling: keep only items, numbers and strings in it"
    elif "slice indices must be integers" in error or "'str' object cannot be interpreted as an integer" in error:
        hint = "os.environ holds strings: int(os.environ['RANK'])"
    else:
        hint = "run it as rank 0 of 1 in the notebook first; then read the error above"
    return f"under torchrun a rank failed: {error[:300]}", hint


# Every rank read everything, in class: the rank given to __init__ was not used.
_EVERY_RANK_EVERYTHING = (
    "where does your __iter__ use self.rank and self.world_size? Each rank keeps a part of the epoch's order that no "
    "other rank keeps, and each of its workers a part of that"
)
# Both ranks read everything under torchrun: nobody passed the rank, or it was asked in __iter__, which runs in a worker.
# The question comes first; the explanation (_EVERY_WORKER_RANK_0) when the same failure comes back.
_EVERY_WORKER_RANK_0_ASK = (
    "each rank read every item, as if it were rank 0 of 1: where does your stream find its rank and world size (in "
    "__init__, in the rank's own process, or in __iter__, which runs in a DataLoader worker), and from what?"
)
_HINTED: set[str] = set()  # the hints given in full already, in this process
_EVERY_WORKER_RANK_0 = (
    "under torchrun nobody passes rank or world_size: when they are None, find them in __init__ (it runs in the rank's "
    "own process), as DistributedSampler does: dist.get_rank() and dist.get_world_size() once dist.is_initialized(), "
    "or RANK and WORLD_SIZE from os.environ. Asked in __iter__ it is too late: a spawned DataLoader worker (as here, "
    "and by default on macOS, Windows and Python 3.14 Linux) is a new process without the rank's process group, so "
    "dist.is_initialized() is False there and every worker believes it is rank 0 of 1 (a fork worker inherits the "
    "group, which hides the bug on Linux today). LOCAL_RANK and LOCAL_WORLD_SIZE count the processes of one machine "
    "only: the check runs the ranks as two machines of one process each, as a cluster would"
)


def _count_problem(read: list[list[Any]], workers: int, every_rank_hint: str) -> tuple[str, str] | None:
    """(message, hint) for what the ranks read together, if not every item of :data:`_STREAM_ITEMS` exactly once."""
    items = set(_STREAM_ITEMS)
    per_rank = [Counter(int(x) for x in r) for r in read]
    within = [sum(c.values()) - len(c) for c in per_rank]
    ranks_of = Counter(i for c in per_rank for i in c)  # how many ranks read each item
    shared = {i for i, k in ranks_of.items() if k > 1}
    missing = items - set(ranks_of)
    readers = f"{len(read)} ranks x {workers} workers" if workers else f"{len(read)} ranks without workers"
    where = f"{readers} read {sum(sum(c.values()) for c in per_rank)} items for {len(items)}"
    if set(ranks_of) - items:
        return (
            f"{where}, {len(set(ranks_of) - items)} of them not in the list.",
            "yield items of self.items, never their positions",
        )
    if sum(within) and not shared:
        return (
            f"{where}: within each rank its {workers} workers read the same items ({within} repeats per rank).",
            "each worker must keep its own part of its rank's share: call get_worker_info() in __iter__ (in __init__, "
            "which runs in the rank's process, it is None)",
        )
    if all(set(c) == items for c in per_rank):
        every = "every item came from every rank" + (" and every worker of each" if sum(within) else "")
        return f"{where}: {every}.", every_rank_hint if not sum(within) else "split by rank, then by worker"
    return _overlap_problem(per_rank, shared, missing, where)


def _overlap_problem(per_rank: list[Counter[int]], shared: set[int], missing: set[int], where: str) -> tuple[str, str] | None:
    """:func:`_count_problem` once no rank reads every item with every other: one rank alone, padding, overlap, gaps."""
    items = set(_STREAM_ITEMS)
    alone = [k for k, c in enumerate(per_rank) if set(c) == items]
    if alone:
        return (
            f"{where}: rank {alone[0]} read every item, as if it were the only rank, and the others read some too.",
            "a rank's share is every world_size-th item of the epoch's order: is world_size the number of ranks there "
            "(under torchrun, WORLD_SIZE or dist.get_world_size())?",
        )
    total = sum(sum(c.values()) for c in per_rank)
    padded = len({sum(c.values()) for c in per_rank}) == 1 and 0 < total - len(items) < len(per_rank)
    if shared and not missing and padded:
        return (
            f"{where}: {len(shared)} read by several ranks and none missed: padded to equal shares, as "
            "DistributedSampler pads, where this stream asks for every item exactly once.",
            "every item exactly once means the shares differ by one item when the readers do not divide the items: "
            "where do your repeated items come from?",
        )
    if shared:
        return (
            f"{where}: {len(shared)} read by several ranks and {len(missing)} by none: the ranks' shares overlap.",
            "every rank and worker must draw the same permutation: seed it with seed + epoch only, never with the rank or "
            "the worker",
        )
    if missing:
        return (
            f"{where}: {len(missing)} item(s) read by nobody.",
            f"which items did no reader get? {len(_STREAM_ITEMS)} items do not divide among these readers: where does "
            "your split put the remainder?",
        )
    return None


def _as_last_written(cls: type) -> tuple[type | None, str | None]:
    """``cls`` as its module's file now reads, as torchrun's processes will import it; a notebook's class as it is.

    A student who rewrites ``my_stream.py`` below the cell that imported it would otherwise be judged, in this
    process, on the class as it was first imported (a grader running the notebook top to bottom sees that).
    """
    module = sys.modules.get(cls.__module__)
    if module is None or cls.__module__ == "__main__" or not getattr(module, "__file__", None):
        return cls, None
    return _class_as_file_reads(cls.__module__, cls.__qualname__)


def _asked_first(hint: str) -> str:
    """:func:`~flowerkit.exercises.verdict._question_first` with this notebook's questions (:data:`_QUESTION_FIRST`: the
    ranks each read everything; in exercise 8, ranks that end apart)."""
    return _question_first(hint, _QUESTION_FIRST, _HINTED, "the full explanation")


def check_torchrun_stream(cls: type, *, timeout: float = 100) -> Verdict:
    """Notebook ``06_beyond_one_machine``: ``cls(items, seed=0)`` finds its own rank and streams every item once under torchrun.

    First in this process (rank 0 of 1, no workers: every item, the same
    order for the same epoch, another for the next), then for real: 2 ranks
    under ``torchrun --standalone --nproc_per_node=2`` (gloo, CPU), each
    reading through a DataLoader with 2 spawn workers; the items every rank
    read are counted. The class must be importable by the new processes (a
    module written with ``%%writefile``); it is judged as its file now reads
    (:func:`_as_last_written`), here as under torchrun. A run that takes over
    ``timeout`` seconds is stopped and reported.
    """
    if not isinstance(cls, type) or not issubclass(cls, IterableDataset):
        return _verdict(
            False, f"expected a class derived from IterableDataset, got {cls!r}.", "class MyTorchrunStream(IterableDataset)"
        )
    cls, error = _as_last_written(cls)  # type: ignore[assignment]
    if cls is None:
        return _verdict(False, f"{error}.", RAISED_HINT)
    problem = _in_one_process(cls)
    if problem:
        message, hint = problem
        return _verdict(False, message, hint)
    where = _module_root(cls)
    if where is None:
        return _verdict(
            False,
            f"{cls.__name__} works in this process; torchrun starts new Python processes, which cannot import a class "
            "defined in the notebook.",
            "put the class and its imports (not the checker call) in a cell that starts with %%writefile my_stream.py, "
            f"run it, then `import my_stream` and pass my_stream.{cls.__name__}",
        )
    read, log = _run_under_torchrun(cls, *where, timeout)
    message, hint = _failure(log) if read is None else _count_problem(read, _WORKERS, _EVERY_WORKER_RANK_0) or ("", "")
    if message:
        return _verdict(False, message, _asked_first(hint))
    counts = [len(r) for r in read]
    return _verdict(
        True,
        f"under torchrun, 2 ranks x 2 spawn workers read all {len(_STREAM_ITEMS)} items exactly once ({counts} per rank).",
    )


# ------------------------------------------------------------------ exercise 7: a shuffle buffer

_BUFFER_ITEMS = list(range(1000, 1200))  # 200 samples, read in this order


class _Pulled:
    """An iterator over ``items`` that counts how many the consumer has pulled (a stream, not a list to index)."""

    def __init__(self, items: Any) -> None:
        self._items, self.pulled = iter(items), 0

    def __iter__(self) -> _Pulled:
        return self

    def __next__(self) -> Any:
        item = next(self._items)
        self.pulled += 1
        return item


def _shuffled(func: Callable[..., Any], samples: Any, buffer: int, seed: int, limit: int | None = None) -> tuple[Any, str | None]:
    """What ``func(samples, buffer, seed)`` hands out (its first ``limit`` samples), or (None, what went wrong)."""
    out, error = None, _stall_error()
    with _deadline():
        made, error = _call(func, samples, buffer, seed)
        if error is None and made is not None:
            out, error = _call(lambda: list(itertools.islice(iter(made), limit)))
    return out, error


def _buffer_laziness_problem(func: Callable[..., Any]) -> tuple[str, str] | None:
    """(message, hint) when ``func`` reads far more than its buffer before handing out its first sample; else None."""
    stream = _Pulled(range(10**6))
    first, error = _shuffled(func, stream, 8, 0, limit=1)
    if error or not first:
        return None  # the full runs below report it
    if stream.pulled > 9:
        return (
            f"with buffer=8 it read {stream.pulled:,} samples of a stream before handing out the first: a buffer holds 8, "
            "and a stream may be endless or far larger than memory.",
            "read one sample at a time from iter(samples); hand one out once the buffer is full",
        )
    return None


def _buffer_order_problem(out: list[Any], buffer: int) -> tuple[str, str] | None:
    """(message, hint) when ``out`` (of :data:`_BUFFER_ITEMS`, buffer ``buffer``) loses, repeats, jumps or barely mixes."""
    items = _BUFFER_ITEMS
    counts = Counter(out)
    missing = [x for x in items if counts[x] == 0]
    if missing and len(missing) <= buffer and len(out) == len(items) - len(missing) and not set(out) - set(items):
        return (
            f"with buffer={buffer}, {len(missing)} of the last samples never came out: the stream ended with them in the buffer.",
            "when the stream ends, hand out what the buffer still holds",
        )
    if missing or len(out) != len(items) or set(out) - set(items):
        twice = sorted(x for x, c in counts.items() if c > 1)
        return (
            f"with buffer={buffer}, {len(out)} samples came out for {len(items)}: {len(missing)} missing, {len(twice)} "
            "more than once.",
            "every sample that goes into the buffer comes out exactly once",
        )
    early = max(items.index(x) - k for k, x in enumerate(out))
    if early > buffer:
        return (
            f"a sample came out {early} places before its turn, with buffer={buffer}: a buffer can only move a sample as "
            "far forward as it holds samples.",
            "keep at most `buffer` samples; pick the one to hand out among them only",
        )
    kept = len(_pairs(out) & _pairs(items))
    if kept > (len(items) - 1) // 2:
        return (
            f"with buffer={buffer}, {kept} of the {len(items) - 1} neighbouring pairs of the stream are neighbours again: "
            "the samples come out nearly in the order they came in.",
            "hand out a random sample of the buffer, not the oldest",
        )
    return None


def _buffer_seed_problem(func: Callable[..., Any], out: list[Any]) -> tuple[str, str] | None:
    """(message, hint) when the seed does not decide the order, or the global random state is used; else None."""
    with _global_rng_kept() as before:
        again, _ = _shuffled(func, iter(_BUFFER_ITEMS), 16, 0)
        other, _ = _shuffled(func, iter(_BUFFER_ITEMS), 16, 1)
        after = _rng_states()
    if again != out:
        return "the same seed gave two orders: a rerun would not repeat.", "draw from a generator seeded with `seed`"
    if other == out:
        return "seed=1 gave seed 0's order: the seed decides nothing.", "seed your generator with `seed`"
    if _changed_rngs(before, after):
        return (
            "it draws from (or reseeds) the process's global random generator, which belongs to the training loop.",
            "draw from a generator of your own: random.Random(seed), np.random.default_rng(seed) or a torch.Generator",
        )
    return None


def _classes_per_batch(order: list[Any], labels: Any, batch: int = 64) -> float:
    """The mean number of classes in the batches of ``order`` (keys, ``labels[key]`` their class)."""
    classes = [labels[k] for k in order]
    return float(np.mean([len(set(classes[i : i + batch])) for i in range(0, len(classes), batch)]))


def check_shuffle_buffer(func: Callable[..., Any], keys: Sequence[Any] | None = None, labels: Any = None) -> Verdict:
    """Notebook ``06_beyond_one_machine``: ``func(samples, buffer, seed)`` yields the samples of a stream through a
    shuffle buffer of ``buffer`` samples, seeded.

    Tried on 200 numbered samples and on a long counted stream (what it reads before its first sample); given the
    notebook's ``keys`` in file order and their ``labels``, the Correct! message puts its mixing beside webdataset's.
    The process's global random states are as before the check, whatever ``func`` does to them.
    """
    with _global_rng_kept():
        return _judge_shuffle_buffer(func, keys, labels)


def _judge_shuffle_buffer(func: Callable[..., Any], keys: Sequence[Any] | None, labels: Any) -> Verdict:
    """:func:`check_shuffle_buffer`'s verdict, the global random states left to the caller to restore."""
    if not callable(func):
        return _verdict(False, f"expected a function, got {func!r}.", "def my_buffer_shuffle(samples, buffer, seed): ...")
    if _names_any_shuffle(func):
        return _verdict(
            False,
            "your function hands the work to webdataset's shuffle, the library version this exercise builds.",
            "keep a list of up to `buffer` samples yourself, and a random generator",
        )
    out, error = _shuffled(func, iter(_BUFFER_ITEMS), 16, 0)
    if error:
        return _verdict(False, error, _failure_hint(error))
    if out is None:
        return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
    lazy = _buffer_laziness_problem(func)
    if lazy:
        message, hint = lazy
        return _verdict(False, message, hint)
    plain, error = _shuffled(func, iter(_BUFFER_ITEMS), 0, 0)
    if error or plain != _BUFFER_ITEMS:
        said = error or "the order changed"
        return _verdict(
            False, f"with buffer=0 (no buffer): {said}.", "a buffer of 0 holds nothing: every sample goes straight through"
        )
    problem = _buffer_order_problem(out, 16) or _buffer_seed_problem(func, out)
    if problem:
        message, hint = problem
        return _verdict(False, message, hint)
    return _verdict(
        True,
        "every sample once, never more than the buffer early, seeded, without the global generator. "
        + _beside_webdataset(func, keys, labels),
    )


def _names_any_shuffle(func: Callable[..., Any]) -> bool:
    """True when ``func`` reaches webdataset's shuffle by name (the library version of exercise 7)."""
    return _names_any(func, [wds.shuffle, wds.filters._shuffle])


def _beside_webdataset(func: Callable[..., Any], keys: Sequence[Any] | None, labels: Any) -> str:
    """The Correct! message's comparison: classes per batch of 64 from ``func`` and from webdataset's buffer of 128."""
    if keys is None or labels is None:
        return ""
    mine, _ = _shuffled(func, iter(keys), 128, 0)
    theirs = list(wds.shuffle(128, initial=128, seed=0)(iter(keys)))
    full = [keys[i] for i in torch.randperm(len(keys), generator=torch.Generator().manual_seed(0)).tolist()]
    return (
        f"On the shards written in file order, with a buffer of 128, batches of 64 hold {_classes_per_batch(mine or [], labels):.1f} "
        f"classes with yours and {_classes_per_batch(theirs, labels):.1f} with webdataset's wds.shuffle (what "
        f"shards.read_shard_keys uses); a full shuffle gives {_classes_per_batch(full, labels):.1f}, the file order "
        f"{_classes_per_batch(list(keys), labels):.1f}."
    )


# ------------------------------------------------------------------ exercise 8: what DistributedDataParallel does, by hand

#: What every rank's ``train_rank`` gets after the model and the data: 200 samples, a global batch of 64, 3 epochs.
_DDP_ARGS = {"epochs": 3, "global_batch": 64, "lr": 0.5, "seed": 0}
_DDP_SAMPLES, _DDP_FEATURES, _DDP_CLASSES = 200, 16, 4
_DDP_CLOSE = 1e-4  # weights nearer than this are the same: the order of a sum moves only the last bits

# Each rank: the checker's data and its own starting weights, the student's train_rank, then DDP's loop from the same
# start. Feature 0 of every sample is its number over the number of samples: a hook reads which samples each step met.
_DDP_DRIVER = """\
import importlib, json, sys
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset


def with_ddp(model, dataset, epochs, global_batch, lr, seed):
    model = DistributedDataParallel(model)
    sampler = DistributedSampler(dataset, shuffle=True, seed=seed)
    loader = DataLoader(dataset, batch_size=global_batch // dist.get_world_size(), sampler=sampler)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()


def main(module, name):
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    setup = torch.load("setup.pt")
    dataset = TensorDataset(setup["x"], setup["y"])
    out = {}
    for who, train in (("yours", getattr(importlib.import_module(module), name)), ("ddp", with_ddp)):
        model = torch.nn.Linear(setup["x"].shape[1], setup["classes"])
        model.load_state_dict(setup["start"][rank])  # each rank its own start, as separate machines make them
        steps = []
        model.register_forward_pre_hook(lambda m, a: steps.append((a[0][:, 0] * len(dataset)).round().long().tolist()))
        train(model, dataset, *setup["args"])
        out[who] = {"weights": torch.cat([p.detach().flatten() for p in model.parameters()]).tolist(), "steps": steps}
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, out)
    if rank == 0:
        print(json.dumps(gathered), flush=True)
    dist.barrier()  # no rank leaves the group before rank 0 has printed
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
"""


def _ddp_setup() -> dict[str, Any]:
    """The checker's samples (feature 0 numbers them) and each rank's own starting weights (other seeds, as on
    separate machines); ``args``: what ``train_rank`` gets after the model and the data."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(_DDP_SAMPLES, _DDP_FEATURES, generator=generator)
    x[:, 0] = torch.arange(_DDP_SAMPLES) / _DDP_SAMPLES
    y = torch.randint(0, _DDP_CLASSES, (_DDP_SAMPLES,), generator=generator)
    start = []
    for rank in range(_RANKS):
        torch.manual_seed(100 + rank)  # the caller's fork_rng gives the notebook its state back
        start.append(torch.nn.Linear(_DDP_FEATURES, _DDP_CLASSES).state_dict())
    return {"x": x, "y": y, "classes": _DDP_CLASSES, "start": start, "args": list(_DDP_ARGS.values())}


def _ddp_model(setup: dict[str, Any], rank: int, steps: list[list[int]]) -> torch.nn.Linear:
    """Rank ``rank``'s model at its start; the samples of each batch it meets are appended to ``steps``."""
    model = torch.nn.Linear(_DDP_FEATURES, _DDP_CLASSES)
    model.load_state_dict(setup["start"][rank])
    model.register_forward_pre_hook(lambda _, a: steps.append((a[0][:, 0] * _DDP_SAMPLES).round().long().tolist()))
    return model


def _flat(model_or_state: Any) -> torch.Tensor:
    """The weights, then the bias, in one vector (as the driver sends them)."""
    state = model_or_state.state_dict() if isinstance(model_or_state, torch.nn.Module) else model_or_state
    return torch.cat([state["weight"].flatten(), state["bias"].flatten()]).detach()


def _one_process(setup: dict[str, Any], lr_scale: float = 1.0) -> tuple[torch.Tensor, list[list[int]]]:
    """Plain training in one process from rank 0's start, with batches of the global size: (weights, steps). With
    ``lr_scale=2``: what two ranks that sum their gradients without dividing end with."""
    epochs, global_batch, lr, seed = setup["args"]
    steps: list[list[int]] = []
    model = _ddp_model(setup, 0, steps)
    data = torch.utils.data.TensorDataset(setup["x"], setup["y"])
    sampler = DistributedSampler(data, num_replicas=1, rank=0, shuffle=True, seed=seed)
    loader = torch.utils.data.DataLoader(data, batch_size=global_batch, sampler=sampler)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr * lr_scale)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for x, y in loader:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    return _flat(model), steps


@contextlib.contextmanager
def _group_of_one() -> Any:
    """A gloo process group of one in this process (rank 0 of 1, ``RANK`` and ``WORLD_SIZE`` set as torchrun sets
    them), gone afterwards; an existing group is used as it is."""
    if dist.is_initialized():
        yield
        return
    env = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"}
    with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, env):
        dist.init_process_group("gloo", store=dist.FileStore(str(Path(tmp) / "store"), 1), rank=0, world_size=1)
        try:
            yield
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()


def _by_epoch(steps: list[list[int]], epochs: int) -> list[list[int]]:
    """The samples met, in order, cut into ``epochs`` equal runs (an uneven count: fewer, whole runs)."""
    flat = [i for step in steps for i in step]
    size = max(1, len(flat) // epochs)
    return [flat[k * size : (k + 1) * size] for k in range(epochs)]


def _train_alone(func: Callable[..., Any], setup: dict[str, Any]) -> tuple[torch.Tensor | None, list[list[int]], str | None]:
    """``func`` as rank 0 of 1 in this process, in a group of one: (its weights, the samples of each step, what it raised)."""
    steps: list[list[int]] = []
    model = _ddp_model(setup, 0, steps)
    data = torch.utils.data.TensorDataset(setup["x"], setup["y"])
    with _group_of_one(), _deadline(60):
        _, error = _call(func, model, data, *setup["args"])
    return (None if error else _flat(model)), steps, error


def _alone_error_hint(error: str) -> str:
    """The hint for what ``train_rank`` raised in a group of one: a second process group is named."""
    if "twice" in error or "already initialized" in error:
        return (
            "train_rank runs inside the process group its launcher made (torchrun's ranks, here the checker): use it, "
            "do not make another"
        )
    return _failure_hint(error)


def _alone_problem(func: Callable[..., Any], setup: dict[str, Any]) -> tuple[str, str] | None:
    """(message, hint) for what goes wrong with ``func`` as rank 0 of 1 in this process; None if it trains as one
    process with plain SGD would."""
    weights, steps, error = _train_alone(func, setup)
    where = "in this process, as rank 0 of 1"
    if error:
        return f"{where}: {error.rstrip('.')}.", _alone_error_hint(error)
    truth, truth_steps = _one_process(setup)
    epochs = setup["args"][0]
    if not steps:
        return (
            f"{where}, your model never met a batch.",
            "for every epoch, every batch of the loader: forward, loss, backward, step",
        )
    met = sum(len(step) for step in steps)
    if met != epochs * _DDP_SAMPLES:
        return (
            f"{where}, your model met {met} samples in {epochs} epochs; an epoch is each of the {_DDP_SAMPLES} once.",
            "loop over range(epochs), and over the whole loader in each",
        )
    if [len(s) for s in steps] != [len(s) for s in truth_steps]:
        sizes = sorted({len(s) for s in steps})
        return (
            f"{where}, your batches held {sizes} samples: a rank's share of the global batch of {setup['args'][1]} is "
            "all of it when it is alone (and the last batch of an epoch what is left).",
            "the global batch is shared by the ranks: how many is each rank's part, with world_size ranks?",
        )
    mine, reference = _by_epoch(steps, epochs), _by_epoch(truth_steps, epochs)
    if mine[1] == mine[0]:
        return f"{where}, every epoch met the samples in the same order.", "what tells a DistributedSampler the epoch?"
    if mine != reference:
        return (
            f"{where}, your epochs' orders are not the sampler's: every rank must draw the same permutation, or "
            "their parts overlap and leave gaps.",
            "DistributedSampler(dataset, shuffle=True, seed=seed), told each epoch (or your own permutation seeded "
            "with seed + epoch, as in exercise 4)",
        )
    off = float((weights - truth).abs().max())  # type: ignore[operator]
    if off > _DDP_CLOSE:
        return (
            f"{where}, your model met the batches one process meets, yet its weights end {off:.2g} away from plain SGD's.",
            "torch.optim.SGD(model.parameters(), lr=lr) on F.cross_entropy (the batch's mean), zero_grad before each backward",
        )
    return None


# The ranks took the same steps from different starts. The question first; the explanation if it comes back.
_DDP_START_ASK = (
    "compare the difference between your ranks' weights at the end with the difference at the start: what did the "
    "ranks' models not share before the first step?"
)
_DDP_START = (
    "each rank builds its model with its own seed (on separate machines nothing makes them equal), so equal steps "
    "keep them apart: before training, give every rank rank 0's weights, dist.broadcast(p.data, src=0) for each "
    "parameter (DistributedDataParallel does it when it wraps the model)"
)
# The ranks drifted apart: each stepped on its own gradients.
_DDP_AVERAGE_ASK = (
    "between backward and step, what does each rank's optimizer see: its own batch's gradients, or the global batch's?"
)
_DDP_AVERAGE = (
    "after backward, before step, every rank must hold the gradient of the whole global batch: the mean of the ranks' "
    "gradients. dist.all_reduce(p.grad) sums each parameter's gradient over the ranks, in place; divide by the world "
    "size (DistributedDataParallel does both during backward)"
)
_QUESTION_FIRST = {
    _EVERY_WORKER_RANK_0: _EVERY_WORKER_RANK_0_ASK,
    _DDP_START: _DDP_START_ASK,
    _DDP_AVERAGE: _DDP_AVERAGE_ASK,
}


def _ranks_problem(result: list[dict[str, Any]], setup: dict[str, Any]) -> tuple[str, str] | None:
    """(message, hint) for two ranks' training under torchrun that one process would not have done; None if none."""
    w = [torch.tensor(r["yours"]["weights"]) for r in result]
    start = [_flat(s) for s in setup["start"]]
    if float((w[0] - w[1]).abs().max()) > _DDP_CLOSE:
        same_steps = float(((w[0] - w[1]) - (start[0] - start[1])).abs().max()) <= _DDP_CLOSE
        return (
            (
                "under torchrun your two ranks end with different weights, as far apart as they started: they took "
                "the same steps from different starts.",
                _DDP_START,
            )
            if same_steps
            else ("under torchrun your two ranks end with different weights: each took steps of its own.", _DDP_AVERAGE)
        )
    epochs, global_batch = setup["args"][0], setup["args"][1]
    sizes = sorted({len(s) for r in result for s in r["yours"]["steps"]})
    if max(sizes) > global_batch // _RANKS:
        return (
            f"under torchrun each rank's batches held {sizes} samples: a step's global batch was {_RANKS} x "
            f"{max(sizes)}, not {global_batch}, so two ranks take fewer steps than one process.",
            "the global batch is shared by the ranks: each rank's loader takes global_batch // world_size",
        )
    epoch_0 = [set(_by_epoch(r["yours"]["steps"], epochs)[0]) for r in result]
    both = epoch_0[0] & epoch_0[1]
    if both:
        return (
            f"under torchrun rank 0 and rank 1 both met {len(both)} of the same samples in epoch 0 (of "
            f"{_DDP_SAMPLES}): the ranks' parts overlap.",
            "a sampler that knows the ranks gives each its own part: DistributedSampler finds them in the process group",
        )
    doubled, _ = _one_process(setup, lr_scale=_RANKS)
    if float((w[0] - doubled).abs().max()) <= _DDP_CLOSE:
        return (
            f"under torchrun your ranks agree, but every step moved the weights {_RANKS} times as far as one process's.",
            "dist.all_reduce sums the ranks' gradients; one process's gradient of the global batch is their mean",
        )
    return None


def _train_rank_as_written(func: Any) -> tuple[Any, Verdict | None]:
    """``func`` as its module's file now reads (as torchrun's ranks will import it), or the verdict that ends the check."""
    if not callable(func):
        return None, _verdict(
            False, f"expected a function, got {func!r}.", "def train_rank(model, dataset, epochs, global_batch, lr, seed)"
        )
    module = sys.modules.get(getattr(func, "__module__", None) or "")
    named = func.__qualname__.isidentifier()  # a lambda or a nested function cannot be looked up in its file
    if named and module is not None and func.__module__ != "__main__" and getattr(module, "__file__", None):
        func, error = _class_as_file_reads(func.__module__, func.__qualname__, kind="function")
        if func is None:
            return None, _verdict(False, f"{error}", RAISED_HINT)
    if _is_stub_function(func):
        return None, _verdict(False, "train_rank is still the stub.", STUB_HINT)
    if _names_any(func, [DistributedDataParallel]):
        return None, _verdict(
            False,
            "your train_rank wraps the model in DistributedDataParallel, the tool this exercise rebuilds.",
            "train the model itself, and do by hand, with torch.distributed's collectives, what the wrapper would do",
        )
    return func, None


def check_ddp_by_hand(func: Callable[..., Any], *, timeout: float = 100) -> Verdict:
    """Notebook ``06_beyond_one_machine``: ``func(model, dataset, epochs, global_batch, lr, seed)`` trains ``model`` on
    its rank's part so that 2 ranks end where one process with the whole global batch ends.

    First in this process, as rank 0 of 1 (a gloo group of one): the batches the model met and its weights, against
    plain SGD in one process. Then for real: 2 ranks under ``torchrun --standalone --nproc_per_node=2`` (gloo, CPU),
    each with its own starting weights, as on separate machines; each rank's weights and the samples of its every
    step are compared with one process's, and with ``DistributedDataParallel``'s training from the same starts. The
    function must be importable by new processes (``%%writefile``); it is judged as its file now reads.
    """
    with torch.random.fork_rng():  # the references' models and loaders draw from it: the notebook's stays as it was
        return _judge_ddp_by_hand(func, timeout)


def _judge_ddp_by_hand(func: Callable[..., Any], timeout: float) -> Verdict:
    """:func:`check_ddp_by_hand`'s verdict."""
    func, ended = _train_rank_as_written(func)
    if ended is not None:
        return ended
    setup = _ddp_setup()
    problem = _alone_problem(func, setup)
    if problem:
        return _verdict(False, problem[0], problem[1])
    where = _module_root(func)
    if where is None:
        return _verdict(
            False,
            "train_rank works in this process; torchrun starts new Python processes, which cannot import a function "
            "defined in the notebook.",
            "put it and its imports in a cell that starts with %%writefile my_ddp.py, run it, then `import my_ddp`",
        )
    result, log = _torchrun(_DDP_DRIVER, list(where[1:]) + [func.__qualname__], where[0], timeout, {"setup.pt": setup})
    if result is None:
        message, _ = _failure(log)
        return _verdict(
            False,
            message,
            "a collective that only some ranks call waits for the others forever: does every rank make the same "
            "calls, in the same order?"
            if log.startswith("TIMEOUT")
            else "run it as rank 0 of 1 in the notebook first; then read the error above",
        )
    problem = _ranks_problem(result, setup)
    if problem:
        return _verdict(False, problem[0], _asked_first(problem[1]))
    return _ddp_verdict(result, setup)


def _ddp_verdict(result: list[dict[str, Any]], setup: dict[str, Any]) -> Verdict:
    """Correct! when two ranks' weights are one process's; the comparison with DistributedDataParallel's either way."""
    truth, _ = _one_process(setup)
    mine, ddp = torch.tensor(result[0]["yours"]["weights"]), torch.tensor(result[0]["ddp"]["weights"])
    off, off_ddp = float((mine - truth).abs().max()), float((mine - ddp).abs().max())
    if off > _DDP_CLOSE:
        return _verdict(
            False,
            f"under torchrun your ranks agree and read their own parts, yet end {off:.2g} away from one process's "
            f"weights (DistributedDataParallel's end {float((ddp - truth).abs().max()):.2g} away).",
            "in one process your training matched: what differs between one rank and two, other than the data?",
        )
    return _verdict(
        True,
        f"under torchrun, 2 ranks x {setup['args'][1] // _RANKS} samples per step end with the same weights, "
        f"{off:.1g} from one process's with batches of {setup['args'][1]} and {off_ddp:.1g} from "
        "DistributedDataParallel's on the same 2 ranks.",
    )
