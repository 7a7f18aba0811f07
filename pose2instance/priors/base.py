"""The one small interface every prior encoder implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from ..structures import Persons


class PriorEncoder(ABC):
    """Turns the people of an image into per-person prior maps.

    Attributes:
        name: short identifier (``euclidean``, ``geodesic``, ``heatmap`` ...).
        channels: ``C``, the number of channels ``encode`` returns per person.
        needs_image: ``encode`` / ``affinity`` read the ``(H, W, 3)`` image (geodesic).
        needs_heatmaps: built from ``persons.heatmaps`` (estimator heatmaps); without them
            it falls back to another prior (said in its docstring).
        is_distance: ``encode`` returns distances in person scales (callers may clip
            them); False for probability-like channels (heatmaps).
    """

    name: str
    channels: int
    needs_image: bool = False
    needs_heatmaps: bool = False
    is_distance: bool = True

    @abstractmethod
    def encode(self, persons: Persons, image: np.ndarray | None = None) -> np.ndarray:
        """Prior channels for each person.

        Args:
            persons: the ``N`` people of the image (``persons.image_size`` is ``(H, W)``).
            image: ``(H, W, 3)`` uint8 RGB; required by image-aware priors (geodesic).

        Returns:
            ``(N, C, H, W)`` float32.
        """

    @abstractmethod
    def affinity(self, persons: Persons, image: np.ndarray | None = None) -> np.ndarray:
        """Per-person log-affinity for fusion: ``(N, H, W)`` float32, higher = more likely that person.

        Distance priors return minus the distance in pixels over the image's median
        person scale (``skeleton.reference_scale``), so a softmax with temperature
        ``T`` over people weighs pixels by ``exp(-d / T)``.
        """

    def affinity_windows(self, persons: Persons, image: np.ndarray | None,
                         regions: Sequence[tuple[int, int, int, int]]) -> list[np.ndarray]:
        """Each person's affinity inside its region only: one ``(y1 - y0, x1 - x0)`` float32 array per person.

        ``regions``: one ``(x0, y0, x1, y1)`` pixel region per person, end exclusive (its box,
        under the fusion's box limit). The values are those of :meth:`affinity` there. This
        default computes the whole maps and cuts the windows out; priors that can compute
        only the windows (Euclidean, geodesic), so that memory grows with the people's boxes
        instead of people x image.
        """
        full = self.affinity(persons, image)
        return [full[i, y0:y1, x0:x1].copy() for i, (x0, y0, x1, y1) in enumerate(regions)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, channels={self.channels})"
