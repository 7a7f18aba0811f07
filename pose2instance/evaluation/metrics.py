"""Metrics: per-instance IoU, accuracy at IoU thresholds, COCO segmentation AP, relative gains.

Protocol (docs/results.md). Ground truth is the non-crowd persons;
crowd regions are ignored as COCOeval ignores them. The persons evaluated are
those with at least one labelled keypoint (``subset="keypoints"``, the paper's
data) or all non-crowd persons (``subset="all"``); the others are marked as crowd
(ignored) for COCO AP. Results carry no ``bbox`` (size ranges then use the mask area).

* Oracle keypoints (:meth:`InstanceEvaluator.process`): prediction ``i`` belongs to
  ground-truth person ``i``; the per-instance IoU is ``IoU(prediction_i, gt_i)`` in
  full image coordinates and every prediction has score 1.
* Estimated keypoints (:meth:`InstanceEvaluator.process_detections`): predictions
  carry the estimator's person scores and pycocotools matches them to the ground
  truth (real detection-style AP); the per-instance IoU of a ground-truth person is
  its IoU with the best-overlapping prediction (0 if none), so accuracy at ``t`` is
  the recall at mask IoU ``t``.
"""

from __future__ import annotations

import contextlib
import copy
import io
from dataclasses import dataclass, field

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ..io import masks_to_rles, results_entries
from ..io.rle import checked_segmentation

IOU_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
AP_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl")
#: Two ground-truth masks of one image overlapping at least this much are taken as one person labelled twice.
DUPLICATE_IOU = 0.8


def evaluated_persons(persons, subset: str = "keypoints") -> np.ndarray:
    """``(N,)`` bool: which ground-truth persons are evaluated.

    ``subset="keypoints"``: persons with at least one labelled keypoint; ``"all"``:
    every (non-crowd) person. Persons whose ground-truth mask is empty (an annotation
    without a usable ``segmentation``) are never evaluated: no IoU is defined for them.
    """
    if subset not in ("keypoints", "all"):
        raise ValueError(f"subset must be 'keypoints' or 'all', got {subset!r}")
    keep = (persons.keypoints[..., 2] > 0).any(1) if subset == "keypoints" else np.ones(len(persons), bool)
    if persons.masks is not None:
        keep &= persons.masks.any(axis=(1, 2))
    return keep


