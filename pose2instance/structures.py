"""People in one image: boxes, COCO-17 keypoints, optional masks.

Conventions (used everywhere in the package):

* Pixel coordinates: x to the right, y down, the centre of pixel ``(row, col)`` is
  at ``(x=col, y=row)``.
* Boxes are stored as ``XYXY`` float32 ``(x0, y0, x1, y1)``; COCO files use
  ``XYWH`` and are converted on load (:func:`xywh_to_xyxy`).
* Keypoints are ``(N, 17, 3)`` float32 ``(x, y, c)`` in COCO-17 order. ``c`` is a
  COCO visibility flag (0 not labelled, 1 labelled but occluded, 2 visible) when
  ``keypoint_kind == "visibility"``, or a confidence in ``[0, 1]`` when
  ``keypoint_kind == "score"`` (estimated keypoints).
* Masks are boolean ``(N, H, W)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

KeypointKind = Literal["visibility", "score"]

COCO_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
NUM_KEYPOINTS = len(COCO_KEYPOINT_NAMES)

#: The 19 limbs of the COCO person skeleton, 0-based keypoint index pairs
#: (the ``skeleton`` field of the COCO person category, minus one).
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
    (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4),
    (3, 5), (4, 6),
)
NUM_LIMBS = len(COCO_SKELETON)

#: Index permutation that mirrors a COCO-17 keypoint array left <-> right.
COCO_FLIP_INDEX: tuple[int, ...] = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """``(N, 4)`` XYWH -> ``(N, 4)`` XYXY, float32."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    b[:, 2:] += b[:, :2]
    return b


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """``(N, 4)`` XYXY -> ``(N, 4)`` XYWH, float32."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    b[:, 2:] -= b[:, :2]
    return b


def check_box_near_image(box_xyxy, image_size: tuple[int, int], what: str) -> None:
    """Refuse a box read from a file that reaches more than one image size outside the image (it would make
    crops of hundreds of millions of pixels); ``what`` names the file and person.

    Raises:
        ValueError: naming ``what``, the box and the image size.
    """
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    h, w = image_size
    if x0 < -w or y0 < -h or x1 > 2 * w or y1 > 2 * h:
        raise ValueError(f"{what}: box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] (XYXY) reaches more than one image size "
                         f"outside the {w}x{h} image")


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every pair of XYXY boxes: ``(M, 4)`` x ``(K, 4)`` -> ``(M, K)`` float64."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def box_pixels(box: np.ndarray, image_size: tuple[int, int]) -> tuple[slice, slice]:
    """Row and column slices of the pixels an XYXY box touches: columns ``floor(x0)..ceil(x1)-1``."""
    h, w = image_size
    x0, y0 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
    x1, y1 = min(int(np.ceil(box[2])), w), min(int(np.ceil(box[3])), h)
    return slice(y0, max(y1, y0)), slice(x0, max(x1, x0))


def grow_box(box: np.ndarray, factor: float) -> np.ndarray:
    """An XYXY box scaled by ``factor`` about its centre (each side separately), float64."""
    box = np.asarray(box, np.float64)
    centre, half = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]) * factor / 2
    return np.r_[centre - half, centre + half]


def boxes_from_keypoints(keypoints: np.ndarray, usable: np.ndarray, image_size: tuple[int, int],
                         margin: float = 0.15) -> np.ndarray:
    """Boxes around the usable keypoints of each person, grown by ``margin``.

    Args:
        keypoints: ``(N, 17, 3)`` keypoints, pixel coordinates.
        usable: ``(N, 17)`` bool, which keypoints count.
        image_size: ``(H, W)``; boxes are clipped to the image's extent ``[0, W] x [0, H]``.
        margin: fraction of the box size added on every side (at least 8 px).

    Returns:
        ``(N, 4)`` float32 XYXY. A person with no usable keypoint, or whose keypoints all
        lie outside the image, gets the whole image.
    """
    h, w = image_size
    out = np.tile(np.array([0, 0, w, h], np.float32), (len(keypoints), 1))
    for i, (kp, ok) in enumerate(zip(keypoints, usable)):
        if not ok.any():
            continue
        xy = kp[ok, :2]
        lo, hi = xy.min(0), xy.max(0)
        pad = np.maximum((hi - lo) * margin, 8.0)
        box = np.r_[np.maximum(lo - pad, 0), np.minimum(hi + pad, [w, h])]
        if box[2] > box[0] and box[3] > box[1]:  # keypoints all outside the image keep the whole image
            out[i] = box
    return out


@dataclass
class Persons:
    """The people of one image.

    Attributes:
        boxes: ``(N, 4)`` float32 XYXY boxes in pixels.
        keypoints: ``(N, 17, 3)`` float32 ``(x, y, c)``; see ``keypoint_kind``.
        image_size: ``(H, W)`` of the image the people live in.
        keypoint_kind: ``"visibility"`` (COCO flags 0/1/2) or ``"score"`` (confidence in [0, 1]).
        scores: ``(N,)`` float32 person scores (1 for ground truth).
        masks: optional ``(N, H, W)`` bool instance masks (ground truth).
        ids: ``(N,)`` int64 identifiers (COCO annotation ids, or 0..N-1).
        heatmaps: optional ``(N, 17, h, w)`` float32 keypoint probabilities from an
            estimator, COCO-17 order; heatmap cell ``(r, c)`` of person ``i`` covers the
            image region ``heatmap_boxes[i]`` (XYXY) split into ``h x w`` equal cells.
        heatmap_boxes: ``(N, 4)`` float32 XYXY, required with ``heatmaps``.

    Keypoints are checked on construction: a wrong shape raises ``ValueError``;
    NaN/inf coordinates and coordinates farther than half the image size outside
    the image are *repaired* by marking that keypoint as missing (``c = 0``), with a
    warning naming the person and keypoint; a NaN box or a box of non-positive
    size raises ``ValueError`` naming the person.
    """

    boxes: np.ndarray
    keypoints: np.ndarray
    image_size: tuple[int, int]
    keypoint_kind: KeypointKind = "visibility"
    scores: np.ndarray | None = None
    masks: np.ndarray | None = None
    ids: np.ndarray | None = None
    heatmaps: np.ndarray | None = field(default=None, repr=False)
    heatmap_boxes: np.ndarray | None = None
    source: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        where = f" ({self.source})" if self.source else ""
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
        if self.image_size[0] <= 0 or self.image_size[1] <= 0:
            raise ValueError(f"image_size must be positive (H, W), got {self.image_size}{where}")
        if self.keypoint_kind not in ("visibility", "score"):
            raise ValueError(f"keypoint_kind must be 'visibility' or 'score', got {self.keypoint_kind!r}")
        kp = np.asarray(self.keypoints, dtype=np.float32)
        if kp.size == 0:
            kp = kp.reshape(0, NUM_KEYPOINTS, 3)
        if kp.ndim != 3 or kp.shape[1:] != (NUM_KEYPOINTS, 3):
            raise ValueError(f"keypoints must have shape (N, {NUM_KEYPOINTS}, 3), got {kp.shape}{where}")
        n = len(kp)
        boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4) if n else np.zeros((0, 4), np.float32)
        if len(boxes) != n:
            raise ValueError(f"{len(boxes)} boxes for {n} keypoint sets{where}")
        for i, b in enumerate(boxes):
            if not np.all(np.isfinite(b)):
                raise ValueError(f"person {i}{where}: box {b.tolist()} is not finite")
            if b[2] <= b[0] or b[3] <= b[1]:
                raise ValueError(f"person {i}{where}: box {b.tolist()} (XYXY) has non-positive size")
        self.keypoints = self._repair_keypoints(kp.copy(), where)
        self.boxes = boxes
        self.scores = (np.ones(n, np.float32) if self.scores is None
                       else np.asarray(self.scores, np.float32).reshape(n))
        self.ids = np.arange(n, dtype=np.int64) if self.ids is None else np.asarray(self.ids, np.int64).reshape(n)
        if self.masks is not None:
            m = np.asarray(self.masks, dtype=bool)
            if m.shape != (n, *self.image_size):
                raise ValueError(f"masks must have shape {(n, *self.image_size)}, got {m.shape}{where}")
            self.masks = m
        if self.heatmaps is not None:
            hm = np.asarray(self.heatmaps, np.float32)
            hb = None if self.heatmap_boxes is None else np.asarray(self.heatmap_boxes, np.float32).reshape(-1, 4)
            if hm.ndim != 4 or hm.shape[:2] != (n, NUM_KEYPOINTS) or hb is None or len(hb) != n:
                raise ValueError(f"heatmaps must be (N, 17, h, w) with (N, 4) heatmap_boxes for N = {n}, got "
                                 f"{hm.shape} and {None if hb is None else hb.shape}{where}")
            if not (np.isfinite(hb).all() and (hb[:, 2:] > hb[:, :2]).all()):
                raise ValueError(f"heatmap_boxes must be finite XYXY boxes of positive size{where}")
            self.heatmaps, self.heatmap_boxes = hm, hb

    def _repair_keypoints(self, kp: np.ndarray, where: str) -> np.ndarray:
        h, w = self.image_size
        finite = np.isfinite(kp).all(-1)
        x, y = np.nan_to_num(kp[..., 0]), np.nan_to_num(kp[..., 1])
        near = (x >= -0.5 * w) & (x <= 1.5 * w) & (y >= -0.5 * h) & (y <= 1.5 * h)
        labelled = np.nan_to_num(kp[..., 2]) > 0
        bad = labelled & ~(finite & near)
        for i, k in zip(*np.nonzero(bad)):
            warnings.warn(f"person {i}{where}: keypoint {COCO_KEYPOINT_NAMES[k]} at {kp[i, k, :2].tolist()} "
                          f"is not finite or far outside the {w}x{h} image; treated as missing", stacklevel=4)
        kp[~finite] = 0.0
        kp[bad] = 0.0
        if self.keypoint_kind == "score":
            if (kp[..., 2] < 0).any() or (kp[..., 2] > 1.0 + 1e-6).any():
                raise ValueError(f"keypoint scores must lie in [0, 1]{where}; got range "
                                 f"[{kp[..., 2].min():.3g}, {kp[..., 2].max():.3g}]")
        elif not np.isin(kp[..., 2], (0, 1, 2)).all():
            raise ValueError(f"COCO visibility flags must be 0, 1 or 2{where}; got {np.unique(kp[..., 2]).tolist()}"
                             " (use keypoint_kind='score' for confidences)")
        return kp

    def __len__(self) -> int:
        return len(self.keypoints)

    @property
    def boxes_xywh(self) -> np.ndarray:
        """``(N, 4)`` float32 XYWH boxes."""
        return xyxy_to_xywh(self.boxes)

    def keypoint_confidence(self, occluded_weight: float = 0.5, min_score: float = 0.1) -> np.ndarray:
        """Per-keypoint confidence in ``[0, 1]`` that priors use, ``(N, 17)`` float32.

        Rule: with COCO visibility, visible (2) keypoints get 1, occluded (1) ones get
        ``occluded_weight``, unlabelled (0) ones 0. With scores, the score itself,
        and 0 below ``min_score``. A keypoint with confidence 0 is not used.
        """
        c = self.keypoints[..., 2]
        if self.keypoint_kind == "visibility":
            return np.where(c >= 2, 1.0, np.where(c >= 1, occluded_weight, 0.0)).astype(np.float32)
        return np.where(c >= min_score, c, 0.0).astype(np.float32)

    def subset(self, index: np.ndarray | list[int]) -> "Persons":
        """The people at ``index`` (bool mask or integer indices), as a new ``Persons``."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.nonzero(idx)[0]
        def pick(a):
            return None if a is None else a[idx]
        return Persons(self.boxes[idx], self.keypoints[idx], self.image_size, self.keypoint_kind, self.scores[idx],
                       pick(self.masks), self.ids[idx], pick(self.heatmaps), pick(self.heatmap_boxes), self.source)

    def with_people(self, boxes: np.ndarray, keypoints: np.ndarray) -> "Persons":
        """These people plus more (``(M, 4)`` XYXY boxes, ``(M, 17, 3)`` keypoints of the same kind), appended.

        The new people get score 1 and id -1; masks and heatmaps are dropped.
        """
        m = len(keypoints)
        return Persons(np.concatenate([self.boxes, np.asarray(boxes, np.float32).reshape(m, 4)]),
                       np.concatenate([self.keypoints, np.asarray(keypoints, np.float32).reshape(m, NUM_KEYPOINTS, 3)]),
                       self.image_size, self.keypoint_kind, np.r_[self.scores, np.ones(m, np.float32)],
                       ids=np.r_[self.ids, -np.ones(m, np.int64)], source=self.source)

    @staticmethod
    def empty(image_size: tuple[int, int], keypoint_kind: KeypointKind = "visibility") -> "Persons":
        """No people in an image of size ``(H, W)``."""
        return Persons(np.zeros((0, 4)), np.zeros((0, NUM_KEYPOINTS, 3)), image_size, keypoint_kind)


def check_score(score: np.ndarray, image_size: tuple[int, int], source: str = "person score") -> np.ndarray:
    """Validate a person score map: ``(H, W)`` numbers in ``[0, 1]`` -> float32; clear errors otherwise."""
    s = np.asarray(score)
    if s.shape != tuple(image_size):
        raise ValueError(f"{source}: shape {s.shape} does not match the image (H, W) = {tuple(image_size)}")
    if s.dtype == bool:
        return s.astype(np.float32)
    if not np.issubdtype(s.dtype, np.number):
        raise ValueError(f"{source}: dtype {s.dtype} is not numeric")
    s = s.astype(np.float32)
    if not np.isfinite(s).all():
        raise ValueError(f"{source}: contains NaN or infinite values")
    if s.min() < 0 or s.max() > 1:
        raise ValueError(f"{source}: values must be probabilities in [0, 1], got [{s.min():.3g}, {s.max():.3g}]")
    return s
