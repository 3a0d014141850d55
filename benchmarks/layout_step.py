"""How much faster FlowerCNN's training step runs channels-last than contiguous, on this machine's CPU (or a GPU).

    .venv/bin/python benchmarks/layout_step.py                 # 64 and 96 px (mini's and the real profile's sizes)
    .venv/bin/python benchmarks/layout_step.py --sizes 64 128 --threads 2

One AdamW step on a batch of ``teams.STEP_BATCH`` random images, timed over
``--steps`` steps after three warm-up steps, in each memory layout. The
reason ``flowerkit.model.train`` picks the network's layout itself
(``model._train_layout``) instead of following the batches: notebook 04
races pipelines that deliver either layout, on one network. Seconds on 2
cores. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from flowerkit.device import pick_device
from flowerkit.model import FlowerCNN
from flowerkit.teams import STEP_BATCH

LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def ms_per_image(size: int, layout: torch.memory_format, steps: int, device: torch.device) -> float:
    """Milliseconds per image of one training step at ``size`` px with the network and batch in ``layout``."""
    torch.manual_seed(0)
    net = FlowerCNN().to(device, memory_format=layout)
    opt = torch.optim.AdamW(net.parameters())
    x = torch.randn(STEP_BATCH, 3, size, size, device=device).contiguous(memory_format=layout)
    y = torch.zeros(STEP_BATCH, dtype=torch.long, device=device)
    for i in range(steps + 3):
        if i == 3:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps / STEP_BATCH * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 96])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    p.add_argument("--device", default=None, help="default: flowerkit.device.pick_device()")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    rows = []
    for size in args.sizes:
        ms = {name: ms_per_image(size, layout, args.steps, device) for name, layout in LAYOUTS.items()}
        ratio = ms["contiguous"] / ms["channels_last"]
        print(f"{size:4d} px: contiguous {ms['contiguous']:.2f} ms/image, channels-last {ms['channels_last']:.2f}: {ratio:.2f}x")
        rows.append({"size": size, **{f"{k}_ms_per_image": round(v, 3) for k, v in ms.items()}, "ratio": round(ratio, 2)})
    print(json.dumps({"device": str(device), "threads": torch.get_num_threads(), "rows": rows}))


if __name__ == "__main__":
    main()
