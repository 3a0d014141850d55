"""Checkers of notebook ``08_your_own_data``: the garden's CSV, a Dataset that survives bad files, the leak of a random
split and a split without leakage,
sampler weights for two sources, batches by aspect ratio, a collate_fn that pads, and a volunteer's loader repaired.

Each checker runs the student's code on the garden's hand-over (:mod:`flowerkit.visitors`) and then on a new case
it makes up (other names, other bad files, other duplicates, three sources, other photo sizes), so an answer that
only fits the hand-over does not pass.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import re
import struct
import tempfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageFile, PngImagePlugin
from torch.utils.data import DataLoader, Dataset, SequentialSampler, Subset

from .. import curate as _curate
from ..classes import CLASSES
from ..curate import (
    BucketBatchSampler,
    LabelledImages,
    _other_word,
    match_name,
    mixing_weights,
    normalise_name,
    pad_collate,
    padded_share,
    split_by_content,
)
from ..load import CollateNormalize, decode_resized
from ..visitors import VisitorSet, read_rows
from .nb05 import _squashed
from .verdict import (
    RAISED_HINT,
    STUB_HINT,
    Verdict,
    _answer,
    _answer_without,
    _call,
    _call_without,
    _refused,
    _unanswered,
    _verdict,
    _version_named,
)

__all__ = [
    "check_buckets",
    "check_leak_count",
    "check_pad_collate",
    "check_species_to_class",
    "check_split_without_leakage",
    "check_visitor_dataset",
    "check_visitor_weights",
    "check_volunteer_fix",
    "volunteer_loader",
]

# ------------------------------------------------------------------ exercise 1: species names -> class indices

#: Names the checker adds to the garden's own (a new case): what each should give.
_NEW_NAMES: tuple[tuple[str, int | None], ...] = (
    ("Sun Flowers", CLASSES.index("sunflower")),
    ("  Foxgloves", CLASSES.index("foxglove")),
    ("morning-glory", CLASSES.index("morning glory")),
    ("Bird Of Paradise", CLASSES.index("bird of paradise")),
    ("hipeastrum", CLASSES.index("hippeastrum")),
    ("Colts foot", CLASSES.index("colt's foot")),
    ("orchid", None),
    ("lily", None),
    ("iris", None),
    ("lavender", None),
    ("primrose", None),  # part of "pink primrose" (an evening primrose), or a primula: ambiguous; difflib's ratio 0.76
    # real flowers outside the 102, a spelling or two away from one of them: an edit distance of 2, or difflib at 0.8,
    # labels them wallflower, cape flower, marigold, rose
    ("bellflower", None),
    ("cone flower", None),
    ("pot marigold", None),
    ("moss", None),
    # a word swapped for another, the rest shared: difflib's ratio 0.86 to "cape flower" over the whole name, as close
    # as a typo; "cup" and "cape" are different words (Nierembergia is not among the 102)
    ("cup flower", None),
)


def _rebuilt(error: str | None, names: str, hint: str) -> Verdict | None:
    """The verdict when ``error`` is flowerkit's ``curate.<one of names>`` refusing to run (the version an exercise
    rebuilds); None for any other error or none."""
    return _version_named(((_curate, names),), hint) if _refused(error) else None


def _how_written(name: str, meant: str) -> str:
    """What separates a gardener's ``name`` from the class name ``meant``, as a hint."""
    if name.strip().lower() == meant:
        return "it differs only in capitals or spaces: compare name.strip().lower() with the class names"
    # the words, an apostrophe kept inside its word: "colts foot" and "colt's foot" both have two
    words, target = (re.sub(r"[^a-z]+", " ", text.lower().replace("'", "")).split() for text in (name, meant))
    if words == target:
        return "it differs only in punctuation or spaces: drop '-', '?' and \"'\" and collapse the spaces before comparing"
    if len(words) != len(target) and normalise_name(name).replace(" ", "") == normalise_name(meant).replace(" ", ""):
        how = "a word split by a space" if len(words) > len(target) else "two words written as one"
        if "".join(words) == "".join(target):
            return f"{how}: compare the names with their spaces taken out as well"
        return f"{how}, and a plural: make the words singular, then compare the names with their spaces taken out as well"
    if len(words) == len(target) and all(a in (b, b + "s", b + "es", b[:-1] + "ies") for a, b in zip(words, target)):
        return "it is a plural: compare singular words (lilies -> lily, lotuses -> lotus, roses -> rose)"
    return (
        "a misspelling: map it to the class name closest in spelling (difflib measures how close) when it is close "
        "enough to be a typo, not another flower"
    )


def _name_mistake(name: str, got: Any, want: int | None) -> tuple[str, str]:
    """The message and hint for one wrong answer."""
    if isinstance(got, (bool, np.bool_)):  # an int to Python: False is class 0
        return f"{name!r} gave {got!r}: a bool, which counts as class {int(got)}.", "return None for no class, not False"
    if got is not None and not isinstance(got, (int, np.integer)):
        return f"{name!r} gave {got!r}.", "return a class index (an int, 0..101) or None"
    if want is None and got is not None:
        part = [c for c in CLASSES if set(normalise_name(name).split()) <= set(normalise_name(c).split())]
        why = f"it is only part of {', '.join(map(repr, part))}" if part else "it is none of the 102 classes"
        if part and CLASSES[int(got)] not in part:  # primrose -> primula: a likely reading, but not the only one
            why = f"it could as well be {', '.join(map(repr, part))}: the name alone does not say which"
        hint = "a wrong label costs more than a dropped photo: map only a whole name, or a close spelling of one; else None"
        other = None if part else _other_word(normalise_name(name), normalise_name(CLASSES[int(got)]))
        if other is not None:  # close over the whole name, yet a word is another word: cup flower -> cape flower
            why += f": {other[0]!r} is another word, not a misspelling of {other[1]!r}"
            ratio = difflib.SequenceMatcher(None, *other).ratio()  # 'cup' and 'cape': 0.57, over the whole name 0.86
            hint = (
                "a typo leaves each word close to its own: judge each word that differs against the word in its place, "
                f"not only the whole name (difflib's ratio of {other[0]!r} and {other[1]!r} is {ratio:.2f}; of a typo "
                "such as 'fxglove' and 'foxglove', 0.93)"
            )
        return f"{name!r} became class {got} ({CLASSES[int(got)]!r}), but {why}.", hint
    if want is not None and got is None:
        return f"{name!r} was left unmapped; the gardener meant {CLASSES[want]!r}.", _how_written(name, CLASSES[want])
    return (
        f"{name!r} became {got} ({CLASSES[int(got)]!r}); the gardener meant {CLASSES[want]!r} ({want}).",  # type: ignore[index]
        "look for the class name closest to the whole name, not just a word of it",
    )


def _off_by_one(cases: Sequence[tuple[str, int | None]], answers: Sequence[Any]) -> tuple[str, str] | None:
    """The message and hint when nearly every mapped name is one past the class meant (a 1-based index); else None."""
    mapped = [(name, got, want) for (name, want), got in zip(cases, answers) if want is not None and got is not None]
    shifted = [(name, got, want) for name, got, want in mapped if isinstance(got, (int, np.integer)) and got == want + 1]
    if len(shifted) < max(3, 0.8 * len(mapped)):
        return None
    name, got, want = next((n, g, w) for n, g, w in shifted if g < len(CLASSES))
    return (
        f"{len(shifted)} of the {len(mapped)} names you mapped are one past the class meant: {name!r} gave {got}, "
        f"and CLASSES[{got}] is {CLASSES[got]!r}; {CLASSES[want]!r} is CLASSES[{want}].",
        "a class index is a position in CLASSES, and Python counts positions from 0",
    )


def check_species_to_class(func: Callable[[str], Any], handover: VisitorSet) -> Verdict:
    """Notebook ``08_your_own_data``: ``func(species)`` gives the class index the gardener meant, or None when it is not one of the 102.

    Tried on every species written in the garden's CSV, then on names it has never seen.
    """
    cases = sorted({(u.species, u.label) for u in handover.truth if u.species}, key=str) + list(_NEW_NAMES)
    answers = []
    for name, _ in cases:
        got, error, _ = _call_without(_curate, "match_name,normalise_name", func, name)
        rebuilt = _rebuilt(error, "match_name,normalise_name", "compare the names yourself: str methods and difflib")
        if rebuilt is not None:
            return rebuilt
        if error:
            return _verdict(False, f"on {name!r}: {error}", RAISED_HINT)
        answers.append(got)
    if all(a is None for a in answers):
        return _verdict(False, "your function returns None for every name: it is still the stub.", STUB_HINT)
    wrong = [
        (name, got, want)
        for (name, want), got in zip(cases, answers)
        if got != want
        or (got is not None and not isinstance(got, (int, np.integer)))
        or isinstance(got, (bool, np.bool_))  # False == 0: a bool passes as class 0
    ]
    if any(isinstance(got, (int, np.integer)) and not isinstance(got, bool) and got < 0 for got in answers):
        return _verdict(
            False,
            "your function answers a negative number for some names: -1 is a class index too in Python "
            "(CLASSES[-1] is the last class), so it cannot mean 'not one of the 102'.",
            "return None for a name that is not one of the 102",
        )
    shifted = _off_by_one(cases, answers) if wrong else None
    if shifted:
        message, hint = shifted
        return _verdict(False, message, hint)
    if wrong:
        message, hint = _name_mistake(*wrong[0])
        if wrong[0][0] in dict(_NEW_NAMES):
            message += " (a name the checker added: the CSV does not hold it)"
        return _verdict(False, f"{len(wrong)} of {len(cases)} names are wrong; the first: {message}", hint)
    unmapped = sum(w is None for _, w in cases)
    same = sum(match_name(name, CLASSES).index == got for (name, _), got in zip(cases, answers))
    return _verdict(
        True,
        f"all {len(cases)} names: {len(cases) - unmapped} mapped to the class the gardener meant, {unmapped} reported "
        f"as not among the 102 (or ambiguous) rather than guessed. flowerkit's curate.match_name gives the same answer "
        f"for {same} of the {len(cases)}.",
    )


