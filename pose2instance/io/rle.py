"""Masks in COCO's formats: RLE (compressed or not) and polygons, through pycocotools.

pycocotools trusts its input: a polygon with a NaN or a coordinate of ``1e12`` exhausts
memory, and an RLE whose run lengths do not add up to ``H * W`` writes past its buffer.
So :func:`checked_segmentation` (which :func:`segmentation_to_mask` and the COCO AP's ground truth go
through) checks every segmentation first and raises
``ValueError`` saying what is wrong: polygons of finite numbers, an even count of at
least 6, within one image size of the image; RLE ``size`` equal to the image's and
within :data:`pose2instance.limits.LIMITS`; run lengths that are non-negative and add
up to ``H * W`` (compressed counts are decoded here to check them).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from ..limits import check_pixels


def mask_to_rle(mask: np.ndarray) -> dict:
    """``(H, W)`` bool mask -> COCO compressed RLE ``{"size": [H, W], "counts": str}`` (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def masks_to_rles(masks: np.ndarray) -> list[dict]:
    """``(N, H, W)`` bool masks -> a list of ``N`` COCO RLE dicts."""
    return [mask_to_rle(m) for m in masks]


def rle_to_mask(rle: Mapping) -> np.ndarray:
    """COCO RLE (compressed or uncompressed) -> ``(H, W)`` bool mask (checked as in :func:`segmentation_to_mask`)."""
    if not isinstance(rle, Mapping):
        raise ValueError(f"an RLE must be an object with 'size' and 'counts', got {type(rle).__name__}")
    h, w = _rle_size(rle)
    return segmentation_to_mask(dict(rle), h, w)


def checked_segmentation(segmentation: Any, height: int, width: int) -> list[list[float]] | dict:
    """A COCO ``segmentation`` field checked as in the module doc, in a form pycocotools reads safely, nothing decoded.

    Returns:
        the polygons of at least 3 points as lists of floats, or the RLE with ``size`` ``[height, width]`` and
        integer ``counts`` (a list) or the compressed ``counts`` string.

    Raises:
        ValueError: a malformed segmentation, or ``H * W`` over the pixel limit.
    """
    check_pixels(height, width, "segmentation")
    if isinstance(segmentation, list):
        return _polygons(segmentation, height, width)
    if isinstance(segmentation, Mapping) and "counts" in segmentation:
        if _rle_size(segmentation) != (height, width):
            raise ValueError(f"RLE size {segmentation['size']} is not the image's [{height}, {width}]")
        counts = segmentation["counts"]
        if isinstance(counts, (list, tuple, np.ndarray)):
            _check_runs(counts, height * width)
            return {"size": [height, width], "counts": [int(c) for c in counts]}
        if isinstance(counts, (str, bytes)):
            text = counts.decode("ascii", "replace") if isinstance(counts, bytes) else counts
            _check_runs(compressed_counts(text), height * width)
            return {"size": [height, width], "counts": text}
        raise ValueError(f"RLE 'counts' must be a string or a list of integers, got {type(counts).__name__}")
    raise ValueError(f"unknown segmentation format {type(segmentation).__name__} (expected a list of "
                     "polygons or an RLE object with 'size' and 'counts')")


def segmentation_to_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """A COCO ``segmentation`` field (polygons, RLE or uncompressed RLE) -> ``(H, W)`` bool mask.

    Raises:
        ValueError: a malformed segmentation (see :func:`checked_segmentation`), or ``H * W`` over the pixel limit.
    """
    checked = checked_segmentation(segmentation, height, width)
    if isinstance(checked, list):
        if not checked:
            return np.zeros((height, width), bool)
        rle = mask_utils.merge(mask_utils.frPyObjects(checked, height, width))
    elif isinstance(checked["counts"], list):
        rle = mask_utils.frPyObjects(checked, height, width)
    else:
        rle = {"size": checked["size"], "counts": checked["counts"].encode("ascii")}
    return mask_utils.decode(rle).astype(bool)


def _polygons(segmentation: list, height: int, width: int) -> list[list[float]]:
    """The polygons of at least 3 points, checked: finite numbers, even count, near the image."""
    out = []
    for i, poly in enumerate(segmentation):
        if not isinstance(poly, (list, tuple, np.ndarray)) or any(
                isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) for v in poly):
            raise ValueError(f"polygon {i} must be a list of numbers [x0, y0, x1, y1, ...], got {str(poly)[:80]}")
        xy = np.asarray(poly, np.float64)
        if len(xy) % 2:
            raise ValueError(f"polygon {i} has an odd number of coordinates ({len(xy)})")
        if not np.isfinite(xy).all():
            raise ValueError(f"polygon {i} has a non-finite coordinate: {str(poly)[:80]}")
        x, y = xy[0::2], xy[1::2]
        if len(xy) and (x.min() < -width or x.max() > 2 * width or y.min() < -height or y.max() > 2 * height):
            raise ValueError(f"polygon {i} reaches ({x.min():g}..{x.max():g}, {y.min():g}..{y.max():g}), "
                             f"more than one image size outside the {width}x{height} image")
        if len(xy) >= 6:
            out.append([float(v) for v in xy])
    return out


def _rle_size(rle: Mapping) -> tuple[int, int]:
    """``(H, W)`` of an RLE's ``size`` field: two positive integers within the pixel limit."""
    size = rle.get("size")
    if not (isinstance(size, (list, tuple, np.ndarray)) and len(size) == 2
            and all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) and v > 0 for v in size)):
        raise ValueError(f"RLE 'size' must be [height, width], two positive integers, got {str(size)[:80]}")
    check_pixels(int(size[0]), int(size[1]), "RLE size")
    return int(size[0]), int(size[1])


def _check_runs(runs: list, total: int) -> None:
    if any(isinstance(c, (bool, np.bool_)) or not isinstance(c, numbers.Integral) or c < 0 for c in runs):
        raise ValueError("RLE run lengths must be non-negative integers")
    if sum(runs) != total:
        raise ValueError(f"RLE run lengths add up to {sum(runs)}, not height x width = {total}")


def compressed_counts(counts: str) -> list[int]:
    """The run lengths of a compressed COCO RLE ``counts`` string.

    The format (COCO's ``maskApi``): each run is a little-endian base-32 number, 5 bits per
    character (``chr(48 + bits)``), bit 0x20 set on every character but the last, bit 0x10 of
    the last one the sign; from the fourth run on (index 3), the number is the difference to
    the run two before.

    Raises:
        ValueError: a character outside the format, or a number cut off at the end.
    """
    runs: list[int] = []
    p = 0
    while p < len(counts):
        value, shift, more = 0, 0, True
        while more:
            if p >= len(counts):
                raise ValueError("RLE 'counts' string ends inside a number")
            bits = ord(counts[p]) - 48
            if not 0 <= bits < 64:
                raise ValueError(f"RLE 'counts' has the character {counts[p]!r} at {p}, outside the format")
            value |= (bits & 0x1F) << shift
            more = bool(bits & 0x20)
            p, shift = p + 1, shift + 5
            if not more and bits & 0x10:
                value -= 1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs
