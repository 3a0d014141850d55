"""Interactive widgets for live teaching, each with a non-interactive fallback.

Introduced in notebook ``01_access`` (the image browser), ``02_transform``
(the transform playground) and ``03_load`` (the loader tuner). Widgets
never fire callbacks when a notebook runs headless (nbval, ``make html``),
so every widget here is built on a plain function that draws the same figure
from fixed values; the notebook calls that function too.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w
import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from .access import OxfordFlowers102, load_rgb
from .classes import CLASSES
from .facts import DEFAULT_SIZE, SPLIT_NAMES
from .load import make_loader, measure_throughput
from .transform import denormalize, train_transform
from .viz import show_images

__all__ = [
    "figure_png",
    "image_browser",
    "loader_tuner",
    "measure_loader",
    "render_class_images",
    "render_transform_grid",
    "transform_playground",
]


def figure_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """Render ``fig`` to PNG bytes (tight bounding box) and close it: the picture an ``ipywidgets.Image`` shows.

    The widgets below show their figures as an ``Image`` widget rather than
    ``display(fig)`` inside an ``Output`` widget: a redraw swaps the picture
    without flicker, and a headless run (``make html``) never routes a
    megabyte-sized PNG through the ``Output`` widget's message round trip, which
    can stall ``nbclient``. Introduced in notebook ``05_the_app``.
    """

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def render_class_images(
    root: str | Path, class_index: int = 0, split: str = "train", *, max_images: int = 12, ncols: int = 6
) -> Figure:
    """Draw the images of one class in one split, each titled with its file name and 1-based image id.

    ``class_index`` is 0-based (``flowerkit.CLASSES[class_index]``). The
    non-interactive twin of :func:`image_browser`. Introduced in notebook ``01_access``.
    """
    if not 0 <= class_index < len(CLASSES):
        raise ValueError(f"class_index must be 0..{len(CLASSES) - 1} (0-based), got {class_index}")
    dataset = OxfordFlowers102(root, split)
    members = [k for k, label in enumerate(dataset.labels) if label == class_index]
    shown = members[:max_images]
    images = [load_rgb(dataset.image_files[k], draft=160) for k in shown]
    titles = [f"{dataset.image_files[k].name}\nid {dataset.image_ids[k]}" for k in shown]
    count = f"{len(members)} images" + (f", first {len(shown)} shown" if len(shown) < len(members) else "")
    title = f"class {class_index} ({CLASSES[class_index]}, label {class_index + 1} in the .mat file), {split} split: {count}"
    if not shown:  # a class absent from a split: say so in the figure rather than fail
        return show_images([torch.ones(3, 8, 8)], ["no images"], ncols=1, suptitle=title)
    return show_images(images, titles, ncols=ncols, size=2.2, suptitle=title)


def image_browser(root: str | Path, *, max_images: int = 12) -> Any:
    """A class dropdown (the 102 names) and a split toggle that redraw :func:`render_class_images`.

    Returns the ipywidgets box to display; it draws the first class at once.
    Introduced in notebook ``01_access``.
    """

    chooser = w.Dropdown(
        options=[(f"{k:3d} {name}", k) for k, name in enumerate(CLASSES)],
        value=0,
        description="class",
        layout=w.Layout(width="24em"),
    )
    split = w.ToggleButtons(options=list(SPLIT_NAMES), value="train", description="split")
    picture = w.Image(format="png", layout=w.Layout(max_width="100%"))

    def redraw(_: Any = None) -> None:
        picture.value = figure_png(render_class_images(root, chooser.value, split.value, max_images=max_images))

    chooser.observe(redraw, names="value")
    split.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([chooser, split]), picture])


def render_transform_grid(
    images: Sequence[Any],
    *,
    size: int = DEFAULT_SIZE,
    min_scale: float = 0.5,
    rotation: float = 0.0,
    jitter: float = 0.0,
    seed: int = 0,
    mean: Sequence[float] = (0.5, 0.5, 0.5),
    std: Sequence[float] = (0.25, 0.25, 0.25),
) -> Figure:
    """Draw each image next to two random training augmentations of it, with the given settings.

    The non-interactive twin of :func:`transform_playground`: the same figure
    for fixed slider values. Introduced in notebook ``02_transform``.
    """
    torch.manual_seed(seed)
    transform = train_transform(size, mean, std, scale=(min_scale, 1.0), rotation=rotation, jitter=jitter)
    shown, titles = [], []
    for k, image in enumerate(images):
        shown.append(image)
        titles.append(f"original {k}")
        for j in range(2):
            shown.append(denormalize(transform(image), mean, std))
            titles.append(f"augmented {k}.{j + 1}")
    title = f"size {size}, crop scale {min_scale:.2f}-1, rotation ±{rotation:.0f}°, jitter {jitter:.2f}"
    return show_images(shown, titles, ncols=6, size=2.2, suptitle=title)


def transform_playground(images: Sequence[Any], **fixed: Any) -> Any:
    """Sliders for size, crop scale, rotation and colour jitter that redraw :func:`render_transform_grid`.

    Returns the ipywidgets box to display; it draws the default settings at once.
    Introduced in notebook ``02_transform``.
    """
    sliders = {
        "size": w.IntSlider(value=64, min=32, max=224, step=16, description="size"),
        "min_scale": w.FloatSlider(value=0.5, min=0.08, max=1.0, step=0.02, description="crop scale"),
        "rotation": w.FloatSlider(value=0.0, min=0.0, max=180.0, step=5.0, description="rotation"),
        "jitter": w.FloatSlider(value=0.0, min=0.0, max=0.8, step=0.05, description="jitter"),
    }
    picture = w.Image(format="png", layout=w.Layout(max_width="100%"))

    def redraw(_: Any = None) -> None:
        picture.value = figure_png(render_transform_grid(images, **{k: s.value for k, s in sliders.items()}, **fixed))

    for slider in sliders.values():
        slider.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox(list(sliders.values())[:2]), w.HBox(list(sliders.values())[2:]), picture])


def measure_loader(
    dataset: Any, *, batch_size: int = 64, num_workers: int = 0, batches: int = 4, seed: int = 0
) -> dict[str, float]:
    """Images/s of :func:`flowerkit.load.make_loader` on ``dataset`` with these settings (worker start-up excluded).

    The non-interactive twin of :func:`loader_tuner`. Introduced in notebook ``03_load``.
    """
    loader = make_loader(dataset, batch_size=batch_size, num_workers=num_workers, shuffle=True, seed=seed)
    result = measure_throughput(loader, batches, warmup=1)
    return {"batch_size": batch_size, "num_workers": num_workers, **result}


def loader_tuner(datasets: dict[str, Any]) -> Any:
    """Pick a dataset (e.g. JPEGs or cache), batch size and workers, press *measure*, read images/s.

    ``datasets`` maps a name to a Dataset. Returns the ipywidgets box to
    display. Introduced in notebook ``03_load``.
    """
    source = w.Dropdown(options=list(datasets), description="source")
    batch = w.Dropdown(options=[1, 8, 32, 64, 128], value=64, description="batch size")
    workers = w.IntSlider(value=0, min=0, max=4, description="workers")
    button = w.Button(description="measure")
    out = w.Output()

    def run(_: Any = None) -> None:
        with out:
            r = measure_loader(
                datasets[source.value], batch_size=batch.value, num_workers=workers.value, batches=max(2, 256 // batch.value)
            )
            print(f"{source.value}: batch {r['batch_size']}, {r['num_workers']} workers -> {r['images_per_s']:,.0f} images/s")

    button.on_click(run)
    return w.VBox([w.HBox([source, batch]), w.HBox([workers, button]), out])
