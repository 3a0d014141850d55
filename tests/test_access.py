"""flowerkit.access: correct reading, agreement with torchvision, and clear errors on bad input (notebook 01)."""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import loadmat, savemat

from flowerkit import CLASSES, OxfordFlowers102, load_rgb, read_labels, read_splits, torchvision_flowers102
from flowerkit.access import FlowersFormatError, image_path, to_rgb

SPLITS = {"train": "trnid", "val": "valid", "test": "tstid"}
HINT = ("mini_flowers", "download")  # every error says how to get a good copy


def _jpeg_state(folder: Path) -> dict[str, tuple[int, int]]:
    return {e.name: (e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(folder)}


def _link_jpegs_copy_the_rest(src: str, dst: str) -> str:
    if src.endswith(".jpg"):
        try:
            os.link(src, dst)
            return dst
        except OSError:
            pass
    return shutil.copy2(src, dst)


@pytest.fixture
def root(mini_root, tmp_path):
    """A private copy of the small dataset, safe to break with :func:`_replace` or ``unlink``.

    The JPEGs are hard links to the shared fixture (copying 2,000 files per test is slow): replace
    a JPEG with ``_replace``, never write into it; the teardown checks the shared fixture is intact.
    """
    shared = mini_root / "flowers-102" / "jpg"
    before = _jpeg_state(shared)
    shutil.copytree(mini_root / "flowers-102", tmp_path / "flowers-102", copy_function=_link_jpegs_copy_the_rest)
    yield tmp_path
    assert _jpeg_state(shared) == before, "a test wrote into a hard-linked JPEG of the shared fixture"


def _replace(path: Path, data: bytes) -> None:
    """Put new bytes under ``path`` without touching the file it was (it may be a hard link)."""
    path.unlink()
    path.write_bytes(data)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def _mat(variables) -> bytes:
    buf = io.BytesIO()
    savemat(buf, variables)
    return buf.getvalue()


def _assert_clear(message: str, path: Path) -> None:
    assert str(path) in message, f"the message should name {path}: {message}"
    assert any(h in message for h in HINT), f"the message should say what to do: {message}"


# ------------------------------------------------------------------ reading the metadata


def test_read_labels_is_flat_int64_zero_based(mini_root):
    base = mini_root / "flowers-102"
    raw = loadmat(base / "imagelabels.mat")["labels"]
    labels = read_labels(base / "imagelabels.mat")
    n = len(os.listdir(base / "jpg"))
    assert labels.shape == (n,) and len(labels) == n, "flat, one label per image, not (1, N)"
    assert labels.dtype == np.int64
    assert labels.min() == 0 and labels.max() == 101 and set(labels.tolist()) == set(range(102))
    assert np.array_equal(labels, raw.ravel().astype(np.int64) - 1)
    assert (labels - 1).min() == -1, "no uint8 left to wrap 0 - 1 to 255"


def test_read_labels_of_a_tiny_file(tmp_path):
    path = tmp_path / "imagelabels.mat"
    path.write_bytes(_mat({"labels": np.array([[1, 2, 102]], np.uint8)}))
    assert read_labels(path).tolist() == [0, 1, 101]
    path.write_bytes(_mat({"labels": np.array([[1.0, 77.0]])}))  # MATLAB's default double is fine when whole
    assert read_labels(str(path)).tolist() == [0, 76]


def test_read_splits_returns_one_based_ids(mini_root):
    base = mini_root / "flowers-102"
    raw = loadmat(base / "setid.mat")
    splits = read_splits(base / "setid.mat")
    assert set(splits) == {"train", "val", "test"}
    for split, var in SPLITS.items():
        ids = splits[split]
        assert ids.ndim == 1 and ids.dtype == np.int64, split
        assert np.array_equal(ids, raw[var].ravel().astype(np.int64)), "the ids as stored: 1-based, not shifted"
    labels = read_labels(base / "imagelabels.mat")
    assert np.bincount(labels[splits["train"] - 1], minlength=102).tolist() == [10] * 102
    all_ids = np.concatenate(list(splits.values()))
    assert all_ids.min() == 1 and all_ids.max() == labels.size


# ------------------------------------------------------------------ the Dataset, against torchvision


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_agrees_item_for_item_with_torchvision(mini_root, split):
    ours = OxfordFlowers102(mini_root, split)
    theirs = torchvision_flowers102(mini_root, split)
    assert len(ours) == len(theirs) > 0
    assert ours.labels == theirs._labels
    assert [p.name for p in ours.image_files] == [Path(p).name for p in theirs._image_files]
    assert ours.image_ids == read_splits(mini_root / "flowers-102" / "setid.mat")[split].tolist()
    for i in np.linspace(0, len(ours) - 1, 7).astype(int):  # 21 items over the three splits
        (a, la), (b, lb) = ours[i], theirs[i]
        assert la == lb and a.size == b.size and np.array_equal(np.asarray(a), np.asarray(b)), (split, i)


def test_classes_match_torchvision():
    from torchvision.datasets import Flowers102

    assert len(CLASSES) == 102
    assert list(CLASSES) == Flowers102.classes
    assert OxfordFlowers102.classes == Flowers102.classes


def test_items_are_rgb_images_and_int_labels(mini_root):
    ds = OxfordFlowers102(str(mini_root), "val")
    image, label = ds[0]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and np.asarray(image).shape[2] == 3
    assert type(label) is int and 0 <= label < 102 and label == ds.labels[0]
    assert image_path(mini_root, 42) == mini_root / "flowers-102" / "jpg" / "image_00042.jpg"


def test_transform_and_target_transform_are_applied(mini_root):
    plain = OxfordFlowers102(mini_root, "val")
    ds = OxfordFlowers102(mini_root, "val", transform=lambda im: ("t", im.size), target_transform=lambda y: ("tt", y))
    image, label = ds[3]
    assert image == ("t", plain[3][0].size) and label == ("tt", plain.labels[3])


@pytest.mark.parametrize("split", ["training", "valid", "tstid", "", "Train"])
def test_an_invalid_split_is_a_value_error(mini_root, split):
    with pytest.raises(ValueError, match="split"):
        OxfordFlowers102(mini_root, split)


def test_labels_tensor_ready_for_cross_entropy(mini_root):
    ds = OxfordFlowers102(mini_root, "train")
    y = torch.tensor(ds.labels)
    assert y.dtype == torch.int64
    loss = torch.nn.functional.cross_entropy(torch.zeros(len(y), 102), y)
    assert torch.isfinite(loss)


def test_download_flag_calls_the_downloader(monkeypatch, root):
    called = {}
    monkeypatch.setattr("flowerkit.access._download_flowers102", lambda r, **k: called.setdefault("root", r))
    OxfordFlowers102(root, "train", download=True)
    assert Path(called["root"]) == root


# ------------------------------------------------------------------ bad metadata: clear errors, nothing written


def _html_page(base: Path) -> bytes:
    return b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head><body>Try later</body></html>\n"


def _matlab_v73(base: Path) -> bytes:
    """What MATLAB's save(..., '-v7.3') writes: a 128-byte text header in a 512-byte user block, then HDF5."""
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    header = text.ljust(116, b" ") + bytes(8) + b"\x00\x02" + b"IM"
    return header.ljust(512, b"\0") + b"\x89HDF\r\n\x1a\n" + bytes(1024)


def _plain_hdf5(base: Path) -> bytes:
    return b"\x89HDF\r\n\x1a\n" + bytes(1024)  # what h5py writes: the signature at offset 0


def _labels(base: Path) -> np.ndarray:
    return loadmat(base / "imagelabels.mat")["labels"]


def _setid(base: Path) -> dict[str, np.ndarray]:
    mat = loadmat(base / "setid.mat")
    return {v: mat[v] for v in SPLITS.values()}


def _label_103(base: Path) -> bytes:
    labels = _labels(base).copy()
    labels[0, 5] = 103
    return _mat({"labels": labels})


def _ids_past_the_images(base: Path) -> bytes:
    setid = _setid(base)
    n = _labels(base).shape[1]
    setid["trnid"] = np.append(setid["trnid"], [[n + 1]], axis=1).astype(np.uint16)
    return _mat(setid)


def _wrong_split_name(base: Path) -> bytes:
    setid = _setid(base)
    setid["trainid"] = setid.pop("trnid")
    return _mat(setid)


BREAKS: dict[str, tuple[str, Callable[[Path], bytes] | None, type[Exception], str]] = {
    "missing imagelabels.mat": ("imagelabels.mat", None, FileNotFoundError, "does not exist"),
    "missing setid.mat": ("setid.mat", None, FileNotFoundError, "does not exist"),
    "lbls instead of labels": (
        "imagelabels.mat",
        lambda base: _mat({"lbls": _labels(base)}),
        FlowersFormatError,
        "no variable 'labels' (found: lbls)",
    ),
    "trainid instead of trnid": ("setid.mat", _wrong_split_name, FlowersFormatError, "no variable 'trnid'"),
    "MATLAB v7.3": ("imagelabels.mat", _matlab_v73, FlowersFormatError, "v7.3"),
    "plain HDF5": ("setid.mat", _plain_hdf5, FlowersFormatError, "v7.3"),
    "HTML page as imagelabels.mat": ("imagelabels.mat", _html_page, FlowersFormatError, "HTML page"),
    "HTML page as setid.mat": ("setid.mat", _html_page, FlowersFormatError, "HTML page"),
    "empty imagelabels.mat": ("imagelabels.mat", lambda base: b"", FlowersFormatError, "empty"),
    "empty setid.mat": ("setid.mat", lambda base: b"", FlowersFormatError, "empty"),
    "setid.mat cut short (100 bytes)": (
        "setid.mat",
        lambda base: _mat(_setid(base))[:100],
        FlowersFormatError,
        "not a readable MATLAB",
    ),
    "a JSON error body as setid.mat": (
        "setid.mat",
        lambda base: b'{"error": "Forbidden", "message": "Access denied", "status": 403}',
        FlowersFormatError,
        "not a readable MATLAB",
    ),
    "random bytes": (
        "imagelabels.mat",
        lambda base: np.random.default_rng(0).bytes(4096),
        FlowersFormatError,
        "not a readable MATLAB",
    ),
    "0-based labels": ("imagelabels.mat", lambda base: _mat({"labels": _labels(base) - 1}), FlowersFormatError, "1..102"),
    "label 103": ("imagelabels.mat", _label_103, FlowersFormatError, "1..102"),
    "fractional labels": (
        "imagelabels.mat",
        lambda base: _mat({"labels": _labels(base) + 0.5}),
        FlowersFormatError,
        "should hold integers",
    ),
    "ids past the images": ("setid.mat", _ids_past_the_images, FlowersFormatError, "do not belong together"),
    "0-based ids": (
        "setid.mat",
        lambda base: _mat({k: v - 1 for k, v in _setid(base).items()}),
        FlowersFormatError,
        "start at 1",
    ),
}


@pytest.mark.parametrize("case", list(BREAKS))
def test_bad_metadata_gives_a_clear_error_and_writes_nothing(root, case):
    name, content, exc, phrase = BREAKS[case]
    base = root / "flowers-102"
    target = base / name
    data = None if content is None else content(base)
    target.unlink()
    if data is not None:
        target.write_bytes(data)
    before = _snapshot(root)
    with pytest.raises(exc) as err:
        OxfordFlowers102(root, "train")
    message = str(err.value)
    assert phrase in message, message
    _assert_clear(message, target)
    assert _snapshot(root) == before, "nothing written into the dataset folder"


def test_labels_of_the_wrong_length_name_both_files(root):
    base = root / "flowers-102"
    _replace(base / "imagelabels.mat", _mat({"labels": _labels(base)[:, :100]}))
    with pytest.raises(FlowersFormatError) as err:
        OxfordFlowers102(root, "test")
    _assert_clear(str(err.value), base / "setid.mat")
    assert str(base / "imagelabels.mat") in str(err.value)


def test_missing_jpg_folder(root):
    shutil.rmtree(root / "flowers-102" / "jpg")
    before = _snapshot(root)
    with pytest.raises(FileNotFoundError, match="does not exist") as err:
        OxfordFlowers102(root, "train")
    _assert_clear(str(err.value), root / "flowers-102" / "jpg")
    assert _snapshot(root) == before


def test_root_must_hold_flowers_102_not_be_it(mini_root):
    with pytest.raises(FileNotFoundError, match="flowers-102/") as err:
        OxfordFlowers102(mini_root / "flowers-102", "train")
    assert any(h in str(err.value) for h in HINT)


def test_missing_jpegs_are_reported_at_construction(root):
    ds = OxfordFlowers102(root, "val")
    gone = ds.image_files[3]
    gone.unlink()
    before = _snapshot(root)
    with pytest.raises(FileNotFoundError, match=gone.name) as err:
        OxfordFlowers102(root, "val")
    assert "missing" in str(err.value)
    _assert_clear(str(err.value), root / "flowers-102" / "jpg")
    assert _snapshot(root) == before


def test_a_jpeg_deleted_after_construction_is_named_at_getitem(root):
    ds = OxfordFlowers102(root, "val")
    ds.image_files[2].unlink()
    with pytest.raises(FileNotFoundError) as err:
        ds[2]
    _assert_clear(str(err.value), ds.image_files[2])


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


BAD_JPEGS = {
    "empty": (lambda data: b"", "empty (0 bytes)"),
    "truncated": (_truncated, "not a readable image"),
    "random bytes": (lambda data: np.random.default_rng(1).bytes(3000), "not a readable image"),
    "JPEG header then garbage": (lambda data: data[:20] + b"garbage" * 100, "not a readable image"),
}


@pytest.mark.parametrize("case", list(BAD_JPEGS))
def test_an_empty_or_corrupt_jpeg_is_named_at_getitem(root, case):
    break_it, phrase = BAD_JPEGS[case]
    ds = OxfordFlowers102(root, "val")
    bad = ds.image_files[5]
    _replace(bad, break_it(bad.read_bytes()))
    ds = OxfordFlowers102(root, "val")  # construction only checks that the files exist
    before = _snapshot(root)
    with pytest.raises(FlowersFormatError, match=re.escape(phrase)) as err:
        ds[5]
    _assert_clear(str(err.value), bad)
    assert ds[4][0].mode == ds[6][0].mode == "RGB", "the other images still load"
    assert _snapshot(root) == before


def test_a_bad_image_outside_the_dataset_gets_advice_for_any_file(tmp_path):
    """The Oxford remedy (regenerate mini-flowers, download again) belongs to its jpg/ folder only (notebook 08's uploads)."""
    empty, missing = tmp_path / "upload_007.jpg", tmp_path / "upload_008.jpg"
    empty.write_bytes(b"")
    with pytest.raises(FlowersFormatError, match="empty") as err:
        load_rgb(empty)
    with pytest.raises(FileNotFoundError) as gone:
        load_rgb(missing)
    for message, path in ((str(err.value), empty), (str(gone.value), missing)):
        assert str(path) in message and "a good copy from where it came from" in message, message
        assert "download=True" not in message and "mini_flowers" not in message, message


def test_a_missing_dataset_image_says_how_to_get_it_back_not_to_delete_it(root):
    ds = OxfordFlowers102(root, "val")
    ds.image_files[3].unlink()
    with pytest.raises(FileNotFoundError) as err:
        load_rgb(ds.image_files[3])
    message = str(err.value)
    assert "is missing." in message and "Delete it" not in message and "mini_flowers" in message, message


# ------------------------------------------------------------------ any image mode comes out RGB


@pytest.mark.parametrize(
    "mode, fmt",
    [("L", "JPEG"), ("CMYK", "JPEG"), ("P", "PNG"), ("RGBA", "PNG"), ("LA", "PNG"), ("L", "PNG"), ("RGB", "PNG")],
)
def test_any_mode_comes_out_rgb_with_three_channels(tmp_path, mode, fmt):
    red = Image.new("RGB", (160, 120), (200, 30, 60))
    img = red.convert("P", palette=Image.Palette.ADAPTIVE) if mode == "P" else red.convert(mode)
    path = tmp_path / "image_00001.jpg"  # whatever the content, the name says jpg
    img.save(path, format=fmt)
    for draft in (None, 32):
        out = load_rgb(path, draft=draft)
        arr = np.asarray(out)
        assert out.mode == "RGB" and arr.ndim == 3 and arr.shape[2] == 3 and min(out.size) >= 32
        r, g, b = (int(v) for v in arr[10, 10])
        if mode in ("L", "LA"):
            assert r == g == b
        else:
            assert r > 150 and g < 90 and b < 90, f"still red: {(r, g, b)}"


def test_transparent_pixels_land_on_white():
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert to_rgb(img).getpixel((0, 0)) == (255, 255, 255)
    assert to_rgb(Image.new("RGBA", (4, 4), (255, 0, 0, 255))).getpixel((0, 0)) == (255, 0, 0)


def test_a_grayscale_jpeg_in_the_dataset_comes_out_rgb(root):
    ds = OxfordFlowers102(root, "train")
    gray = Image.open(ds.image_files[0]).convert("L")
    ds.image_files[0].unlink()  # a hard link: never write into it
    gray.save(ds.image_files[0], format="JPEG")
    image, _ = ds[0]
    arr = np.asarray(image)
    assert image.mode == "RGB" and arr.shape == (image.size[1], image.size[0], 3)
    assert np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2])


