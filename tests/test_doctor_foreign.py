"""flowerkit.doctor on data it was not written for (notebook 08): ImageFolders of any class count, a CSV-backed Dataset
with no attributes at all, several splits, bad files, and ``python -m flowerkit.doctor`` on a folder or a CSV.

None of these datasets is Oxford 102 or has its .mat files: the doctor must say what it skipped and still find
what can be found. The last tests run the 8 planted-bug pipelines of ``benchmarks/doctor_foreign.py`` at a small size.
"""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset
from torchvision import datasets
from torchvision.transforms import v2

from flowerkit.doctor import diagnose

REPO = Path(__file__).resolve().parents[1]
S = 24


def _picture(label: int, k: int, num_classes: int) -> Image.Image:
    """A small noisy picture whose colour and stripe direction say its class."""
    rng = np.random.default_rng([label, k])
    h, w = int(rng.integers(24, 40)), int(rng.integers(24, 48))
    hue = np.array([np.cos(2 * np.pi * label / num_classes), np.sin(2 * np.pi * label / num_classes), (label % 3) / 2])
    base = 128 + 90 * hue[:3]
    stripes = (
        np.sin(np.arange(w if label % 2 else h) / (1 + label % 4))[None, :, None]
        if label % 2
        else np.sin(np.arange(h) / (1 + label % 4))[:, None, None]
    )
    a = base[None, None, :] + 40 * stripes + rng.normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def _image_folder(root: Path, num_classes: int, per_class: int) -> Path:
    for c in range(num_classes):
        folder = root / f"class_{c:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            _picture(c, k, num_classes).save(folder / f"{c}_{k}.png")
    return root


def _tf(root: Path) -> v2.Compose:
    """Resize and crop to S, normalised with the folder's own per-channel statistics."""
    plain = datasets.ImageFolder(root, transform=v2.Compose([v2.ToImage(), v2.Resize(S), v2.CenterCrop(S)]))
    x = torch.stack([plain[i][0] for i in range(len(plain))]).float() / 255
    mean, std = x.mean((0, 2, 3)).tolist(), x.std((0, 2, 3)).tolist()
    return v2.Compose(
        [v2.ToImage(), v2.Resize(S), v2.CenterCrop(S), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    )


class NoAttributes(Dataset):
    """A student's CSV-backed Dataset that keeps nothing the doctor knows: rows as dicts, the transform in a closure."""

    def __init__(self, csv_path: Path, tf: v2.Compose, sort_by_label: bool = False) -> None:
        with open(csv_path, newline="") as fh:
            rows = [{"where": str(csv_path.parent / r["file"]), "y": int(r["label"])} for r in csv.DictReader(fh)]
        if sort_by_label:
            rows.sort(key=lambda r: r["y"])
        self.__rows = rows
        self.__load = lambda i: (tf(Image.open(rows[i]["where"]).convert("RGB")), rows[i]["y"])

    def __len__(self) -> int:
        return len(self.__rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.__load(i)


def _csv(root: Path, folder: Path, shuffle_rows: bool = True, one_based: bool = False) -> Path:
    ds = datasets.ImageFolder(folder)
    rows = [(Path(p).relative_to(root), y + one_based) for p, y in ds.samples]
    order = np.random.default_rng(0).permutation(len(rows)) if shuffle_rows else range(len(rows))
    path = root / "labels.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label"])
        w.writerows([str(rows[i][0]), rows[i][1]] for i in order)
    return path


@pytest.fixture(scope="module")
def seven(tmp_path_factory) -> Path:
    """An ImageFolder of 7 classes, 20 pictures each (not flowers, not Oxford's layout)."""
    return _image_folder(tmp_path_factory.mktemp("seven"), 7, 20)


def _loader(ds: Dataset, shuffle: bool = True, batch_size: int = 32) -> DataLoader:
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("num_classes", [3, 37])
def test_any_number_of_classes_runs_and_a_healthy_folder_passes(tmp_path, num_classes):
    root = _image_folder(tmp_path, num_classes, 4 if num_classes > 10 else 14)
    report = diagnose(_loader(datasets.ImageFolder(root, transform=_tf(root))), measure=False)
    assert report.ok, str(report)
    checks = {f.check for f in report}
    assert {"labels belong to images", "class balance", "shuffling", "label range", "identical photos"} <= checks
    range_line = next(f for f in report if f.check == "label range")
    assert f"0..{num_classes - 1}" in range_line.message  # the class count came from ImageFolder's classes, not 102
    assert {k.check for k in report.skipped} >= {"labels match files", "split leakage", "duplicates across splits"}
    assert "skipped [access] labels match files" in str(report)


