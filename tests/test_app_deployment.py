"""flowerkit.app.deployment: the visitor photos, the Deployment team's skews, and notebook 05's exercise checkers."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from flowerkit import app, doctor, exercises
from flowerkit.access import OxfordFlowers102
from flowerkit.exercises import nb05

SIZE = 32  # the size the app fixtures in conftest.py train at (APP_SIZE)


def _jpeg(img: Image.Image, path: Path, **kw) -> Path:
    img.save(path, format="JPEG", quality=95, **kw)
    return path


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
    none = app.deployment_team_lines(path, SIZE, stats, keep=())
    theirs = app.deployment_team_preprocess(path, SIZE)
    assert (none - ours).abs().mean() < 0.1, "without its skews, their code should match training's up to resampling"
    assert (theirs - ours).abs().mean() > 0.3
    assert torch.equal(app.deployment_team_lines(path, SIZE, stats, keep=(1, 2, 3)), theirs)


def test_help_does_not_answer_the_hunt_of_notebook_05() -> None:
    """A student who runs help(app) (or help on the team's function) mid-hunt learns nothing the checker asks for."""
    import pydoc

    shown = pydoc.render_doc(app, renderer=pydoc.plaintext) + pydoc.render_doc(
        app.deployment_team_preprocess, renderer=pydoc.plaintext
    )
    shown += pydoc.render_doc(app.deployment, renderer=pydoc.plaintext)
    for telltale in ("EXIF ignored", "squash", "ImageNet", "orientation tag"):  # (training's own steps may show)
        assert telltale not in shown, telltale
    for answer in nb05._DEPLOYMENT_SKEWS:  # the checker's right answers (the wrong ones, e.g. grayscale, may show)
        assert answer not in shown, answer
    their_docs = [
        pydoc.render_doc(f, renderer=pydoc.plaintext) for f in (app.deployment_team_preprocess, app.deployment_team_lines)
    ]
    for telltale in ("skew", "statistics", "normalis", "orientation", "resize"):  # nor what any of their lines does
        assert not [doc for doc in their_docs if telltale in doc], telltale
    assert "stats" not in str(inspect.signature(app.deployment_team_preprocess)), "the app as deployed: no switches"


def test_the_deployment_team_lines_are_numbered_and_their_errors_name_no_skew(
    predictor: app.Predictor, photo: Image.Image, tmp_path: Path
) -> None:
    path = _jpeg(photo, tmp_path / "p.jpg")
    stats = (predictor.mean, predictor.std)
    for wrong in (("rotated",), (4,)):  # a name, not a number; a line that is not there
        with pytest.raises(ValueError, match=r"numbered lines are \[1, 2, 3\]") as raised:
            app.deployment_team_lines(path, SIZE, stats, keep=wrong)
        assert not any(skew in str(raised.value) for skew in ("EXIF", "squash", "ImageNet", "statistics"))
    with pytest.raises(TypeError):  # the app as deployed takes no switches
        app.deployment_team_preprocess(path, SIZE, stats)


def test_exercise_checkers_of_notebook_05(predictor: app.Predictor, mini_root: Path) -> None:
    assert not exercises.check_kiosk_skew(..., ...)
    assert not exercises.check_kiosk_skew("grayscale", (2, 1, 0))
    assert exercises.check_kiosk_skew("red and blue swapped (BGR order)", (2, 1, 0))
    test_file = OxfordFlowers102(mini_root, "test").image_files[0]
    kiosk = exercises.kiosk_preprocess(test_file, SIZE, predictor.mean, predictor.std)
    training = predictor.inputs([test_file])[0]
    assert kiosk.shape == (3, SIZE, SIZE)
    mean, std = torch.tensor(predictor.mean).view(3, 1, 1), torch.tensor(predictor.std).view(3, 1, 1)
    kiosk_pixels, pixels = kiosk * std.flip(0) + mean.flip(0), training * std + mean  # its statistics in its order
    assert (kiosk_pixels.flip(0) - pixels).abs().mean() < 0.02 < (kiosk_pixels - pixels).abs().mean(), "the kiosk's skew: BGR"
    kiosk_channels = [
        int(
            np.argmax(
                [float(torch.corrcoef(torch.stack([kiosk_pixels[c].flatten(), pixels[r].flatten()]))[0, 1]) for r in range(3)]
            )
        )
        for c in range(3)
    ]
    assert tuple(kiosk_channels) == nb05._KIOSK_CHANNELS, "what check_kiosk_skew asks the student to measure"
    files = OxfordFlowers102(mini_root, "test").image_files
    for start in (0, len(files) // 2, len(files) - 16):  # notebook 05 says the batch check passes: on any 16 photos
        batch = torch.stack(
            [exercises.kiosk_preprocess(f, SIZE, predictor.mean, predictor.std) for f in files[start : start + 16]]
        )
        assert doctor.check_batch(batch, size=SIZE).problems == [], start


def test_visitor_photos_finished_first_by_another_process_are_kept(mini_root: Path, tmp_path: Path, monkeypatch) -> None:
    """Two kernels (two notebooks, two grading jobs) making the same photos: no half-written folder, one complete copy."""
    from flowerkit.app import deployment

    folder, real, nested, started = tmp_path / "photos", deployment._write_visitor, [], []

    def meanwhile(*args, **kwargs):  # while we write our first photo, another process writes all of them and finishes
        if not started:
            started.append(folder.exists())  # ours is written elsewhere: nothing half-written in its place
            nested.append(app.visitor_photos(mini_root, per_class=1, folder=folder))
        return real(*args, **kwargs)

    monkeypatch.setattr(deployment, "_write_visitor", meanwhile)
    photos = app.visitor_photos(mini_root, per_class=1, folder=folder)
    assert started == [False] and [p.path for p in photos] == [p.path for p in nested[0]]
    assert all(p.path.is_file() for p in photos)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"], "our partial folder removed, theirs kept"
