"""Checkers of notebook 08_your_own_data (flowerkit.exercises.nb08): each accepts the notebook's solution, says
"still the stub" to a stub, and names the classic mistake with a hint, on the garden's hand-over and on its new case."""

from __future__ import annotations

import copy
import difflib
import hashlib
import re
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler, Subset, SubsetRandomSampler

from flowerkit import CLASSES, curate, doctor, load, visitors
from flowerkit.access import FlowersFormatError
from flowerkit.exercises import nb08

S = 32


@pytest.fixture(scope="module")
def handover(mini_root, tmp_path_factory):
    return visitors.make_visitors(mini_root, folder=tmp_path_factory.mktemp("garden") / "visitors")


@pytest.fixture(scope="module")
def photos(handover):
    rows = [r for r in visitors.read_rows(handover.csv) if r.label is not None]
    return curate.LabelledImages([r.file for r in rows], [r.label for r in rows], S)


def _said(capsys) -> str:
    return capsys.readouterr().out


# ---------------------------------------------------------------- exercise 1


def _singular(word):
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _plain(text):
    return " ".join(_singular(w) for w in "".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def species_solution(name):
    class_of = {_plain(c): i for i, c in enumerate(CLASSES)}
    meant = _plain(name)
    if meant in class_of:
        return class_of[meant]
    typo = difflib.get_close_matches(meant, list(class_of), n=1, cutoff=0.85)
    if not typo:
        return None
    mine, theirs = set(meant.split()), set(typo[0].split())
    spaced = meant.replace(" ", "") == typo[0].replace(" ", "")
    slips = all(difflib.get_close_matches(word, theirs - mine, n=1, cutoff=0.75) for word in mine - theirs)
    return class_of[typo[0]] if spaced or slips else None


def test_species_solution_passes(handover, capsys):
    assert nb08.check_species_to_class(species_solution, handover)
    said = _said(capsys)
    assert "Correct!" in said and re.search(r"curate.match_name gives the same answer for (\d+) of the \1\.", said), said


def test_species_stub_and_errors(handover, capsys):
    assert not nb08.check_species_to_class(lambda name: None, handover)
    assert "still the stub" in _said(capsys)
    assert not nb08.check_species_to_class(lambda name: 1 / 0, handover)
    assert "ZeroDivisionError" in _said(capsys)
    assert not nb08.check_species_to_class(
        lambda name: -1 if species_solution(name) is None else species_solution(name), handover
    )
    assert "return None for a name that is not one of the 102" in _said(capsys)


def test_species_exact_lower_case_match_is_told_what_it_misses(handover, capsys):
    lower = {c: i for i, c in enumerate(CLASSES)}
    assert not nb08.check_species_to_class(lambda name: lower.get(name.strip().lower()), handover)
    out = _said(capsys)
    assert "left unmapped" in out and "Hint:" in out


def test_species_guessing_is_caught(handover, capsys):
    def guess(name):
        close = difflib.get_close_matches(name.lower(), CLASSES, n=1, cutoff=0.5)
        return CLASSES.index(close[0]) if close else None

    assert not nb08.check_species_to_class(guess, handover)
    assert "a wrong label costs more than a dropped photo" in _said(capsys)


def test_species_cutoff_that_maps_part_of_a_name_is_caught(handover, capsys):
    class_of = {_plain(c): i for i, c in enumerate(CLASSES)}

    def loose(name):  # the reviewer's answer: normalise, drop a plural s, difflib at 0.75
        meant = _plain(name)
        close = difflib.get_close_matches(meant, list(class_of), n=1, cutoff=0.75)
        return class_of.get(meant, class_of[close[0]] if close else None)

    assert not nb08.check_species_to_class(loose, handover)
    out = _said(capsys)
    assert "'primrose' became" in out and "only part of 'pink primrose'" in out and "Hint:" in out, out
    primula = nb08._name_mistake("primrose", CLASSES.index("primula"), None)[0]  # the likelier reading, still a guess
    assert "it could as well be 'pink primrose': the name alone does not say which" in primula


def test_species_whole_name_typo_rule_is_told_a_word_changed(handover, capsys):
    class_of = {_plain(c): i for i, c in enumerate(CLASSES)}

    def whole_name(name):  # the notebook's first solution: difflib at 0.85 over the whole name
        meant = _plain(name)
        close = difflib.get_close_matches(meant, list(class_of), n=1, cutoff=0.85)
        return class_of.get(meant, class_of[close[0]] if close else None)

    assert not nb08.check_species_to_class(whole_name, handover)
    out = _said(capsys)
    assert "'cup flower' became class 36 ('cape flower')" in out and "'cup' is another word, not a misspelling of 'cape'" in out
    assert "judge each word that differs against the word in its place" in out, out
    assert "ratio of 'cup' and 'cape' is 0.57" in out and "'fxglove' and 'foxglove', 0.93" in out, out


def test_species_calling_flowerkit_is_refused_and_a_checker_name_is_tagged(handover, capsys):
    assert not nb08.check_species_to_class(lambda name: curate.match_name(name, CLASSES).index, handover)
    assert "curate.match_name (or normalise_name), the version this exercise builds" in _said(capsys)
    from_the_csv = {u.species: u.label for u in handover.truth if u.species}  # the CSV's own spellings, looked up
    assert not nb08.check_species_to_class(from_the_csv.get, handover)
    assert "(a name the checker added: the CSV does not hold it)" in _said(capsys)


def test_the_hint_names_the_kind_of_spelling():
    assert "capitals" in nb08._how_written(" Rose ", "rose")
    assert "punctuation" in nb08._how_written("pink yellow dahlia", "pink-yellow dahlia?")
    assert "plural" in nb08._how_written("lotuses", "lotus")
    split = nb08._how_written("Sun Flowers", "sunflower")  # not a misspelling: a space inside a word, and a plural
    assert split.startswith("a word split by a space, and a plural") and "misspelling" not in split, split
    assert nb08._how_written("sun flower", "sunflower").startswith("a word split by a space:")
    assert "punctuation" in nb08._how_written("Colts foot", "colt's foot")  # an apostrophe dropped, not a split
    assert "punctuation" in nb08._how_written("morning-glory", "morning glory")
    typo = nb08._how_written("hipeastrum", "hippeastrum")
    assert "misspelling" in typo and "get_close_matches" not in typo and "cutoff" not in typo  # the idea, not the call


def test_species_counted_from_one_is_told_so(handover, capsys):
    one_based = lambda name: None if species_solution(name) is None else species_solution(name) + 1  # noqa: E731
    assert not nb08.check_species_to_class(one_based, handover)
    out = _said(capsys)
    assert "one past the class meant" in out and "from 0" in out and "closest to the whole name" not in out, out


# ---------------------------------------------------------------- exercise 2


class PhotosSolution(Dataset):
    CAUGHT = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)

    def __init__(self, folder, rows, size):
        self.size, self.files, self.labels, self.skipped = size, [], [], []
        for name, label in rows:
            path = Path(folder) / name
            try:
                with Image.open(path) as img:
                    img.load()
            except self.CAUGHT as err:
                self.skipped.append((name, str(err)))
                continue
            self.files.append(path)
            self.labels.append(label)

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return load.decode_resized(self.files[i], self.size), self.labels[i]


