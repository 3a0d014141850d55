"""End-to-end tests of flowerkit.download against a local HTTP server (127.0.0.1 only)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import re
import socket
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import flowerkit
from flowerkit import download
from flowerkit.download import _ChecksumError, _DownloadError

# --------------------------------------------------------------------------- data

FAKE_JPEGS: dict[str, bytes] = {
    f"jpg/image_{i:05d}.jpg": b"\xff\xd8\xff\xe0" + bytes([i]) * (200 + 37 * i) + b"\xff\xd9" for i in range(1, 4)
}
LABELS_MAT = b"MATLAB 5.0 MAT-file, fake imagelabels " + bytes(range(256)) * 4
SETID_MAT = b"MATLAB 5.0 MAT-file, fake setid " + bytes(range(255, -1, -1)) * 3


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _make_tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("jpg")
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


ARCHIVE_BYTES = _make_tgz(FAKE_JPEGS)
CONTENT: dict[str, bytes] = {
    "102flowers.tgz": ARCHIVE_BYTES,
    "imagelabels.mat": LABELS_MAT,
    "setid.mat": SETID_MAT,
}
MD5S: dict[str, str] = {name: _md5(data) for name, data in CONTENT.items()}

# ------------------------------------------------------------------------- server


@dataclass
class Served:
    """One request as the test server saw it."""

    path: str
    range: str | None
    status: int


@dataclass
class ServerState:
    """In-memory files plus switchable faults, shared by all handler threads."""

    files: dict[str, bytes]
    honor_range: bool = True
    break_once: set[str] = field(default_factory=set)  # file names
    corrupt: set[str] = field(default_factory=set)  # file names
    not_found: set[str] = field(default_factory=set)  # mirror prefixes like "/m1"
    log: list[Served] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_for(self, name: str) -> list[Served]:
        return [r for r in self.log if r.path.endswith("/" + name)]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # keep pytest output clean

    def _record(self, status: int) -> None:
        with self.server.state.lock:
            self.server.state.log.append(Served(self.path, self.headers.get("Range"), status))

    def do_GET(self) -> None:  # noqa: N802
        st = self.server.state
        prefix, _, name = self.path.rpartition("/")
        if prefix in st.not_found or name not in st.files:
            self._record(404)
            self.send_error(404)
            return
        data = st.files[name]
        if name in st.corrupt:
            data = bytes(b ^ 0x5A for b in data)

        with st.lock:
            broken = name in st.break_once
            st.break_once.discard(name)
        if broken:
            # Announce the full length, send half, then hang up.
            self._record(200)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return

        range_header = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-", range_header or "")
        if m and st.honor_range:
            start = int(m.group(1))
            if start >= len(data):
                self._record(416)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._record(206)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])
            return
        self._record(200)
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: ServerState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def url(self, prefix: str = "/m1") -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{prefix}/"


@contextlib.contextmanager
def _serving(state: ServerState) -> Iterator[_Server]:
    """Run a test server for ``state`` in a daemon thread; shut it down afterwards."""
    srv = _Server(state)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[_Server]:
    with _serving(ServerState(files=dict(CONTENT))) as srv:
        yield srv


@pytest.fixture
def dead_url() -> str:
    """A base URL on a local port where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/nothing/"


@pytest.fixture(autouse=True)
def _no_env_mirrors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(download.MIRRORS_ENV, raising=False)
    monkeypatch.delenv(download.CHECKSUMS_ENV, raising=False)
    monkeypatch.setattr(download, "_ANNOUNCED", set())  # each test sees the override warning afresh


# -------------------------------------------------------------------------- tests


def test_mirrors_and_errors() -> None:
    assert download.MIRRORS[0].startswith("https://www.robots.ox.ac.uk/")
    assert issubclass(_ChecksumError, _DownloadError)
    assert issubclass(_DownloadError, RuntimeError)


