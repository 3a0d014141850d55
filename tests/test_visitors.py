"""flowerkit.visitors: the garden's hand-over for notebook 08, deterministic, made from the validation and test photos,
messy in exactly the documented ways (names, bad files, duplicates, imbalance, formats and sizes)."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from flowerkit import CLASSES, OxfordFlowers102, curate, visitors


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def handover(mini_root, tmp_path_factory):
    return visitors.make_visitors(mini_root, folder=tmp_path_factory.mktemp("a") / "visitors")


def test_the_same_dataset_and_seed_give_the_same_bytes(mini_root, handover, tmp_path):
    again = visitors.make_visitors(mini_root, folder=tmp_path / "visitors")
    assert _digest(again.folder) == _digest(handover.folder) and again.truth == handover.truth
    other = visitors.make_visitors(mini_root, folder=tmp_path / "seed1", seed=1)
    assert _digest(other.folder) != _digest(handover.folder)


def test_a_complete_hand_over_is_reused(mini_root, handover):
    before = {p: p.stat().st_mtime_ns for p in handover.uploads.iterdir()}
    again = visitors.make_visitors(mini_root, folder=handover.folder)
    assert {p: p.stat().st_mtime_ns for p in again.uploads.iterdir()} == before


def test_the_csv_and_the_note_are_as_documented(handover):
    with open(handover.csv, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert tuple(reader.fieldnames) == visitors.CSV_COLUMNS
    listed = [u for u in handover.truth if u.problem != "not in the CSV"]
    assert [r["upload_id"] for r in rows] == [u.upload_id for u in listed]
    assert [r["species"] for r in rows] == [u.species for u in listed]
    assert "labels.csv" in handover.note.read_text(encoding="utf-8")
    on_disk = {p.name for p in handover.uploads.iterdir()}
    assert {u.file for u in handover.truth if u.problem != "missing"} == on_disk


def test_the_mess_is_the_documented_mess(handover):
    truth = handover.truth
    problems = Counter(u.problem for u in truth if u.problem)
    assert problems == {"empty": 2, "truncated": 1, "not an image": 1, "missing": 1, "not in the CSV": 3}
    assert sum(u.label is None and bool(u.species) for u in truth) == sum(n for _, n in visitors._NOT_IN_102)
    dupes = [u for u in truth if u.duplicate_of]
    first = {u.upload_id: u for u in truth}
    assert len(dupes) == 12
    for u in dupes:
        original = first[u.duplicate_of]
        assert (handover.uploads / u.file).read_bytes() == (handover.uploads / original.file).read_bytes()
        assert u.label == original.label and u.file != original.file
    counts = Counter(u.label for u in truth if u.label is not None)
    assert max(counts.values()) >= 4 * min(counts.values()), "popular flowers dominate"
    assert len({u.species for u in truth if u.label is not None}) > len(counts), "some species are spelt several ways"


def test_every_written_species_maps_back_to_the_truth(handover):
    rows = visitors.read_rows(handover.csv)
    listed = [u for u in handover.truth if u.problem != "not in the CSV"]
    assert [r.label for r in rows] == [u.label for u in listed]
    assert all(r.file == handover.uploads / u.file for r, u in zip(rows, listed))
    assert {r.why for r in rows if r.species in ("tulip", "daisy")} <= {r.why for r in rows if r.why.startswith("only part of")}


def test_photos_are_made_from_validation_and_test_photos_only(mini_root, handover):
    train = set(OxfordFlowers102(mini_root, "train").image_files)
    held = set(OxfordFlowers102(mini_root, "val").image_files) | set(OxfordFlowers102(mini_root, "test").image_files)
    assert handover.sources and handover.sources <= held and not handover.sources & train
    test = OxfordFlowers102(mini_root, "test")
    for c in set(test.labels):  # every class keeps test photos for the Oxford evaluation
        assert any(f not in handover.sources for f, y in zip(test.image_files, test.labels) if y == c)


def test_formats_modes_orientations_and_sizes_vary(handover):
    good = [u for u in handover.truth if u.problem in (None, "not in the CSV")]
    kinds = Counter(u.kind for u in good)
    assert {"phone JPEG", "portrait, EXIF-rotated", "PNG", "grayscale JPEG", "CMYK JPEG", "thumbnail", "large JPEG"} <= set(kinds)
    modes, suffixes, long_sides = set(), set(), []
    for u in good:
        with Image.open(handover.uploads / u.file) as img:
            modes.add(img.mode)
            suffixes.add(Path(u.file).suffix)
            long_sides.append(max(img.size))
            if u.kind == "portrait, EXIF-rotated":
                assert img.getexif().get(274) == 6 and curate.photo_size(handover.uploads / u.file)[1] > img.size[1]
    assert {"RGB", "L", "CMYK"} <= modes and {".jpg", ".JPG", ".png"} <= suffixes
    assert min(long_sides) < 150 and max(long_sides) >= 2000


def test_the_bad_files_are_bad_in_the_way_the_truth_says(handover):
    bad = [(u.problem, handover.uploads / u.file) for u in handover.truth if u.problem and u.problem != "not in the CSV"]
    for problem, path in bad:
        if problem == "missing":
            assert not path.exists()
        elif problem == "empty":
            assert path.stat().st_size == 0
        elif problem == "not an image":
            assert path.read_text().startswith("<!DOCTYPE html>")
        else:
            with pytest.raises(OSError), Image.open(path) as img:
                img.load()
    labelled = [u for u in handover.truth if u.label is not None]
    kept = curate.LabelledImages([handover.uploads / u.file for u in labelled], [u.label for u in labelled], 32)
    assert {p.name for p, _ in kept.skipped} == {p.name for _, p in bad}


def test_the_garden_counts_what_08_s_asserts_need_and_nothing_else(handover):
    """08's asserts read two counts, not the answer key itself (whose rows exercises 2 and 3 find)."""
    rows = visitors.read_rows(handover.csv)
    assert handover.garden_count("outside the 102") == sum(r.label is None and bool(r.species) for r in rows) > 0
    unusable = handover.garden_count("unusable")
    assert unusable == len({u.file for u in handover.truth if u.problem not in (None, "not in the CSV")}) > 0
    with pytest.raises(ValueError, match="'outside the 102' or 'unusable'"):
        handover.garden_count("duplicates")


