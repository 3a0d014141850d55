"""Checkers of notebook 06_beyond_one_machine (flowerkit.exercises.nb06): the hunt's count and naming, padding, a stream under torchrun."""

from __future__ import annotations

import importlib.util
import io
import math
import random
import re
import sys
import tarfile
import textwrap
from collections import Counter
from pathlib import Path

import pytest
import torch
import webdataset as wds
from torch.utils.data import DistributedSampler, get_worker_info

from flowerkit import distributed, exercises
from flowerkit.access import OxfordFlowers102
from flowerkit.exercises import nb06


def _count(ids_by_rank, expected):
    read = Counter(i for ids in ids_by_rank for i in ids)
    return Counter(read[i] for i in expected)


def _flowerkit_count(ids_by_rank, expected):  # flowerkit's answer, passed through: the plain-PyTorch count is the exercise
    from flowerkit import distributed

    bars = distributed.count_epochs([[ids] for ids in ids_by_rank], expected)["appearances_per_epoch"][0]
    return dict(enumerate(bars))


def _flowerkit_shard(samples, path):  # shards.write_shards on a stand-in dataset, its one shard moved to `path`
    import shutil
    import tempfile
    import types

    from flowerkit import shards

    ids, files, labels = zip(*samples)
    dataset = types.SimpleNamespace(split="train", image_ids=list(ids), image_files=list(files), labels=list(labels))
    with tempfile.TemporaryDirectory() as tmp:
        written = shards.write_shards(dataset, tmp, num_shards=1, seed=None, progress=False)
        shutil.move(str(written[0]), path)


def _extends_the_first(ids_by_rank, expected):  # all_ids = ids_by_rank[0]; all_ids += ...: extends rank 0's list
    all_ids = ids_by_rank[0]
    for ids in ids_by_rank[1:]:
        all_ids += ids
    return _count([all_ids], expected)


def _counts_every_read(ids_by_rank, expected):  # counts the counts of every id read, then adds the zeros
    read = Counter(i for ids in ids_by_rank for i in ids)
    return Counter(read.values()) + Counter({0: sum(i not in read for i in expected)})


@pytest.mark.parametrize(
    "func, feedback",
    [
        (_count, "Correct"),
        (lambda ids_by_rank, expected: dict(_count(ids_by_rank, expected)), "Correct"),  # a plain dict
        (lambda ids_by_rank, expected: {**_count(ids_by_rank, expected), 7: 0}, "Correct"),  # an empty bar is fine
        (lambda ids_by_rank, expected: {str(k): v for k, v in _count(ids_by_rank, expected).items()}, "Correct"),
        (lambda ids_by_rank, expected: None, "still the stub"),
        (lambda ids_by_rank, expected: 1 / 0, "ZeroDivisionError"),
        (lambda ids_by_rank, expected: (0, 0), "return a dict of times read"),
        (lambda ids_by_rank, expected: {"duplicates": 0, "missing": 0}, "return a dict of times read"),
        (lambda ids_by_rank, expected: Counter(i for ids in ids_by_rank for i in ids), "each id's count"),
        (lambda ids_by_rank, expected: Counter(Counter(i for ids in ids_by_rank for i in ids).values()), "nobody read"),
        (
            lambda ids_by_rank, expected: Counter(int(i in {j for ids in ids_by_rank for j in ids}) for i in expected),
            "counts as read once",
        ),
        (lambda ids_by_rank, expected: {1: len(expected)}, "count this small case by hand"),
        (lambda ids_by_rank, expected: {k: n + 0.9 for k, n in _count(ids_by_rank, expected).items()}, "whole numbers"),
        (lambda ids_by_rank, expected: {k: n / len(expected) for k, n in _count(ids_by_rank, expected).items()}, "not shares"),
        (_flowerkit_count, "calls flowerkit's distributed.count_epochs, the version this exercise builds"),
        (  # two ranks hard-coded: the one-rank case has no ids_by_rank[1]
            lambda ids_by_rank, expected: Counter(Counter(ids_by_rank[0] + ids_by_rank[1])[i] for i in expected),
            "IndexError",
        ),
        (_extends_the_first, "your function changed the lists it was given"),
        (lambda ids_by_rank, expected: {n: k for k, n in _count(ids_by_rank, expected).items()}, "keys and values swapped"),
        (_counts_every_read, "you counted id 9, which is not among the expected ids"),
        (distributed.count_epochs, "calls flowerkit's distributed.count_epochs, the version this exercise builds"),
    ],
)
def test_check_count_appearances_feedback(func, feedback, capsys):
    ok = exercises.check_count_appearances(func)
    out = capsys.readouterr().out
    assert feedback in out, out
    assert ok == ("the same as flowerkit's distributed.count_epochs" in out)
    assert ok == (feedback == "Correct")
    assert ok or "\nHint: " in out


