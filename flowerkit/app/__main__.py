"""``python -m flowerkit.app train|predict|serve``: the garden's app of notebook ``05_the_app`` from the command line."""

from __future__ import annotations

import sys

from .cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
