"""Checkers of notebook 04_three_teams (flowerkit.exercises.nb04): baseline, confusions, the intern's loader (and 03's worker rule)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torchvision import transforms as v1
from torchvision.transforms import v2

import flowerkit.model
from flowerkit import OxfordFlowers102, exercises
from flowerkit.exercises import nb04
from flowerkit.load import CollateNormalize, DecodedFlowers, build_cache
from flowerkit.transform import ToRGB, compute_stats, eval_transform


def test_check_lr_at_refuses_one_cycle_under_any_name_and_a_pasted_copy_is_the_wrong_curve(tmp_path, monkeypatch, capsys):
    """``model.one_cycle`` called under another name, or in a partial or a branch, is refused as the flowerkit version;
    its source pasted under another name is OneCycleLR's default two phases, not the three asked for."""
    import importlib
    import inspect
    import textwrap

    copy = textwrap.dedent(inspect.getsource(flowerkit.model.one_cycle)).replace("def one_cycle(", "def my_curve(")
    body = (
        "import math\n\n\n" + copy + "\n\ndef lr_at(progress, max_lr):\n    return my_curve(progress, max_lr, pct_start=0.3)[0]\n"
    )
    (tmp_path / "pasted.py").write_text(body)
    (tmp_path / "imported.py").write_text(
        "from flowerkit.model import one_cycle\n\n\ndef lr_at(progress, max_lr):\n    return one_cycle(progress, max_lr)[0]\n"
    )
    (tmp_path / "aliased.py").write_text(  # one_cycle under another name, two calls away
        "from flowerkit.model import one_cycle as oc\n\n\ndef helper(p, m):\n    return oc(p, m)\n\n\n"
        "def lr_at(progress, max_lr):\n    return helper(progress, max_lr)[0]\n"
    )
    (tmp_path / "wrapped.py").write_text(  # one_cycle in a partial, and in a branch the checker's first call skips
        "import functools\n\nfrom flowerkit import model\n\nlr_at = functools.partial(model.one_cycle, pct_start=0.3)\n\n\n"
        "def branch(progress, max_lr):\n    return model.one_cycle(progress, max_lr)[0] if progress < 0.3 else max_lr\n"
    )
    (tmp_path / "branched.py").write_text("from wrapped import branch as lr_at\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("imported", "aliased", "wrapped", "branched"):
        assert not exercises.check_lr_at(importlib.import_module(name).lr_at)
        assert "calls flowerkit.model.one_cycle" in capsys.readouterr().out, name
    assert not exercises.check_lr_at(importlib.import_module("pasted").lr_at)
    assert "with three_phase=True a second phase" in capsys.readouterr().out


def test_check_majority_baseline_names_a_typical_class_s_share_near_1_over_k(capsys):
    labels = [0] * 5 + [1] * 3 + [2] * 3 + [3] * 2 + [4]  # the median class holds 3 of 14, near 1/5
    assert not exercises.check_majority_baseline(3 / 14, labels)
    assert "a typical (the median) class's share" in capsys.readouterr().out
    assert not exercises.check_majority_baseline(1 / 5, labels)
    assert "guessing uniformly" in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, feedback",
    [
        (None, "no answer yet"),
        (0.4, "Correct"),
        (1 / 3, "guessing uniformly"),
        (40.0, "percentage"),
        (4, "number of images"),
        (0.2, "smallest"),
        (0.3, "not the largest class"),
        ("many", "must be a number"),
        (0, "the largest class's index"),
        (0.6, "gets *wrong*"),
        (torch.tensor(0.4), "Correct"),
    ],
)
def test_check_majority_baseline_feedback(answer, feedback, capsys):
    labels = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]  # 3 classes, the largest holds 40%, the smallest 20%
    assert exercises.check_majority_baseline(answer, labels) == (feedback == "Correct")
    assert feedback in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, feedback",
    [
        (3 / 7, "Correct"),
        (0.429, "Correct"),  # rounded to 3 decimals
        (0.4286, "Correct"),
        (0.43, "too rounded"),  # 2 decimals: 0.3% off, too coarse to judge
        (42.9, "percentage"),
        (0.41, "not the largest class's share"),
    ],
)
def test_check_majority_baseline_accepts_a_rounded_share_and_hints_without_the_solution(answer, feedback, capsys):
    labels = [0, 0, 0, 1, 1, 2, 3]  # the largest class holds 3 of 7
    assert exercises.check_majority_baseline(answer, labels) == (feedback == "Correct")
    out = capsys.readouterr().out
    assert feedback in out and "bincount" not in out, out


