"""Curating your own data: names to classes, files that fail, duplicates, a leak-free split, imbalance, sizes.

Introduced in notebook ``08_your_own_data``, where the garden hands over its
visitors' photos with a CSV written by gardeners (:mod:`flowerkit.visitors`).
Nothing here knows about Oxford 102's layout: each tool works on any list of
files and labels, which is what a project of your own starts from.

* :func:`match_name`: a name written by a person -> a class index, or None
  with the reason;
* :class:`LabelledImages`: files and labels as a Dataset that reports the
  files it leaves out;
* :func:`content_hash` and :func:`split_by_content`: a train/test split by
  class with no photo on both sides;
* :func:`mixing_weights`: sampler weights that give each source a share of
  the draws and, within a source, each class the same share;
* :func:`crop_loss`, :func:`padded_share`, :class:`BucketBatchSampler`,
  :func:`pad_collate`, :func:`decode_long_side`: the two ways to batch photos
  of every size and aspect, and what each costs.
"""

# The docstrings below say what each tool does, not how: notebook 08's exercises 1-7 build their own versions after
# `from flowerkit import curate`, and help(curate) must not answer them. The how is in the comments beside the code.

from __future__ import annotations

import difflib
import hashlib
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import ExifTags, Image, UnidentifiedImageError
from torch.utils.data import Dataset, Sampler

from .access import FlowersFormatError, _truncated_files, load_rgb
from .load import decode_resized

__all__ = [
    "BucketBatchSampler",
    "LabelledImages",
    "NameMatch",
    "content_hash",
    "crop_loss",
    "decode_long_side",
    "match_name",
    "mixing_weights",
    "normalise_name",
    "pad_collate",
    "padded_share",
    "photo_size",
    "split_by_content",
]


# --------------------------------------------------------------------------------------
# Names written by people -> class indices
# --------------------------------------------------------------------------------------


