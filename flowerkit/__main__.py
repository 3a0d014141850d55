"""Command line: ``python -m flowerkit data [--dataset mini|real]`` prepares a dataset and prints where it is."""

from __future__ import annotations

import argparse

from .config import DATASETS, dataset_root


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run it."""
    parser = argparse.ArgumentParser(prog="python -m flowerkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="generate mini-flowers or download the real dataset, then print its root")
    data.add_argument("--dataset", choices=DATASETS, default=None, help="default: $FLOWERKIT_DATASET or mini")
    args = parser.parse_args(argv)
    if args.command == "data":
        print(dataset_root(args.dataset))


if __name__ == "__main__":
    main()
