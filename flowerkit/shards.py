"""Shards: a split packed into tar files in the WebDataset layout, and streamed back with ``webdataset``.

Introduced in notebook ``06_beyond_one_machine``. A million JPEGs in one
folder are a million small random reads (and a file system or object store
that struggles to list them); the same images in a few hundred tar files are
a few hundred long sequential reads, which disks, networks and object stores
serve at full speed. The WebDataset layout is plain tar: each sample is the
files that share a key, here ``000123.jpg`` (the original JPEG bytes,
untouched) and ``000123.cls`` (the 0-based label as text), keyed by the
1-based image id.

* :func:`write_shards` packs any split (deterministic bytes: fixed member
  times, owners and order; atomic: a shard under its final name is complete)
  and writes an index last, ``<split>.json`` (the shard index format of
  webdataset's ``wids``: each shard's name, sample count and size);
* :func:`shard_urls` reads that index back and checks the shards against it,
  so a folder whose rewrite was interrupted (new shards beside old ones, every
  file complete) is refused instead of read as a silent mix;
* :func:`shard_pipeline` reads them with the ``webdataset`` library as an
  ``IterableDataset``, split across ranks (``split_by_node``) and DataLoader
  workers (``split_by_worker``), decoded with the course's
  :func:`flowerkit.load.decode_resized` and normalised per batch with
  :class:`flowerkit.load.CollateNormalize`, like every other loader of the course;
* :func:`shard_loader` wraps it in a ``DataLoader`` (workers batch, the main
  process only receives batches).

Everything here is importable by name, so DataLoader workers can use it under
spawn and forkserver too.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .config import default_dataset
from .facts import DEFAULT_SIZE
from .load import WORKER_TIMEOUT_S, CollateNormalize, decode_resized
from .paths import _written_whole, data_dir

__all__ = [
    "KeyedCollate",
    "index_name",
    "read_shard_keys",
    "shard_dir",
    "shard_loader",
    "shard_name",
    "shard_pipeline",
    "shard_urls",
    "write_shards",
]

#: Every member of a shard gets this modification time (1 January 2000), so the same split gives the same bytes.
SHARD_MTIME = 946684800
#: The ``__kind__`` of a shard index: the format webdataset's ``wids`` reads (``shardlist`` of url, nsamples, filesize).
INDEX_KIND = "wids-shard-index-v1"


def shard_name(split: str, index: int) -> str:
    """``train-000003.tar``: the name of shard ``index`` of ``split``. Introduced in notebook ``06_beyond_one_machine``."""
    return f"{split}-{index:06d}.tar"


def index_name(split: str) -> str:
    """``train.json``: the name of the index :func:`write_shards` writes last. Introduced in notebook ``06_beyond_one_machine``."""
    return f"{split}.json"


def shard_dir(dataset: str | None = None) -> Path:
    """Where a dataset's shards live: ``<data_dir>/shards/<dataset>``. Introduced in notebook ``06_beyond_one_machine``."""
    return data_dir() / "shards" / (dataset or default_dataset())


def _sample_order(n: int, seed: int | None) -> list[int]:
    """The order samples are written in: a seeded permutation, or file order when ``seed`` is None."""
    if seed is None:
        return list(range(n))
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()


def _write_shard(path: Path, dataset: Any, indices: Sequence[int]) -> None:
    """Write one shard under a temporary name, then rename it: a shard under its final name is always complete."""
    with _written_whole(path) as tmp:
        with open(tmp, "wb") as stream, wds.TarWriter(stream, user="", group="", mtime=SHARD_MTIME) as sink:
            for i in indices:
                jpg = Path(dataset.image_files[i]).read_bytes()  # the original bytes: decoding stays identical
                sink.write({"__key__": f"{int(dataset.image_ids[i]):06d}", "jpg": jpg, "cls": int(dataset.labels[i])})


