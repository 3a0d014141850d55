"""Prediction benchmark: seconds per photo for app.Predictor.predict on a 500 px and a 12-megapixel JPEG.

    .venv/bin/python benchmarks/predict.py                       # an untrained model (timing does not depend on weights)
    .venv/bin/python benchmarks/predict.py --artifact app.pt     # a trained artifact

Both photos are made from the first mini-flowers test image: the 500 px one as it is stored (short side about 500),
the 12-megapixel one upscaled to 4000x3000 and saved at quality 90, as a phone would. Each is predicted ``--repeat``
times in one process (the model already loaded); the median is reported, with the whole CLI call
(``python -m flowerkit.app predict``, start-up included) for comparison. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flowerkit import OxfordFlowers102, dataset_root, load_rgb
from flowerkit.app import Predictor, make_artifact, save_artifact
from flowerkit.facts import DEFAULT_SIZE
from flowerkit.model import FlowerCNN


def median_seconds(predictor: Predictor, photo: Path, repeat: int) -> float:
    predictor.predict(photo)  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        predictor.predict(photo)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifact", type=Path, default=None, help="default: an untrained FlowerCNN at 64 px")
    p.add_argument("--repeat", type=int, default=20)
    args = p.parse_args()
    folder = Path(tempfile.mkdtemp())
    artifact = args.artifact
    if artifact is None:
        untrained = make_artifact(FlowerCNN(), size=DEFAULT_SIZE, stats=((0.5,) * 3, (0.25,) * 3), provenance={"dataset": "none"})
        artifact = save_artifact(untrained, folder / "untrained.pt")
    predictor = Predictor.load(artifact)
    source = OxfordFlowers102(dataset_root("mini", progress=False), "test").image_files[0]
    photos = {"500px": source}
    photos["12MP"] = folder / "phone-12mp.jpg"
    load_rgb(source).resize((4000, 3000)).save(photos["12MP"], quality=90)
    result = {}
    for name, photo in photos.items():
        per_photo = median_seconds(predictor, photo, args.repeat)
        start = time.perf_counter()
        cli = [sys.executable, "-m", "flowerkit.app", "predict", str(artifact), str(photo)]
        subprocess.run(cli, check=True, capture_output=True)
        result[name] = {"ms_per_photo": round(1000 * per_photo, 1), "cli_s": round(time.perf_counter() - start, 2)}
        print(
            f"{name}: {result[name]['ms_per_photo']} ms per photo in process; the CLI call {result[name]['cli_s']} s",
            file=sys.stderr,
        )
    print(json.dumps({"predict": result, "repeat": args.repeat}))


if __name__ == "__main__":
    main()