class OSErrorsOnly(PhotosSolution):
    """Catches what PIL raises for a bad file, but not its refusal of a header that claims too many pixels."""

    CAUGHT = (OSError, SyntaxError, ValueError)


def test_a_dataset_that_meets_a_pixel_bomb_is_told_what_pil_raised(handover, capsys):
    assert not nb08.check_visitor_dataset(OSErrorsOnly, handover, S)
    out = _said(capsys)
    assert "a new folder" in out and "DecompressionBombError" in out and "not an OSError" in out, out


def test_the_flowerkit_decoders_name_a_pixel_bomb(tmp_path):
    nb08._pixel_bomb(tmp_path / "panorama.png")
    assert (tmp_path / "panorama.png").stat().st_size < 1000
    assert curate.LabelledImages([tmp_path / "panorama.png"], [0], S).skipped[0][1].startswith("too many pixels")
    with pytest.raises(FlowersFormatError, match="panorama.png has too many pixels to decode safely"):
        load.decode_resized(tmp_path / "panorama.png", S)


class HeaderOnly(PhotosSolution):
    """Opens each file (reads the header) but never decodes it: a cut-off file slips through."""

    def __init__(self, folder, rows, size):
        self.size, self.files, self.labels, self.skipped = size, [], [], []
        for name, label in rows:
            path = Path(folder) / name
            try:
                Image.open(path).close()
            except OSError as err:
                self.skipped.append((name, str(err)))
                continue
            self.files.append(path)
            self.labels.append(label)


class Stub(Dataset):
    def __init__(self, folder, rows, size): ...

    def __len__(self): ...

    def __getitem__(self, i): ...


def test_dataset_solution_passes(handover, capsys):
    assert nb08.check_visitor_dataset(PhotosSolution, handover, S)
    out = _said(capsys)
    assert "Correct!" in out and "curate.LabelledImages keeps the same" in out and "the same pixels" in out


class FlippedPixels(PhotosSolution):
    """A mirror image: not the photo as decode_resized shows it."""

    def __getitem__(self, i):
        image, label = super().__getitem__(i)
        return image.flip(-1), label


class BrighterPixels(PhotosSolution):
    """Passes the checks (another decoder's rounding is as close), but its pixels are not flowerkit's: said so."""

    def __getitem__(self, i):
        image, label = super().__getitem__(i)
        return (image.int() + 4).clamp(0, 255).to(torch.uint8), label


class Squashed(PhotosSolution):
    """The whole photo squashed to a square, upright."""

    def __getitem__(self, i):
        from PIL import ImageOps

        with Image.open(self.files[i]) as img:
            square = ImageOps.exif_transpose(img).convert("RGB").resize((S, S), Image.Resampling.BILINEAR)
        return torch.from_numpy(np.asarray(square).copy()).permute(2, 0, 1), self.labels[i]


class Sideways(PhotosSolution):
    """The file's pixels as stored, the EXIF orientation ignored."""

    def __getitem__(self, i):
        with Image.open(self.files[i]) as img:
            raw = decode_resized_raw(img.convert("RGB"), S)
        return raw, self.labels[i]


def decode_resized_raw(img, size):
    """Resize the short side and centre-crop, without turning the photo upright."""
    from torchvision.transforms import v2

    return v2.Compose([v2.PILToTensor(), v2.Resize(size, antialias=True), v2.CenterCrop(size)])(img)


def test_dataset_agreement_names_what_differs(handover, capsys):
    assert nb08.check_visitor_dataset(BrighterPixels, handover, S)
    out = _said(capsys)
    assert "differs from yours in the pixels" in out and "keeps the same" not in out
    assert not nb08.check_visitor_dataset(FlippedPixels, handover, S)
    assert "differs from the photo as decode_resized shows it" in _said(capsys)


def test_dataset_names_a_squashed_and_a_sideways_photo(handover, capsys):
    assert not nb08.check_visitor_dataset(Squashed, handover, S)
    assert "squashed to a square" in _said(capsys)
    assert not nb08.check_visitor_dataset(Sideways, handover, S)
    assert "lies on its side" in _said(capsys)


def test_dataset_check_is_not_fooled_by_pil_s_truncated_images_flag(handover, capsys, monkeypatch):
    """LOAD_TRUNCATED_IMAGES = True, the fix most often suggested online: the checker says so; curate ignores it."""
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    assert not nb08.check_visitor_dataset(PhotosSolution, handover, S)  # it decodes in full: the flag lets a cut-off file by
    assert "LOAD_TRUNCATED_IMAGES is True" in _said(capsys)
    rows = [(r.file.name, r.label) for r in visitors.read_rows(handover.csv) if r.label is not None]
    photos = curate.LabelledImages([handover.uploads / n for n, _ in rows], [y for _, y in rows], S)
    assert len(photos.skipped) == sum(u.problem is not None and u.label is not None for u in handover.truth)


def test_dataset_built_on_flowerkit_is_refused(handover, capsys):
    class Subclassed(curate.LabelledImages):
        def __init__(self, folder, rows, size):
            super().__init__([Path(folder) / n for n, _ in rows], [y for _, y in rows], size)

    class Wrapped(Dataset):
        def __init__(self, folder, rows, size):
            self.inner = curate.LabelledImages([Path(folder) / n for n, _ in rows], [y for _, y in rows], size)

    for cls in (Subclassed, Wrapped):
        assert not nb08.check_visitor_dataset(cls, handover, S)
        assert "curate.LabelledImages, the version this exercise builds" in _said(capsys)


def test_dataset_stub(handover, capsys):
    assert not nb08.check_visitor_dataset(Stub, handover, S)
    assert "still the stub" in _said(capsys)


def test_dataset_that_reads_only_headers_is_told_to_decode(handover, capsys):
    assert not nb08.check_visitor_dataset(HeaderOnly, handover, S)
    out = _said(capsys)
    assert "not in skipped" in out and "decode it fully" in out


class Lazy(Dataset):
    """Checks nothing in __init__: a bad file would be met (and skipped) in __getitem__, mid-epoch."""

    def __init__(self, folder, rows, size):
        self.size, self.files, self.labels, self.skipped = size, [Path(folder) / n for n, _ in rows], [y for _, y in rows], []

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return load.decode_resized(self.files[i], self.size), self.labels[i]


class ExistsOnly(PhotosSolution):
    """Skips the missing files only: an empty file is there, so it is kept."""

    def __init__(self, folder, rows, size):
        self.size, self.files, self.labels, self.skipped = size, [], [], []
        for name, label in rows:
            path = Path(folder) / name
            if not path.exists():
                self.skipped.append((name, "missing"))
                continue
            self.files.append(path)
            self.labels.append(label)


@pytest.mark.parametrize(
    "cls, hint",
    [
        (HeaderOnly, "decode it fully"),
        (Lazy, "check each file once in __init__"),
        (ExistsOnly, "this file is empty"),
    ],
)
def test_a_bad_file_left_out_of_skipped_gets_the_hint_for_its_kind(handover, cls, hint, capsys):
    assert not nb08.check_visitor_dataset(cls, handover, S)
    out = _said(capsys)
    assert "not in skipped" in out and hint in out, out


