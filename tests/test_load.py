"""flowerkit.load: fast decode, the uint8 cache, batched fetch, seeded loaders, errors from workers (notebook 03)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from flowerkit import OxfordFlowers102
from flowerkit.access import FlowersFormatError, load_rgb
from flowerkit.facts import IMAGENET_MEAN, IMAGENET_STD
from flowerkit.load import (
    CachedFlowers,
    CollateNormalize,
    DecodedFlowers,
    build_cache,
    collate_uint8,
    decode_resized,
    make_loader,
    measure_throughput,
)
from flowerkit.transform import eval_transform, resize_crop

S = 16


@pytest.fixture
def root(mini_root, tmp_path):
    """A private copy of the small dataset, safe to break."""
    shutil.copytree(mini_root / "flowers-102", tmp_path / "flowers-102")
    return tmp_path


def test_decode_resized_matches_resize_then_crop(default_mini_root):
    ds = OxfordFlowers102(default_mini_root, "val")
    for path in ds.image_files[:5]:
        fast = decode_resized(path, 64)
        slow = resize_crop(64)(load_rgb(path))
        assert fast.shape == (3, 64, 64) and fast.dtype == torch.uint8
        # draft (DCT-domain) scaling and crop-before-resize differ from a full decode by a pixel or two of grain
        assert (fast.float() - slow.float()).abs().mean() < 6
        corr = torch.corrcoef(torch.stack([fast.flatten().float(), slow.flatten().float()]))[0, 1]
        assert corr > 0.95, "the same picture, aligned (a misaligned crop gives far less)"


def test_cache_equals_direct_decoding_and_is_reused(root, tmp_path, monkeypatch):
    ds = OxfordFlowers102(root, "train")
    cache = build_cache(ds, S, folder=tmp_path / "cache", progress=False)
    assert len(cache) == len(ds) and cache.labels == ds.labels
    assert cache.images.shape == (len(ds), 3, S, S) and cache.images.dtype == np.uint8
    assert cache.nbytes == len(ds) * 3 * S * S
    for i in range(0, len(ds), 97):
        assert torch.equal(cache[i][0], decode_resized(ds.image_files[i], S))
    monkeypatch.setattr("flowerkit.load.decode_resized", lambda *a: pytest.fail("a matching cache must not decode"))
    again = build_cache(ds, S, folder=tmp_path / "cache", progress=False)
    assert np.array_equal(again.images, cache.images)


def test_cache_is_rebuilt_when_a_file_or_the_size_changes(root, tmp_path):
    ds = OxfordFlowers102(root, "train")
    first = build_cache(ds, S, folder=tmp_path / "cache", progress=False)
    victim = ds.image_files[3]
    replacement = ds.image_files[50]
    shutil.copyfile(replacement, victim)  # same name, other picture
    rebuilt = build_cache(OxfordFlowers102(root, "train"), S, folder=tmp_path / "cache", progress=False)
    assert torch.equal(rebuilt[3][0], decode_resized(replacement, S))
    assert not torch.equal(rebuilt[3][0], first[3][0]) or torch.equal(decode_resized(replacement, S), first[3][0])
    other_size = build_cache(ds, S * 2, folder=tmp_path / "cache", progress=False)
    assert other_size.size == S * 2 and other_size[0][0].shape == (3, 2 * S, 2 * S)


def test_an_interrupted_build_is_never_used(root, tmp_path, monkeypatch):
    ds = OxfordFlowers102(root, "train")
    real = DecodedFlowers._load_image

    def boom(self, idx):
        if idx == 70:
            raise KeyboardInterrupt
        return real(self, idx)

    monkeypatch.setattr(DecodedFlowers, "_load_image", boom)
    with pytest.raises(KeyboardInterrupt):
        build_cache(ds, S, folder=tmp_path / "cache", progress=False)
    assert not list((tmp_path / "cache").glob("*.json")), "no manifest: the half-built cache must not look valid"
    assert not list((tmp_path / "cache").glob(".*partial")), "no temporary file left behind"
    monkeypatch.setattr(DecodedFlowers, "_load_image", real)
    cache = build_cache(ds, S, folder=tmp_path / "cache", progress=False)
    assert torch.equal(cache[70][0], decode_resized(ds.image_files[70], S))


def test_a_damaged_manifest_or_data_file_triggers_a_rebuild(root, tmp_path):
    ds = OxfordFlowers102(root, "val")
    cache = build_cache(ds, S, folder=tmp_path / "c", progress=False)
    manifest = cache.path.with_suffix(".json")
    manifest.write_text(manifest.read_text()[:20])  # half-written
    with pytest.raises(ValueError):
        CachedFlowers(cache.path)
    rebuilt = build_cache(ds, S, folder=tmp_path / "c", progress=False)
    assert json.loads(manifest.read_text())["n"] == len(ds)
    assert rebuilt.labels == ds.labels


def test_batched_fetch_equals_single_fetch(root, tmp_path):
    cache = build_cache(OxfordFlowers102(root, "train"), S, folder=tmp_path / "c", progress=False)
    idx = [5, 0, 99, 5, 42]
    batch = cache.__getitems__(idx)
    assert all(torch.equal(image, cache[i][0]) and label == cache[i][1] for (image, label), i in zip(batch, idx))
    # a plain DataLoader (default collate) works on the cache too
    x, y = next(iter(torch.utils.data.DataLoader(cache, batch_size=8)))
    assert x.shape == (8, 3, S, S) and y.tolist() == cache.labels[:8]


def test_batch_normalisation_matches_the_eval_transform(root):
    ds = DecodedFlowers(root, "val", S)
    x, y = next(iter(make_loader(ds, batch_size=4, num_workers=0, mean=IMAGENET_MEAN, std=IMAGENET_STD)))
    expected = torch.stack([eval_transform(S)(ds[i][0]) for i in range(4)])  # the per-image float pipeline
    torch.testing.assert_close(x, expected)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    raw, _ = next(iter(make_loader(ds, batch_size=4, num_workers=0)))
    assert raw.dtype == torch.uint8
    with pytest.raises(ValueError):
        CollateNormalize(IMAGENET_MEAN, None)


def test_collate_uint8_stacks_pairs_keeping_the_dtype(root):
    ds = DecodedFlowers(root, "val", S)
    x, y = collate_uint8([ds[0], ds[1]])
    assert x.shape == (2, 3, S, S) and x.dtype == torch.uint8 and y.tolist() == ds.labels[:2]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_batches_from_cache_and_from_jpegs_agree(root, tmp_path, num_workers):
    ds = OxfordFlowers102(root, "val")
    cache = build_cache(ds, S, folder=tmp_path / "c", progress=False)
    a = list(make_loader(cache, batch_size=32, num_workers=num_workers, mean=IMAGENET_MEAN, std=IMAGENET_STD))
    b = list(
        make_loader(DecodedFlowers(root, "val", S), batch_size=32, num_workers=num_workers, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    )
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b):
        torch.testing.assert_close(xa, xb)
        assert torch.equal(ya, yb)


def test_shuffled_order_is_deterministic_with_a_seed(root, tmp_path):
    cache = build_cache(OxfordFlowers102(root, "train"), S, folder=tmp_path / "c", progress=False)

    def order(seed):
        return torch.cat([y for _, y in make_loader(cache, shuffle=True, seed=seed, num_workers=0)]).tolist()

    assert order(1) == order(1)
    assert order(1) != order(2)
    assert sorted(order(1)) == sorted(cache.labels)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_corrupt_image_mid_epoch_names_the_file_and_index(root, num_workers):
    ds = DecodedFlowers(root, "val", S)
    bad = ds.image_files[40]
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    loader = make_loader(ds, batch_size=16, num_workers=num_workers, persistent_workers=False)
    with pytest.raises(FlowersFormatError) as err:
        for _ in loader:
            pass
    assert bad.name in str(err.value) and "item 40" in str(err.value)


def test_make_loader_defaults():
    data = torch.utils.data.TensorDataset(torch.zeros(10, 3, 4, 4, dtype=torch.uint8), torch.arange(10))
    loader = make_loader(data, batch_size=4, num_workers=0)
    assert loader.pin_memory == torch.cuda.is_available()
    assert not loader.persistent_workers
    x, y = next(iter(loader))
    assert x.shape == (4, 3, 4, 4)


def test_measure_throughput_counts_images():
    batches = [(torch.zeros(8, 3, 2, 2), torch.zeros(8))] * 5
    r = measure_throughput(batches, warmup=1)
    assert r["images"] == 32 and r["batches"] == 4 and r["images_per_s"] > 0
    assert measure_throughput(batches, 2, warmup=0)["images"] == 16
    assert measure_throughput([64, 64, 10], warmup=0)["images"] == 138


@pytest.mark.parametrize("num_workers", [0, 2])
def test_channels_last_batches_hold_the_same_values(mini_root, num_workers):
    import torch

    from flowerkit.model import FlowerCNN, TrainConfig, train

    ds = DecodedFlowers(mini_root, "val", S)
    kw = {"batch_size": 16, "num_workers": num_workers, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    plain = next(iter(make_loader(ds, **kw)))[0]
    cl = next(iter(make_loader(ds, channels_last=True, **kw)))[0]
    assert cl.is_contiguous(memory_format=torch.channels_last) and not plain.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(plain, cl)
    raw = next(iter(make_loader(ds, batch_size=16, num_workers=num_workers, channels_last=True)))[0]
    assert raw.dtype == torch.uint8 and raw.is_contiguous(memory_format=torch.channels_last)
    model = FlowerCNN()
    train(model, [(cl, torch.zeros(16, dtype=torch.int64))], TrainConfig(epochs=1), progress=False)
    assert model.features[0].weight.is_contiguous(memory_format=torch.channels_last), "the model follows the batches"


def test_decode_resized_reads_bytes_and_file_objects_like_a_path(mini_root):
    # notebook 06 decodes JPEGs straight from tar shards: the same pixels as from the file on disk
    path = OxfordFlowers102(mini_root, "val").image_files[0]
    data = path.read_bytes()
    expected = decode_resized(path, S)
    assert torch.equal(decode_resized(data, S), expected)
    with open(path, "rb") as stream:
        assert torch.equal(decode_resized(stream, S), expected)
    with pytest.raises(FlowersFormatError, match="not a readable image"):
        load_rgb(b"not a jpeg")
