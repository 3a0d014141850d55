"""Checkers of notebook 07_in_the_wild (flowerkit.exercises.nb07): each accepts a reference answer and rejects each
planted mistake with a hint, measured in real fork and spawn workers.

A student's class lives in a module next to the notebook; here each answer is written to a module in a temporary
folder on ``sys.path`` (spawn workers inherit the path), under a name of its own, and named to the checker.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import random
import shutil
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from flowerkit import exercises, wild
from flowerkit.access import OxfordFlowers102
from flowerkit.exercises import nb07
from flowerkit.load import build_cache
from flowerkit.wild import corrupt


@pytest.fixture(autouse=True)
def _hints_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test but the one about it sees full hints: the question-first step is per process, so order-dependent."""
    monkeypatch.setattr(nb07, "_HINTED", set(nb07._QUESTION_FIRST))


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """write(name, source): a module `name` the checker can import, in a folder on sys.path."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        sys.modules.pop(name, None)
        return name

    yield write


def _says(verdict, capsys) -> str:
    out = capsys.readouterr().out
    assert bool(verdict) == out.startswith("Correct!"), out
    if not verdict:
        assert out.startswith("Not yet: ") and "\nHint: " in out, out
    return out


# ---------------------------------------------------------------------------------------------- the hunts


@pytest.mark.parametrize(
    "checker, suspects, right",
    [(exercises.check_growth_cause, "GROWTH", "c"), (exercises.check_repeat_cause, "REPEAT", "d")],
)
def test_the_cause_questions_accept_one_letter_and_say_why_each_other_letter_is_wrong(checker, suspects, right, capsys) -> None:
    assert "no answer yet" in _says(checker(None), capsys)
    assert "not one of the suspects" in _says(checker("z"), capsys)
    for letter in set("abcd") - {right}:
        assert _says(checker(letter), capsys).startswith("Not yet")
    assert checker(f"({right.upper()})") and "Correct!" in capsys.readouterr().out
    assert checker([right]) and "Correct!" in capsys.readouterr().out  # one letter in a list is still one letter
    assert set(getattr(nb07, f"_{suspects}_SUSPECTS")) == set("abcd")


def test_the_two_cause_questions_have_different_answers() -> None:
    """A student who finds the first answer must not be able to reuse its letter (both were "b" once)."""
    right = [next(k for k, (ok, _, _) in table.items() if ok) for table in (nb07._GROWTH_SUSPECTS, nb07._REPEAT_SUSPECTS)]
    assert right[0] != right[1] and "b" not in right


def test_the_repeat_cause_names_torchs_default_generator_and_each_wrong_letter_points_at_evidence(capsys) -> None:
    """Section 7's dataset draws from its own torch.Generator: notebook 03's NumPy answer no longer fits."""
    right = _says(exercises.check_repeat_cause("d"), capsys)
    assert "default generator" in right and "torch.Generator" in right
    assert "torch.randint" in _says(exercises.check_repeat_cause("b"), capsys)  # no NumPy draw in __getitem__
    assert "initial_seed" in _says(exercises.check_repeat_cause("c"), capsys)  # the probe's seed: the default's


_MODULE_RNG = np.random.default_rng(0)  # source d: a generator at the top of the dataset's module


class _Draws(torch.utils.data.Dataset):
    """Draws one number per item from one of exercise 5's RANDOM_SOURCES, as its line there says."""

    def __init__(self, source: str) -> None:
        self.source, self.lazy = source, None
        self.g, self.r, self.rng = torch.Generator().manual_seed(0), random.Random(0), np.random.default_rng(0)

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> int:
        if self.source == "g" and self.lazy is None:
            self.lazy = np.random.default_rng(torch.utils.data.get_worker_info().seed)
        draws = {
            "a": lambda: torch.randint(10**6, (1,)),
            "b": lambda: self.rng.integers(10**6),
            "c": lambda: random.randint(0, 10**6),
            "d": lambda: _MODULE_RNG.integers(10**6),
            "e": lambda: np.random.randint(10**6),
            "f": lambda: torch.randint(10**6, (1,), generator=self.g),
            "g": lambda: self.lazy.integers(10**6),
            "h": lambda: self.r.randint(0, 10**6),
        }
        return int(draws[self.source]())


def test_the_repeating_sources_are_those_that_repeat_in_real_workers() -> None:
    """Exercise 5's answer, measured: two fork workers, two epochs; a source repeats when both workers draw alike."""
    repeats = set()
    for source in exercises.RANDOM_SOURCES:
        loader = DataLoader(_Draws(source), batch_size=2, num_workers=2, multiprocessing_context="fork", timeout=60)
        first, second = ([batch.tolist() for batch in loader] for _ in range(2))
        if first[0] == first[1]:
            assert first == second, source  # the same state in every worker, every epoch
            repeats.add(source)
    assert repeats == set(nb07._REPEATING_SOURCES)
    assert list(exercises.RANDOM_SOURCES) == sorted(exercises.RANDOM_SOURCES)


