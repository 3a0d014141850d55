"""Training a team's pipeline with the shared network, and what the run produced: accuracy, time, the learning curve.

Introduced in notebook ``02_transform`` (:func:`train_pipeline` trains the
Quality team's pipeline there) and used by notebook ``04_three_teams``, which
trains every team this way on one wall-clock budget. Every team uses the same
network (:class:`flowerkit.model.FlowerCNN`), seed and config; only the data pipeline differs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from ..model import FlowerCNN, History, TrainConfig, predict, train_for
from .pipeline import StackedBatches, _Pipeline

__all__ = ["train_pipeline"]


@dataclass
class _TeamResult:
    """What one training run produced: the history, the model, its test predictions.

    What :func:`flowerkit.teams.run_team` returns for each team in
    notebook ``04_three_teams`` (``results[name]``), and :func:`flowerkit.teams.run_ablation` for each variant.

    ``budget_s`` is the wall-clock budget the run was given (None: it ran its
    ``epochs_planned`` epochs, and its time *defined* the budget);
    ``train_images`` the size of the training split; ``decode_s`` the
    pipeline's one-off decode before training (its cache's build), which the
    budget paid for: the run's clock is ``decode_s + train_s``.
    """

    name: str
    title: str
    # no field names the team's bugs: a student mid-hunt can print, Tab-complete or help() a result
    history: History
    model: nn.Module
    preds: torch.Tensor
    trues: torch.Tensor
    epochs_planned: int
    budget_s: float | None = None
    train_images: int = 0
    decode_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def test_acc(self) -> float:
        """Accuracy on the true test split (0..1) at the end of the run, i.e. at the budget."""
        return float((self.preds == self.trues).float().mean()) if self.trues.numel() else float("nan")

    @property
    def train_s(self) -> float:
        """Seconds of training (loading included, evaluation for the learning curve excluded)."""
        return self.history.total_seconds

    @property
    def epochs(self) -> float:
        """Passes over the training split actually made (fractional when a budget ends mid-epoch)."""
        return self.history.images / self.train_images if self.train_images else float(len(self.history.seconds))

    @property
    def images_per_s(self) -> float:
        """Training images per second (loading and the training step together)."""
        return self.history.images / self.train_s if self.train_s > 0 else float("nan")

    @property
    def per_image_ms(self) -> float:
        """Milliseconds of training per image: loading, decoding and the optimiser step together."""
        return 1000.0 / self.images_per_s

    @property
    def epoch_s(self) -> float:
        """Seconds one pass over the training split takes (loading included)."""
        return self.train_s / self.epochs if self.epochs else float("nan")

    @property
    def clock_s(self) -> float:
        """The run's wall clock: the one-off decode before training, then the training (what a budget pays for)."""
        return self.decode_s + self.train_s

    @property
    def curve(self) -> list[tuple[float, float]]:
        """Test accuracy against the run's clock: (seconds, accuracy) pairs; training starts after the one-off decode."""
        return [(self.decode_s + seconds, accuracy) for seconds, accuracy in self.history.checkpoints]

    def summary(self) -> dict[str, Any]:
        """The figures of the results table, rounded, plus the curve, as a JSON-ready dict."""
        return {
            "test_acc": round(self.test_acc, 4),
            "acc_at_budget": round(self.test_acc, 4),
            "budget_s": round(self.budget_s if self.budget_s is not None else self.clock_s, 1),
            "decode_s": round(self.decode_s, 2),
            "epoch_s": round(self.epoch_s, 2),
            "images_per_s": round(self.images_per_s, 1),
            "per_image_ms": round(self.per_image_ms, 3),
            "epochs": round(self.epochs, 2),
            "train_s": round(self.train_s, 1),
            "data_wait_share": round(self.history.data_wait_share, 3),
            "curve": [[round(s, 1), round(a, 4)] for s, a in self.curve],
        }


#: The most test photos a learning curve's points are scored on (every k-th of the split, so every class is there):
#: a point costs a pass over them, a team's curve several; the final accuracy is always over the whole split.
CURVE_PHOTOS = 1024


