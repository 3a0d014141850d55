"""The efficiency checks of :func:`flowerkit.doctor.diagnose` (notebooks ``03_load`` and ``04_three_teams``).

Batch size, workers, milliseconds per item against a draft decode of the same files, images/s against a tuned
loader; and shuffling over class-grouped data, filed under quality (it costs accuracy, not time).
"""

from __future__ import annotations

import time
import types
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import SequentialSampler

from ..facts import cpu_count
from ..load import DecodedFlowers, decode_resized, make_loader, measure_throughput
from .findings import _Finding, _Report
from .foreign import _batch_order_finding
from .subject import _Subject

__all__: list[str] = []

#: Seconds each loader is read for at least when the throughput check compares it with a tuned loader: a fast cached
#: loader's 2 batches last a few milliseconds, which one scheduling hiccup halves (CI saw a 2x "slower" that way).
THROUGHPUT_WINDOW_S = 0.3


def _ms_per_call(funcs: Sequence[Any], items: Sequence[Any]) -> list[float]:
    """Median milliseconds per call of each ``funcs[k](item)``, interleaved item by item after one warm-up.

    Interleaving exposes every function to the same load, and the median
    shrugs off a busy machine's hiccups.
    """
    times: list[list[float]] = [[] for _ in funcs]
    for n, item in enumerate(items):
        for func, record in zip(funcs, times):
            start = time.perf_counter()
            func(item)
            if n:
                record.append(time.perf_counter() - start)
    return [1000 * float(np.median(t)) if t else float("nan") for t in times]


def _efficiency_checks(s: _Subject, size: int | None, seed: int, measure: bool) -> _Report:
    report = _Report()
    if s.loader is not None:
        shuffling = _shuffling_finding(s)
        report.extend([shuffling] if shuffling is not None else [])
        if shuffling is None:
            report.skip("quality", "shuffling", "the loader's batches hold no integer labels to look at")
        report.append(_batch_size_finding(s.loader))
    else:
        report.skip("quality", "shuffling", "a Dataset, not a DataLoader: the order is the loader's (diagnose the loader)")
        report.skip("efficiency", "batch size, workers, throughput", "a Dataset, not a DataLoader")
    if not measure:
        report.skip("efficiency", "decode cost, workers, throughput", "measure=False")
        return report
    decode, item_ms = _decode_cost_finding(s, size, seed)
    report.append(decode)
    if s.loader is not None:
        report.extend([_workers_finding(s.loader, item_ms), _throughput_check(s, size, seed)])
    return report


def _shuffling_finding(s: _Subject) -> _Finding | None:
    """A training loader over class-grouped files must shuffle. Filed under *quality*: it costs accuracy, not time."""
    if s.labels is None:  # labels kept nowhere the doctor can read: look at the order of the first batches
        return _batch_order_finding(s, s.sampled_classes)
    loader = s.loader
    training = s.split not in ("val", "test")
    sampler = loader.batch_sampler.sampler if loader.batch_sampler is not None else loader.sampler
    runs = 1 + sum(a != b for a, b in zip(s.labels, s.labels[1:])) if s.labels else None
    grouped = runs is not None and runs < len(s.labels) / 4  # type: ignore[arg-type]
    evidence = {"sampler": type(sampler).__name__, "label_runs": runs, "items": len(s.dataset)}
    if isinstance(sampler, SequentialSampler) and grouped and training:
        msg = (
            f"no shuffling over files grouped by class: each step sees one class ({runs} runs of the same label in a row); "
            "pass shuffle=True. A correctness bug, not a speed bug: it costs accuracy, which is why it is filed under quality"
        )
        return _Finding("quality", "shuffling", False, msg, evidence)
    why = "evaluation order does not matter" if not training else "items come in mixed order"
    return _Finding("quality", "shuffling", True, why, evidence)


