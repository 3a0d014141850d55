"""The one small CNN that every team uses, and its train / evaluate loops.

Introduced in notebook ``00_the_challenge`` ("three teams, one network") and
used by every team in ``04_three_teams``. The architecture and the training
hyperparameters are fixed here, so the only thing that differs between the
teams is their data pipeline.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from .device import pick_device
from .facts import NUM_CLASSES
from .meter import DataWaitMeter

__all__ = ["FlowerCNN", "History", "TrainConfig", "evaluate", "one_cycle", "predict", "train", "train_for"]


class FlowerCNN(nn.Module):
    """Four conv blocks (conv-BN-ReLU-pool), global average pooling and a linear classifier.

    Introduced in notebook ``00_the_challenge``: the one network every team trains.

    Input: a float batch (B, 3, S, S), normalised; any S >= 16 works (the
    course uses 64). Output: (B, num_classes) logits.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 16, dropout: float = 0.2) -> None:
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
    """The hyperparameters every team shares (the same network, trained the same way). Introduced in notebook ``01_access``."""

    epochs: int = 14
    lr: float = 4e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    seed: int = 0


@dataclass
class History:
    """Per-epoch record of a training run: loss, accuracies, seconds and images/s. Introduced in notebook ``00_the_challenge``.

    ``images`` counts the training images seen; ``checkpoints`` holds (training
    seconds, score) pairs, a learning curve against the clock (notebook ``04_three_teams``).
    ``wait_s`` and ``compute_s`` split each epoch's seconds as a :class:`flowerkit.meter.DataWaitMeter` saw them:
    waiting for the next batch vs computing on it (notebook ``03_load``).
    """

    loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    images_per_s: list[float] = field(default_factory=list)
    images: int = 0
    checkpoints: list[tuple[float, float]] = field(default_factory=list)
    wait_s: list[float] = field(default_factory=list)
    compute_s: list[float] = field(default_factory=list)

    @property
    def data_wait_share(self) -> float:
        """Fraction (0..1) of the training steps' time spent waiting for data; NaN before any step."""
        wait, compute = sum(self.wait_s), sum(self.compute_s)
        return wait / (wait + compute) if wait + compute > 0 else float("nan")

    def add_wait(self, meter: DataWaitMeter) -> None:
        """Append one epoch's waiting and computing seconds, as ``meter`` measured them."""
        self.wait_s.append(meter.total_wait_s)
        self.compute_s.append(meter.total_compute_s)

    @property
    def total_seconds(self) -> float:
        """Wall-clock seconds spent in all epochs (loading included)."""
        return float(sum(self.seconds))


def _batches_per_epoch(loader: Iterable) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def _train_layout(model: nn.Module, x: torch.Tensor) -> torch.memory_format:
    """The memory layout the network trains in: FlowerCNN trains channels-last, whatever layout the pipeline delivers.

    For the course's network the layout is the trainer's choice, not the data's, so that every pipeline drives the
    same network step: on a 2-core CPU FlowerCNN's channels-last step is 1.2x to 1.6x faster than a contiguous one at
    64 to 128 px (``benchmarks/layout_step.py``), and notebook ``04_three_teams`` races teams that deliver either
    layout on one clock (before, the Efficiency team's contiguous batches paid the slower step as if it were their
    loader's cost). A batch in the other layout is converted as it moves to the device (a copy on the delivering
    pipeline's clock, small beside a step). Another model follows the batches (channels-last batches make it
    channels-last), since its forward may ``view`` a feature map, which only a contiguous one allows; a
    DistributedDataParallel model keeps the layout it was wrapped in (DDP must be converted before wrapping).
    """
    if x.ndim != 4 or x.shape[1] < 2 or isinstance(model, nn.parallel.DistributedDataParallel):
        return torch.preserve_format
    if isinstance(model, FlowerCNN) or x.is_contiguous(memory_format=torch.channels_last):
        model.to(memory_format=torch.channels_last)
        return torch.channels_last
    return torch.preserve_format


_WARMED: set[str] = set()


def _warm_up(device: torch.device) -> None:
    """Pay an accelerator's one-off costs once per process, before any training is timed: a step on a throwaway net.

    A GPU's first training step initialises CUDA, cuBLAS and cuDNN and loads the optimiser's kernels: on a GPU that is a
    large share of a short run (a first real step may still cost a little more, at its own batch size). Notebook
    ``04_three_teams`` races every team on the budget of ours, which runs first: without this, ours alone would pay
    those costs on its clock. A no-op on the CPU; the global random state is left as it was.
    """
    if device.type == "cpu" or str(device) in _WARMED:
        return
    index = device.index if device.index is not None else torch.cuda.current_device() if device.type == "cuda" else 0
    other = {} if device.type in ("cuda", "meta") else {"device_type": device.type}  # e.g. mps: its generator too
    with torch.random.fork_rng(devices=[] if device.type == "meta" else [index], **other):
        net = FlowerCNN().to(device)
        opt = torch.optim.AdamW(net.parameters())
        for layout in (torch.contiguous_format, torch.channels_last):  # a pipeline may deliver either
            net.to(memory_format=layout)
            x = torch.zeros(2, 3, 64, 64, device=device).contiguous(memory_format=layout)
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), torch.zeros(2, dtype=torch.long, device=device)).backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    _WARMED.add(str(device))


