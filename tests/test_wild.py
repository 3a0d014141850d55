"""flowerkit.wild (notebook 07_in_the_wild): each failure reproduced in real worker processes, and each fix measured.

The notebook shows these on the course's data; here each claim is checked on small data, in real DataLoader workers
(fork, forkserver, spawn), with a timeout on every loader and a deadline on every script.
"""

from __future__ import annotations

import ast
import multiprocessing as mp
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import ImageFile
from torch.utils.data import DataLoader, Subset

from flowerkit import wild
from flowerkit.access import OxfordFlowers102
from flowerkit.load import CachedFlowers, build_cache, collate_uint8

FORK = pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork (Linux, macOS)")
LINUX = pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="reads /proc/PID/smaps")


@pytest.fixture(scope="module")
def cache(mini_root: Path, tmp_path_factory: pytest.TempPathFactory) -> CachedFlowers:
    """The small mini's val split at 32 px: 1,020 images, 3 MiB."""
    return build_cache(OxfordFlowers102(mini_root, "val"), 32, folder=tmp_path_factory.mktemp("cache"), progress=False)


# ---------------------------------------------------------------------------------------------- measuring


@LINUX
def test_private_memory_counts_what_a_process_writes_not_what_it_maps(tmp_path: Path) -> None:
    before = wild.private_mib(os.getpid())
    block = np.ones(64 * 2**20, np.uint8)  # written: private
    assert wild.private_mib(os.getpid()) - before > 50
    path = tmp_path / "big.npy"
    np.save(path, np.zeros(64 * 2**20, np.uint8))
    before = wild.private_mib(os.getpid())
    mapped = np.load(path, mmap_mode="r")
    assert int(mapped[::4096].sum()) == 0  # read every page: page cache, not this process's own
    assert wild.private_mib(os.getpid()) - before < 8
    del block, mapped


def test_bytes_in_flight_is_workers_times_prefetch_plus_one_batch() -> None:
    assert wild.bytes_in_flight(2, 2, 64, (3, 224, 224), 4) == 5 * 64 * 3 * 224 * 224 * 4
    assert wild.bytes_in_flight(8, 2, 64, (3, 224, 224), 1) == 17 * 64 * 3 * 224 * 224


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no /dev/shm")
def test_batches_in_flight_sit_in_dev_shm_as_computed() -> None:
    loader = DataLoader(
        wild.BlankImages(1280, 192), batch_size=128, num_workers=2, prefetch_factor=2, collate_fn=collate_uint8, timeout=60
    )
    computed = wild.bytes_in_flight(2, 2, 128, (3, 192, 192), 1)  # 71 MB
    # the whole machine's /dev/shm: another program (another pytest-xdist worker's loaders: 14 MB seen) freeing or
    # filling it at the same moment moves one measurement, so the batches are large enough to stand above that
    measured = [wild.shm_in_flight(loader) for _ in range(3)]
    assert wild.shm_size()[0] > 0 and any(0.5 * computed < m < 2 * computed for m in measured), measured


def test_run_epoch_reports_how_far_it_got_and_the_workers_error_readably() -> None:
    class_free = DataLoader(wild.SkipAndLog(_Fails(40, at=30)), batch_size=8, collate_fn=wild.collate_skipping)
    assert wild.run_epoch(class_free).error is None
    loader = DataLoader(_Fails(40, at=30), batch_size=8, num_workers=2, timeout=60)
    run = wild.run_epoch(loader)
    assert run.items == 24 and run.total == 40 and run.share == pytest.approx(0.6)
    assert run.error.startswith("OSError: Caught OSError in DataLoader worker process 1")
    shown = wild.readable_error(run.error)
    assert "Traceback (most recent call last)" not in shown and shown.splitlines()[-1] == "OSError: item 30 is broken"
    files = [bytes(1000)] * 20  # a batch that is a list of files' bytes counts its files, not their bytes
    assert wild.run_epoch(DataLoader(files, batch_size=8, collate_fn=list)).items == 20


class _Fails(torch.utils.data.Dataset):
    def __init__(self, n: int, at: int) -> None:
        self.n, self.at = n, at

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, int]:
        if idx == self.at:
            raise OSError(f"item {idx} is broken")
        return torch.zeros(2), idx


# ---------------------------------------------------------------------------------------------- copy-on-read


def test_record_arrays_give_the_records_items(mini_root: Path) -> None:
    files = OxfordFlowers102(mini_root, "val").image_files
    labels = OxfordFlowers102(mini_root, "val").labels
    records, arrays = wild.RecordList(files, labels, 3000), wild.RecordArrays(files, labels, 3000)
    assert len(records) == len(arrays) == 3000
    assert all(records[i] == arrays[i] for i in (0, 1, 1019, 1020, 2999))
    assert records[1020] == (str(files[0]), labels[0])


