"""flowerkit.distributed: per-rank splitting counted, set_epoch, and the torchrun entry point on 2 processes (notebook 06).

The torchrun runs start real processes (gloo on the CPU); each is bounded by
a timeout, and a run that overruns is killed with all its processes and
reported as a failure, never a hang.
"""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch

from flowerkit.access import OxfordFlowers102
from flowerkit.distributed import (
    _EpochLoader,
    _files_loader,
    _KeyedFlowers,
    _per_rank_batch,
    _process_tree,
    _RunConfig,
    _shards_loader,
    _stop_process_tree,
    count_epochs,
    launch,
    pretend_rank,
)
from flowerkit.expectations import profile
from flowerkit.shards import write_shards

TIMEOUT_S = 420


def _blank(path, size):
    return torch.zeros(3, size, size, dtype=torch.uint8)  # counting needs no pixels


def _epochs(mini_root, team, epochs=2):
    """What each of 2 ranks sees over ``epochs`` epochs with our files loader (or the Scale team's)."""
    data = _KeyedFlowers(mini_root, "train", 8, decode=_blank)
    cfg = _RunConfig("mini", size=8, epochs=epochs, batch_size=64, seed=0, workers=0, team=team)
    seen = []
    for rank in range(2):
        loader = _files_loader(cfg, data, rank, 2, (None, None))
        for _ in range(epochs):
            for _ in loader:
                pass
        seen.append(loader.seen)
    return count_epochs(seen, data.image_ids), len(data)


def test_count_epochs_counts_duplicates_missing_and_repeated_orders():
    result = count_epochs([[[1, 2], [2, 1]], [[3, 3], [4, 3]]], expected=[1, 2, 3, 4, 5])
    assert result["per_rank_counts"] == [[2, 2], [2, 2]]
    assert result["unique_per_epoch"] == [3, 4] and result["duplicates_per_epoch"] == [1, 0]
    assert result["missing_per_epoch"] == [2, 1] and result["orders_differ"] is True
    assert result["appearances_per_epoch"] == [[2, 2, 1], [1, 4]]
    assert count_epochs([[[1], [1]]], [1])["orders_differ"] is False
    assert count_epochs([[[1]]], [1])["orders_differ"] is None


