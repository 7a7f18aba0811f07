"""The registries of the families that include torch models: person scores and methods, by name.

They sit above every wing (the learned entries import :mod:`pose2instance.learned` only when
built), so no wing imports back up. The other registries live with their family:
:data:`pose2instance.priors.PRIORS` and :data:`pose2instance.estimators.ESTIMATORS`.

:data:`SCORES` maps a score name to a factory of a :class:`~pose2instance.scores.PersonScorer`
(``name:ARG`` passes ``ARG``, e.g. ``learned:PATH``); :func:`make_scorer` also takes a
score-map file or folder.

:data:`METHODS` maps a name to a factory of a :class:`~pose2instance.pipeline.MaskMethod`:

* ``box``, ``oracle-box``, ``oracle-box-nearest`` - the baselines;
* one training-free Pose2Instance per prior of :data:`FUSION_PRIORS` (``euclidean``,
  ``geodesic``, ``heatmap``, ``heatmap-gdt``), taking the fusion options (``temperature``,
  ``box_weight``, ``background`` ...);
* ``learned`` - the learned network's own masks (option ``learned_model``: an ``.onnx`` file, a PyTorch
  checkpoint path or a network (torch), default the shipped one, run by ONNX Runtime).

A new method is a :class:`MaskMethod` subclass plus one entry here; callers read its
``needs_*`` attributes instead of testing names.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .scores import FileScore, OracleScore, PersonScorer
from .structures import Persons

if TYPE_CHECKING:
    from .pipeline import MaskMethod

#: The priors the training-free fusion is offered with (the per-keypoint / per-limb
#: Euclidean channels share the skeleton's affinity, so they are no methods of their own).
FUSION_PRIORS = ("euclidean", "geodesic", "heatmap", "heatmap-gdt")


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


#: The method registry: name -> factory taking the fusion options and ``learned_model`` (each imports what it
#: builds only when called).
METHODS: dict[str, Callable[..., MaskMethod]] = {
    "box": _baseline("box"),
    "oracle-box": _baseline("share"),
    "oracle-box-nearest": _baseline("nearest"),
    **{prior: _fusion(prior) for prior in FUSION_PRIORS},
    "learned": lambda learned_model=None, **fusion: _learned_masks(learned_model),
}


def make_method(name: str, **options: Any) -> MaskMethod:
    """The method called ``name`` (a key of :data:`METHODS`), built once with ``options``."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return METHODS[name](**options)


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
    try:
        from .learned.deeplab import DeepLabScore
    except ImportError as e:
        raise ImportError(f'DeepLabV3 needs torch and torchvision: pip install "pose2instance[torch]" ({e})') from e
    return DeepLabScore(arg or "default")


def _learned(arg: str | None) -> PersonScorer:
    from .learned.scores import LearnedScore
    return LearnedScore(arg)


#: The person-score registry: name -> factory of the argument after ``name:`` (None without one).
SCORES: dict[str, Callable[[str | None], PersonScorer]] = {
    "oracle": lambda arg: OracleScore(),
    "blazepose": _mediapipe("blazepose"),
    "selfie": _mediapipe("selfie"),
    "learned": _learned,
    "deeplab": _deeplab,
}
#: What each registry entry is, for help texts.
SCORE_HELP = {
    "oracle": "union of the ground-truth masks (an upper bound; needs an annotation file)",
    "blazepose": "BlazePose's person mask on a crop per person box (LiteRT)",
    "selfie": "MediaPipe selfie segmentation of the whole image (LiteRT)",
    "learned": "the shipped learned network, run by ONNX Runtime (learned:PATH for your .onnx file, or a PyTorch "
               "checkpoint with the torch extra)",
    "deeplab": "torchvision DeepLabV3 person class (deeplab:PATH for a local state dict; torch extra)",
}


def make_scorer(spec: str) -> PersonScorer:
    """A person scorer from ``name[:ARG]`` (a key of :data:`SCORES`) or a score-map file/folder path."""
    name, _, arg = spec.partition(":")
    if name in SCORES:
        return SCORES[name](arg or None)
    if Path(spec).exists():
        return FileScore(spec)
    if Path(spec).suffix.lower() in (".npy", ".png") or "/" in spec:
        raise ValueError(f"{spec}: score map not found")
    raise ValueError(f"unknown person score {spec!r}: use one of {', '.join(SCORES)} "
                     "or an existing .npy/.png file or folder")


def score_help() -> str:
    """One line per registered score, and the file option (for ``--help``)."""
    return "; ".join(f"{name}: {SCORE_HELP[name]}" for name in SCORES) + \
        "; or a .npy/.png score map (a folder of <image stem>.npy|png for evaluate)"
