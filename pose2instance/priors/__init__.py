"""Prior encoders: keypoints (and the image) -> per-person prior maps.

All encoders share :class:`PriorEncoder` (``encode`` -> ``(N, C, H, W)`` channels,
``affinity`` -> ``(N, H, W)`` log-affinity for fusion). Build one by name with
:func:`make_prior`. Pure numpy / scipy / scikit-image: no torch. The encoders' modules are
imported on first use (registering them costs nothing, so the command line starts fast).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ..named import Registry

if TYPE_CHECKING:
    from .base import PriorEncoder


def _encoder(module: str, cls: str, **fixed: Any):
    def build(**kwargs: Any):
        return getattr(import_module(f".{module}", __name__), cls)(**fixed, **kwargs)
    return build


#: The prior registry: name -> encoder factory (keyword arguments go to the encoder's constructor). Tag
#: ``fusion``: offered as a training-free method (``--prior``, ``--methods``); the others are network inputs.
PRIORS = Registry("prior")
PRIORS.add("euclidean", _encoder("euclidean", "EuclideanPrior", mode="skeleton"), "distance to the skeleton",
           tags=("fusion",))
PRIORS.add("euclidean-keypoints", _encoder("euclidean", "EuclideanPrior", mode="keypoints"),
           "distance to each keypoint (17 maps)")
PRIORS.add("euclidean-limbs", _encoder("euclidean", "EuclideanPrior", mode="limbs"),
           "distance to each limb (19 maps)")
PRIORS.add("geodesic", _encoder("geodesic", "GeodesicPrior"),
           "geodesic distance to the skeleton over image superpixels (default)", tags=("fusion",))
PRIORS.add("heatmap", _encoder("heatmap", "GaussianHeatmapPrior"), "Gaussian heatmaps of the keypoints",
           tags=("fusion",))
PRIORS.add("heatmap-gdt", _encoder("gdt", "HeatmapDistancePrior"),
           "distance transform of an estimator's keypoint heatmaps (BlazePose)", tags=("fusion",))
PRIOR_NAMES = tuple(PRIORS)


def make_prior(name: str, **kwargs) -> PriorEncoder:
    """A prior encoder by name: one of :data:`PRIORS`; ``kwargs`` go to its constructor."""
    return PRIORS.build(name, **kwargs)


#: Where each public name lives (imported on first use).
_WHERE = {"PriorEncoder": ".base", "EuclideanPrior": ".euclidean", "keypoint_distances": ".euclidean",
          "limb_distances": ".euclidean", "skeleton_distance": ".euclidean", "GeodesicPrior": ".geodesic",
          "SuperpixelGraph": ".geodesic", "build_superpixel_graph": ".geodesic", "geodesic_distances": ".geodesic",
          "HeatmapDistancePrior": ".gdt", "generalized_distance_transform": ".gdt",
          "GaussianHeatmapPrior": ".heatmap", "ConfidenceRule": ".skeleton", "person_scales": ".skeleton"}

__all__ = [*_WHERE, "make_prior", "PRIORS", "PRIOR_NAMES"]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_WHERE[name], __name__), name)
