"""OpenPose's per-image output (``<image>_keypoints.json``): BODY_25 or COCO-18 people -> COCO-17 :class:`Persons`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..structures import Persons
from .jsonio import FormatError, read_json
from .people import estimated_persons, parse_keypoints


def load_openpose_json(path: str | Path, image_size: tuple[int, int]) -> Persons:
    """One OpenPose output file -> COCO-17 :class:`Persons` with confidences (see :func:`read_openpose`)."""
    return read_openpose(read_json(path), Path(path), image_size)


def read_openpose(data: Any, path: Path, image_size: tuple[int, int]) -> Persons:
    """Parsed OpenPose output ``{"people": [{"pose_keypoints_2d": [x, y, c] * (18 | 25)}, ...]}`` -> :class:`Persons`.

    People whose confidences are all zero are skipped with a warning. The person
    score is the mean confidence of the detected keypoints.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("people"), list):
        raise FormatError(f"{path}: not an OpenPose output (no 'people' list)")
    rows = []
    for i, person in enumerate(data["people"]):
        if not isinstance(person, Mapping):
            raise FormatError(f"{path}: people[{i}] must be an object with 'pose_keypoints_2d', "
                              f"got {type(person).__name__}")
        rows.append(parse_keypoints(person.get("pose_keypoints_2d", []), f"{path}: people[{i}]",
                                    ("openpose18", "body25"), field="pose_keypoints_2d"))
    kp = np.stack(rows) if rows else np.zeros((0, 17, 3), np.float32)
    return estimated_persons(kp, image_size, str(path))
