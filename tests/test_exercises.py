"""Exercise checkers give specific feedback; the figures and the Access team's bug are real."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.utils.data
from matplotlib.figure import Figure
from torch.utils.data import IterableDataset, get_worker_info

from flowerkit import OxfordFlowers102, exercises, teams
from flowerkit.access import read_splits
from flowerkit.load import CollateNormalize


def _run(checker, answer, *args, capsys):
    ok = checker(answer, *args)
    return ok, capsys.readouterr().out


def test_check_split_sizes(mini_root, capsys):
    sizes = {k: int(v.size) for k, v in read_splits(mini_root / "flowers-102" / "setid.mat").items()}
    assert _run(exercises.check_split_sizes, sizes, mini_root, capsys=capsys)[0]
    ok, out = _run(exercises.check_split_sizes, {"train": 1, "val": 1, "test": 1}, mini_root, capsys=capsys)
    assert not ok and "len() of a (1, N)" in out
    ok, out = _run(exercises.check_split_sizes, None, mini_root, capsys=capsys)
    assert not ok and "no answer yet" in out


def test_check_class_of_first_file(mini_root, capsys):
    from flowerkit import CLASSES
    from flowerkit.access import read_labels

    label = int(read_labels(mini_root / "flowers-102" / "imagelabels.mat")[0])
    assert _run(exercises.check_class_of_first_file, CLASSES[label], mini_root, capsys=capsys)[0]
    ok, out = _run(exercises.check_class_of_first_file, CLASSES[label + 1], mini_root, capsys=capsys)
    assert not ok and "off by one" in out


def test_check_test_count(mini_root, capsys):
    from scipy.io import loadmat

    assert _run(exercises.check_test_count, lambda p: loadmat(p)["tstid"].size, mini_root, capsys=capsys)[0]
    ok, out = _run(exercises.check_test_count, lambda p: len(loadmat(p)["tstid"]), mini_root, capsys=capsys)
    assert not ok and "(1, N) MATLAB row vector" in out
    ok, out = _run(exercises.check_test_count, lambda p: loadmat(p)["trnid"].size, mini_root, capsys=capsys)
    assert not ok and "train split" in out
    ok, out = _run(exercises.check_test_count, lambda p: 1 / 0, mini_root, capsys=capsys)
    assert not ok and "ZeroDivisionError" in out


@pytest.mark.parametrize(
    "answer, feedback",
    [
        (lambda l, i: l.astype(np.int64).ravel()[i.astype(np.int64).ravel() - 1] - 1, "Correct"),
        (lambda l, i: None, "still the stub"),
        (lambda l, i: l.ravel()[i.ravel() - 1] - 1, "wraps to 255"),
        (lambda l, i: l.astype(np.int64).ravel()[i.astype(np.int64).ravel() - 1], "still 1-based"),
        (lambda l, i: l.astype(np.int64).ravel()[np.clip(i.astype(np.int64).ravel(), 0, 39)] - 1, "ids as positions"),
        (lambda l, i: l.astype(np.int64)[:, i.astype(np.int64).ravel() - 1] - 1, "one label per id, flat"),
        (lambda l, i: l.astype(np.int64).ravel()[i.astype(np.int64).ravel()] - 1, "index with ids - 1"),
        (lambda l, i: (l.ravel()[i.ravel() - 1] - 1 - 1).astype(np.int64), "subtracted in uint8"),
        (lambda l, i: l.ravel()[i.ravel() - 1] - 1 - 1, "wrapped to 255"),
        (lambda l, i: l.astype(np.int64).ravel()[i.astype(np.int64).ravel() - 1] - 2, "off by -1"),
    ],
)
def test_check_labels_for_split_feedback(answer, feedback, capsys):
    ok = exercises.check_labels_for_split(answer)
    out = capsys.readouterr().out
    assert feedback in out
    assert ok == (feedback == "Correct")


def test_check_pair_files(capsys):
    right = lambda names, labels: [(n, labels[int(n[6:11]) - 1]) for n in names if n.startswith("image_")]  # noqa: E731
    assert exercises.check_pair_files(right)
    assert not exercises.check_pair_files(lambda names, labels: list(zip(names, labels)))
    assert "listing order" in capsys.readouterr().out
    assert not exercises.check_pair_files(lambda names, labels: [(n, labels[int(n[6:11]) - 1]) for n in names])
    assert "invalid literal" in capsys.readouterr().out


def test_check_test_count_names_a_shape(mini_root, capsys):
    from scipy.io import loadmat

    assert not exercises.check_test_count(lambda p: loadmat(p)["tstid"].shape, mini_root)
    assert "is a shape, not a count" in capsys.readouterr().out


def test_check_split_sizes_names_the_split_a_wrong_number_belongs_to(mini_root, capsys):
    sizes = {k: int(v.size) for k, v in read_splits(mini_root / "flowers-102" / "setid.mat").items()}
    swapped = {"train": sizes["train"], "val": sizes["test"], "test": sizes["val"]}
    assert not exercises.check_split_sizes(swapped, mini_root)
    out = capsys.readouterr().out
    assert "val: you said" in out and "that is the size of test" in out


def test_check_pair_files_hints_at_1_based_ids_and_accepts_a_dict(capsys):
    assert not exercises.check_pair_files(
        lambda names, labels: [(n, labels[int(n[6:11])]) for n in names if n.startswith("image_")]
    )
    assert "image ids start at 1" in capsys.readouterr().out
    assert exercises.check_pair_files(
        lambda names, labels: {n: labels[int(n[6:11]) - 1] for n in names if n.startswith("image_")}
    )


def test_access_team_labels_disagree_with_the_truth_and_ours_agree(mini_root):
    truth = {}
    for split in ("train", "val", "test"):
        ds = OxfordFlowers102(mini_root, split)
        truth.update({p.name: lab for p, lab in zip(ds.image_files, ds.labels)})
    theirs = teams.access_team_samples(mini_root, "train")
    agreement = np.mean([lab % 102 == truth[p.name] for p, lab in theirs])  # what their model is fed
    assert agreement < 0.2
    assert max(lab for _, lab in theirs) == 102, "their labels are 1-based"
    ours = OxfordFlowers102(mini_root, "train")
    assert all(truth[p.name] == lab for p, lab in zip(ours.image_files, ours.labels))
    team_ds = teams.AccessTeamFlowers(mini_root, "train")
    assert all(0 <= team_ds.samples[i][1] % 102 < 102 for i in range(len(team_ds)))
    image, label = team_ds[0]
    assert image.mode == "RGB" and 0 <= label < 102


# ------------------------------------------------------------------ notebook 02


def test_check_model_input_feedback(capsys):
    import torch
    from torchvision.transforms import v2

    from flowerkit.transform import eval_transform

    m, s = (0.4, 0.5, 0.3), (0.2, 0.2, 0.2)
    assert exercises.check_model_input(eval_transform(64, m, s), m, s)
    cases = {
        "squashed the aspect ratio": v2.Compose(
            [v2.ToImage(), v2.Resize((64, 64)), v2.ToDtype(torch.float32, scale=True), v2.Normalize(m, s)]
        ),
        "values up to 255": v2.Compose(
            [v2.ToImage(), v2.Resize(64), v2.CenterCrop(64), v2.ToDtype(torch.float32), v2.Normalize(m, s)]
        ),
        "dtype torch.uint8": v2.Compose([v2.ToImage(), v2.Resize(64), v2.CenterCrop(64)]),
        "channels-last": lambda img: torch.zeros(64, 64, 3),
        "not normalised": v2.Compose(
            [v2.ToImage(), v2.Resize(64), v2.CenterCrop(64), v2.ToDtype(torch.float32, scale=True), v2.Normalize(m, [0.1] * 3)]
        ),
    }
    capsys.readouterr()
    for phrase, func in cases.items():
        assert not exercises.check_model_input(func, m, s)
        assert phrase in capsys.readouterr().out


def test_check_channel_stats_feedback(capsys):
    def right(x):
        flat = x.double().div(255).permute(1, 0, 2, 3).reshape(3, -1)
        return flat.mean(1), flat.std(1, unbiased=False)

    assert exercises.check_channel_stats(right)
    capsys.readouterr()
    assert not exercises.check_channel_stats(lambda x: (x.double().mean((0, 2, 3)), x.double().std((0, 2, 3))))
    assert "0..255 scale" in capsys.readouterr().out
    assert not exercises.check_channel_stats(
        lambda x: (x.double().div(255).mean((0, 2, 3)), x.double().div(255).std((2, 3)).mean(0))
    )
    assert "each image's own std" in capsys.readouterr().out
    assert not exercises.check_channel_stats(lambda x: (x.double().div(255).mean(), x.double().div(255).std()))
    assert "one per channel" in capsys.readouterr().out


def test_check_denormalize_feedback(capsys):
    import torch

    def shaped(v):
        return torch.tensor(v).view(3, 1, 1)

    assert exercises.check_denormalize(lambda x, m, s: x * shaped(s) + shaped(m))
    capsys.readouterr()
    assert not exercises.check_denormalize(lambda x, m, s: (x - shaped(m)) / shaped(s))
    assert "normalised a second time" in capsys.readouterr().out
    assert not exercises.check_denormalize(lambda x, m, s: (x + shaped(m)) * shaped(s))
    assert "order is off" in capsys.readouterr().out


def test_quality_team_transform_really_has_its_bugs():
    import torch
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (300, 200), (40, 120, 40))
    ImageDraw.Draw(img).ellipse([100, 50, 200, 150], fill=(240, 200, 40))
    t = teams.quality_team_transform(32, train=False)
    torch.manual_seed(0)
    a, b = t(img), t(img)
    assert not torch.equal(a, b), "random at evaluation"
    assert torch.allclose(a[0], a[1]) and torch.allclose(a[1], a[2]), "grayscale"
    assert abs(a.mean().item()) < 1e-4 and abs(a.std().item() - 1) < 1e-3, "per-image standardisation"
    assert t.transforms[3].size == [32, 32], "a fixed-size (squashing) resize"


def test_transform_widgets_render_without_interaction(mini_root, monkeypatch):

    from flowerkit import widgets

    images = [OxfordFlowers102(mini_root, "train")[i][0] for i in (0, 50)]
    fig = widgets.render_transform_grid(images, size=32, rotation=10, jitter=0.2)
    assert isinstance(fig, Figure) and len([ax for ax in fig.axes if ax.images]) == 6
    box = widgets.transform_playground(images)
    sliders = [w for row in box.children[:2] for w in row.children]
    assert {s.description for s in sliders} == {"size", "crop scale", "rotation", "jitter"}
    drawn = []
    real = widgets.render_transform_grid
    monkeypatch.setattr(widgets, "render_transform_grid", lambda imgs, **kw: drawn.append(kw) or real(imgs, **kw))
    sliders[0].value = 48  # in a live kernel moving a slider fires the callback, which redraws
    assert drawn and drawn[-1]["size"] == 48


# ------------------------------------------------------------------ notebook 03


NORMALISE = {"collate_fn": CollateNormalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))}


def test_check_train_loader_feedback(mini_root, capsys):
    import torch
    from torch.utils.data import DataLoader

    from flowerkit.load import DecodedFlowers

    ds = DecodedFlowers(mini_root, "val", 8)
    settings = {"batch_size": 64, "shuffle": True, "num_workers": 2, "persistent_workers": True}
    good = lambda d: DataLoader(d, **settings, generator=torch.Generator().manual_seed(0), **NORMALISE)  # noqa: E731
    assert exercises.check_train_loader(good, ds)
    capsys.readouterr()
    assert not exercises.check_train_loader(lambda d: DataLoader(d, batch_size=1), ds)
    out = capsys.readouterr().out
    assert "does not shuffle" in out and "batch_size=1" in out and "num_workers=0" in out and "torch.uint8" in out
    no_persist = lambda d: DataLoader(d, batch_size=64, shuffle=True, num_workers=2, generator=torch.Generator(), **NORMALISE)  # noqa: E731
    assert not exercises.check_train_loader(no_persist, ds)
    assert "persistent_workers=False" in capsys.readouterr().out
    scaled_only = lambda d: DataLoader(  # noqa: E731
        d, **settings, generator=torch.Generator(), collate_fn=lambda b: (torch.stack([i for i, _ in b]).float() / 255, None)
    )
    assert not exercises.check_train_loader(scaled_only, ds)
    assert "unnormalised" in capsys.readouterr().out
    broken = lambda d: DataLoader(d, **settings, generator=torch.Generator(), collate_fn=lambda b: 1 / 0)  # noqa: E731
    assert not exercises.check_train_loader(broken, ds)
    assert "collate_fn fails" in capsys.readouterr().out


def test_check_reproducible_order_feedback(mini_root, capsys):
    import torch
    from torch.utils.data import DataLoader

    from flowerkit.load import build_cache

    cache = build_cache(OxfordFlowers102(mini_root, "val"), 8, folder=mini_root.parent / "cache-ex", progress=False)
    assert exercises.check_reproducible_order(
        lambda d, s: DataLoader(d, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(s)), cache
    )
    capsys.readouterr()
    assert not exercises.check_reproducible_order(lambda d, s: DataLoader(d, batch_size=64), cache)
    assert "not shuffled" in capsys.readouterr().out
    assert not exercises.check_reproducible_order(lambda d, s: DataLoader(d, batch_size=64, shuffle=True), cache)
    assert "different orders" in capsys.readouterr().out
    fixed = lambda d, s: DataLoader(d, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(3))  # noqa: E731
    assert not exercises.check_reproducible_order(fixed, cache)
    assert "seed is not used" in capsys.readouterr().out


def test_check_train_loader_accepts_no_workers_on_a_cache_but_not_on_jpegs(mini_root, capsys):
    import torch
    from torch.utils.data import DataLoader

    from flowerkit.load import DecodedFlowers, build_cache

    cache = build_cache(OxfordFlowers102(mini_root, "val"), 8, folder=mini_root.parent / "cache-tl", progress=False)
    jpegs = DecodedFlowers(mini_root, "val", 8)
    no_workers = lambda d: DataLoader(d, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0), **NORMALISE)  # noqa: E731
    assert exercises.check_train_loader(no_workers, cache), "a cache decodes nothing: num_workers=0 is right there"
    capsys.readouterr()
    assert not exercises.check_train_loader(no_workers, cache, jpegs)
    out = capsys.readouterr().out
    assert "on the JPEGs: num_workers=0" in out and "decodes a JPEG per item" in out and "on the cache" not in out
    per_dataset = lambda d: DataLoader(  # noqa: E731
        d,
        batch_size=64,
        shuffle=True,
        num_workers=0 if d is cache else 2,
        persistent_workers=d is not cache,
        generator=torch.Generator().manual_seed(0),
        **NORMALISE,
    )
    assert exercises.check_train_loader(per_dataset, cache, jpegs)
    assert not exercises.check_train_loader(lambda d: None, cache)
    assert "still the stub" in capsys.readouterr().out
    assert not exercises.check_train_loader(lambda d: [d], cache)
    assert "expected a DataLoader" in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, feedback",
    [
        ("fetch: read + decode", "Correct"),
        ("fetch: transform", "Correct"),  # within 15% of the largest: a close call
        ("collate", "takes 0.1 ms per image"),
        ("decoding", "not one of the stages"),
        (..., "no answer yet"),
    ],
)
def test_check_bottleneck_feedback(answer, feedback, capsys):
    stage_ms = {"sampler": 0.01, "fetch: read + decode": 7.0, "fetch: transform": 6.2, "collate": 0.1, "model step": 3.0}
    ok = exercises.check_bottleneck(answer, stage_ms)
    assert feedback in capsys.readouterr().out
    assert ok == (feedback == "Correct")


def _uint8_items(n=70, size=8):
    import torch

    g = torch.Generator().manual_seed(0)
    return [(torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g), k % 5) for k in range(n)]


def _stack(batch):
    import torch

    return torch.stack([image for image, _ in batch]), torch.tensor([label for _, label in batch])


MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


def _normalised(x):
    import torch

    return (x.float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


@pytest.mark.parametrize(
    "func, feedback",
    [
        (lambda b: (_normalised(_stack(b)[0]), _stack(b)[1]), "Correct"),
        (lambda b: None, "still the stub"),
        (lambda b: _stack(b)[0], "return a pair"),
        (lambda b: ([image for image, _ in b], _stack(b)[1]), "one tensor of shape"),
        (lambda b: _stack(b), "still uint8"),
        (lambda b: (_normalised(_stack(b)[0]).double(), _stack(b)[1]), "dtype torch.float64"),
        (lambda b: ((_stack(b)[0].float() - 127) / 50, _stack(b)[1]), "differ from per-sample"),
        (lambda b: (_stack(b)[0].float() / 255, _stack(b)[1]), "differ from per-sample"),
        (lambda b: (_stack(b)[0].float() * 2, _stack(b)[1]), "without scaling to [0, 1]"),
        (lambda b: (_normalised(_stack(b)[0]), [label for _, label in b]), "int64 tensor"),
        (lambda b: (_normalised(_stack(b)[0]), _stack(b)[1].flip(0)), "do not match"),
        (lambda b: 1 / 0, "ZeroDivisionError"),
        (lambda b: exercises._per_sample_collate(b, MEAN, STD), "converted to float on its own"),
        (lambda b: (_normalised(torch.stack([i.float() for i, _ in b])), _stack(b)[1]), "converted to float on its own"),
    ],
)
def test_check_collate_feedback(func, feedback, capsys):
    ok = exercises.check_collate(func, _uint8_items(), MEAN, STD)
    out = capsys.readouterr().out
    assert feedback in out
    assert ok == (feedback == "Correct")
    if ok:
        assert "converting each image on its own" in out, "a correct answer is timed against per-sample conversion"


def _weighted(weights_of, **kw):
    import torch
    from torch.utils.data import WeightedRandomSampler

    def make(labels, seed):
        y = torch.tensor(labels)
        return WeightedRandomSampler(weights_of(y), len(y), generator=torch.Generator().manual_seed(seed), **kw)

    return make


IMBALANCED = [0] * 40 + [1] * 10 + [2] * 25 + [3] * 5


@pytest.mark.parametrize(
    "func, feedback",
    [
        (_weighted(lambda y: 1 / torch_bincount(y)[y]), "Correct"),
        (lambda labels, seed: None, "still the stub"),
        (lambda labels, seed: 42, "yields indices"),
        (lambda labels, seed: [], "yields no index"),
        (lambda labels, seed: [len(labels)], "indices outside"),
        (_weighted(lambda y: 1 / torch_bincount(y)), "one weight per class"),
        (_weighted(lambda y: 1 / torch_bincount(y)[y], replacement=False), "a shuffle"),
        (_weighted(lambda y: torch_bincount(y)[y]), "large classes are still drawn more"),
        (_weighted(lambda y: 1 / torch_bincount(y)[y] ** 2), "overcorrected"),
        (lambda labels, seed: exercises_unseeded(labels), "same seed gave different draws"),
        (lambda labels, seed: _weighted(lambda y: 1 / torch_bincount(y)[y])(labels, 0), "seed is not used"),
        (lambda labels, seed: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_check_balanced_sampler_feedback(func, feedback, capsys):
    ok = exercises.check_balanced_sampler(func, IMBALANCED)
    assert feedback in capsys.readouterr().out
    assert ok == (feedback == "Correct")


def torch_bincount(y):
    import torch

    return torch.bincount(y).double()


def exercises_unseeded(labels):
    import torch
    from torch.utils.data import WeightedRandomSampler

    y = torch.tensor(labels)
    return WeightedRandomSampler(1 / torch_bincount(y)[y], len(y))


def _stream(iter_body):
    from torch.utils.data import IterableDataset

    class Stream(IterableDataset):
        def __init__(self, items):
            self.items = list(items)

        def __iter__(self):
            return iter_body(self.items)

    return Stream


def _share(items, how):
    import torch

    info = torch.utils.data.get_worker_info()
    return iter(items if info is None else how(items, info.id, info.num_workers))


@pytest.mark.parametrize(
    "cls, feedback",
    [
        (_stream(lambda items: _share(items, lambda it, k, n: it[k::n])), "Correct"),
        (_stream(lambda items: None), "still the stub"),
        (_stream(lambda items: iter(items)), "every sample arrives 2 times"),
        (
            _stream(lambda items: _share(items, lambda it, k, n: it[k * (len(it) // n) : (k + 1) * (len(it) // n)])),
            "leave items out",
        ),
        (
            _stream(lambda items: _share(items, lambda it, k, n: it[k * -(-len(it) // n) : (k + 1) * -(-len(it) // n) + 2])),
            "more than one worker",
        ),
        (_stream(lambda items: iter(items[: len(items) // 2])), "expected all 23"),
        (_stream(lambda items: iter(items[torch_worker().id :: 2])), "get_worker_info() returns None"),
        (list, "derived from IterableDataset"),
    ],
)
def test_check_sharded_stream_feedback(cls, feedback, capsys):
    ok = exercises.check_sharded_stream(cls)
    assert feedback in capsys.readouterr().out
    assert ok == (feedback == "Correct")


class _StreamWithNamedImport(IterableDataset):
    """Calls ``get_worker_info`` through a name bound at module level, as a class in a notebook cell would."""

    def __init__(self, items):
        self.items = list(items)

    def __iter__(self):
        info = get_worker_info()
        yield from self.items if info is None else self.items[info.id :: info.num_workers]


def test_check_sharded_stream_patches_a_get_worker_info_imported_by_name(capsys):
    assert exercises.check_sharded_stream(_StreamWithNamedImport), capsys.readouterr().out
    assert globals()["get_worker_info"] is torch.utils.data.get_worker_info, "the module's name is restored"


def torch_worker():
    import torch

    return torch.utils.data.get_worker_info()


def test_efficiency_team_loader_has_its_bugs(mini_root):
    from torch.utils.data import SequentialSampler

    loader = teams.efficiency_team_loader(mini_root, "train", 16)
    assert loader.batch_size == 1 and loader.num_workers == 0 and not isinstance(loader.sampler, SequentialSampler), "it shuffles"
    assert loader.dataset.draft is None, "full-size decode every epoch"
    x, y = next(iter(loader))
    assert x.shape == (1, 3, 16, 16) and x.dtype.is_floating_point, "the output itself is correct"


def test_measure_loader_reports_the_settings(mini_root):
    from flowerkit import widgets
    from flowerkit.load import DecodedFlowers

    r = widgets.measure_loader(DecodedFlowers(mini_root, "val", 16), batch_size=8, num_workers=0, batches=2)
    assert r["batch_size"] == 8 and r["num_workers"] == 0 and r["images"] == 16 and r["images_per_s"] > 0
    assert widgets.loader_tuner({"jpegs": DecodedFlowers(mini_root, "val", 16)}).children


# ------------------------------------------------------------------ notebook 04


@pytest.mark.parametrize(
    "answer, feedback",
    [
        (None, "no answer yet"),
        (0.4, "Correct"),
        (1 / 3, "guessing uniformly"),
        (40.0, "percentage"),
        (4, "number of images"),
        (0.2, "smallest"),
        (0.3, "not the largest class"),
        ("many", "must be a number"),
    ],
)
def test_check_majority_baseline_feedback(answer, feedback, capsys):
    labels = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]  # 3 classes, the largest holds 40%, the smallest 20%
    assert exercises.check_majority_baseline(answer, labels) == (feedback == "Correct")
    assert feedback in capsys.readouterr().out


def _most_confused_reference(preds, trues, k):
    from collections import Counter

    pairs = Counter((int(t), int(p)) for p, t in zip(preds, trues) if p != t)
    return [(t, p, c) for (t, p), c in pairs.most_common(k)]


@pytest.mark.parametrize(
    "func, feedback",
    [
        (_most_confused_reference, "Correct"),
        (lambda p, t, k: None, "still the stub"),
        (lambda p, t, k: [(int(a), int(b), 1) for a, b in zip(t, p)][:k], "correct predictions"),
        (lambda p, t, k: [(b, a, c) for a, b, c in _most_confused_reference(p, t, k)], "swapped"),
        (lambda p, t, k: sorted(_most_confused_reference(p, t, k), key=lambda r: r[2]), "not sorted"),
        (lambda p, t, k: _most_confused_reference(p, t, k)[:2], "k=3"),
        (lambda p, t, k: 1 / 0, "ZeroDivisionError"),
        (lambda p, t, k: [(3, 2, 9), (0, 1, 2), (3, 1, 2)], "expected"),
    ],
)
def test_check_most_confused_feedback(func, feedback, capsys):
    ok = exercises.check_most_confused(func)
    assert ok == (feedback == "Correct")
    assert feedback in capsys.readouterr().out


def test_check_fixed_loader_feedback(mini_root, capsys, tmp_path, monkeypatch):
    from torch.utils.data import DataLoader

    from flowerkit.load import build_cache
    from flowerkit.transform import compute_stats, eval_transform

    monkeypatch.setenv("FLOWERKIT_CACHE", str(tmp_path))
    assert not exercises.check_fixed_loader(lambda root: None, mini_root)
    assert "still the stub" in capsys.readouterr().out
    assert not exercises.check_fixed_loader(exercises.intern_loader, mini_root)
    out = capsys.readouterr().out
    assert (
        "4 problem(s)" in out and "aspect ratio" in out and "shuffling" in out and "batch size" in out and "normalisation" in out
    )

    def fixed(root):
        mean, std = compute_stats(build_cache(OxfordFlowers102(root, "train"), 64, progress=False), progress=False)
        ds = OxfordFlowers102(root, "train", transform=eval_transform(64, mean, std))
        return DataLoader(ds, batch_size=64, shuffle=True)

    assert exercises.check_fixed_loader(fixed, mini_root), capsys.readouterr().out
    assert not exercises.check_fixed_loader(lambda root: DataLoader(OxfordFlowers102(root, "val")), mini_root)
    assert "the train split has" in capsys.readouterr().out


# ------------------------------------------------------------------ every checker: a verdict that shows no Out[n], a hint with every "Not yet"


def test_a_verdict_is_true_or_false_and_ipython_shows_nothing_for_it(capsys):
    from IPython.core.formatters import DisplayFormatter

    bad, good = exercises.check_majority_baseline(None, [0, 0, 1]), exercises.check_majority_baseline(2 / 3, [0, 0, 1])
    assert isinstance(bad, exercises.Verdict) and not bad and good
    assert bad == False and good == True and bad != good  # noqa: E712  (old tests compare with bools)
    assert (good or "x") is good and repr(bad) == "Verdict(False)"
    assert DisplayFormatter().format(bad) == ({}, {})  # what IPython's displayhook sends: nothing, so no Out[n]
    assert "Not yet" in capsys.readouterr().out


def test_a_checker_cell_shows_its_message_and_no_out_prompt_in_a_kernel(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    repo = Path(__file__).resolve().parents[1]
    code = f"import sys; sys.path.insert(0, {str(repo)!r})\nfrom flowerkit import exercises\nexercises.check_majority_baseline(None, [0, 0, 1])"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["stream"], outputs
    assert outputs[0].name == "stdout" and outputs[0].text.startswith("Not yet") and "Hint:" in outputs[0].text


def test_every_not_yet_in_the_source_passes_a_hint():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(exercises))
    missing = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", "") == "_verdict"
        and not (isinstance(node.args[0], ast.Constant) and node.args[0].value is True)
        and len(node.args) + len(node.keywords) < 3
    ]
    assert missing == [], f"flowerkit/exercises.py: _verdict(False, message) without a hint at lines {missing}"


def _raises(*args):
    raise RuntimeError("boom")


def _cheap_failures(root, dataset, labels):
    """(checker, arguments) for failure paths that cost nothing: unanswered stubs, raising functions, wrong types."""
    images = torch.utils.data.TensorDataset(torch.zeros(64, 3, 8, 8, dtype=torch.uint8), torch.arange(64) % 4)
    mean, std = (0.5, 0.5, 0.5), (0.2, 0.2, 0.2)
    stub = lambda *a: None  # noqa: E731
    five = lambda *a: 5  # noqa: E731
    return [
        (exercises.check_split_sizes, (None, root)),
        (exercises.check_split_sizes, ({"a": 1}, root)),
        (exercises.check_class_of_first_file, (None, root)),
        (exercises.check_class_of_first_file, (3, root)),
        (exercises.check_class_of_first_file, ("no such flower", root)),
        (exercises.check_test_count, (stub, root)),
        (exercises.check_test_count, (_raises, root)),
        (exercises.check_test_count, (five, root)),
        (exercises.check_labels_for_split, (stub,)),
        (exercises.check_labels_for_split, (_raises,)),
        (exercises.check_pair_files, (stub,)),
        (exercises.check_pair_files, (_raises,)),
        (exercises.check_pair_files, (lambda names, labels: [],)),
        (exercises.check_model_input, (stub, mean, std)),
        (exercises.check_model_input, (_raises, mean, std)),
        (exercises.check_model_input, (five, mean, std)),
        (exercises.check_channel_stats, (stub,)),
        (exercises.check_channel_stats, (_raises,)),
        (exercises.check_channel_stats, (five,)),
        (exercises.check_denormalize, (stub,)),
        (exercises.check_denormalize, (_raises,)),
        (exercises.check_denormalize, (lambda x, m, s: x[0],)),
        (exercises.check_train_loader, (stub, dataset)),
        (exercises.check_train_loader, (_raises, dataset)),
        (exercises.check_train_loader, (five, dataset)),
        (exercises.check_train_loader, (lambda d: torch.utils.data.DataLoader(d), dataset)),
        (exercises.check_reproducible_order, (stub, dataset)),
        (exercises.check_reproducible_order, (_raises, dataset)),
        (exercises.check_majority_baseline, (None, labels)),
        (exercises.check_majority_baseline, ("many", labels)),
        (exercises.check_majority_baseline, (0.123, labels)),
        (exercises.check_most_confused, (stub,)),
        (exercises.check_most_confused, (_raises,)),
        (exercises.check_most_confused, (five,)),
        (exercises.check_most_confused, (lambda p, t, k: [],)),
        (exercises.check_fixed_loader, (stub, root)),
        (exercises.check_fixed_loader, (_raises, root)),
        (exercises.check_fixed_loader, (five, root)),
        (exercises.check_bottleneck, (None, {"decode": 2.0, "model": 1.0})),
        (exercises.check_bottleneck, ("network", {"decode": 2.0, "model": 1.0})),
        (exercises.check_collate, (stub, images, mean, std)),
        (exercises.check_collate, (_raises, images, mean, std)),
        (exercises.check_balanced_sampler, (stub, labels)),
        (exercises.check_balanced_sampler, (_raises, labels)),
        (exercises.check_balanced_sampler, (five, labels)),
        (exercises.check_sharded_stream, (_EmptyStream,)),
        (exercises.check_quality_causes, (None,)),
        (exercises.check_quality_causes, ({"blur"},)),
        (exercises.check_access_cause, (None,)),
        (exercises.check_access_cause, ("a",)),
        (exercises.check_flowers_dataset, (None, root)),
        (exercises.check_spawn_ready, (None,)),
        (exercises.check_count_appearances, (stub,)),
        (exercises.check_count_appearances, (_raises,)),
        (exercises.check_padded_indices, (stub,)),
        (exercises.check_padded_indices, (_raises,)),
        (exercises.check_shard_plan, (stub,)),
        (exercises.check_shard_plan, (_raises,)),
        (exercises.check_kiosk_skew, (None,)),
        (exercises.check_kiosk_skew, ("no such skew",)),
        (exercises.check_robust_input, (stub, _FakePredictor(), root)),
        (exercises.check_robust_input, (_raises, _FakePredictor(), root)),
    ]


class _FakePredictor:
    """Just enough of flowerkit.app.Predictor for the robust-input checker's cheap failure paths."""

    size = 8