@pytest.mark.parametrize(
    "answer, feedback",
    [
        ({"no rank split", "same order"}, "Correct!"),
        (["same order", "no rank split"], "Correct!"),
        (None, "no answer yet"),
        (set(), "no answer yet"),
        ({"no rank split", "shuffle"}, "is not one of exercises.SCALE_SUSPECTS"),
        ({"no rank split", "same order", "drop_last"}, "never reads one twice"),
        ({"no rank split", "same order", "worker crash"}, "never makes a sample appear twice"),
        ({"no rank split", "worker crash"}, "a pick may be cleared by it, or some of what it shows is missing"),
        ({"own seeds", "no rank split", "same order"}, "different ids"),
        ({"own seeds", "drop_last", "no rank split", "same order"}, "a pick may be cleared by it"),
        ({"no all-reduce", "same order", "no rank split"}, "gradients cannot change"),
        ({"no rank split"}, "a pick may be cleared by it"),  # a single right pick reads like a wrong one
        ("same order", "a pick may be cleared by it"),
    ],
)
def test_check_scale_bugs_feedback(answer, feedback, capsys):
    ok = exercises.check_scale_bugs(answer)
    out = capsys.readouterr().out
    assert feedback in out and ok == (feedback == "Correct!")
    assert ok or "\nHint: " in out


def test_every_scale_suspect_is_a_cause_or_cleared_by_the_evidence():
    for name in exercises.SCALE_SUSPECTS:
        assert (name in nb06._SCALE_BUGS) != (name in nb06._CLEARED)


def _padded(n, rank, world_size, drop_last=False):
    total = n // world_size * world_size if drop_last else math.ceil(n / world_size) * world_size
    return [i % n for i in range(total)][rank::world_size]


