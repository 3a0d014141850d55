"""flowerkit.paths: the data folder, found from anywhere, with a clear error when $FLOWERKIT_DATA is a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowerkit import paths


def test_data_dir_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWERKIT_DATA", str(tmp_path / "elsewhere"))
    assert paths.data_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("FLOWERKIT_DATA")
    assert paths.data_dir() == paths.repo_root() / "data"


def test_data_dir_that_is_a_file_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "a-file"
    f.write_text("not a folder")
    monkeypatch.setenv("FLOWERKIT_DATA", str(f))
    with pytest.raises(NotADirectoryError, match=r"FLOWERKIT_DATA.*a file, not a folder"):
        paths.data_dir()
    monkeypatch.setenv("FLOWERKIT_DATA", str(f / "inside"))
    with pytest.raises(NotADirectoryError, match=r"FLOWERKIT_DATA is .*inside', but .*a-file is a file, not a folder"):
        paths.data_dir()