def _batch_size_finding(loader: Any) -> _Finding:
    """Batches large enough that per-step overhead does not dominate."""
    bs = loader.batch_size or (loader.batch_sampler.batch_size if loader.batch_sampler is not None else 1)
    if bs < 16:
        msg = f"batch size {bs}: per-step overhead dominates and BatchNorm sees {bs} image(s); use at least 16 (32-128 is usual)"
        return _Finding("efficiency", "batch size", False, msg, {"batch_size": bs})
    return _Finding("efficiency", "batch size", True, f"batches of {bs}", {"batch_size": bs})


def _decode_cost_finding(s: _Subject, size: int | None, seed: int) -> tuple[_Finding, float]:
    """Milliseconds per item against a draft decode of the same files; returns the finding and ms per item."""
    idx = torch.randperm(len(s.dataset), generator=torch.Generator().manual_seed(seed))[:16].tolist()
    ref_ms = None
    if s.files:  # the same files, decoded the fast way
        files = s.files
        item_ms, ref_ms = _ms_per_call([s.dataset.__getitem__, lambda i: decode_resized(files[i], size or 64)], idx)
    else:
        (item_ms,) = _ms_per_call([s.dataset.__getitem__], idx)
    evidence = {"ms_per_item": item_ms, "draft_decode_ms": ref_ms}
    if item_ms > 2.0 and (ref_ms is None or item_ms > 2 * ref_ms):
        msg = "each item costs a full-size decode and resize: decode with PIL draft, or cache the decoded images once"
        return _Finding("efficiency", "decode cost", False, msg, evidence), item_ms
    return _Finding("efficiency", "decode cost", True, "items are cheap to produce", evidence), item_ms


def _workers_finding(loader: Any, item_ms: float) -> _Finding:
    """Worker processes when items are costly, and no more than the cores can run."""
    workers, cores = loader.num_workers, cpu_count()
    evidence = {"num_workers": workers, "cores": cores}
    if workers == 0 and item_ms > 0.5 and cores > 1:
        msg = f"num_workers=0: the training loop waits while each item is decoded; use about {cores} workers"
        return _Finding("efficiency", "workers", False, msg, evidence)
    if workers > 2 * cores:
        return _Finding("efficiency", "workers", False, "more workers than cores: they compete", evidence)
    return _Finding("efficiency", "workers", True, "workers suit the cost of an item", evidence)


def _throughput_check(s: _Subject, size: int | None, seed: int) -> _Finding:
    def speed() -> float:  # images/s of the loader under diagnosis, over a window of a few batches
        batches = max(2, 128 // (s.loader.batch_size or 1))
        return measure_throughput(s.loader, batches=batches, min_seconds=THROUGHPUT_WINDOW_S)["images_per_s"]

    this = speed()
    evidence: dict[str, Any] = {"images_per_s": this}
    if s.files and s.labels is not None:
        ref = types.SimpleNamespace(
            root=s.files[0].parent.parent.parent, split=s.split or "train", image_files=s.files, labels=s.labels
        )
        tuned = make_loader(DecodedFlowers.of(ref, size or 64), batch_size=64, shuffle=True, num_workers=cpu_count(), seed=seed)
        evidence["tuned_images_per_s"] = measure_throughput(tuned, batches=3, min_seconds=THROUGHPUT_WINDOW_S)["images_per_s"]
        del tuned
        ratio = evidence["tuned_images_per_s"] / this
        if ratio > 2:  # a moment of a busy machine must not make a finding: a loader that is slow is slow twice
            this = max(this, speed())
            evidence["images_per_s"], ratio = this, evidence["tuned_images_per_s"] / this
        if ratio > 2:
            return _Finding(
                "efficiency",
                "throughput",
                False,
                f"{ratio:.1f}x slower than a tuned loader on the same files (draft decode, batch 64, {cpu_count()} workers)",
                evidence,
            )
        return _Finding("efficiency", "throughput", True, "as fast as a tuned loader or faster", evidence)
    return _Finding("efficiency", "throughput", True, "measured (no files known to compare with a tuned loader)", evidence)
