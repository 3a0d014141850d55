"""Checks that need no reference file, for any image loader (notebook ``08_your_own_data``).

The label probe (:func:`_probe_finding`: a simple classifier on small images, drawn through the dataset's own
``__getitem__`` by :func:`_draw_sample`, must beat shuffled labels), identical photos with different labels, the
same photo in two splits (content hashes), and shuffling judged from the order of the loader's first batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..curate import content_hash
from .batch import _tensor
from .findings import _Finding
from .subject import _is_label, _Subject

__all__: list[str] = []

_PROBE_ITEMS = 400  # items the label probe decodes: about a second or two of a typical transform


@dataclass
class _Sample:
    """Items drawn at random through the dataset's own ``__getitem__``: small-image features and the labels they carry."""

    features: np.ndarray | None
    labels: torch.Tensor | None
    drawn: int
    errors: list[str]


def _image_tensor(image: Any) -> torch.Tensor | None:
    """An item's image as float (3, H, W), whatever it is (PIL image, array, tensor, channels first or last); None if not an image."""
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    x = _tensor(image).detach().to(torch.float32)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3 and x.shape[0] not in (1, 3) and x.shape[-1] in (1, 3):
        x = x.permute(2, 0, 1)
    if x.ndim != 3 or x.shape[0] not in (1, 3) or min(x.shape[1:]) < 2:
        return None
    return x.expand(3, -1, -1) if x.shape[0] == 1 else x


def _pooled(a: np.ndarray, cells: int) -> np.ndarray:
    """Block means of the last two axes of ``a`` on a ``cells`` x ``cells`` grid (any size; NumPy, no per-call overhead)."""
    rows = np.linspace(0, a.shape[-2], cells + 1).astype(int)[:-1]
    cols = np.linspace(0, a.shape[-1], cells + 1).astype(int)[:-1]
    sums = np.add.reduceat(np.add.reduceat(a, rows, axis=-2), cols, axis=-1)
    counts = np.outer(np.diff([*rows, a.shape[-2]]), np.diff([*cols, a.shape[-1]]))
    return sums / counts


def _features(x: torch.Tensor) -> np.ndarray:
    """What a simple classifier sees of an image: an 8x8 colour thumbnail, edge strength on a 4x4 grid, channel statistics."""
    a = x.numpy().astype(np.float64)
    gray = a.mean(0)
    edges = [_pooled(np.abs(np.diff(gray, axis=1)), 4), _pooled(np.abs(np.diff(gray, axis=0)), 4)]
    stats = [a.mean((1, 2)), a.std((1, 2))]
    return np.concatenate([_pooled(a, 8).ravel(), *(e.ravel() for e in edges), *stats])


def _draw_sample(s: _Subject, n: int, seed: int) -> _Sample:
    """Up to ``n`` random items through ``dataset[i]`` (labels as the model would get them); items that raise are counted."""
    idx = torch.randperm(len(s.dataset), generator=torch.Generator().manual_seed(seed))[:n].tolist()
    feats, labels, errors = [], [], []
    for i in idx:
        try:
            item = s.dataset[i]
        except Exception as exc:  # a foreign dataset's bad file: the finding, not a crash
            errors.append(f"item {i}: {type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}")
            continue
        image, label = (item[0], item[1]) if isinstance(item, (tuple, list)) and len(item) >= 2 else (item, None)
        x = _image_tensor(image)
        if x is not None and label is not None and _is_label(label):
            feats.append(_features(x))
            labels.append(int(label))
    if not labels:
        return _Sample(None, None, len(idx), errors)
    return _Sample(np.stack(feats), torch.tensor(labels), len(idx), errors)


def _ridge_accuracies(x: np.ndarray, labellings: Sequence[np.ndarray], folds: int = 4, lam: float = 10.0) -> list[float]:
    """Cross-validated accuracy of a ridge classifier (one-hot targets, closed form) for each labelling of the same images.

    One linear solve per fold serves every labelling: fast, stable, nothing to tune.
    """
    n, k = len(x), max(int(y.max()) for y in labellings) + 1
    fold = np.arange(n) % folds
    correct = np.zeros(len(labellings))
    for f in range(folds):
        train, test = fold != f, fold == f
        mu, sd = x[train].mean(0), np.maximum(x[train].std(0), 1e-6)
        a = np.hstack([(x[train] - mu) / sd, np.ones((int(train.sum()), 1))])
        b = np.hstack([(x[test] - mu) / sd, np.ones((int(test.sum()), 1))])
        targets = np.hstack([np.eye(k)[y[train]] for y in labellings])
        scores = b @ np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ targets)
        for m, y in enumerate(labellings):
            correct[m] += int((scores[:, m * k : (m + 1) * k].argmax(1) == y[test]).sum())
    return (correct / n).tolist()