class _EmptyStream(IterableDataset):
    """A stream that yields nothing: the cheapest wrong answer to the sharding exercise."""

    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter([])


def test_every_checker_gives_a_hint_on_its_cheap_failure_paths(mini_root, capsys):
    dataset = torch.utils.data.TensorDataset(torch.zeros(8, 1), torch.arange(8))
    cases = _cheap_failures(mini_root, dataset, [0, 0, 1, 2])
    checkers = {name for name in exercises.__all__ if name.startswith("check_")}
    assert checkers <= {c.__name__ for c, _ in cases}, "add the new checker's cheap failure paths to _cheap_failures"
    for checker, args in cases:
        verdict = checker(*args)
        out = capsys.readouterr().out
        assert not verdict and out.startswith("Not yet"), (checker.__name__, out)
        assert "\nHint: " in out, f"{checker.__name__}{args!r}: no hint in {out!r}"


def test_quality_causes_checker(capsys):
    from flowerkit import exercises

    assert not exercises.check_quality_causes(...)
    assert not exercises.check_quality_causes({"grayscale", "too few epochs"})
    assert "clears 'too few epochs'" in capsys.readouterr().out
    assert not exercises.check_quality_causes({"grayscale"})
    assert "Hint:" in capsys.readouterr().out
    assert not exercises.check_quality_causes({"blur"})
    assert exercises.check_quality_causes({"grayscale", "squash", "per-image standardisation", "augmentation at evaluation"})


