import numpy as np
import pytest

from pose2instance.fusion import box_masks, fuse, oracle_box_masks
from pose2instance.structures import check_score
from pose2instance.structures import Persons


def two_people(size=(40, 60)):
    boxes = np.array([[0, 0, 35, 39], [25, 0, 59, 39]], np.float32)
    return Persons(boxes, np.zeros((2, 17, 3)), size)


def test_fuse_assigns_the_nearest_person_and_background():
    h, w = 20, 30
    x = np.arange(w, dtype=np.float32)
    aff = np.stack([-np.abs(x - 5), -np.abs(x - 25)])[:, None, :].repeat(h, 1) / 10
    score = np.zeros((h, w), np.float32)
    score[:, 2:28] = 1.0
    r = fuse(aff, score)
    assert r.masks.shape == (2, h, w) and not (r.masks[0] & r.masks[1]).any()
    assert r.masks[0][:, 2:15].all() and r.masks[1][:, 16:28].all()
    assert (r.labels[:, :2] == -1).all() and (r.labels[:, 28:] == -1).all()
    np.testing.assert_allclose(r.instance_maps.sum(0), 1, rtol=1e-5)


def test_temperature_and_background_rule_with_a_soft_score():
    aff = np.array([[[0.0]], [[-0.05]]])  # two people, one pixel, almost tied
    score = np.array([[0.6]])
    # soft: P = (0.62, 0.38) at T=0.1 -> F1 = 0.37 < 1 - S = 0.4: background
    assert fuse(aff, score, temperature=0.1).labels[0, 0] == -1
    # colder: P1 -> ~1, F1 = 0.59 > 0.4: person 0
    assert fuse(aff, score, temperature=0.005).labels[0, 0] == 0
    # threshold rule: S >= 0.5 is person whatever T
    assert fuse(aff, score, temperature=0.1, background="threshold").labels[0, 0] == 0
    assert fuse(aff, score, max_distance=0.01, background="threshold").labels[0, 0] == 0
    assert fuse(aff - 1, score, max_distance=0.5, background="threshold").labels[0, 0] == -1


def test_fuse_validates_inputs_and_handles_nobody():
    with pytest.raises(ValueError, match="temperature must be at least"):
        fuse(np.zeros((1, 2, 2)), np.ones((2, 2)), temperature=0)
    with pytest.raises(ValueError, match=r"shape \(3, 2\) does not match the image"):
        fuse(np.zeros((1, 2, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        check_score(np.full((2, 2), np.nan), (2, 2))
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        check_score(np.full((2, 2), 255), (2, 2))
    r = fuse(np.zeros((0, 4, 5)), np.ones((4, 5)))
    assert r.masks.shape == (0, 4, 5) and (r.labels == -1).all()


def test_box_baselines_and_overlap_rules():
    p = two_people()
    filled = box_masks(p)
    # pixels a box touches: columns floor(x0)..ceil(x1)-1, so XYXY (0, 0, 35, 39) is 35 x 39 pixels
    assert filled[0, :39, :35].all() and filled[0].sum() == 35 * 39
    score = np.ones(p.image_size, bool)
    shared = oracle_box_masks(p, score)
    assert (shared[0] & shared[1]).sum() == 39 * 10  # columns 25..34 shared
    nearest = oracle_box_masks(p, score, overlap="nearest")
    assert not (nearest[0] & nearest[1]).any()
    assert (nearest.any(0) == shared.any(0)).all()
    # column 27 is nearer the centre of box 1 (x = 42, half-width 17) than of box 0 (17.5, 17.5)
    assert nearest[1, :39, 32].all() and nearest[0, :39, 26].all()
    half = score.copy()
    half[:20] = False
    assert (oracle_box_masks(p, half)[:, :20] == 0).all()
    with pytest.raises(ValueError, match="overlap must be"):
        oracle_box_masks(p, score, overlap="x")


def test_claim_limits_where_each_person_competes():
    h, w = 10, 30
    aff = np.zeros((2, h, w), np.float32)  # both people tie everywhere
    score = np.ones((h, w), np.float32)
    claim = np.zeros((2, h, w), bool)
    claim[0, :, :10] = True
    claim[1, :, 5:20] = True
    r = fuse(aff, score, claim=claim)
    assert r.masks[0][:, :5].all() and not r.masks[0][:, 10:].any()
    assert r.masks[1][:, 10:20].all()
    assert (r.labels[:, 20:] == -1).all()  # nobody may claim these score pixels
    np.testing.assert_allclose(r.instance_maps[:, :, 20:], 0)
    np.testing.assert_allclose(r.instance_maps[:, :, :20].sum(0), 1, rtol=1e-6)
    with pytest.raises(ValueError, match="claim must be"):
        fuse(aff, score, claim=claim[:, :5])
    with pytest.raises(ValueError, match="temperature must be at least"):
        fuse(aff, score, temperature=float("nan"))
