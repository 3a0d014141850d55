"""flowerkit.meter: the data-wait meter splits a loop's time into waiting for data and computing."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, TensorDataset

from flowerkit import meter
from flowerkit.meter import DataWaitMeter
from flowerkit.model import FlowerCNN, TrainConfig, train, train_for


def _slow(n: int, seconds: float) -> Iterator[int]:
    for i in range(n):
        time.sleep(seconds)
        yield i


def test_a_slow_loader_shows_as_wait_and_a_slow_body_as_compute() -> None:
    meter = DataWaitMeter()
    for _ in meter.batches(_slow(4, 0.02)):
        pass
    assert meter.steps == 4 and meter.wait_share > 0.9
    busy = DataWaitMeter()
    for _ in busy.batches(range(4)):
        time.sleep(0.02)
    assert busy.wait_share < 0.1
    s = busy.summary()
    assert (
        s["steps"] == 4
        and s["median_compute_ms"] >= 15
        and math.isclose(s["wait_s"] + s["compute_s"], 4 * s["median_compute_ms"] / 1000, rel_tol=0.5)
    )


def test_a_loop_that_breaks_drops_its_unfinished_step() -> None:
    meter = DataWaitMeter()
    for i in meter.batches(range(10)):
        if i == 2:
            break
    assert meter.steps == 2 and len(meter.wait_s) == 3 and meter.total_wait_s == sum(meter.wait_s[:2])
    assert math.isnan(DataWaitMeter().wait_share)


def test_the_clock_is_injectable() -> None:
    ticks = iter(range(100))
    meter = DataWaitMeter(clock=lambda: float(next(ticks)))
    list(meter.batches([1, 2]))
    assert meter.wait_s == [1.0, 1.0] and meter.compute_s == [1.0, 1.0]


def test_training_records_each_epochs_data_wait() -> None:
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(16, 3, 16, 16, generator=g), torch.randint(0, 3, (16,), generator=g))
    loader = DataLoader(data, batch_size=4)
    history = train(FlowerCNN(num_classes=3, width=4), loader, TrainConfig(epochs=2), progress=False, device="cpu")
    assert len(history.wait_s) == len(history.compute_s) == 2 and 0 <= history.data_wait_share < 1
    timed = train_for(FlowerCNN(num_classes=3, width=4), loader, 0.2, device="cpu")
    assert len(timed.wait_s) == len(timed.seconds) and sum(timed.compute_s) > 0


def test_finish_counts_the_step_a_loop_breaks_after() -> None:
    meter = DataWaitMeter()
    for i in meter.batches(range(10)):
        if i == 2:
            meter.finish()
            break
    assert meter.steps == 3 and len(meter.wait_s) == 3
    meter.finish()  # nothing in progress: no effect
    assert meter.steps == 3


def test_best_ms_is_the_fastest_run_on_one_thread_and_restores_the_threads() -> None:
    threads_seen: list[int] = []
    before = torch.get_num_threads()
    ms = meter.best_ms(lambda: threads_seen.append(torch.get_num_threads()) or time.sleep(0.002), repeat=3)
    assert threads_seen == [1, 1, 1] and torch.get_num_threads() == before
    assert 2 <= ms < 200
    meter.best_ms(lambda: threads_seen.append(torch.get_num_threads()), repeat=1, threads=None)
    assert threads_seen[-1] == before
