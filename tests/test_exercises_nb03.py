"""Checkers of notebook 03_load (flowerkit.exercises.nb03): the meter, the bugs ranked by cost, collate_fn, samplers, seeding, streams, the loader."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import torch
import torch.utils.data
from torch.utils.data import (
    DataLoader,
    IterableDataset,
    RandomSampler,
    Subset,
    SubsetRandomSampler,
    WeightedRandomSampler,
    get_worker_info,
)

from flowerkit import OxfordFlowers102, exercises, load, sampling, transform
from flowerkit.exercises import nb03
from flowerkit.facts import IMAGENET_MEAN, IMAGENET_STD, cpu_count
from flowerkit.load import CollateNormalize, DecodedFlowers, build_cache

STAGE_MS = {  # milliseconds per image, as notebook 03's time_stages measures the Efficiency team's loader
    "sampler": 0.02,
    "fetch: read + decode": 3.0,
    "fetch: resize + crop": 2.0,
    "fetch: to tensor + normalise": 0.6,
    "collate": 0.1,
}


RIGHT = ["full decode every epoch", "per-image conversion", "batch size 1"]  # 5.00, 0.60, 0.12 ms per image


@pytest.mark.parametrize(
    "answer, stage_ms, feedback",
    [
        (RIGHT, STAGE_MS, "full decode every epoch 5.00, per-image conversion 0.60, batch size 1 0.12."),
        (tuple(RIGHT), STAGE_MS, "Correct"),
        # the longest single bar's name alone is not a ranking
        ("full decode every epoch", STAGE_MS, "a ranking is a list"),
        ({"full decode every epoch"}, STAGE_MS, "a set: rank the suspicions in a list"),
        # a mistake, but one no bar charges: workers run the same stages elsewhere
        ([*RIGHT, "no workers"], STAGE_MS, "the evidence clears 'no workers'"),
        # a bar, but no mistake: augmentation belongs in training
        (["full decode every epoch", "random shift and flip", *RIGHT[1:]], STAGE_MS, "would a correct training pipeline"),
        ([*RIGHT, "shuffled order"], STAGE_MS, "because the order is random"),
        # every suspicion at once, or two wrong picks: one message that names none
        (["full decode every epoch", "no workers", "shuffled order", *RIGHT[1:]], STAGE_MS, "a pick may be cleared"),
        (["full decode every epoch"], STAGE_MS, "a pick may be cleared"),
        # two right picks and nothing wrong: one still at large, which one unsaid
        (RIGHT[:2], STAGE_MS, "1 of the suspicions still at large"),
        (["per-image conversion", "full decode every epoch", "batch size 1"], STAGE_MS, "charge 'full decode"),
        (["full decode every epoch", "batch size 1", "per-image conversion"], STAGE_MS, "the to-tensor"),
        (["decoding", "per-image conversion", "batch size 1"], STAGE_MS, "['decoding'] is not one of"),
        ([*RIGHT, "batch size 1"], STAGE_MS, "appears twice"),
        ({"full decode every epoch": 1}, STAGE_MS, "a dict"),
        ([RIGHT[0], 3], STAGE_MS, "a ranking is a list of names"),
        (..., STAGE_MS, "no answer yet"),
        ([], STAGE_MS, "no answer yet"),
        # the decode alone is not the longest bar here; charged with the resize it causes, it still costs the most
        (RIGHT, {**STAGE_MS, "fetch: read + decode": 1.0, "fetch: to tensor + normalise": 2.5}, "Correct"),
        # within 15%: a close call either way
        (["per-image conversion", *RIGHT[:1], *RIGHT[2:]], {**STAGE_MS, "fetch: to tensor + normalise": 4.5}, "Correct"),
        # augmentation is ours too: a long shift-and-flip bar is charged to no decision
        (RIGHT, {**STAGE_MS, "fetch: shift + flip": 9.0}, "of the 14.72 you measured"),
        # sampler and collate tiny, conversion close to them: within 0.01 ms, either order
        (
            RIGHT[::2] + RIGHT[1:2],
            {**STAGE_MS, "sampler": 0.002, "collate": 0.003, "fetch: to tensor + normalise": 0.01},
            "Correct",
        ),
    ],
)
def test_check_bug_ranking_feedback(answer, stage_ms, feedback, capsys):
    ok = exercises.check_bug_ranking(answer, stage_ms)
    out = capsys.readouterr().out
    assert feedback in out, out
    assert ok == out.startswith("Correct!")
    assert ok == (feedback == "Correct" or "you measured" in feedback or "5.00" in feedback)


def test_check_bug_ranking_names_a_stage_it_does_not_know_and_reads_pairs(capsys):
    assert not exercises.check_bug_ranking(RIGHT, {**STAGE_MS, "model step": 3.0})  # a verdict, not a traceback
    out = capsys.readouterr().out
    assert "['model step']" in out and "rerun the time_stages cell unchanged" in out, out
    assert exercises.check_bug_ranking(RIGHT, list(STAGE_MS.items())), "(stage, ms) pairs are the same timing"
    assert not exercises.check_bug_ranking(RIGHT, 5.0)
    assert "not the stage timing" in capsys.readouterr().out
    with pytest.raises(ValueError, match="'model step'"):  # the package's own helper still refuses what it cannot charge
        nb03._cost_per_bug({**STAGE_MS, "model step": 3.0})


def _uint8_items(n=70, size=8):
    g = torch.Generator().manual_seed(0)
    return [(torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g), k % 5) for k in range(n)]


MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
M, S = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)


def _stack(batch):  # (B, S, S, 3) uint8 tensor, int64 labels: one stack of the decoder's arrays
    return torch.from_numpy(np.stack([array for array, _ in batch])), torch.tensor([label for _, label in batch])


def _labels(batch):
    return torch.tensor([label for _, label in batch])


def _collate(batch):  # the reference answer
    return (_stack(batch)[0].permute(0, 3, 1, 2).float() / 255 - M) / S, _labels(batch)


def _numpy_first(batch):  # an alternative: normalise channels last in NumPy (float32), then one permute, contiguous
    x = np.stack([array for array, _ in batch]).astype(np.float32) / 255
    x = (x - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.as_tensor([label for _, label in batch])


def _channels_last_format(batch):  # an alternative: per-item views, one stack, channels_last memory format
    x = torch.stack([torch.as_tensor(array).permute(2, 0, 1) for array, _ in batch])
    x = x.to(memory_format=torch.channels_last).float().div(255).sub(M).div(S)
    return x, _labels(batch)


def _per_item_torch(batch):  # the Efficiency team's way, on the decoder's arrays
    floats = [torch.from_numpy(array).permute(2, 0, 1).float() / 255 for array, _ in batch]
    return (torch.stack(floats) - M) / S, _labels(batch)


def _per_item_numpy(batch):
    floats = np.stack([array.astype(np.float32) / 255 for array, _ in batch])
    return (torch.from_numpy(floats).permute(0, 3, 1, 2) - M) / S, _labels(batch)


def _per_item_numpy_as(name):
    def collate(batch):  # np.asarray(array, dtype=np.float32) per image, looked up as a student's code does: a plain ndarray
        floats = np.stack([getattr(np, name)(array, dtype=np.float32) for array, _ in batch]) / 255
        return (torch.from_numpy(floats).permute(0, 3, 1, 2) - M) / S, _labels(batch)

    return collate


def _uint8_mean(batch):  # the mean subtracted in uint8 pixel levels before converting: wraps below the mean
    x = _stack(batch)[0].permute(0, 3, 1, 2)
    levels = (torch.tensor(MEAN) * 255).round().to(torch.uint8).view(1, 3, 1, 1)
    return (x - levels).float() / 255 / S, _labels(batch)


def _float64(batch):  # NumPy arithmetic: float64
    x = (np.stack([array for array, _ in batch]) / 255 - np.array(MEAN)) / np.array(STD)
    return torch.from_numpy(x).permute(0, 3, 1, 2), _labels(batch)


@pytest.mark.timed
@pytest.mark.parametrize(
    "func, feedback",
    [
        (_collate, "Correct"),
        (_numpy_first, "Correct"),
        (_channels_last_format, "Correct"),
        (lambda b: (_collate(b)[0].contiguous(), _labels(b)), "Correct"),
        (lambda b: None, "still the stub"),
        (lambda b: _collate(b)[0], "return a pair"),
        (lambda b: ([array for array, _ in b], _labels(b)), "one tensor of shape"),
        (lambda b: (_collate(b)[0].numpy(), _labels(b)), "a NumPy array"),
        (lambda b: ((_stack(b)[0].float() / 255 - M.view(3)) / S.view(3), _labels(b)), "still channels last"),
        (lambda b: ((_stack(b)[0].reshape(-1, 3, 8, 8).float() / 255 - M) / S, _labels(b)), "wrong places"),
        (lambda b: ((_stack(b)[0].view(-1, 3, 8, 8).float() / 255 - M) / S, _labels(b)), "wrong places"),
        (lambda b: ((_stack(b)[0].permute(0, 3, 2, 1).float() / 255 - M) / S, _labels(b)), "transposed"),
        (lambda b: (_stack(b)[0].permute(0, 3, 1, 2), _labels(b)), "still uint8"),
        (_float64, "dtype torch.float64"),
        (lambda b: (_collate(b)[0].half(), _labels(b)), "dtype torch.float16"),
        (lambda b: ((_stack(b)[0].permute(0, 3, 1, 2).float() - 127) / 50, _labels(b)), "differ from per-sample"),
        (lambda b: (_stack(b)[0].permute(0, 3, 1, 2).float() / 255, _labels(b)), "differ from per-sample"),
        (lambda b: (_stack(b)[0].permute(0, 3, 1, 2).float() * 2, _labels(b)), "without scaling to [0, 1]"),
        (_uint8_mean, "wrapped around"),
        (lambda b: (_collate(b)[0], [label for _, label in b]), "got a list"),
        (lambda b: (_collate(b)[0], _labels(b).int()), "got a torch.int32 tensor"),
        (lambda b: (_collate(b)[0], torch.from_numpy(np.array([label for _, label in b], dtype=np.int32))), "int64 tensor"),
        (lambda b: (_collate(b)[0], _labels(b).flip(0)), "do not match"),
        (lambda b: 1 / 0, "ZeroDivisionError"),
        (lambda b: _collate(b[0]), "ValueError"),
        # mean and std as (3,) tensors on a (B, 3, S, S) batch: they meet the last axis, not the channels
        (lambda b: ((_stack(b)[0].permute(0, 3, 1, 2).float() / 255 - M.view(3)) / S.view(3), _labels(b)), "(1, 3, 1, 1)"),
        (lambda b: ((_float64(b)[0].numpy() - np.array(MEAN)) / np.array(STD), _labels(b)), "(1, 3, 1, 1)"),
        (_per_item_torch, "converted to float on its own"),
        (_per_item_numpy, "converted to float on its own"),
        (_per_item_numpy_as("asarray"), "converted to float on its own"),  # a plain ndarray: watched at the call
        (_per_item_numpy_as("array"), "converted to float on its own"),
        (lambda b: nb03._per_item_hwc_collate(b, MEAN, STD), "converted to float on its own"),
        # the flowerkit versions, shown above the exercise: refused
        (
            lambda b: load.CollateNormalize(MEAN, STD)([(torch.from_numpy(a).permute(2, 0, 1), y) for a, y in b]),
            "CollateNormalize",
        ),
        (lambda b: (transform.normalize_batch(_stack(b)[0].permute(0, 3, 1, 2), MEAN, STD), _labels(b)), "normalize_batch"),
    ],
)
def test_check_collate_feedback(func, feedback, capsys):
    ok = exercises.check_collate(func, _uint8_items(), MEAN, STD)
    out = capsys.readouterr().out
    assert feedback in out, out
    assert ok == (feedback == "Correct")
    if ok:
        assert "converting each image on its own (the same arrays" in out, "timed against per-item work on the same input"
        gap = float(out.split("agrees with yours to ")[1].split(".\n")[0].rstrip("."))
        assert "load.CollateNormalize(mean, std)" in out and gap < 1e-5, "the flowerkit version, built beside it, agrees"


@pytest.mark.timed
@pytest.mark.parametrize("func, copy_note", [(_collate, True), (_channels_last_format, True), (_numpy_first, False)])
def test_check_collate_times_a_channels_last_view_against_a_copied_batch(func, copy_note, capsys):
    assert exercises.check_collate(func, _uint8_items(), MEAN, STD)
    out = capsys.readouterr().out
    assert ("with .contiguous() on the uint8 batch" in out) == copy_note, out


def test_check_collate_hands_over_what_a_jpeg_decoder_returns():
    seen = []
    exercises.check_collate(lambda b: seen.append(b), _uint8_items(), MEAN, STD)
    (batch,) = seen
    array, label = batch[0]
    assert len(batch) == 64 and type(array) is np.ndarray and type(label) is int
    assert array.shape == (8, 8, 3) and array.dtype == np.uint8 and array.flags.c_contiguous
    image, _ = _uint8_items()[0]
    assert np.array_equal(array[2, 5], image[:, 2, 5].numpy()), "pixel (row 2, column 5): its three channels"


def _weighted(weights_of, **kw):
    def make(labels, seed):
        y = torch.tensor(labels)
        return WeightedRandomSampler(weights_of(y), len(y), generator=torch.Generator().manual_seed(seed), **kw)

    return make


def _global_seed(labels, seed):
    """Seeds torch's global generator, then builds an unseeded sampler: its draws depend on whatever drew in between."""
    torch.manual_seed(seed)
    return exercises_unseeded(labels)


