"""The registries of the families that include torch models: person scores and mask methods, by name.

They sit above every wing (the learned entries import :mod:`pose2instance.learned` only when
built), so no wing imports back up. The other registries live with their family:
:data:`pose2instance.priors.PRIORS`, :data:`pose2instance.estimators.ESTIMATORS` and
:data:`pose2instance.io.formats.FORMATS`; all are :class:`pose2instance.named.Registry` objects.

:data:`SCORES`: a score name -> a factory of a :class:`~pose2instance.scores.PersonScorer` taking the
argument after ``name:`` (``learned:PATH``), or None; :func:`make_scorer` also takes a score-map file or
folder. Tag ``page``: offered on the web page.

:data:`METHODS`: a name -> a factory of a :class:`~pose2instance.pipeline.MaskMethod` taking the fusion
options and ``learned_model``:

* ``box``, ``oracle-box``, ``oracle-box-nearest`` - the baselines;
* one training-free Pose2Instance per fusion prior (:data:`FUSION_PRIORS`: the priors tagged ``fusion``);
* ``learned`` - the learned network's own masks (option ``learned_model``: an ``.onnx`` file, a PyTorch
  checkpoint path or a network (torch), default the shipped one, run by ONNX Runtime).

A new method is a :class:`MaskMethod` subclass plus one :meth:`~pose2instance.named.Registry.add` here;
callers read its ``needs_*`` attributes instead of testing names.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .named import Registry
from .priors import PRIORS
from .scores import FileScore, OracleScore, PersonScorer
from .structures import Persons

if TYPE_CHECKING:
    from .pipeline import MaskMethod

#: The priors the training-free fusion is offered with (the per-keypoint / per-limb Euclidean channels are
#: network inputs, no methods of their own).
FUSION_PRIORS = PRIORS.names("fusion")


def _learned_masks(model: Any) -> MaskMethod:
    from .learned.scores import LearnedMasks
    return LearnedMasks(model)


def _fusion(prior: str) -> Callable[..., MaskMethod]:
    def build(learned_model: Any = None, **fusion: Any) -> MaskMethod:
        from .pipeline import Pose2Instance
        return Pose2Instance(prior, **fusion)
    return build


def _baseline(kind: str) -> Callable[..., MaskMethod]:
    def build(learned_model: Any = None, **fusion: Any) -> MaskMethod:
        from .pipeline import BoxMasks, OracleBoxMasks
        return BoxMasks() if kind == "box" else OracleBoxMasks(kind)
    return build


#: The method registry: name -> factory taking the fusion options and ``learned_model``.
METHODS = Registry("method")
METHODS.add("box", _baseline("box"), "each person's filled box")
METHODS.add("oracle-box", _baseline("share"), "person score pixels inside each box (the segmentation-only "
            "baseline)")
METHODS.add("oracle-box-nearest", _baseline("nearest"), "oracle-box, a shared pixel to the nearest box centre")
for _prior in FUSION_PRIORS:
    METHODS.add(_prior, _fusion(_prior), f"Pose2Instance fusion with the {_prior} prior")
METHODS.add("learned", lambda learned_model=None, **fusion: _learned_masks(learned_model),
            "the learned network's own masks")


def make_method(name: str, **options: Any) -> MaskMethod:
    """The method called ``name`` (a key of :data:`METHODS`), built once with ``options``."""
    return METHODS.build(name, **options)


def make_methods(names: list[str], **options: Any) -> list[MaskMethod]:
    """The methods called ``names``, each built once with ``options`` (for
    :func:`~pose2instance.evaluation.evaluate_dataset`)."""
    return [make_method(name, **options) for name in names]


def predict_masks(method: str, persons: Persons, score: np.ndarray | None, image: np.ndarray | None = None,
                  **options: Any) -> np.ndarray:
    """``(N, H, W)`` bool masks of one method on one image (builds the method: for many images, build it once
    with :func:`make_method`)."""
    return make_method(method, **options).predict(persons, score, image)


def _mediapipe(kind: str):
    def build(arg: str | None) -> PersonScorer:
        from .scores.mediapipe import BlazePoseMaskScore, SelfieScore
        return SelfieScore() if kind == "selfie" else BlazePoseMaskScore()
    return build


def _deeplab(arg: str | None) -> PersonScorer:
    from .learned.deeplab import DeepLabScore
    return DeepLabScore(arg or "default")


def _learned(arg: str | None) -> PersonScorer:
    from .learned.scores import LearnedScore
    return LearnedScore(arg)


#: The person-score registry: name -> factory of the argument after ``name:`` (None without one).
SCORES = Registry("person score")
SCORES.add("oracle", lambda arg: OracleScore(), "union of the ground-truth masks (an upper bound; needs an "
           "annotation file)", tags=("page",))
SCORES.add("blazepose", _mediapipe("blazepose"), "BlazePose's person mask on a crop per person box (LiteRT)",
           ("ai_edge_litert",), tags=("page",))
SCORES.add("selfie", _mediapipe("selfie"), "MediaPipe selfie segmentation of the whole image (LiteRT)",
           ("ai_edge_litert",), tags=("page",))
SCORES.add("learned", _learned, "the shipped learned network, run by ONNX Runtime (learned:PATH for your .onnx "
           "file, or a PyTorch checkpoint with the torch extra)", ("onnxruntime",), tags=("page",))
SCORES.add("deeplab", _deeplab, "torchvision DeepLabV3 person class (deeplab:PATH for a local state dict)",
           ("torch", "torchvision"), extra="torch")


def make_scorer(spec: str) -> PersonScorer:
    """A person scorer from ``name[:ARG]`` (a key of :data:`SCORES`) or a score-map file/folder path."""
    name, _, arg = spec.partition(":")
    if name in SCORES:
        return SCORES.build(name, arg or None)
    if Path(spec).exists():
        return FileScore(spec)
    if Path(spec).suffix.lower() in (".npy", ".png") or "/" in spec:
        raise ValueError(f"{spec}: score map not found")
    raise ValueError(f"unknown person score {spec!r}: use one of {', '.join(SCORES)} "
                     "or an existing .npy/.png file or folder")


def score_help() -> str:
    """One line per registered score, and the file option (for ``--help``)."""
    return SCORES.help_text() + "; or a .npy/.png score map (a folder of <image stem>.npy|png for evaluate)"
