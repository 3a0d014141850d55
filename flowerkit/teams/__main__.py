"""``python -m flowerkit.teams [--ablation]``: the capstone of notebook ``04_three_teams`` from the command line."""

from __future__ import annotations

from .capstone import _main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(_main())
