"""Person detection and pipeline AP of the permissive pose estimator (BlazePose) against the AGPL one (YOLO11n-pose).

On one part of the COCO dev images, split by image id as ``pose2instance evaluate --held-out 0.4`` splits them
(:func:`~pose2instance.evaluation.split_image_ids` with fraction 0.4, seed 0): the 29 held-out images by default,
or with ``--part train`` the 46 others, the only ones options may be tuned on. For each estimator, run on the
whole image (no boxes given), one CPU thread each:

* **Detection recall and precision.** Ground truth: every non-crowd person with a non-empty mask, labelled
  keypoints or not. Matching rule: the estimated persons of an image, highest person score first, each take the
  still unmatched ground-truth person whose box has the highest IoU with theirs, if that IoU is >= 0.5 (COCO's
  greedy matching, on boxes). Recall = matched ground-truth persons / ground-truth persons, also by size (COCO
  ranges of the ground-truth mask area: small < 32^2, medium 32^2..96^2, large >= 96^2; the issue's target is a
  large recall >= 0.80) and by the number of labelled keypoints (v > 0). Precision = matched estimates / counted
  estimates; an unmatched estimate whose box lies at least half inside the image's crowd regions
  (``CocoPersons.crowd_mask``) is not counted, as COCOeval ignores detections that match a crowd region.
* **Mask AP of the default pipeline on the estimated people**: geodesic fusion with the learned person score,
  through :func:`~pose2instance.evaluation.evaluate_dataset` as ``pose2instance evaluate --keypoints estimated
  --estimator NAME --score learned --methods geodesic --held-out 0.4`` does it (pycocotools mask AP with the
  estimator's person scores; persons without labelled keypoints ignored). The people are the ones the estimator
  gave above (``keypoint_results``), so each estimator runs once per image.
* **Time**: median milliseconds of one estimator call per photo, after one warm-up call.

Prints one markdown table (a row per estimator) and the ratios BlazePose / YOLO. Run from the repository root::

    python benchmarks/estimator_recall.py [--part held-out|train]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from pose2instance.estimators import PoseEstimator, make_estimator
from pose2instance.evaluation import evaluate_dataset, evaluated_persons, markdown_table, split_image_ids
from pose2instance.io import CocoPersons
from pose2instance.registry import make_methods, make_scorer
from pose2instance.structures import Persons, box_iou, box_pixels

DATA = Path(os.environ.get("POSE2INSTANCE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
ANNOTATIONS = DATA / "coco_persons" / "annotations" / "person_keypoints_dev.json"
#: The estimators compared (permissive first) and their options: both on the CPU, one thread each.
OPTIONS = {"blazepose": {"num_threads": 1}, "yolo": {"device": "cpu"}}
MATCH_IOU = 0.5
#: COCO's size ranges of the mask area (pixels), lower bound included.
SIZES = {"small": (0, 32**2), "medium": (32**2, 96**2), "large": (96**2, np.inf)}
#: Ranges of the number of labelled keypoints, both bounds included.
LABELLED = {"0": (0, 0), "1-5": (1, 5), "6-11": (6, 11), "12-17": (12, 17)}


def match_by_score(boxes: np.ndarray, scores: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
    """``(N,)`` index of the ground-truth box each estimated box is matched to, -1 for none.

    Highest score first, each estimate takes the unmatched ground-truth box of highest IoU if it is >= ``MATCH_IOU``.
    """
    match = np.full(len(boxes), -1)
    if not len(boxes) or not len(gt_boxes):
        return match
    iou = box_iou(boxes, gt_boxes)
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        j = int(np.argmax(iou[i]))
        if iou[i, j] >= MATCH_IOU:
            match[i] = j
            iou[:, j] = -1.0
    return match


def mostly_in_crowd(boxes: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: at least half of the pixels of each XYXY box lie in the ``(H, W)`` bool crowd mask."""
    out = np.zeros(len(boxes), bool)
    for i, box in enumerate(boxes):
        pixels = crowd[box_pixels(box, crowd.shape)]
        out[i] = pixels.size > 0 and pixels.mean() >= 0.5
    return out


