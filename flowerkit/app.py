"""The app: the trained model as one artifact, a ``Predictor`` for visitors' photos, and ``python -m flowerkit.app``.

Introduced in notebook ``05_the_app``. The botanical garden wants an app that
names the flower a visitor photographed. The most common data-pipeline bug in
deployed models is **train/serve skew**: the app prepares a photo differently
from training (another resize, other normalisation statistics, the EXIF
rotation ignored) and accuracy collapses with no error anywhere. The cure is
one home for the preprocessing:

* :func:`save_artifact` / :func:`load_artifact`: weights *and* everything the
  inference pipeline needs (input size, decode recipe, the train split's
  statistics, class names, provenance) in one file, loaded with
  ``torch.load(weights_only=True)``, which never unpickles arbitrary objects;
* :class:`Predictor`: a path, bytes or PIL image -> top-k classes, through
  :func:`flowerkit.load.decode_resized` and :class:`flowerkit.load.CollateNormalize`,
  the very functions that fed training (never a copy);
* the command line::

      python -m flowerkit.app train --out app.pt [--dataset mini|real]
      python -m flowerkit.app predict app.pt photo.jpg [photo2.png ...] [--top 5]
      python -m flowerkit.app serve app.pt [--port 8000]

The notebook's staged failure, the Deployment team (their hand-copied
preprocessing, :func:`deployment_team_preprocess`) and the "visitor photos"
they were judged on (:func:`visitor_photos`), live at the end of this module.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import html
import io
import json
import os
import pickle
import re
import sys
import threading
import uuid
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import ExifTags, Image, ImageDraw, UnidentifiedImageError, features

from . import __version__
from .access import FlowersFormatError, ImageSource, OxfordFlowers102, load_rgb, upright
from .classes import CLASSES
from .config import DATASETS, dataset_root, default_dataset
from .expectations import profile
from .facts import IMAGENET_MEAN, IMAGENET_STD
from .load import CachedFlowers, CollateNormalize, build_cache, cache_dir, decode_recipe, decode_resized, decoder_for, make_loader
from .model import FlowerCNN, TrainConfig, evaluate, train
from .transform import Stats, augment_uint8, compute_stats

__all__ = [
    "ARTIFACT_FORMAT",
    "DEPLOYMENT_SKEWS",
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

#: The ``format`` field of every artifact; ``ARTIFACT_VERSION`` changes when its fields do.
ARTIFACT_FORMAT = "flowerkit-artifact"
ARTIFACT_VERSION = 1
#: Photos with more pixels are refused before decoding (a 50-megapixel phone photo fits; a decompression bomb does not).
MAX_PIXELS = 50_000_000
#: The largest upload ``serve`` accepts, in bytes (a 12-megapixel JPEG is 3-8 MB).
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: ``serve`` listens on the loopback interface only (see :func:`make_server`).
HOST = "127.0.0.1"

_REQUIRED = ("format", "version", "state_dict", "model", "preprocess", "classes", "provenance")


class ArtifactError(ValueError):
    """A file that is not a usable flowerkit artifact: damaged, foreign, or inconsistent. Introduced in notebook ``05_the_app``."""


class PhotoError(ValueError):
    """A photo the app cannot read: not an image, truncated, or too many pixels. Introduced in notebook ``05_the_app``."""


class PhotoTooLarge(PhotoError):
    """A photo with more pixels than the app accepts (``serve`` answers 413). Introduced in notebook ``05_the_app``."""


# --------------------------------------------------------------------------------------
# The artifact: one file, weights + preprocessing + classes + provenance.
# --------------------------------------------------------------------------------------


def make_artifact(model: FlowerCNN, *, size: int, stats: Stats, provenance: dict[str, Any]) -> dict[str, Any]:
    """Everything the app needs, as plain values and tensors: weights, input size, decode recipe, statistics, classes.

    ``stats`` are the train split's ``(mean, std)`` the model was trained with;
    ``provenance`` says where the model came from (dataset, versions, test
    accuracy, date...). Introduced in notebook ``05_the_app``.
    """
    mean, std = stats
    return {
        "format": ARTIFACT_FORMAT,
        "version": ARTIFACT_VERSION,
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "model": {"name": "FlowerCNN", "num_classes": model.head[-1].out_features, "width": model.features[0].out_channels},
        "preprocess": {
            "size": int(size),
            "decode": decode_recipe(),
            "mean": [float(m) for m in mean],
            "std": [float(s) for s in std],
        },
        "classes": list(CLASSES),
        "provenance": {"flowerkit": __version__, "torch": str(torch.__version__), **provenance},
    }


def save_artifact(artifact: dict[str, Any], path: str | Path) -> Path:
    """Write ``artifact`` to ``path`` (``torch.save``), under a temporary name first: never a half-written file.

    Introduced in notebook ``05_the_app``.
    """
    path = Path(path)
    _check_fields(artifact, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        torch.save(artifact, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_artifact(path: str | Path) -> dict[str, Any]:
    """Read an artifact written by :func:`save_artifact`, check it, and return it; a bad file raises :class:`ArtifactError`.

    ``torch.load(weights_only=True)`` only rebuilds tensors and plain values
    (dicts, lists, strings, numbers): a file that would run code when
    unpickled is refused, not executed. Introduced in notebook ``05_the_app``.
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


