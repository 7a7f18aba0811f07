import numpy as np
import pytest

from pose2instance.layouts import detect_layout, to_coco17
from pose2instance.structures import (COCO_FLIP_INDEX, COCO_KEYPOINT_NAMES, COCO_SKELETON, Persons,
                                      boxes_from_keypoints, xywh_to_xyxy, xyxy_to_xywh)


def test_skeleton_matches_the_coco_category(coco_dev):
    cat = coco_dev.data["categories"][0]
    assert tuple(cat["keypoints"]) == COCO_KEYPOINT_NAMES
    assert sorted(COCO_SKELETON) == sorted((a - 1, b - 1) for a, b in cat["skeleton"])
    assert len(COCO_SKELETON) == 19


def test_flip_index_swaps_left_and_right():
    for i, j in enumerate(COCO_FLIP_INDEX):
        a, b = COCO_KEYPOINT_NAMES[i], COCO_KEYPOINT_NAMES[j]
        assert a.replace("left", "X").replace("right", "left").replace("X", "right") == b


def test_box_conversions_round_trip():
    b = np.array([[10, 20, 30, 40]], np.float32)
    np.testing.assert_allclose(xywh_to_xyxy(b), [[10, 20, 40, 60]])
    np.testing.assert_allclose(xyxy_to_xywh(xywh_to_xyxy(b)), b)


def test_persons_validates_shapes_and_boxes():
    kp = np.zeros((1, 17, 3))
    with pytest.raises(ValueError, match=r"\(N, 17, 3\)"):
        Persons(np.zeros((1, 4)), np.zeros((1, 18, 3)), (10, 10))
    with pytest.raises(ValueError, match="person 0.*non-positive"):
        Persons(np.array([[5, 5, 5, 9]]), kp, (10, 10))
    with pytest.raises(ValueError, match="person 0.*not finite"):
        Persons(np.array([[np.nan, 0, 5, 9]]), kp, (10, 10))
    with pytest.raises(ValueError, match="visibility flags"):
        Persons(np.array([[0, 0, 5, 9]]), np.full((1, 17, 3), 0.7), (10, 10))
    with pytest.raises(ValueError, match=r"scores must lie in \[0, 1\]"):
        Persons(np.array([[0, 0, 5, 9]]), np.full((1, 17, 3), 3.0), (10, 10), "score")


def test_nan_and_far_out_keypoints_are_repaired_with_a_warning():
    kp = np.zeros((1, 17, 3))
    kp[0, 0] = [np.nan, 3, 2]
    kp[0, 5] = [1e6, 3, 2]
    kp[0, 6] = [-2, 3, 2]  # just outside: kept
    with pytest.warns(UserWarning) as record:
        p = Persons(np.array([[0, 0, 5, 9]]), kp, (10, 10))
    assert [str(w.message).split(" at ")[0] for w in record] == [
        "person 0: keypoint nose", "person 0: keypoint left_shoulder"]
    assert p.keypoints[0, 0, 2] == 0 and p.keypoints[0, 5, 2] == 0
    assert p.keypoints[0, 6, 2] == 2


def test_confidence_rule_for_visibility_and_scores():
    kp = np.zeros((1, 17, 3))
    kp[0, :3, 2] = [2, 1, 0]
    p = Persons(np.array([[0, 0, 5, 9]]), kp, (10, 10))
    np.testing.assert_allclose(p.keypoint_confidence(occluded_weight=0.25)[0, :3], [1, 0.25, 0])
    kp[0, :3, 2] = [0.9, 0.05, 0.5]
    p = Persons(np.array([[0, 0, 5, 9]]), kp, (10, 10), "score")
    np.testing.assert_allclose(p.keypoint_confidence(min_score=0.1)[0, :3], [0.9, 0, 0.5])


def test_subset_and_empty(coco_dev):
    p = coco_dev.persons(790)
    sub = p.subset([1, 2])
    assert len(sub) == 2 and sub.masks.shape == (2, *p.image_size)
    np.testing.assert_array_equal(sub.ids, p.ids[[1, 2]])
    assert len(Persons.empty((4, 5))) == 0


def test_boxes_from_keypoints_clip_to_image():
    kp = np.zeros((2, 17, 3), np.float32)
    kp[0, :2] = [[10, 10, 1], [50, 90, 1]]
    boxes = boxes_from_keypoints(kp, kp[..., 2] > 0, (100, 60))
    assert boxes[0, 0] < 10 and boxes[0, 3] <= 100 and boxes[0, 2] <= 60
    np.testing.assert_allclose(boxes[1], [0, 0, 60, 100])  # nobody: the whole image
    from pose2instance.fusion import box_masks
    whole = Persons(boxes[1:], kp[1:], (100, 60))
    assert box_masks(whole).all()  # the whole-image box covers every pixel


# --- layouts -----------------------------------------------------------------

def _named(n):
    return np.stack([np.arange(n), np.arange(n) * 2, np.full(n, 0.5)], 1)[None].astype(np.float32)


@pytest.mark.parametrize("layout,expect", [
    ("openpose18", {"nose": 0, "left_eye": 15, "right_eye": 14, "left_shoulder": 5, "right_shoulder": 2,
                    "left_hip": 11, "right_hip": 8, "left_ankle": 13, "right_ankle": 10, "left_ear": 17}),
    ("body25", {"nose": 0, "left_eye": 16, "right_ear": 17, "left_shoulder": 5, "right_wrist": 4,
                "left_hip": 12, "right_hip": 9, "left_ankle": 14, "right_ankle": 11}),
    ("mediapipe33", {"nose": 0, "left_eye": 2, "right_eye": 5, "left_ear": 7, "right_ear": 8,
                     "left_shoulder": 11, "right_wrist": 16, "left_hip": 23, "right_knee": 26,
                     "left_ankle": 27, "right_ankle": 28}),
])
def test_layout_converters_pick_the_named_points(layout, expect):
    n = {"openpose18": 18, "body25": 25, "mediapipe33": 33}[layout]
    out = to_coco17(_named(n), layout)
    assert out.shape == (1, 17, 3)
    for name, src in expect.items():
        k = COCO_KEYPOINT_NAMES.index(name)
        np.testing.assert_allclose(out[0, k], [src, 2 * src, 0.5])
    assert detect_layout(n) == layout


def test_layout_converter_errors_and_missing_points():
    with pytest.raises(ValueError, match="shape \\(N, 25, 3\\)"):
        to_coco17(np.zeros((1, 18, 3)), "body25")
    with pytest.raises(ValueError, match="unknown keypoint layout"):
        to_coco17(np.zeros((1, 18, 3)), "openpose")
    with pytest.raises(ValueError, match="no known keypoint layout has 20"):
        detect_layout(20)
    flat = np.zeros((1, 54))
    flat[0, :3] = [5, 6, 0.7]
    out = to_coco17(flat, "openpose18")
    np.testing.assert_allclose(out[0, 0], [5, 6, 0.7])
    assert (out[0, 1:] == 0).all()
