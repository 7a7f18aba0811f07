"""BlazePose's own crop alignment against the plain box crop, for BlazePose's person mask, on the validation parts.

BlazePose GHUM was trained on crops that MediaPipe places from its detector: centred on the hip centre, side
``2 * 1.25 * |k1 - k0|`` (``k0`` the hip centre, ``k1`` the full-body scale point, both from the detector), and
rotated so that ``k0 -> k1`` points up. pose2instance crops a plain upright square around the person's box
(side ``1.25 * max(w, h)``). For every person with keypoints of the validation parts of ``recipe_choice.py``
(never the held-out parts), BlazePose's mask (LiteRT, logit > 0) is computed on

* ``box``: the plain box crop (what the network sees in training and at inference);
* ``detector, upright``: the detector's centre and scale (the detector run on a window around the box, its best
  detection), no rotation;
* ``detector, rotated``: the same, rotated as MediaPipe rotates it;

and pasted back into the image (rotated crops through an affine resampling). Reported: mean IoU against the
ground-truth mask in the image, and how many persons the detector missed (their box crop is used instead).

    python benchmarks/crop_alignment.py [--out runs/crop_alignment]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe_choice import HELD_OUT, part_ids  # noqa: E402
from train_compare import ANNOTATIONS  # noqa: E402

SIDE = 256


def rotated_crop(image: np.ndarray, centre: np.ndarray, side: float, angle: float) -> tuple[np.ndarray, tuple]:
    """``(256, 256, 3)`` float32 RGB in [0, 1] of the square of ``side`` px centred on ``centre`` and turned by
    ``angle`` radians (counter-clockwise in the image), and the affine coefficients crop pixel -> image pixel."""
    s = side / SIDE
    c, n = math.cos(angle), math.sin(angle)
    # crop pixel centre (u + 0.5, v + 0.5) -> image point; PIL's AFFINE maps output (u, v) to input (x, y)
    a, b = s * c, s * n
    d, e = -s * n, s * c
    cx = centre[0] + 0.5 - (a * SIDE / 2 + b * SIDE / 2)
    cy = centre[1] + 0.5 - (d * SIDE / 2 + e * SIDE / 2)
    coeffs = (a, b, cx, d, e, cy)
    crop = Image.fromarray(image).transform((SIDE, SIDE), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR)
    return np.asarray(crop, np.float32) / 255.0, coeffs


def paste_rotated(logits: np.ndarray, coeffs: tuple, image_size: tuple[int, int]) -> np.ndarray:
    """The crop's ``(256, 256)`` logits resampled into the ``(H, W)`` image; -inf outside the crop."""
    a, b, cx, d, e, cy = coeffs
    det = a * e - b * d
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    inverse = (ia, ib, -(ia * cx + ib * cy), id_, ie, -(id_ * cx + ie * cy))
    h, w = image_size
    inside = Image.fromarray(np.ones_like(logits, np.float32)).transform((w, h), Image.Transform.AFFINE, inverse,
                                                                         Image.Resampling.NEAREST)
    values = Image.fromarray(logits.astype(np.float32)).transform((w, h), Image.Transform.AFFINE, inverse,
                                                                  Image.Resampling.BILINEAR)
    return np.where(np.asarray(inside) > 0, np.asarray(values), -np.inf)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/crop_alignment"))
    args = p.parse_args()
    from pose2instance.crops import CropWindow
    from pose2instance.estimators.blazepose import BlazePoseDetector
    from pose2instance.io import CocoPersons, write_json
    from pose2instance.scores.mediapipe import BlazePoseLandmarker

    detector, landmarker = BlazePoseDetector(), BlazePoseLandmarker(margin=1.25)
    rows = {"box": [], "detector, upright": [], "detector, rotated": []}
    missed = persons = 0
    for file in HELD_OUT:
        dataset = CocoPersons(ANNOTATIONS / file)
        for image_id in part_ids(dataset, file, validation=True):
            gt, image = dataset.persons(image_id), dataset.load_image(image_id)
            size = image.shape[:2]
            for i in np.flatnonzero((gt.keypoints[..., 2] > 0).any(1)):
                persons += 1
                box_run = landmarker.run(image, gt.boxes[i])
                box_logits = box_run.crop.paste(box_run.mask_logits, size)
                inside = np.zeros(size, bool)
                inside[max(box_run.crop.y0, 0):box_run.crop.y0 + int(round(box_run.crop.side)),
                       max(box_run.crop.x0, 0):box_run.crop.x0 + int(round(box_run.crop.side))] = True
                rows["box"].append(iou((box_logits > 0) & inside, gt.masks[i]))
                found = detector.detect_window(image, CropWindow.around_pixels(gt.boxes[i], 1.5))
                if not len(found):
                    missed += 1
                    rows["detector, upright"].append(rows["box"][-1])
                    rows["detector, rotated"].append(rows["box"][-1])
                    continue
                k0, k1 = found.keypoints[int(np.argmax(found.scores)), :2]
                side = 2 * 1.25 * float(np.linalg.norm(k1 - k0))
                for name, angle in (("detector, upright", 0.0),
                                    ("detector, rotated", math.atan2(-(k1[0] - k0[0]), -(k1[1] - k0[1])))):
                    crop, coeffs = rotated_crop(image, k0, side, angle)
                    logits = landmarker.mask_logits(crop)
                    rows[name].append(iou(paste_rotated(logits, coeffs, size) > 0, gt.masks[i]))
    result = {name: {"mean_iou": float(np.mean(v)), "persons": len(v)} for name, v in rows.items()}
    result["detector_missed"] = missed
    text = (f"BlazePose's mask (logit > 0) on the validation parts, {persons} persons with keypoints; the detector "
            f"found nothing for {missed} (their box crop counts instead):\n\n| crop | mean IoU |\n|---|---|\n"
            + "".join(f"| {name} | {r['mean_iou']:.3f} |\n" for name, r in result.items() if isinstance(r, dict)))
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "alignment.json", result, indent=1)
    (args.out / "alignment.md").write_text(text)
    print(text)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
