"""flowerkit.app.cli: ``python -m flowerkit.app train|predict`` and the exit codes (notebook 05)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flowerkit import app
from flowerkit.access import OxfordFlowers102

REPO = Path(__file__).resolve().parents[1]


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


def test_train_refuses_an_out_it_could_not_write_before_training(tmp_path: Path, capsys, monkeypatch) -> None:
    """The artifact is written after minutes of training: a folder or a missing folder as --out is refused first."""
    monkeypatch.setattr(app.cli, "train_artifact", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    assert app.main(["train", "--out", str(tmp_path)]) == 2
    assert "is a folder: give a file name" in capsys.readouterr().err
    assert app.main(["train", "--out", str(tmp_path / "missing" / "a.pt")]) == 2
    assert "does not exist: create it first" in capsys.readouterr().err


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


#: Every name `from flowerkit import app` offered before the module became a package, less DEPLOYMENT_SKEWS (now
#: private, so that help(app) does not answer notebook 05's hunt).
PUBLIC_BEFORE = [
    "ARTIFACT_FORMAT", "HOST", "MAX_PIXELS", "MAX_UPLOAD_BYTES", "VISITOR_KINDS", "ArtifactError",
    "PhotoError", "PhotoTooLarge", "Predictor", "VisitorPhoto", "deployment_team_preprocess", "load_artifact", "main",
    "make_artifact", "make_server", "save_artifact", "train_artifact", "trained_artifact", "visitor_photos",
]  # fmt: skip


def test_the_package_offers_every_name_the_module_did() -> None:
    assert set(PUBLIC_BEFORE) <= set(app.__all__) and all(hasattr(app, name) for name in app.__all__)
    assert app.ARTIFACT_VERSION == 1 and app.HOST == "127.0.0.1"
