"""flowerkit.app: the artifact, the Predictor on what visitors' phones send, the command line, serve over HTTP (notebook 05)."""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import ExifTags, Image

from flowerkit import app, exercises
from flowerkit.access import FlowersFormatError, OxfordFlowers102, load_rgb
from flowerkit.load import build_cache, decode_resized

REPO = Path(__file__).resolve().parents[1]
SIZE = 32  # small and fast; the course uses 64


@pytest.fixture(scope="module")
def artifact(mini_root: Path) -> dict:
    """One epoch of our pipeline on the small mini-flowers: enough to test plumbing, not accuracy."""
    return app.train_artifact(mini_root, size=SIZE, epochs=1, num_workers=0, progress=False)


@pytest.fixture(scope="module")
def artifact_file(artifact: dict, tmp_path_factory) -> Path:
    return app.save_artifact(artifact, tmp_path_factory.mktemp("app") / "app.pt")


@pytest.fixture(scope="module")
def predictor(artifact_file: Path) -> app.Predictor:
    return app.Predictor.load(artifact_file)


@pytest.fixture(scope="module")
def photo(mini_root: Path) -> Image.Image:
    """A test image, upscaled to a phone-ish 300x200 so that crops and rotations show."""
    return load_rgb(OxfordFlowers102(mini_root, "test").image_files[0]).resize((300, 200))


def _jpeg(img: Image.Image, path: Path, **kw) -> Path:
    img.save(path, format="JPEG", quality=95, **kw)
    return path


# ------------------------------------------------------------------ load_rgb: what phones send


