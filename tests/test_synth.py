"""mini-flowers: the exact Oxford format, deterministic, idempotent, atomic (notebook 00)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import loadmat

from flowerkit import synth
from flowerkit.synth import MARKER, _is_generated, _MiniFlowersSpec, mini_flowers

# Even smaller than the session fixture: for the tests that generate several datasets of their own.
TINY = _MiniFlowersSpec(
    num_classes=6, test_per_class=(1, 3), short_side=48, long_side=(48, 72), train_per_class=2, val_per_class=2
)
SPLIT_VARS = ("trnid", "valid", "tstid")


def _digests(root: Path) -> dict[str, str]:
    """md5 of every file under ``root/flowers-102`` (JPEGs, both .mat files and the marker)."""
    base = root / "flowers-102"
    return {str(p.relative_to(base)): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(base.rglob("*")) if p.is_file()}


def _variables(path: Path) -> dict[str, np.ndarray]:
    return {k: v for k, v in loadmat(path).items() if not k.startswith("__")}


def _labels(base: Path) -> np.ndarray:
    return loadmat(base / "imagelabels.mat")["labels"].ravel().astype(np.int64)


def _split_classes(base: Path) -> dict[str, np.ndarray]:
    """The 1-based class of every id of each split, in setid order."""
    labels = _labels(base)
    setid = loadmat(base / "setid.mat")
    return {var: labels[setid[var].ravel().astype(np.int64) - 1] for var in SPLIT_VARS}


# ------------------------------------------------------------------ the format of the real dataset


def test_the_small_fixture_is_generated(mini_root, small_spec):
    assert _is_generated(mini_root / "flowers-102", small_spec)
    assert not list(mini_root.glob(".flowers-102.partial-*"))


def test_images_are_named_image_nnnnn_jpg_five_digits_one_based(mini_root):
    base = mini_root / "flowers-102"
    n = _labels(base).size
    assert sorted(os.listdir(base / "jpg")) == [f"image_{i:05d}.jpg" for i in range(1, n + 1)]
    assert (base / "jpg" / "image_00001.jpg").is_file() and not (base / "jpg" / "image_00000.jpg").exists()


def test_imagelabels_mat_is_a_uint8_row_of_one_based_classes(mini_root):
    path = mini_root / "flowers-102" / "imagelabels.mat"
    assert path.read_bytes().startswith(b"MATLAB 5.0 MAT-file"), "MATLAB v5, which scipy reads"
    mat = _variables(path)
    assert list(mat) == ["labels"]
    labels = mat["labels"]
    assert labels.dtype == np.uint8 and labels.ndim == 2 and labels.shape[0] == 1 and labels.shape[1] > 102
    assert set(labels.ravel().tolist()) == set(range(1, 103)), "1-based: 1..102, every class present"


def test_setid_mat_holds_uint16_rows_of_one_based_image_ids(mini_root):
    base = mini_root / "flowers-102"
    n = _labels(base).size
    mat = _variables(base / "setid.mat")
    assert sorted(mat) == sorted(SPLIT_VARS)
    for var in SPLIT_VARS:
        assert mat[var].dtype == np.uint16 and mat[var].ndim == 2 and mat[var].shape[0] == 1, var
    ids = np.concatenate([mat[var].ravel() for var in SPLIT_VARS]).astype(np.int64)
    assert sorted(ids.tolist()) == list(range(1, n + 1)), "every image id 1..N in exactly one split"


def test_file_order_is_grouped_by_class_but_not_in_class_order(mini_root):
    labels = _labels(mini_root / "flowers-102")
    block_classes = labels[np.r_[0, np.flatnonzero(np.diff(labels)) + 1]]  # the class of each contiguous block
    assert sorted(block_classes.tolist()) == list(range(1, 103)), "each class is one contiguous block"
    assert block_classes[0] == 77 and block_classes[-1] == 62, "starts with class 77, ends with 62, like the real data"
    assert not np.all(np.diff(block_classes) > 0), "blocks are not in class order"


def test_ten_train_ten_val_per_class_the_rest_in_test(mini_root, small_spec):
    classes = _split_classes(mini_root / "flowers-102")
    assert np.bincount(classes["trnid"], minlength=103)[1:].tolist() == [10] * 102
    assert np.bincount(classes["valid"], minlength=103)[1:].tolist() == [10] * 102
    test_counts = np.bincount(classes["tstid"], minlength=103)[1:]
    lo, hi = small_spec.test_per_class
    assert test_counts.min() >= lo and test_counts.max() <= hi and test_counts.min() < test_counts.max()


def test_split_ids_are_ordered_by_class(mini_root):
    for var, classes in _split_classes(mini_root / "flowers-102").items():
        assert classes[0] == 1 and classes[-1] == 102, var
        assert np.all(np.diff(classes) >= 0), f"{var}: all of class 1's ids first, then class 2's, ..."


def test_the_default_dataset_has_the_real_quirks(default_mini_root):
    base = default_mini_root / "flowers-102"
    assert _is_generated(base)
    labels = _labels(base)
    assert labels[0] == 77 and labels[-1] == 62
    classes = _split_classes(base)
    assert classes["trnid"].size == classes["valid"].size == 1020
    test_counts = np.bincount(classes["tstid"], minlength=103)[1:]
    assert classes["tstid"].size > classes["trnid"].size, "test is the largest split"
    assert test_counts.min() >= 1 and len(set(test_counts.tolist())) > 5, "test size varies per class"


def test_default_images_are_500_px_rgb_jpegs_of_realistic_size(default_mini_root):
    files = sorted((default_mini_root / "flowers-102" / "jpg").iterdir())[::60]  # a sample, to stay fast
    sizes = []
    for f in files:
        with Image.open(f) as img:
            assert img.format == "JPEG" and img.mode == "RGB", f.name
            sizes.append(img.size)
    assert all(min(s) == 500 for s in sizes), "shortest side 500 px"
    assert all(500 <= max(s) <= 750 for s in sizes)
    assert len({round(max(s) / min(s), 2) for s in sizes}) > 5, "varied aspect ratios"
    assert any(w > h for w, h in sizes) and any(h > w for w, h in sizes), "landscape and portrait"
    kib = np.mean([f.stat().st_size for f in files]) / 1024
    assert 20 < kib < 60, f"realistic JPEG sizes, got a mean of {kib:.0f} KiB"


def test_recipes_are_distinct_and_cover_colour_and_shape():
    recipes = synth.class_recipes()
    assert len(recipes) == 102 and len(set(recipes)) == 102
    assert len({r.describe() for r in recipes}) == 102
    assert {r.family for r in recipes} == set(synth.FAMILIES)
    assert {r.hue for r in recipes} == set(synth.PETAL_HUES)
    assert {r.centre for r in recipes} == set(synth.CENTRE_COLOURS)
    assert synth.class_recipes() == recipes, "deterministic"


def test_petal_hues_share_one_luma_so_grayscale_erases_them():
    rng = np.random.default_rng(0)
    lumas = [synth._petal_rgb(h, rng) @ np.array([0.299, 0.587, 0.114]) for h in synth.PETAL_HUES.values()]
    assert max(lumas) - min(lumas) < 0.08


# ------------------------------------------------------------------ deterministic, idempotent, atomic


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, monkeypatch):
    a = mini_flowers(tmp_path / "a", spec=TINY, progress=False)
    # scipy writes the creation time into a .mat header: pretend the second run happens at another time
    monkeypatch.setattr("time.asctime", lambda *args: "Thu Jan  1 00:00:00 1970")
    b = mini_flowers(tmp_path / "b", spec=TINY, progress=False, workers=1)  # in-process: same bytes as the pool
    da, db = _digests(a), _digests(b)
    assert {"imagelabels.mat", "setid.mat", MARKER} <= set(da) and sum(k.startswith("jpg/") for k in da) > 20
    assert da == db
    c = mini_flowers(tmp_path / "c", spec=dataclasses.replace(TINY, seed=7), progress=False)
    dc = _digests(c)
    assert all(da[k] != dc[k] for k in da if k.startswith("jpg/") and k in dc), "another seed draws other images"


def test_complete_data_is_reused_without_rendering(tmp_path, monkeypatch):
    root = mini_flowers(tmp_path, spec=TINY, progress=False)
    before = {p: p.stat().st_mtime_ns for p in (root / "flowers-102").rglob("*")}

    def must_not_run(*args, **kwargs):
        raise AssertionError("a complete dataset must not be rendered again")

    monkeypatch.setattr(synth, "_generate", must_not_run)
    monkeypatch.setattr(synth, "_render_chunk", must_not_run)
    assert mini_flowers(tmp_path, spec=TINY, progress=False) == root
    assert mini_flowers(str(tmp_path), spec=TINY, progress=False) == root
    assert {p: p.stat().st_mtime_ns for p in (root / "flowers-102").rglob("*")} == before


def _crash_on_chunk(monkeypatch, n: int) -> None:
    real = synth._render_chunk
    calls = {"n": 0}

    def crash(args):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt  # Ctrl-C, or a kernel restart, in the middle of rendering
        return real(args)

    monkeypatch.setattr(synth, "_render_chunk", crash)


def test_an_interrupted_generation_is_never_taken_as_complete(tmp_path, monkeypatch):
    big = dataclasses.replace(TINY, test_per_class=(20, 30))  # more than one chunk of 50 images
    _crash_on_chunk(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        mini_flowers(tmp_path, spec=big, progress=False, workers=1)
    assert not (tmp_path / "flowers-102").exists()
    assert not _is_generated(tmp_path / "flowers-102", big)
    monkeypatch.undo()
    assert mini_flowers(tmp_path, spec=big, progress=False, workers=1) == tmp_path
    assert _is_generated(tmp_path / "flowers-102", big)
    assert not list(tmp_path.glob(".flowers-102.partial-*"))


def test_a_crash_after_the_images_before_the_marker_is_not_complete(tmp_path, monkeypatch):
    real = synth._mat_bytes
    calls = {"n": 0}

    def crash(variables):
        calls["n"] += 1
        if calls["n"] == 2:  # imagelabels.mat written, setid.mat and the marker not yet
            raise KeyboardInterrupt
        return real(variables)

    monkeypatch.setattr(synth, "_mat_bytes", crash)
    with pytest.raises(KeyboardInterrupt):
        mini_flowers(tmp_path, spec=TINY, progress=False, workers=1)
    assert not (tmp_path / "flowers-102").exists()
    assert not list(tmp_path.glob(".flowers-102.partial-*"))


def test_a_partial_folder_left_by_a_killed_process_is_cleaned_up(tmp_path, monkeypatch):
    partial = tmp_path / ".flowers-102.partial-deadbeef"
    _crash_on_chunk(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        synth._generate(partial, TINY, workers=1, progress=False)  # no clean-up: as if the process was killed
    monkeypatch.undo()
    assert partial.is_dir() and not _is_generated(partial, TINY)
    mini_flowers(tmp_path, spec=TINY, progress=False)
    assert _is_generated(tmp_path / "flowers-102", TINY)
    assert not partial.exists() and not list(tmp_path.glob(".flowers-102.partial-*"))


def test_without_file_locks_two_generators_leave_each_other_alone(tmp_path, monkeypatch):
    """Windows has no fcntl: another process's partial folder is not removed, and the first to finish keeps its copy."""
    monkeypatch.setattr(synth, "fcntl", None)
    theirs = tmp_path / ".flowers-102.partial-0therpid"
    theirs.mkdir()
    (theirs / "being-written.jpg").write_bytes(b"...")
    killed = tmp_path / ".flowers-102.partial-k111ed"  # left by a generator killed two hours ago
    killed.mkdir()
    os.utime(killed, (time.time() - 7200, time.time() - 7200))
    real = synth._generate

    def finished_second(partial, spec, **kwargs):  # while we render, the other process renders and renames first
        real(partial, spec, **kwargs)
        real(tmp_path / ".flowers-102.partial-first", spec, **kwargs)
        os.replace(tmp_path / ".flowers-102.partial-first", tmp_path / "flowers-102")

    monkeypatch.setattr(synth, "_generate", finished_second)
    assert mini_flowers(tmp_path, spec=TINY, progress=False, workers=1) == tmp_path
    assert _is_generated(tmp_path / "flowers-102", TINY) and (theirs / "being-written.jpg").is_file()
    assert sorted(p.name for p in tmp_path.glob(".flowers-102.partial-*")) == [theirs.name], "ours and the killed one gone"


