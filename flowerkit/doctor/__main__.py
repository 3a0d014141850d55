"""``python -m flowerkit.doctor FOLDER_OR_CSV``: the audit of notebook ``08_your_own_data`` from the command line."""

from __future__ import annotations

import sys

from .cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
