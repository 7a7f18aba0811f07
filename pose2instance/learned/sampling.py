"""Torch resampling of :class:`~pose2instance.crops.CropWindow` crops: image -> crops, crop maps -> image.

Bilinear (``torch.nn.functional.grid_sample``, ``align_corners=False``), following the
window's pixel mapping exactly; pixels outside the image read as zero.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..crops import CropWindow


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 RGB -> ``(3, H, W)`` float32 in [0, 1]."""
    return torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1).float().div_(255.0)


def sampling_grid(window: CropWindow, n: int, image_size: tuple[int, int]) -> torch.Tensor:
    """``(n, n, 2)`` float32 ``grid_sample`` grid (normalised x, y of each crop pixel centre in the image)."""
    h, w = image_size
    u = np.arange(n, dtype=np.float64)
    xy = torch.from_numpy(window.to_image(np.stack([u, u], -1), n))  # x depends on u only, y on v only
    gx = (2 * xy[:, 0] + 1) / w - 1
    gy = (2 * xy[:, 1] + 1) / h - 1
    return torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1).float()


def sample_crops(image: torch.Tensor, windows: Sequence[CropWindow], n: int) -> torch.Tensor:
    """Bilinear crops of one image: ``(C, H, W)`` float tensor -> ``(len(windows), C, n, n)`` (zeros outside)."""
    if not windows:
        return image.new_zeros((0, image.shape[0], n, n))
    h, w = image.shape[-2:]
    grid = torch.stack([sampling_grid(win, n, (h, w)) for win in windows]).to(image.device, image.dtype)
    return F.grid_sample(image.unsqueeze(0).expand(len(windows), -1, -1, -1), grid, mode="bilinear",
                         padding_mode="zeros", align_corners=False)


def paste_crops(values: torch.Tensor, windows: Sequence[CropWindow], image_size: tuple[int, int],
                fill: float = 0.0) -> torch.Tensor:
    """Put crop maps back into image coordinates: ``(N, n, n)`` -> ``(N, H, W)`` (bilinear, ``fill`` outside each
    window).

    The inverse of :func:`sample_crops`: image pixel ``(x, y)`` reads the crop at
    ``CropWindow.to_crop((x, y))``. Only the pixels each window covers are computed.
    """
    h, w = image_size
    n = values.shape[-1]
    out = values.new_full((len(windows), h, w), fill)
    for i, win in enumerate(windows):
        bounds = win.pixel_bounds(image_size)
        if bounds is None:
            continue
        x0, y0, x1, y1 = bounds
        xs, ys = np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64)
        u = torch.from_numpy(win.to_crop(np.stack([xs, np.zeros_like(xs)], -1), n)[:, 0])  # u depends on x only
        v = torch.from_numpy(win.to_crop(np.stack([np.zeros_like(ys), ys], -1), n)[:, 1])  # v on y only
        grid = torch.stack(torch.meshgrid((2 * v + 1) / n - 1, (2 * u + 1) / n - 1, indexing="ij")[::-1], -1)
        inside = (grid.abs() <= 1).all(-1)
        crop = F.grid_sample(values[i][None, None], grid[None].to(values.device, values.dtype), mode="bilinear",
                             padding_mode="border", align_corners=False)[0, 0]
        out[i, y0:y1, x0:x1] = torch.where(inside.to(values.device), crop, crop.new_tensor(fill))
    return out


def uint8_image(rgb: torch.Tensor) -> np.ndarray:
    """``(3, n, n)`` float crop in ``[0, 1]`` -> ``(n, n, 3)`` uint8 RGB (for image-aware priors)."""
    return (rgb.permute(1, 2, 0).cpu().numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