def test_a_missing_jpeg_is_detected_and_regenerated(tmp_path):
    root = mini_flowers(tmp_path, spec=TINY, progress=False)
    base = root / "flowers-102"
    before = _digests(root)
    (base / "jpg" / "image_00003.jpg").unlink()
    assert not _is_generated(base, TINY)
    mini_flowers(tmp_path, spec=TINY, progress=False)
    assert _is_generated(base, TINY) and _digests(root) == before


@pytest.mark.parametrize(
    "marker",
    ["{ half a marker", "", json.dumps({"spec": {}, "n_images": 1}), None],
    ids=["truncated", "empty", "other-spec", "mat-changed"],
)
def test_a_damaged_marker_or_mat_is_detected_and_regenerated(tmp_path, marker):
    root = mini_flowers(tmp_path, spec=TINY, progress=False)
    base = root / "flowers-102"
    before = _digests(root)
    if marker is None:
        (base / "setid.mat").write_bytes((base / "setid.mat").read_bytes()[:-8])
    else:
        (base / MARKER).write_text(marker)
    assert not _is_generated(base, TINY)
    mini_flowers(tmp_path, spec=TINY, progress=False)
    assert _is_generated(base, TINY) and _digests(root) == before


def test_another_spec_replaces_its_own_dataset(tmp_path):
    mini_flowers(tmp_path, spec=TINY, progress=False)
    other = dataclasses.replace(TINY, seed=3)
    assert not _is_generated(tmp_path / "flowers-102", other)
    mini_flowers(tmp_path, spec=other, progress=False)
    assert _is_generated(tmp_path / "flowers-102", other) and not _is_generated(tmp_path / "flowers-102", TINY)


