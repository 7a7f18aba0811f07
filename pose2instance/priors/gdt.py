"""A prior from *estimated keypoint heatmaps*: the generalised distance transform of -log heatmap.

For a cost map ``f`` on a grid, the generalised (squared Euclidean) distance transform is

    D(p) = min_q ( f(q) + |p - q|^2 )

computed exactly in linear time with Felzenszwalb & Huttenlocher's lower envelope of
parabolas, one dimension after the other ("Distance Transforms of Sampled
Functions", Theory of Computing 2012). With ``f = beta * (-log h)`` for a heatmap
``h`` (probability of the keypoint being at ``q``), ``sqrt(D(p))`` is a distance to
the keypoint that is small where the estimator is sure and grows where it is not;
for a binary ``h`` it is the ordinary Euclidean distance transform.

:class:`HeatmapDistancePrior` applies it to ``Persons.heatmaps`` (``(N, 17, h, w)``
probabilities covering ``Persons.heatmap_boxes``), the output of estimators such as
BlazePose.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..structures import Persons
from .base import PriorEncoder
from .euclidean import skeleton_distance
from .skeleton import ConfidenceRule, person_scales, reference_scale


def distance_transform_1d(f: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """``D(p) = min_q f(q) + (spacing * (p - q))^2`` for a 1-D ``f`` of length ``n``, exact, O(n).

    ``f`` may contain ``+inf`` (no source there); an all-inf ``f`` gives all-inf.
    """
    f = np.asarray(f, np.float64)
    n = f.size
    finite = np.nonzero(np.isfinite(f))[0]
    if finite.size == 0:
        return np.full(n, np.inf)
    s2 = spacing * spacing
    v = np.empty(n, np.int64)      # positions of the parabolas in the lower envelope
    z = np.empty(n + 1)            # boundaries between them
    k = 0
    v[0] = finite[0]
    z[0], z[1] = -np.inf, np.inf
    for q in finite[1:]:
        while True:
            p = v[k]
            s = ((f[q] + s2 * q * q) - (f[p] + s2 * p * p)) / (2 * s2 * (q - p))
            if s <= z[k]:
                k -= 1
                if k < 0:
                    break
                continue
            break
        k += 1
        v[k] = q
        z[k], z[k + 1] = s if k > 0 else -np.inf, np.inf
    out = np.empty(n)
    k = 0
    for p in range(n):
        while z[k + 1] < p:
            k += 1
        out[p] = s2 * (p - v[k]) ** 2 + f[v[k]]
    return out


def generalized_distance_transform(cost: np.ndarray, spacing: float = 1.0, method: str = "auto") -> np.ndarray:
    """``D(p) = min_q cost(q) + spacing^2 |p - q|^2`` on a 2-D grid, exact.

    Args:
        cost: ``(h, w)`` float; ``+inf`` where there is no source.
        spacing: grid spacing in pixels (the distance unit of the result is pixels squared).
        method: ``"envelope"`` (Felzenszwalb-Huttenlocher, columns then rows, O(h w)
            but a Python loop per line), ``"sources"`` (vectorised minimum over the ``S``
            finite cells, O(h w S)), or ``"auto"``: ``sources`` when ``h w S <= 2e7``
            (heatmap supports are a few dozen cells), else ``envelope``.

    Returns:
        ``(h, w)`` float64.
    """
    cost = np.asarray(cost, np.float64)
    rows, cols = np.nonzero(np.isfinite(cost))
    if method == "auto":
        method = "sources" if cost.size * max(rows.size, 1) <= 2e7 else "envelope"
    if method == "sources":
        if rows.size == 0:
            return np.full(cost.shape, np.inf)
        yy = np.arange(cost.shape[0], dtype=np.float64)[:, None] * spacing
        xx = np.arange(cost.shape[1], dtype=np.float64)[None, :] * spacing
        out = np.full(cost.shape, np.inf)
        for r, c, f in zip(rows * spacing, cols * spacing, cost[rows, cols]):
            np.minimum(out, f + ((yy - r) ** 2 + (xx - c) ** 2), out=out)
        return out
    if method != "envelope":
        raise ValueError(f"method must be 'auto', 'sources' or 'envelope', got {method!r}")
    tmp = np.stack([distance_transform_1d(col, spacing) for col in cost.T], axis=1)
    return np.stack([distance_transform_1d(row, spacing) for row in tmp])


def generalized_distance_transform_bruteforce(cost: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """The O((h w)^2) reference of :func:`generalized_distance_transform`, for tests."""
    h, w = cost.shape
    yy, xx = np.mgrid[0:h, 0:w]
    q = np.stack([yy.ravel(), xx.ravel()], 1).astype(np.float64)
    d2 = ((q[:, None, :] - q[None, :, :]) ** 2).sum(-1) * spacing * spacing
    return (cost.ravel()[None, :] + d2).min(1).reshape(h, w)


class HeatmapDistancePrior(PriorEncoder):
    """Distance to the estimated keypoints, read from heatmaps rather than points.

    For person ``i`` with heatmaps ``H_k`` (``(17, h, w)``, values in [0, 1]) covering
    the XYXY region ``heatmap_boxes[i]``, and ``m_k = max H_k``:

    * cost ``f_k(q) = beta * s^2 * -log(H_k(q) / m_k)`` where ``H_k(q) >= support * m_k``,
      ``+inf`` elsewhere and outside the region (``s`` = cell size in pixels), so the
      peak costs 0 and an e-fold less likely cell costs as much as moving
      ``sqrt(beta)`` cells;
    * ``d_k = sqrt(GDT(f_k))`` on a grid over the whole image with the heatmap's cell
      size, resized to the image, plus the confidence offset of ``m_k``
      (``rule.offset``, as for points);
    * the person's map is ``min_k d_k``. Keypoints with ``m_k < rule.min_score`` are
      left out; persons without heatmaps fall back to the Euclidean skeleton prior.

    Cells are taken as square (the geometric mean of their width and height).
    """

    name = "heatmap-gdt"
    needs_heatmaps = True
    channels = 17

    def __init__(self, beta: float = 1.0, support: float = 0.1, rule: ConfidenceRule = ConfidenceRule()):
        self.beta = beta
        self.support = support
        self.rule = rule

    def _grids(self, persons: Persons):
        """Per person: ``(grid distances (17, gh, gw) or None per keypoint, (yy, xx) image->grid coordinates)``."""
        h, w = persons.image_size
        scales = person_scales(persons)
        for i, (maps, box) in enumerate(zip(persons.heatmaps, persons.heatmap_boxes)):
            mh, mw = maps.shape[1:]
            sy, sx = (box[3] - box[1]) / mh, (box[2] - box[0]) / mw
            spacing = float(np.sqrt(sx * sy))
            # a grid over the image with the heatmap's cells; cell (r, c) of the heatmap is
            # grid cell (r + r0, c + c0), centred at box + (index + 0.5) * cell size
            r0, c0 = int(np.floor(box[1] / sy)), int(np.floor(box[0] / sx))
            gh, gw = max(int(np.ceil(h / sy)) + 1, r0 + mh), max(int(np.ceil(w / sx)) + 1, c0 + mw)
            r_lo, c_lo = min(r0, 0), min(c0, 0)
            ys = np.clip((np.arange(h) - box[1]) / sy - 0.5 + r0 - r_lo, 0, gh - r_lo - 1)
            xs = np.clip((np.arange(w) - box[0]) / sx - 0.5 + c0 - c_lo, 0, gw - c_lo - 1)
            grids = []
            for k in range(17):
                peak = float(maps[k].max())
                if peak < self.rule.min_score:
                    grids.append(None)
                    continue
                grid = np.full((gh - r_lo, gw - c_lo), np.inf)
                rel = maps[k] / peak
                cost = np.where(rel >= self.support, -self.beta * spacing ** 2 * np.log(np.maximum(rel, 1e-12)),
                                np.inf)
                grid[r0 - r_lo:r0 - r_lo + mh, c0 - c_lo:c0 - c_lo + mw] = cost
                level = np.ceil(min(peak, 1.0) * self.rule.levels - 1e-6) / self.rule.levels
                grids.append(np.sqrt(generalized_distance_transform(grid, spacing)) +
                             self.rule.offset(level, scales[i]))
            yield grids, np.meshgrid(ys, xs, indexing="ij")

    def keypoint_distances(self, persons: Persons) -> np.ndarray:
        """``(N, 17, H, W)`` float32 soft distance (pixels) to each keypoint, offsets included; NaN if unused."""
        h, w = persons.image_size
        out = np.full((len(persons), 17, h, w), np.nan, np.float32)
        if persons.heatmaps is None:
            return out
        for i, (grids, coords) in enumerate(self._grids(persons)):
            for k, grid in enumerate(grids):
                if grid is not None:
                    out[i, k] = ndi.map_coordinates(grid, coords, order=1, mode="nearest")
        return out

    def encode(self, persons: Persons, image: np.ndarray | None = None) -> np.ndarray:
        d = self.keypoint_distances(persons) / person_scales(persons)[:, None, None, None]
        return np.minimum(np.nan_to_num(d, nan=2.0), 2.0).astype(np.float32)

    def affinity(self, persons: Persons, image: np.ndarray | None = None) -> np.ndarray:
        out = np.empty((len(persons), *persons.image_size), np.float32)
        fallback = np.ones(len(persons), bool)
        if persons.heatmaps is not None:
            for i, (grids, coords) in enumerate(self._grids(persons)):
                used = [g for g in grids if g is not None]
                if used:  # the minimum over keypoints on the grid, then one resampling
                    out[i] = ndi.map_coordinates(np.min(used, axis=0), coords, order=1, mode="nearest")
                    fallback[i] = False
        if fallback.any():
            out[fallback] = skeleton_distance(persons.subset(fallback), self.rule)
        return -out / reference_scale(persons)
