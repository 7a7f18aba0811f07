"""Run a person-crop network on whole images, whatever runs the network: crops in, per-person logits out.

:class:`CropPredictor` takes an ``(H, W, 3)`` uint8 RGB image and its :class:`Persons`
(boxes XYXY in image pixels; keypoints for the ``pose`` variant), crops a square window
around every box (:class:`pose2instance.crops.CropWindow`, side ``max(w, h) * margin``),
adds the prior channels of the ``pose`` variant, runs the network on the crops in batches,
and pastes every mask logit back to image coordinates (bilinear, :mod:`pose2instance.resample`).
With ``flip`` (test-time augmentation) the network also runs on the mirrored crops (mirrored
windows: the prior channels swap left and right as in training) and the two logits are averaged.

The network itself is a subclass's :meth:`CropPredictor.run`: PyTorch
(:class:`pose2instance.learned.models.Predictor`) or ONNX Runtime
(:class:`pose2instance.learned.onnx.OnnxPredictor`, no torch needed). Numpy only here.
"""

from __future__ import annotations

from dataclasses import replace
from importlib.resources import files
from pathlib import Path

import numpy as np

from ..crops import CropWindow
from ..resample import image_planes, paste_crops, sample_crops, uint8_image
from ..structures import Persons
from .config import ModelConfig
from .inputs import PriorChannels
from .score_maps import make_score_input, quantise_score

#: Logit written outside a person's crop window (probability about 2e-9).
OUTSIDE_LOGIT = -20.0
DEFAULT_MODEL_NAME = "person_net"


def default_model_path(suffix: str = ".safetensors") -> Path:
    """A file of the network shipped in the package: ``pose2instance/assets/person_net<suffix>``: ``.safetensors``
    (PyTorch weights, with ``person_net.json``: its config and provenance) or ``.onnx`` (the same network exported
    for ONNX Runtime)."""
    return Path(str(files("pose2instance") / "assets" / f"{DEFAULT_MODEL_NAME}{suffix}"))


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


class CropPredictor:
    """Per-person mask logits of a person-crop network in full-image coordinates (see the module doc).

    Args:
        config: the network's :class:`ModelConfig`.
        batch_size: people per forward pass.
        flip: average the logits of each crop and of its mirror image (twice the network time).
        crop_size: side of the crops the network runs on (default: the size it was trained at); a larger
            crop shows the person at a higher resolution.
    """

    def __init__(self, config: ModelConfig, batch_size: int = 32, flip: bool = False, crop_size: int | None = None):
        self.config = config
        self.batch_size = batch_size
        self.flip = flip
        self.crop_size = replace(config, crop_size=crop_size).crop_size if crop_size else config.crop_size
        self.prior_channels = PriorChannels(config.priors, config.others, config.prior_clip) \
            if config.variant == "pose" else None
        self.score_input = make_score_input(config.score_input) if config.score_input else None

    def run(self, x: np.ndarray) -> np.ndarray:
        """The network: ``(B, C, n, n)`` float32 inputs -> ``(B, n, n)`` float32 mask logits (a subclass's)."""
        raise NotImplementedError

    def windows(self, persons: Persons, flip: bool = False) -> list[CropWindow]:
        """The crop window of every person (no jitter; mirrored with ``flip``)."""
        return [CropWindow.around(b, self.config.margin, flip=flip) for b in persons.boxes]

    def inputs(self, image: np.ndarray, persons: Persons, flip: bool = False,
               score: np.ndarray | None = None) -> tuple[np.ndarray, list[CropWindow]]:
        """``(N, 3 + P (+ 1), n, n)`` float32 network inputs, and their windows.

        ``score``: the ``(H, W)`` pretrained score input when already computed (see :meth:`score_map`).
        """
        n = self.crop_size
        windows = self.windows(persons, flip)
        planes = image_planes(image)
        if self.config.score_input:
            score = self.score_map(image, persons) if score is None else score
            planes = np.concatenate([planes, score[None]], 0)
        crops = sample_crops(planes, windows, n)
        inputs = [crops[:, :3]]
        if self.prior_channels is not None:
            channels = self.prior_channels
            inputs.append(np.stack([channels(persons, i, win, n, uint8_image(crops[i, :3]) if channels.needs_image
                                             else None) for i, win in enumerate(windows)]).astype(np.float32))
        if self.config.score_input:
            inputs.append(crops[:, 3:])
        return np.concatenate(inputs, 1), windows

    def score_map(self, image: np.ndarray, persons: Persons) -> np.ndarray | None:
        """``(H, W)`` float32 pretrained score input, quantised as in training; None without a score input."""
        if not self.config.score_input:
            return None
        return quantise_score(self.score_input(image, persons)).astype(np.float32) / 255

    def crop_logits(self, image: np.ndarray, persons: Persons) -> tuple[np.ndarray, list[CropWindow]]:
        """``(N, n, n)`` float32 mask logits on the (unmirrored) crops, and their windows."""
        score = self.score_map(image, persons)
        x, windows = self.inputs(image, persons, score=score)
        logits = self._batched(x)
        if self.flip:
            logits = (logits + self._batched(self.inputs(image, persons, flip=True, score=score)[0])[..., ::-1]) / 2
        return logits, windows

    def _batched(self, x: np.ndarray) -> np.ndarray:
        """``(B, n, n)`` float32 mask logits of the inputs ``x``, :meth:`run` on ``batch_size`` at a time."""
        n = self.crop_size
        out = [self.run(x[i:i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
        return np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros((0, n, n), np.float32)

    def logits(self, image: np.ndarray, persons: Persons) -> np.ndarray:
        """``(N, H, W)`` float32 mask logit of each person in image coordinates (:data:`OUTSIDE_LOGIT` outside its
        window)."""
        if image.shape[:2] != tuple(persons.image_size):
            raise ValueError(f"image is {image.shape[1]}x{image.shape[0]} but persons are for "
                             f"{persons.image_size[1]}x{persons.image_size[0]}")
        if not len(persons):
            return np.zeros((0, *persons.image_size), np.float32)
        crops, windows = self.crop_logits(image, persons)
        return paste_crops(crops, windows, persons.image_size, OUTSIDE_LOGIT)

    def probabilities(self, image: np.ndarray, persons: Persons) -> np.ndarray:
        """``(N, H, W)`` float32 probability that each pixel belongs to each person."""
        return (1.0 / (1.0 + np.exp(-self.logits(image, persons)))).astype(np.float32)

    def masks(self, image: np.ndarray, persons: Persons, threshold: float = 0.5, exclusive: bool = True) -> np.ndarray:
        """``(N, H, W)`` bool masks (see :func:`masks_from_probabilities`)."""
        return masks_from_probabilities(self.probabilities(image, persons), threshold, exclusive)
