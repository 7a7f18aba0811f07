"""The person-score interface and the sources that need no model."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
from PIL import Image

from ..structures import Persons, check_score


class PersonScorer(ABC):
    """A source of per-pixel person probability.

    ``name`` identifies it in reports; ``needs_masks`` is True for the oracle.
    """

    name: str = "scorer"
    needs_masks: bool = False

    @abstractmethod
    def __call__(self, image: np.ndarray, persons: Persons, image_path: str | Path | None = None) -> np.ndarray:
        """``(H, W)`` float32 person probability for an ``(H, W, 3)`` uint8 RGB image.

        ``persons`` are the people of the image (boxes may be used by per-person
        models); ``image_path`` lets file-based sources find their map.
        """


class OracleScore(PersonScorer):
    """The union of the ground-truth person masks: what a perfect segmenter would give."""

    name = "oracle"
    needs_masks = True

    def __call__(self, image, persons, image_path=None):
        if persons.masks is None:
            raise ValueError("the oracle person score needs ground-truth masks (an annotation file with "
                             "segmentations); pass a score map or a model instead")
        return persons.masks.any(0).astype(np.float32)


def read_score_map(path: str | Path, image_size: tuple[int, int]) -> np.ndarray:
    """Read a person score map saved by any segmenter and check it against the image.

    ``.npy``: an ``(H, W)`` array of probabilities in [0, 1] (bool accepted).
    ``.png`` (or other image): 8-bit grey divided by 255, 16-bit by 65535; a colour
    image is rejected (save the probability as one channel).

    Raises:
        ValueError: unreadable file, wrong size, values outside [0, 1], NaN (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: score map not found")
    try:
        if path.suffix.lower() == ".npy":
            score = np.load(path, allow_pickle=False)
        else:
            with Image.open(path) as im:
                if im.mode not in ("L", "I;16", "I", "1", "F"):
                    raise ValueError(f"{path}: score map must be one grey channel, got mode {im.mode}")
                arr = np.asarray(im)
            if arr.dtype == bool or im.mode == "F":
                score = arr.astype(np.float32)
            else:
                score = arr.astype(np.float32) / (255.0 if arr.dtype == np.uint8 else 65535.0)
    except (OSError, ValueError) as e:
        if str(path) in str(e):
            raise
        raise ValueError(f"{path}: cannot read score map ({e})") from e
    return check_score(score, image_size, source=str(path))


class FileScore(PersonScorer):
    """Score maps from disk: one file, or a folder with ``<image stem>.npy`` / ``.png`` per image."""

    name = "file"

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __call__(self, image, persons, image_path=None):
        if self.path.is_file():
            return read_score_map(self.path, image.shape[:2])
        if image_path is None:
            raise ValueError(f"{self.path} is a folder of score maps: the image path is needed to pick one")
        stem = Path(image_path).stem
        for suffix in (".npy", ".png"):
            candidate = self.path / f"{stem}{suffix}"
            if candidate.is_file():
                return read_score_map(candidate, image.shape[:2])
        raise ValueError(f"{self.path}: no score map {stem}.npy or {stem}.png for image {image_path}")
