"""Prior encoders: keypoints (and the image) -> per-person prior maps.

All encoders share :class:`PriorEncoder` (``encode`` -> ``(N, C, H, W)`` channels,
``affinity`` -> ``(N, H, W)`` log-affinity for fusion). Build one by name with
:func:`make_prior`. Pure numpy / scipy / scikit-image: no torch.
"""

from __future__ import annotations

from .base import PriorEncoder
from .euclidean import EuclideanPrior, keypoint_distances, limb_distances, skeleton_distance
from .geodesic import GeodesicPrior, SuperpixelGraph, build_superpixel_graph, geodesic_distances
from .gdt import HeatmapDistancePrior, generalized_distance_transform
from .heatmap import GaussianHeatmapPrior
from .skeleton import ConfidenceRule, person_scales

PRIOR_NAMES = ("euclidean", "euclidean-keypoints", "euclidean-limbs", "geodesic", "heatmap", "heatmap-gdt")


def make_prior(name: str, **kwargs) -> PriorEncoder:
    """A prior encoder by name: one of :data:`PRIOR_NAMES`; ``kwargs`` go to its constructor."""
    if name == "geodesic":
        return GeodesicPrior(**kwargs)
    if name == "heatmap":
        return GaussianHeatmapPrior(**kwargs)
    if name == "heatmap-gdt":
        return HeatmapDistancePrior(**kwargs)
    if name.startswith("euclidean"):
        mode = name.partition("-")[2] or "skeleton"
        if mode in ("skeleton", "keypoints", "limbs"):
            return EuclideanPrior(mode=mode, **kwargs)
    raise ValueError(f"unknown prior {name!r}; choose from {', '.join(PRIOR_NAMES)}")


__all__ = ["PriorEncoder", "EuclideanPrior", "GeodesicPrior", "GaussianHeatmapPrior", "HeatmapDistancePrior",
           "generalized_distance_transform", "ConfidenceRule",
           "SuperpixelGraph", "build_superpixel_graph", "geodesic_distances", "skeleton_distance",
           "keypoint_distances", "limb_distances", "person_scales", "make_prior", "PRIOR_NAMES"]
