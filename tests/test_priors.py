import numpy as np
import pytest

from pose2instance.priors import (ConfidenceRule, EuclideanPrior, GaussianHeatmapPrior, GeodesicPrior,
                                  keypoint_distances, limb_distances, make_prior, person_scales,
                                  skeleton_distance)
from pose2instance.structures import Persons


def one_person(points, size=(60, 80), box=None, kind="visibility"):
    """A person with the given {keypoint index: (x, y, c)}."""
    kp = np.zeros((1, 17, 3), np.float32)
    for k, v in points.items():
        kp[0, k] = v
    box = box if box is not None else [5, 5, size[1] - 5, size[0] - 5]
    return Persons(np.array([box], np.float32), kp, size, kind)


def exact_skeleton_distance(p, i=0):
    """min over exact limb and keypoint distances, 0 inside the torso (no confidence offsets)."""
    from skimage.draw import polygon
    d = np.fmin(np.nanmin(limb_distances(p)[i], axis=0, initial=np.inf),
                np.nanmin(keypoint_distances(p)[i], axis=0, initial=np.inf))
    torso = [5, 6, 12, 11]
    if (p.keypoints[i, torso, 2] > 0).all():
        d[polygon(p.keypoints[i, torso, 1], p.keypoints[i, torso, 0], d.shape)] = 0
    return d


def test_rasterised_skeleton_distance_is_within_a_pixel_of_exact_on_real_people(demo):
    image, persons = demo
    rule = ConfidenceRule(occluded_weight=1.0)  # no offsets: pure geometry
    d = skeleton_distance(persons, rule)
    for i in range(len(persons)):
        if (persons.keypoints[i, :, 2] > 0).any():
            err = np.abs(d[i] - exact_skeleton_distance(persons, i))
            assert err.max() < 1.0, (i, err.max())


def test_single_limb_and_single_keypoint():
    p = one_person({5: (20, 30, 2), 7: (60, 30, 2)})  # left shoulder -> left elbow, horizontal
    d = skeleton_distance(p)[0]
    assert d[30, 20:61].max() == 0
    assert d[40, 40] == pytest.approx(10, abs=0.01)
    assert d[30, 70] == pytest.approx(10, abs=0.01)
    p = one_person({0: (40, 20, 2)})
    d = skeleton_distance(p)[0]
    yy, xx = np.indices(d.shape)
    np.testing.assert_allclose(d, np.hypot(xx - 40, yy - 20), atol=1e-4)


def test_person_without_keypoints_falls_back_to_the_box():
    p = one_person({}, box=[10, 20, 30, 40])  # scale 20: the middle half [15, 25, 25, 35] at offset 5
    d = skeleton_distance(p)[0]
    assert d[25:36, 15:26].max() == pytest.approx(5)
    assert d[30, 40] == pytest.approx(15 + 5) and d[50, 20] == pytest.approx(15 + 5)
    for name in ("euclidean", "geodesic", "heatmap"):
        aff = make_prior(name).affinity(p, np.zeros((60, 80, 3), np.uint8))
        assert np.isfinite(aff).all() and aff[0, 30, 20] == aff.max()


def test_person_at_the_border_with_keypoints_outside_the_image():
    p = one_person({5: (-15, 10, 2), 7: (30, 10, 2), 9: (30, 70, 2)}, size=(60, 80))
    d = skeleton_distance(p, ConfidenceRule(occluded_weight=1.0))[0]
    np.testing.assert_allclose(d, exact_skeleton_distance(p), atol=1.0)
    assert d[10, 0] == 0  # the limb enters the image at the left edge


def test_occluded_and_low_confidence_parts_are_pushed_away():
    rule = ConfidenceRule(occluded_weight=0.5, penalty=0.5)
    p = one_person({5: (20, 30, 2), 7: (60, 30, 1)}, box=[0, 0, 40, 40])  # occluded elbow
    scale = person_scales(p)[0]
    d = skeleton_distance(p, rule)[0]
    assert d[30, 20] == 0  # the visible shoulder itself
    assert d[30, 60] == pytest.approx(rule.offset(0.5, scale), abs=1e-3)  # the occluded limb's far end
    q = one_person({5: (20, 30, 0.95), 7: (60, 30, 0.3)}, box=[0, 0, 40, 40], kind="score")
    dq = skeleton_distance(q, rule)[0]
    assert dq[30, 60] == pytest.approx(0.5 * 0.5 * scale, abs=1e-3)  # 0.3 -> level 0.5
    q = one_person({5: (20, 30, 0.95), 7: (60, 30, 0.05)}, box=[0, 0, 40, 40], kind="score")
    assert skeleton_distance(q, rule)[0][30, 60] == pytest.approx(40, abs=0.01)  # 0.05 < min_score: unused


