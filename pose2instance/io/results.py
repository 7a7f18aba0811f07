"""COCO results lists: keypoint results of any pose estimator in, detection boxes in, segmentation results out.

* :func:`read_keypoint_results`: ``[{"image_id", "keypoints": [x, y, c] * K, "score",
  optional "bbox" (XYWH)}]`` -> ``{image_id: Persons}`` (``K`` = 17, 18, 25 or 33);
* :func:`read_detection_boxes`: ``[{"image_id", "bbox", optional "category_id"}]`` -> the
  person boxes of one image;
* :func:`results_entries` / :func:`write_results`: the one writer of COCO segmentation
  results (``segment``, ``evaluate`` and the learned models all use it).
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..structures import Persons, xywh_to_xyxy
from .jsonio import FormatError, atomic_write_text, integer_field, number_list, read_json, require_fields, xywh_box
from .people import estimated_persons, parse_keypoints
from .rle import mask_to_rle

#: COCO's id of the person category, used when a file does not name its own.
PERSON_CATEGORY_ID = 1


def load_keypoint_results(path: str | Path, image_sizes: Mapping[int, tuple[int, int]],
                          unknown_images: str = "error", min_person_score: float = 0.0) -> dict[int, Persons]:
    """Read a COCO keypoint results file (any pose estimator's output); see :func:`read_keypoint_results`."""
    return read_keypoint_results(read_json(path), Path(path), image_sizes, unknown_images, min_person_score)


def read_keypoint_results(data: Any, path: Path, image_sizes: Mapping[int, tuple[int, int]],
                          unknown_images: str = "error", min_person_score: float = 0.0) -> dict[int, Persons]:
    """The people of a parsed COCO keypoint results list, per image.

    Per-keypoint values are confidences; values above 1 are clipped to 1 with a
    warning. Without ``bbox`` the box is the keypoints' extent plus a margin.

    Args:
        data: the parsed JSON of ``path``.
        path: the file (named in errors).
        image_sizes: ``{image_id: (H, W)}`` of the images the results refer to.
        unknown_images: ``"error"`` (default), ``"skip"`` (with a warning) or
            ``"ignore"`` (silently) for results whose ``image_id`` is not in ``image_sizes``.
        min_person_score: drop people with a lower person ``score``.

    Returns:
        ``{image_id: Persons}`` with ``keypoint_kind="score"`` and person scores (1 when absent).
        People whose keypoint confidences are all zero are kept (their prior falls back
        to the box) if they have a ``bbox``, and dropped with a warning otherwise.
    """
    if isinstance(data, Mapping) and "annotations" in data:
        raise FormatError(f"{path}: this is a COCO annotation file, not a results list; load it with CocoPersons")
    if not isinstance(data, list):
        raise FormatError(f"{path}: expected a JSON list of keypoint results")
    per_image: dict[int, list[tuple[np.ndarray, float, np.ndarray]]] = defaultdict(list)
    skipped = clipped = 0
    for i, r in enumerate(data):
        what = f"{path}: [{i}]"
        require_fields(r, ("image_id", "keypoints"), what)
        image_id = integer_field(r, "image_id", what)
        if image_id not in image_sizes:
            if unknown_images in ("skip", "ignore"):
                skipped += unknown_images == "skip"
                continue
            raise FormatError(f"{what}: image_id {image_id} is not among the {len(image_sizes)} known images")
        kp = parse_keypoints(r["keypoints"], what)
        if ((kp[:, 2] > 1) | (kp[:, 2] < 0)).any():
            clipped += 1
            kp[:, 2] = np.clip(kp[:, 2], 0, 1)
        score = float(number_list(r.get("score", 1.0), "score", what, 1)[0])
        if score < min_person_score:
            continue
        box = np.full(4, np.nan, np.float32)
        if r.get("bbox") is not None:
            box = xywh_to_xyxy(xywh_box(r["bbox"], what, positive=True))[0]
        per_image[image_id].append((kp, score, box))
    if skipped:
        warnings.warn(f"{path}: skipped {skipped} result(s) for images not in the annotations")
    if clipped:
        warnings.warn(f"{path}: {clipped} result(s) had keypoint confidences outside [0, 1] clipped")
    out = {}
    for image_id, people in per_image.items():
        persons = estimated_persons(np.stack([p[0] for p in people]), tuple(image_sizes[image_id]),
                                    f"{path.name} image {image_id}", boxes=np.stack([p[2] for p in people]),
                                    scores=np.array([p[1] for p in people], np.float32))
        if len(persons):
            out[image_id] = persons
    return out


def result_image_ids(data: list, path: Path) -> list[int]:
    """The sorted distinct ``image_id`` values of a parsed results list (errors name the entry)."""
    ids = set()
    for i, r in enumerate(data):
        require_fields(r, ("image_id",), f"{path}: [{i}]")
        ids.add(integer_field(r, "image_id", f"{path}: [{i}]"))
    return sorted(ids)


def read_detection_boxes(data: list, path: Path, image_id: int) -> np.ndarray:
    """Person boxes of ``image_id`` in a parsed detection results list: ``(M, 4)`` float32 XYXY.

    Entries of another ``category_id`` than the person's (1) are skipped.

    Raises:
        FormatError: a bad entry (named), or no person box for the image.
    """
    boxes = []
    for i, r in enumerate(data):
        what = f"{path}: [{i}]"
        require_fields(r, ("image_id", "bbox"), what)
        if integer_field(r, "image_id", what) != image_id:
            continue
        if "category_id" in r and integer_field(r, "category_id", what) != PERSON_CATEGORY_ID:
            continue
        boxes.append(xywh_box(r["bbox"], what, positive=True))
    if not boxes:
        raise FormatError(f"{path}: no person box for image_id {image_id}")
    return xywh_to_xyxy(np.array(boxes))


def results_entries(image_id: int, masks: np.ndarray, scores: np.ndarray | None = None,
                    category_id: int = PERSON_CATEGORY_ID, keypoints: np.ndarray | None = None,
                    with_box: bool = False) -> list[dict]:
    """COCO segmentation results of one image: one entry per mask.

    Args:
        image_id: the image.
        masks: ``(N, H, W)`` bool.
        scores: ``(N,)`` person confidences (default 1).
        category_id: the person category's id in the ground-truth file.
        keypoints: optional ``(N, 17, 3)`` to store with each mask (rounded to 0.01).
        with_box: add ``bbox`` (XYWH of the mask's pixels, zeros for an empty mask) and ``area``.

    Returns:
        ``[{"image_id", "category_id", "segmentation" (compressed RLE), "score", ...}]``.
    """
    scores = np.ones(len(masks)) if scores is None else np.asarray(scores, float)
    out = []
    for i, mask in enumerate(masks):
        entry = {"image_id": int(image_id), "category_id": int(category_id), "segmentation": mask_to_rle(mask),
                 "score": float(scores[i])}
        if with_box:
            ys, xs = np.nonzero(mask)
            entry["bbox"] = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                             int(ys.max() - ys.min() + 1)] if xs.size else [0, 0, 0, 0]
            entry["area"] = int(mask.sum())
        if keypoints is not None:
            entry["keypoints"] = np.asarray(keypoints[i], float).ravel().round(2).tolist()
        out.append(entry)
    return out


def write_results(path: str | Path, entries: list[dict]) -> Path:
    """Write a COCO results list atomically (compact JSON)."""
    return atomic_write_text(path, json.dumps(entries))
