"""flowerkit.model: the one-cycle shape driven by a clock, and training for a wall-clock budget (notebook 04)."""

from __future__ import annotations

import time
from unittest import mock

import pytest
import torch

from flowerkit import model
from flowerkit.model import FlowerCNN, TrainConfig, one_cycle, train_for


def test_one_cycle_follows_torchs_onecycle():
    opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=4e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=101, pct_start=0.25)
    for step in range(101):
        lr, beta1 = one_cycle(step / 100, 4e-3)
        assert lr == pytest.approx(opt.param_groups[0]["lr"], rel=0.05, abs=1e-7)
        assert beta1 == pytest.approx(opt.param_groups[0]["betas"][0], abs=0.01)
        opt.step()
        if step < 100:
            sched.step()


def test_train_for_stops_at_the_budget_and_scores_a_curve():
    data = [(torch.randn(4, 3, 16, 16), torch.randint(0, 102, (4,))) for _ in range(3)]
    calls = []
    history = train_for(FlowerCNN(), data, 0.5, TrainConfig(), score=lambda m: calls.append(1) or 0.5, points=4)
    assert history.total_seconds >= 0.5 and history.images > 0  # one step may overshoot a budget, never fall short
    assert len(history.checkpoints) == 4 == len(calls)
    assert [s for s, _ in history.checkpoints] == sorted(s for s, _ in history.checkpoints)
    with pytest.raises(ValueError, match="empty"):
        train_for(FlowerCNN(), [], 0.1)


def test_train_for_epochs_runs_exactly_those_epochs_in_the_same_loop():
    # Notebook 04's ours sets the budget with epochs=, through the loop every budgeted team trains in.
    data = [(torch.randn(4, 3, 16, 16), torch.randint(0, 102, (4,))) for _ in range(3)]
    scored = []

    def score(m):
        scored.append(1)
        return 0.5

    history = train_for(FlowerCNN(), data, None, TrainConfig(), score=score, points=4, epochs=2)
    assert len(history.loss) == 2 and history.images == 2 * 3 * 4  # two whole epochs, not a step more
    assert len(history.checkpoints) == 4 == len(scored)  # copies scored after training
    seconds = [s for s, _ in history.checkpoints]
    assert seconds == sorted(seconds) and seconds[-1] == pytest.approx(history.total_seconds, abs=0.05)
    for budget, epochs in ((None, None), (1.0, 2)):
        with pytest.raises(ValueError, match="not both and not neither"):
            train_for(FlowerCNN(), data, budget, TrainConfig(), epochs=epochs)
    with pytest.raises(ValueError, match="a length"):
        train_for(FlowerCNN(), iter(data), None, TrainConfig(), epochs=1)


@pytest.mark.parametrize("ends", [{"budget_s": 0.3}, {"budget_s": None, "epochs": 1}])
def test_the_device_warm_up_is_off_the_training_clock(monkeypatch, ends):
    data = [(torch.randn(4, 3, 16, 16), torch.randint(0, 102, (4,))) for _ in range(2)]
    monkeypatch.setattr(model, "_warm_up", lambda device: time.sleep(1.0))  # a GPU's first-use costs, made visible
    history = train_for(FlowerCNN(), data, ends.pop("budget_s"), TrainConfig(), **ends)
    assert history.total_seconds < 0.9, "the warm-up (1 s) counted as training time"


def test_the_epoch_runs_schedule_is_one_cycle_by_steps():
    data = [(torch.randn(4, 3, 16, 16), torch.randint(0, 102, (4,))) for _ in range(2)]
    net, seen = FlowerCNN(), []
    real_step = torch.optim.AdamW.step

    def spy(self, *a, **kw):
        seen.append(self.param_groups[0]["lr"])
        return real_step(self, *a, **kw)

    with mock.patch.object(torch.optim.AdamW, "step", spy):
        train_for(net, data, None, TrainConfig(lr=2e-3), epochs=2)
    assert seen == pytest.approx([one_cycle(k / 4, 2e-3)[0] for k in range(4)])