# ------------------------------------------------------------------ exercise 2: a Dataset that survives bad files


def _pixel_bomb(path: Path, width: int = 20_000, height: int = 10_000) -> None:
    """Write a PNG of a few hundred bytes whose header claims ``width`` x ``height`` pixels: over twice
    ``Image.MAX_IMAGE_PIXELS`` (about 179 million), so PIL refuses to open it (``Image.DecompressionBombError``, not an
    OSError), as it would a giant panorama or a planted decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(bytes(100))) + chunk(b"IEND", b""))


def _new_case_files(folder: Path) -> tuple[list[tuple[str, int]], set[str]]:
    """Three good photos (RGBA PNG, grayscale JPEG, RGB JPEG) and four bad ones (truncated PNG, empty WebP, missing, a
    PNG that claims 200 million pixels)."""
    rng = np.random.default_rng(8)
    pixels = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    Image.fromarray(pixels).convert("RGBA").save(folder / "sticker.png")
    Image.fromarray(pixels).convert("L").save(folder / "old_photo.jpg")
    Image.fromarray(pixels).save(folder / "phone.jpg")
    Image.fromarray(pixels).save(folder / "cut_off.png")
    data = (folder / "cut_off.png").read_bytes()
    (folder / "cut_off.png").write_bytes(data[: len(data) // 2])
    (folder / "empty.webp").write_bytes(b"")
    _pixel_bomb(folder / "panorama.png")
    rows = [("sticker.png", 3), ("cut_off.png", 1), ("old_photo.jpg", 0), ("empty.webp", 2), ("gone.jpg", 2), ("phone.jpg", 1)]
    rows.append(("panorama.png", 0))
    return rows, {"cut_off.png", "empty.webp", "gone.jpg", "panorama.png"}


def _names(entries: Any) -> list[str]:
    """File names from a list of paths, names, or (path, reason) pairs."""
    out = []
    for e in entries or []:
        e = e[0] if isinstance(e, (tuple, list)) else e
        out.append(Path(str(e)).name)
    return out


#: The hint for each kind of bad file left out of ``skipped``, the plainest kind first (:func:`_bad_kind`).
_BAD_FILE_HINTS = (
    "this file is not in the folder: try to open every row's file, not only the ones you find there",
    "this file is empty (0 bytes): try to decode every file, not only check that it is there",
    "this file is not an image PIL can open: try to decode every file, not only check that it is there",
    "a cut-off file opens (Image.open reads only its header): decode it fully (img.load()) to find it",
)


def _bad_kind(path: Path) -> int:
    """What is wrong with a bad file, as a position in :data:`_BAD_FILE_HINTS`: missing, empty, not an image, cut off."""
    if not path.exists():
        return 0
    if path.stat().st_size == 0:
        return 1
    try:
        with Image.open(path):
            return 3  # opens: its header is whole, its pixels are not
    except Exception:  # noqa: BLE001  (any failure: not an image PIL recognises)
        return 2


def _dataset_problem(
    ds: Any, folder: Path, rows: Sequence[tuple[str, int]], bad: set[str], size: int, where: str
) -> tuple[str, str] | None:
    """What is wrong with a built dataset (message, hint), or None."""
    for attr in ("files", "labels", "skipped"):
        if not hasattr(ds, attr):
            return (
                f"{where}: the dataset has no attribute {attr!r}.",
                "keep self.files, self.labels and self.skipped, as the exercise says",
            )
    unexplained = [e for e in ds.skipped or [] if not isinstance(e, (tuple, list)) or len(e) != 2 or not str(e[1]).strip()]
    if unexplained:
        return (
            f"{where}: skipped holds {unexplained[0]!r}, not a (file name, reason) pair.",
            'append (name, f"{type(err).__name__}: {err}") in the except block: the garden needs to know why',
        )
    skipped, kept = set(_names(ds.skipped)), _names(ds.files)
    if bad - skipped:
        kind, name = min((_bad_kind(Path(folder) / name), name) for name in bad - skipped)
        hint = (
            _BAD_FILE_HINTS[kind]
            if skipped
            else "check each file once in __init__ (decode it, in a try block) and record the ones that fail"
        )
        if kind == 3 and ImageFile.LOAD_TRUNCATED_IMAGES:
            hint = (
                "ImageFile.LOAD_TRUNCATED_IMAGES is True in this kernel: PIL then decodes a cut-off file without an "
                "error, its missing part grey, so nothing is left to catch. Set it back to False and decode again"
            )
        return f"{where}: {name} is unusable but not in skipped.", hint
    if skipped - bad:
        return (
            f"{where}: {sorted(skipped - bad)[0]} is a good photo, but it is in skipped.",
            "only files that fail to decode belong in skipped",
        )
    want = {name: label for name, label in rows if name not in bad}
    n, error = _call(len, ds)
    if error:
        return f"{where}: len(dataset): {error}", "__len__ returns the number of kept files, an int: len(self.files)"
    if n != len(want) or sorted(kept) != sorted(want):
        return f"{where}: {n} items, expected {len(want)} (the rows whose files decode).", "len() counts the kept files"
    return next(filter(None, (_item_problem(ds, i, kept[i], want[kept[i]], size, where, Path(folder)) for i in range(n))), None)


def _item_problem(ds: Any, i: int, name: str, label: int, size: int, where: str, folder: Path) -> tuple[str, str] | None:
    """What is wrong with item ``i`` of a built dataset (file ``name``, its row's ``label``), or None."""
    item, error = _call(ds.__getitem__, i)
    if error:
        return f"{where}: item {i} ({name}): {error}", "decode with flowerkit.load.decode_resized(path, size)"
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        return (
            f"{where}: item {i} is {'None' if item is None else type(item).__name__}, expected a pair (image, label).",
            "__getitem__ returns (flowerkit.load.decode_resized(path, size), label)",
        )
    x, y = item
    if not isinstance(x, torch.Tensor) or tuple(x.shape) != (3, size, size) or x.dtype != torch.uint8:
        got = f"{type(x).__name__} {getattr(x, 'dtype', '')} {tuple(getattr(x, 'shape', ()))}"
        return (
            f"{where}: item {i} is {got}, expected a uint8 (3, {size}, {size}) tensor.",
            "flowerkit.load.decode_resized(path, size)",
        )
    if int(y) != label or int(ds.labels[i]) != label:
        return f"{where}: item {i} ({name}) has label {int(y)}, its row says {label}.", "keep files and labels in step"
    return _pixels_problem(x, folder / name, size, f"{where}: item {i} ({name})")


#: How far (mean absolute difference, 0..1) an item may lie from decode_resized's picture: another decoder's rounding
#: (torchvision's decode_jpeg: a median of 2.4 / 255) passes; a squashed or sideways photo (20 / 255 and more) does not.
_PIXEL_TOLERANCE = 12 / 255


def _pixels_problem(x: torch.Tensor, path: Path, size: int, where: str) -> tuple[str, str] | None:
    """(message, hint) if item ``x`` is not the photo at ``path`` as decode_resized shows it (upright, cropped)."""
    ref = decode_resized(path, size).float()

    def off(other: torch.Tensor) -> float:
        return float((x.float() - other).abs().mean()) / 255

    if off(ref) <= _PIXEL_TOLERANCE:
        return None
    if min(off(torch.rot90(ref, k, dims=(1, 2))) for k in (1, 3)) <= _PIXEL_TOLERANCE:
        return (
            f"{where} lies on its side: the phone's EXIF orientation was not applied.",
            "decode with flowerkit.load.decode_resized(path, size), which turns each photo upright",
        )
    if off(_squashed(path, size).float()) <= _PIXEL_TOLERANCE:
        return (
            f"{where} is the whole photo squashed to a square: its shapes are distorted.",
            "resize the short side, then crop the centre: flowerkit.load.decode_resized(path, size) does both",
        )
    return (
        f"{where} differs from the photo as decode_resized shows it by {255 * off(ref):.0f} levels on average.",
        "decode with flowerkit.load.decode_resized(path, size)",
    )


def _init_raised_hint(error: str, first_bad: str) -> str:
    """The hint when building the student's dataset raised ``error`` (``first_bad``: a bad file of that folder)."""
    if "DecompressionBombError" in error:
        return (
            "PIL refuses a file whose header claims more than twice Image.MAX_IMAGE_PIXELS (about 179 million pixels: "
            "a giant panorama, or a few bytes planted to exhaust memory; above MAX_IMAGE_PIXELS alone it only warns) "
            "with Image.DecompressionBombError, which is not an OSError: it stops an epoch too, so skip it with its "
            "reason"
        )
    return (
        f"try each file in __init__ (e.g. {first_bad}) and record the ones that fail: load.decode_resized raises "
        "FileNotFoundError (missing) and flowerkit.access.FlowersFormatError, a ValueError (empty, cut off, not an "
        "image, too many pixels); PIL alone raises OSError"
    )


def check_visitor_dataset(cls: Any, handover: VisitorSet, size: int) -> Verdict:
    """Notebook ``08_your_own_data``: ``cls(folder, rows, size)`` keeps the rows whose files decode and reports the others.

    ``rows`` are (file name, label) pairs; the dataset keeps ``files``, ``labels``, ``skipped`` ((file, reason)
    pairs) and gives (uint8 (3, size, size) tensor, label) items. Tried on the garden's uploads, then on a new
    folder with other kinds of bad files.
    """
    if _unanswered(cls) or not isinstance(cls, type):
        return _verdict(False, "no class yet: it is still the stub.", "write class VisitorPhotos(Dataset) in the cell above")
    rows = [(r.file.name, r.label) for r in read_rows(handover.csv) if r.label is not None]
    bad = {u.file for u in handover.truth if u.problem and u.label is not None}
    with tempfile.TemporaryDirectory() as tmp:
        new_rows, new_bad = _new_case_files(Path(tmp))
        for folder, rs, bd, where in (
            (handover.uploads, rows, bad, "the garden's uploads"),
            (Path(tmp), new_rows, new_bad, "a new folder"),
        ):
            ds, error, _ = _call_without(_curate, "LabelledImages", cls, folder, rs, size)  # called or subclassed
            rebuilt = _rebuilt(error, "LabelledImages", "subclass torch.utils.data.Dataset and check each file yourself")
            if rebuilt is not None:
                return rebuilt
            if error:
                return _verdict(False, f"on {where}: {error}", _init_raised_hint(error, sorted(bd)[0]))
            if not any(hasattr(ds, a) for a in ("files", "labels", "skipped")):
                return _verdict(False, "your class sets none of files, labels and skipped: it is still the stub.", STUB_HINT)
            problem = _dataset_problem(ds, folder, rs, bd, size, where)
            if problem:
                message, hint = problem
                return _verdict(False, message, hint)
            if folder == handover.uploads:
                yours = ds
    return _verdict(
        True,
        f"{len(rows) - len(bad)} photos kept, {len(bad)} unusable files reported by name and reason, on the garden's "
        "folder and on a new one: the loader can run a whole epoch without meeting a bad file. "
        + _agreement_with_labelled_images(yours, handover, rows, size),
    )


def _agreement_with_labelled_images(yours: Any, handover: VisitorSet, rows: Sequence[tuple[str, int]], size: int) -> str:
    """Where the student's dataset and ``curate.LabelledImages`` agree on the garden's folder (a sentence)."""
    ref = LabelledImages([handover.uploads / name for name, _ in rows], [label for _, label in rows], size)
    same_kept = sorted(_names(yours.files)) == sorted(_names(ref.image_files))
    same_skipped = sorted(_names(yours.skipped)) == sorted(_names(ref.skipped))
    where, kept = {name: i for i, name in enumerate(_names(ref.image_files))}, _names(yours.files)
    positions = sorted({0, len(yours) // 2, len(yours) - 1})
    same_pixels = same_kept and all(  # compared where the same files are kept: a file flowerkit skipped has no item
        torch.equal(torch.as_tensor(yours[i][0]), ref[where[kept[i]]][0]) for i in positions
    )
    if same_kept and same_skipped and same_pixels:
        return (
            f"flowerkit's curate.LabelledImages keeps the same {len(ref)} files, skips the same {len(ref.skipped)} "
            f"by name, and gives the same pixels (items {', '.join(map(str, positions))} compared)."
        )
    parts = [
        what
        for what, same in (("the files it keeps", same_kept), ("the files it skips", same_skipped), ("the pixels", same_pixels))
        if not same
    ]
    return f"flowerkit's curate.LabelledImages differs from yours in {' and '.join(parts)}: compare the two."


# ------------------------------------------------------------------ exercise 3: how much a random split leaks


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _prefix_leaks(files: Sequence[Path], train: Sequence[int], test: Sequence[int], head: int = 4096) -> int:
    """The held-out positions whose file starts as a training file does (its first ``head`` bytes): a shortcut's count."""
    start = [Path(f).read_bytes()[:head] for f in files]
    seen = {start[i] for i in train}
    return sum(start[i] in seen for i in test)


def _leak_counts(
    files: Sequence[Path], train: Sequence[int], test: Sequence[int]
) -> tuple[int, tuple[tuple[int, str, str], ...]]:
    """The leak's true count, and what each plausible wrong method counts: (count, what it counts, hint), first speaks."""
    content = [_sha(Path(f)) for f in files]
    in_train = {content[i] for i in train}
    prefix = (
        _prefix_leaks(files, train, test),
        "that is what the first bytes of each file say; two photos can start alike (the same camera's header) and differ later.",
        "compare each file's bytes whole: a hash of all of them",
    )
    return sum(content[i] in in_train for i in test), (*_miscounts(files, content, train, test), prefix)


def _miscounts(
    files: Sequence[Path], content: Sequence[str], train: Sequence[int], test: Sequence[int]
) -> tuple[tuple[int, str, str], ...]:
    """What each plausible wrong method of counting the leak counts: (count, what it counts, hint), first speaks."""
    in_train, in_test = {content[i] for i in train}, {content[i] for i in test}
    copies = Counter(content)  # digest -> files holding those bytes
    by_name = len({Path(files[i]).name for i in test} & {Path(files[i]).name for i in train})
    return (
        (
            by_name,
            "that is what the file names say; every upload has a name of its own.",
            "compare the files' bytes (a hash of them), not their names",
        ),
        (
            len(content) - len(copies),
            "that is how many files in the whole set are byte-identical copies of another, wherever they fell.",
            "count only the held-out positions whose bytes also appear at a training position",
        ),
        (
            sum(copies[content[i]] > 1 for i in test),
            "that counts held-out photos with a copy anywhere, the copies that fell in the held-out part too.",
            "a copy that is also held out does no harm: look for the bytes at training positions only",
        ),
        (
            sum(copies[content[i]] for i in test if content[i] in in_train),
            "that counts every copy of each leaked photo, the training side's too.",
            "count held-out positions only",
        ),
        (
            len({content[i] for i in test} & in_train),
            "that counts each leaked photo once; a photo held out twice under two names is two held-out positions the "
            "model has seen (here one training photo has two copies in test).",
            "the question is how many positions of test leak, not how many distinct photos: a set merges the copies",
        ),
        (
            sum(content[i] in in_test for i in train),
            "that counts training positions whose bytes are held out; the question is about held-out positions.",
            "count the positions of test whose bytes appear at a training position",
        ),
        (
            sum(content[i] == content[j] for i in test for j in train),
            "that counts matching (held-out, training) pairs; a held-out photo with two copies in training is one "
            "leaked position, not two (here one has).",
            "for each held-out position, ask once whether its bytes are among training's: a set of training's digests",
        ),
    )  # the likelier slip first where two agree: a set (merges copies) before counting from the training side


def _leak_problem(
    count: Any, files: Sequence[Path], train: Sequence[int], test: Sequence[int]
) -> tuple[int, tuple[str, str] | None]:
    """(the true count, what is wrong with ``count`` as the count of held-out positions whose bytes are in training)."""
    truth, miscounts = _leak_counts(files, train, test)
    number = _whole_number(count)
    if number is None:
        return truth, (f"{count!r} is not a count.", "return a count of held-out positions, e.g. sum(...)")
    if number == truth:
        return truth, None
    matches = [(message, hint) for wrong, message, hint in miscounts if wrong == number]
    if len(matches) == 1:
        return truth, (f"{number}: {matches[0][0]}", matches[0][1])
    if matches:  # two methods give this number here: name each, the hint of the first
        return truth, (f"{number}: two methods give that here. " + " Or ".join(m for m, _ in matches), matches[0][1])
    return truth, (
        f"{number} is not what the files say.",
        "a held-out position leaks when its file's bytes are also at a training position: check your count by hand on "
        "a few positions of test",
    )


def _whole_number(value: Any) -> int | None:
    """``value`` as an int when it is a whole number of any kind (int, numpy integer, 0-d tensor, 5.0); else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (torch.Tensor, np.ndarray)):
        if value.ndim != 0 or value.dtype in (torch.bool, np.bool_):
            return None
        value = value.item()
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return None


def _new_leak_case(folder: Path) -> tuple[list[Path], list[int], list[int]]:
    """Photos the student has never seen (a third of them saved twice under other names), split 70/30 at random; then
    two more copies of one training photo, both held out (so counting distinct photos falls short of positions), two
    copies of a held-out photo put in training (one leak, two matching pairs), and two different photos whose files share their first 68,000 bytes (a long camera comment), one on each side."""
    files, _ = _new_split_case(folder)
    order = np.random.default_rng(8).permutation(len(files)).tolist()
    held = round(0.3 * len(files))
    train, test = sorted(order[held:]), sorted(order[:held])
    for name in ("resent_a.png", "resent_b.png"):
        (folder / name).write_bytes(files[train[0]].read_bytes())
        test.append(len(files))
        files.append(folder / name)
    for name in ("kept_a.png", "kept_b.png"):  # one held-out photo twice on the training side: one leak, two pairs
        (folder / name).write_bytes(files[test[0]].read_bytes())
        train.append(len(files))
        files.append(folder / name)
    comment = PngImagePlugin.PngInfo()
    comment.add_text("comment", "garden camera 7, " * 4000)  # written before the pixels: the files start alike
    rng = np.random.default_rng(9)
    for name, side in (("camera7_a.png", train), ("camera7_b.png", test)):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / name, pnginfo=comment)
        side.append(len(files))
        files.append(folder / name)
    return files, train, test


def _same_answer_on_nothing(count_leaks: Callable[..., Any], files: Sequence[Path], train: Sequence[int], count: Any) -> bool:
    """Whether ``count_leaks`` gives its nonzero ``count`` again with nothing held out: an answer that does not come
    from its arguments (the notebook's variables, or a number written in)."""
    try:
        again = count_leaks(files, train, [])
    except Exception:  # noqa: BLE001  (an empty test side may break a student's code: then this is not the sign)
        return False
    number = _whole_number(count)
    return number is not None and number != 0 and _whole_number(again) == number


def check_leak_count(count_leaks: Any, files: Sequence[Path], train: Sequence[int], test: Sequence[int]) -> Verdict:
    """Notebook ``08_your_own_data``: ``count_leaks(files, train, test)``, how many held-out positions hold a training photo.

    The student's hunt, before the flowerkit tools that answer it. Run on the garden's split, then on photos the
    student has never seen: each wrong count a reasonable method gives gets its own hint.
    """
    # The truth: the test positions whose bytes are in train. The wrong counts with their own hints: by file name,
    # every copy in the set, test photos with a copy anywhere, every position of a leaked pair.
    if _unanswered(count_leaks):
        return _verdict(False, "no answer yet: `count_leaks` should be your function.", "compare what is in the files")
    if not callable(count_leaks):
        return _verdict(
            False,
            f"{count_leaks!r} is not a function.",
            "write count_leaks(files, train, test): the checker runs it on these photos and on photos it makes itself",
        )
    with tempfile.TemporaryDirectory() as tmp:
        cases = [
            ("the garden's split", list(files), list(train), list(test)),
            ("photos you have not seen", *_new_leak_case(Path(tmp))),
        ]
        found = []
        for where, case_files, case_train, case_test in cases:
            count, ended = _answer(count_leaks, case_files, case_train, case_test, where=f"on {where}: ")
            if ended is not None:
                return ended
            truth, problem = _leak_problem(count, case_files, case_train, case_test)
            if problem and found and _same_answer_on_nothing(count_leaks, case_files, case_train, count):
                return _verdict(
                    False,
                    f"on {where}, {count}: the garden's count again, on other photos ({truth} of these leak).",
                    "count from the arguments files, train and test, not from the notebook's variables or a number read off them",
                )
            if problem:
                return _verdict(False, f"on {where}, {problem[0]}", problem[1])
            found.append((truth, len(case_test)))
    (truth, held), (new_truth, new_held) = found
    return _verdict(
        True,
        f"{truth} of {held} held-out photos ({truth / held:.0%}) are in training under another name: the model would be "
        f"tested on photos it learned, and the held-out score would flatter it. (On photos you had not seen: {new_truth} "
        f"of {new_held}, also right.)",
    )


# ------------------------------------------------------------------ exercise 4: a split without leakage


def _new_split_case(folder: Path) -> tuple[list[Path], list[int]]:
    """Four classes of small photos (12, 6, 3 and 2 distinct), a third of them saved again under another name, and one
    photo sent again labelled as another class (grouping copies class by class would split it)."""
    files, labels = [], []
    rng = np.random.default_rng(3)
    for label, n in enumerate((12, 6, 3, 2)):
        for k in range(n):
            path = folder / f"c{label}_{k}.png"
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path)
            files.append(path)
            labels.append(label)
            if k % 3 == 0:
                copy = folder / f"copy_of_c{label}_{k}.png"
                copy.write_bytes(path.read_bytes())
                files.append(copy)
                labels.append(label)
    relabelled = folder / "c0_0_relabelled.png"  # the same photo sent again under another species: one file, two labels
    relabelled.write_bytes(files[0].read_bytes())
    files.append(relabelled)
    labels.append(1)
    order = rng.permutation(len(files))
    return [files[i] for i in order], [labels[i] for i in order]


def _split_problem(
    result: Any, files: Sequence[Path], hashes: Sequence[str], labels: Sequence[int], fraction: float
) -> tuple[str, str] | None:
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return f"expected (train_positions, test_positions), got {type(result).__name__}.", "return two lists of positions"
    try:
        train, test = [int(i) for i in result[0]], [int(i) for i in result[1]]
    except (TypeError, ValueError):
        return "the two lists must hold positions (0, 1, 2, ...), not files or names.", "return positions into files"
    if sorted(train + test) != list(range(len(files))):
        return "every position must be in exactly one of the two lists.", "split the positions 0..len(files)-1"
    leaked = {hashes[i] for i in train} & {hashes[i] for i in test}
    if leaked:
        same = next(hashes[i] for i in train if hashes[i] in leaked)  # one photo, named on each side
        a = next(files[i].name for i in train if hashes[i] == same)
        b = next(files[i].name for i in test if hashes[i] == same)
        return (
            f"{a} (train) and {b} (test) are the same bytes.",
            "group identical files first (hashlib.sha256 of the bytes), then split the groups",
        )
    for c in sorted(set(labels)):
        distinct = {hashes[i] for i in range(len(files)) if labels[i] == c}
        n_test = len({hashes[i] for i in test if labels[i] == c})
        if len(distinct) >= 2 and (n_test == 0 or n_test == len(distinct)):
            side = "none in test" if n_test == 0 else "all in test"
            if n_test == round(fraction * len(distinct)):  # stratified, but a small class rounds to 0 or to all
                return (
                    f"class {c} has {len(distinct)} distinct photos and {side}: a class left with nothing held out, "
                    "or nothing in train, cannot be measured.",
                    "keep at least one group on each side: clamp round(test_fraction * groups) between 1 and groups - 1",
                )
            return (
                f"class {c} has {len(distinct)} distinct photos and {side}.",
                "split each class separately (stratify), keeping at least one photo on each side",
            )
        if len(distinct) >= 6 and abs(n_test / len(distinct) - fraction) > 0.2:
            return (
                f"class {c}: {n_test} of {len(distinct)} distinct photos in test, far from {fraction:.0%}.",
                "per class, round(test_fraction * groups) go to test",
            )
    return None


def check_split_without_leakage(func: Callable[..., Any], files: Sequence[Path], labels: Sequence[int]) -> Verdict:
    """Notebook ``08_your_own_data``: ``func(files, labels, test_fraction, seed)`` returns (train, test) positions, stratified by
    class, with byte-identical files on one side only and the same split for the same seed.

    Tried on the visitor photos, then on a new set of files with other duplicates and class sizes.
    """
    files = [Path(f) for f in files]
    with tempfile.TemporaryDirectory() as tmp:
        new_files, new_labels = _new_split_case(Path(tmp))
        new_hashes = [_sha(f) for f in new_files]  # the new case's files, read once for every fraction and seed
        cases = ((files, list(labels), 0.3, "the visitor photos"), (new_files, new_labels, 0.3, "a new set of files"))
        cases += ((new_files, new_labels, 0.1, "a new set of files at test_fraction=0.1"),)  # classes of 2 and 3 photos
        for fs, ys, fraction, where in cases:
            result, error, _ = _call_without(_curate, "split_by_content", func, fs, ys, fraction, 0)
            rebuilt = _rebuilt(error, "split_by_content", "group the positions by hash and split the groups yourself")
            if rebuilt is not None:
                return rebuilt
            if error:
                return _verdict(False, f"on {where}: {error}", RAISED_HINT)
            if _unanswered(result):
                return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
            hashes = new_hashes if fs is new_files else [_sha(f) for f in fs]  # each file read once: checks, agreement
            problem = _split_problem(result, fs, hashes, ys, fraction)
            if problem:
                return _verdict(False, f"on {where}: {problem[0]}", problem[1])
            again, _ = _call(func, fs, ys, fraction, 0)
            if again is None or [sorted(map(int, p)) for p in again] != [sorted(map(int, p)) for p in result]:
                return _verdict(False, f"on {where}: the same seed gave another split.", "draw with np.random.default_rng(seed)")
            if where == "the visitor photos":
                yours, visitor_hashes = [int(i) for i in result[1]], hashes
                other, _ = _call(func, fs, ys, 0.3, 1)
                if other is not None and sorted(map(int, other[1])) == sorted(yours):
                    return _verdict(
                        False,
                        f"on {where}: seed=1 holds out the same photos as seed=0: your split ignores its seed, so "
                        "every experiment would test on the same photos, and a lucky or unlucky split could never show.",
                        "shuffle the groups with a generator made from the seed: np.random.default_rng(seed)",
                    )
        seeds = _other_seeds_problem(func, new_files, new_hashes, new_labels)
        if seeds is not None:
            return seeds
    return _verdict(
        True,
        "no photo on both sides (identical bytes stay together), every class on both sides in about the asked "
        "proportion, and the same seed gives the same split. "
        + _agreement_with_split_by_content(yours, visitor_hashes, list(labels)),
    )


def _other_seeds_problem(
    func: Callable[..., Any], files: Sequence[Path], hashes: Sequence[str], labels: Sequence[int]
) -> Verdict | None:
    """The verdict when ``func`` leaks or unbalances the new set of files (``hashes``: their contents') at seeds 1..9,
    or None. Where a copy lands is a draw: a split that groups copies only within a class keeps the relabelled photo
    together at seed 0 by luck."""
    for seed in range(1, 10):
        result, error = _call(func, files, labels, 0.3, seed)
        if error:
            return _verdict(False, f"on a new set of files at seed={seed}: {error}", RAISED_HINT)
        problem = _split_problem(result, files, hashes, labels, 0.3)
        if problem:
            return _verdict(False, f"on a new set of files at seed={seed} (seed=0 was fine): {problem[0]}", problem[1])
    return None


def _agreement_with_split_by_content(test: Sequence[int], hashes: Sequence[str], labels: Sequence[int]) -> str:
    """How the student's held-out part compares with ``curate.split_by_content``'s on the same photos (a sentence)."""
    _, ref = split_by_content(hashes, labels, test_fraction=0.3, seed=0)
    per_class = Counter(labels[i] for i in {hashes[i]: i for i in test}.values())  # distinct photos, copies once
    ref_per_class = Counter(labels[i] for i in {hashes[i]: i for i in ref}.values())
    differ = sorted(c for c in set(labels) if per_class[c] != ref_per_class[c])
    if sorted(test) == sorted(ref):
        return f"flowerkit's curate.split_by_content, given the same hashes and seed, holds out the same {len(ref)} photos."
    head = f"flowerkit's curate.split_by_content holds out {len(ref)} of these {len(hashes)} photos against your {len(test)}"
    if not differ:
        return (
            f"{head}, the same number of distinct photos in every class, {len(set(test) & set(ref))} of them the same "
            "photos: which ones go depends on the shuffle, and any seeded shuffle is as fair."
        )
    return (
        f"{head}, a different number of distinct photos in {len(differ)} of {len(set(labels))} classes: it holds out "
        "round(test_fraction x distinct photos) of each class, at least one on each side when a class has two."
    )


# ------------------------------------------------------------------ exercise 5: sampler weights for two sources


def _weights_problem(w: Any, sources: Sequence[str], labels: Sequence[int], shares: dict[str, float]) -> tuple[str, str] | None:
    try:
        w = (
            torch.as_tensor(w, dtype=torch.float64).reshape(-1)
            if isinstance(w, (list, tuple, np.ndarray, torch.Tensor))
            else None
        )
    except (TypeError, ValueError, RuntimeError):  # None or text among the weights
        return "every weight must be a number.", "return a list or tensor of len(labels) numbers"
    if w is None or len(w) != len(labels):
        return f"expected one weight per item ({len(labels)}).", "return a list or tensor of len(labels) weights"
    if not torch.isfinite(w).all():
        return (
            f"{int((~torch.isfinite(w)).sum())} weights are not finite numbers (nan or inf): a sampler cannot draw with them.",
            "a division by zero? count only what is there: a source or class with no items needs no weight",
        )
    if (w < 0).any() or w.sum() <= 0:
        return "weights must be positive.", "a weight is a relative chance of being drawn"
    w = w / w.sum()
    total = sum(shares.values())
    for source, share in shares.items():
        got = float(sum(w[i] for i, s in enumerate(sources) if s == source))
        if abs(got - share / total) > 0.01:
            return (
                f"{source!r} items get {got:.0%} of the draws, expected {share / total:.0%}.",
                "scale each source's weights to sum to its share"
                if abs(total - 1) < 1e-9
                else f"these shares sum to {total:g}, not 1: a source's part of the draws is its share over their sum",
            )
        per_class = defaultdict(float)
        for i, s in enumerate(sources):
            if s == source:
                per_class[labels[i]] += float(w[i])
        never = sorted(c for c, v in per_class.items() if v == 0)
        if never:
            return (
                f"within {source!r}, class {never[0]} gets no draws: its photos all weigh 0.",
                "every class a source holds gets the same total weight, a class of one photo too",
            )
        values = list(per_class.values())
        if max(values) > 1.05 * min(values):
            big, small = max(per_class, key=per_class.get), min(per_class, key=per_class.get)
            return (
                f"within {source!r}, class {big} is drawn {per_class[big] / per_class[small]:.1f}x as often as class {small}.",
                "within a source, give every class the same total weight, whatever its number of photos",
            )
    return None


def check_visitor_weights(func: Callable[..., Any], sources: Sequence[str], labels: Sequence[int]) -> Verdict:
    """Notebook ``08_your_own_data``: ``func(sources, labels, shares)`` gives one sampler weight per item: each source its share
    of the draws, and every class within a source equally often.

    Tried on Oxford + visitors with shares 1:1, then 3:1 (shares that do not sum to 1), then on three sources with
    other class sizes.
    """
    rng = np.random.default_rng(5)
    new_sources = ["garden"] * 30 + ["kiosk"] * 9 + ["herbarium"] * 12
    new_labels = rng.integers(0, 4, 30).tolist() + [7, 7, 7, 7, 7, 7, 8, 9, 9] + [1] * 10 + [2, 3]
    cases = [
        (list(sources), list(labels), {"oxford": 0.5, "visitors": 0.5}, "Oxford + visitors"),
        (list(sources), list(labels), {"oxford": 3, "visitors": 1}, "Oxford + visitors, shares 3 and 1 (not summing to 1)"),
        (new_sources, new_labels, {"garden": 0.6, "kiosk": 0.3, "herbarium": 0.1}, "three new sources"),
    ]
    agree = True
    for srcs, ys, shares, where in cases:
        w, ended = _answer_without(
            ((_curate, "mixing_weights"),), "count the items yourself", func, srcs, ys, shares, where=where
        )
        if ended is not None:
            return ended
        problem = _weights_problem(w, srcs, ys, shares)
        if problem:
            return _verdict(False, f"on {where}: {problem[0]}", problem[1])
        mine, ref = torch.as_tensor(w, dtype=torch.float64), mixing_weights(srcs, ys, shares).double()
        agree = agree and torch.allclose(mine / mine.sum(), ref / ref.sum())
    return _verdict(
        True,
        "every source gets its share of the draws, and within a source every class the same part, however few its photos. "
        + (
            "flowerkit's curate.mixing_weights gives the same weights, item by item (up to scale)."
            if agree
            else "Yours differ from flowerkit's curate.mixing_weights item by item: it gives every item of a class the "
            "same weight, yours share each class's part out unevenly."
        ),
    )


# ------------------------------------------------------------------ exercise 6: batches by aspect ratio


def _random_batches(n: int, batch_size: int) -> list[list[int]]:
    order = np.random.default_rng(0).permutation(n).tolist()
    return [order[k : k + batch_size] for k in range(0, n, batch_size)]


def _as_batches(answer: Any, n: int, batch_size: int) -> list[list[int]] | None:
    """``answer`` (any iterable of iterables of whole numbers) as lists of ints, read no further than an answer of
    ``n`` positions needs (a batch past ``batch_size`` is cut there, and fails the size check); None if it is not one."""
    try:
        batches = []
        for batch in itertools.islice(iter(answer), n + 1):
            positions = [_whole_number(i) for i in itertools.islice(iter(batch), batch_size + 1)]
            if None in positions:
                return None
            batches.append(positions)
        return batches
    except Exception:  # noqa: BLE001  (not iterable, or the student's generator raised: not a list of batches)
        return None


def _checked_batches(answer: Any, n: int, where: str, batch_size: int = 16) -> tuple[list[list[int]], Verdict | None]:
    """``answer`` as batches of 1..batch_size of ``n`` positions, nearly all full; or the verdict on what is wrong."""
    batches = _as_batches(answer, n, batch_size)
    if batches is None:
        return [], _verdict(
            False,
            f"on {where}: expected a list of batches (lists of positions), got {type(answer).__name__}.",
            "return a list with one list of int positions per batch",
        )
    flat = [i for b in batches for i in b]
    if any(len(b) > batch_size for b in batches):
        return [], _verdict(
            False,
            f"on {where}: a batch of more than {batch_size} positions.",
            "cut batches of at most batch_size, the argument, not a number of your own",
        )
    if sorted(flat) != list(range(n)) or any(len(b) > batch_size or len(b) == 0 for b in batches):
        return [], _verdict(
            False,
            f"on {where}: every position must be in exactly one batch of 1..{batch_size}.",
            "cut a list of all positions into pieces",
        )
    full = -(-n // batch_size)  # the fewest batches of at most batch_size
    if len(batches) > full + 4:
        return [], _verdict(
            False,
            f"on {where}: {len(batches)} batches where {full} of {batch_size} would do: a small batch pads little, but "
            "the epoch takes more steps and each is noisier.",
            "fill each batch to batch_size (a few short ones are fine); pad less by choosing which photos go together",
        )
    return batches, None


def check_buckets(func: Callable[..., Any], sizes: Sequence[tuple[int, int]], size: int) -> Verdict:
    """Notebook ``08_your_own_data``: ``func(sizes, batch_size)`` returns batches (lists of positions), nearly all full, that,
    padded to their greatest height and width, waste little: compared with a reference batching and with random batches.

    Tried on the visitor photos' sizes, then on made-up sizes.
    """
    # The reference: flowerkit's sampler, one epoch (positions sorted by aspect bucket, cut into batches); an answer may
    # pad up to 1.5x what it pads.
    rng = np.random.default_rng(6)
    made_up = [(int(w), int(h)) for w, h in zip(rng.integers(100, 4000, 150), rng.integers(100, 4000, 150))]
    for sz, where, batch_size in (
        (list(sizes), "the visitor photos", 16),
        (made_up, "made-up sizes", 10),  # another batch size: the argument, not 16 typed in
        (made_up, "made-up sizes", 16),
    ):
        answer, ended = _answer_without(
            ((_curate, "BucketBatchSampler"),), "choose the batches yourself", func, sz, batch_size, where=where
        )
        if ended is not None:
            return ended
        batches, ended = _checked_batches(answer, len(sz), f"{where}, batch_size={batch_size}", batch_size)
        if ended is not None:
            return ended
        waste = padded_share(batches, sz, size)
        buckets = list(BucketBatchSampler(sz, batch_size))
        best = padded_share(buckets, sz, size)
        rand = padded_share(_random_batches(len(sz), batch_size), sz, size)
        if waste > 1.5 * best + 0.02:
            return _verdict(
                False,
                f"on {where}: {waste:.0%} of the padded pixels are padding (random batches: {rand:.0%}; well-chosen "
                f"batches pad about {best:.0%}).",
                "padding comes from photos of different shapes in one batch: which photos should share a batch?",
            )
    return _verdict(
        True,
        f"padding is {waste:.0%} of the pixels on made-up sizes, against {rand:.0%} with random batches; flowerkit's "
        f"curate.BucketBatchSampler pads {best:.0%} on the same sizes.",
    )


# ------------------------------------------------------------------ exercise 7: a collate_fn that pads

_Item = tuple[torch.Tensor, Any]


def _pad_cases(batch: Sequence[_Item]) -> list[tuple[str, list[_Item]]]:
    """(where, items): the student's bucket, three made-up photos whose widest is not the tallest, one photo alone."""
    g = torch.Generator().manual_seed(7)

    def photo(h: int, w: int) -> torch.Tensor:  # no zero pixel, so padding is told from the photo
        return torch.randint(1, 256, (3, h, w), generator=g, dtype=torch.uint8)

    made_up = [(photo(5, 7), 4), (photo(9, 4), np.int64(0)), (photo(2, 3), torch.tensor(9))]
    return [
        ("the batch of visitor photos", [(x.clone(), y) for x, y in batch]),
        ("three made-up photos, 5x7, 9x4 and 2x3 (height x width)", made_up),
        ("a batch of one photo", [(photo(6, 6), 2)]),
    ]


# The two pads' orders differ: a student may use either
_PAD_ORDERS = (
    "torch.nn.functional.pad lists the last dimension first, (left, right, top, bottom); torchvision's "
    "transforms.functional.pad takes [left, top, right, bottom]"
)


def _placed(images: torch.Tensor, items: Sequence[_Item]) -> tuple[str, str] | None:
    """(problem, hint) when the photos are not each at the top left of their slot, unchanged; else None."""
    for k, (x, _) in enumerate(items):
        h, w = x.shape[1:]
        if torch.equal(images[k, :, :h, :w], x):
            continue
        at = next(
            ((r, c) for r in range(images.shape[2] - h + 1) for c in range(images.shape[3] - w + 1)
             if torch.equal(images[k, :, r : r + h, c : c + w], x)),
            None,
        )  # fmt: skip
        outside = images[k].clone()
        if at is not None:
            outside[:, at[0] : at[0] + h, at[1] : at[1] + w] = 0
        if at is not None and outside.any():  # the rest of the slot holds pixels: stretched, not padded
            at = None
        if at is not None:
            return (
                f"photo {k} sits at row {at[0]}, column {at[1]} of its padded slot, not at the top left.",
                f"pad on the bottom and right only ({_PAD_ORDERS}); then pixel (row, col) of a photo keeps its "
                "coordinates in the batch",
            )
        if any(torch.equal(images[j, :, :h, :w], x) for j in range(len(items))):
            return f"photo {k} is not in slot {k}.", "keep the batch's order: images[k] and labels[k] come from item k"
        return (
            f"photo {k}'s pixels changed: no {h}x{w} window of its slot is the photo.",
            "padding adds pixels around a photo; it does not resize, rescale or reorder its channels",
        )
    return None


def _pad_problem(answer: Any, items: Sequence[_Item]) -> tuple[str, str] | None:
    """(problem, hint) for a padded batch that differs from :func:`flowerkit.curate.pad_collate`'s, or None."""
    truth_images, truth_labels = pad_collate(items)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return (
            f"expected (images, labels), got {type(answer).__name__}.",
            "return two things: a tensor of images, a tensor of labels",
        )
    images, labels = answer
    if not isinstance(images, torch.Tensor):
        return f"images is a {type(images).__name__}, not a tensor.", "torch.stack the padded photos into one tensor"
    if images.shape != truth_images.shape:
        b, c, h, w = truth_images.shape
        if images.ndim == 4 and sorted(images.shape) == sorted(truth_images.shape) and images.shape[1] != c:
            return (
                f"images are {tuple(images.shape)}, expected {(b, c, h, w)}: the axes are in another order.",
                "the items are already (3, h, w), channels first: pad and stack them as they are, no permute",
            )
        if images.shape == (b, c, w, h):
            hint = _PAD_ORDERS
            return f"images are {tuple(images.shape)}, expected {(b, c, h, w)}: height and width swapped.", hint
        return (
            f"images are {tuple(images.shape)}, expected {(b, c, h, w)}: the batch's tallest photo is {h} high, its "
            f"widest {w} wide.",
            "pad every photo to the largest height and the largest width in the batch (often two different photos)",
        )
    if images.dtype != torch.uint8:
        return f"images are {images.dtype}, the photos uint8.", (
            "keep the photos' dtype: scaling and normalising are a later step (load.CollateNormalize in notebook 03)"
        )
    placed = _placed(images, items)
    if placed:
        return placed
    if not torch.equal(images, truth_images):
        filler = images[truth_images != images].unique()[:3].tolist()
        return f"the padding holds {filler}, not zeros.", "pad with zeros (torch.zeros, or F.pad's default value)"
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.shape != truth_labels.shape:
        what = f"{labels.dtype} {tuple(labels.shape)}" if isinstance(labels, torch.Tensor) else type(labels).__name__
        return f"labels are {what}; expected an int64 tensor of {len(items)}.", (
            "one int64 tensor of shape (B,), built from each item's label (an int, a NumPy integer or a 0-d tensor): "
            "cross-entropy wants int64 class indices"
        )
    if not torch.equal(labels, truth_labels):
        return f"labels are {labels.tolist()}, expected {truth_labels.tolist()}.", "labels[k] is item k's label"
    return None


_UNEQUAL_HINT = f"every photo must reach the same (3, H, W) before torch.stack; print each padded shape. {_PAD_ORDERS}"


def check_pad_collate(func: Callable[..., Any], batch: Sequence[_Item]) -> Verdict:
    """Notebook ``08_your_own_data``: ``func(batch)`` collates (uint8 image, label) items of any sizes into uint8
    (B, 3, H, W) images, each zero-padded on the bottom and right to the batch's largest height and width, and int64 labels.

    Compared with :func:`flowerkit.curate.pad_collate` (which the student's code may not call). Tried on ``batch``
    (the notebook's visitor photos), then on cases of its own.
    """
    # The cases: three made-up photos, then a batch of one. The mistakes _pad_problem and _placed name: height and
    # width swapped in F.pad, a photo centred or padded before it, padding to the largest photo instead of the
    # greatest height and width, a dtype changed, labels left a list.
    if _unanswered(func) or not callable(func):
        return _verdict(False, "no answer yet: `pad_collate` should be your function.", STUB_HINT)
    for where, items in _pad_cases(batch):
        answer, error, flowerkit_version = _call_without(_curate, "pad_collate", func, [(x.clone(), y) for x, y in items])
        if flowerkit_version:
            return _verdict(
                False,
                "pad_collate calls flowerkit's curate.pad_collate, the version this exercise builds.",
                "pad and stack the photos yourself, with torch (torch.zeros and slicing, or torch.nn.functional.pad)",
            )
        if error:
            unequal = "stack expects each tensor to be equal size" in error
            return _verdict(False, f"on {where}: {error}", _UNEQUAL_HINT if unequal else RAISED_HINT)
        if _unanswered(answer):
            return _verdict(False, "pad_collate returns None: it is still the stub.", STUB_HINT)
        problem = _pad_problem(answer, items)
        if problem:
            return _verdict(False, f"on {where}: {problem[0]}", problem[1])
    images, _ = pad_collate(list(batch))
    return _verdict(
        True,
        f"on the batch of visitor photos yours gives the same batch as flowerkit's curate.pad_collate, uint8 {tuple(images.shape)}, "
        "and the same on made-up photos of other shapes. Its padding is zeros on the bottom and right, so each photo's "
        "pixels keep their coordinates.",
    )


# ------------------------------------------------------------------ exercise 8: a volunteer's loader, fixed


class _VolunteerPhotos(Dataset):
    """A volunteer's Dataset over the garden's CSV: rows kept as dicts, labels in no attribute the doctor knows."""

    def __init__(self, handover: VisitorSet, size: int) -> None:
        rows = [r for r in read_rows(handover.csv) if r.label is not None]
        good = LabelledImages([r.file for r in rows], [r.label for r in rows], size)  # the bad files left out
        table = [{"path": str(f), "species_id": y} for f, y in zip(good.image_files, good.labels)]
        self._table = sorted(table, key=lambda r: r["species_id"])  # "tidy": the CSV sorted by species
        self._size = size

    def __len__(self) -> int:
        return len(self._table)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        row = self._table[i]
        return decode_resized(row["path"], self._size), row["species_id"]


class _SortedRows(Dataset):
    """The checker's new case: tiny uint8 images of 12 classes, rows sorted by class, labels kept in dicts as well."""

    def __init__(self, per_class: Sequence[int]) -> None:
        self._table = [{"species_id": c} for c, n in enumerate(per_class) for _ in range(n)]

    def __len__(self) -> int:
        return len(self._table)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.full((3, 4, 4), i % 256, dtype=torch.uint8), self._table[i]["species_id"]


_HELD_BACK = 5  # the volunteer trains on all but one photo in _HELD_BACK (the checker's new case too)


def volunteer_loader(handover: VisitorSet, size: int, normalise: CollateNormalize | None = None) -> DataLoader:
    """Notebook ``08_your_own_data``, exercise 8: a volunteer's training loader over the visitor photos. It has one problem.

    Find it from what the loader delivers, not by reading this code. ``normalise`` is the collate_fn the volunteer
    uses: notebook 08 passes the app's (notebook 05's statistics, as its fine-tunes use); None, statistics of the
    volunteer's own.
    """
    photos = _VolunteerPhotos(handover, size)
    if normalise is None:
        x = torch.stack([photos[i][0] for i in range(0, len(photos), max(1, len(photos) // 64))]).float().div_(255)
        normalise = CollateNormalize(x.mean((0, 2, 3)).tolist(), x.std((0, 2, 3)).tolist())
    # the volunteer's code as written, without notes: volunteer_loader?? must not annotate what exercise 8 finds
    order = torch.randperm(len(photos), generator=torch.Generator().manual_seed(0)).tolist()
    kept = order[: len(order) - len(order) // _HELD_BACK]
    return DataLoader(photos, batch_size=32, sampler=kept, collate_fn=normalise)


def _epoch(loader: DataLoader, epoch: int | None = None) -> list[list[int]]:
    """One epoch's batches of dataset positions, as the loader would draw them (no item is loaded).

    ``epoch`` is not told to a sampler that has ``set_epoch`` (notebook 06's): the loop 08 trains with,
    :func:`flowerkit.model.train`, never calls it, so such a sampler repeats its order there.
    """
    return _as_photos(loader, [[int(i) for i in batch] for batch in loader.batch_sampler])


def _as_photos(loader: DataLoader, batches: list[list[int]]) -> list[list[int]]:
    """``batches`` of positions drawn by ``loader``'s sampler as positions in the dataset it wraps: a Subset's positions
    are places in its list, and the photos are what it lists."""
    if isinstance(loader.dataset, Subset):
        picks = loader.dataset.indices
        return [[int(picks[i]) for i in batch] for batch in batches]
    return batches


#: How many epochs of a repair the checker draws: a sampler that takes its orders in turn from two or three fixed ones
#: repeats one within four epochs.
_EPOCHS_DRAWN = 4


def _drawn(loader: DataLoader) -> list[list[list[int]]]:
    """The batches of positions of :data:`_EPOCHS_DRAWN` epochs in a row, each epoch drawn once (no item is loaded)."""
    return [[[int(i) for i in batch] for batch in loader.batch_sampler] for _ in range(_EPOCHS_DRAWN)]


def _flat(batches: Sequence[Sequence[int]]) -> list[int]:
    """The positions of an epoch's batches, in order."""
    return [i for batch in batches for i in batch]


def _same_species_share(order: Sequence[int], labels: Sequence[int]) -> float:
    """How often two photos in a row share a species: near 1 for rows sorted by species, near sum(p^2) shuffled."""
    pairs = list(zip(order, order[1:]))
    return sum(labels[a] == labels[b] for a, b in pairs) / max(len(pairs), 1)


def _shared_batches(loader: DataLoader) -> tuple[int, int]:
    """How many of the batches of epoch 0 come again (the same photos together) in epoch 1, and how many there are."""
    first, second = _epoch(loader, 0), _epoch(loader, 1)
    return len({frozenset(b) for b in first} & {frozenset(b) for b in second}), len(first)


def _repeat_problem(fixed: DataLoader, theirs: DataLoader, epochs: list[list[list[int]]], where: str) -> tuple[str, str] | None:
    """The message and hint for a repair whose epoch 1 visits the photos in epoch 0's order; None if it differs."""
    order = _flat(epochs[0])
    if _flat(epochs[1]) != order:
        return None
    sampler = getattr(fixed.batch_sampler, "sampler", fixed.sampler)
    if sampler is theirs.sampler:  # their loader, or their sampler kept
        return (
            f"on {where}: your loader delivers what theirs does, batch for batch: the problem is still there.",
            "look at their first batch in two epochs (iter(loader) twice): what changes from one epoch to the next?",
        )
    if isinstance(sampler, (list, tuple, range, np.ndarray, torch.Tensor)):
        return (
            f"on {where}: a list of positions as sampler is one order, drawn when the loader is built: every epoch "
            "visits the photos in the same order, with the same batches.",
            "a sampler that draws a new order of their positions each time it is iterated (torch.utils.data has one "
            "that takes a list of positions; a seeded generator keeps runs repeatable)",
        )
    if isinstance(sampler, SequentialSampler):
        return (
            f"on {where}: with neither a sampler nor shuffle=True, a DataLoader visits the rows in one order, every "
            "epoch the same, so every epoch has the same batches.",
            "a sampler that draws a new order each time it is iterated (shuffle=True is one)",
        )
    if hasattr(sampler, "set_epoch"):
        return (
            f"on {where}: your sampler draws a new order only when a loop calls its set_epoch, and the loop that "
            "fine-tunes on this loader (model.train, a plain loop) never does: every epoch "
            "repeats one order.",
            "a DistributedSampler is for several processes (notebook 06); here a sampler that draws a new order of "
            "their positions each time it is iterated, from one seeded generator",
        )
    alike = "every epoch, so every epoch has" if all(_flat(e) == order for e in epochs) else "in epochs 0 and 1, so they have"
    return (
        f"on {where}: your sampler draws the same order {alike} the same batches.",
        "a generator created or seeded inside __iter__ starts again from its seed each epoch: seed one generator once, "
        "when the loader is built, and let the sampler draw from it",
    )


def _positions_problem(
    fixed: DataLoader, first: list[list[int]], theirs: list[list[int]], batch_size: int, n: int, where: str
) -> tuple[str, str] | None:
    """What is wrong with the photos and batches of a repair's epoch ``first``, against their epoch ``theirs``."""
    trained = sorted(_flat(theirs))  # the photos their sampler trains on: all but the ones they hold back
    if getattr(fixed, "drop_last", False) and fixed.batch_size == batch_size and len(trained) % batch_size:
        return (
            f"on {where}: drop_last=True leaves {len(trained) % batch_size} photos out of every epoch.",
            "keep every photo they train on, as theirs does: drop_last=False",
        )
    order = _flat(first)
    outside = set(order) - set(trained)
    if outside and sorted(order) == list(range(len(trained))):
        return (
            f"on {where}: an epoch draws positions 0 to {len(trained) - 1}: the places in their list, not the photos "
            "it lists (a sampler given a list draws indices into it, as a DataLoader does into a dataset).",
            "a sampler that yields the items of their list, in a new order each epoch",
        )
    if outside:
        return (
            f"on {where}: an epoch draws {len(outside)} photos that their sampler never draws. They train on "
            f"{len(trained)} of the dataset's {n} photos and keep the others back: that is theirs to keep.",
            "look at what their sampler holds (len(loader.sampler), len(loader.dataset)): keep to those photos",
        )
    if any(len(b) != batch_size for b in first[:-1]) or len(first) != len(theirs):
        return f"on {where}: batches of another size. Theirs, {batch_size}, are fine.", "loader.batch_size"
    if sorted(order) != trained:
        return (
            f"on {where}: an epoch draws {len(order)} photos, {len(set(order))} of the {len(trained)} different ones "
            "they train on.",
            "an epoch should visit each of their photos once: draw without replacement",
        )
    return None


def _drawn_epochs(fixed: DataLoader, where: str) -> tuple[list[list[list[int]]], tuple[str, str] | None]:
    """A repair's epochs, each drawn once (epoch k: the k-th time a loop iterates the loader), as batches of dataset
    positions; or the problem that stopped the drawing."""
    raw, error = _call(_drawn, fixed)
    if error:
        return [], (
            f"on {where}: drawing an epoch's batches failed: {error}",
            "a sampler's __iter__ yields dataset positions one by one (yield, or return iter(a list)); run "
            "list(your_loader.batch_sampler) in a new cell for the traceback",
        )
    if isinstance(fixed.dataset, Subset):
        drawn = [i for batches in raw for i in _flat(batches)]
        if drawn and max(drawn) >= len(fixed.dataset):
            return [], (
                f"on {where}: your sampler draws position {max(drawn)} from a Subset of {len(fixed.dataset)}: a Subset's "
                "positions are places in its list (0 to len - 1), and your sampler draws the dataset's.",
                "over a Subset of their photos, shuffle=True; or keep loader.dataset and a sampler of their positions",
            )
    return [_as_photos(fixed, batches) for batches in raw], None


def _fix_problem(fixed: Any, theirs: DataLoader, labels: Sequence[int], where: str) -> tuple[str, str] | None:
    """What is wrong with ``fixed`` as a repair of ``theirs`` (labels: the checker's own copy); None if nothing."""
    if not isinstance(fixed, DataLoader):
        return f"on {where}: your function returned a {type(fixed).__name__}, not a DataLoader.", "return DataLoader(...)"
    kept = fixed.dataset.dataset if isinstance(fixed.dataset, Subset) else fixed.dataset  # a Subset of theirs keeps it
    if kept is not theirs.dataset:
        return f"on {where}: a new dataset. Theirs decodes and labels the photos well: keep it.", "loader.dataset"
    if fixed.collate_fn is not theirs.collate_fn and not isinstance(theirs.collate_fn, CollateNormalize):  # the toy
        return f"on {where}: another collate_fn. Theirs makes each batch as it should: keep it.", "loader.collate_fn"
    if fixed.collate_fn is not theirs.collate_fn:
        return (
            f"on {where}: another collate_fn. Theirs normalises with the app's statistics, which the model and the "
            "fine-tunes above use: keep it.",
            "loader.collate_fn",
        )
    if fixed.batch_sampler is None:
        return (
            f"on {where}: batch_size=None, so the loader hands over one photo at a time, not batches.",
            f"keep their batches: batch_size={theirs.batch_size}",
        )
    epochs, problem = _drawn_epochs(fixed, where)
    if problem:
        return problem
    first = epochs[0]
    problem = _positions_problem(fixed, first, _epoch(theirs), theirs.batch_size, len(labels), where)
    if problem:
        return problem
    order = _flat(first)
    counts = np.bincount(np.asarray(labels))
    expected = float(((counts / counts.sum()) ** 2).sum())  # two random photos share a species this often
    share = _same_species_share(order, labels)
    if share > 2 * expected + 0.1:
        return (
            f"on {where}: two photos in a row share a species {share:.0%} of the time (in a random order about "
            f"{expected:.0%}): each batch holds one or two species.",
            "with neither a sampler nor shuffle=True, a DataLoader visits the rows in the dataset's own order, and "
            "their rows are sorted by species",
        )
    return _repeat_problem(fixed, theirs, epochs, where) or _regrouped_problem(epochs, where)


def _regrouped_problem(epochs: list[list[list[int]]], where: str) -> tuple[str, str] | None:
    """What is wrong with the epochs of a repair whose epoch 0 is right and epoch 1 another order: one of them empty, or
    two alike (the same order, the same groups, the same neighbours), the first such pair named."""
    new_order = "draw a new order of their photos each epoch, then cut it into batches"
    empty = next((k for k, batches in enumerate(epochs) if not batches), None)
    if empty is not None:
        return (
            f"on {where}: epoch {empty} is empty: your sampler can be iterated only once (a generator, or an iterator).",
            "a Sampler's __iter__ is called again each epoch: return a fresh iterator every time",
        )
    pairs = list(itertools.combinations(range(len(epochs)), 2))  # (0, 1), (0, 2), (0, 3), (1, 2), ...
    again = next(((a, b) for a, b in pairs if _flat(epochs[a]) == _flat(epochs[b])), None)
    if again is not None:
        return (
            f"on {where}: epochs {again[0]} and {again[1]} visit the photos in the same order, batch for batch (of the "
            f"{len(epochs)} epochs drawn, 0 to {len(epochs) - 1}): your sampler comes back to an order it drew before.",
            "draw each epoch's order from one generator, seeded once when the loader is built, and let it run on: "
            "orders taken in turn from a few fixed ones come round again",
        )
    for a, b in pairs:
        shared = len({frozenset(x) for x in epochs[a]} & {frozenset(x) for x in epochs[b]})
        if shared > len(epochs[a]) // 2:
            return (
                f"on {where}: epochs {a} and {b} share {shared} of their {len(epochs[a])} batches, in another order: the "
                "network meets the same groups of photos again.",
                new_order,
            )
    for a, b in pairs:
        order, later = _flat(epochs[a]), _flat(epochs[b])
        neighbours = {frozenset(p) for p in zip(order, order[1:])}  # either way round: a reversed order keeps them
        kept = len(neighbours & {frozenset(p) for p in zip(later, later[1:])})
        if kept > len(neighbours) // 2:
            return (
                f"on {where}: {kept} of the {len(neighbours)} neighbouring pairs of epoch {a} are neighbours again in "
                f"epoch {b}: the order moved, it was not drawn anew.",
                new_order,
            )
    return None


def check_volunteer_fix(func: Callable[[DataLoader], Any], volunteer: DataLoader) -> Verdict:
    """Notebook ``08_your_own_data``: ``func(loader)`` returns a repaired :func:`volunteer_loader`.

    The repair keeps the volunteer's dataset, batch size and collate_fn, and fixes what the exercise asks students to
    find from what the loader delivers (so this docstring does not say). Tried on the volunteer's loader, then on a
    new case of the same kind.
    """
    # What a repair must do: visit each photo their sampler holds once per epoch (a fifth is held back: shuffle=True
    # over the whole dataset would train on it) in an order that mixes the species (two photos in a row share one
    # about as often as in a random order) and is new every epoch without set_epoch (model.train never calls it).
    # The new case: 96 rows of 12 classes sorted by class, shuffled once into a fixed sampler list that holds four
    # fifths of them, batches of 8.
    rows = _SortedRows([14, 12, 10, 9, 8, 8, 7, 7, 6, 6, 5, 4])
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(1)).tolist()
    toy = DataLoader(rows, batch_size=8, sampler=order[: len(order) - len(order) // _HELD_BACK])
    cases = ((volunteer, "their loader"), (toy, "a new case (96 rows of 12 classes, batches of 8)"))
    for theirs, where in cases:
        fixed, error = _call(func, theirs)
        if error:
            both = "mutually exclusive" in error  # shuffle=True beside their sampler
            hint = (
                "shuffle=True draws its own order over the whole dataset: it cannot take their sampler" if both else RAISED_HINT
            )
            return _verdict(False, f"on {where}: {error}", hint)
        if _unanswered(fixed):
            return _verdict(False, "your function returns None: it is still the stub.", STUB_HINT)
        labels = [row["species_id"] for row in theirs.dataset._table]  # the checker knows its own datasets
        problem = _fix_problem(fixed, theirs, labels, where)
        if problem:
            message, hint = problem
            return _verdict(False, message, hint)
    mine, n = _shared_batches(func(volunteer))
    theirs_shared, _ = _shared_batches(volunteer)
    return _verdict(
        True,
        f"epochs 0 and 1 of yours share {mine} of their {n} batches; theirs share {theirs_shared} of {n}. The volunteer "
        "shuffled once, when building the loader: every batch mixed species, and every epoch replayed the same batches. "
        "Yours keeps the photos they held back out of training, as theirs did.",
    )
