"""flowerkit.viz: the course's figure style, applied on request, and image grids from any image type."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from flowerkit import viz


def test_the_course_style_is_applied_only_when_asked() -> None:
    with mpl.rc_context():
        viz.use_course_style()
        assert all(mpl.rcParams[k] == v for k, v in viz.COURSE_STYLE.items())


def test_as_displayable_turns_tensors_and_arrays_into_what_imshow_takes() -> None:
    chw = torch.arange(12, dtype=torch.uint8).reshape(3, 2, 2)
    assert viz._as_displayable(chw).shape == (2, 2, 3) and viz._as_displayable(chw).dtype == np.uint8
    assert viz._as_displayable(torch.full((1, 2, 2), 3.0)).shape == (2, 2), "one channel shows as gray"
    assert viz._as_displayable(np.full((2, 2), -1.5)).min() == 0.0, "floats are clipped to [0, 1]"


def test_show_images_keeps_explicit_line_breaks_in_titles():
    fig = viz.show_images([np.zeros((4, 4))], ["team: hard-leaved pocket orchid\ntrue: rose"], ncols=1)
    assert fig.axes[0].get_title().splitlines()[-1] == "true: rose"


def test_show_images_returns_a_figure_with_one_axis_per_cell():
    import torch
    from PIL import Image

    images = [Image.new("RGB", (20, 10)), torch.zeros(3, 8, 8, dtype=torch.uint8), torch.rand(3, 8, 8), np.zeros((5, 5))]
    fig = viz.show_images(images, ["a", "b", "c", "d"], ncols=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:4]] == ["a", "b", "c", "d"]


def test_show_files_shows_every_file_and_names_the_error_of_one_that_does_not_open(tmp_path):
    Image.fromarray(np.zeros((30, 40, 3), dtype=np.uint8)).save(tmp_path / "good.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    fig = viz.show_files([tmp_path / "good.png", tmp_path / "empty.jpg", tmp_path / "gone.jpg"], ["a", "b", "c"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    plt.close(fig)
    assert titles[0] == "a\n.png RGB 40x30"
    assert titles[1].startswith("b\n.jpg does not open:") and "UnidentifiedImageError" in titles[1].replace("\n", " ")
    assert titles[2].startswith("c\n.jpg does not open:") and "FileNotFoundError" in titles[2].replace("\n", " ")