def test_the_repeating_sources_checker(capsys) -> None:
    right = _says(exercises.check_repeating_sources(set(nb07._REPEATING_SOURCES)), capsys)
    assert "PyTorch reseeds the three global generators" in right and "top of a module" in right
    one_right = _says(exercises.check_repeating_sources({nb07._REPEATING_SOURCES[0]}), capsys)
    one_wrong = _says(exercises.check_repeating_sources({"a"}), capsys)
    assert one_right == one_wrong, "a single pick, right or wrong, reads alike"
    two = _says(exercises.check_repeating_sources(set(nb07._REPEATING_SOURCES[:2])), capsys)
    assert "2 of the sources that repeat still at large" in two and "whoever holds it" in two
    cleared = _says(exercises.check_repeating_sources({*nb07._REPEATING_SOURCES, "e"}), capsys)
    assert "the evidence clears 'e'" in cleared and "NumPy column" in cleared
    assert "is not one of exercises.RANDOM_SOURCES" in _says(exercises.check_repeating_sources({"numpy"}), capsys)
    # letters as the cause questions take them, and as the notebook prints the sources: "(b)", in either case
    as_printed = {f"({letter.upper()})" if k % 2 else f" {letter.upper()} " for k, letter in enumerate(nb07._REPEATING_SOURCES)}
    assert _says(exercises.check_repeating_sources(as_printed), capsys).startswith("Correct!")
    assert _says(exercises.check_repeating_sources([s.upper() for s in nb07._REPEATING_SOURCES]), capsys).startswith("Correct!")
    assert _says(exercises.check_repeating_sources("(B)"), capsys) == one_right
    letters = "".join(nb07._REPEATING_SOURCES)  # the letters typed as one string, run together or listed
    for typed in (letters, ", ".join(letters), " ".join(letters.upper())):
        assert _says(exercises.check_repeating_sources(typed), capsys).startswith("Correct!"), typed
    assert "no answer yet" in _says(exercises.check_repeating_sources(...), capsys)