def test_dataset_that_crashes_on_a_bad_file(handover, capsys):
    class Eager(PhotosSolution):
        def __init__(self, folder, rows, size):
            super().__init__(folder, rows, size)
            for name, _ in rows:
                load.decode_resized(Path(folder) / name, size)

    assert not nb08.check_visitor_dataset(Eager, handover, S)
    assert "record the ones that fail" in _said(capsys)


def test_dataset_that_skips_without_a_reason(handover, capsys):
    class NamesOnly(PhotosSolution):
        def __init__(self, folder, rows, size):
            super().__init__(folder, rows, size)
            self.skipped = [name for name, _ in self.skipped]

    assert not nb08.check_visitor_dataset(NamesOnly, handover, S)
    out = _said(capsys)
    assert "not a (file name, reason) pair" in out and "Hint:" in out


# ---------------------------------------------------------------- exercise 3


def _digests(files):
    return [hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files]


def count_leaks(files, train, test):  # the reference: held-out positions whose bytes are among training's
    digest = _digests(files)
    trained_on = {digest[i] for i in train}
    return sum(digest[i] in trained_on for i in test)


def _by_name(files, train, test):
    return len({Path(files[i]).name for i in test} & {Path(files[i]).name for i in train})


def _copies_in_the_set(files, train, test):
    digest = _digests(files)
    return len(files) - len(set(digest))


def _with_a_copy_anywhere(files, train, test):
    copies = Counter(_digests(files))
    return sum(copies[d] > 1 for d in (_digests(files)[i] for i in test))


def _matching_pairs(files, train, test):  # counts (held-out, training) pairs: a photo with two copies counts twice
    digest = _digests(files)
    return sum(digest[i] == digest[j] for i in test for j in train)


def test_a_count_of_matching_pairs_is_refused_on_the_new_case(capsys):
    with tempfile.TemporaryDirectory() as tmp:
        files, train, test = nb08._new_leak_case(Path(tmp))
        assert _matching_pairs(files, train, test) > count_leaks(files, train, test), "the case tells them apart"
    assert not nb08.check_leak_count(_matching_pairs, *_any_split_of_distinct_photos())
    assert "counts matching (held-out, training) pairs" in _said(capsys)


def _any_split_of_distinct_photos():
    """Files with no copies at all, split in two: every count method agrees on them (0), so the new case decides."""
    folder = Path(tempfile.mkdtemp())
    files = []
    for k in range(6):
        path = folder / f"p{k}.png"
        Image.fromarray(np.full((4, 4, 3), 40 * k, dtype=np.uint8)).save(path)
        files.append(path)
    return files, [0, 1, 2], [3, 4, 5]


def test_the_leak_count_is_counted_by_content_and_each_wrong_method_is_named(photos, capsys):
    files = photos.image_files
    order = torch.randperm(len(files), generator=torch.Generator().manual_seed(0)).tolist()
    test, train = order[: int(0.3 * len(order))], order[int(0.3 * len(order)) :]
    digest = _digests(files)
    truth = count_leaks(files, train, test)
    assert truth > 0 and len(files) - len(set(digest)) > truth, "the hand-over puts copies on both sides"
    assert nb08.check_leak_count(count_leaks, files, train, test)
    out = _said(capsys)
    assert f"{truth} of {len(test)} held-out photos" in out and "On photos you had not seen" in out
    answer_for_these_photos = lambda f, tr, te: truth  # noqa: E731  (the count read off this split, not a method)
    for wrong, says in (
        (None, "no answer yet"),
        (truth, "is not a function"),
        (lambda f, tr, te: None, "still the stub"),
        (lambda f, tr, te: "five", "is not a count"),
        (_by_name, "file names"),
        (_copies_in_the_set, "in the whole set"),
        (_with_a_copy_anywhere, "a copy anywhere"),
        (lambda f, tr, te: len(f), "not what the files say"),
        (answer_for_these_photos, "on photos you have not seen"),
        (lambda f, tr, te: count_leaks(files, train, test), "the garden's count again"),  # the notebook's variables
    ):
        assert not nb08.check_leak_count(wrong, files, train, test)
        out = _said(capsys)
        assert says in out and "Hint:" in out, (wrong, out)


def test_the_new_leak_case_has_copies_on_both_sides(tmp_path):
    files, train, test = nb08._new_leak_case(tmp_path)
    assert sorted(train + test) == list(range(len(files)))
    assert 0 < count_leaks(files, train, test) < len(files) - len(set(_digests(files))) + 1
    assert _distinct_leaked(files, train, test) < count_leaks(files, train, test), "a photo held out twice"
    assert _first_bytes_leaks(files, train, test) == count_leaks(files, train, test) + 1, "two files start alike"


def _distinct_leaked(files, train, test):  # leaked photos, each once: not the held-out positions asked for
    digest = _digests(files)
    return len({digest[i] for i in test} & {digest[i] for i in train})


def _first_bytes_leaks(files, train, test):  # hashes the first 4 KB of each file only
    start = [hashlib.sha256(Path(f).read_bytes()[:4096]).hexdigest() for f in files]
    return sum(start[i] in {start[j] for j in train} for i in test)


def _as(kind):
    return lambda files, train, test: kind(count_leaks(files, train, test))


@pytest.mark.parametrize(
    "answer",
    [
        _as(np.int64),
        _as(float),
        _as(torch.tensor),
        lambda f, tr, te: torch.tensor([1 for _ in range(count_leaks(f, tr, te))]).sum(),
    ],
    ids=["numpy int", "5.0", "0-d tensor", "mask.sum()"],
)
def test_a_leak_count_of_any_whole_number_kind_is_accepted(photos, answer, capsys):
    files = photos.image_files
    assert nb08.check_leak_count(answer, files, list(range(0, len(files), 2)), list(range(1, len(files), 2)))
    assert "Correct!" in _said(capsys)


@pytest.mark.parametrize(
    "answer, says",
    [
        (_distinct_leaked, "counts each leaked photo once"),
        (lambda f, tr, te: count_leaks(f, te, tr), "training positions whose bytes are held out"),  # train and test swapped
        (lambda f, tr, te: count_leaks(f, tr, te) + 0.5, "is not a count"),
        (lambda f, tr, te: torch.tensor([1.0, 2.0]), "is not a count"),
        (_first_bytes_leaks, "what the first bytes of each file say"),  # a shortcut: files can start alike
    ],
    ids=["distinct photos", "train and test swapped", "half", "a vector", "first 4 KB"],
)
def test_leak_count_mistakes(photos, answer, says, capsys):
    files = photos.image_files
    assert not nb08.check_leak_count(answer, files, list(range(0, len(files), 2)), list(range(1, len(files), 2)))
    out = _said(capsys)
    assert says in out and "Hint:" in out, out


def test_an_unknown_leak_count_is_not_repeated(photos, capsys):
    files = photos.image_files
    assert not nb08.check_leak_count(lambda f, tr, te: 3 * len(f), files, [0, 1], [2, 3])
    out = _said(capsys)
    assert f"split, {3 * len(files)} is not what the files say" in out and "Hint:" in out, out


