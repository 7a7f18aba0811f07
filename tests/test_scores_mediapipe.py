"""MediaPipe person scores (selfie, BlazePose) run offline through LiteRT, on the real demo photo.

Thresholds are the values measured on COCO 790 (four people around a table) minus a margin.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import skip_without_mediapipe

skip_without_mediapipe()

from pose2instance.crops import CropWindow  # noqa: E402
from pose2instance.layouts import to_coco17  # noqa: E402
from pose2instance.registry import make_scorer  # noqa: E402
from pose2instance.scores.mediapipe import (  # noqa: E402
    BlazePoseMaskScore,
    SelfieScore,
    find_model,
    sigmoid,
)
from pose2instance.structures import Persons  # noqa: E402


@pytest.fixture(scope="module")
def blazepose():
    return BlazePoseMaskScore()


def person_iou(score, persons):
    pred, gt = score >= 0.5, persons.masks.any(0)
    return np.count_nonzero(pred & gt) / np.count_nonzero(pred | gt)


@pytest.mark.parametrize("spec", ["selfie", "blazepose"])
def test_make_scorer_builds_the_mediapipe_scores(spec):
    assert make_scorer(spec).name == spec


@pytest.mark.parametrize("make", [SelfieScore, lambda: SelfieScore(letterbox=True),
                                  lambda: SelfieScore(landscape=True), BlazePoseMaskScore],
                         ids=["selfie", "selfie-letterbox", "selfie-landscape", "blazepose"])
def test_scores_are_probability_maps_of_the_image_size(demo, make):
    image, persons = demo
    score = make()(image, persons)
    assert score.shape == image.shape[:2]
    assert score.dtype == np.float32
    assert 0.0 <= score.min() and score.max() <= 1.0
    assert (score >= 0.5).any() and (score < 0.5).any()


@pytest.mark.parametrize("letterbox, minimum", [(False, 0.36), (True, 0.38)])  # measured 0.416 / 0.439
def test_selfie_finds_the_people_of_the_demo(demo, letterbox, minimum):
    image, persons = demo
    assert person_iou(SelfieScore(letterbox=letterbox)(image, persons), persons) > minimum


def test_blazepose_mask_on_ground_truth_boxes_matches_the_people(demo, blazepose):
    image, persons = demo
    assert person_iou(blazepose(image, persons), persons) > 0.83  # measured 0.883


def test_blazepose_without_people_scores_zero(demo, blazepose):
    image, _ = demo
    score = blazepose(image, Persons.empty(image.shape[:2]))
    assert score.shape == image.shape[:2] and score.dtype == np.float32 and not score.any()


def test_blazepose_landmarks_land_on_the_coco_keypoints(demo, blazepose):
    image, persons = demo
    errors = []
    for box, kp in zip(persons.boxes, persons.keypoints):
        lm = blazepose.landmarks(image, box)
        assert lm.shape == (33, 5) and lm.dtype == np.float32
        assert ((lm[:, 3:] >= 0) & (lm[:, 3:] <= 1)).all()
        coco = to_coco17(lm[None][..., [0, 1, 3]], "mediapipe33")[0]
        visible = kp[:, 2] == 2
        errors += list(np.linalg.norm(coco[visible, :2] - kp[visible, :2], axis=1) / (box[2:] - box[:2]).max())
    assert len(errors) == 40
    assert np.median(errors) < 0.10  # measured 0.079 of the box side


def test_heatmap_peaks_agree_with_the_landmarks(demo, blazepose):
    """Channel order, axis order and the cell -> image mapping of the heatmaps."""
    image, persons = demo
    offsets = []
    for box in persons.boxes:
        heatmaps, crop = blazepose.heatmaps(image, box)
        assert heatmaps.shape == (39, 64, 64) and isinstance(crop, CropWindow)
        lm = blazepose.landmarks(image, box)
        prob = sigmoid(heatmaps[:33])
        for k in np.nonzero(prob.max(axis=(1, 2)) >= 0.5)[0]:
            r, c = np.unravel_index(prob[k].argmax(), (64, 64))
            offsets.append(np.linalg.norm(crop.edge_to_image([c, r], 64) - lm[k, :2]) / (crop.side / 256))
    assert len(offsets) > 30
    assert np.median(offsets) < 12  # model-input pixels (a heatmap cell is 4); measured 7.6


def test_find_model_prefers_the_packaged_copy():
    path = find_model("pose_landmark_full")
    assert path.suffix == ".tflite" and path.parent.name == "mediapipe" and path.parent.parent.name == "assets"
    with pytest.raises(FileNotFoundError, match="no_such_model.tflite"):
        find_model("no_such_model")


def test_mask_logits_of_a_prepared_crop_are_those_of_run_crop(demo):
    from pose2instance.scores.mediapipe import BlazePoseLandmarker
    image, persons = demo
    landmarker = BlazePoseLandmarker()
    crop = CropWindow.around_pixels(persons.boxes[0], 1.25)
    prepared = landmarker.mask_logits(crop.extract(image, 256))
    assert np.array_equal(prepared, landmarker.run_crop(image, crop).mask_logits)