# ------------------------------------------------------------------ notebook 01: the hunt, your own Dataset, workers

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from PIL import Image  # noqa: E402
from scipy.io import loadmat  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

SPLIT_VARIABLE = {"train": "trnid", "val": "valid", "test": "tstid"}


class RightFlowers(Dataset):
    """The reference answer of notebook 01's Dataset exercise; subclasses below each plant one classic mistake."""

    def __init__(self, root, split="train", transform=None, target_transform=None):
        self.transform, self.target_transform = transform, target_transform
        self.base = Path(root) / "flowers-102"
        self.raw_labels = loadmat(self.base / "imagelabels.mat", squeeze_me=True)["labels"]
        self.ids = loadmat(self.base / "setid.mat", squeeze_me=True)[SPLIT_VARIABLE[split]].astype(np.int64)
        self.files = [self.base / "jpg" / f"image_{i:05d}.jpg" for i in self.ids]
        self.labels = (self.raw_labels.astype(np.int64)[self.ids - 1] - 1).tolist()

    def __len__(self):
        return len(self.files)

    def load(self, idx):
        with Image.open(self.files[idx]) as img:
            return img.convert("RGB")

    def __getitem__(self, idx):
        image, label = self.load(idx), self.labels[idx]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label


class StubFlowers(Dataset):
    def __init__(self, root, split="train", transform=None, target_transform=None): ...

    def __len__(self): ...

    def __getitem__(self, idx): ...