# --------------------------------------------------------------------------------------
# The Predictor: the same decode and normalisation as training.
# --------------------------------------------------------------------------------------


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
            self.decoder = decoder_for(pre["decode"])  # the JPEG decoder that built the training cache
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


# --------------------------------------------------------------------------------------
# Training the artifact: our pipeline of notebook 04, built from flowerkit.load, .transform and .model.
# --------------------------------------------------------------------------------------


def _train_split_stats(root: str | Path, size: int, num_workers: int, progress: bool) -> tuple[CachedFlowers, Stats]:
    """The train split decoded once (``decode_resized``) and its per-channel statistics (train split only)."""
    train_set = build_cache(OxfordFlowers102(root, "train"), size, progress=progress, num_workers=num_workers)
    return train_set, compute_stats(train_set, progress=False)


def train_artifact(
    root: str | Path,
    *,
    dataset: str = "mini",
    size: int | None = None,
    epochs: int | None = None,
    seed: int = 0,
    num_workers: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train :class:`~flowerkit.model.FlowerCNN` with our pipeline on ``root`` and return its artifact (see :func:`make_artifact`).

    Our pipeline of notebook ``04_three_teams``: a uint8 cache of the train
    split (``decode_resized``), its statistics, random shifts and flips,
    shuffled batches normalised by ``CollateNormalize``. ``size`` and
    ``epochs`` default to ``expectations.profile(dataset)``. The test accuracy
    (same cache recipe) goes into the provenance. Introduced in notebook ``05_the_app``.
    """
    prof = profile(dataset)
    size, epochs = size or prof.size, epochs or prof.epochs
    workers = 0 if num_workers is None else num_workers
    train_set, stats = _train_split_stats(root, size, workers, progress)
    train_set.transform = augment_uint8(size)
    loader = make_loader(
        train_set, shuffle=True, mean=stats[0], std=stats[1], seed=seed, num_workers=num_workers, channels_last=True
    )
    torch.manual_seed(seed)
    model = FlowerCNN()
    history = train(model, loader, TrainConfig(epochs=epochs, seed=seed), progress=progress)
    test_set = build_cache(OxfordFlowers102(root, "test"), size, progress=progress, num_workers=workers)
    test_acc = evaluate(model, make_loader(test_set, mean=stats[0], std=stats[1], num_workers=num_workers))
    provenance = {
        "dataset": dataset,
        "root": str(Path(root).resolve()),
        "train_files_sha256": train_set.manifest["files_sha256"],
        "epochs": epochs,
        "seed": seed,
        "train_seconds": round(history.total_seconds, 1),
        "test_acc": round(test_acc, 4),
        "test_images": len(test_set),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return make_artifact(model.cpu(), size=size, stats=stats, provenance=provenance)


def trained_artifact(
    root: str | Path,
    *,
    dataset: str = "mini",
    path: str | Path | None = None,
    seed: int = 0,
    progress: bool = False,
    num_workers: int | None = None,
) -> Path:
    """The app's artifact file for ``dataset``: reused if it was trained on these files with these settings, else trained and saved.

    ``path`` defaults to ``<cache_dir>/app-<dataset>-<size>px-<epochs>ep-seed<seed>.pt``.
    Training is deterministic (seeded), so a saved artifact is the model a new
    run would train; delete the file to retrain. Returns the file's path.
    Introduced in notebook ``05_the_app``.
    """
    prof = profile(dataset)
    path = Path(path) if path is not None else cache_dir() / f"app-{dataset}-{prof.size}px-{prof.epochs}ep-seed{seed}.pt"
    train_set, _ = _train_split_stats(root, prof.size, 0, progress)
    wanted = {"train_files_sha256": train_set.manifest["files_sha256"], "epochs": prof.epochs, "seed": seed}
    try:
        artifact = load_artifact(path)
        if all(artifact["provenance"].get(k) == v for k, v in wanted.items()) and artifact["preprocess"]["size"] == prof.size:
            return path
    except ArtifactError:
        pass
    artifact = train_artifact(root, dataset=dataset, seed=seed, progress=progress, num_workers=num_workers)
    return save_artifact(artifact, path)


# --------------------------------------------------------------------------------------
# serve: a one-page app on 127.0.0.1, standard library only.
# --------------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:44em;margin:2em auto;padding:0 1em;color:#222}"
    ".row{display:flex;align-items:center;gap:.6em;margin:.3em 0}.name{width:16em}"
    ".bar{background:#3a7d44;height:1.1em}.err{color:#a00}img.seen{width:192px;image-rendering:pixelated}"
    "small{color:#666}"
)


def _page(title: str, body: str, about: str) -> bytes:
    form = (
        '<form method="post" action="/predict" enctype="multipart/form-data">'
        '<input type="file" name="photo" accept="image/*" required> <button>Which flower?</button></form>'
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>Which flower is this?</h1>{form}{body}"
        f"<p><small>{html.escape(about)}</small></p></body></html>"
    ).encode()


def _result_html(name: str, top: list[dict[str, Any]], seen: torch.Tensor) -> str:
    buffer = io.BytesIO()
    Image.fromarray(seen.permute(1, 2, 0).numpy()).save(buffer, format="PNG")
    thumb = base64.b64encode(buffer.getvalue()).decode()
    rows = "".join(
        f'<div class="row"><span class="name">{html.escape(t["name"])}</span>'
        f'<span class="bar" style="width:{max(1, round(300 * t["p"]))}px"></span> {100 * t["p"]:.1f}%</div>'
        for t in top
    )
    return (
        f"<h2>{html.escape(top[0]['name'])}</h2><p><small>{html.escape(name)}</small></p>{rows}"
        f'<p><img class="seen" alt="what the model saw" src="data:image/png;base64,{thumb}"><br>'
        f"<small>what the model saw: {seen.shape[-1]}x{seen.shape[-1]} pixels</small></p>"
    )


def _multipart_file(body: bytes, content_type: str, field: str = "photo") -> tuple[str, bytes] | None:
    """The (filename, bytes) of form field ``field`` in a ``multipart/form-data`` body, or None."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        return None
    for part in body.split(b"--" + match.group(1).encode())[1:-1]:
        head, sep, data = part.partition(b"\r\n\r\n")
        disposition = head.decode("utf-8", "replace")
        if sep and re.search(rf'name="{re.escape(field)}"', disposition):
            filename = re.search(r'filename="([^"]*)"', disposition)
            return (filename.group(1) if filename else field), data[:-2] if data.endswith(b"\r\n") else data
    return None


class _Handler(BaseHTTPRequestHandler):
    """GET / (the page), POST /predict (a form upload, HTML) and POST /api/predict (raw bytes, JSON)."""

    server: _AppServer
    server_version = "flowerkit-app"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        if not self.server.quiet:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _fail(self, status: HTTPStatus, message: str, api: bool) -> None:
        if api:
            self._send(status, json.dumps({"error": message}).encode(), "application/json")
        else:
            body = f'<p class="err"><b>{status.value} {html.escape(status.phrase)}</b>: {html.escape(message)}</p>'
            self._send(status, _page("error", body, self.server.about))

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.split("?")[0] != "/":
            return self._fail(HTTPStatus.NOT_FOUND, f"no page {self.path!r}: the app is at /", api=False)
        self._send(HTTPStatus.OK, _page("flowerkit app", "", self.server.about))

    def do_POST(self) -> None:  # noqa: N802
        api = self.path == "/api/predict"
        if self.path not in ("/predict", "/api/predict"):
            return self._fail(HTTPStatus.NOT_FOUND, f"nothing to post to at {self.path!r}", api)
        body = self._read_body(api)
        if body is None:
            return
        name, data = ("upload", body) if api else (_multipart_file(body, self.headers.get("Content-Type", "")) or ("", b""))
        if not data:
            return self._fail(HTTPStatus.BAD_REQUEST, "no photo in the request: choose a file, then press the button", api)
        self._answer(name, data, api)

    def _read_body(self, api: bool) -> bytes | None:
        """The request body, or None after answering 411 (no length) or 413 (over the upload limit)."""
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._fail(HTTPStatus.LENGTH_REQUIRED, "the request must say its Content-Length", api)
            return None
        limit, n = self.server.max_upload_bytes, int(length)
        if n > limit:
            self.close_connection = True
            if n <= 4 * limit:  # read and drop it, so the client gets to read our answer
                for start in range(0, n, 1 << 20):
                    self.rfile.read(min(1 << 20, n - start))
            self._fail(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the upload is {n / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB", api
            )
            return None
        return self.rfile.read(n)

    def _answer(self, name: str, data: bytes, api: bool) -> None:
        predictor = self.server.predictor
        try:
            seen = predictor.preprocess(data, name=name)
        except PhotoTooLarge as exc:
            return self._fail(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(exc), api)
        except PhotoError as exc:
            return self._fail(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, str(exc), api)
        with self.server.lock, torch.inference_mode():
            probs = torch.softmax(predictor.model(predictor.collate([(seen, 0)])[0]), dim=1)[0]
        top = predictor.top(probs, 5)
        if api:
            return self._send(HTTPStatus.OK, json.dumps({"file": name, "top": top}).encode(), "application/json")
        self._send(HTTPStatus.OK, _page(top[0]["name"], _result_html(name, top, seen), self.server.about))


class _AppServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the predictor and the limits its handlers need."""

    daemon_threads = True

    def __init__(self, predictor: Predictor, port: int, max_upload_bytes: int, quiet: bool) -> None:
        super().__init__((HOST, port), _Handler)
        self.predictor, self.max_upload_bytes, self.quiet = predictor, max_upload_bytes, quiet
        self.lock = threading.Lock()  # one forward pass at a time: the model is shared by the request threads
        p = predictor.provenance
        self.about = (
            f"FlowerCNN, {predictor.size}x{predictor.size} input, trained on {p.get('dataset')} "
            f"(test accuracy {p.get('test_acc')}) on {p.get('date')}; flowerkit {p.get('flowerkit')}"
        )


def make_server(
    predictor: Predictor, port: int = 8000, *, max_upload_bytes: int = MAX_UPLOAD_BYTES, quiet: bool = True
) -> ThreadingHTTPServer:
    """The app's HTTP server on 127.0.0.1:``port`` (``port=0`` picks a free one: ``server.server_address[1]``).

    Why the standard library's ``http.server``: a one-page demo needs no web
    framework, and nothing new to install. Why 127.0.0.1 only: Python's
    documentation warns that ``http.server`` implements only basic security
    checks and is not meant for production, so the app is reachable from this
    computer alone; to publish it, put it behind a real web server. Uploads
    are held in memory and never written to disk; uploads over
    ``max_upload_bytes`` and photos over ``predictor.max_pixels`` get a clear
    413 page, non-images a 415. Call ``serve_forever()`` (e.g. in a thread)
    and ``shutdown()``. Introduced in notebook ``05_the_app``.
    """
    return _AppServer(predictor, port, max_upload_bytes, quiet)


# --------------------------------------------------------------------------------------
# The command line.
# --------------------------------------------------------------------------------------


def _cmd_train(args: argparse.Namespace) -> int:
    dataset = args.dataset or default_dataset()
    root = args.root or dataset_root(dataset, progress=not args.quiet)
    artifact = train_artifact(root, dataset=dataset, epochs=args.epochs, seed=args.seed, progress=not args.quiet)
    save_artifact(artifact, args.out)
    print(json.dumps({"artifact": str(args.out), **artifact["provenance"]}))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    try:
        predictor = Predictor.load(args.artifact)
    except ArtifactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for photo in args.photos:
        try:
            print(json.dumps({"file": photo, "top": predictor.predict(photo, args.top)}), flush=True)
        except PhotoError as exc:
            failed += 1
            print(json.dumps({"file": photo, "error": str(exc)}), flush=True)
    return 1 if failed else 0


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        server = make_server(Predictor.load(args.artifact), args.port, quiet=False)
    except ArtifactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"the garden's app: http://{HOST}:{server.server_address[1]}/  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m flowerkit.app", description="The botanical garden's app (notebook 05).")
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train our pipeline and save the model as one artifact file")
    tr.add_argument("--out", type=Path, required=True, help="the artifact file to write, e.g. app.pt")
    tr.add_argument("--dataset", choices=DATASETS, default=None, help="default: $FLOWERKIT_DATASET or mini")
    tr.add_argument(
        "--root", type=Path, default=None, help="a folder holding flowers-102/; --dataset then only picks the training profile"
    )
    tr.add_argument("--epochs", type=int, default=None, help="default: the dataset's profile (flowerkit.expectations)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--quiet", action="store_true", help="no progress bars")
    pr = sub.add_parser("predict", help="print one JSON line per photo: its top classes, or an error")
    pr.add_argument("artifact", type=Path)
    pr.add_argument("photos", nargs="+")
    pr.add_argument("--top", type=int, default=5, help="how many classes per photo (default 5)")
    se = sub.add_parser("serve", help=f"a one-page app on http://{HOST}:PORT/")
    se.add_argument("artifact", type=Path)
    se.add_argument("--port", type=int, default=8000)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flowerkit.app train|predict|serve``; returns the exit code (``predict``: 1 if any photo failed).

    Introduced in notebook ``05_the_app``.
    """
    args = _parser().parse_args(argv)
    return {"train": _cmd_train, "predict": _cmd_predict, "serve": _cmd_serve}[args.command](args)


# --------------------------------------------------------------------------------------
# Notebook 05's staged failure: the Deployment team, and the visitor photos they were judged on.
# --------------------------------------------------------------------------------------

#: The Deployment team's three differences from training (see :func:`deployment_team_preprocess`).
DEPLOYMENT_SKEWS = ("EXIF ignored", "squashed", "ImageNet statistics")


def deployment_team_preprocess(
    path: str | Path, size: int, stats: Stats | None = None, *, skews: Sequence[str] = DEPLOYMENT_SKEWS
) -> torch.Tensor:
    """The Deployment team's app preprocessing, copied by hand from a tutorial: photo -> float (3, size, size).

    Introduced in notebook ``05_the_app``. It runs on every photo without an
    error, and differs from training in three ways (each in ``skews``, so
    notebook 05 can measure them one at a time):

    1. ``"EXIF ignored"``: ``Image.open`` does not apply the orientation tag,
       so a phone's portrait photo reaches the model lying on its side;
    2. ``"squashed"``: ``resize((size, size))`` squeezes the photo into a
       square instead of resizing the short side and cropping the centre;
    3. ``"ImageNet statistics"``: normalised with ImageNet's mean and std
       (the tutorial's) instead of the train split's, which the team never saved.

    ``convert("RGB")`` also drops an alpha channel without compositing it
    (training's ``to_rgb`` puts transparency on white). Without a skew, its
    step is done the training way (``stats`` are then the train split's).
    """
    img = Image.open(path)
    if "EXIF ignored" not in skews:
        img = upright(img)
    img = img.convert("RGB")
    if "squashed" in skews:
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    else:
        scale = size / min(img.size)
        img = img.resize((max(size, round(img.width * scale)), max(size, round(img.height * scale))), Image.Resampling.BILINEAR)
        left, top = (img.width - size) // 2, (img.height - size) // 2
        img = img.crop((left, top, left + size, top + size))
    x = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float() / 255
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if "ImageNet statistics" in skews or stats is None else stats
    return (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


#: How visitors' phones and apps send photos; :func:`visitor_photos` re-encodes test images in each way, in turn.
VISITOR_KINDS = ("portrait, EXIF-rotated", "large JPEG", "PNG with alpha", "grayscale JPEG", "CMYK JPEG", "WebP", "small JPEG")
_VISITORS_VERSION = 1


@dataclass(frozen=True)
class VisitorPhoto:
    """One visitor photo: the file, its true 0-based class, how it was sent, and the test image it was made from.

    Introduced in notebook ``05_the_app``.
    """

    path: Path
    label: int
    kind: str
    original: Path


def _scaled(img: Image.Image, long_side: int) -> Image.Image:
    scale = long_side / max(img.size)
    return img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC)


def _write_visitor(img: Image.Image, kind: str, out: Path) -> Path:
    """Save test image ``img`` as a visitor's phone or app would send it (``kind``, one of :data:`VISITOR_KINDS`)."""
    if kind == "portrait, EXIF-rotated":  # the sensor's landscape pixels, and a tag: "turn 90 degrees clockwise to view"
        exif = Image.Exif()
        exif[ExifTags.Base.Orientation] = 6
        _scaled(img, 1280).transpose(Image.Transpose.ROTATE_90).save(out := out.with_suffix(".jpg"), quality=88, exif=exif)
    elif kind == "large JPEG":
        _scaled(img, 1280).save(out := out.with_suffix(".jpg"), quality=90)
    elif kind == "PNG with alpha":  # a sticker: rounded transparent corners, black under the transparency
        mask = Image.new("L", img.size, 0)
        from_corner = min(img.size) // 6
        ImageDraw.Draw(mask).rounded_rectangle((0, 0, img.width - 1, img.height - 1), radius=from_corner, fill=255)
        rgba = Image.composite(img, Image.new("RGB", img.size, 0), mask).convert("RGBA")
        rgba.putalpha(mask)
        rgba.save(out := out.with_suffix(".png"), compress_level=1)
    elif kind == "grayscale JPEG":
        img.convert("L").save(out := out.with_suffix(".jpg"), quality=85)
    elif kind == "CMYK JPEG":
        img.convert("CMYK").save(out := out.with_suffix(".jpg"), quality=90)
    elif kind == "WebP":
        img.save(out := out.with_suffix(".webp"), quality=80, method=0)
    else:  # a messaging app's small copy
        _scaled(img, 320).save(out := out.with_suffix(".jpg"), quality=70)
    return out


def _visitor_kinds() -> tuple[str, ...]:
    return VISITOR_KINDS if features.check("webp") else tuple(k for k in VISITOR_KINDS if k != "WebP")


def visitor_photos(root: str | Path, *, per_class: int = 2, folder: str | Path | None = None) -> list[VisitorPhoto]:
    """Test images re-encoded as visitors' phones send them: the first ``per_class`` test images of each class.

    Photo ``k`` is sent the ``k % len(VISITOR_KINDS)``-th way (:data:`VISITOR_KINDS`):
    EXIF-rotated portraits, large JPEGs, PNGs with alpha, grayscale, CMYK,
    WebP (if Pillow reads it), small JPEGs. Deterministic; written once under
    ``folder`` (default ``<cache_dir>/visitor-photos-<key>``) with a manifest,
    then reused. Introduced in notebook ``05_the_app``.
    """
    test = OxfordFlowers102(root, "test")
    picks = [k for c in sorted(set(test.labels)) for k in [i for i, y in enumerate(test.labels) if y == c][:per_class]]
    kinds = _visitor_kinds()
    key = hashlib.sha1(f"{Path(root).resolve()}|{per_class}|{kinds}|{_VISITORS_VERSION}".encode()).hexdigest()[:8]
    folder = Path(folder) if folder is not None else cache_dir() / f"visitor-photos-{key}"
    manifest = folder / "manifest.json"
    if manifest.is_file():
        rows = json.loads(manifest.read_text())
        if len(rows) == len(picks) and all((folder / r["file"]).is_file() for r in rows):
            return [VisitorPhoto(folder / r["file"], r["label"], r["kind"], Path(r["original"])) for r in rows]
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for n, k in enumerate(picks):
        kind = kinds[n % len(kinds)]
        out = _write_visitor(load_rgb(test.image_files[k]), kind, folder / f"visitor_{n:04d}")
        rows.append({"file": out.name, "label": test.labels[k], "kind": kind, "original": str(test.image_files[k])})
    tmp = manifest.with_name(f".manifest.{uuid.uuid4().hex[:8]}.partial")
    tmp.write_text(json.dumps(rows))
    os.replace(tmp, manifest)  # written last: the folder is complete
    return [VisitorPhoto(folder / r["file"], r["label"], r["kind"], Path(r["original"])) for r in rows]


if __name__ == "__main__":
    sys.exit(main())