def _singular(word: str) -> str:
    """A plural English word made singular, roughly: lilies -> lily, roses -> rose, irises -> iris."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def normalise_name(name: str) -> str:
    """A name in the form :func:`match_name` compares: two ways of writing the same name give the same string.

    Introduced in notebook ``08_your_own_data``.
    """
    # Lower case, accents and punctuation dropped, single spaces, every word made singular:
    # " Pink-Yellow Dahlias?" -> "pink yellow dahlia".
    plain = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode().lower()
    words = re.sub(r"[^a-z0-9]+", " ", plain).split()
    return " ".join(_singular(w) for w in words)


@dataclass(frozen=True)
class NameMatch:
    """What :func:`match_name` decided: the class index (None if it did not map) and why.

    Introduced in notebook ``08_your_own_data``.
    """

    index: int | None
    why: str


def _partial(key: str, table: dict[str, int], names: Sequence[str]) -> list[str]:
    """Class names whose words include every word of ``key`` ('daisy' -> 'oxeye daisy', 'barbeton daisy')."""
    words = set(key.split())
    return [names[i] for k, i in table.items() if words and words <= set(k.split())]


def _other_word(key: str, name: str) -> tuple[str, str] | None:
    """A word of ``key`` that is another word than any of ``name``'s rather than a misspelling of one (difflib ratio
    under 0.75: "cup" for "cape"), with the word of ``name`` it replaced; None when ``key`` could be ``name`` typed with a
    slip: a letter or two off in a word ("sunflwer"), a word dropped ("colts foot"), the letters spaced otherwise."""
    if key.replace(" ", "") == name.replace(" ", ""):
        return None
    mine, theirs = set(key.split()), set(name.split())
    for word in sorted(mine - theirs):
        if not difflib.get_close_matches(word, sorted(theirs - mine), n=1, cutoff=0.75):
            return (word, " ".join(w for w in name.split() if w not in mine) or name)
    return None


def match_name(name: str, names: Sequence[str], *, cutoff: float = 0.85) -> NameMatch:
    """Map a name written by a person to its index in ``names``, or say why it does not map.

    Returns a :class:`NameMatch`: the index (None when the name is not one
    of ``names`` or could be several) and a short reason. ``cutoff`` (0 to 1)
    is how similar a name must be to a class name to be taken as it; higher
    is stricter. Introduced in notebook ``08_your_own_data``, whose first
    exercise writes its own.
    """
    # Both sides go through normalise_name (case, spaces, punctuation, plurals); a name then equal to one class maps.
    table = {normalise_name(n): i for i, n in enumerate(names)}
    key = normalise_name(name)
    if not key:
        return NameMatch(None, "empty")
    if key in table:
        i = table[key]
        return NameMatch(i, "exact" if name == names[i] else f"same as {names[i]!r} once normalised")
    # Otherwise a close spelling (difflib ratio >= cutoff, e.g. a typo) maps if no other class is about as close, and if
    # it is a typo: "cup flower" is as close to "cape flower" as a typo is, but another flower.
    scores = sorted(((difflib.SequenceMatcher(None, key, k).ratio(), k, i) for k, i in table.items()), reverse=True)
    (best, k, i), (second, _, j) = scores[0], scores[1]
    if best >= cutoff and best - second >= 0.05:
        other = _other_word(key, k)
        if other is None:
            return NameMatch(i, f"close spelling of {names[i]!r} ({best:.2f})")
        return NameMatch(None, f"close to {names[i]!r}, but {other[0]!r} is another word than {other[1]!r}, not a typo")
    if best >= cutoff:
        return NameMatch(None, f"ambiguous: as close to {names[i]!r} as to {names[j]!r}")
    # A name that is only part of a class name ("tulip" and "siam tulip", "daisy" and two daisies) does not map: that
    # would be a guess, and a wrong label costs more than a dropped photo.
    part = _partial(key, table, names)
    if part:
        return NameMatch(None, f"only part of {', '.join(map(repr, part))}: a guess, not a label")
    return NameMatch(None, "not one of the classes")


# --------------------------------------------------------------------------------------
# Files and labels as a Dataset that survives bad files
# --------------------------------------------------------------------------------------


def _problem(path: Path) -> str | None:
    """Why ``path`` cannot be used as a training image, or None if it decodes in full."""
    if not path.is_file():
        return "missing" if not path.exists() else "not a file"
    if path.stat().st_size == 0:
        return "empty (0 bytes)"
    try:
        # strictly, whatever the kernel set: LOAD_TRUNCATED_IMAGES = True (the fix most often suggested online) would let
        # a cut-off file decode, its missing part grey, and pass as a photo
        with _truncated_files(allowed=False), Image.open(path) as img:
            img.load()  # a truncated file opens; only decoding every byte finds it
            if min(img.size) < 1:
                return "an image with no pixels"
    except Image.DecompressionBombError as exc:  # not an OSError: PIL refuses a header that claims too many pixels
        return f"too many pixels to decode safely ({str(exc).split(' exceeds')[0]})"
    except (UnidentifiedImageError, SyntaxError) as exc:
        return f"not an image ({type(exc).__name__})"
    except (OSError, ValueError) as exc:
        return f"unreadable ({str(exc).splitlines()[0][:60]})"
    return None


class LabelledImages(Dataset):
    """Image files and their 0-based labels as a Dataset that leaves out the files it cannot use and reports them.

    Items are ``(uint8 (3, size, size) tensor, label)`` through
    :func:`flowerkit.load.decode_resized` (upright, RGB, centre crop), then
    ``transform`` if given. ``skipped`` lists ``(file, reason)`` for each file
    left out (:meth:`report` sums them up); ``image_files`` and
    ``labels`` hold what was kept, so :func:`flowerkit.load.build_cache` and
    :func:`flowerkit.doctor.diagnose` read it like flowerkit's own datasets.
    It pickles as paths and numbers, so worker processes get it cheaply.
    Introduced in notebook ``08_your_own_data``.
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        labels: Sequence[int],
        size: int,
        *,
        transform: Any = None,
        root: str | Path | None = None,
        split: str = "own",
    ) -> None:
        if len(files) != len(labels):
            raise ValueError(f"{len(files)} files but {len(labels)} labels: give one label per file")
        self.size, self.transform, self.split = size, transform, split
        self.decode = decode_resized  # how a file becomes the uint8 (3, size, size) tensor: the doctor passes a probe through it
        self.image_files: list[Path] = []
        self.labels: list[int] = []
        self.skipped: list[tuple[Path, str]] = []
        # Every file is decoded in full once, here, so that a bad one (missing, empty, not an image, truncated) is
        # skipped with its reason now instead of stopping an epoch later.
        for file, label in zip(map(Path, files), labels):
            why = _problem(file)
            if why is None:
                self.image_files.append(file)
                self.labels.append(int(label))
            else:
                self.skipped.append((file, why))
        self.root = Path(root) if root is not None else (self.image_files[0].parent if self.image_files else Path("."))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, int]:
        image = self.decode(self.image_files[idx], self.size)
        if self.transform is not None:
            image = self.transform(image)
        return image, self.labels[idx]

    def report(self) -> str:
        """One line per skipped file and a total: what a hand-over note should be told."""
        lines = [f"kept {len(self)} of {len(self) + len(self.skipped)} files; skipped {len(self.skipped)}"]
        lines += [f"  {path.name}: {why}" for path, why in self.skipped]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Duplicates and a split without leakage
