"""Figures for the notebooks: image grids, class sizes, file order.

Introduced in notebook ``00_the_challenge``. Sizes and fonts are chosen to
stay readable when projected in a lecture hall.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from .access import load_rgb

__all__ = ["COURSE_STYLE", "show_files", "show_images", "use_course_style"]

#: Matplotlib settings readable on a projector: larger fonts, a screen-sized dpi.
COURSE_STYLE: dict[str, Any] = {"font.size": 12, "axes.titlesize": 12, "figure.dpi": 80}


def use_course_style() -> None:
    """Apply :data:`COURSE_STYLE` to matplotlib (every notebook's setup cell calls it; importing changes nothing).

    Introduced in notebook ``00_the_challenge``.
    """
    plt.rcParams.update(COURSE_STYLE)


def _as_displayable(image: Any) -> np.ndarray | Image.Image:
    """Turn a PIL image, a (3, H, W) / (H, W) tensor (uint8 or float in [0, 1]) or an array into something imshow takes."""
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.ndim == 3 and image.shape[0] in (1, 3):
            image = image.permute(1, 2, 0)
        image = image.numpy()
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 1)
    return image


def show_images(
    images: Sequence[Any],
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 6,
    size: float = 2.4,
    suptitle: str | None = None,
    title_colors: Sequence[str] | None = None,
) -> Figure:
    """Show images in a grid with optional titles (e.g. class names); returns the Figure.

    ``title_colors`` colours each title, e.g. green for a correct label and
    red for a wrong one. Introduced in notebook ``00_the_challenge``.
    """
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    lines = max((_wrap(t).count("\n") + 1 for t in titles), default=0) if titles is not None else 0
    height = nrows * (size + 0.22 * lines) + (0.5 if suptitle else 0.0)  # room for every title line
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(10.0, size * ncols), height), squeeze=False, layout="constrained")
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        shown = _as_displayable(images[k])
        gray = isinstance(shown, np.ndarray) and shown.ndim == 2
        ax.imshow(
            shown,
            cmap="gray" if gray else None,
            vmin=0 if gray else None,
            vmax=(255 if shown.dtype == np.uint8 else 1) if gray else None,
        )
        if titles is not None:
            color = title_colors[k] if title_colors is not None else "black"
            ax.set_title(_wrap(titles[k]), fontsize=11, color=color)
    if suptitle:
        fig.suptitle(suptitle, fontsize=14)
    return fig


def show_files(
    paths: Sequence[str | Path], captions: Sequence[str] | None = None, *, ncols: int = 6, size: float = 2.4, draft: int = 256
) -> Figure:
    """Show image files as they were sent: each upright, titled with its caption (default: the file name), format,
    colour mode and stored size; a file that does not decode shows as a grey tile titled with its error's type.

    A gallery of someone else's folder, before anything is cleaned. ``draft`` decodes large JPEGs at reduced size
    (:func:`flowerkit.access.load_rgb`). Introduced in notebook ``08_your_own_data``.
    """
    images, titles = [], []
    for k, path in enumerate(map(Path, paths)):
        caption = captions[k] if captions is not None else path.name
        try:
            with Image.open(path) as img:
                stored = f"{path.suffix} {img.mode} {img.width}x{img.height}"
            images.append(load_rgb(path, draft=draft))
            titles.append(f"{caption}\n{stored}")
        except Exception as exc:  # noqa: BLE001  (a gallery shows every file, the ones that fail too)
            images.append(np.full((48, 48, 3), 200, dtype=np.uint8))
            titles.append(f"{caption}\n{path.suffix} does not open: {type(exc).__name__}")
    return show_images(images, titles, ncols=ncols, size=size)


def _wrap(text: str, width: int = 22, max_lines: int = 4) -> str:
    """Wrap a title to ``width`` characters, keeping the caller's own line breaks."""
    lines: list[str] = []
    for paragraph in str(text).split("\n"):
        line = ""
        for word in paragraph.split():
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        lines.append(line)
    return "\n".join(lines[:max_lines])
