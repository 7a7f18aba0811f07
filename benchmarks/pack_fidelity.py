"""How closely the training pack's crops match the original data's (no augmentation).

    pose2instance pack --annotations <the four coco_persons files> --held-out-fraction 0.4 0.2 \
        --score-input blazepose --out .pack          # or: python benchmarks/gpu_train.py prepare
    python benchmarks/pack_fidelity.py [--pack .pack] [--images 40]

For the first ``--images`` packed images of each file, every training person's crop (the
shipped network's config: 128 px, pose priors, BlazePose score channel) from the original
files and from the pack: the IoU of the two target masks, and the mean absolute difference
of the RGB, prior and score channels. Prints one line per file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe_choice import FILES  # noqa: E402
from train_compare import ANNOTATIONS  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pack", type=Path, default=Path(__file__).resolve().parents[1] / ".pack")
    p.add_argument("--images", type=int, default=40)
    args = p.parse_args()
    from pose2instance.io import CocoPersons
    from pose2instance.learned.dataset import PersonCropDataset
    from pose2instance.learned.models import load_default_model

    config = load_default_model("cpu").config
    for name in FILES:
        original, pack = CocoPersons(ANNOTATIONS / name), CocoPersons(args.pack / "annotations" / name)
        ids = pack.image_ids[:args.images]
        before = PersonCropDataset([(original, ids)], config, augment=False)
        after = PersonCropDataset([(pack, ids)], config, augment=False, score_cache=args.pack / "cache")
        if before.items != after.items:
            print(f"{name}: the pack trains other people ({len(after.items)} against {len(before.items)})")
            return 1
        iou, rgb, prior, score = [], [], [], []
        for i in range(len(before)):
            a, b = before[i], after[i]
            m0, m1 = a["mask"] > 0.5, b["mask"] > 0.5
            iou.append(float((m0 & m1).sum() / max(int((m0 | m1).sum()), 1)))
            rgb.append(float((a["input"][:3] - b["input"][:3]).abs().mean()))
            prior.append(float((a["input"][3:-1] - b["input"][3:-1]).abs().mean()))
            score.append(float((a["input"][-1] - b["input"][-1]).abs().mean()))
        print(f"{name}: {len(before)} persons; target mask IoU median {np.median(iou):.3f}, min {min(iou):.3f}; "
              f"mean absolute difference median: RGB {np.median(rgb):.4f}, priors {np.median(prior):.4f}, "
              f"score {np.median(score):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
