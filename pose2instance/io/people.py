"""From parsed keypoint values to :class:`~pose2instance.structures.Persons`: the one place every reader goes through.

* :func:`parse_keypoints`: a flat ``[x, y, c] * K`` list of any known layout
  (:mod:`pose2instance.layouts`: COCO-17, OpenPose 18/25, MediaPipe 33) -> ``(17, 3)``;
* :func:`estimated_persons`: ``(N, 17, 3)`` keypoints with confidences (any estimator)
  -> ``Persons(keypoint_kind="score")``, confidences clipped to ``[0, 1]`` once, with a
  warning, boxes from the keypoints where none are given.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import InputWarning
from ..layouts import LAYOUT_SIZES, detect_layout, to_coco17
from ..limits import LIMITS
from ..structures import NUM_KEYPOINTS, Persons, boxes_from_keypoints, check_box_near_image
from .jsonio import FormatError, number_list


def parse_keypoints(values: Any, what: str, layouts: tuple[str, ...] = tuple(LAYOUT_SIZES),
                    field: str = "keypoints") -> np.ndarray:
    """A flat keypoint list ``[x, y, c] * K`` -> ``(17, 3)`` float32 COCO-17.

    Args:
        values: the list (``K`` points of one of ``layouts``).
        what: names the file and entry in errors.
        layouts: the layouts accepted (default every known one; COCO annotations accept ``("coco17",)``).
        field: the field's name in errors.

    Raises:
        FormatError: not numbers, non-finite, or a point count of no accepted layout.
    """
    kp = number_list(values, field, what)
    sizes = {LAYOUT_SIZES[name]: name for name in layouts}
    if kp.size % 3 or kp.size // 3 not in sizes:
        expected = " or ".join(f"3 x {s} = {3 * s} ({name})" for s, name in sizes.items())
        raise FormatError(f"{what}: '{field}' has {kp.size} values; expected {expected}")
    layout = detect_layout(kp.size // 3)
    kp = kp.reshape(1, -1, 3).astype(np.float32)
    return kp[0] if layout == "coco17" else to_coco17(kp, layout)[0]


def estimated_persons(keypoints: np.ndarray, image_size: tuple[int, int], source: str,
                      boxes: np.ndarray | None = None, scores: np.ndarray | None = None) -> Persons:
    """Estimated people -> :class:`Persons` with ``keypoint_kind="score"``.

    Args:
        keypoints: ``(N, 17, 3)`` ``(x, y, confidence)`` in pixels. Confidences above 1
            (some estimators write raw heatmap peaks) or below 0 are clipped, with one warning.
        image_size: ``(H, W)``.
        source: names the file (and image) in warnings and errors.
        boxes: ``(N, 4)`` XYXY, NaN rows for people without a box (their box is the
            keypoints' extent plus a margin); None: all from the keypoints.
        scores: ``(N,)`` person scores; None: the mean confidence of the used keypoints.

    People with neither a keypoint of confidence > 0 nor a box are dropped with a warning;
    of more than ``LIMITS.max_people`` people, the highest-scoring ones are kept, with a warning.
    """
    kp = np.asarray(keypoints, np.float32).reshape(-1, NUM_KEYPOINTS, 3).copy()
    if ((kp[..., 2] > 1) | (kp[..., 2] < 0)).any():
        warnings.warn(f"{source}: keypoint confidences outside [0, 1] clipped", stacklevel=2)
        kp[..., 2] = np.clip(kp[..., 2], 0, 1)
    used = kp[..., 2] > 0
    given = np.zeros(len(kp), bool) if boxes is None else np.isfinite(np.asarray(boxes, np.float32)).all(1)
    if scores is None:
        scores = np.where(used.any(1), (kp[..., 2] * used).sum(1) / np.maximum(used.sum(1), 1), 0.0)
    keep = used.any(1) | given
    if not keep.all():
        warnings.warn(f"{source}: {int((~keep).sum())} person(s) with all-zero keypoint confidences and no box "
                      "skipped", stacklevel=2)
    if keep.sum() > LIMITS.max_people:
        warnings.warn(InputWarning(f"{source}: {int(keep.sum())} people; keeping the {LIMITS.max_people} with the "
                                   "highest scores", source, hint="limit", name="max_people", option="max-people"),
                      stacklevel=2)
        ranked = np.flatnonzero(keep)[np.argsort(-np.asarray(scores, np.float64)[keep], kind="stable")]
        keep = np.zeros_like(keep)
        keep[np.sort(ranked[:LIMITS.max_people])] = True
    all_boxes = boxes_from_keypoints(kp, used, image_size)
    if boxes is not None:
        all_boxes[given] = np.asarray(boxes, np.float32)[given]
        for i in np.flatnonzero(given & keep):
            check_box_near_image(all_boxes[i], image_size, f"{source}: person {i}")
    return Persons(all_boxes[keep], kp[keep], image_size, "score", scores=np.asarray(scores, np.float32)[keep],
                   source=source)
