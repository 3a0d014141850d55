"""flowerkit.load: fast decode, the uint8 cache, batched fetch, seeded loaders, errors from workers (notebook 03)."""

from __future__ import annotations

import errno
import functools
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from flowerkit import OxfordFlowers102, load
from flowerkit.access import FlowersFormatError, load_rgb
from flowerkit.facts import IMAGENET_MEAN, IMAGENET_STD
from flowerkit.load import (
    CachedFlowers,
    CollateNormalize,
    DecodedFlowers,
    _GatheredBatch,
    _resized_decoder,
    build_cache,
    collate_uint8,
    decode_resized,
    make_loader,
    measure_throughput,
)
from flowerkit.transform import _resize_crop, eval_transform, normalize_batch

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
        slow = _resize_crop(64)(load_rgb(path))
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
    # (patching decode_resized would change the recipe, hence the cache's key: a rebuild that never calls the patch)
    monkeypatch.setattr("flowerkit.load._write_images", lambda *a, **k: pytest.fail("a matching cache must not decode"))
    again = build_cache(ds, S, folder=tmp_path / "cache", progress=False)
    assert np.array_equal(again.images, cache.images)
    assert cache.build_s > 0 and again.build_s == cache.build_s, "the build's time is recorded once, when it is built"


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


def test_a_cache_built_from_a_relative_root_is_valid_from_any_folder(root, tmp_path, monkeypatch):
    monkeypatch.chdir(root)
    built = build_cache(OxfordFlowers102(Path("."), "val"), S, folder=tmp_path / "cache", progress=False)
    monkeypatch.chdir(tmp_path)  # another folder, the same dataset by its absolute path: the same cache, reused
    again = build_cache(OxfordFlowers102(root, "val"), S, folder=tmp_path / "cache", progress=False)
    assert again.path == built.path and all(f.is_absolute() and f.exists() for f in again.image_files)
    manifest = json.loads(again.path.with_suffix(".json").read_text())
    manifest["files"] = [f"flowers-102/jpg/{Path(f).name}" for f in manifest["files"]]  # as an older flowerkit wrote it
    again.path.with_suffix(".json").write_text(json.dumps(manifest))
    rebuilt = build_cache(OxfordFlowers102(root, "val"), S, folder=tmp_path / "cache", progress=False)
    assert all(f.is_absolute() for f in rebuilt.image_files) and torch.equal(rebuilt[2][0], built[2][0])