IMBALANCED = [0] * 40 + [1] * 10 + [2] * 25 + [3] * 5


@pytest.mark.parametrize(
    "func, feedback",
    [
        (_weighted(lambda y: 1 / torch_bincount(y)[y]), "Correct"),
        (lambda labels, seed: None, "still the stub"),
        (lambda labels, seed: 42, "yields indices"),
        (lambda labels, seed: [], "yields no index"),
        (lambda labels, seed: [len(labels)], "indices outside"),
        (_weighted(lambda y: 1 / torch_bincount(y)), "one weight per class"),
        (_weighted(lambda y: 1 / torch_bincount(y)[y], replacement=False), "a shuffle"),
        (_weighted(lambda y: torch_bincount(y)[y]), "large classes are still drawn more"),
        (_weighted(lambda y: 1 / torch_bincount(y)[y] ** 2), "overcorrected"),
        (lambda labels, seed: exercises_unseeded(labels), "same seed gave different draws"),
        (lambda labels, seed: _weighted(lambda y: 1 / torch_bincount(y)[y])(labels, 0), "seed is not used"),
        (_global_seed, "once something else used torch's random numbers"),
        (lambda labels, seed: 1 / 0, "ZeroDivisionError"),
        (lambda labels, seed: sampling.balanced_sampler(labels, seed=seed), "sampling.balanced_sampler"),
    ],
)
def test_check_balanced_sampler_feedback(func, feedback, capsys):
    ok = exercises.check_balanced_sampler(func, IMBALANCED)
    assert feedback in capsys.readouterr().out
    assert ok == (feedback == "Correct")


def torch_bincount(y):
    return torch.bincount(y).double()


