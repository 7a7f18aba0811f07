"""Pose estimators: an RGB image (and optionally person boxes) in, scored COCO-17 people out.

Every estimator is a :class:`PoseEstimator`; build one by name with :func:`make_estimator`:

* ``blazepose`` - MediaPipe's BlazePose detector and GHUM full landmark model, offline
  through LiteRT (``pip install "pose2instance[mediapipe]"``); gives keypoint heatmaps too;
* ``yolo`` - an Ultralytics YOLO pose model.
"""

from __future__ import annotations

from .base import PoseEstimator

ESTIMATOR_NAMES = ("blazepose", "yolo")


def make_estimator(name: str, **kwargs) -> PoseEstimator:
    """The estimator called ``name`` (one of :data:`ESTIMATOR_NAMES`), built with ``kwargs``."""
    if name == "blazepose":
        from .blazepose import BlazePoseEstimator
        return BlazePoseEstimator(**kwargs)
    if name == "yolo":
        from .yolo import YoloPoseEstimator
        return YoloPoseEstimator(**kwargs)
    raise ValueError(f"unknown pose estimator {name!r}: use one of {', '.join(ESTIMATOR_NAMES)}")


__all__ = ["PoseEstimator", "make_estimator", "ESTIMATOR_NAMES"]
