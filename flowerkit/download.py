"""Robust download of the Oxford 102 Flowers dataset.

Introduced in notebook ``00_the_challenge`` and used by
``OxfordFlowers102(download=True)``.

The dataset is three files (see :data:`flowerkit.facts.FILES`).  They are fetched from the
mirrors in :data:`MIRRORS` (or the comma-separated base URLs in the
environment variable ``FLOWERKIT_MIRRORS``) into torchvision's layout::

    <root>/flowers-102/
        102flowers.tgz          kept after extraction (safe to delete)
        .jpg.complete           marker: jpg/ was extracted completely, from the archive md5 it names
        jpg/image_00001.jpg ... jpg/image_08189.jpg
        imagelabels.mat
        setid.mat

so ``torchvision.datasets.Flowers102(root)`` reads the same folder.

Robustness rules:

* Every file is streamed into ``<name>.part`` and only renamed to ``<name>``
  after its md5 matched, so a file under its final name is always verified.
* A broken connection keeps the ``.part``; running again resumes it with an
  HTTP ``Range`` request.  A checksum mismatch deletes the ``.part``.
* If a mirror fails, the next one is tried; if all fail, the error lists every
  URL and says how to place the files by hand.
* A file already under its final name with another md5 (placed by hand, or the
  archive of another md5 table) is never deleted: it is moved aside as
  ``<name>.md5-<first 8 hex digits of its md5>`` and the error names it. Once
  its md5 is the expected one (listed in ``FLOWERKIT_CHECKSUMS``), the next run
  moves it back and uses it without the network.
* The md5s are the published ones (:data:`flowerkit.facts.FILES`) unless the
  environment variable ``FLOWERKIT_CHECKSUMS`` names a JSON or ``md5sum``
  file of others (the archive has been re-packed before); a warning then
  names that file. See :func:`_checksums`.
* The archive is checked member by member before anything is written and is
  extracted into a temporary folder that is moved in place only when complete.
  ``jpg/`` counts as ready only while the marker names the archive md5 in force,
  so a changed md5 table re-extracts the images instead of pairing old images
  with new labels.

The archive is kept after extraction so that re-checking the dataset never
needs the network; delete ``102flowers.tgz`` to save 330 MB of disk if you like
(``jpg/`` and the marker are all that :func:`_is_downloaded` looks at).
"""

from __future__ import annotations

import errno
import http.client
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from torchvision.datasets.utils import verify_str_arg
from tqdm.auto import tqdm

from .facts import ARCHIVE, DATASET_FOLDER, FILES, IMAGE_FOLDER, _md5sum
from .paths import DATA_ENV
from .synth import _lock

__all__ = ["CHECKSUMS_ENV", "MIRRORS", "MIRRORS_ENV", "fetch"]

logger = logging.getLogger(__name__)

#: Base URLs tried in order (official site first, then torchvision's mirror).
MIRRORS: tuple[str, ...] = (
    "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/",
    "https://thor.robots.ox.ac.uk/flowers/102/",
)

#: Environment variable with comma-separated base URLs that replace MIRRORS.
MIRRORS_ENV: str = "FLOWERKIT_MIRRORS"

#: Environment variable naming a file of md5s (JSON or md5sum format) that override the published ones.
CHECKSUMS_ENV: str = "FLOWERKIT_CHECKSUMS"

#: Marker file in the dataset folder written once ``jpg/`` is fully extracted.
EXTRACTED_MARKER: str = ".jpg.complete"
#: Beside ``flowers-102/`` (not in it): held while a process downloads and extracts, so a second one waits.
DOWNLOAD_LOCK_FILE: str = ".flowers-102.lock"

_CHUNK: int = 1 << 16
_USER_AGENT: str = "flowerkit (Python urllib)"
_NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    urllib.error.URLError,  # includes HTTPError
    OSError,  # socket timeouts, ConnectionError, ...
    http.client.HTTPException,  # IncompleteRead, BadStatusLine, ...
    ValueError,  # malformed URL
)


class _DownloadError(RuntimeError):
    """A file could not be downloaded, verified or extracted."""


class _ChecksumError(_DownloadError):
    """A downloaded file does not have the expected md5."""