# ---------------------------------------------------------------- exercise 4


def split_solution(files, labels, test_fraction, seed, *, clamp=True):
    copies = {}
    for position, path in enumerate(files):
        copies.setdefault(hashlib.sha256(Path(path).read_bytes()).hexdigest(), []).append(position)
    per_class = {}
    for group in copies.values():
        per_class.setdefault(labels[group[0]], []).append(group)
    draw = np.random.default_rng(seed)
    train, test = [], []
    for species in sorted(per_class):
        groups = [per_class[species][j] for j in draw.permutation(len(per_class[species]))]
        n_held = round(test_fraction * len(groups))
        if clamp:  # at least one on each side where a class has two distinct photos or more
            n_held = min(max(n_held, 1), len(groups) - 1) if len(groups) > 1 else 0
        for rank, group in enumerate(groups):
            (test if rank < n_held else train).extend(group)
    return sorted(train), sorted(test)


def _grouped_class_by_class(files, labels, test_fraction, seed):
    """Copies grouped within each class: a photo sent under two species lands on both sides."""
    per_class = {}
    for position, path in enumerate(files):
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        per_class.setdefault(labels[position], {}).setdefault(digest, []).append(position)
    draw = np.random.default_rng(seed)
    train, test = [], []
    for species in sorted(per_class):
        groups = list(per_class[species].values())
        groups = [groups[j] for j in draw.permutation(len(groups))]
        n_held = min(max(round(test_fraction * len(groups)), 1), len(groups) - 1) if len(groups) > 1 else 0
        for rank, group in enumerate(groups):
            (test if rank < n_held else train).extend(group)
    return sorted(train), sorted(test)


def test_copies_grouped_class_by_class_are_refused(photos, capsys):
    assert not nb08.check_split_without_leakage(_grouped_class_by_class, photos.image_files, photos.labels)
    assert "Not yet" in _said(capsys)


def test_copies_grouped_class_by_class_are_refused_whatever_seed_0_draws(photos, capsys):
    def torch_draw(files, labels, test_fraction, seed):  # the reviewer's: seed 0 keeps the relabelled pair together by luck
        hashes = [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in files]
        generator, train, test = torch.Generator().manual_seed(seed), [], []
        for c in sorted(set(labels)):
            groups = {}
            for i, y in enumerate(labels):
                if y == c:
                    groups.setdefault(hashes[i], []).append(i)
            groups = list(groups.values())
            k = min(max(round(test_fraction * len(groups)), 1), len(groups) - 1) if len(groups) > 1 else 0
            for r, j in enumerate(torch.randperm(len(groups), generator=generator).tolist()):
                (test if r < k else train).extend(groups[j])
        return sorted(train), sorted(test)

    assert not nb08.check_split_without_leakage(torch_draw, photos.image_files, photos.labels)
    out = _said(capsys)
    assert "on a new set of files at seed=" in out and "(seed=0 was fine)" in out, out


def test_split_solution_passes_and_the_flowerkit_version_is_refused(photos, capsys):
    assert nb08.check_split_without_leakage(split_solution, photos.image_files, photos.labels)
    assert "split_by_content, given the same hashes and seed, holds out the same" in _said(capsys)

    def flowerkit_version(files, labels, fraction, seed):
        return curate.split_by_content([curate.content_hash(f) for f in files], labels, test_fraction=fraction, seed=seed)

    assert not nb08.check_split_without_leakage(flowerkit_version, photos.image_files, photos.labels)
    assert "curate.split_by_content, the version this exercise builds" in _said(capsys)

    def another_shuffle(files, labels, fraction, seed):  # the same rule, another draw: a fair split too
        return split_solution(files, labels, fraction, seed + 1)

    assert nb08.check_split_without_leakage(another_shuffle, photos.image_files, photos.labels)
    out = _said(capsys)
    assert (
        "Correct!" in out
        and "the same number of distinct photos in every class" in out
        and "any seeded shuffle is as fair" in out
    )

    def a_larger_share(files, labels, fraction, seed):  # 40% held out: within the checker's tolerance, not flowerkit's rule
        return split_solution(files, labels, fraction + 0.1, seed)

    assert nb08.check_split_without_leakage(a_larger_share, photos.image_files, photos.labels)
    out = _said(capsys)
    assert "a different number of distinct photos in" in out and "round(test_fraction x distinct photos)" in out


def test_a_split_that_rounds_a_small_class_to_nothing_is_refused(photos, capsys):
    def unclamped(files, labels, fraction, seed):  # the reviewer's answer: per class round(fraction * groups), no min/max
        return split_solution(files, labels, fraction, seed, clamp=False)

    assert not nb08.check_split_without_leakage(unclamped, photos.image_files, photos.labels)
    out = _said(capsys)
    assert "at test_fraction=0.1" in out and "a class left with nothing held out, or nothing in train" in out, out
    assert "Hint:" in out and "clamp" in out, out


def test_a_random_split_leaks(photos, capsys):
    def at_random(files, labels, fraction, seed):
        order = np.random.default_rng(seed).permutation(len(files)).tolist()
        cut = int(fraction * len(order))
        return order[cut:], order[:cut]

    assert not nb08.check_split_without_leakage(at_random, photos.image_files, photos.labels)
    out = _said(capsys)
    assert "are the same bytes" in out and "hashlib.sha256" in out
    import hashlib
    import re

    named = re.search(r"photos: (\S+) \(train\) and (\S+) \(test\) are the same bytes", out)
    by_name = {f.name: f for f in photos.image_files}
    a, b = (hashlib.sha256(by_name[n].read_bytes()).hexdigest() for n in named.groups())
    assert a == b, f"the checker named two different photos as one: {named.groups()}"


def test_a_split_of_files_instead_of_positions_is_named(photos, capsys):
    def files_split(files, labels, fraction, seed):
        return list(files[1:]), list(files[:1])

    assert not nb08.check_split_without_leakage(files_split, photos.image_files, photos.labels)
    assert "not files or names" in _said(capsys)


def test_a_split_that_ignores_classes_or_seeds(photos, capsys):
    assert not nb08.check_split_without_leakage(lambda f, y, fr, s: (list(range(len(f))), []), photos.image_files, photos.labels)
    assert "none in test" in _said(capsys)
    assert not nb08.check_split_without_leakage(lambda f, y, fr, s: None, photos.image_files, photos.labels)
    assert "still the stub" in _said(capsys)

    def unseeded(files, labels, fraction, seed):
        return split_solution(files, labels, fraction, int(torch.randint(0, 10**6, ())))

    assert not nb08.check_split_without_leakage(unseeded, photos.image_files, photos.labels)
    assert "the same seed gave another split" in _said(capsys)

    def seed_ignored(files, labels, fraction, seed):  # grouped and stratified, but every seed gives one split
        return split_solution(files, labels, fraction, 0)

    assert not nb08.check_split_without_leakage(seed_ignored, photos.image_files, photos.labels)
    assert "your split ignores its seed" in _said(capsys)


# ---------------------------------------------------------------- exercise 5


