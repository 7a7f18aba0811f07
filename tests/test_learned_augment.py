"""Rotation, copy-paste, border truncation and colour jitter on crop planes (pose2instance.learned.augment)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pose2instance.learned.augment import (CropPlanes, Donor, colour_jitter, paste_person,  # noqa: E402
                                           rotate_planes, rotate_points, truncate_border)


def planes(n: int, value: float, square: tuple[int, int, int, int]) -> CropPlanes:
    """Flat colour ``value`` with a person mask and score 1 on ``square`` = (u0, v0, u1, v1)."""
    mask = torch.zeros(1, n, n)
    u0, v0, u1, v1 = square
    mask[:, v0:v1, u0:u1] = 1.0
    return CropPlanes(torch.full((3, n, n), value), mask, torch.ones(1, n, n), mask.clone())


def donor(m: int = 16) -> Donor:
    kp = np.zeros((17, 3), np.float32)
    kp[0] = (7.5, 7.5, 2)  # the centre of the donor's crop
    return Donor(planes(m, 1.0, (4, 4, 12, 12)), kp, np.array([4, 4, 12, 12], np.float32))


def test_pasting_in_front_hides_the_target_and_moves_the_keypoints():
    target = planes(32, 0.0, (8, 8, 24, 24))
    out, kp, box = paste_person(target, donor(), size=8, offset=(8, 8), in_front=True)
    # the donor crop shrinks to 8 px at offset 8: its person square (4..12 of 16) lands on 10..14
    assert (out.rgb[:, 10:14, 10:14] == 1).all() and (out.mask[:, 10:14, 10:14] == 0).all()
    assert out.mask.sum() == target.mask.sum() - 16
    assert (out.score[:, 10:14, 10:14] == 1).all()
    assert (target.mask[:, 10:14, 10:14] == 1).all()  # the input planes are not changed
    np.testing.assert_allclose(kp[0, :2], [8 + (7.5 + 0.5) / 2 - 0.5] * 2)
    np.testing.assert_allclose(box, [8 + 4.5 / 2 - 0.5] * 2 + [8 + 12.5 / 2 - 0.5] * 2)


def test_pasting_behind_shows_only_where_the_target_is_not():
    target = planes(32, 0.0, (8, 8, 24, 24))
    out, _, _ = paste_person(target, donor(), size=8, offset=(4, 4), in_front=False)  # donor person: 6..10
    assert torch.equal(out.mask, target.mask)
    assert (out.rgb[:, 6:8, 6:8] == 1).all()      # donor pixels outside the target show
    assert (out.rgb[:, 8:10, 8:10] == 0).all()    # donor pixels behind the target stay hidden


def test_pasting_partly_outside_the_crop():
    target = planes(32, 0.0, (8, 8, 24, 24))
    out, kp, _ = paste_person(target, donor(), size=32, offset=(-20, 24), in_front=True)
    assert out.rgb.shape == target.rgb.shape
    assert kp[0, 0] < 0 and kp[0, 1] > 24


def test_truncate_border_blanks_and_ignores_one_side():
    rng = np.random.default_rng(0)
    target = planes(32, 0.5, (8, 8, 24, 24))
    out, (u0, v0, u1, v1) = truncate_border(target, rng)
    cut = (slice(None), slice(v0, v1), slice(u0, u1))
    assert (out.rgb[cut] == 0).all() and (out.valid[cut] == 0).all() and (out.score[cut] == 0).all()
    assert out.valid.sum() == 32 * 32 - (u1 - u0) * (v1 - v0)
    assert 0.1 * 32 - 1 <= min(u1 - u0, v1 - v0) <= 0.35 * 32 + 1


def test_colour_jitter_stays_in_range_and_is_reproducible():
    rgb = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    a = colour_jitter(rgb, np.random.default_rng(1), 0.3)
    b = colour_jitter(rgb, np.random.default_rng(1), 0.3)
    assert torch.equal(a, b) and a.min() >= 0 and a.max() <= 1 and not torch.equal(a, rgb)


@pytest.mark.parametrize("angle", [-40.0, 25.0, 90.0])
def test_rotation_moves_planes_and_points_alike(angle):
    n = 64
    target = planes(n, 0.5, (36, 8, 44, 16))  # an 8 px square up and to the right of the centre
    out = rotate_planes(target, angle)
    ys, xs = np.nonzero(out.mask[0].numpy())
    np.testing.assert_allclose([xs.mean(), ys.mean()], rotate_points(np.array([39.5, 11.5]), angle, n), atol=0.6)
    assert abs(len(xs) - 64) <= 8  # the square keeps its area
    assert torch.equal((out.score > 0.5).float(), out.mask)  # score and mask turn together
    assert out.valid[0, 28:36, 28:36].all()
    if angle % 90:  # the corners come from outside the crop: black and ignored
        assert out.valid[0, :4, :4].sum() == 0 and out.rgb[:, 0, 0].max() == 0
    else:
        assert out.valid.all()
    np.testing.assert_allclose(rotate_points(rotate_points(np.array([3.0, 50.0]), angle, n), -angle, n),
                               [3.0, 50.0], atol=1e-9)
