"""Pretrained person scores as a network input: computed once per image, cached as 8-bit PNGs.

The ``score_input`` of a model config names one of :data:`SCORE_INPUTS` (today BlazePose's
per-box person mask, the offline default score). Training reads it for every image of the
training files; the first epoch computes it (about 30 ms per person on a CPU) and writes
``<cache>/score_maps/<score>/<annotation file stem>/<image id>_<hash>.png`` (value = round(255 * score)), later
epochs and runs read the file. The file name ends in a hash of the annotation file's name, the
image id and the image's person boxes, and a map is used only if its size is the image's, so
edited boxes or a resized image never read a stale map; the key holds no absolute path, so a
cache travels with its data (:mod:`pose2instance.learned.pack`). The cache folder is ``$POSE2INSTANCE_CACHE`` or
``~/.cache/pose2instance``. Inference (:class:`~pose2instance.learned.models.Predictor`)
computes the same score on the given people.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from ..io.jsonio import atomic_write
from ..scores import PersonScorer
from ..structures import Persons


def _blazepose() -> PersonScorer:
    from ..scores.mediapipe import BlazePoseMaskScore
    return BlazePoseMaskScore()


#: Pretrained scores a network can take as an input channel: name -> factory.
SCORE_INPUTS: dict[str, Callable[[], PersonScorer]] = {"blazepose": _blazepose}


def make_score_input(name: str) -> PersonScorer:
    """The scorer of a ``score_input`` name (ImportError names the extra to install)."""
    if name not in SCORE_INPUTS:
        raise ValueError(f"unknown score input {name!r}; choose from {', '.join(SCORE_INPUTS)}")
    return SCORE_INPUTS[name]()


def default_cache() -> Path:
    """``$POSE2INSTANCE_CACHE`` or ``~/.cache/pose2instance``."""
    return Path(os.environ.get("POSE2INSTANCE_CACHE", Path.home() / ".cache" / "pose2instance"))


def quantise_score(score: np.ndarray) -> np.ndarray:
    """``(H, W)`` score in [0, 1] -> uint8 ``round(255 * score)``: the precision the network is trained with."""
    return np.round(np.clip(score, 0, 1) * 255).astype(np.uint8)


class CachedScoreMaps:
    """``(H, W)`` float32 score maps of dataset images, computed by a scorer once and cached on disk.

    Args:
        name: a :data:`SCORE_INPUTS` name.
        cache: the cache folder (default :func:`default_cache`).
    """

    def __init__(self, name: str, cache: str | Path | None = None):
        self.name = name
        self.folder = Path(cache or default_cache()) / "score_maps" / name
        self._scorer: PersonScorer | None = None

    def path(self, annotation_file: Path, image_id: int, persons: Persons) -> Path:
        """Where the map of ``image_id`` of ``annotation_file`` with these people's boxes is cached."""
        key = hashlib.sha1(f"{Path(annotation_file).name}:{int(image_id)}:".encode()
                           + np.ascontiguousarray(persons.boxes, np.float32).tobytes()).hexdigest()[:12]
        return self.folder / Path(annotation_file).stem / f"{int(image_id)}_{key}.png"

    def __call__(self, annotation_file: Path, image_id: int, image: np.ndarray, persons: Persons) -> np.ndarray:
        """The score map of ``image`` (``(H, W, 3)`` uint8) for its ``persons``, from the cache or computed."""
        path = self.path(annotation_file, image_id, persons)
        if path.is_file():
            with Image.open(path) as im:
                cached = np.asarray(im, np.float32) / 255.0
            if cached.shape == image.shape[:2]:
                return cached
        if self._scorer is None:
            self._scorer = make_score_input(self.name)
        quantised = quantise_score(self._scorer(image, persons))
        atomic_write(path, lambda tmp: Image.fromarray(quantised).save(tmp, format="PNG"))
        return quantised.astype(np.float32) / 255.0