def _rss_mib(pid):
    """The resident size: shared pages counted too (what psutil's memory_info().rss reads)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(pid)


def _meter(read: str = "workers", end: str = "before", reader=None):
    """A worker memory meter for the checker: the reference, or one that reads this process or reads after the end.

    ``end="after, this process"``: the workers first, then, once the iterator has run out, ``os.getpid()``.
    """

    def meter(dataset, batch_size, shuffle=True):
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=2, multiprocessing_context="fork")
        before = set(mp.active_children())
        batches = iter(loader)
        pids = [p.pid for p in mp.active_children() if p not in before] if read == "workers" else [os.getpid()] * 2
        if read == "one worker twice":  # the first new child's pid, twice: worker 0's growth counted double
            pids = [p.pid for p in mp.active_children() if p not in before][:1] * 2
        if read == "the first children":  # no before/after: the two oldest children of this process, whatever they are
            pids = sorted(p.pid for p in mp.active_children())[:2]
        next(batches)
        mib = reader or wild.private_mib
        first = [mib(pid) for pid in pids]
        steps = {"before": len(loader) - 1, "early": len(loader) * 6 // 10 - 1}.get(end, len(loader))  # "after": runs out
        for _ in range(steps):  # "early": the last reading at 60% of the epoch
            next(batches, None)
        if end == "after, this process":
            pids = [os.getpid()] * 2
        return first, [mib(pid) for pid in pids]

    return meter


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="the meter reads fork workers")
def test_the_memory_meter_reads_the_workers_while_they_live(capsys) -> None:
    assert "192 MiB between them" in _says(exercises.check_memory_meter(_meter()), capsys)
    assert "had ended when you read it" in _says(exercises.check_memory_meter(_meter(end="after")), capsys)
    assert "read the workers" in _says(exercises.check_memory_meter(_meter(read="this process")), capsys)
    twice = _says(exercises.check_memory_meter(_meter(read="one worker twice")), capsys)  # passed on its doubled growth
    assert "all your readings are of one process" in twice and "counts twice" in twice, twice
    after = _says(exercises.check_memory_meter(_meter(end="after, this process")), capsys)  # the workers have exited
    assert "readings are of this process" in after and "read the workers" in after, after
    assert "returns None" in _says(exercises.check_memory_meter(lambda dataset, batch_size: None), capsys)
    assert "found no workers" in _says(exercises.check_memory_meter(lambda dataset, batch_size: ([], [])), capsys)
    pairs = exercises.check_memory_meter(lambda dataset, batch_size: [list(w) for w in zip(*_meter()(dataset, batch_size))])
    assert "one (first, last) pair per worker" in _says(pairs, capsys)
    assert "two lists of 2 numbers" in _says(exercises.check_memory_meter(lambda dataset, batch_size: ([1.0], [2.0])), capsys)
    assert "ZeroDivisionError" in _says(exercises.check_memory_meter(lambda dataset, batch_size: 1 / 0), capsys)
    oldest = _says(exercises.check_memory_meter(_meter(read="the first children")), capsys)  # the checker's idle child
    assert "not one of its workers" in oldest and "after iter(loader)" in oldest, oldest


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_meter_of_resident_size_or_of_bytes_is_named(capsys) -> None:
    """RSS counts the pages a fork worker shares: copy-on-write leaves it flat. Readings in bytes are no MiB."""
    rss = _says(exercises.check_memory_meter(_meter(reader=_rss_mib)), capsys)
    assert "resident size (RSS)" in rss and "wild.private_mib(pid)" in rss, rss
    in_bytes = _says(exercises.check_memory_meter(_meter(reader=lambda pid: wild.private_mib(pid) * 2**20)), capsys)
    assert "are no MiB" in in_bytes, in_bytes
    early = _says(exercises.check_memory_meter(_meter(end="early")), capsys)  # its growth alone (about 110 MiB) passed
    assert "before the epoch ended" in early and "of the epoch's 96 items" in early, early
    flowerkit_version = lambda dataset, batch_size: wild.measure_worker_memory(dataset, context="fork", batch_size=batch_size)[:2]  # noqa: E731
    assert "flowerkit version" in _says(exercises.check_memory_meter(flowerkit_version), capsys)


def test_the_pickled_size_is_measured_not_guessed(mini_root: Path, tmp_path: Path, capsys) -> None:
    cache = build_cache(OxfordFlowers102(mini_root, "val"), 32, folder=tmp_path, progress=False)
    old = wild.EagerMemmapCache(cache.path)
    truth = len(pickle.dumps(old))
    assert "no answer yet" in _says(exercises.check_pickled_size(None, old), capsys)
    assert "size of the Python object" in _says(exercises.check_pickled_size(sys.getsizeof(old), old), capsys)
    assert "not what pickle makes" in _says(exercises.check_pickled_size(cache.nbytes // 2, old), capsys)
    assert "not a number" in _says(exercises.check_pickled_size("big", old), capsys)
    assert "every image in the cache" in _says(exercises.check_pickled_size(truth, old), capsys)
    assert "every image in the cache" in _says(exercises.check_pickled_size(np.int64(truth), old), capsys)
    # the notebook's case: ten images of it, in a Subset, which keeps (and pickles) the whole dataset it picks from
    ten = torch.utils.data.Subset(old, range(10))
    assert "keeps the whole dataset" in _says(exercises.check_pickled_size(len(pickle.dumps(ten)), ten), capsys)
    assert "Correct!" in _says(exercises.check_pickled_size(len(pickle.dumps(ten, protocol=2)), ten), capsys)
    for protocol in (0, 1):  # pickle's output all the same, at a protocol the DataLoader does not use: say so
        old_format = _says(exercises.check_pickled_size(len(pickle.dumps(ten, protocol=protocol)), ten), capsys)
        assert f"at protocol {protocol}" in old_format and f"default protocol, {pickle.DEFAULT_PROTOCOL}" in old_format
        assert "not what pickle makes" not in old_format, old_format
    assert "inside the Subset" in _says(exercises.check_pickled_size(truth, ten), capsys)
    assert "about what 10 images hold" in _says(exercises.check_pickled_size(10 * 3 * 32 * 32, ten), capsys)
    assert "the size in MiB" in _says(exercises.check_pickled_size(truth / 2**20, old), capsys)
    assert "the size in KiB" in _says(exercises.check_pickled_size(truth / 1024, old), capsys)
    assert "the size in kB" in _says(exercises.check_pickled_size(truth / 1000, old), capsys)
    # an estimate within 1% is not a measurement: the cache's own size (07 prints it in MiB), or getsizeof of the pickle
    estimate = _says(exercises.check_pickled_size(cache.nbytes, old), capsys)
    assert "an estimate" in estimate and "pickle.dumps" not in estimate, "the hint names the idea, not the code"
    assert "an estimate" in _says(exercises.check_pickled_size(cache.nbytes / 2**20 * 2**20, old), capsys)
    assert "sys.getsizeof" in _says(exercises.check_pickled_size(sys.getsizeof(pickle.dumps(old)), old), capsys)
    assert "exactly 2 times" in _says(exercises.check_pickled_size(2 * truth, old), capsys)  # both workers' copies
    assert "exactly 2 times" in _says(exercises.check_pickled_size(2 * len(pickle.dumps(ten)), ten), capsys)
    assert "every image" in _says(exercises.check_pickled_size(len(pickle.dumps(old, protocol=4)), old), capsys)
    flood = _says(exercises.check_pickled_size(pickle.dumps(old), old), capsys)
    assert "the pickle itself" in flood and len(flood) < 500, "the bytes are never printed"


def test_the_bad_files_are_all_found(capsys) -> None:
    planted = {"image_00598.jpg": "zeros", "image_00671.jpg": "truncated"}
    assert "no answer yet" in _says(exercises.check_bad_files(None, planted), capsys)
    assert "1 of 2" in _says(exercises.check_bad_files(["image_00671.jpg"], planted), capsys)
    verified = _says(exercises.check_bad_files(["image_00598.jpg"], planted), capsys)  # Image.verify() finds the zeros only
    assert "1 of 2" in verified and "verify()" in verified and "decode every file in full" in verified, verified
    assert "decodes fine" in _says(exercises.check_bad_files([*planted, "image_00001.jpg"], planted), capsys)
    assert "not positions" in _says(exercises.check_bad_files([597, 670], planted), capsys)
    paths = [Path("/data/damaged/jpg") / name for name in planted]
    assert _says(exercises.check_bad_files(paths, planted), capsys).startswith("Correct! both")


def test_the_bad_files_checker_refuses_find_bad_images_report(mini_root: Path, tmp_path: Path, capsys) -> None:
    """Exercise 4 is the hunt before wild.find_bad_images is shown: a report of it, for the damaged folder, is refused."""
    damaged = wild.plant_bad_images(mini_root, "val", tmp_path / "damaged")
    files = OxfordFlowers102(damaged, "val").image_files
    by_hand = sorted(corrupt._planted(damaged, "val"))  # what a hunt by hand finds (the key, nothing recorded)
    assert _says(exercises.check_bad_files(by_hand, damaged), capsys).startswith("Correct! both")
    report = [bad.file for bad in wild.find_bad_images(files, num_workers=0, draft=32)]
    assert sorted(report) == by_hand
    refused = _says(exercises.check_bad_files(report, damaged), capsys)
    assert "wild.find_bad_images" in refused and "flowerkit version shown after this exercise" in refused, refused
    assert _says(exercises.check_bad_files(report[:1], damaged), capsys).startswith("Not yet: you found 1 of 2")
    elsewhere = wild.plant_bad_images(mini_root, "val", tmp_path / "another")  # a folder it has not scanned
    assert _says(exercises.check_bad_files(by_hand, elsewhere), capsys).startswith("Correct! both")
    shutil.rmtree(elsewhere)  # a scratch folder removed (a restart, a clean-up cell): say so, not a missing setid.mat
    gone = _says(exercises.check_bad_files(by_hand, elsewhere), capsys)
    assert "the damaged copy is gone" in gone and "plants the damaged copy" in gone, gone


def test_the_bad_files_checker_refuses_the_answer_key(mini_root: Path, tmp_path: Path, capsys) -> None:
    """The key the notebook shows after exercise 4 (wild.planted_damage), copied as the answer, is refused."""
    damaged = wild.plant_bad_images(mini_root, "val", tmp_path / "keyed")
    copied = list(wild.planted_damage(damaged, "val"))
    refused = _says(exercises.check_bad_files(copied, damaged), capsys)
    assert refused.startswith("Not yet") and "answer key" in refused and "\nHint: decode the items yourself" in refused


# ---------------------------------------------------------------------------------------------- skip, in plain PyTorch


class _Fragile(torch.utils.data.Dataset):
    """70 items (image, label); items 3 and 40 raise OSError, as PIL does on a truncated file."""

    def __len__(self) -> int:
        return 70

    def __getitem__(self, i: int):
        if i in (3, 40):
            raise OSError(f"image file is truncated ({i})")
        return torch.full((3, 2, 2), i, dtype=torch.uint8), i % 5


class _SkipUnreadable(torch.utils.data.Dataset):
    """The reference wrapper: item i, or None where loading it raises OSError."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int):
        try:
            return self.dataset[idx]
        except OSError:
            return None


