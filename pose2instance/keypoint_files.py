"""Keypoints of one image from any common file: COCO annotations or results, OpenPose JSON, MediaPipe landmarks.

:func:`load_people_for_image` recognises the format from the content:

* a COCO annotation file (``{"images", "annotations", ...}``): ground truth, with masks;
* a COCO keypoint results list (``[{"image_id", "keypoints", "score"}, ...]``): any estimator;
* OpenPose's per-image output (``{"people": [{"pose_keypoints_2d": [...]}, ...]}``),
  BODY_25 (75 values) or COCO-18 (54 values) per person, confidences in [0, 1];
* MediaPipe pose landmarks in normalised image coordinates: ``[[{"x", "y", "z",
  "visibility"}, ... 33], ...]`` (one list per person; a single person's list of 33
  alone, or ``{"pose_landmarks": [...]}`` as MediaPipe Tasks names it, also work).

All are mapped to COCO-17 with confidences (``keypoint_kind="score"``) except COCO
annotations (visibility flags).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .coco import CocoFormatError, CocoPersons, load_keypoint_results, read_json
from .layouts import detect_layout, to_coco17
from .structures import Persons, boxes_from_keypoints


def _persons_from_arrays(kp: np.ndarray, image_size: tuple[int, int], source: str) -> Persons:
    """``(N, 17, 3)`` confidence keypoints -> Persons; box = keypoint extent, score = mean used confidence."""
    if not len(kp):
        return Persons.empty(image_size, "score")
    used = kp[..., 2] > 0
    scores = np.where(used.any(1), (kp[..., 2] * used).sum(1) / np.maximum(used.sum(1), 1), 0.0)
    keep = used.any(1)
    if not keep.all():
        warnings.warn(f"{source}: {int((~keep).sum())} person(s) with all-zero confidences skipped")
    kp = kp[keep]
    return Persons(boxes_from_keypoints(kp, used[keep], image_size), kp, image_size, "score",
                   scores=scores[keep], source=source)


def load_openpose_json(path: str | Path, image_size: tuple[int, int]) -> Persons:
    """One OpenPose output file (``<image>_keypoints.json``) -> COCO-17 :class:`Persons` with confidences.

    People whose confidences are all zero are skipped with a warning. The person
    score is the mean confidence of the detected keypoints.
    """
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, Mapping) or not isinstance(data.get("people"), list):
        raise CocoFormatError(f"{path}: not an OpenPose output (no 'people' list)")
    rows = []
    for i, person in enumerate(data["people"]):
        try:
            values = np.asarray(person.get("pose_keypoints_2d", []), np.float32) if isinstance(person, Mapping) \
                else None
        except (TypeError, ValueError):
            raise CocoFormatError(f"{path}: people[{i}].pose_keypoints_2d must be numbers") from None
        if values is None or values.size % 3 or values.size // 3 not in (18, 25):
            raise CocoFormatError(f"{path}: people[{i}].pose_keypoints_2d must hold 18 or 25 points "
                                  f"(x, y, c), got {None if values is None else values.size} values")
        rows.append(to_coco17(values.reshape(1, -1, 3), detect_layout(values.size // 3))[0])
    kp = np.stack(rows) if rows else np.zeros((0, 17, 3), np.float32)
    kp[..., 2] = np.clip(kp[..., 2], 0, 1)
    return _persons_from_arrays(kp, image_size, str(path))


def load_mediapipe_json(path: str | Path, image_size: tuple[int, int]) -> Persons:
    """MediaPipe pose landmarks (normalised ``x, y`` in [0, 1], ``visibility``) -> COCO-17 :class:`Persons`.

    Pixel coordinates are ``x * W``, ``y * H`` (MediaPipe normalises by the image
    size); the keypoint confidence is ``visibility`` (times ``presence`` when given).
    """
    path = Path(path)
    data = read_json(path)
    if isinstance(data, Mapping):
        data = data.get("pose_landmarks", data.get("landmarks"))
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        data = [data]  # one person
    if not isinstance(data, list):
        raise CocoFormatError(f"{path}: expected MediaPipe pose landmarks (a list of 33 landmarks per person)")
    h, w = image_size
    rows = []
    for i, person in enumerate(data):
        if not isinstance(person, list) or len(person) != 33:
            raise CocoFormatError(f"{path}: person {i} must be a list of 33 landmarks, got "
                                  f"{len(person) if isinstance(person, list) else type(person).__name__}")
        arr = np.zeros((33, 3), np.float32)
        for j, lm in enumerate(person):
            if not isinstance(lm, Mapping) or "x" not in lm or "y" not in lm:
                raise CocoFormatError(f"{path}: person {i} landmark {j} needs 'x' and 'y'")
            try:
                arr[j] = (float(lm["x"]) * w, float(lm["y"]) * h,
                          float(lm.get("visibility", 1.0)) * float(lm.get("presence", 1.0)))
            except (TypeError, ValueError):
                raise CocoFormatError(f"{path}: person {i} landmark {j}: x, y, visibility, presence must be "
                                      f"numbers, got {dict(lm)}") from None
        rows.append(to_coco17(arr[None], "mediapipe33")[0])
    kp = np.stack(rows) if rows else np.zeros((0, 17, 3), np.float32)
    kp[..., 2] = np.clip(kp[..., 2], 0, 1)
    return _persons_from_arrays(kp, image_size, str(path))


def load_people_for_image(keypoints_file: str | Path, image_path: str | Path, image_size: tuple[int, int],
                          image_id: int | None = None) -> tuple[Persons, int]:
    """The people of one image from any supported keypoint file (see the module doc).

    The image is found by ``image_id`` if given; otherwise, in a COCO annotation
    file, by its file name, and in a results file by being the only ``image_id``
    present. OpenPose and MediaPipe files hold one image (``image_id`` defaults to 0).

    Returns:
        ``(persons, image_id)``.
    """
    keypoints_file = Path(keypoints_file)
    data = read_json(keypoints_file)
    if isinstance(data, Mapping) and "annotations" in data:
        ds = CocoPersons(keypoints_file)
        if image_id is None:
            image_id = ds.find_image(Path(image_path).name)
            if image_id is None:
                raise CocoFormatError(f"{keypoints_file}: no image named {Path(image_path).name}; pass --image-id")
        if image_id not in ds.images:
            raise CocoFormatError(f"{keypoints_file}: image_id {image_id} is not in 'images'")
        if ds.image_size(image_id) != tuple(image_size):
            raise CocoFormatError(f"{image_path} is {image_size[1]}x{image_size[0]} but {keypoints_file} says "
                                  f"image {image_id} is {ds.image_size(image_id)[1]}x{ds.image_size(image_id)[0]}")
        return ds.persons(image_id), image_id
    if isinstance(data, Mapping) and "people" in data:
        return load_openpose_json(keypoints_file, image_size), image_id or 0
    looks_mediapipe = (isinstance(data, Mapping) and ("pose_landmarks" in data or "landmarks" in data)) or (
        isinstance(data, list) and data and (isinstance(data[0], list) or
                                             (isinstance(data[0], Mapping) and "x" in data[0])))
    if looks_mediapipe:
        return load_mediapipe_json(keypoints_file, image_size), image_id or 0
    if not isinstance(data, list) or not data:
        raise CocoFormatError(f"{keypoints_file}: not a recognised keypoint file (COCO annotations or results, "
                              "OpenPose or MediaPipe JSON)")
    ids = sorted({int(r["image_id"]) for r in data
                  if isinstance(r, Mapping) and isinstance(r.get("image_id"), (int, float))})
    if image_id is None:
        if len(ids) != 1:
            raise CocoFormatError(f"{keypoints_file}: results for {len(ids)} images {ids[:5]}...; pass --image-id")
        image_id = ids[0]
        stem = Path(image_path).stem
        if stem.isdigit() and int(stem) != image_id:
            raise CocoFormatError(f"{keypoints_file} holds results for image_id {image_id}, but {Path(image_path).name} "
                                  f"looks like image {int(stem)}; pass --image-id {image_id} if they belong together")
    if image_id not in ids:
        raise CocoFormatError(f"{keypoints_file}: no result has image_id {image_id} (it has {ids[:10]})")
    people = load_keypoint_results(keypoints_file, {image_id: tuple(image_size)}, unknown_images="ignore")
    return people.get(image_id, Persons.empty(image_size, "score")), image_id