def test_full_download_layout(server: _Server, tmp_path: Path) -> None:
    folder = download._download_flowers102(tmp_path, mirrors=[server.url()], files=MD5S, progress=False)
    assert folder == tmp_path / "flowers-102"
    assert (folder / "imagelabels.mat").read_bytes() == LABELS_MAT
    assert (folder / "setid.mat").read_bytes() == SETID_MAT
    for name, data in FAKE_JPEGS.items():
        assert (folder / name).read_bytes() == data
    assert sorted(p.name for p in (folder / "jpg").iterdir()) == sorted(Path(n).name for n in FAKE_JPEGS)
    assert (folder / "102flowers.tgz").read_bytes() == ARCHIVE_BYTES  # kept
    assert not list(folder.glob("*.part"))
    assert not list(folder.glob(".extract-*"))
    assert download._is_downloaded(tmp_path, files=MD5S)
    assert {r.path.rsplit("/", 1)[1] for r in server.state.log} == set(CONTENT)


def test_second_call_downloads_nothing(server: _Server, tmp_path: Path) -> None:
    download._download_flowers102(tmp_path, mirrors=[server.url()], files=MD5S, progress=False)
    n = len(server.state.log)
    folder = download._download_flowers102(tmp_path, mirrors=[server.url()], files=MD5S, progress=False)
    assert len(server.state.log) == n
    # Even with the archive deleted and the server gone, nothing is needed.
    (folder / "102flowers.tgz").unlink()
    download._download_flowers102(tmp_path, mirrors=["http://127.0.0.1:1/"], files=MD5S)
    assert len(server.state.log) == n


def test_two_at_once_download_each_file_once(server: _Server, tmp_path: Path) -> None:
    """Two notebooks started together on the real data (or ``make grade --jobs``): one downloads, the other waits.

    Both used to write the same ``.part`` files (one's md5 read found the file the other had just renamed). Threads
    here: a file lock taken by two ``open`` calls conflicts as between two processes.
    """
    start, folders, errors = threading.Barrier(2), [], []

    def one() -> None:
        start.wait()
        try:
            folders.append(download._download_flowers102(tmp_path, mirrors=[server.url()], files=MD5S, progress=False))
        except Exception as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and folders == [tmp_path / "flowers-102"] * 2, errors
    assert sorted(r.path.rsplit("/", 1)[1] for r in server.state.log) == sorted(CONTENT), "each file fetched once"
    assert download._is_downloaded(tmp_path, files=MD5S) and (tmp_path / download.DOWNLOAD_LOCK_FILE).is_file()


def test_cached_file_is_used_without_network(tmp_path: Path, dead_url: str) -> None:
    (tmp_path / "setid.mat").write_bytes(SETID_MAT)
    got = download.fetch("setid.mat", tmp_path, mirrors=[dead_url], md5=MD5S["setid.mat"])
    assert got == tmp_path / "setid.mat"


def test_wrong_cached_file_is_replaced(server: _Server, tmp_path: Path) -> None:
    (tmp_path / "setid.mat").write_bytes(b"not the right file")
    download.fetch("setid.mat", tmp_path, mirrors=[server.url()], md5=MD5S["setid.mat"])
    assert (tmp_path / "setid.mat").read_bytes() == SETID_MAT
    # Replaced, not deleted: the wrong file is kept aside under a name that says its md5.
    assert (tmp_path / f"setid.mat.md5-{_md5(b'not the right file')[:8]}").read_bytes() == b"not the right file"


def test_broken_connection_keeps_part_then_resumes(server: _Server, tmp_path: Path) -> None:
    name = "102flowers.tgz"
    server.state.break_once.add(name)
    with pytest.raises(_DownloadError) as info:
        download.fetch(name, tmp_path, mirrors=[server.url()], md5=MD5S[name], progress=False)
    assert not isinstance(info.value, _ChecksumError)
    assert "resume" in str(info.value)
    half = len(ARCHIVE_BYTES) // 2
    part = tmp_path / (name + ".part")
    assert part.read_bytes() == ARCHIVE_BYTES[:half]
    assert not (tmp_path / name).exists()

    download.fetch(name, tmp_path, mirrors=[server.url()], md5=MD5S[name], progress=False)
    requests = server.state.requests_for(name)
    assert [(r.range, r.status) for r in requests] == [(None, 200), (f"bytes={half}-", 206)]
    assert (tmp_path / name).read_bytes() == ARCHIVE_BYTES
    assert not part.exists()


