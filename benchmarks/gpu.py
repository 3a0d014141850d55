"""GPU measurements: pinned vs pageable copies, whether non_blocking overlaps the copy with compute, GPU JPEG decoding.

    .venv/bin/python benchmarks/gpu.py                 # 96 px batches of 64 (the real profile's size)
    .venv/bin/python benchmarks/gpu.py --size 64 --images 2048

Without a CUDA GPU it says so and prints {"cuda": false} (exit 0): nothing here can be measured on a CPU.

1. copy: one batch (64, 3, S, S) host -> GPU, uint8 and float32, from pageable and from pinned memory (median of 50
   synchronised copies): the bytes a choice moves and the bus speed each gets.
2. overlap: the course's FlowerCNN training step on the GPU, each step fed a fresh batch copied from the host:
   pageable + blocking copy; pinned + non_blocking on the same stream; pinned + non_blocking on a side stream
   (the next batch copied while this one computes). On one stream CUDA runs the copy and the kernels in order, so
   non_blocking frees the Python thread but does not overlap the copy with compute; a side stream does.
3. decode: torchvision.io.decode_jpeg on the GPU (nvJPEG) for batches of JPEG bytes, then a resize on the GPU, vs
   flowerkit's CPU decoder (libjpeg-turbo with M/8 scaling when simplejpeg is installed) in one process.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
import torchvision
from torchvision.io import decode_jpeg
from torchvision.transforms.v2 import functional as TF

from flowerkit import OxfordFlowers102, dataset_root
from flowerkit.load import decode_resized, jpeg_decoder
from flowerkit.model import FlowerCNN


def timed(fn: Callable[[], object], repeat: int, sync: bool = True) -> float:
    """Median seconds of ``fn`` over ``repeat`` calls after two warm-ups, the GPU synchronised around each."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeat):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def copies(batch: int, size: int) -> dict[str, float]:
    """Milliseconds and GB/s of one host -> GPU batch copy, per dtype and memory kind."""
    out: dict[str, float] = {}
    for dtype in (torch.uint8, torch.float32):
        host = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8).to(dtype)
        pinned = host.pin_memory()
        name = str(dtype).removeprefix("torch.")
        for kind, src in (("pageable", host), ("pinned", pinned)):
            s = timed(lambda src=src: src.to("cuda", non_blocking=True), 50)
            out[f"{name}_{kind}_ms"] = round(1000 * s, 3)
            out[f"{name}_{kind}_gb_s"] = round(src.numel() * src.element_size() / s / 1e9, 2)
        out[f"{name}_mb"] = round(host.numel() * host.element_size() / 1e6, 3)
    return out


def _step_fn(batch: int, size: int) -> Callable[[torch.Tensor], None]:
    model = FlowerCNN().cuda().to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    y = torch.randint(0, 102, (batch,), device="cuda")

    def step(x: torch.Tensor) -> None:
        x = x.float().div_(255).contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def overlap(batch: int, size: int, steps: int = 60) -> dict[str, float]:
    """Milliseconds per training step fed from the host: blocking, non_blocking on one stream, on a side stream."""
    step = _step_fn(batch, size)
    host = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8).float()  # float32: the copy worth hiding
    pinned, resident = host.pin_memory(), host.cuda()
    side = torch.cuda.Stream()

    def loop_compute() -> None:
        for _ in range(steps):
            step(resident)

    def loop_blocking() -> None:
        for _ in range(steps):
            step(host.to("cuda"))

    def loop_same_stream() -> None:
        for _ in range(steps):
            step(pinned.to("cuda", non_blocking=True))

    def loop_side_stream() -> None:
        with torch.cuda.stream(side):
            nxt = pinned.to("cuda", non_blocking=True)
        for _ in range(steps):
            torch.cuda.current_stream().wait_stream(side)
            x = nxt
            x.record_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                nxt = pinned.to("cuda", non_blocking=True)
            step(x)

    out = {
        name: round(1000 * timed(fn, 5) / steps, 3)
        for name, fn in (
            ("compute_only_ms", loop_compute),
            ("pageable_blocking_ms", loop_blocking),
            ("pinned_non_blocking_same_stream_ms", loop_same_stream),
            ("pinned_non_blocking_side_stream_ms", loop_side_stream),
        )
    }
    return out


def _gpu_resize(images: list[torch.Tensor], size: int) -> torch.Tensor:
    """Centre-crop each decoded image to a square, resize it to ``size`` (antialiased), stack: on the GPU."""
    out = []
    for im in images:
        h, w = im.shape[-2:]
        s = min(h, w)
        crop = im[:, (h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
        out.append(TF.resize(crop, [size, size], antialias=True))
    return torch.stack(out)


def decoding(files: list, batch: int, size: int) -> dict[str, float]:
    """Images/s: nvJPEG batch decode (+ GPU crop/resize) vs the CPU decoder flowerkit uses, one process."""
    blobs = [torchvision.io.read_file(str(f)) for f in files]
    batches = [blobs[i : i + batch] for i in range(0, len(blobs), batch)]

    def gpu_decode() -> None:
        for b in batches:
            decode_jpeg(b, device="cuda")

    def gpu_decode_resize() -> None:
        for b in batches:
            _gpu_resize(decode_jpeg(b, device="cuda"), size)

    def cpu_decode() -> None:
        for f in files:
            decode_resized(f, size)

    n = len(files)
    return {
        "gpu_decode_img_s": round(n / timed(gpu_decode, 3), 1),
        "gpu_decode_resize_img_s": round(n / timed(gpu_decode_resize, 3), 1),
        "cpu_decode_resize_1_process_img_s": round(n / timed(cpu_decode, 1, sync=False), 1),
        "cpu_decoder": jpeg_decoder(),
        "images": n,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--images", type=int, default=1024, help="JPEGs of the test split to decode")
    p.add_argument("--dataset", default="mini", choices=["mini", "real"])
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU here: benchmarks/gpu.py measures nothing on a CPU", file=sys.stderr)
        print(json.dumps({"cuda": False}))
        return
    files = OxfordFlowers102(dataset_root(args.dataset, progress=False), "test").image_files[: args.images]
    out = {"cuda": True, "gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "size": args.size}
    out |= {"batch_size": args.batch_size, "copy": copies(args.batch_size, args.size)}
    out["overlap"] = overlap(args.batch_size, args.size)
    out["decode"] = decoding(files, args.batch_size, args.size)
    for key in ("copy", "overlap", "decode"):
        print(f"{key}: {out[key]}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
