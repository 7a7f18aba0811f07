"""Fusion: per-person priors + a person score map -> one mask per person; and the box baselines.

Pose2Instance fusion (training-free):

1. ``P_i = softmax_i(affinity_i / T)`` over the ``N`` people at every pixel: the
   "pose-instance maps" (``T`` is the temperature, in person scales).
2. ``F_i = P_i * S`` with ``S`` the per-pixel person probability.
3. Every pixel goes to ``argmax(1 - S, F_1, ..., F_N)``: background wins where
   ``1 - S`` beats every person (``background="score"``, the paper's), or where
   ``S < threshold`` (``background="threshold"``: then every person pixel goes to
   the nearest skeleton and ``T`` does not matter).
4. With ``claim`` (the default of :class:`~pose2instance.pipeline.Pose2Instance`: each
   person's box), person ``i`` competes only at the pixels ``claim[i]`` allows; a pixel
   no one may claim is background. Without it a lone person takes every score pixel of
   the image, however far from its skeleton and box.
5. Optionally pixels farther than ``max_distance`` person scales from every person
   stay background (people not in the list).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from .structures import Persons, box_pixels, check_score


@dataclass
class FusionResult:
    """Output of :func:`fuse`.

    Attributes:
        masks: ``(N, H, W)`` bool, disjoint.
        labels: ``(H, W)`` int32: ``-1`` background, ``i`` person ``i``.
        instance_maps: ``(N, H, W)`` float32 ``P_i`` (sums to 1 over the people who may claim a pixel,
            0 where no one may).
        fused: ``(N, H, W)`` float32 ``F_i = P_i * S``.
    """

    masks: np.ndarray
    labels: np.ndarray
    instance_maps: np.ndarray
    fused: np.ndarray


def fuse(affinity: np.ndarray, score: np.ndarray, temperature: float = 0.1, background: str = "score",
         threshold: float = 0.5, max_distance: float | None = None, claim: np.ndarray | None = None) -> FusionResult:
    """Pose2Instance fusion of per-person affinities and a person score (see the module doc).

    Args:
        affinity: ``(N, H, W)`` float log-affinities from a prior (``PriorEncoder.affinity``).
        score: ``(H, W)`` person probability in ``[0, 1]`` (bool accepted).
        temperature: softmax temperature ``T > 0`` in affinity units (person scales for distance priors).
        background: ``"score"`` (``1 - S`` competes) or ``"threshold"`` (``S < threshold`` is background).
        threshold: see ``background``.
        max_distance: if set, pixels whose best affinity is below ``-max_distance`` are background.
        claim: optional ``(N, H, W)`` bool, where each person may take pixels (e.g. :func:`box_masks`).
    """
    _check_options(temperature, background)
    affinity = np.asarray(affinity, np.float32)
    if affinity.ndim != 3:
        raise ValueError(f"affinity must be (N, H, W), got shape {affinity.shape}")
    n, h, w = affinity.shape
    s = check_score(score, (h, w))
    if n == 0:
        empty = np.zeros((0, h, w), np.float32)
        return FusionResult(empty.astype(bool), np.full((h, w), -1, np.int32), empty, empty)
    if claim is not None:
        if np.shape(claim) != affinity.shape:
            raise ValueError(f"claim must be (N, H, W) = {affinity.shape}, got shape {np.shape(claim)}")
        affinity = np.where(claim, affinity, -np.inf).astype(np.float32)
    best = affinity.max(axis=0)
    nobody = ~np.isfinite(best)
    best[nobody] = 0.0
    p = np.exp((affinity - best) / temperature)
    total = p.sum(axis=0)
    p /= np.where(total > 0, total, 1.0)
    fused = p * s
    labels = _labels(fused.argmax(axis=0), fused.max(axis=0), s, best, nobody, background, threshold, max_distance)
    return FusionResult(labels[None] == np.arange(n)[:, None, None], labels, p, fused)


#: The smallest softmax temperature: below it exp() of the affinities underflows for every person at once.
MIN_TEMPERATURE = 1e-3


@dataclass(frozen=True)
class FusionOptions:
    """The options of the training-free fusion, checked when made (see :func:`fuse` and
    :class:`~pose2instance.pipeline.Pose2Instance`, which takes them as keywords: ``Pose2Instance(prior,
    **options.keywords())``).

    Attributes:
        temperature: softmax temperature over people, in image reference scales (at least :data:`MIN_TEMPERATURE`).
        box_weight: weight of the box term (0 ignores the boxes; 100 makes a box almost a hard limit).
        background: ``"score"`` (1 - score competes with the people) or ``"threshold"`` (score < ``threshold``).
        threshold: the person-score threshold of ``background="threshold"``.
        box_limit: a person takes only pixels inside its own box.
        max_distance: optional background cut-off (affinity units), or None.
    """

    temperature: float = 0.1
    box_weight: float = 100.0
    background: str = "score"
    threshold: float = 0.5
    box_limit: bool = True
    max_distance: float | None = None

    def __post_init__(self):
        _check_options(self.temperature, self.background)
        if not np.isfinite(self.box_weight) or self.box_weight < 0:
            raise ValueError(f"box_weight must be a finite number >= 0, got {self.box_weight}")

    def keywords(self) -> dict:
        """The options as keyword arguments of :class:`~pose2instance.pipeline.Pose2Instance`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _check_options(temperature: float, background: str) -> None:
    if not temperature >= MIN_TEMPERATURE:  # also refuses NaN
        raise ValueError(f"temperature must be at least {MIN_TEMPERATURE:g}, got {temperature}")
    if background not in ("score", "threshold"):
        raise ValueError(f"background must be 'score' or 'threshold', got {background!r}")


