"""A worker that stops answering, the bound that turns it into an error, and the tool that shows where it stopped.

Notebook ``07_in_the_wild``, section 4. A worker blocked on a read that never
returns (a network drive, a lock taken before fork) leaves the main process
waiting for its batch. ``DataLoader(timeout=...)`` turns the wait into an
error; :class:`DumpStacksAfter`, given as ``worker_init_fn``, writes each
worker's stack to a file when it has been running too long, which says where.
"""

from __future__ import annotations

import faulthandler
import time
from pathlib import Path
from typing import IO

import torch
from torch.utils.data import Dataset, get_worker_info

__all__ = ["DumpStacksAfter", "StallingDataset", "innermost_frames"]


class StallingDataset(Dataset):
    """``n`` small items; reading item ``stall_at`` blocks for ``stall_s`` seconds, like a read from a stalled network drive.

    The stall is finite so that the demonstration ends; in the wild it lasts until someone kills the job.
    Introduced in notebook ``07_in_the_wild``.
    """

    def __init__(self, n: int, stall_at: int, stall_s: float) -> None:
        self.n, self.stall_at, self.stall_s = n, stall_at, stall_s

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, int]:
        if idx == self.stall_at:
            time.sleep(self.stall_s)  # the read that does not come back
        return torch.full((3, 4, 4), idx % 256, dtype=torch.uint8), idx


class DumpStacksAfter:
    """A ``worker_init_fn``: each worker writes its stack to ``folder/worker-<id>.txt`` if still running after ``seconds``.

    Uses ``faulthandler.dump_traceback_later``, which needs no cooperation from the stuck code. Read the
    files after the loader's ``timeout`` error: the last lines name the function each worker was in.
    A class, not a function in the notebook, so that spawn workers can import it. Introduced in notebook ``07_in_the_wild``.
    """

    def __init__(self, folder: str | Path, seconds: float) -> None:
        self.folder, self.seconds = Path(folder), seconds
        self._file: IO[str] | None = None

    def __call__(self, worker_id: int) -> None:
        info = get_worker_info()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._file = open(self.folder / f"worker-{worker_id}.txt", "w")  # kept open: faulthandler writes to it later
        print(
            f"worker {worker_id} of {info.num_workers if info else 1}, stack dumped below if stuck:", file=self._file, flush=True
        )
        faulthandler.dump_traceback_later(self.seconds, repeat=False, file=self._file)


def innermost_frames(dump: str | Path, frames: int = 3) -> list[str]:
    """The innermost ``frames`` lines of the worker's own thread in a stack dump written by :class:`DumpStacksAfter`.

    ``faulthandler`` lists every thread the process knows; in a forked worker that includes threads of its
    parent that no longer run there. The worker's own thread is dumped last. Introduced in notebook ``07_in_the_wild``.
    """
    blocks = [block for block in Path(dump).read_text().split("\n\n") if "most recent call first" in block]
    if not blocks:
        return []
    lines = [line.strip() for line in blocks[-1].splitlines()[1:] if line.strip()]
    return lines[:frames]
