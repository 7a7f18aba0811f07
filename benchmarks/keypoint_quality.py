"""Keypoint quality of the pose estimators on the real COCO dev images.

For each estimator, twice: with the estimator's own person detection (``detected``) and
with the ground-truth boxes of all non-crowd persons (``GT``). Reported:

* COCO keypoint AP, AP50 and AR (pycocotools, ``iouType="keypoints"``; persons without
  labelled keypoints are ignored as COCOeval does);
* recall (``detected`` only): the fraction of ground-truth persons with keypoints that a
  predicted box matches with IoU >= 0.5 (greedy one-to-one matching, best IoU first);
* the median time of one estimator call per image (models loaded and warmed up).

Run from the repository root::

    python benchmarks/keypoint_quality.py [--estimators blazepose yolo] [--annotations FILE] [--limit N]

Prints a markdown table. An estimator that cannot be built (missing package or weights)
is skipped with a message.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import os
import time
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from pose2instance.io import CocoPersons
from pose2instance.estimators import ESTIMATORS, PoseEstimator, make_estimator
from pose2instance.structures import Persons, box_iou

DATA = Path(os.environ.get("POSE2INSTANCE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DEFAULT_ANNOTATIONS = DATA / "coco_persons" / "annotations" / "person_keypoints_dev.json"


def to_results(image_id: int, persons: Persons) -> list[dict]:
    """COCO keypoint results ``[{image_id, category_id, keypoints, score}]`` of one image's persons."""
    return [{"image_id": int(image_id), "category_id": 1, "keypoints": kp.astype(float).ravel().round(2).tolist(),
             "score": float(s)} for kp, s in zip(persons.keypoints, persons.scores)]


def coco_keypoint_ap(dataset: dict, results: list[dict], image_ids: list[int]) -> dict[str, float]:
    """``{"AP", "AP50", "AR"}`` of keypoint ``results`` against the ``dataset`` dict (quietly)."""
    if not results:
        return {"AP": 0.0, "AP50": 0.0, "AR": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(dataset)
        gt.createIndex()
        dt = gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(gt, dt, iouType="keypoints")
        ev.params.imgIds = list(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"AP": float(ev.stats[0]), "AP50": float(ev.stats[1]), "AR": float(ev.stats[5])}


def matched(gt_boxes: np.ndarray, pred_boxes: np.ndarray, threshold: float = 0.5) -> int:
    """How many ground-truth boxes a one-to-one greedy matching (best IoU first) pairs at IoU >= ``threshold``."""
    if not len(gt_boxes) or not len(pred_boxes):
        return 0
    iou = box_iou(gt_boxes, pred_boxes)
    count = 0
    while True:
        g, p = np.unravel_index(np.argmax(iou), iou.shape)
        if iou[g, p] < threshold:
            return count
        count += 1
        iou[g, :] = -1.0
        iou[:, p] = -1.0


def evaluate(estimator: PoseEstimator, coco: CocoPersons, gt_boxes: bool, limit: int | None = None) -> dict:
    """Run ``estimator`` on the images of ``coco``; AP/AP50/AR, recall and median ms per image."""
    image_ids = coco.image_ids[:limit]
    results, times, found, total = [], [], 0, 0
    estimator(coco.load_image(image_ids[0]))  # warm-up
    for image_id in image_ids:
        image = coco.load_image(image_id)
        gt = coco.persons(image_id, with_masks=False)
        start = time.perf_counter()
        persons = estimator(image, gt.boxes if gt_boxes else None)
        times.append(time.perf_counter() - start)
        results += to_results(image_id, persons)
        labelled = gt.boxes[(gt.keypoints[..., 2] > 0).any(1)]
        total += len(labelled)
        found += matched(labelled, persons.boxes)
    out = coco_keypoint_ap(coco.data, results, image_ids)
    out["recall"] = found / max(total, 1)
    out["ms"] = 1000 * float(np.median(times))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--estimators", nargs="+", default=["blazepose"], choices=ESTIMATORS)
    parser.add_argument("--annotations", type=Path, default=DEFAULT_ANNOTATIONS)
    parser.add_argument("--limit", type=int, default=None, help="use the first N images only")
    args = parser.parse_args()
    coco = CocoPersons(args.annotations)
    rows = []
    for name in args.estimators:
        try:
            estimator = make_estimator(name)
        except (ImportError, OSError, RuntimeError) as e:
            print(f"skipping {name}: {e}")
            continue
        for gt_boxes in (False, True):
            m = evaluate(estimator, coco, gt_boxes, args.limit)
            recall = "-" if gt_boxes else f"{m['recall']:.3f}"
            rows.append(f"| {name} | {'GT' if gt_boxes else 'detected'} | {m['AP']:.3f} | {m['AP50']:.3f} | "
                        f"{m['AR']:.3f} | {recall} | {m['ms']:.0f} |")
    print(f"\n{len(coco.image_ids[:args.limit])} images of {args.annotations.name}\n")
    print("| estimator | boxes | keypoint AP | AP50 | AR | recall | median ms / image |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
