"""Exercise checkers give specific feedback; the figures and the Access team's bug are real."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from flowerkit import OxfordFlowers102, exercises, teams, viz
from flowerkit.access import read_splits


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


def test_show_images_keeps_explicit_line_breaks_in_titles():
    fig = viz.show_images([np.zeros((4, 4))], ["team: hard-leaved pocket orchid\ntrue: rose"], ncols=1)
    assert fig.axes[0].get_title().splitlines()[-1] == "true: rose"


def test_show_images_returns_a_figure_with_one_axis_per_cell():
    import torch
    from PIL import Image

    images = [Image.new("RGB", (20, 10)), torch.zeros(3, 8, 8, dtype=torch.uint8), torch.rand(3, 8, 8), np.zeros((5, 5))]
    fig = viz.show_images(images, ["a", "b", "c", "d"], ncols=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:4]] == ["a", "b", "c", "d"]


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
    from matplotlib.figure import Figure

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


def test_check_train_loader_feedback(mini_root, capsys):
    import torch
    from torch.utils.data import DataLoader

    ds = OxfordFlowers102(mini_root, "val")
    good = lambda d: DataLoader(
        d, batch_size=64, shuffle=True, num_workers=2, persistent_workers=True, generator=torch.Generator().manual_seed(0)
    )  # noqa: E731
    assert exercises.check_train_loader(good, ds)
    capsys.readouterr()
    assert not exercises.check_train_loader(lambda d: DataLoader(d, batch_size=1), ds)
    out = capsys.readouterr().out
    assert "does not shuffle" in out and "batch_size=1" in out and "num_workers=0" in out
    no_persist = lambda d: DataLoader(d, batch_size=64, shuffle=True, num_workers=2, generator=torch.Generator())  # noqa: E731
    assert not exercises.check_train_loader(no_persist, ds)
    assert "persistent_workers=False" in capsys.readouterr().out


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


def test_efficiency_team_loader_has_its_bugs(mini_root):
    from torch.utils.data import SequentialSampler

    loader = teams.efficiency_team_loader(mini_root, "train", 16)
    assert loader.batch_size == 1 and loader.num_workers == 0 and isinstance(loader.sampler, SequentialSampler)
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


# ------------------------------------------------------------------ notebook 01: the hunt, your own Dataset, workers

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

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
