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


def test_written_whole_renames_a_complete_file_and_leaves_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "index.json"
    with paths._written_whole(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".index.json.") and tmp.name.endswith(".partial")
        tmp.write_text("new")
        assert paths._partials(target) == [tmp], "the cleaner finds what the writer writes"
        assert not target.exists(), "nothing under the final name while the block runs"
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.json"]


@pytest.mark.parametrize("interrupt", [OSError("disk full"), KeyboardInterrupt()])
def test_written_whole_interrupted_keeps_the_old_file_or_none(tmp_path: Path, interrupt: BaseException) -> None:
    kept, absent = tmp_path / "kept.bin", tmp_path / "absent.bin"
    kept.write_text("old and complete")
    for target in (kept, absent):
        with pytest.raises(type(interrupt)), paths._written_whole(target) as tmp:
            tmp.write_text("half")
            raise interrupt
    assert kept.read_text() == "old and complete" and not absent.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.bin"], "no partial file left behind"


def test_two_writers_get_their_own_temporary_names(tmp_path: Path) -> None:
    target = tmp_path / "cache.npy"
    with paths._written_whole(target) as first, paths._written_whole(target) as second:
        assert first != second
        first.write_text("first")
        second.write_text("second")
    assert target.read_text() == "first"  # the outer block ends last: the last to finish wins
