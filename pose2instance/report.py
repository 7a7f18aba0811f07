"""Run methods over a COCO person dataset and write the full report.

``evaluate_dataset`` is what ``pose2instance evaluate`` calls: for every image it
computes the person score once, runs every method on the same people and score,
pairs predictions with ground-truth persons, and finally writes

* ``metrics.json``: every number per method, the relative improvements over the
  baseline, stage timings, the images that failed (with the error);
* ``results_<method>.json``: COCO segmentation results (RLE) per method;
* ``accuracy.png``: accuracy versus IoU threshold, one curve per method;
* ``table.md``: the markdown tables that are also printed.

One failing image is reported and skipped; the run goes on.
"""

from __future__ import annotations

import json
import time
import traceback
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .coco import CocoPersons
from .evaluation import AP_NAMES, IOU_THRESHOLDS, InstanceEvaluator, markdown_table, relative_improvement
from .pipeline import METHODS, Pose2Instance, predict_masks
from .segmenters import PersonScorer
from .visualize import plot_accuracy_curves

ACC_COLUMNS = [f"acc@{t:g}" for t in IOU_THRESHOLDS]
TABLE_COLUMNS = ["count", "mean_iou", *ACC_COLUMNS, "AP", "AP50", "AP75"]


#: In the estimated-keypoint setting the box baselines use the estimator's boxes.
ESTIMATED_NAMES = {"box": "det-box", "oracle-box": "det-box-score", "oracle-box-nearest": "det-box-score-nearest"}


