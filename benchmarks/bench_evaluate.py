"""Wall time of ``pose2instance evaluate`` over all COCO dev images (target: geodesic under 60 s).

    python benchmarks/bench_evaluate.py [--score oracle]

Runs the evaluation twice in one process: the baseline alone (``oracle-box``),
then ``oracle-box`` + ``geodesic`` (the paper's method), and prints the wall time
of each, their ratio and the time per stage (image loading, person score, each method).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

from pose2instance.io import CocoPersons
from pose2instance.evaluation import evaluate_dataset
from pose2instance.registry import make_methods
from pose2instance.registry import make_scorer

ANNOTATIONS = Path(os.environ.get("POSE2INSTANCE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) \
    / "coco_persons" / "annotations" / "person_keypoints_dev.json"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--score", default="oracle")
    ap.add_argument("--annotations", type=Path, default=ANNOTATIONS)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    dataset = CocoPersons(args.annotations)
    scorer = make_scorer(args.score)
    rows = []
    for methods in (["oracle-box"], ["oracle-box", "geodesic"]):
        t = time.perf_counter()
        report = evaluate_dataset(dataset, make_methods(methods), scorer, progress=False)
        rows.append((methods, time.perf_counter() - t, report))
    print(f"{len(dataset.image_ids)} images of {args.annotations.name}, person score {scorer.name}\n")
    print("| methods | wall s | ratio to baseline run | stages (s) |\n|---|---|---|---|")
    base = rows[0][1]
    for methods, wall, report in rows:
        stages = ", ".join(f"{k} {v:.2f}" for k, v in report["timing_s"].items())
        print(f"| {' + '.join(methods)} | {wall:.1f} | {wall / base:.2f} | {stages} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
