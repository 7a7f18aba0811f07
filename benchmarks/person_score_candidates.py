"""Compare the offline MediaPipe person scores on the real COCO dev images.

For every image with at least one non-crowd person: the *person IoU* between
``score >= 0.5`` and the union of the ground-truth person masks, crowd pixels left
out of both; and the time of one scorer call (model already loaded and warmed up).
BlazePose runs on the ground-truth boxes. A second table checks BlazePose's landmarks
on the ground-truth boxes against the labelled COCO keypoints.

Run from the repository root::

    python benchmarks/person_score_candidates.py [--annotations FILE] [--limit N]

Prints markdown tables.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from pose2instance.io import CocoPersons
from pose2instance.layouts import to_coco17
from pose2instance.scores.mediapipe import BlazePoseMaskScore, SelfieScore

DATA = Path(os.environ.get("POSE2INSTANCE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DEFAULT_ANNOTATIONS = DATA / "coco_persons" / "annotations" / "person_keypoints_dev.json"


def person_iou(score: np.ndarray, gt: np.ndarray, ignore: np.ndarray) -> float:
    """IoU of ``score >= 0.5`` with the ``gt`` union mask over the pixels not in ``ignore``."""
    pred = (score >= 0.5) & ~ignore
    gt = gt & ~ignore
    union = np.count_nonzero(pred | gt)
    return np.count_nonzero(pred & gt) / union if union else 1.0


def candidates() -> dict[str, object]:
    """The scorers to compare, by the label printed in the table."""
    return {
        "selfie, plain resize": SelfieScore(),
        "selfie, letterbox": SelfieScore(letterbox=True),
        "selfie landscape (144x256), plain resize": SelfieScore(landscape=True),
        "blazepose per GT box, margin 1.0": BlazePoseMaskScore(margin=1.0),
        "blazepose per GT box, margin 1.25 (default)": BlazePoseMaskScore(margin=1.25),
        "blazepose per GT box, margin 1.5": BlazePoseMaskScore(margin=1.5),
        "blazepose per GT box, margin 1.75": BlazePoseMaskScore(margin=1.75),
        "blazepose per GT box, margin 2.0": BlazePoseMaskScore(margin=2.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotations", type=Path, default=DEFAULT_ANNOTATIONS)
    parser.add_argument("--limit", type=int, default=None, help="use the first N images only")
    args = parser.parse_args()

    ds = CocoPersons(args.annotations)
    scorers = candidates()
    ious: dict[str, list[float]] = {k: [] for k in scorers}
    times: dict[str, list[float]] = {k: [] for k in scorers}
    landmark_errors: list[float] = []  # distance / box side, one per labelled keypoint
    person_errors: list[float] = []  # median of the above, one per person
    warmed = False
    image_ids = [i for i in ds.image_ids if len(ds.persons(i, with_masks=False))][:args.limit]
    for image_id in image_ids:
        image, persons = ds.load_image(image_id), ds.persons(image_id)
        gt, ignore = persons.masks.any(0), ds.crowd_mask(image_id)
        for label, scorer in scorers.items():
            if not warmed:
                scorer(image, persons)
            start = time.perf_counter()
            score = scorer(image, persons)
            times[label].append(time.perf_counter() - start)
            ious[label].append(person_iou(score, gt, ignore))
        warmed = True
        blazepose = scorers["blazepose per GT box, margin 1.25 (default)"]
        for box, kp in zip(persons.boxes, persons.keypoints):
            labelled = kp[:, 2] > 0
            if not labelled.any():
                continue
            lm = blazepose.landmarks(image, box)
            coco = to_coco17(lm[None][..., [0, 1, 3]], "mediapipe33")[0]
            side = float(max(box[2] - box[0], box[3] - box[1]))
            d = np.linalg.norm(coco[labelled, :2] - kp[labelled, :2], axis=1) / side
            landmark_errors.extend(d.tolist())
            person_errors.append(float(np.median(d)))

    print(f"Person IoU (score >= 0.5 vs union of GT masks, crowd ignored) on {len(image_ids)} images "
          f"of {args.annotations.name}\n")
    print("| candidate | mean person IoU | median ms / image |")
    print("|---|---:|---:|")
    for label in scorers:
        print(f"| {label} | {np.mean(ious[label]):.3f} | {1e3 * np.median(times[label]):.1f} |")
    e, p = np.asarray(landmark_errors), np.asarray(person_errors)
    print("\nBlazePose landmarks (margin 1.25) on GT boxes vs labelled COCO keypoints, "
          "distance / max(box width, height)\n")
    print("| keypoints | persons | median (all keypoints) | median of per-person medians | "
          "persons with median < 0.10 |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {len(e)} | {len(p)} | {np.median(e):.3f} | {np.median(p):.3f} | {np.mean(p < 0.10):.0%} |")


if __name__ == "__main__":
    main()
