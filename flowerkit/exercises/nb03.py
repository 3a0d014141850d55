"""Checkers of notebook ``03_load``: the data-wait meter, the bugs ranked by cost, a batched collate_fn for a
decoder's arrays, samplers, worker seeding, iterable datasets, the training loader, the prediction loader."""

from __future__ import annotations

import contextlib
import inspect
import io
import itertools
import math
import pickle
import random
import re
import time
import types
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar
from unittest import mock

import numpy as np
import torch
import torch.overrides
import torch.utils.data
import torch.utils.data._utils.worker as _torch_worker  # the global a worker's loop sets: _pretend_worker
from torch.utils.data import DataLoader, Dataset, Subset

from .. import load as _load
from .. import meter as _meter
from .. import sampling as _sampling
from .. import transform as _transform
from ..facts import DEFAULT_SIZE, IMAGENET_MEAN, IMAGENET_STD, cpu_count
from ..load import CachedFlowers, CollateNormalize
from ..meter import DataWaitMeter, best_ms
from ..sampling import ShardedStream, balanced_sampler
from ..teams.efficiency import EFFICIENCY_BUGS as _EFFICIENCY_BUGS
from .verdict import (
    RAISED_HINT,
    STALLED,
    STUB_HINT,
    Verdict,
    _call,
    _call_refusing,
    _call_without,
    _deadline,
    _failure_hint,
    _is_stub_function,
    _named,
    _names_any,
    _picked_from,
    _refused,
    _refusing,
    _set_problem,
    _stall_error,
    _unanswered,
    _verdict,
)

__all__ = [
    "EFFICIENCY_SUSPECTS",
    "CroppedFlowers",
    "check_balanced_sampler",
    "check_bug_ranking",
    "check_collate",
    "check_predict_loader",
    "check_sharded_stream",
    "check_train_loader",
    "check_wait_meter",
    "check_worker_seeding",
]


# ------------------------------------------------------------------ exercise 1: the data-wait meter

_SLEEP_S = 0.03  # what a planted loader or step sleeps per batch: long enough to stand out of a busy machine's noise
_START = 3  # the planted loader's first batch takes this many times longer: a loader's start, which a meter must show


class _SleepyLoader:
    """A loader for checking meters: ``n`` batches ``(x, y)``, ``y`` holding the batch's number; sleeps before each."""

    def __init__(self, n: int, sleep_s: float, first_s: float | None = None) -> None:
        self.n, self.sleep_s = n, sleep_s
        self.first_s = sleep_s if first_s is None else first_s  # a loader's start: workers spawning, caches opening

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for k in range(self.n):
            time.sleep(self.first_s if k == 0 else self.sleep_s)
            yield torch.zeros(2, 3), torch.full((2,), k)


class _SleepyStep:
    """A training step for checking meters: records the number of each batch it is given, then sleeps."""

    def __init__(self, sleep_s: float) -> None:
        self.sleep_s, self.seen = sleep_s, []

    def __call__(self, x: Any, y: Any) -> None:
        self.seen.append(int(torch.as_tensor(y).flatten()[0]))
        time.sleep(self.sleep_s)


def _meter_shape_problem(out: Any, steps: int, elapsed_s: float) -> tuple[str, str] | None:
    """What is wrong with the form of a meter's answer; None if it is two lists of ``steps`` durations.

    ``elapsed_s`` is how long the meter ran: no duration inside it can be longer.
    """
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return "return a pair (waits, computes): two lists of seconds.", "return waits, computes"
    try:
        waits, computes = ([float(v) for v in part] for part in out)
    except (TypeError, ValueError):
        return "waits and computes should each be a list of numbers (seconds).", "append one duration per step to each list"
    if len(waits) != steps or len(computes) != steps:
        return f"for {steps} steps: {len(waits)} waits and {len(computes)} computes.", "append one wait and one compute per step"
    if min(waits + computes) < 0:
        return "negative durations: an earlier reading minus a later one.", "duration = the reading after - the reading before"
    if max(waits + computes) > elapsed_s + 0.5:
        return _not_seconds(waits, computes, elapsed_s)
    return None


def _overcount_problem(waits: list[float], computes: list[float], elapsed_s: float) -> tuple[str, str] | None:
    """(message, hint) if the durations add up to more than the run they were measured in, else None."""
    total = sum(waits) + sum(computes)
    if total <= 1.05 * elapsed_s + 0.01:  # separate stretches of one run cannot add up to more than the run
        return None
    return (
        f"your waits and computes add up to {1000 * total:.0f} ms, but the whole run took {1000 * elapsed_s:.0f} ms: "
        "some time is counted more than once.",
        "each step's wait and compute are stretches of their own: a running total, or a duration added twice, "
        "counts the same time again",
    )


def _not_seconds(waits: list[float], computes: list[float], elapsed_s: float) -> tuple[str, str]:
    """Why figures longer than the whole run are not durations in seconds: shares of the step, milliseconds, or readings."""
    total = sum(waits) + sum(computes)
    if all(abs(w + c - 1) < 0.01 for w, c in zip(waits, computes, strict=True)):
        return "each step's wait and compute add up to 1: these are shares of the step, not durations.", (
            "return the seconds themselves (the reading after - the reading before), not divided by the step's time"
        )
    if total / 1000 <= elapsed_s + 0.05:
        return f"your figures add up to {total:.0f}, but the whole run took {elapsed_s:.2f} s: milliseconds, not seconds.", (
            "time.perf_counter() counts seconds: keep the differences as they are, without converting"
        )
    if 0.5 * elapsed_s <= total / 1e9 <= elapsed_s + 0.05:
        return f"your figures add up to {total:.3g}, but the whole run took {elapsed_s:.2f} s: nanoseconds, not seconds.", (
            "time.perf_counter_ns() counts nanoseconds: use time.perf_counter(), or divide the differences by 1e9"
        )
    return f"figures up to {max(waits + computes):.0f} from a run of {elapsed_s:.2f} s: clock readings, not durations.", (
        "subtract the reading before from the reading after"
    )


def _meter_order_problem(seen: list[int], steps: int) -> tuple[str, str] | None:
    """What is wrong with the batches a meter handed to the step; None if they are the first ``steps``, in order."""
    no_warm_up = "time every step from the first batch, with no warm-up step: the start-up's wait is what a meter should see"
    if steps > 0 and seen == list(range(steps + 1)):
        return f"step(x, y) was called {len(seen)} times for {steps} steps: one more (a warm-up step?).", no_warm_up
    if len(seen) != steps:
        return f"step(x, y) was called {len(seen)} times for {steps} steps.", "call step(x, y) once per step, on the batch"
    if steps > 1 and seen == [0] * steps:
        return "the step got the first batch every time: a new iterator each step restarts the loader.", (
            "make one iterator before the loop (iterator = iter(loader)), then next(iterator) in each step"
        )
    if steps > 1 and seen == list(range(1, steps + 1)):
        return f"the step got batches {seen}: batch 0 never reached it (a warm-up batch?).", no_warm_up
    if seen != list(range(steps)):
        return f"the step got batches {seen}, expected {list(range(steps))} in order.", "next(iterator) once per step"
    return None


def _run_meter(func: Callable[..., Any], wait_s: float, compute_s: float, steps: int) -> tuple[Any, str | None]:
    """Run the student's meter on a loader that sleeps ``wait_s`` per batch and a step that sleeps ``compute_s``.

    Returns ``((waits, computes, elapsed seconds), None)`` or ``(None, (message, hint))``.
    """
    step, start = _SleepyStep(compute_s), time.perf_counter()
    out, error, refused = _call_without(
        _meter, "DataWaitMeter", func, _SleepyLoader(steps + 2, wait_s, _START * wait_s), step, steps
    )
    elapsed_s = time.perf_counter() - start
    if refused:
        return None, (
            "your meter calls flowerkit's meter.DataWaitMeter, the version this exercise builds.",
            "read time.perf_counter() yourself, around next(iterator) and around step(x, y)",
        )
    if error:
        return None, (error, RAISED_HINT)
    if _unanswered(out):
        return None, ("your function returns None: it is still the stub.", "return waits, computes")
    problem = _meter_shape_problem(out, steps, elapsed_s) or _meter_order_problem(step.seen, steps)
    return (None, problem) if problem else ((*([float(v) for v in part] for part in out), elapsed_s), None)


def _start_problem(waits: list[float]) -> tuple[str, str] | None:
    """(message, hint) if the first wait of a loader that starts slowly does not show its start; else None."""
    first_ms = 1000 * _START * _SLEEP_S
    if waits and waits[0] >= 2 * _SLEEP_S:
        return None
    return (
        f"the loader's first batch took {first_ms:.0f} ms to arrive, the others {1000 * _SLEEP_S:.0f} ms; your waits "
        f"{[round(1000 * w) for w in waits]} ms do not show it: an average (or a median) hides the start, which is "
        "often what a hunt is after.",
        "time each next(iterator) on its own and keep each step's own figure",
    )


def _per_step_problem(waits: list[float], computes: list[float]) -> tuple[str, str] | None:
    """(message, hint) if a step of a loop that sleeps before every batch (or in every step) shows no sleep; else None."""
    for name, figures, where in (("wait", waits, "before every batch"), ("compute", computes, "in every step")):
        if figures and 0.5 * _SLEEP_S <= max(figures) and min(figures) < 0.5 * _SLEEP_S:
            k = figures.index(min(figures))
            return (
                f"step {k}'s {name} is {1000 * figures[k]:.0f} ms where the loop sleeps {1000 * _SLEEP_S:.0f} ms "
                f"{where}: your {name}s {[round(1000 * f) for f in figures]} ms put one step's time in another.",
                "read the clock around each step's own next(iterator) and step(x, y), inside the loop",
            )
    return None


def _split_problem(slow_loader: list[float], slow_step: list[float], expected: float) -> tuple[str, str] | None:
    """Judge (total wait, total compute) on an all-wait loop and on an all-compute loop; None if both split right."""
    (wait_a, compute_a), (wait_b, compute_b) = slow_loader, slow_step
    enough, little, ms = 0.8 * expected, 0.3 * expected, lambda v: f"{1000 * v:.0f} ms"
    if compute_a >= enough and wait_b >= enough and wait_a < little and compute_b < little:
        return "waits and computes are swapped.", "the wait is the time inside next(iterator); the compute, inside step(x, y)"
    if wait_b >= enough:
        return f"with an instant loader and a step that sleeps, your waits add up to {ms(wait_b)}: they include the step.", (
            "stop the wait clock right after next(iterator) returns, before step(x, y)"
        )
    if compute_a >= enough:
        return (
            f"with a loader that sleeps and an instant step, your computes add up to {ms(compute_a)}: they include the wait.",
            ("start the compute clock after next(iterator) has returned"),
        )
    if 0 < wait_a + compute_b and wait_a < little and compute_b < little:  # the loop slept, unseen by the clock
        return (
            f"a loader that sleeps {ms(expected)} in all: your waits add up to {ms(wait_a)}, and a step that sleeps as "
            f"long: your computes add up to {ms(compute_b)}. Your clock does not count time spent sleeping or waiting.",
            "time.process_time() counts this process's CPU time only; a wait is wall-clock time: time.perf_counter()",
        )
    if wait_a < enough:
        return f"a loader that sleeps {ms(expected)} in all: your waits add up to {ms(wait_a)}.", (
            "read the clock just before next(iterator) and just after"
        )
    if compute_b < enough:
        return f"a step that sleeps {ms(expected)} in all: your computes add up to {ms(compute_b)}.", (
            "read the clock just before step(x, y) and just after"
        )
    return None