def test_distributed_sampler_gives_each_sample_once_and_set_epoch_a_new_order(mini_root):
    result, n = _epochs(mini_root, team="ours")
    assert result["per_rank_counts"] == [[n // 2, n // 2]] * 2
    assert result["unique_per_epoch"] == [n, n] and result["duplicates"] == 0 and result["missing"] == 0
    assert result["orders_differ"] is True


def test_the_scale_team_loader_duplicates_half_and_repeats_the_order(mini_root):
    result, n = _epochs(mini_root, team="scale")
    half = result["per_rank_counts"][0][0]
    assert half == math.ceil(n / 32) // 2 * 32, "each rank stops after its share of the steps, batches of 32"
    assert result["duplicates_per_epoch"] == [half, half] and result["missing_per_epoch"] == [n - half] * 2
    assert result["orders_differ"] is False


def test_each_scale_team_bug_alone_keeps_the_other_part_right(mini_root):
    """--team no-rank-split and --team same-order: notebook 06 costs the Scale team's two bugs apart."""
    result, n = _epochs(mini_root, team="no-rank-split")
    half = result["per_rank_counts"][0][0]
    assert half == math.ceil(n / 32) // 2 * 32, "each rank stops after its share of the steps, batches of 32"
    assert result["duplicates_per_epoch"] == [half, half] and result["missing_per_epoch"] == [n - half] * 2
    assert result["orders_differ"] is True
    result, n = _epochs(mini_root, team="same-order")
    assert result["per_rank_counts"] == [[n // 2, n // 2]] * 2 and result["duplicates"] == 0 and result["missing"] == 0
    assert result["orders_differ"] is False


def test_each_scale_team_bug_alone_from_shards(mini_root, tmp_path):
    """The shards route of --team no-rank-split and --team same-order: 64 photos in 4 shards, 2 ranks, 2 epochs."""
    full = OxfordFlowers102(mini_root, "train")
    small = SimpleNamespace(
        split="train", image_files=full.image_files[:64], image_ids=full.image_ids[:64], labels=full.labels[:64]
    )
    urls = [str(u) for u in write_shards(small, tmp_path, num_shards=4, progress=False)]
    stats = ((0.5,) * 3, (0.25,) * 3)
    results = {}
    for team in ("ours", "no-rank-split", "same-order"):
        cfg = _RunConfig("mini", size=8, epochs=2, batch_size=16, workers=0, source="shards", augment=False, team=team)
        seen = []
        for rank in range(2):
            with pretend_rank(rank, 2):
                loader = _shards_loader(cfg, urls, len(small.labels), 2, stats)
                for _ in range(2):
                    for _ in loader:
                        pass
            seen.append(loader.seen)
        results[team] = count_epochs(seen, small.image_ids)
    assert results["ours"]["duplicates"] == 0 and results["ours"]["orders_differ"] is True
    assert results["no-rank-split"]["duplicates"] > 0 and results["no-rank-split"]["orders_differ"] is True
    assert results["same-order"]["duplicates"] == 0 and results["same-order"]["orders_differ"] is False


def test_epoch_loader_stops_at_its_length_and_records_ids():
    batches = [(torch.zeros(2, 1), torch.zeros(2), torch.tensor([i, i + 100])) for i in range(5)]
    loader = _EpochLoader(lambda epoch: iter(batches), 3)
    assert len(loader) == 3 and len(list(loader)) == 3 and loader.seen == [[0, 100, 1, 101, 2, 102]]


def test_the_run_config_is_read_once_from_the_command_line(monkeypatch):
    monkeypatch.delenv("FLOWERKIT_DATASET", raising=False)
    cfg = _RunConfig.from_argv([])
    prof = profile("mini")
    assert (cfg.dataset, cfg.size, cfg.epochs, cfg.source, cfg.batch_size, cfg.workers) == (
        "mini",
        prof.size,
        prof.epochs,
        "files",
        64,
        1,
    )
    assert (cfg.num_shards, cfg.shards, cfg.shuffle_buffer, cfg.augment, cfg.seed, cfg.team) == (8, None, 256, True, 0, "ours")
    argv = [
        "--source",
        "shards",
        "--size",
        "32",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--no-augment",
        "--team",
        "scale",
        "--shards",
        "a.tar",
    ]
    cfg = _RunConfig.from_argv(argv)
    assert (cfg.source, cfg.size, cfg.epochs, cfg.batch_size, cfg.augment, cfg.team, cfg.shards) == (
        "shards",
        32,
        2,
        16,
        False,
        "scale",
        "a.tar",
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]
    with pytest.raises(SystemExit):
        _RunConfig.from_argv(["--source", "nowhere"])
    with pytest.raises(SystemExit):
        _RunConfig.from_argv(["--team", "nobody"])


def test_an_unknown_team_is_refused_without_naming_the_bug_alone_teams(capsys):
    """06's hunt asks which bugs the Scale team has: --help and a wrong --team name only ours and scale."""
    with pytest.raises(SystemExit):
        _RunConfig.from_argv(["--team", "x"])
    said = capsys.readouterr().err
    assert "unknown team 'x': ours or scale" in said and "no-rank-split" not in said and "same-order" not in said
    assert _RunConfig.from_argv(["--team", "same-order"]).team == "same-order"


def test_pretend_rank_sets_and_restores_the_torchrun_variables(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.setenv("WORLD_SIZE", "7")
    with pretend_rank(1, 2):
        assert (os.environ["RANK"], os.environ["WORLD_SIZE"]) == ("1", "2")
    assert "RANK" not in os.environ and os.environ["WORLD_SIZE"] == "7"


def test_torchrun_with_two_processes_splits_the_data_and_trains(default_mini_root, monkeypatch):
    # the ranks train on the CPU whatever pick_device() says: "meta" stands for a GPU here (DDP refuses to be moved)
    monkeypatch.setenv("FLOWERKIT_DEVICE", "meta")
    result = launch(2, "--dataset", "mini", "--epochs", "2", "--size", "32", "--workers", "1", timeout=TIMEOUT_S)
    n = result["dataset_size"]
    assert result["world_size"] == 2 and result["per_rank_counts"] == [[n // 2, n // 2]] * 2
    assert result["duplicates"] == 0 and result["missing"] == 0 and result["orders_differ"] is True
    assert 0 <= result["test_accuracy"] <= 1 and result["command"].startswith("torchrun --standalone --nproc_per_node=2")


def test_torchrun_reproduces_the_scale_team_from_shards(default_mini_root):
    """As notebook 06 runs the Scale team: --no-count leaves the counts out (no spoiler in the summary), the ids stay."""
    args = ("--dataset", "mini", "--source", "shards", "--team", "scale", "--epochs", "2", "--size", "32", "--workers", "1")
    result = launch(2, *args, "--no-count", timeout=TIMEOUT_S)
    assert result["team"] == "scale" and not {"duplicates", "missing", "orders_differ", "per_rank_counts"} & set(result)
    counts = count_epochs(result["seen"], OxfordFlowers102(default_mini_root, "train").image_ids)
    assert counts["duplicates"] > 0 and counts["missing"] > 0 and counts["orders_differ"] is False
    assert result["images_per_s"] == pytest.approx(sum(map(sum, counts["per_rank_counts"])) / result["train_seconds"])


def test_torchrun_from_shards_reads_every_sample_once_per_epoch(default_mini_root):
    """Ours from shards (notebook 06's cluster command): split by node and by worker, reshuffled each epoch, no hang."""
    args = ("--dataset", "mini", "--source", "shards", "--epochs", "2", "--size", "32", "--workers", "1")
    result = launch(2, *args, timeout=TIMEOUT_S)
    n = result["dataset_size"]
    assert result["team"] == "ours" and result["duplicates"] == 0 and result["missing"] == 0, result
    assert result["unique_per_epoch"] == [n, n] and result["orders_differ"] is True
    assert 0 <= result["test_accuracy"] <= 1


def test_a_failing_or_overrunning_run_is_reported_not_hung():
    with pytest.raises(RuntimeError, match="failed"):
        launch(1, "--source", "nowhere", timeout=TIMEOUT_S)
    start = time.perf_counter()
    with pytest.raises(TimeoutError, match="did not finish"):
        launch(1, "--epochs", "1", timeout=2)
    assert time.perf_counter() - start < 60


GRANDCHILD = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
print(child.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads the process tree from /proc")
def test_stop_process_tree_kills_a_grandchild_in_a_session_of_its_own():
    # torchrun starts each rank with start_new_session=True: a process-group kill misses them (CI hung 1 h on one)
    parent = subprocess.Popen([sys.executable, "-c", GRANDCHILD], stdout=subprocess.PIPE, text=True, start_new_session=True)
    grandchild = int(parent.stdout.readline())
    assert _process_tree(parent.pid) == [parent.pid, grandchild]
    start = time.perf_counter()
    _stop_process_tree(parent)
    assert time.perf_counter() - start < 30 and parent.returncode is not None
    deadline = time.monotonic() + 10
    while _running(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(grandchild), "the grandchild outlived _stop_process_tree"


def _running(pid):
    """Whether ``pid`` exists and is not a zombie waiting for init to reap it."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_a_global_batch_smaller_than_the_ranks_is_an_error_naming_the_fix():
    cfg = _RunConfig.from_argv(["--dataset", "mini"])
    assert _per_rank_batch(cfg, 2) == 32
    with pytest.raises(ValueError, match=r"--batch-size 64 is the global batch, split across 128 ranks.*--batch-size 8192"):
        _per_rank_batch(cfg, 128)  # 06's cluster on paper: 16 nodes x 8 processes