def test_broken_connection_end_to_end(server: _Server, tmp_path: Path) -> None:
    server.state.break_once.add("102flowers.tgz")
    with pytest.raises(_DownloadError):
        download._download_flowers102(tmp_path, mirrors=[server.url()], files=MD5S, progress=False)
    folder = tmp_path / "flowers-102"
    assert not (folder / "jpg").exists()
    assert not download._is_downloaded(tmp_path, files=MD5S)
    download._download_flowers102(tmp_path, mirrors=[server.url()], files=MD5S, progress=False)
    assert download._is_downloaded(tmp_path, files=MD5S)
    assert any(r.range for r in server.state.requests_for("102flowers.tgz"))


def test_server_ignoring_range_restarts_cleanly(server: _Server, tmp_path: Path) -> None:
    name = "imagelabels.mat"
    server.state.honor_range = False
    part = tmp_path / (name + ".part")
    part.write_bytes(b"GARBAGE" * 20)  # a stale part that must not survive
    download.fetch(name, tmp_path, mirrors=[server.url()], md5=MD5S[name], progress=False)
    assert (tmp_path / name).read_bytes() == LABELS_MAT
    assert not part.exists()
    (req,) = server.state.requests_for(name)
    assert (req.range, req.status) == ("bytes=140-", 200)


def test_complete_part_answered_416_is_verified(server: _Server, tmp_path: Path) -> None:
    name = "setid.mat"
    (tmp_path / (name + ".part")).write_bytes(SETID_MAT)
    download.fetch(name, tmp_path, mirrors=[server.url()], md5=MD5S[name], progress=False)
    assert (tmp_path / name).read_bytes() == SETID_MAT
    (req,) = server.state.requests_for(name)
    assert req.status == 416


def test_wrong_checksum(server: _Server, tmp_path: Path) -> None:
    name = "setid.mat"
    server.state.corrupt.add(name)
    url = server.url() + name
    actual = _md5(bytes(b ^ 0x5A for b in SETID_MAT))
    with pytest.raises(_ChecksumError) as info:
        download._download_file(url, tmp_path / name, MD5S[name], progress=False)
    msg = str(info.value)
    assert MD5S[name] in msg and actual in msg and url in msg
    assert not (tmp_path / name).exists()
    assert not (tmp_path / (name + ".part")).exists()

    # Through fetch, every mirror failing the checksum is still a ChecksumError.
    with pytest.raises(_ChecksumError) as info:
        download.fetch(name, tmp_path, mirrors=[server.url()], md5=MD5S[name], progress=False)
    assert actual in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_bad_mirror_then_good_mirror(server: _Server, tmp_path: Path) -> None:
    server.state.not_found.add("/m1")
    server.state.corrupt.add("setid.mat")
    mirrors = [server.url("/m1"), server.url("/m2")]
    got = download.fetch("imagelabels.mat", tmp_path, mirrors=mirrors, md5=MD5S["imagelabels.mat"])
    assert got.read_bytes() == LABELS_MAT
    assert [(r.path, r.status) for r in server.state.log] == [
        ("/m1/imagelabels.mat", 404),
        ("/m2/imagelabels.mat", 200),
    ]
    # A checksum failure on one mirror also moves on to the next.
    server.state.not_found.clear()
    with pytest.raises(_ChecksumError):
        download.fetch("setid.mat", tmp_path, mirrors=mirrors, md5=MD5S["setid.mat"])
    assert len(server.state.requests_for("setid.mat")) == 2


def test_checksum_error_on_first_mirror_then_second_works(server: _Server, tmp_path: Path) -> None:
    # The first server has a different (wrong) file under the same name.
    srv2_state = ServerState(files={"setid.mat": b"something else entirely"})
    with _serving(srv2_state) as bad:
        got = download.fetch("setid.mat", tmp_path, mirrors=[bad.url(), server.url()], md5=MD5S["setid.mat"])
    assert got.read_bytes() == SETID_MAT
    assert len(srv2_state.log) == 1 and len(server.state.log) == 1


def test_all_mirrors_down(server: _Server, tmp_path: Path, dead_url: str) -> None:
    server.state.not_found.add("/m1")
    mirrors = [dead_url, server.url("/m1")]
    dest_dir = tmp_path / "data"
    with pytest.raises(_DownloadError) as info:
        download._download_flowers102(dest_dir, mirrors=mirrors, files=MD5S, timeout=2)
    msg = str(info.value)
    name = "imagelabels.mat"  # fetched first
    for base in mirrors:
        assert base + name in msg
    assert "404" in msg
    assert "browser" in msg
    assert str((dest_dir / "flowers-102").resolve()) in msg
    assert MD5S[name] in msg
    assert not list((dest_dir / "flowers-102").iterdir())


