"""Masks in COCO's formats: RLE (compressed or not) and polygons, through pycocotools."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils


def mask_to_rle(mask: np.ndarray) -> dict:
    """``(H, W)`` bool mask -> COCO compressed RLE ``{"size": [H, W], "counts": str}`` (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def masks_to_rles(masks: np.ndarray) -> list[dict]:
    """``(N, H, W)`` bool masks -> a list of ``N`` COCO RLE dicts."""
    return [mask_to_rle(m) for m in masks]


def rle_to_mask(rle: Mapping) -> np.ndarray:
    """COCO RLE (compressed or uncompressed) -> ``(H, W)`` bool mask."""
    h, w = rle["size"]
    return segmentation_to_mask(dict(rle), int(h), int(w))


def segmentation_to_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """A COCO ``segmentation`` field (polygons, RLE or uncompressed RLE) -> ``(H, W)`` bool mask."""
    if isinstance(segmentation, list):
        polys = [p for p in segmentation if len(p) >= 6]
        if not polys:
            return np.zeros((height, width), bool)
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    elif isinstance(segmentation, dict) and "counts" in segmentation:
        rle = dict(segmentation)
        if isinstance(rle["counts"], str):
            rle["counts"] = rle["counts"].encode("ascii")
    else:
        raise ValueError(f"unknown segmentation format {type(segmentation).__name__}")
    return mask_utils.decode(rle).astype(bool)
