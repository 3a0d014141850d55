"""flowerkit.device: the one device choice, the override, uint8 batches normalised where the model is."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from flowerkit.device import DEVICE_ENV, DeviceLoader, batch_bytes, pick_device, to_device
from flowerkit.load import CollateNormalize, make_loader

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


def test_auto_picks_cuda_only_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    assert pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    assert pick_device("auto") == torch.device("cpu")


def test_the_override_wins_and_a_missing_gpu_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert pick_device() == torch.device("cpu")
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    with pytest.raises(RuntimeError, match="FLOWERKIT_DEVICE='cuda'.*set it to 'cpu'"):
        pick_device()
    assert pick_device("cpu") == torch.device("cpu")  # an explicit argument beats the environment
    monkeypatch.setenv(DEVICE_ENV, "gpu please")
    with pytest.raises(ValueError, match="not a device"):
        pick_device()


def test_batch_bytes_counts_a_quarter_for_uint8() -> None:
    assert batch_bytes(64, 96) == 64 * 3 * 96 * 96
    assert batch_bytes(64, 96, torch.float32) == 4 * batch_bytes(64, 96)


def test_to_device_moves_nested_batches() -> None:
    x, y = torch.zeros(2, 3), torch.tensor([1, 2])
    moved = to_device({"x": x, "pair": (x, y), "name": "a"}, torch.device("cpu"))
    assert moved["name"] == "a" and isinstance(moved["pair"], tuple) and torch.equal(moved["pair"][1], y)


def _uint8_loader(**kw: object) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8, generator=g)
    return DataLoader(TensorDataset(images, torch.arange(10)), batch_size=4, **kw)  # type: ignore[arg-type]


def test_device_loader_gives_the_floats_the_worker_collate_gives() -> None:
    """Normalising on the device is the same arithmetic as CollateNormalize in the workers: identical floats."""
    on_device = list(DeviceLoader(_uint8_loader(), "cpu", MEAN, STD))
    in_worker = list(_uint8_loader(collate_fn=lambda b: CollateNormalize(MEAN, STD)(list(zip(*zip(*b))))))
    assert len(on_device) == len(in_worker) == 3
    for (a, ya), (b, yb) in zip(on_device, in_worker):
        assert a.dtype == torch.float32 and torch.equal(a, b) and torch.equal(ya, yb)


def test_device_loader_acts_like_the_loader_inside() -> None:
    inner = _uint8_loader()
    loader = DeviceLoader(inner, "cpu", MEAN, STD, channels_last=True)
    assert len(loader) == 3 and loader.batch_size == 4 and loader.dataset is inner.dataset
    x, _ = next(iter(loader))
    assert x.is_contiguous(memory_format=torch.channels_last)
    plain = DeviceLoader(inner, "cpu")  # no statistics: batches stay uint8
    assert next(iter(plain))[0].dtype == torch.uint8
    with pytest.raises(ValueError, match="both mean and std"):
        DeviceLoader(inner, "cpu", MEAN)


def test_device_loader_survives_pickling_without_recursion() -> None:
    loader = pickle.loads(pickle.dumps(DeviceLoader([(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), torch.zeros(1))], "cpu")))
    assert len(loader) == 1


def test_make_loader_normalises_on_the_device_with_the_same_floats() -> None:
    images = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    data = [(im, i % 3) for i, im in enumerate(images)]
    kw = {"batch_size": 4, "num_workers": 0, "mean": MEAN, "std": STD, "shuffle": True, "seed": 3}
    worker, device = make_loader(data, **kw), make_loader(data, normalize="device", device="cpu", **kw)
    assert isinstance(device, DeviceLoader) and len(device) == len(worker) == 3
    for (a, ya), (b, yb) in zip(worker, device):
        assert torch.equal(a, b) and torch.equal(ya, yb)
    with pytest.raises(ValueError, match="normalize"):
        make_loader(data, normalize="gpu")
