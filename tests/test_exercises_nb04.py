"""Checkers of notebook 04_three_teams (flowerkit.exercises.nb04): baseline, confusions, the intern's loader (and 03's worker rule)."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader

from flowerkit import OxfordFlowers102, exercises
from flowerkit.exercises import nb04
from flowerkit.load import CollateNormalize, DecodedFlowers, build_cache
from flowerkit.transform import compute_stats, eval_transform


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
    ],
)
def test_check_majority_baseline_feedback(answer, feedback, capsys):
    labels = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]  # 3 classes, the largest holds 40%, the smallest 20%
    assert exercises.check_majority_baseline(answer, labels) == (feedback == "Correct")
    assert feedback in capsys.readouterr().out


def _most_confused_reference(preds, trues, k):
    pairs = Counter((int(t), int(p)) for p, t in zip(preds, trues) if p != t)
    return [(t, p, c) for (t, p), c in pairs.most_common(k)]


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
    ],
)
def test_check_most_confused_feedback(func, feedback, capsys):
    ok = exercises.check_most_confused(func)
    assert ok == (feedback == "Correct")
    assert feedback in capsys.readouterr().out


def test_check_fixed_loader_feedback(mini_root, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWERKIT_CACHE", str(tmp_path))
    assert not exercises.check_fixed_loader(lambda root: None, mini_root)
    assert "still the stub" in capsys.readouterr().out
    # the intern's four bugs: MNIST's statistics, a squashing Resize((size, size)), no shuffling, batches of 4
    assert not exercises.check_fixed_loader(exercises.intern_loader, mini_root)
    out = capsys.readouterr().out
    assert (
        "4 problem(s)" in out and "aspect ratio" in out and "shuffling" in out and "batch size" in out and "normalisation" in out
    )

    def stats(root):
        return compute_stats(build_cache(OxfordFlowers102(root, "train"), 64, progress=False), progress=False)

    def fixed(root, **workers):  # notebook 04's reference: uint8 items decoded at reduced size, normalised per batch
        ds = DecodedFlowers(root, "train", 64)
        collate = CollateNormalize(*stats(root))
        return DataLoader(ds, batch_size=64, shuffle=True, collate_fn=collate, timeout=120 if workers else 0, **workers)

    def per_image(root, **workers):  # right pictures, but each converted and normalised on its own
        ds = OxfordFlowers102(root, "train", transform=eval_transform(64, *stats(root)), draft=64)
        return DataLoader(ds, batch_size=64, shuffle=True, **workers)

    assert exercises.check_fixed_loader(lambda root: fixed(root, num_workers=2, persistent_workers=True), mini_root), (
        capsys.readouterr().out
    )
    assert "2 workers decode the JPEGs" in capsys.readouterr().out
    assert not exercises.check_fixed_loader(fixed, mini_root), "JPEGs decoded with no workers break notebook 03's rule"
    out = capsys.readouterr().out
    assert "the doctor finds no problem, but workers: num_workers=0, and the dataset (DecodedFlowers)" in out and "Hint:" in out
    assert not exercises.check_fixed_loader(lambda root: fixed(root, num_workers=2), mini_root)
    assert "persistent_workers=False" in capsys.readouterr().out
    assert not exercises.check_fixed_loader(lambda root: per_image(root, num_workers=2, persistent_workers=True), mini_root)
    assert "each item comes out of the dataset as torch.float32" in capsys.readouterr().out
    assert not exercises.check_fixed_loader(lambda root: DataLoader(OxfordFlowers102(root, "val")), mini_root)
    assert "the train split has" in capsys.readouterr().out


def test_the_worker_rule_accepts_no_workers_over_a_cache(mini_root, tmp_path):
    cache = build_cache(OxfordFlowers102(mini_root, "train"), 16, folder=tmp_path, progress=False)
    assert nb04._worker_rule(DataLoader(cache, batch_size=64)) == [], "a uint8 cache decodes nothing: no workers needed"
    assert nb04._worker_rule(DataLoader(OxfordFlowers102(mini_root, "train"), batch_size=64))


# ------------------------------------------------------------------ exercise 4: lr_at, OneCycleLR indexed by progress


def _lr_at(progress, max_lr, *, start_div=25, end_div=25e4, peak=0.25, cosine=True):
    """The reference curve, or a planted mistake in one of its parts."""
    start, end = max_lr / start_div, max_lr / end_div
    t = progress / peak if progress < peak else (progress - peak) / (1 - peak)
    w = (1 + math.cos(math.pi * t)) / 2 if cosine else 1 - t
    return max_lr + (start - max_lr) * w if progress < peak else end + (max_lr - end) * w


def _staircase(progress, max_lr, steps=100):
    """OneCycleLR itself, but on a 101-step run: the right curve, in steps too coarse for a run indexed by progress."""
    return _lr_at(round(progress * steps) / steps, max_lr)


@pytest.mark.parametrize(
    "func, feedback",
    [
        (_lr_at, "Correct!"),
        (lambda p, m: nb04.one_cycle(p, m)[0], "Correct!"),
        (lambda p, m: None, "still the stub"),
        (lambda p, m: nb04.one_cycle(p, m), "return the learning rate alone"),
        (lambda p, m: _lr_at(p, m, start_div=10), "starts at max_lr / div_factor"),
        (lambda p, m: _lr_at(p, m, peak=0.3), "the peak, max_lr, comes at pct_start"),
        (lambda p, m: _lr_at(p, m, end_div=25), "final_div_factor"),
        (lambda p, m: _lr_at(p, m, cosine=False), "the curve is a cosine"),
        (lambda p, m: _lr_at(p, 2e-3), "expected about"),  # the peak typed in, not the argument
        (_staircase, "moves in steps"),
        (lambda p, m: torch.tensor(_lr_at(p, m)), "return a Python float"),
        (lambda p, m: _lr_at(p, m) if p <= 0.25 else m / 25e4 + (m - m / 25e4) * (1 - (p - 0.25) / 0.75), "one cosine falls"),
        (lambda p, m: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_check_lr_at_compares_with_onecycle_at_every_step(func, feedback, capsys):
    ok = exercises.check_lr_at(func)
    out = capsys.readouterr().out
    assert feedback in out and ok == (feedback == "Correct!"), out
