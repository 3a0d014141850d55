"""flowerkit.doctor: automatic checks that find a broken data pipeline, with the evidence.

Introduced in notebook ``01_access`` (:func:`diagnose`'s access checks, after the student's own label check) and
``02_transform`` (:func:`check_batch`, the quality checks). Each check returns a :class:`_Finding` in one of the course's three
categories (access, quality, efficiency); a :class:`_Report` collects them and
prints one line per check, problems first, then the checks it skipped and why.
Notebook ``04_three_teams`` runs every check on a whole pipeline
(:func:`diagnose`); notebook ``08_your_own_data`` takes it to data it was not written
for (any Dataset or DataLoader, a dict of splits) and to the command line,
``python -m flowerkit.doctor FOLDER_OR_CSV`` (:func:`main`).

One room per concern:

* :mod:`.findings`: :data:`CATEGORIES`, a finding, a skipped check, the report;
* :mod:`.batch`: :func:`check_batch`, the checks on one batch and its labels;
* :mod:`.compare`: :func:`compare_batches`, two batches of the same photos compared (train/serve skew, notebook 05);
* :mod:`.subject`: what :func:`diagnose` looks at, the files and labels read from any dataset's attributes;
* :mod:`.access`, :mod:`.quality`, :mod:`.efficiency`: each category's checks on a whole dataset or loader;
* :mod:`.foreign`: the checks that need no reference file (the label probe, identical photos, the same photo
  in two splits, the order of the first batches);
* :mod:`.diagnose`: :func:`diagnose`, which runs them all on a Dataset, DataLoader, team pipeline or dict of splits;
* :mod:`.cli`: :func:`main`, ``python -m flowerkit.doctor`` on a folder of class folders or a CSV.
"""

from .batch import check_batch
from .cli import main
from .compare import BatchComparison, compare_batches
from .diagnose import diagnose
from .findings import CATEGORIES

__all__ = ["CATEGORIES", "BatchComparison", "check_batch", "compare_batches", "diagnose", "main"]
