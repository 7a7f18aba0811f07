"""Numpy crop resampling (pose2instance.resample): round trip on a real photo, and torch's grid_sample's values."""

from __future__ import annotations

import numpy as np
import pytest

from pose2instance.crops import CropWindow
from pose2instance.resample import image_planes, paste_crops, sample_crops, uint8_image


def test_crop_and_paste_back_on_a_real_photo(demo):
    image, persons = demo
    n = 96
    windows = [CropWindow.around(b, 1.25) for b in persons.boxes]
    crops = sample_crops(image_planes(image), windows, n)
    assert crops.shape == (len(persons), 3, n, n) and crops.dtype == np.float32
    # Pasting a crop's own grey values back reproduces the (blurred) image inside the window.
    grey = crops.mean(1)
    pasted = paste_crops(grey, windows, persons.image_size, fill=-1.0)
    assert pasted.shape == (len(persons), *persons.image_size)
    ref = image.mean(-1) / 255.0
    for i, win in enumerate(windows):
        inside = pasted[i] >= 0
        x0, y0 = int(np.ceil(win.cx - win.side / 2)) + 2, int(np.ceil(win.cy - win.side / 2)) + 2
        assert inside[max(y0, 0), max(x0, 0)]
        err = np.abs(pasted[i][inside] - ref[inside])
        assert np.median(err) < 0.05, i
        assert not inside[0, -1] or win.cx + win.side / 2 >= image.shape[1] - 1
    assert np.array_equal(uint8_image(crops[0]), np.clip(np.round(crops[0].transpose(1, 2, 0) * 255), 0, 255))


def test_a_pixel_aligned_crop_is_the_image_itself_and_outside_reads_zero():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    crop = sample_crops(image_planes(image), [CropWindow.at_pixel(5, 7, 20)], 20)[0]
    assert np.allclose(crop, image[7:27, 5:25].transpose(2, 0, 1) / 255.0, atol=1e-6)
    mirrored = sample_crops(image_planes(image), [CropWindow(14.5, 16.5, 20.0, flip=True)], 20)[0]
    assert np.allclose(mirrored, crop[:, :, ::-1], atol=1e-6)
    outside = sample_crops(image_planes(image), [CropWindow(-100.0, -100.0, 30.0)], 8)[0]
    assert not outside.any()
    half = sample_crops(image_planes(image), [CropWindow.at_pixel(-10, 0, 20)], 20)[0]
    assert not half[:, :, :10].any() and np.allclose(half[:, :, 10:], image[:20, :10].transpose(2, 0, 1) / 255.0,
                                                        atol=1e-6)


def test_the_same_values_as_torch_grid_sample(demo):
    """Training data and inference used torch's grid_sample before; the numpy resampling gives its values."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F
    image, persons = demo
    n = 64
    windows = [CropWindow.around(b, 1.25) for b in persons.boxes] + [CropWindow(3.0, 5.0, 400.0, flip=True)]
    planes = image_planes(image)
    h, w = persons.image_size
    u = np.arange(n, dtype=np.float64)
    grids = []
    for win in windows:
        xy = win.to_image(np.stack([u, u], -1), n)
        gx, gy = (2 * xy[:, 0] + 1) / w - 1, (2 * xy[:, 1] + 1) / h - 1
        grids.append(np.stack(np.meshgrid(gx, gy), -1))
    reference = F.grid_sample(torch.from_numpy(planes)[None].expand(len(windows), -1, -1, -1),
                              torch.from_numpy(np.stack(grids)).float(), mode="bilinear", padding_mode="zeros",
                              align_corners=False).numpy()
    assert np.abs(sample_crops(planes, windows, n) - reference).max() < 1e-4

    values = np.random.default_rng(1).normal(size=(len(windows), n, n)).astype(np.float32)
    pasted = paste_crops(values, windows, (h, w), fill=-20.0)
    for i, win in enumerate(windows):
        x0, y0, x1, y1 = win.pixel_bounds((h, w))
        xs, ys = np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64)
        uu = win.to_crop(np.stack([xs, xs], -1), n)[:, 0]
        vv = win.to_crop(np.stack([ys, ys], -1), n)[:, 1]
        grid = torch.from_numpy(np.stack(np.meshgrid((2 * uu + 1) / n - 1, (2 * vv + 1) / n - 1), -1)).float()
        inside = (grid.abs() <= 1).all(-1).numpy()
        ref = F.grid_sample(torch.from_numpy(values[i])[None, None], grid[None], mode="bilinear",
                            padding_mode="border", align_corners=False)[0, 0].numpy()
        ref = np.where(inside, ref, -20.0)
        assert np.abs(pasted[i, y0:y1, x0:x1] - ref).max() < 1e-4, i
        assert (pasted[i][:, :x0] == -20.0).all() and (pasted[i][:y0] == -20.0).all()