def _plus_one(n, rank, world_size, drop_last=False):
    """Pads to (n // world_size + 1) per rank: right unless world_size divides n."""
    if drop_last or n < world_size:
        return _padded(n, rank, world_size, drop_last)
    return [i % n for i in range((n // world_size + 1) * world_size)][rank::world_size]


def _padded_once(n, rank, world_size, drop_last=False):
    """Pads by one copy of the start: right while the padding is shorter than the list, wrong with fewer samples than ranks."""
    if drop_last:
        return _padded(n, rank, world_size, True)
    total = math.ceil(n / world_size) * world_size
    return (list(range(n)) + list(range(n))[: total - n])[rank::world_size]


@pytest.mark.parametrize(
    "func, feedback",
    [
        (_padded, "Correct"),
        (lambda n, rank, world_size, drop_last: None, "still the stub"),
        (lambda n, rank, world_size: _padded(n, rank, world_size), "TypeError"),  # the drop_last argument forgotten
        (lambda n, rank, world_size, drop_last: 7, "return a list of indices"),
        (lambda n, rank, world_size, drop_last: list(range(n))[rank::world_size], "every rank must get as many"),
        (lambda n, rank, world_size, drop_last: _padded(n, rank, world_size), "drop_last=True no index is repeated"),
        (_padded_once, "Padding with the list's own first items adds at most"),
        (
            lambda n, rank, world_size, drop_last: _padded(n, rank, world_size, drop_last) if n >= world_size else [],
            "every rank still gets one",
        ),
        (
            lambda n, rank, world_size, drop_last: list(
                DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=False, drop_last=drop_last)
            ),
            "builds a DistributedSampler",
        ),
        (lambda n, rank, world_size, drop_last: _padded(n, rank, world_size, drop_last) or [0], "no rank can have a whole share"),
        (lambda n, rank, world_size, drop_last: list(range(rank * 3, rank * 3 + 3)), "a block per rank"),
        (lambda n, rank, world_size, drop_last: _padded(n, rank, world_size, drop_last)[::-1], "expected"),
        (_plus_one, "split evenly among 4 ranks: nothing needs adding"),  # n // W + 1, not rounded up
    ],
)
def test_check_padded_indices_feedback(func, feedback, capsys):
    ok = exercises.check_padded_indices(func)
    out = capsys.readouterr().out
    assert feedback in out
    assert ok == (feedback == "Correct") and (ok or "\nHint: " in out)


def test_the_sampler_checker_tries_cases_the_notebooks_evidence_does_not_show():
    shown = {(n, 3) for n in (2, 6, 7, 8)}  # the evidence cell of notebook 06: 3 ranks
    assert not shown & set(nb06._SAMPLER_CASES)
    assert any(n < world for n, world in nb06._SAMPLER_CASES) and any(world - n > n for n, world in nb06._SAMPLER_CASES)


# ------------------------------------------------------------------ the stream by rank and worker: in class, then under torchrun

_IMPORTS = """\
import os
import random

import torch
import torch.distributed as dist
from torch.utils.data import IterableDataset, get_worker_info


"""
_GIVEN_RANK = """\
class MyRankStream(IterableDataset):
    def __init__(self, items, seed=0, rank=0, world_size=1):
        self.items, self.seed, self.epoch = list(items), seed, 0
        self.rank, self.world_size = rank, world_size

    def set_epoch(self, epoch):
        self.epoch = epoch

"""
_HEADER = (
    _IMPORTS
    + """\
class MyRankStream(IterableDataset):
    def __init__(self, items, seed=0, rank=None, world_size=None):
        self.items, self.seed, self.epoch = list(items), seed, 0
        in_group = dist.is_available() and dist.is_initialized()
        self.rank = rank if rank is not None else dist.get_rank() if in_group else 0
        self.world_size = world_size if world_size is not None else dist.get_world_size() if in_group else 1

    def set_epoch(self, epoch):
        self.epoch = epoch

"""
)
_ORDER = "torch.randperm(len(self.items), generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()"
_RIGHT = f"""\
    def __iter__(self):
        order = {_ORDER}
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        for i in order[self.rank :: self.world_size][worker::workers]:
            yield self.items[i]
"""
_RANK_ASKED_IN_ITER = f"""\
    def __iter__(self):
        order = {_ORDER}
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        in_group = dist.is_available() and dist.is_initialized()  # False in a worker: it has no process group
        rank, world = (dist.get_rank(), dist.get_world_size()) if in_group else (0, 1)
        for i in order[rank::world][worker::workers]:
            yield self.items[i]
"""
_RANK_IN_WORKER = f"""\
    def __iter__(self):
        order = {_ORDER}
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        rank, world = (dist.get_rank(), dist.get_world_size()) if info else (0, 1)  # a worker has no process group
        for i in order[rank::world][worker::workers]:
            yield self.items[i]
"""
_WORKER_ASKED_IN_INIT = (
    _RIGHT.replace("        info = get_worker_info()\n", "")
    .replace("if info else", "if self.info else")
    .replace("(info.id, info.num_workers)", "(self.info.id, self.info.num_workers)")
)
_BLOCKS = f"""\
    def __iter__(self):
        order = {_ORDER}
        n = len(order) // self.world_size
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        for i in order[self.rank * n : (self.rank + 1) * n][worker::workers]:
            yield self.items[i]
"""

_FIXED_SHARES = [  # each rank keeps one share every epoch, shuffled inside: a stride, and a block with its remainder
    """\
    def __iter__(self):
        mine = self.items[self.rank :: self.world_size]
        order = torch.randperm(len(mine), generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        for i in order[worker::workers]:
            yield mine[i]
""",
    """\
    def __iter__(self):
        n, r, w = len(self.items), self.rank, self.world_size
        mine = self.items[r * n // w : (r + 1) * n // w]
        order = torch.randperm(len(mine), generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        for i in order[worker::workers]:
            yield mine[i]
""",
]


_SHUFFLES_IN_PLACE = """\
    def __iter__(self):
        random.Random(self.seed + self.epoch).shuffle(self.items)  # in place: the next pass shuffles the shuffled list
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        yield from self.items[self.rank :: self.world_size][worker::workers]
"""
_PADS_TO_EQUAL = f"""\
    def __iter__(self):
        order = {_ORDER}
        order += order[: -len(order) % self.world_size]  # DistributedSampler's padding: equal shares
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        for i in order[self.rank :: self.world_size][worker::workers]:
            yield self.items[i]
"""


def _stream_class(tmp_path, body, name, header=_HEADER):
    """``MyRankStream`` from a module ``name`` written to ``tmp_path``, importable by new processes as the notebook's is."""
    path = tmp_path / f"{name}.py"
    path.write_text(header + body)
    sys.path.insert(0, str(tmp_path))
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(tmp_path))
    return module.MyRankStream


_IN_ONE_PROCESS = [
    ("    def __iter__(self):\n        ...\n", "still the stub"),
    (_RIGHT.replace(_ORDER, "random.sample(range(len(self.items)), len(self.items))"), "different orders for epoch 0"),
    (_RIGHT.replace("self.seed + self.epoch", "self.seed"), "set_epoch(1) gave the order of epoch 0"),
    (_RIGHT.replace(_ORDER, "list(range(len(self.items)))"), "neighbouring pairs of the items' own order"),  # not shuffled
    (_RIGHT.replace("[worker::workers]", "[worker::workers][1:]"), "expected all 23 once each"),
    (
        _RIGHT.replace(_ORDER, "list(range(len(self.items)))[self.epoch :] + list(range(len(self.items)))[: self.epoch]"),
        "neighbouring pairs of the items' own order",
    ),
    (
        _RIGHT.replace(_ORDER, f"(lambda o: o[::-1] if self.epoch % 2 else o)({_ORDER.replace('self.epoch', '0')})"),
        "epoch 1 is epoch 0 moved",
    ),
    (_RIGHT.replace("self.seed + self.epoch", "self.epoch"), "the stream ignores its seed"),
]


@pytest.mark.parametrize(
    "body, feedback",
    [
        *_IN_ONE_PROCESS,
        (_RIGHT.replace("[self.rank :: self.world_size]", ""), "every item came from every rank."),
        (_WORKER_ASKED_IN_INIT, "its 2 workers read the same items"),
        (_RIGHT.replace("self.seed + self.epoch", "self.seed + self.epoch + self.rank"), "the ranks' shares overlap"),
        (_BLOCKS, "read by nobody"),
        (_FIXED_SHARES[0], "reads the same 52 items at epochs 1 and 2, only in another order: each rank keeps one fixed share"),
        (_FIXED_SHARES[1], "can share a batch never changes (and a block of a list grouped by class"),
        (_RIGHT.replace("yield self.items[i]", "yield i"), "not among the items given"),
        (_SHUFFLES_IN_PLACE, "one stream, iterated twice at epoch 0, gave two orders"),
        (_RIGHT.replace("[worker::workers]", "[worker :: 2 if info else 1]"), "2 ranks x 3 workers"),  # 2 workers hard-coded
        (_PADS_TO_EQUAL, "padded to equal shares, as DistributedSampler pads"),
        (
            _RIGHT.replace("generator=torch.Generator().manual_seed(", "generator=torch.manual_seed("),
            "global random generator (torch)",
        ),
        (
            _RIGHT.replace(
                _ORDER, "random.Random(self.seed + self.epoch).sample(range(len(self.items)), len(self.items))"
            ).replace(
                "        info = get_worker_info()\n", "        random.seed(self.epoch)\n        info = get_worker_info()\n"
            ),
            "global random generator (random)",
        ),
    ],
)
def test_check_rank_stream_counts_what_simulated_ranks_and_workers_read(tmp_path, body, feedback, capsys):
    torch_state, random_state = torch.get_rng_state(), random.getstate()
    if body is _WORKER_ASKED_IN_INIT:
        header = _IMPORTS + _GIVEN_RANK.replace("rank, world_size\n", "rank, world_size\n        self.info = get_worker_info()\n")
    else:
        header = _IMPORTS + _GIVEN_RANK
    cls = _stream_class(tmp_path, body, f"stream_{abs(hash(body))}", header)
    ok = exercises.check_rank_stream(cls)
    out = capsys.readouterr().out
    assert feedback in out and not ok and "\nHint: " in out
    assert torch.equal(torch.get_rng_state(), torch_state) and random.getstate() == random_state  # the checker restores them


@pytest.mark.parametrize(
    "imports, call",
    [
        ("from torch.utils.data._utils.worker import get_worker_info", "get_worker_info()"),
        ("from torch.utils.data import get_worker_info as info_of", "info_of()"),
        ("import torch.utils.data._utils.worker as worker_utils", "worker_utils.get_worker_info()"),
        ("", "torch.utils.data._utils.worker.get_worker_info()"),
    ],
)
def test_the_simulated_workers_answer_get_worker_info_under_any_import(imports, call, capsys):
    """A simulated worker is seen however the student reached get_worker_info (the private module too): its share."""
    body = _RIGHT.replace("get_worker_info()", call)
    namespace = {}
    exec(
        _IMPORTS.replace(
            "from torch.utils.data import IterableDataset, get_worker_info",
            f"from torch.utils.data import IterableDataset\n{imports}",
        )
        + _GIVEN_RANK
        + body,
        namespace,
    )
    assert exercises.check_rank_stream(namespace["MyRankStream"]), capsys.readouterr().out
    assert get_worker_info() is None, "the simulation left this process looking like a worker"


def test_check_rank_stream_passes_a_right_stream_defined_in_the_notebook(capsys):
    namespace = {}
    exec(_IMPORTS + _GIVEN_RANK + _RIGHT, namespace)  # as a notebook cell: no module, workers simulated in-process
    assert exercises.check_rank_stream(namespace["MyRankStream"])
    assert "all 103 items were read exactly once" in capsys.readouterr().out
    assert not exercises.check_rank_stream(list)
    assert "IterableDataset" in capsys.readouterr().out


@pytest.mark.parametrize(
    "body, feedback",
    _IN_ONE_PROCESS
    + [
        (_RIGHT.replace("order = ", "rank = dist.get_rank()\n        order = "), "without torchrun or workers"),
        (
            _RIGHT.replace("order = ", "rank = int(__import__('os').environ['RANK'])\n        order = "),
            "RANK and WORLD_SIZE are not set",
        ),
    ],
)
def test_check_torchrun_stream_in_one_process(tmp_path, body, feedback, capsys):
    cls = _stream_class(tmp_path, body, f"stream_{abs(hash(body))}")
    ok = exercises.check_torchrun_stream(cls)
    out = capsys.readouterr().out
    assert feedback in out and not ok and "\nHint: " in out


def test_check_torchrun_stream_asks_for_a_module_and_for_an_iterable_dataset(tmp_path, capsys):
    cls = _stream_class(tmp_path, _RIGHT, "stream_in_a_notebook")
    cls.__module__ = "__main__"  # as a class defined in a notebook cell
    assert not exercises.check_torchrun_stream(cls)
    assert "%%writefile my_stream.py" in capsys.readouterr().out
    assert not exercises.check_torchrun_stream(list)
    assert "IterableDataset" in capsys.readouterr().out


def test_check_torchrun_stream_counts_what_real_torchrun_ranks_read(tmp_path, capsys):
    assert exercises.check_torchrun_stream(_stream_class(tmp_path, _RIGHT, "stream_right"))
    assert "read all 103 items exactly once ([52, 51] per rank)" in capsys.readouterr().out
    assert not exercises.check_torchrun_stream(_stream_class(tmp_path, _RANK_IN_WORKER, "stream_rank_in_worker"))
    out = capsys.readouterr().out
    assert "Default process group has not been initialized" in out and "ask torch.distributed in __init__" in out


def test_a_rank_read_from_local_rank_is_refused_as_on_two_machines(tmp_path, capsys, monkeypatch):
    """LOCAL_RANK equals RANK under --standalone; the check runs the ranks as two machines, where it is 0 on both."""
    monkeypatch.setattr(nb06, "_HINTED", {nb06._EVERY_WORKER_RANK_0})  # a second failure of the kind: the explanation
    local = _IMPORTS + _HEADER[len(_IMPORTS) :].replace(
        "self.rank = rank if rank is not None else dist.get_rank() if in_group else 0",
        "self.rank = rank if rank is not None else int(os.environ.get('LOCAL_RANK', 0))",
    ).replace(
        "self.world_size = world_size if world_size is not None else dist.get_world_size() if in_group else 1",
        "self.world_size = world_size if world_size is not None else int(os.environ.get('LOCAL_WORLD_SIZE', 1))",
    )
    assert "LOCAL_RANK" in local and "LOCAL_WORLD_SIZE" in local
    assert not exercises.check_torchrun_stream(_stream_class(tmp_path, _RIGHT, "stream_local_rank", local))
    out = capsys.readouterr().out
    assert "every item came from every rank" in out and "LOCAL_RANK and LOCAL_WORLD_SIZE count the processes of one" in out


def test_a_rank_asked_in_a_worker_is_named_by_the_hint(tmp_path, capsys, monkeypatch):
    """Under real torchrun; a rank never asked for (the class version as is) reads the same, see the count's test.
    The first such failure asks where the rank comes from; the explanation comes with the next (_asked_first)."""
    monkeypatch.setattr(nb06, "_HINTED", set())
    assert not exercises.check_torchrun_stream(_stream_class(tmp_path, _RANK_ASKED_IN_ITER, "stream_rank_asked_in_iter"))
    out = capsys.readouterr().out
    assert "every item came from every rank" in out and "as if it were rank 0 of 1: where does your stream find" in out
    assert "nobody passes rank" not in out and "dist.get_rank()" not in out, "the question first, not the answer"
    again = nb06._asked_first(nb06._EVERY_WORKER_RANK_0)
    assert "every worker believes it is rank 0 of 1" in again and "in __init__" in again and "RANK and WORLD_SIZE" in again
    assert nb06._asked_first("another hint") == "another hint"


def _reads(rank_of, repeat_in_rank=1):
    """What 2 ranks read: item i goes to each rank in ``rank_of(i)``, ``repeat_in_rank`` times."""
    return [[i for i in range(1000, 1103) for r in rank_of(i) if r == rank for _ in range(repeat_in_rank)] for rank in (0, 1)]


@pytest.mark.parametrize(
    "read, feedback",
    [
        (_reads(lambda i: [i % 2]), None),
        (_reads(lambda i: [0, 1]), "every item came from every rank."),
        (_reads(lambda i: [i % 2], repeat_in_rank=2), "its 2 workers read the same items"),
        (_reads(lambda i: [0, 1], repeat_in_rank=2), "from every rank and every worker of each"),
        (_reads(lambda i: [0, 1] if i % 3 == 0 else [] if i % 3 == 1 else [0]), "the ranks' shares overlap"),
        (_reads(lambda i: [i % 2] if i < 1100 else []), "3 item(s) read by nobody"),
        ([[*range(1000, 1103, 2), 7], list(range(1001, 1103, 2))], "not in the list"),
        ([list(range(1000, 1103)), list(range(1001, 1103))], "rank 0 read every item, as if it were the only rank"),
    ],
)
def test_the_count_names_what_the_ranks_got_wrong(read, feedback):
    problem = nb06._count_problem(read, 2, nb06._EVERY_WORKER_RANK_0)
    assert (problem is None) if feedback is None else feedback in problem[0]
    if feedback == "every item came from every rank.":  # likeliest cause: the rank asked in a worker, which has no group
        assert "dist.is_initialized() is False there" in problem[1] and "os.environ" in problem[1]


def test_the_failure_names_the_root_error_of_a_rank():
    log = textwrap.dedent("""\
        [rank0]: ValueError: Caught ValueError in DataLoader worker process 0.
        [rank0]: ValueError: Default process group has not been initialized, please make sure to call init_process_group.
        torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
        """)
    message, hint = nb06._failure(log)
    assert message.endswith("please make sure to call init_process_group.") and "__init__" in hint
    # torchrun then stops the other rank, whose worker dies by SIGTERM: that may be logged last (a CI run saw it)
    stopped = log + "[rank1]: RuntimeError: DataLoader worker (pid 1041) is killed by signal: Terminated. \n"
    assert nb06._failure(stopped) == (message, hint)
    only_stopped = "[rank1]: RuntimeError: DataLoader worker (pid 1041) is killed by signal: Terminated."
    assert "killed by signal" in nb06._failure(only_stopped)[0]
    assert "did not finish" in nb06._failure("TIMEOUT after 300 s")[0]


def _shard_writer(
    order=("jpg", "cls"),
    digits=6,
    label=lambda y: str(y).encode(),
    reverse=False,
    jpg=None,
    sized=True,
    by_ext=False,
    mode="w",
):
    """A student's my_shard(samples, path), right by default; each argument plants one mistake."""

    def my_shard(samples, path):
        members = []
        for image_id, jpg_path, y in samples[::-1] if reverse else samples:
            data = {"jpg": jpg(jpg_path) if jpg else Path(jpg_path).read_bytes(), "cls": label(y)}
            members += [(f"{image_id:0{digits}d}.{ext}", data[ext]) for ext in order]
        if by_ext:  # every .jpg first, then every .cls
            members = members[::2] + members[1::2]
        with tarfile.open(path, mode) as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data) if sized else info.size
                tar.addfile(info, io.BytesIO(data))

    return my_shard


