"""One photo end to end, as ``pose2instance segment``, ``demo`` and the web page run it: the :class:`Segmenter`.

* :class:`SegmentOptions` (with :class:`~pose2instance.fusion.FusionOptions`): what to run, typed and checked;
* :class:`Segmenter`: built once from the options (person score, prior and fusion, pose estimator), then
  :meth:`Segmenter.run` per photo: the people (given, or found by the estimator), the person score, one mask
  per person, the COCO results entries, the time of each stage and the notes for the user;
* :func:`read_people`: the people (or the estimator's boxes) of a photo from a file of any supported format;
* :func:`default_scorer`: the default person score (the shipped network) with its fallbacks;
* :func:`demo_files`: the shipped demo photo and its annotation file.

Nothing here writes files; the callers (command line, page, benchmarks) decide what to keep.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import numpy as np

from .estimators import AUTO_ORDER, PERMISSIVE_NOTE
from .fusion import FusionOptions
from .io import load_boxes, load_people, results_entries
from .registry import make_scorer
from .scores import PersonScorer
from .structures import Persons

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


def read_people(image_path: Path, image_size: tuple[int, int], keypoints: Path | None = None,
                boxes: Path | None = None, image_id: int | None = None
                ) -> tuple[Persons | None, np.ndarray | None, int | None]:
    """The people of one photo from a keypoints file, or the person boxes its pose estimator is to use.

    Args:
        image_path: the photo's path (a keypoints or boxes file finds its image by this file name).
        image_size: ``(H, W)`` of the photo.
        keypoints: a keypoints file of any supported format (see :func:`pose2instance.io.load_people`).
        boxes: person boxes for the estimator (COCO annotation or detection results file).
        image_id: which image of the file (default: by file name, or the only one).

    Returns:
        ``(persons, boxes, image_id)``: persons from ``keypoints`` (else None), ``(K, 4)`` XYXY boxes from
        ``boxes`` (else None), and the file's id of the image (the given one without a file).
    """
    if keypoints is not None:
        if boxes is not None:
            raise ValueError("boxes are for the pose estimator; the keypoints file already gives the people")
        persons, image_id = load_people(keypoints, image_path, image_size, image_id)
        return persons, None, image_id
    if boxes is not None:
        box_array, image_id = load_boxes(boxes, image_path, image_size, image_id)
        return None, box_array, image_id
    return None, None, image_id


@dataclass(frozen=True)
class SegmentOptions:
    """What :class:`Segmenter` runs (checked when made).

    Attributes:
        score: the person score, a :func:`~pose2instance.registry.make_scorer` spec (``learned``, ``blazepose``,
            ``learned:PATH`` ...); None: :data:`DEFAULT_SCORE`, falling back to BlazePose when its runtime is
            missing (and, with ``allow_oracle_fallback``, to the oracle).
        prior: the keypoint prior of the fusion (:data:`pose2instance.registry.FUSION_PRIORS`).
        fusion: the fusion's options.
        estimator: the pose estimator for photos without people (``auto``, ``blazepose``, ``yolo``).
        category_id: the person category's id in the COCO results.
        allow_oracle_fallback: see ``score``.
    """

    score: str | None = None
    prior: str = "geodesic"
    fusion: FusionOptions = field(default_factory=FusionOptions)
    estimator: str = "auto"
    category_id: int = 1
    allow_oracle_fallback: bool = False

    def __post_init__(self):
        from .registry import FUSION_PRIORS
        if self.prior not in FUSION_PRIORS:
            raise ValueError(f"unknown prior {self.prior!r}; choose from {', '.join(FUSION_PRIORS)}")
        if not isinstance(self.fusion, FusionOptions):
            raise ValueError(f"fusion must be FusionOptions, got {type(self.fusion).__name__}")


@dataclass
class Segmentation:
    """What :meth:`Segmenter.run` gives for one photo.

    Attributes:
        persons: the people, ``N`` of them (given, or found by the estimator).
        masks: ``(N, H, W)`` bool, disjoint, mask ``i`` for person ``i``.
        score: ``(H, W)`` float32 person probability the masks were fused from.
        entries: COCO segmentation results, one per person (RLE, ``score``, ``bbox``, ``area``, ``keypoints``).
        image_id: written into every entry.
        estimator: the name of the estimator that found the people, or None for given people.
        timing_ms: milliseconds per stage: ``pose estimation`` (estimated people only), ``person score``,
            ``prior + fusion``.
        notes: what the user should know, one sentence each: who found the people (and, once, that the
            optional YOLO extra finds more when ``auto`` ran BlazePose without it), a prior that fell back.
    """

    persons: Persons
    masks: np.ndarray
    score: np.ndarray
    entries: list[dict]
    image_id: int
    estimator: str | None = None
    timing_ms: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Segmenter:
    """One photo end to end (see the module doc), its models built once.

    Args:
        options: what to run.
        scorer: an already built person score (a server shares one); default: built from ``options.score``.
        estimator: an already built pose estimator; default: built from ``options.estimator`` when a photo
            without people first needs it.

    Raises:
        ValueError / ImportError: a bad option, or a score whose runtime is missing (the message says what to
        install).

    Example::

        segmenter = Segmenter(SegmentOptions(prior="geodesic"))
        done = segmenter.run(image)                  # people found by the estimator
        done = segmenter.run(image, persons)         # or given (e.g. read_people(...) or CocoPersons)
        done.masks, done.entries, done.notes
    """

    def __init__(self, options: SegmentOptions = SegmentOptions(), scorer: PersonScorer | None = None,
                 estimator=None):
        from .pipeline import Pose2Instance
        self.options = options
        self.scorer = scorer if scorer is not None else default_scorer(options.score, options.allow_oracle_fallback)
        self.method = Pose2Instance(options.prior, **options.fusion.keywords())
        self._estimator = estimator
        self._said_permissive = False

    @property
    def estimator(self):
        """The pose estimator (built on first use)."""
        if self._estimator is None:
            from .estimators import make_estimator
            self._estimator = make_estimator(self.options.estimator)
        return self._estimator

    def run(self, image: np.ndarray, persons: Persons | None = None, boxes: np.ndarray | None = None,
            image_path: Path | None = None, image_id: int | None = None) -> Segmentation:
        """Masks for the people of one photo.

        Args:
            image: ``(H, W, 3)`` uint8 RGB.
            persons: its people; None: the pose estimator finds them (in ``boxes`` when given).
            boxes: ``(K, 4)`` XYXY person boxes for the estimator (only without ``persons``).
            image_path: the photo's path (score-map files are found by it), or None.
            image_id: written into the results entries (default 0).
        """
        timing, notes, estimator = {}, [], None
        if persons is None:
            estimator = self.estimator
            t = time.perf_counter()
            persons = estimator(image, boxes)
            timing["pose estimation"] = 1e3 * (time.perf_counter() - t)
            notes.append(f"{len(persons)} {'person' if len(persons) == 1 else 'people'} found by {estimator.name} "
                         f"in {timing['pose estimation']:.0f} ms")
            if self.options.estimator == "auto" and estimator.name != AUTO_ORDER[0] and not self._said_permissive:
                notes.append(PERMISSIVE_NOTE)  # the better estimator is not installed: said once per segmenter
                self._said_permissive = True
        elif boxes is not None:
            raise ValueError("boxes are for the pose estimator; the people are already given")
        if self.scorer.needs_masks and persons.masks is None:
            raise ValueError(f"the {self.scorer.name} score needs ground-truth masks: give people from a COCO "
                             "annotation file with segmentations")
        if self.method.needs_heatmaps and persons.heatmaps is None:
            notes.append(f"these keypoints come without heatmaps; {self.options.prior} uses the Euclidean "
                         "skeleton prior")
        image_id = 0 if image_id is None else image_id
        t0 = time.perf_counter()
        score = self.scorer(image, persons, image_path)
        t1 = time.perf_counter()
        masks = self.method.predict(persons, score, image)
        t2 = time.perf_counter()
        entries = results_entries(image_id, masks, persons.scores, self.options.category_id, persons.keypoints,
                                  with_box=True)
        timing.update({"person score": 1e3 * (t1 - t0), "prior + fusion": 1e3 * (t2 - t1)})
        return Segmentation(persons, masks, score, entries, image_id, estimator and estimator.name, timing, notes)