def _curve_loader(loader: Any, limit: int = CURVE_PHOTOS) -> Any:
    """``loader`` over every k-th item of its dataset (all of them when ``limit`` allows), at most ``limit``, with the
    same settings and a generator of its own (seeded like ``loader``'s): scoring a curve draws nothing from the global
    random state nor from the test loader's generator, so the final test score is the same however many points."""
    if not isinstance(loader, DataLoader) or loader.batch_size is None:
        return loader
    step = max(1, math.ceil(len(loader.dataset) / limit))
    seed = loader.generator.initial_seed() if loader.generator is not None else 0
    kw: dict[str, Any] = {
        "batch_size": loader.batch_size,
        "collate_fn": loader.collate_fn,
        "num_workers": loader.num_workers,
        "pin_memory": loader.pin_memory,
        "timeout": loader.timeout,
        "worker_init_fn": loader.worker_init_fn,
        "multiprocessing_context": loader.multiprocessing_context,
        "generator": torch.Generator().manual_seed(seed),
    }
    if loader.num_workers > 0:
        kw["prefetch_factor"] = loader.prefetch_factor
    items = loader.dataset if step == 1 else Subset(loader.dataset, range(0, len(loader.dataset), step))
    return DataLoader(items, **kw)


def train_pipeline(
    pipe: _Pipeline,
    config: TrainConfig,
    *,
    budget_s: float | None = None,
    curve: bool = True,
    points: int = 6,
    progress: bool = False,
) -> _TeamResult:
    """Train a fresh :class:`~flowerkit.model.FlowerCNN` behind ``pipe``, then test it on the pipeline's test loader.

    Without ``budget_s``: ``config.epochs`` epochs through the same loop
    (:func:`flowerkit.model.train_for` with ``epochs=``), a one-cycle schedule in steps.
    With ``budget_s``: :func:`flowerkit.model.train_for`, a one-cycle schedule
    in seconds, scored at ``points`` moments, for what is left of the budget
    after the pipeline's one-off decode (``pipe.decode_s``: a team that
    decodes into a cache before training pays for it with training time).
    The curve's points are scored on at most :data:`CURVE_PHOTOS` test photos
    (:func:`_curve_loader`), the final accuracy on all of them. Introduced in notebook ``02_transform``
    (the Quality team's run); :func:`flowerkit.teams.run_team` builds a pipeline and calls it.
    """
    torch.manual_seed(config.seed)
    model = FlowerCNN()
    loader = StackedBatches(pipe.train_loader, pipe.stack) if pipe.stack > 1 else pipe.train_loader
    curve_test = _curve_loader(pipe.test_loader) if curve else None
    score = (lambda m: _accuracy(m, curve_test)) if curve else None
    if budget_s is None:  # the same loop as a budgeted team's, ended by its epochs instead of the clock
        history = train_for(model, loader, None, config, score=score, points=points, epochs=config.epochs, progress=progress)
    else:
        remaining = budget_s - pipe.decode_s
        # a decode that took the whole budget leaves no time to train: an untrained model, reported as such
        history = (
            train_for(model, loader, remaining, config, score=score, points=points, progress=progress)
            if remaining > 0
            else History()
        )
    preds, trues = predict(model, pipe.test_loader)
    if budget_s is not None and curve and not history.checkpoints:  # no time left to train: the curve is one point
        history.checkpoints.append((0.0, float((preds == trues).float().mean()) if len(trues) else float("nan")))
    n = len(pipe.train_loader.dataset)
    return _TeamResult(pipe.name, pipe.title, history, model, preds, trues, config.epochs, budget_s, n, pipe.decode_s)


def _accuracy(model: nn.Module, loader: Any) -> float:
    """Accuracy of ``model`` over ``loader`` (0..1): a learning curve's score, in any run."""
    preds, trues = predict(model, loader)
    return float((preds == trues).float().mean())


def _table(head: list[str], rows: list[list[str]], markdown: bool) -> str:
    """``rows`` under ``head`` as aligned plain text, or as a Markdown table."""
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*head), *(fmt.format(*row) for row in rows)])