def _labels(owner: np.ndarray, top: np.ndarray, s: np.ndarray, best: np.ndarray, nobody: np.ndarray,
            background: str, threshold: float, max_distance: float | None) -> np.ndarray:
    """``(H, W)`` int32 labels (-1 background) from the owner of the largest fused score ``top`` at each pixel."""
    person = top > 1.0 - s if background == "score" else s >= threshold
    if max_distance is not None:
        person &= best >= -max_distance
    person &= ~nobody
    return np.where(person, owner, -1).astype(np.int32)


def fuse_windows(regions: Sequence[tuple[int, int, int, int]], windows: Sequence[np.ndarray], score: np.ndarray,
                 temperature: float = 0.1, background: str = "score", threshold: float = 0.5,
                 max_distance: float | None = None, image_size: tuple[int, int] | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`fuse` with ``claim`` = the regions, in bounded memory: ``(masks (N, H, W) bool, labels (H, W) int32)``.

    Person ``i`` competes only inside ``regions[i]`` (``(x0, y0, x1, y1)`` pixels, end
    exclusive), where ``windows[i]`` (``(y1 - y0, x1 - x0)``) holds its affinity. Only
    ``(H, W)`` running maps are kept (the best affinity, the softmax sum, the best fused
    score and its owner), so memory grows with the people's regions, not people x image.
    The masks and labels are those of :func:`fuse` with ``claim`` the regions' pixels,
    bit for bit: the same float32 operations in the same person order. ``image_size``
    ``(H, W)``, when given, is checked against the score's.
    """
    _check_options(temperature, background)
    s = check_score(score, image_size or np.shape(score)[:2])
    h, w = s.shape
    n = len(windows)
    if len(regions) != n:
        raise ValueError(f"{len(regions)} regions for {n} windows")
    for i, ((x0, y0, x1, y1), a) in enumerate(zip(regions, windows)):
        if not (0 <= x0 <= x1 <= w and 0 <= y0 <= y1 <= h) or np.shape(a) != (y1 - y0, x1 - x0):
            raise ValueError(f"window {i}: region {(x0, y0, x1, y1)} must lie in the {w}x{h} image and its map "
                             f"be ({y1 - y0}, {x1 - x0}), got {np.shape(a)}")
    best = np.full((h, w), -np.inf, np.float32)
    for (x0, y0, x1, y1), a in zip(regions, windows):
        np.maximum(best[y0:y1, x0:x1], a, out=best[y0:y1, x0:x1])
    nobody = ~np.isfinite(best)
    best[nobody] = 0.0
    total = np.zeros((h, w), np.float32)
    exps = []  # kept for the last pass: as large as the windows themselves
    for (x0, y0, x1, y1), a in zip(regions, windows):
        exps.append(np.exp((a - best[y0:y1, x0:x1]) / temperature))
        total[y0:y1, x0:x1] += exps[-1]
    total[total <= 0] = 1.0
    top = np.zeros((h, w), np.float32)  # the largest fused score so far (0: nobody's, as in fuse)
    owner = np.zeros((h, w), np.int64)
    for i, ((x0, y0, x1, y1), e) in enumerate(zip(regions, exps)):
        win = (slice(y0, y1), slice(x0, x1))
        fused = e / total[win] * s[win]
        better = fused > top[win]
        top[win] = np.where(better, fused, top[win])
        owner[win] = np.where(better, i, owner[win])
    labels = _labels(owner, top, s, best, nobody, background, threshold, max_distance)
    return labels[None] == np.arange(n)[:, None, None], labels


def box_masks(persons: Persons) -> np.ndarray:
    """Baseline: each person's box filled, ``(N, H, W)`` bool."""
    out = np.zeros((len(persons), *persons.image_size), bool)
    for i, box in enumerate(persons.boxes):
        out[(i, *box_pixels(box, persons.image_size))] = True
    return out


def oracle_box_masks(persons: Persons, score: np.ndarray, threshold: float = 0.5, overlap: str = "share") -> np.ndarray:
    """The oracle-bounding-box baseline: person pixels (``S >= threshold``) inside each box.

    Args:
        persons: the people (their boxes are used).
        score: ``(H, W)`` person probability.
        overlap: where boxes overlap, ``"share"`` gives the pixel to every box that
            contains it (the paper's baseline; masks may overlap), ``"nearest"`` to
            the box whose centre is nearest in box-normalised coordinates,
            ``hypot(dx / half_width, dy / half_height)`` (masks disjoint).

    Returns:
        ``(N, H, W)`` bool.
    """
    if overlap not in ("share", "nearest"):
        raise ValueError(f"overlap must be 'share' or 'nearest', got {overlap!r}")
    fg = check_score(score, persons.image_size) >= threshold
    inside = box_masks(persons)
    if overlap == "share" or len(persons) < 2:
        return inside & fg
    h, w = persons.image_size
    centre = (persons.boxes[:, :2] + persons.boxes[:, 2:]) / 2
    half = np.maximum((persons.boxes[:, 2:] - persons.boxes[:, :2]) / 2, 1.0)
    x = np.arange(w, dtype=np.float32)
    y = np.arange(h, dtype=np.float32)[:, None]
    dist = np.stack([np.hypot((x - cx) / hx, (y - cy) / hy) for (cx, cy), (hx, hy) in zip(centre, half)])
    dist[~inside] = np.inf
    owner = dist.argmin(axis=0)
    return inside & fg & (owner[None] == np.arange(len(persons))[:, None, None])
