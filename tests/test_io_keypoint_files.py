import json

import numpy as np
import pytest

from pose2instance.io import CocoFormatError
from pose2instance.io import load_mediapipe_json, load_openpose_json, load_people
from pose2instance.layouts import LAYOUTS

from conftest import IMAGES

IMAGE = IMAGES / "000000000790.jpg"


def _to_layout(kp17, layout, n):
    """Put COCO-17 keypoints (x, y, v>0 -> 0.9) at their places of another layout."""
    out = np.zeros((n, 3))
    for k, src in enumerate(LAYOUTS[layout]):
        if kp17[k, 2] > 0:
            out[src] = [kp17[k, 0], kp17[k, 1], 0.9]
    return out


@pytest.mark.parametrize("layout,n", [("body25", 25), ("openpose18", 18)])
def test_openpose_json_round_trip(tmp_path, demo, layout, n):
    _, gt = demo
    people = [{"person_id": [-1], "pose_keypoints_2d": _to_layout(k, layout, n).ravel().tolist()} for k in gt.keypoints]
    people.append({"pose_keypoints_2d": [0.0] * (3 * n)})  # OpenPose sometimes emits empty people
    path = tmp_path / "000000000790_keypoints.json"
    path.write_text(json.dumps({"version": 1.3, "people": people}))
    with pytest.warns(UserWarning, match="1 person\\(s\\) with all-zero keypoint confidences and no box skipped"):
        persons = load_openpose_json(path, gt.image_size)
    assert len(persons) == 4 and persons.keypoint_kind == "score"
    used = gt.keypoints[..., 2] > 0
    np.testing.assert_allclose(persons.keypoints[..., :2][used], gt.keypoints[..., :2][used], atol=1e-3)
    np.testing.assert_allclose(persons.keypoints[..., 2][used], 0.9)
    assert (persons.keypoints[..., 2][~used] == 0).all()
    np.testing.assert_allclose(persons.scores, 0.9, rtol=1e-6)
    with pytest.warns(UserWarning):
        same, image_id = load_people(path, IMAGE, gt.image_size)
    assert len(same) == 4 and image_id == 0


def test_mediapipe_json_round_trip(tmp_path, demo):
    _, gt = demo
    h, w = gt.image_size
    people = []
    for k in gt.keypoints:
        arr = _to_layout(k, "mediapipe33", 33)
        people.append([{"x": x / w, "y": y / h, "z": 0.0, "visibility": c} for x, y, c in arr])
    path = tmp_path / "landmarks.json"
    path.write_text(json.dumps({"pose_landmarks": people}))
    persons = load_mediapipe_json(path, gt.image_size)
    used = gt.keypoints[..., 2] > 0
    np.testing.assert_allclose(persons.keypoints[..., :2][used], gt.keypoints[..., :2][used], atol=1e-3)
    path.write_text(json.dumps(people[0]))  # one person alone
    assert len(load_people(path, IMAGE, gt.image_size)[0]) == 1


def test_bad_openpose_and_mediapipe_files(tmp_path):
    path = tmp_path / "op.json"
    path.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1, 2, 0.5] * 20}]}))
    with pytest.raises(CocoFormatError, match=r"people\[0\]: 'pose_keypoints_2d' has \d+ values; expected 3 x 18 = 54"):
        load_openpose_json(path, (100, 100))
    path.write_text(json.dumps([[{"x": 0.5, "y": 0.5}] * 32]))
    with pytest.raises(CocoFormatError, match="person 0 must be a list of 33 landmarks, got 32"):
        load_mediapipe_json(path, (100, 100))
    path.write_text(json.dumps([[{"x": 0.5}] * 33]))
    with pytest.raises(CocoFormatError, match="person 0 landmark 0 needs 'x' and 'y'"):
        load_mediapipe_json(path, (100, 100))


def test_an_image_id_that_is_not_the_photo_s_own_is_said(tmp_path):
    """Issue 21: a photo named as one image of an annotation file, read as another image id, gets a warning
    (the people of the id asked for are used, as asked)."""
    from pose2instance.segment import demo_files
    photo, annotations = demo_files()
    data = json.loads(annotations.read_text())
    other = dict(data["images"][0], id=791, file_name="000000000791.jpg")
    data["images"].append(other)
    data["annotations"].append(dict(data["annotations"][0], id=1, image_id=791))
    path = tmp_path / "two.json"
    path.write_text(json.dumps(data))
    with pytest.warns(UserWarning, match="000000000790.jpg is image 790 there by its file name, but image_id 791"):
        persons, image_id = load_people(path, photo, (other["height"], other["width"]), 791)
    assert image_id == 791 and len(persons) == 1