def test_a_folder_it_did_not_make_is_never_deleted(tmp_path):
    real = tmp_path / "flowers-102"
    (real / "jpg").mkdir(parents=True)
    (real / "jpg" / "image_00001.jpg").write_bytes(b"a real photo")
    (real / "imagelabels.mat").write_bytes(b"someone else's data")
    with pytest.raises(FileExistsError) as err:
        mini_flowers(tmp_path, spec=TINY, progress=False)
    assert str(real) in str(err.value)
    assert (real / "imagelabels.mat").read_bytes() == b"someone else's data"
    assert (real / "jpg" / "image_00001.jpg").read_bytes() == b"a real photo"
    assert sorted(p.name for p in real.rglob("*")) == ["image_00001.jpg", "imagelabels.mat", "jpg"]


def test_an_empty_flowers_102_folder_is_filled(tmp_path):
    (tmp_path / "flowers-102").mkdir()
    mini_flowers(tmp_path, spec=TINY, progress=False)
    assert _is_generated(tmp_path / "flowers-102", TINY)


# ------------------------------------------------------------------ torchvision reads it


def test_torchvision_reads_it_unchanged_apart_from_its_md5_check(mini_root):
    from torchvision.datasets import Flowers102

    from flowerkit.access import torchvision_flowers102

    with pytest.raises(RuntimeError):
        Flowers102(str(mini_root), split="train")  # only its md5 check of the real .mat files stops it
    base = mini_root / "flowers-102"
    labels = _labels(base)
    setid = loadmat(base / "setid.mat")
    for split, var in (("train", "trnid"), ("val", "valid"), ("test", "tstid")):
        ids = setid[var].ravel().astype(np.int64)
        ds = torchvision_flowers102(mini_root, split)
        assert len(ds) == ids.size, split
        assert ds._labels == (labels[ids - 1] - 1).tolist(), split
        assert [Path(p).name for p in ds._image_files] == [f"image_{i:05d}.jpg" for i in ids]
    image, label = torchvision_flowers102(mini_root, "test")[0]
    assert image.mode == "RGB" and 0 <= label < 102


