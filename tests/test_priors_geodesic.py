import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

from pose2instance.priors import GeodesicPrior, build_superpixel_graph, geodesic_distances
from pose2instance.priors.geodesic import graph_from_labels


@pytest.fixture(scope="module")
def graph(demo):
    image, _ = demo
    return build_superpixel_graph(image, n_segments=400)


def test_graph_is_a_connected_symmetric_adjacency(graph, demo):
    image, _ = demo
    v = graph.num_nodes
    assert 150 < v < 500 and graph.labels.shape == image.shape[:2]
    m = graph.matrix()
    assert (m != m.T).nnz == 0
    assert connected_components(m, directed=False)[0] == 1
    assert (graph.edges[:, 0] < graph.edges[:, 1]).all() and (graph.weights > 0).all()
    # every edge joins superpixels that really touch
    lab = graph.labels
    touching = set(zip(np.minimum(lab[:, :-1], lab[:, 1:]).ravel(), np.maximum(lab[:, :-1], lab[:, 1:]).ravel()))
    touching |= set(zip(np.minimum(lab[:-1], lab[1:]).ravel(), np.maximum(lab[:-1], lab[1:]).ravel()))
    assert {tuple(e) for e in graph.edges.tolist()} == {t for t in touching if t[0] != t[1]}


def test_dijkstra_equals_floyd_warshall_on_a_real_image(graph):
    rng = np.random.default_rng(0)
    for _ in range(3):
        sources = rng.choice(graph.num_nodes, 12, replace=False)
        offsets = rng.uniform(0, 50, 12)
        a = geodesic_distances(graph, sources, offsets, "dijkstra")
        b = geodesic_distances(graph, sources, offsets, "floyd_warshall")
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-6)
        assert (a[sources] <= offsets + 1e-9).all()


def test_repeated_sources_keep_the_smallest_offset(graph):
    a = geodesic_distances(graph, [3, 3, 7], [10.0, 2.0, 5.0])
    b = geodesic_distances(graph, [3, 7], [2.0, 5.0])
    np.testing.assert_allclose(a, b)


def test_geodesic_prior_same_with_both_methods(demo):
    image, persons = demo
    a = GeodesicPrior(n_segments=300).affinity(persons, image)
    b = GeodesicPrior(n_segments=300, method="floyd_warshall").affinity(persons, image)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_strong_edges_lengthen_paths():
    # a 3 x 3 grid of superpixels; a bright vertical stripe separates column 0 from the rest
    labels = np.repeat(np.repeat(np.arange(9).reshape(3, 3), 10, 0), 10, 1)
    gradient = np.full(labels.shape, 0.01)
    gradient[:, 9:11] = 1.0
    flat = graph_from_labels(labels, np.full(labels.shape, 0.01), edge_weight=1.0)
    edged = graph_from_labels(labels, gradient, edge_weight=1.0)
    d_flat = geodesic_distances(flat, [0])
    d_edge = geodesic_distances(edged, [0])
    assert d_flat[1] == pytest.approx(10 * (1 + 1.0), rel=1e-6)  # uniform gradient = mean: factor 2
    assert d_edge[1] > 5 * d_flat[1]  # crossing the stripe is much longer
    assert d_edge[3] < d_edge[1] / 3  # along the column, no stripe to cross


def test_edges_steer_contested_pixels(ochuman):
    """Geodesic and Euclidean priors disagree on some pixels: the image matters."""
    image, persons = ochuman.load_image(2), ochuman.persons(2)
    from pose2instance.priors import EuclideanPrior
    geo = GeodesicPrior().affinity(persons, image).argmax(0)
    euc = EuclideanPrior().affinity(persons).argmax(0)
    fg = persons.masks.any(0)
    assert 0.01 < (geo != euc)[fg].mean() < 0.5


def test_a_graph_built_at_half_resolution_is_in_full_resolution_pixels(demo):
    image, persons = demo
    graph = build_superpixel_graph(image)
    half = build_superpixel_graph(image, scale=0.5, slic_iterations=3)
    h, w = image.shape[:2]
    assert half.labels.shape == (h, w)
    assert np.array_equal(np.unique(half.labels), np.arange(half.num_nodes))
    # centroids and edge lengths are those of the upsampled labels, in image pixels
    full_res = graph_from_labels(half.labels, np.zeros((h, w)))
    assert np.abs(full_res.centroids - half.centroids).max() < 1.0
    assert abs(np.median(half.weights) / np.median(graph.weights) - 1) < 0.35  # same units, similar superpixels
    # the prior on it is a prior in pixels of the same image
    d = GeodesicPrior(scale=0.5, slic_iterations=3).distances(persons, image)
    d_full = GeodesicPrior().distances(persons, image, graph)
    assert d.shape == d_full.shape and np.corrcoef(d.ravel(), d_full.ravel())[0, 1] > 0.95
    with pytest.raises(ValueError, match="scale must be in"):
        build_superpixel_graph(image, scale=0)


def test_half_resolution_geodesic_fusion_stays_within_0_005_of_full_resolution(coco_dev):
    """The default graph (half resolution, 3 SLIC iterations) against the old one (full, 5): mean IoU
    with the oracle score within 0.005 over the fixture's dev images (README: also on all 75)."""
    from pose2instance.evaluation import paired_iou
    from pose2instance.pipeline import Pose2Instance
    ious = {}
    for name, prior in (("half", GeodesicPrior()), ("full", GeodesicPrior(scale=1.0, slic_iterations=5))):
        model = Pose2Instance(prior)
        values = []
        for image_id in coco_dev.image_ids:
            persons = coco_dev.persons(image_id)
            image = coco_dev.load_image(image_id)
            values += list(paired_iou(model.predict(persons, persons.masks.any(0), image), persons.masks))
        ious[name] = float(np.mean(values))
    assert abs(ious["half"] - ious["full"]) < 0.005, ious