def _probe_finding(sample: _Sample, seed: int) -> _Finding | None:
    """Do the labels belong to the images? A simple classifier on small images, with these labels and with shuffled ones."""
    x, y = sample.features, sample.labels
    if x is None or y is None or len(y) < 30 or int((torch.bincount(y.clamp_min(0)) >= 2).sum()) < 2:
        return None
    if len(y) < 3 * y.unique().numel():  # a classifier cannot learn a class from one or two examples: no verdict
        return None
    y = (y - y.min()).numpy()  # the probe needs 0..K-1; the range check reports 1-based labels
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))  # folds that mix the classes, whatever the dataset's order
    x, y = x[order], y[order]
    acc, *null = _ridge_accuracies(x, [y, *(y[rng.permutation(len(y))] for _ in range(8))])
    mean, sd = float(np.mean(null)), float(np.std(null))
    margin = 4 * max(sd, (mean * (1 - mean) / len(y)) ** 0.5)
    evidence = {"probe_accuracy": acc, "shuffled_labels_accuracy": mean, "items": len(y), "classes": len(np.unique(y))}
    if acc < mean + margin:
        msg = (
            f"a simple classifier on small images does no better with these labels ({acc:.0%}) than with shuffled ones "
            f"({mean:.0%}): the labels carry nothing about their images. Files and labels paired wrongly (two lists in "
            "different orders, ids used as positions)?"
        )
        return _Finding("access", "labels belong to images", False, msg, evidence)
    msg = f"labels are predictable from the images ({acc:.0%}, against {mean:.0%} with shuffled labels)"
    return _Finding("access", "labels belong to images", True, msg, evidence)


def _identical_files_finding(files: list[Path], labels: list[int] | None) -> _Finding:
    """Byte-identical files (the same photo saved twice under two names): harmless, unless they carry different labels."""
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(files):
        if f.is_file():
            groups.setdefault(content_hash(f), []).append(i)
    copies = [g for g in groups.values() if len(g) > 1]
    extra = sum(len(g) - 1 for g in copies)
    conflicts = [g for g in copies if labels is not None and len({labels[i] for i in g}) > 1]
    evidence: dict[str, Any] = {"identical_copies": extra}
    if conflicts:
        g = conflicts[0]
        evidence["example"] = ", ".join(f"{files[i].name} labelled {labels[i]}" for i in g[:3])  # type: ignore[index]
        msg = f"{len(conflicts)} photo(s) saved more than once carry different labels: at most one label is right"
        return _Finding("access", "identical photos", False, msg, evidence)
    msg = f"{extra} file(s) are byte-identical copies of another (they count twice)" if extra else "no two files are identical"
    return _Finding("access", "identical photos", True, msg, evidence)


def _cross_split_finding(subjects: dict[str, _Subject]) -> _Finding | None:
    """No photo in two splits, by content (a copy under another name counts): a leak inflates the test score."""
    if any(not s.files for s in subjects.values()):
        return None
    names = list(subjects)
    hashes = {n: {content_hash(f): f for f in subjects[n].files if f.is_file()} for n in names}  # type: ignore[union-attr]
    shared = {(a, b): sorted(set(hashes[a]) & set(hashes[b])) for i, a in enumerate(names) for b in names[i + 1 :]}
    evidence = {f"{a}&{b}": len(h) for (a, b), h in shared.items()}
    leaks = [(a, b, h) for (a, b), h in shared.items() if h]
    if leaks:
        a, b, h = leaks[0]
        evidence["example"] = f"{hashes[a][h[0]].name} ({a}) = {hashes[b][h[0]].name} ({b})"
        msg = "the same photo (identical bytes) is in two splits: the test score is inflated; split by content hash"
        return _Finding("access", "duplicates across splits", False, msg, evidence)
    return _Finding("access", "duplicates across splits", True, f"no photo is in two of {', '.join(names)}", evidence)


def _loader_labels(loader: Any, at_most: int = 256) -> list[int] | None:
    """The labels of the loader's first batches, in the order training would see them; None if batches hold no labels."""
    seen: list[int] = []
    try:
        for batch in loader:
            if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                return None
            y = torch.as_tensor(batch[1]).reshape(-1)
            if y.is_floating_point():
                return None
            seen += y.tolist()
            if len(seen) >= at_most:
                break
    except Exception:  # a loader the doctor cannot iterate: the check is skipped, not the diagnosis
        return None
    return seen


def _batch_order_finding(s: _Subject, classes_seen: int) -> _Finding | None:
    """Shuffling judged from the first batches (labels kept nowhere the doctor can read): long runs of one label."""
    seen = _loader_labels(s.loader)
    if not seen or classes_seen < 2:
        return None
    runs = 1 + sum(a != b for a, b in zip(seen, seen[1:]))
    evidence = {"labels_seen": len(seen), "label_runs": runs, "labels_from": "the first batches"}
    if runs < len(seen) / 4 and s.split not in ("val", "test"):
        msg = (
            f"the first {len(seen)} labels the loader delivers come in {runs} run(s) of one class: the data is grouped by "
            "class and not shuffled; pass shuffle=True. It costs accuracy, which is why it is filed under quality"
        )
        return _Finding("quality", "shuffling", False, msg, evidence)
    return _Finding("quality", "shuffling", True, "the first batches mix the classes", evidence)
