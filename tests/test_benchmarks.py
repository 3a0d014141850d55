"""benchmarks/: every script imports when run as ``python benchmarks/x.py``, and the code only they use works."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

from PIL import Image
from torch.utils.data import DataLoader

from flowerkit import OxfordFlowers102, load
from flowerkit.load import measure_throughput

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
_DECODING = runpy.run_path(str(BENCHMARKS / "_decoding.py"))  # not a package: the scripts import it by file name
DecodeOnly, count_items = _DECODING["DecodeOnly"], _DECODING["count_items"]

# Each script starts from the same sys.path, and what an earlier one imported from the checkout (flowerkit, tools) is
# forgotten, so one script's path fix cannot hide another's missing one; torch stays imported (the slow part).
_IMPORT_AS_SCRIPT = """
import runpy, sys, traceback
repo, scripts, path = sys.argv[1], sys.argv[2:], list(sys.path)
failed = []
for script in scripts:
    sys.path[:] = [script.rsplit("/", 1)[0], *path[1:]]
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None) or ""
        if where.startswith(repo) and not where.startswith(sys.prefix):  # the checkout's code, not the venv's
            del sys.modules[name]
    try:
        runpy.run_path(script, run_name="imported")
    except BaseException:
        failed.append(script + ":\\n" + traceback.format_exc(limit=3))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_benchmark_script_imports_when_run_as_a_script() -> None:
    """``python benchmarks/x.py`` puts benchmarks/ first on the path, not the repo: its imports must still resolve.

    One fresh Python for all scripts (torch imports once), each run as ``python benchmarks/x.py`` would see the path.
    """
    scripts = sorted(str(p) for p in BENCHMARKS.glob("*.py"))
    assert len(scripts) >= 5
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [sys.executable, "-c", _IMPORT_AS_SCRIPT, str(REPO), *scripts]
    proc = subprocess.run(cmd, cwd="/", env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"benchmarks that do not import as a script:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}"


def test_decode_only_decodes_at_the_scale_decode_resized_uses(default_mini_root):
    path = OxfordFlowers102(default_mini_root, "val").image_files[0]
    w, h = Image.open(path).size
    pil = DecodeOnly([path], 128, decoder="pil")
    assert len(pil) == 1 and pil[0] == (w // 2) * (h // 2), "PIL draft: 1/2 for a 500 px photo at 128 px"
    if load.simplejpeg is not None:
        assert DecodeOnly([path], 128, decoder="simplejpeg")[0] == -(-w * 3 // 8) * -(-h * 3 // 8), "libjpeg-turbo: 3/8"


def test_decode_only_without_simplejpeg_decodes_with_pil(monkeypatch, default_mini_root):
    path = OxfordFlowers102(default_mini_root, "val").image_files[0]
    monkeypatch.setattr(load, "simplejpeg", None)
    assert DecodeOnly([path], 128)[0] == DecodeOnly([path], 128, decoder="pil")[0]


def test_a_loader_that_only_counts_is_timed_by_its_counts(default_mini_root):
    files = OxfordFlowers102(default_mini_root, "val").image_files[:10]
    loader = DataLoader(DecodeOnly(files, 32, decoder="pil"), batch_size=4, collate_fn=count_items)
    assert [batch for batch in loader] == [4, 4, 2]
    assert measure_throughput(loader, warmup=0)["images"] == 10
