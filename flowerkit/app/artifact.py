"""The trained model as one artifact file, and a ``Predictor`` that prepares each photo exactly as training did.

Introduced in notebook ``05_the_app``. A classic failure of a deployed model
is **train/serve skew**: the app prepares a photo differently
from training and accuracy collapses with no error anywhere. The cure is
one home for the preprocessing:

* :func:`save_artifact` / :func:`load_artifact`: weights *and* everything the
  inference pipeline needs (input size, decode recipe, the train split's
  statistics, class names, provenance) in one file, loaded with
  ``torch.load(weights_only=True)``, which never unpickles arbitrary objects;
* :class:`Predictor`: a path, bytes or PIL image -> top-k classes, through
  :func:`flowerkit.load.decode_resized` and :class:`flowerkit.load.CollateNormalize`,
  the very functions that fed training (never a copy).
"""

from __future__ import annotations

import io
import pickle
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError

from .. import __version__
from ..access import FlowersFormatError, ImageSource
from ..classes import CLASSES
from ..load import CollateNormalize, decode_recipe, decode_resized, decoder_for
from ..model import FlowerCNN
from ..paths import _written_whole
from ..transform import Stats

__all__ = [
    "ARTIFACT_FORMAT",
    "ARTIFACT_VERSION",
    "MAX_PIXELS",
    "ArtifactError",
    "PhotoError",
    "PhotoTooLarge",
    "Predictor",
    "load_artifact",
    "make_artifact",
    "save_artifact",
]

#: The ``format`` field of every artifact; ``ARTIFACT_VERSION`` changes when its fields do.
ARTIFACT_FORMAT = "flowerkit-artifact"
ARTIFACT_VERSION = 1
#: Photos with more pixels are refused before decoding (a 50-megapixel phone photo fits; a decompression bomb does not).
MAX_PIXELS = 50_000_000


_REQUIRED = ("format", "version", "state_dict", "model", "preprocess", "classes", "provenance")
#: What training's decode (``flowerkit.load_rgb``, under every JPEG decoder) does to a photo besides the steps
#: :func:`flowerkit.load.decode_recipe` names: the artifact's decode recipe ends with it (:func:`_artifact_recipe`).
_EVERY_PHOTO = (
    "; before the crop, every photo turned upright by its EXIF orientation, its transparency put on white, "
    "grayscale, CMYK and palette converted to RGB (flowerkit.load_rgb)"
)


def _artifact_recipe(decoder: str = "auto") -> str:
    """The decode recipe an artifact records, in words: :func:`flowerkit.load.decode_recipe` and what every photo goes
    through before the crop (upright, transparency, RGB). Notebook ``05_the_app`` prints it."""
    return decode_recipe(decoder) + _EVERY_PHOTO


def _decoder_of(recipe: str) -> str:
    """The ``decoder=`` that reproduces an artifact's ``recipe`` here (an artifact from before :func:`_artifact_recipe`
    holds :func:`flowerkit.load.decode_recipe`'s words alone: read the same way)."""
    return decoder_for(recipe.removesuffix(_EVERY_PHOTO))


class ArtifactError(ValueError):
    """A file that is not a usable flowerkit artifact: damaged, foreign, or inconsistent.

    Raised by :func:`load_artifact` and :class:`Predictor` (``Predictor.load`` in notebook ``05_the_app``).
    """


class PhotoError(ValueError):
    """A photo the app cannot read: not an image, truncated, or too many pixels. Introduced in notebook ``05_the_app``."""


class PhotoTooLarge(PhotoError):
    """A photo with more pixels than the app accepts (``serve`` answers 413).

    A :class:`PhotoError`, the kind notebook ``05_the_app`` catches, raised before decoding.
    """


def make_artifact(model: FlowerCNN, *, size: int, stats: Stats, provenance: dict[str, Any]) -> dict[str, Any]:
    """Everything the app needs, as plain values and tensors: weights, input size, decode recipe, statistics, classes.

    ``stats`` are the train split's ``(mean, std)`` the model was trained with;
    ``provenance`` says where the model came from (dataset, versions, test
    accuracy, date...). Behind :func:`~flowerkit.app.trained_artifact`, which notebook ``05_the_app`` calls.
    """
    mean, std = stats
    return {
        "format": ARTIFACT_FORMAT,
        "version": ARTIFACT_VERSION,
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "model": {"name": "FlowerCNN", "num_classes": model.head[-1].out_features, "width": model.features[0].out_channels},
        "preprocess": {
            "size": int(size),
            "decode": _artifact_recipe(),
            "mean": [float(m) for m in mean],
            "std": [float(s) for s in std],
        },
        "classes": list(CLASSES),
        "provenance": {"flowerkit": __version__, "torch": str(torch.__version__), **provenance},
    }


