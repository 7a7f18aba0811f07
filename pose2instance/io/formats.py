"""Recognise a people file by its content and read it once: the single dispatch for every supported format.

Formats (:data:`FORMATS`, a :class:`~pose2instance.named.Registry` of :class:`FileFormat` readers), told
apart by :func:`detect_format` on the parsed JSON, in this order:

* ``coco`` - a COCO annotation file (``{"images", "annotations", ...}``): ground truth, with masks;
* ``openpose`` - OpenPose's per-image output (``{"people": [...]}``);
* ``mediapipe`` - MediaPipe pose landmarks (see :mod:`pose2instance.io.mediapipe`);
* ``results`` - a COCO results list (``[{"image_id", "keypoints" | "bbox", "score"}, ...]``): any
  pose estimator's keypoints, or a detector's boxes.

A new format is one :class:`FileFormat` (how to recognise it, how to read its people and, if it has
them, its boxes) added to :data:`FORMATS`.

:func:`load_people` gives the people of one image from any of them, :func:`load_boxes`
the person boxes of one image (COCO annotations or detection results), and
:func:`load_people_per_image` the people of many images (for ``evaluate``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..named import Registry
from ..structures import Persons, check_box_near_image
from .coco import CocoPersons
from .jsonio import FormatError, read_json
from .mediapipe import looks_like_mediapipe, read_mediapipe
from .openpose import read_openpose
from .results import read_detection_boxes, read_keypoint_results, result_image_ids

@dataclass
class PeopleFile:
    """A parsed people file: its path, its format (one of :data:`FORMATS`) and its JSON content."""

    path: Path
    format: str
    data: Any

    @classmethod
    def read(cls, path: str | Path) -> "PeopleFile":
        """Parse ``path`` once and recognise its format."""
        path = Path(path)
        data = read_json(path)
        return cls(path, detect_format(data, path), data)


def detect_format(data: Any, path: Path) -> str:
    """Which of :data:`FORMATS` parsed JSON is (the first whose test accepts it); :class:`FormatError` naming
    ``path`` when none."""
    for name, entry in FORMATS.items():
        if entry.build.detect(data):
            return name
    raise FormatError(f"{path}: not a recognised keypoint file (COCO annotations or results, OpenPose or "
                      "MediaPipe JSON)")


def _pick_result_image(file: PeopleFile, image_path: Path, image_id: int | None) -> int:
    """The ``image_id`` a results file is read for: the given one, else the only one in the file, else the
    photo's numeric file name (COCO's ``000000000790.jpg`` is image 790) when the file has results for it."""
    ids = result_image_ids(file.data, file.path)
    stem = image_path.stem
    if image_id is None:
        if len(ids) == 1:
            image_id = ids[0]
            if stem.isdigit() and int(stem) != image_id:
                raise FormatError(f"{file.path} holds results for image_id {image_id}, but {image_path.name} looks "
                                  f"like image {int(stem)}; give image id {image_id} if they belong together",
                                  file.path, "image_id", "image_id")
        elif stem.isdigit() and int(stem) in ids:
            image_id = int(stem)
        else:
            raise FormatError(f"{file.path}: results for {len(ids)} images {ids[:5]}..., none named by the photo's "
                              f"file name {image_path.name}", file.path, "image_id", "image_id")
    if image_id not in ids:
        raise FormatError(f"{file.path}: no result has image_id {image_id} (it has {ids[:10]})")
    return image_id


def _coco_image(file: PeopleFile, image_path: Path, image_size: tuple[int, int],
                image_id: int | None) -> tuple[CocoPersons, int]:
    """The annotation file and the id of the image (by ``image_id``, else by file name), size checked."""
    ds = CocoPersons(file.path, data=file.data)
    named = ds.find_image(image_path.name)
    if image_id is None:
        image_id = named
        if image_id is None:
            raise FormatError(f"{file.path}: no image named {image_path.name}", file.path, "images", "image_id")
    if image_id not in ds.images:
        raise FormatError(f"{file.path}: image_id {image_id} is not in 'images'")
    if named is not None and named != image_id:
        warnings.warn(f"{file.path}: {image_path.name} is image {named} there by its file name, but image_id "
                      f"{image_id} was asked for: the people of image {image_id} are used", stacklevel=3)
    if ds.image_size(image_id) != tuple(image_size):
        raise FormatError(f"{image_path} is {image_size[1]}x{image_size[0]} but {file.path} says image {image_id} "
                          f"is {ds.image_size(image_id)[1]}x{ds.image_size(image_id)[0]}")
    return ds, image_id


def _coco_people(file: PeopleFile, image_path: Path, image_size: tuple[int, int],
                 image_id: int | None) -> tuple[Persons, int]:
    ds, image_id = _coco_image(file, image_path, image_size, image_id)
    return ds.persons(image_id), image_id


def _coco_boxes(file: PeopleFile, image_path: Path, image_size: tuple[int, int],
                image_id: int | None) -> tuple[np.ndarray, int]:
    ds, image_id = _coco_image(file, image_path, image_size, image_id)  # CocoPersons checked its boxes
    return ds.persons(image_id, with_masks=False).boxes, image_id


def _results_people(file: PeopleFile, image_path: Path, image_size: tuple[int, int],
                    image_id: int | None) -> tuple[Persons, int]:
    image_id = _pick_result_image(file, image_path, image_id)
    people = read_keypoint_results(file.data, file.path, {image_id: tuple(image_size)}, unknown_images="ignore")
    return people.get(image_id, Persons.empty(image_size, "score")), image_id


def _results_boxes(file: PeopleFile, image_path: Path, image_size: tuple[int, int],
                   image_id: int | None) -> tuple[np.ndarray, int]:
    image_id = _pick_result_image(file, image_path, image_id)
    boxes = read_detection_boxes(file.data, file.path, image_id)
    for i, box in enumerate(boxes):
        check_box_near_image(box, image_size, f"{file.path}: image {image_id}, box {i}")
    return boxes, image_id


def _one_image(read: Callable[[Any, Path, tuple[int, int]], Persons]):
    def people(file: PeopleFile, image_path: Path, image_size: tuple[int, int],
               image_id: int | None) -> tuple[Persons, int]:
        return read(file.data, file.path, image_size), image_id or 0
    return people


@dataclass(frozen=True)
class FileFormat:
    """One people file format: calling it reads the people of one image, ``(persons, image_id)``.

    Attributes:
        detect: is this parsed JSON of the format?
        people: ``(file, image_path, (H, W), image_id or None) -> (Persons, image_id)``.
        boxes: the same for the person boxes (``(M, 4)`` XYXY), or None for a format without boxes.
    """

    detect: Callable[[Any], bool]
    people: Callable[[PeopleFile, Path, tuple[int, int], int | None], tuple[Persons, int]]
    boxes: Callable[[PeopleFile, Path, tuple[int, int], int | None], tuple[np.ndarray, int]] | None = None

    def __call__(self, file: PeopleFile, image_path: Path, image_size: tuple[int, int],
                 image_id: int | None) -> tuple[Persons, int]:
        return self.people(file, image_path, image_size, image_id)


#: The format registry, in the order :func:`detect_format` tries them.
FORMATS = Registry("keypoints file format")
FORMATS.add("coco", FileFormat(lambda d: isinstance(d, Mapping) and "annotations" in d, _coco_people, _coco_boxes),
            "COCO annotation file (ground truth, with masks)")
FORMATS.add("openpose", FileFormat(lambda d: isinstance(d, Mapping) and "people" in d, _one_image(read_openpose)),
            "OpenPose JSON of one image (BODY_25 or COCO-18)")
FORMATS.add("mediapipe", FileFormat(looks_like_mediapipe, _one_image(read_mediapipe)),
            "MediaPipe pose landmarks JSON of one image")
FORMATS.add("results", FileFormat(lambda d: isinstance(d, list) and bool(d) and isinstance(d[0], Mapping)
                                  and "image_id" in d[0], _results_people, _results_boxes),
            "COCO keypoint or detection results (any pose estimator or detector)")


def load_people(path: str | Path, image_path: str | Path, image_size: tuple[int, int],
                image_id: int | None = None) -> tuple[Persons, int]:
    """The people of one image from any supported file (see the module doc); the file is parsed once.

    The image is found by ``image_id`` if given; otherwise, in a COCO annotation
    file, by its file name, and in a results file by being the only ``image_id``
    present. OpenPose and MediaPipe files hold one image (``image_id`` defaults to 0).

    Returns:
        ``(persons, image_id)``: visibility flags and masks from COCO annotations,
        confidences (``keypoint_kind="score"``) from every other format.
    """
    file = PeopleFile.read(path)
    return FORMATS.build(file.format, file, Path(image_path), image_size, image_id)


def load_boxes(path: str | Path, image_path: str | Path, image_size: tuple[int, int],
               image_id: int | None = None) -> tuple[np.ndarray, int]:
    """Person boxes of one image from a COCO annotation or detection results file.

    The image is picked as in :func:`load_people`. Crowd annotations are skipped.

    Returns:
        ``(boxes, image_id)``: ``(M, 4)`` float32 XYXY, and the file's id of the image.
    """
    file = PeopleFile.read(path)
    read = FORMATS[file.format].build.boxes
    if read is None:
        raise FormatError(f"{file.path}: a {file.format} file holds no person boxes; give a COCO annotation or "
                          "detection results file")
    return read(file, Path(image_path), image_size, image_id)


def load_people_per_image(path: str | Path, dataset: CocoPersons) -> dict[int, Persons]:
    """Estimated people for the images of ``dataset`` from a keypoint file or folder (``evaluate --keypoints``).

    ``path`` is a COCO keypoint results file, or a folder of per-image OpenPose or
    MediaPipe files named ``<image stem>.json`` or ``<image stem>_keypoints.json``
    (OpenPose's naming); images without a file have no people. Results for images that
    are not in ``dataset`` are an error.
    """
    path = Path(path)
    if path.is_dir():
        out = {}
        for image_id in dataset.image_ids:
            stem = Path(dataset.image(image_id)["file_name"]).stem
            for candidate in (path / f"{stem}.json", path / f"{stem}_keypoints.json"):
                if candidate.is_file():
                    out[image_id] = load_people(candidate, dataset.image_path(image_id),
                                                dataset.image_size(image_id), image_id)[0]
                    break
        if not out:
            raise FormatError(f"{path}: no <image stem>.json or <image stem>_keypoints.json for any image of "
                              f"{dataset.path.name}")
        return out
    file = PeopleFile.read(path)
    if file.format != "results":
        raise FormatError(f"{path}: a {file.format} file holds one image; give a COCO keypoint results file or a "
                          "folder of per-image files")
    sizes = {i: dataset.image_size(i) for i in dataset.image_ids}
    return read_keypoint_results(file.data, file.path, sizes)