def weights_solution(sources, labels, shares):
    total = sum(shares.values())
    per_pair = Counter(zip(sources, labels))
    per_source = Counter(s for s, _ in per_pair)
    return [shares[s] / total / per_source[s] / per_pair[(s, y)] for s, y in zip(sources, labels)]


@pytest.fixture(scope="module")
def two_sources(photos):
    labels = [c for c in range(102) for _ in range(10)] + list(photos.labels)
    return ["oxford"] * 1020 + ["visitors"] * len(photos), labels


def test_weights_solution_passes_and_the_flowerkit_version_is_refused(two_sources, capsys):
    assert nb08.check_visitor_weights(weights_solution, *two_sources)
    assert "curate.mixing_weights gives the same weights" in _said(capsys)
    for flowerkit_version in (curate.mixing_weights, lambda s, y, sh: curate.mixing_weights(s, y, sh)):
        assert not nb08.check_visitor_weights(flowerkit_version, *two_sources)
        assert "curate.mixing_weights, the version this exercise builds" in _said(capsys)

    def uneven_within_a_class(sources, labels, shares):  # each class still gets its part, shared out unevenly
        weights = torch.tensor(weights_solution(sources, labels, shares))
        firsts = {}
        for i, key in enumerate(zip(sources, labels)):
            firsts.setdefault(key, []).append(i)
        for items in firsts.values():
            if len(items) >= 2:
                a, b = items[:2]
                weights[a], weights[b] = weights[a] * 1.5, weights[b] * 0.5
        return weights

    assert nb08.check_visitor_weights(uneven_within_a_class, *two_sources)
    assert "Yours differ from flowerkit's curate.mixing_weights" in _said(capsys)


def test_weights_are_tried_on_shares_that_do_not_sum_to_one(two_sources, capsys):
    def as_fractions(sources, labels, shares):  # shares read as fractions of 1: a share of 3 capped to all the draws
        return weights_solution(sources, labels, {s: min(share, 1.0) for s, share in shares.items()})

    assert not nb08.check_visitor_weights(as_fractions, *two_sources)
    out = _said(capsys)
    assert "shares 3 and 1 (not summing to 1)" in out and "expected 75%" in out, out
    assert "these shares sum to 4, not 1" in out, out


def test_weights_mistakes(two_sources, capsys):
    assert not nb08.check_visitor_weights(lambda s, y, sh: [1.0] * len(y), *two_sources)
    assert "of the draws, expected" in _said(capsys)

    def by_source_only(sources, labels, shares):
        n = Counter(sources)
        return [shares[s] / n[s] for s in sources]

    assert not nb08.check_visitor_weights(by_source_only, *two_sources)
    out = _said(capsys)
    assert "as often as class" in out and "same total weight" in out and "/" not in out.split("Hint:")[1], out
    assert not nb08.check_visitor_weights(lambda s, y, sh: None, *two_sources)
    assert "still the stub" in _said(capsys)
    assert not nb08.check_visitor_weights(lambda s, y, sh: [float("nan")] * len(y), *two_sources)  # a division by 0
    assert "not finite numbers" in _said(capsys)
    for odd in ({"oxford": 1.0}, (1.0 for _ in range(3)), ["a"] * len(two_sources[1])):
        assert not nb08.check_visitor_weights(lambda s, y, sh, odd=odd: odd, *two_sources)  # a verdict, no traceback
        assert "Not yet" in _said(capsys)


# ---------------------------------------------------------------- exercise 6


def test_buckets(photos, capsys):
    sizes = [curate.photo_size(f) for f in photos.image_files]

    def by_aspect(sizes, batch_size):
        order = sorted(range(len(sizes)), key=lambda i: sizes[i][0] / sizes[i][1])
        return [order[k : k + batch_size] for k in range(0, len(order), batch_size)]

    assert nb08.check_buckets(by_aspect, sizes, S)
    out = _said(capsys)
    assert "Correct!" in out and "BucketBatchSampler pads" in out
    assert not nb08.check_buckets(lambda sz, b: nb08._random_batches(len(sz), b), sizes, S)
    out = _said(capsys)
    assert "which photos should share a batch" in out and "well-chosen batches pad about" in out
    assert not nb08.check_buckets(lambda sz, b: list(curate.BucketBatchSampler(sz, b)), sizes, S)
    assert "curate.BucketBatchSampler, the version this exercise builds" in _said(capsys)
    assert not nb08.check_buckets(lambda sz, b: [list(range(len(sz)))], sizes, S)
    assert "a batch of more than 16 positions" in _said(capsys)
    assert not nb08.check_buckets(lambda sz, b: [[i] for i in range(len(sz))], sizes, S)  # no padding, no batches
    assert "batches where" in _said(capsys)
    assert nb08.check_buckets(lambda sz, b: (batch for batch in by_aspect(sz, b)), sizes, S)  # a generator of batches
    assert "Correct!" in _said(capsys)
    assert nb08.check_buckets(lambda sz, b: [np.array(batch) for batch in by_aspect(sz, b)], sizes, S)
    assert "Correct!" in _said(capsys)
    for not_batches in (5, [1, 2, 3], ["a", "b"]):
        assert not nb08.check_buckets(lambda sz, b, answer=not_batches: answer, sizes, S)
        out = _said(capsys)
        assert "expected a list of batches" in out and "Hint:" in out, out

    def by_orientation_then_aspect(sizes, batch_size):  # another valid way: buckets per orientation, each cut in batches
        out = []
        for portrait in (False, True):
            group = sorted((i for i, (w, h) in enumerate(sizes) if (h > w) == portrait), key=lambda i: sizes[i][0] / sizes[i][1])
            out += [group[k : k + batch_size] for k in range(0, len(group), batch_size)]
        return out

    assert nb08.check_buckets(by_orientation_then_aspect, sizes, S)
    assert "Correct!" in _said(capsys)


# ---------------------------------------------------------------- exercise 7


@pytest.fixture(scope="module")
def bucket(photos):
    whole = curate.LabelledImages(photos.image_files, photos.labels, S)
    whole.decode = curate.decode_long_side
    sizes = [curate.photo_size(f) for f in photos.image_files]

    def several_sizes_not_square(batch):  # so that height and width swapped show in the shape
        shapes = {curate._scaled_shape(*sizes[i], S) for i in batch}
        return len(shapes) > 1 and max(h for h, _ in shapes) != max(w for _, w in shapes)

    return [whole[i] for i in next(filter(several_sizes_not_square, curate.BucketBatchSampler(sizes, 16, seed=0)))]


def pad_with_f_pad(batch):  # the notebook's solution
    h, w = max(x.shape[1] for x, _ in batch), max(x.shape[2] for x, _ in batch)
    padded = [torch.nn.functional.pad(x, (0, w - x.shape[2], 0, h - x.shape[1])) for x, _ in batch]
    return torch.stack(padded), torch.tensor([int(y) for _, y in batch])


