"""The app: the trained model as one artifact, a ``Predictor`` for visitors' photos, and ``python -m flowerkit.app``.

Introduced in notebook ``05_the_app``. The botanical garden wants an app that
names the flower a visitor photographed. A classic failure of a deployed model
is **train/serve skew**: the app prepares a photo differently
from training and accuracy collapses with no error anywhere. The cure is one
home for the preprocessing:

* :mod:`.artifact`: the artifact file (weights *and* everything the inference
  pipeline needs) and the :class:`Predictor`, which calls the very functions
  that fed training (never a copy);
* :mod:`.training`: our pipeline of notebook ``04_three_teams``, trained and saved as an artifact;
* :mod:`.server`: a one-page app on 127.0.0.1 (standard library only);
* :mod:`.cli`: the command line::

      python -m flowerkit.app train --out app.pt [--dataset mini|real]
      python -m flowerkit.app predict app.pt photo.jpg [photo2.png ...] [--top 5]
      python -m flowerkit.app serve app.pt [--port 8000]

* :mod:`.deployment`: the notebook's staged failure, the Deployment team (their
  hand-copied preprocessing) and the "visitor photos" they were judged on.
"""

from .artifact import (
    ARTIFACT_FORMAT,
    ARTIFACT_VERSION,
    MAX_PIXELS,
    ArtifactError,
    PhotoError,
    PhotoTooLarge,
    Predictor,
    load_artifact,
    make_artifact,
    save_artifact,
)
from .cli import main
from .deployment import VISITOR_KINDS, VisitorPhoto, deployment_team_preprocess, visitor_photos
from .deployment import deployment_team_lines as deployment_team_lines  # importable, not in __all__: 05 shows it after its hunt
from .server import HOST, MAX_UPLOAD_BYTES, make_server
from .training import train_artifact, trained_artifact

__all__ = [
    "ARTIFACT_FORMAT",
    "ARTIFACT_VERSION",
    "HOST",
    "MAX_PIXELS",
    "MAX_UPLOAD_BYTES",
    "VISITOR_KINDS",
    "ArtifactError",
    "PhotoError",
    "PhotoTooLarge",
    "Predictor",
    "VisitorPhoto",
    "deployment_team_preprocess",
    "load_artifact",
    "main",
    "make_artifact",
    "make_server",
    "save_artifact",
    "train_artifact",
    "trained_artifact",
    "visitor_photos",
]


def __dir__() -> list[str]:
    """What ``dir()`` and Tab completion offer: the public names (05's per-line tool stays importable, see above)."""
    return sorted(__all__)
