"""Wall time of ``pose2instance evaluate`` over all COCO dev images (target: geodesic under 60 s).

    python benchmarks/bench_evaluate.py [--score oracle] [--workers 2]

Runs the evaluation in one process: the baseline alone (``oracle-box``), then
``oracle-box`` + ``geodesic`` (the paper's method), each with one worker process and with
``--workers`` (default: the cores), and prints the wall time of each, the ratios, whether
the parallel report equals the serial one, and the time per stage (image loading, person
score, each method; summed over the workers).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

from pose2instance.io import CocoPersons, json_safe
from pose2instance.evaluation import evaluate_dataset
from pose2instance.parallel import default_workers
from pose2instance.registry import make_methods
from pose2instance.registry import make_scorer

ANNOTATIONS = Path(os.environ.get("POSE2INSTANCE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) \
    / "coco_persons" / "annotations" / "person_keypoints_dev.json"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--score", default="oracle")
    ap.add_argument("--annotations", type=Path, default=ANNOTATIONS)
    ap.add_argument("--workers", type=int, default=default_workers())
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    dataset = CocoPersons(args.annotations)
    scorer = make_scorer(args.score)
    rows = []
    for methods in (["oracle-box"], ["oracle-box", "geodesic"]):
        for workers in (1, args.workers):
            t = time.perf_counter()
            report = evaluate_dataset(dataset, make_methods(methods), scorer, progress=False, workers=workers)
            rows.append((methods, workers, time.perf_counter() - t, report))
    print(f"{len(dataset.image_ids)} images of {args.annotations.name}, person score {scorer.name}\n")
    print("| methods | workers | wall s | ratio to the baseline, 1 worker | speed-up over 1 worker | "
          "same report as 1 worker | stages (s) |\n|---|---|---|---|---|---|---|")
    base = rows[0][2]
    for methods, workers, wall, report in rows:
        one = next(r for r in rows if r[0] == methods and r[1] == 1)
        same = json.dumps(json_safe(report["methods"])) == json.dumps(json_safe(one[3]["methods"]))
        stages = ", ".join(f"{k} {v:.2f}" for k, v in report["timing_s"].items())
        print(f"| {' + '.join(methods)} | {workers} | {wall:.1f} | {wall / base:.2f} | {one[2] / wall:.2f}x | "
              f"{same} | {stages} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
