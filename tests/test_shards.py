"""flowerkit.shards: WebDataset-layout tar shards written deterministically and atomically, read back with webdataset (notebook 06)."""

from __future__ import annotations

import hashlib
import json
import tarfile
import time
from collections import Counter

import pytest
import torch

from flowerkit import OxfordFlowers102
from flowerkit import shards as shards_module
from flowerkit.distributed import pretend_rank
from flowerkit.load import decode_resized
from flowerkit.shards import (
    SHARD_MTIME,
    _SampleDecoder,
    index_name,
    read_shard_keys,
    shard_loader,
    shard_name,
    shard_urls,
    write_shards,
)

S = 16


@pytest.fixture(scope="module")
def train(mini_root):
    return OxfordFlowers102(mini_root, "train")


@pytest.fixture(scope="module")
def shards(train, tmp_path_factory):
    return write_shards(train, tmp_path_factory.mktemp("shards"), num_shards=8, progress=False)


def _digests(paths):
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_round_trip_gives_every_sample_once_with_its_label(train, shards):
    assert [p.name for p in shards] == [shard_name("train", i) for i in range(8)]
    keys = read_shard_keys(shards)
    truth = dict(zip(train.image_ids, train.labels))
    assert sorted(k for k, _, _ in keys) == sorted(truth)
    assert all(truth[image_id] == label for image_id, label, _ in keys)


def test_shards_use_the_webdataset_layout_with_fixed_metadata(train, shards):
    with tarfile.open(shards[0]) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names[0].endswith(".cls") and names[1].endswith(".jpg") and names[0][:-4] == names[1][:-4]
    assert len(names[0]) == len("000123.cls")
    assert {m.mtime for m in members} == {SHARD_MTIME} and {m.uid for m in members} == {0}
    first = int(names[0][:-4])
    assert (train.image_files[train.image_ids.index(first)].read_bytes()) == tarfile.open(shards[0]).extractfile(names[1]).read()


def test_writing_is_deterministic_atomic_and_removes_stale_shards(train, tmp_path):
    first = write_shards(train, tmp_path, num_shards=8, progress=False)
    again = write_shards(train, tmp_path, num_shards=8, progress=False)
    assert _digests(first) == _digests(again)
    fewer = write_shards(train, tmp_path, num_shards=3, progress=False)
    assert sorted(tmp_path.iterdir()) == [*fewer, tmp_path / "train.json"]  # no stale shard, no partial file left
    assert sum(len(read_shard_keys([p])) for p in fewer) == len(train)
    with pytest.raises(ValueError, match="num_shards"):
        write_shards(train, tmp_path, num_shards=0)


def test_decoded_samples_equal_the_course_decoder_on_the_file(train, shards):
    images, labels, ids = next(iter(shard_loader(shards, S, batch_size=4, epoch=None)))
    for image, label, image_id in zip(images, labels, ids.tolist()):
        i = train.image_ids.index(image_id)
        assert torch.equal(image, decode_resized(train.image_files[i], S)) and label == train.labels[i]
    normalised, _, _ = next(iter(shard_loader(shards, S, batch_size=4, epoch=None, mean=(0.5,) * 3, std=(0.25,) * 3)))
    assert normalised.dtype == torch.float32 and torch.allclose(normalised, (images / 255 - 0.5) / 0.25, atol=1e-5)
    with pytest.raises(ValueError, match="sample 000001 of shard.tar is not a readable image"):
        _SampleDecoder(S)({"__key__": "000001", "__url__": "shard.tar", "jpg": b"broken", "cls": b"0"})


def test_workers_and_ranks_each_read_their_own_shards_exactly_once(train, shards):
    seen = []
    for rank in range(2):
        with pretend_rank(rank, 2):
            keys = read_shard_keys(shards, num_workers=2, epoch=3)
        assert {w for _, _, w in keys} == {0, 1}  # both workers of this rank read something
        seen += [k for k, _, _ in keys]
    counts = Counter(seen)
    assert len(counts) == len(train) and set(counts.values()) == {1}