def _part_path(dest: Path) -> Path:
    """Return the ``.part`` path used while ``dest`` is being downloaded."""
    return dest.with_name(dest.name + ".part")


def _size(path: Path) -> int:
    """Return the size of ``path`` in bytes, 0 if it does not exist."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """Parse ``bytes a-b/N`` or ``bytes */N`` into ``(a, N)`` (None if unknown)."""
    if not value:
        return None, None
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value)
    if m is None:
        return None, None
    first = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return first, total


def _open(url: str, start: int, timeout: float) -> http.client.HTTPResponse:
    """Open ``url``, asking for the bytes from ``start`` on if ``start > 0``."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    if start > 0:
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310


def _copy(
    response: http.client.HTTPResponse,
    part: Path,
    *,
    start: int,
    total: int | None,
    url: str,
    desc: str,
    progress: bool,
) -> None:
    """Stream ``response`` into ``part`` (appending after ``start`` bytes)."""
    received = start
    with (
        open(part, "ab" if start else "wb") as f,
        tqdm(
            total=total,
            initial=start,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=desc,
            disable=not progress,
        ) as bar,
    ):
        while chunk := response.read(_CHUNK):
            f.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    if total is not None and received < total:
        raise _DownloadError(
            f"The connection to {url} broke after {received:,} of {total:,} bytes. "
            f"The partial download was kept as {part}; run the same command "
            "again to resume it from there."
        )
    if total is not None and received > total:
        part.unlink(missing_ok=True)
        raise _DownloadError(
            f"{url} sent {received:,} bytes but announced {total:,}; the download was deleted. Run again, or try another mirror."
        )


def _complete_after_416(exc: urllib.error.HTTPError, part: Path, start: int, url: str) -> bool:
    """Handle "Range Not Satisfiable": True if ``part`` already holds the whole file, else delete it (start over)."""
    # The .part already holds the whole file (or more, if it belongs to another
    # file): check the size the server announces.
    _, total = _parse_content_range(exc.headers.get("Content-Range"))
    exc.close()
    if total is None or total == start:
        return True  # complete; the caller verifies the md5
    logger.warning("%s does not match %s (416); starting over", part, url)
    part.unlink(missing_ok=True)
    return False


def _resume_plan(response: http.client.HTTPResponse, start: int, url: str, part: Path) -> tuple[int, int | None] | None:
    """Return ``(start, total)`` to copy ``response`` from, or None after deleting ``part`` (range mismatch: start over)."""
    length_header = response.headers.get("Content-Length")
    length = int(length_header) if length_header is not None else None
    if response.status != 206:
        # 200: a fresh download, or a server that ignores Range.
        if start:
            logger.info("%s ignored the Range request; restarting", url)
        return 0, length
    first, total = _parse_content_range(response.headers.get("Content-Range"))
    if first != start:
        # A range we did not ask for: throw the part away, start over.
        if start == 0:
            raise _DownloadError(f"{url} answered 206 with an unexpected range {response.headers.get('Content-Range')!r}")
        part.unlink(missing_ok=True)
        return None
    if total is None and length is not None:
        total = start + length
    return start, total


def _stream(url: str, part: Path, *, timeout: float, progress: bool, desc: str) -> None:
    """Download ``url`` into ``part``, resuming what ``part`` already holds."""
    start = _size(part)
    for _attempt in range(2):  # a second attempt only after restarting from zero
        try:
            response = _open(url, start, timeout)
        except urllib.error.HTTPError as exc:
            if exc.code != 416 or start == 0:
                raise
            if _complete_after_416(exc, part, start, url):
                return
            start = 0
            continue
        with response:
            plan = _resume_plan(response, start, url, part)
            if plan is None:
                start = 0
                continue
            start, total = plan
            _copy(response, part, start=start, total=total, url=url, desc=desc, progress=progress)
            return
    raise _DownloadError(f"{url} kept answering with inconsistent byte ranges")