@FORK
@LINUX
def test_a_list_of_records_grows_every_fork_worker_and_arrays_do_not(mini_root: Path) -> None:
    split = OxfordFlowers102(mini_root, "val")
    records = wild.RecordList(split.image_files, split.labels, 400_000)
    grown = wild.measure_worker_memory(records, context="fork", batch_size=2000)
    one_record = wild.measure_worker_memory(Subset(records, [0] * 400_000), context="fork", batch_size=2000)
    del records
    arrays = wild.measure_worker_memory(
        wild.RecordArrays(split.image_files, split.labels, 400_000), context="fork", batch_size=2000
    )
    assert grown.items == arrays.items == 400_000 and len(grown.first) == 2
    # 400,000 records: each worker ends about 24 MiB above the arrays' workers (11 at 200,000, a margin of 3 over the
    # 8 asserted; the test failed once in a CI run then)
    assert min(grown.last) > 8 + max(arrays.last), (grown, arrays)
    # the arrays' and the one record's workers grow 1-2 MiB (allocator noise; 3 MiB was once exceeded in a loaded run),
    # the records' about 10-14 MiB between the two readings
    assert max(arrays.growth) < 5 and max(one_record.growth) < 5, (arrays, one_record)


def test_captions_are_deterministic_and_of_different_lengths() -> None:
    captions = wild.make_captions(500)
    assert captions == wild.make_captions(500) != wild.make_captions(500, seed=1)
    assert len({len(c) for c in captions}) > 10 and captions[3].startswith("visitor 3 saw a ")
    assert wild.CaptionList(captions)[7] == captions[7]


# ---------------------------------------------------------------------------------------------- handles


def test_a_memmap_opened_in_init_pickles_all_its_images(cache: CachedFlowers) -> None:
    eager = wild.EagerMemmapCache(cache.path)
    assert len(pickle.dumps(eager)) > cache.nbytes > 100 * len(pickle.dumps(cache))
    image, label = eager[17]
    assert torch.equal(image, cache[17][0]) and label == cache[17][1]


@pytest.mark.parametrize("method", ["forkserver", "fork"])
def test_hdf5_opened_in_init_cannot_travel_and_the_lazy_one_reads_right(
    cache: CachedFlowers, tmp_path: Path, method: str
) -> None:
    if method not in mp.get_all_start_methods():
        pytest.skip(f"no {method} here")
    if method == "forkserver":  # import flowerkit once in the server, not in every worker (it takes seconds)
        mp.get_context(method).set_forkserver_preload(["flowerkit.wild"])
    path = wild.write_hdf5(cache.images, cache.labels, tmp_path / "val.h5")
    with pytest.raises(TypeError, match="h5py objects cannot be pickled"):
        pickle.dumps(wild.EagerH5Flowers(path))
    lazy = wild.LazyH5Flowers(path)
    assert torch.equal(lazy[3][0], cache[3][0])  # opened here first: a fork worker must open its own
    assert len(pickle.dumps(lazy)) < 16 * 1024
    loader = DataLoader(lazy, batch_size=128, num_workers=2, multiprocessing_context=method, timeout=120)
    images, labels = zip(*loader)
    assert torch.equal(torch.cat(images), torch.from_numpy(np.array(cache.images))) and torch.cat(labels).tolist() == cache.labels


def test_a_zip_opened_in_init_does_not_pickle(mini_root: Path, tmp_path: Path) -> None:
    files = sorted(OxfordFlowers102(mini_root, "val").image_files)[:20]
    archive = wild.write_zip(files, tmp_path / "a.zip")
    eager = wild.ZipImages(archive)
    assert eager[4] == files[4].read_bytes() and len(eager) == 20
    with pytest.raises(TypeError, match="cannot pickle"):
        pickle.dumps(eager)


# ---------------------------------------------------------------------------------------------- scripts and hangs


@pytest.mark.parametrize("kind", wild.SCRIPT_KINDS)
def test_each_training_script_is_python_with_or_without_its_guard(kind: str) -> None:
    text = wild.training_script(kind, payload_mib=2, timeout_s=5)
    tree = ast.parse(text)
    top_calls = [n for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)]
    assert bool(top_calls) == (kind == "no_guard")
    guard = 'if __name__ == "__main__":'
    assert (guard in text) == (kind != "no_guard")
    assert (guard in text and "class Squares" in text.split(guard)[1]) == (kind == "class_in_guard")
    assert "bytes(2097152)" in text and "timeout=5" in text
    with pytest.raises(ValueError):
        wild.training_script("no_such_kind")


