"""MediaPipe pose landmarks (normalised image coordinates) -> COCO-17 :class:`Persons`.

Accepted shapes: ``[[{"x", "y", "z", "visibility"}, ... 33], ...]`` (one list per
person), a single person's list of 33 alone, or ``{"pose_landmarks": [...]}`` as
MediaPipe Tasks names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..layouts import to_coco17
from ..structures import Persons
from .jsonio import FormatError, read_json
from .people import estimated_persons


def load_mediapipe_json(path: str | Path, image_size: tuple[int, int]) -> Persons:
    """A MediaPipe landmark JSON file -> COCO-17 :class:`Persons` (see :func:`read_mediapipe`)."""
    return read_mediapipe(read_json(path), Path(path), image_size)


def looks_like_mediapipe(data: Any) -> bool:
    """Whether parsed JSON has one of the accepted MediaPipe landmark shapes (see the module doc)."""
    if isinstance(data, Mapping):
        return "pose_landmarks" in data or "landmarks" in data
    return isinstance(data, list) and bool(data) and (
        isinstance(data[0], list) or (isinstance(data[0], Mapping) and "x" in data[0]))


def read_mediapipe(data: Any, path: Path, image_size: tuple[int, int]) -> Persons:
    """Parsed MediaPipe landmarks -> :class:`Persons` with confidences.

    Pixel coordinates are ``x * W``, ``y * H`` (MediaPipe normalises by the image
    size); the keypoint confidence is ``visibility`` (times ``presence`` when given).
    """
    if isinstance(data, Mapping):
        data = data.get("pose_landmarks", data.get("landmarks"))
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        data = [data]  # one person
    if not isinstance(data, list):
        raise FormatError(f"{path}: expected MediaPipe pose landmarks (a list of 33 landmarks per person)")
    h, w = image_size
    rows = []
    for i, person in enumerate(data):
        if not isinstance(person, list) or len(person) != 33:
            raise FormatError(f"{path}: person {i} must be a list of 33 landmarks, got "
                              f"{len(person) if isinstance(person, list) else type(person).__name__}")
        arr = np.zeros((33, 3), np.float32)
        for j, lm in enumerate(person):
            if not isinstance(lm, Mapping) or "x" not in lm or "y" not in lm:
                raise FormatError(f"{path}: person {i} landmark {j} needs 'x' and 'y'")
            try:
                arr[j] = (float(lm["x"]) * w, float(lm["y"]) * h,
                          float(lm.get("visibility", 1.0)) * float(lm.get("presence", 1.0)))
            except (TypeError, ValueError):
                raise FormatError(f"{path}: person {i} landmark {j}: x, y, visibility, presence must be "
                                  f"numbers, got {dict(lm)}") from None
        rows.append(to_coco17(arr[None], "mediapipe33")[0])
    kp = np.stack(rows) if rows else np.zeros((0, 17, 3), np.float32)
    return estimated_persons(kp, image_size, str(path))