def test_draft_decodes_smaller_but_never_below_the_request(default_mini_root):
    path = OxfordFlowers102(default_mini_root, "val").image_files[0]
    full, small = load_rgb(path), load_rgb(path, draft=64)
    assert small.mode == "RGB"
    assert min(small.size) >= 64
    assert small.size[0] < full.size[0] and small.size[1] < full.size[1]
    image, _ = OxfordFlowers102(default_mini_root, "val", draft=64)[0]
    assert image.size == small.size


def test_the_dataset_signature_follows_what_the_folder_holds(root):
    """Notebook 05's visitor photos and 08's hand-over are keyed by it: a dataset replaced at the same path is new."""
    from flowerkit.access import _dataset_signature

    first = _dataset_signature(root)
    assert _dataset_signature(root) == first, "nothing changed: the same signature"
    folder = root / "flowers-102"
    shutil.copytree(folder / "jpg", folder / "jpg-new")
    shutil.rmtree(folder / "jpg")
    (folder / "jpg-new").rename(folder / "jpg")  # extracted again, moved in whole, as the download does
    second = _dataset_signature(root)
    assert second != first
    labels = folder / "imagelabels.mat"
    labels.write_bytes(labels.read_bytes() + b"\0")
    assert _dataset_signature(root) not in (first, second)


@pytest.mark.parametrize("mode", ["I;16", "I", "F"])
def test_to_rgb_keeps_the_range_of_16_bit_and_float_images(mode):
    """A 16-bit PNG (scans, microscopes) came out all white through PIL's convert, a float TIFF all black."""
    ramp = np.linspace(0, 1, 32 * 32).reshape(32, 32)
    values = {"I;16": (ramp * 65535).astype(np.uint16), "I": (ramp * 65535).astype(np.int32), "F": ramp.astype(np.float32)}
    img = Image.fromarray(values[mode])
    assert img.mode == mode
    rgb = np.asarray(to_rgb(img))
    assert rgb.shape == (32, 32, 3) and rgb.min() == 0 and rgb.max() == 255 and 120 < rgb.mean() < 135
