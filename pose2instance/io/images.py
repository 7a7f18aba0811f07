"""Reading images: always ``(H, W, 3)`` uint8 RGB, with clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


class ImageError(ValueError):
    """An image file that cannot be used (missing, empty, unreadable)."""


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB.

    Repairs (documented): greyscale is replicated to three channels; an alpha
    channel is dropped (the colour is used as is, not composited); palette,
    CMYK and 16-bit images are converted to 8-bit RGB by Pillow; EXIF
    orientation is *not* applied, so pixel coordinates match COCO annotations.

    Raises:
        ImageError: the file is missing, empty, truncated or not an image.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: image file not found")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: image file is empty")
    try:
        with Image.open(path) as im:
            im.load()
            direct = im.mode in ("L", "RGB", "RGBA", "I") or im.mode.startswith("I;16")
            return as_rgb(np.asarray(im if direct else im.convert("RGB")), source=str(path))
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError, ImportError) as e:
        # ImportError: once ultralytics (the yolo extra) is imported, it patches Image.open to look for a
        # HEIF plugin on files Pillow cannot identify, and fails when that plugin is not installed.
        raise ImageError(f"{path}: cannot read image ({type(e).__name__}: {e})") from e


def as_rgb(image: np.ndarray, source: str = "image") -> np.ndarray:
    """Bring an ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` array to ``(H, W, 3)`` uint8 RGB.

    Float images are taken to be in ``[0, 1]``. Raises ``ImageError`` for other shapes
    or an empty image.
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ImageError(f"{source}: expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageError(f"{source}: image has zero size {a.shape[:2]}")
    a = a[..., :3]
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating):
            a = np.clip(np.nan_to_num(a) * 255.0 + 0.5, 0, 255)
        elif a.max(initial=0) > 255:
            a = a / 257.0
        a = a.astype(np.uint8)
    return np.ascontiguousarray(a)