def paired_iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU of ``pred[i]`` with ``gt[i]``: ``(N, H, W)`` bool each -> ``(N,)`` float64 (1 where both are empty)."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction masks {pred.shape} and ground truth {gt.shape} differ in shape")
    pixels = int(np.prod(pred.shape[1:]))
    pred, gt = pred.reshape(len(pred), pixels), gt.reshape(len(gt), pixels)
    inter = (pred & gt).sum(1)
    union = (pred | gt).sum(1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def iou_table(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every mask of ``a`` ``(N, H, W)`` with every mask of ``b`` ``(M, H, W)`` (bool): ``(N, M)`` float64,
    through run-length encodings (pycocotools)."""
    from pycocotools import mask as mask_utils
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    table = mask_utils.iou(masks_to_rles(np.asarray(a, bool)), masks_to_rles(np.asarray(b, bool)), [0] * len(b))
    return np.asarray(table, np.float64).reshape(len(a), len(b))


def matched_iou(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each predicted mask's IoU with the ground-truth mask it is matched to, one to one.

    For people that are not the ground truth's (an estimator's): the matching maximises the summed
    IoU (Hungarian), pairs with IoU 0 count as unmatched.

    Args:
        pred: ``(N, H, W)`` bool; gt: ``(M, H, W)`` bool.

    Returns:
        ``(iou, match)``: ``(N,)`` float64 IoU (0 for an unmatched prediction) and ``(N,)`` int64 index of the
        matched ground-truth mask (-1 for none).
    """
    from scipy.optimize import linear_sum_assignment

    iou, match = np.zeros(len(pred)), np.full(len(pred), -1, np.int64)
    if not len(pred) or not len(gt):
        return iou, match
    table = iou_table(pred, gt)
    rows, cols = linear_sum_assignment(-table)
    hit = table[rows, cols] > 0
    iou[rows[hit]], match[rows[hit]] = table[rows[hit], cols[hit]], cols[hit]
    return iou, match


def duplicate_annotations(masks: np.ndarray, ids: np.ndarray, min_iou: float = DUPLICATE_IOU) -> list[dict]:
    """Pairs of ground-truth masks of one image that overlap so much they are likely the same person.

    Disjoint-mask methods (the fusion, the network's exclusive masks) can match only one of such a
    pair, while the ``oracle-box`` baseline, whose masks may overlap, can match both.

    Args:
        masks: ``(N, H, W)`` bool ground-truth masks; ids: ``(N,)`` their annotation ids.

    Returns:
        ``[{"ids": [a, b], "iou": float}]``, one entry per pair with mask IoU ``>= min_iou``.
    """
    if len(masks) < 2:
        return []
    table = iou_table(masks, masks)
    rows, cols = np.nonzero(np.triu(table >= min_iou, k=1))
    return [{"ids": [int(ids[a]), int(ids[b])], "iou": round(float(table[a, b]), 4)} for a, b in zip(rows, cols)]


def accuracy_at(ious: np.ndarray, thresholds=IOU_THRESHOLDS) -> dict[float, float]:
    """Fraction of instances with IoU >= t, for each t."""
    ious = np.asarray(ious, float)
    return {t: float((ious >= t).mean()) if ious.size else float("nan") for t in thresholds}


def summarize_ious(ious: np.ndarray) -> dict:
    """``{"count", "mean_iou", "acc@0.5", ..., "acc@0.9"}`` for a vector of per-instance IoUs."""
    ious = np.asarray(ious, float)
    out = {"count": int(ious.size), "mean_iou": float(ious.mean()) if ious.size else float("nan")}
    out.update({f"acc@{t:g}": v for t, v in accuracy_at(ious).items()})
    return out


def coco_segm_ap(gt_dataset: dict, results: list[dict], image_ids: list[int] | None = None,
                 use_bbox: bool = False, category_id: int = 1) -> dict[str, float]:
    """COCO segmentation AP for the person category with pycocotools.

    Args:
        gt_dataset: a COCO annotation dict (``images``, ``annotations``, ``categories``).
        results: ``[{"image_id", "category_id", "segmentation" (RLE), "score"}]``.
        image_ids: images to evaluate (default: all images of ``gt_dataset``).
        use_bbox: keep ``bbox`` fields in the results (default strips them, see module doc).
        category_id: the person category's id in ``gt_dataset``.

    Returns:
        ``{"AP", "AP50", "AP75", "APs", "APm", "APl"}`` in [0, 1]; NaN where undefined
        (no ground truth in a size range: pycocotools' -1; or ``image_ids`` empty), 0
        when there are images but no results.
    """
    gt = COCO()
    gt.dataset = copy.deepcopy(gt_dataset)
    gt.dataset.setdefault("categories", [{"id": category_id, "name": "person"}])
    if image_ids is not None and not len(image_ids):
        return {k: float("nan") for k in AP_NAMES}  # nothing was evaluated
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        if not results:
            return {k: 0.0 for k in AP_NAMES}
        res = [{k: v for k, v in r.items() if use_bbox or k != "bbox"} for r in results]
        dt = gt.loadRes(res)
        ev = COCOeval(gt, dt, iouType="segm")
        ev.params.catIds = [category_id]
        ev.params.imgIds = sorted(image_ids if image_ids is not None else gt.getImgIds())
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {name: float(v) if v >= 0 else float("nan") for name, v in zip(AP_NAMES, ev.stats[:6])}


@dataclass
class InstanceEvaluator:
    """Collects predictions of one method image by image, then computes every metric.

    ``reset`` / ``process`` / ``evaluate`` as detectron2's evaluators. ``gt_dataset``
    is the COCO annotation dict the ground truth comes from (for COCO AP) and
    ``category_id`` its person category. ``per_instance`` maps every evaluated
    ground-truth annotation id to its IoU.
    """

    gt_dataset: dict
    category_id: int = 1
    ious: list[float] = field(default_factory=list)
    per_instance: dict[int, float] = field(default_factory=dict)
    results: list[dict] = field(default_factory=list)
    evaluated_ids: set[int] = field(default_factory=set)
    #: per image, in order: ``(image id, evaluated annotation ids, their IoUs, number of results entries)``
    records: list[tuple[int, list[int], list[float], int]] = field(default_factory=list)

    @property
    def image_ids(self) -> list[int]:
        """The images processed, in order."""
        return [r[0] for r in self.records]

    def reset(self) -> None:
        self.ious, self.per_instance, self.results, self.evaluated_ids, self.records = [], {}, [], set(), []

    def state(self) -> list[dict]:
        """JSON-ready per-image records (annotation ids, IoUs, COCO results entries), in processing order:
        what :meth:`from_states` needs to rebuild this evaluator, e.g. from the shards of a distributed run."""
        out, start = [], 0
        for image_id, gt_ids, ious, n in self.records:
            out.append({"image_id": image_id, "gt_ids": gt_ids, "ious": ious, "results": self.results[start:start + n]})
            start += n
        return out

    @classmethod
    def from_states(cls, gt_dataset: dict, category_id: int, states: list[list[dict]]) -> "InstanceEvaluator":
        """One evaluator from the :meth:`state` of several (each image once), images in ascending id order:
        the order of a single run over the sorted ids, so every metric is the same as that run's."""
        ev = cls(gt_dataset, category_id)
        records = sorted((r for state in states for r in state), key=lambda r: r["image_id"])
        seen = [r["image_id"] for r in records]
        if len(set(seen)) < len(seen):
            raise ValueError("an image is in more than one shard")
        for r in records:
            ev.results += r["results"]
            ev._add(r["image_id"], np.asarray(r["gt_ids"], np.int64), np.asarray(r["ious"], np.float64),
                    len(r["results"]))
        return ev

    def process(self, image_id: int, gt_masks: np.ndarray, gt_ids: np.ndarray, in_subset: np.ndarray,
                pred_masks: np.ndarray, pred_scores: np.ndarray | None = None) -> np.ndarray:
        """Add one image whose predictions are paired with ground-truth persons (oracle keypoints).

        Args:
            gt_masks: ``(N, H, W)`` bool ground-truth masks of the non-crowd persons.
            gt_ids: ``(N,)`` their annotation ids.
            in_subset: ``(N,)`` bool, persons that are evaluated.
            pred_masks: ``(N, H, W)`` bool, prediction ``i`` for person ``i``.
            pred_scores: ``(N,)`` confidence per prediction (default 1).

        Returns:
            ``(n,)`` IoUs of the evaluated persons of this image.
        """
        in_subset = np.asarray(in_subset, bool)
        ious = paired_iou(pred_masks[in_subset], gt_masks[in_subset])
        scores = np.ones(len(pred_masks)) if pred_scores is None else np.asarray(pred_scores, float)
        entries = results_entries(image_id, pred_masks[in_subset], scores[in_subset], self.category_id)
        self.results += entries
        self._add(image_id, np.asarray(gt_ids)[in_subset], ious, len(entries))
        return ious

    def _add(self, image_id: int, gt_ids: np.ndarray, ious: np.ndarray, results: int) -> None:
        self.ious.extend(ious.tolist())
        self.per_instance.update({int(a): float(v) for a, v in zip(gt_ids, ious)})
        self.evaluated_ids.update(int(x) for x in gt_ids)
        self.records.append((int(image_id), [int(x) for x in gt_ids], [float(v) for v in ious], results))

    def process_detections(self, image_id: int, gt_masks: np.ndarray, gt_ids: np.ndarray, in_subset: np.ndarray,
                           pred_masks: np.ndarray, pred_scores: np.ndarray) -> np.ndarray:
        """Add one image whose predictions are not paired with ground truth (estimated keypoints).

        Args:
            gt_masks: ``(N, H, W)`` bool ground-truth masks of the non-crowd persons.
            gt_ids: ``(N,)`` their annotation ids.
            in_subset: ``(N,)`` bool, persons that are evaluated.
            pred_masks: ``(M, H, W)`` bool predicted masks.
            pred_scores: ``(M,)`` person confidences (used for ranking by COCOeval).

        Returns:
            ``(n,)`` best-match IoU of each evaluated ground-truth person.
        """
        in_subset = np.asarray(in_subset, bool)
        gt_masks = np.asarray(gt_masks, bool)
        pixels = int(np.prod(gt_masks.shape[1:]))
        gt = gt_masks[in_subset].reshape(int(in_subset.sum()), pixels)
        pred = np.asarray(pred_masks, bool).reshape(len(pred_masks), pixels)
        if len(pred) and len(gt):
            inter = gt.astype(np.float32) @ pred.T.astype(np.float32)
            union = gt.sum(1)[:, None] + pred.sum(1)[None, :] - inter
            ious = (inter / np.maximum(union, 1)).max(1)
        else:
            ious = np.zeros(len(gt))
        entries = results_entries(image_id, pred_masks, pred_scores, self.category_id)
        self.results += entries
        self._add(image_id, np.asarray(gt_ids)[in_subset], ious, len(entries))
        return ious

    def evaluate(self) -> dict:
        """``summarize_ious`` of every evaluated person plus COCO segmentation AP.

        If pycocotools fails (e.g. ground truth without usable masks), the AP fields are
        NaN and ``"ap_error"`` says why; the IoU numbers are kept.
        """
        out = summarize_ious(self.ious)
        try:
            out.update(coco_segm_ap(self._gt_for_ap(), self.results, self.image_ids, category_id=self.category_id))
        except Exception as e:  # pycocotools raises bare IndexError/KeyError/AssertionError on odd input
            out.update({k: float("nan") for k in AP_NAMES})
            out["ap_error"] = f"{type(e).__name__}: {e}"
        return out

    def _gt_for_ap(self) -> dict:
        """The ground truth of the evaluated images, for pycocotools: every segmentation checked
        (:func:`~pose2instance.io.rle.checked_segmentation`: pycocotools crashes on a NaN or huge polygon
        coordinate, a crowd region's too), the persons outside the evaluated subset turned into ignored crowd."""
        evaluated = set(self.image_ids)
        images = [im for im in self.gt_dataset["images"] if int(im["id"]) in evaluated]
        sizes = {int(im["id"]): (int(im["height"]), int(im["width"])) for im in images}
        anns = []
        for a in self.gt_dataset["annotations"]:
            image_id = int(a["image_id"])
            if a.get("category_id", self.category_id) != self.category_id or image_id not in evaluated:
                continue
            try:
                segmentation = checked_segmentation(a.get("segmentation", []), *sizes[image_id])
            except ValueError as e:
                raise ValueError(f"annotation id {a.get('id')} (image {image_id}): bad 'segmentation': {e}") from None
            crowd = 1 if a.get("iscrowd", 0) or int(a["id"]) not in self.evaluated_ids else 0
            anns.append(dict(a, segmentation=segmentation, iscrowd=crowd))
        return {**{k: v for k, v in self.gt_dataset.items() if k not in ("annotations", "images")},
                "images": images, "annotations": anns}


def relative_improvement(metrics: dict, baseline: dict, keys=None) -> dict:
    """``(m - b) / b`` for every numeric key both share (or ``keys``); NaN where ``b`` is 0 or either is undefined."""
    keys = keys or [k for k in metrics if k != "count" and isinstance(metrics[k], float) and k in baseline]

    def gain(m, b):
        return (m - b) / b if b and np.isfinite(m) and np.isfinite(b) else float("nan")
    return {k: gain(metrics.get(k, float("nan")), baseline.get(k, float("nan"))) for k in keys}
