"""The training-free method on real photos with the oracle person score."""

import numpy as np
import pytest

from pose2instance.evaluation import paired_iou
from pose2instance.registry import METHODS, predict_masks
from pose2instance.pipeline import Pose2Instance

from conftest import needs_shared


def method_ious(dataset):
    """Per-person IoU of every method on the persons of ``dataset`` that have keypoints (oracle score)."""
    ious = {m: [] for m in ("oracle-box", "oracle-box-nearest", "euclidean", "geodesic")}
    for image_id in dataset.image_ids:
        persons = dataset.persons(image_id)
        if not len(persons):
            continue
        image = dataset.load_image(image_id)
        score = persons.masks.any(0)
        keep = (persons.keypoints[..., 2] > 0).any(1)
        for m in ious:
            masks = predict_masks(m, persons, score, image)
            ious[m].extend(paired_iou(masks[keep], persons.masks[keep]))
    return {m: np.array(v) for m, v in ious.items()}


def assert_fusion_beats_the_oracle_box_baseline(ious):
    box = ious["oracle-box"]
    for method in ("euclidean", "geodesic"):
        ours = ious[method]
        assert ours.mean() > box.mean() + 0.04, (method, ours.mean(), box.mean())
        assert ours.mean() > ious["oracle-box-nearest"].mean() + 0.02
        # the gain is largest at strict thresholds
        assert (ours >= 0.9).mean() > (box >= 0.9).mean() + 0.08


def test_fusion_beats_the_oracle_box_baseline_on_the_fixture(coco_dev):
    ious = method_ious(coco_dev)
    assert len(ious["oracle-box"]) == 26  # the fixture's dev persons with keypoints
    # measured: oracle-box 0.787, oracle-box-nearest 0.801, euclidean 0.869, geodesic 0.889 mean IoU
    assert_fusion_beats_the_oracle_box_baseline(ious)


@needs_shared
def test_fusion_beats_the_oracle_box_baseline_on_coco_dev(coco_dev_full):
    ious = method_ious(coco_dev_full)
    assert len(ious["oracle-box"]) == 197
    # measured: oracle-box 0.858, euclidean 0.915, geodesic 0.908 mean IoU
    assert_fusion_beats_the_oracle_box_baseline(ious)


def test_masks_are_disjoint_and_inside_the_score(demo):
    image, persons = demo
    score = persons.masks.any(0)
    for prior in ("euclidean", "geodesic", "heatmap"):
        r = Pose2Instance(prior)(persons, score, image)
        assert r.masks.sum(0).max() <= 1
        assert (r.masks.any(0) == score).all()  # oracle score: every person pixel assigned
        ious = paired_iou(r.masks, persons.masks)
        assert ious.min() > 0.6, (prior, ious)


def test_box_term_matters(coco_dev):
    """Without the box term, pixels far outside a person's box can go to them (COCO 60623: 0.890 -> 0.916)."""
    persons = coco_dev.persons(60623)
    score = persons.masks.any(0)
    free = Pose2Instance("euclidean", box_weight=0, box_limit=False)(persons, score).masks
    boxed = Pose2Instance("euclidean", box_limit=False)(persons, score).masks
    assert paired_iou(boxed, persons.masks).mean() > paired_iou(free, persons.masks).mean() + 0.01
    from pose2instance.fusion import box_masks
    outside = ~box_masks(persons)
    assert (boxed & outside).sum() < 0.2 * (free & outside).sum()


def test_all_methods_run_with_zero_people(demo):
    from pose2instance.structures import Persons
    image, _ = demo
    nobody = Persons.empty(image.shape[:2])
    for m in METHODS:
        assert predict_masks(m, nobody, np.ones(image.shape[:2]), image).shape == (0, *image.shape[:2])
    with pytest.raises(ValueError, match="unknown method"):
        predict_masks("magic", nobody, np.ones(image.shape[:2]), image)


def test_a_lone_person_never_does_worse_than_oracle_box(coco_dev):
    """With one person the softmax is 1 everywhere: the box limit keeps the score pixels far away out."""
    from pose2instance.fusion import oracle_box_masks
    persons = coco_dev.persons(790).subset([0])
    rng = np.random.default_rng(0)
    score = np.clip(coco_dev.persons(790).masks.any(0) * 0.9 + rng.uniform(0, 0.2, persons.image_size), 0, 1)
    score[score == 0.5] = 0.51  # the baseline keeps S >= 0.5, fusion S > 0.5
    baseline = oracle_box_masks(persons, score)
    for prior in ("euclidean", "geodesic"):
        fused = Pose2Instance(prior).predict(persons, score, coco_dev.load_image(790))
        assert np.array_equal(fused, baseline), prior
        unlimited = Pose2Instance(prior, box_limit=False).predict(persons, score, coco_dev.load_image(790))
        assert unlimited.sum() > fused.sum()  # the other people's pixels went to the lone person
        assert paired_iou(fused, persons.masks) > paired_iou(unlimited, persons.masks)


def test_bad_fusion_options_are_refused_before_any_image():
    for kwargs in ({"temperature": float("nan")}, {"temperature": 0}, {"box_weight": float("nan")},
                   {"box_weight": -1}):
        with pytest.raises(ValueError, match="temperature must be|box_weight must be"):
            Pose2Instance("euclidean", **kwargs)


@pytest.mark.parametrize("prior", ["euclidean", "geodesic", "heatmap"])
def test_predict_box_by_box_gives_the_masks_of_the_full_fusion(coco_dev, prior):
    """Under the box limit ``predict`` fuses box by box in bounded memory; its masks are those of the
    full-image fusion, bit for bit, with the oracle score and with a soft one."""
    options = [{}, {"background": "threshold"}, {"max_distance": 0.3}, {"box_weight": 0.0}]
    for kwargs in options if prior == "euclidean" else options[:2]:
        model = Pose2Instance(prior, **kwargs)
        for image_id in coco_dev.image_ids[:3]:
            persons = coco_dev.persons(image_id)
            image = coco_dev.load_image(image_id)
            soft = np.clip(persons.masks.any(0) * 0.7 + image[..., 0] / 255 * 0.5, 0, 1).astype(np.float32)
            for score in (persons.masks.any(0).astype(np.float32), soft):
                assert np.array_equal(model.predict(persons, score, image), model(persons, score, image).masks), \
                    (prior, kwargs, image_id)


def test_a_prior_written_before_regions_existed_still_works(coco_dev):
    from pose2instance.priors import EuclideanPrior, PriorEncoder

    class OldPrior(PriorEncoder):  # the interface as it was: affinity(persons, image)
        name, channels = "old", 1

        def encode(self, persons, image=None):
            return EuclideanPrior().encode(persons, image)

        def affinity(self, persons, image=None):
            return EuclideanPrior().affinity(persons, image)

    persons = coco_dev.persons(790)
    score = persons.masks.any(0).astype(np.float32)
    model, reference = Pose2Instance(OldPrior()), Pose2Instance("euclidean")
    assert np.array_equal(model.predict(persons, score), reference.predict(persons, score))
    assert np.array_equal(model(persons, score).masks, reference.predict(persons, score))