def test_popular_names_are_classes():
    assert all(name in CLASSES for name, _ in visitors.POPULAR)
    assert not any(name in CLASSES for name, _ in visitors._NOT_IN_102)
    assert not hasattr(visitors, "NOT_IN_102"), "private: help(visitors) is read above the exercise that maps them to None"


def test_read_rows_takes_excel_csv_and_names_what_it_cannot_read(tmp_path):
    """Notebook 08's recap sends students to read_rows with their own CSV: a BOM, no upload_id, a bad row."""
    csv_path = tmp_path / "labels.csv"
    csv_path.write_bytes("file,species\nIMG_1.jpg,Sunflower\nIMG_2.jpg,\n".encode("utf-8-sig"))  # Excel's CSV UTF-8
    rows = visitors.read_rows(csv_path)
    assert [r.upload_id for r in rows] == ["2", "3"] and rows[0].file == tmp_path / "uploads" / "IMG_1.jpg"
    assert rows[0].label is not None and rows[1].label is None and rows[1].why
    csv_path.write_text("file;species\nIMG_1.jpg;Sunflower\n")
    with pytest.raises(ValueError, match=r"labels.csv: needs the columns 'file' and 'species'"):
        visitors.read_rows(csv_path)
    csv_path.write_text("file,species\n,Sunflower\n")
    with pytest.raises(ValueError, match="labels.csv line 2: no file name"):
        visitors.read_rows(csv_path)
    csv_path.write_bytes("file,species\nIMG_1.jpg,P\xe9tunia\n".encode("latin-1"))
    with pytest.raises(ValueError, match="labels.csv is not UTF-8 text"):
        visitors.read_rows(csv_path)