def _writes_elsewhere(samples, path):
    Path(path).with_name("other.tar").write_bytes(b"")


@pytest.mark.parametrize(
    "func, feedback",
    [
        (_shard_writer(), "write_shards writes the very same members"),
        (_shard_writer(order=("cls", "jpg")), "write_shards writes the very same members"),  # webdataset's own order
        (lambda samples, path: None, "still the stub"),
        (_writes_elsewhere, "written somewhere else?"),  # returns None too, but is no stub
        (lambda samples, path: Path(path).write_text("not a tar"), "tarfile cannot read it"),
        (_shard_writer(digits=5), "named by its id in 6 digits"),
        (_shard_writer(label=lambda y: bytes([y])), "the 0-based label as text"),
        (_shard_writer(reverse=True), "each sample's two files follow one another, but the samples are in another order"),
        (_shard_writer(by_ext=True), "write each sample's .jpg and .cls together"),
        (_shard_writer(jpg=lambda p: Path(p).read_bytes()[:100]), "untouched"),
        (_shard_writer(sized=False), "a new TarInfo's size is 0"),  # the bytes were read, but no member holds them
        (_shard_writer(label=lambda y: f"{y}\n".encode()), "webdataset reads your shard back"),  # a line of text
        (_shard_writer(mode="w:gz"), "a compressed tar (gzip)"),  # webdataset would read it, every epoch decompressing
        (_shard_writer(mode="w:xz"), "a compressed tar (xz)"),
        (lambda samples, path: 1 / 0, "ZeroDivisionError"),
        (_flowerkit_shard, "calls flowerkit's shards.write_shards, the version this exercise builds"),
    ],
)
def test_check_my_shard(mini_root, func, feedback, capsys):
    ok = exercises.check_my_shard(func, OxfordFlowers102(mini_root, "train"))
    out = capsys.readouterr().out
    assert feedback in out and ok == out.startswith("Correct!"), out