def evaluate_dataset(dataset: CocoPersons, methods: list[str], scorer: PersonScorer, out_dir: str | Path | None = None,
                     subset: str = "keypoints", baseline: str = "oracle-box", image_ids: list[int] | None = None,
                     method_kwargs: dict | None = None, progress: bool = True, estimator=None) -> dict:
    """Evaluate ``methods`` on ``dataset`` with person scores from ``scorer``.

    With ``estimator=None`` the people are the ground truth (oracle keypoints and
    boxes, one prediction per person at score 1). With a
    :class:`~pose2instance.estimators.PoseEstimator` they are what it finds in each
    image (boxes, keypoints and person scores), the predictions are matched to the
    ground truth by pycocotools, and the box baselines use the detected boxes
    (reported as ``det-box``, ``det-box-score``, ``det-box-score-nearest``).

    Args:
        dataset: ground truth (non-crowd persons with masks, their boxes and keypoints).
        methods: names from :data:`pose2instance.pipeline.METHODS`.
        scorer: the person score source (e.g. ``OracleScore()``).
        out_dir: where to write the report files (nothing is written if None).
        subset: ``"keypoints"`` (persons with at least one labelled keypoint) or ``"all"``.
        baseline: the method relative improvements are computed against.
        image_ids: restrict to these images (default: all).
        method_kwargs: extra ``Pose2Instance`` arguments for the prior methods.
        progress: show a progress bar.
        estimator: where the people come from (default: the ground truth).

    Returns:
        ``{"methods": {name: metrics}, "relative": {name: {metric: gain}}, "timing_s": {...},
        "failed": [{"image_id", "error"}], "images": n, "score": scorer.name, "subset": subset,
        "keypoints": "ground truth" or the estimator's name}``.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    if subset not in ("keypoints", "all"):
        raise ValueError(f"subset must be 'keypoints' or 'all', got {subset!r}")
    evaluators = {m: InstanceEvaluator(dataset.data, subset) for m in methods}
    models = {m: Pose2Instance(m, **(method_kwargs or {})) for m in methods if m in ("euclidean", "geodesic", "heatmap")}
    timing: dict[str, float] = defaultdict(float)
    failed = []
    ids = dataset.image_ids if image_ids is None else list(image_ids)
    done = 0
    for image_id in tqdm(ids, desc=f"evaluate ({scorer.name} score)", disable=not progress, unit="img"):
        try:
            t = time.perf_counter()
            gt = dataset.persons(image_id)
            image = dataset.load_image(image_id)
            timing["load"] += time.perf_counter() - t
            if not len(gt):
                continue
            persons = gt
            if estimator is not None:
                t = time.perf_counter()
                persons = estimator(image)
                timing["keypoints"] += time.perf_counter() - t
            t = time.perf_counter()
            score = scorer(image, gt if scorer.needs_masks else persons, dataset.image_path(image_id))
            timing["score"] += time.perf_counter() - t
            in_subset = (gt.keypoints[..., 2] > 0).any(1) if subset == "keypoints" else np.ones(len(gt), bool)
            predictions = {}
            for m in methods:
                t = time.perf_counter()
                predictions[m] = models[m](persons, score, image).masks if m in models else \
                    predict_masks(m, persons, score, image)
                timing[m] += time.perf_counter() - t
        except Exception as e:  # one bad image must not end the run
            failed.append({"image_id": int(image_id), "error": f"{type(e).__name__}: {e}",
                           "where": traceback.format_exc(limit=-1).strip().splitlines()[-2].strip()})
            tqdm.write(f"image {image_id} failed and is skipped: {type(e).__name__}: {e}")
            continue
        for m in methods:
            if estimator is None:
                evaluators[m].process(image_id, gt.masks, gt.ids, in_subset, predictions[m])
            else:
                evaluators[m].process_detections(image_id, gt.masks, gt.ids, in_subset, predictions[m], persons.scores)
        done += 1
    names = {m: ESTIMATED_NAMES.get(m, m) if estimator is not None else m for m in methods}
    report = {"score": scorer.name, "subset": subset, "images": done, "failed": failed,
              "keypoints": "ground truth" if estimator is None else estimator.name,
              "methods": {names[m]: ev.evaluate() for m, ev in evaluators.items()},
              "timing_s": {k: round(v, 3) for k, v in timing.items()}}
    if baseline in names:
        base = report["methods"][names[baseline]]
        report["relative"] = {n: relative_improvement(v, base, ["mean_iou", *ACC_COLUMNS, *AP_NAMES[:3]])
                              for n, v in report["methods"].items() if n != names[baseline]}
    if out_dir is not None:
        write_report(report, {names[m]: ev for m, ev in evaluators.items()}, Path(out_dir), dataset.path.name)
    return report


def format_tables(report: dict) -> str:
    """The report's markdown: absolute numbers, then relative gains over the baseline."""
    kp = report.get("keypoints", "ground truth")
    setting = "ground-truth keypoints and boxes" if kp == "ground truth" else \
        f"ESTIMATED keypoints and boxes ({kp}; IoU = best match per ground-truth person, AP with person scores)"
    title = (f"{report['images']} images, {report['subset']} persons, {setting}, person score: {report['score']}"
             + (f", {len(report['failed'])} image(s) failed" if report["failed"] else ""))
    text = f"**{title}**\n\n" + markdown_table(report["methods"], TABLE_COLUMNS)
    if report.get("relative"):
        cols = ["mean_iou", *ACC_COLUMNS, "AP", "AP50", "AP75"]
        text += "\nRelative improvement over the baseline:\n\n" + markdown_table(report["relative"], cols, percent=True)
    return text


def write_report(report: dict, evaluators: dict[str, InstanceEvaluator], out_dir: Path, dataset_name: str) -> None:
    """Write ``metrics.json``, ``results_<method>.json``, ``accuracy.png`` and ``table.md`` to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2))
    for m, ev in evaluators.items():
        (out_dir / f"results_{m}.json").write_text(json.dumps(ev.results))
    acc = {m: {t: v[f"acc@{t:g}"] for t in IOU_THRESHOLDS} for m, v in report["methods"].items()}
    plot_accuracy_curves(acc, out_dir / "accuracy.png",
                         f"{dataset_name}: {report['subset']} persons, keypoints: {report['keypoints']}, "
                         f"{report['score']} score")
    (out_dir / "table.md").write_text(format_tables(report))