def test_a_dataset_with_no_attributes_gets_its_labels_from_items_and_batches(seven, tmp_path):
    sorted_rows = NoAttributes(_csv(seven.parent, seven, shuffle_rows=False), _tf(seven), sort_by_label=True)
    report = diagnose(_loader(sorted_rows, shuffle=False), measure=False)
    assert report.by_category() == {"access": [], "quality": ["shuffling"], "efficiency": []}, str(report)
    finding = next(f for f in report.problems if f.check == "shuffling")
    assert finding.evidence["labels_from"] == "the first batches" and "shuffle=True" in finding.message
    assert {k.check for k in report.skipped} >= {"class balance", "duplicates"}
    assert diagnose(_loader(sorted_rows, shuffle=True), measure=False).ok


def test_labels_paired_with_the_wrong_files_are_found_without_a_reference(seven):
    ds = datasets.ImageFolder(seven, transform=_tf(seven))
    wrong = np.random.default_rng(1).permutation(len(ds))
    ds.samples = [(p, ds.samples[j][1]) for (p, _), j in zip(ds.samples, wrong)]
    report = diagnose(_loader(ds), measure=False)
    assert report.by_category()["access"] == ["labels belong to images"], str(report)
    probe = next(f for f in report.problems if f.check == "labels belong to images")
    assert probe.evidence["probe_accuracy"] < probe.evidence["shuffled_labels_accuracy"] + 0.15


def test_one_based_labels_without_a_class_list(seven, tmp_path):
    path = _csv(seven.parent, seven, one_based=True)
    report = diagnose(_loader(NoAttributes(path, _tf(seven))), measure=False)
    finding = next(f for f in report.problems if f.check == "label range")
    assert "1-based" in finding.message and finding.evidence["min"] == 1
    assert not report.has("class balance")


def test_one_based_labels_from_a_target_transform_on_an_image_folder(seven):
    ds = datasets.ImageFolder(seven, transform=_tf(seven), target_transform=lambda y: y + 1)
    report = diagnose(_loader(ds), measure=False)
    assert report.has("label range") and "1-based" in next(f for f in report.problems if f.check == "label range").message


def test_a_dataset_not_a_loader_says_what_it_skipped(seven):
    report = diagnose(datasets.ImageFolder(seven, transform=_tf(seven)), measure=False)
    skipped = {k.check: k.reason for k in report.skipped}
    assert "DataLoader" in skipped["shuffling"] and "measure=False" in skipped["decode cost, workers, throughput"]


def test_subsets_and_concatenations_keep_their_files_and_labels(seven):
    ds = datasets.ImageFolder(seven, transform=_tf(seven))
    both = ConcatDataset([Subset(ds, range(0, 140, 2)), Subset(ds, range(1, 140, 2))])
    report = diagnose(_loader(both), measure=False)
    assert report.ok, str(report)
    assert next(f for f in report if f.check == "duplicates").evidence == {"files": 140}


def test_the_same_photo_in_two_splits_is_found_when_splits_are_given(seven, tmp_path):
    test_folder = tmp_path / "test"
    for p in sorted(seven.rglob("*.png"))[::10]:  # a tenth of the training pictures, copied under new names
        (test_folder / p.parent.name).mkdir(parents=True, exist_ok=True)
        (test_folder / p.parent.name / f"copy_{p.name}").write_bytes(p.read_bytes())
    train = _loader(datasets.ImageFolder(seven, transform=_tf(seven)))
    test = _loader(datasets.ImageFolder(test_folder, transform=_tf(seven)), shuffle=False)
    report = diagnose({"train": train, "test": test}, measure=False)
    finding = next(f for f in report.problems if f.check == "duplicates across splits")
    assert finding.evidence["train&test"] == 14 and "copy_" in finding.evidence["example"]
    assert "duplicates across splits" not in {k.check for k in report.skipped}
    clean = diagnose({"train": train}, measure=False)
    assert not clean.has("duplicates across splits")


def test_items_that_raise_are_a_finding_not_a_crash(seven, tmp_path):
    ds = datasets.ImageFolder(seven, transform=_tf(seven))
    broken = sorted(seven.rglob("*.png"))[5]
    original = broken.read_bytes()
    try:
        broken.write_bytes(b"")  # an upload that failed
        report = diagnose(_loader(ds), measure=False)
    finally:
        broken.write_bytes(original)
    assert report.has("items load"), str(report)


def test_identical_photos_with_different_labels(tmp_path):
    root = _image_folder(tmp_path / "data", 4, 12)
    copy = root / "class_01" / "again.png"
    copy.write_bytes((root / "class_00" / "0_3.png").read_bytes())  # one photo filed under two classes
    report = diagnose(_loader(datasets.ImageFolder(root, transform=_tf(root))), measure=False)
    finding = next(f for f in report.problems if f.check == "identical photos")
    assert "again.png" in finding.evidence["example"]


# ---------------------------------------------------------------- the command line


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flowerkit.doctor", *args], capture_output=True, text=True, cwd=REPO, timeout=300
    )


