"""Gaussian keypoint heatmaps, the third prior family (one channel per COCO keypoint)."""

from __future__ import annotations

import numpy as np

from ..structures import Persons
from .base import PriorEncoder
from .euclidean import keypoint_distances
from .skeleton import ConfidenceRule, fallback_distance, person_scales


class GaussianHeatmapPrior(PriorEncoder):
    """``c_k * exp(-d_k^2 / (2 sigma^2))`` per keypoint, ``sigma = sigma_scale * person scale``.

    ``encode`` gives ``(N, 17, H, W)`` heatmaps in ``[0, 1]`` weighted by the keypoint
    confidence ``c_k`` (0 for unused keypoints). ``affinity`` is the log of the
    strongest heatmap, ``max_k (log c_k - d_k^2 / (2 sigma^2))``; a person with no
    usable keypoint uses ``-d^2 / (2 sigma^2)`` with ``d`` = ``skeleton.fallback_distance``.
    """

    name = "heatmap"
    is_distance = False
    channels = 17

    def __init__(self, sigma_scale: float = 0.05, rule: ConfidenceRule = ConfidenceRule()):
        self.sigma_scale = sigma_scale
        self.rule = rule

    def _log_heatmaps(self, persons: Persons) -> np.ndarray:
        sigma = (self.sigma_scale * person_scales(persons))[:, None, None, None]
        d = keypoint_distances(persons, self.rule)
        with np.errstate(divide="ignore"):
            log_c = np.log(self.rule.keypoint_confidence(persons))[:, :, None, None]
        return np.nan_to_num(log_c - d * d / (2 * sigma * sigma), nan=-np.inf)

    def encode(self, persons: Persons, image: np.ndarray | None = None) -> np.ndarray:
        return np.exp(self._log_heatmaps(persons)).astype(np.float32)

    def affinity(self, persons: Persons, image: np.ndarray | None = None) -> np.ndarray:
        out = self._log_heatmaps(persons).max(axis=1) if len(persons) else \
            np.zeros((0, *persons.image_size), np.float32)
        scales = person_scales(persons)
        sigma = self.sigma_scale * scales
        for i in np.nonzero(~np.isfinite(out).any(axis=(1, 2)))[0]:
            d = fallback_distance(persons.boxes[i], persons.image_size, scales[i], self.rule)
            out[i] = -d * d / (2 * sigma[i] ** 2)
        return out.astype(np.float32)