def test_env_var_mirrors(server: _Server, tmp_path: Path, dead_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(download.MIRRORS_ENV, f"{dead_url} , {server.url()}")
    got = download.fetch("setid.mat", tmp_path, md5=MD5S["setid.mat"], progress=False)
    assert got.read_bytes() == SETID_MAT


def test_unknown_file_needs_md5(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="md5"):
        download.fetch("other.bin", tmp_path, mirrors=["http://127.0.0.1:1/"])


def test_progress_bar(server: _Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    download.fetch("setid.mat", tmp_path, mirrors=[server.url()], md5=MD5S["setid.mat"])
    err = capsys.readouterr().err
    assert "setid.mat" in err
    assert (tmp_path / "setid.mat").read_bytes() == SETID_MAT


def _evil_tgz(path: Path, kind: str) -> None:
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("jpg/image_00001.jpg")
        ok.size = 3
        tar.addfile(ok, io.BytesIO(b"abc"))
        if kind in ("dotdot", "absolute"):
            name = "../evil.txt" if kind == "dotdot" else str(path.parent / "evil.txt")
            info = tarfile.TarInfo(name)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        else:
            info = tarfile.TarInfo("jpg/link")
            info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
            info.linkname = "../../evil.txt" if kind == "symlink" else "../evil.txt"
            tar.addfile(info)


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink"])
def test_safe_extract_rejects_escaping_members(tmp_path: Path, kind: str) -> None:
    archive = tmp_path / "evil.tgz"
    _evil_tgz(archive, kind)
    dest = tmp_path / "out" / "flowers-102"
    with pytest.raises(_DownloadError) as info:
        download._safe_extract(archive, dest)
    msg = str(info.value)
    assert str(archive) in msg
    assert ("evil.txt" in msg) or ("jpg/link" in msg)
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["evil.tgz"]


def test_safe_extract_interrupted_leaves_no_jpg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "a.tgz"
    archive.write_bytes(ARCHIVE_BYTES)
    dest = tmp_path / "flowers-102"

    real_extract = tarfile.TarFile.extract

    def extract_then_die(self: tarfile.TarFile, member: tarfile.TarInfo, *a: object, **k: object) -> None:
        real_extract(self, member, *a, **k)  # type: ignore[arg-type]
        if member.name.endswith("image_00002.jpg"):
            raise KeyboardInterrupt

    monkeypatch.setattr(tarfile.TarFile, "extract", extract_then_die)
    monkeypatch.setattr(
        tarfile.TarFile,
        "extractall",
        lambda self, path, members, **k: [self.extract(m, path, **k) for m in members],
    )
    with pytest.raises(KeyboardInterrupt):
        download._safe_extract(archive, dest)
    assert list(dest.iterdir()) == []

    monkeypatch.undo()
    download._safe_extract(archive, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["jpg"]
    assert len(list((dest / "jpg").iterdir())) == len(FAKE_JPEGS)


def test_partial_jpg_without_marker_is_replaced(server: _Server, tmp_path: Path) -> None:
    folder = tmp_path / "flowers-102"
    (folder / "jpg").mkdir(parents=True)
    (folder / "jpg" / "image_00001.jpg").write_bytes(b"truncated")
    (folder / "jpg" / "leftover.jpg").write_bytes(b"x")
    download._download_flowers102(tmp_path, mirrors=[server.url()], files=MD5S, progress=False)
    assert sorted(p.name for p in (folder / "jpg").iterdir()) == sorted(Path(n).name for n in FAKE_JPEGS)
    assert (folder / "jpg" / "image_00001.jpg").read_bytes() == FAKE_JPEGS["jpg/image_00001.jpg"]


def test_changed_archive_md5_re_extracts_the_images(tmp_path: Path, dead_url: str) -> None:
    """Another md5 table (FLOWERKIT_CHECKSUMS, another --data) with the same image count: the new images, never old
    images paired with new labels."""
    new_jpegs = {name: data[::-1] for name, data in FAKE_JPEGS.items()}  # same names, same count, other pixels
    new_content = {"102flowers.tgz": _make_tgz(new_jpegs), "imagelabels.mat": LABELS_MAT + b" v2", "setid.mat": SETID_MAT}
    new_md5s = {name: _md5(data) for name, data in new_content.items()}
    folder = tmp_path / "flowers-102"
    with _serving(ServerState(files=dict(CONTENT))) as old:
        download._download_flowers102(tmp_path, mirrors=[old.url()], files=MD5S, progress=False)
    assert (folder / ".jpg.complete").read_text().split() == ["102flowers.tgz", MD5S["102flowers.tgz"]]
    assert download._is_downloaded(tmp_path, files=MD5S)
    assert not download._is_downloaded(tmp_path, files={**MD5S, "102flowers.tgz": "0" * 32})  # the marker's md5 counts

    with _serving(ServerState(files=new_content)) as new:
        download._download_flowers102(tmp_path, mirrors=[new.url()], files=new_md5s, progress=False)
        assert {r.path.rsplit("/", 1)[1] for r in new.state.log} == {"102flowers.tgz", "imagelabels.mat"}
    assert sorted(p.name for p in (folder / "jpg").iterdir()) == sorted(Path(n).name for n in new_jpegs)
    for name, data in new_jpegs.items():
        assert (folder / name).read_bytes() == data
    assert (folder / ".jpg.complete").read_text().split() == ["102flowers.tgz", new_md5s["102flowers.tgz"]]
    assert download._is_downloaded(tmp_path, files=new_md5s)
    assert not download._is_downloaded(tmp_path, files=MD5S)
    assert not list(folder.glob(".extract-*"))

    # The old files were kept aside, so going back to the old table needs no network and re-extracts the old images.
    assert (folder / f"102flowers.tgz.md5-{MD5S['102flowers.tgz'][:8]}").read_bytes() == ARCHIVE_BYTES
    download._download_flowers102(tmp_path, mirrors=[dead_url], files=MD5S, progress=False, timeout=2)
    for name, data in FAKE_JPEGS.items():
        assert (folder / name).read_bytes() == data
    assert download._is_downloaded(tmp_path, files=MD5S)


def test_hand_placed_file_with_wrong_md5_is_kept_aside(tmp_path: Path, dead_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mirrors unreachable, the archive placed by hand is a re-packed one: the error says so, and nothing is lost."""
    folder = tmp_path / "flowers-102"
    folder.mkdir()
    (folder / "imagelabels.mat").write_bytes(LABELS_MAT)
    (folder / "setid.mat").write_bytes(SETID_MAT)
    repacked_jpegs = {name: data + b"re-packed" for name, data in FAKE_JPEGS.items()}
    placed = _make_tgz(repacked_jpegs)
    actual, expected = _md5(placed), MD5S["102flowers.tgz"]
    (folder / "102flowers.tgz").write_bytes(placed)
    with pytest.raises(_DownloadError) as info:
        download._download_flowers102(tmp_path, mirrors=[dead_url], files=MD5S, progress=False, timeout=2)
    msg = str(info.value)
    kept = folder / f"102flowers.tgz.md5-{actual[:8]}"
    assert str((folder / "102flowers.tgz").resolve()) in msg
    assert actual in msg and expected in msg and str(kept.resolve()) in msg
    assert f"${download.CHECKSUMS_ENV}" in msg
    assert kept.read_bytes() == placed  # not lost
    assert not (folder / "102flowers.tgz").exists()  # nothing unverified under the final name
    assert not (folder / "jpg").exists()

    # What the error says to do: list its md5 in $FLOWERKIT_CHECKSUMS and run again (still no network).
    sums = tmp_path / "sums.json"
    sums.write_text(json.dumps({**MD5S, "102flowers.tgz": actual}))
    monkeypatch.setenv(download.CHECKSUMS_ENV, str(sums))
    download._download_flowers102(tmp_path, mirrors=[dead_url], progress=False, timeout=2)
    assert (folder / "102flowers.tgz").read_bytes() == placed
    for name, data in repacked_jpegs.items():
        assert (folder / name).read_bytes() == data


# ------------------------------------------------------- $FLOWERKIT_CHECKSUMS: an md5 table that overrides FILES


def _md5sum_text(table: dict[str, str]) -> str:
    return "# made with md5sum\n" + "".join(f"{md5}  *flowers/{name}\n" for name, md5 in table.items())


@pytest.mark.parametrize("fmt", ["json", "md5sum"])
def test_read_checksums_json_and_md5sum(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "sums"
    path.write_text(json.dumps({k: v.upper() for k, v in MD5S.items()}) if fmt == "json" else _md5sum_text(MD5S))
    assert download._read_checksums(path) == MD5S  # lower-cased, folders and the binary-mode star dropped


def test_read_checksums_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "sums.md5"
    path.write_text(f"{MD5S['setid.mat']}  setid.mat\nnot an md5 line\n")
    with pytest.raises(ValueError, match=r"line 2.*md5sum format"):
        download._read_checksums(path)
    path.write_text(json.dumps({"setid.mat": "1234"}))
    with pytest.raises(ValueError, match="32 hexadecimal"):
        download._read_checksums(path)
    path.write_text('{"setid.mat": "' + MD5S["setid.mat"] + '",}')  # a hand edit's trailing comma
    with pytest.raises(ValueError, match=r"sums.md5 is not valid JSON.*md5sum lines"):
        download._read_checksums(path)


def test_without_the_variable_the_published_md5s_are_used(server: _Server, tmp_path: Path) -> None:
    assert download._checksums() == download.FILES
    with pytest.raises(_ChecksumError, match=download.FILES["setid.mat"]) as info:
        download.fetch("setid.mat", tmp_path, mirrors=[server.url()], progress=False)
    assert download.CHECKSUMS_ENV in str(info.value)  # the error says how to accept a re-packed file


def test_checksums_variable_overrides_files_and_warns_once(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sums = tmp_path / "md5sums.txt"
    sums.write_text(_md5sum_text({**MD5S, "README.txt": "0" * 32}))
    monkeypatch.setenv(download.CHECKSUMS_ENV, str(sums))
    with caplog.at_level(logging.WARNING, logger=download.__name__):
        assert download._checksums() == MD5S  # names that are not the dataset's are ignored
        folder = download._download_flowers102(tmp_path / "data", mirrors=[server.url()], progress=False)
        assert download._is_downloaded(tmp_path / "data")
    assert (folder / "setid.mat").read_bytes() == SETID_MAT
    assert "README.txt" not in {r.path.rsplit("/", 1)[1] for r in server.state.log}
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert str(sums) in warning and download.CHECKSUMS_ENV in warning and "102flowers.tgz" in warning
    # An explicit table still wins over the variable.
    assert download._checksums({"setid.mat": "f" * 32})["setid.mat"] == "f" * 32


def test_checksums_variable_naming_a_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(download.CHECKSUMS_ENV, str(tmp_path / "nowhere.json"))
    with pytest.raises(ValueError, match=r"FLOWERKIT_CHECKSUMS.*nowhere\.json.*unset it"):
        download._checksums()


def test_dataset_root_real_through_mirror_and_checksums(server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real route as a student with a mirror and a re-packed archive takes it: only environment variables."""
    sums = tmp_path / "sums.json"
    sums.write_text(json.dumps(MD5S))
    monkeypatch.setenv("FLOWERKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv(download.MIRRORS_ENV, server.url())
    monkeypatch.setenv(download.CHECKSUMS_ENV, str(sums))
    monkeypatch.setenv("FLOWERKIT_DATASET", "real")
    root = flowerkit.dataset_root(progress=False)
    assert root == (tmp_path / "data" / "oxford").resolve()
    assert sorted(p.name for p in (root / "flowers-102" / "jpg").iterdir()) == sorted(Path(n).name for n in FAKE_JPEGS)
    assert not (tmp_path / "data" / "mini").exists()


def test_a_full_disk_says_so_instead_of_blaming_the_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC while downloading is not a connection problem: no other mirror is tried, the advice is disk space."""
    import errno

    tried = []

    def full(url, part, **kwargs):
        tried.append(url)
        part.write_bytes(b"x" * 10)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(download, "_stream", full)
    with pytest.raises(OSError, match=r"no room in .* for setid.mat \(10 bytes so far.*FLOWERKIT_DATA") as info:
        download.fetch("setid.mat", tmp_path, mirrors=["http://127.0.0.1:9/a/", "http://127.0.0.1:9/b/"], progress=False)
    assert info.value.errno == errno.ENOSPC and len(tried) == 1, "a full disk is the same on every mirror"