def detect(estimator: PoseEstimator, dataset: CocoPersons, ids: list[int]) -> tuple[dict[int, Persons], dict, int]:
    """Run ``estimator`` on the images ``ids``: its people per image, the detection numbers (estimate counts,
    precision, recalls) and the median milliseconds per call."""
    estimator(dataset.load_image(ids[0]))  # warm-up
    people, seconds, areas, labelled, found = {}, [], [], [], []
    total = ignored = matched = 0
    for image_id in ids:
        image = dataset.load_image(image_id)
        start = time.perf_counter()
        persons = people[image_id] = estimator(image)
        seconds.append(time.perf_counter() - start)
        gt = dataset.persons(image_id)
        gt = gt.subset(evaluated_persons(gt, "all"))
        match = match_by_score(persons.boxes, persons.scores, gt.boxes)
        total += len(persons)
        ignored += int(((match < 0) & mostly_in_crowd(persons.boxes, dataset.crowd_mask(image_id))).sum())
        matched += int((match >= 0).sum())
        areas += gt.masks.sum((1, 2)).tolist()
        labelled += (gt.keypoints[..., 2] > 0).sum(1).tolist()
        found += np.isin(np.arange(len(gt)), match).tolist()
    areas, labelled, found = np.array(areas), np.array(labelled), np.array(found, bool)

    def recall(keep: np.ndarray) -> float:
        return float(found[keep].mean()) if keep.any() else float("nan")
    out = {"estimates": total, "in crowd": ignored,
           "precision": matched / (total - ignored) if total > ignored else float("nan"),
           "recall": recall(np.ones(len(found), bool))}
    out |= {f"R {k} ({int(((areas >= lo) & (areas < hi)).sum())})": recall((areas >= lo) & (areas < hi))
            for k, (lo, hi) in SIZES.items()}
    out |= {f"R kp {k} ({int(((labelled >= lo) & (labelled <= hi)).sum())})":
            recall((labelled >= lo) & (labelled <= hi)) for k, (lo, hi) in LABELLED.items()}
    return people, out, int(round(1000 * float(np.median(seconds))))


def pipeline_ap(dataset: CocoPersons, ids: list[int], people: dict[int, Persons], name: str) -> dict:
    """Mask AP / AP50 of the geodesic fusion with the learned score on the given estimated people."""
    report = evaluate_dataset(dataset, make_methods(["geodesic"]), make_scorer("learned"), image_ids=ids,
                              progress=False, keypoint_results=people, keypoints_name=name)
    if report["failed"]:
        raise RuntimeError(f"{name}: images failed: {report['failed']}")
    geodesic = report["methods"]["geodesic"]
    return {"mask AP": geodesic["AP"], "mask AP50": geodesic["AP50"]}


def size_range(dataset: CocoPersons, ids: list[int]) -> str:
    """The smallest, median and largest image size (by pixels) of ``ids``, as ``H x W``."""
    sizes = sorted((dataset.image_size(i) for i in ids), key=lambda s: s[0] * s[1])
    return ", ".join(f"{k} {h}x{w}" for k, (h, w) in zip(("smallest", "median", "largest"),
                                                        (sizes[0], sizes[len(sizes) // 2], sizes[-1])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("held-out", "train"), default="held-out",
                        help="the held-out images (the table) or the training ones (the only ones to tune on)")
    args = parser.parse_args()
    dataset = CocoPersons(ANNOTATIONS)
    ids = split_image_ids(dataset.image_ids, 0.4, seed=0)[args.part == "held-out"]
    rows = {}
    for name in OPTIONS:
        estimator = make_estimator(name, **OPTIONS[name])
        if name == "yolo":  # YOLO imports torch: one thread, as BlazePose's interpreter
            import torch
            torch.set_num_threads(1)
        people, detection, ms = detect(estimator, dataset, ids)
        rows[name] = {**detection, **pipeline_ap(dataset, ids, people, name), "ms / photo": ms}
    columns = list(rows["blazepose"])
    print(f"\n{args.part} part of {ANNOTATIONS.name} (split_image_ids fraction 0.4, seed 0): {len(ids)} images "
          f"(H x W: {size_range(dataset, ids)}). R = recall at box IoU >= {MATCH_IOU} (greedy by score), in "
          "parentheses the number of ground-truth persons; mask AP: geodesic fusion, learned score.\n")
    print(markdown_table(rows, columns).replace("| method |", "| estimator |", 1))
    large = next(c for c in columns if c.startswith("R large"))
    for metric in ("recall", large, "mask AP"):
        base, agpl = rows["blazepose"][metric], rows["yolo"][metric]
        print(f"blazepose / yolo {metric}: {base / agpl if agpl else float('nan'):.3f}")
    print("targets (issue 19): blazepose large recall >= 0.80, mask AP ratio >= 0.80")


if __name__ == "__main__":
    main()