class OneBasedLabels(RightFlowers):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.labels = [label + 1 for label in self.labels]


class Uint8Wrap(RightFlowers):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.labels = [int(v) for v in (self.raw_labels[self.ids - 1] - 1 - 1)]  # "-1" twice, in uint8


class IdsAsPositionsForLabels(RightFlowers):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        flat = self.raw_labels.astype(np.int64) - 1
        self.labels = flat[np.minimum(self.ids, flat.size - 1)].tolist()


class OffByOneFiles(RightFlowers):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.files = [self.base / "jpg" / f"image_{i + 1:05d}.jpg" for i in self.ids]  # sorted(listdir)[i]: image i + 1


class ListingOrder(RightFlowers):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        listing = [n for n in os.listdir(self.base / "jpg") if n.endswith(".jpg")]
        self.files = [self.base / "jpg" / listing[i - 1] for i in self.ids]


class NoTransform(RightFlowers):
    def __getitem__(self, idx):
        return self.load(idx), self.labels[idx]


class NoTargetTransform(RightFlowers):
    def __getitem__(self, idx):
        image = self.load(idx)
        return (self.transform(image) if self.transform else image), self.labels[idx]


class ReturnsPath(RightFlowers):
    def __getitem__(self, idx):
        return self.files[idx], self.labels[idx]


