"""Where the per-pixel person score comes from.

Every source is a :class:`PersonScorer`: ``scorer(image, persons) -> (H, W)``
float32 person probability in ``[0, 1]``. Build one from a command-line spec with
:func:`make_scorer`:

* ``oracle`` - the union of the ground-truth masks (a diagnostic ceiling; needs ``persons.masks``);
* a path to a ``.npy`` / ``.png`` score map, or to a folder of them named after the images;
* ``selfie`` - MediaPipe selfie segmentation (offline, ``pip install pose2instance[mediapipe]``);
* ``blazepose`` - BlazePose's person mask, run on a crop around each box (same extra);
* ``deeplab`` - torchvision DeepLabV3-ResNet50's person class (needs torch and torchvision's
  cached weights), or ``deeplab:PATH`` with a local state dict.
"""

from __future__ import annotations

from pathlib import Path

from .base import FileScore, OracleScore, PersonScorer, read_score_map

SCORER_NAMES = ("oracle", "selfie", "blazepose", "deeplab", "learned")


def make_scorer(spec: str) -> PersonScorer:
    """A person scorer from its name (:data:`SCORER_NAMES`) or a score-map file/folder path."""
    if spec == "oracle":
        return OracleScore()
    if spec in ("selfie", "blazepose"):
        from .mediapipe import BlazePoseMaskScore, SelfieScore
        return SelfieScore() if spec == "selfie" else BlazePoseMaskScore()
    if spec == "deeplab" or spec.startswith("deeplab:"):
        from .deeplab import DeepLabScore
        return DeepLabScore(spec.partition(":")[2] or "default")
    if spec == "learned" or spec.startswith("learned:"):
        try:
            from .learned import LearnedScore
        except ImportError as e:
            raise ImportError(f"the learned person score needs torch: pip install \"pose2instance[torch]\" ({e})") from e
        return LearnedScore(spec.partition(":")[2] or None)
    if Path(spec).exists():
        return FileScore(spec)
    if Path(spec).suffix.lower() in (".npy", ".png") or "/" in spec:
        raise ValueError(f"{spec}: score map not found")
    raise ValueError(f"unknown person score {spec!r}: use one of {', '.join(SCORER_NAMES)} "
                     "or an existing .npy/.png file or folder")


__all__ = ["PersonScorer", "OracleScore", "FileScore", "read_score_map", "make_scorer", "SCORER_NAMES"]
