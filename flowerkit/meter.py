"""The data-wait meter: per training step, the seconds spent waiting for the next batch vs computing on it.

Introduced in notebook ``03_load``, where the student first writes the same meter by hand (two clock readings around
``next(iterator)``); ``04_three_teams`` shows each team's share in the capstone's table. It is the efficiency symptom
on a real machine: a GPU whose step takes 2 ms behind a loader that takes 20 ms per batch waits 90% of the time.

On a GPU, the model's work is asynchronous: a step "returns" before the GPU has finished. The meter synchronises the
device before it stops the compute clock, so the GPU's time is counted as compute, not as the next batch's wait.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

__all__ = ["DataWaitMeter", "best_ms"]


class DataWaitMeter:
    """Time each step of a loop over a loader: ``wait`` (inside ``next()``) vs ``compute`` (the loop's body).

    Use it around the loader: ``for x, y in meter.batches(loader): step(x, y)``. ``wait_s`` and ``compute_s`` hold one
    figure per step; :attr:`wait_share` is the fraction of the loop's time spent waiting for data. ``clock`` is any
    seconds counter (``model.train_for`` passes one that stops while the model is being scored); ``device``
    synchronises a GPU before each compute reading. A loop that breaks early drops its last step unless it calls
    :meth:`finish` first (``model.train_for`` does, when its time budget ends). Introduced in notebook ``03_load``.
    """

    def __init__(self, device: str | torch.device | None = None, clock: Callable[[], float] = time.perf_counter) -> None:
        self.device = torch.device(device) if device is not None else None
        self.clock = clock
        self.wait_s: list[float] = []
        self.compute_s: list[float] = []
        self._got: float | None = None  # when the batch in progress arrived

    def _sync(self) -> None:
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def batches(self, loader: Iterable[Any]) -> Iterator[Any]:
        """Yield ``loader``'s batches, recording the wait before each and the compute after it."""
        iterator = iter(loader)
        while True:
            start = self.clock()
            try:
                batch = next(iterator)
            except StopIteration:
                return
            self._got = self.clock()
            self.wait_s.append(self._got - start)
            yield batch  # a GeneratorExit here (the loop broke) leaves this step's compute unrecorded, unless finished
            self.finish()

    def finish(self) -> None:
        """Record the step in progress as done: a loop that breaks right after a completed step calls this first."""
        if self._got is None:
            return
        self._sync()
        self.compute_s.append(self.clock() - self._got)
        self._got = None

    @property
    def steps(self) -> int:
        """Completed steps (each with both figures)."""
        return len(self.compute_s)

    @property
    def total_wait_s(self) -> float:
        """Seconds waiting for data over the completed steps."""
        return float(sum(self.wait_s[: self.steps]))

    @property
    def total_compute_s(self) -> float:
        """Seconds computing over the completed steps."""
        return float(sum(self.compute_s))

    @property
    def wait_share(self) -> float:
        """Fraction (0..1) of the loop's time spent waiting for the next batch; NaN before the first step."""
        total = self.total_wait_s + self.total_compute_s
        return self.total_wait_s / total if total > 0 else float("nan")

    def summary(self) -> dict[str, float]:
        """Steps, total and median seconds of each kind, the first wait (worker start-up) and the wait share."""
        n = self.steps
        waits = self.wait_s[:n]
        return {
            "steps": float(n),
            "wait_s": self.total_wait_s,
            "compute_s": self.total_compute_s,
            "wait_share": self.wait_share,
            "first_wait_s": waits[0] if waits else float("nan"),
            "median_wait_ms": 1000 * statistics.median(waits) if waits else float("nan"),
            "median_compute_ms": 1000 * statistics.median(self.compute_s) if n else float("nan"),
        }


def best_ms(func: Callable[..., Any], *args: Any, repeat: int = 7, threads: int | None = 1) -> float:
    """The fastest of ``repeat`` runs of ``func(*args)``, in milliseconds: the run least disturbed by other programs.

    It runs on ``threads`` CPU threads (default 1, as PyTorch sets in every DataLoader worker; ``None`` leaves
    the process's setting): on a busy 2-core laptop a batched operation split over 2 threads waits for the
    second core and can come out 10x slower than on one, which would reverse a comparison with per-image
    work too small to be split. Introduced in notebook ``03_load``.
    """
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            func(*args)
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)
    return 1000 * best
