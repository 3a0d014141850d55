"""flowerkit.curate (notebook 08): names to classes, a Dataset that survives bad files, a split without leakage,
mixing weights, and the two ways to batch photos of every size, on small made-up data."""

from __future__ import annotations

import pickle
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import ExifTags, Image

from flowerkit import CLASSES, curate


@pytest.mark.parametrize(
    "name, meant",
    [
        ("sunflower", "sunflower"),
        (" Sunflowers ", "sunflower"),
        ("WATER LILIES", "water lily"),
        ("pink yellow dahlia", "pink-yellow dahlia?"),
        ("colts foot", "colt's foot"),
        ("passion flwoer", "passion flower"),
        ("camelia", "camellia"),
        ("lotuses", "lotus"),
        ("Marigold", "marigold"),
        ("english marigolds", "english marigold"),
    ],
)
def test_names_that_map(name, meant):
    match = curate.match_name(name, CLASSES)
    assert match.index == CLASSES.index(meant), match


@pytest.mark.parametrize(
    "name, why", [("tulip", "only part of"), ("daisy", "only part of"), ("lavender", "not one of"), ("", "empty")]
)
def test_names_that_do_not_map_say_why(name, why):
    match = curate.match_name(name, CLASSES)
    assert match.index is None and why in match.why


@pytest.mark.parametrize("name", ["cup flower", "paper flower", "hard leaf pocket orchid"])
def test_a_word_changed_for_another_is_not_a_typo(name):
    match = curate.match_name(name, CLASSES)  # each as close as a typo over the whole name (difflib >= 0.85)
    assert match.index is None and "is another word than" in match.why, match


@pytest.mark.parametrize(
    "name, meant", [("Colts foot", "colt's foot"), ("Sun Flowers", "sunflower"), ("waterlily", "water lily")]
)
def test_a_word_dropped_or_spaced_otherwise_is_still_a_typo(name, meant):
    assert curate.match_name(name, CLASSES).index == CLASSES.index(meant)


def test_a_name_as_close_to_two_classes_is_ambiguous():
    match = curate.match_name("abcd ef", ["abcd eg", "abcd eh"])
    assert match.index is None and "ambiguous" in match.why


def _files(tmp_path):
    rng = np.random.default_rng(0)
    good = []
    for k in range(4):
        p = tmp_path / f"ok_{k}.png"
        Image.fromarray(rng.integers(0, 256, (20 + k, 30, 3), dtype=np.uint8)).save(p)
        good.append(p)
    cut = tmp_path / "cut.jpg"
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(cut, quality=90)
    cut.write_bytes(cut.read_bytes()[:200])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "page.jpg").write_text("<html>502</html>")
    return good, [cut, tmp_path / "empty.png", tmp_path / "page.jpg", tmp_path / "gone.webp"]


def test_labelled_images_skip_and_report_bad_files(tmp_path):
    good, bad = _files(tmp_path)
    ds = curate.LabelledImages(good + bad, [0, 1, 2, 3, 0, 1, 2, 3], 16)
    assert ds.image_files == good and ds.labels == [0, 1, 2, 3] and len(ds) == 4
    assert {p.name: why.split(" ")[0] for p, why in ds.skipped} == {
        "cut.jpg": "unreadable",
        "empty.png": "empty",
        "page.jpg": "not",
        "gone.webp": "missing",
    }
    x, y = ds[2]
    assert x.shape == (3, 16, 16) and x.dtype == torch.uint8 and y == 2
    assert "skipped 4" in ds.report() and "gone.webp: missing" in ds.report()
    assert len(pickle.dumps(ds)) < 4000
    with pytest.raises(ValueError, match="one label per file"):
        curate.LabelledImages(good, [0], 16)


def test_split_by_content_keeps_copies_together_and_stratifies():
    hashes = [f"h{i}" for i in range(30)] + ["h0", "h0", "h5"]  # three copies of two photos
    labels = [i % 3 for i in range(30)] + [0, 0, 2]
    train, test = curate.split_by_content(hashes, labels, test_fraction=0.3, seed=0)
    assert sorted(train + test) == list(range(33))
    assert not {hashes[i] for i in train} & {hashes[i] for i in test}
    for c in range(3):
        assert Counter(labels[i] for i in test)[c] >= 3
    assert (train, test) == curate.split_by_content(hashes, labels, test_fraction=0.3, seed=0)
    assert (train, test) != curate.split_by_content(hashes, labels, test_fraction=0.3, seed=1)
    lone_train, lone_test = curate.split_by_content(["a", "b", "b"], [0, 1, 1])
    assert lone_test == [] and lone_train == [0, 1, 2], "a class with one distinct photo stays in train"