def test_the_torchrun_stream_is_judged_as_its_file_now_reads(tmp_path, capsys):
    """A module rewritten below the cell that imported it: judged on the new file, as torchrun's processes read it."""
    stub = _stream_class(tmp_path, "    def __iter__(self):\n        ...\n", "stream_rewritten")
    (tmp_path / "stream_rewritten.py").write_text(_HEADER + _RIGHT + "\n# rewritten by a later cell\n")
    fresh, error = nb06._as_last_written(stub)
    assert error is None and fresh is not stub
    assert sorted(fresh(range(10), seed=0)) == list(range(10))
    (tmp_path / "stream_rewritten.py").write_text(_HEADER + _RIGHT.replace("def __iter__", "def __iter__(") + "\n")
    assert not exercises.check_torchrun_stream(fresh)
    assert "stream_rewritten.py does not import: SyntaxError" in capsys.readouterr().out


def test_check_rank_stream_stops_a_stream_that_never_yields(monkeypatch, capsys):
    """An __iter__ that loops without yielding (as one worker, an index that moves only on a yield) gets a message, not a hang."""
    monkeypatch.setattr(exercises.verdict, "_STALL_S", 0.5)
    namespace = {}
    spins = _RIGHT.replace(
        "        info = get_worker_info()\n", "        info = get_worker_info()\n        while True:\n            pass\n"
    )
    exec(_IMPORTS + _GIVEN_RANK + spins, namespace)
    assert not exercises.check_rank_stream(namespace["MyRankStream"])
    out = capsys.readouterr().out
    assert "handed over nothing for 0 s" in out and "islice" in out, out


