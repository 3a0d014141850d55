"""flowerkit.app.server: the one-page app answers over HTTP and explains what it refuses (notebook 05)."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flowerkit import app


def _jpeg(img: Image.Image, path: Path, **kw) -> Path:
    img.save(path, format="JPEG", quality=95, **kw)
    return path


# ------------------------------------------------------------------ serve


@pytest.fixture
def server(predictor: app.Predictor) -> Iterator[str]:
    strict = app.Predictor(predictor.artifact, max_pixels=1_000_000)
    httpd = app.make_server(strict, port=0, max_upload_bytes=200_000)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    host, port = httpd.server_address[:2]
    assert host == "127.0.0.1"
    yield f"http://{host}:{port}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def _post(url: str, data: bytes, content_type: str) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _form(data: bytes, filename: str = "flower.jpg") -> tuple[bytes, str]:
    boundary = "----flowerkit-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_serve_answers_over_http(server: str, predictor: app.Predictor, photo: Image.Image, tmp_path: Path) -> None:
    with urllib.request.urlopen(server + "/", timeout=60) as response:
        page = response.read().decode()
    assert response.status == 200 and 'type="file"' in page
    data = _jpeg(photo, tmp_path / "p.jpg").read_bytes()
    best = predictor.predict(data)[0]["name"]
    status, page = _post(server + "/predict", *_form(data))
    assert status == 200 and best in page and "what the model saw" in page
    status, body = _post(server + "/api/predict", data, "application/octet-stream")
    assert status == 200 and json.loads(body)["top"] == predictor.predict(data)


def test_serve_explains_what_it_refuses(server: str, photo: Image.Image, tmp_path: Path) -> None:
    status, page = _post(server + "/predict", *_form(b"%PDF-1.4 not a photo", "menu.pdf"))
    assert status == 415 and "menu.pdf: not an image" in page
    status, page = _post(server + "/predict", *_form(np.random.default_rng(0).bytes(300_000)))
    assert status == 413 and "the limit is 0.2 MB" in page
    huge = io.BytesIO()
    Image.new("RGB", (2000, 1000)).save(huge, format="PNG")  # small file, 2 megapixels: over this server's limit
    status, body = _post(server + "/api/predict", huge.getvalue(), "application/octet-stream")
    assert status == 413 and "megapixels" in json.loads(body)["error"]
    status, page = _post(server + "/predict", *_form(b""))
    assert status == 400 and "no photo" in page
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(server + "/admin", timeout=60)
    assert err.value.code == 404