def test_a_cache_cut_short_names_its_file(root, tmp_path):
    cache = build_cache(OxfordFlowers102(root, "val"), S, folder=tmp_path / "cache", progress=False)
    with open(cache.path, "r+b") as f:
        f.truncate(cache.path.stat().st_size // 2)
    with pytest.raises(ValueError, match=f"{cache.path.name} is not a complete cache.*build_cache"):
        CachedFlowers(cache.path)
    assert build_cache(OxfordFlowers102(root, "val"), S, folder=tmp_path / "cache", progress=False).nbytes == cache.nbytes


def _grey(path, size, level=7):
    """A decode recipe that ignores the file: flat ``level`` grey."""
    return torch.full((3, size, size), level, dtype=torch.uint8)


class _Level:
    """A decode recipe as a callable object: its setting is part of what the cache holds."""

    def __init__(self, level):
        self.level = level

    def __call__(self, path, size):
        return _grey(path, size, self.level)


def test_decode_recipes_name_their_settings_and_lambdas_are_refused(root, tmp_path):
    ds, folder = OxfordFlowers102(root, "val"), tmp_path / "cache"
    assert load._recipe(functools.partial(decode_resized)) == load.decode_recipe()
    caches = [
        build_cache(ds, S, folder=folder, progress=False, decode=decode)
        for decode in (functools.partial(_grey, level=3), functools.partial(_grey, level=9), _Level(4), _Level(8))
    ]
    assert [int(c[0][0][0, 0, 0]) for c in caches] == [3, 9, 4, 8], "each setting its own cache"
    assert len({c.path for c in caches}) == 4
    with pytest.raises(TypeError, match="lambda.*def at the top level"):
        build_cache(ds, S, folder=folder, progress=False, decode=lambda path, size: _grey(path, size))


def _flat(path, size):
    """A decode recipe whose body a student edits between two runs."""
    level = 5 if Path(path).suffix.lower() in {".jpg", ".jpeg", ".png"} else 6  # a frozenset among the constants
    return max([_grey(path, size, level)], key=lambda image: image.numel())  # a nested code object


def test_an_edited_decode_function_is_a_new_recipe_and_every_process_names_it_alike(root):
    before = load._recipe(_flat)

    def edited(path, size):
        return _grey(path, size, level=6)

    edited.__doc__, edited.__module__, edited.__qualname__ = _flat.__doc__, _flat.__module__, _flat.__qualname__
    assert load._recipe(edited) != before, "the same name and docstring, another body: another cache"
    code = "import sys; sys.path.insert(0, 'tests'); from flowerkit import load; import test_load; print(load._recipe(test_load._flat))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # another process, another string hashing than this one's
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout.strip()
    assert other == before.replace("tests.test_load", "test_load"), "no addresses, no hash order: one name in every kernel"


def _slow_decode(path, size):
    """A decode stuck on a network drive."""
    time.sleep(30)
    return _grey(path, size)


@pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="posix_fallocate: Linux")
def test_a_full_disk_is_an_error_naming_the_cache_not_a_bus_error(root, tmp_path, monkeypatch):
    """The memory map's disk blocks are claimed first: on a full disk writing into it killed the process (SIGBUS)."""

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(OSError, match=r"no room for the cache .*\.npy: it needs .* MiB in .*FLOWERKIT_DATA") as info:
        build_cache(OxfordFlowers102(root, "val"), S, folder=tmp_path / "cache", progress=False)
    assert info.value.errno == errno.ENOSPC
    assert not list((tmp_path / "cache").iterdir()), "no partial file, no manifest"
    monkeypatch.undo()
    assert build_cache(OxfordFlowers102(root, "val"), S, folder=tmp_path / "cache", progress=False).nbytes > 0


def test_building_a_cache_with_workers_stops_at_a_stuck_worker(root, tmp_path, monkeypatch):
    monkeypatch.setattr(load, "WORKER_TIMEOUT_S", 1)
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="timed out after 1 seconds"):
        build_cache(OxfordFlowers102(root, "val"), S, folder=tmp_path / "c", progress=False, decode=_slow_decode, num_workers=1)
    assert time.perf_counter() - start < 25 and not list((tmp_path / "c").glob("*.json"))


def test_worker_batches_without_torchs_private_shared_storage(root, tmp_path, monkeypatch):
    cache = build_cache(OxfordFlowers102(root, "val"), S, folder=tmp_path / "c", progress=False)
    expected = next(iter(make_loader(cache, batch_size=8, num_workers=0, mean=IMAGENET_MEAN, std=IMAGENET_STD)))[0]
    monkeypatch.setattr(torch.UntypedStorage, "_new_shared", None)  # a torch without it: the public share_memory_()
    loader = make_loader(cache, batch_size=8, num_workers=1, mean=IMAGENET_MEAN, std=IMAGENET_STD, persistent_workers=False)
    assert torch.equal(next(iter(loader))[0], expected)


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


