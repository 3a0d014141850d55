"""flowerkit.transform (the Transform stage, notebook 02)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from flowerkit.facts import IMAGENET_MEAN, IMAGENET_STD
from flowerkit.transform import (
    ToRGB,
    _resize_crop,
    compute_stats,
    denormalize,
    eval_transform,
    normalize_batch,
    train_transform,
)


def _photo(w=75, h=50, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    if mode == "L":
        return img.convert("L")
    if mode == "CMYK":
        return img.convert("CMYK")
    if mode == "P":
        return img.convert("P")
    if mode == "RGBA":
        img = img.convert("RGBA")
        img.putalpha(128)
        return img
    return img


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK", "P", "RGBA"])
@pytest.mark.parametrize("make", [eval_transform, train_transform])
def test_every_mode_becomes_a_normalised_float_rgb_tensor(mode, make):
    out = make(32)(_photo(mode=mode))
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32


@pytest.mark.parametrize("mode", ["L", "CMYK", "P", "RGBA"])
def test_resize_crop_gives_uint8_rgb(mode):
    out = _resize_crop(24)(_photo(mode=mode))
    assert out.shape == (3, 24, 24) and out.dtype == torch.uint8


def test_grayscale_input_has_three_identical_channels():
    out = _resize_crop(16)(_photo(mode="L"))
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])


def test_image_smaller_than_the_crop_is_upscaled_not_padded():
    small = Image.new("RGB", (20, 12), (200, 10, 10))
    out = _resize_crop(64)(small)
    assert out.shape == (3, 64, 64)
    assert (out[0] > 150).all(), "no black padding"


def test_resize_crop_preserves_aspect_ratio():
    # a centred circle must stay a circle (a squashing resize would make it an ellipse)
    img = Image.new("RGB", (300, 200), "black")
    from PIL import ImageDraw

    ImageDraw.Draw(img).ellipse([100, 50, 200, 150], fill="white")
    out = _resize_crop(100)(img)[0] > 128
    rows, cols = out.any(1).sum().item(), out.any(0).sum().item()
    assert abs(rows - cols) <= 2


def test_eval_transform_is_deterministic_and_train_transform_is_not():
    img = _photo(120, 90)
    ev = eval_transform(32)
    assert torch.equal(ev(img), ev(img))
    torch.manual_seed(0)
    tr = train_transform(32)
    assert not all(torch.equal(tr(img), tr(img)) for _ in range(3))


def test_train_transform_options():
    out = train_transform(32, rotation=15, jitter=0.3)(_photo())
    assert out.shape == (3, 32, 32)


def test_torgb_on_tensors():
    assert ToRGB()(torch.zeros(1, 5, 5)).shape == (3, 5, 5)
    assert ToRGB()(torch.zeros(2, 4, 5, 5)).shape == (2, 3, 5, 5)


def test_normalize_batch_matches_the_per_image_pipeline():
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    from flowerkit.transform import _to_normalized

    per_image = torch.stack([_to_normalized(IMAGENET_MEAN, IMAGENET_STD)(i) for i in x])
    torch.testing.assert_close(normalize_batch(x, IMAGENET_MEAN, IMAGENET_STD), per_image)


def test_denormalize_inverts_normalisation():
    x = torch.rand(2, 3, 8, 8)
    m, s = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    torch.testing.assert_close(denormalize((x - m) / s), x)


class _Tensors(torch.utils.data.Dataset):
    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], 0


def test_compute_stats_equals_a_direct_computation():
    x = torch.randint(0, 256, (10, 3, 6, 7), dtype=torch.uint8)
    mean, std = compute_stats(_Tensors(x), batch_size=3, progress=False)
    xf = x.double() / 255
    torch.testing.assert_close(torch.tensor(mean, dtype=torch.float64), xf.mean((0, 2, 3)))
    torch.testing.assert_close(
        torch.tensor(std, dtype=torch.float64), xf.permute(1, 0, 2, 3).reshape(3, -1).std(1, unbiased=False)
    )


def test_compute_stats_on_the_train_split(mini_root):
    from flowerkit import OxfordFlowers102

    train = OxfordFlowers102(mini_root, "train")
    mean, std = compute_stats(train, size=16, progress=False)
    direct = torch.stack([_resize_crop(16)(img) for img, _ in train]).double() / 255
    torch.testing.assert_close(torch.tensor(mean, dtype=torch.float64), direct.mean((0, 2, 3)))
    torch.testing.assert_close(
        torch.tensor(std, dtype=torch.float64), direct.permute(1, 0, 2, 3).reshape(3, -1).std(1, unbiased=False)
    )
    with pytest.raises(ValueError, match="without a transform"):
        compute_stats(OxfordFlowers102(mini_root, "train", transform=_resize_crop(8)), size=16, progress=False)


def test_compute_stats_starts_one_set_of_workers(monkeypatch):
    """Issue 17: tqdm.auto must not be handed the loader (its constructor calls iter(), a second set of workers)."""
    from torch.utils.data import DataLoader

    started = []
    real = DataLoader.__iter__
    monkeypatch.setattr(DataLoader, "__iter__", lambda self: started.append(self.num_workers) or real(self))
    images = torch.randint(0, 256, (8, 3, 4, 4), dtype=torch.uint8)
    compute_stats(images, batch_size=4, num_workers=2, progress=True)
    assert started == [2], f"DataLoader iterated {len(started)} times"


class _Stuck(torch.utils.data.Dataset):
    """Images that never come in time."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        import time

        time.sleep(30)
        return torch.zeros(3, 2, 2, dtype=torch.uint8)


def test_compute_stats_stops_at_a_stuck_worker(monkeypatch):
    from flowerkit import transform

    monkeypatch.setattr(transform, "WORKER_TIMEOUT_S", 1)
    with pytest.raises(RuntimeError, match="timed out after 1 seconds"):
        compute_stats(_Stuck(), batch_size=2, num_workers=1, progress=False)