def test_pad_collate_accepts_plain_torch_and_names_the_classic_mistakes(bucket, capsys):
    assert len({tuple(x.shape) for x, _ in bucket}) > 1, "the bucket holds photos of several sizes"
    assert nb08.check_pad_collate(pad_with_f_pad, bucket)
    out = _said(capsys)
    assert "Correct!" in out and "curate.pad_collate" in out, out

    def into_zeros(batch):  # another way: slices of a zero tensor, labels via torch.as_tensor of a list
        h, w = max(x.shape[1] for x, _ in batch), max(x.shape[2] for x, _ in batch)
        out = torch.zeros(len(batch), 3, h, w, dtype=torch.uint8)
        for k, (x, _) in enumerate(batch):
            out[k, :, : x.shape[1], : x.shape[2]] = x
        return out, torch.as_tensor([int(y) for _, y in batch])

    assert nb08.check_pad_collate(into_zeros, bucket)
    assert "Correct!" in _said(capsys)

    def with_tf_pad(batch):  # torchvision's pad: [left, top, right, bottom]
        h, w = max(x.shape[1] for x, _ in batch), max(x.shape[2] for x, _ in batch)
        padded = [TF.pad(x, [0, 0, w - x.shape[2], h - x.shape[1]]) for x, _ in batch]
        return torch.stack(padded), torch.tensor([int(y) for _, y in batch])

    assert nb08.check_pad_collate(with_tf_pad, bucket)
    assert "Correct!" in _said(capsys)

    def tf_pad_in_f_pad_order(batch):  # F.pad's (left, right, top, bottom) handed to torchvision's pad
        h, w = max(x.shape[1] for x, _ in batch), max(x.shape[2] for x, _ in batch)
        padded = [TF.pad(x, [0, w - x.shape[2], 0, h - x.shape[1]]) for x, _ in batch]
        return torch.stack(padded), torch.tensor([int(y) for _, y in batch])

    def swapped(batch):  # F.pad's pairs read as (top, bottom, left, right)
        h, w = max(x.shape[1] for x, _ in batch), max(x.shape[2] for x, _ in batch)
        return torch.stack([torch.nn.functional.pad(x, (0, h - x.shape[1], 0, w - x.shape[2])) for x, _ in batch]), None

    def centred(batch):
        h, w = max(x.shape[1] for x, _ in batch), max(x.shape[2] for x, _ in batch)
        pads = [
            (
                (w - x.shape[2]) // 2,
                w - x.shape[2] - (w - x.shape[2]) // 2,
                (h - x.shape[1]) // 2,
                h - x.shape[1] - (h - x.shape[1]) // 2,
            )
            for x, _ in batch
        ]
        return torch.stack([torch.nn.functional.pad(x, p) for (x, _), p in zip(batch, pads)]), torch.tensor(
            [int(y) for _, y in batch]
        )

    def padded_before(batch):  # F.pad's pairs read as (before, after) the wrong way round
        h, w = max(x.shape[1] for x, _ in batch), max(x.shape[2] for x, _ in batch)
        padded = [torch.nn.functional.pad(x, (w - x.shape[2], 0, h - x.shape[1], 0)) for x, _ in batch]
        return torch.stack(padded), torch.tensor([int(y) for _, y in batch])

    def channels_last(batch):  # notebook 03's permute kept
        images, labels = pad_with_f_pad(batch)
        return images.permute(0, 2, 3, 1), labels

    def largest_photo(batch):  # pads to the photo with the most pixels, not the largest height and width
        h, w = max((x for x, _ in batch), key=lambda x: x.shape[1] * x.shape[2]).shape[1:]
        padded = [torch.nn.functional.pad(x, (0, w - x.shape[2], 0, h - x.shape[1])) for x, _ in batch]  # negative: cut
        return torch.stack(padded), torch.tensor([int(y) for _, y in batch])

    def as_float(batch):
        images, labels = pad_with_f_pad(batch)
        return images.float() / 255, labels

    def padded_with_white(batch):
        h, w = max(x.shape[1] for x, _ in batch), max(x.shape[2] for x, _ in batch)
        padded = [torch.nn.functional.pad(x, (0, w - x.shape[2], 0, h - x.shape[1]), value=255) for x, _ in batch]
        return torch.stack(padded), torch.tensor([int(y) for _, y in batch])

    def labels_as_list(batch):
        return pad_with_f_pad(batch)[0], [int(y) for _, y in batch]

    def reversed_order(batch):
        images, labels = pad_with_f_pad(batch[::-1])
        return images, labels

    def calls_flowerkit(batch):
        return curate.pad_collate(batch)

    def stretched(batch):  # every photo resized to the batch's size: nearest repeats rows, so a window may match
        h, w = max(x.shape[1] for x, _ in batch), max(x.shape[2] for x, _ in batch)
        resized = [torch.nn.functional.interpolate(x[None].float(), size=(h, w), mode="nearest")[0] for x, _ in batch]
        return torch.stack(resized).to(torch.uint8), torch.tensor([int(y) for _, y in batch])

    for func, said in (
        (swapped, "the last dimension first"),
        (tf_pad_in_f_pad_order, "transforms.functional.pad takes [left, top, right, bottom]"),
        (lambda batch: (pad_with_f_pad(batch)[0].transpose(2, 3), pad_with_f_pad(batch)[1]), "height and width swapped"),
        (centred, "not at the top left"),
        (padded_before, "row "),
        (channels_last, "the axes are in another order"),
        (largest_photo, "widest 7 wide"),
        (as_float, "torch.float32, the photos uint8"),
        (padded_with_white, "not zeros"),
        (labels_as_list, "labels are list"),
        (reversed_order, "is not in slot"),
        (calls_flowerkit, "the version this exercise builds"),
        (stretched, "pixels changed"),
        (lambda batch: None, "still the stub"),
        (lambda batch: torch.stack([x for x, _ in batch]), "your function raised"),
        (lambda batch: [x for x, _ in batch], "expected (images, labels)"),
    ):
        assert not nb08.check_pad_collate(func, bucket), func
        out = _said(capsys)
        assert said in out and "Hint:" in out, (said, out)


def test_pad_collate_is_judged_on_made_up_photos_too(bucket, capsys):
    def only_this_bucket(batch):  # right on the visitor photos, wrong when the widest photo is not the tallest
        big = max((x for x, _ in batch), key=lambda x: x.shape[1] * x.shape[2])
        h, w = big.shape[1:]
        if any(x.shape[1] > h or x.shape[2] > w for x, _ in batch):
            raise ValueError("a photo larger than the largest")
        return pad_with_f_pad(batch)

    if nb08.check_pad_collate(only_this_bucket, bucket):  # the bucket's largest photo may be its tallest and widest
        pytest.fail("only_this_bucket passed: the made-up case does not test a batch whose widest photo is not its tallest")
    assert "made-up photos" in _said(capsys)


# ---------------------------------------------------------------- exercise 8


@pytest.fixture(scope="module")
def volunteer(handover):
    return nb08.volunteer_loader(handover, S)


def test_the_doctor_passes_the_volunteers_loader_and_flags_it_unshuffled(volunteer):
    # Notebook 08's prose: their batches mix species, so the doctor (one epoch's first batches) passes their loader;
    # over the same dataset in its own (sorted) order, it finds the runs of one class.
    assert doctor.diagnose(volunteer, measure=False).problems == []
    in_order = DataLoader(volunteer.dataset, batch_size=volunteer.batch_size, collate_fn=volunteer.collate_fn)
    report = doctor.diagnose(in_order, measure=False)
    assert [f.check for f in report.problems] == ["shuffling"], str(report)


