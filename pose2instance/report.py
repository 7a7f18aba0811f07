"""Run methods over a COCO person dataset and write the full report.

``evaluate_dataset`` is what ``pose2instance evaluate`` calls: for every image it
computes the person score once, runs every method on the same people and score,
pairs predictions with ground-truth persons, and finally writes

* ``metrics.json``: every number per method, the IoU of every evaluated
  ground-truth annotation (``per_instance_iou``), the relative improvements over the
  baseline, stage timings, the images that failed (with the error); strict JSON
  (undefined numbers are ``null``);
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
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .coco import CocoPersons
from .evaluation import (AP_NAMES, IOU_THRESHOLDS, InstanceEvaluator, evaluated_persons, markdown_table,
                         relative_improvement)
from .pipeline import METHODS, predict_masks
from .segmenters import PersonScorer
from .structures import Persons
from .visualize import plot_accuracy_curves

ACC_COLUMNS = [f"acc@{t:g}" for t in IOU_THRESHOLDS]
TABLE_COLUMNS = ["count", "mean_iou", *ACC_COLUMNS, "AP", "AP50", "AP75"]


#: In the estimated-keypoint setting the box baselines use the estimator's boxes.
ESTIMATED_NAMES = {"box": "det-box", "oracle-box": "det-box-score", "oracle-box-nearest": "det-box-score-nearest"}


def evaluate_dataset(dataset: CocoPersons, methods: list[str], scorer: PersonScorer, out_dir: str | Path | None = None,
                     subset: str = "keypoints", baseline: str = "oracle-box", image_ids: list[int] | None = None,
                     method_kwargs: dict | None = None, progress: bool = True, estimator=None,
                     keypoint_results: Mapping[int, Persons] | None = None, keypoints_name: str = "") -> dict:
    """Evaluate ``methods`` on ``dataset`` with person scores from ``scorer``.

    The people come from the ground truth (default: oracle keypoints and boxes, one
    prediction per person at score 1), from a
    :class:`~pose2instance.estimators.PoseEstimator` run on each image (``estimator``),
    or from a keypoint results file already read with
    :func:`~pose2instance.coco.load_keypoint_results` (``keypoint_results``, named
    ``keypoints_name``). With estimated people the predictions carry the person scores
    and pycocotools matches them to the ground truth, images without ground truth are
    evaluated too (their detections are false positives), and the box baselines use the
    estimated boxes (reported as ``det-box``, ``det-box-score``, ``det-box-score-nearest``).

    Args:
        dataset: ground truth (non-crowd persons with masks, their boxes and keypoints).
        methods: names from :data:`pose2instance.pipeline.METHODS`.
        scorer: the person score source (e.g. ``OracleScore()``).
        out_dir: where to write the report files (nothing is written if None).
        subset: ``"keypoints"`` (persons with at least one labelled keypoint) or ``"all"``
            (see :func:`~pose2instance.evaluation.evaluated_persons`).
        baseline: the method relative improvements are computed against.
        image_ids: restrict to these images (default: all).
        method_kwargs: extra ``Pose2Instance`` arguments for the prior methods.
        progress: show a progress bar.
        estimator, keypoint_results, keypoints_name: where estimated people come from.

    Returns:
        ``{"methods": {name: metrics}, "relative": {name: {metric: gain}}, "timing_s": {...},
        "failed": [{"image_id", "error"}], "images": n, "score": scorer.name, "subset": subset,
        "keypoints": "ground truth" or where they came from, "per_instance_iou": {name: {annotation id: IoU}}}``.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    if estimator is not None and keypoint_results is not None:
        raise ValueError("give an estimator or keypoint results, not both")
    estimated = estimator is not None or keypoint_results is not None
    source = "ground truth" if not estimated else (estimator.name if estimator is not None else
                                                   keypoints_name or "keypoint results")
    evaluators = {m: InstanceEvaluator(dataset.data, dataset.category_id) for m in methods}
    timing: dict[str, float] = defaultdict(float)
    failed = []
    ids = dataset.image_ids if image_ids is None else list(image_ids)
    done = 0
    for image_id in tqdm(ids, desc=f"evaluate ({scorer.name} score)", disable=not progress, unit="img"):
        try:
            t = time.perf_counter()
            gt = dataset.persons(image_id)
            if not len(gt) and not estimated:
                continue
            image = dataset.load_image(image_id)
            timing["load"] += time.perf_counter() - t
            persons = gt
            if estimated:
                t = time.perf_counter()
                persons = estimator(image) if estimator is not None else \
                    keypoint_results.get(image_id, Persons.empty(gt.image_size, "score"))
                timing["keypoints"] += time.perf_counter() - t
            t = time.perf_counter()
            score = scorer(image, gt if scorer.needs_masks else persons, dataset.image_path(image_id))
            timing["score"] += time.perf_counter() - t
            in_subset = evaluated_persons(gt, subset)
            predictions = {}
            for m in methods:
                t = time.perf_counter()
                predictions[m] = predict_masks(m, persons, score, image, **(method_kwargs or {}))
                timing[m] += time.perf_counter() - t
        except Exception as e:  # one bad image must not end the run
            failed.append({"image_id": int(image_id), "error": f"{type(e).__name__}: {e}",
                           "where": traceback.format_exc(limit=-1).strip().splitlines()[-2].strip()})
            tqdm.write(f"image {image_id} failed and is skipped: {type(e).__name__}: {e}")
            continue
        for m in methods:
            if estimated:
                evaluators[m].process_detections(image_id, gt.masks, gt.ids, in_subset, predictions[m], persons.scores)
            else:
                evaluators[m].process(image_id, gt.masks, gt.ids, in_subset, predictions[m])
        done += 1
    names = {m: ESTIMATED_NAMES.get(m, m) if estimated else m for m in methods}
    report = {"score": scorer.name, "subset": subset, "images": done, "failed": failed, "keypoints": source,
              "methods": {names[m]: ev.evaluate() for m, ev in evaluators.items()},
              "timing_s": {names.get(k, k): round(v, 3) for k, v in timing.items()},
              "per_instance_iou": {names[m]: ev.per_instance for m, ev in evaluators.items()}}
    if baseline in names:
        report["baseline"] = names[baseline]
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
    if all(m["count"] == 0 for m in report["methods"].values()):
        text += ("\nWARNING: no person was evaluated"
                 + (" (no person has keypoints: try --subset all)" if report["subset"] == "keypoints" else "") + "\n")
    errors = {n: m["ap_error"] for n, m in report["methods"].items() if "ap_error" in m}
    for name, error in errors.items():
        text += f"\nWARNING: COCO AP of {name} could not be computed: {error}\n"
    if report.get("relative"):
        cols = ["mean_iou", *ACC_COLUMNS, "AP", "AP50", "AP75"]
        text += (f"\nRelative improvement over {report['baseline']}:\n\n"
                 + markdown_table(report["relative"], cols, percent=True))
    return text


def _json_safe(value):
    """NaN and infinities -> None (``null``), recursively, so the file is strict JSON."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_report(report: dict, evaluators: dict[str, InstanceEvaluator], out_dir: Path, dataset_name: str) -> None:
    """Write ``metrics.json``, ``results_<method>.json``, ``accuracy.png`` and ``table.md`` to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(_json_safe(report), indent=2, allow_nan=False))
    for m, ev in evaluators.items():
        (out_dir / f"results_{m}.json").write_text(json.dumps(ev.results))
    acc = {m: {t: v[f"acc@{t:g}"] for t in IOU_THRESHOLDS} for m, v in report["methods"].items()}
    plot_accuracy_curves(acc, out_dir / "accuracy.png",
                         f"{dataset_name}: {report['subset']} persons, keypoints: {report['keypoints']}, "
                         f"{report['score']} score")
    (out_dir / "table.md").write_text(format_tables(report))