# ------------------------------------------------------------------ exercise 7: a shuffle buffer


def _buffer(rng_of=random.Random, pick=lambda held, rng: held.pop(rng.randrange(len(held))), empty_at_the_end=True):
    """A shuffle buffer as the notebook's solution writes it, with one part swapped for a wrong one."""

    def shuffle(samples, buffer, seed):
        rng, held = rng_of(seed), []
        for sample in samples:
            held.append(sample)
            if len(held) > buffer:
                yield pick(held, rng)
        while empty_at_the_end and held:
            yield pick(held, rng)

    return shuffle


def _seeded_global(seed):
    random.seed(seed)
    return random


_buffer_shuffle = _buffer()  # the notebook's solution
_keeps_the_tail = _buffer(empty_at_the_end=False)
_oldest_first = _buffer(pick=lambda held, rng: held.pop(0))
_global = _buffer(rng_of=_seeded_global)  # the same order every run, from the process's generator
_unseeded_global = _buffer(rng_of=lambda seed: random)
_unseeded = _buffer(rng_of=lambda seed: random.Random())
_seed_ignored = _buffer(rng_of=lambda seed: random.Random(7))


def _reads_everything(samples, buffer, seed):
    everything = list(samples)
    random.Random(seed).shuffle(everything)
    return iter(everything)


