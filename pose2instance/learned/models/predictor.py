"""Run a person-crop network on whole images: crops in, per-person logits out in image coordinates.

:class:`Predictor` takes an ``(H, W, 3)`` uint8 RGB image and its :class:`Persons`
(boxes XYXY in image pixels; keypoints for the ``pose`` variant), crops a square window
around every box (:class:`pose2instance.crops.CropWindow`, side ``max(w, h) * margin``),
runs the network on the crops in batches, and pastes every mask logit back to image
coordinates (bilinear). With ``flip`` (test-time augmentation) the network also runs on the
mirrored crops (mirrored windows: the prior channels swap left and right as in training)
and the two logits are averaged. Device-agnostic: ``device=None`` picks CUDA when available.
"""

from __future__ import annotations

from dataclasses import replace
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch

from ...crops import CropWindow
from ...structures import Persons
from ..inputs import PriorChannels
from ..sampling import image_tensor, paste_crops, sample_crops, uint8_image
from ..score_maps import make_score_input, quantise_score
from .networks import PersonNet, load_model

#: Logit written outside a person's crop window (probability about 2e-9).
OUTSIDE_LOGIT = -20.0
DEFAULT_MODEL_NAME = "person_net"


def default_device() -> torch.device:
    """CUDA if available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def masks_from_probabilities(prob: np.ndarray, threshold: float = 0.5, exclusive: bool = True) -> np.ndarray:
    """``(N, H, W)`` per-person probabilities -> ``(N, H, W)`` bool masks.

    ``exclusive``: a pixel goes to the most probable person when that probability is
    at least ``threshold`` (disjoint masks, like the training-free fusion); otherwise
    every person keeps its own ``prob >= threshold`` pixels (masks may overlap).
    """
    prob = np.asarray(prob)
    masks = prob >= threshold
    if exclusive and len(prob) > 1:
        best = prob.argmax(0)
        masks &= best[None] == np.arange(len(prob))[:, None, None]
    return masks


class Predictor:
    """Per-person mask logits of a :class:`PersonNet` in full-image coordinates.

    Args:
        model: the network (or a checkpoint path, loaded with :func:`load_model`).
        device: ``"cpu"``, ``"cuda"``, ... ; default CUDA when available.
        batch_size: people per forward pass.
        flip: average the logits of each crop and of its mirror image (twice the network time).
        crop_size: side of the crops the network runs on (default: the size it was trained at); a larger
            crop shows the person at a higher resolution.
    """

    def __init__(self, model: PersonNet | str | Path, device: str | torch.device | None = None, batch_size: int = 32,
                 flip: bool = False, crop_size: int | None = None):
        self.device = torch.device(device) if device is not None else default_device()
        self.model = load_model(model, self.device) if isinstance(model, (str, Path)) else model
        self.model = self.model.to(self.device).eval()
        self.config = self.model.config
        self.batch_size = batch_size
        self.flip = flip
        self.crop_size = replace(self.config, crop_size=crop_size).crop_size if crop_size else self.config.crop_size
        self.prior_channels = PriorChannels(self.config.priors, self.config.others, self.config.prior_clip) \
            if self.config.variant == "pose" else None
        self.score_input = make_score_input(self.config.score_input) if self.config.score_input else None

    def windows(self, persons: Persons, flip: bool = False) -> list[CropWindow]:
        """The crop window of every person (no jitter; mirrored with ``flip``)."""
        return [CropWindow.around(b, self.config.margin, flip=flip) for b in persons.boxes]

    def inputs(self, image: np.ndarray, persons: Persons, flip: bool = False,
               score: np.ndarray | None = None) -> tuple[torch.Tensor, list[CropWindow]]:
        """``(N, 3 + P (+ 1), n, n)`` float32 network inputs on the predictor's device, and their windows.

        ``score``: the ``(H, W)`` pretrained score input when already computed (see :meth:`score_map`).
        """
        n = self.crop_size
        windows = self.windows(persons, flip)
        planes = image_tensor(image)
        if self.config.score_input:
            score = self.score_map(image, persons) if score is None else score
            planes = torch.cat([planes, torch.from_numpy(score)[None]], 0)
        crops = sample_crops(planes.to(self.device), windows, n)
        inputs = [crops[:, :3]]
        if self.prior_channels is not None:
            channels = self.prior_channels
            priors = [channels(persons, i, win, n, uint8_image(crops[i, :3]) if channels.needs_image else None)
                      for i, win in enumerate(windows)]
            inputs.append(torch.from_numpy(np.stack(priors)).to(self.device))
        if self.config.score_input:
            inputs.append(crops[:, 3:])
        return torch.cat(inputs, 1), windows

    def score_map(self, image: np.ndarray, persons: Persons) -> np.ndarray | None:
        """``(H, W)`` float32 pretrained score input, quantised as in training; None without a score input."""
        if not self.config.score_input:
            return None
        return quantise_score(self.score_input(image, persons)).astype(np.float32) / 255

    @torch.no_grad()
    def crop_logits(self, image: np.ndarray, persons: Persons) -> tuple[torch.Tensor, list[CropWindow]]:
        """``(N, n, n)`` float32 mask logits on the (unmirrored) crops, and their windows."""
        score = self.score_map(image, persons)
        x, windows = self.inputs(image, persons, score=score)
        logits = self._run(x)
        if self.flip:
            logits = (logits + self._run(self.inputs(image, persons, flip=True, score=score)[0]).flip(-1)) / 2
        return logits, windows

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, n, n)`` mask logits of the inputs ``x``, in batches."""
        out = [self.model(x[i:i + self.batch_size])["mask"][:, 0].float() for i in range(0, len(x), self.batch_size)]
        n = self.crop_size
        return torch.cat(out) if out else x.new_zeros((0, n, n))

    def logits(self, image: np.ndarray, persons: Persons) -> np.ndarray:
        """``(N, H, W)`` float32 mask logit of each person in image coordinates (:data:`OUTSIDE_LOGIT` outside its
        window)."""
        if image.shape[:2] != tuple(persons.image_size):
            raise ValueError(f"image is {image.shape[1]}x{image.shape[0]} but persons are for "
                             f"{persons.image_size[1]}x{persons.image_size[0]}")
        if not len(persons):
            return np.zeros((0, *persons.image_size), np.float32)
        crops, windows = self.crop_logits(image, persons)
        return paste_crops(crops, windows, persons.image_size, OUTSIDE_LOGIT).cpu().numpy()

    def probabilities(self, image: np.ndarray, persons: Persons) -> np.ndarray:
        """``(N, H, W)`` float32 probability that each pixel belongs to each person."""
        return (1.0 / (1.0 + np.exp(-self.logits(image, persons)))).astype(np.float32)

    def masks(self, image: np.ndarray, persons: Persons, threshold: float = 0.5, exclusive: bool = True) -> np.ndarray:
        """``(N, H, W)`` bool masks (see :func:`masks_from_probabilities`)."""
        return masks_from_probabilities(self.probabilities(image, persons), threshold, exclusive)


def default_model_path() -> Path:
    """The weights shipped in the package: ``pose2instance/assets/person_net.safetensors`` (+ ``person_net.json``)."""
    return Path(str(files("pose2instance") / "assets" / f"{DEFAULT_MODEL_NAME}.safetensors"))


def load_default_model(device: str | torch.device | None = "cpu") -> PersonNet:
    """The shipped network, loaded offline from the package's assets (see the README for which variant and why)."""
    return load_model(default_model_path(), device)
