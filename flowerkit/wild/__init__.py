"""DataLoader in the wild: the failures PyTorch users meet first, each reproduced, measured and fixed.

The support package of notebook ``07_in_the_wild``. Everything a DataLoader
worker receives lives here, importable by name (spawn and forkserver workers
import it), as broken and fixed pairs, one module per section:
``measure`` (worker memory, an epoch's fate, shared memory in flight),
``copies`` (section 1's captions, and their memory in workers), ``handles``
(files opened in ``__init__``), ``scripts`` (the ``__main__`` guard, a worker
that dies, CUDA), ``stalls`` (a stuck worker and ``timeout``), ``corrupt`` (bad
JPEGs) and ``randomness`` (random augmentations drawn in workers). Where the
notebook asks a student for a cause, the docstrings here do not give it (``help(wild)``
shows them); the code comments and the notebook, after its checker, do.
"""

from __future__ import annotations

from .copies import CaptionList, RecordArrays, RecordList, make_captions
from .corrupt import (
    BadImage,
    SkipAndLog,
    collate_skipping,
    find_bad_images,
    plant_bad_images,
    truncated_images_allowed,
)
from .corrupt import planted_damage as planted_damage  # importable, not in __all__: 07's answer key
from .handles import EagerH5Flowers, EagerMemmapCache, LazyH5Flowers, ZipImages, write_hdf5, write_zip
from .measure import (
    BlankImages,
    EpochRun,
    WorkerMemory,
    bytes_in_flight,
    measure_worker_memory,
    private_mib,
    readable_error,
    run_epoch,
    shm_in_flight,
    shm_size,
)
from .randomness import JitterCrops, MixupPartners, SeededJitterCrops, TorchJitterCrops, WorkerSeeds
from .scripts import SCRIPT_KINDS, ScriptRun, cuda_fork_script, run_script, training_script
from .stalls import DumpStacksAfter, StallingDataset, innermost_frames

__all__ = [
    "SCRIPT_KINDS",
    "BadImage",
    "BlankImages",
    "CaptionList",
    "DumpStacksAfter",
    "EagerH5Flowers",
    "EagerMemmapCache",
    "EpochRun",
    "JitterCrops",
    "LazyH5Flowers",
    "MixupPartners",
    "RecordArrays",
    "RecordList",
    "ScriptRun",
    "SeededJitterCrops",
    "SkipAndLog",
    "StallingDataset",
    "TorchJitterCrops",
    "WorkerMemory",
    "WorkerSeeds",
    "ZipImages",
    "bytes_in_flight",
    "collate_skipping",
    "cuda_fork_script",
    "find_bad_images",
    "innermost_frames",
    "make_captions",
    "measure_worker_memory",
    "plant_bad_images",
    "private_mib",
    "readable_error",
    "run_epoch",
    "run_script",
    "shm_in_flight",
    "shm_size",
    "training_script",
    "truncated_images_allowed",
    "write_hdf5",
    "write_zip",
]


def __dir__() -> list[str]:
    """What ``dir()`` and Tab completion offer: the public names (``planted_damage``, 07's answer key, stays importable)."""
    return sorted(__all__)
