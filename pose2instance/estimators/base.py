"""The pose-estimator interface: an RGB image (and optionally person boxes) in, scored COCO-17 people out."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..structures import Persons


class PoseEstimator(ABC):
    """A multi-person 2-D pose estimator.

    ``estimator(image)`` finds the people itself; ``estimator(image, boxes)`` estimates
    one person per given box. Coordinates follow the package convention: x right,
    y down, pixel centres at integer coordinates.
    """

    name: str = "estimator"

    @abstractmethod
    def __call__(self, image: np.ndarray, boxes: np.ndarray | None = None) -> Persons:
        """The people of an ``(H, W, 3)`` uint8 RGB image.

        Args:
            image: ``(H, W, 3)`` uint8 RGB.
            boxes: optional ``(M, 4)`` float XYXY person boxes in image pixels.

        Returns:
            :class:`~pose2instance.structures.Persons` with ``keypoint_kind="score"``:
            ``(N, 17, 3)`` COCO-17 keypoints ``(x, y, confidence in [0, 1])``, ``scores``
            ``(N,)`` person confidences, ``(N, 4)`` XYXY boxes, optionally ``heatmaps`` and
            ``heatmap_boxes``. With ``boxes`` given, ``N == M`` and person ``i`` belongs to
            ``boxes[i]``; a person whose estimate failed keeps its box and gets score 0 and
            all-zero keypoint confidences.
        """


def check_image(image: np.ndarray) -> np.ndarray:
    """``image`` as an ``(H, W, 3)`` uint8 array; ``ValueError`` for any other shape or dtype."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} array of shape {image.shape}")
    return image


def check_boxes(boxes: np.ndarray) -> np.ndarray:
    """``boxes`` as ``(M, 4)`` float32 XYXY; ``ValueError`` for a wrong shape, non-finite values or empty boxes."""
    b = np.asarray(boxes, np.float32)
    if b.size == 0:
        return np.zeros((0, 4), np.float32)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must have shape (M, 4) (XYXY), got {b.shape}")
    bad = ~np.isfinite(b).all(1) | (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])
    if bad.any():
        i = int(np.nonzero(bad)[0][0])
        raise ValueError(f"box {i} {b[i].tolist()} (XYXY) is not finite or has non-positive size")
    return b