class _StubWrapper(_SkipUnreadable):
    def __getitem__(self, idx): ...  # YOUR CODE


class _NoCatch(_SkipUnreadable):
    def __getitem__(self, idx):
        return self.dataset[idx]


class _NoneForAll(_SkipUnreadable):
    def __getitem__(self, idx):  # the item is never returned: None for every item
        try:
            self.dataset[idx]
        except OSError:
            return None


def _drop_none(batch):
    kept = [item for item in batch if item is not None]
    return torch.utils.data.default_collate(kept) if kept else None


def _drop_none_always_collates(batch):  # the reviewer's: a batch of failures only reaches default_collate([])
    return torch.utils.data.default_collate([item for item in batch if item is not None])


def _drop_none_empty(batch):  # flowerkit's choice: empty tensors for a batch with nothing left
    kept = [item for item in batch if item is not None]
    return torch.utils.data.default_collate(kept) if kept else (torch.empty(0), torch.empty(0, dtype=torch.int64))


def _drop_stub(batch): ...  # YOUR CODE


def test_the_skip_checker_accepts_a_wrapper_that_returns_none_and_a_collate_that_drops_it(capsys) -> None:
    out = _says(exercises.check_skip_unreadable(_SkipUnreadable, _drop_none, _Fragile()), capsys)
    assert "your loop saw 68 of 70 images" in out and "the 2 whose loading raised" in out, out
    out = _says(exercises.check_skip_unreadable(_SkipUnreadable, _drop_none_empty, _Fragile()), capsys)
    assert "Correct!" in out, out