def test_run_script_keeps_the_output_and_stops_at_its_deadline(tmp_path: Path) -> None:
    raises = tmp_path / "raises.py"
    raises.write_text("print('hello')\nraise RuntimeError('\\n    the message on its own line')\n")
    run = wild.run_script(raises, deadline_s=60)
    assert run.returncode == 1 and not run.timed_out and run.stdout == "hello\n"
    assert run.errors == ["RuntimeError: the message on its own line"] and run.first_error_s is not None
    sleeps = tmp_path / "sleeps.py"
    sleeps.write_text("import time, sys\nprint('ValueError: not yet', file=sys.stderr, flush=True)\ntime.sleep(60)\n")
    run = wild.run_script(sleeps, deadline_s=30, after_error_s=0.5)
    assert run.timed_out and run.returncode is None and run.seconds < 25


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX spawn")
def test_a_dying_spawn_worker_sent_a_large_dataset_leaves_its_parent_waiting(tmp_path: Path) -> None:
    """The hang of notebook 07, section 4: the worker cannot find the class; 64 MiB are still being written to it."""
    small, large = tmp_path / "small.py", tmp_path / "large.py"
    small.write_text(wild.training_script("class_in_guard"))
    large.write_text(wild.training_script("class_in_guard", payload_mib=64))
    failed = wild.run_script(small, deadline_s=240)
    hung = wild.run_script(large, deadline_s=240, after_error_s=5)
    assert failed.returncode == 1 and any("exited unexpectedly" in e for e in failed.errors)
    assert hung.timed_out and any("Can't get attribute 'Squares' on <module '__mp_main__'" in e for e in hung.errors)


@FORK
def test_a_stalled_worker_becomes_a_timeout_error_and_its_stack_says_where(tmp_path: Path) -> None:
    loader = DataLoader(
        wild.StallingDataset(32, stall_at=20, stall_s=4),
        batch_size=4,
        num_workers=2,
        multiprocessing_context="fork",
        timeout=1.5,
        worker_init_fn=wild.DumpStacksAfter(tmp_path, seconds=1),
    )
    run = wild.run_epoch(loader)
    assert run.error == "RuntimeError: DataLoader timed out after 1.5 seconds" and run.items == 20
    dumps = "".join(p.read_text() for p in tmp_path.glob("worker-*.txt"))
    assert "in __getitem__" in dumps and "stalls.py" in dumps


# ---------------------------------------------------------------------------------------------- bad images


def test_planted_bad_images_stop_an_epoch_and_validation_finds_them_all(mini_root: Path, tmp_path: Path) -> None:
    assert wild.plant_bad_images(mini_root, "val", tmp_path / "damaged") == tmp_path / "damaged"
    planted = wild.planted_damage(tmp_path / "damaged", "val")
    assert len(planted) == 2 and sorted(planted.values()) == [
        "overwritten with zeros: not an image any more",
        "truncated to 40% of its bytes",
    ]
    damaged = OxfordFlowers102(tmp_path / "damaged", "val", transform=lambda image: torch.zeros(3))
    report = wild.find_bad_images(damaged.image_files, num_workers=2)
    assert {bad.file for bad in report} == set(planted)
    assert {damaged.image_files[bad.index].name for bad in report} == set(planted)
    run = wild.run_epoch(DataLoader(damaged, batch_size=32, num_workers=2, timeout=60))
    assert run.error and 0.55 < run.share < 0.65 and any(name in run.error for name in planted)
    skipping = DataLoader(wild.SkipAndLog(damaged), batch_size=32, num_workers=2, collate_fn=wild.collate_skipping, timeout=60)
    batches = list(skipping)
    assert sum(len(images) for images, _, _ in batches) == len(damaged) - 2
    assert {bad.file for _, _, skipped in batches for bad in skipped} == set(planted)


def test_loading_truncated_images_is_allowed_only_inside_the_block() -> None:
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
    with wild.truncated_images_allowed():
        assert ImageFile.LOAD_TRUNCATED_IMAGES
    assert not ImageFile.LOAD_TRUNCATED_IMAGES


# ---------------------------------------------------------------------------------------------- randomness


def _first_batches(dataset: torch.utils.data.Dataset, method: str, seed: int = 0) -> list[list[list[int]]]:
    loader = DataLoader(
        dataset,
        batch_size=4,
        num_workers=2,
        multiprocessing_context=method,
        timeout=120,
        generator=torch.Generator().manual_seed(seed),
    )
    return [[batch[-1].tolist() for batch in loader][:2] for _ in range(2)]


@FORK
def test_a_generator_made_in_init_repeats_in_every_worker_and_epoch(cache: CachedFlowers) -> None:
    small = Subset(cache, range(16))
    repeated = _first_batches(wild.JitterCrops(small, 24), "fork")
    assert repeated[0][0] == repeated[0][1] == repeated[1][0] == repeated[1][1]
    seeded = _first_batches(wild.SeededJitterCrops(small, 24), "fork")
    assert seeded[0][0] != seeded[0][1] and seeded[0][0] != seeded[1][0]
    assert _first_batches(wild.SeededJitterCrops(small, 24), "fork") == seeded
    assert _first_batches(wild.SeededJitterCrops(small, 24), "fork", seed=1) != seeded
    partners = _first_batches(wild.MixupPartners(16), "fork")
    assert partners[0][0] == partners[0][1]


