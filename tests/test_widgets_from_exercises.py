"""Widgets render without interaction (moved from tests/test_exercises.py; to merge into tests/test_widgets.py)."""

from __future__ import annotations

from matplotlib.figure import Figure

from flowerkit import OxfordFlowers102, widgets
from flowerkit.load import DecodedFlowers


def test_transform_widgets_render_without_interaction(mini_root, monkeypatch):

    images = [OxfordFlowers102(mini_root, "train")[i][0] for i in (0, 50)]
    fig = widgets.render_transform_grid(images, size=32, rotation=10, jitter=0.2)
    assert isinstance(fig, Figure) and len([ax for ax in fig.axes if ax.images]) == 6
    box = widgets.transform_playground(images)
    sliders = [w for row in box.children[:2] for w in row.children]
    assert {s.description for s in sliders} == {"size", "crop scale", "rotation", "jitter"}
    drawn = []
    real = widgets.render_transform_grid
    monkeypatch.setattr(widgets, "render_transform_grid", lambda imgs, **kw: drawn.append(kw) or real(imgs, **kw))
    sliders[0].value = 48  # in a live kernel moving a slider fires the callback, which redraws
    assert drawn and drawn[-1]["size"] == 48


def test_measure_loader_reports_the_settings(mini_root):
    r = widgets.measure_loader(DecodedFlowers(mini_root, "val", 16), batch_size=8, num_workers=0, batches=2)
    assert r["batch_size"] == 8 and r["num_workers"] == 0 and r["images"] == 16 and r["images_per_s"] > 0
    assert widgets.loader_tuner({"jpegs": DecodedFlowers(mini_root, "val", 16)}).children