@pytest.mark.parametrize("answer, feedback", [(0.01, "too rounded"), (1 / 102, "guessing uniformly"), (0.0146, "Correct")])
def test_a_share_rounded_to_two_decimals_is_not_taken_for_one_in_102(answer, feedback, capsys):
    """On mini-flowers the largest test class holds 1.46%: printed as 0.01, it is 1/102 rounded too."""
    labels = list(range(102)) * 20 + [0] * 10  # 2,050 labels, the largest class 30 of them
    assert exercises.check_majority_baseline(answer, labels) == (feedback == "Correct")
    assert feedback in capsys.readouterr().out


def _most_confused_reference(preds, trues, k):
    pairs = Counter((int(t), int(p)) for p, t in zip(preds, trues) if p != t)
    return [(t, p, c) for (t, p), c in pairs.most_common(k)]


def _top_mistake_per_true_class(preds, trues, k):
    """A misreading of "most confused": each true class's most frequent mistake, then the k most frequent of those."""
    best = {}
    for (t, p), n in Counter((int(t), int(p)) for p, t in zip(preds, trues) if p != t).items():
        if n > best.get(t, (None, 0))[1]:
            best[t] = (p, n)
    return sorted([(t, p, n) for t, (p, n) in best.items()], key=lambda r: -r[2])[:k]


@pytest.mark.parametrize(
    "func, feedback",
    [
        (_most_confused_reference, "Correct"),
        (lambda p, t, k: None, "still the stub"),
        (lambda p, t, k: [(int(a), int(b), 1) for a, b in zip(t, p)][:k], "correct predictions"),
        (lambda p, t, k: [(b, a, c) for a, b, c in _most_confused_reference(p, t, k)], "swapped"),
        (lambda p, t, k: sorted(_most_confused_reference(p, t, k), key=lambda r: r[2]), "not sorted"),
        (lambda p, t, k: _most_confused_reference(p, t, k)[:2], "k=3"),
        (lambda p, t, k: 1 / 0, "ZeroDivisionError"),
        (lambda p, t, k: [(3, 2, 9), (0, 1, 2), (3, 1, 2)], "expected"),
        (
            lambda p, t, k: [(t_, p_, n) for (t_, p_), n in Counter((a, b) for b, a in zip(p, t) if a != b).most_common(k)],
            "hash by identity",
        ),
        (lambda p, t, k: [(a, b, n / 4) for a, b, n in _most_confused_reference(p, t, k)], "not whole numbers"),
        (lambda p, t, k: iter(_most_confused_reference(p, t, k)), "Correct"),  # a generator: read once
        (lambda p, t, k: torch.tensor(_most_confused_reference(p, t, k)), "Correct"),  # a (k, 3) tensor
        (lambda p, t, k: [list(r) for r in _most_confused_reference(p, t, k)], "Correct"),
        (lambda p, t, k: [dict(zip("tpn", r)) for r in _most_confused_reference(p, t, k)], "rows are dicts"),
        (lambda p, t, k: [(a, b) for a, b, _ in _most_confused_reference(p, t, k)], "2 values"),
        (lambda p, t, k: Counter(zip(t.tolist(), p.tolist())), "of type Counter"),
        (lambda p, t, k: 5, "of type int"),
        (lambda p, t, k: _most_confused_reference(p, t, 3), "is k typed in?"),  # the second case asks for k=4
        (_top_mistake_per_true_class, "one mistake per true class"),
        (  # the k most frequent pairs first, the correct ones dropped after: fewer than k rows
            lambda p, t, k: [(a, b, n) for (a, b), n in Counter(zip(t.tolist(), p.tolist())).most_common(k) if a != b],
            "drop the correct predictions",
        ),
    ],
)
def test_check_most_confused_feedback(func, feedback, capsys):
    ok = exercises.check_most_confused(func)
    assert ok == (feedback == "Correct")
    assert feedback in capsys.readouterr().out


@pytest.fixture(scope="module")
def train_stats(mini_root):
    """The train split's mean and std at 64 px, as the reference computes them (once for every case below)."""
    return compute_stats(OxfordFlowers102(mini_root, "train"), size=64, progress=False)


