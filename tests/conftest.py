"""Shared fixtures: the real COCO / OCHuman photos of ../shared/data."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

DATA = Path(os.environ.get("POSE2INSTANCE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
COCO_DEV = DATA / "coco_persons" / "annotations" / "person_keypoints_dev.json"
COCO_MASKS = DATA / "coco_persons" / "annotations" / "person_masks_only.json"
OCHUMAN = DATA / "ochuman" / "annotations" / "ochuman_dev.json"
DEMO_IMAGE_ID = 790  # licence 4 (CC BY 2.0): four people around a table


def skip_without_mediapipe() -> None:
    """Skip the calling test module when the LiteRT interpreter or the MediaPipe model files are missing."""
    import importlib.util
    pytest.importorskip("ai_edge_litert")
    if importlib.util.find_spec("mediapipe") is None:
        pytest.skip("the mediapipe wheel (its .tflite files) is not installed", allow_module_level=True)


@pytest.fixture(scope="session")
def coco_dev():
    from pose2instance.io import CocoPersons
    assert COCO_DEV.is_file(), f"real data missing: {COCO_DEV} (set POSE2INSTANCE_DATA)"
    return CocoPersons(COCO_DEV)


@pytest.fixture(scope="session")
def ochuman():
    from pose2instance.io import CocoPersons
    return CocoPersons(OCHUMAN)


@pytest.fixture(scope="session")
def demo(coco_dev):
    """(image, persons) of the four people around a table."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # real annotations need no repair
        return coco_dev.load_image(DEMO_IMAGE_ID), coco_dev.persons(DEMO_IMAGE_ID)
