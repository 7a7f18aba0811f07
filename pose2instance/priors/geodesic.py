"""The paper's geodesic prior: distances over a superpixel graph weighted by image edges.

1. SLIC superpixels of the image.
2. A region adjacency graph: superpixels that touch are joined by an edge of length
   ``|centroid_i - centroid_j| * (1 + edge_weight * b_ij / b_mean)``, where ``b_ij``
   is the mean Sobel magnitude on their shared boundary and ``b_mean`` the image's
   mean Sobel magnitude. In flat regions the graph distance is close to the
   Euclidean distance; crossing a strong edge costs several times more.
3. The superpixels crossed by the rasterised limbs (and the keypoints) are the
   sources, each starting at its confidence offset (see ``skeleton.ConfidenceRule``).
4. Multi-source Dijkstra spreads the distances over the graph (one run per person
   from a virtual node joined to the sources). The paper's all-pairs formulation
   (Floyd-Warshall) is kept as ``method="floyd_warshall"``: same distances, O(V^3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra, floyd_warshall
from PIL import Image
from skimage.color import rgb2gray
from skimage.filters import sobel
from skimage.segmentation import slic

from ..structures import Persons
from .base import PriorEncoder
from .euclidean import skeleton_distance_windows
from .skeleton import Canvas, ConfidenceRule, Region, full_region, person_scales, reference_scale, skeleton_pixels

_TINY = 1e-9  # csgraph treats explicit zeros as missing edges


@dataclass
class SuperpixelGraph:
    """Region adjacency graph of an image's superpixels.

    Attributes:
        labels: ``(H, W)`` int32 superpixel index of every pixel, ``0..V-1``.
        centroids: ``(V, 2)`` float64 ``(x, y)`` centroid of every superpixel.
        edges: ``(E, 2)`` int64 pairs ``i < j`` of touching superpixels.
        weights: ``(E,)`` float64 edge lengths in pixels (edge-aware, see module doc).
    """

    labels: np.ndarray
    centroids: np.ndarray
    edges: np.ndarray
    weights: np.ndarray

    @property
    def num_nodes(self) -> int:
        return len(self.centroids)

    def matrix(self) -> csr_matrix:
        """``(V, V)`` symmetric sparse adjacency matrix of edge lengths."""
        v = self.num_nodes
        i, j = self.edges.T
        w = np.maximum(self.weights, _TINY)
        return coo_matrix((np.r_[w, w], (np.r_[i, j], np.r_[j, i])), shape=(v, v)).tocsr()


def build_superpixel_graph(image: np.ndarray, n_segments: int = 800, compactness: float = 10.0,
                           slic_iterations: int = 5, edge_weight: float = 0.5, scale: float = 1.0) -> SuperpixelGraph:
    """SLIC superpixels of an ``(H, W, 3)`` uint8 RGB image and their edge-weighted adjacency graph.

    ``scale < 1`` segments a resized copy of the image (``scale`` times each side; area
    averaging) and builds the graph there, about ``1 / scale**2`` times faster; the labels are
    then brought back to every pixel of the image (nearest) and the centroids and edge
    lengths to its pixels, so the graph is used exactly like a full-resolution one.
    """
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    h, w = image.shape[:2]
    small = image
    if scale < 1:
        size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
        small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))
    labels = slic(small, n_segments=n_segments, compactness=compactness, max_num_iter=slic_iterations,
                  start_label=0, channel_axis=-1).astype(np.int32)
    graph = graph_from_labels(labels, sobel(rgb2gray(small)), edge_weight)
    if small is image:
        return graph
    sy, sx = h / small.shape[0], w / small.shape[1]
    rows = np.minimum(((np.arange(h) + 0.5) / sy).astype(np.int64), small.shape[0] - 1)
    cols = np.minimum(((np.arange(w) + 0.5) / sx).astype(np.int64), small.shape[1] - 1)
    centroids = (graph.centroids + 0.5) * np.array([sx, sy]) - 0.5
    return SuperpixelGraph(graph.labels[rows[:, None], cols[None, :]], centroids, graph.edges,
                           graph.weights * np.sqrt(sx * sy))


def graph_from_labels(labels: np.ndarray, gradient: np.ndarray, edge_weight: float = 0.5) -> SuperpixelGraph:
    """The adjacency graph of a label image.

    Args:
        labels: ``(H, W)`` int superpixel indices ``0..V-1`` (every index present).
        gradient: ``(H, W)`` float edge strength (Sobel magnitude).
        edge_weight: how much a strong boundary lengthens an edge (0 = pure centroid distance).
    """
    labels = np.asarray(labels, np.int64)
    v = int(labels.max()) + 1
    h, w = labels.shape
    count = np.bincount(labels.ravel(), minlength=v).astype(np.float64)
    if (count == 0).any():
        raise ValueError("superpixel labels must be consecutive 0..V-1")
    rows, cols = np.indices((h, w))
    centroids = np.stack([np.bincount(labels.ravel(), cols.ravel(), v) / count,
                          np.bincount(labels.ravel(), rows.ravel(), v) / count], axis=1)
    a = np.r_[labels[:, :-1].ravel(), labels[:-1, :].ravel()]
    b = np.r_[labels[:, 1:].ravel(), labels[1:, :].ravel()]
    g = np.r_[(gradient[:, :-1] + gradient[:, 1:]).ravel(), (gradient[:-1, :] + gradient[1:, :]).ravel()] / 2
    cross = a != b
    lo, hi, g = np.minimum(a, b)[cross], np.maximum(a, b)[cross], g[cross]
    if lo.size == 0:  # one superpixel: no edges
        return SuperpixelGraph(labels.astype(np.int32), centroids, np.zeros((0, 2), np.int64), np.zeros(0))
    keys, inverse = np.unique(lo * v + hi, return_inverse=True)
    strength = np.bincount(inverse, g) / np.bincount(inverse)
    edges = np.stack([keys // v, keys % v], axis=1)
    length = np.linalg.norm(centroids[edges[:, 0]] - centroids[edges[:, 1]], axis=1)
    mean_gradient = max(float(gradient.mean()), 1e-6)
    weights = length * (1.0 + edge_weight * strength / mean_gradient)
    return SuperpixelGraph(labels.astype(np.int32), centroids, edges, weights)


def geodesic_distances(graph: SuperpixelGraph, sources: np.ndarray, offsets: np.ndarray | None = None,
                       method: str = "dijkstra", all_pairs: np.ndarray | None = None) -> np.ndarray:
    """Graph distance from the nearest source to every superpixel, ``(V,)`` float64 pixels.

    ``dist[v] = min_s (offsets[s] + shortest_path(sources[s], v))``.

    Args:
        graph: the superpixel graph.
        sources: ``(S,)`` int superpixel indices, ``S >= 1`` (repeats keep their smallest offset).
        offsets: ``(S,)`` float starting distances (default 0).
        method: ``"dijkstra"`` (one multi-source run) or ``"floyd_warshall"`` (all pairs, the reference).
        all_pairs: a precomputed ``(V, V)`` Floyd-Warshall matrix to reuse (``floyd_warshall`` only).
    """
    sources = np.asarray(sources, np.int64)
    offsets = np.zeros(len(sources)) if offsets is None else np.asarray(offsets, np.float64)
    if sources.size == 0:
        raise ValueError("geodesic_distances needs at least one source superpixel")
    order = np.lexsort((offsets, sources))  # a repeated source keeps its smallest offset
    keep = order[np.r_[True, sources[order][1:] != sources[order][:-1]]]
    sources, offsets = sources[keep], offsets[keep]
    if method == "floyd_warshall":
        d = floyd_warshall(graph.matrix(), directed=False) if all_pairs is None else all_pairs
        return np.min(offsets[:, None] + d[sources], axis=0)
    if method != "dijkstra":
        raise ValueError(f"method must be 'dijkstra' or 'floyd_warshall', got {method!r}")
    v = graph.num_nodes
    i, j = graph.edges.T
    w = np.maximum(graph.weights, _TINY)
    virtual = np.full(len(sources), v)
    rows = np.r_[i, j, virtual]
    cols = np.r_[j, i, sources]
    vals = np.r_[w, w, np.maximum(offsets, _TINY)]
    m = coo_matrix((vals, (rows, cols)), shape=(v + 1, v + 1)).tocsr()
    d = dijkstra(m, directed=True, indices=v)[:v]
    return np.maximum(d - _TINY, 0.0)


class GeodesicPrior(PriorEncoder):
    """Edge-aware geodesic distance to the skeleton over SLIC superpixels.

    ``encode`` is in person scales, ``affinity`` in image reference scales (as the
    Euclidean prior).

    Args:
        n_segments: approximate number of SLIC superpixels.
        compactness: SLIC compactness (higher = more regular superpixels).
        slic_iterations: SLIC k-means iterations.
        scale: segment the image resized by this factor (see :func:`build_superpixel_graph`).
            The defaults (half resolution, 3 iterations) are about 3x faster than full resolution
            with 5 iterations; on the 75 COCO dev images the fusion's mean IoU and AP stay within
            0.005 (oracle score 0.909 / 0.773 -> 0.912 / 0.776; BlazePose score 0.651 / 0.289 ->
            0.651 / 0.286).
        edge_weight: cost of crossing image edges (0 = centroid distance only).
        rule: the confidence rule shared with the other priors.
        method: ``"dijkstra"`` or the ``"floyd_warshall"`` reference.

    A person whose skeleton lies entirely outside the image, or who has no usable
    keypoint, falls back to the Euclidean prior (distance to the box).
    ``last_graph`` holds the graph of the most recent image (for plots and reuse).
    """

    name = "geodesic"
    needs_image = True
    channels = 1

    def __init__(self, n_segments: int = 800, compactness: float = 10.0, slic_iterations: int = 3,
                 edge_weight: float = 0.5, rule: ConfidenceRule = ConfidenceRule(), method: str = "dijkstra",
                 scale: float = 0.5):
        self.n_segments = n_segments
        self.scale = scale
        self.compactness = compactness
        self.slic_iterations = slic_iterations
        self.edge_weight = edge_weight
        self.rule = rule
        self.method = method
        self.last_graph: SuperpixelGraph | None = None

    def graph(self, image: np.ndarray) -> SuperpixelGraph:
        """The superpixel graph of ``image`` (``(H, W, 3)`` uint8)."""
        self.last_graph = build_superpixel_graph(image, self.n_segments, self.compactness,
                                                 self.slic_iterations, self.edge_weight, self.scale)
        return self.last_graph

    def distances(self, persons: Persons, image: np.ndarray, graph: SuperpixelGraph | None = None) -> np.ndarray:
        """``(N, H, W)`` float32 geodesic distance in pixels (superpixel resolution)."""
        h, w = persons.image_size
        out = np.empty((len(persons), h, w), np.float32)
        for i, d in enumerate(self.distance_windows(persons, image, [full_region((h, w))] * len(persons), graph)):
            out[i] = d
        return out

    def distance_windows(self, persons: Persons, image: np.ndarray, regions: Sequence[Region],
                         graph: SuperpixelGraph | None = None) -> list[np.ndarray]:
        """Each person's geodesic distance (pixels) inside its region: ``(y1 - y0, x1 - x0)`` float32 arrays."""
        if image is None:
            raise ValueError("the geodesic prior needs the image")
        if image.shape[:2] != persons.image_size:
            raise ValueError(f"image is {image.shape[:2]} but persons belong to an image of {persons.image_size}")
        if len(persons) == 0:
            return []
        graph = graph or self.graph(image)
        conf = self.rule.keypoint_confidence(persons)
        scales = person_scales(persons)
        all_pairs = floyd_warshall(graph.matrix(), directed=False) if self.method == "floyd_warshall" else None
        out: list[np.ndarray | None] = [None] * len(persons)
        fallback = []
        for i, (x0, y0, x1, y1) in enumerate(regions):
            sources, offsets = self._sources(graph.labels, persons.keypoints[i], conf[i], scales[i])
            if sources.size == 0:
                fallback.append(i)
                continue
            d = geodesic_distances(graph, sources, offsets, self.method, all_pairs)
            out[i] = d[graph.labels[y0:y1, x0:x1]].astype(np.float32)
        if fallback:
            windows = skeleton_distance_windows(persons.subset(fallback), self.rule, [regions[i] for i in fallback])
            for i, d in zip(fallback, windows):
                out[i] = d
        return out

    def _sources(self, labels: np.ndarray, keypoints: np.ndarray, conf: np.ndarray, scale: float):
        """Source superpixels and their offsets (pixels) for one person."""
        h, w = labels.shape
        used = conf > 0
        if not used.any():
            return np.zeros(0, np.int64), np.zeros(0)
        canvas = Canvas.around((h, w), keypoints[used, :2])
        sources, offsets = [], []
        for level in np.unique(conf[used]):
            rr, cc = skeleton_pixels(keypoints, conf, level, canvas)
            rr, cc = rr - canvas.offset[0], cc - canvas.offset[1]
            inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            hit = np.unique(labels[rr[inside], cc[inside]])
            sources.append(hit)
            offsets.append(np.full(hit.size, self.rule.offset(level, scale)))
        return np.concatenate(sources).astype(np.int64), np.concatenate(offsets)

    def encode(self, persons: Persons, image: np.ndarray | None = None) -> np.ndarray:
        return (self.distances(persons, image) / person_scales(persons)[:, None, None])[:, None]

    def affinity(self, persons: Persons, image: np.ndarray | None = None) -> np.ndarray:
        return -self.distances(persons, image) / reference_scale(persons)

    def affinity_windows(self, persons: Persons, image: np.ndarray | None,
                         regions: Sequence[Region]) -> list[np.ndarray]:
        ref = reference_scale(persons)
        return [-d / ref for d in self.distance_windows(persons, image, regions)]