MILD = [k for k, size in enumerate((10, 15, 20, 25, 30)) for _ in range(size)]  # 3:1, as mini's test split


def _once(labels, seed):
    """A generator: right weights, seeded, but used up after one epoch."""
    y = torch.tensor(labels)
    yield from torch.multinomial(1 / torch_bincount(y)[y], len(y), True, generator=torch.Generator().manual_seed(seed)).tolist()


def _endless(labels, seed):
    class Endless:
        def __iter__(self):
            while True:
                yield 0

    return Endless()


def _without_replacement(labels, seed):
    y = torch.tensor(labels)
    g = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(1 / torch_bincount(y)[y], len(y) // 2, replacement=False, generator=g)


@pytest.mark.parametrize(
    "func, feedback",
    [
        (_weighted(lambda y: 1 / torch_bincount(y)[y]), "Correct"),
        # half-balanced (weights count**-0.5): within 1.35x of the mean on mild imbalance, yet drawn in step with size
        (_weighted(lambda y: torch_bincount(y)[y] ** -0.5), "large classes are still drawn more often"),
        (_weighted(lambda y: torch_bincount(y)[y] ** -0.75), "large classes are still drawn more often"),
        (_weighted(lambda y: torch_bincount(y)[y] ** -1.25), "overcorrected"),
        (_without_replacement, "without replacement"),
        (_once, "iterated a second time"),
        (lambda labels, seed: iter(_weighted(lambda y: 1 / torch_bincount(y)[y])(labels, seed)), "iterated a second time"),
        (lambda labels, seed: list(_weighted(lambda y: 1 / torch_bincount(y)[y])(labels, seed)), "the very same 100 indices"),
        (_endless, "had not ended"),
        (lambda labels, seed: ["a", "b"], "iterating over your sampler: ValueError"),
    ],
)
def test_check_balanced_sampler_on_mild_imbalance(func, feedback, capsys):
    """Mild imbalance (3:1) hides a partial correction from a max/mean test; a one-pass iterable must not hang the checker."""
    ok = exercises.check_balanced_sampler(func, MILD)
    out = capsys.readouterr().out
    assert feedback in out, out
    assert ok == (feedback == "Correct")
    assert "Hint: " in out or ok


def exercises_unseeded(labels):
    y = torch.tensor(labels)
    return WeightedRandomSampler(1 / torch_bincount(y)[y], len(y))


def _stream(iter_body):
    class Stream(IterableDataset):
        def __init__(self, items):
            self.items = list(items)

        def __iter__(self):
            return iter_body(self.items)

    return Stream


class _ShareInInit(IterableDataset):
    """Asks for the worker in __init__: a DataLoader builds the dataset in the main process, so every worker reads all."""

    def __init__(self, items):
        info = torch.utils.data.get_worker_info()
        self.items = list(items) if info is None else list(items)[info.id :: info.num_workers]

    def __iter__(self):
        return iter(self.items)


def _share(items, how):
    info = torch.utils.data.get_worker_info()
    return iter(items if info is None else how(items, info.id, info.num_workers))


@pytest.mark.parametrize(
    "cls, feedback",
    [
        (_stream(lambda items: _share(items, lambda it, k, n: it[k::n])), "Correct"),
        (_stream(lambda items: None), "still the stub"),
        (_stream(lambda items: iter(items)), "every sample arrives 2 times"),
        (
            _stream(lambda items: _share(items, lambda it, k, n: it[k * (len(it) // n) : (k + 1) * (len(it) // n)])),
            "leave items out",
        ),
        (
            _stream(lambda items: _share(items, lambda it, k, n: it[k * -(-len(it) // n) : (k + 1) * -(-len(it) // n) + 2])),
            "more than one worker",
        ),
        (_stream(lambda items: iter(items[: len(items) // 2])), "expected all 23"),
        (_stream(lambda items: iter(items[torch_worker().id :: 2])), "get_worker_info() returns None"),
        (list, "derived from IterableDataset"),
        # a list is iterable, but not an iterator: a DataLoader's iter(dataset) raises
        (_stream(lambda items: items), "returns a list, not an iterator"),
        (_stream(lambda items: iter(items) if torch_worker() is None else items[torch_worker().id :: 2]), "not an iterator"),
        (_ShareInInit, "__init__ runs in the main process"),
        # the flowerkit versions, shown above the exercise: refused
        (_stream(lambda items: iter(sampling.ShardedStream(items))), "sampling.ShardedStream"),
        (_stream(lambda items: iter(sampling.worker_share(items))), "sampling.ShardedStream"),
        (type("Sub", (sampling.ShardedStream,), {}), "sampling.ShardedStream"),
    ],
)
def test_check_sharded_stream_feedback(cls, feedback, capsys):
    ok = exercises.check_sharded_stream(cls)
    assert feedback in capsys.readouterr().out
    assert ok == (feedback == "Correct")


class _StreamWithNamedImport(IterableDataset):
    """Calls ``get_worker_info`` through a name bound at module level, as a class in a notebook cell would."""

    def __init__(self, items):
        self.items = list(items)

    def __iter__(self):
        info = get_worker_info()
        yield from self.items if info is None else self.items[info.id :: info.num_workers]


def test_check_sharded_stream_patches_a_get_worker_info_imported_by_name(capsys):
    assert exercises.check_sharded_stream(_StreamWithNamedImport), capsys.readouterr().out
    assert globals()["get_worker_info"] is torch.utils.data.get_worker_info, "the module's name is restored"


def torch_worker():
    return torch.utils.data.get_worker_info()


NORMALISE = {"collate_fn": CollateNormalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))}


@pytest.mark.filterwarnings("ignore:This DataLoader will create")  # the crowded loader below: PyTorch's own warning
def test_check_train_loader_feedback(mini_root, capsys):
    ds = DecodedFlowers(mini_root, "val", 8)
    settings = {"batch_size": 64, "shuffle": True, "num_workers": 2, "persistent_workers": True}
    good = lambda d: DataLoader(d, **settings, generator=torch.Generator().manual_seed(0), **NORMALISE)  # noqa: E731
    assert exercises.check_train_loader(good, ds)
    said = capsys.readouterr().out  # the flowerkit version, built beside the student's, agrees setting by setting
    assert (
        "load.make_loader(ds, shuffle=True, batch_size=64, num_workers=2) (sampler, batch size, workers, pinning: the same)"
        in said
    )
    assert not exercises.check_train_loader(lambda d: DataLoader(d, batch_size=1), ds)
    out = capsys.readouterr().out
    assert "does not shuffle" in out and "batch_size=1" in out and "num_workers=0" in out and "torch.uint8" in out
    no_persist = lambda d: DataLoader(d, batch_size=64, shuffle=True, num_workers=2, generator=torch.Generator(), **NORMALISE)  # noqa: E731
    assert not exercises.check_train_loader(no_persist, ds)
    assert "persistent_workers=False" in capsys.readouterr().out
    scaled_only = lambda d: DataLoader(  # noqa: E731
        d, **settings, generator=torch.Generator(), collate_fn=lambda b: (torch.stack([i for i, _ in b]).float() / 255, None)
    )
    assert not exercises.check_train_loader(scaled_only, ds)
    assert "unnormalised" in capsys.readouterr().out
    sampler_seeded = lambda d: DataLoader(  # noqa: E731
        d,
        batch_size=64,
        sampler=RandomSampler(d, generator=torch.Generator().manual_seed(0)),
        num_workers=2,
        persistent_workers=True,
        **NORMALISE,
    )
    assert not exercises.check_train_loader(sampler_seeded, ds), "the workers' seeds come from the DataLoader's generator"
    assert "workers draw their seeds from the DataLoader's" in capsys.readouterr().out
    copied = lambda d: load.make_loader(d, batch_size=64, shuffle=True, num_workers=2, mean=(0.5,) * 3, std=(0.25,) * 3)  # noqa: E731
    assert not exercises.check_train_loader(copied, ds), "the exercise builds the DataLoader itself"
    assert "calls load.make_loader" in capsys.readouterr().out
    assert load.make_loader is not None and load.make_loader.__name__ == "make_loader", "restored after the check"
    crowd = 2 * cpu_count() + 9  # beyond max(2 x cores, 8): more than any laptop wants
    crowded = lambda d: DataLoader(d, **{**settings, "num_workers": crowd}, generator=torch.Generator(), **NORMALISE)  # noqa: E731
    assert not exercises.check_train_loader(crowded, ds)
    assert f"num_workers={crowd} on a machine with" in capsys.readouterr().out
    broken = lambda d: DataLoader(d, **settings, generator=torch.Generator(), collate_fn=lambda b: 1 / 0)  # noqa: E731
    assert not exercises.check_train_loader(broken, ds)
    assert "collate_fn fails" in capsys.readouterr().out


def test_a_loader_problem_is_named_by_what_it_breaks_and_gets_its_fix_when_it_comes_back(mini_root, capsys, monkeypatch):
    """Exercise 7's first failure names each broken rule; the argument that fixes one is added when it is found again."""
    monkeypatch.setattr(nb03, "_TOLD", set())
    ds = DecodedFlowers(mini_root, "val", 8)
    assert not exercises.check_train_loader(lambda d: DataLoader(d, batch_size=64, **NORMALISE), ds)
    first = capsys.readouterr().out
    assert "does not shuffle" in first and "[fix: shuffle" not in first and "help(DataLoader)" in first
    assert not exercises.check_train_loader(lambda d: DataLoader(d, batch_size=32, **NORMALISE), ds)
    again = capsys.readouterr().out  # the same rules broken again (another batch size too): now with their fixes
    assert "grouped by class [fix: shuffle=True]" in again and "[fix: generator=torch.Generator().manual_seed(0)]" in again
    broken = lambda d: DataLoader(d, batch_size=64, shuffle=True, collate_fn=lambda b: undefined_name)  # noqa: E731, F821
    monkeypatch.setattr(nb03, "_TOLD", set())
    assert not exercises.check_train_loader(broken, ds)
    assert "(NameError: name 'undefined_name' is not defined)" in capsys.readouterr().out, "the error is evidence, kept"


def _float64_collate(batch):  # the NumPy way: the arithmetic comes out float64
    x = np.stack([np.asarray(image) for image, _ in batch]) / 255.0
    x = (x - np.full((1, 3, 1, 1), 0.5)) / np.full((1, 3, 1, 1), 0.25)
    return torch.from_numpy(x), torch.tensor([label for _, label in batch])


def _notebook_collate(batch):  # as if defined in a notebook cell (module __main__): spawn workers cannot import it
    return NORMALISE["collate_fn"](batch)


_notebook_collate.__module__ = "__main__"


def test_check_train_loader_reads_a_batch_sampler_and_wants_float32_batches_workers_can_import(mini_root, capsys):
    ds = DecodedFlowers(mini_root, "val", 8)
    seeded = {"num_workers": 2, "persistent_workers": True, "generator": torch.Generator().manual_seed(0)}
    batches = lambda d: torch.utils.data.BatchSampler(  # noqa: E731
        RandomSampler(d, generator=torch.Generator().manual_seed(0)), batch_size=64, drop_last=False
    )
    assert exercises.check_train_loader(lambda d: DataLoader(d, batch_sampler=batches(d), **seeded, **NORMALISE), ds)
    out = capsys.readouterr().out  # the twin is built with the batch sampler's batch size, and agrees
    assert (
        "load.make_loader(ds, shuffle=True, batch_size=64, num_workers=2) (sampler, batch size, workers, pinning: the same)"
        in out
    )
    settings = {"batch_size": 64, "shuffle": True, **seeded}
    assert not exercises.check_train_loader(lambda d: DataLoader(d, **settings, collate_fn=_float64_collate), ds)
    out = capsys.readouterr().out
    assert "batches come out as torch.float64" in out and "Hint: " in out, out
    assert not exercises.check_train_loader(lambda d: DataLoader(d, **settings, collate_fn=_notebook_collate), ds)
    out = capsys.readouterr().out
    assert "_notebook_collate, defined in this notebook" in out and "spawn" in out and "float64" not in out, out
    cache = build_cache(OxfordFlowers102(mini_root, "val"), 8, folder=mini_root.parent / "cache-tl", progress=False)
    no_workers = {**settings, "num_workers": 0, "persistent_workers": False}
    assert exercises.check_train_loader(lambda d: DataLoader(d, **no_workers, collate_fn=_notebook_collate), cache), (
        "without workers, nothing has to be imported by a worker: a notebook's collate_fn is fine"
    )


def test_check_train_loader_accepts_no_workers_on_a_cache_but_not_on_jpegs(mini_root, capsys):
    cache = build_cache(OxfordFlowers102(mini_root, "val"), 8, folder=mini_root.parent / "cache-tl", progress=False)
    jpegs = DecodedFlowers(mini_root, "val", 8)
    no_workers = lambda d: DataLoader(d, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0), **NORMALISE)  # noqa: E731
    assert exercises.check_train_loader(no_workers, cache), "a cache decodes nothing: num_workers=0 is right there"
    capsys.readouterr()
    assert not exercises.check_train_loader(no_workers, cache, jpegs)
    out = capsys.readouterr().out
    assert "on the JPEGs: num_workers=0" in out and "decodes a JPEG per item" in out and "on the cache" not in out
    per_dataset = lambda d: DataLoader(  # noqa: E731
        d,
        batch_size=64,
        shuffle=True,
        num_workers=0 if d is cache else 2,
        persistent_workers=d is not cache,
        generator=torch.Generator().manual_seed(0),
        **NORMALISE,
    )
    assert exercises.check_train_loader(per_dataset, cache, jpegs)
    assert not exercises.check_train_loader(lambda d: None, cache)
    assert "still the stub" in capsys.readouterr().out
    assert not exercises.check_train_loader(lambda d: [d], cache)
    assert "expected a DataLoader" in capsys.readouterr().out


# ------------------------------------------------------------------ exercise 1: the data-wait meter


def _meter(loader, step, steps, clock=time.perf_counter):
    waits, computes = [], []
    iterator = iter(loader)
    for _ in range(steps):
        start = clock()
        x, y = next(iterator)
        got = clock()
        step(x, y)
        waits.append(got - start)
        computes.append(clock() - got)
    return waits, computes


def _swapped(loader, step, steps):
    waits, computes = _meter(loader, step, steps)
    return computes, waits


def _one_reading(loader, step, steps):  # the wait clock runs over the step too
    waits, computes, iterator = [], [], iter(loader)
    for _ in range(steps):
        start = time.perf_counter()
        x, y = next(iterator)
        got = time.perf_counter()
        step(x, y)
        waits.append(time.perf_counter() - start)
        computes.append(time.perf_counter() - got)
    return waits, computes


def _compute_from_start(loader, step, steps):  # the compute clock starts before next()
    waits, computes, iterator = [], [], iter(loader)
    for _ in range(steps):
        start = time.perf_counter()
        x, y = next(iterator)
        waits.append(time.perf_counter() - start)
        step(x, y)
        computes.append(time.perf_counter() - start)
    return waits, computes


def _restarts(loader, step, steps):
    waits, computes = [], []
    for _ in range(steps):
        start = time.perf_counter()
        x, y = next(iter(loader))
        got = time.perf_counter()
        step(x, y)
        waits.append(got - start)
        computes.append(time.perf_counter() - got)
    return waits, computes


def _readings(loader, step, steps):  # clock readings instead of durations
    waits, computes, iterator = [], [], iter(loader)
    for _ in range(steps):
        x, y = next(iterator)
        waits.append(time.perf_counter() + 5000)
        step(x, y)
        computes.append(time.perf_counter() + 5000)
    return waits, computes


def _shares(loader, step, steps):  # each step's wait and compute as fractions of the step
    waits, computes = _meter(loader, step, steps)
    return [w / (w + c) for w, c in zip(waits, computes)], [c / (w + c) for w, c in zip(waits, computes)]


def _no_step(loader, step, steps):
    waits, computes, iterator = [], [], iter(loader)
    for _ in range(steps):
        start = time.perf_counter()
        next(iterator)
        waits.append(time.perf_counter() - start)
        computes.append(0.0)
    return waits, computes


def _running_totals(loader, step, steps):
    waits, computes = _meter(loader, step, steps)
    return list(itertools.accumulate(waits)), list(itertools.accumulate(computes))


def _fetch_all_first(loader, step, steps):  # every batch fetched before the loop: one wait, charged to step 0
    iterator, start = iter(loader), time.perf_counter()
    batches = [next(iterator) for _ in range(steps)]
    waits, computes = [time.perf_counter() - start] + [0.0] * (steps - 1), []
    for x, y in batches:
        got = time.perf_counter()
        step(x, y)
        computes.append(time.perf_counter() - got)
    return waits, computes


def _warm_up(loader, step, steps):  # one batch drawn before the timed steps, as a throughput meter would
    batches = iter(loader)
    next(batches)
    return _meter(batches, step, steps)  # iter() of an iterator is itself: the timed steps start at batch 1


def _warm_up_step(loader, step, steps):  # a warm-up step on the first batch, as the notebook's images_per_s takes one
    batches = iter(loader)
    step(*next(batches))
    return _meter(batches, step, steps)


@pytest.mark.timed
@pytest.mark.parametrize(
    "func, feedback",
    [
        (_meter, "Correct"),
        (lambda loader, step, steps: None, "still the stub"),
        (lambda loader, step, steps: 1 / 0, "ZeroDivisionError"),
        (lambda loader, step, steps: sum(_meter(loader, step, steps)[0]), "return a pair"),
        (lambda loader, step, steps: (_meter(loader, step, steps)[0][:-1], [0.0] * (steps - 1)), "3 waits"),
        (_swapped, "swapped"),
        (_one_reading, "they include the step"),
        (_compute_from_start, "they include the wait"),
        (_restarts, "first batch every time"),
        (_readings, "clock readings"),
        (lambda loader, step, steps: tuple([1000 * v for v in part] for part in _meter(loader, step, steps)), "milliseconds"),
        (_shares, "shares of the step"),
        (_no_step, "called 0 times"),
        (lambda loader, step, steps: tuple([-v for v in part] for part in _meter(loader, step, steps)), "negative"),
        (_running_totals, "counted more than once"),
        (lambda loader, step, steps: tuple([2 * v for v in part] for part in _meter(loader, step, steps)), "more than once"),
        (_fetch_all_first, "put one step's time in another"),
        (_warm_up, "batch 0 never reached it"),
        (_warm_up_step, "one more (a warm-up step?)"),
    ],
)
def test_check_wait_meter_feedback(func, feedback, capsys):
    ok = exercises.check_wait_meter(func)
    out = capsys.readouterr().out
    assert feedback in out, out
    assert ok == (feedback == "Correct")
    if ok:
        assert "DataWaitMeter read wait" in out, "a correct meter is compared with the package's on the same loop"


# ------------------------------------------------------------------ exercise 5: a worker_init_fn for the dataset's Generator


def _reseed(worker_id):
    info = get_worker_info()
    info.dataset.rng = np.random.default_rng(info.seed)


def _stub(worker_id): ...


def _legacy(worker_id):
    np.random.seed(get_worker_info().seed % 2**32)


def _by_worker_id(worker_id):
    get_worker_info().dataset.rng = np.random.default_rng(worker_id)


def _unseeded(worker_id):
    get_worker_info().dataset.rng = np.random.default_rng()


NOTEBOOK_DATASET = nb03._RandomOffsets()


def _the_notebooks_dataset(worker_id):
    NOTEBOOK_DATASET.rng = np.random.default_rng(get_worker_info().seed)


def _same_seed_everywhere(worker_id):
    get_worker_info().dataset.rng = np.random.default_rng(7)


def _torch_initial_seed(worker_id):  # torch.initial_seed() is the worker's seed: also right
    get_worker_info().dataset.rng = np.random.default_rng(torch.initial_seed())


@pytest.mark.parametrize(
    "func, feedback",
    [
        (_reseed, "Correct"),
        (_torch_initial_seed, "Correct"),
        (_stub, "still the stub"),
        (_legacy, "global generator"),
        (_the_notebooks_dataset, "still draws from the Generator made in __init__"),
        (_same_seed_everywhere, "got the same seed"),
        (_by_worker_id, "every epoch draws the same"),
        (_unseeded, "cannot be repeated"),
        (lambda worker_id: 1 / 0, "ZeroDivisionError"),
        (lambda worker_id: setattr(get_worker_info().dataset, "rng", None), "cannot draw"),
        (load.seed_worker, "the flowerkit version this exercise builds"),
        (lambda worker_id: load.seed_worker(worker_id), "the flowerkit version this exercise builds"),
        (None, "expected a function"),
    ],
)
def test_check_worker_seeding_feedback(func, feedback, capsys):
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    ok = exercises.check_worker_seeding(func)
    out = capsys.readouterr().out
    assert feedback in out, out
    assert ok == (feedback == "Correct")
    assert ("load.seed_worker, passes the same checks" in out) == ok, "the flowerkit version, run beside a right answer"
    assert torch.equal(torch.get_rng_state(), torch_state) and np.array_equal(np.random.get_state()[1], numpy_state), (
        "playing the workers leaves the notebook's random state as it was"
    )
    assert torch.utils.data.get_worker_info() is None


def test_a_balanced_sampler_is_compared_with_flowerkits(capsys):
    """The same weights and generator draw flowerkit's very indices; another correct sampler, the same class mix."""
    same = _weighted(lambda y: 1 / torch_bincount(y)[y])
    assert exercises.check_balanced_sampler(same, IMBALANCED)
    assert "draws the very same indices" in capsys.readouterr().out

    def other_stream(labels, seed):  # right, seeded, but its generator starts elsewhere
        y = torch.tensor(labels)
        return WeightedRandomSampler(1 / torch_bincount(y)[y], len(y), generator=torch.Generator().manual_seed(seed + 99))

    assert exercises.check_balanced_sampler(other_stream, IMBALANCED)
    out = capsys.readouterr().out
    assert "draws other indices" in out and "% off it in yours" in out and "% in flowerkit's" in out, out
    assert "same class mix" not in out, "the mixes differ by chance: the message gives both gaps instead"


def test_a_sharded_stream_is_compared_with_flowerkits(capsys):
    """Striding gives ShardedStream's very shares; contiguous blocks (remainder kept) are right too, and split otherwise."""
    assert exercises.check_sharded_stream(_stream(lambda items: _share(items, lambda it, k, n: it[k::n])))
    assert "ShardedStream, gives every worker the very same share" in capsys.readouterr().out
    blocks = _stream(lambda items: _share(items, lambda it, k, n: it[k * -(-len(it) // n) : (k + 1) * -(-len(it) // n)]))
    assert exercises.check_sharded_stream(blocks)
    assert "splits another way" in capsys.readouterr().out


def test_check_predict_loader_wants_every_photo_once_in_order(mini_root, capsys):
    cache = build_cache(OxfordFlowers102(mini_root, "val"), 8, folder=mini_root.parent / "cache-tl", progress=False)
    jpegs = DecodedFlowers(mini_root, "val", 8)
    n = len(jpegs)
    good = lambda d, todo: DataLoader(Subset(d, todo), batch_size=64, num_workers=0 if d is cache else 2, **NORMALISE)  # noqa: E731
    assert exercises.check_predict_loader(good, cache, jpegs)
    said = capsys.readouterr().out
    assert "on the JPEGs, load.make_loader(ds, batch_size=64, num_workers=2) (batch size, workers, pinning: the same)" in said
    assert "shuffle=True is right for training" in said
    # Exercise 7's answer, copied: shuffled, seeded, kept alive. The order is what breaks the pass.
    copied = lambda d, todo: DataLoader(  # noqa: E731
        d,
        batch_size=64,
        shuffle=True,
        num_workers=2,
        persistent_workers=True,
        generator=torch.Generator().manual_seed(0),
        **NORMALISE,
    )
    assert not exercises.check_predict_loader(copied, jpegs)
    out = capsys.readouterr().out
    assert "out of order" in out and "shuffle" not in out and "persistent" not in out, out  # the evidence, not the fix
    dropped = lambda d, todo: DataLoader(Subset(d, todo), batch_size=64, num_workers=2, drop_last=True, **NORMALISE)  # noqa: E731
    assert not exercises.check_predict_loader(dropped, jpegs)
    out = capsys.readouterr().out
    assert f"the last {n % 64} of the {n} photos to do get no prediction" in out and "drop_last" not in out, out
    with_replacement = lambda d, todo: DataLoader(  # noqa: E731
        d, batch_size=64, sampler=RandomSampler(d, replacement=True, generator=torch.Generator().manual_seed(0)), **NORMALISE
    )
    assert not exercises.check_predict_loader(with_replacement, cache)
    assert "each needs exactly one prediction" in capsys.readouterr().out
    assert not exercises.check_predict_loader(lambda d, todo: DataLoader(Subset(d, todo), batch_size=1), jpegs)
    out = capsys.readouterr().out
    assert "batch_size=1" in out and "num_workers=0" in out and "torch.uint8" in out and "order" not in out, out
    one_at_a_time = lambda d, todo: DataLoader(d, batch_size=None, **NORMALISE)  # noqa: E731
    assert not exercises.check_predict_loader(one_at_a_time, cache)
    assert "batch_size=None" in capsys.readouterr().out
    assert not exercises.check_predict_loader(
        lambda d, todo: load.make_loader(d, num_workers=0, mean=(0.5,) * 3, std=(0.25,) * 3), cache
    )
    assert "calls load.make_loader" in capsys.readouterr().out
    assert not exercises.check_predict_loader(lambda d, todo: None, cache)
    assert "still the stub" in capsys.readouterr().out


def test_check_predict_loader_reads_worker_order_subsets_and_a_list_of_batches(mini_root, capsys):
    cache = build_cache(OxfordFlowers102(mini_root, "val"), 8, folder=mini_root.parent / "cache-tl", progress=False)
    jpegs = DecodedFlowers(mini_root, "val", 8)
    unordered = lambda d, todo: DataLoader(d, batch_size=64, num_workers=2, in_order=False, **NORMALISE)  # noqa: E731
    assert not exercises.check_predict_loader(unordered, jpegs), "workers may hand batches back as they finish them"
    assert "whichever order they finish them" in capsys.readouterr().out
    perm = torch.randperm(len(cache), generator=torch.Generator().manual_seed(0)).tolist()
    shuffled_subset = lambda d, todo: DataLoader(Subset(d, [todo[i] for i in perm if i < len(todo)]), batch_size=64, **NORMALISE)  # noqa: E731
    assert not exercises.check_predict_loader(shuffled_subset, cache)
    assert "out of order" in capsys.readouterr().out
    global_one = lambda d, todo: DataLoader(cache, batch_size=64, **NORMALISE)  # noqa: E731 - ignores its argument
    assert not exercises.check_predict_loader(global_one, DecodedFlowers(mini_root, "val", 8))
    assert "reads another dataset than the one it is given" in capsys.readouterr().out
    in_order_subset = lambda d, todo: DataLoader(Subset(d, todo), batch_size=64, **NORMALISE)  # noqa: E731
    assert exercises.check_predict_loader(in_order_subset, cache), "a Subset in todo's order pairs right"
    capsys.readouterr()
    batches = lambda d, todo: DataLoader(d, batch_sampler=[todo[i : i + 64] for i in range(0, len(todo), 64)], **NORMALISE)  # noqa: E731
    assert exercises.check_predict_loader(batches, cache), "a list of index lists, in order, is a batch sampler too"


def test_loader_checkers_compare_batches_with_the_train_split_statistics(mini_root, capsys):
    cache = build_cache(OxfordFlowers102(mini_root, "val"), 8, folder=mini_root.parent / "cache-tl", progress=False)
    mean, std = (0.4, 0.5, 0.3), (0.2, 0.25, 0.3)
    stats = {"mean": mean, "std": std}
    predict = lambda collate: lambda d, todo: DataLoader(Subset(d, todo), batch_size=64, collate_fn=collate)  # noqa: E731
    assert exercises.check_predict_loader(predict(CollateNormalize(mean, std)), cache, **stats)
    capsys.readouterr()
    assert not exercises.check_predict_loader(predict(CollateNormalize(std, mean)), cache, **stats)
    assert "mean and std swapped" in capsys.readouterr().out
    assert not exercises.check_predict_loader(predict(CollateNormalize(IMAGENET_MEAN, IMAGENET_STD)), cache, **stats)
    assert "ImageNet's statistics" in capsys.readouterr().out
    assert not exercises.check_predict_loader(predict(_own_statistics_collate), cache, **stats)
    assert "the same statistics" in capsys.readouterr().out
    train = lambda d: DataLoader(  # noqa: E731
        d, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0), collate_fn=CollateNormalize(std, mean)
    )
    assert not exercises.check_train_loader(train, cache, **stats)
    assert "mean and std swapped" in capsys.readouterr().out


def _own_statistics_collate(batch):  # each batch normalised by its own statistics: batches of a split disagree
    x = torch.stack([image for image, _ in batch]).float() / 255
    x = (x - x.mean(dim=(0, 2, 3), keepdim=True)) / x.std(dim=(0, 2, 3), keepdim=True)
    return x, torch.tensor([label for _, label in batch])


def test_check_train_loader_accepts_any_sampler_that_shuffles(mini_root, capsys):
    cache = build_cache(OxfordFlowers102(mini_root, "val"), 8, folder=mini_root.parent / "cache-tl", progress=False)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    subset_random = lambda d: DataLoader(  # noqa: E731
        d, batch_size=64, sampler=SubsetRandomSampler(range(len(d)), generator=g()), generator=g(), **NORMALISE
    )
    assert exercises.check_train_loader(subset_random, cache)
    weighted = lambda d: DataLoader(  # noqa: E731
        d, batch_size=64, sampler=WeightedRandomSampler([1.0] * len(d), len(d), generator=g()), generator=g(), **NORMALISE
    )
    assert exercises.check_train_loader(weighted, cache), "exercise 4's balanced sampler shuffles too"
    capsys.readouterr()
    sorted_subset = lambda d: DataLoader(Subset(d, range(len(d))), batch_size=64, generator=g(), **NORMALISE)  # noqa: E731
    assert not exercises.check_train_loader(sorted_subset, cache)
    assert "does not shuffle" in capsys.readouterr().out


class _MovesOnlyOnAYield(torch.utils.data.IterableDataset):
    """Right in one process; as worker 1 of 2 its index never moves, so __iter__ spins without yielding."""

    def __init__(self, items):
        self.items = items

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        k, n = (0, 1) if info is None else (info.id, info.num_workers)
        i = 0
        while i < len(self.items):
            if i % n == k:
                yield self.items[i]
                i += 1


def test_check_sharded_stream_stops_a_stream_that_never_yields(monkeypatch, capsys):
    monkeypatch.setattr(exercises.verdict, "_STALL_S", 0.5)
    started = time.perf_counter()
    assert not exercises.check_sharded_stream(_MovesOnlyOnAYield)
    out = capsys.readouterr().out
    assert "as worker 0 of 2" in out and "handed over nothing" in out and "islice" in out, out
    assert time.perf_counter() - started < 10


class _InitNeverReturns(torch.utils.data.IterableDataset):
    def __init__(self, items):
        self.items = items
        while len(self.items) > 0:  # meant to move through the items, moves nothing
            pass

    def __iter__(self):
        yield from self.items


def test_check_sharded_stream_stops_an_init_that_never_returns(monkeypatch, capsys):
    monkeypatch.setattr(exercises.verdict, "_STALL_S", 0.5)
    assert not exercises.check_sharded_stream(_InitNeverReturns)
    assert "handed over nothing" in capsys.readouterr().out


# ------------------------------------------------------------------ second student pass (2026-12-07): answers that passed


def test_check_collate_is_not_given_the_notebook_s_own_batch(capsys):
    """The notebook's batch is items 0 to 63: a collate that returns it, whatever it is given, is not one."""
    items = _uint8_items(n=140)
    notebook_batch = [(image.permute(1, 2, 0).numpy(), label) for image, label in items[:64]]
    assert not exercises.check_collate(lambda b: _collate(notebook_batch), items, MEAN, STD)
    assert "Not yet" in capsys.readouterr().out
    assert exercises.check_collate(_collate, items, MEAN, STD)
    capsys.readouterr()


@pytest.mark.parametrize(
    "func, feedback",
    [
        (lambda b: ((_stack(b)[0].permute(0, 3, 1, 2).float() / 255 - S) / M, _labels(b)), "mean and std swapped"),
        (lambda b: ((_stack(b)[0].permute(0, 3, 1, 2).float() / 255 - M) / S**2, _labels(b)), "divided by the variance"),
        (
            lambda b: (transform_imagenet(_stack(b)[0].permute(0, 3, 1, 2).float() / 255), _labels(b)),
            "ImageNet's statistics",
        ),
    ],
)
def test_check_collate_names_other_statistics(func, feedback, capsys):
    assert not exercises.check_collate(func, _uint8_items(), MEAN, STD)
    assert feedback in capsys.readouterr().out


def transform_imagenet(x):
    from flowerkit.facts import IMAGENET_MEAN, IMAGENET_STD

    return (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def _averaged(loader, step, steps):  # per-step means: the same figure every step
    waits, computes = _meter(loader, step, steps)
    return [sum(waits) / steps] * steps, [sum(computes) / steps] * steps


def _nanoseconds(loader, step, steps):
    return _meter(loader, step, steps, clock=time.perf_counter_ns)


def _cpu_time(loader, step, steps):  # CPU time: a sleep, or a wait for a worker, counts nothing
    return _meter(loader, step, steps, clock=time.process_time)


def _flowerkit_meter(loader, step, steps):
    from flowerkit import meter

    m = meter.DataWaitMeter()
    for x, y in itertools.islice(m.batches(loader), steps):
        step(x, y)
    return [m.total_wait_s / steps] * steps, [m.total_compute_s / steps] * steps


@pytest.mark.timed
@pytest.mark.parametrize(
    "func, feedback",
    [
        (_averaged, "an average (or a median) hides the start"),
        (_nanoseconds, "nanoseconds, not seconds"),
        (_cpu_time, "does not count time spent sleeping or waiting"),
        (_flowerkit_meter, "meter.DataWaitMeter, the version this exercise builds"),
    ],
)
def test_check_wait_meter_names_averages_other_clocks_and_flowerkit_s_meter(func, feedback, capsys):
    assert not exercises.check_wait_meter(func)
    assert feedback in capsys.readouterr().out


def _fixed_undersample(labels, seed):  # ten per class chosen once, reshuffled every epoch: the rest never seen
    g = torch.Generator().manual_seed(seed)
    y = torch.tensor(labels)
    picks = [int(i) for c in range(int(y.max()) + 1) for i in torch.nonzero(y == c).flatten()[:5]]
    return SubsetRandomSampler(picks, generator=g)


def test_check_balanced_sampler_names_a_subset_chosen_once_and_labels_read_from_elsewhere(capsys):
    assert not exercises.check_balanced_sampler(_fixed_undersample, IMBALANCED)
    assert "only in another order" in capsys.readouterr().out
    balanced = _weighted(lambda y: 1 / torch_bincount(y)[y])
    assert not exercises.check_balanced_sampler(lambda labels, seed: balanced(IMBALANCED, seed), IMBALANCED)
    assert "in reverse order" in capsys.readouterr().out


def test_check_worker_seeding_names_torch_s_and_random_s_global_generators(capsys):
    import random

    assert not exercises.check_worker_seeding(lambda worker_id: torch.manual_seed(get_worker_info().seed))
    assert "you reseeded torch's global generator" in capsys.readouterr().out
    assert not exercises.check_worker_seeding(lambda worker_id: random.seed(get_worker_info().seed))
    assert "random's global generator" in capsys.readouterr().out


def test_check_sharded_stream_runs_workers_with_a_real_worker_s_seed(capsys):
    """A worker's seed is base_seed + id, a large number: a share indexed by it is empty in a real DataLoader."""
    by_seed = _stream(lambda items: _share(items, lambda it, k, n: it[torch_worker().seed :: n]))
    assert not exercises.check_sharded_stream(by_seed)
    assert "no worker yielded anything" in capsys.readouterr().out
    by_initial_seed = _stream(lambda items: _share(items, lambda it, k, n: it[torch.initial_seed() % n :: n]))
    assert exercises.check_sharded_stream(by_initial_seed)  # base_seed + id covers every residue: right in real workers
    capsys.readouterr()


def test_check_train_loader_wants_its_own_dataset_and_an_epoch_worth_it(mini_root, capsys):
    cache = build_cache(OxfordFlowers102(mini_root, "val"), 8, folder=mini_root.parent / "cache-own", progress=False)
    other = build_cache(OxfordFlowers102(mini_root, "train"), 8, folder=mini_root.parent / "cache-other", progress=False)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert not exercises.check_train_loader(
        lambda d: DataLoader(other, batch_size=64, shuffle=True, generator=g(), **NORMALISE), cache
    )
    assert "reads another dataset than the one it is given" in capsys.readouterr().out
    assert not exercises.check_train_loader(
        lambda d: DataLoader(Subset(d, range(40)), batch_size=64, shuffle=True, generator=g(), **NORMALISE), cache
    )
    assert "an epoch draws 40 photos for the dataset's" in capsys.readouterr().out


# ------------------------------------------------------------------ exercise 7, the third dataset: a random crop of its own


def _cropped_answer(seed_worker, cache=None):
    """Exercise 7's solution with ``seed_worker`` as its worker_init_fn."""
    return lambda d: DataLoader(  # noqa: E731
        d,
        batch_size=64,
        shuffle=True,
        num_workers=0 if d is cache else 2,
        persistent_workers=d is not cache,
        generator=torch.Generator().manual_seed(0),
        worker_init_fn=seed_worker,
        **NORMALISE,
    )


def _notebook_seed_worker(worker_id):  # exercise 5's answer, as if defined in a notebook cell
    info = get_worker_info()
    info.dataset.rng = np.random.default_rng(info.seed)


_notebook_seed_worker.__module__ = "__main__"


def _seeded_by_id(worker_id):  # a module function (importable), seeded from the worker's id alone
    get_worker_info().dataset.rng = np.random.default_rng(worker_id)


def test_cropped_flowers_crop_at_random_places_from_their_own_generator(mini_root):
    cropped = exercises.CroppedFlowers(mini_root, "val", 16)
    image, label = cropped[0]
    assert image.shape == (3, 16, 16) and image.dtype == torch.uint8 and label == cropped.labels[0]
    crops = [cropped[0][0] for _ in range(6)]
    assert any(not torch.equal(crops[0], c) for c in crops[1:]), "a random place each read"
    again = exercises.CroppedFlowers(mini_root, "val", 16)
    rerun = [again[0][0] for _ in range(7)][1:]  # as many reads before as above
    assert all(torch.equal(a, b) for a, b in zip(crops, rerun)), "a seeded generator: a rerun crops alike, read for read"


def test_exercise_7_finds_workers_that_repeat_each_others_random_crops(mini_root, capsys, monkeypatch):
    """The third dataset draws from its own Generator: a loader with workers and no worker_init_fn repeats its crops."""
    monkeypatch.setattr(nb03, "_TOLD", set())
    cropped = exercises.CroppedFlowers(mini_root, "val", 16)
    jpegs = DecodedFlowers(mini_root, "val", 16)
    assert not exercises.check_train_loader(_cropped_answer(None), jpegs, cropped)
    out = capsys.readouterr().out
    assert "on the cropped JPEGs: workers 0 and 1 gave photos 0-2 the very same random crops" in out, out
    assert "on the JPEGs" not in out, "a dataset without randomness has nothing to repeat"
    assert "[fix: worker_init_fn" not in out, "the evidence first; the fix when the rule is broken again"
    assert not exercises.check_train_loader(_cropped_answer(None), jpegs, cropped)
    assert "[fix: worker_init_fn=load.seed_worker" in capsys.readouterr().out
    assert not exercises.check_train_loader(_cropped_answer(_notebook_seed_worker), jpegs, cropped)
    out = capsys.readouterr().out  # seeds right, but spawn workers could not import it
    assert "very same random crops" not in out and "_notebook_seed_worker, defined in this notebook" in out, out
    assert not exercises.check_train_loader(_cropped_answer(_seeded_by_id), cropped)
    out = capsys.readouterr().out  # workers differ, but the loader's seed decides nothing
    assert "very same random crops" not in out and "the same random crops under another loader seed" in out, out
    assert not exercises.check_train_loader(_cropped_answer(lambda worker_id: 1 / 0), cropped)
    assert "worker_init_fn fails in a worker (ZeroDivisionError" in capsys.readouterr().out
    assert exercises.check_train_loader(_cropped_answer(load.seed_worker), jpegs, cropped)
    state = cropped.rng.bit_generator.state
    assert exercises.check_train_loader(_cropped_answer(load.seed_worker), cropped)
    assert cropped.rng.bit_generator.state == state, (
        "the checker plays the workers on copies: the notebook's dataset is untouched"
    )
    assert torch.utils.data.get_worker_info() is None


def test_exercise_8_resumes_a_pass_with_the_photos_still_to_do(mini_root, capsys, monkeypatch):
    """A second case: the pass stopped a third of the way, and two earlier photos were skipped: they come last."""
    monkeypatch.setattr(nb03, "_TOLD", set())
    cache = build_cache(OxfordFlowers102(mini_root, "val"), 8, folder=mini_root.parent / "cache-tl", progress=False)
    n, start = len(cache), len(cache) // 3
    todo = nb03._resumed(cache)
    assert todo[: n - start] == list(range(start, n)) and len(todo) == n - start + 2 and todo != sorted(todo)
    whole = lambda d, todo: DataLoader(d, batch_size=64, **NORMALISE)  # noqa: E731 - exercise 7's, shuffle=False
    assert not exercises.check_predict_loader(whole, cache)
    out = capsys.readouterr().out
    said = f"resumed: prediction 0 would be written next to file {start}, but belongs to photo 0 (it visits {n} photos for the {len(todo)} to do)."
    assert said in out and "Subset" not in out and "sampler=" not in out and "? Each problem" in out, out
    assert not exercises.check_predict_loader(whole, cache)
    assert (
        "[fix: visit todo's photos and no others, in its order: Subset(dataset, todo), or sampler=todo]"
        in capsys.readouterr().out
    )
    assert exercises.check_predict_loader(lambda d, todo: DataLoader(d, batch_size=64, sampler=todo, **NORMALISE), cache)
    out = capsys.readouterr().out  # any iterable of indices is a sampler; its order was checked, so no "differs"
    assert "in todo's order" in out and "differs" not in out, out
    in_sorted_order = lambda d, todo: DataLoader(d, batch_size=64, sampler=sorted(todo), **NORMALISE)  # noqa: E731
    assert not exercises.check_predict_loader(in_sorted_order, cache)
    assert f"resumed: out of order: prediction 0 would be written next to file {start}, but belongs to photo {n // 9}" in (
        capsys.readouterr().out
    )
    the_tail = lambda d, todo: DataLoader(Subset(d, range(todo[0], len(d))), batch_size=64, **NORMALISE)  # noqa: E731
    assert not exercises.check_predict_loader(the_tail, cache), "the two skipped photos are part of todo"
    assert not exercises.check_predict_loader(lambda d: DataLoader(d, batch_size=64, **NORMALISE), cache)
    assert "expected a function of two arguments, (dataset, todo)" in capsys.readouterr().out


def test_loader_problems_are_listed_once_after_every_dataset_they_were_found_on(mini_root, capsys, monkeypatch):
    monkeypatch.setattr(nb03, "_TOLD", set())
    cache = build_cache(OxfordFlowers102(mini_root, "val"), 8, folder=mini_root.parent / "cache-tl", progress=False)
    jpegs, cropped = DecodedFlowers(mini_root, "val", 8), exercises.CroppedFlowers(mini_root, "val", 8)
    assert not exercises.check_train_loader(
        lambda d: DataLoader(d, batch_size=64, shuffle=True, **NORMALISE), cache, jpegs, cropped
    )
    out = capsys.readouterr().out
    assert "on the cache, the JPEGs and the cropped JPEGs: no seeded generator: a shuffled order changes" in out, out
    assert "on the JPEGs and the cropped JPEGs: num_workers=0" in out and out.count("no seeded generator") == 1, out
    assert not exercises.check_train_loader(lambda d: DataLoader(d, batch_size=64, **NORMALISE), cache)
    assert "no seeded generator: a shuffled order changes every run [fix:" in capsys.readouterr().out
    one_worker = lambda d: DataLoader(  # noqa: E731
        d,
        batch_size=64,
        shuffle=True,
        num_workers=1,
        persistent_workers=True,
        generator=torch.Generator().manual_seed(0),
        **NORMALISE,
    )
    assert not exercises.check_train_loader(one_worker, jpegs) == (cpu_count() > 1)
    assert ("num_workers=1 on a machine with" in capsys.readouterr().out) == (cpu_count() > 1)
    assert not exercises.check_predict_loader(
        lambda d, todo: DataLoader(d, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0), **NORMALISE),
        cache,
        jpegs,
    )
    out = capsys.readouterr().out
    assert out.count("out of order") == 1 and "on the cache and the JPEGs: out of order" in out, out
    assert "on the cache and the JPEGs, resumed: prediction 0 would be written next to file" in out, out
