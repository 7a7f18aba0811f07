"""The learned person-crop network as a person score (:class:`LearnedScore`) and as a method (:class:`LearnedMasks`).

:class:`LearnedScore` turns a :class:`~pose2instance.learned.predictor.CropPredictor`'s per-person
probabilities ``(N, H, W)`` into one person score, ``max`` over the people at every
pixel, so it plugs into the training-free fusion like any other :class:`PersonScorer`.
:class:`LearnedMasks` gives the network's own per-person masks, as a method of the registry.

:func:`make_predictor` picks what runs the network (:data:`RUNTIMES`): the shipped network runs
with ONNX Runtime (no torch) unless torch is asked for, or a GPU; an ``.onnx`` file with ONNX Runtime;
a PyTorch checkpoint or network with torch.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from ..pipeline import MaskMethod
from ..scores.base import PersonScorer
from ..structures import Persons
from .config import checkpoint_config
from .predictor import CropPredictor, default_model_path

#: What runs the network: ``auto`` (ONNX Runtime for the shipped network and ``.onnx`` files on the CPU, else
#: torch), ``onnx`` or ``torch``.
RUNTIMES = ("auto", "onnx", "torch")


def make_predictor(model: Any = None, device: str | None = None, batch_size: int = 32, flip: bool = False,
                   runtime: str = "auto") -> CropPredictor:
    """The predictor of ``model``: a ``.onnx`` file, a PyTorch checkpoint (``.safetensors`` or run folder), a
    ``PersonNet``, or None for the network shipped in the package.

    ``runtime`` (:data:`RUNTIMES`): ``auto`` runs the shipped network with ONNX Runtime when it is installed and
    no GPU ``device`` is asked for, else with torch. ImportError names what to install.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
    is_onnx = isinstance(model, (str, Path)) and Path(model).suffix.lower() == ".onnx"
    if model is None and runtime == "auto":
        runtime = "onnx" if find_spec("onnxruntime") is not None and device in (None, "cpu") else "torch"
    what = model if isinstance(model, (str, Path)) else type(model).__name__
    if is_onnx or (model is None and runtime == "onnx"):
        if runtime == "torch" or device not in (None, "cpu"):
            raise ValueError(f"{what}: an ONNX model runs with ONNX Runtime on the CPU (runtime onnx, device cpu)")
        from .onnx_net import OnnxPredictor
        return OnnxPredictor(model, batch_size, flip)
    if runtime == "onnx":
        raise ValueError(f"{what}: runtime onnx needs an .onnx file (export one with `pose2instance export-onnx`)")
    try:
        from .models import Predictor
    except ImportError as e:
        raise ImportError('running a PyTorch checkpoint needs torch: pip install "pose2instance[torch]"; the '
                          f"shipped network runs without it through ONNX Runtime ({e})") from e
    return Predictor(default_model_path() if model is None else model, device, batch_size, flip)


class LearnedScore(PersonScorer):
    """Person score of a learned network (default: the weights shipped in the package).

    Args:
        model: a ``.onnx`` file, a checkpoint (``.safetensors`` file or run folder), a ``PersonNet``, or None
            for the network shipped in the package.
        device: ``"cpu"``, ``"cuda"``, ... (torch; default the CPU for the shipped network, else CUDA when
            available).
        batch_size: people per forward pass.
        flip: test-time flip augmentation (see :class:`~pose2instance.learned.predictor.CropPredictor`).
        runtime: what runs the network (:data:`RUNTIMES`).

    Calling it gives ``(H, W)`` float32: the highest probability of any person at each
    pixel (0 where no one's crop reaches). With no people it returns zeros.
    """

    name = "learned"

    def __init__(self, model=None, device=None, batch_size: int = 32, flip: bool = False, runtime: str = "auto"):
        self.predictor = make_predictor(model, device, batch_size, flip, runtime)

    def __call__(self, image: np.ndarray, persons: Persons, image_path: str | Path | None = None) -> np.ndarray:
        if not len(persons):
            return np.zeros(image.shape[:2], np.float32)
        return self.predictor.probabilities(image, persons).max(0)


class LearnedMasks(MaskMethod):
    """The learned person-crop network's own masks.

    Args:
        model: a ``.onnx`` file, a checkpoint (``.safetensors`` file or run folder), a ``PersonNet``, or None
            for the network shipped in the package.
        device: ``"cpu"``, ``"cuda"`` ... (see :class:`LearnedScore`).
        threshold: probability above which a pixel is the person's.
        exclusive: a pixel goes only to the most probable person (disjoint masks).
        flip: test-time flip augmentation (see :class:`~pose2instance.learned.predictor.CropPredictor`).
        runtime: what runs the network (:data:`RUNTIMES`).

    A PyTorch network is loaded on first use (its checkpoint's config is checked at once); an ``.onnx`` file is
    opened at once: either way a bad file is refused when the method is built, not image by image.
    """

    name = "learned"
    needs_score = False
    needs_image = True

    def __init__(self, model: Any = None, device: str | None = None, threshold: float = 0.5, exclusive: bool = True,
                 flip: bool = False, runtime: str = "auto"):
        self.model, self.device, self.threshold, self.exclusive, self.flip = model, device, threshold, exclusive, flip
        self.runtime = runtime
        self._predictor = None
        if isinstance(model, (str, Path)):  # a missing file or a bad config is refused now, not image by image
            if Path(model).suffix.lower() == ".onnx":
                self._predictor = make_predictor(model, device, flip=flip, runtime=runtime)
            else:
                checkpoint_config(model)

    @property
    def predictor(self) -> CropPredictor:
        """The :class:`~pose2instance.learned.predictor.CropPredictor` (loaded once)."""
        if self._predictor is None:
            self._predictor = make_predictor(self.model, self.device, flip=self.flip, runtime=self.runtime)
        return self._predictor

    def predict(self, persons: Persons, score: np.ndarray | None, image: np.ndarray | None = None) -> np.ndarray:
        if image is None:
            raise ValueError("the learned method needs the image")
        return self.predictor.masks(image, persons, self.threshold, self.exclusive)
