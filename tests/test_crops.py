"""The one crop geometry (pose2instance.crops): exact pixel mappings, Pillow extract / paste, bounds."""

from __future__ import annotations

import numpy as np
import pytest

from pose2instance.crops import CropWindow


@pytest.mark.parametrize("flip", [False, True])
def test_window_maps_round_trip(flip):
    win = CropWindow(100.3, 57.9, 131.0, flip)
    uv = np.random.default_rng(0).uniform(-5, 70, (20, 2))
    assert np.allclose(win.to_crop(win.to_image(uv, 64), 64), uv)
    # The crop spans exactly the window: first/last pixel centres are half a crop pixel inside its edges.
    x = win.to_image(np.array([[0, 0], [63, 63]]), 64)[:, 0]
    s = 131.0 / 64
    assert np.allclose(sorted(x), [100.3 - 65.5 + s / 2, 100.3 + 65.5 - s / 2])


def test_pixel_aligned_window_extract_and_paste():
    image = np.arange(40 * 60 * 3, dtype=np.uint8).reshape(40, 60, 3)
    crop = CropWindow.around_pixels(np.array([10, 5, 26, 21]), margin=1.0)
    assert (crop.x0, crop.y0, crop.side) == (10, 5, 16)
    np.testing.assert_allclose(crop.extract(image, 16), image[5:21, 10:26] / 255.0, atol=1e-6)
    # Points measured from the crop's top-left edge (MediaPipe's convention) and pixel centres agree.
    np.testing.assert_allclose(crop.edge_to_image([[0, 0], [16, 16]], 16), [[9.5, 4.5], [25.5, 20.5]])
    np.testing.assert_allclose(crop.to_image([[0, 0], [15, 15]], 16), [[10, 5], [25, 20]])
    # A window reaching outside the image: black padding in, clipped paste out.
    edge = CropWindow.around_pixels(np.array([-10, -10, 10, 10]), margin=1.0)
    assert not edge.extract(image, 8)[:3, :3].any()
    pasted = edge.paste(np.ones((8, 8), np.float32), (40, 60))
    assert pasted.shape == (40, 60) and not pasted[10:].any() and not pasted[:, 10:].any()
    np.testing.assert_allclose(pasted[:10, :10], 1.0, atol=1e-6)




def test_only_pixel_aligned_windows_are_extracted():
    image = np.zeros((40, 60, 3), np.uint8)
    with pytest.raises(ValueError, match="not a pixel-aligned"):
        CropWindow(10.3, 5.0, 16.0).extract(image, 16)
    with pytest.raises(ValueError, match="not a pixel-aligned"):
        CropWindow.at_pixel(0, 0, 16).__class__(7.5, 7.5, 16.0, flip=True).paste(np.zeros((8, 8)), (40, 60))


def test_pixel_bounds():
    assert CropWindow.at_pixel(-20, -20, 10).pixel_bounds((40, 60)) is None
    assert CropWindow.at_pixel(10, 5, 16).pixel_bounds((40, 60)) == (9, 4, 27, 22)
    assert CropWindow.at_pixel(10, 5, 16).pixel_bounds((40, 60), border=2) == (7, 2, 29, 24)
