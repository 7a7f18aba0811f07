"""The Segmenter: one photo end to end from typed options, as segment, demo and the page run it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pose2instance import estimators
from pose2instance.evaluation import paired_iou
from pose2instance.fusion import FusionOptions
from pose2instance.io import load_image
from pose2instance.pipeline import Pose2Instance
from pose2instance.registry import make_scorer
from pose2instance.segment import SegmentOptions, Segmenter, demo_files, read_people


def test_options_are_checked_when_made():
    with pytest.raises(ValueError, match="temperature must be at least"):
        FusionOptions(temperature=0)
    with pytest.raises(ValueError, match="background must be"):
        FusionOptions(background="nothing")
    with pytest.raises(ValueError, match="box_weight"):
        FusionOptions(box_weight=float("nan"))
    with pytest.raises(ValueError, match="unknown prior 'geodesics'"):
        SegmentOptions(prior="geodesics")
    with pytest.raises(ValueError, match="fusion must be FusionOptions"):
        SegmentOptions(fusion={"temperature": 0.1})


def test_given_people_give_the_fusion_s_masks_and_coco_entries(demo):
    """Segmenter.run is the pipeline itself: the masks of Pose2Instance with the same options, one entry each."""
    image, persons = demo
    options = SegmentOptions(score="oracle", prior="euclidean", fusion=FusionOptions(temperature=0.2, box_weight=10))
    done = Segmenter(options).run(image, persons, image_id=42)
    expected = Pose2Instance("euclidean", temperature=0.2, box_weight=10).predict(persons, done.score, image)
    assert np.array_equal(done.masks, expected)
    assert done.persons is persons and done.estimator is None and done.notes == []
    assert [e["image_id"] for e in done.entries] == [42] * len(persons)
    assert [e["area"] for e in done.entries] == done.masks.sum((1, 2)).tolist()
    assert set(done.timing_ms) == {"person score", "prior + fusion"}
    assert paired_iou(done.masks, persons.masks).mean() > 0.85  # the oracle score on the demo photo


def test_checks_live_in_the_segmenter(demo):
    image, persons = demo
    segmenter = Segmenter(SegmentOptions(score="oracle"))
    no_masks = replace(persons, masks=None)
    with pytest.raises(ValueError, match="the oracle score needs ground-truth masks"):
        segmenter.run(image, no_masks)
    with pytest.raises(ValueError, match="boxes are for the pose estimator"):
        segmenter.run(image, persons, boxes=persons.boxes)


def test_people_from_a_file_and_estimated_people_say_who_found_them(monkeypatch):
    """Without the YOLO extra, auto runs BlazePose and says once that the extra would find more."""
    photo, annotations = demo_files()
    image = load_image(photo)
    persons, boxes, image_id = read_people(photo, image.shape[:2], annotations)
    assert len(persons) == 4 and boxes is None and image_id == 790
    _, boxes, image_id = read_people(photo, image.shape[:2], boxes=annotations)
    assert boxes.shape == (4, 4) and image_id == 790

    def no_yolo(**kwargs):
        raise ImportError("YOLO pose needs ultralytics")
    monkeypatch.setitem(estimators.ESTIMATORS._entries, "yolo", replace(estimators.ESTIMATORS["yolo"], build=no_yolo))
    segmenter = Segmenter(SegmentOptions(), scorer=make_scorer("blazepose"))
    first = segmenter.run(image, image_path=photo)
    assert first.estimator == "blazepose" and len(first.persons) >= 1
    assert first.notes[0].startswith(f"{len(first.persons)} ") and "found by blazepose" in first.notes[0]
    assert first.notes[1] == estimators.PERMISSIVE_NOTE and "AGPL-3.0" in first.notes[1]
    assert "pose estimation" in first.timing_ms and first.masks.shape == (len(first.persons), *image.shape[:2])
    second = segmenter.run(image, boxes=boxes)  # in the annotation's boxes: one estimate per box
    assert len(second.persons) == 4 and estimators.PERMISSIVE_NOTE not in second.notes  # said once
    explicit = Segmenter(SegmentOptions(estimator="blazepose"), scorer=make_scorer("blazepose"))
    assert estimators.PERMISSIVE_NOTE not in explicit.run(image).notes  # asked for by name: nothing to say
