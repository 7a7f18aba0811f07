"""Peak memory of the training-free pipeline per image, as the people and the image size grow.

    python benchmarks/bench_memory.py

For 1, 5, 20 and 50 people on a 640x480 and a 1920x1080 image (real COCO dev skeletons
and boxes, scaled to the image; a synthetic photo and person score), runs
``Pose2Instance.predict`` (Euclidean and geodesic, box limit on: fused box by box) once
and reports the peak of the memory allocated while it runs (``tracemalloc``, which sees
numpy's arrays; the interpreter and the libraries loaded before are not counted), and the
same for the full-image fusion (``Pose2Instance.__call__``, which also returns the
per-person maps). Issue target: under 500 MB for 50 people at 1920x1080.
"""

from __future__ import annotations

import os
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

from pose2instance.io import CocoPersons
from pose2instance.pipeline import Pose2Instance
from pose2instance.structures import Persons

DATA = Path(os.environ.get("POSE2INSTANCE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data"


def people(n: int, size: tuple[int, int]) -> Persons:
    """``n`` real skeletons from the dev images, scaled from their photo into ``size`` (H, W)."""
    root = DATA if (DATA / "coco_persons").is_dir() else FIXTURE
    ds = CocoPersons(root / "coco_persons" / "annotations" / "person_keypoints_dev.json")
    boxes, kps = [], []
    for image_id in ds.image_ids:
        h, w = ds.image_size(image_id)
        p = ds.persons(image_id, with_masks=False)
        scale = np.array([size[1] / w, size[0] / h], np.float32)
        for b, k in zip(p.boxes, p.keypoints):
            if (k[:, 2] > 0).sum() >= 5:
                boxes.append(b * np.tile(scale, 2))
                kp = k.copy()
                kp[:, :2] *= scale
                kps.append(kp)
    reps = -(-n // len(boxes))
    return Persons(np.tile(np.array(boxes), (reps, 1))[:n], np.tile(np.array(kps), (reps, 1, 1))[:n], size)


def main() -> int:
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    print("| image | people | euclidean peak MB | geodesic peak MB | full-image fusion, euclidean peak MB |\n"
          "|---|---|---|---|---|")
    for size in ((480, 640), (1080, 1920)):
        image = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
        score = rng.random(size, dtype=np.float32)
        for n in (1, 5, 20, 50):
            persons = people(n, size)
            row = []
            for prior, run in (("euclidean", "predict"), ("geodesic", "predict"), ("euclidean", "__call__")):
                model = Pose2Instance(prior)
                tracemalloc.start()
                getattr(model, run)(persons, score, image)
                row.append(tracemalloc.get_traced_memory()[1] / 2**20)
                tracemalloc.stop()
            print(f"| {size[1]}x{size[0]} | {n} | " + " | ".join(f"{v:.0f}" for v in row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