def _download_file(
    url: str,
    dest: Path,
    md5: str | None,
    *,
    timeout: float = 30.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` via a resumable ``.part`` file and verify its md5."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    try:
        _stream(url, part, timeout=timeout, progress=progress, desc=dest.name)
    except _DownloadError:
        raise
    except _NETWORK_ERRORS as exc:
        kept = _size(part)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:  # the disk, not the network: no other mirror helps
            raise _no_room(dest.parent, f"{dest.name} ({kept:,} bytes so far, kept in {part} to resume)") from exc
        hint = (
            f"The {kept:,} bytes received so far were kept in {part}; run again to resume."
            if kept
            else "Check your internet connection and run again."
        )
        raise _DownloadError(f"Could not download {url}: {exc}. {hint}") from exc

    if md5 is not None:
        actual = _md5sum(part)
        if actual.lower() != md5.lower():
            size = _size(part)
            part.unlink(missing_ok=True)
            raise _ChecksumError(
                f"Checksum mismatch for {url}: expected md5 {md5.lower()}, got "
                f"{actual} ({size:,} bytes). The damaged download was deleted; "
                "run again to retry (another mirror may have a good copy), or "
                f"download the file in a browser and put it at {dest.resolve()}."
            )
    os.replace(part, dest)
    return dest


def _resolve_mirrors(mirrors: Sequence[str] | None) -> list[str]:
    """Return the base URLs to try: ``mirrors``, else $FLOWERKIT_MIRRORS, else MIRRORS."""
    if mirrors is None:
        env = os.environ.get(MIRRORS_ENV, "")
        mirrors = [m.strip() for m in env.split(",") if m.strip()] or list(MIRRORS)
    if isinstance(mirrors, str):  # a single URL would otherwise be split into letters
        mirrors = [mirrors]
    return list(mirrors)


def _expected_md5(filename: str, md5: str | None) -> str:
    """Return ``md5``, else the md5 of ``filename`` in :func:`_checksums` (ValueError if it has none)."""
    if md5 is not None:
        return md5
    table = _checksums()
    verify_str_arg(
        filename, "filename", table, f"Unknown file {filename!r}: expected one of {sorted(table)}, or pass its md5 with md5=..."
    )
    return table[filename]


def _aside_path(dest: Path, md5: str) -> Path:
    """Where a file found at ``dest`` with md5 ``md5`` (not the expected one) is kept: ``<name>.md5-<8 hex digits>``."""
    return dest.with_name(f"{dest.name}.md5-{md5.lower()[:8]}")


def _set_aside(dest: Path, md5: str) -> tuple[str, Path] | None:
    """Move a file at ``dest`` whose md5 is not ``md5`` aside (never delete it: it may be a 330 MB file placed by hand).

    Returns None if ``dest`` is absent or verified, else ``(its md5, where it was kept)``. Nothing that fails the
    check stays under the final name.
    """
    if not dest.is_file():
        return None
    actual = _md5sum(dest)
    if actual == md5.lower():
        return None
    kept = _aside_path(dest, actual)
    os.replace(dest, kept)
    logger.warning(
        "%s has md5 %s but %s was expected; kept it as %s (delete it if you do not need it) and downloading again",
        dest,
        actual,
        md5.lower(),
        kept.name,
    )
    return actual, kept


def _reclaim_aside(dest: Path, md5: str) -> bool:
    """Move a file set aside earlier back to ``dest`` if its md5 is now the expected one (e.g. listed in $FLOWERKIT_CHECKSUMS)."""
    kept = _aside_path(dest, md5)
    if dest.exists() or not kept.is_file() or _md5sum(kept) != md5.lower():
        return False
    os.replace(kept, dest)
    logger.warning("%s has the expected md5 %s; moved it back to %s", kept, md5.lower(), dest.name)
    return True


def _no_mirror_worked(
    filename: str,
    dest_dir: Path,
    md5: str,
    failures: list[tuple[str, Exception]],
    set_aside: tuple[str, Path] | None = None,
) -> _DownloadError:
    """The error raised when every mirror failed: each URL and why, what was found in place, how to place the file by hand."""
    tried = "\n".join(f"  - {url}: {exc}" for url, exc in failures) or "  (no mirrors given)"
    found = ""
    if set_aside is not None:
        actual, kept = set_aside
        found = (
            f"Found {(dest_dir / filename).resolve()} with md5 {actual}, expected {md5.lower()}; kept it as "
            f"{kept.resolve()}. If you trust it, list its md5 in the JSON or md5sum file that ${CHECKSUMS_ENV} "
            "names and run again: it is then moved back and used.\n"
        )
    message = (
        f"{found}Could not download {filename} from any mirror. Tried:\n{tried}\n"
        "To place the file by hand: open one of the URLs above in a web browser, "
        f"save {filename} (expected md5 {md5.lower()}) into the folder\n"
        f"  {dest_dir.resolve()}\n"
        "and run the same command again; the file is checked and used without "
        "downloading. Other mirrors can be given as comma-separated base URLs "
        f"in the environment variable {MIRRORS_ENV}; if the archive was re-packed, "
        f"point {CHECKSUMS_ENV} at a file with its md5s."
    )
    if failures and all(isinstance(exc, _ChecksumError) for _, exc in failures):
        return _ChecksumError(message)
    return _DownloadError(message)


def fetch(
    filename: str,
    dest_dir: Path,
    *,
    mirrors: Sequence[str] | None = None,
    md5: str | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Return ``dest_dir/filename``, downloading it from the first working mirror. Introduced in notebook ``00_the_challenge``.

    ``md5=None`` takes the file's md5 from :func:`_checksums` (the published
    table, or ``$FLOWERKIT_CHECKSUMS``). A file already in place with that md5
    is used without any network; one with another md5 is moved aside (never
    deleted) as ``<filename>.md5-<8 hex digits>``, and moved back once its md5
    is the expected one.
    """
    md5 = _expected_md5(filename, md5)
    dest_dir = Path(dest_dir)
    dest = dest_dir / filename
    set_aside = _set_aside(dest, md5)
    if (set_aside is None and dest.is_file()) or _reclaim_aside(dest, md5):
        return dest  # in place and verified: no network
    failures: list[tuple[str, Exception]] = []
    for base in _resolve_mirrors(mirrors):
        url = base.rstrip("/") + "/" + filename
        try:
            return _download_file(url, dest, md5, timeout=timeout, progress=progress)
        except (_DownloadError, ValueError) as exc:
            logger.warning("%s", exc)
            failures.append((url, exc))
    raise _no_mirror_worked(filename, dest_dir, md5, failures, set_aside)


def _within(base: str, path: str) -> bool:
    """Return True if the normalised ``path`` is ``base`` or lies inside it."""
    return os.path.commonpath([base, path]) == base


def _check_members(archive: Path, members: list[tarfile.TarInfo], dest: Path) -> None:
    """Raise DownloadError if any member would write or point outside ``dest``."""
    base = os.path.realpath(dest)

    def reject(member: tarfile.TarInfo, why: str) -> _DownloadError:
        return _DownloadError(
            f"Refusing to extract {archive}: member {member.name!r} {why}. "
            "The archive is not the expected one (or was tampered with); "
            "delete it and run again."
        )

    for member in members:
        name = member.name
        if os.path.isabs(name) or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
            raise reject(member, "has an absolute path")
        target = os.path.normpath(os.path.join(base, name))
        if not _within(base, target):
            raise reject(member, f"would be written outside {dest}")
        if member.isdev():
            raise reject(member, "is a device file or FIFO")
        if member.issym() or member.islnk():
            link = member.linkname
            if os.path.isabs(link) or link.startswith(("/", "\\")):
                raise reject(member, f"links to the absolute path {link!r}")
            if member.issym():
                link_target = os.path.normpath(os.path.join(os.path.dirname(target), link))
            else:  # hard links are relative to the archive root
                link_target = os.path.normpath(os.path.join(base, link))
            if not _within(base, link_target):
                raise reject(member, f"links to {link!r}, outside {dest}")


def _safe_extract(archive: Path, dest: Path) -> None:
    """Extract the tar archive ``archive`` into ``dest`` safely and atomically."""
    archive = Path(archive)
    dest = Path(dest)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            _check_members(archive, members, dest)  # before anything is written

            dest.mkdir(parents=True, exist_ok=True)
            # A temporary folder inside dest is on the same filesystem, so the
            # final moves are cheap renames.
            tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest))
            try:
                if hasattr(tarfile, "data_filter"):  # Python 3.11.4+
                    tar.extractall(tmp, members=members, filter="data")
                else:  # pragma: no cover - old Pythons; members were checked above
                    tar.extractall(tmp, members=members)
                for entry in sorted(tmp.iterdir()):
                    _move_into_place(entry, dest / entry.name, tmp)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except _DownloadError:
        raise
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:  # the archive is fine: do not delete it
            raise _no_room(dest, f"the images of {archive.name}") from exc
        raise _DownloadError(
            f"Could not extract {archive} into {dest}: {exc}. If the archive is damaged, delete it and run again."
        ) from exc


def _no_room(folder: Path, what: str) -> OSError:
    """The error for a full disk: what did not fit, and what to do (not a network or archive problem)."""
    return OSError(
        errno.ENOSPC,
        f"no room in {folder} for {what}: free some disk space (the real dataset needs about 700 MB with its archive), "
        f"or point ${DATA_ENV} at a disk with room, and run again",
    )


def _move_into_place(src: Path, target: Path, scratch: Path) -> None:
    """Move ``src`` to ``target``, replacing an existing file or folder there."""
    if target.is_dir() and not target.is_symlink():
        old = scratch / f".old-{target.name}"
        os.rename(target, old)  # removed with the scratch folder
    os.replace(src, target)


def _marker_text(md5: str) -> str:
    """The marker's content once ``jpg/`` was extracted from the archive with ``md5``."""
    return f"{ARCHIVE} {md5.lower()}\n"


def _jpg_ready(folder: Path, md5: str) -> bool:
    """Return True if ``folder/jpg`` was extracted completely from the archive with ``md5`` (the marker names it)."""
    jpg = folder / IMAGE_FOLDER
    try:
        marker = (folder / EXTRACTED_MARKER).read_text()
    except (OSError, UnicodeDecodeError):
        return False
    # Every marker flowerkit has written is "102flowers.tgz <md5>" (the format never changed), so one from an
    # earlier version still counts when its md5 is the one in force. A marker without that md5 (empty, touched
    # by hand) or with another md5 (another md5 table: FLOWERKIT_CHECKSUMS, another --data) means re-extracting.
    return marker.split() == _marker_text(md5).split() and jpg.is_dir() and any(jpg.iterdir())


_MD5SUM_LINE = re.compile(r"\s*([0-9a-fA-F]{32})\s+\*?(\S.*?)\s*")
_ANNOUNCED: set[tuple[str, tuple[tuple[str, str], ...]]] = set()


def _read_checksums(path: str | Path) -> dict[str, str]:
    """Read an md5 table: a JSON object ``{"name": "md5"}`` or ``md5sum`` lines.

    ``md5sum`` lines are ``<md5>  <name>`` (``*<name>`` for binary mode);
    blank lines and ``#`` comments are skipped; a name's folders are dropped
    (``flowers/102flowers.tgz`` is ``102flowers.tgz``). md5s are lower-cased.
    """
    path = Path(path).expanduser()
    text = path.read_text()
    if text.lstrip().startswith("{"):
        try:
            table = json.loads(text)
        except json.JSONDecodeError as exc:  # a hand edit: a trailing comma, single quotes
            raise ValueError(f'{path} is not valid JSON ({exc}): write {{"file name": "md5", ...}} or md5sum lines') from exc
        if not isinstance(table, dict):
            raise ValueError(f'{path}: expected a JSON object {{"file name": "md5", ...}}, found a {type(table).__name__}')
        pairs = list(table.items())
    else:
        pairs = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            match = _MD5SUM_LINE.fullmatch(line)
            if match is None:
                raise ValueError(f"{path} line {number}: expected '<md5>  <file name>' (md5sum format), got {line!r}")
            pairs.append((match.group(2), match.group(1)))
    bad = [name for name, md5 in pairs if not (isinstance(md5, str) and re.fullmatch(r"[0-9a-fA-F]{32}", md5))]
    if bad:
        raise ValueError(f"{path}: {bad} have no valid md5 (32 hexadecimal digits)")
    return {Path(name).name: md5.lower() for name, md5 in pairs}


def _env_checksums() -> dict[str, str]:
    """The overrides from ``$FLOWERKIT_CHECKSUMS`` (only the dataset's files), announced once per process."""
    env = os.environ.get(CHECKSUMS_ENV)
    if not env:
        return {}
    try:
        table = _read_checksums(env)
    except OSError as exc:
        raise ValueError(
            f"${CHECKSUMS_ENV} is {env!r}, which cannot be read ({exc}). Point it at a JSON or md5sum file with "
            f"the md5s of {sorted(FILES)}, or unset it to check against the published md5s."
        ) from exc
    overrides = {name: md5 for name, md5 in table.items() if name in FILES}
    key = (str(Path(env).expanduser().resolve()), tuple(sorted(overrides.items())))
    if key not in _ANNOUNCED:
        _ANNOUNCED.add(key)
        changed = sorted(name for name, md5 in overrides.items() if md5 != FILES[name])
        logger.warning(
            "Oxford 102 Flowers is checked against md5s from %s ($%s), not the published ones: %s.",
            env,
            CHECKSUMS_ENV,
            ", ".join(changed) + " differ" if changed else "none differ",
        )
    return overrides


def _checksums(files: Mapping[str, str] | None = None) -> dict[str, str]:
    """The md5 table in force.

    The published md5s (:data:`flowerkit.facts.FILES`), updated by the file
    that ``$FLOWERKIT_CHECKSUMS`` names (JSON or md5sum format, see
    :func:`_read_checksums`; a warning names it), updated by ``files``. Use the
    variable when a mirror serves a re-packed archive whose md5 you trust.
    """
    return {**FILES, **_env_checksums(), **(files or {})}


def _is_downloaded(root: str | Path, *, files: Mapping[str, str] | None = None) -> bool:
    """Return True if ``<root>/flowers-102`` holds a complete, verified dataset."""
    folder = Path(root).expanduser() / DATASET_FOLDER
    table = _checksums(files)
    if not _jpg_ready(folder, table[ARCHIVE]):
        return False
    for name, md5 in table.items():
        if name == ARCHIVE:
            continue  # the archive may have been deleted after extraction
        path = folder / name
        if not path.is_file() or _md5sum(path) != md5.lower():
            return False
    return True


def _download_flowers102(
    root: str | Path,
    *,
    mirrors: Sequence[str] | None = None,
    progress: bool = True,
    files: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download and extract Oxford 102 Flowers into ``<root>/flowers-102`` and return it.

    What ``flowerkit.dataset_root("real")`` calls. ``files`` overrides md5s
    on top of :func:`_checksums`.
    """
    folder = Path(root).expanduser() / DATASET_FOLDER
    table = _checksums(files)
    if _is_downloaded(root, files=table):
        return folder
    # One process at a time (two notebooks started together, make grade --jobs): both writing one .part file, or one
    # extracting what the other replaces, would fail or mix two copies. The second finds the files ready.
    with _lock(folder.parent, DOWNLOAD_LOCK_FILE, f"downloading Oxford 102 Flowers into {folder}"):
        if not _is_downloaded(root, files=table):
            _fetch_and_extract(folder, table, mirrors=mirrors, progress=progress, timeout=timeout)
    return folder


def _fetch_and_extract(
    folder: Path, table: Mapping[str, str], *, mirrors: Sequence[str] | None, progress: bool, timeout: float
) -> None:
    """Fetch the label files and the archive into ``folder`` and extract the images (the lock held)."""
    folder.mkdir(parents=True, exist_ok=True)

    # Small label files first, so a broken setup fails fast.
    for name in sorted(n for n in table if n != ARCHIVE):
        fetch(name, folder, mirrors=mirrors, md5=table[name], progress=progress, timeout=timeout)

    if not _jpg_ready(folder, table[ARCHIVE]):
        marker = folder / EXTRACTED_MARKER
        marker.unlink(missing_ok=True)
        archive = fetch(ARCHIVE, folder, mirrors=mirrors, md5=table[ARCHIVE], progress=progress, timeout=timeout)
        _safe_extract(archive, folder)
        if not ((folder / IMAGE_FOLDER).is_dir() and any((folder / IMAGE_FOLDER).iterdir())):
            raise _DownloadError(
                f"{archive} was extracted into {folder} but contained no jpg/ images; delete the archive and run again."
            )
        marker.write_text(_marker_text(table[ARCHIVE]))
