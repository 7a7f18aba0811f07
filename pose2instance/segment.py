"""One photo end to end, as ``pose2instance segment`` and the web page (``pose2instance serve``) run it.

* :func:`default_scorer`: the default person score (the shipped network) with its fallbacks;
* :func:`demo_files`: the shipped demo photo and its annotation file;
* :func:`find_people`: the people of a photo, from a keypoints file of any supported format or
  from a pose estimator (optionally given person boxes);
* :func:`segment_people`: person score, then one mask per person, with the COCO results entries
  and the time of each stage.

Nothing here writes files; the callers decide what to keep.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import numpy as np

from typing import TYPE_CHECKING

from .io import load_boxes, load_people, results_entries
from .registry import make_scorer
from .scores import PersonScorer
from .structures import Persons

if TYPE_CHECKING:
    from .pipeline import MaskMethod

#: The default person score of segment, demo and serve: the shipped network (BlazePose GHUM fine-tuned with the
#: pose, chosen on validation images: docs/learned.md), run by ONNX Runtime.
DEFAULT_SCORE = "learned"
#: The shipped demo photo (COCO 790, CC BY 2.0: four people around a table) and its annotation file.
DEMO_PHOTO, DEMO_ANNOTATIONS = "000000000790.jpg", "000000000790.json"


def demo_files() -> tuple[Path, Path]:
    """``(photo, annotations)`` paths of the shipped demo (the annotations hold its keypoints and masks)."""
    assets = Path(str(files("pose2instance") / "assets"))
    return assets / DEMO_PHOTO, assets / DEMO_ANNOTATIONS


def default_scorer(spec: str | None = None, allow_oracle_fallback: bool = False) -> PersonScorer:
    """The scorer of ``spec``; without one the default, else BlazePose (else, with ``allow_oracle_fallback``,
    the oracle), with a note on stderr naming the missing extra."""
    if spec is not None:
        return make_scorer(spec)
    try:
        return make_scorer(DEFAULT_SCORE)
    except ImportError as e:
        fallbacks = [("blazepose", "BlazePose's person mask")]
        if allow_oracle_fallback:
            fallbacks.append(("oracle", "the ground-truth masks"))
        for fallback, what in fallbacks:
            try:
                scorer = make_scorer(fallback)
            except ImportError:
                continue
            print(f"note: {e}\n      using {what} as the person score instead", file=sys.stderr)
            return scorer
        raise


def find_people(image: np.ndarray, image_path: Path, keypoints: Path | None = None, boxes: Path | None = None,
                image_id: int | None = None, estimator=None) -> tuple[Persons, int, float | None]:
    """The people of one photo.

    Args:
        image: ``(H, W, 3)`` uint8 RGB, read from ``image_path``.
        image_path: the photo's path (a keypoints file finds its image by this file name).
        keypoints: a keypoints file of any supported format (see :func:`pose2instance.io.load_people`); None:
            ``estimator`` finds the people.
        boxes: person boxes for the estimator (COCO annotation or detection results file).
        image_id: which image of the keypoints / boxes file (default: by file name, or the only one).
        estimator: a :class:`~pose2instance.estimators.PoseEstimator`, used when ``keypoints`` is None.

    Returns:
        ``(persons, image_id, estimate_ms)``: ``estimate_ms`` is None for people from a file; estimated
        people get the given ``image_id``, else the boxes file's id of the image, else 0.
    """
    size = image.shape[:2]
    if keypoints is not None:
        if boxes is not None:
            raise ValueError("boxes are for the pose estimator; the keypoints file already gives the people")
        persons, image_id = load_people(keypoints, image_path, size, image_id)
        return persons, image_id, None
    if estimator is None:
        raise ValueError("no keypoints file and no pose estimator: give one of them")
    box_array = None
    if boxes is not None:
        box_array, image_id = load_boxes(boxes, image_path, size, image_id)
    t = time.perf_counter()
    persons = estimator(image, box_array)
    return persons, image_id if image_id is not None else 0, 1e3 * (time.perf_counter() - t)


@dataclass
class Segmentation:
    """What :func:`segment_people` gives for one photo.

    Attributes:
        masks: ``(N, H, W)`` bool, disjoint, mask ``i`` for person ``i``.
        score: ``(H, W)`` float32 person probability the masks were fused from.
        entries: COCO segmentation results, one per person (RLE, ``score``, ``bbox``, ``area``, ``keypoints``).
        timing_ms: milliseconds per stage: ``score``, ``prior+fusion``.
    """

    masks: np.ndarray
    score: np.ndarray
    entries: list[dict]
    timing_ms: dict[str, float] = field(default_factory=dict)


def segment_people(image: np.ndarray, image_path: Path | None, persons: Persons, image_id: int,
                   scorer: PersonScorer, method: MaskMethod, category_id: int = 1) -> Segmentation:
    """Person score, then ``method``'s masks, then the COCO results entries of one photo.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        image_path: the photo's path (file-based scores find their map by it), or None.
        persons: its people (from :func:`find_people`).
        image_id: written into every results entry.
        scorer: the person score.
        method: e.g. ``Pose2Instance("geodesic")``.
        category_id: the person category's id in the results.
    """
    t0 = time.perf_counter()
    score = scorer(image, persons, image_path)
    t1 = time.perf_counter()
    masks = method.predict(persons, score, image)
    t2 = time.perf_counter()
    entries = results_entries(image_id, masks, persons.scores, category_id, persons.keypoints, with_box=True)
    return Segmentation(masks, score, entries, {"score": 1e3 * (t1 - t0), "prior+fusion": 1e3 * (t2 - t1)})
