"""The one dataset loop: any methods (training-free, baselines, learned) over a COCO person dataset.

:func:`evaluate_dataset` is what ``pose2instance evaluate`` and the training engine's
final evaluation call: for every image it finds the people (ground truth, an
estimator, or a keypoint file), computes the person score once (if any method needs
one), runs every method on the same people and score, pairs predictions with the
ground-truth persons, and finally writes the report (:mod:`.report`): ``metrics.json``
(every number per method, the IoU of every evaluated ground-truth annotation, the
relative improvements over the baseline, stage timings, the images that failed),
``results_<method>.json``, ``accuracy.png`` and ``table.md``.

One failing image is reported and skipped; the run goes on.

With ``workers > 1`` the images are predicted by that many processes
(:func:`pose2instance.parallel.ordered_map`: forked, so the methods, the score and the
estimator are shared without being pickled; one torch and one OpenCV thread each) and the
predictions are merged in image order, so every number of the report is the same as with
one process.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..io import CocoPersons
from ..parallel import effective_workers, ordered_map
from ..pipeline import MaskMethod
from ..structures import Persons
from .metrics import InstanceEvaluator, duplicate_annotations, evaluated_persons, relative_improvement
from .report import RELATIVE_COLUMNS, write_report

#: In the estimated-keypoint setting the box baselines use the estimator's boxes.
ESTIMATED_NAMES = {"box": "det-box", "oracle-box": "det-box-score", "oracle-box-nearest": "det-box-score-nearest"}


class _People:
    """Where the evaluated people of each image come from: the ground truth, an estimator or a keypoint file."""

    @classmethod
    def described(cls, estimated: bool, source: str) -> "_People":
        """Only the description of where the people came from (merging the shards of a run)."""
        people = cls()
        people.estimated, people.source = estimated, source
        return people

    def __init__(self, estimator=None, keypoint_results: Mapping[int, Persons] | None = None, name: str = ""):
        if estimator is not None and keypoint_results is not None:
            raise ValueError("give an estimator or keypoint results, not both")
        self.estimator, self.results = estimator, keypoint_results
        self.estimated = estimator is not None or keypoint_results is not None
        self.source = "ground truth" if not self.estimated else (
            estimator.name if estimator is not None else name or "keypoint results")

    def __call__(self, image_id: int, image, gt: Persons) -> Persons:
        if self.estimator is not None:
            return self.estimator(image)
        if self.results is not None:
            return self.results.get(image_id, Persons.empty(gt.image_size, "score"))
        return gt


def _predict_image(dataset: CocoPersons, image_id: int, methods: Sequence[MaskMethod], scorer,
                   people: _People, timing: dict) -> tuple[Persons, Persons, dict] | None:
    """``(ground truth, evaluated people, {method name: masks})`` of one image; None for an image to skip."""
    t = time.perf_counter()
    gt = dataset.persons(image_id)
    if not len(gt) and not people.estimated:
        return None
    dataset.crowd_mask(image_id)  # a crowd region that cannot be read fails this image, named, not pycocotools
    image = dataset.load_image(image_id)
    timing["load"] += time.perf_counter() - t
    t = time.perf_counter()
    persons = people(image_id, image, gt)
    if people.estimated:
        timing["keypoints"] += time.perf_counter() - t
    score = None
    if scorer is not None and any(m.needs_score for m in methods):
        t = time.perf_counter()
        score = scorer(image, gt if scorer.needs_masks else persons, dataset.image_path(image_id))
        timing["score"] += time.perf_counter() - t
    predictions = {}
    for m in methods:
        t = time.perf_counter()
        predictions[m.name] = m.predict(persons, score, image)
        timing[m.name] += time.perf_counter() - t
    return gt, persons, predictions


def _predict_or_fail(dataset, image_id, methods, scorer, people) -> tuple[int, tuple | None, dict | None, dict]:
    """``(image id, prediction or None, failure or None, stage times)``: one image, its error caught."""
    timing: dict[str, float] = defaultdict(float)
    try:
        return image_id, _predict_image(dataset, image_id, methods, scorer, people, timing), None, timing
    except Exception as e:  # one bad image must not end the run
        failure = {"image_id": int(image_id), "error": f"{type(e).__name__}: {e}",
                   "where": traceback.format_exc(limit=-1).strip().splitlines()[-2].strip()}
        return image_id, None, failure, timing


def evaluate_dataset(dataset: CocoPersons, methods: Sequence[MaskMethod], scorer=None,
                     out_dir: str | Path | None = None, subset: str = "keypoints", baseline: str = "oracle-box",
                     image_ids: list[int] | None = None, progress: bool = True, estimator=None,
                     keypoint_results: Mapping[int, Persons] | None = None, keypoints_name: str = "",
                     workers: int = 1, with_state: bool = False, ignore_duplicates: bool = False) -> dict:
    """Evaluate ``methods`` on ``dataset`` with person scores from ``scorer``.

    The people come from the ground truth (default: oracle keypoints and boxes, one
    prediction per person at score 1), from a
    :class:`~pose2instance.estimators.PoseEstimator` run on each image (``estimator``),
    or from keypoint results already read per image (``keypoint_results``, named
    ``keypoints_name``, e.g. :func:`pose2instance.io.load_people_per_image`). With
    estimated people the predictions carry the person scores and pycocotools matches
    them to the ground truth, images without ground truth are evaluated too (their
    detections are false positives), and the box baselines use the estimated boxes
    (reported as ``det-box``, ``det-box-score``, ``det-box-score-nearest``).

    Args:
        dataset: ground truth (non-crowd persons with masks, their boxes and keypoints).
        methods: built :class:`~pose2instance.pipeline.MaskMethod` objects, each used for every
            image (by name: :func:`pose2instance.registry.make_methods`).
        scorer: the person score source, a :class:`~pose2instance.scores.PersonScorer` (e.g.
            ``OracleScore()``); None if no method needs a score.
        out_dir: where to write the report files (nothing is written if None).
        subset: ``"keypoints"`` (persons with at least one labelled keypoint) or ``"all"``
            (see :func:`~pose2instance.evaluation.metrics.evaluated_persons`).
        baseline: the method relative improvements are computed against.
        image_ids: restrict to these images (default: all).
        progress: show a progress bar.
        estimator, keypoint_results, keypoints_name: where estimated people come from.
        workers: processes predicting images (see the module doc; 1 on systems without ``fork``).
        with_state: add ``"state"``: what :func:`merge_shards` needs to merge this run with others
            over other images into the report of one run over all of them.
        ignore_duplicates: leave both annotations of every ``duplicate_annotations`` pair out of the
            evaluation (like crowd regions: neither counted nor penalised); by default they are evaluated.

    Returns:
        ``{"methods": {name: metrics}, "relative": {name: {metric: gain}}, "timing_s": {...},
        "failed": [{"image_id", "error"}], "images": n, "score": scorer name, "subset": subset,
        "duplicate_annotations": [{"image_id", "ids", "iou"}] (evaluated ground-truth masks of one image with
        IoU >= :data:`~pose2instance.evaluation.metrics.DUPLICATE_IOU`: likely one person labelled twice),
        "keypoints": "ground truth" or where they came from, "per_instance_iou": {name: {annotation id: IoU}}}``.
    """
    built = list(methods)
    names = [m.name for m in built]
    if len(set(names)) < len(names):
        raise ValueError(f"methods must have distinct names, got {names}")
    if scorer is None and any(m.needs_score for m in built):
        raise ValueError(f"methods {[m.name for m in built if m.needs_score]} need a person score")
    people = _People(estimator, keypoint_results, keypoints_name)
    evaluators = {m.name: InstanceEvaluator(dataset.data, dataset.category_id) for m in built}
    timing: dict[str, float] = defaultdict(float)
    failed, duplicates, done = [], [], 0
    ids = dataset.image_ids if image_ids is None else list(image_ids)
    score_name = scorer.name if scorer is not None else "none"
    started = time.perf_counter()
    predictions_of = ordered_map(lambda i: _predict_or_fail(dataset, i, built, scorer, people), ids, workers)
    for image_id, out, failure, times in tqdm(predictions_of, total=len(ids), desc=f"evaluate ({score_name} score)",
                                              disable=not progress, unit="img"):
        for stage, seconds in times.items():
            timing[stage] += seconds
        if failure is not None:
            failed.append(failure)
            tqdm.write(f"image {image_id} failed and is skipped: {failure['error']}")
            continue
        if out is None:
            continue
        gt, persons, predictions = out
        in_subset = evaluated_persons(gt, subset)
        pairs = duplicate_annotations(gt.masks[in_subset], gt.ids[in_subset])
        duplicates += [{"image_id": int(image_id), **d} for d in pairs]
        if ignore_duplicates and pairs:
            in_subset &= ~np.isin(gt.ids, [a for d in pairs for a in d["ids"]])
        for name, masks in predictions.items():
            if people.estimated:
                evaluators[name].process_detections(image_id, gt.masks, gt.ids, in_subset, masks, persons.scores)
            else:
                evaluators[name].process(image_id, gt.masks, gt.ids, in_subset, masks)
        done += 1
    report = _summarise(evaluators, people, timing, failed, duplicates, done, score_name, subset, baseline)
    report["duplicates_ignored"] = ignore_duplicates
    report["workers"] = effective_workers(workers, len(ids))
    if with_state:
        report["state"] = {"estimated": people.estimated, "methods": {m: ev.state() for m, ev in evaluators.items()},
                           "annotations_sha256": annotation_fingerprint(dataset)}
    report["wall_s"] = round(time.perf_counter() - started, 3)  # timing_s sums the stages over the workers
    if out_dir is not None:
        names = {m.name: _reported_name(m.name, people) for m in built}
        write_report(report, {names[k]: ev for k, ev in evaluators.items()}, Path(out_dir), dataset.path.name)
    return report


def annotation_fingerprint(dataset: CocoPersons) -> str:
    """SHA-256 of the annotation file's bytes: shards of another file (or another version of it) are not merged."""
    digest = hashlib.sha256()
    with open(dataset.path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_shard(report: Any, dataset: CocoPersons, source: str, fingerprint: str) -> None:
    """Refuse a ``shard.json`` that is not one of ``evaluate --shard`` on this annotation file (whose
    :func:`annotation_fingerprint` is ``fingerprint``), or whose results were edited (an image not in the file,
    an RLE of another size), naming ``source``.

    Raises:
        ValueError: naming ``source`` and what is wrong.
    """
    def bad(why: str) -> ValueError:
        return ValueError(f"{source}: not a shard of `evaluate --shard` on {dataset.path.name}: {why}")
    if not isinstance(report, dict):
        raise bad(f"expected an object, got {type(report).__name__}")
    state = report.get("state")
    if not (isinstance(state, dict) and isinstance(state.get("methods"), dict) and state["methods"]
            and isinstance(report.get("timing_s"), dict) and isinstance(report.get("failed"), list)
            and isinstance(report.get("images"), int)):
        raise bad("missing or invalid 'state', 'timing_s', 'failed' or 'images'")
    recorded = state.get("annotations_sha256")
    if recorded != fingerprint:
        raise bad("it was evaluated on another annotation file" if recorded else "it records no annotation file")
    for method, records in state["methods"].items():
        if not isinstance(records, list):
            raise bad(f"method {method!r}: records must be a list")
        for r in records:
            if not (isinstance(r, dict) and isinstance(r.get("image_id"), int) and isinstance(r.get("results"), list)
                    and isinstance(r.get("gt_ids"), list) and isinstance(r.get("ious"), list)):
                raise bad(f"method {method!r}: a record without image_id, gt_ids, ious and results")
            if r["image_id"] not in dataset.images:
                raise bad(f"method {method!r}: image {r['image_id']} is not in {dataset.path.name}")
            size = list(dataset.image_size(r["image_id"]))
            for entry in r["results"]:
                segmentation = entry.get("segmentation") if isinstance(entry, dict) else None
                if not isinstance(segmentation, dict) or segmentation.get("size") != size:
                    raise bad(f"method {method!r}, image {r['image_id']}: a result whose mask is not of the "
                              f"image's size {size}")


def merge_shards(dataset: CocoPersons, shards: Sequence[dict], out_dir: str | Path | None = None,
                 baseline: str = "oracle-box", sources: Sequence[str] | None = None) -> dict:
    """The report of one run from the reports of runs over disjoint parts of the images (``with_state=True``).

    Every number is the one a single run over all those images (in ascending id order)
    gives: the per-image records are replayed in that order. Stage times are summed; the
    shards must have evaluated the same methods with the same score and people.
    """
    if not shards:
        raise ValueError("no shard to merge")
    fingerprint = annotation_fingerprint(dataset)
    for i, shard in enumerate(shards):  # each checked by check_shard, named by ``sources`` (default: its position)
        check_shard(shard, dataset, sources[i] if sources else f"shard {i}", fingerprint)
    parts = [r.get("shard") for r in shards]
    if all(parts):
        n = parts[0]["n"]
        got = sorted(p["k"] for p in parts)
        if any(p["n"] != n or p["selected_images"] != parts[0]["selected_images"] for p in parts):
            raise ValueError("the shards come from different runs (their K/N or image selections differ)")
        if len(set(got)) < len(got):
            raise ValueError(f"shards of {n}: some given twice: {got}")
        if got != list(range(n)):
            raise ValueError(f"shards of {n}: missing {sorted(set(range(n)) - set(got))}")
    first = shards[0]
    for key in ("score", "subset", "keypoints", "duplicates_ignored"):
        values = {str(r.get(key, False)) for r in shards}
        if len(values) > 1:
            raise ValueError(f"the shards differ in {key}: {sorted(values)}")
    methods = list(first["state"]["methods"])
    if any(list(r["state"]["methods"]) != methods for r in shards):
        raise ValueError("the shards evaluated different methods")
    evaluators = {m: InstanceEvaluator.from_states(dataset.data, dataset.category_id,
                                                   [r["state"]["methods"][m] for r in shards]) for m in methods}
    people = _People.described(first["state"]["estimated"], first["keypoints"])
    timing: dict[str, float] = defaultdict(float)
    raw = {_reported_name(m, people): m for m in methods}
    for r in shards:
        for stage, seconds in r["timing_s"].items():
            timing[raw.get(stage, stage)] += seconds
    failed = sorted((f for r in shards for f in r["failed"]), key=lambda f: f["image_id"])
    duplicates = sorted((d for r in shards for d in r.get("duplicate_annotations", [])), key=lambda d: d["image_id"])
    report = _summarise(evaluators, people, timing, failed, duplicates, sum(r["images"] for r in shards),
                        first["score"], first["subset"], baseline)
    report["duplicates_ignored"] = first.get("duplicates_ignored", False)
    report["shards"] = len(shards)
    if out_dir is not None:
        write_report(report, {_reported_name(m, people): ev for m, ev in evaluators.items()}, Path(out_dir),
                     dataset.path.name)
    return report


def _reported_name(name: str, people: _People) -> str:
    return ESTIMATED_NAMES.get(name, name) if people.estimated else name


def _summarise(evaluators: dict[str, InstanceEvaluator], people: _People, timing: dict, failed: list,
               duplicates: list, done: int, score_name: str, subset: str, baseline: str) -> dict:
    """The report dict of :func:`evaluate_dataset` from the evaluators."""
    names = {m: _reported_name(m, people) for m in evaluators}
    report = {"score": score_name, "subset": subset, "images": done, "failed": failed, "keypoints": people.source,
              "duplicate_annotations": duplicates,
              "methods": {names[m]: ev.evaluate() for m, ev in evaluators.items()},
              "timing_s": {names.get(k, k): round(v, 3) for k, v in timing.items()},
              "per_instance_iou": {names[m]: ev.per_instance for m, ev in evaluators.items()}}
    if baseline in names:
        report["baseline"] = names[baseline]
        base = report["methods"][names[baseline]]
        report["relative"] = {n: relative_improvement(v, base, RELATIVE_COLUMNS)
                              for n, v in report["methods"].items() if n != names[baseline]}
    return report
