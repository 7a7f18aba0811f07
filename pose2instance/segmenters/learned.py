"""Person scores and per-person masks from a learned person-crop network (needs torch).

:class:`LearnedScore` turns a :class:`pose2instance.models.Predictor`'s per-person
probabilities ``(N, H, W)`` into one person score, ``max`` over the people at every
pixel, so it plugs into the training-free fusion like any other :class:`PersonScorer`.
:meth:`LearnedScore.masks` gives the network's own per-person masks instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..structures import Persons
from .base import PersonScorer


class LearnedScore(PersonScorer):
    """Person score of a learned network (default: the weights shipped in the package).

    Args:
        model: a checkpoint (``.safetensors`` file or run folder), a ``PersonNet``, or None
            for :func:`pose2instance.models.load_default_model`.
        device: ``"cpu"``, ``"cuda"``, ... (default CUDA when available).
        batch_size: people per forward pass.

    Calling it gives ``(H, W)`` float32: the highest probability of any person at each
    pixel (0 where no one's crop reaches). With no people it returns zeros.
    """

    name = "learned"

    def __init__(self, model=None, device=None, batch_size: int = 32):
        from ..models import Predictor, load_default_model
        if model is None:
            model = load_default_model("cpu")
        self.predictor = Predictor(model, device, batch_size)
        self._last: tuple[np.ndarray, Persons, np.ndarray] | None = None

    def probabilities(self, image: np.ndarray, persons: Persons) -> np.ndarray:
        """``(N, H, W)`` float32 per-person probabilities (cached for the last image/persons pair)."""
        # The cache holds the objects themselves (not their ids, which Python reuses after they are freed).
        if self._last is None or self._last[0] is not image or self._last[1] is not persons:
            self._last = (image, persons, self.predictor.probabilities(image, persons))
        return self._last[2]

    def __call__(self, image: np.ndarray, persons: Persons, image_path: str | Path | None = None) -> np.ndarray:
        if not len(persons):
            return np.zeros(image.shape[:2], np.float32)
        return self.probabilities(image, persons).max(0)

    def masks(self, image: np.ndarray, persons: Persons, threshold: float = 0.5, exclusive: bool = True) -> np.ndarray:
        """``(N, H, W)`` bool masks straight from the network (see ``masks_from_probabilities``)."""
        from ..models import masks_from_probabilities
        return masks_from_probabilities(self.probabilities(image, persons), threshold, exclusive)