# --------------------------------------------------------------------------------------


def content_hash(path: str | Path) -> str:
    """A hex string that identifies the content of the file at ``path``, whatever its name; read in chunks.

    What :func:`split_by_content` takes. Introduced in notebook ``08_your_own_data``.
    """
    # The SHA-256 of the file's bytes: byte-identical files get the same hash. It finds exact copies only: the same
    # photo re-encoded or resized gets another hash (that needs a perceptual hash).
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _groups_by_class(hashes: Sequence[str], labels: Sequence[int]) -> dict[int, list[list[int]]]:
    """Positions grouped by hash (identical content together), the groups sorted by class of their first member."""
    groups: dict[str, list[int]] = defaultdict(list)
    for pos, h in enumerate(hashes):
        groups[h].append(pos)
    by_class: dict[int, list[list[int]]] = defaultdict(list)
    for members in groups.values():
        by_class[int(labels[members[0]])].append(members)
    return by_class


def split_by_content(
    hashes: Sequence[str], labels: Sequence[int], *, test_fraction: float = 0.3, seed: int = 0
) -> tuple[list[int], list[int]]:
    """Split positions into (train, test), stratified by class, never putting identical content on both sides.

    ``hashes[i]`` identifies item i's content (:func:`content_hash`) and
    ``labels[i]`` its class; about ``test_fraction`` of each class goes to
    test. The same ``seed``, the same split. Returns two sorted lists of
    positions. Introduced in notebook ``08_your_own_data``.
    """
    # Items with the same hash form one group, and a group goes to one split. Per class, the groups are shuffled
    # (seeded) and test_fraction of them, rounded, go to test; a class with two groups or more keeps at least one on
    # each side, a class with one group stays in train.
    rng = np.random.default_rng(seed)
    train: list[int] = []
    test: list[int] = []
    for _, groups in sorted(_groups_by_class(hashes, labels).items()):
        order = rng.permutation(len(groups))
        n_test = min(max(round(test_fraction * len(groups)), 1), len(groups) - 1) if len(groups) > 1 else 0
        for rank, g in enumerate(order):
            (test if rank < n_test else train).extend(groups[g])
    return sorted(train), sorted(test)


# --------------------------------------------------------------------------------------
# Imbalance: sources and classes
# --------------------------------------------------------------------------------------


def mixing_weights(sources: Sequence[str], labels: Sequence[int], shares: dict[str, float]) -> torch.Tensor:
    """One weight per item for :class:`torch.utils.data.WeightedRandomSampler`: each source gets its share, each class within it an equal part.

    ``sources[i]`` names where item i comes from (e.g. ``"oxford"``,
    ``"visitors"``); ``shares`` gives each source's share of the draws (they
    are normalised to sum to 1). Within a source, every class present is
    drawn equally often, however many items it has. Introduced in notebook ``08_your_own_data``.
    """
    total = sum(shares.values())
    counts = Counter(zip(sources, (int(y) for y in labels)))
    classes_in = Counter(s for s, _ in counts)
    weights = [shares[s] / total / classes_in[s] / counts[(s, int(y))] for s, y in zip(sources, labels)]
    return torch.tensor(weights, dtype=torch.float64)


# --------------------------------------------------------------------------------------
# Photos of every size: crop to a square, or pad in buckets
# --------------------------------------------------------------------------------------


#: The width of a bucket of :class:`BucketBatchSampler`, in log aspect ratio: 0.1, photos within about 10% of one shape.
_ASPECT_STEP = 0.1


def crop_loss(width: int, height: int) -> float:
    """The share of a photo's pixels a centre square crop throws away: 0 for a square, 0.44 for 16:9.

    Introduced in notebook ``08_your_own_data``.
    """
    return 1.0 - min(width, height) ** 2 / (width * height)