@pytest.mark.parametrize(
    "wrapper, collate, feedback",
    [
        (_StubWrapper, _drop_none, "_StubWrapper.__getitem__ is still the stub"),
        (_SkipUnreadable, _drop_stub, "_drop_stub is still the stub"),
        (_NoCatch, _drop_none, "item 3 cannot be loaded; through your wrapper it raised OSError"),
        (_NoneForAll, _drop_none, "item 0 loads fine; through your wrapper it came back as None"),
        (_SkipUnreadable, torch.utils.data.default_collate, "your collate_fn raised TypeError"),
        (_SkipUnreadable, lambda batch: [item for item in batch if item is not None], "gave a list, not (images, labels)"),
        (_SkipUnreadable, lambda batch: _drop_none(batch[1:]), "kept 1 of the 2 items that load"),
        (_SkipUnreadable, lambda batch: _drop_none(batch[:-1]) if len(batch) > 3 else _drop_none(batch), "loop saw 65"),
        (wild.SkipAndLog, wild.collate_skipping, "the flowerkit version shown after this exercise"),
        (lambda dataset: 5, _drop_none, "whose len() is"),
        (_SkipUnreadable, _drop_none_always_collates, "both failed"),
    ],
    ids=[
        "wrapper stub",
        "collate stub",
        "error not caught",
        "None for every item",
        "default collate",
        "a list of items",
        "drops a good item beside the None",
        "drops the last item of each full batch",
        "the flowerkit version",
        "not a dataset",
        "a batch with nothing left",
    ],
)
def test_the_skip_checker_rejects_each_planted_mistake(capsys, wrapper, collate, feedback: str) -> None:
    assert feedback in _says(exercises.check_skip_unreadable(wrapper, collate, _Fragile()), capsys)


# ---------------------------------------------------------------------------------------------- captions

CAPTIONS_REFERENCE = """
    import numpy as np
    from torch.utils.data import Dataset


    class Captions(Dataset):
        def __init__(self, captions):
            encoded = [caption.encode() for caption in captions]
            self.starts = np.cumsum([0] + [len(b) for b in encoded], dtype=np.int64)
            self.blob = b"".join(encoded)

        def __len__(self):
            return len(self.starts) - 1

        def __getitem__(self, idx):
            return self.blob[self.starts[idx] : self.starts[idx + 1]]{decode}
"""
CAPTIONS_STUB = """
    from torch.utils.data import Dataset


    class Captions(Dataset):
        def __init__(self, captions):
            ...

        def __len__(self):
            ...

        def __getitem__(self, idx):
            ...
"""
CAPTIONS_OBJECTS = """
    import numpy as np
    from torch.utils.data import Dataset


    class Captions(Dataset):
        def __init__(self, captions):
            self.captions = np.array(captions, dtype=object)  # still one Python object per caption

        def __len__(self):
            return len(self.captions)

        def __getitem__(self, idx):
            return self.captions[idx]
"""


def test_the_caption_checker_accepts_a_blob_with_offsets(modules, capsys) -> None:
    name = modules("ref_captions", CAPTIONS_REFERENCE.format(decode=".decode()"))
    out = _says(exercises.check_caption_memory(name), capsys)
    assert out.startswith("Correct! each fork worker grew by") and "through 2 spawn workers" in out


@pytest.mark.parametrize(
    "source, feedback",
    [
        ("from flowerkit.wild import CaptionList as Captions\n", "still a Python object whose page the worker copies"),
        (CAPTIONS_OBJECTS, "still a Python object whose page the worker copies"),
    ],
    ids=["a list of str", "an object array"],
)
def test_the_caption_checker_measures_the_growth_of_per_caption_objects(modules, capsys, source: str, feedback: str) -> None:
    assert feedback in _says(exercises.check_caption_memory(modules("grown_captions", source)), capsys)


def test_the_caption_checker_rejects_a_python_list_of_offsets(modules, capsys) -> None:
    # a list of ints grows a worker too little to measure on 300,000 captions, but it is copy-on-read all the same
    as_list = CAPTIONS_REFERENCE.format(decode=".decode()").replace(
        "np.cumsum([0] + [len(b) for b in encoded], dtype=np.int64)", "np.cumsum([0] + [len(b) for b in encoded]).tolist()"
    )
    out = _says(exercises.check_caption_memory(modules("list_captions", as_list)), capsys)
    assert "a Python list of 301 int objects" in out and "copy-on-read" in out and "NumPy array" in out, out


