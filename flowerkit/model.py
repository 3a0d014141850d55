"""The one small CNN that every team uses, and its train / evaluate loops.

Introduced in notebook ``00_the_challenge`` ("three teams, one network") and
used by every team in ``04_three_teams``. The architecture and the training
hyperparameters are fixed here, so the only thing that differs between the
teams is their data pipeline.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

__all__ = ["FlowerCNN", "History", "TrainConfig", "evaluate", "predict", "train"]


class FlowerCNN(nn.Module):
    """Four conv blocks (conv-BN-ReLU-pool), global average pooling and a linear classifier.

    Input: a float batch (B, 3, S, S), normalised; any S >= 16 works (the
    course uses 64). Output: (B, num_classes) logits.
    """

    def __init__(self, num_classes: int = 102, width: int = 16, dropout: float = 0.2) -> None:
        super().__init__()
        chans = [3, width, 2 * width, 4 * width, 8 * width]
        blocks: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip(chans, chans[1:])):
            blocks += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            if i < len(chans) - 2:
                blocks.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(chans[-1], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@dataclass(frozen=True)
class TrainConfig:
    """The hyperparameters every team shares (the same network, trained the same way)."""

    epochs: int = 14
    lr: float = 4e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    seed: int = 0


@dataclass
class History:
    """Per-epoch record of a training run: loss, accuracies, seconds and images/s."""

    loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    images_per_s: list[float] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        """Wall-clock seconds spent in all epochs (loading included)."""
        return float(sum(self.seconds))


def _batches_per_epoch(loader: Iterable) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def train(
    model: nn.Module,
    train_loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    config: TrainConfig = TrainConfig(),
    *,
    val_loader: Iterable[tuple[torch.Tensor, torch.Tensor]] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    max_seconds: float | None = None,
) -> History:
    """Train ``model`` on batches from ``train_loader`` with AdamW and a one-cycle schedule.

    Time per epoch includes waiting for the loader: that is how a slow data
    pipeline shows up. ``max_seconds`` stops after the epoch that crosses it.
    If the loader delivers channels-last batches (a pipeline's choice of
    memory layout, see ``flowerkit.load.make_loader``), the model is converted
    to channels-last too: the same network and numbers, laid out for faster convolutions.
    Returns a :class:`History`. Introduced in notebook ``00_the_challenge``.
    """
    torch.manual_seed(config.seed)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = _batches_per_epoch(train_loader)
    sched = (
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.epochs * steps, pct_start=0.25)
        if steps
        else None
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    history = History()
    layout_set = False
    bar = tqdm(range(config.epochs), desc="train", unit="epoch", disable=not progress)
    for _ in bar:
        model.train()
        start = time.perf_counter()
        total_loss, correct, seen = 0.0, 0, 0
        for x, y in train_loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if not layout_set:  # follow the pipeline's memory layout: channels-last batches get a channels-last model
                layout_set = True
                if x.ndim == 4 and x.shape[1] > 1 and x.is_contiguous(memory_format=torch.channels_last):
                    model.to(memory_format=torch.channels_last)
            logits = model(x)
            loss = loss_fn(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total_loss += loss.item() * y.numel()
            correct += (logits.argmax(1) == y).sum().item()
            seen += y.numel()
        elapsed = time.perf_counter() - start
        history.loss.append(total_loss / max(seen, 1))
        history.train_acc.append(correct / max(seen, 1))
        history.seconds.append(elapsed)
        history.images_per_s.append(seen / elapsed if elapsed > 0 else float("inf"))
        if val_loader is not None:
            history.val_acc.append(evaluate(model, val_loader, device=device))
        bar.set_postfix(loss=f"{history.loss[-1]:.3f}", acc=f"{history.train_acc[-1]:.2f}")
        if max_seconds is not None and history.total_seconds >= max_seconds:
            break
    return history


@torch.no_grad()
def predict(
    model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]], *, device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (predicted labels, true labels) over a whole loader, in loader order."""
    model.eval().to(device)
    preds, trues = [], []
    for x, y in loader:
        preds.append(model(x.to(device)).argmax(1).cpu())
        trues.append(torch.as_tensor(y))
    return torch.cat(preds), torch.cat(trues)


def evaluate(
    model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]], *, device: str | torch.device = "cpu"
) -> float:
    """Return the accuracy (0..1) of ``model`` over a loader."""
    pred, true = predict(model, loader, device=device)
    return (pred == true).float().mean().item() if true.numel() else float("nan")