def _uint8(size=64):
    """The course's evaluation pipeline up to the conversion: undistorted uint8 (3, size, size) tensors."""
    return v2.Compose([ToRGB(), v2.ToImage(), v2.Resize(size, antialias=True), v2.CenterCrop(size)])


def _train_uint8(size=64):
    """The fix's training transform: :func:`_uint8` and the intern's random flip, kept."""
    return v2.Compose([*_uint8(size).transforms, v2.RandomHorizontalFlip()])


def _loader(dataset, collate=None, **workers):
    """Notebook 03's settings: shuffled batches of 64 (and the workers given), normalised per batch by ``collate``."""
    seeded = torch.Generator().manual_seed(0)  # notebook 03's rule: a run repeats its order
    return DataLoader(
        dataset, batch_size=64, shuffle=True, generator=seeded, collate_fn=collate, timeout=120 if workers else 0, **workers
    )


WORKERS = {"num_workers": 2, "persistent_workers": True}


def _set_batch_size(intern):
    intern.batch_size = 64  # a DataLoader refuses: its settings are fixed when it is built
    return intern


def _fixed_cases(stats):
    """(answer, what the checker must say): the reference, its alternatives, and plausible wrong answers."""

    def fixed(transform=None, draft=64, collate_stats=stats, **workers):
        def answer(intern):
            intern.dataset.transform = _train_uint8() if transform is None else transform
            intern.dataset.draft = draft
            return _loader(intern.dataset, CollateNormalize(*collate_stats), **workers)

        return answer

    def normalize_uint8(intern):  # ToDtype removed, the intern's Normalize kept: the transform raises on every item
        intern.dataset.transform = v2.Compose([*_uint8().transforms, v2.Normalize([0.5] * 3, [0.25] * 3)])
        return _loader(intern.dataset, **WORKERS)

    def own_stats(intern):  # the reference as the notebook writes it: the statistics of the intern's dataset itself
        intern.dataset.transform, intern.dataset.draft = _train_uint8(), 64
        return _loader(intern.dataset, CollateNormalize(*compute_stats(intern.dataset, progress=False)), **WORKERS)

    def two_thirds(intern):  # Resize to 1.5x the input, then crop: the edges of every photo cut away
        intern.dataset.transform = v2.Compose([ToRGB(), v2.ToImage(), v2.Resize(96), v2.CenterCrop(64)])
        return _loader(intern.dataset, CollateNormalize(*compute_stats(intern.dataset, progress=False)), **WORKERS)

    def in_place(intern):  # the intern's transform edited in place: the statistics fixed, its patch crop kept
        del intern.dataset.transform.transforms[-2:]
        return _loader(intern.dataset, CollateNormalize(*stats), **WORKERS)

    def notebook_03(intern):  # notebook 03's exercise 7 again: right, but over a dataset of its own
        return _loader(DecodedFlowers(intern.dataset.root, "train", 64), CollateNormalize(*stats), **WORKERS)

    def numpy_patch(intern):  # notebook 03's style: a decoder's HWC uint8 arrays, a collate_fn converts; the crop kept
        intern.dataset.transform = v2.Compose([ToRGB(), v2.RandomCrop(64), np.asarray])

        def collate(batch):
            x = torch.from_numpy(np.stack([image for image, _ in batch])).permute(0, 3, 1, 2).contiguous()
            return CollateNormalize(*stats)([(image, label) for image, label in zip(x, [y for _, y in batch])])

        return _loader(intern.dataset, collate, **WORKERS)

    def fewer(intern):
        intern.dataset.image_files, intern.dataset.labels = intern.dataset.image_files[:100], intern.dataset.labels[:100]
        return intern

    squash = v2.Compose([ToRGB(), v2.ToImage(), v2.Resize((64, 64), antialias=True)])
    flip = v2.RandomHorizontalFlip()
    squash_v1 = v1.Compose([ToRGB(), v1.Resize((64, 64)), v1.PILToTensor()])

    def _uint8_items(intern, **workers):  # the transform fixed, but no collate_fn converts and normalises the batch
        intern.dataset.transform, intern.dataset.draft = _train_uint8(), 64
        return _loader(intern.dataset, **workers)

    return [
        (own_stats, "Correct! the doctor finds no problem"),
        (fixed(**WORKERS), "2 workers decode the JPEGs"),
        (fixed(draft=None, **WORKERS), "intern.dataset.draft = size"),  # right, but each JPEG decoded in full
        (lambda intern: None, "still the stub"),
        (normalize_uint8, "the dataset's first item fails: your transform raised TypeError"),
        (lambda intern: intern, "fixed when it is built"),
        (_set_batch_size, "fixed when it is built"),
        (notebook_03, "a new dataset: fix intern.dataset.transform and the loader's settings"),
        (lambda intern: _loader(intern.dataset, **WORKERS), "still has the intern's transform"),
        (fixed(squash, **WORKERS), "still resizes to a (height, width) pair"),
        (fixed(squash_v1, **WORKERS), "still resizes to a (height, width) pair"),  # the older transforms API
        (lambda intern: _uint8_items(intern, **WORKERS), "Your items are uint8, as they should be; nothing converts"),
        (in_place, "a patch cut out of the photo"),
        (numpy_patch, "a patch cut out of the photo"),  # NumPy items are looked at too
        (fixed(collate_stats=nb04._INTERN_STATS, **WORKERS), "transform.compute_stats"),
        (fixed(), "num_workers=0, and the dataset (OxfordFlowers102)"),
        (fixed(num_workers=2), "persistent_workers=False"),
        (  # every broken rule of notebook 03 at once, not one per try
            fixed(eval_transform(64, *stats), collate_stats=(None, None)),
            "num_workers=0, and the dataset (OxfordFlowers102) decodes a JPEG per item in the training process "
            "(notebook 03's rule: about one worker per core where there is decoding to do); conversion",
        ),
        (fixed(eval_transform(64, *stats), collate_stats=(None, None), **WORKERS), "comes out of the dataset as torch.float32"),
        (fewer, "the train split has"),
        # a crop alone, at full resolution or after a reduced-size decode: a patch of the photo, not all of it
        (fixed(v2.Compose([ToRGB(), v2.ToImage(), v2.CenterCrop(64)]), draft=None, **WORKERS), "shows only 1"),
        (fixed(v2.Compose([ToRGB(), v2.ToImage(), v2.RandomCrop(64)]), draft=None, **WORKERS), "shows only 1"),
        (fixed(v2.Compose([ToRGB(), v2.ToImage(), v2.CenterCrop(64)]), **WORKERS), "shows only 1"),  # judged in full
        # two thirds of the short side, with the statistics of those items: a part of the photo, not "a petal or two"
        (two_thirds, "a larger one less): a part of the photo, its edges cut away"),
        (fixed(v2.Compose([ToRGB(), v2.ToImage(), v2.RandomResizedCrop(64), flip]), **WORKERS), "Correct!"),  # a zoom
        (fixed(v2.Compose([ToRGB(), v2.ToImage(), v2.Resize(73), v2.RandomCrop(64), flip]), **WORKERS), "Correct!"),
        (fixed(_uint8(), **WORKERS), "no item ever comes out mirrored"),  # the evaluation pipeline: the flip dropped
    ]