def _agreement(func: Callable[..., Any]) -> str:
    """Your meter and :class:`flowerkit.meter.DataWaitMeter` reading one loop (yours drives it): their per-step figures."""
    reference, steps = DataWaitMeter(), 3
    batches = reference.batches(_SleepyLoader(steps, 0.02))
    out, error = _call(func, batches, _SleepyStep(0.01), steps)
    next(batches, None)  # the package's meter records a step's compute when the loop asks for the next batch
    if error or out is None or reference.steps != steps:
        return ""
    mine = [sum(map(float, part)) / steps for part in out]
    theirs = (reference.total_wait_s / steps, reference.total_compute_s / steps)
    return (
        f" On one loop (20 ms to wait, 10 ms to compute per step) flowerkit.meter.DataWaitMeter read wait "
        f"{1000 * theirs[0]:.1f} ms and compute {1000 * theirs[1]:.1f} ms per step; yours {1000 * mine[0]:.1f} and {1000 * mine[1]:.1f}."
    )


def check_wait_meter(func: Callable[..., Any]) -> Verdict:
    """Notebook ``03_load``: ``func(loader, step, steps) -> (waits, computes)``, seconds per step waiting vs computing.

    The student's hunt tool, run on planted loops whose split is known: a
    loader that sleeps before every batch, longest before the first (its
    start), with an instant step (all wait),
    an instant loader with a step that sleeps (all compute). Checks the form,
    that the step gets the loader's batches in order (one iterator), and
    the split; a correct meter is then compared with
    :class:`flowerkit.meter.DataWaitMeter` on one loop.
    """
    steps, runs = 4, []
    for wait_s, compute_s in ((_SLEEP_S, 0.0), (0.0, _SLEEP_S)):
        run, problem = _run_meter(func, wait_s, compute_s, steps)
        if problem:
            message, hint = problem
            return _verdict(False, message, hint)
        runs.append(run)
    (waits_a, computes_a, elapsed_a), (waits_b, computes_b, elapsed_b) = runs
    problem = (
        _split_problem([sum(waits_a), sum(computes_a)], [sum(waits_b), sum(computes_b)], steps * _SLEEP_S)
        or _per_step_problem(waits_a, computes_b)
        or _start_problem(waits_a)
        or _overcount_problem(waits_a, computes_a, elapsed_a)
        or _overcount_problem(waits_b, computes_b, elapsed_b)
    )
    if problem:
        message, hint = problem
        return _verdict(False, message, hint)
    return _verdict(
        True,
        "all wait on a loader that sleeps, all compute on a step that sleeps, one figure of each per step." + _agreement(func),
    )


# Which of flowerkit.teams.EFFICIENCY_BUGS pays for each stage that notebook ``03_load``'s ``time_stages`` times.
_STAGE_CAUSES: dict[str, str | None] = {
    "sampler": "batch size 1",
    "fetch: read + decode": "full decode every epoch",
    "fetch: resize + crop": "full decode every epoch",
    "fetch: shift + flip": None,  # our augmentation: ours pays it too, no bug
    "fetch: to tensor + normalise": "per-image conversion",
    "collate": "batch size 1",
}
# The bugs a bar charges (every one but the workers'), and why each other suspicion is charged none: the answer key.
_CHARGED = tuple(bug for bug in _EFFICIENCY_BUGS if bug in _STAGE_CAUSES.values())
_UNCHARGED: dict[str, str] = {
    "no workers": (
        "which bar is longer because no worker runs it? A worker runs the same stages in another process, none of them "
        "shorter or longer (what workers do to the wait, step 5 measures)"
    ),
    "random shift and flip": (
        "its bar is real, but would a correct training pipeline skip that work? (notebook 02: where augmentation belongs)"
    ),
    "shuffled order": "which bar is longer because the order is random? Drawing a random index costs what the next one does",
}
#: The suspicions notebook ``03_load``'s exercise 2 offers for the Efficiency team's slow loop: names only, some of them
#: mistakes and some not (the stage timing decides), in alphabetical order (the answers first would be an answer).
EFFICIENCY_SUSPECTS: tuple[str, ...] = tuple(sorted([*_CHARGED, *_UNCHARGED], key=str.casefold))
_LOOK_AGAIN_BARS = "a bar your ranking charges to no suspicion: for each bar, which one makes it run, or run at that size?"


def _cost_per_bug(stage_ms: dict[str, float]) -> dict[str, float]:
    """Milliseconds per image that each bug's stages cost, from a ``time_stages`` measurement (keys of _STAGE_CAUSES)."""
    unknown = sorted(set(stage_ms) - set(_STAGE_CAUSES))
    if unknown:
        raise ValueError(f"stage_ms has stages the checker does not know: {unknown}; rerun the time_stages cell unchanged")
    cost = dict.fromkeys(_EFFICIENCY_BUGS, 0.0)
    for stage, ms in stage_ms.items():
        if _STAGE_CAUSES[stage] is not None:
            cost[_STAGE_CAUSES[stage]] += ms
    return cost


# What each bug pays for, said when a ranking underrates it (never a number: the student adds up their own bars).
_BUG_HINTS: dict[str, str] = {
    "batch size 1": "one trip per image: the sampler's and the collate's bars are both paid per image",
    "full decode every epoch": "every pixel of the full-size JPEG, every epoch: the decode, and the resize that shrinks it",
    "per-image conversion": "the to-tensor + normalise bar, one image at a time",
}


def _misranked(ranking: list[str], cost: dict[str, float]) -> tuple[str, str] | None:
    """The first pair ranked in the wrong order, ``(ranked higher, costs more)``; None if every pair is right.

    A pair within 15% (or 0.01 ms) of each other may go either way: a close call on a busy machine.
    """
    for i, higher in enumerate(ranking):
        for lower in ranking[i + 1 :]:
            gap = cost[lower] - cost[higher]
            if gap > 0.15 * cost[lower] and gap > 0.01:
                return higher, lower
    return None


def _ranking_problem(answer: Any) -> tuple[str, str] | None:
    """What is wrong with the form of a ranking (not a list, or a name twice); None if nothing."""
    if isinstance(answer, str):
        return f"one name ({answer!r}): a ranking is a list, costliest first.", "[name, name, ...]"
    if not isinstance(answer, (list, tuple)):
        return f"a {type(answer).__name__}: rank the suspicions in a list, costliest first.", "[name, name, ...]"
    if not all(isinstance(name, str) for name in answer):
        return "a ranking is a list of names, costliest first.", "copy the names from exercises.EFFICIENCY_SUSPECTS"
    if len(set(answer)) != len(answer):
        return "a name appears twice: rank each suspicion once.", "a list of names, costliest first"
    return None


def _stage_timing(stage_ms: Any) -> tuple[dict[str, float], str | None]:
    """``stage_ms`` as {stage: ms}, or what is wrong with it (not a timing, or stages the checker cannot charge)."""
    try:
        timing = {str(stage): float(ms) for stage, ms in dict(stage_ms).items()}
    except (TypeError, ValueError):
        return {}, f"the second argument is a {type(stage_ms).__name__}, not the stage timing."
    unknown = sorted(set(timing) - set(_STAGE_CAUSES))
    if unknown:
        return {}, f"stage_ms has stages the checker does not know: {unknown}."
    return timing, None


def check_bug_ranking(answer: Any, stage_ms: dict[str, float]) -> Verdict:
    """Notebook ``03_load``: the suspicions of :data:`EFFICIENCY_SUSPECTS` that the stage timing charges, costliest first.

    Judged against the student's own stage timing (milliseconds per image): each stage is charged to the mistake that
    makes it run, or run at that size. Two suspicions within 15% of each other may be ranked either way.
    """
    if _unanswered(answer) or (isinstance(answer, (list, tuple)) and not answer):
        return _verdict(False, "no answer yet: set `ranking` to the suspicions your bars charge, costliest first.", STUB_HINT)
    problem = _ranking_problem(answer)
    if problem:
        return _verdict(False, problem[0], problem[1])
    picked, ended = _picked_from(answer, EFFICIENCY_SUSPECTS, "ranking", "exercises.EFFICIENCY_SUSPECTS")
    if ended is not None:
        return ended
    stage_ms, wrong_timing = _stage_timing(stage_ms)
    if wrong_timing:
        return _verdict(
            False, wrong_timing, "pass stage_ms, the dict that the time_stages cell made: rerun the time_stages cell unchanged"
        )
    problem = _set_problem(picked, _CHARGED, _UNCHARGED, _LOOK_AGAIN_BARS, "suspicions")
    if problem:
        return _verdict(False, problem[0], problem[1])
    cost = _cost_per_bug(stage_ms)
    pair = _misranked(list(answer), cost)
    if pair:
        higher, lower = pair
        return _verdict(False, f"you rank {higher!r} above {lower!r}, but your bars charge {lower!r} more.", _BUG_HINTS[lower])
    total = sum(stage_ms.values())
    costs = ", ".join(f"{name} {cost[name]:.2f}" for name in answer)
    rest = "; the rest is the shift and flip, augmentation that ours pays too" if "fetch: shift + flip" in stage_ms else ""
    return _verdict(
        True, f"ms per image, of the {total:.2f} you measured: {costs}{rest}. No bar charges 'no workers' or 'shuffled order'."
    )


