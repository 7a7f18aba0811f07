"""The shipped network through ONNX Runtime (the default, no torch) against PyTorch, on every person of a dev file.

For each image, both runtimes give the ``learned`` method's masks and the default pipeline's (geodesic fusion
with the network's score). Reports each runtime's mean IoU against the ground truth, the largest per-person
IoU difference between them, the least IoU between the two runtimes' masks of one person, and the network's
milliseconds per person of each (median over images; both in this one run, on the same threads).

    python benchmarks/runtime_agreement.py [--annotations FILE] [--threads 2]

(default: ``../shared/data/coco_persons/annotations/person_keypoints_dev.json``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "data" / "coco_persons" / "annotations" / "person_keypoints_dev.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--annotations", type=Path, default=DEV)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import torch

    from pose2instance.evaluation import paired_iou
    from pose2instance.io import CocoPersons
    from pose2instance.learned.onnx_net import OnnxPredictor
    from pose2instance.learned.models import Predictor
    from pose2instance.learned.predictor import default_model_path
    from pose2instance.pipeline import Pose2Instance

    torch.set_num_threads(args.threads)
    runtimes = {"onnxruntime": OnnxPredictor(threads=args.threads), "torch": Predictor(default_model_path(), "cpu")}
    fusion = Pose2Instance("geodesic")
    dataset = CocoPersons(args.annotations)
    ious = {(r, m): [] for r in runtimes for m in ("learned", "geodesic")}
    between = {m: [] for m in ("learned", "geodesic")}
    ms = {r: [] for r in runtimes}
    for image_id in dataset.image_ids:
        persons = dataset.persons(image_id)
        scored = (persons.keypoints[:, :, 2] > 0).any(1)  # as evaluate: persons with keypoints, among everyone
        if not scored.any():
            continue
        image = dataset.load_image(image_id)
        masks = {}
        for name, predictor in runtimes.items():
            t = time.perf_counter()
            prob = predictor.probabilities(image, persons)
            ms[name].append(1e3 * (time.perf_counter() - t) / len(persons))
            masks[name, "learned"] = predictor.masks(image, persons)
            masks[name, "geodesic"] = fusion.predict(persons, prob.max(0), image)
            for method in ("learned", "geodesic"):
                ious[name, method].extend(paired_iou(masks[name, method], persons.masks)[scored])
        for method in ("learned", "geodesic"):
            between[method].extend(paired_iou(masks["onnxruntime", method], masks["torch", method])[scored])
    print(f"{args.annotations.name}: {len(ious['torch', 'learned'])} persons, {args.threads} threads\n")
    print("| method | mean IoU, ONNX Runtime | mean IoU, PyTorch | largest per-person IoU difference | "
          "least IoU between the two runtimes' masks |")
    print("|---|---|---|---|---|")
    for method in ("learned", "geodesic"):
        a, b = np.array(ious["onnxruntime", method]), np.array(ious["torch", method])
        print(f"| {method} | {a.mean():.4f} | {b.mean():.4f} | {np.abs(a - b).max():.1e} | "
              f"{min(between[method]):.4f} |")
    onnx_ms, torch_ms = statistics.median(ms["onnxruntime"]), statistics.median(ms["torch"])
    print(f"\nnetwork with its inputs, ms per person (median over images): ONNX Runtime {onnx_ms:.1f}, "
          f"PyTorch {torch_ms:.1f} ({torch_ms / onnx_ms:.2f}x)")


if __name__ == "__main__":
    main()