def test_check_fixed_loader_feedback(mini_root, train_stats, capsys):
    # the intern's four bugs: three the doctor names (MNIST's statistics, no shuffling, batches of 4), and a random
    # crop cut from the full-size photo, which keeps a disc round: only a look at the items (or the checker) shows it
    assert not exercises.check_fixed_loader(lambda intern: intern, mini_root)
    out = capsys.readouterr().out
    assert all(bug in out for bug in ("3 problem(s)", "shuffling", "batch size", "normalisation")), out
    assert "aspect ratio" not in out
    for answer, feedback in _fixed_cases(train_stats):
        ok = exercises.check_fixed_loader(answer, mini_root)
        out = capsys.readouterr().out
        assert feedback in out and ok == out.startswith("Correct!"), (answer, feedback, out)
        assert "Hint:" in out or ok, out
        assert "draft" not in out or feedback == "intern.dataset.draft = size", "decoded at reduced size: nothing to add"


def test_a_crop_of_a_draft_decode_is_a_patch_at_the_real_profile_s_size_too(mini_root, capsys):
    """At 96 px (the real photos' profile) draft=96 decodes 500 px to 125, where RandomCrop(96) showed 77%: passed."""

    def keeps_the_crop(intern):
        crop = v2.RandomCrop(96, pad_if_needed=True)  # the fixture's photos are small; the probe is 660x500
        intern.dataset.transform, intern.dataset.draft = v2.Compose([ToRGB(), v2.ToImage(), crop]), 96
        return _loader(intern.dataset, CollateNormalize(*compute_stats(intern.dataset, progress=False)), **WORKERS)

    assert not exercises.check_fixed_loader(keeps_the_crop, mini_root, 96)
    assert "a patch cut out of the photo" in capsys.readouterr().out