def write_shards(
    dataset: Any,
    folder: str | Path | None = None,
    *,
    num_shards: int = 8,
    seed: int | None = 0,
    progress: bool = True,
) -> list[Path]:
    """Pack a split into ``num_shards`` tar shards in the WebDataset layout; return their paths in order.

    ``dataset`` is any Dataset with ``split``, ``image_files``, ``image_ids``
    and ``labels`` (e.g. :class:`flowerkit.OxfordFlowers102`). Samples are
    written in a seeded random order (``seed=None`` keeps file order, which is
    grouped by class: a shuffle buffer then mixes only neighbours), split into
    shards whose sizes differ by at most one. The bytes depend only on the
    split and the arguments; each shard is written under a temporary name and
    renamed when complete; shards of the same split left from an earlier call
    with more shards are removed. The index ``<split>.json`` is removed first
    and written last, so :func:`shard_urls` finds it only beside a complete
    set. Introduced in notebook ``06_beyond_one_machine``.
    """
    n = len(dataset.image_files)
    if not 1 <= num_shards <= n:
        raise ValueError(f"num_shards must be between 1 and the split's {n} samples, got {num_shards}")
    folder = Path(folder) if folder is not None else shard_dir()
    folder.mkdir(parents=True, exist_ok=True)
    chunks = np.array_split(np.array(_sample_order(n, seed)), num_shards)
    paths = [folder / shard_name(dataset.split, i) for i in range(num_shards)]
    (folder / index_name(dataset.split)).unlink(missing_ok=True)  # first: until the new index exists, readers refuse
    for stale in set(folder.glob(f"{dataset.split}-[0-9][0-9][0-9][0-9][0-9][0-9].tar")) - set(paths):
        stale.unlink()
    with tqdm(total=n, desc=f"shards {dataset.split}", unit="img", disable=not progress) as bar:
        for path, chunk in zip(paths, chunks):
            _write_shard(path, dataset, chunk.tolist())
            bar.update(len(chunk))
    _write_index(folder, dataset.split, [(path, len(chunk)) for path, chunk in zip(paths, chunks)], seed)
    return paths


def _write_index(folder: Path, split: str, shards: Sequence[tuple[Path, int]], seed: int | None) -> None:
    """Write ``<split>.json`` (wids' shard index, urls relative to ``folder``) under a temporary name, then rename it."""
    index = {
        "__kind__": INDEX_KIND,
        "wids_version": 1,
        "name": split,
        "seed": seed,
        "shardlist": [{"url": p.name, "nsamples": k, "filesize": p.stat().st_size} for p, k in shards],
    }
    with _written_whole(folder / index_name(split)) as tmp:
        tmp.write_text(json.dumps(index, indent=1) + "\n")


