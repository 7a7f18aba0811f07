"""Post-processing the shipped network's person score, measured on the validation parts only.

    python benchmarks/score_postprocess.py

The validation parts and the criterion are those of ``recipe_choice.py`` (18 dev images, 95
single-person images; the mean over the two parts of ``(mean IoU + AP) / 2`` of the geodesic
fusion). Variants of the score:

* ``learned``: the shipped network (the baseline of this run);
* ``guided R EPS``: a guided filter (He et al.) of the score with the grey image as guide;
* ``blend W``: ``W * learned + (1 - W) * blazepose``;
* ``ensemble``: the mean of the shipped network and the 3000-step one of ``runs/val/base``
  (skipped when that run is missing);
* ``crop N`` / ``crop 128+160``: the shipped network run on larger crops at test time (the person at a
  higher resolution, ``Predictor(crop_size=N)``), or the mean of its logits at two crop sizes.

Prints one line per variant: criterion, and mean IoU / AP / accuracy at IoU 0.9 per part and method.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe_choice import HELD_OUT, criterion, part_ids  # noqa: E402
from train_compare import ANNOTATIONS  # noqa: E402

from pose2instance.evaluation import evaluate_dataset  # noqa: E402
from pose2instance.io import CocoPersons  # noqa: E402
from pose2instance.registry import make_methods, make_scorer  # noqa: E402
from pose2instance.scores import PersonScorer  # noqa: E402

BASE_RUN = Path(__file__).resolve().parents[1] / "runs" / "val" / "base" / "model.safetensors"


def guided_filter(guide: np.ndarray, p: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter of ``p`` ``(H, W)`` with a grey ``guide`` ``(H, W)`` in [0, 1]."""
    def box(x):
        return uniform_filter(x, 2 * radius + 1, mode="reflect")
    mean_i, mean_p = box(guide), box(p)
    a = (box(guide * p) - mean_i * mean_p) / (box(guide * guide) - mean_i * mean_i + eps)
    return box(a) * guide + box(mean_p - a * mean_i)


class Variant(PersonScorer):
    """A score computed from cached scores of the same image (each base score runs once per image)."""

    def __init__(self, name: str, combine, *bases: PersonScorer):
        self.name, self.combine, self.bases = name, combine, bases

    def __call__(self, image, persons, image_path=None):
        return np.clip(self.combine(image, *(b(image, persons, image_path) for b in self.bases)), 0, 1).astype(
            np.float32)


class CropSizes(PersonScorer):
    """The shipped network run at test-time crop sizes ``sizes``, its logits averaged over them."""

    def __init__(self, sizes: tuple[int, ...]):
        from pose2instance.learned.models import Predictor, load_default_model
        model = load_default_model("cpu")
        self.name = "crop " + "+".join(map(str, sizes))
        self.predictors = [Predictor(model, "cpu", crop_size=n) for n in sizes]

    def __call__(self, image, persons, image_path=None):
        if not len(persons):
            return np.zeros(image.shape[:2], np.float32)
        logits = np.mean([p.logits(image, persons) for p in self.predictors], axis=0)
        return (1.0 / (1.0 + np.exp(-logits))).max(0).astype(np.float32)


class Cached(PersonScorer):
    def __init__(self, scorer: PersonScorer):
        self.scorer, self.name, self.cache = scorer, scorer.name, {}

    def __call__(self, image, persons, image_path=None):
        if image_path not in self.cache:
            self.cache[image_path] = self.scorer(image, persons, image_path)
        return self.cache[image_path]


def main() -> int:
    import torch
    torch.set_num_threads(1)
    learned, blaze = Cached(make_scorer("learned")), Cached(make_scorer("blazepose"))
    variants = [Variant("learned", lambda im, s: s, learned)]
    for radius, eps in ((2, 1e-3), (4, 1e-3), (4, 1e-2), (8, 1e-2)):
        variants.append(Variant(f"guided {radius} {eps:g}", lambda im, s, r=radius, e=eps: guided_filter(
            im.mean(2, dtype=np.float32) / 255, s, r, e), learned))
    for w in (0.5, 0.75):
        variants.append(Variant(f"blend {w}", lambda im, a, b, w=w: w * a + (1 - w) * b, learned, blaze))
    if BASE_RUN.is_file():
        other = Cached(make_scorer(f"learned:{BASE_RUN}"))
        variants.append(Variant("ensemble", lambda im, a, b: (a + b) / 2, learned, other))
    variants += [CropSizes(sizes) for sizes in ((144,), (160,), (192,), (128, 160))]
    for variant in variants:
        parts = {}
        for file in HELD_OUT:
            dataset = CocoPersons(ANNOTATIONS / file)
            report = evaluate_dataset(dataset, make_methods(["oracle-box", "geodesic"]), variant,
                                      image_ids=part_ids(dataset, file, validation=True), progress=False, workers=1)
            parts[file] = report["methods"]
        detail = "; ".join(f"{file.split('.')[0]} {m}: {r['mean_iou']:.3f} / {r['AP']:.3f} / {r['acc@0.9']:.3f}"
                           for file, methods in parts.items() for m, r in methods.items())
        print(f"{variant.name}: criterion {criterion(parts):.4f} ({detail})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