def _reference(intern, **settings):
    """The notebook's fix, with loader ``settings`` changed (and, given ``transform``, another transform)."""
    transform = settings.pop("transform", None)
    intern.dataset.transform, intern.dataset.draft = transform or _train_uint8(), 64
    collate = settings.pop("collate", None) or CollateNormalize(*compute_stats(intern.dataset, progress=False))
    return DataLoader(
        intern.dataset,
        **{"batch_size": 64, "shuffle": True, "generator": torch.Generator().manual_seed(0), "collate_fn": collate}
        | {"timeout": 120, **WORKERS}
        | settings,
    )


class _OwnBatchStatistics:  # each batch standardised by its own statistics: batches of a split disagree
    def __call__(self, batch):
        x = torch.stack([image for image, _ in batch]).float()
        x = (x - x.mean(dim=(0, 2, 3), keepdim=True)) / x.std(dim=(0, 2, 3), keepdim=True)
        return x, torch.tensor([label for _, label in batch])


@pytest.mark.parametrize(
    "settings, feedback",
    [
        ({}, "Correct!"),
        ({"pin_memory": True}, "pin_memory=True without a GPU"),
        ({"num_workers": 32}, "num_workers=32 on a machine"),
        ({"generator": None}, "no seeded generator"),
        ({"collate": _OwnBatchStatistics()}, "not with the train split's"),
        ({"shuffle": False, "sampler": "range"}, "does not shuffle"),
    ],
)
def test_check_fixed_loader_applies_notebook_03_s_rules_and_sees_padding(mini_root, settings, feedback, capsys):
    if settings.get("pin_memory") and torch.cuda.is_available():
        pytest.skip("pin_memory is right where there is a GPU")

    def answer(intern):
        given = dict(settings)
        if given.get("sampler") == "range":
            given["sampler"] = list(range(len(intern.dataset)))
        return _reference(intern, **given)

    ok = exercises.check_fixed_loader(answer, mini_root)
    out = capsys.readouterr().out
    assert feedback in out and ok == (feedback == "Correct!"), out


def test_a_crop_larger_than_the_draft_decode_is_named_as_padding(mini_root, capsys):
    """CenterCrop(500) then Resize: right on a full decode of a 500 px photo; with draft = 64 the decode is about
    125 px, and the crop pads it (on the course's photos the doctor passes it: only the probe sees the padding)."""
    intern = exercises.intern_loader(mini_root, 64)
    intern.dataset.transform = v2.Compose([ToRGB(), v2.ToImage(), v2.CenterCrop(500), v2.Resize(64)])
    intern.dataset.draft = 64
    assert nb04._padding_share(intern.dataset) > 0.5
    verdict = nb04._beyond_the_doctor(_reference(intern, transform=intern.dataset.transform), intern.dataset, 64)
    assert verdict is not None and not verdict
    assert "black padding" in capsys.readouterr().out
    reference = exercises.intern_loader(mini_root, 64)
    reference.dataset.transform, reference.dataset.draft = _uint8(), 64
    assert nb04._padding_share(reference.dataset) == 0.0


def test_the_checker_gives_fixed_loader_the_intern_at_the_notebooks_size(mini_root, capsys):
    sizes = []
    exercises.check_fixed_loader(lambda intern: sizes.append(intern.dataset[0][0].shape[-1]), mini_root, 48)
    assert sizes == [48] and "still the stub" in capsys.readouterr().out


def test_the_worker_rule_accepts_no_workers_over_a_cache(mini_root, tmp_path):
    cache = build_cache(OxfordFlowers102(mini_root, "train"), 16, folder=tmp_path, progress=False)
    assert nb04._worker_rule(DataLoader(cache, batch_size=64)) == [], "a uint8 cache decodes nothing: no workers needed"
    assert nb04._worker_rule(DataLoader(OxfordFlowers102(mini_root, "train"), batch_size=64))


# ------------------------------------------------------------------ exercise 4: lr_at, OneCycleLR indexed by progress


