"""Bilinear resampling of :class:`~pose2instance.crops.CropWindow` crops in numpy: image -> crops, crops -> image.

The same arithmetic as ``torch.nn.functional.grid_sample(mode="bilinear", align_corners=False)``
on the window's pixel mapping: :func:`sample_crops` reads zeros outside the image,
:func:`paste_crops` reads a crop's border values (clamped) and writes ``fill`` outside its window.
A window's mapping is separable (image x depends on crop u only, y on v only), so a crop is two
1-D gathers with two taps each: cheap, and independent of torch. The learned networks' training
data and inference (with PyTorch or ONNX Runtime) both use it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .crops import CropWindow


def _taps(coords: np.ndarray, size: int, border: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps along one axis of ``size`` pixels padded with one zero pixel at each end.

    Args:
        coords: ``(k,)`` float64 pixel coordinates (pixel centres at integers).
        size: pixels along the axis.
        border: clamp the coordinates to ``[0, size - 1]`` first (border padding), else read zeros outside.

    Returns:
        ``(i0, i1, w0, w1)``: ``(k,)`` int64 indices into the padded axis (0 and ``size + 1`` are the zero pads)
        and ``(k,)`` float32 weights.
    """
    if border:
        coords = np.clip(coords, 0, size - 1)
    low = np.floor(coords)
    w1 = (coords - low).astype(np.float32)
    i0 = low.astype(np.int64) + 1
    return np.clip(i0, 0, size + 1), np.clip(i0 + 1, 0, size + 1), 1 - w1, w1


def _resample(padded: np.ndarray, ys: tuple, xs: tuple) -> np.ndarray:
    """``(C, H + 2, W + 2)`` zero-padded planes read at the taps ``ys`` (rows) and ``xs`` (columns) -> ``(C, m, k)``."""
    y0, y1, wy0, wy1 = ys
    x0, x1, wx0, wx1 = xs
    first, last = x0.min(), x1.max()  # only the columns the taps reach
    padded = padded[:, :, first:last + 1]
    rows = padded[:, y0] * wy0[:, None] + padded[:, y1] * wy1[:, None]
    return rows[:, :, x0 - first] * wx0 + rows[:, :, x1 - first] * wx1


def sample_crops(planes: np.ndarray, windows: Sequence[CropWindow], n: int) -> np.ndarray:
    """Bilinear ``n x n`` crops of one image's planes: ``(C, H, W)`` float -> ``(len(windows), C, n, n)`` float32.

    Crop pixel ``(u, v)`` reads the image at ``window.to_image((u, v))``; zeros outside the image.
    """
    planes = np.asarray(planes, np.float32)
    c, h, w = planes.shape
    out = np.zeros((len(windows), c, n, n), np.float32)
    if not windows:
        return out
    padded = np.pad(planes, ((0, 0), (1, 1), (1, 1)))
    u = np.arange(n, dtype=np.float64)
    for i, win in enumerate(windows):
        xy = win.to_image(np.stack([u, u], -1), n)  # x depends on u only, y on v only
        out[i] = _resample(padded, _taps(xy[:, 1], h, False), _taps(xy[:, 0], w, False))
    return out


def paste_crops(values: np.ndarray, windows: Sequence[CropWindow], image_size: tuple[int, int],
                fill: float = 0.0) -> np.ndarray:
    """Crop maps back in image coordinates: ``(N, n, n)`` -> ``(N, H, W)`` float32, ``fill`` outside each window.

    The inverse of :func:`sample_crops`: image pixel ``(x, y)`` reads its crop (bilinear, clamped at the crop's
    border) at ``window.to_crop((x, y))``. Only the pixels each window covers are computed.
    """
    values = np.asarray(values, np.float32)
    h, w = image_size
    out = np.full((len(windows), h, w), fill, np.float32)
    if not len(windows):
        return out
    n = values.shape[-1]
    for i, win in enumerate(windows):
        bounds = win.pixel_bounds(image_size)
        if bounds is None:
            continue
        x0, y0, x1, y1 = bounds
        xs, ys = np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64)
        u = win.to_crop(np.stack([xs, np.zeros_like(xs)], -1), n)[:, 0]  # u depends on x only
        v = win.to_crop(np.stack([np.zeros_like(ys), ys], -1), n)[:, 1]  # v on y only
        crop = _resample(np.pad(values[i][None], ((0, 0), (1, 1), (1, 1))), _taps(v, n, True), _taps(u, n, True))[0]
        inside = (np.abs(v + 0.5 - n / 2) <= n / 2)[:, None] & (np.abs(u + 0.5 - n / 2) <= n / 2)[None, :]
        out[i, y0:y1, x0:x1] = np.where(inside, crop, np.float32(fill))
    return out


def image_planes(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(3, H, W)`` float32 in [0, 1]."""
    return np.ascontiguousarray(np.asarray(image, np.uint8).transpose(2, 0, 1), np.float32) / np.float32(255)


def uint8_image(rgb: np.ndarray) -> np.ndarray:
    """``(3, n, n)`` float crop in ``[0, 1]`` -> ``(n, n, 3)`` uint8 RGB (for image-aware priors)."""
    return (np.asarray(rgb).transpose(1, 2, 0) * 255 + 0.5).clip(0, 255).astype(np.uint8)
