"""The paper's learned comparison at small scale: train every variant with the same budget, evaluate on unseen images.

Data (``../shared/data/coco_persons``): the images of ``person_keypoints_dev.json`` are
split by image id (:func:`pose2instance.learned.dataset.split_image_ids`, ``--val-fraction`` 0.4,
seed 0). Every variant trains on the train part of the dev file plus all of
``person_masks_only.json`` (disjoint images, masks but no keypoints: their keypoint
loss is off, and the pose variant sees only the box fallback of the prior for them),
with the same budget (steps, batch, crop size, learning-rate schedule, seed). Evaluation
is on the held-out dev images, ground-truth boxes and keypoints given (oracle
keypoints protocol), persons with at least one labelled keypoint: per-instance IoU,
accuracy at IoU 0.5..0.9, mean IoU, COCO segmentation AP (pycocotools, person
category) = the paper's AP^r at 0.5 (AP50) and 0.5:0.95 (AP). The training-free
methods run on the same images with the oracle person score, and the fusion runs with
the learned person score and with BlazePose's (the pretrained offline option).

Run from the repository root (CPU, about 5 minutes per variant on 2 cores)::

    python benchmarks/train_compare.py --out runs/compare

Training runs are resumable (``--resume`` is passed): rerunning the command skips the
finished ones. Prints markdown tables and writes ``<out>/results.json`` and ``<out>/table.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(os.environ.get("POSE2INSTANCE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
ANNOTATIONS = DATA / "coco_persons" / "annotations"
PAPER = {"seg": (0.79, 0.38), "multitask": (0.80, 0.40), "cascade": (0.82, 0.42)}
#: Pose-conditioned runs with other prior channels (``--ablation``): name -> extra train options.
ABLATIONS = {"pose-skeleton": ["--priors", "euclidean", "--no-others"],
             "pose-limbs": ["--priors", "euclidean-limbs", "--no-others"],
             "pose-heatmap+others": ["--priors", "heatmap"]}
COLUMNS = ["count", "mean_iou", "acc@0.5", "acc@0.6", "acc@0.7", "acc@0.8", "acc@0.9", "AP50", "AP", "AP75"]


def train_command(name: str, args, out: Path) -> list[str]:
    variant, extra = ("pose", ABLATIONS[name]) if name in ABLATIONS else (name, [])
    cmd = [sys.executable, "-m", "pose2instance.learned.train",
           "--annotations", str(ANNOTATIONS / "person_keypoints_dev.json"), str(ANNOTATIONS / "person_masks_only.json"),
           "--val-fraction", str(args.val_fraction), "--split-seed", str(args.split_seed),
           "--variant", variant, "--steps", str(args.steps), "--batch-size", str(args.batch_size),
           "--crop-size", str(args.crop_size), "--lr", str(args.lr), "--seed", str(args.seed),
           "--checkpoint-every", "100", "--out", str(out), "--resume", "--no-final-eval", "--no-progress"]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    return cmd + extra + list(args.train_args)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/compare"))
    p.add_argument("--variants", nargs="+", default=["seg", "multitask", "cascade", "pose"])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--crop-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=float, default=0.4)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads per training process (1 is fastest on a busy 2-core machine)")
    p.add_argument("--ablation", action="store_true", help=f"also train {', '.join(ABLATIONS)} (prior choice)")
    p.add_argument("--no-training-free", action="store_true", help="skip the training-free rows")
    p.add_argument("--no-blazepose", action="store_true", help="skip the BlazePose person-score rows")
    p.add_argument("train_args", nargs=argparse.REMAINDER, help="extra options for pose2instance.learned.train after --")
    args = p.parse_args()
    if args.train_args[:1] == ["--"]:
        args.train_args = args.train_args[1:]

    import torch
    torch.set_num_threads(args.threads)
    from pose2instance.io import CocoPersons
    from pose2instance.learned.dataset import split_image_ids
    from pose2instance.evaluation import evaluate_dataset, markdown_table
    from pose2instance.learned.scores import LearnedMasks, LearnedScore
    from pose2instance.registry import make_methods
    from pose2instance.scores import OracleScore

    dev = CocoPersons(ANNOTATIONS / "person_keypoints_dev.json")
    train_ids, val_ids = split_image_ids(dev.image_ids, args.val_fraction, args.split_seed)
    print(f"split: {len(train_ids)} train / {len(val_ids)} held-out images of {dev.path.name}", file=sys.stderr)
    rows, train_time = {}, {}
    for variant in args.variants + (list(ABLATIONS) if args.ablation else []):
        run = args.out / variant
        if not (run / "model.safetensors").is_file() or not (run / "checkpoints" / "latest").is_file() or \
                not (run / "checkpoints" / f"step_{args.steps:07d}").is_dir():
            t = time.perf_counter()
            subprocess.run(train_command(variant, args, run), check=True)
            train_time[variant] = time.perf_counter() - t
        own = evaluate_dataset(dev, [LearnedMasks(run / "model.safetensors", "cpu")], image_ids=val_ids, progress=False)
        rows[f"learned {variant}"] = own["methods"]["learned"]
        print(f"{variant}: mean IoU {rows[f'learned {variant}']['mean_iou']:.3f}, AP {rows[f'learned {variant}']['AP']:.3f}",
              file=sys.stderr)

    learned = {k: v for k, v in rows.items() if k.startswith("learned")}
    best = max(learned, key=lambda k: (learned[k]["AP"], learned[k]["mean_iou"])).split()[-1]
    print(f"best: {best}", file=sys.stderr)
    fusion = {}
    if not args.no_training_free:
        oracle = evaluate_dataset(dev, make_methods(["box", "oracle-box", "euclidean", "geodesic"]), OracleScore(),
                                  image_ids=val_ids, progress=False)
        for m, v in oracle["methods"].items():
            fusion[f"{m} (oracle score)"] = v
        score = LearnedScore(args.out / best, "cpu")
        rep = evaluate_dataset(dev, make_methods(["oracle-box", "euclidean", "geodesic"]), score, image_ids=val_ids, progress=False)
        for m, v in rep["methods"].items():
            fusion[f"{m} (learned {best} score)"] = v
        if not args.no_blazepose:
            try:
                from pose2instance.scores.mediapipe import BlazePoseMaskScore
                rep = evaluate_dataset(dev, make_methods(["oracle-box", "euclidean", "geodesic"]), BlazePoseMaskScore(),
                                       image_ids=val_ids, progress=False)
                for m, v in rep["methods"].items():
                    fusion[f"{m} (blazepose score)"] = v
            except ImportError as e:
                print(f"note: BlazePose rows skipped ({e})", file=sys.stderr)

    text = (f"**Held-out COCO dev images: {len(val_ids)} images, ground-truth boxes and keypoints, persons with "
            f"keypoints; every variant trained {args.steps} steps x {args.batch_size} crops of {args.crop_size} px "
            f"on {len(train_ids)} dev images + person_masks_only.json**\n\n")
    text += markdown_table(learned, COLUMNS)
    text += "\nPaper (COCO 2014 person keypoints, 45k training images, VGG-16 DeepLab), AP^r@0.5 / AP^r@[.5:.95]: " \
            + ", ".join(f"{k} {a:.2f} / {b:.2f}" for k, (a, b) in PAPER.items()) + "\n"
    base = learned.get("learned seg")
    if base:
        text += "\nRelative to segmentation only:\n\n"
        rel = {k: {c: (v[c] - base[c]) / base[c] if base[c] else float("nan") for c in COLUMNS[1:]}
               for k, v in learned.items() if k != "learned seg"}
        text += markdown_table(rel, COLUMNS[1:], percent=True)
    if fusion:
        text += "\nTraining-free fusion on the same images (person score in brackets):\n\n"
        text += markdown_table(fusion, COLUMNS)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps(
        {"val_ids": val_ids, "train_ids": train_ids, "learned": learned, "fusion": fusion, "best": best,
         "train_seconds": train_time, "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}},
        indent=1))


if __name__ == "__main__":
    main()
