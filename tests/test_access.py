"""flowerkit.access: correct reading, agreement with torchvision, and clear errors on bad input (notebook 01)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from flowerkit import CLASSES, OxfordFlowers102, load_rgb, read_labels, read_splits, torchvision_flowers102
from flowerkit.access import FlowersFormatError, image_path, to_rgb


@pytest.fixture
def root(mini_root, tmp_path):
    """A private copy of the small dataset, safe to break."""
    shutil.copytree(mini_root / "flowers-102", tmp_path / "flowers-102")
    return tmp_path


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def _mat(variables) -> bytes:
    buf = io.BytesIO()
    savemat(buf, variables)
    return buf.getvalue()


def test_read_labels_is_flat_int64_zero_based(mini_root):
    labels = read_labels(mini_root / "flowers-102" / "imagelabels.mat")
    assert labels.ndim == 1 and labels.dtype == np.int64 and labels.size > 1000
    assert labels.min() == 0 and labels.max() == 101


def test_read_splits_returns_one_based_ids(mini_root):
    splits = read_splits(mini_root / "flowers-102" / "setid.mat")
    assert set(splits) == {"train", "val", "test"}
    assert all(ids.dtype == np.int64 and ids.min() >= 1 for ids in splits.values())
    assert splits["train"].size == splits["val"].size == 1020


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_agrees_item_for_item_with_torchvision(mini_root, split):
    ours = OxfordFlowers102(mini_root, split)
    theirs = torchvision_flowers102(mini_root, split)
    assert len(ours) == len(theirs)
    assert ours.labels == theirs._labels
    assert [p.name for p in ours.image_files] == [Path(p).name for p in theirs._image_files]
    for i in np.linspace(0, len(ours) - 1, 7).astype(int):
        (a, la), (b, lb) = ours[i], theirs[i]
        assert la == lb and np.array_equal(np.asarray(a), np.asarray(b))


def test_classes_match_torchvision():
    from torchvision.datasets import Flowers102

    assert list(CLASSES) == Flowers102.classes and OxfordFlowers102.classes == Flowers102.classes


def test_items_and_transforms(mini_root):
    ds = OxfordFlowers102(mini_root, "val", transform=lambda im: im.size, target_transform=lambda y: -y)
    size, label = ds[0]
    assert isinstance(size, tuple) and label == -OxfordFlowers102(mini_root, "val").labels[0]
    image, label = OxfordFlowers102(mini_root, "val")[0]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and isinstance(label, int)
    assert image_path(mini_root, 42).name == "image_00042.jpg"
    with pytest.raises(ValueError, match="split"):
        OxfordFlowers102(mini_root, "training")


# ------------------------------------------------------------------ bad input: clear errors, nothing written


def _html_page():
    return b"<!DOCTYPE html><html><body>503 Service Unavailable</body></html>"


def _hdf5():
    return b"\x89HDF\r\n\x1a\n" + b"\0" * 600


BREAKS = {
    "missing labels": ("imagelabels.mat", None, FileNotFoundError, "does not exist"),
    "missing setid": ("setid.mat", None, FileNotFoundError, "does not exist"),
    "wrong variable": (
        "imagelabels.mat",
        lambda: _mat({"lbls": np.ones((1, 5), np.uint8)}),
        FlowersFormatError,
        "no variable 'labels'",
    ),
    "MATLAB v7.3": ("imagelabels.mat", _hdf5, FlowersFormatError, "v7.3"),
    "HTML page": ("setid.mat", _html_page, FlowersFormatError, "HTML page"),
    "empty mat": ("imagelabels.mat", lambda: b"", FlowersFormatError, "empty"),
    "garbage mat": ("imagelabels.mat", lambda: b"MATLAB? no. " * 50, FlowersFormatError, "not a readable MATLAB"),
    "0-based labels": ("imagelabels.mat", lambda: _mat({"labels": np.zeros((1, 5000), np.uint8)}), FlowersFormatError, "1..102"),
    "label 103": ("imagelabels.mat", lambda: _mat({"labels": np.full((1, 5000), 103, np.uint8)}), FlowersFormatError, "1..102"),
    "ids past the images": (
        "setid.mat",
        lambda: _mat(
            {"trnid": np.array([[1, 99999]], np.uint32), "valid": np.ones((1, 2), np.uint16), "tstid": np.ones((1, 2), np.uint16)}
        ),
        FlowersFormatError,
        "do not belong together",
    ),
}


@pytest.mark.parametrize("case", list(BREAKS))
def test_bad_metadata_gives_a_clear_error_and_writes_nothing(root, case):
    name, content, exc, phrase = BREAKS[case]
    target = root / "flowers-102" / name
    if content is None:
        target.unlink()
    else:
        target.write_bytes(content())
    before = _snapshot(root)
    with pytest.raises(exc) as err:
        OxfordFlowers102(root, "train")
    message = str(err.value)
    assert phrase in message and name in message
    assert "mini_flowers" in message or "download" in message, "says what to do"
    assert _snapshot(root) == before


def test_missing_jpg_folder(root):
    shutil.rmtree(root / "flowers-102" / "jpg")
    with pytest.raises(FileNotFoundError, match="jpg does not exist") as err:
        OxfordFlowers102(root, "train")
    assert "mini_flowers" in str(err.value)


def test_missing_jpegs_are_reported_at_construction(root):
    ds = OxfordFlowers102(root, "val")
    ds.image_files[3].unlink()
    with pytest.raises(FileNotFoundError, match=ds.image_files[3].name):
        OxfordFlowers102(root, "val")


@pytest.mark.parametrize("content, phrase", [(b"", "empty"), (b"\xff\xd8\xff\xe0garbage" * 3, "not a readable image")])
def test_empty_or_corrupt_jpeg_names_the_file(root, content, phrase):
    ds = OxfordFlowers102(root, "val")
    ds.image_files[5].write_bytes(content)
    with pytest.raises(FlowersFormatError, match=phrase) as err:
        ds[5]
    assert ds.image_files[5].name in str(err.value)


def test_truncated_jpeg_names_the_file(root):
    ds = OxfordFlowers102(root, "val")
    data = ds.image_files[6].read_bytes()
    ds.image_files[6].write_bytes(data[: len(data) // 2])
    with pytest.raises(FlowersFormatError, match=ds.image_files[6].name):
        ds[6]


@pytest.mark.parametrize("mode", ["L", "CMYK", "P", "RGBA", "LA"])
def test_any_mode_comes_out_rgb(tmp_path, mode):
    img = Image.new("RGB", (30, 20), (200, 30, 60)).convert(mode)
    path = tmp_path / ("x.png" if mode in ("P", "RGBA", "LA") else "x.jpg")
    img.save(path)
    out = load_rgb(path)
    assert out.mode == "RGB" and out.size == (30, 20)


def test_transparent_pixels_land_on_white():
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert to_rgb(img).getpixel((0, 0)) == (255, 255, 255)


def test_grayscale_jpeg_in_the_dataset_comes_out_rgb(root):
    ds = OxfordFlowers102(root, "train")
    Image.open(ds.image_files[0]).convert("L").save(ds.image_files[0])
    image, _ = ds[0]
    arr = np.asarray(image)
    assert image.mode == "RGB" and arr.shape[-1] == 3 and np.array_equal(arr[..., 0], arr[..., 1])


def test_draft_decodes_smaller_but_never_below_the_request(default_mini_root):
    path = OxfordFlowers102(default_mini_root, "val").image_files[0]
    full, small = load_rgb(path), load_rgb(path, draft=64)
    assert min(small.size) >= 64 and small.size[0] < full.size[0]


def test_download_flag_calls_the_downloader(monkeypatch, root):
    called = {}
    monkeypatch.setattr("flowerkit.download.download_flowers102", lambda r, **k: called.setdefault("root", r))
    OxfordFlowers102(root, "train", download=True)
    assert Path(called["root"]) == root


def test_labels_tensor_ready_for_cross_entropy(mini_root):
    ds = OxfordFlowers102(mini_root, "train")
    y = torch.tensor(ds.labels)
    loss = torch.nn.functional.cross_entropy(torch.zeros(len(y), 102), y)
    assert torch.isfinite(loss)
