"""Fuzz tests of every reader (COCO annotations, keypoint and detection results, OpenPose, MediaPipe).

Each example takes a valid file of one format and replaces a few of its values, anywhere in
the tree, by arbitrary JSON (NaN, infinities, huge and negative numbers, strings, nested
lists and objects). Reading it, decoding every mask and building the people must either
work or raise a ``ValueError`` (``FormatError`` and the other errors that name the input):
never another exception, a crash or an allocation that kills the process.

Bounded (``HYPOTHESIS_PROFILE`` ``ci``, the default: 40 examples per format, a few seconds);
the long run is ``HYPOTHESIS_PROFILE=long python -m pytest tests/test_io_fuzz.py`` (3000 each).
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

import numpy as np  # noqa: E402

from pose2instance.evaluation.metrics import InstanceEvaluator  # noqa: E402
from pose2instance.io import CocoPersons, load_boxes, load_people  # noqa: E402

from conftest import COCO_DEV, DEMO_IMAGE_ID  # noqa: E402

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("long", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

IMAGE_NAME = f"{DEMO_IMAGE_ID:012d}.jpg"


def _templates() -> dict[str, object]:
    """One valid file of each format, for image 790 (640 x 422)."""
    dev = json.loads(COCO_DEV.read_text())
    image = next(im for im in dev["images"] if im["id"] == DEMO_IMAGE_ID)
    anns = [a for a in dev["annotations"] if a["image_id"] == DEMO_IMAGE_ID][:2]
    crowd = {"id": 1, "image_id": DEMO_IMAGE_ID, "bbox": [0, 0, 10, 10], "iscrowd": 1, "category_id": 1,
             "segmentation": {"size": [image["height"], image["width"]], "counts": [5, 10, image["height"] *
                                                                                      image["width"] - 15]}}
    kp = anns[0]["keypoints"]
    return {
        "coco": {"images": [image], "annotations": [*anns, crowd], "categories": dev["categories"]},
        "results": [{"image_id": DEMO_IMAGE_ID, "category_id": 1, "keypoints": kp, "score": 0.9,
                     "bbox": anns[0]["bbox"]} for _ in range(2)],
        "boxes": [{"image_id": DEMO_IMAGE_ID, "category_id": 1, "bbox": a["bbox"], "score": 0.8} for a in anns],
        "openpose": {"version": 1.3, "people": [{"pose_keypoints_2d": [100.0, 50.0, 0.8] * 25}]},
        "mediapipe": {"pose_landmarks": [[{"x": 0.3, "y": 0.4, "z": 0.0, "visibility": 0.9}] * 33]},
    }


TEMPLATES = _templates()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, -1, 1e12, -1e12, 1e308, 2**31, 2**63, 2**64, -2**64, 10**400, "6.4e2", "", "NaN", "..",
                       "/etc/passwd", "../x.jpg"])
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["id", "image_id", "bbox", "size", "counts", "keypoints", "x", "y", "score",
                         "file_name", "width", "height", "segmentation", "people", "pose_keypoints_2d", "iscrowd",
                         "area", "priors", "crop_size", "variant"])
        | st.text(max_size=4), inner, max_size=4),
    max_leaves=12)


def _paths(tree, prefix=()) -> list[tuple]:
    """Every place in a JSON tree: tuples of keys and indices (the root is ``()``)."""
    out = [prefix]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree[:3]):  # long number lists: their first entries are enough
            out += _paths(v, prefix + (i,))
    return out


def _replace(tree, path: tuple, value):
    if not path:
        return value
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return tree


@st.composite
def mutated(draw, name: str):
    tree = copy.deepcopy(TEMPLATES[name])
    for _ in range(draw(st.integers(1, 3))):
        tree = _replace(tree, draw(st.sampled_from(_paths(tree))), draw(json_values))
    return tree


def _read(name: str, tree, folder: Path) -> None:
    """Read ``tree`` as a file of format ``name`` the way ``segment`` and ``evaluate`` do."""
    path = folder / f"{name}.json"
    path.write_text(json.dumps(tree, allow_nan=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "boxes":
            boxes, _ = load_boxes(path, folder / IMAGE_NAME, (422, 640))
            assert boxes.shape[1:] == (4,)
            return
        people, _ = load_people(path, folder / IMAGE_NAME, (422, 640))
        assert people.keypoints.shape[1:] == (17, 3)
        if name == "coco":  # as evaluate does: every mask, the crowd regions, then COCO AP with pycocotools
            ds = CocoPersons(path, folder)
            evaluator = InstanceEvaluator(ds.data, ds.category_id)
            for image_id in ds.image_ids:
                gt = ds.persons(image_id)
                ds.crowd_mask(image_id)
                evaluator.process(image_id, gt.masks, gt.ids, np.ones(len(gt), bool), gt.masks)
            evaluator.evaluate()


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_the_valid_templates_read(name, tmp_path):
    _read(name, TEMPLATES[name], tmp_path)


def _fuzz(name: str):
    @given(tree=mutated(name))
    def check(tmp_path, tree):
        try:
            _read(name, tree, tmp_path)
        except ValueError:  # FormatError, ImageError and the other errors that name the input
            pass
    return check


test_fuzz_coco = _fuzz("coco")
test_fuzz_keypoint_results = _fuzz("results")
test_fuzz_detection_boxes = _fuzz("boxes")
test_fuzz_openpose = _fuzz("openpose")
test_fuzz_mediapipe = _fuzz("mediapipe")


def test_fuzz_model_config(tmp_path):
    """The model-config reader: a changed ``config.json`` loads or raises CheckpointError, before anything is built."""
    pytest.importorskip("torch")
    from pose2instance.learned.models import ModelConfig
    from pose2instance.learned.models.networks import read_config
    template = ModelConfig("pose").to_json()

    @given(tree=_mutated_config(template))
    def check(tree):
        (tmp_path / "config.json").write_text(json.dumps(tree, allow_nan=True))
        try:
            read_config(tmp_path / "model.safetensors").in_channels
        except ValueError:  # CheckpointError names the file
            pass
    check()


def _mutated_config(template):
    @st.composite
    def build(draw):
        tree = copy.deepcopy(template)
        for _ in range(draw(st.integers(1, 3))):
            tree = _replace(tree, draw(st.sampled_from(_paths(tree)[1:])), draw(json_values))
        return tree
    return build()