def test_forgetting_the_rank_split_duplicates_every_sample(shards):
    seen = []
    for rank in range(2):
        with pretend_rank(rank, 2):
            seen += [k for k, _, _ in read_shard_keys(shards, split_nodes=False)]
    assert set(Counter(seen).values()) == {2}


def test_fewer_shards_than_ranks_times_workers_leaves_readers_idle(shards):
    with pretend_rank(1, 2):
        keys = read_shard_keys(shards[:3], num_workers=2, epoch=None)  # rank 1 gets shard 1 only: worker 1 idles
    assert {w for _, _, w in keys} == {0}


def test_a_new_epoch_gives_a_new_order_and_the_same_epoch_the_same_order(shards):
    def order(epoch):
        return [k for k, _, _ in read_shard_keys(shards, epoch=epoch, shuffle_buffer=64)]

    assert order(0) == order(0)
    assert order(0) != order(1) and sorted(order(0)) == sorted(order(1))


def _stuck_with_worker(item):
    time.sleep(30)  # a worker that never delivers: a stalled network read, say
    return (*item, 0)


def test_loaders_with_workers_raise_after_the_timeout_instead_of_hanging(shards, monkeypatch):
    assert shard_loader(shards, S, num_workers=2).timeout == shards_module.WORKER_TIMEOUT_S == 120
    assert shard_loader(shards, S, num_workers=0, timeout=5).timeout == 0  # DataLoader allows none without workers
    assert shard_loader(shards, S, num_workers=2, timeout=5).timeout == 5
    monkeypatch.setattr(shards_module, "_with_worker", _stuck_with_worker)
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="timed out after 1 seconds"):
        read_shard_keys(shards, num_workers=1, timeout=1)
    assert time.perf_counter() - start < 25


def test_the_index_is_written_last_and_lists_every_shard(train, tmp_path):
    paths = write_shards(train, tmp_path, num_shards=3, seed=0, progress=False)
    index = json.loads((tmp_path / index_name("train")).read_text())
    assert index["__kind__"] == "wids-shard-index-v1" and index["seed"] == 0
    assert [e["url"] for e in index["shardlist"]] == [p.name for p in paths]
    assert [e["filesize"] for e in index["shardlist"]] == [p.stat().st_size for p in paths]
    assert sum(e["nsamples"] for e in index["shardlist"]) == len(train)
    assert shard_urls(tmp_path, "train") == paths


def test_an_interrupted_rewrite_is_refused_not_read_as_a_mix(train, tmp_path, monkeypatch):
    write_shards(train, tmp_path, num_shards=4, seed=0, progress=False)
    real, written = shards_module._write_shard, []

    def dies_after_two(path, dataset, indices):
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(path)
        real(path, dataset, indices)

    monkeypatch.setattr(shards_module, "_write_shard", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        write_shards(train, tmp_path, num_shards=4, seed=1, progress=False)
    assert len(list(tmp_path.glob("train-*.tar"))) == 4  # every file complete: two new shards beside two old ones
    with pytest.raises(FileNotFoundError, match=r"train\.json.*is missing.*write_shards"):
        shard_urls(tmp_path, "train")


def test_a_shard_changed_after_writing_is_named(train, tmp_path):
    paths = write_shards(train, tmp_path, num_shards=2, progress=False)
    paths[1].write_bytes(paths[1].read_bytes()[:1024])
    with pytest.raises(ValueError, match=r"train-000001\.tar.*1024 bytes.*changed after writing"):
        shard_urls(tmp_path, "train")
    paths[1].unlink()
    with pytest.raises(ValueError, match=r"train-000001\.tar.*is missing"):
        shard_urls(tmp_path, "train")
    (tmp_path / "train.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a shard index"):
        shard_urls(tmp_path, "train")
