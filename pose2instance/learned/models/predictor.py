"""A :class:`PersonNet` in PyTorch as a :class:`~pose2instance.learned.predictor.CropPredictor`.

The crops, prior channels and pasting are the shared numpy ones; only the network runs in torch,
on any device (``device=None`` picks CUDA when available).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..predictor import OUTSIDE_LOGIT, CropPredictor, default_model_path, masks_from_probabilities
from .networks import PersonNet, load_model

__all__ = ["OUTSIDE_LOGIT", "Predictor", "default_device", "default_model_path", "load_default_model",
           "masks_from_probabilities"]


def default_device() -> torch.device:
    """CUDA if available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Predictor(CropPredictor):
    """Per-person mask logits of a :class:`PersonNet` in full-image coordinates.

    Args:
        model: the network (or a checkpoint path, loaded with :func:`load_model`).
        device: ``"cpu"``, ``"cuda"``, ... ; default CUDA when available.
        batch_size: people per forward pass.
        flip: average the logits of each crop and of its mirror image (twice the network time).
        crop_size: side of the crops the network runs on (default: the size it was trained at).
    """

    def __init__(self, model: PersonNet | str | Path, device: str | torch.device | None = None, batch_size: int = 32,
                 flip: bool = False, crop_size: int | None = None):
        self.device = torch.device(device) if device is not None else default_device()
        self.model = load_model(model, self.device) if isinstance(model, (str, Path)) else model
        self.model = self.model.to(self.device).eval()
        super().__init__(self.model.config, batch_size, flip, crop_size)

    @torch.no_grad()
    def run(self, x: np.ndarray) -> np.ndarray:
        """``(B, C, n, n)`` float32 -> ``(B, n, n)`` float32 mask logits."""
        return self.model(torch.from_numpy(x).to(self.device))["mask"][:, 0].float().cpu().numpy()


def load_default_model(device: str | torch.device | None = "cpu") -> PersonNet:
    """The shipped network, loaded offline from the package's assets (see the README for which variant and why)."""
    return load_model(default_model_path(), device)