def _check_ddp_device(model: nn.Module, device: torch.device) -> None:
    """A DistributedDataParallel model must already be on the device it trains on: moving it after wrapping is silent.

    DDP hooks the parameters it was built around; ``.to(device)`` afterwards gives them new gradient accumulators, the
    hooks never fire, and each rank trains alone with no error (notebook ``06_beyond_one_machine``).
    """
    if not isinstance(model, nn.parallel.DistributedDataParallel):
        return
    on = {p.device for p in model.parameters()}
    target = torch.empty(0, device=device).device  # "cuda" resolves to the current GPU, "mps" to mps:0, "cpu:0" to cpu
    if on and on != {target}:
        raise ValueError(
            f"this DistributedDataParallel model's parameters are on {sorted(map(str, on))}, but it would train on "
            f"{device}: moving a wrapped model stops DDP from averaging gradients, silently. Move the module before "
            f"wrapping it (DistributedDataParallel(net.to({str(device)!r}))), or pass device= the one it is on."
        )


class _Stepper:
    """One optimiser step at a time: AdamW, label-smoothed cross-entropy, running loss and accuracy of an epoch."""

    def __init__(self, model: nn.Module, config: TrainConfig, device: str | torch.device) -> None:
        _check_ddp_device(model, torch.device(device))
        _warm_up(torch.device(device))  # the device's one-off costs, before any training clock starts
        self.model, self.device = model.to(device), device
        self.opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        self.layout: torch.memory_format | None = None  # chosen on the first batch (_train_layout)
        self.reset()

    def reset(self) -> None:
        """Start a new epoch's running totals."""
        self.total_loss, self.correct, self.seen = 0.0, 0, 0

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Forward, backward and update on one batch."""
        if self.layout is None:
            self.layout = _train_layout(self.model, x)
        x = x.to(self.device, non_blocking=True, memory_format=self.layout)
        y = y.to(self.device, non_blocking=True)
        logits = self.model(x)
        loss = self.loss_fn(logits, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        hard = y.argmax(1) if y.ndim == 2 else y  # soft labels (MixUp, CutMix: notebook 02): their largest class
        self.total_loss += loss.item() * len(y)
        self.correct += (logits.argmax(1) == hard).sum().item()
        self.seen += len(y)

    def record(self, history: History, seconds: float) -> None:
        """Append this epoch's loss, training accuracy, seconds and images/s to ``history``."""
        history.loss.append(self.total_loss / max(self.seen, 1))
        history.train_acc.append(self.correct / max(self.seen, 1))
        history.seconds.append(seconds)
        history.images_per_s.append(self.seen / seconds if seconds > 0 else float("inf"))
        history.images += self.seen


def train(
    model: nn.Module,
    train_loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    config: TrainConfig = TrainConfig(),
    *,
    val_loader: Iterable[tuple[torch.Tensor, torch.Tensor]] | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    max_seconds: float | None = None,
    val_every: int = 1,
) -> History:
    """Train ``model`` on batches from ``train_loader`` with AdamW and a one-cycle schedule over ``config.epochs``.

    Time per epoch includes waiting for the loader: that is how a slow data pipeline shows up; evaluation on
    ``val_loader`` after each epoch is not timed (every ``val_every`` epochs and after the last; each score also goes
    into ``history.checkpoints`` with the training seconds so far). ``max_seconds`` stops after the epoch that crosses
    it. If the loader delivers channels-last batches, the model is converted to channels-last too: the same network and
    numbers, laid out for faster convolutions. ``device`` defaults to :func:`flowerkit.device.pick_device` (a GPU when
    there is one); each epoch's data wait goes into ``history.wait_s``. A DistributedDataParallel model whose
    parameters are on another device is refused (ValueError): moving it would stop DDP's averaging silently. Returns a
    :class:`History`. Introduced in notebook ``00_the_challenge``.
    """
    torch.manual_seed(config.seed)
    stepper = _Stepper(model, config, device := pick_device(device))
    steps = _batches_per_epoch(train_loader)
    sched = None
    if steps:
        sched = torch.optim.lr_scheduler.OneCycleLR(
            stepper.opt, max_lr=config.lr, total_steps=config.epochs * steps, pct_start=0.25
        )
    history = History()
    bar = tqdm(range(config.epochs), desc="train", unit="epoch", disable=not progress)
    for epoch in bar:
        model.train()
        stepper.reset()
        start, meter = time.perf_counter(), DataWaitMeter(device)
        for x, y in meter.batches(train_loader):
            stepper.step(x, y)
            if sched is not None:
                sched.step()
        stepper.record(history, time.perf_counter() - start)
        history.add_wait(meter)
        if val_loader is not None and ((epoch + 1) % val_every == 0 or epoch + 1 == config.epochs):
            history.val_acc.append(evaluate(model, val_loader, device=device))
            history.checkpoints.append((history.total_seconds, history.val_acc[-1]))
        bar.set_postfix(loss=f"{history.loss[-1]:.3f}", acc=f"{history.train_acc[-1]:.2f}")
        if max_seconds is not None and history.total_seconds >= max_seconds:
            break
    return history


