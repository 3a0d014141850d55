"""Where the model runs: one helper picks the device, and batches travel to it as uint8 and are normalised there.

Introduced in notebook ``03_load`` (the GPU route: ``pin_memory``, ``non_blocking``, the bytes each batch moves) and
used by every training from ``04_three_teams`` on. :func:`pick_device` is the one place that decides: a CUDA GPU when
PyTorch sees one, else the CPU; ``$FLOWERKIT_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``, ``mps`` or ``auto``) overrides it
for an instructor who wants the CPU story on a GPU machine, or the other way round.

What FFCV and NVIDIA DALI do, in plain PyTorch (:class:`DeviceLoader`): workers hand over **uint8** batches (a quarter
of float32's bytes through shared memory and over the bus), the batch is copied from pinned memory with
``non_blocking=True`` (the copy overlaps the GPU's work), and it is converted and normalised on the device, where the
model is. On a CPU the same loader normalises in the main process instead of the workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch

__all__ = ["DEVICE_ENV", "DeviceLoader", "batch_bytes", "pick_device", "to_device"]

#: The environment variable that overrides :func:`pick_device`'s choice.
DEVICE_ENV: str = "FLOWERKIT_DEVICE"


def pick_device(override: str | torch.device | None = None) -> torch.device:
    """The device every training and prediction uses: ``override``, else ``$FLOWERKIT_DEVICE``, else ``auto``.

    ``auto`` is ``cuda`` when ``torch.cuda.is_available()``, else ``cpu``. Asking for a GPU that is not there is an
    error that says what to set instead, not a silent fall-back. Introduced in notebook ``03_load``.
    """
    choice = str(override if override is not None else os.environ.get(DEVICE_ENV, "auto")).strip().lower()
    if choice in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(choice)
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"{DEVICE_ENV}={choice!r} is not a device: use 'auto', 'cpu', 'cuda' or 'cuda:N'") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"{DEVICE_ENV}={choice!r} asks for a CUDA GPU, but PyTorch sees none (torch.cuda.is_available() is False): "
            f"unset {DEVICE_ENV} or set it to 'cpu', or install a CUDA build of PyTorch"
        )
    return device


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a tensor, or the tensors in a tuple/list/dict, to ``device``; ``non_blocking`` so a pinned copy overlaps.

    ``non_blocking=True`` only lets the copy run asynchronously when the source is in pinned (page-locked) memory,
    which ``DataLoader(pin_memory=True)`` provides; from pageable memory it is an ordinary copy. Introduced in
    notebook ``03_load``.
    """
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch) if type(batch) in (tuple, list) else batch
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def batch_bytes(batch_size: int, size: int, dtype: torch.dtype = torch.uint8, channels: int = 3) -> int:
    """Bytes one image batch occupies: what crosses shared memory from a worker and the bus to a GPU.

    ``batch_bytes(64, 96)`` is 1.77 MB in uint8 and four times that in float32. Introduced in notebook ``03_load``.
    """
    itemsize = torch.empty((), dtype=dtype).element_size()
    return batch_size * channels * size * size * itemsize


class DeviceLoader:
    """Wrap a loader of uint8 batches: move each to the device (``non_blocking``) and normalise it there.

    Yields ``(float32 images on device, labels on device)``: the same floats as
    :class:`flowerkit.load.CollateNormalize` (``x * (1 / (255 std)) - mean / std``), computed where the model is.
    ``len()`` and attributes (``dataset``, ``batch_size``, ``num_workers`` ...) are the wrapped loader's, so a
    training loop or :func:`flowerkit.doctor.diagnose` treats it like the DataLoader inside. Float batches pass
    through unconverted. Introduced in notebook ``03_load``; :func:`flowerkit.load.make_loader` builds one with
    ``normalize="device"``.
    """

    def __init__(
        self,
        loader: Iterable[Any],
        device: str | torch.device | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        *,
        channels_last: bool = False,
    ) -> None:
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        self.loader = loader
        self.device = pick_device(device)
        self.mean = tuple(mean) if mean is not None else None
        self.std = tuple(std) if std is not None else None
        self.channels_last = channels_last
        self._scale_shift: tuple[torch.Tensor, torch.Tensor] | None = None
        if self.mean is not None and self.std is not None:
            std_t = torch.as_tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
            shift = torch.as_tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1) / std_t
            self._scale_shift = ((1.0 / (255.0 * std_t)).to(self.device), shift.to(self.device))

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        if name == "loader":  # not yet set (during unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.loader, name)

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        if self._scale_shift is not None and not images.is_floating_point():
            scale, shift = self._scale_shift
            memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
            out = torch.empty(images.shape, dtype=torch.float32, device=self.device, memory_format=memory_format)
            images = torch.mul(images, scale, out=out).sub_(shift)
        elif self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def __iter__(self) -> Iterator[tuple[torch.Tensor, Any]]:
        for images, labels in self.loader:
            yield self._prepare(images), to_device(labels, self.device)