def _scaled_shape(width: int, height: int, size: int) -> tuple[int, int]:
    """(height, width) of a photo resized so that its long side is ``size``."""
    scale = size / max(width, height)
    return max(1, round(height * scale)), max(1, round(width * scale))


def padded_share(batches: Sequence[Sequence[int]], sizes: Sequence[tuple[int, int]], size: int) -> float:
    """The share of the pixels in padded batches that are padding, for photos of ``sizes`` (width, height) at long side ``size``.

    Each batch is padded to its tallest and widest photo (:func:`pad_collate`);
    the network computes on every padded pixel. Introduced in notebook ``08_your_own_data``.
    """
    real = padded = 0
    for batch in batches:
        shapes = [_scaled_shape(*sizes[i], size) for i in batch]
        h, w = max(s[0] for s in shapes), max(s[1] for s in shapes)
        real += sum(a * b for a, b in shapes)
        padded += len(shapes) * h * w
    return 1.0 - real / padded if padded else 0.0


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of positions that waste little when padded to each batch's greatest height and width.

    ``sizes`` are the photos' ``(width, height)``; ``batch_size`` positions a
    batch (the last may be shorter), every position once, ``len()`` batches.
    Each iteration is a new epoch: new batches, in a new order, drawn from
    ``seed`` and the epoch's number (the same seed, the same epochs). Pass it as
    ``DataLoader(dataset, batch_sampler=...)`` with :func:`pad_collate`.
    Introduced in notebook ``08_your_own_data``.
    """

    def __init__(self, sizes: Sequence[tuple[int, int]], batch_size: int, *, seed: int = 0) -> None:
        # Each photo's bucket: its aspect ratio (width / height) on a log scale, in steps of _ASPECT_STEP (about 10%).
        # Photos of one bucket pad one another little; a camera's usual aspects (4:3, 16:9, ...) each fill one.
        self._bucket = [round(math.log(w / h) / _ASPECT_STEP) for w, h in sizes]
        self.batch_size, self.seed, self.epoch = batch_size, seed, 0

    def __len__(self) -> int:
        return -(-len(self._bucket) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        # A generator per epoch, seeded with (seed, epoch): a run repeats, its epochs differ. The items are sorted by
        # (bucket, a random key) and cut into batches: neighbours have similar shapes, and each epoch the photos of a
        # bucket are grouped anew (batches cut once, then only reordered, would meet the same groups every epoch).
        # The batches then come in a random order.
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        key = rng.random(len(self._bucket))
        order = sorted(range(len(self._bucket)), key=lambda i: (self._bucket[i], key[i]))
        batches = [order[k : k + self.batch_size] for k in range(0, len(order), self.batch_size)]
        for k in rng.permutation(len(batches)):
            yield batches[k]


def photo_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of a photo as it is shown, EXIF orientation applied, read from its header without decoding.

    A phone's portrait is often stored sideways with a tag saying "turn me": ``Image.open(path).size`` gives the
    stored (sideways) size. Introduced in notebook ``08_your_own_data``.
    """
    with Image.open(path) as img:
        width, height = img.size
        turned = img.getexif().get(ExifTags.Base.Orientation, 1) in (5, 6, 7, 8)
    return (height, width) if turned else (width, height)


def decode_long_side(path: str | Path, size: int) -> torch.Tensor:
    """A photo as uint8 (3, H, W) with its long side ``size`` and its aspect kept (nothing cropped): the padding way's decode.

    Introduced in notebook ``08_your_own_data``.
    """
    try:
        img = load_rgb(path, draft=size)
    except FileNotFoundError as exc:
        raise FlowersFormatError(f"{path} is missing") from exc
    h, w = _scaled_shape(img.width, img.height, size)
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1)
    return torch.nn.functional.interpolate(x[None], size=(h, w), mode="bilinear", antialias=True)[0].contiguous()


def pad_collate(batch: Sequence[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack images of different sizes, each zero-padded (bottom and right) to the batch's greatest height and width: uint8 (B, 3, H, W), labels.

    The collate function of the padding way; importable by name, so worker
    processes can use it. Introduced in notebook ``08_your_own_data``.
    """
    h = max(x.shape[1] for x, _ in batch)
    w = max(x.shape[2] for x, _ in batch)
    out = torch.zeros((len(batch), batch[0][0].shape[0], h, w), dtype=batch[0][0].dtype)
    for k, (x, _) in enumerate(batch):
        out[k, :, : x.shape[1], : x.shape[2]] = x
    return out, torch.tensor([int(y) for _, y in batch])