def test_the_caption_checker_names_cheap_mistakes(modules, capsys) -> None:
    assert "no answer yet" in _says(exercises.check_caption_memory("no_such_module_here"), capsys)
    assert "still the stub" in _says(exercises.check_caption_memory(modules("stub_captions", CAPTIONS_STUB)), capsys)
    assert "decode it" in _says(
        exercises.check_caption_memory(modules("bytes_captions", CAPTIONS_REFERENCE.format(decode=""))), capsys
    )
    shifted = CAPTIONS_REFERENCE.format(decode=".decode()").replace("self.starts[idx + 1]]", "self.starts[idx + 1] - 1]")
    assert "item 0 is" in _says(exercises.check_caption_memory(modules("short_captions", shifted)), capsys)
    fixed_width = CAPTIONS_OBJECTS.replace("dtype=object)  # still one Python object per caption", ")  # fixed-width str")
    fixed_width = fixed_width.replace("return self.captions[idx]", "return str(self.captions[idx])")
    assert "pads every caption to the longest" in _says(
        exercises.check_caption_memory(modules("wide_captions", fixed_width)), capsys
    )
    encoded_width = CAPTIONS_OBJECTS.replace("captions, dtype=object)", "[c.encode() for c in captions])")
    encoded_width = encoded_width.replace("return self.captions[idx]", "return self.captions[idx].decode()")
    assert "pads every caption to the longest" in _says(  # bytes, not str: 1 byte a character, still padded
        exercises.check_caption_memory(modules("encoded_width_captions", encoded_width)), capsys
    )
    by_characters = CAPTIONS_REFERENCE.format(decode=".decode()").replace("len(b) for b in encoded", "len(c) for c in captions")
    assert "counted in bytes" in _says(exercises.check_caption_memory(modules("char_captions", by_characters)), capsys)
    assert "has no class Captions" in _says(exercises.check_caption_memory(modules("other_name", "X = 1\n")), capsys)
    # n offsets, not n + 1: the last item reads past the end; a __len__ that is not an int
    no_end = CAPTIONS_REFERENCE.format(decode=".decode()").replace("len(b) for b in encoded]", "len(b) for b in encoded][:-1]")
    no_end = no_end.replace("return len(self.starts) - 1", "return len(self.starts)")
    assert "keep n + 1 offsets" in _says(exercises.check_caption_memory(modules("no_end_captions", no_end)), capsys)
    float_len = CAPTIONS_REFERENCE.format(decode=".decode()").replace("len(self.starts) - 1", "len(self.starts) / 1")
    assert "len(dataset)" in _says(exercises.check_caption_memory(modules("float_len_captions", float_len)), capsys)
    assert "as a string" in _says(exercises.check_caption_memory(wild), capsys)


# ---------------------------------------------------------------------------------------------- zip archive

ZIP_REFERENCE = """
    import os
    import zipfile

    from torch.utils.data import Dataset


    class ZipImages(Dataset):
        def __init__(self, zip_path):
            self.zip_path = zip_path
            with zipfile.ZipFile(zip_path) as archive:
                self.names = sorted(archive.namelist())
            self._archive, self._pid = None, None

        def __getstate__(self):
            return {**self.__dict__, "_archive": None, "_pid": None}

        def __len__(self):
            return len(self.names)

        def __getitem__(self, idx):
            if self._archive is None or self._pid != {pid}:
                self._archive, self._pid = zipfile.ZipFile(self.zip_path), os.getpid()
            return self._archive.read(self.names[idx])
"""
ZIP_IN_MEMORY = """
    import zipfile

    from torch.utils.data import Dataset


    class ZipImages(Dataset):
        def __init__(self, zip_path):
            with zipfile.ZipFile(zip_path) as archive:
                self.names = sorted(archive.namelist())
                self.data = {name: archive.read(name) for name in self.names}  # the whole archive, by value

        def __len__(self):
            return len(self.names)

        def __getitem__(self, idx):
            return self.data[self.names[idx]]
"""


@pytest.fixture(scope="module")
def val_files(mini_root: Path) -> list[Path]:
    return OxfordFlowers102(mini_root, "val").image_files


def test_the_zip_checker_accepts_an_archive_opened_per_process(modules, capsys, val_files) -> None:
    name = modules("ref_zip", ZIP_REFERENCE.replace("{pid}", "os.getpid()"))
    out = _says(exercises.check_zip_per_worker(name, val_files), capsys)
    assert "byte for byte, through 2 spawn workers and 3 epochs of 2 fork workers" in out


