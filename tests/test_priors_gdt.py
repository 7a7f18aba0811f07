import numpy as np
import pytest
from scipy import ndimage as ndi

from pose2instance.priors import HeatmapDistancePrior, generalized_distance_transform, make_prior
from pose2instance.priors.gdt import distance_transform_1d, generalized_distance_transform_bruteforce
from pose2instance.structures import Persons


def test_1d_against_brute_force():
    rng = np.random.default_rng(1)
    for n in (1, 2, 7, 40):
        f = rng.uniform(0, 30, n)
        f[rng.random(n) < 0.3] = np.inf
        brute = np.array([np.min(f + 2.5 ** 2 * (p - np.arange(n)) ** 2) for p in range(n)])
        np.testing.assert_allclose(distance_transform_1d(f, 2.5), brute)
    assert np.isinf(distance_transform_1d(np.full(5, np.inf))).all()


@pytest.mark.parametrize("shape", [(1, 1), (5, 9), (17, 12)])
def test_2d_against_brute_force(shape):
    rng = np.random.default_rng(shape[0])
    cost = rng.exponential(20, shape)
    cost[rng.random(shape) < 0.5] = np.inf
    cost.flat[0] = 3.0
    brute = generalized_distance_transform_bruteforce(cost, 1.7)
    for method in ("envelope", "sources", "auto"):
        np.testing.assert_allclose(generalized_distance_transform(cost, 1.7, method), brute)


def test_binary_cost_is_the_euclidean_distance_transform():
    cost = np.full((30, 40), np.inf)
    cost[[3, 20, 25], [5, 30, 2]] = 0
    exact = ndi.distance_transform_edt(~np.isfinite(cost) | (cost > 0))
    for method in ("envelope", "sources"):
        np.testing.assert_allclose(np.sqrt(generalized_distance_transform(cost, method=method)), exact, atol=1e-9)


def test_heatmap_prior_follows_the_peaks(demo):
    """Gaussian heatmaps rendered at the true keypoints: the soft distance matches the point distance."""
    image, gt = demo
    h, w = 48, 48
    heat = np.zeros((len(gt), 17, h, w), np.float32)
    boxes = gt.boxes.copy()
    for i, (kp, box) in enumerate(zip(gt.keypoints, boxes)):
        sx, sy = (box[2] - box[0]) / w, (box[3] - box[1]) / h
        yy, xx = np.mgrid[0:h, 0:w]
        for k in np.nonzero(kp[:, 2] > 0)[0]:
            c, r = (kp[k, 0] - box[0]) / sx - 0.5, (kp[k, 1] - box[1]) / sy - 0.5
            heat[i, k] = np.exp(-((xx - c) ** 2 + (yy - r) ** 2) / (2 * 1.5 ** 2))
    persons = Persons(gt.boxes, gt.keypoints, gt.image_size, heatmaps=heat, heatmap_boxes=boxes)
    prior = HeatmapDistancePrior()
    d = prior.keypoint_distances(persons)
    used = heat.max(axis=(2, 3)) >= 0.1  # keypoints outside their box have no peak in the heatmap
    assert used.sum() > 40
    for i, kp in enumerate(gt.keypoints):
        assert np.isnan(d[i, ~used[i]]).all()
        for k in np.nonzero(used[i])[0]:
            x, y = np.clip(np.rint(kp[k, :2]).astype(int), 0, [639, 421])
            assert d[i, k, y, x] < 6.0  # within a heatmap cell (cells are up to ~8 px here)
            # farther from the keypoint = larger soft distance
            far = np.clip([x + 60, y], 0, [639, 421])
            if far[0] != x:
                assert d[i, k, far[1], far[0]] > d[i, k, y, x] + 15  # 60 px minus the support radius
    aff = make_prior("heatmap-gdt").affinity(persons, image)
    # each keypoint is claimed by its own person
    for i, kp in enumerate(gt.keypoints):
        for k in np.nonzero(used[i] & (kp[:, 2] == 2))[0]:
            x, y = np.clip(np.rint(kp[k, :2]).astype(int), 0, [639, 421])
            assert aff[:, y, x].argmax() == i
    assert make_prior("heatmap-gdt").encode(persons).shape == (4, 17, 422, 640)


def test_without_heatmaps_falls_back_to_the_skeleton(demo):
    image, gt = demo
    from pose2instance.priors import EuclideanPrior
    np.testing.assert_allclose(HeatmapDistancePrior().affinity(gt), EuclideanPrior().affinity(gt))
    with pytest.raises(ValueError, match="heatmaps must be"):
        Persons(gt.boxes, gt.keypoints, gt.image_size, heatmaps=np.zeros((4, 17, 8, 8)))