class ReturnsDict(RightFlowers):
    def __getitem__(self, idx):
        return {"image": self.load(idx), "label": self.labels[idx]}


class Uint8Label(RightFlowers):
    def __getitem__(self, idx):
        return self.load(idx), np.uint8(self.labels[idx])


class UnsqueezedLength(RightFlowers):
    def __len__(self):
        return len(loadmat(self.base / "setid.mat")["trnid"])  # (1, N): len() is 1


class EveryImage(RightFlowers):
    def __len__(self):
        return self.raw_labels.size


class WrongSignature(RightFlowers):
    def __init__(self, root):
        super().__init__(root)


class FailsLate(RightFlowers):
    def __getitem__(self, idx):
        if idx >= 500:  # past the toy dataset: only the real split reaches it
            raise OSError("cannot identify image file")
        return super().__getitem__(idx)


@pytest.mark.parametrize(
    "cls, feedback",
    [
        (RightFlowers, "Correct! your RightFlowers agrees with torchvision's Flowers102 on all"),
        (StubFlowers, "still the stub"),
        (OneBasedLabels, "labels are 1-based"),
        (Uint8Wrap, "wrapped around"),
        (IdsAsPositionsForLabels, "off-by-one ids"),
        (OffByOneFiles, "off-by-one ids: item 0 should be image_00007.jpg, you opened image_00008.jpg"),
        (ListingOrder, "follow the directory listing"),
        (NoTransform, "does not call self.transform"),
        (NoTargetTransform, "does not call self.target_transform"),
        (ReturnsPath, "the image is a path"),
        (ReturnsDict, "expected a pair (image, label)"),
        (Uint8Label, "expected a plain int"),
        (UnsqueezedLength, "len() of a (1, N) MATLAB array is 1"),
        (EveryImage, "the number of *all* images"),
        (WrongSignature, "TypeError"),
        (FailsLate, "on the train split, item 500: your function raised OSError: cannot identify image file"),
        (None, "no answer yet"),
    ],
    ids=lambda v: v if isinstance(v, str) else getattr(v, "__name__", str(v)),
)
def test_check_flowers_dataset_feedback(cls, feedback, mini_root, capsys):
    ok = exercises.check_flowers_dataset(cls, mini_root)
    out = capsys.readouterr().out
    assert feedback in out, out
    assert ok == feedback.startswith("Correct")