def one_cycle(progress: float, max_lr: float, *, pct_start: float = 0.25) -> tuple[float, float]:
    """Learning rate and Adam's beta1 at ``progress`` (0..1) of a run: the one-cycle shape, driven by any clock.

    The same curve as ``torch.optim.lr_scheduler.OneCycleLR`` with this
    ``pct_start`` and every other setting at its default (learning rate and
    beta1 alike), but indexed by a
    fraction instead of a step count, so a run defined in *seconds* is never
    cut mid-warm-up. Introduced in notebook ``04_three_teams`` (exercise 4,
    after the student's own ``lr_at``), where :func:`train_for` follows it.
    """
    # The curve: a cosine warm-up from max_lr / 25 to max_lr over pct_start, a cosine decay to max_lr / 25e4; beta1
    # moves from 0.95 to 0.85 and back (OneCycleLR's div_factor=25, final_div_factor=1e4, base/max_momentum).
    p = min(max(progress, 0.0), 1.0)
    lo, hi, end = max_lr / 25, max_lr, max_lr / 25e4
    if p < pct_start:
        t = p / pct_start
        lr, beta1 = hi + (lo - hi) * (1 + math.cos(math.pi * t)) / 2, 0.85 + 0.1 * (1 + math.cos(math.pi * t)) / 2
    else:
        t = (p - pct_start) / (1 - pct_start)
        lr, beta1 = end + (hi - end) * (1 + math.cos(math.pi * t)) / 2, 0.95 - 0.1 * (1 + math.cos(math.pi * t)) / 2
    return lr, beta1


