"""Overlays: a distinct colour and a number per person, hidden joints faint (issue 21)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pose2instance.visualize import PALETTE, draw_overlay, hidden_keypoints


def test_at_least_20_distinct_colours():
    assert len(PALETTE) >= 20 and len({tuple(c) for c in PALETTE}) == len(PALETTE)


def test_each_person_is_numbered_and_hidden_joints_are_faint(demo):
    image, persons = demo
    plain = draw_overlay(image, np.zeros((len(persons), *image.shape[:2]), bool))
    assert np.array_equal(plain, image)  # no people drawn: the photo itself
    out = draw_overlay(image, persons.masks, persons)
    for i, box in enumerate(persons.boxes):  # the label: a filled patch of the person's colour at its box corner
        x0, y0 = int(max(box[0], 0)), int(max(box[1], 0))
        assert np.array_equal(out[y0 + 1, x0 + 1], PALETTE[i])
    hidden = hidden_keypoints(persons)
    assert hidden.sum() == (persons.keypoints[..., 2] == 1).sum()  # ground truth: labelled, not visible
    visible = replace(persons, keypoints=np.where(persons.keypoints[..., 2:] == 1,
                                                  persons.keypoints * [1, 1, 2], persons.keypoints))
    assert not hidden_keypoints(visible).any()
    # a hidden joint draws a thin limb and a hollow dot: fewer pixels change than when it is visible
    changed = (draw_overlay(image, persons.masks, persons) != image).any(-1).sum()
    changed_visible = (draw_overlay(image, persons.masks, visible) != image).any(-1).sum()
    assert hidden.any() and changed < changed_visible