def test_check_flowers_dataset_finds_a_wrong_item_on_the_real_split(mini_root, capsys):
    class LastLabelWrong(RightFlowers):  # right on the toy dataset, wrong on one item of the real split
        def __init__(self, root, *args, **kw):
            super().__init__(root, *args, **kw)
            if len(self.labels) > 100:
                self.labels[-1] = (self.labels[-1] + 1) % 102

    assert not exercises.check_flowers_dataset(LastLabelWrong, mini_root)
    assert "on the train split, item 1019" in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, feedback",
    [
        ("d", "Correct!"),
        ("(D)", "Correct!"),
        ("a", "the network does learn"),
        ("b", "validation photos agree"),
        ("c", "decode fine"),
        ("e", "label counts look healthy"),
        ("z", "not one of the suspects"),
        (None, "no answer yet"),
    ],
)
def test_check_access_cause_feedback(answer, feedback, capsys):
    ok = exercises.check_access_cause(answer)
    assert feedback in capsys.readouterr().out
    assert ok == (feedback == "Correct!")


def test_check_spawn_ready_passes_an_importable_class_and_explains_a_notebook_class(mini_root, capsys):
    assert exercises.check_spawn_ready(RightFlowers(mini_root))
    assert "spawn workers can too" in capsys.readouterr().out
    in_notebook = type("FlowersDataset", (RightFlowers,), {"__module__": "__main__"})
    assert not exercises.check_spawn_ready(in_notebook(mini_root))
    out = capsys.readouterr().out
    assert "lives in the notebook (__main__)" in out and "%%writefile" in out
    assert not exercises.check_spawn_ready(StubFlowers(mini_root))
    assert "still the stub" in capsys.readouterr().out


def test_a_class_from_main_fails_to_unpickle_in_a_fresh_python(tmp_path):
    # what check_spawn_ready shows in the notebook: the class is found by module and name, and a fresh Python has no notebook
    script = (
        "import pickle, subprocess, sys\n"
        "class FlowersDataset: pass\n"
        "blob = pickle.dumps(FlowersDataset())\n"
        "run = subprocess.run([sys.executable, '-c', 'import pickle, sys; pickle.loads(sys.stdin.buffer.read())'], input=blob, capture_output=True)\n"
        "print(run.stderr.decode().strip().splitlines()[-1])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path).stdout
    assert "Can't get attribute 'FlowersDataset'" in out
