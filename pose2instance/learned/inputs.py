"""Prior input channels of the pose-conditioned network, computed on a person's crop (numpy).

:class:`PriorChannels` is built once per model config (its encoders are made once)
and called per person: the encoders of ``priors`` (:data:`pose2instance.priors.PRIORS`
names) on the person's keypoints in crop coordinates (distances in the person's
scale, clipped at ``clip``), then, with ``others``, one channel with the distance to
the nearest skeleton of any *other* person of the image (their box when they have no
keypoint), in the target person's scale, clipped at ``clip`` (``clip`` everywhere with
no one else near).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..crops import CropWindow, persons_in_crop
from ..priors import make_prior
from ..priors.euclidean import skeleton_distance
from ..priors.skeleton import person_scales
from ..structures import Persons


class PriorChannels:
    """``(P, n, n)`` float32 prior channels of one person on its crop.

    Args:
        priors: prior encoder names.
        others: add the distance-to-other-people channel.
        clip: distances are clipped at this many person scales.
    """

    def __init__(self, priors: Sequence[str], others: bool = True, clip: float = 2.0):
        self.encoders = [make_prior(name) for name in priors]
        self.others = others
        self.clip = clip
        self.channels = sum(e.channels for e in self.encoders) + int(others)
        self.needs_image = any(e.needs_image for e in self.encoders)

    def __call__(self, persons: Persons, index: int, window: CropWindow, n: int,
                 crop_image: np.ndarray | None = None) -> np.ndarray:
        """Channels of person ``index`` of ``persons`` in ``window`` (an ``n x n`` crop).

        ``crop_image`` (``(n, n, 3)`` uint8 RGB crop) is needed when an encoder ``needs_image``.
        """
        target = persons_in_crop(persons, [index], window, n)
        channels = []
        for enc in self.encoders:
            c = enc.encode(target, crop_image)[0]
            channels.append(np.minimum(c, self.clip) if enc.is_distance else c)
        if self.others:
            channels.append(self.other_people(persons, index, window, n, target)[None])
        if not channels:
            return np.zeros((0, n, n), np.float32)
        return np.concatenate(channels, 0).astype(np.float32)

    def other_people(self, persons: Persons, index: int, window: CropWindow, n: int, target: Persons) -> np.ndarray:
        """``(n, n)`` distance to the nearest other person's skeleton in the target's scale, clipped."""
        other = np.full((n, n), self.clip, np.float32)
        rest = [j for j in range(len(persons)) if j != index]
        if not rest:
            return other
        crop_rest = persons_in_crop(persons, rest, window, n)
        near = ((crop_rest.boxes[:, 2] > -n) & (crop_rest.boxes[:, 0] < 2 * n)
                & (crop_rest.boxes[:, 3] > -n) & (crop_rest.boxes[:, 1] < 2 * n))
        if near.any():
            d = skeleton_distance(crop_rest.subset(near)).min(0) / person_scales(target)[0]
            other = np.minimum(d, self.clip).astype(np.float32)
        return other