class _StuckDataset(torch.utils.data.Dataset):
    """A dataset whose items never come in time: a worker stuck on a network drive, say."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(30)
        return torch.zeros(3, 2, 2, dtype=torch.uint8), 0


def test_make_loader_bounds_the_wait_for_workers_only():
    data = torch.utils.data.TensorDataset(torch.zeros(4, 3, 2, 2, dtype=torch.uint8), torch.arange(4))
    assert make_loader(data, num_workers=2).timeout == 120  # the default bound, with workers
    assert make_loader(data, num_workers=0).timeout == 0  # DataLoader allows none without workers
    assert make_loader(data, num_workers=0, timeout=5).timeout == 0
    stuck = make_loader(_StuckDataset(), batch_size=2, num_workers=1, timeout=1, persistent_workers=False)
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="timed out after 1 seconds"):
        next(iter(stuck))
    assert time.perf_counter() - start < 25  # an error, not a 30 s wait


class _CountedReads(torch.utils.data.Dataset):
    """64 x 64 uint8 images whose reads are counted, each drawing from torch's and NumPy's global generators."""

    def __init__(self):
        self.reads = 0

    def __len__(self):
        return 256

    def __getitem__(self, i):
        self.reads += 1
        np.random.rand()
        return (torch.rand(3, 64, 64) * 255).to(torch.uint8), i % 10


def _small_shm(monkeypatch, free_mib, cores=16):
    monkeypatch.setattr(load, "shm_size", lambda: (free_mib * 2**20, 0))
    monkeypatch.setattr(load, "cpu_count", lambda: cores)


@pytest.mark.filterwarnings("ignore:This DataLoader will create")  # 16 workers on 2 cores: never started
def test_make_loader_fits_its_default_workers_in_a_small_dev_shm(monkeypatch):
    _small_shm(monkeypatch, 64)  # Docker's default, 16 cores
    with pytest.warns(UserWarning, match=r"16 workers keep about 99 MiB .*64 MiB free.*Using 10 workers instead.*--shm-size"):
        loader = make_loader(_CountedReads(), batch_size=64, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    per_batch = 64 * 3 * 64 * 64 * 4  # float32 batches, normalised in the workers: 3 MiB
    assert loader.num_workers == 10 and (2 * 10 + 1) * per_batch <= 64 * 2**20 < (2 * 11 + 1) * per_batch
    # uint8 across the boundary (normalised on the device): a quarter of the bytes, every core's worker fits
    assert (
        make_loader(
            _CountedReads(), batch_size=64, mean=IMAGENET_MEAN, std=IMAGENET_STD, normalize="device", device="cpu"
        ).loader.num_workers
        == 16
    )
    _small_shm(monkeypatch, 2)
    with pytest.warns(UserWarning, match="Using 0 workers instead"):
        assert make_loader(_CountedReads(), batch_size=64, mean=IMAGENET_MEAN, std=IMAGENET_STD).num_workers == 0


@pytest.mark.filterwarnings("ignore:This DataLoader will create")  # 16 workers on 2 cores: never started
def test_make_loader_keeps_the_workers_asked_for_and_says_they_will_not_fit(monkeypatch):
    _small_shm(monkeypatch, 64)
    with pytest.warns(UserWarning) as caught:
        loader = make_loader(_CountedReads(), batch_size=64, num_workers=16, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    assert loader.num_workers == 16
    (message,) = [str(w.message) for w in caught if "/dev/shm" in str(w.message)]
    assert "Bus error" in message and "Using" not in message and "normalize='device'" in message


@pytest.mark.filterwarnings("ignore:This DataLoader will create")  # 16 workers on 2 cores: never started
def test_make_loader_reads_no_item_and_leaves_the_generators_alone(monkeypatch, recwarn):
    data = _CountedReads()
    _small_shm(monkeypatch, 24 * 2**10)  # 24 GiB: room for any batch, the dataset is not read
    assert make_loader(data, batch_size=64, mean=IMAGENET_MEAN, std=IMAGENET_STD).num_workers == 16
    assert data.reads == 0
    monkeypatch.setattr(load, "shm_size", lambda: None)  # macOS, Windows: no /dev/shm
    assert make_loader(data, batch_size=64).num_workers == 16 and data.reads == 0
    _small_shm(monkeypatch, 512)  # small enough to size a batch: item 0 is read, the generators are put back
    torch.manual_seed(3), np.random.seed(3)
    expected = torch.rand(1).item(), np.random.rand()
    torch.manual_seed(3), np.random.seed(3)
    assert make_loader(data, batch_size=64).num_workers == 16 and data.reads == 1
    assert (torch.rand(1).item(), np.random.rand()) == expected
    assert not [w for w in recwarn if "/dev/shm" in str(w.message)]


def test_measure_throughput_counts_images():
    batches = [(torch.zeros(8, 3, 2, 2), torch.zeros(8))] * 5
    r = measure_throughput(batches, warmup=1)
    assert r["images"] == 32 and r["batches"] == 4 and r["images_per_s"] > 0
    assert measure_throughput(batches, 2, warmup=0)["images"] == 16
    assert measure_throughput([64, 64, 10], warmup=0)["images"] == 138


def test_measure_throughput_reads_for_at_least_min_seconds_or_to_the_end():
    def slow(n=100):
        for _ in range(n):
            time.sleep(0.002)
            yield 4

    window = measure_throughput(slow(), 2, warmup=0, min_seconds=0.05)
    assert window["batches"] > 2 and window["seconds"] >= 0.05
    assert measure_throughput(slow(), 2, warmup=0)["batches"] == 2
    assert measure_throughput(slow(5), 2, warmup=0, min_seconds=60)["batches"] == 5  # the epoch ended first


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


# --------------------------------------------------------------------------------------
# The JPEG decoder: libjpeg-turbo M/8 scaling (simplejpeg) when installed, PIL draft otherwise.
# --------------------------------------------------------------------------------------

needs_simplejpeg = pytest.mark.skipif(load.simplejpeg is None, reason="simplejpeg is not installed")


def _jpeg(tmp_path, name, image, **save):
    path = tmp_path / name
    image.save(path, "JPEG", **save)
    return path


@pytest.fixture
def photo(default_mini_root):
    """One mini-flowers photo, decoded in full (RGB PIL image)."""
    return load_rgb(OxfordFlowers102(default_mini_root, "val").image_files[0])


def test_the_decoder_in_use_is_named_and_pil_can_be_forced(monkeypatch):
    expected = "libjpeg-turbo M/8 scaling (simplejpeg" if load.simplejpeg is not None else "PIL draft (Pillow"
    assert load.jpeg_decoder().startswith(expected)
    assert load.jpeg_decoder("pil").startswith("PIL draft (Pillow")
    with pytest.raises(ValueError, match="decoder must be"):
        load.jpeg_decoder("turbo")
    monkeypatch.setattr(load, "simplejpeg", None)  # as if it were not installed
    assert load.jpeg_decoder() == load.jpeg_decoder("pil")
    with pytest.raises(ModuleNotFoundError, match="pip install simplejpeg"):
        _resized_decoder("simplejpeg")


@needs_simplejpeg
@pytest.mark.parametrize("size", [32, 64, 128])
def test_both_decoders_give_the_same_picture(default_mini_root, size):
    files = OxfordFlowers102(default_mini_root, "val").image_files[:12]
    for path in files:
        turbo = decode_resized(path, size, decoder="simplejpeg")
        pil = decode_resized(path, size, decoder="pil")
        assert turbo.shape == pil.shape == (3, size, size) and turbo.dtype == torch.uint8 and turbo.is_contiguous()
        # at 32/64 px both decode a 500 px photo at 1/8 or 1/4: identical; at 128 px 3/8 (188 px) vs 1/2 (250 px)
        assert (turbo.float() - pil.float()).abs().mean() < 3, path.name
    assert torch.equal(decode_resized(files[0], size), decode_resized(files[0], size, decoder=load._resolve("auto")))


@needs_simplejpeg
@pytest.mark.parametrize(
    "kind", ["gray", "cmyk", "exif_rotated", "progressive", "png_named_jpg", "smaller_than_size", "extraneous_bytes"]
)
def test_files_simplejpeg_reads_differently_give_todays_pixels(tmp_path, photo, kind):
    if kind == "gray":
        path = _jpeg(tmp_path, "g.jpg", photo.convert("L"))
    elif kind == "cmyk":
        path = _jpeg(tmp_path, "c.jpg", photo.convert("CMYK"))  # libjpeg-turbo's CMYK->RGB differs: PIL decodes it
    elif kind == "exif_rotated":
        exif = Image.Exif()
        exif[0x0112] = 6  # "rotate 90": ignored by both decoders, like torchvision's Flowers102 and load_rgb
        path = _jpeg(tmp_path, "r.jpg", photo, exif=exif.tobytes())
    elif kind == "progressive":
        path = _jpeg(tmp_path, "p.jpg", photo, progressive=True)
    elif kind == "png_named_jpg":
        path = tmp_path / "png.jpg"
        photo.save(path, "PNG")
    elif kind == "smaller_than_size":
        path = _jpeg(tmp_path, "s.jpg", photo.resize((60, 40)))
    else:  # garbage between markers: libjpeg warns, simplejpeg refuses (strict), PIL decodes as before
        data = bytearray(_jpeg(tmp_path, "x0.jpg", photo).read_bytes())
        sos = data.index(b"\xff\xda")
        path = tmp_path / "x.jpg"
        path.write_bytes(bytes(data[:sos]) + b"\x00\x00\x00" + bytes(data[sos:]))
    for size in (64, 128):
        turbo, pil = decode_resized(path, size), decode_resized(path, size, decoder="pil")
        assert turbo.shape == (3, size, size)
        if kind in ("cmyk", "png_named_jpg", "extraneous_bytes"):
            assert torch.equal(turbo, pil), f"{kind} must go through PIL"
        else:
            assert (turbo.float() - pil.float()).abs().mean() < 3
    if kind == "gray":
        assert torch.equal(turbo[0], turbo[1]) and torch.equal(turbo[1], turbo[2])


@pytest.mark.parametrize("decoder", ["auto", "pil"])
@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_a_bad_file_raises_the_same_clear_error_with_either_decoder(tmp_path, photo, decoder, damage):
    path = tmp_path / "image_00001.jpg"
    good = _jpeg(tmp_path, "good.jpg", photo).read_bytes()
    path.write_bytes({"truncated": good[: len(good) // 3], "empty": b"", "garbage": b"\xff\xd8\xff\xe0 not really"}[damage])
    with pytest.raises(FlowersFormatError, match="image_00001.jpg"):
        decode_resized(path, 64, decoder=decoder)
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        decode_resized(tmp_path / "missing.jpg", 64, decoder=decoder)


def test_without_simplejpeg_everything_goes_through_pil(monkeypatch, default_mini_root):
    path = OxfordFlowers102(default_mini_root, "val").image_files[0]
    pil = decode_resized(path, 128, decoder="pil")
    monkeypatch.setattr(load, "simplejpeg", None)
    assert torch.equal(decode_resized(path, 128), pil)


def test_a_forced_decoder_pickles_and_caches_of_each_decoder_are_kept_apart(root, tmp_path):
    pil = _resized_decoder("pil")
    assert pickle.loads(pickle.dumps(pil))(OxfordFlowers102(root, "val").image_files[0], S).shape == (3, S, S)
    assert _resized_decoder() is decode_resized and isinstance(pil, functools.partial)
    ds = OxfordFlowers102(root, "val")
    by_pil = build_cache(ds, 128, folder=tmp_path / "c", progress=False, decode=pil)
    auto = build_cache(ds, 128, folder=tmp_path / "c", progress=False)
    assert by_pil.manifest["decode"].startswith("PIL draft") and by_pil.decode is pil
    assert torch.equal(by_pil[3][0], decode_resized(ds.image_files[3], 128, decoder="pil"))
    if load.simplejpeg is not None:  # 3/8 vs 1/2 at 128 px: two recipes, two caches, side by side
        assert auto.path != by_pil.path and "libjpeg-turbo" in auto.manifest["decode"]
        assert build_cache(ds, 128, folder=tmp_path / "c", progress=False, decode=pil).path == by_pil.path
    assert torch.equal(auto[3][0], decode_resized(ds.image_files[3], 128))


def test_a_gathered_batch_is_used_as_is_and_normalised_like_normalize_batch(root, tmp_path):
    cache = build_cache(OxfordFlowers102(root, "val"), S, folder=tmp_path / "c", progress=False)
    batch = cache.__getitems__([3, 1, 4, 1, 5])
    assert isinstance(batch, _GatheredBatch) and len(batch) == 5 and batch[2][1] == cache.labels[4]
    x, y = collate_uint8(batch)
    assert x is batch.images and y.tolist() == [cache.labels[i] for i in (3, 1, 4, 1, 5)]
    stacked = collate_uint8(list(batch))[0]  # a plain list of pairs is stacked
    assert torch.equal(stacked, x)
    for channels_last in (False, True):
        normed, _ = CollateNormalize(IMAGENET_MEAN, IMAGENET_STD, channels_last=channels_last)(batch)
        assert torch.equal(normed, normalize_batch(x, IMAGENET_MEAN, IMAGENET_STD)), "the same floats"
        assert normed.is_contiguous(memory_format=torch.channels_last) == channels_last
        assert torch.equal(CollateNormalize(IMAGENET_MEAN, IMAGENET_STD, channels_last=channels_last)(list(batch))[0], normed)
    raw_cl, _ = CollateNormalize(channels_last=True)(batch)
    assert torch.equal(raw_cl, x) and raw_cl.is_contiguous(memory_format=torch.channels_last)


def test_a_killed_builds_leftover_is_removed_by_the_next_build(mini_root, tmp_path):
    """A kernel restarted mid-build leaves a full-size hidden .partial file: an old one goes, a recent one (maybe
    another process's build in progress) stays."""
    import time

    dataset = OxfordFlowers102(mini_root, "val")
    first = load.build_cache(dataset, 16, folder=tmp_path, progress=False)
    old = first.path.with_name(f".{first.path.name}.deadbeef.partial")
    recent = first.path.with_name(f".{first.path.name}.cafef00d.partial")
    for leftover in (old, recent):
        leftover.write_bytes(bytes(1024))
    os.utime(old, (time.time() - 2 * load._STALE_PARTIAL_S,) * 2)
    for built in [f for f in tmp_path.iterdir() if not f.name.endswith(".partial")]:
        built.unlink()  # the cache is gone: the next call builds it again
    load.build_cache(dataset, 16, folder=tmp_path, progress=False)
    assert not old.exists() and recent.exists()


class _OwnGenerators(torch.utils.data.Dataset):
    """Draws from three generators it holds (NumPy, torch, random), made once in the main process."""

    def __init__(self, n=8):
        self.n = n
        self.rng = np.random.default_rng(0)
        self.torch_rng = torch.Generator().manual_seed(0)
        self.py_rng = __import__("random").Random(0)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        draws = [
            int(self.rng.integers(10**6)),
            int(torch.randint(10**6, (), generator=self.torch_rng)),
            self.py_rng.randrange(10**6),
        ]
        return torch.tensor(draws)


def _worker_draws(dataset, worker_init_fn, seed=0):
    """Each worker's draws (rows of 3) in one epoch of 2 workers, batch 1, in the order served."""
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=1,
        num_workers=2,
        worker_init_fn=worker_init_fn,
        timeout=60,
        generator=torch.Generator().manual_seed(seed),
    )
    rows = [batch[0].tolist() for batch in loader]
    return rows[0::2], rows[1::2]  # batch 1, in order: the workers take turns