def _crashes_without_a_buffer(samples, buffer, seed):
    rng, held = random.Random(seed), []
    for sample in samples:
        held.append(sample)
        if len(held) >= buffer:
            yield held.pop(rng.randrange(buffer))
    while held:
        yield held.pop(rng.randrange(len(held)))


def _library(samples, buffer, seed):
    return wds.shuffle(buffer, initial=buffer, seed=seed)(iter(samples))


@pytest.mark.parametrize(
    "func, feedback",
    [
        (_buffer_shuffle, "Correct"),
        (lambda samples, buffer, seed: None, "still the stub"),
        (_reads_everything, "samples of a stream before handing out the first"),
        (_keeps_the_tail, "of the last samples never came out"),
        (_oldest_first, "neighbouring pairs of the stream are neighbours again"),
        (_global, "global random generator"),
        (_unseeded_global, "the same seed gave two orders"),
        (_unseeded, "the same seed gave two orders"),
        (_seed_ignored, "seed=1 gave seed 0's order"),
        (_crashes_without_a_buffer, "with buffer=0"),
        (_library, "webdataset's shuffle, the library version"),
        (None, "expected a function"),
    ],
)
def test_check_shuffle_buffer_feedback(func, feedback, capsys):
    state = random.getstate()
    ok = exercises.check_shuffle_buffer(func)
    out = capsys.readouterr().out
    assert feedback in out, out
    assert ok == (feedback == "Correct")
    assert random.getstate() == state, "the check leaves the global random state as it found it"


