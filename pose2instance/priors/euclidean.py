"""Euclidean skeleton priors: distance from every pixel to a person's skeleton.

``encode`` gives distances in *person scales* (pixels divided by the person's
``sqrt(box area)``: 0.1 means "a tenth of the person's size away"), the input for
networks working on a crop of one person. ``affinity`` (fusion) uses pixels divided
by the image's median person scale instead: measured on the COCO dev images, the
nearest skeleton in pixels assigns contested pixels better than the nearest in
person scales (which lets large people reach too far).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..structures import COCO_SKELETON, Persons
from .base import PriorEncoder
from .skeleton import (Canvas, ConfidenceRule, Region, distance_to_zeros, fallback_distance, full_region,
                       limb_confidence, person_scales, reference_scale, skeleton_pixels)


def skeleton_distance(persons: Persons, rule: ConfidenceRule = ConfidenceRule()) -> np.ndarray:
    """Distance (pixels) from each pixel centre to each person's skeleton, confidence offsets included.

    The skeleton is the limbs between usable keypoints plus the usable keypoints
    themselves and the filled torso, rasterised at one-pixel resolution (distances
    are exact to within half a pixel). A person with no usable keypoint gets
    :func:`~pose2instance.priors.skeleton.fallback_distance`.

    Returns:
        ``(N, H, W)`` float32 pixels.
    """
    h, w = persons.image_size
    out = np.empty((len(persons), h, w), np.float32)
    for i, d in enumerate(skeleton_distance_windows(persons, rule, [full_region((h, w))] * len(persons))):
        out[i] = d
    return out


def skeleton_distance_windows(persons: Persons, rule: ConfidenceRule, regions: Sequence[Region]) -> list[np.ndarray]:
    """Each person's skeleton distance (see :func:`skeleton_distance`) inside its region only.

    The distance transform runs on a canvas holding the region and the whole skeleton, so
    the values are those of the whole-image transform (every skeleton pixel is on it).

    Returns:
        one ``(y1 - y0, x1 - x0)`` float32 array per person (pixels).
    """
    h, w = persons.image_size
    conf = rule.keypoint_confidence(persons)
    scales = person_scales(persons)
    out = []
    for i, region in enumerate(regions):
        x0, y0, x1, y1 = region = tuple(region)
        used = conf[i] > 0
        if x1 <= x0 or y1 <= y0:
            out.append(np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), np.float32))
            continue
        if not used.any():
            out.append(fallback_distance(persons.boxes[i], (h, w), scales[i], rule, region))
            continue
        canvas = Canvas.around((h, w), persons.keypoints[i, used, :2], region)
        best = None
        for level in np.unique(conf[i][used]):
            rr, cc = skeleton_pixels(persons.keypoints[i], conf[i], level, canvas)
            free = np.ones(canvas.shape, bool)
            free[rr, cc] = False
            d = canvas.crop(distance_to_zeros(free), (h, w), region)
            d += np.float32(rule.offset(level, scales[i]))
            best = d if best is None else np.minimum(best, d)
        out.append(best)
    return out


def keypoint_distances(persons: Persons, rule: ConfidenceRule = ConfidenceRule()) -> np.ndarray:
    """``(N, 17, H, W)`` float32 exact distance (pixels) to each keypoint; NaN for unused keypoints."""
    h, w = persons.image_size
    x = np.arange(w, dtype=np.float32)
    y = np.arange(h, dtype=np.float32)[:, None]
    out = np.full((len(persons), 17, h, w), np.nan, np.float32)
    used = rule.keypoint_confidence(persons) > 0
    for i, k in zip(*np.nonzero(used)):
        kx, ky = persons.keypoints[i, k, :2]
        out[i, k] = np.hypot(x - kx, y - ky)
    return out


def limb_distances(persons: Persons, rule: ConfidenceRule = ConfidenceRule()) -> np.ndarray:
    """``(N, 19, H, W)`` float32 exact distance (pixels) to each limb segment; NaN where a limb is unused."""
    h, w = persons.image_size
    x = np.arange(w, dtype=np.float32)
    y = np.arange(h, dtype=np.float32)[:, None]
    out = np.full((len(persons), len(COCO_SKELETON), h, w), np.nan, np.float32)
    used = limb_confidence(rule.keypoint_confidence(persons)) > 0
    for i, j in zip(*np.nonzero(used)):
        a, b = COCO_SKELETON[j]
        (ax, ay), (bx, by) = persons.keypoints[i, a, :2], persons.keypoints[i, b, :2]
        vx, vy = bx - ax, by - ay
        dx, dy = x - ax, y - ay
        t = np.clip((dx * vx + dy * vy) / max(vx * vx + vy * vy, 1e-12), 0.0, 1.0)
        out[i, j] = np.hypot(dx - t * vx, dy - t * vy)
    return out


class EuclideanPrior(PriorEncoder):
    """Distance to the skeleton, normalised by person scale.

    Args:
        mode: ``"skeleton"`` (1 channel: distance to the whole skeleton),
            ``"keypoints"`` (17 channels) or ``"limbs"`` (19 channels); every
            channel includes the confidence offset of its part.
        clip: distances above this many person scales are clipped; unused
            keypoints/limbs are filled with it (needed for the channel modes).
        rule: the confidence rule (occluded weight, score threshold, offset).

    ``affinity`` (for fusion) is always minus the skeleton distance (see the module doc).
    """

    def __init__(self, mode: str = "skeleton", clip: float | None = None, rule: ConfidenceRule = ConfidenceRule()):
        if mode not in ("skeleton", "keypoints", "limbs"):
            raise ValueError(f"EuclideanPrior mode must be skeleton, keypoints or limbs, got {mode!r}")
        self.mode = mode
        self.clip = clip if clip is not None or mode == "skeleton" else 2.0
        self.rule = rule
        self.name = "euclidean" if mode == "skeleton" else f"euclidean-{mode}"
        self.channels = {"skeleton": 1, "keypoints": 17, "limbs": 19}[mode]

    def encode(self, persons: Persons, image: np.ndarray | None = None) -> np.ndarray:
        scales = person_scales(persons)[:, None, None, None]
        if self.mode == "skeleton":
            d = skeleton_distance(persons, self.rule)[:, None] / scales
        else:
            conf = self.rule.keypoint_confidence(persons)
            if self.mode == "keypoints":
                d = keypoint_distances(persons, self.rule)
            else:
                d, conf = limb_distances(persons, self.rule), limb_confidence(conf)
            d = d / scales + (self.rule.penalty * (1.0 - conf))[:, :, None, None]
        if self.clip is not None:
            d = np.minimum(np.nan_to_num(d, nan=self.clip), self.clip)
        return d.astype(np.float32)

    def affinity(self, persons: Persons, image: np.ndarray | None = None) -> np.ndarray:
        return -skeleton_distance(persons, self.rule) / reference_scale(persons)

    def affinity_windows(self, persons: Persons, image: np.ndarray | None,
                         regions: Sequence[Region]) -> list[np.ndarray]:
        ref = reference_scale(persons)
        return [-d / ref for d in skeleton_distance_windows(persons, self.rule, regions)]