def test_cli_on_a_healthy_folder_exits_0(seven):
    run = _cli(str(seven), "--size", str(S))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "140 files" in run.stdout and "no problem found" in run.stdout and "skipped" in run.stdout


def test_cli_on_a_csv_with_problems_exits_1_and_names_them(seven, tmp_path):
    path = _csv(seven.parent, seven, one_based=True)
    rows = path.read_text().splitlines()
    rows.append("seven_missing.png,3")
    path.write_text("\n".join(rows) + "\n")
    run = _cli(str(path), "--size", str(S))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "PROBLEM [access] label range" in run.stdout and "1-based" in run.stdout
    assert "PROBLEM [access] unreadable files" in run.stdout and "seven_missing.png: missing" in run.stdout


def test_cli_on_split_folders_finds_a_photo_in_two_splits(tmp_path):
    train = _image_folder(tmp_path / "data" / "train", 3, 12)
    test = _image_folder(tmp_path / "data" / "test", 3, 2)
    (test / "class_00" / "leak.png").write_bytes((train / "class_00" / "0_5.png").read_bytes())
    run = _cli(str(tmp_path / "data"), "--size", str(S))
    assert run.returncode == 1 and "PROBLEM [access] duplicates across splits" in run.stdout, run.stdout + run.stderr


def test_cli_names_label_spellings_that_are_one_class(tmp_path):
    root = _image_folder(tmp_path / "imgs", 2, 12)
    path = tmp_path / "labels.csv"
    names = ["Sunflower", "sunflowers", "rose"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "species"])
        for k, p in enumerate(sorted(root.rglob("*.png"))):
            w.writerow(
                [p.relative_to(tmp_path), names[0 if "class_00" in str(p) and k % 2 else 1 if "class_00" in str(p) else 2]]
            )
    run = _cli(str(path), "--size", str(S))
    assert run.returncode == 1 and "PROBLEM [access] label names" in run.stdout, run.stdout
    assert "'Sunflower' = 'sunflowers'" in run.stdout


def test_cli_reports_files_in_class_folders_it_cannot_read_instead_of_ignoring_them(tmp_path):
    """An iPhone's .HEIC photos in a class folder were left out without a word: 3 files, 'all decode'."""
    for name in ("rose", "tulip"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for k in range(3):
            Image.new("RGB", (S, S), (40 * k, 90, 200)).save(tmp_path / "photos" / name / f"{k}.jpg")
    Image.new("RGB", (S, S)).save(tmp_path / "photos" / "tulip" / "IMG_0002.jfif", format="JPEG")  # a JPEG: it decodes
    (tmp_path / "photos" / "tulip" / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    (tmp_path / "photos" / "tulip" / ".DS_Store").write_bytes(bytes(8))  # hidden: not a photo, not reported
    run = _cli(str(tmp_path / "photos"), "--size", str(S))
    assert "8 files" in run.stdout and "1 of 8 files cannot be used" in run.stdout, run.stdout + run.stderr


def test_cli_refuses_what_it_cannot_read(tmp_path):
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "flat" / "a.png")
    run = _cli(str(tmp_path / "flat"))
    assert run.returncode == 2 and "no class folders" in run.stderr
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    (csv_dir / "labels.csv").write_text("file,label\nimg/a.jpg,rose\nimg/b.jpg\n")  # a row without its label
    run = _cli(str(csv_dir / "labels.csv"))
    assert run.returncode == 2 and "labels.csv line 3: no 'label' value" in run.stderr, run.stderr
    (csv_dir / "labels.csv").write_text("file,label\na.jpg,rose\nb.jpg,tulip\n")  # files kept in another folder
    run = _cli(str(csv_dir / "labels.csv"))
    assert run.returncode == 2 and "none of its 2 files can be used, e.g." in run.stderr and "--images" in run.stderr
    (csv_dir / "latin1.csv").write_bytes("file,label\na.jpg,ros\xe9e\n".encode("latin-1"))
    run = _cli(str(csv_dir / "latin1.csv"))
    assert run.returncode == 2 and "latin1.csv is not UTF-8 text" in run.stderr, run.stderr


# ---------------------------------------------------------------- the benchmark's 8 planted-bug pipelines


def _benchmark():
    spec = importlib.util.spec_from_file_location("doctor_foreign", REPO / "benchmarks" / "doctor_foreign.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_eight_planted_bug_pipelines_are_each_judged_right(tmp_path):
    bench = _benchmark()
    root = bench.scene_folders(tmp_path, train_per_class=16, test_per_class=4)
    rows = bench.run(root, {"today": diagnose})
    wrong = [(r["pipeline"], r["today"]["flagged"], r["expected"]) for r in rows if not r["today"]["right"]]
    assert len(rows) == 8 and not wrong, wrong
    assert "**8 of 8**" in bench.table(rows, ["today"])
