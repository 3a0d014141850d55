"""The image browser (notebook 01): a fixed figure that works headless, and the widget that redraws it live."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from flowerkit import CLASSES, widgets
from flowerkit.access import OxfordFlowers102, read_labels


def _shown(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.images]


def test_render_class_images_shows_one_class_of_one_split_with_file_names_and_ids(mini_root):
    labels = read_labels(mini_root / "flowers-102" / "imagelabels.mat")
    fig = widgets.render_class_images(mini_root, 5, "val")
    axes = _shown(fig)
    assert isinstance(fig, Figure) and len(axes) == 10, "10 val images per class"
    val_ids = set(OxfordFlowers102(mini_root, "val").image_ids)
    for ax in axes:
        name, id_line = ax.get_title().splitlines()
        image_id = int(id_line.removeprefix("id "))
        assert name == f"image_{image_id:05d}.jpg", "the id is the 1-based number in the file name"
        assert image_id in val_ids and labels[image_id - 1] == 5, f"{name} is not a val image of class 5"
    assert CLASSES[5] in fig.get_suptitle() and "val split: 10 images" in fig.get_suptitle()


def test_render_class_images_caps_the_grid_and_says_so(mini_root):
    fig = widgets.render_class_images(mini_root, 0, "train", max_images=4)
    assert len(_shown(fig)) == 4
    assert "10 images, first 4 shown" in fig.get_suptitle()


def test_render_class_images_rejects_a_1_based_class(mini_root):
    with pytest.raises(ValueError, match="0-based"):
        widgets.render_class_images(mini_root, 102, "train")


def test_image_browser_offers_every_class_and_split_and_redraws_on_change(mini_root, monkeypatch):
    drawn = []
    real = widgets.render_class_images
    monkeypatch.setattr(widgets, "render_class_images", lambda root, c, s, **kw: drawn.append((c, s)) or real(root, c, s, **kw))
    box = widgets.image_browser(mini_root, max_images=2)
    chooser, split = box.children[0].children
    assert [label.split(maxsplit=1)[1] for label, _ in chooser.options] == list(CLASSES)
    assert [value for _, value in chooser.options] == list(range(102))
    assert list(split.options) == ["train", "val", "test"]
    assert drawn == [(0, "train")], "it draws the first view at once"
    chooser.value = 41  # in a live kernel, choosing fires the callback, which redraws
    split.value = "test"
    assert drawn[-2:] == [(41, "train"), (41, "test")]


def test_image_browser_shows_the_figure_as_a_png_picture_that_a_redraw_replaces(mini_root):
    box = widgets.image_browser(mini_root, max_images=2)
    chooser, _ = box.children[0].children
    picture = box.children[1]
    first = bytes(picture.value)
    assert first.startswith(b"\x89PNG"), "the browser shows a PNG picture, not an Output widget"
    chooser.value = 7
    assert bytes(picture.value).startswith(b"\x89PNG") and bytes(picture.value) != first, "choosing a class redraws"


def test_figure_png_closes_the_figure(mini_root):
    import matplotlib.pyplot as plt

    fig = widgets.render_class_images(mini_root, 0, "val", max_images=1)
    assert widgets.figure_png(fig, dpi=40).startswith(b"\x89PNG")
    assert not plt.fignum_exists(fig.number), "an open figure would be drawn a second time by the inline backend"


def test_transform_playground_draws_at_once_and_on_each_slider(mini_root):
    from flowerkit.access import load_rgb

    image = load_rgb(OxfordFlowers102(mini_root, "train").image_files[0])
    box = widgets.transform_playground([image])
    picture = box.children[-1]
    first = bytes(picture.value)
    assert first.startswith(b"\x89PNG")
    size_slider = box.children[0].children[0]
    size_slider.value = 96
    assert bytes(picture.value) != first
