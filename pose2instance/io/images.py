"""Reading images: always ``(H, W, 3)`` uint8 RGB, with clear errors."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import InputError
from ..limits import check_pixels

#: Images with a side shorter than this are refused: too small to show a person.
MIN_IMAGE_SIDE = 8
#: The EXIF tag of the orientation (1: as stored).
EXIF_ORIENTATION = 0x0112


class ImageError(InputError):
    """An image file that cannot be used (missing, empty, unreadable)."""


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB.

    Repairs (documented): greyscale is replicated to three channels; an alpha
    channel is dropped (the colour is used as is, not composited); palette and
    CMYK images are converted to RGB by Pillow; 16-bit, 32-bit and float images are
    scaled to 8 bits as :func:`as_rgb` says. EXIF orientation is *not* applied, so pixel
    coordinates match COCO annotations (which are in the stored frame); a file whose
    EXIF orientation is not 1 gets a warning, as its masks are in the stored frame,
    not the one a photo viewer shows.

    Raises:
        ImageError: the file is missing, empty, truncated, not an image, smaller than
            :data:`MIN_IMAGE_SIDE` on a side, or has more pixels than ``LIMITS.max_pixels`` (both
            checked from the header, before decoding).
    """
    path = Path(path)
    with _opened(path) as im:
        im.load()
        direct = im.mode in ("L", "RGB", "RGBA", "I", "F") or im.mode.startswith("I;16")
        return as_rgb(np.asarray(im if direct else im.convert("RGB")), source=str(path))


def check_image_file(path: str | Path) -> tuple[int, int]:
    """``(H, W)`` of an image file read from its header, without decoding the pixels: the checks of
    :func:`load_image` that are cheap (missing, empty, not an image, too many pixels), so a command can refuse
    a bad file before it loads any model.

    Raises:
        ImageError: as :func:`load_image`.
    """
    with _opened(Path(path), warn=False) as im:
        return im.height, im.width


@contextmanager
def _opened(path: Path, warn: bool = True) -> Iterator[Image.Image]:
    """The opened (not yet decoded) image of ``path`` after the header checks; errors in the body, such as a
    truncated file while decoding, become :class:`ImageError` naming the file."""
    if not path.is_file():
        raise ImageError(f"{path}: image file not found")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: image file is empty")
    try:
        with Image.open(path) as im:
            _check_size_and_orientation(im, path, warn)
            yield im
    except (UnidentifiedImageError, ImportError) as e:
        # ImportError: once ultralytics (the yolo extra) is imported, it patches Image.open to look for a
        # HEIF plugin on files Pillow cannot identify, and fails when that plugin is not installed.
        raise ImageError(f"{path}: cannot read image (not an image format Pillow reads: JPEG, PNG, TIFF, BMP, "
                         "WebP, GIF ...)") from e
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ImageError(f"{path}: cannot read image ({type(e).__name__}: {e})") from e


def _check_size_and_orientation(im: Image.Image, path: Path, warn: bool = True) -> None:
    if min(im.height, im.width) < MIN_IMAGE_SIDE:
        raise ImageError(f"{path}: {im.width}x{im.height} pixels is too small to show a person (at least "
                         f"{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE})", path, "size")
    try:
        check_pixels(im.height, im.width, str(path))
    except InputError as e:
        raise ImageError(e.message, path, e.field, e.hint, **e.values) from None
    if not warn:
        return
    orientation = im.getexif().get(EXIF_ORIENTATION, 1)
    if orientation not in (1, None):
        warnings.warn(f"{path}: EXIF orientation {orientation} is not applied: pixels, keypoints and masks are in "
                      "the stored frame (as in COCO), which a photo viewer shows rotated or mirrored. If your "
                      "keypoints are in the displayed frame, rotate the file first (e.g. PIL.ImageOps.exif_transpose "
                      "or `exiftran -ai`)", stacklevel=5)


def as_rgb(image: np.ndarray, source: str = "image") -> np.ndarray:
    """Bring an ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` array to ``(H, W, 3)`` uint8 RGB.

    Values are brought to 8 bits without wrapping around: floats whose maximum is at most 1
    are taken to be in ``[0, 1]``, other floats in ``[0, 255]`` (NaN -> 0, clipped); integers up
    to 255 are kept, up to 65535 divided by 257 (16 bits), larger ones (32-bit) scaled so that
    the maximum is 255, with a warning; negative values are clipped to 0. Raises ``ImageError``
    for other shapes or an empty image.
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
            a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
            a = np.clip(a * (255.0 if a.max(initial=0) <= 1 else 1.0) + 0.5, 0, 255)
        elif np.issubdtype(a.dtype, np.integer) or a.dtype == bool:
            a = np.clip(a.astype(np.float64), 0, None)
            top = a.max(initial=0)
            if top > 65535:
                warnings.warn(f"{source}: values up to {top:.0f} (more than 16 bits) scaled to 0-255 by their "
                              "maximum", stacklevel=2)
                a = a * (255.0 / top)
            elif top > 255:
                a = a / 257.0
        else:
            raise ImageError(f"{source}: unsupported pixel type {a.dtype}")
        a = np.clip(a, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)