def test_channel_modes_and_shapes(demo):
    image, persons = demo
    for name, c in (("euclidean", 1), ("euclidean-keypoints", 17), ("euclidean-limbs", 19),
                    ("geodesic", 1), ("heatmap", 17)):
        enc = make_prior(name)
        out = enc.encode(persons, image)
        assert out.shape == (4, c, 422, 640) and out.dtype == np.float32 and enc.channels == c
        assert np.isfinite(out).all()
    limbs = EuclideanPrior("limbs").encode(persons)
    assert limbs.max() == pytest.approx(2.0)  # clipped, and unused limbs filled with the clip
    with pytest.raises(ValueError, match="unknown prior"):
        make_prior("nope")


def test_torso_is_filled():
    p = one_person({5: (20, 10, 2), 6: (60, 10, 2), 11: (20, 50, 2), 12: (60, 50, 2)})
    d = skeleton_distance(p)[0]
    assert d[11:50, 21:60].max() == 0


def test_gaussian_heatmaps():
    p = one_person({0: (40, 20, 2), 5: (10, 40, 1)}, box=[0, 0, 50, 50])
    h = GaussianHeatmapPrior(sigma_scale=0.1).encode(p)[0]
    assert h[0, 20, 40] == pytest.approx(1.0)
    assert h[5, 40, 10] == pytest.approx(0.5)  # occluded: confidence 0.5
    sigma = 0.1 * 50  # sigma_scale x person scale (the box is 50 x 50)
    assert h[0, 20, 40 + int(sigma)] == pytest.approx(np.exp(-0.5), rel=1e-4)  # one sigma away
    assert h[1].max() == 0


def test_zero_people_tiny_and_huge_images():
    for size in ((1, 1), (3, 5), (3000, 4000)):
        empty = Persons.empty(size)
        for name in ("euclidean", "heatmap"):
            assert make_prior(name).encode(empty).shape[0] == 0
    p = one_person({0: (1, 1, 2)}, size=(3, 5), box=[0, 0, 4, 2])
    img = np.zeros((3, 5, 3), np.uint8)
    assert GeodesicPrior().affinity(p, img).shape == (1, 3, 5)
    assert EuclideanPrior().affinity(p).shape == (1, 3, 5)
    big = one_person({5: (100, 100, 2), 11: (2500, 2900, 2)}, size=(3000, 4000), box=[50, 50, 3000, 2990])
    d = skeleton_distance(big)[0]
    assert d.shape == (3000, 4000) and d[100, 100] == 0 and d[0, 3999] > 3000


def test_geodesic_needs_a_matching_image(demo):
    image, persons = demo
    with pytest.raises(ValueError, match="needs the image"):
        GeodesicPrior().affinity(persons, None)
    with pytest.raises(ValueError, match="image is"):
        GeodesicPrior().affinity(persons, image[:100])


def test_box_regions_give_the_masks_of_the_whole_image_prior(coco_dev):
    """The Euclidean prior computed only inside each box (the fusion's box limit) is exact there, and OpenCV's
    distance transform gives scipy's values bit for bit: the masks are those of the whole-image scipy prior."""
    from pose2instance.fusion import box_masks, fuse
    from pose2instance.pipeline import Pose2Instance
    from pose2instance.priors import EuclideanPrior, skeleton
    from pose2instance.priors.skeleton import box_affinity, box_region

    model = Pose2Instance("euclidean")
    for image_id in coco_dev.image_ids:
        persons = coco_dev.persons(image_id)
        score = persons.masks.any(0).astype(np.float32) * 0.8 + 0.1
        regions = [box_region(b, persons.image_size) for b in persons.boxes]
        full = EuclideanPrior().affinity(persons)
        windowed = EuclideanPrior().affinity_windows(persons, None, regions)
        inside = box_masks(persons)
        for i, ((x0, y0, x1, y1), window) in enumerate(zip(regions, windowed)):
            assert inside[i].sum() == window.size  # the region is the box's pixels
            assert np.array_equal(window, full[i, y0:y1, x0:x1])
        cv2, skeleton.cv2 = skeleton.cv2, None  # scipy's transform on both paths: exactly the same masks
        try:
            whole = fuse(EuclideanPrior().affinity(persons) + model.box_weight * box_affinity(persons), score,
                         model.temperature, claim=inside).masks
            assert np.array_equal(model.predict(persons, score), whole), image_id
        finally:
            skeleton.cv2 = cv2
        assert np.array_equal(model.predict(persons, score), whole), image_id