@pytest.mark.parametrize(
    "wrap",
    [lambda d: d, lambda d: torch.utils.data.Subset(d, range(8)), lambda d: torch.utils.data.ConcatDataset([d])],
    ids=["plain", "subset", "concat"],
)
def test_seed_worker_gives_each_workers_own_generators_their_own_seed(wrap):
    worker0, worker1 = _worker_draws(wrap(_OwnGenerators()), None)
    assert worker0 == worker1, "without it, every worker's copy draws the same: the bug seed_worker fixes"
    worker0, worker1 = _worker_draws(wrap(_OwnGenerators()), load.seed_worker)
    assert all(a != b for row0, row1 in zip(worker0, worker1) for a, b in zip(row0, row1)), "each kind differs per worker"
    assert (worker0, worker1) == _worker_draws(wrap(_OwnGenerators()), load.seed_worker), "a seeded loader repeats"
    assert (worker0, worker1) != _worker_draws(wrap(_OwnGenerators()), load.seed_worker, seed=1), "another seed, other draws"


def test_seed_worker_does_nothing_outside_a_worker_and_make_loader_passes_it():
    dataset = _OwnGenerators()
    before = dataset.rng
    load.seed_worker(0)
    assert dataset.rng is before
    assert make_loader(dataset, num_workers=0).worker_init_fn is load.seed_worker
    assert pickle.loads(pickle.dumps(load.seed_worker)) is load.seed_worker, "importable by name: spawn workers reach it"
