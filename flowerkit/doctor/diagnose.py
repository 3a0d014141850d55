"""Every check on a whole Dataset, DataLoader, team pipeline or dict of splits: :func:`diagnose` (notebook ``04_three_teams``).

It builds the :class:`_Subject`, draws the label probe's sample when no reference file settles the labels, and
runs the access, quality and efficiency checks (an error raised by the dataset itself becomes a finding,
:func:`_guarded`); a team's pipeline is judged on its test loader for randomness at evaluation, a dict of splits
is compared for the same photo in two (notebook ``08_your_own_data``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..facts import NUM_CLASSES
from .access import _access_checks
from .efficiency import _efficiency_checks
from .findings import _Finding, _Report
from .foreign import _PROBE_ITEMS, _cross_split_finding, _draw_sample
from .quality import _quality_checks
from .subject import _Subject, _subject

__all__ = ["diagnose"]


def diagnose(
    target: Any,
    *,
    size: int | None = None,
    num_classes: int | None = None,
    measure: bool = True,
    seed: int = 0,
) -> _Report:
    """Check a whole pipeline and report, per category, what was found and the evidence. Introduced in notebook ``01_access``.

    Notebook ``01_access`` reads its access findings on the Access team's set; ``04_three_teams`` runs it on
    every team's pipeline.

    ``target`` is a Dataset, a DataLoader, a :class:`flowerkit.teams.Pipeline`
    (its train loader, and its test loader for randomness at evaluation), or a
    dict of splits, ``{"train": ..., "test": ...}`` (the first is diagnosed, and
    no photo may be in two). Any dataset: Oxford's, ``ImageFolder``, your own
    (notebook ``08_your_own_data``). Labels are read from ``labels``,
    ``targets``, ``samples`` or any list of (path, label) pairs, else from the
    items; ``num_classes`` from ``classes``, Oxford's files, or the labels.
    Checks a dataset gives no handle for are listed in ``report.skipped``.

    * **access**: label range (1-based?); class balance; items that raise;
      duplicated files; labels against ``imagelabels.mat`` when beside the
      images, else a label probe (a simple classifier on small images must beat
      shuffled labels) and identical files with different labels; split
      leakage against ``setid.mat``, or across the splits given;
    * **quality**: a random batch through :func:`check_batch`; a round probe
      image through the dataset's own decode or transform (squashing); the
      same item fetched twice (randomness on a val/test split); no shuffling
      over class-grouped data (filed here: it costs accuracy, not time);
    * **efficiency**: batch size; workers; milliseconds per item against a
      draft decode; images/s against a tuned loader (``measure=False`` skips the timings).
    """
    if isinstance(target, Mapping):
        report = _diagnose_splits(target, size=size, num_classes=num_classes, measure=measure, seed=seed)
    elif getattr(target, "test_loader", None) is not None and hasattr(target, "train_loader"):
        report = _diagnose_pipeline(target, size=size, num_classes=num_classes, measure=measure, seed=seed)
    else:
        report = _diagnose_one(target, size, num_classes, measure, seed)
    _FOUND.append(frozenset(f.check for f in report.problems))
    return report


#: The checks each :func:`diagnose` call of this process found a problem in, in order (a hunt's checker asks whether
#: the doctor has already named its answer in this kernel).
_FOUND: list[frozenset[str]] = []


def _diagnose_one(target: Any, size: int | None, num_classes: int | None, measure: bool, seed: int) -> _Report:
    """:func:`diagnose` on one Dataset or DataLoader."""
    s = _subject(target)
    num_classes = num_classes if num_classes is not None else _num_classes(s)
    sample = _draw_sample(s, _PROBE_ITEMS, seed) if s.reference is None or s.labels is None else None
    if sample is not None and sample.labels is not None:
        s.sampled_classes = int(sample.labels.unique().numel())
    report = _Report()
    report.extend(_access_checks(s, num_classes, sample, seed))
    report.extend(_guarded(_quality_checks, "quality", s, size, num_classes, seed))
    report.extend(_guarded(_efficiency_checks, "efficiency", s, size or _item_size(s), seed, measure))
    if s.reference is None:
        report.skip("access", "duplicates across splits", 'one split given: pass all, diagnose({"train": ..., "test": ...})')
    return report


def _num_classes(s: _Subject) -> int | None:
    """The class count: the names the dataset declares, Oxford's 102 when its .mat files are beside the images, else unknown."""
    if s.classes:
        return len(s.classes)
    return NUM_CLASSES if s.reference is not None else None


def _item_size(s: _Subject) -> int | None:
    """The size the model sees, from the first item (for the tuned loader and the draft decode to compare with)."""
    try:
        first = s.dataset[0]
    except Exception:  # reported by the checks that fetch items
        return None
    image = first[0] if isinstance(first, (tuple, list)) else first
    return int(image.shape[-1]) if isinstance(image, torch.Tensor) and image.ndim == 3 else None


def _guarded(checks: Any, category: str, s: _Subject, *args: Any) -> _Report:
    """Run a category's checks; an error raised by the dataset itself becomes a finding instead of a crash."""
    try:
        return checks(s, *args)
    except Exception as exc:  # a foreign dataset that raises: say so with its words
        msg = (
            f"the pipeline raised {type(exc).__name__} while being checked: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
        )
        return _Report([_Finding(category, "items load" if category == "quality" else "timing", False, msg)])


def _diagnose_pipeline(target: Any, **kwargs: Any) -> _Report:
    """A team's pipeline: its train loader, with randomness at evaluation judged on its test loader."""
    report = diagnose(target.train_loader, **kwargs)
    test = _subject(target.test_loader)
    num_classes = kwargs["num_classes"] if kwargs["num_classes"] is not None else _num_classes(test)
    randomness = [
        f for f in _quality_checks(test, kwargs["size"], num_classes, kwargs["seed"]) if f.check == "random at evaluation"
    ]
    report[:] = [_stacked(f, getattr(target, "stack", 1)) for f in report if f.check != "random at evaluation"] + randomness
    return report


def _stacked(finding: _Finding, stack: int) -> _Finding:
    """A small-batch finding on a pipeline whose loop stacks ``stack`` loader batches into one step: the step is not
    small (BatchNorm sees the stacked batch), each trip through the loader is; other findings as they are."""
    if finding.check != "batch size" or finding.ok or stack <= 1:
        return finding
    per_trip = finding.evidence.get("batch_size", 1)
    msg = (
        f"the loader hands over {per_trip} image(s) per trip, and the training loop stacks {stack} of its batches into "
        "one step: the loader's per-batch cost (a trip from the workers, a collate) is paid for every image; let the "
        "loader make the batches"
    )
    return _Finding(finding.category, finding.check, False, msg, {**finding.evidence, "stacked_per_step": stack})


def _diagnose_splits(splits: Mapping[str, Any], **kwargs: Any) -> _Report:
    """The first split diagnosed in full, and every pair of splits compared for the same photo in both."""
    if not splits:
        raise ValueError("no splits given: diagnose({'train': train_loader, 'test': test_loader})")
    names = list(splits)
    report = diagnose(splits[names[0]], **kwargs)
    report.skipped = [k for k in report.skipped if k.check != "duplicates across splits"]
    cross = _cross_split_finding({n: _subject(splits[n]) for n in names}) if len(names) > 1 else None
    if cross is not None:
        report.append(cross)
    else:
        report.skip("access", "duplicates across splits", "one split only, or a split keeps no file list to hash")
    return report