def save_artifact(artifact: dict[str, Any], path: str | Path) -> Path:
    """Write ``artifact`` to ``path`` (``torch.save``), under a temporary name first: never a half-written file.

    Behind :func:`~flowerkit.app.trained_artifact`, which notebook ``05_the_app`` calls.
    """
    path = Path(path)
    _check_fields(artifact, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _written_whole(path) as tmp:
        torch.save(artifact, tmp)
    return path


def load_artifact(path: str | Path) -> dict[str, Any]:
    """Read an artifact written by :func:`save_artifact`, check it, and return it; a bad file raises :class:`ArtifactError`.

    ``torch.load(weights_only=True)`` only rebuilds tensors and plain values
    (dicts, lists, strings, numbers): a file that would run code when
    unpickled is refused, not executed. Behind ``Predictor.load``, which notebook ``05_the_app`` calls.
    """
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path} does not exist: train one with `python -m flowerkit.app train --out {path}`")
    with open(path, "rb") as fh:
        zipped = fh.read(4) == b"PK\x03\x04"
    if not zipped or not zipfile.is_zipfile(path):  # torch.save writes a zip archive; anything else is damaged or foreign
        raise ArtifactError(
            f"{path} is not a readable flowerkit artifact (damaged, truncated, or another kind of file: "
            f"{path.stat().st_size:,} bytes that are not the zip archive torch.save writes). "
            "Train a new one with `python -m flowerkit.app train`."
        )
    try:
        artifact = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ArtifactError(
            f"{path} holds objects other than tensors and plain values; refusing to unpickle it ({_first_line(exc)}). "
            "Only load artifacts written by flowerkit.app.save_artifact."
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ArtifactError(
            f"{path} is not a readable flowerkit artifact (damaged, truncated, or another kind of file): {_first_line(exc)}. "
            "Train a new one with `python -m flowerkit.app train`."
        ) from exc
    _check_fields(artifact, path)
    return artifact


def _first_line(exc: BaseException) -> str:
    """The line of an error message that says what went wrong (torch's unpickler puts advice first)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()] or [type(exc).__name__]
    return next((line for line in lines if line.startswith("WeightsUnpickler error")), lines[0])


def _check_fields(artifact: Any, path: Path) -> None:
    """Raise :class:`ArtifactError` naming the first thing that makes ``artifact`` unusable."""
    if not isinstance(artifact, dict) or artifact.get("format") != ARTIFACT_FORMAT:
        found = sorted(artifact)[:6] if isinstance(artifact, dict) else type(artifact).__name__
        raise ArtifactError(f"{path} is not a flowerkit artifact (no format {ARTIFACT_FORMAT!r}; found {found})")
    missing = [k for k in _REQUIRED if k not in artifact]
    if missing:
        raise ArtifactError(f"{path} is a flowerkit artifact with fields missing: {missing}")
    if artifact["version"] != ARTIFACT_VERSION:
        raise ArtifactError(f"{path} is artifact version {artifact['version']}; this flowerkit reads version {ARTIFACT_VERSION}")
    pre, classes = artifact["preprocess"], artifact["classes"]
    if len(pre.get("mean", ())) != 3 or len(pre.get("std", ())) != 3 or min(pre["std"]) <= 0:
        raise ArtifactError(f"{path}: the normalisation statistics should be 3 means and 3 positive stds, found {pre}")
    if not isinstance(pre.get("size"), int) or pre["size"] < 16:
        raise ArtifactError(f"{path}: the input size should be an integer >= 16, found {pre.get('size')!r}")
    if len(classes) != artifact["model"].get("num_classes"):
        raise ArtifactError(f"{path}: {len(classes)} class names for a model with {artifact['model'].get('num_classes')} outputs")


def _model_from(artifact: dict[str, Any], path: str | Path = "artifact") -> FlowerCNN:
    spec = artifact["model"]
    if spec.get("name") != "FlowerCNN":
        raise ArtifactError(f"{path}: a {spec.get('name')!r} model; this flowerkit builds FlowerCNN")
    model = FlowerCNN(num_classes=spec["num_classes"], width=spec["width"])
    try:
        model.load_state_dict(artifact["state_dict"])
    except (RuntimeError, TypeError, KeyError) as exc:
        raise ArtifactError(f"{path}: the weights do not fit FlowerCNN(width={spec['width']}): {_first_line(exc)}") from exc
    return model.eval()


class Predictor:
    """A trained model and its preprocessing: photo (path, bytes or PIL image) -> top-k classes with probabilities.

    Each photo goes through :func:`flowerkit.load.decode_resized` (upright,
    RGB, draft decode, centre crop, antialiased resize: the code that built
    the training cache) and :class:`flowerkit.load.CollateNormalize` with the
    train split's statistics (the code that normalised every training batch).
    JPEGs are decoded by the decoder the artifact records (libjpeg-turbo or
    PIL draft, :func:`flowerkit.load.decoder_for`), so training and serving
    agree bit for bit. A photo with more than ``max_pixels`` pixels is refused before decoding.
    Introduced in notebook ``05_the_app``.
    """

    def __init__(self, artifact: dict[str, Any], *, max_pixels: int = MAX_PIXELS, source: str = "artifact") -> None:
        _check_fields(artifact, Path(source))
        self.artifact = artifact
        self.model = _model_from(artifact, source)
        pre = artifact["preprocess"]
        self.size: int = pre["size"]
        self.mean: tuple[float, ...] = tuple(pre["mean"])
        self.std: tuple[float, ...] = tuple(pre["std"])
        self.classes: list[str] = list(artifact["classes"])
        self.provenance: dict[str, Any] = dict(artifact["provenance"])
        self.max_pixels = max_pixels
        self.collate = CollateNormalize(self.mean, self.std)  # the training loaders' collate_fn
        try:
            self.decoder = _decoder_of(pre["decode"])  # the JPEG decoder that built the training cache
        except ValueError as exc:
            raise ArtifactError(f"{source}: {exc}") from exc

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> Predictor:
        """The Predictor of the artifact file at ``path`` (see :func:`load_artifact`). Introduced in notebook ``05_the_app``."""
        return cls(load_artifact(path), source=str(path), **kwargs)

    def __repr__(self) -> str:
        p = self.provenance
        return (
            f"Predictor({self.size}px, {len(self.classes)} classes, dataset={p.get('dataset')!r}, test_acc={p.get('test_acc')})"
        )

    def preprocess(self, photo: ImageSource, *, name: str | None = None) -> torch.Tensor:
        """One photo -> the uint8 (3, size, size) tensor the model sees, exactly as training decoded its images.

        Raises :class:`PhotoError` naming the photo (``name``, else its path or
        kind) for a file that is not an image or is truncated, and
        :class:`PhotoTooLarge` for more than ``max_pixels`` pixels.
        """
        name = name or _photo_name(photo)
        _check_pixels(photo, name, self.max_pixels)
        try:
            return decode_resized(photo, self.size, decoder=self.decoder)  # type: ignore[arg-type]  # bytes and images too
        except (FlowersFormatError, OSError, ValueError) as exc:
            raise PhotoError(f"{name}: not a readable image ({_cause(exc)})") from exc

    def inputs(self, photos: Sequence[ImageSource]) -> torch.Tensor:
        """Photos -> the normalised float32 batch (B, 3, size, size) the model receives."""
        return self.collate([(self.preprocess(photo), 0) for photo in photos])[0]

    @torch.inference_mode()
    def probabilities(self, photos: Sequence[ImageSource]) -> torch.Tensor:
        """Photos -> class probabilities, a (B, num_classes) float tensor (softmax of the logits)."""
        return torch.softmax(self.model(self.inputs(photos)), dim=1)

    def predict(self, photo: ImageSource, k: int = 5) -> list[dict[str, Any]]:
        """The ``k`` most likely classes of one photo: ``[{"class": int, "name": str, "p": float}, ...]``, best first."""
        return self.top(self.probabilities([photo])[0], k)

    def top(self, probs: torch.Tensor, k: int = 5) -> list[dict[str, Any]]:
        """A probability vector -> its ``k`` best classes as ``{"class", "name", "p"}`` dicts, best first."""
        p, idx = torch.topk(probs, min(k, probs.numel()))
        return [{"class": int(i), "name": self.classes[int(i)], "p": round(float(q), 6)} for q, i in zip(p, idx)]


def _photo_name(photo: ImageSource) -> str:
    if isinstance(photo, (str, Path)):
        return str(photo)
    if isinstance(photo, Image.Image):
        return f"<{photo.width}x{photo.height} {photo.mode} image>"
    if isinstance(photo, (bytes, bytearray)):
        return f"<upload of {len(photo):,} bytes>"
    return str(getattr(photo, "name", "<photo>"))


def _cause(exc: BaseException) -> str:
    """The decoder's own words: the innermost cause of a wrapped error, first line."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return _first_line(exc)


def _check_pixels(photo: ImageSource, name: str, max_pixels: int) -> None:
    """Read only the header and refuse a photo with more than ``max_pixels`` pixels (or none), before decoding it."""
    if isinstance(photo, Image.Image):
        width, height = photo.size
    else:
        source = io.BytesIO(bytes(photo)) if isinstance(photo, (bytes, bytearray)) else photo
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(source) as img:  # type: ignore[arg-type]
                    width, height = img.size
        except FileNotFoundError:
            raise PhotoError(f"{name}: no such file") from None
        except Image.DecompressionBombError as exc:
            raise PhotoTooLarge(f"{name}: far too many pixels ({_first_line(exc)})") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise PhotoError(f"{name}: not an image Pillow can read ({_first_line(exc)})") from exc
        if hasattr(photo, "seek"):
            photo.seek(0)  # type: ignore[union-attr]
    if width * height > max_pixels:
        raise PhotoTooLarge(
            f"{name}: {width}x{height} is {width * height / 1e6:.0f} megapixels, over the limit of {max_pixels / 1e6:.0f}"
        )
    if width * height == 0:
        raise PhotoError(f"{name}: an empty image ({width}x{height})")
