"""flowerkit.app.artifact: the artifact file and the Predictor on what visitors' phones send (notebook 05)."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import ExifTags, Image

from flowerkit import app, load
from flowerkit.access import FlowersFormatError, OxfordFlowers102, load_rgb
from flowerkit.load import build_cache, decode_resized

SIZE = 32  # the size the app fixtures in conftest.py train at (APP_SIZE)


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


def test_the_artifact_s_decode_recipe_names_every_step_of_training_s_decode(artifact: dict, tmp_path: Path) -> None:
    """Notebook 05 prints the recipe as what the artifact documents: the decoder's steps and every photo's (upright,
    transparency on white, RGB); an artifact written before it names the decoder's alone and is read the same way, and
    trained_artifact completes its recipe without training again."""
    from flowerkit.app import training

    recipe = artifact["preprocess"]["decode"]
    assert recipe.startswith(load.decode_recipe())
    assert all(step in recipe for step in ("EXIF orientation", "transparency put on white", "CMYK", "grayscale", "to RGB"))
    assert all(step in recipe for step in ("DCT scaling" if load.simplejpeg else "PIL draft", "centre crop", "resize"))
    older = {**artifact, "preprocess": {**artifact["preprocess"], "decode": load.decode_recipe()}}
    assert app.Predictor(older).decoder == app.Predictor(artifact).decoder
    path = app.save_artifact(older, tmp_path / "older.pt")
    assert training._recipe_in_full(app.load_artifact(path), path) == path
    assert app.load_artifact(path)["preprocess"]["decode"] == recipe
    assert torch.equal(app.load_artifact(path)["state_dict"]["head.3.weight"], artifact["state_dict"]["head.3.weight"])


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