def test_mixing_weights_give_each_source_its_share_and_each_class_its_part():
    sources = ["a"] * 6 + ["b"] * 4
    labels = [0, 0, 0, 0, 1, 1, 5, 5, 5, 6]
    w = curate.mixing_weights(sources, labels, {"a": 3, "b": 1})
    assert w.sum().item() == pytest.approx(1.0)
    assert w[:6].sum().item() == pytest.approx(0.75) and w[6:].sum().item() == pytest.approx(0.25)
    assert w[:4].sum().item() == pytest.approx(w[4:6].sum().item())
    assert w[6:9].sum().item() == pytest.approx(w[9].item())


def test_crop_loss_and_padding_costs():
    assert curate.crop_loss(100, 100) == 0 and curate.crop_loss(1600, 900) == pytest.approx(0.4375)
    sizes = [(400, 300), (300, 400), (400, 300), (300, 400)]
    mixed = curate.padded_share([[0, 1], [2, 3]], sizes, 40)
    alike = curate.padded_share([[0, 2], [1, 3]], sizes, 40)
    assert alike == 0 and mixed == pytest.approx(0.25)


def test_bucket_batch_sampler_groups_shapes_and_draws_new_batches_each_epoch():
    rng = np.random.default_rng(0)
    sizes = [(int(w), int(h)) for w, h in rng.integers(50, 500, (100, 2))]
    sampler = curate.BucketBatchSampler(sizes, 8, seed=0)
    first, second = list(sampler), list(sampler)
    for epoch in (first, second):
        assert sorted(i for b in epoch for i in b) == list(range(100)) and len(epoch) == len(sampler) == 13
    assert list(curate.BucketBatchSampler(sizes, 8, seed=0)) == first  # the same seed, the same epochs
    shared = {frozenset(b) for b in first} & {frozenset(b) for b in second}
    assert len(shared) <= 2, "each epoch cuts new batches, not only a new order of the same ones"
    sequential = [list(range(k, min(k + 8, 100))) for k in range(0, 100, 8)]
    for epoch in (first, second):
        assert curate.padded_share(epoch, sizes, 64) < 0.5 * curate.padded_share(sequential, sizes, 64)


def test_bucket_batch_sampler_regroups_photos_of_one_aspect_at_no_cost():
    # a camera's few usual aspects, 20 photos each, their long sides all different
    rng = np.random.default_rng(1)
    sizes = [
        (int(side), round(side * b / a)) if a >= b else (round(side * a / b), int(side))
        for a, b in [(4, 3), (3, 4), (16, 9), (1, 1)]
        for side in rng.integers(600, 1200, 20)
    ]
    sampler = curate.BucketBatchSampler(sizes, 8, seed=0)
    epochs = [list(sampler) for _ in range(4)]
    by_aspect = sorted(range(len(sizes)), key=lambda i: sizes[i][0] / sizes[i][1])  # batches cut once
    once = curate.padded_share([by_aspect[k : k + 8] for k in range(0, len(sizes), 8)], sizes, 64)
    for later in epochs[1:]:
        assert not {frozenset(b) for b in epochs[0]} & {frozenset(b) for b in later}
        assert curate.padded_share(later, sizes, 64) == pytest.approx(once)


def test_decode_long_side_and_pad_collate(tmp_path):
    p = tmp_path / "wide.jpg"
    Image.new("RGB", (300, 100), (200, 30, 30)).save(p)
    x = curate.decode_long_side(p, 48)
    assert x.shape == (3, 16, 48) and x.dtype == torch.uint8
    batch, y = curate.pad_collate([(x, 1), (torch.full((3, 48, 20), 7, dtype=torch.uint8), 2)])
    assert batch.shape == (2, 3, 48, 48) and y.tolist() == [1, 2]
    assert batch[0, :, 16:].sum() == 0 and batch[1, :, :, 20:].sum() == 0


def test_photo_size_applies_the_exif_orientation(tmp_path):
    p = tmp_path / "portrait.jpg"
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    Image.new("RGB", (40, 30)).save(p, exif=exif)
    assert curate.photo_size(p) == (30, 40)
    assert curate.normalise_name(" Pink-Yellow Dahlias?") == "pink yellow dahlia"
