"""The training-free method and its baselines, each a :class:`MaskMethod`: people + person score -> masks.

Every method is built once (per run) and called per image; it declares what it
needs, so callers never test names:

* ``needs_image``: it reads the ``(H, W, 3)`` image (the geodesic prior);
* ``needs_heatmaps``: it is built for estimator heatmaps (``persons.heatmaps``);
* ``needs_score``: it reads the per-pixel person score (every method here does).

The registry that maps names to these (and to the learned model) is
:data:`pose2instance.registry.METHODS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from .fusion import FusionResult, box_masks, fuse, fuse_windows, oracle_box_masks
from .priors import PriorEncoder, make_prior
from .priors.skeleton import box_affinity, box_affinity_windows, box_region
from .structures import Persons


class MaskMethod(ABC):
    """One mask per person of an image: ``predict(persons, score, image) -> (N, H, W)`` bool."""

    name: str = "method"
    needs_image: bool = False
    needs_heatmaps: bool = False
    needs_score: bool = True

    @abstractmethod
    def predict(self, persons: Persons, score: np.ndarray | None, image: np.ndarray | None = None) -> np.ndarray:
        """``(N, H, W)`` bool masks, mask ``i`` for person ``i``.

        Args:
            persons: the ``N`` people (boxes XYXY, keypoints) of an ``(H, W)`` image.
            score: ``(H, W)`` person probability in ``[0, 1]`` (None only if not ``needs_score``).
            image: ``(H, W, 3)`` uint8 RGB (required if ``needs_image``).
        """


class BoxMasks(MaskMethod):
    """Baseline ``box``: each person's box filled."""

    name = "box"
    needs_score = False

    def predict(self, persons, score, image=None):
        return box_masks(persons)


class OracleBoxMasks(MaskMethod):
    """Baselines ``oracle-box`` (overlaps shared, the paper's) and ``oracle-box-nearest``: score pixels in each box.

    See :func:`pose2instance.fusion.oracle_box_masks`.
    """

    def __init__(self, overlap: str = "share"):
        self.overlap = overlap
        self.name = "oracle-box" if overlap == "share" else f"oracle-box-{overlap}"

    def predict(self, persons, score, image=None):
        return oracle_box_masks(persons, score, overlap=self.overlap)


class Pose2Instance(MaskMethod):
    """Training-free Pose2Instance: a keypoint prior fused with a person score.

    Args:
        prior: a :class:`PriorEncoder` or its name (``euclidean``, ``geodesic``, ``heatmap``, ``heatmap-gdt``).
        temperature: softmax temperature over people (affinity units, see ``fusion``).
        background: ``"score"`` or ``"threshold"`` (see :func:`pose2instance.fusion.fuse`).
        threshold: person-score threshold for ``background="threshold"``.
        box_weight: weight of the box term added to every person's affinity: minus
            the distance to the person's box in reference scales. 0 ignores the boxes;
            the default 100 makes the box almost a hard limit. Measured on the COCO dev
            images with the oracle score (mean IoU, Euclidean prior): 0.846 without the
            box term, 0.907 at 10, 0.915 at 100.
        max_distance: optional background cut-off (affinity units).
        box_limit: a person may take only pixels inside its own box (see :func:`~pose2instance.fusion.fuse`'s
            ``claim``). Measured on the training parts of our splits only, BlazePose score, Euclidean
            prior (docs/method.md, *Fusion*): on 683 single-person images mean IoU 0.739 -> 0.762 (equal to
            oracle-box, which it then is by construction); on 46 dev images 0.640 -> 0.655.
        **prior_kwargs: passed to :func:`make_prior` when ``prior`` is a name.

    Example::

        model = Pose2Instance("geodesic")
        result = model(persons, score, image)   # result.masks: (N, H, W) bool
    """

    def __init__(self, prior: str | PriorEncoder = "euclidean", temperature: float = 0.1, background: str = "score",
                 threshold: float = 0.5, box_weight: float = 100.0, max_distance: float | None = None,
                 box_limit: bool = True, **prior_kwargs):
        if not temperature > 0 or not np.isfinite(temperature):  # also refuses NaN
            raise ValueError(f"temperature must be a positive number, got {temperature}")
        if not np.isfinite(box_weight) or box_weight < 0:
            raise ValueError(f"box_weight must be a finite number >= 0, got {box_weight}")
        self.prior = make_prior(prior, **prior_kwargs) if isinstance(prior, str) else prior
        self.name = self.prior.name
        self.needs_image = self.prior.needs_image
        self.needs_heatmaps = self.prior.needs_heatmaps
        self.temperature = temperature
        self.background = background
        self.threshold = threshold
        self.box_weight = box_weight
        self.max_distance = max_distance
        self.box_limit = box_limit

    def affinity(self, persons: Persons, image: np.ndarray | None = None) -> np.ndarray:
        """``(N, H, W)`` float32 prior affinity plus the box term."""
        aff = self.prior.affinity(persons, image)
        if self.box_weight and len(persons):
            aff = aff + self.box_weight * box_affinity(persons)
        return aff

    def __call__(self, persons: Persons, score: np.ndarray, image: np.ndarray | None = None) -> FusionResult:
        """Masks for ``persons`` from a ``(H, W)`` person score in ``[0, 1]``, with the fusion's intermediate maps.

        ``image`` (``(H, W, 3)`` uint8 RGB) is needed by the geodesic prior.
        """
        claim = box_masks(persons) if self.box_limit else None
        return fuse(self.affinity(persons, image), score, self.temperature, self.background,
                    self.threshold, self.max_distance, claim)

    def predict(self, persons, score, image=None):
        """``(N, H, W)`` bool masks, the same as ``self(persons, score, image).masks``; under the box limit
        computed box by box (:func:`~pose2instance.fusion.fuse_windows`), in memory that grows with the
        boxes instead of people x image."""
        if not self.box_limit or not len(persons):
            return self(persons, score, image).masks
        regions = [box_region(b, persons.image_size) for b in persons.boxes]
        windows = self.prior.affinity_windows(persons, image, regions)
        if self.box_weight:
            windows = [a + self.box_weight * b for a, b in zip(windows, box_affinity_windows(persons, regions))]
        return fuse_windows(regions, windows, score, self.temperature, self.background, self.threshold,
                            self.max_distance, persons.image_size)[0]
