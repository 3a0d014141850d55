"""mini-flowers: the exact Oxford format, deterministic, idempotent, atomic (notebook 00)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import loadmat

from flowerkit import synth
from flowerkit.synth import MARKER, MiniFlowersSpec, is_complete, mini_flowers

TINY = MiniFlowersSpec(
    num_classes=6, test_per_class=(1, 3), short_side=48, long_side=(48, 72), train_per_class=2, val_per_class=2
)


def _digests(root: Path) -> dict[str, str]:
    base = root / "flowers-102"
    return {str(p.relative_to(base)): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(base.rglob("*")) if p.is_file()}


def test_format_of_the_small_dataset(mini_root):
    base = mini_root / "flowers-102"
    labels = loadmat(base / "imagelabels.mat")["labels"]
    assert labels.shape[0] == 1 and labels.dtype == np.uint8
    n = labels.shape[1]
    assert labels.min() == 1 and labels.max() == 102
    assert sorted(p.name for p in (base / "jpg").iterdir()) == [f"image_{i:05d}.jpg" for i in range(1, n + 1)]
    setid = loadmat(base / "setid.mat")
    for var in ("trnid", "valid", "tstid"):
        assert setid[var].shape[0] == 1 and setid[var].dtype == np.uint16
    ids = np.concatenate([setid[v].ravel() for v in ("trnid", "valid", "tstid")]).astype(np.int64)
    assert sorted(ids) == list(range(1, n + 1)), "every image in exactly one split"
    flat = labels.ravel().astype(np.int64)
    assert np.bincount(flat[setid["trnid"].ravel().astype(np.int64) - 1], minlength=103)[1:].tolist() == [10] * 102
    assert np.bincount(flat[setid["valid"].ravel().astype(np.int64) - 1], minlength=103)[1:].tolist() == [10] * 102
    train_classes = flat[setid["trnid"].ravel().astype(np.int64) - 1]
    assert np.all(np.diff(train_classes) >= 0), "split ids are ordered by class"
    assert 1 + np.count_nonzero(np.diff(flat)) == 102, "files grouped by class"
    assert not np.all(np.diff(flat) >= 0), "but not in class order"


def test_default_dataset_matches_the_real_quirks(default_mini_root):
    base = default_mini_root / "flowers-102"
    labels = loadmat(base / "imagelabels.mat")["labels"].ravel()
    assert labels[:3].tolist() == [77, 77, 77] and labels[-3:].tolist() == [62, 62, 62]
    setid = loadmat(base / "setid.mat")
    assert setid["trnid"].size == setid["valid"].size == 1020 and setid["tstid"].size > 1020
    counts = np.bincount(labels.astype(np.int64))[1:]
    assert counts.min() < counts.max(), "class sizes vary, as in the real data"
    files = sorted((base / "jpg").iterdir())[::200]
    sizes = [Image.open(f).size for f in files]
    assert all(min(s) == 500 for s in sizes) and len({max(s) for s in sizes}) > 3 and 500 < max(max(s) for s in sizes) <= 750
    kib = np.mean([f.stat().st_size for f in files]) / 1024
    assert 20 < kib < 60, f"realistic JPEG sizes, got {kib:.0f} KiB"
    assert all(Image.open(f).mode == "RGB" for f in files)


def test_recipes_are_distinct_and_cover_colour_and_shape():
    recipes = synth.class_recipes()
    assert len(recipes) == 102 and len(set(recipes)) == 102
    assert {r.family for r in recipes} == set(synth.FAMILIES)
    assert {r.hue for r in recipes} == set(synth.PETAL_HUES)
    assert "centre" in recipes[0].describe()


def test_petal_hues_share_one_luma_so_grayscale_erases_them():
    rng = np.random.default_rng(0)
    lumas = [synth._petal_rgb(h, rng) @ np.array([0.299, 0.587, 0.114]) for h in synth.PETAL_HUES.values()]
    assert max(lumas) - min(lumas) < 0.08


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = mini_flowers(tmp_path / "a", spec=TINY, progress=False)
    b = mini_flowers(tmp_path / "b", spec=TINY, progress=False, workers=1)  # in-process: same bytes as the pool
    assert _digests(a) == _digests(b)
    c = mini_flowers(tmp_path / "c", spec=MiniFlowersSpec(**{**TINY.__dict__, "seed": 7}), progress=False)
    da, dc = _digests(a), _digests(c)
    assert sum(da[k] != dc.get(k) for k in da if k.startswith("jpg/")) > 0


def test_complete_data_is_reused_without_rendering(tmp_path, monkeypatch):
    root = mini_flowers(tmp_path, spec=TINY, progress=False)
    monkeypatch.setattr(synth, "generate", lambda *a, **k: pytest.fail("must not regenerate"))
    assert mini_flowers(tmp_path, spec=TINY, progress=False) == root


def test_an_interrupted_generation_is_never_taken_as_complete(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = synth._render_chunk

    def crash(args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(args)

    monkeypatch.setattr(synth, "_render_chunk", crash)
    big = MiniFlowersSpec(**{**TINY.__dict__, "test_per_class": (20, 30)})  # more than one chunk
    with pytest.raises(KeyboardInterrupt):
        mini_flowers(tmp_path, spec=big, progress=False, workers=1)
    assert not (tmp_path / "flowers-102").exists()
    monkeypatch.setattr(synth, "_render_chunk", real)
    mini_flowers(tmp_path, spec=big, progress=False, workers=1)
    assert is_complete(tmp_path / "flowers-102", big)
    assert not list(tmp_path.glob(".flowers-102.partial-*"))


def test_damage_is_detected_and_repaired(tmp_path):
    root = mini_flowers(tmp_path, spec=TINY, progress=False)
    base = root / "flowers-102"
    before = _digests(root)
    (base / "jpg" / "image_00003.jpg").unlink()
    assert not is_complete(base, TINY)
    mini_flowers(tmp_path, spec=TINY, progress=False)
    assert _digests(root) == before
    (base / MARKER).write_text("{ half a marker")
    assert not is_complete(base, TINY)
    (base / MARKER).write_text(json.dumps({"spec": {}, "n_images": 1}))
    assert not is_complete(base, TINY)


def test_a_folder_it_did_not_make_is_never_deleted(tmp_path):
    real = tmp_path / "flowers-102"
    (real / "jpg").mkdir(parents=True)
    (real / "imagelabels.mat").write_bytes(b"someone else's data")
    with pytest.raises(FileExistsError, match="flowers-102"):
        mini_flowers(tmp_path, spec=TINY, progress=False)
    assert (real / "imagelabels.mat").read_bytes() == b"someone else's data"


def test_torchvision_reads_it_unchanged_apart_from_its_md5_check(mini_root):
    from torchvision.datasets import Flowers102

    from flowerkit.access import torchvision_flowers102

    with pytest.raises(RuntimeError):
        Flowers102(str(mini_root), split="train")  # its md5 check of the real .mat files
    for split, n in (("train", 1020), ("val", 1020)):
        assert len(torchvision_flowers102(mini_root, split)) == n