# ------------------------------------------------------------------ an interrupted first run (issue 17, item 4)

# A generator run in its own process, with a pool of workers, as the first setup cell or `make lab` runs it.
_GENERATE = (
    "import sys; from flowerkit.synth import _MiniFlowersSpec, mini_flowers; "
    "mini_flowers(sys.argv[1], spec=_MiniFlowersSpec(seed=5), progress=False, workers=2)"
)
_HOLD_LOCK = "import sys, time; from pathlib import Path; from flowerkit import synth\nwith synth._lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)"


_REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    # `python -c` puts its working directory first on sys.path: run it in this checkout, with this checkout first
    return {**os.environ, "PYTHONPATH": str(_REPO)}


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux's /proc; empty where there is none)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


@pytest.mark.skipif(synth.fcntl is None, reason="no advisory file locks on this platform")
def test_a_killed_generator_leaves_no_worker_and_no_lock_behind(tmp_path, monkeypatch):
    proc = subprocess.Popen([sys.executable, "-c", _GENERATE, str(tmp_path)], env=_env(), cwd=_REPO)
    try:
        rendered = lambda: any(p.name.endswith(".jpg") for d in tmp_path.glob(".flowers-102.partial-*/jpg") for p in d.iterdir())
        _wait_for(rendered, 120, "the first rendered image")
        workers = _children(proc.pid)
        proc.kill()  # SIGKILL: no clean-up of any kind, like an out-of-memory kill or a kernel restart
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    if sys.platform.startswith("linux"):
        assert workers, "the generator should have started pool workers"
    _wait_for(lambda: not any(map(_running, workers)), 10, f"the orphaned workers {workers} to exit")
    # The next run takes the lock at once (it would wait forever if an orphan held it) and generates.
    monkeypatch.setenv(synth.LOCK_TIMEOUT_ENV, "30")
    start = time.monotonic()
    assert mini_flowers(tmp_path, spec=TINY, progress=False, workers=2) == tmp_path
    assert _is_generated(tmp_path / "flowers-102", TINY)
    assert not list(tmp_path.glob(".flowers-102.partial-*"))
    assert time.monotonic() - start < 30


@pytest.mark.skipif(synth.fcntl is None, reason="no advisory file locks on this platform")
def test_waiting_for_the_lock_names_its_holder_and_gives_up(tmp_path, monkeypatch, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(tmp_path)], env=_env(), cwd=_REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setenv(synth.LOCK_TIMEOUT_ENV, "1")
        start = time.monotonic()
        with pytest.raises(TimeoutError, match=rf"held by pid {holder.pid} on .*{synth.LOCK_TIMEOUT_ENV}"):
            mini_flowers(tmp_path, spec=TINY, progress=False)
        assert time.monotonic() - start < 10
        assert f"held by pid {holder.pid}" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait(timeout=10)
    monkeypatch.setenv(synth.LOCK_TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match="must be a number of seconds"):
        mini_flowers(tmp_path, spec=TINY, progress=False)
    monkeypatch.setenv(synth.LOCK_TIMEOUT_ENV, "30")
    mini_flowers(tmp_path, spec=TINY, progress=False)  # the holder is gone: the lock is free at once
    assert _is_generated(tmp_path / "flowers-102", TINY)