@pytest.mark.parametrize("method", ["forkserver", "fork"])
def test_a_torch_generator_made_in_init_repeats_too_in_every_worker_and_epoch(cache: CachedFlowers, method: str) -> None:
    """Notebook 03's "draw from torch", with the dataset's own torch.Generator: PyTorch does not reseed that one."""
    if method not in mp.get_all_start_methods():
        pytest.skip(f"no {method} here")
    if method == "forkserver":
        mp.get_context(method).set_forkserver_preload(["flowerkit.wild"])
    small = Subset(cache, range(16))
    repeated = _first_batches(wild.TorchJitterCrops(small, 24), method)
    assert repeated[0][0] == repeated[0][1] == repeated[1][0] == repeated[1][1]
    assert len({tuple(offset) for offset in repeated[0][0]}) > 1, "random within a worker"


class _DefaultTorchCrops(wild.TorchJitterCrops):
    """The first fix: the same draws from torch's default generator (no ``generator=``), which PyTorch seeds per worker."""

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, int, torch.Tensor]:
        image, label = self.dataset[idx]
        offset = torch.randint(0, image.shape[-1] - self.crop + 1, (2,))
        return image[:, : self.crop, : self.crop], label, offset


@FORK
def test_torchs_default_generator_differs_per_worker_and_epoch_and_repeats_with_the_loader_seed(
    cache: CachedFlowers,
) -> None:
    small = Subset(cache, range(16))
    drawn = _first_batches(_DefaultTorchCrops(small, 24), "fork")
    assert drawn[0][0] != drawn[0][1] and drawn[0][0] != drawn[1][0]
    assert _first_batches(_DefaultTorchCrops(small, 24), "fork") == drawn


def test_torch_jitter_crops_pickle_small_with_their_generator_state(cache: CachedFlowers) -> None:
    crops = wild.TorchJitterCrops(cache, 24, seed=5)
    assert len(pickle.dumps(crops)) < len(pickle.dumps(cache)) + 8 * 1024  # the state as bytes, no tensor to share
    copies = [pickle.loads(pickle.dumps(crops)) for _ in range(2)]
    draws = [copy[5][2].tolist() for copy in copies] + [crops[9][2].tolist()]
    assert draws[0] == draws[1] == draws[2]
    crop, label, offset = crops[0]
    assert crop.shape == (3, 24, 24) and label == cache[0][1] and 0 <= int(offset.min()) <= int(offset.max()) <= 8
    assert [wild.TorchJitterCrops(cache, 24, seed=5)[i][2].tolist() for i in range(4)] != [
        wild.TorchJitterCrops(cache, 24, seed=6)[i][2].tolist() for i in range(4)
    ]


@FORK
def test_pytorch_seeds_torch_numpy_and_random_per_worker_and_per_epoch() -> None:
    probe = DataLoader(wild.WorkerSeeds(8), batch_size=4, num_workers=2, multiprocessing_context="fork", timeout=120)
    epochs = [[batch[0].tolist() for batch in probe] for _ in range(2)]
    for epoch in epochs:
        assert all(epoch[0][k] != epoch[1][k] for k in range(3)), "each worker its own seeds: torch, NumPy, random"
    assert all(epochs[0][0][k] != epochs[1][0][k] for k in range(3)), "new seeds every epoch"
    assert wild.WorkerSeeds(3)[0].shape == (3,)


def test_a_pickled_generator_arrives_in_the_state_it_left(cache: CachedFlowers) -> None:
    """What spawn and forkserver workers receive: a copy of the generator, so each draws what the others draw."""
    crops = wild.JitterCrops(cache, 24)
    copies = [pickle.loads(pickle.dumps(crops)) for _ in range(2)]
    first_draws = [copy[5][2].tolist() for copy in copies] + [crops[9][2].tolist()]
    assert first_draws[0] == first_draws[1] == first_draws[2]
    partners = wild.MixupPartners(50)
    assert [pickle.loads(pickle.dumps(partners))[3] for _ in range(2)] == [partners[3]] * 2


def test_seeded_crops_without_workers_follow_the_seed(cache: CachedFlowers) -> None:
    a, b = wild.SeededJitterCrops(cache, 24, seed=3), wild.SeededJitterCrops(cache, 24, seed=3)
    assert [a[i][2].tolist() for i in range(8)] == [b[i][2].tolist() for i in range(8)]
    crop, label, offset = a[0]
    assert crop.shape == (3, 24, 24) and 0 <= int(offset.max()) <= 8