def test_the_volunteers_loader_mixes_species_repeats_its_batches_and_holds_a_fifth_back(volunteer):
    labels = [row["species_id"] for row in volunteer.dataset._table]
    first, second = list(volunteer.batch_sampler), list(volunteer.batch_sampler)
    assert first == second
    assert len({labels[i] for i in first[0]}) > 3  # a batch mixes species
    held_back = len(volunteer.dataset) - len(volunteer.sampler)
    assert held_back == len(volunteer.dataset) // 5 and len(set(volunteer.sampler)) == len(volunteer.sampler)


def _shuffled(loader, **changes):
    kwargs = {"batch_size": loader.batch_size, "collate_fn": loader.collate_fn, "shuffle": True, **changes}
    return DataLoader(loader.dataset, **kwargs)


def _reshuffled(loader, generator=None):  # the fix: their photos, a new order every epoch
    return _shuffled(loader, shuffle=False, sampler=SubsetRandomSampler(list(loader.sampler), generator=generator))


def test_the_volunteers_fix_is_accepted_and_the_doctor_agrees(volunteer, capsys):
    fix = lambda loader: _reshuffled(loader, torch.Generator().manual_seed(0))  # noqa: E731
    assert nb08.check_volunteer_fix(fix, volunteer)
    out = _said(capsys)
    assert "Correct!" in out and "share 0 of their" in out and "held back" in out, out
    assert nb08.check_volunteer_fix(_reshuffled, volunteer)  # unseeded: still a new order each epoch
    assert doctor.diagnose(fix(volunteer), measure=False).problems == []


def _their_subset(loader, shuffle=True):  # their photos as a Subset of their dataset
    subset = Subset(loader.dataset, list(loader.sampler))
    return DataLoader(subset, batch_size=loader.batch_size, shuffle=shuffle, collate_fn=loader.collate_fn)


def test_a_subset_of_their_photos_shuffled_is_another_right_fix(volunteer, capsys):
    assert nb08.check_volunteer_fix(_their_subset, volunteer)  # positions in the Subset are read as the photos it lists
    assert "Correct!" in _said(capsys)
    drawn = [i for batch in nb08._epoch(_their_subset(volunteer)) for i in batch]
    assert sorted(drawn) == sorted(volunteer.sampler)  # the dataset's positions, not the Subset's


def test_a_subset_drawn_with_the_dataset_s_positions_is_named(volunteer, capsys):
    def both(loader):  # a Subset of their photos, and a sampler of the dataset's positions: each alone would do
        picks = list(loader.sampler)
        return DataLoader(
            Subset(loader.dataset, picks),
            batch_size=loader.batch_size,
            sampler=SubsetRandomSampler(picks),
            collate_fn=loader.collate_fn,
        )

    assert not nb08.check_volunteer_fix(both, volunteer)
    out = _said(capsys)
    assert "a Subset's positions are places in its list" in out and "IndexError" not in out, out


def test_shuffle_true_over_the_whole_dataset_trains_on_what_they_held_back(volunteer, capsys):
    assert not nb08.check_volunteer_fix(lambda loader: _shuffled(loader, generator=torch.Generator().manual_seed(0)), volunteer)
    out = _said(capsys)
    n, kept = len(volunteer.dataset), len(volunteer.sampler)
    assert f"an epoch draws {n - kept} photos that their sampler never draws" in out and "len(loader.sampler)" in out, out


class _EpochSampler(Sampler):  # their positions in a new order per set_epoch, as DistributedSampler draws
    def __init__(self, positions):
        self.positions, self.epoch = list(positions), 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return len(self.positions)

    def __iter__(self):
        order = torch.randperm(len(self.positions), generator=torch.Generator().manual_seed(self.epoch)).tolist()
        return iter([self.positions[i] for i in order])


def test_a_sampler_that_needs_set_epoch_is_refused(volunteer, capsys):  # model.train never calls set_epoch
    def fix(loader):
        return _shuffled(loader, shuffle=False, sampler=_EpochSampler(loader.sampler))

    assert not nb08.check_volunteer_fix(fix, volunteer)
    out = _said(capsys)
    assert "only when a loop calls its set_epoch" in out and "DistributedSampler is for several processes" in out, out


def _stale(loader):  # one shuffled order of their photos, the same every epoch
    kept = list(loader.sampler)
    return _shuffled(loader, shuffle=False, sampler=[kept[i] for i in torch.randperm(len(kept)).tolist()])


class _Reseeded(_EpochSampler):  # shuffles, but with a generator created and seeded anew each epoch, no set_epoch
    set_epoch = None


class _WithReplacement(_EpochSampler):  # draws their photos with replacement
    def __iter__(self):
        picks = torch.randint(len(self.positions), (len(self.positions),)).tolist()
        return iter([self.positions[i] for i in picks])


class _InBatches(_EpochSampler):  # their batches kept, the photos shuffled inside each, a new order of batches
    def __init__(self, loader):
        super().__init__(loader.sampler)
        self.batch, self.calls = loader.batch_size, 0

    def __iter__(self):
        self.calls += 1
        g = torch.Generator().manual_seed(self.calls)
        groups = [self.positions[k : k + self.batch] for k in range(0, len(self.positions), self.batch)]
        whole, last = groups[:-1], groups[-1:]  # the short batch stays last, so every batch keeps its size
        whole = [whole[i] for i in torch.randperm(len(whole), generator=g).tolist()]
        return iter([p for group in whole + last for p in (group[i] for i in torch.randperm(len(group), generator=g))])


class _Shifted(_EpochSampler):  # their order, moved along by one place each epoch
    def __init__(self, positions):
        super().__init__(positions)
        self.calls = 0

    def __iter__(self):
        self.calls += 1
        return iter(self.positions[self.calls :] + self.positions[: self.calls])


class _InTurn(_EpochSampler):  # their photos in one of a few fixed shuffled orders, taken in turn; no set_epoch
    set_epoch = None

    def __init__(self, positions, period):
        super().__init__(positions)
        g = torch.Generator().manual_seed(0)
        self.orders = [[self.positions[i] for i in torch.randperm(len(self.positions), generator=g)] for _ in range(period)]
        self.calls = 0

    def __iter__(self):
        self.calls += 1
        return iter(self.orders[(self.calls - 1) % len(self.orders)])


class _BackAndForth(_InTurn):  # one shuffled order, then the same backwards, in turn
    def __init__(self, positions):
        super().__init__(positions, 1)
        self.orders.append(self.orders[0][::-1])


@pytest.mark.parametrize("period", [2, 3])
def test_a_sampler_taking_a_few_fixed_orders_in_turn_is_refused(volunteer, period, capsys):
    fix = lambda loader: _shuffled(loader, shuffle=False, sampler=_InTurn(loader.sampler, period))  # noqa: E731
    assert not nb08.check_volunteer_fix(fix, volunteer)
    out = _said(capsys)
    assert f"epochs 0 and {period} visit the photos in the same order" in out and "come round again" in out, out


