"""The learned person-crop network as a person score (:class:`LearnedScore`) and as a method (:class:`LearnedMasks`).

:class:`LearnedScore` turns a :class:`pose2instance.learned.models.Predictor`'s per-person
probabilities ``(N, H, W)`` into one person score, ``max`` over the people at every
pixel, so it plugs into the training-free fusion like any other :class:`PersonScorer`.
:class:`LearnedMasks` gives the network's own per-person masks, as a method of the registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..pipeline import MaskMethod
from ..scores.base import PersonScorer
from ..structures import Persons
from .models import Predictor, load_default_model
from .models.networks import checkpoint_config


class LearnedScore(PersonScorer):
    """Person score of a learned network (default: the weights shipped in the package).

    Args:
        model: a checkpoint (``.safetensors`` file or run folder), a ``PersonNet``, or None
            for :func:`pose2instance.learned.models.load_default_model`.
        device: ``"cpu"``, ``"cuda"``, ... (default CUDA when available).
        batch_size: people per forward pass.
        flip: test-time flip augmentation (see :class:`~pose2instance.learned.models.Predictor`).

    Calling it gives ``(H, W)`` float32: the highest probability of any person at each
    pixel (0 where no one's crop reaches). With no people it returns zeros.
    """

    name = "learned"

    def __init__(self, model=None, device=None, batch_size: int = 32, flip: bool = False):
        if model is None:
            model = load_default_model("cpu")
        self.predictor = Predictor(model, device, batch_size, flip)

    def __call__(self, image: np.ndarray, persons: Persons, image_path: str | Path | None = None) -> np.ndarray:
        if not len(persons):
            return np.zeros(image.shape[:2], np.float32)
        return self.predictor.probabilities(image, persons).max(0)


class LearnedMasks(MaskMethod):
    """The learned person-crop network's own masks.

    Args:
        model: a checkpoint (``.safetensors`` file or run folder), a ``PersonNet``, or None
            for the weights shipped in the package.
        device: ``"cpu"``, ``"cuda"`` ... (default CUDA when available).
        threshold: probability above which a pixel is the person's.
        exclusive: a pixel goes only to the most probable person (disjoint masks).
        flip: test-time flip augmentation (see :class:`~pose2instance.learned.models.Predictor`).

    The network is loaded on first use, so building the method is cheap.
    """

    name = "learned"
    needs_score = False
    needs_image = True

    def __init__(self, model: Any = None, device: str | None = None, threshold: float = 0.5, exclusive: bool = True,
                 flip: bool = False):
        self.model, self.device, self.threshold, self.exclusive, self.flip = model, device, threshold, exclusive, flip
        self._predictor = None
        if isinstance(model, (str, Path)):  # a missing file or a bad config is refused now, not image by image
            checkpoint_config(model)

    @property
    def predictor(self) -> Predictor:
        """The :class:`~pose2instance.learned.models.Predictor` (loaded once)."""
        if self._predictor is None:
            model = load_default_model("cpu") if self.model is None else self.model
            self._predictor = Predictor(model, self.device, flip=self.flip)
        return self._predictor

    def predict(self, persons: Persons, score: np.ndarray | None, image: np.ndarray | None = None) -> np.ndarray:
        if image is None:
            raise ValueError("the learned method needs the image")
        return self.predictor.masks(image, persons, self.threshold, self.exclusive)
