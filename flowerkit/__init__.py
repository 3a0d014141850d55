"""flowerkit: the support package of the flowerkit course (access -> transform -> load).

The notebooks in ``notebooks/`` introduce each piece; every public function
names, in its docstring, the notebook that teaches it.
"""

import sys

from .access import OxfordFlowers102, load_rgb, read_labels, read_splits, torchvision_flowers102
from .classes import CLASSES
from .config import dataset_root, default_dataset
from .facts import NUM_CLASSES
from .paths import data_dir
from .synth import mini_flowers

__all__ = [
    "CLASSES",
    "NUM_CLASSES",
    "OxfordFlowers102",
    "data_dir",
    "dataset_root",
    "default_dataset",
    "load_rgb",
    "mini_flowers",
    "read_labels",
    "read_splits",
    "torchvision_flowers102",
]
__version__ = "0.1.0"


def __dir__() -> list[str]:
    """What ``dir()`` and Tab completion offer: the public names and the loaded modules, but the doctor.

    ``flowerkit.exercises`` loads ``flowerkit.doctor`` (a checker uses it), so ``flowerkit.<Tab>`` would offer it from
    notebook 00's setup on, above the hunts that notebooks 01 and 08 ask before revealing it. It stays importable.
    """
    loaded = {name.split(".")[1] for name in sys.modules if name.startswith(f"{__name__}.") and name.count(".") == 1}
    return sorted(set(__all__) | (loaded - {"doctor"}))
