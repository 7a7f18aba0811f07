"""End-to-end ``segment`` on a 640x480 photo with each pose estimator, per stage.

    python benchmarks/bench_segment.py [--repeats 5] [--estimators blazepose yolo]

For each estimator: median milliseconds of loading the image, estimating people
(detector + keypoints), the person score (BlazePose masks on the found boxes),
prior + fusion (geodesic and Euclidean), and writing results + overlay; the
baseline in the same run is ``segment`` with given ground-truth keypoints.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

from pose2instance.estimators import make_estimator
from pose2instance.io import CocoPersons, load_image, write_results
from pose2instance.registry import make_scorer
from pose2instance.segment import SegmentOptions, Segmenter
from pose2instance.visualize import draw_overlay, save_png

ANNOTATIONS = Path(os.environ.get("POSE2INSTANCE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) \
    / "coco_persons" / "annotations" / "person_keypoints_dev.json"


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, 1e3 * (time.perf_counter() - t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--estimators", nargs="+", default=["blazepose", "yolo"])
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    ds = CocoPersons(ANNOTATIONS)
    image_id = max((i for i in ds.image_ids if ds.image_size(i) == (480, 640)),
                   key=lambda i: len(ds.persons(i, with_masks=False)))
    path = ds.image_path(image_id)
    scorer = make_scorer("blazepose")
    segmenters = {prior: Segmenter(SegmentOptions(prior=prior), scorer) for prior in ("geodesic", "euclidean")}
    sources = {"ground truth": None}
    for name in args.estimators:
        try:
            sources[name] = make_estimator(name)
        except ImportError as e:
            print(f"skipping {name}: {e}")
    print(f"image {path.name} (640x480), median of {args.repeats} runs, ms\n")
    print("| keypoints | people | load | estimate | person score | geodesic prior+fusion | euclidean prior+fusion "
          "| write | total (geodesic) |\n|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as out:
        for name, estimator in sources.items():
            stages = {k: [] for k in ("load", "estimate", "score", "geodesic", "euclidean", "write")}
            for _ in range(args.repeats):
                image, t = timed(lambda: load_image(path))
                stages["load"].append(t)
                people, t = timed(lambda: ds.persons(image_id) if estimator is None else estimator(image))
                stages["estimate"].append(t)
                for prior, segmenter in segmenters.items():
                    done = segmenter.run(image, people, image_path=path, image_id=image_id)
                    stages[prior].append(done.timing_ms["prior + fusion"])
                    if prior == "geodesic":
                        stages["score"].append(done.timing_ms["person score"])
                        _, t = timed(lambda: (write_results(Path(out) / "results.json", done.entries),
                                              save_png(draw_overlay(image, done.masks, people),
                                                       Path(out) / "overlay.png")))
                        stages["write"].append(t)
            med = {k: statistics.median(v) for k, v in stages.items()}
            total = med["load"] + med["estimate"] + med["score"] + med["geodesic"] + med["write"]
            print(f"| {name} | {len(people)} | " + " | ".join(f"{med[k]:.0f}" for k in stages) + f" | {total:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