def test_a_right_shuffle_buffer_is_put_beside_webdatasets_on_file_order_keys(capsys):
    keys = list(range(1020))
    labels = {k: k // 10 for k in keys}  # runs of 10 samples of one class: shards written in file order
    assert exercises.check_shuffle_buffer(_buffer_shuffle, keys, labels)
    out = capsys.readouterr().out
    said = re.search(r"batches of 64 hold ([\d.]+) classes with yours and ([\d.]+) with webdataset's", out)
    assert said and "a full shuffle gives" in out and "the file order" in out, out
    mine, theirs = float(said.group(1)), float(said.group(2))
    assert 10 < mine < 40 and 10 < theirs < 40, "a buffer of 128 mixes neighbours only: far from a full shuffle (49)"


# ------------------------------------------------------------------ exercise 8: DistributedDataParallel by hand

_DDP_RIGHT = """\
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler


def train_rank(model, dataset, epochs, global_batch, lr, seed):
    world = dist.get_world_size()
    for p in model.parameters():
        dist.broadcast(p.data, src=0)
    sampler = DistributedSampler(dataset, shuffle=True, seed=seed)
    loader = DataLoader(dataset, batch_size=global_batch // world, sampler=sampler)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            for p in model.parameters():
                dist.all_reduce(p.grad)
                p.grad /= world
            optimizer.step()
"""
_BROADCAST = "    for p in model.parameters():\n        dist.broadcast(p.data, src=0)\n"


def _train_rank(tmp_path, source, name):
    """``train_rank`` from a module ``name`` written to ``tmp_path``, importable by torchrun's ranks as my_ddp.py is."""
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.train_rank


def _replaced(old, new):
    assert _DDP_RIGHT.count(old) == 1, old
    return _DDP_RIGHT.replace(old, new)


@pytest.mark.parametrize(
    ("source", "feedback"),
    [
        (_replaced("        sampler.set_epoch(epoch)\n", ""), "every epoch met the samples in the same order"),
        (_replaced("sampler=sampler)", "shuffle=True)"), "orders are not the sampler's"),
        (_replaced("batch_size=global_batch // world", "batch_size=16"), "your batches held [8, 16] samples"),
        (_replaced("lr=lr)", "lr=lr, momentum=0.9)"), "away from plain SGD's"),
        (_replaced("    for epoch in range(epochs):", "    for epoch in range(1):"), "met 200 samples in 3 epochs"),
        (
            _replaced("    world = dist.get_world_size()", '    dist.init_process_group("gloo")\n    world = 1'),
            "do not make another",
        ),
        (
            _replaced("    sampler = Dist", "    model = torch.nn.parallel.DistributedDataParallel(model)\n    sampler = Dist"),
            "rebuilds",
        ),
        (_replaced("    world = dist.get_world_size()", "    world = dist.get_world_size()\n    return"), "never met a batch"),
    ],
    ids=[
        "no set_epoch",
        "the loader's own shuffle",
        "a batch of 16",
        "momentum",
        "one epoch",
        "a group of its own",
        "DDP",
        "no loop",
    ],
)
def test_check_ddp_by_hand_in_one_process(tmp_path, source, feedback, capsys):
    """What shows as rank 0 of 1, in a group of one in this process, is told before any torchrun starts."""
    assert not exercises.check_ddp_by_hand(_train_rank(tmp_path, source, "ddp_alone"), timeout=1)
    out = capsys.readouterr().out
    assert feedback in out and "\nHint: " in out, out
    assert not torch.distributed.is_initialized()  # the group of one is gone


def test_check_ddp_by_hand_wants_a_module_and_leaves_the_random_state(capsys):
    namespace = {"__name__": "__main__"}
    exec(textwrap.dedent(_DDP_RIGHT), namespace)  # as a notebook cell defines it
    state = torch.get_rng_state()
    assert not exercises.check_ddp_by_hand(namespace["train_rank"])
    assert "cannot import a function defined in the notebook" in capsys.readouterr().out
    assert torch.equal(torch.get_rng_state(), state)
    assert not exercises.check_ddp_by_hand(lambda *a: None)
    assert "still the stub" in capsys.readouterr().out


def _two_ranks(setup, weights, steps=None):
    """The driver's result for two ranks that ended with ``weights`` and met ``steps`` (one process's, split in two)."""
    _, one = nb06._one_process(setup)
    steps = steps or [[s[rank::2] for s in one] for rank in range(2)]
    return [
        {"yours": {"weights": w.tolist(), "steps": st}, "ddp": {"weights": w.tolist(), "steps": st}}
        for w, st in zip(weights, steps)
    ]


def test_what_two_ranks_did_wrong_is_named_from_their_weights_and_steps(monkeypatch):
    """The torchrun half's diagnosis, on results made in this process (the real runs: the next tests)."""
    monkeypatch.setattr(nb06, "_HINTED", set())
    setup = nb06._ddp_setup()
    truth, one = nb06._one_process(setup)
    start = [nb06._flat(s) for s in setup["start"]]
    assert nb06._ranks_problem(_two_ranks(setup, [truth, truth]), setup) is None
    apart = nb06._ranks_problem(_two_ranks(setup, [truth, truth - start[0] + start[1]]), setup)
    assert "as far apart as they started" in apart[0] and apart[1] == nb06._DDP_START
    drifted = nb06._ranks_problem(_two_ranks(setup, [truth, truth + 0.01 * torch.arange(len(truth))]), setup)
    assert "each took steps of its own" in drifted[0] and drifted[1] == nb06._DDP_AVERAGE
    whole = [[s for s in one], [s for s in one]]  # both ranks met every batch whole: 64 per step, the same samples
    assert "batches held [8, 64]" in nb06._ranks_problem(_two_ranks(setup, [truth, truth], whole), setup)[0]
    halves = [[s[: len(s) // 2] for s in one], [s[: len(s) // 2] for s in one]]  # the same half batch on both ranks
    assert "both met 100 of the same samples" in nb06._ranks_problem(_two_ranks(setup, [truth, truth], halves), setup)[0]
    doubled, _ = nb06._one_process(setup, lr_scale=2)
    assert "2 times as far" in nb06._ranks_problem(_two_ranks(setup, [doubled, doubled]), setup)[0]
    assert not nb06._ddp_verdict(_two_ranks(setup, [truth + 0.01, truth + 0.01]), setup)


def test_check_ddp_by_hand_under_real_torchrun(tmp_path, monkeypatch, capsys):
    """The solution's ranks end where one process does and where DistributedDataParallel's do; without the broadcast
    they end apart by their starts: the question first, the explanation when it comes back."""
    assert exercises.check_ddp_by_hand(_train_rank(tmp_path, _DDP_RIGHT, "ddp_right"))
    out = capsys.readouterr().out
    assert out.startswith("Correct!") and "from DistributedDataParallel's" in out, out
    monkeypatch.setattr(nb06, "_HINTED", set())
    no_broadcast = _train_rank(tmp_path, _replaced(_BROADCAST, ""), "ddp_no_broadcast")
    assert not exercises.check_ddp_by_hand(no_broadcast)
    first = capsys.readouterr().out
    assert "as far apart as they started" in first and "what did the ranks' models not share" in first, first
    assert not exercises.check_ddp_by_hand(no_broadcast)
    assert "dist.broadcast(p.data, src=0)" in capsys.readouterr().out