@pytest.mark.parametrize(
    "source, feedback",
    [
        ("from flowerkit.wild import ZipImages\n", "cannot be pickled"),
        (ZIP_IN_MEMORY, "carries its data by value"),
        (ZIP_REFERENCE.replace("{pid}", "self._pid"), "through 2 fork workers"),
        (
            ZIP_REFERENCE.replace("{pid}", "os.getpid()").replace("sorted(archive.namelist())", "archive.namelist()"),
            "sorted by name",
        ),
    ],
    ids=["opened in __init__", "read into memory", "opened lazily but shared across fork", "names in the archive's order"],
)
def test_the_zip_checker_rejects_each_planted_mistake(modules, capsys, val_files, source: str, feedback: str) -> None:
    # the third one: after the parent read item 0, forked workers share its ZipFile; the checker reports the mixed
    # reads (BadZipFile, most epochs) or, when every read happened to come out right, the file position they moved
    assert feedback in _says(exercises.check_zip_per_worker(modules("bad_zip", source), val_files), capsys)


# ---------------------------------------------------------------------------------------------- MixUp partners

PARTNERS = """
    import os
    import time

    import numpy as np
    from torch.utils.data import Dataset, get_worker_info


    class MixupPartners(Dataset):
        def __init__(self, n, seed=0):
            self.n, self.seed, self.epoch = n, seed, 0
            self._rng, self._owner = None, "nobody yet"

        def set_epoch(self, epoch):
            self.epoch = epoch

        def __len__(self):
            return self.n

        def __getitem__(self, idx):
            {draw}
"""
PER_ITEM = "return idx, int(np.random.default_rng([self.seed, self.epoch, idx]).integers(self.n))"
PER_WORKER = """info = get_worker_info()
            owner = None if info is None else info.seed
            if owner != self._owner:
                self._rng = np.random.default_rng([self.seed] if info is None else [self.seed, info.seed])
                self._owner = owner
            return idx, int(self._rng.integers(self.n))"""
# torch's manual_seed takes one number: a hash of the three (a tuple of ints hashes alike in every process), not a sum
TORCH_PER_ITEM = """generator = torch.Generator().manual_seed(hash((self.seed, self.epoch, idx)))
            return idx, int(torch.randint(self.n, (1,), generator=generator))"""

# a partner table drawn in set_epoch from seed + epoch: a rerun with seed=1 replays seed 0's next epoch
TABLE_IN_SET_EPOCH = "return idx, int(np.random.default_rng(self.seed + self.epoch).integers(self.n, size=self.n)[idx])"


def _partners(draw: str) -> str:
    return PARTNERS.replace("{draw}", draw)


@pytest.mark.parametrize(
    "draw", [PER_ITEM, "import torch\n            " + TORCH_PER_ITEM], ids=["numpy per item", "torch per item"]
)
def test_the_partner_checker_accepts_a_partner_decided_by_seed_epoch_and_item(modules, capsys, draw: str) -> None:
    out = _says(exercises.check_mixup_partners(modules("ref_partners", _partners(draw))), capsys)
    assert "every item kept its partner whoever read it" in out


@pytest.mark.parametrize(
    "source, feedback",
    [
        ("from flowerkit.wild import MixupPartners\n", "MixupPartners has no set_epoch"),
        (_partners("return idx, idx % 3"), "not random"),
        (_partners("return idx, (idx + 1 + 7 * self.seed + 13 * self.epoch) % self.n"), "a shift, not a random draw"),
        (_partners(PER_WORKER), "each partner depends on the draws before it"),
        (_partners(PER_ITEM.replace("self.epoch, ", "")), "kept their partner of epoch 0"),
        (_partners(PER_ITEM.replace("[self.seed, ", "[")), "seed=1 gives the same partners"),
        (_partners(PER_ITEM.replace("[self.seed, self.epoch, idx]", "self.seed + self.epoch + idx")), "moved by one item"),
        (_partners(PER_ITEM.replace("self.epoch, idx]", "self.epoch + idx]")), "after set_epoch(1) the partners are"),
        (_partners(TABLE_IN_SET_EPOCH), "seed=1's partners in epoch 0 are seed=0's of epoch 1 item for item"),
        (
            _partners(PER_ITEM.replace("[self.seed, self.epoch, idx]", "self.seed * 1_000_000 + self.epoch * 100 + idx")),
            "after set_epoch(1) the partners are epoch 0's moved along by 100 items",
        ),
        (
            _partners(PER_ITEM.replace("[self.seed, self.epoch, idx]", "self.seed * 1_000_000 + self.epoch * 10_000 + idx")),
            "epoch 1's partner of item i is seed 0's epoch-0 partner of item i + 10,000",
        ),
        (
            _partners("return idx, (idx**3 + 17 * self.seed + 31 * self.epoch) % self.n"),
            "adds a constant to a formula instead of drawing",
        ),
        (
            _partners(PER_ITEM.replace("self.epoch, idx", "self.epoch, idx, 0 if get_worker_info() is None else 1")),
            "through 2 fork workers, item 0 got partner",
        ),
        (_partners(PER_ITEM.replace("return idx, ", "return ")), "item i should be (i, partner)"),
        (PARTNERS.replace("{draw}", "...").replace("return self.n", "..."), "still the stub"),
    ],
    ids=[
        "generator made in __init__",
        "all the same",
        "a fixed shift",
        "generator per worker",
        "epoch ignored",
        "seed ignored",
        "seed, epoch and item summed",
        "epoch and item summed",
        "a table drawn from seed + epoch",
        "epoch scaled by 100, plus the item",
        "epoch scaled by 10,000, plus the item",
        "a formula, no draw",
        "depends on the worker",
        "partner only",
        "stub",
    ],
)
def test_the_partner_checker_rejects_each_planted_mistake(modules, capsys, source: str, feedback: str) -> None:
    assert feedback in _says(exercises.check_mixup_partners(modules("bad_partners", source)), capsys)


