"""The garden's own data for notebook ``08_your_own_data``: a season of visitors' uploads and the gardeners' CSV.

The app (notebook ``05_the_app``) has been live for a season. Visitors
uploaded photos; gardeners named the flower in each, in a CSV, by species
name. :func:`make_visitors` writes that hand-over deterministically from the
active dataset's own photos (mini-flowers, or the real Oxford photos on the
real route), each re-shot the way visitors shoot: closer, off-centre, every
aspect and size, other light, EXIF-rotated portraits, PNG, WebP, grayscale,
CMYK, thumbnails and 10-megapixel JPEGs. It is messy the way real data is;
how, notebook 08 finds out from the files themselves.

The photos come from the validation and test splits (never the train split
the app learnt from); :attr:`VisitorSet.sources` names them, so an
evaluation on the test split can leave them out. :func:`read_rows` reads
the CSV (notebook 08 reveals it after its first exercise).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageFilter, features

from .access import OxfordFlowers102, _dataset_signature, load_rgb
from .classes import CLASSES
from .curate import match_name
from .load import cache_dir
from .paths import _written_whole

__all__ = [
    "CSV_COLUMNS",
    "POPULAR",
    "Row",
    "Upload",
    "VisitorSet",
    "make_visitors",
    "read_rows",
]

#: The CSV's columns, in order.
CSV_COLUMNS = ("upload_id", "file", "species", "gardener", "uploaded")
#: The garden's most photographed flowers, most popular first, with the most photos each gets (fewer where the
#: active dataset holds fewer validation and test photos of it).
POPULAR: tuple[tuple[str, int], ...] = (
    ("sunflower", 36), ("rose", 26), ("water lily", 20), ("passion flower", 16), ("petunia", 13), ("hibiscus", 11),
    ("foxglove", 9), ("daffodil", 8), ("sweet pea", 7), ("camellia", 6), ("english marigold", 6), ("azalea", 5),
    ("lotus", 5), ("magnolia", 4), ("columbine", 4), ("cyclamen", 4), ("bearded iris", 3), ("snapdragon", 3),
    ("corn poppy", 3), ("pink-yellow dahlia?", 3), ("clematis", 2), ("buttercup", 2), ("morning glory", 2), ("wallflower", 2),
)  # fmt: skip
# What gardeners wrote for flowers that are not among the 102 classes, or that they could not name, and how often.
# Private: help(visitors) is read above notebook 08's first exercise, which must map these names to None.
_NOT_IN_102: tuple[tuple[str, int], ...] = (("tulip", 4), ("lavender", 3), ("daisy", 3), ("poppy", 2), ("not sure", 2))
_BAD = ("empty", "truncated", "not an image", "empty", "missing")
_DUPLICATES, _UNLISTED, _VERSION = 12, 3, 2
_UNLABELLED = "not in the CSV"
_GARDENERS = ("Ana", "Bram", "Chloé", "Dev", "Eun-ji", "Farid")
_KINDS = ("phone JPEG", "portrait, EXIF-rotated", "PNG", "WebP", "grayscale JPEG", "CMYK JPEG", "thumbnail", "large JPEG")
_KIND_P = (0.5, 0.1, 0.1, 0.08, 0.06, 0.04, 0.04, 0.08)
_ASPECTS = ((4, 3), (3, 4), (16, 9), (9, 16), (1, 1), (3, 2), (2, 3))
_NOTE = """\
Visitor photos, season 1 - hand-over from the garden
====================================================
labels.csv   one row per upload, UTF-8, comma-separated, a header line:
             upload_id  our id for the upload (u0001, u0002, ... in upload order)
             file       the photo's file name in uploads/ (the visitor's own name, after our id)
             species    the flower, as the gardener on duty wrote it (common English name)
             gardener   who labelled it
             uploaded   the day it was uploaded (YYYY-MM-DD)
uploads/     the photos, exactly as visitors sent them (phones, tablets, messengers, a scanner)

