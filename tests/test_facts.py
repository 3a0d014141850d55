"""flowerkit.facts: the dataset's facts, written once."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from torchvision.datasets import Flowers102

from flowerkit import CLASSES, facts


def test_dataset_files_and_checksums() -> None:
    assert set(facts.FILES) == {facts.ARCHIVE, facts.LABELS_FILE, facts.SETID_FILE}
    assert facts.FILES["102flowers.tgz"] == "52808999861908f626f3c1f4e79d11fa"
    assert facts.FILES["imagelabels.mat"] == "e0620be6f572b9609742df49c70aed4d"
    assert facts.FILES["setid.mat"] == "a5357ecc9cb78c4bef273ce3793fc85c"
    assert facts.SPLIT_VARIABLES == {"train": "trnid", "val": "valid", "test": "tstid"}
    assert facts.SPLIT_NAMES == ("train", "val", "test")


def test_the_same_facts_as_torchvision() -> None:
    """Our folder name, file table and split variables are torchvision's, so Flowers102 reads our data."""
    assert Flowers102._file_dict == {
        "image": (facts.ARCHIVE, facts.FILES[facts.ARCHIVE]),
        "label": (facts.LABELS_FILE, facts.FILES[facts.LABELS_FILE]),
        "setid": (facts.SETID_FILE, facts.FILES[facts.SETID_FILE]),
    }
    assert Flowers102._splits_map == {"train": "trnid", "val": "valid", "test": "tstid"}
    assert len(CLASSES) == facts.NUM_CLASSES == 102


def test_md5sum_reads_in_chunks(tmp_path: Path) -> None:
    p = tmp_path / "x.bin"
    data = bytes(range(256)) * 1000
    p.write_bytes(data)
    expected = hashlib.md5(data).hexdigest()
    assert facts._md5sum(p) == expected
    assert facts._md5sum(p, chunk_size=7) == expected


def test_cpu_count_is_what_this_process_may_use() -> None:
    n = facts.cpu_count()
    assert n >= 1
    if hasattr(os, "sched_getaffinity"):
        assert n == len(os.sched_getaffinity(0))