class _Clock:
    """Training seconds since the clock was made."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def now(self) -> float:
        """Training seconds so far."""
        return time.perf_counter() - self.start


def train_for(
    model: nn.Module,
    train_loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    budget_s: float | None,
    config: TrainConfig = TrainConfig(),
    *,
    score: Callable[[nn.Module], float] | None = None,
    points: int = 6,
    device: str | torch.device | None = None,
    epochs: int | None = None,
    progress: bool = False,
) -> History:
    """Train ``model`` for ``budget_s`` seconds of wall clock, with a one-cycle schedule defined in time.

    The learning rate follows :func:`one_cycle` at ``elapsed / budget_s``, so a slow pipeline gets fewer steps but a
    whole schedule: warm-up, peak and decay, however few images it manages. With ``score(model)`` (e.g. test accuracy),
    a learning curve against the clock: copies of the weights at ``points`` evenly spaced moments of the budget, scored
    after it (a pause to score mid-epoch would let a loader's workers prepare batches off the clock) into
    ``history.checkpoints`` as (seconds, score). ``device`` as in :func:`train`; each epoch's data wait (on the training
    clock) goes into ``history.wait_s``; a DDP model on another device is refused, as in :func:`train`.
    With ``budget_s=None, epochs=n`` instead: exactly ``n`` epochs, the schedule at ``steps done / steps in n epochs``,
    the curve's copies at evenly spaced steps: the same loop, so a run that sets a budget (notebook ``04_three_teams``:
    ours) and the runs held to it differ only in what ends them. ``progress`` shows a bar (percent of the run).
    Introduced in notebook ``04_three_teams``.
    """
    torch.manual_seed(config.seed)
    device = pick_device(device)
    total_steps = _steps_to_run(train_loader, budget_s, epochs)
    stepper, history, last = _Stepper(model, config, device), History(), 0.0  # the device warmed up before the clock
    run = _Run(total_steps, budget_s, points if score is not None else 0, progress)  # the clock starts here
    while not run.done:  # only a step that ends past the budget stops training: never short of it
        model.train()
        stepper.reset()
        meter = DataWaitMeter(device, clock=run.clock.now)
        for x, y in meter.batches(train_loader):
            _set_schedule(stepper.opt, *one_cycle(run.share(), config.lr))
            stepper.step(x, y)
            if run.stepped(model):
                meter.finish()  # the step is complete: count it before leaving the loop
                break
        now = run.clock.now()
        stepper.record(history, now - last)  # epochs tile the clock: their seconds add up to the time trained
        history.add_wait(meter)
        last = now
        if not stepper.seen:
            raise ValueError("train_for() got an empty train_loader")
    run.finish(model)
    _score_snapshots(model, score, history, run.snapshots)
    return history


def _steps_to_run(train_loader: Iterable, budget_s: float | None, epochs: int | None) -> int:
    """The steps a run of ``epochs`` takes (0 for a run held to ``budget_s``); ValueError for neither or both."""
    if (budget_s is None) == (epochs is None):
        raise ValueError("train_for() takes budget_s (seconds) or epochs=, not both and not neither")
    if epochs is None:
        return 0
    steps = epochs * (_batches_per_epoch(train_loader) or 0)
    if steps <= 0:
        raise ValueError("train_for(epochs=...) needs a train_loader with a length and at least one batch, and epochs >= 1")
    return steps


class _Run:
    """Where a :func:`train_for` run stands: its clock, the share done (by seconds or by steps), the curve's copies."""

    def __init__(self, total_steps: int, budget_s: float | None, points: int, progress: bool) -> None:
        self.total_steps, self.budget_s, self.steps, self.done = total_steps, budget_s, 0, False
        self.marks = [(k + 1) / points for k in range(points)]  # fractions of the run
        self.snapshots: list[tuple[float, dict[str, torch.Tensor]]] = []
        self.bar = tqdm(total=100, desc="train", unit="%", disable=not progress)
        self.clock = _Clock()  # last: nothing above is training time

    def share(self) -> float:
        """How much of the run is done, 0..1: by the clock, or by the steps."""
        return self.clock.now() / self.budget_s if self.budget_s is not None else self.steps / self.total_steps

    def stepped(self, model: nn.Module) -> bool:
        """Count a step: copy the weights at a mark reached; True when the run is over."""
        self.steps += 1
        share = self.share()
        self.bar.update(min(100, int(100 * share)) - self.bar.n)
        if self.marks and share >= self.marks[0]:
            self._snapshot(model)
        self.done = share >= 1
        return self.done

    def finish(self, model: nn.Module) -> None:
        """A budget that ended between two marks: the final model stands for them."""
        while self.marks:
            self._snapshot(model)
        self.bar.close()

    def _snapshot(self, model: nn.Module) -> None:
        """Copy the weights (and BatchNorm's statistics) at the training seconds of the mark reached, and drop the mark."""
        now = self.clock.now()
        self.snapshots.append((now if self.budget_s is None else min(now, self.budget_s), _copy_state(model)))
        self.marks.pop(0)


def _set_schedule(opt: torch.optim.Optimizer, lr: float, beta1: float) -> None:
    """Set every parameter group's learning rate and Adam's first beta (one step of :func:`one_cycle`)."""
    for group in opt.param_groups:
        group["lr"], group["betas"] = lr, (beta1, group["betas"][1])


def _copy_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``model``'s weights and buffers (BatchNorm's statistics) that later steps do not change."""
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def _score_snapshots(
    model: nn.Module,
    score: Callable[[nn.Module], float] | None,
    history: History,
    snapshots: list[tuple[float, dict[str, torch.Tensor]]],
) -> None:
    """Score each copy of the weights in ``model`` into ``history.checkpoints``, then give ``model`` its final weights back."""
    if score is None:
        return
    final = _copy_state(model)
    for seconds, state in snapshots:
        model.load_state_dict(state)
        history.checkpoints.append((seconds, score(model)))
    model.load_state_dict(final)
    model.train()


@torch.no_grad()
def predict(
    model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]], *, device: str | torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (predicted labels, true labels) over a whole loader, in loader order, on the CPU.

    ``device`` defaults to :func:`flowerkit.device.pick_device`. Introduced in notebook ``02_transform``.
    """
    device = pick_device(device)
    model.eval().to(device)
    preds, trues = [], []
    for x, y in loader:
        preds.append(model(x.to(device, non_blocking=True)).argmax(1).cpu())
        trues.append(torch.as_tensor(y).cpu())
    return torch.cat(preds), torch.cat(trues)


def evaluate(
    model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]], *, device: str | torch.device | None = None
) -> float:
    """Return the accuracy (0..1) of ``model`` over a loader. Introduced in notebook ``02_transform``."""
    pred, true = predict(model, loader, device=device)
    return (pred == true).float().mean().item() if true.numel() else float("nan")
