"""Prior encoders: keypoints (and the image) -> per-person prior maps.

All encoders share :class:`PriorEncoder` (``encode`` -> ``(N, C, H, W)`` channels,
``affinity`` -> ``(N, H, W)`` log-affinity for fusion). Build one by name with
:func:`make_prior`. Pure numpy / scipy / scikit-image: no torch.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from .base import PriorEncoder
from .euclidean import EuclideanPrior, keypoint_distances, limb_distances, skeleton_distance
from .geodesic import GeodesicPrior, SuperpixelGraph, build_superpixel_graph, geodesic_distances
from .gdt import HeatmapDistancePrior, generalized_distance_transform
from .heatmap import GaussianHeatmapPrior
from .skeleton import ConfidenceRule, person_scales

#: The prior registry: name -> factory (keyword arguments go to the encoder's constructor).
PRIORS: dict[str, Callable[..., PriorEncoder]] = {
    "euclidean": partial(EuclideanPrior, mode="skeleton"),
    "euclidean-keypoints": partial(EuclideanPrior, mode="keypoints"),
    "euclidean-limbs": partial(EuclideanPrior, mode="limbs"),
    "geodesic": GeodesicPrior,
    "heatmap": GaussianHeatmapPrior,
    "heatmap-gdt": HeatmapDistancePrior,
}
PRIOR_NAMES = tuple(PRIORS)


def make_prior(name: str, **kwargs) -> PriorEncoder:
    """A prior encoder by name: one of :data:`PRIORS`; ``kwargs`` go to its constructor."""
    if name not in PRIORS:
        raise ValueError(f"unknown prior {name!r}; choose from {', '.join(PRIORS)}")
    return PRIORS[name](**kwargs)


__all__ = ["PriorEncoder", "EuclideanPrior", "GeodesicPrior", "GaussianHeatmapPrior", "HeatmapDistancePrior",
           "generalized_distance_transform", "ConfidenceRule",
           "SuperpixelGraph", "build_superpixel_graph", "geodesic_distances", "skeleton_distance",
           "keypoint_distances", "limb_distances", "person_scales", "make_prior", "PRIORS", "PRIOR_NAMES"]