class _FakeTime:
    """Stands in for the ``time`` module inside flowerkit.model: time passes only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def test_a_checkpoint_is_recorded_at_the_training_seconds_of_its_mark_however_long_scoring_takes(monkeypatch):
    # scoring stops the clock: a slow score must neither shift the curve's seconds nor eat the budget
    fake = _FakeTime()
    monkeypatch.setattr(model, "time", fake)
    data = [(torch.randn(4, 3, 16, 16), torch.randint(0, 102, (4,))) for _ in range(3)]

    def batches():  # every batch costs 0.125 s of training clock, whatever the machine's load
        for x, y in data:
            fake.now += 0.125
            yield x, y

    class Loader:
        def __iter__(self):
            return batches()

    def slow_score(m):
        fake.now += 0.3
        return 0.5

    history = train_for(FlowerCNN(), Loader(), 2.0, TrainConfig(), score=slow_score, points=4)
    assert [s for s, _ in history.checkpoints] == [0.5, 1.0, 1.5, 2.0]
    assert history.total_seconds == pytest.approx(2.0)  # the 1.2 s of scoring is not training time


def test_a_learning_curve_is_scored_after_the_budget_on_the_weights_of_each_moment(monkeypatch):
    """Nothing runs off the clock (a pause mid-epoch would let a loader's workers prepare batches for free, notebook 04),
    and each point is the model as it was at its mark."""
    fake = _FakeTime()
    monkeypatch.setattr(model, "time", fake)
    data = [(torch.randn(4, 3, 16, 16), torch.randint(0, 102, (4,))) for _ in range(3)]
    events = []

    def batches():
        for x, y in data:
            fake.now += 0.125
            events.append("batch")
            yield x, y

    class Loader:
        def __iter__(self):
            return batches()

    def fingerprint(m):
        return float(sum(p.detach().double().sum() for p in m.parameters()))

    def score(m):
        events.append("score")
        return fingerprint(m)

    net = FlowerCNN()
    history = train_for(net, Loader(), 2.0, TrainConfig(), score=score, points=4)
    assert "batch" not in events[events.index("score") :], "scored before training ended"
    scores = [s for _, s in history.checkpoints]
    assert len(set(scores)) == 4, "each mark scores its own weights"
    assert scores[-1] == fingerprint(net) and net.training  # the trained model is given back, in training mode


def test_a_ddp_model_is_refused_a_device_its_parameters_are_not_on(tmp_path):
    """Moving a wrapped model would stop DDP's gradient averaging without an error: train() refuses (notebook 06)."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        ddp = torch.nn.parallel.DistributedDataParallel(FlowerCNN())
        batches = [(torch.zeros(2, 3, 16, 16), torch.tensor([0, 1]))]
        with pytest.raises(ValueError, match=r"parameters are on \['cpu'\], but it would train on meta.*before\s+wrapping"):
            model.train(ddp, batches, TrainConfig(epochs=1), device="meta", progress=False)
        history = model.train(ddp, batches, TrainConfig(epochs=1), device="cpu", progress=False)
        assert len(history.loss) == 1
    finally:
        dist.destroy_process_group()


def test_warming_up_a_device_leaves_the_random_state_and_runs_once(monkeypatch):
    """The one-off step on a throwaway net (before ours' clock in notebook 04) changes no seeded result."""
    monkeypatch.setattr(model, "_WARMED", set())
    state = torch.random.get_rng_state()
    model._warm_up(torch.device("meta"))  # a device that is not the CPU, with no data: the same code path as a GPU
    assert torch.equal(torch.random.get_rng_state(), state) and model._WARMED == {"meta"}
    model._warm_up(torch.device("cpu"))
    assert model._WARMED == {"meta"}, "nothing to warm on the CPU"


@pytest.mark.parametrize("trainer", ["train", "train_for"])
def test_the_network_steps_in_one_layout_whatever_layout_the_pipeline_delivers(trainer):
    """Notebook 04 races pipelines that deliver either layout on one network: the step must not depend on the batches."""
    torch.manual_seed(1)
    batches = [(torch.randn(8, 3, 16, 16), torch.randint(0, 102, (8,))) for _ in range(3)]
    trained = {}
    for layout in (torch.contiguous_format, torch.channels_last):
        data = [(x.contiguous(memory_format=layout), y) for x, y in batches]
        torch.manual_seed(0)
        net = FlowerCNN()
        if trainer == "train":
            model.train(net, data, TrainConfig(epochs=2), progress=False, device="cpu")
        else:
            train_for(net, data, 0.2, TrainConfig(), device="cpu")
        assert net.features[0].weight.is_contiguous(memory_format=torch.channels_last)
        trained[layout] = net
    if trainer == "train":  # the same steps on the same data: the same weights, bit for bit
        first, second = trained.values()
        assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


def test_a_model_of_ones_own_follows_the_batches_layout():
    """Its forward may view a feature map (x.view(len(x), -1)), which a channels-last map refuses."""

    class Viewing(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.fc = torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Linear(4 * 8 * 8, 102)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.conv(x).view(len(x), -1))

    data = [(torch.randn(4, 3, 8, 8), torch.randint(0, 102, (4,)))]
    net = Viewing()
    model.train(net, data, TrainConfig(epochs=1), progress=False, device="cpu")
    assert net.conv.weight.is_contiguous()


def test_training_takes_soft_labels_as_a_mixup_loader_gives_them():
    """02's exercise 3 mixes batches in a collate_fn: the loss takes class probabilities, and so must the loop."""
    hard = torch.randint(0, 102, (8,))
    soft = torch.nn.functional.one_hot(hard, 102).float() * 0.7 + 0.3 / 102
    batches = [(torch.randn(8, 3, 16, 16), soft) for _ in range(2)]
    history = model.train(FlowerCNN(), batches, TrainConfig(epochs=1), device="cpu", progress=False)
    assert len(history.loss) == 1 and history.images_per_s[0] > 0
    assert 0.0 <= history.train_acc[0] <= 1.0, "accuracy counted per image, against each soft label's largest class"