def _per_sample_collate(batch: list[tuple[torch.Tensor, int]], mean: Any, std: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The Efficiency team's way, on (3, S, S) tensors: convert and normalise each image on its own, then stack."""
    m = torch.as_tensor(mean, dtype=torch.float32).view(3, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32).view(3, 1, 1)
    images = torch.stack([(image.float() / 255 - m) / s for image, _ in batch])
    return images, torch.as_tensor([label for _, label in batch], dtype=torch.int64)


def _per_item_hwc_collate(batch: list[tuple[np.ndarray, int]], mean: Any, std: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The Efficiency team's way on a decoder's (S, S, 3) arrays: ``ToTensor`` then ``Normalize`` per image, then stack.

    ``ToTensor`` moves the channel axis of each array, copies it into (3, S, S) order and converts it to float.
    """
    tensors = [(torch.from_numpy(array).permute(2, 0, 1).contiguous(), label) for array, label in batch]
    return _per_sample_collate(tensors, mean, std)


def _batch_contiguous_first(batch: list[tuple[np.ndarray, int]], mean: Any, std: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """One stack, one permute, one uint8 copy into (B, 3, S, S) order (``.contiguous()``), then the float work."""
    images = torch.from_numpy(np.stack([array for array, _ in batch])).permute(0, 3, 1, 2).contiguous()
    m = torch.as_tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (images.float() / 255 - m) / s, torch.as_tensor([label for _, label in batch], dtype=torch.int64)


def _timing(func: Callable[[list[Any]], Any], images: torch.Tensor, batch: list[Any], mean: Any, std: Any) -> str:
    """A correct answer's time against per-image conversion of the same arrays; for a channels-last view, the copy's."""
    yours, per_image = best_ms(func, batch), best_ms(_per_item_hwc_collate, batch, mean, std)
    said = (
        f"Yours: {yours:.2f} ms for {len(batch)} images; converting each image on its own (the same arrays, "
        f"ToTensor and Normalize per image): {per_image:.2f} ms."
    )
    if images.is_contiguous() and yours <= per_image:
        return said
    copied = best_ms(_batch_contiguous_first, batch, mean, std)  # timed as yours is
    took = f", took {copied:.2f} ms" + ("" if copied < yours else " (no faster at this size)")
    if not images.is_contiguous():
        return (
            f"{said} Your batch lies in channels-last memory (images.is_contiguous() is False), where arithmetic with "
            f"one mean per channel runs along rows of 3 numbers: the same steps with .contiguous() on the uint8 batch, "
            f"before converting{took}."
        )
    return (
        f"{said} Not faster here: on small images the gain from batching is small, and the machine's noise, or "
        f"slower arithmetic (NumPy's, float64, a channels-last float copy), can reverse it. Stacked in uint8, made "
        f"contiguous, then converted and normalised once with torch: {copied:.2f} ms."
    )


def _channels_last(batch: list[tuple[torch.Tensor, int]]) -> list[tuple[np.ndarray, int]]:
    """(3, S, S) uint8 tensors -> what a JPEG decoder returns: contiguous (S, S, 3) uint8 NumPy arrays (labels as ints)."""
    return [(np.ascontiguousarray(torch.as_tensor(image).permute(1, 2, 0).numpy()), int(label)) for image, label in batch]


def _to_pixels(x: torch.Tensor, mean: Any, std: Any) -> torch.Tensor:
    """A normalised (B, 3, S, S) batch back to pixel levels 0..255: ``(x * std + mean) * 255``."""
    m = torch.as_tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x.float() * s + m) * 255


def _form_problem(x: Any, x_true: torch.Tensor) -> tuple[str, str] | None:
    """What is wrong with the images' type, shape or dtype; None if they are a float32 (B, 3, S, S) tensor."""
    b, c, h, w = x_true.shape
    if isinstance(x, np.ndarray):
        return f"the images are a NumPy array ({x.dtype}, {x.shape}): the model takes a torch tensor.", (
            "torch.from_numpy(...) or torch.as_tensor(...)"
        )
    if not isinstance(x, torch.Tensor):
        return (
            f"images should be one tensor of shape {(b, c, h, w)}, got a {type(x).__name__}.",
            "stack the images into one batch",
        )
    if tuple(x.shape) == (b, h, w, c):
        return f"shape {tuple(x.shape)}: the batch is still channels last, the model wants {(b, c, h, w)}.", (
            "move the channel axis of the batch: (B, H, W, C) -> (B, C, H, W) (a reshape or view would scramble the pixels)"
        )
    if tuple(x.shape) != (b, c, h, w):
        return f"images should be one tensor of shape {(b, c, h, w)}, got {tuple(x.shape)}.", (
            "stack the arrays into (B, S, S, 3), then move the channel axis"
        )
    if x.dtype == torch.uint8:
        return "the batch is still uint8: stacked, but not converted and normalised.", "x.float() / 255, then (x - mean) / std"
    if x.dtype == torch.float64:
        return "dtype torch.float64: NumPy arithmetic gives float64, and the model's weights are float32.", (
            ".float() on the tensor (or .astype(np.float32)) before the arithmetic"
        )
    if x.dtype != torch.float32:
        return f"dtype {x.dtype}: the model's weights are float32.", "x.float()"
    if x.abs().max() > 100:  # (255 - mean) / std is above 250 for any std under 1; 0..1 pixels stay far below
        return "values up to 255 and beyond: normalised without scaling to [0, 1] first.", "divide by 255 before normalising"
    return None


def _value_problem(x: torch.Tensor, x_true: torch.Tensor, mean: Any, std: Any) -> tuple[str, str] | None:
    """What is wrong with the images' values (wrapped uint8, pixels moved, other); None if they match ``x_true``."""
    if torch.allclose(x, x_true, atol=1e-4):
        return None
    pixels, pixels_true = _to_pixels(x, mean, std), _to_pixels(x_true, mean, std)
    off = pixels - pixels_true
    wrong = off.abs() > 0.5
    if wrong.any() and ((off[wrong] / 256) - (off[wrong] / 256).round()).abs().max() < 0.01:
        return "some pixels are off by exactly 256 levels: uint8 arithmetic wrapped around (3 - 5 = 254 in uint8).", (
            "convert to float before any arithmetic on the pixels"
        )
    if torch.allclose(pixels, pixels_true.transpose(-1, -2), atol=0.05):
        return "every image is transposed: its rows and columns swapped places.", (
            "the arrays are (H, W, C): the batch is (B, H, W, C), and (B, C, H, W) keeps H before W"
        )
    if torch.allclose(pixels.flatten(1).sort(dim=1).values, pixels_true.flatten(1).sort(dim=1).values, atol=0.05):
        return "each image has the right pixel values in the wrong places: the channels are scrambled.", (
            "a reshape or view keeps the memory order (R, G, B, R, G, B, ...); only permute moves the channel axis"
        )
    named = _other_statistics(x, pixels_true / 255, mean, std)
    if named:
        return named
    worst = float((x - x_true).abs().max())
    return f"the images differ from per-sample conversion by up to {worst:.3g}.", (
        "(x / 255 - mean) / std, with mean and std on the channel axis"
    )


def _misnormalised(unit: torch.Tensor, mean: Any, std: Any) -> dict[str, torch.Tensor]:
    """The 0..1 batch ``unit`` (B, 3, H, W) normalised the known wrong ways, given the right ``mean`` and ``std``:
    ``swapped`` ((x - std) / mean), ``imagenet`` (ImageNet's statistics), ``variance`` (divided by std ** 2)."""

    def channels(values: Any) -> torch.Tensor:
        return torch.as_tensor(values, dtype=torch.float32).view(1, 3, 1, 1)

    m, s = channels(mean), channels(std)
    return {
        "swapped": (unit - s) / m,
        "imagenet": (unit - channels(IMAGENET_MEAN)) / channels(IMAGENET_STD),
        "variance": (unit - m) / s**2,
    }


_MISNORMALISED = {
    "swapped": "normalised with mean and std swapped: (x - std) / mean",
    "imagenet": "normalised with ImageNet's statistics, not the ones given (this train split's, from notebook 02)",
    "variance": "divided by the variance, std ** 2, not by the std",
}


def _other_statistics(x: torch.Tensor, unit: torch.Tensor, mean: Any, std: Any) -> tuple[str, str] | None:
    """(message, hint) when ``x`` is the 0..1 batch ``unit`` normalised another known way than (unit - mean) / std."""
    for name, other in _misnormalised(unit, mean, std).items():
        if torch.allclose(x.float(), other, atol=1e-3):
            return f"the images are {_MISNORMALISED[name]}.", "(x / 255 - mean) / std, with the mean and std the cell passes in"
    return None


def _collate_problem(answer: Any, truth: tuple[torch.Tensor, torch.Tensor], mean: Any, std: Any) -> tuple[str, str] | None:
    """What is wrong with a collate_fn's output, compared with per-sample conversion; None if nothing."""
    x_true, y_true = truth
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return "return a pair (images, labels).", "return images, labels"
    x, y = answer
    problem = _form_problem(x, x_true) or _value_problem(x, x_true, mean, std)
    if problem:
        return problem
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64:
        got = f"a {y.dtype} tensor" if isinstance(y, torch.Tensor) else f"a {type(y).__name__}"
        return f"labels should be an int64 tensor (what cross_entropy expects), got {got}.", (
            "torch.tensor(labels) (Python ints become int64), or .long()"
        )
    if not torch.equal(y, y_true):
        return "the labels do not match the images, in order.", "keep the (image, label) pairs in the order given"
    return None


class _WatchedArray(np.ndarray):
    """A decoder's (S, S, 3) uint8 array that counts float arrays NumPy derives from it alone (a conversion per image)."""

    per_image_floats: ClassVar[int] = 0

    def __array_finalize__(self, obj: Any) -> None:
        if obj is not None and self.dtype.kind == "f" and self.ndim == 3:
            _WatchedArray.per_image_floats += 1


class _CountImageFloats(torch.overrides.TorchFunctionMode):
    """Counts float tensors with one image's shape, (3, S, S) or (S, S, 3), that torch computes while it is active."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.shapes, self.count = {(3, size, size), (size, size, 3)}, 0

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor) and out.is_floating_point() and tuple(out.shape) in self.shapes:
            self.count += 1
        return out


#: NumPy's constructors that return a plain ndarray even from a :class:`_WatchedArray` (``np.asarray(a, dtype=...)``)
_NUMPY_CONSTRUCTORS = ("array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray", "require")


def _watching_constructor(make: Callable[..., Any]) -> Callable[..., Any]:
    """``make`` (e.g. ``np.asarray``), counting each float array it makes from one watched image."""

    def watched(obj: Any, *args: Any, **kwargs: Any) -> Any:
        out = make(obj, *args, **kwargs)
        if isinstance(obj, _WatchedArray) and isinstance(out, np.ndarray) and out.dtype.kind == "f" and out.ndim == 3:
            if not isinstance(out, _WatchedArray):  # a subclass result is counted by __array_finalize__ already
                _WatchedArray.per_image_floats += 1
        return out

    return watched


def _converts_per_image(func: Callable[[list[Any]], Any], batch: list[tuple[np.ndarray, int]]) -> bool:
    """True if ``func`` turns single (S, S, 3) arrays into floats (NumPy or torch) instead of converting the batch."""
    _WatchedArray.per_image_floats = 0
    watched = [(array.copy().view(_WatchedArray), label) for array, label in batch]
    with contextlib.ExitStack() as stack:
        for name in _NUMPY_CONSTRUCTORS:  # np.asarray(a, dtype=np.float32) returns a plain ndarray: watch the call
            stack.enter_context(mock.patch.object(np, name, _watching_constructor(getattr(np, name))))
        torch_floats = stack.enter_context(_CountImageFloats(batch[0][0].shape[0]))
        with contextlib.suppress(Exception):
            func(watched)
    return _WatchedArray.per_image_floats + torch_floats.count >= len(batch)


def _collate_error_hint(error: str) -> str:
    """The hint for a collate_fn that raised: mean and std that do not broadcast over the batch, or the general advice."""
    if re.search(r"size of tensor [ab] \(3\) must match|must match the size of tensor b \(3\)|could not be broadcast", error):
        return (
            "mean and std hold one number per channel, and broadcasting lines shapes up from the last axis: on a "
            "(B, 3, S, S) batch they need the shape (1, 3, 1, 1), so that their 3 meets the channel axis"
        )
    return "each item is a uint8 NumPy array (S, S, 3): stack them, then work on the whole batch"


_OWN_COLLATE = "stack the arrays with torch, then convert and normalise the whole batch yourself"


def check_collate(func: Callable[[list[Any]], Any], dataset: Any, mean: Any, std: Any) -> Verdict:
    """Notebook ``03_load``: ``func(batch)`` turns a list of (uint8 NumPy (S, S, 3), label) into (float32 (B, 3, S, S), int64).

    The items are what a JPEG decoder returns, channels last: 64 (3, S, S)
    images of ``dataset`` (from the 65th on, where it has them) moved to (S, S, 3) NumPy arrays. The answer is
    compared with per-sample conversion of the (3, S, S) originals, then run
    on arrays that record how the float work is done; a correct answer is
    timed against converting each of the same arrays on its own.
    """
    start = 64 if len(dataset) >= 128 else 0  # not the notebook's own batch (images 0 to 63): a collate reads its argument
    picked = range(start, min(start + 64, len(dataset)))
    chw = [(torch.as_tensor(image), int(label)) for image, label in (dataset[i] for i in picked)]
    flowerkit_versions = ((_load, "CollateNormalize"), (_transform, "normalize_batch"))
    answer, error, refused = _call_refusing(flowerkit_versions, func, _channels_last(chw))
    if refused:
        return _verdict(
            False,
            "your collate_fn calls flowerkit's load.CollateNormalize (or transform.normalize_batch), the version this exercise builds.",
            _OWN_COLLATE,
        )
    if error:
        return _verdict(False, error, _collate_error_hint(error))
    if _unanswered(answer):
        return _verdict(False, "your function returns None: it is still the stub.", "return images, labels")
    problem = _collate_problem(answer, _per_sample_collate(chw, mean, std), mean, std)
    if problem:
        message, hint = problem
        return _verdict(False, message, hint)
    hwc = _channels_last(chw)
    if _converts_per_image(func, hwc):
        return _verdict(
            False,
            "the right batch, but each image is converted to float on its own: that is the Efficiency team's collate.",
            "stack the uint8 arrays first, then one conversion to float and one normalisation for the whole batch",
        )
    timing = _timing(func, answer[0], hwc, mean, std)
    gap = float((torch.as_tensor(answer[0]).float() - CollateNormalize(mean, std)(chw)[0]).abs().max())
    return _verdict(
        True,
        f"the same batch as per-sample conversion of the (3, S, S) originals. {timing} The flowerkit version, "
        f"load.CollateNormalize(mean, std), given the same images as (3, S, S) tensors, agrees with yours to {gap:.1e}.",
    )


_EPOCH_CAP = 100  # an epoch of more than 100x len(labels) indices is taken to never end
_MAX_EPOCHS = 5000  # passes the sampler checker makes at most (a one-index epoch would need 40,000)


def _one_epoch(sampler: Any, cap: int) -> tuple[list[int] | None, str | None]:
    """One pass over ``sampler``, as a DataLoader makes one each epoch: at most ``cap + 1`` indices, or what it raised."""
    indices, error = _call(lambda: [int(i) for i in itertools.islice(sampler, cap + 1)])
    return indices, error and f"iterating over your sampler: {error.removeprefix('your function raised ')}"


def _draw_epochs(sampler: Any, at_least: int, cap: int) -> tuple[list[int], list[int], tuple[str, str] | None]:
    """(the first epoch's indices, all indices drawn over as many epochs as it takes to reach ``at_least``, a problem).

    Bounded: ``cap`` indices an epoch, :data:`_MAX_EPOCHS` epochs. A sampler that yields nothing when iterated
    again (a generator, an iterator: used up by the first epoch) is a problem, not an endless loop.
    """
    first, error = _one_epoch(sampler, cap)
    if error or first is None:
        return [], [], (error or "", RAISED_HINT)
    if len(first) > cap:
        return first, first, (f"one epoch of your sampler had not ended after {cap} indices.", "num_samples=len(labels)")
    drawn, epochs = list(first), 1
    while first and len(drawn) < at_least and epochs < _MAX_EPOCHS:
        more, error = _one_epoch(sampler, cap)
        if error or more is None:
            return first, drawn, (error or "", RAISED_HINT)
        if not more:
            return (
                first,
                drawn,
                (
                    "iterated a second time, for the next epoch, your sampler yields no index: a generator or an iterator "
                    "is used up after one pass, and a DataLoader iterates its sampler again every epoch.",
                    "return something that can be iterated again every epoch: a Sampler such as WeightedRandomSampler, "
                    "or a class whose __iter__ draws anew each time",
                ),
            )
        drawn += more[:cap]
        epochs += 1
    return first, drawn, None


def _size_trend_z(per_class: torch.Tensor, sizes: torch.Tensor) -> float:
    """How many standard errors the draws per class rise with class size: within about +-4 for a balanced sampler.

    The slope of draws against size, over its standard error when each class's count varies by chance alone
    (a Poisson spread: the square root of the mean count).
    """
    d = sizes - sizes.mean()
    if float(d.norm()) == 0:
        return 0.0  # classes of one size: no trend to find
    slope = float((d * per_class).sum() / (d * d).sum())
    return slope * float(d.norm()) / math.sqrt(max(float(per_class.mean()), 1.0))


def _mix_problem(sampler: Any, drawn: list[int], labels: torch.Tensor) -> tuple[str, str] | None:
    """What keeps the class mix of ``drawn`` from even, or from unrelated to class size; None if it is balanced."""
    sizes = torch.bincount(labels).double()
    present = sizes > 0
    per_class, sizes = torch.bincount(labels[drawn], minlength=sizes.numel()).double()[present], sizes[present]
    z = _size_trend_z(per_class, sizes)
    small, large = (float(per_class[sizes == s].mean()) for s in (sizes.min(), sizes.max()))
    if z > 4:
        message = (
            f"large classes are still drawn more often than small ones: a class of {int(sizes.min())} images "
            f"{small / max(large, 1e-9):.2f}x as often as a class of {int(sizes.max())}"
        )
        if getattr(sampler, "replacement", True) is False:
            return f"{message}: without replacement, a small class runs out of images within an epoch.", (
                "replacement=True: a small class's images must be drawable more than once an epoch"
            )
        return f"{message}.", "weight each sample by 1 / (size of its class): no more, no less"
    if z < -4:
        return "small classes are now drawn more often than large ones: overcorrected.", "weights 1 / count, not 1 / count**2"
    spread = float(per_class.max() / per_class.mean().clamp_min(1e-9))
    if spread > 1.35 or per_class.min() == 0:
        return f"some classes are drawn {spread:.1f}x as often as the average class.", "weights = 1 / counts[labels]"
    return None


def _balance_problem(sampler: Any, first: list[int], drawn: list[int], labels: torch.Tensor) -> tuple[str, str] | None:
    """What keeps the drawn indices from a uniform class mix, drawn anew every epoch; None if they are balanced."""
    n, classes = len(labels), int(labels.max()) + 1
    if not first:
        return "the sampler yields no index.", "WeightedRandomSampler(weights, num_samples=len(labels), ...)"
    if min(drawn) < 0 or max(drawn) >= n:
        return f"indices outside 0..{n - 1}: a sampler yields positions in the dataset.", "yield positions in labels"
    if max(drawn) < classes < n:
        return "every index is below the number of classes: you gave one weight per class.", (
            "WeightedRandomSampler wants one weight per *sample*: weights = 1 / counts[labels]"
        )
    if len(first) == n and len(set(first)) == n:
        return "every sample drawn exactly once per epoch: a shuffle, which keeps the imbalance.", "replacement=True"
    if drawn[len(first) : 2 * len(first)] == first:
        return (
            f"every epoch draws the very same {len(first)} indices: a fixed list repeats its first epoch, so the "
            "images it left out are never seen.",
            "return a sampler that draws anew each time a DataLoader iterates it (once per epoch), not a list drawn once",
        )
    second = drawn[len(first) : 2 * len(first)]
    if set(second) == set(first) and len(set(first)) < n:
        return (
            f"every epoch draws the same {len(set(first))} of the {n} photos, only in another order: the ones left out "
            "when the sampler was built are never seen.",
            "draw the photos themselves anew each epoch, with replacement, weighted per sample (not a subset chosen once)",
        )
    return _mix_problem(sampler, drawn, labels)


def _student_sampler(func: Callable[[Any, int], Any], labels: Any) -> tuple[Any, tuple[str, str] | None]:
    """``func(labels, 0)``, or (None, why it is no sampler): it raised, is the stub, or is flowerkit's own."""
    sampler, error, refused = _call_without(_sampling, "balanced_sampler", func, list(labels), 0)
    if refused:
        return None, (
            "your function calls flowerkit's sampling.balanced_sampler, the version this exercise builds.",
            "weights from the class counts, then torch.utils.data.WeightedRandomSampler",
        )
    if error:
        return None, (error, RAISED_HINT)
    if _unanswered(sampler):
        return None, ("your function returns None: it is still the stub.", "return WeightedRandomSampler(...)")
    if not hasattr(sampler, "__iter__"):
        return None, (
            f"got a {type(sampler).__name__}: a sampler is something that yields indices.",
            "return torch.utils.data.WeightedRandomSampler(weights, num_samples, generator=...)",
        )
    return sampler, None


def check_balanced_sampler(func: Callable[[Any, int], Any], labels: Any) -> Verdict:
    """Notebook ``03_load``: ``func(labels, seed)`` returns a sampler that draws every class about equally often, seeded.

    Draws at least 400 items per class and 20,000 in all (over several epochs, each a new pass over the sampler, as a
    DataLoader makes) and compares the class mix with the class sizes: even, and no trend with size.
    """
    y = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    cap = _EPOCH_CAP * len(y)
    sampler, problem = _student_sampler(func, labels)
    if problem:
        message, hint = problem
        return _verdict(False, message, hint)
    first, drawn, problem = _draw_epochs(sampler, max(400 * (int(y.max()) + 1), 20_000), cap)
    problem = problem or _balance_problem(sampler, first, drawn, y)
    if problem:
        message, hint = problem
        return _verdict(False, message, hint)

    def first_epoch(seed: int) -> list[int] | None:
        with torch.random.fork_rng(devices=[]):  # the notebook's own random numbers stay as they were
            sampler, _ = _call(func, list(labels), seed)
            torch.rand(8)  # a training script initialises its model between building the sampler and drawing from it
            return None if sampler is None else _one_epoch(sampler, cap)[0]

    problem = _other_labels_problem(func, y)
    if problem:
        return _verdict(False, problem[0], problem[1])
    again, other = first_epoch(0), first_epoch(1)
    if again is None or again != first:
        return _verdict(
            False,
            "the same seed gave different draws, once something else used torch's random numbers between building the "
            "sampler and drawing from it (as a model's initialisation does).",
            "give the sampler its own generator: generator=torch.Generator().manual_seed(seed)",
        )
    if other is not None and other == first:
        return _verdict(False, "seeds 0 and 1 gave the same draws: the seed is not used.", "pass the seed to the generator")
    return _verdict(
        True,
        f"every class drawn about equally often over {len(drawn)} draws, with no trend with class size, and the same "
        "seed draws the same. " + _beside_balanced_sampler(first, drawn, y),
    )


def _other_labels_problem(func: Callable[[Any, int], Any], y: torch.Tensor) -> tuple[str, str] | None:
    """(message, hint) if ``func`` ignores the labels it is given: tried on the same labels in reverse order, where the
    largest classes sit at the other end; None if it balances those too."""
    other = y.flip(0)
    with torch.random.fork_rng(devices=[]):
        sampler, error = _call(func, other.tolist(), 0)
        if error or sampler is None:
            return (error or "your function returned None on other labels", RAISED_HINT)
        first, drawn, problem = _draw_epochs(sampler, max(400 * (int(other.max()) + 1), 20_000), _EPOCH_CAP * len(other))
    problem = problem or _balance_problem(sampler, first, drawn, other)
    if problem:
        return (
            f"on the same labels in reverse order: {problem[0]} Does your function read the labels it is given?",
            problem[1],
        )
    return None


def _largest_gap(drawn: list[int], y: torch.Tensor) -> float:
    """How far the class furthest from an even share is drawn off it, relative (0.1: 10% more or less than even)."""
    present = torch.bincount(y) > 0
    per_class = torch.bincount(y[torch.tensor(drawn)], minlength=present.numel()).double()[present]
    return float((per_class / per_class.mean() - 1).abs().max())


def _beside_balanced_sampler(first: list[int], drawn: list[int], y: torch.Tensor) -> str:
    """How the student's draws compare with flowerkit's ``sampling.balanced_sampler`` (seed 0): the same, or as even."""
    ours_first, ours_drawn, _ = _draw_epochs(balanced_sampler(y, seed=0), len(drawn), _EPOCH_CAP * len(y))
    if ours_first == first:
        return "The flowerkit version, sampling.balanced_sampler(labels, seed=0), draws the very same indices."
    classes = int((torch.bincount(y) > 0).sum())
    per_class = len(drawn) / classes
    furthest = f", and the furthest of {classes} two or three times that" if classes >= 20 else ""
    return (
        f"The flowerkit version, sampling.balanced_sampler(labels, seed=0), draws other indices (another use of the "
        f"generator), as evenly: the class furthest from an even share is {_largest_gap(drawn, y):.0%} off it in yours, "
        f"{_largest_gap(ours_drawn, y):.0%} in flowerkit's (at {per_class:.0f} draws a class, chance alone puts a typical "
        f"class about {1 / math.sqrt(per_class):.0%} off{furthest})."
    )


@contextlib.contextmanager
def _pretend_worker(info: Any) -> Iterator[None]:
    """Make ``torch.utils.data.get_worker_info()`` return ``info``, as it would inside a worker.

    Sets the module global that a real worker's loop sets (``torch.utils.data._utils.worker._worker_info``), so the
    function answers ``info`` however the student's code reached it (``from torch.utils.data import
    get_worker_info``, an alias, the private module). A stand-in for real worker processes, which a class or
    function defined in a notebook cannot reach under spawn or forkserver.
    """
    before = _torch_worker._worker_info
    _torch_worker._worker_info = info
    try:
        yield
    finally:
        _torch_worker._worker_info = before


def _worker_info(worker_id: int, num_workers: int, seed: int = 0, dataset: Any = None) -> types.SimpleNamespace:
    """What ``get_worker_info()`` returns in worker ``worker_id``: id, num_workers, seed and the worker's dataset copy."""
    return types.SimpleNamespace(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)


# ------------------------------------------------------------------ exercise 5: seeding a dataset's own Generator per worker


class _RandomOffsets(Dataset):
    """Like notebook ``03_load``'s ``my_jitter.RandomOffsets``: each item a random offset from the dataset's own Generator."""

    def __init__(self, n: int = 4, seed: int = 0) -> None:
        self.n, self.rng = n, np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return int(self.rng.integers(0, 2**31))


@contextlib.contextmanager
def _seeded_as_a_worker(base_seed: int, worker_id: int) -> Iterator[None]:
    """Inside: torch, ``random`` and NumPy's global generator seeded as PyTorch seeds a worker; after: as before.

    PyTorch seeds torch and ``random`` with ``base_seed + worker_id`` and NumPy's global generator with a state
    derived from both (here a ``SeedSequence`` of the two, in the same spirit).
    """
    states = torch.get_rng_state(), random.getstate(), np.random.get_state()
    torch.manual_seed(base_seed + worker_id)
    random.seed(base_seed + worker_id)
    np.random.seed(np.random.SeedSequence([base_seed, worker_id]).generate_state(4))
    try:
        yield
    finally:
        torch.set_rng_state(states[0])
        random.setstate(states[1])
        np.random.set_state(states[2])


class CroppedFlowers(_load.DecodedFlowers):
    """Notebook ``03_load``, exercise 7: the split's JPEGs decoded an eighth larger than ``size``, then cropped to
    ``size`` x ``size`` at a random place (an augmentation for training).

    The crop's offsets come from ``self.rng``, a NumPy Generator made in
    ``__init__`` from ``seed``, so a run can be repeated.
    """

    def __init__(self, root: Any, split: str = "train", size: int = DEFAULT_SIZE, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(root, split, size, **kwargs)
        self.rng = np.random.default_rng(seed)

    def _load_image(self, idx: int) -> torch.Tensor:
        margin = max(1, self.size // 8)
        larger = self.decode(self.image_files[idx], self.size + margin)
        top, left = (int(offset) for offset in self.rng.integers(0, margin + 1, size=2))
        return larger[:, top : top + self.size, left : left + self.size].contiguous()


def _worker_draws(func: Callable[[int], Any], base_seed: int, worker_id: int) -> dict[str, Any]:
    """Play worker ``worker_id`` of 2 in an epoch whose base seed is ``base_seed``: a copy of the dataset, ``func``, 3 draws.

    Returns ``error``, ``draws`` and ``global_reseeded`` (the global generators the function changed: torch's,
    random's, NumPy's).
    """
    copy = pickle.loads(pickle.dumps(_RandomOffsets()))  # what a worker receives: the dataset, its Generator's state included
    seed = base_seed + worker_id
    with (
        _seeded_as_a_worker(base_seed, worker_id),
        _pretend_worker(_worker_info(worker_id, 2, seed, copy)),
    ):
        torch.rand(1), random.random(), np.random.random()  # moved on from the worker's seed: a reseed shows
        before = torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy()
        _, error = _call(func, worker_id)
        after = torch.get_rng_state(), random.getstate(), np.random.get_state()[1]
        same = (torch.equal(before[0], after[0]), before[1] == after[1], np.array_equal(before[2], after[2]))
        reseeded = [name for name, kept in zip(("torch's", "random's", "NumPy's"), same) if not kept]
        draws, draw_error = _call(lambda: [copy[i] for i in range(3)])
    if draw_error and not error:
        error = f"after your function the dataset cannot draw: {draw_error.removeprefix('your function raised ')}"
    return {"error": error, "draws": draws, "global_reseeded": reseeded}


def _same_draws_problem(func: Callable[[int], Any], run: dict[str, Any]) -> tuple[str, str]:
    """Why workers 0 and 1 drew the same numbers."""
    fresh = _RandomOffsets()
    untouched = [fresh[i] for i in range(3)]
    if run["global_reseeded"]:
        which = " and ".join(run["global_reseeded"])
        return f"you reseeded {which} global generator; the dataset draws from its own Generator, so both workers still agree.", (
            "give the worker's copy of the dataset (get_worker_info() reaches it) a Generator of its own, seeded per worker"
        )
    if run["draws"] == untouched:
        if _is_stub_function(func):
            return "your function does nothing yet: it is still the stub.", STUB_HINT
        return "each worker's copy of the dataset still draws from the Generator made in __init__: both draw the same.", (
            "the dataset to change is the copy inside the worker (get_worker_info() reaches it), not one in your notebook"
        )
    return "both workers drew the same numbers: their new Generators got the same seed.", (
        "what could a worker seed from that differs between workers, and between epochs? get_worker_info() holds it"
    )


def check_worker_seeding(func: Callable[[int], Any]) -> Verdict:
    """Notebook ``03_load``: ``func(worker_id)``, a ``worker_init_fn`` that gives each worker's dataset its own seeded Generator.

    A notebook's function cannot reach spawn workers, so the checker plays
    them: for workers 0 and 1 of two epochs (two base seeds) it copies a
    dataset that draws from ``self.rng`` as a worker receives it, seeds the
    global generators as PyTorch does, answers ``get_worker_info()``, calls
    ``func`` and draws. The workers must differ, an epoch must repeat with
    its seeds, and the next epoch must draw anew.
    """
    if not callable(func):
        return _verdict(False, f"expected a function, got {func!r}.", "def seed_worker(worker_id): ...")
    if _names_any(func, [_load.seed_worker]):
        return _verdict(
            False,
            "your function hands the work to load.seed_worker, the flowerkit version this exercise builds.",
            "write it yourself: get_worker_info() reaches this worker's copy of the dataset and its seed",
        )
    runs = {(epoch, k): _worker_draws(func, epoch, k) for epoch in (1234, 98765) for k in (0, 1)}
    failed = next((run["error"] for run in runs.values() if run["error"]), None)
    if failed:
        return _verdict(False, failed, RAISED_HINT)
    if runs[1234, 0]["draws"] == runs[1234, 1]["draws"]:
        message, hint = _same_draws_problem(func, runs[1234, 0])
        return _verdict(False, message, hint)
    if _worker_draws(func, 1234, 0)["draws"] != runs[1234, 0]["draws"]:
        return _verdict(
            False,
            "the same seeds gave different draws: a run cannot be repeated.",
            "seed the new Generator from get_worker_info().seed, not from the clock or an unseeded default_rng()",
        )
    if runs[98765, 0]["draws"] == runs[1234, 0]["draws"]:
        return _verdict(
            False,
            "every epoch draws the same numbers: the seed does not change between epochs.",
            "get_worker_info().seed changes every epoch (a new base seed); the worker id alone does not",
        )
    flowerkit = {key: _worker_draws(_load.seed_worker, *key)["draws"] for key in runs}
    agrees = flowerkit[1234, 0] != flowerkit[1234, 1] and flowerkit[98765, 0] != flowerkit[1234, 0]
    beside = (
        "The flowerkit version, load.seed_worker, passes the same checks on the same simulated workers (other numbers: "
        "it seeds each generator a dataset holds from the worker's seed and the generator's place)."
        if agrees
        else ""
    )
    return _verdict(
        True, f"each worker draws its own numbers, the same seeds draw the same, and every epoch draws new ones. {beside}"
    )


_NOT_AN_ITERATOR = "not an iterator"
_ITERATOR_HINT = "`yield` the items from __iter__ (or return an iterator over them, which a list is not)"
_STREAM_CAP = 10_000  # items read from a stream at most: one that never ends must not hang the checker


#: The base seed of the simulated workers' epoch: as large as a real one (a random 64-bit number), so that a share
#: that indexes with get_worker_info().seed or torch.initial_seed() is judged as a DataLoader would run it.
_WORKER_BASE_SEED = 6_148_914_691_236_517_205


def _yields(cls: type, items: list[int], worker: tuple[int, int] | None = None) -> tuple[list[Any] | None, str | None]:
    """Everything a fresh ``cls(items)`` yields, in the main process or as the given (worker id, num_workers).

    The dataset is built here, outside the worker, as a DataLoader's dataset is built in the main process
    before its workers receive a copy: only ``__iter__`` runs as the worker.
    """
    out, error = None, _stall_error()  # what stands if the deadline fires between the student's calls
    with _deadline():  # the student's __init__ and __iter__ both run under it
        dataset, build_error = _call(cls, items)
        if build_error:
            return None, build_error
        as_worker = contextlib.ExitStack()
        if worker:  # a real worker's seed is the epoch's base seed + its id: a large number, never the id itself
            as_worker.enter_context(_pretend_worker(_worker_info(*worker, seed=_WORKER_BASE_SEED + worker[0])))
            as_worker.enter_context(_seeded_as_a_worker(_WORKER_BASE_SEED, worker[0]))
        with as_worker:
            it, iter_error = _call(dataset.__iter__)
            if iter_error or it is None:
                return None, iter_error
            if not hasattr(type(it), "__next__"):  # what iter(dataset) refuses, as a DataLoader calls it
                return None, (
                    f"your __iter__ returns a {type(it).__name__}, {_NOT_AN_ITERATOR}: a DataLoader calls iter(dataset), "
                    f"which raises TypeError: iter() returned non-iterator of type '{type(it).__name__}'"
                )
            out, error = _call(list, itertools.islice(it, _STREAM_CAP))
    return out, error


def _sharding_problem(cls: type, items: list[int], num_workers: int) -> tuple[str, str] | None:
    """What goes wrong when ``cls`` runs in ``num_workers`` simulated workers; None if each item comes once."""
    shares = []
    for k in range(num_workers):
        out, error = _yields(cls, items, (k, num_workers))
        if error or out is None:
            hint = _failure_hint(error) if error and _NOT_AN_ITERATOR not in error else _ITERATOR_HINT
            return f"as worker {k} of {num_workers}: {error or '__iter__ returned None'}", hint
        shares.append(out)
    counts = Counter(int(x) for share in shares for x in share)
    if all(sorted(map(int, share)) == items for share in shares):
        return (
            f"each of {num_workers} simulated workers yielded all {len(items)} items: every sample arrives {num_workers} times.",
            "call get_worker_info() inside __iter__ (it runs in the worker; __init__ runs in the main process, where it "
            "is None), then yield only this worker's share: it tells a worker its id and how many workers there are",
        )
    missing = [x for x in items if counts[x] == 0]
    if missing and not any(shares):
        return f"with {num_workers} workers no worker yielded anything.", (
            "a worker's share starts at its id (get_worker_info().id, 0 to num_workers - 1), not at its seed, which is a "
            "large number that changes every epoch"
        )
    if missing:
        blocks = len(missing) == len(items) % num_workers and not any(counts[x] > 1 for x in items)
        return f"with {num_workers} workers no worker yielded {missing}: the shares leave items out.", (
            "shares must cover every item together, the remainder too: cutting into blocks of len // num_workers drops it"
            if blocks
            else "worker k of n takes items k, k + n, k + 2n, ...: together the workers' shares are every item once"
        )
    twice = [x for x in items if counts[x] > 1]
    if twice:
        return f"with {num_workers} workers, {twice} came from more than one worker.", "the shares must not overlap"
    return None


_FLOWERKIT_STREAM = (
    "your stream hands the splitting to flowerkit's sampling.ShardedStream (or worker_share), the version this exercise builds.",
    "derive from torch.utils.data.IterableDataset and split with get_worker_info() yourself",
)


def check_sharded_stream(cls: type) -> Verdict:
    """Notebook ``03_load``: ``cls(items)`` is an IterableDataset whose workers together yield every item exactly once.

    Runs it in this process and as simulated DataLoader workers (:func:`_pretend_worker`).
    """
    # the cases: the main process (get_worker_info() is None: it must yield everything), then 2 and 3 workers, with
    # 23 items so that a remainder is left over
    items = list(range(100, 123))
    if not isinstance(cls, type) or not issubclass(cls, torch.utils.data.IterableDataset):
        return _verdict(False, f"expected a class derived from IterableDataset, got {cls!r}.", "class MyStream(IterableDataset)")
    with _refusing(_sampling, "ShardedStream,worker_share"):
        out, error = _yields(cls, items)
    if _names_any(cls, _named(_sampling, "ShardedStream,worker_share")) or _refused(error):  # subclassed, called
        return _verdict(False, _FLOWERKIT_STREAM[0], _FLOWERKIT_STREAM[1])
    if error and _NOT_AN_ITERATOR in error:
        return _verdict(False, error + ".", _ITERATOR_HINT)
    if error:
        hint = (
            _failure_hint(error)
            if STALLED in error
            else "with num_workers=0, get_worker_info() returns None: then yield every item"
        )
        return _verdict(False, error, hint)
    if out is None:
        return _verdict(False, "your __iter__ returns None: it is still the stub.", "__iter__ should `yield` items")
    if sorted(int(x) for x in out) != items:
        return _verdict(
            False,
            f"in the main process it yielded {len(out)} items, expected all {len(items)} once each.",
            "with no worker info (get_worker_info() is None), yield every item once",
        )
    for num_workers in (2, 3):
        with _refusing(_sampling, "ShardedStream,worker_share"):
            problem = _sharding_problem(cls, items, num_workers)
        if problem:
            message, hint = problem
            return _verdict(False, message, hint)
    same = all(_yields(cls, items, (k, n))[0] == _yields(ShardedStream, items, (k, n))[0] for n in (2, 3) for k in range(n))
    beside = (
        "The flowerkit version, sampling.ShardedStream, gives every worker the very same share."
        if same
        else "The flowerkit version, sampling.ShardedStream, splits another way (see sampling.worker_share); both "
        "yield every item once."
    )
    return _verdict(
        True, f"one process yields everything; 2 or 3 workers each yield their own share, every item exactly once. {beside}"
    )


def _dataset_name(dataset: Any) -> str:
    """What exercises 7 and 8 call ``dataset`` in a problem: the cache, the JPEGs, or the cropped JPEGs."""
    if isinstance(dataset, CachedFlowers):
        return "cache"
    return "cropped JPEGs" if isinstance(dataset, CroppedFlowers) else "JPEGs"


def _build_loaders(
    func: Callable[..., Any], datasets: tuple[Any, ...], todo: Callable[[Any], list[int]] | None = None
) -> tuple[list[tuple[str, DataLoader, Any]], Verdict | None]:
    """``func`` called on each dataset: ([(where, loader, dataset)], None), or ([], the verdict that stops the check).

    ``where`` names the dataset, for the problems found on it (empty when there is one dataset). Given ``todo``
    (exercise 8), ``func`` is called as ``func(dataset, todo(dataset))``.
    """
    built = []
    for dataset in datasets:
        where = _dataset_name(dataset) if len(datasets) > 1 else ""
        args = (dataset,) if todo is None else (dataset, todo(dataset))
        loader, error, refused = _call_without(_load, "make_loader", func, *args)
        if refused:
            return [], _verdict(
                False,
                "your function calls load.make_loader, the flowerkit version of what this exercise builds.",
                "build it with torch.utils.data.DataLoader itself, deciding each argument",
            )
        if error:
            return [], _verdict(False, where + error, RAISED_HINT)
        if _unanswered(loader):
            return [], _verdict(
                False, "your function returns None: it is still the stub.", "return torch.utils.data.DataLoader(dataset, ...)"
            )
        if not isinstance(loader, DataLoader):
            return [], _verdict(
                False, f"{where}got a {type(loader).__name__}, expected a DataLoader.", "return torch.utils.data.DataLoader(...)"
            )
        built.append((where, loader, dataset))
    return built, None


#: Exercises 7 and 8: a problem is first named by what it breaks; the setting that keeps the rule (its ``[fix: ...]``)
#: is added once the same rule is broken again (the checker remembers, in this process, what it has told).
_LOADER_RULES_HINT = (
    "each problem breaks one of this notebook's rules: find the setting that keeps it (help(DataLoader)); a rule "
    "still broken at your next try comes with its [fix: ...]"
)
_TOLD: set[str] = set()
_FIX = re.compile(r" \[fix: [^\]]*\]$")


def _fixes_once_seen(problems: list[str]) -> list[str]:
    """``problems`` with each one's ``[fix: ...]`` left out the first time its rule is told, kept when it comes back.

    A rule is known by its words without numbers (``batch_size=1`` and ``batch_size=8`` break the same rule).
    """
    told, shown = set(_TOLD), []
    for problem in problems:
        symptom = _FIX.sub("", problem)
        rule = re.sub(r"\d+", "#", symptom)
        shown.append(problem if rule in told else symptom)
        _TOLD.add(rule)
    return shown


def _joined(names: list[str]) -> str:
    """``["cache", "JPEGs", "cropped JPEGs"]`` as "the cache, the JPEGs and the cropped JPEGs"."""
    named = [f"the {name}" for name in names]
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]


def _listed(found: list[tuple[str, str, str]]) -> str:
    """Exercises 7 and 8's problems, found as (pass, dataset name, problem): each problem once, after the datasets it
    was found on ("on the cache and the JPEGs: ..."; ", resumed" for exercise 8's resumed pass), its ``[fix: ...]``
    kept only for a rule told at an earlier try (:func:`_fixes_once_seen`)."""
    places: dict[tuple[str, str], list[str]] = {}
    for which, name, problem in found:
        places.setdefault((which, problem), []).append(name)
    shown = _fixes_once_seen([problem for _, problem in places])
    parts = []
    for ((which, _), names), problem in zip(places.items(), shown):
        named = [name for name in names if name]
        where = f"on {_joined(named)}" + (f", {which}" if which else "") if named else which
        parts.append(f"{where}: {problem}" if where else problem)
    return "; ".join(parts)


def check_train_loader(
    func: Callable[[Any], Any], *datasets: Any, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> Verdict:
    """Notebook ``03_load``: ``func(dataset)`` returns a DataLoader fit for training on this machine, for each dataset given.

    The rules are the notebook's; each broken rule is named by what it breaks, and its ``[fix: ...]`` is added when it
    is broken again (:func:`_fixes_once_seen`). ``mean`` and ``std``: the train split's statistics, when given.
    """
    # the rules: the order, the batch size, reproducibility, the workers (where decoding needs them, not far beyond the
    # cores, kept alive), pinning, what the workers receive, and the batches' normalisation (checked on a few items,
    # in this process; given mean and std, with those statistics)
    built, stop = _build_loaders(func, datasets)
    if stop is not None:
        return stop
    stats = (mean, std) if mean is not None and std is not None else None
    found = [("", where, p) for where, loader, dataset in built for p in _train_loader_problems(loader, dataset, stats)]
    if found:
        return _verdict(False, _listed(found) + ".", _LOADER_RULES_HINT)
    twins = [_make_loader_twin(loader, dataset, shuffle=True, where=where) for where, loader, dataset in built]
    return _verdict(
        True,
        "shuffled, batched, seeded (the order and every worker's random draws), with workers where there is decoding "
        f"to do and kept alive. The flowerkit version gives the same settings, built beside yours: {'; '.join(twins)}. "
        "It hardens them (left to choose num_workers, as many as /dev/shm can hold; a timeout on a stuck worker).",
    )


def _resumed(dataset: Any) -> list[int]:
    """Exercise 8's resumed pass: the photos after the stop (a third of the way), then two earlier ones it skipped."""
    n = len(dataset)
    return list(range(n // 3, n)) + ([n // 9, 2 * n // 9] if n >= 9 else [])


def _takes_todo(func: Callable[..., Any]) -> bool:
    """False when ``func`` cannot be called as ``func(dataset, todo)`` (exercise 7's one-argument signature)."""
    try:
        inspect.signature(func).bind(None, None)
    except TypeError:
        return False
    except ValueError:  # no signature to read (a builtin): let the call decide
        return True
    return True


def _predict_passes(
    func: Callable[..., Any], datasets: tuple[Any, ...]
) -> tuple[list[tuple[str, DataLoader, Any]], list[tuple[str, str, DataLoader, Any, list[int]]], Verdict | None]:
    """Exercise 8's loaders: the first pass's [(where, loader, dataset)], then every pass as (which pass, where, loader,
    dataset, todo), which is "" or "resumed"; or the verdict that stops the check."""
    first, stop = _build_loaders(func, datasets, todo=lambda d: list(range(len(d))))
    resumed, stop = _build_loaders(func, datasets, todo=_resumed) if stop is None else ([], stop)
    passes = [("", w, loader, d, list(range(len(d)))) for w, loader, d in first]
    passes += [("resumed", w, loader, d, _resumed(d)) for w, loader, d in resumed]
    return first, passes, stop


def check_predict_loader(
    func: Callable[..., Any], *datasets: Any, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> Verdict:
    """Notebook ``03_load``: ``func(dataset, todo)`` returns a DataLoader for a prediction pass whose outputs are matched
    by position: prediction k is written next to ``dataset.image_files[todo[k]]``.

    Called for a first pass (``todo`` every index) and a resumed one. ``mean`` and ``std``: as in
    :func:`check_train_loader`.
    """
    # the rules (kept out of the docstring: Shift-Tab would answer exercise 8): the indices of todo, each once, in
    # todo's order (no shuffle, no drop_last, nothing already done); exercise 7's other rules where they matter for one
    # pass, judged on the first pass's loaders: batches of 16 or more, workers where there is decoding, pin_memory only
    # with a GPU, normalised float32 batches, what workers get importable by name. persistent_workers and a generator
    # are not asked for. The order is read from the loader's batch sampler, through a Subset the loader may wrap the
    # dataset in (no image is decoded for it); with workers, batches must come back in that order (in_order).
    if not callable(func) or not _takes_todo(func):
        return _verdict(
            False,
            f"expected a function of two arguments, (dataset, todo), got {func!r}.",
            "def my_predict_loader(dataset, todo): ...",
        )
    first, passes, stop = _predict_passes(func, datasets)
    if stop is not None:
        return stop
    stats = (mean, std) if mean is not None and std is not None else None
    orders = [(which, where, _order_problem(loader, d, todo)) for which, where, loader, d, todo in passes]
    found = [(which, where, order) for which, where, order in orders if order]
    found += [("", where, p) for where, loader, dataset in first for p in _predict_loader_problems(loader, dataset, stats)]
    if found:
        ask = "Which of your loader's settings decide which photos a pass visits, and in what order? "
        if any(order for *_, order in orders):  # the question first, then the rules, capitalised after it
            return _verdict(False, _listed(found) + ".", ask + _LOADER_RULES_HINT[0].upper() + _LOADER_RULES_HINT[1:])
        return _verdict(False, _listed(found) + ".", _LOADER_RULES_HINT)
    twins = [_make_loader_twin(loader, dataset, shuffle=False, where=where) for where, loader, dataset in first]
    return _verdict(
        True,
        "every photo still to do, once each, in todo's order: prediction k sits next to file todo[k]. Exercise 7's "
        "shuffle would have paired predictions with other photos' files (the pass's accuracy would not even show it: "
        "only the saved pairs are wrong), drop_last would have left the last photos without one, and a pass over the "
        "whole split would have shifted every pair by the photos already done. shuffle=True is right for training on "
        "files grouped by class and wrong wherever outputs are matched by position. The flowerkit version defaults "
        f"to shuffle=False for this reason (a resumed pass gives it Subset(dataset, todo)): {'; '.join(twins)}.",
    )


def _predict_loader_problems(loader: DataLoader, dataset: Any, stats: tuple[Any, Any] | None) -> list[str]:
    """What check_predict_loader finds wrong with one loader besides its order (:func:`_order_problem`): exercise 7's
    rules that still hold."""
    _, batch_size, _ = _batching(loader)
    problems = _batch_worker_pin_problems(loader, dataset, batch_size, "too few photos per trip keep the CPU waiting", "the pass")
    return problems + [p for p in (_spawn_problem(loader, dataset), _batch_normalisation_problem(loader, dataset, stats)) if p]


def _order_problem(loader: DataLoader, dataset: Any, todo: list[int]) -> str | None:
    """Why prediction k would not be file ``todo[k]``'s (the evidence, no fix named), or None when the loader visits
    ``todo``'s photos, each once, in its order."""
    order = _visit_order(loader, dataset)
    n = len(todo)
    visit = "[fix: visit todo's photos and no others, in its order: Subset(dataset, todo), or sampler=todo]"
    if order is None:
        return f"its batch_sampler cannot be read for the order it visits the photos in {visit}"
    if _unwrapped(loader.dataset) is not dataset:
        return "it reads another dataset than the one it is given, so its predictions belong to other photos [fix: DataLoader(dataset, ...)]"
    if loader.num_workers > 0 and not getattr(loader, "in_order", True):
        return "its workers hand batches back in whichever order they finish them, so prediction k may be another photo's [fix: in_order=True]"
    if order == todo:
        return None
    if len(order) < n and order == todo[: len(order)]:
        return f"the last {n - len(order)} of the {n} photos to do get no prediction [fix: drop_last=False]"
    if len(set(order)) < len(order):
        repeats = len(order) - len(set(order))
        return f"it visits {len(set(order))} distinct photos for the {n} to do ({repeats} visits repeat one): each needs exactly one prediction {visit}"
    k = next((i for i, (a, b) in enumerate(zip(order, todo)) if a != b), n)
    if k == n:  # todo's photos, in order, then more
        return (
            f"it visits {len(order)} photos for the {n} to do: the {len(order) - n} after them have no file to pair with {visit}"
        )
    shifted = f"prediction {k} would be written next to file {todo[k]}, but belongs to photo {order[k]}"
    if sorted(order) == sorted(todo):
        return f"out of order: {shifted} [fix: shuffle=False, and {visit[6:-1]}]"
    return f"{shifted} (it visits {len(order)} photos for the {n} to do) {visit}"


def _unwrapped(dataset: Any) -> Any:
    """The dataset under any Subset that wraps it."""
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return dataset


def _visit_order(loader: DataLoader, dataset: Any) -> list[int] | None:
    """The indices of ``dataset`` that ``loader`` visits in one epoch, in order; None if its sampler cannot be read.

    Read from the batch sampler (or the sampler, without batching), then through any ``Subset`` that may wrap
    ``dataset`` in the loader (a reordered or partial Subset shows as such).
    """
    if loader.batch_sampler is None:  # batch_size=None: one index at a time, from the sampler
        batches: Any = ([i] for i in loader.sampler)
    else:
        batches = loader.batch_sampler
    cap = 4 * len(dataset) + 1  # a sampler drawing far more than an epoch (num_samples=10**9) stops here
    try:
        order = [int(i) for batch in itertools.islice(batches, cap) for i in batch][:cap]
    except Exception:  # noqa: BLE001 - the student's sampler: report that its order could not be read
        return None
    wrapped = loader.dataset
    while isinstance(wrapped, Subset) and wrapped is not dataset:
        order = [int(wrapped.indices[i]) for i in order]
        wrapped = wrapped.dataset
    return order


def _batching(loader: DataLoader) -> tuple[Any, int | None, bool]:
    """(sampler, batch size, drop_last) that ``loader`` batches with: its own, or those of the batch_sampler it was given.

    Given ``batch_sampler=``, a DataLoader keeps ``batch_size=None`` and a SequentialSampler of its own, unused.
    """
    given = loader.batch_sampler
    if loader.batch_size is None and given is not None:
        size = getattr(given, "batch_size", None)
        if size is None:  # e.g. a list of index lists: the size of its first batch
            with contextlib.suppress(Exception):
                size = len(next(iter(given)))
        return getattr(given, "sampler", None), size, bool(getattr(given, "drop_last", False))
    return loader.sampler, loader.batch_size, loader.drop_last


def _settings(loader: DataLoader) -> dict[str, Any]:
    """The settings of ``loader`` that the flowerkit twin is compared on, read through a batch_sampler if it has one."""
    sampler, batch_size, drop_last = _batching(loader)
    return {
        "batch_size": batch_size,
        "num_workers": loader.num_workers,
        "persistent_workers": loader.persistent_workers,
        "pin_memory": loader.pin_memory,
        "drop_last": drop_last,
        "sampler": type(sampler).__name__,
    }


def _make_loader_twin(loader: DataLoader, dataset: Any, *, shuffle: bool, where: str = "") -> str:
    """``load.make_loader`` called with the student's choices, and the settings where the two loaders differ (if any)."""
    mine = _settings(loader)
    shuffled = ", shuffle=True" if shuffle else ""
    call = f"load.make_loader(ds{shuffled}, batch_size={mine['batch_size']}, num_workers={loader.num_workers})"
    twin = _settings(_load.make_loader(dataset, shuffle=shuffle, batch_size=mine["batch_size"], num_workers=loader.num_workers))
    # one unshuffled pass: keeping workers is moot, and its order was checked already (a Subset, sampler=todo)
    asked = [k for k in twin if shuffle or k not in ("persistent_workers", "sampler")]
    differ = [f"{k} {twin[k]} (yours: {mine[k]})" for k in asked if twin[k] != mine[k]]
    same = "batch size, workers, pinning" if not shuffle else "sampler, batch size, workers, pinning"
    named = f"on the {where}, " if where else ""
    return named + call + (f" (differs: {', '.join(differ)})" if differ else f" ({same}: the same)")


class _SpawnPickler(pickle.Pickler):
    """Pickles as a DataLoader sends objects to its workers, refusing what a spawned Python could not import: ``__main__``'s."""

    from_notebook = ""  # the qualified name of the notebook object that stopped it, if one did

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, (type, types.FunctionType)) and getattr(obj, "__module__", None) == "__main__":
            self.from_notebook = obj.__qualname__
            raise pickle.PicklingError(f"{obj.__qualname__} is defined in the notebook")
        return NotImplemented


def _spawn_problem(loader: DataLoader, dataset: Any) -> str | None:
    """What a worker started by spawn could not import of what ``loader`` sends it (collate_fn, worker_init_fn, dataset)."""
    if loader.num_workers == 0:
        return None
    sent = {"collate_fn": loader.collate_fn, "worker_init_fn": loader.worker_init_fn}
    if loader.dataset is not dataset:
        sent["dataset"] = loader.dataset  # the student's own wrapper; the given dataset is flowerkit's
    for name, obj in sent.items():
        pickler = _SpawnPickler(io.BytesIO())
        try:
            pickler.dump(obj)
        except Exception as error:  # noqa: BLE001 - anything pickle raises on the student's object: report it
            fix = (
                "load.CollateNormalize(mean, std), or a function from a module you import"
                if name == "collate_fn"
                else ("load.seed_worker, or a function from a module you import")
            )
            if pickler.from_notebook:
                return (
                    f"its {name} uses {pickler.from_notebook}, defined in this notebook: a worker started by spawn "
                    f"(macOS, Windows) or forkserver imports it by name and cannot find it, so with workers it fails "
                    f"there [fix: {name}={fix}]"
                )
            return f"its {name} cannot be sent to the workers ({type(error).__name__}: {error}) [fix: {name}={fix}]"
    return None


def _batch_worker_pin_problems(loader: DataLoader, dataset: Any, batch_size: int | None, small: str, job: str) -> list[str]:
    """Exercises 7 and 8's shared rules: batches of 16 or more (``small``: why), workers where each item is decoded
    (``job``: what decoding in the main process would block), ``pin_memory`` only with a GPU."""
    problems = []
    if batch_size is None:
        problems.append("batch_size=None: no batching at all, one item at a time without a batch dimension [fix: try 64]")
    elif batch_size < 16:
        problems.append(f"batch_size={batch_size}: {small} [fix: try 64]")
    if loader.num_workers < 1 and not isinstance(dataset, CachedFlowers):
        problems.append(
            f"num_workers=0: this dataset decodes a JPEG per item, which would block {job} "
            "[fix: about one worker per core; a cache decodes nothing, so 0 is fine there]"
        )
    cores = cpu_count()
    if loader.num_workers == 1 and cores > 1 and not isinstance(dataset, CachedFlowers):
        problems.append(
            f"num_workers=1 on a machine with {cores} cores: one core decodes while the others wait "
            "[fix: about one worker per core]"
        )
    if loader.num_workers > max(2 * cores, 8):  # far beyond any laptop here: a grader's machine may have fewer cores
        problems.append(
            f"num_workers={loader.num_workers} on a machine with {cores} cores: the extra workers compete for the same "
            "cores and hold more batches in memory, and PyTorch warns [fix: about one worker per core]"
        )
    if loader.pin_memory and not torch.cuda.is_available():
        problems.append("pin_memory=True without a GPU: PyTorch ignores it and warns [fix: pin_memory=torch.cuda.is_available()]")
    return problems


def _train_loader_problems(loader: DataLoader, dataset: Any, stats: tuple[Any, Any] | None) -> list[str]:
    """What check_train_loader finds wrong with one loader, in the notebook's words."""
    problems = []
    sampler, batch_size, _ = _batching(loader)
    order = _visit_order(loader, dataset)
    if _unwrapped(loader.dataset) is not dataset:
        problems.append("it reads another dataset than the one it is given [fix: DataLoader(dataset, ...)]")
    elif order is None:
        problems.append("its batch_sampler cannot be read for the order it visits the photos in [fix: shuffle=True]")
    elif len(order) < len(dataset):  # a weighted draw with replacement visits fewer photos, but as many draws
        problems.append(
            f"an epoch draws {len(order)} photos for the dataset's {len(dataset)}: an epoch should be worth the "
            "dataset [fix: shuffle=True, every photo once an epoch]"
        )
    elif order == sorted(order):
        problems.append("it does not shuffle, and the split is grouped by class [fix: shuffle=True]")
    problems += _batch_worker_pin_problems(
        loader, dataset, batch_size, "too small to keep the CPU busy and BatchNorm sane", "the training loop"
    )
    if loader.num_workers > 0 and not loader.persistent_workers:
        problems.append("persistent_workers=False: the workers restart every epoch [fix: persistent_workers=True]")
    if loader.generator is None and getattr(sampler, "generator", None) is None:
        problems.append(
            "no seeded generator: a shuffled order changes every run [fix: generator=torch.Generator().manual_seed(0)]"
        )
    elif loader.generator is None and loader.num_workers > 0:
        problems.append(
            "the sampler's generator fixes the order, but workers draw their seeds from the DataLoader's, so any "
            "random augmentation in them changes every run [fix: generator=torch.Generator().manual_seed(0)]"
        )
    checks = (_twin_workers_problem(loader, dataset), _spawn_problem(loader, dataset))
    return problems + [p for p in (*checks, _batch_normalisation_problem(loader, dataset, stats)) if p]


def _first_images(
    dataset: Any, worker: tuple[int, int] | None = None, worker_init_fn: Any = None, passes: int = 1
) -> tuple[list[Any], str | None]:
    """Items 0-2's images, ``passes`` times over, from a copy of ``dataset`` as a worker receives it (pickled), read as
    ``worker`` (id, base seed) after its ``worker_init_fn`` if given: (images, None), or ([], what failed)."""
    copy = pickle.loads(pickle.dumps(dataset))
    with contextlib.ExitStack() as as_worker:
        if worker is not None:
            k, base = worker
            as_worker.enter_context(_seeded_as_a_worker(base, k))
            as_worker.enter_context(_pretend_worker(_worker_info(k, 2, base + k, copy)))
            if worker_init_fn is not None:
                _, error = _call(worker_init_fn, k)
                if error:
                    return [], f"its worker_init_fn fails in a worker ({error.removeprefix('your function raised ')})"
        return [copy[i][0] for _ in range(passes) for i in range(min(3, len(copy)))], None


def _twin_workers_problem(loader: DataLoader, dataset: Any) -> str | None:
    """With two or more workers: None, unless workers 0 and 1 draw the same random items (a dataset whose own
    generator reaches every worker in one state), a worker draws alike under another base seed (seeded from its id
    alone), or the loader's worker_init_fn fails. Played as in exercise 5: a
    pickled copy per worker, seeded as PyTorch seeds it, ``get_worker_info()`` answered."""
    if loader.num_workers < 2:
        return None
    twice, _ = _first_images(dataset, passes=2)
    if all(torch.equal(a, b) for a, b in zip(twice[:3], twice[3:])):
        return None  # the same items however often they are read: nothing random to repeat
    worker0, error = _first_images(dataset, (0, _WORKER_BASE_SEED), loader.worker_init_fn)
    worker1, _ = _first_images(dataset, (1, _WORKER_BASE_SEED), loader.worker_init_fn)
    if error:
        return error
    if all(torch.equal(a, b) for a, b in zip(worker0, worker1)):
        return (
            "workers 0 and 1 gave photos 0-2 the very same random crops: each worker's copy of the dataset draws the "
            "same numbers, so every worker repeats the first one's augmentation [fix: worker_init_fn=load.seed_worker, "
            "the flowerkit version of exercise 5's function (yours would have to live in a module workers import)]"
        )
    other_run, _ = _first_images(dataset, (0, _WORKER_BASE_SEED + 1000), loader.worker_init_fn)  # another base seed
    if all(torch.equal(a, b) for a, b in zip(worker0, other_run)):
        return (
            "worker 0 gave photos 0-2 the same random crops under another loader seed: its generator ignores the seed "
            "the loader hands its workers, so another run (or workers restarted each epoch) crops alike [fix: seed from "
            "get_worker_info().seed, as load.seed_worker does]"
        )
    return None


def _batch_normalisation_problem(loader: DataLoader, dataset: Any, stats: tuple[Any, Any] | None = None) -> str | None:
    """None if the loader's collate_fn turns a few uint8 items into a normalised float32 batch, else what is wrong.

    Given the train split's ``stats`` (mean, std), the batch must equal their normalisation.
    """
    sample = pickle.loads(pickle.dumps(dataset))  # a copy: reading a random dataset leaves the notebook's own as it was
    items = [sample[i] for i in range(min(8, len(sample)))]
    try:
        images = loader.collate_fn(items)[0]
    except Exception as error:  # noqa: BLE001 - the student's collate_fn: report, do not raise
        return f"its collate_fn fails on a list of samples ({type(error).__name__}: {error})"
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        dtype = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
        return f"batches come out as {dtype}, not normalised float32 [fix: collate_fn=load.CollateNormalize(mean, std)]"
    if images.dtype != torch.float32:
        return (
            f"batches come out as {images.dtype}: the model's weights are float32, and it raises on anything else "
            "[fix: in collate_fn, convert with .float(), or do NumPy arithmetic in float32]"
        )
    if images.numel() == 0 or images.min() >= 0 or images.abs().max() > 20:
        return "batches come out unnormalised [fix: collate_fn=load.CollateNormalize(mean, std)]"
    return _statistics_problem(images, items, stats)


def _statistics_problem(images: torch.Tensor, items: list[Any], stats: tuple[Any, Any] | None) -> str | None:
    """None if ``images`` is ``items`` normalised with the train split's ``stats`` (or no stats are given), else which
    statistics they were normalised with instead, where that can be told."""
    if stats is None:
        return None

    def close(other: torch.Tensor) -> bool:
        return images.shape == other.shape and torch.allclose(images.float(), other, atol=1e-3)

    if close(CollateNormalize(*stats)(items)[0]):
        return None
    wrong = _misnormalised(CollateNormalize((0.0,) * 3, (1.0,) * 3)(items)[0], *stats)  # from the 0..1 batch
    if close(wrong["swapped"]):
        return "batches are normalised with mean and std swapped [fix: collate_fn=load.CollateNormalize(mean, std)]"
    if close(wrong["imagenet"]):
        return (
            "batches are normalised with ImageNet's statistics, not this train split's: in notebook 02, mean and "
            "std come from the training images [fix: collate_fn=load.CollateNormalize(mean, std)]"
        )
    return (
        "batches are normalised, but not with the train split's mean and std: every batch, of any split, must be "
        "normalised with the same statistics, the training images' [fix: collate_fn=load.CollateNormalize(mean, std)]"
    )