def test_load_rgb_applies_the_exif_orientation(photo: Image.Image, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # "turn 90 degrees clockwise to view"
    stored = _jpeg(photo.transpose(Image.Transpose.ROTATE_90), tmp_path / "portrait.jpg", exif=exif)
    assert Image.open(stored).size == (200, 300)  # the pixels lie on their side
    upright = load_rgb(stored)
    assert upright.size == (300, 200)
    plain = load_rgb(_jpeg(photo, tmp_path / "plain.jpg"))
    assert np.abs(np.asarray(upright, dtype=float) - np.asarray(plain, dtype=float)).mean() < 3


def test_load_rgb_reads_bytes_files_and_images_like_a_path(photo: Image.Image, tmp_path: Path) -> None:
    path = _jpeg(photo, tmp_path / "p.jpg")
    expected = np.asarray(load_rgb(path, draft=32))
    with open(path, "rb") as fh:
        from_file = load_rgb(fh, draft=32)
    for got in (load_rgb(path.read_bytes(), draft=32), from_file):
        assert np.array_equal(np.asarray(got), expected)
    assert load_rgb(Image.open(path).convert("L")).mode == "RGB"
    with pytest.raises(FlowersFormatError, match=r"<5 bytes> is not a readable image"):
        load_rgb(b"hello")


def test_decode_resized_takes_what_load_rgb_takes(photo: Image.Image, tmp_path: Path) -> None:
    """The app decodes uploads in memory through decode_resized: bytes and PIL images must give the path's tensor."""
    path = _jpeg(photo, tmp_path / "p.jpg")
    expected = decode_resized(path, SIZE)
    assert torch.equal(decode_resized(path.read_bytes(), SIZE), expected)  # type: ignore[arg-type]
    assert (decode_resized(Image.open(path), SIZE).float() - expected.float()).abs().mean() < 3  # type: ignore[arg-type]


# ------------------------------------------------------------------ the artifact


def test_artifact_round_trip_gives_the_same_predictions(artifact: dict, artifact_file: Path, mini_root: Path) -> None:
    files = OxfordFlowers102(mini_root, "test").image_files[:8]
    before = app.Predictor(artifact).probabilities(files)
    after = app.Predictor.load(artifact_file).probabilities(files)
    assert torch.allclose(before, after, atol=1e-6)
    loaded = app.load_artifact(artifact_file)
    assert loaded["preprocess"]["size"] == SIZE and len(loaded["classes"]) == 102
    assert {"dataset", "flowerkit", "torch", "test_acc", "date"} <= set(loaded["provenance"])


def test_the_predictor_feeds_the_model_the_tensors_training_used(predictor: app.Predictor, mini_root: Path) -> None:
    cache = build_cache(OxfordFlowers102(mini_root, "test"), SIZE, progress=False)
    for k in (0, 5):
        assert torch.equal(predictor.preprocess(cache.image_files[k]), cache[k][0])


def test_the_predictor_decodes_with_the_decoder_the_model_was_trained_with(
    artifact: dict, photo: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowerkit import load

    with_pil = {**artifact, "preprocess": {**artifact["preprocess"], "decode": load.decode_recipe("pil")}}
    assert app.Predictor(with_pil).decoder == "pil"
    unknown = {**artifact, "preprocess": {**artifact["preprocess"], "decode": "a decoder from the future"}}
    with pytest.raises(app.ArtifactError, match="future.pt: unknown decode recipe 'a decoder from the future'"):
        app.Predictor(unknown, source="future.pt")
    if load.simplejpeg is None:
        pytest.skip("simplejpeg is not installed: the libjpeg-turbo recipe cannot be written here")
    with_turbo = {**artifact, "preprocess": {**artifact["preprocess"], "decode": load.decode_recipe("simplejpeg")}}
    assert app.Predictor(with_turbo).decoder == "simplejpeg"
    monkeypatch.setattr(load, "simplejpeg", None)  # a server without simplejpeg: PIL draft, and a warning that says so
    with pytest.warns(RuntimeWarning, match="pip install simplejpeg"):
        served = app.Predictor(with_turbo)
    assert served.decoder == "pil" and served.preprocess(photo).shape == (3, SIZE, SIZE)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[: len(b) // 2], "not a readable flowerkit artifact"),
        (lambda b: b"GIF89a" + b[6:], "not a readable flowerkit artifact"),
        (lambda b: b"", "not a readable flowerkit artifact"),
    ],
    ids=["truncated", "overwritten-header", "empty"],
)
def test_a_damaged_artifact_gives_a_clear_error(artifact_file: Path, tmp_path: Path, damage, message: str) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(damage(artifact_file.read_bytes()))
    with pytest.raises(app.ArtifactError, match=message):
        app.load_artifact(bad)


def test_a_foreign_artifact_gives_a_clear_error(artifact: dict, tmp_path: Path) -> None:
    torch.save({"model": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(app.ArtifactError, match="not a flowerkit artifact"):
        app.load_artifact(tmp_path / "other.pt")
    torch.save({**artifact, "version": 99}, tmp_path / "future.pt")
    with pytest.raises(app.ArtifactError, match="version 99"):
        app.load_artifact(tmp_path / "future.pt")
    torch.save({**artifact, "classes": artifact["classes"][:5]}, tmp_path / "classes.pt")
    with pytest.raises(app.ArtifactError, match="5 class names for a model with 102 outputs"):
        app.load_artifact(tmp_path / "classes.pt")
    with pytest.raises(app.ArtifactError, match="does not exist"):
        app.load_artifact(tmp_path / "missing.pt")


class _Payload:
    def __reduce__(self):
        return (print, ("this would run on load",))


def test_loading_never_unpickles_code(tmp_path: Path) -> None:
    with open(tmp_path / "evil.pt", "wb") as fh:
        pickle.dump({"format": app.ARTIFACT_FORMAT, "x": _Payload()}, fh)
    torch.save({"format": app.ARTIFACT_FORMAT, "x": _Payload()}, tmp_path / "evil2.pt")
    for name in ("evil.pt", "evil2.pt"):
        with pytest.raises(app.ArtifactError, match="refusing to unpickle|not a readable"):
            app.load_artifact(tmp_path / name)


def test_weights_that_do_not_fit_are_refused(artifact: dict, tmp_path: Path) -> None:
    state = dict(artifact["state_dict"])
    state.pop(next(iter(state)))
    torch.save({**artifact, "state_dict": state}, tmp_path / "holes.pt")
    with pytest.raises(app.ArtifactError, match="weights do not fit"):
        app.Predictor.load(tmp_path / "holes.pt")


# ------------------------------------------------------------------ the Predictor on odd photos


def test_predictor_sees_an_exif_rotated_photo_upright(predictor: app.Predictor, photo: Image.Image, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 8
    rotated = _jpeg(photo.transpose(Image.Transpose.ROTATE_270), tmp_path / "r.jpg", exif=exif)
    plain = _jpeg(photo, tmp_path / "plain.jpg")
    gap = (predictor.preprocess(rotated).float() - predictor.preprocess(plain).float()).abs().mean()
    sideways = (predictor.preprocess(Image.open(rotated).transpose(Image.Transpose.ROTATE_90)).float()).mean()
    assert gap < 4, "an EXIF-rotated photo should reach the model upright"
    assert sideways > 0


@pytest.mark.parametrize("mode", ["RGBA", "CMYK", "L", "P", "LA"])
def test_predictor_reads_every_colour_mode(predictor: app.Predictor, photo: Image.Image, tmp_path: Path, mode: str) -> None:
    img = photo.convert(mode)
    path = tmp_path / ("p.jpg" if mode in ("CMYK", "L") else "p.png")
    img.save(path)
    x = predictor.preprocess(path)
    assert x.shape == (3, SIZE, SIZE) and x.dtype == torch.uint8
    top = predictor.predict(path, k=3)
    assert len(top) == 3 and top[0]["p"] >= top[1]["p"] >= top[2]["p"] and 0 <= top[0]["class"] < 102
    if mode == "L":
        assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])


def test_predictor_reads_webp_bytes_and_images(predictor: app.Predictor, photo: Image.Image, tmp_path: Path) -> None:
    photo.save(tmp_path / "p.webp", quality=90)
    buffer = io.BytesIO()
    photo.save(buffer, format="PNG")
    for source in (tmp_path / "p.webp", buffer.getvalue(), photo):
        assert predictor.preprocess(source).shape == (3, SIZE, SIZE)


def test_a_12_megapixel_photo_is_decoded_small(predictor: app.Predictor, photo: Image.Image, tmp_path: Path) -> None:
    big = _jpeg(photo.resize((4000, 3000)), tmp_path / "big.jpg")
    x = predictor.preprocess(big)
    assert x.shape == (3, SIZE, SIZE)
    assert (x.float() - predictor.preprocess(photo).float()).abs().mean() < 6


def test_too_many_pixels_is_refused_before_decoding(predictor: app.Predictor, photo: Image.Image, tmp_path: Path) -> None:
    path = _jpeg(photo, tmp_path / "p.jpg")
    strict = app.Predictor(predictor.artifact, max_pixels=10_000)
    with pytest.raises(app.PhotoTooLarge, match=r"p.jpg: 300x200 is 0 megapixels, over the limit"):
        strict.preprocess(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not an image Pillow can read"),
        (b"<html>not found</html>", "not an image Pillow can read"),
        (None, "not a readable image"),
    ],
    ids=["empty", "html", "truncated"],
)
def test_a_bad_photo_gets_an_error_naming_it(
    predictor: app.Predictor, photo: Image.Image, tmp_path: Path, content, message
) -> None:
    path = tmp_path / "visitor.jpg"
    if content is None:
        content = _jpeg(photo, tmp_path / "good.jpg").read_bytes()[:-400]
    path.write_bytes(content)
    with pytest.raises(app.PhotoError, match=rf"visitor\.jpg: {message}"):
        predictor.predict(path)
    with pytest.raises(app.PhotoError, match="missing.jpg: no such file"):
        predictor.predict(tmp_path / "missing.jpg")


# ------------------------------------------------------------------ the command line


def test_predict_prints_a_json_line_per_photo_and_fails_if_one_failed(
    artifact_file: Path, mini_root: Path, tmp_path: Path, capsys
) -> None:
    good = OxfordFlowers102(mini_root, "test").image_files[0]
    bad = tmp_path / "notes.txt"
    bad.write_text("not a photo")
    assert app.main(["predict", str(artifact_file), str(good), str(bad), str(good), "--top", "2"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == [str(good), str(bad), str(good)]
    assert len(lines[0]["top"]) == 2 and set(lines[0]["top"][0]) == {"class", "name", "p"}
    assert "not an image" in lines[1]["error"] and lines[2] == lines[0]
    assert app.main(["predict", str(artifact_file), str(good)]) == 0
    assert len(json.loads(capsys.readouterr().out)["top"]) == 5


def test_predict_on_a_bad_artifact_says_so(tmp_path: Path, capsys) -> None:
    (tmp_path / "a.pt").write_text("nope")
    assert app.main(["predict", str(tmp_path / "a.pt"), "x.jpg"]) == 2
    assert "not a readable flowerkit artifact" in capsys.readouterr().err


def test_python_m_flowerkit_app_train_then_predict(mini_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.pt"
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "flowerkit.app"]
    train = subprocess.run(
        [*run, "train", "--out", str(out), "--root", str(mini_root), "--epochs", "1", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert train.returncode == 0, train.stderr
    assert json.loads(train.stdout.splitlines()[-1])["epochs"] == 1 and out.is_file()
    photo = OxfordFlowers102(mini_root, "test").image_files[0]
    pred = subprocess.run([*run, "predict", str(out), str(photo)], capture_output=True, text=True, env=env, timeout=300)
    assert pred.returncode == 0, pred.stderr
    assert json.loads(pred.stdout)["file"] == str(photo)


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


# ------------------------------------------------------------------ notebook 05's staging and exercises


def test_visitor_photos_are_sent_every_way_and_reused(mini_root: Path, tmp_path: Path) -> None:
    photos = app.visitor_photos(mini_root, per_class=1, folder=tmp_path / "v")
    assert len(photos) == 102 and {p.kind for p in photos} == set(app.VISITOR_KINDS)
    test = OxfordFlowers102(mini_root, "test")
    truth = dict(zip(test.image_files, test.labels))
    assert all(truth[p.original] == p.label for p in photos)
    modes = {p.kind: Image.open(p.path).mode for p in photos}
    assert modes["CMYK JPEG"] == "CMYK" and modes["grayscale JPEG"] == "L" and modes["PNG with alpha"] == "RGBA"
    assert app.visitor_photos(mini_root, per_class=1, folder=tmp_path / "v") == photos


def test_the_deployment_team_skews_and_nothing_else(predictor: app.Predictor, photo: Image.Image, tmp_path: Path) -> None:
    path = _jpeg(photo, tmp_path / "p.jpg")
    stats = (predictor.mean, predictor.std)
    ours = predictor.inputs([path])[0]
    none = app.deployment_team_preprocess(path, SIZE, stats, skews=())
    theirs = app.deployment_team_preprocess(path, SIZE, stats)
    assert (none - ours).abs().mean() < 0.1, "without its skews, their code should match training's up to resampling"
    assert (theirs - ours).abs().mean() > 0.3


def test_exercise_checkers_of_notebook_05(predictor: app.Predictor, mini_root: Path, capsys) -> None:
    assert not exercises.check_kiosk_skew(...)
    assert not exercises.check_kiosk_skew("grayscale")
    assert exercises.check_kiosk_skew("channels in BGR order")
    odd = exercises.odd_photo(mini_root)
    x = exercises.kiosk_preprocess(odd, SIZE, predictor.mean, predictor.std)
    assert x.shape == (3, SIZE, SIZE)

    def naive(path):
        img = Image.open(path).convert("RGB")
        return predictor.inputs([Image.fromarray(np.asarray(img))])[0]

    assert not exercises.check_robust_input(lambda p: None, predictor, mini_root)
    assert not exercises.check_robust_input(naive, predictor, mini_root)
    assert "lies on its side" in capsys.readouterr().out
    assert exercises.check_robust_input(lambda p: predictor.inputs([p])[0], predictor, mini_root)
