"""flowerkit: the support package of the flowerkit course (access -> transform -> load).

The notebooks in ``notebooks/`` introduce each piece; every public function
names, in its docstring, the notebook that teaches it.
"""

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