def _lr_at(progress, max_lr, *, start_div=25, end_div=25e4, peak=0.3, cosine=True, three=True, third_divided=True):
    """The reference curve (three phases, pct_start 0.3), or a planted mistake in one of its parts."""
    start, end = max_lr / start_div, max_lr / end_div

    def anneal(a, b, t):
        return b + (a - b) * ((1 + math.cos(math.pi * t)) / 2 if cosine else 1 - t)

    if progress < peak:
        return anneal(start, max_lr, progress / peak)
    if not three:  # OneCycleLR's default two phases
        return anneal(max_lr, end, (progress - peak) / (1 - peak))
    if progress < 2 * peak:
        return anneal(max_lr, start, (progress - peak) / peak)
    return anneal(start, end, (progress - 2 * peak) / ((1 - 2 * peak) if third_divided else 1))


def _staircase(progress, max_lr, steps=100):
    """OneCycleLR itself, but on a 101-step run: the right curve, in steps too coarse for a run indexed by progress."""
    return _lr_at(round(progress * steps) / steps, max_lr)


@pytest.mark.parametrize(
    "func, feedback",
    [
        (_lr_at, "Correct!"),
        (lambda p, m: nb04._model.one_cycle(p, m)[0], "the flowerkit version"),  # reached through another module's name
        (lambda p, m: flowerkit.model.one_cycle(p, m, pct_start=0.3)[0], "the flowerkit version"),  # as a notebook calls it
        (lambda p, m: None, "still the stub"),
        (lambda p, m: (_lr_at(p, m), 0.95), "return the learning rate alone"),  # one_cycle's (rate, momentum)
        (lambda p, m: _lr_at(p, m, start_div=10), "starts at max_lr / div_factor"),
        (lambda p, m: _lr_at(p, m, peak=0.25), "the peak, max_lr, comes at pct_start"),
        (lambda p, m: _lr_at(p, m, three=False), "with three_phase=True a second phase"),  # the default two phases
        (lambda p, m: _lr_at(p, m, end_div=25), "final_div_factor"),
        (lambda p, m: _lr_at(p, m, cosine=False), "the curve is a cosine"),
        (lambda p, m: _lr_at(p, m, third_divided=False), "divide by the phase's length"),
        (lambda p, m: _lr_at(p, 2e-3), "expected about"),  # the peak typed in, not the argument
        (_staircase, "moves in steps"),
        (lambda p, m: torch.tensor(_lr_at(p, m)), "Correct!"),  # a 0-d tensor is a number too
        (lambda p, m: np.float32(_lr_at(p, m)), "Correct!"),
        (lambda p, m: str(_lr_at(p, m)), "returned a str: return one number"),
        (lambda p, m: torch.tensor([_lr_at(p, m)] * 2), "returned a Tensor: return one number"),
        (lambda p, m: _lr_at(p, m) if abs(p - 0.45) > 0.01 else m, "at progress 0.44"),  # a spike between the landmarks
        (lambda p, m: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_check_lr_at_compares_with_onecycle_at_every_step(func, feedback, capsys):
    ok = exercises.check_lr_at(func)
    out = capsys.readouterr().out
    assert feedback in out and ok == (feedback == "Correct!"), out


def test_check_lr_at_s_tolerance_holds_where_the_scheduler_s_phase_ends_fall_between_steps():
    """OneCycleLR ends its phases at pct_start * N - 1 and 2 * pct_start * N - 2 steps: the reference, indexed by
    progress, is off by up to 3.4% of a low rate there, within the checker's tolerance; a curve 5% off is not."""
    for max_lr in (2e-3, 0.1):
        lrs = nb04._onecycle_lrs(max_lr, 1001)
        worst = max(abs(_lr_at(k / 1000, max_lr) - w) / w for k, w in enumerate(lrs))
        assert 0.02 < worst < 0.05, worst
        assert all(nb04._step_close(_lr_at(k / 1000, max_lr), w, max_lr, k / 1000) for k, w in enumerate(lrs))
        assert not all(nb04._step_close(1.05 * _lr_at(k / 1000, max_lr), w, max_lr, k / 1000) for k, w in enumerate(lrs))
        # the slack of 1% of the peak holds only where it is needed: in the third phase every rate is under 4% of
        # the peak, and a slack there would pass any curve between the landmarks
        off = [k for k, w in enumerate(lrs) if not math.isclose(_lr_at(k / 1000, max_lr), w, rel_tol=0.02)]
        assert off and all(0.45 < k / 1000 <= 0.6 for k in off), off


def _linear_third_phase(progress, max_lr):
    """Cosine in the first two phases, a straight line in the third: it meets the landmarks at 0.6, 0.8 and 1.0."""
    if progress < 0.6:
        return _lr_at(progress, max_lr)
    start, end = max_lr / 25, max_lr / 25e4
    return start + (end - start) * (progress - 0.6) / 0.4


def _third_phase_over(length):
    """The third phase's progress divided by ``length`` (1 - pct_start, as a two-phase schedule divides)."""
    return lambda p, m: _lr_at(p, m) if p < 0.6 else _lr_at(0.6 + (p - 0.6) * 0.4 / length, m)


def test_check_lr_at_names_a_linear_third_phase_a_short_one_and_a_long_list(capsys):
    assert not exercises.check_lr_at(_linear_third_phase)
    assert "the third phase is a half cosine too" in capsys.readouterr().out
    assert not exercises.check_lr_at(_third_phase_over(0.7))
    out = capsys.readouterr().out
    assert "lr_at(1.0" in out and "last phase's own progress reaches 1" in out, out
    assert not exercises.check_lr_at(lambda p, m: np.linspace(m / 25, m, 1001).tolist())  # a whole run, not one rate
    out = capsys.readouterr().out
    assert "returned a list of 1001 numbers" in out and len(out) < 400, out


def test_check_lr_at_refuses_the_checker_s_own_reference(capsys):
    from flowerkit import exercises as ex

    lookup = lambda p, m: float(np.interp(p, np.linspace(0, 1, 1001), ex.nb04._onecycle_lrs(m, 1001)))  # noqa: E731
    built = lambda p, m: ex.nb04._half_cosine(*ex.nb04._ends(m), 0.5)  # noqa: E731
    for func in (lookup, built):
        assert not exercises.check_lr_at(func)
        assert "the checker's own reference curve" in capsys.readouterr().out


def test_an_integer_division_and_a_partial_lr_at_are_named(capsys):
    labels = [1] * 30 + [0] * 10 + [2] * 5  # the largest class is 1, so 0 cannot be its index
    assert not exercises.check_majority_baseline(30 // 45, labels)
    assert "integer division" in capsys.readouterr().out

    def warm_up_only(progress, max_lr):
        if progress < 0.3:
            return max_lr * progress / 0.3
        return None

    assert not exercises.check_lr_at(warm_up_only)
    out = capsys.readouterr().out
    assert "returned None: past the warm-up" in out and "still the stub" not in out, out


def test_a_one_number_array_is_a_number(capsys):
    labels = [1] * 30 + [0] * 10 + [2] * 5
    assert exercises.check_majority_baseline(np.array([30 / 45]), labels)
    assert "Correct!" in capsys.readouterr().out


def test_a_top_k_over_the_whole_matrix_keeps_the_diagonal_and_is_named(capsys):
    def top_k_of_the_matrix(preds, trues, k):  # np.add.at counts, a stable argsort of the flattened matrix
        m = np.zeros((102, 102), int)
        np.add.at(m, (np.asarray(trues), np.asarray(preds)), 1)
        return [(int(i // 102), int(i % 102), int(m.ravel()[i])) for i in np.argsort(-m.ravel(), kind="stable")[:k]]

    assert not exercises.check_most_confused(top_k_of_the_matrix)
    assert "on a third case (k=2): correct predictions (true == predicted) are in your list" in capsys.readouterr().out


def test_a_top_k_of_the_matrix_without_its_diagonal_lists_mistakes_never_made(capsys):
    def off_diagonal_top_k(preds, trues, k):  # the reviewer's: confusion counts, diagonal zeroed, flatten().topk(k)
        m = torch.zeros(4, 4, dtype=torch.int64)
        m.index_put_((torch.as_tensor(trues), torch.as_tensor(preds)), torch.tensor(1), accumulate=True)
        m.fill_diagonal_(0)
        counts, where = m.flatten().topk(k)
        return [(int(i // 4), int(i % 4), int(n)) for n, i in zip(counts, where)]

    assert not exercises.check_most_confused(off_diagonal_top_k)
    out = capsys.readouterr().out
    assert "on a fourth case (k=4): only 2 different mistakes were made here" in out and "never happened" in out, out