Known issues: a few uploads failed or were cut off; some visitors sent the same photo twice;
a few photos are of flowers that are not in the app, or the gardener was not sure.
Photos in uploads/ without a row were never labelled.
"""


@dataclass(frozen=True)
class Upload:
    """One upload as the hand-over was made: part of a :class:`VisitorSet` (notebook ``08_your_own_data``)."""

    # label: the 0-based class, None outside the 102; problem: why the file is unusable, None if fine; duplicate_of:
    # the upload it copies; source: the dataset photo it was made from. (Kept out of the docstring: help() above
    # notebook 08's hunts would say what they find.)

    upload_id: str
    file: str
    species: str
    label: int | None
    kind: str
    problem: str | None = None
    duplicate_of: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class VisitorSet:
    """The hand-over on disk (``csv``, ``uploads/``, the garden's ``note``).

    ``sources`` are the dataset photos the uploads were made from: leave them
    out of a test-split evaluation. Returned by :func:`make_visitors` (notebook ``08_your_own_data``).
    """

    folder: Path
    # What the checkers compare with: out of the repr, dir() and help(), so the hand-over answers nothing mid-hunt.
    truth: tuple[Upload, ...] = field(repr=False)
    sources: frozenset[Path] = field(repr=False)

    def __dir__(self) -> list[str]:
        """What Tab completion offers on the hand-over: where its files are, and its counts."""
        return [name for name in super().__dir__() if name != "truth"]

    def garden_count(self, kind: str) -> int:
        """How many rows the garden knows to be of ``kind``: ``"outside the 102"`` (a species the classes lack) or
        ``"unusable"`` (a file that cannot serve as a photo). Notebook ``08_your_own_data`` checks its tables against
        these counts once it has made them itself; which rows they are is the notebook's to find."""
        if kind == "outside the 102":
            return sum(u.label is None and bool(u.species) for u in self.truth)
        if kind == "unusable":
            return sum(u.problem not in (None, "not in the CSV") for u in self.truth)
        raise ValueError(f"garden_count({kind!r}): the garden counts 'outside the 102' or 'unusable'")

    @property
    def csv(self) -> Path:
        """The gardeners' labels, ``labels.csv``."""
        return self.folder / "labels.csv"

    @property
    def uploads(self) -> Path:
        """The folder of photos, as visitors sent them."""
        return self.folder / "uploads"

    @property
    def note(self) -> Path:
        """The garden's hand-over note, ``README.txt``."""
        return self.folder / "README.txt"


# --------------------------------------------------------------------------------------
# The plan: which photo, which label, written how (cheap, deterministic)
# --------------------------------------------------------------------------------------


def _plural(word: str) -> str:
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")


def _typo(name: str, rng: np.random.Generator) -> str:
    """Two neighbouring letters swapped, or one dropped, in the name's longest word (6 letters or more)."""
    words = name.split(" ")
    k = max(range(len(words)), key=lambda i: len(words[i]))
    w = words[k]
    if len(w) < 6:
        return name
    i = int(rng.integers(1, len(w) - 2))
    words[k] = w[:i] + w[i + 1] + w[i] + w[i + 2 :] if rng.random() < 0.5 else w[:i] + w[i + 1 :]
    return " ".join(words)


def _written(name: str, rng: np.random.Generator) -> str:
    """``name`` as a gardener on duty might write it: as is, capitalised, plural, a typo, spaces, other punctuation."""
    style = rng.choice(
        ["as is", "Title", "plural", "typo", "spaces", "punctuation", "UPPER"], p=[0.34, 0.2, 0.12, 0.12, 0.1, 0.08, 0.04]
    )
    if style == "Title":
        return name.title()
    if style == "plural":
        words = name.rstrip("?").split(" ")
        return " ".join([*words[:-1], _plural(words[-1])])
    if style == "typo":
        return _typo(name, rng)
    if style == "spaces":
        return f" {name}  " if rng.random() < 0.5 else name.replace(" ", "  ") + " "
    if style == "punctuation":
        return name.replace("-", " ").replace("?", "").replace("'", "") if "-" in name or "?" in name else name.replace(" ", "-")
    return name.upper() if style == "UPPER" else name


def _label_text(label: int | None, name: str, rng: np.random.Generator) -> str:
    """A written species that :func:`flowerkit.curate.match_name` maps back to ``label`` (or to nothing when None)."""
    for _ in range(8):
        text = _written(name, rng)
        if match_name(text, CLASSES).index == label:
            return text
    return name.title()


def _pools(root: Path, rng: np.random.Generator) -> dict[int, list[Path]]:
    """Per class, its validation photos then its test photos (each part shuffled): the photos visitors 're-shoot'."""
    pools: dict[int, list[Path]] = {}
    for split in ("val", "test"):
        ds = OxfordFlowers102(root, split)
        for c in sorted(set(ds.labels)):
            files = [f for f, y in zip(ds.image_files, ds.labels) if y == c]
            pools.setdefault(c, []).extend(files[i] for i in rng.permutation(len(files)))
    return pools


def _take(pools: dict[int, list[Path]], label: int, n: int) -> list[Path]:
    """Up to ``n`` photos of class ``label``, leaving at least 5 (or half) of its photos for the test split."""
    pool = pools[label]
    keep = min(5, len(pool) // 2)
    n = max(0, min(n, len(pool) - keep))
    taken, pools[label] = pool[:n], pool[n:]
    return taken


def _shots(root: Path, rng: np.random.Generator) -> list[tuple[int | None, str, Path]]:
    """(label or None, species as the garden knows it, source photo) for every labelled upload and the unlisted ones."""
    pools = _pools(root, rng)
    index = {name: i for i, name in enumerate(CLASSES)}
    shots = [(index[name], name, src) for name, n in POPULAR for src in _take(pools, index[name], n)]
    others = [c for c in sorted(pools) if CLASSES[c] not in dict(POPULAR)]
    spare = iter(others[int(k)] for k in rng.permutation(len(others)))
    for name, n in _NOT_IN_102:
        c = next(spare)
        shots += [(None, name, src) for src in _take(pools, c, n)]
    c = next(spare)
    shots += [(-1, "", src) for src in _take(pools, c, _UNLISTED)]  # -1: in uploads/, not in the CSV
    return shots


def _file_name(kind: str, n: int, rng: np.random.Generator) -> str:
    """The visitor's own file name for an upload of ``kind``."""
    mm, dd, hh, mi = (int(rng.integers(a, b)) for a, b in ((4, 10), (1, 29), (9, 19), (0, 60)))
    if kind == "PNG":
        return f"Screenshot_2024-{mm:02d}-{dd:02d}-{hh:02d}-{mi:02d}.png"
    if kind == "WebP":
        return f"upload_{n}.webp"
    if kind == "CMYK JPEG":
        return f"scan_{n:03d}.jpg"
    if kind == "thumbnail":
        return f"thumb_{n}.jpg"
    pattern = int(rng.integers(4))
    return [
        f"IMG_{4000 + n:04d}.JPG",
        f"PXL_2024{mm:02d}{dd:02d}_{hh:02d}{mi:02d}{n % 60:02d}.jpg",
        f"DSC{n:05d}.JPG",
        f"photo{n}.jpeg",
    ][pattern]


# --------------------------------------------------------------------------------------
# Writing the photos
# --------------------------------------------------------------------------------------


def _params(rng: np.random.Generator, kinds: Sequence[str]) -> dict[str, Any]:
    """How one visitor shot and sent one photo: kind, framing, size, light, quality."""
    p = np.array([pk for k, pk in zip(_KINDS, _KIND_P) if k in kinds])
    kind = str(rng.choice(list(kinds), p=p / p.sum()))
    long_side = {"thumbnail": (96, 141), "large JPEG": (2000, 2401)}.get(kind, (400, 1201))
    return {
        "kind": kind,
        "aspect": _ASPECTS[int(rng.integers(len(_ASPECTS)))],
        "zoom": float(rng.uniform(0.5, 0.95)),
        "centre": rng.uniform(0.2, 0.8, 2).tolist(),
        "long_side": int(rng.integers(*long_side)),
        "light": [float(rng.uniform(0.8, 1.2)), float(rng.uniform(0.85, 1.3)), float(rng.uniform(-0.06, 0.08))],
        "blur": float(rng.uniform(0.6, 1.4)) if rng.random() < 0.2 else 0.0,
        "quality": int(rng.integers(60, 96)),
    }


def _framed(img: Image.Image, p: dict[str, Any]) -> Image.Image:
    """The visitor's framing: a crop of aspect ``p['aspect']`` covering ``p['zoom']`` of the largest such crop."""
    aw, ah = p["aspect"]
    w = min(img.width, img.height * aw / ah)
    h = w * ah / aw
    w, h = w * p["zoom"] ** 0.5, h * p["zoom"] ** 0.5
    left = (img.width - w) * p["centre"][0]
    top = (img.height - h) * p["centre"][1]
    return img.crop((round(left), round(top), round(left + w), round(top + h)))


def _lit(img: Image.Image, p: dict[str, Any]) -> Image.Image:
    """Other light: brightness, a phone's saturation, a warm or cool cast, sometimes a shaken hand."""
    brightness, saturation, warmth = p["light"]
    a = np.asarray(img, dtype=np.float32)
    gray = a @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    a = (gray[..., None] + saturation * (a - gray[..., None])) * brightness
    a *= np.array([1 + warmth, 1.0, 1 - warmth], dtype=np.float32)
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    return img.filter(ImageFilter.GaussianBlur(p["blur"])) if p["blur"] else img


def _sized(img: Image.Image, long_side: int) -> Image.Image:
    scale = long_side / max(img.size)
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BILINEAR)


def _save(img: Image.Image, p: dict[str, Any], out: Path) -> None:
    """Encode the photo the way its kind is sent."""
    kind, q = p["kind"], p["quality"]
    if kind == "portrait, EXIF-rotated":  # the sensor's pixels, and a tag: "turn 90 degrees clockwise to view"
        exif = Image.Exif()
        exif[ExifTags.Base.Orientation] = 6
        img.transpose(Image.Transpose.ROTATE_90).save(out, format="JPEG", quality=q, exif=exif)
    elif kind == "PNG":
        img.save(out, format="PNG", compress_level=1)
    elif kind == "WebP":
        img.save(out, format="WEBP", quality=q, method=0)
    elif kind == "grayscale JPEG":
        img.convert("L").save(out, format="JPEG", quality=q)
    elif kind == "CMYK JPEG":
        img.convert("CMYK").save(out, format="JPEG", quality=q)
    else:
        img.save(out, format="JPEG", quality=q)


def _write_photo(src: Path, p: dict[str, Any], out: Path) -> None:
    img = load_rgb(src)
    if p["kind"] == "portrait, EXIF-rotated":
        p = {**p, "aspect": (3, 4)}  # a phone held upright
    _save(_sized(_lit(_framed(img, p), p), p["long_side"]), p, out)


def _write_bad(problem: str, src: Path, p: dict[str, Any], out: Path) -> None:
    """An upload that failed: empty, cut off at a third, or an error page saved under the photo's name."""
    if problem == "empty":
        out.write_bytes(b"")
    elif problem == "truncated":
        _write_photo(src, {**p, "kind": "phone JPEG"}, out)
        data = out.read_bytes()
        out.write_bytes(data[: len(data) // 3])
    elif problem == "not an image":
        out.write_text("<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>upload failed</body></html>\n")


# --------------------------------------------------------------------------------------
# The whole hand-over
# --------------------------------------------------------------------------------------


def _plan(root: Path, seed: int, kinds: Sequence[str]) -> tuple[list[Upload], list[dict[str, Any]]]:
    """Every upload (CSV rows, then the unlisted files) and how each was shot; nothing is written."""
    rng = np.random.default_rng([seed, 8])
    shots = _shots(root, rng)
    shots = [shots[i] for i in rng.permutation(len(shots))]  # upload order
    bad = dict(
        zip(rng.choice([i for i, s in enumerate(shots) if s[0] not in (None, -1)], len(_BAD), replace=False).tolist(), _BAD)
    )
    uploads, params = [], []
    for n, (label, name, src) in enumerate(shots, 1):
        p = _params(rng, kinds)
        file = f"u{n:04d}_{_file_name(p['kind'], n, rng)}"
        if label == -1:  # a photo in uploads/ that nobody labelled
            uploads.append(Upload(f"u{n:04d}", file, "", None, p["kind"], _UNLABELLED, None, str(src)))
        else:
            uploads.append(
                Upload(f"u{n:04d}", file, _label_text(label, name, rng), label, p["kind"], bad.get(n - 1), None, str(src))
            )
        params.append(p)
    return _with_duplicates(uploads, rng), params


def _with_duplicates(uploads: list[Upload], rng: np.random.Generator) -> list[Upload]:
    """Uploads again, later, under new ids and names: the same bytes, the species maybe written another way.

    Each copy is a photo forwarded by a second visitor through a messenger, which renames it (``IMG-...-WA0012.jpg``):
    nothing in its name tells it from a new photo, only its bytes do (notebook ``08_your_own_data``, exercise 3).
    """
    fine = [u for u in uploads if u.label is not None and u.problem is None]
    picks = sorted(rng.choice(len(fine), _DUPLICATES, replace=False).tolist())
    out = list(uploads)
    for k in picks:
        first = fine[k]
        n = len(out) + 1
        suffix = f"IMG-20240915-WA{n:04d}{Path(first.file).suffix}"  # the messenger's name, the format's extension
        species = _label_text(first.label, CLASSES[first.label], rng)  # type: ignore[index]
        out.append(
            Upload(f"u{n:04d}", f"u{n:04d}_{suffix}", species, first.label, first.kind, None, first.upload_id, first.source)
        )
    return out


def _kinds() -> tuple[str, ...]:
    return _KINDS if features.check("webp") else tuple(k for k in _KINDS if k != "WebP")


def _write_csv(path: Path, uploads: Sequence[Upload], rng: np.random.Generator) -> None:
    day = dt.date(2024, 4, 6)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for u in uploads:
            if u.problem == _UNLABELLED:
                continue
            day += dt.timedelta(days=int(rng.random() < 0.6))
            writer.writerow([u.upload_id, u.file, u.species, _GARDENERS[int(rng.integers(len(_GARDENERS)))], day.isoformat()])


def _write_all(folder: Path, uploads: Sequence[Upload], params: Sequence[dict[str, Any]], seed: int) -> None:
    (folder / "uploads").mkdir(parents=True, exist_ok=True)
    by_id = {u.upload_id: u for u in uploads}
    for u, p in zip(uploads, params):
        out = folder / "uploads" / u.file
        if u.problem and u.problem != _UNLABELLED:
            _write_bad(u.problem, Path(u.source), p, out)  # type: ignore[arg-type]
        else:
            _write_photo(Path(u.source), p, out)  # type: ignore[arg-type]
    for u in uploads[len(params) :]:  # the duplicates: the first upload's bytes
        shutil.copyfile(folder / "uploads" / by_id[u.duplicate_of].file, folder / "uploads" / u.file)  # type: ignore[index]
    _write_csv(folder / "labels.csv", uploads, np.random.default_rng([seed, 9]))
    (folder / "README.txt").write_text(_NOTE, encoding="utf-8")


def _reuse(folder: Path, truth_file: Path) -> tuple[Upload, ...] | None:
    """The truth of a complete earlier hand-over in ``folder``, or None."""
    if not truth_file.is_file():
        return None
    truth = tuple(Upload(**row) for row in json.loads(truth_file.read_text()))
    present = all((folder / "uploads" / u.file).is_file() for u in truth if u.problem != "missing")
    return truth if present and (folder / "labels.csv").is_file() else None


def make_visitors(root: str | Path, *, folder: str | Path | None = None, seed: int = 0) -> VisitorSet:
    """Write the garden's hand-over, made from the photos of the dataset at ``root``, once; return it.

    Deterministic (same dataset and seed, identical files) and reused when
    complete; written under a temporary name and renamed, so an interrupted
    run is never used. ``folder`` defaults to ``<cache_dir>/visitors-<key>``.
    A few hundred photos, a few seconds. Introduced in notebook ``08_your_own_data``.
    """
    kinds = _kinds()
    signature = _dataset_signature(root)  # a dataset replaced at the same path gets a new hand-over
    key = hashlib.sha1(f"{Path(root).resolve()}|{signature}|{seed}|{kinds}|{_VERSION}".encode()).hexdigest()[:8]
    folder = Path(folder) if folder is not None else cache_dir() / f"visitors-{key}"
    truth_file = folder.with_name(folder.name + ".truth.json")
    truth = _reuse(folder, truth_file)
    if truth is None:
        uploads, params = _plan(Path(root), seed, kinds)
        tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.partial")
        try:
            _write_all(tmp, uploads, params, seed)
            truth = _reuse(folder, truth_file)  # another process (a second notebook, a grading job) may have finished
            if truth is None:
                shutil.rmtree(folder, ignore_errors=True)
                os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if truth is None:
            with _written_whole(truth_file) as part:  # written last: the hand-over is complete
                part.write_text(json.dumps([asdict(u) for u in uploads]))
            truth = tuple(uploads)
    sources = frozenset(Path(u.source) for u in truth if u.source)
    return VisitorSet(folder, truth, sources)


@dataclass(frozen=True)
class Row:
    """One row of the gardeners' CSV, read: the file's path, the species as written, its class (None if unmapped) and why.

    What :func:`read_rows` returns (notebook ``08_your_own_data``).
    """

    upload_id: str
    file: Path
    species: str
    label: int | None
    why: str


def read_rows(csv_path: str | Path, classes: Sequence[str] = CLASSES) -> list[Row]:
    """Read a CSV of ``file`` and ``species`` columns and map each species to its class with :func:`flowerkit.curate.match_name`.

    Files are resolved in ``uploads/`` beside the CSV; an ``upload_id`` column is optional (the row's line number
    otherwise). Rows whose species does not map keep ``label=None`` and the reason in ``why``: report them,
    never guess. A CSV without the two columns, or a row without a file, is refused with the line to fix.
    Introduced in notebook ``08_your_own_data``, after its first exercise.
    """
    csv_path = Path(csv_path)
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:  # -sig: Excel's "CSV UTF-8" starts with a BOM
            reader = csv.DictReader(fh)
            rows, columns = list(reader), list(reader.fieldnames or [])
    except UnicodeDecodeError as exc:
        raise ValueError(f"{csv_path} is not UTF-8 text ({exc.reason}): save it as 'CSV UTF-8'") from exc
    if not {"file", "species"} <= set(columns):
        raise ValueError(f"{csv_path}: needs the columns 'file' and 'species' (comma-separated), found {columns}")
    out = []
    for number, row in enumerate(rows, 2):  # line 1 is the header
        if not (row["file"] or "").strip():
            raise ValueError(f"{csv_path} line {number}: no file name")
        species = row["species"] or ""
        match = match_name(species, classes)
        upload = row.get("upload_id") or str(number)
        out.append(Row(upload, csv_path.parent / "uploads" / row["file"], species, match.index, match.why))
    return out
