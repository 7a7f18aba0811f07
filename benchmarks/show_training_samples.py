"""Picture of augmented training samples: RGB crop, target mask, "other people" channel, pretrained score.

    python benchmarks/show_training_samples.py --out docs/training_samples.png

Rows: samples of the training recipe (rotation, copy-paste, border truncation, colour jitter); columns:
the crop as the network sees it, the target mask (white; grey = ignored pixels), the distance
to the *other* people's skeletons (pasted people included; dark = near), and BlazePose's score.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("POSE2INSTANCE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) \
    / "coco_persons" / "annotations"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--annotations", type=Path, default=DATA / "person_keypoints_single.json")
    p.add_argument("--samples", type=int, default=6)
    p.add_argument("--out", type=Path, default=Path("docs/training_samples.png"))
    args = p.parse_args()
    from pose2instance.io import CocoPersons
    from pose2instance.learned.dataset import Augmentation, PersonCropDataset
    from pose2instance.learned.models import ModelConfig
    from pose2instance.visualize import save_png

    config = ModelConfig("pose", crop_size=128, score_input="blazepose")
    ds = PersonCropDataset([(CocoPersons(args.annotations), None)], config,
                           augment=Augmentation(copy_paste=1.0, colour=0.3, truncate=0.3, rotate=20.0), seed=3)
    rows = []
    for i in range(args.samples):
        s = ds[i * 37 % len(ds)]
        x = s["input"].numpy()
        rgb = (x[:3].transpose(1, 2, 0) * 255).astype(np.uint8)
        mask = np.where(s["valid"][0].numpy() > 0, s["mask"][0].numpy() * 255, 96).astype(np.uint8)
        others = (x[-2] / 2 * 255).astype(np.uint8)
        score = (x[-1] * 255).astype(np.uint8)
        rows.append(np.concatenate([rgb] + [np.repeat(c[..., None], 3, 2) for c in (mask, others, score)], 1))
    save_png(np.concatenate(rows, 0), args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
