"""Training scripts that fail the way students' scripts do, and a runner that bounds them with a deadline.

Notebook ``07_in_the_wild``, sections 3 (the ``if __name__ == "__main__":``
guard), 4 (a worker that dies before its loop) and 8 (CUDA in workers). A
spawn worker is a fresh Python that imports your script again under the name
``__mp_main__``: code outside the guard runs again there, and a class defined
inside the guard does not exist there. :func:`run_script` runs a script in a
child process with a deadline and keeps everything it printed, so a failure
is text to read within seconds, never a frozen kernel.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from torchvision.datasets.utils import verify_str_arg

__all__ = ["SCRIPT_KINDS", "ScriptRun", "cuda_fork_script", "run_script", "training_script"]

#: The training scripts :func:`training_script` writes.
SCRIPT_KINDS = ("no_guard", "guard", "class_in_guard")

_DATASET = '''
class Squares(Dataset):
    """64 tiny images and labels{payload_doc}."""

    def __init__(self, n):
        self.n = n
        self.pixels = bytes({payload_bytes})

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.full((3, 8, 8), i % 10, dtype=torch.uint8), i % 10
'''

_TRAIN = """
def train():
    loader = DataLoader(Squares(64), batch_size=16, num_workers=1, multiprocessing_context="spawn"{timeout})
    seen = sum(len(labels) for _, labels in loader)
    print(f"one epoch: {{seen}} samples from a spawn worker")
"""

_MAIN = {
    "no_guard": "{dataset}{train}\ntrain()\n",
    "guard": '{dataset}{train}\nif __name__ == "__main__":  # only when run as a script, not when a worker imports it\n    train()\n',
    "class_in_guard": '{train}\nif __name__ == "__main__":{dataset_in_guard}\n    train()\n',
}


def training_script(kind: str, *, payload_mib: int = 0, timeout_s: float = 0) -> str:
    """The text of a small training script: a spawn worker reads 64 tiny images. Introduced in notebook ``07_in_the_wild``.

    ``kind``: ``"no_guard"`` calls ``train()`` at the top level; ``"guard"`` calls it under
    ``if __name__ == "__main__":``; ``"class_in_guard"`` also defines the dataset class under the guard,
    where a worker cannot find it. ``payload_mib`` makes the dataset carry that many MiB by value (as a
    memory map opened in ``__init__`` would); ``timeout_s`` gives the DataLoader a ``timeout``.
    """
    verify_str_arg(kind, "kind", SCRIPT_KINDS)
    doc = f"; it holds {payload_mib} MiB of pixels by value" if payload_mib else ""
    dataset = _DATASET.format(payload_doc=doc, payload_bytes=payload_mib * 2**20)
    train = _TRAIN.format(timeout=f", timeout={timeout_s:g}" if timeout_s else "")
    header = '"""A small training script: a spawn worker reads 64 tiny images."""\nimport torch\nfrom torch.utils.data import DataLoader, Dataset\n'
    body = _MAIN[kind].format(dataset=dataset, train=train, dataset_in_guard=textwrap.indent(dataset, "    "))
    return header + body


@dataclass(frozen=True)
class ScriptRun:
    """What a script did: exit code (None if stopped at its deadline), seconds, what it printed. Introduced in notebook ``07_in_the_wild``.

    ``first_error_s`` is when an error first appeared on its stderr (a worker's or its own), or None.
    """

    returncode: int | None
    seconds: float
    stdout: str
    stderr: str
    timed_out: bool
    first_error_s: float | None

    @property
    def errors(self) -> list[str]:
        """Each exception in stderr as ``"Type: message"`` (its first line of text), in the order printed."""
        found, lines = [], self.stderr.splitlines()
        for k, line in enumerate(lines):
            match = re.match(r"^([A-Za-z_.]*(?:Error|Exception)): ?(.*)$", line)
            if match:
                message = match.group(2).strip() or next((row.strip() for row in lines[k + 1 :] if row.strip()), "")
                found.append(f"{match.group(1)}: {message}")
        return found


_ERROR_LINE = re.compile(r"^[A-Za-z_.]*(Error|Exception):", re.M)


def _stop(proc: subprocess.Popen) -> None:
    """Kill ``proc`` and its process group (its spawn workers and their helpers), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (AttributeError, OSError):  # no process groups (Windows), or already gone
        proc.kill()
    proc.wait()


def run_script(path: str | Path, *, deadline_s: float = 60, after_error_s: float | None = None) -> ScriptRun:
    """Run ``python path`` in a new process group; stop it at ``deadline_s``, or ``after_error_s`` after its first error.

    Output goes to files, not pipes (a worker left behind cannot keep a read waiting), read back at the
    end. ``after_error_s`` bounds a script whose worker has died while its main process waits on: the
    hang of notebook ``07_in_the_wild``, section 4. Introduced in notebook ``07_in_the_wild``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out_path, err_path = Path(tmp) / "stdout.txt", Path(tmp) / "stderr.txt"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(out_path, "w") as out, open(err_path, "w") as err:
            proc = subprocess.Popen([sys.executable, str(path)], stdout=out, stderr=err, env=env, start_new_session=True)
        start, first_error, stopped = time.perf_counter(), None, False
        while proc.poll() is None:
            elapsed = time.perf_counter() - start
            if first_error is None and _ERROR_LINE.search(err_path.read_text(errors="replace")):
                first_error = elapsed
            late = after_error_s is not None and first_error is not None and elapsed - first_error > after_error_s
            if elapsed > deadline_s or late:
                _stop(proc)
                stopped = True
                break
            time.sleep(0.1)
        seconds = time.perf_counter() - start
        stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
    if first_error is None and _ERROR_LINE.search(stderr):
        first_error = seconds
    return ScriptRun(None if stopped else proc.returncode, seconds, stdout, stderr, stopped, first_error)


_CUDA_SCRIPT = '''"""CUDA in DataLoader workers: fork after the main process used CUDA, then spawn."""
import torch
from torch.utils.data import DataLoader, Dataset


class OnTheGpu(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.full((2,), float(i), device="cuda").sum().cpu()  # a worker that touches CUDA


if __name__ == "__main__":
    torch.zeros(1, device="cuda")  # the main process uses CUDA first, as model.to("cuda") does
    for method in ("fork", "spawn"):
        loader = DataLoader(OnTheGpu(), batch_size=2, num_workers=1, multiprocessing_context=method, timeout=120)
        try:
            print(method, "workers:", [batch.tolist() for batch in loader])
        except RuntimeError as err:
            print(method, "workers:", str(err).strip().splitlines()[-1])
'''


def cuda_fork_script() -> str:
    """A script whose workers touch CUDA after the main process did: under fork, then spawn (needs a GPU).

    Introduced in notebook ``07_in_the_wild``.
    """
    return _CUDA_SCRIPT
