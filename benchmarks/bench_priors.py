"""Speed of the training-free stages on a 640x480 COCO photo, for 1, 5 and 20 people.

    python benchmarks/bench_priors.py [--repeats 7]

Prints median milliseconds per stage (Euclidean prior, superpixel graph, Dijkstra
for all people, fusion) and the totals per method; the old code paths against today's
in the same run (Euclidean: scipy's distance transform over the whole image against
OpenCV's inside each box; geodesic: SLIC at full resolution with 5 iterations against
half resolution with 3), with whether the masks are identical; and the Dijkstra vs
Floyd-Warshall ratio on the same superpixel graphs (about 250, 500 and 1000
superpixels: the actual counts are printed). People
are real COCO dev skeletons (with boxes) taken from several 640-wide images.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from pose2instance.io import CocoPersons
from pose2instance.fusion import fuse
from pose2instance.pipeline import Pose2Instance
from pose2instance.priors import EuclideanPrior, GeodesicPrior, build_superpixel_graph, geodesic_distances
from pose2instance.structures import Persons

DATA = Path(os.environ.get("POSE2INSTANCE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) \
    / "coco_persons" / "annotations"


def median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def people_pool(ds: CocoPersons, size=(480, 640)) -> Persons:
    """Real persons with >= 5 keypoints from 640-wide images, clipped into a 640x480 frame."""
    boxes, kps = [], []
    for i in ds.image_ids:
        if ds.image_size(i)[1] != 640:
            continue
        p = ds.persons(i, with_masks=False)
        for b, k in zip(p.boxes, p.keypoints):
            if (k[:, 2] > 0).sum() >= 5 and b[3] < size[0]:
                boxes.append(b)
                kps.append(k)
    return Persons(np.array(boxes), np.array(kps), size)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    ds = CocoPersons(DATA / "person_keypoints_dev.json")
    image_id = max((i for i in ds.image_ids if ds.image_size(i) == (480, 640)), key=lambda i: len(ds.persons(i, False)))
    image = ds.load_image(image_id)
    pool = people_pool(ds)
    score = np.zeros((480, 640), np.float32)
    for b in pool.boxes[:20]:
        score[int(b[1]):int(b[3]), int(b[0]):int(b[2])] = 0.9
    geo = GeodesicPrior()
    print(f"image {image_id} (640x480), {args.repeats} repeats, median ms; geodesic: {geo.n_segments} SLIC "
          f"segments, {geo.slic_iterations} iterations at {geo.scale:g} x the resolution\n")
    print("| people | euclidean prior (whole image) | superpixel graph (SLIC + graph) | Dijkstra (all people) "
          "| fusion | "
          "euclidean total | geodesic total |\n|---|---|---|---|---|---|---|")
    graph = geo.graph(image)
    for n in (1, 5, 20):
        people = pool.subset(np.arange(n))
        aff = EuclideanPrior().affinity(people)
        row = {
            "euclidean": median_ms(lambda: EuclideanPrior().affinity(people), args.repeats),
            "graph": median_ms(lambda: geo.graph(image), args.repeats),
            "dijkstra": median_ms(lambda: geo.distances(people, image, graph), args.repeats),
            "fusion": median_ms(lambda: fuse(aff, score), args.repeats),
            "euc_total": median_ms(lambda: Pose2Instance("euclidean").predict(people, score, image), args.repeats),
            "geo_total": median_ms(lambda: Pose2Instance("geodesic").predict(people, score, image), args.repeats),
        }
        print(f"| {n} | " + " | ".join(f"{v:.1f}" for v in row.values()) + " |")
    euclidean_old_vs_new(pool, score, image, args.repeats)
    print("\nDijkstra (one multi-source run) vs Floyd-Warshall (all pairs), same graph, 5 sources:\n")
    print("| superpixels | Dijkstra ms | Floyd-Warshall ms | ratio |\n|---|---|---|---|")
    rng = np.random.default_rng(0)
    for n_segments in (350, 700, 1500):  # SLIC returns about 2/3 of the requested count here
        g = build_superpixel_graph(image, n_segments=n_segments)
        sources = rng.choice(g.num_nodes, 5, replace=False)
        d = median_ms(lambda: geodesic_distances(g, sources, method="dijkstra"), args.repeats)
        f = median_ms(lambda: geodesic_distances(g, sources, method="floyd_warshall"), max(1, args.repeats // 3))
        print(f"| {g.num_nodes} | {d:.2f} | {f:.1f} | {f / d:.0f}x |")
    return 0


def euclidean_old_vs_new(pool: Persons, score: np.ndarray, image: np.ndarray, repeats: int) -> None:
    """Euclidean prior + fusion: the old path (scipy's EDT over the whole image for every person, full-image
    fusion) against today's (``predict``: OpenCV's exact EDT and the fusion box by box under the box limit)."""
    from pose2instance.priors import skeleton

    model = Pose2Instance("euclidean")

    def old(people):
        cv2, skeleton.cv2 = skeleton.cv2, None
        try:
            return model(people, score, image).masks  # the whole-image prior and fusion
        finally:
            skeleton.cv2 = cv2

    print("\nEuclidean prior + fusion, old path (scipy EDT, whole image) vs today's (OpenCV EDT, box regions):\n")
    print("| people | old ms | today ms | speed-up | masks identical |\n|---|---|---|---|---|")
    for n in (1, 5, 20):
        people = pool.subset(np.arange(n))
        t_old = median_ms(lambda: old(people), repeats)
        t_new = median_ms(lambda: model.predict(people, score, image), repeats)
        same = np.array_equal(old(people), model.predict(people, score, image))
        print(f"| {n} | {t_old:.1f} | {t_new:.1f} | {t_old / t_new:.1f}x | {same} |")
    full, today = Pose2Instance(GeodesicPrior(scale=1.0, slic_iterations=5)), Pose2Instance("geodesic")
    print("\nGeodesic prior + fusion, old (SLIC at full resolution, 5 iterations) vs today's (half, 3):\n")
    print("| people | old ms | today ms | speed-up | pixels that differ |\n|---|---|---|---|---|")
    for n in (1, 5, 20):
        people = pool.subset(np.arange(n))
        t_old = median_ms(lambda: full(people, score, image), repeats)
        t_new = median_ms(lambda: today.predict(people, score, image), repeats)
        differ = (full(people, score, image).masks != today.predict(people, score, image)).any(0).mean()
        print(f"| {n} | {t_old:.1f} | {t_new:.1f} | {t_old / t_new:.1f}x | {100 * differ:.2f} % |")


if __name__ == "__main__":
    sys.exit(main())
