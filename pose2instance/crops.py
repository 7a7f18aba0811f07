"""Square crop windows: the one crop geometry of the package (learned models, MediaPipe models, BlazePose).

A :class:`CropWindow` is a square of ``side`` image pixels centred on ``(cx, cy)``,
optionally mirrored, resampled to an ``n x n`` crop. Image coordinates follow the
package convention (x right, y down, pixel centres at integer coordinates); crop
pixel ``(u, v)`` (column, row) has its centre at::

    x = cx + f * (u + 0.5 - n / 2) * side / n        f = -1 if flipped else 1
    y = cy +     (v + 0.5 - n / 2) * side / n

so the crop spans exactly the window's ``side x side`` pixels. Models that measure
crop points from the crop's top-left *edge* (MediaPipe: ``0 .. n`` spans the crop)
use :meth:`CropWindow.edge_to_image`. Windows made by :meth:`CropWindow.around_pixels`
are aligned to whole pixels (left pixel ``x0``, top pixel ``y0`` integers); only they
can be read with :meth:`CropWindow.extract` and written back with :meth:`CropWindow.paste`
(Pillow, bilinear). The torch resampling of any window is in :mod:`pose2instance.learned.sampling`.
Numpy and Pillow only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .structures import COCO_FLIP_INDEX, Persons


@dataclass(frozen=True)
class CropWindow:
    """A square window of the image (see the module doc for the exact pixel mapping).

    Attributes:
        cx, cy: centre in image pixels.
        side: side in image pixels.
        flip: mirror horizontally.
    """

    cx: float
    cy: float
    side: float
    flip: bool = False

    @staticmethod
    def around(box: np.ndarray, margin: float = 1.25, scale: float = 1.0, shift: tuple[float, float] = (0.0, 0.0),
               flip: bool = False) -> "CropWindow":
        """The window centred on an XYXY ``box`` with side ``max(w, h) * margin * scale`` (at least 8 px),
        its centre moved by ``shift * side``."""
        x0, y0, x1, y1 = (float(v) for v in box)
        side = max(max(x1 - x0, y1 - y0) * margin * scale, 8.0)
        return CropWindow((x0 + x1) / 2 + shift[0] * side, (y0 + y1) / 2 + shift[1] * side, side, flip)

    @staticmethod
    def at_pixel(x0: int, y0: int, side: int) -> "CropWindow":
        """The pixel-aligned window whose top-left pixel is ``(x0, y0)`` and side ``side`` pixels."""
        return CropWindow(x0 + side / 2 - 0.5, y0 + side / 2 - 0.5, float(side))

    @staticmethod
    def around_pixels(box: np.ndarray, margin: float = 1.0) -> "CropWindow":
        """The pixel-aligned window centred on an XYXY ``box``, side ``round(max(w, h) * margin)`` (at least 1 px)."""
        x0, y0, x1, y1 = (float(v) for v in box)
        side = max(1, int(round(max(x1 - x0, y1 - y0) * margin)))
        return CropWindow.at_pixel(int(round((x0 + x1 - side) / 2)), int(round((y0 + y1 - side) / 2)), side)

    @property
    def x0(self) -> int:
        """Left pixel column of a pixel-aligned window."""
        return int(round(self.cx - self.side / 2 + 0.5))

    @property
    def y0(self) -> int:
        """Top pixel row of a pixel-aligned window."""
        return int(round(self.cy - self.side / 2 + 0.5))

    def to_image(self, uv: np.ndarray, n: int) -> np.ndarray:
        """``(..., 2)`` crop pixel coordinates (u, v) of an ``n x n`` crop -> image coordinates (x, y)."""
        uv = np.asarray(uv, np.float64)
        s = self.side / n
        f = -1.0 if self.flip else 1.0
        return np.stack([self.cx + f * (uv[..., 0] + 0.5 - n / 2) * s, self.cy + (uv[..., 1] + 0.5 - n / 2) * s], -1)

    def edge_to_image(self, uv: np.ndarray, n: int) -> np.ndarray:
        """``(..., 2)`` float32 points measured from the unflipped crop's top-left edge in units of ``side / n``
        -> image ``(x, y)`` float32 (``to_image(uv - 0.5, n)``, in the float32 arithmetic of the MediaPipe models)."""
        if self.flip:
            raise ValueError("edge_to_image is for unflipped windows")
        edge = np.array([self.cx - self.side / 2, self.cy - self.side / 2], np.float32)
        return (np.asarray(uv, np.float32) * (self.side / n) + edge).astype(np.float32)

    def to_crop(self, xy: np.ndarray, n: int) -> np.ndarray:
        """``(..., 2)`` image coordinates (x, y) -> crop pixel coordinates (u, v) of an ``n x n`` crop."""
        xy = np.asarray(xy, np.float64)
        s = self.side / n
        f = -1.0 if self.flip else 1.0
        return np.stack([f * (xy[..., 0] - self.cx) / s + n / 2 - 0.5, (xy[..., 1] - self.cy) / s + n / 2 - 0.5], -1)

    def pixel_bounds(self, image_size: tuple[int, int], border: float = 0.0) -> tuple[int, int, int, int] | None:
        """``(x0, y0, x1, y1)``: the image pixels the window (grown by ``border`` px) touches, end exclusive.

        None when the window misses the image.
        """
        h, w = image_size
        half = self.side / 2 + border
        x0, x1 = max(int(np.floor(self.cx - half)), 0), min(int(np.ceil(self.cx + half)) + 1, w)
        y0, y1 = max(int(np.floor(self.cy - half)), 0), min(int(np.ceil(self.cy + half)) + 1, h)
        return None if x1 <= x0 or y1 <= y0 else (x0, y0, x1, y1)

    def _check_pixel_aligned(self) -> int:
        side = int(round(self.side))
        if self.flip or abs(side - self.side) > 1e-6 or abs(self.x0 - (self.cx - self.side / 2 + 0.5)) > 1e-6 \
                or abs(self.y0 - (self.cy - self.side / 2 + 0.5)) > 1e-6:
            raise ValueError(f"{self} is not a pixel-aligned, unflipped window (use CropWindow.around_pixels)")
        return side

    def extract(self, image: np.ndarray, n: int) -> np.ndarray:
        """The window of an ``(H, W, 3)`` uint8 image as ``(n, n, 3)`` float32 in ``[0, 1]`` (black outside)."""
        side = self._check_pixel_aligned()
        window = Image.fromarray(image).crop((self.x0, self.y0, self.x0 + side, self.y0 + side))
        return np.asarray(window.resize((n, n), Image.Resampling.BILINEAR), np.float32)[..., :3] / 255.0

    def paste(self, values: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """Resample an ``(n, n)`` map over the window into an ``(H, W)`` float32 image, 0 outside the window."""
        side = self._check_pixel_aligned()
        h, w = image_size
        out = np.zeros((h, w), np.float32)
        ix0, iy0 = max(self.x0, 0), max(self.y0, 0)
        ix1, iy1 = min(self.x0 + side, w), min(self.y0 + side, h)
        if ix1 <= ix0 or iy1 <= iy0:
            return out
        s = side / values.shape[-1]
        region = ((ix0 - self.x0) / s, (iy0 - self.y0) / s, (ix1 - self.x0) / s, (iy1 - self.y0) / s)
        src = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32))
        out[iy0:iy1, ix0:ix1] = np.asarray(src.resize((ix1 - ix0, iy1 - iy0), Image.Resampling.BILINEAR, box=region))
        return out


def keypoints_to_crop(keypoints: np.ndarray, window: CropWindow, n: int) -> np.ndarray:
    """``(..., 17, 3)`` image keypoints -> crop keypoints (same ``c``), left/right swapped when flipped."""
    kp = np.array(keypoints, np.float32, copy=True)
    kp[..., :2] = window.to_crop(kp[..., :2], n)
    if window.flip:
        kp = kp[..., list(COCO_FLIP_INDEX), :]
    return kp


def persons_in_crop(persons: Persons, index, window: CropWindow, n: int) -> Persons:
    """The people ``index`` of ``persons`` in crop coordinates (an ``n x n`` image), far keypoints dropped."""
    index = list(index)
    kp = keypoints_to_crop(persons.keypoints[index], window, n)
    far = (kp[..., :2] < -0.45 * n).any(-1) | (kp[..., :2] > 1.45 * n).any(-1)
    kp[far] = 0.0
    corners = window.to_crop(persons.boxes[index].reshape(-1, 2, 2), n)
    boxes = np.concatenate([corners.min(1), corners.max(1)], 1)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1e-3)
    return Persons(boxes, kp, (n, n), persons.keypoint_kind)