def test_the_epochs_that_repeat_are_the_ones_named(volunteer, capsys):
    # epochs 0 and 1 share no batch (one order, then backwards); 0 and 2 are the same
    fix = lambda loader: _shuffled(loader, shuffle=False, sampler=_BackAndForth(loader.sampler))  # noqa: E731
    assert not nb08.check_volunteer_fix(fix, volunteer)
    out = _said(capsys)
    assert "epochs 0 and 2 visit the photos in the same order" in out and "epochs 0 and 1" not in out, out
    epochs = [[[0, 1], [2, 3], [4, 5]], [[5, 4], [3, 2], [1, 0]], [[0, 1], [2, 3], [4, 5]]]
    assert "epochs 0 and 2 visit" in nb08._regrouped_problem(epochs, "a case")[0]
    regrouped = [[[0, 1], [2, 3], [4, 5]], [[1, 2], [3, 4], [5, 0]], [[3, 2], [5, 4], [1, 0]]]  # 0 and 2: groups again
    assert "epochs 0 and 2 share 3 of their 3 batches, in another order" in nb08._regrouped_problem(regrouped, "a case")[0]


def test_the_bucket_sampler_meets_new_groups_each_epoch_as_exercise_8_asks(photos):
    sizes = [curate.photo_size(f) for f in photos.image_files]
    buckets = curate.BucketBatchSampler(sizes, 16, seed=0)
    assert nb08._regrouped_problem([list(buckets) for _ in range(nb08._EPOCHS_DRAWN)], "the bucket sampler") is None


def _made_for_them(volunteer):  # ignores its argument: fits their loader only
    return lambda loader: _reshuffled(volunteer)


@pytest.mark.parametrize(
    "make_fix, feedback",
    [
        (lambda v: lambda loader: None, "still the stub"),
        (lambda v: lambda loader: 1 / 0, "ZeroDivisionError"),
        (lambda v: lambda loader: loader, "delivers what theirs does, batch for batch"),  # nothing changed
        (lambda v: lambda loader: _shuffled(loader, shuffle=False, sampler=loader.sampler), "batch for batch"),
        (lambda v: lambda loader: _shuffled(loader, shuffle=False, sampler=_InBatches(loader)), "share"),
        (lambda v: lambda loader: _shuffled(loader, shuffle=False, sampler=_Shifted(loader.sampler)), "neighbouring pairs"),
        (
            lambda v: (
                lambda loader: _shuffled(
                    loader,
                    shuffle=False,
                    sampler=(p for p in torch.randperm(len(loader.dataset)).tolist() if p in set(loader.sampler)),
                )
            ),
            "epoch 1 is empty",
        ),
        (lambda v: lambda loader: _shuffled(loader, sampler=loader.sampler), "it cannot take their sampler"),
        (lambda v: lambda loader: _shuffled(loader, shuffle=False), "their sampler never draws"),  # no sampler, no shuffle
        (
            lambda v: lambda loader: _shuffled(loader, shuffle=False, sampler=sorted(loader.sampler)),
            "share a species",  # their photos in the dataset's own order: sorted by species
        ),
        (lambda v: lambda loader: list(loader.dataset), "not a DataLoader"),
        (lambda v: lambda loader: _shuffled(loader, collate_fn=None), "normalises with the app's statistics"),
        (
            lambda v: (
                lambda loader: _shuffled(loader, shuffle=False, sampler=SubsetRandomSampler(list(loader.sampler)), batch_size=4)
            ),
            "batches of another size",
        ),
        (
            lambda v: lambda loader: _shuffled(loader, shuffle=False, sampler=_WithReplacement(loader.sampler)),
            "different ones",
        ),
        (
            lambda v: (
                lambda loader: DataLoader(
                    copy.copy(loader.dataset),  # a copy: another object, the same photos
                    batch_size=loader.batch_size,
                    sampler=SubsetRandomSampler(list(loader.sampler)),
                    collate_fn=loader.collate_fn,
                )
            ),
            "a new dataset",
        ),
        (
            lambda v: lambda loader: _their_subset(loader, shuffle=False),  # their photos, one order: every epoch alike
            "with neither a sampler nor shuffle=True",
        ),
        (
            lambda v: (
                lambda loader: DataLoader(
                    Subset(copy.copy(loader.dataset), list(loader.sampler)), batch_size=loader.batch_size, shuffle=True
                )
            ),
            "a new dataset",  # a Subset is judged by the dataset it wraps
        ),
        (
            lambda v: lambda loader: _shuffled(loader, shuffle=False, sampler=RandomSampler(list(loader.sampler))),
            "the places in their list, not the photos it lists",
        ),
        (lambda v: _stale, "a list of positions as sampler"),
        (lambda v: lambda loader: _shuffled(loader, shuffle=False, sampler=_Reseeded(loader.sampler)), "your sampler draws"),
        (_made_for_them, "on a new case"),
    ],
)
def test_volunteer_fix_mistakes(volunteer, make_fix, feedback, capsys):
    assert not nb08.check_volunteer_fix(make_fix(volunteer), volunteer)
    out = _said(capsys)
    assert feedback in out and "Hint:" in out, out


# ---------------------------------------------------------------- the notebook's setup cell


def test_the_setup_imports_nothing_only_an_answer_uses():
    import ast
    import json

    cells = json.loads((Path(__file__).parents[1] / "notebooks" / "08_your_own_data.ipynb").read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    setup = ast.parse("".join(code[0]["source"]))
    imported = {
        (a.asname or a.name).split(".")[0] for s in setup.body if isinstance(s, (ast.Import, ast.ImportFrom)) for a in s.names
    }
    read = {
        n.id
        for s in setup.body
        if not isinstance(s, (ast.Import, ast.ImportFrom))
        for n in ast.walk(s)
        if isinstance(n, ast.Name)
    }
    for cell in code[1:]:
        if "solution" not in cell["metadata"].get("tags", []):
            source = "\n".join(line for line in "".join(cell["source"]).splitlines() if not line.startswith(("%", "!")))
            read |= {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    unused = imported - read - {"difflib", "Path"}  # difflib: ex. 1's prompt names it; Path: for any file exercise
    assert not unused, f"the setup imports {sorted(unused)}, which only a solution (or nothing) uses"


def test_buckets_use_the_batch_size_they_are_given(capsys):
    def sixteen_always(sizes, batch_size):  # batch_size ignored: 16 typed in
        order = sorted(range(len(sizes)), key=lambda i: sizes[i][0] / sizes[i][1])
        return [order[k : k + 16] for k in range(0, len(order), 16)]

    sizes = [(w, h) for w, h in zip(range(100, 3100, 60), range(3000, 100, -58))]
    assert not nb08.check_buckets(sixteen_always, sizes, S)
    out = _said(capsys)
    assert "batch_size=10: a batch of more than 10 positions" in out and "the argument" in out, out


def test_false_for_no_class_is_named(handover, capsys):
    def false_for_none(name):
        found = species_solution(name)
        return False if found is None else found

    assert not nb08.check_species_to_class(false_for_none, handover)
    assert "a bool, which counts as class 0" in _said(capsys)