def shard_urls(folder: str | Path | None = None, split: str = "train") -> list[Path]:
    """The shards of ``split`` in ``folder`` (default :func:`shard_dir`), in order, as :func:`write_shards` left them.

    Read from the index ``<split>.json`` that :func:`write_shards` writes
    after its last shard; every listed shard must exist with the size the
    index gives. A folder without the index (a rewrite that was interrupted,
    or shards copied in by hand), or whose shards changed since, raises an
    error naming the folder and what to do, instead of being read as a mix of
    old and new shards. Introduced in notebook ``06_beyond_one_machine``.
    """
    folder = Path(folder) if folder is not None else shard_dir()
    index_path = folder / index_name(split)
    again = f"write them again with flowerkit.shards.write_shards(dataset, {str(folder)!r})"
    if not index_path.is_file():
        raise FileNotFoundError(
            f"{folder} has no complete set of {split} shards: {index_path.name}, which write_shards writes after its "
            f"last shard, is missing (the writing was interrupted, or never ran there); {again}"
        )
    try:
        index = json.loads(index_path.read_text())
        listed = [(folder / entry["url"], int(entry["filesize"])) for entry in index["shardlist"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{index_path} is not a shard index written by write_shards ({exc!r}); {again}") from exc
    for path, size in listed:
        actual = path.stat().st_size if path.is_file() else None
        if actual != size:
            found = "is missing" if actual is None else f"has {actual} bytes, the index says {size}"
            raise ValueError(f"{path.name}, listed in {index_path}, {found}: the shards changed after writing; {again}")
    return [path for path, _ in listed]


# --------------------------------------------------------------------------------------
# Reading: webdataset stages, each a module-level callable so workers can unpickle it.
# --------------------------------------------------------------------------------------


def _sample_key(sample: dict[str, Any]) -> tuple[int, int]:
    """(image id, label) of a raw webdataset sample, without decoding the image: for counting who reads what."""
    return int(sample["__key__"]), int(sample["cls"])


class _SampleDecoder:
    """Turn a raw webdataset sample into (uint8 (3, size, size) image, label, image id) with the course's decoder.

    The JPEG bytes go through :func:`flowerkit.load.decode_resized`, exactly as
    a file on disk would; ``transform`` (optional) is applied to the uint8
    image, e.g. :func:`flowerkit.transform.augment_uint8`. A sample that does
    not decode raises an error naming its key and shard.
    """

    def __init__(self, size: int, transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.size, self.transform = size, transform

    def __call__(self, sample: dict[str, Any]) -> tuple[torch.Tensor, int, int]:
        try:
            image = decode_resized(io.BytesIO(sample["jpg"]), self.size)  # type: ignore[arg-type]
        except (OSError, ValueError, KeyError) as exc:
            where = f"sample {sample.get('__key__')} of {sample.get('__url__')}"
            why = (
                f"has no .jpg member ({sorted(sample)})"
                if isinstance(exc, KeyError)
                else f"is not a readable image ({exc.__cause__ or exc})"
            )
            raise ValueError(f"{where} {why}: rewrite the shards with flowerkit.shards.write_shards") from exc
        if self.transform is not None:
            image = self.transform(image)
        image_id, label = _sample_key(sample)
        return image, label, image_id


class KeyedCollate:
    """``collate_fn`` for (image, label, image id) triples: :class:`flowerkit.load.CollateNormalize`, plus the ids.

    Returns (images, labels, image ids): the ids let a training run count which
    samples each process saw. Introduced in notebook ``06_beyond_one_machine``.
    """

    def __init__(
        self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None, *, channels_last: bool = False
    ) -> None:
        self.collate = CollateNormalize(mean, std, channels_last=channels_last)

    def __call__(self, batch: Sequence[tuple[torch.Tensor, int, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        images, labels = self.collate([(image, label) for image, label, _ in batch])
        return images, labels, torch.as_tensor([image_id for _, _, image_id in batch], dtype=torch.int64)


def _shard_stages(urls: Sequence[str], seed: int, epoch: int | None, split_nodes: bool, split_workers: bool) -> list[Any]:
    """Shard list -> (shuffled the same way on every rank) -> this rank's shards -> this worker's shards -> samples."""
    stages: list[Any] = [wds.SimpleShardList(list(map(str, urls)))]
    if epoch is not None:  # a full shuffle of the shard list, seeded by seed + epoch: every rank draws the same order
        stages.append(wds.detshuffle(bufsize=len(urls), initial=len(urls), seed=seed, epoch=epoch - 1))
    if split_nodes:
        stages.append(wds.split_by_node)
    if split_workers:
        stages.append(wds.split_by_worker)
    stages.append(wds.tarfile_to_samples())
    return stages


def shard_pipeline(
    urls: Sequence[str | Path],
    size: int | None = 64,
    *,
    batch_size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    shuffle_buffer: int = 0,
    seed: int = 0,
    epoch: int | None = 0,
    split_nodes: bool = True,
    split_workers: bool = True,
) -> wds.DataPipeline:
    """A ``webdataset`` pipeline (an ``IterableDataset``) over shards: this rank's and worker's samples, decoded.

    Stages: the shard list, shuffled by ``seed + epoch`` (``epoch=None``: file
    order), the same on every rank so that ``split_by_node`` hands each rank
    its own shards; then ``split_by_worker``; then samples, mixed by a shuffle
    buffer of ``shuffle_buffer`` samples (0: none), seeded by ``seed + epoch``;
    then decoding with :class:`_SampleDecoder` (``size=None``: no decoding,
    items are (image id, label) from :func:`_sample_key`); then, with
    ``batch_size``, batches of (images, labels, image ids) through
    :class:`KeyedCollate`. A new ``epoch`` gives a new order, like
    ``DistributedSampler.set_epoch``. Introduced in notebook ``06_beyond_one_machine``.
    """
    stages = _shard_stages([str(u) for u in urls], seed, epoch, split_nodes, split_workers)
    if shuffle_buffer > 0:
        stages.append(wds.shuffle(shuffle_buffer, initial=shuffle_buffer, seed=seed + (epoch or 0)))
    stages.append(wds.map(_sample_key if size is None else _SampleDecoder(size, transform)))
    if batch_size is not None and size is not None:
        stages.append(wds.batched(batch_size, collation_fn=KeyedCollate(mean, std), partial=True))
    elif batch_size is not None:
        stages.append(wds.batched(batch_size, partial=True))
    return wds.DataPipeline(*stages)


def shard_loader(
    urls: Sequence[str | Path],
    size: int = DEFAULT_SIZE,
    *,
    batch_size: int = 64,
    num_workers: int = 0,
    timeout: float = WORKER_TIMEOUT_S,
    **pipeline_kw: Any,
) -> DataLoader:
    """A ``DataLoader`` over :func:`shard_pipeline` batches: workers read, decode and batch; batches come out whole.

    ``batch_size=None`` is given to the DataLoader because the pipeline batches
    (the webdataset idiom); each worker makes its own batches, so an epoch may
    end with up to one partial batch per worker. With workers, a batch not
    ready within ``timeout`` seconds raises an error instead of hanging (0
    without workers, as DataLoader requires). Keyword arguments go to
    :func:`shard_pipeline`. Introduced in notebook ``06_beyond_one_machine``.
    """
    pipeline = shard_pipeline(urls, size, batch_size=batch_size, **pipeline_kw)
    return _stream_loader(pipeline, num_workers, timeout)


def read_shard_keys(
    urls: Sequence[str | Path], *, num_workers: int = 0, timeout: float = WORKER_TIMEOUT_S, **pipeline_kw: Any
) -> list[tuple[int, int, int]]:
    """Every (image id, label, worker) this process would read from ``urls`` in one epoch, without decoding images.

    ``worker`` is the DataLoader worker that read the sample (0 without
    workers). With workers, an item not ready within ``timeout`` seconds
    raises an error instead of hanging (0 without workers). Keyword arguments
    go to :func:`shard_pipeline` (``seed``, ``epoch``, ``shuffle_buffer``,
    ``split_nodes``, ``split_workers``). Introduced in notebook ``06_beyond_one_machine``.
    """
    pipeline = shard_pipeline(urls, None, batch_size=None, **pipeline_kw)
    pipeline.append(wds.map(_with_worker))
    loader = _stream_loader(pipeline, num_workers, timeout)
    return [(int(image_id), int(label), int(worker)) for image_id, label, worker in loader]


def _stream_loader(pipeline: wds.DataPipeline, num_workers: int, timeout: float) -> DataLoader:
    """A DataLoader that passes the pipeline's items through; with workers, bounded by ``timeout`` seconds per item."""
    return DataLoader(pipeline, batch_size=None, num_workers=num_workers, timeout=timeout if num_workers > 0 else 0)


def _with_worker(item: tuple[int, int]) -> tuple[int, int, int]:
    """Add the id of the DataLoader worker running this stage (0 in the main process)."""
    info = torch.utils.data.get_worker_info()
    return (*item, info.id if info is not None else 0)