# ---------------------------------------------------------------------------------------------- a second student pass

EPOCH_IN_MODULE = """
    import numpy as np
    from torch.utils.data import Dataset

    EPOCH = 0


    class MixupPartners(Dataset):
        def __init__(self, n, seed=0):
            self.n, self.seed = n, seed

        def set_epoch(self, epoch):
            global EPOCH
            EPOCH = epoch  # a spawn worker imports the module afresh: there it is 0 again

        def __len__(self):
            return self.n

        def __getitem__(self, idx):
            return idx, int(np.random.default_rng([self.seed, EPOCH, idx]).integers(self.n))
"""


def test_an_epoch_kept_outside_the_dataset_is_refused_through_spawn(modules, capsys) -> None:
    out = _says(exercises.check_mixup_partners(modules("global_epoch_partners", EPOCH_IN_MODULE)), capsys)
    assert "every item got its epoch-0 partner" in out and "keep it in self.epoch" in out, out


def test_the_module_checkers_name_a_file_name_and_a_notebook_class(capsys) -> None:
    assert "pass 'my_captions'" in _says(exercises.check_caption_memory("my_captions.py"), capsys)
    assert "cannot reach spawn workers" in _says(exercises.check_caption_memory("__main__"), capsys)


def test_the_caption_checker_finds_a_list_of_offsets_one_level_down(modules, capsys) -> None:
    nested = CAPTIONS_REFERENCE.format(decode=".decode()").replace(
        "np.cumsum([0] + [len(b) for b in encoded], dtype=np.int64)", "np.cumsum([0] + [len(b) for b in encoded]).tolist()"
    )
    nested = nested.replace("self.starts = ", "self.index = {'starts': ").replace(".tolist()", ".tolist()}")
    nested = nested.replace("self.starts", "self.index['starts']")
    assert "self.index = {'starts'" in nested
    out = _says(exercises.check_caption_memory(modules("nested_list_captions", nested)), capsys)
    assert "`index['starts']`, a Python list" in out, out


def test_the_zip_checker_accepts_metadata_kept_in_the_pickle(modules, capsys, val_files) -> None:
    """ZipInfo objects for 400 files pickle to tens of KiB: names and offsets, not the archive's megabytes."""
    infos = ZIP_REFERENCE.replace("{pid}", "os.getpid()").replace(
        "self.names = sorted(archive.namelist())", "self.infos = sorted(archive.infolist(), key=lambda i: i.filename)"
    )
    infos = infos.replace("len(self.names)", "len(self.infos)").replace("read(self.names[idx])", "read(self.infos[idx])")
    out = _says(exercises.check_zip_per_worker(modules("infos_zip", infos), val_files), capsys)
    assert "byte for byte" in out, out


def test_the_skip_checker_names_labels_left_a_list(capsys) -> None:
    def labels_listed(batch):
        kept = [item for item in batch if item is not None]
        return torch.stack([image for image, _ in kept]), [label for _, label in kept]

    out = _says(exercises.check_skip_unreadable(_SkipUnreadable, labels_listed, _Fragile()), capsys)
    assert "the labels should be a tensor too" in out, out


def test_an_object_array_of_captions_is_told_it_still_holds_a_str_per_caption() -> None:
    """The hint for a growth that an array of dtype=object leaves: one pointer per caption, each to a str."""
    as_objects = SimpleNamespace(captions=np.array(["a rose", "a tulip"], dtype=object))
    as_bytes = SimpleNamespace(text=np.frombuffer(b"a rosea tulip", dtype=np.uint8), ends=np.array([6, 13]))
    assert nb07._holds_object_array(as_objects) and not nb07._holds_object_array(as_bytes)
    assert "dtype=object" in nb07._OBJECT_ARRAY_HINT and "numbers or bytes" in nb07._OBJECT_ARRAY_HINT


def test_the_zip_and_partner_hints_ask_before_they_tell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nb07, "_HINTED", set())
    first, second = nb07._asked_first(nb07._OWN_ZIP), nb07._asked_first(nb07._OWN_ZIP)
    assert "which process opened" in first and "getpid" not in first and second == nb07._OWN_ZIP
    assert "what may an item's partner depend on" in nb07._asked_first(nb07._PER_ITEM_HINT)
    assert nb07._asked_first("another hint") == "another hint"
