"""Shared fixtures: real COCO / OCHuman photos.

FIXTURE (tests/data, always there) is a small redistributable subset of the project's
data; most tests run on it. SHARED ($POSE2INSTANCE_DATA, else ../shared/data next to
the repository) is the full data set; the tests that need it (exact full-set counts,
images that may not be redistributed, thresholds measured on all dev persons) are
marked ``needs_shared`` and skipped, naming the missing folder, when it is absent.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

# as pose2instance does before it imports ONNX Runtime: no usage telemetry (test modules import it themselves)
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data"
SHARED = Path(os.environ.get("POSE2INSTANCE_DATA", ROOT.parent / "shared" / "data"))

COCO_DEV = FIXTURE / "coco_persons" / "annotations" / "person_keypoints_dev.json"
COCO_MASKS = FIXTURE / "coco_persons" / "annotations" / "person_masks_only.json"
OCHUMAN = FIXTURE / "ochuman" / "annotations" / "ochuman_dev.json"
IMAGES = FIXTURE / "coco_persons" / "images"
SHARED_DEV = SHARED / "coco_persons" / "annotations" / "person_keypoints_dev.json"
DEMO_IMAGE_ID = 790  # licence 4 (CC BY 2.0): four people around a table

HAVE_SHARED = SHARED_DEV.is_file() and SHARED.resolve() != FIXTURE.resolve()
SHARED_MISSING = (f"needs the full data set: {SHARED} is missing" if not SHARED_DEV.is_file()
                  else f"needs the full data set: {SHARED} is only the small test fixture")
needs_shared = pytest.mark.skipif(not HAVE_SHARED, reason=SHARED_MISSING)


def skip_without_mediapipe() -> None:
    """Skip the calling test module when the LiteRT interpreter is missing (the model files ship in the package)."""
    pytest.importorskip("ai_edge_litert")


@pytest.fixture(scope="session")
def coco_dev():
    """The fixture's dev file: 5 images, 34 persons (26 with keypoints), one crowd region (image 329323)."""
    from pose2instance.io import CocoPersons
    assert COCO_DEV.is_file(), f"test fixture missing: {COCO_DEV}"
    return CocoPersons(COCO_DEV)


@pytest.fixture(scope="session")
def coco_dev_full():
    """The full dev file of the shared data (75 images, 308 persons, 197 with keypoints); skips without it."""
    from pose2instance.io import CocoPersons
    if not HAVE_SHARED:
        pytest.skip(SHARED_MISSING)
    return CocoPersons(SHARED_DEV)


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
