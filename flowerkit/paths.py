"""Where flowerkit keeps its files: the checkout, the data folder.

Introduced in notebook ``00_the_challenge`` (the setup cell prints where the
data lives). Nothing here depends on the working directory: nbval and
JupyterLab run each notebook with its own folder as working directory, so a
relative path such as ``../data`` would break.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["DATA_ENV", "data_dir", "repo_root"]

#: Environment variable that moves every dataset and cache elsewhere.
DATA_ENV: str = "FLOWERKIT_DATA"


def repo_root() -> Path | None:
    """Return the checkout that holds this package (the folder with ``pyproject.toml``), if any.

    Introduced in notebook ``00_the_challenge``.
    """
    here = Path(__file__).resolve().parent
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "flowerkit").is_dir():
            return folder
    return None


def data_dir() -> Path:
    """Return the folder for datasets and caches: ``$FLOWERKIT_DATA``, else ``<repo>/data``.

    Outside a checkout (an installed package) it is ``~/.cache/flowerkit``.
    A ``$FLOWERKIT_DATA`` that names a file, not a folder, is an error that says so.
    Introduced in notebook ``00_the_challenge``.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        folder = Path(env).expanduser().resolve()
        existing = next((p for p in (folder, *folder.parents) if p.exists()), folder)  # a file inside a file too
        if existing.exists() and not existing.is_dir():
            which = "which" if existing == folder else f"but {existing}"
            raise NotADirectoryError(
                f"${DATA_ENV} is {env!r}, {which} is a file, not a folder. "
                f"Point {DATA_ENV} at a folder (it is created if missing), or unset it to use the repository's data/."
            )
        return folder
    repo = repo_root()
    if repo is not None:
        return repo / "data"
    return Path.home() / ".cache" / "flowerkit"


#: The temporary name :func:`_written_whole` writes under; :func:`_partials` finds what a killed process left.
_PARTIAL = ".{name}.{tag}.partial"


def _partials(path: str | Path) -> list[Path]:
    """The temporary files :func:`_written_whole` calls for ``path`` left behind (or is writing right now)."""
    path = Path(path)
    return sorted(path.parent.glob(_PARTIAL.format(name=path.name, tag="*")))


@contextlib.contextmanager
def _written_whole(path: str | Path) -> Iterator[Path]:
    """Yield a temporary name beside ``path`` to write; rename it to ``path`` when the block ends, delete it if it raises.

    A file under its final name is therefore always complete: an interrupted
    write (an error, a full disk, Ctrl-C) leaves the old file or none, never a
    half-written one that looks valid. The temporary name is hidden and unique
    (``.<name>.<8 hex>.partial``), so two processes writing the same file do
    not collide; the last to finish wins. The files flowerkit writes in one
    go use it: shards and their index (notebook ``06_beyond_one_machine``),
    the cache and its manifest, the app's artifact, the visitors' truth file,
    the HDF5 and zip files of notebook ``07_in_the_wild``. (Folders built
    whole, and downloads checked before they are kept, rename on their own.)
    """
    path = Path(path)
    tmp = path.with_name(_PARTIAL.format(name=path.name, tag=uuid.uuid4().hex[:8]))
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
