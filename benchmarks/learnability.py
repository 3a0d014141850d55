"""Is mini-flowers learnable? Train the shared CNN on the correct pipeline and report test accuracy.

Reproduces the learnability figure of the foundation issue:

    .venv/bin/python benchmarks/learnability.py            # 64 px, 60 s training budget
    .venv/bin/python benchmarks/learnability.py --grayscale  # the same, with colour thrown away

Images are decoded once (PIL draft + aspect-preserving resize + centre crop)
into uint8 tensors; training then runs on those with random flips and
crops, normalised with the train split's statistics. The last line printed
is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils.data import DataLoader

from flowerkit import OxfordFlowers102, dataset_root
from flowerkit.facts import DEFAULT_SIZE
from flowerkit.model import FlowerCNN, TrainConfig, evaluate, train
from flowerkit.transform import _resize_crop


def decode(root, split, size):
    loader = DataLoader(OxfordFlowers102(root, split, transform=_resize_crop(size), draft=size), batch_size=64, num_workers=2)
    xs, ys = zip(*loader)
    return torch.cat(xs), torch.cat(ys)


GRAY_WEIGHTS = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601 luma, as PIL's convert("L")


class Batches:
    """Shuffled, augmented, normalised float batches from uint8 tensors (seeded)."""

    def __init__(self, x, y, mean, std, batch_size=64, augment=False, seed=0, grayscale=False):
        self.x, self.y, self.bs, self.augment = x, y, batch_size, augment
        self.mean, self.std, self.grayscale = mean.view(1, 3, 1, 1), std.view(1, 3, 1, 1), grayscale
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self):
        return (len(self.y) + self.bs - 1) // self.bs

    def __iter__(self):
        order = torch.randperm(len(self.y), generator=self.gen) if self.augment else torch.arange(len(self.y))
        for i in range(0, len(order), self.bs):
            idx = order[i : i + self.bs]
            x = self.x[idx].float().div_(255)
            if self.grayscale:
                x = (x * GRAY_WEIGHTS.view(1, 3, 1, 1)).sum(1, keepdim=True).repeat(1, 3, 1, 1)
            if self.augment:
                flip = torch.rand(len(idx), generator=self.gen) < 0.5
                x[flip] = x[flip].flip(-1)
                pad = 6
                xp = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="replicate")
                dx, dy = torch.randint(0, 2 * pad + 1, (2,), generator=self.gen).tolist()
                x = xp[..., dy : dy + x.shape[-2], dx : dx + x.shape[-1]]
            yield (x - self.mean) / self.std, self.y[idx]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=DEFAULT_SIZE)
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--max-seconds", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grayscale", action="store_true")
    p.add_argument("--dataset", default="mini", choices=["mini", "real"])
    args = p.parse_args()

    torch.manual_seed(args.seed)
    root = dataset_root(args.dataset)
    t0 = time.perf_counter()
    xtr, ytr = decode(root, "train", args.size)
    xte, yte = decode(root, "test", args.size)
    decode_s = time.perf_counter() - t0
    mean = xtr.float().div(255).mean((0, 2, 3))
    std = xtr.float().div(255).std((0, 2, 3))
    if args.grayscale:  # the gray images' own statistics, so that their batches are normalised as the colour ones are
        gray = (xtr.float().div(255) * GRAY_WEIGHTS.view(1, 3, 1, 1)).sum(1)
        mean, std = gray.mean().expand(3), gray.std().expand(3)
    train_b = Batches(xtr, ytr, mean, std, augment=True, seed=args.seed, grayscale=args.grayscale)
    test_b = Batches(xte, yte, mean, std, grayscale=args.grayscale)
    model = FlowerCNN()
    cfg = TrainConfig(epochs=args.epochs, seed=args.seed)
    hist = train(model, train_b, cfg, max_seconds=args.max_seconds, progress=False)
    acc = evaluate(model, test_b)
    print(f"decode {len(ytr) + len(yte)} images: {decode_s:.1f} s")
    for i, (loss, a, s) in enumerate(zip(hist.loss, hist.train_acc, hist.seconds), 1):
        print(f"epoch {i:2d}  loss {loss:.3f}  train acc {a:.3f}  {s:.2f} s")
    print(f"test accuracy {acc:.3f} on {len(yte)} images after {hist.total_seconds:.1f} s of training ({len(hist.loss)} epochs)")
    print(
        json.dumps(
            {
                "size": args.size,
                "grayscale": args.grayscale,
                "test_acc": round(acc, 4),
                "train_seconds": round(hist.total_seconds, 1),
                "epochs": len(hist.loss),
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
