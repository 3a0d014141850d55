"""flowerkit.config: one switch picks the dataset ($FLOWERKIT_DATASET), with a clear error for anything else."""

from __future__ import annotations

import pytest

from flowerkit import config
from flowerkit.config import DATASET_ENV, dataset_root, default_dataset


@pytest.mark.parametrize(("value", "expected"), [(None, "mini"), ("", "mini"), ("mini", "mini"), ("real", "real")])
def test_the_default_dataset_follows_the_switch(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: str) -> None:
    if value is None:
        monkeypatch.delenv(DATASET_ENV, raising=False)
    else:
        monkeypatch.setenv(DATASET_ENV, value)
    assert default_dataset() == expected


def test_a_misspelt_switch_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATASET_ENV, "Real")
    with pytest.raises(ValueError, match=r"\$FLOWERKIT_DATASET is 'Real'; set it to one of \('mini', 'real'\)"):
        default_dataset()


def test_dataset_root_refuses_an_unknown_dataset_before_touching_the_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "mini_flowers", lambda *a, **k: pytest.fail("generated mini-flowers"))
    monkeypatch.setattr(config, "_download_flowers102", lambda *a, **k: pytest.fail("downloaded"))
    with pytest.raises(ValueError, match=r"dataset must be one of \('mini', 'real'\), got 'imagenet'"):
        dataset_root("imagenet")


def test_dataset_root_sends_each_dataset_to_its_folder(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("FLOWERKIT_DATA", str(tmp_path))
    calls: list[tuple[str, object]] = []
    monkeypatch.setattr(config, "mini_flowers", lambda root, **k: calls.append(("mini", root)) or root)
    monkeypatch.setattr(config, "_download_flowers102", lambda root, **k: calls.append(("real", root)))
    assert dataset_root("mini") == tmp_path / "mini" and dataset_root("real") == tmp_path / "oxford"
    assert calls == [("mini", tmp_path / "mini"), ("real", tmp_path / "oxford")]
