"""The decode limit: code that only the benchmarks use (``loading.py``'s ``decode_limit`` rows, ``decode_profile.py``).

Not a script: the benchmark scripts import it by name (``python benchmarks/x.py`` puts this folder first on the path,
and DataLoader workers find it the same way). It decodes exactly as :func:`flowerkit.load.decode_resized` does, through
that module's own decoding steps (``_resolve``, ``_turbo_decode``), so the limit it measures is the first pass's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image
from torch.utils.data import Dataset

from flowerkit.load import _resolve, _turbo_decode

__all__ = ["DecodeOnly", "count_items"]


class DecodeOnly(Dataset):
    """Decode each JPEG at the scale :func:`flowerkit.load.decode_resized` uses and return nothing else: the ceiling for a first pass.

    ``decoder`` as in ``decode_resized``: ``"simplejpeg"`` decodes with
    libjpeg-turbo's M/8 scaling (the header check included), ``"pil"`` with
    PIL ``draft``; ``"auto"`` the fastest installed. No crop, no resize, no
    copy, no collate: an item is the number of pixels decoded, to show how much of a first pass is pure decoding.
    """

    def __init__(self, files: Sequence[str | Path], size: int, *, decoder: str = "auto") -> None:
        self.files, self.size, self.decoder = [Path(f) for f in files], size, _resolve(decoder)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, idx: int) -> int:
        if self.decoder == "simplejpeg":
            hwc = _turbo_decode(self.files[idx], self.size)
            if hwc is not None:
                return hwc.shape[0] * hwc.shape[1]
        with Image.open(self.files[idx]) as img:
            img.draft("RGB", (self.size, self.size))
            img.load()
            return img.size[0] * img.size[1]


def count_items(batch: Sequence[Any]) -> int:
    """A ``collate_fn`` that returns only the number of items (for timing fetch without collation).

    :func:`flowerkit.load.measure_throughput` counts an int batch as that many images.
    """
    return len(batch)
