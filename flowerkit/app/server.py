"""``python -m flowerkit.app serve``: a one-page app on 127.0.0.1, standard library only.

Introduced in notebook ``05_the_app`` (:func:`make_server`): GET / shows an
upload form, POST /predict answers with the top classes and the picture the
model saw, POST /api/predict answers raw bytes with JSON.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import torch
from PIL import Image

from .artifact import PhotoError, PhotoTooLarge, Predictor

__all__ = ["HOST", "MAX_UPLOAD_BYTES", "make_server"]

#: The largest upload ``serve`` accepts, in bytes (a 12-megapixel JPEG is 3-8 MB).
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: ``serve`` listens on the loopback interface only (see :func:`make_server`).
HOST = "127.0.0.1"


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
