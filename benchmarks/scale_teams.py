"""Notebook 06's torchrun trainings in one table: ours, the Scale team and each of its bugs alone, at two seeds.

    .venv/bin/python benchmarks/scale_teams.py                 # mini-flowers, 32 px, 6 epochs: about 3 minutes on 2 cores
    .venv/bin/python benchmarks/scale_teams.py --seeds 0 1 2   # more seeds: a cost is real where it keeps its sign

The same runs notebook 06 makes (``flowerkit.distributed.launch``, two processes of one compute thread each, one
loader worker per rank), plus one process at each seed: the test accuracy and seconds of training of each, and each
bug's cost against ours at the same seed. The README's figures for notebook 06 come from this script. The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics

from flowerkit import distributed

RUNS = {  # name: (processes, --team)
    "ours, 2 processes": (2, "ours"),
    "ours, 1 process": (1, "ours"),
    "Scale team": (2, "scale"),
    "missing rank split alone": (2, "no-rank-split"),
    "same order alone": (2, "same-order"),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="mini", choices=["mini", "real"])
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = p.parse_args()
    common = ("--dataset", args.dataset, "--size", args.size, "--epochs", args.epochs, "--no-count")
    results: dict[str, dict[int, dict[str, float]]] = {}
    for name, (nproc, team) in RUNS.items():
        results[name] = {}
        for seed in args.seeds:
            run = distributed.launch(nproc, *common, "--team", team, "--seed", seed)
            results[name][seed] = {"test_accuracy": run["test_accuracy"], "train_seconds": run["train_seconds"]}
    ours = results["ours, 2 processes"]
    print(f"{'':26s}" + "".join(f"  seed {s}: acc, cost vs ours, train s" for s in args.seeds))
    costs: dict[str, list[float]] = {}
    for name, by_seed in results.items():
        costs[name] = [ours[s]["test_accuracy"] - by_seed[s]["test_accuracy"] for s in args.seeds]
        cells = [
            f"  {by_seed[s]['test_accuracy']:6.1%} {c:+6.1%} {by_seed[s]['train_seconds']:5.1f} s"
            for s, c in zip(args.seeds, costs[name])
        ]
        print(f"{name:26s}" + "".join(f"{cell:33s}" for cell in cells))
    summary = {
        "dataset": args.dataset,
        "size": args.size,
        "epochs": args.epochs,
        "seeds": args.seeds,
        "runs": results,
        "mean_cost_vs_ours": {name: statistics.mean(c) for name, c in costs.items()},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
