"""The learned comparison on all of ../shared/data: every variant with one recipe, evaluated on held-out images.

Data (``../shared/data/coco_persons``, see its README): training uses every file, minus
a held-out part fixed by image id (:func:`pose2instance.evaluation.split_image_ids`,
seed 0): 40 % of ``person_keypoints_dev.json`` (29 images, the split of the earlier
comparison) and 20 % of ``person_keypoints_single.json`` (165 images); plus all of
``person_masks_only.json`` and ``person_masks_only_coco128.json`` (masks, no keypoints:
their keypoint loss is off, the pose variant sees their box fallback). Nothing is tuned
on the held-out images.

Recipe (every run): tiny backbone, 128 px crops, AdamW lr 2e-3, 100 warm-up steps then
cosine, batch 16, seed 0, flip / scale / shift jitter, copy-paste of people from other
images with probability 0.5 (in front of or behind the target), border truncation 0.2,
colour jitter 0.3; ``--steps`` steps (3000 by default: about 35 minutes per run on one
core here). Runs: ``seg``, ``multitask``, ``cascade`` (the paper's comparison, no
keypoints given), ``pose`` (keypoints given as prior channels), ``pose+blazepose`` (also
BlazePose's person score as an input channel) and ``seg+blazepose``.

Evaluation, on each held-out part, ground-truth boxes and keypoints given, persons with
keypoints: the network's own masks (``learned``); the training-free methods with
BlazePose's score (the pretrained offline baseline) and with the learned score; and, on
the dev part, YOLO-estimated people (``--estimated``, detection-style AP).

    python benchmarks/train_compare.py --out runs/compare [--variants ...] [--estimated]

Finished runs are reused (a run is trained only when its final checkpoint is missing;
``--resume`` continues a killed one). Writes ``<out>/table.md`` and ``<out>/results.json``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(os.environ.get("POSE2INSTANCE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
ANNOTATIONS = DATA / "coco_persons" / "annotations"
#: training files and the fraction of each held out (by image id)
FILES = {"person_keypoints_dev.json": 0.4, "person_keypoints_single.json": 0.2, "person_masks_only.json": 0.0,
         "person_masks_only_coco128.json": 0.0}
PAPER = {"seg": (0.79, 0.38), "multitask": (0.80, 0.40), "cascade": (0.82, 0.42)}
#: run name -> train options
RUNS = {"seg": ["--variant", "seg"], "multitask": ["--variant", "multitask"], "cascade": ["--variant", "cascade"],
        "pose": ["--variant", "pose"], "pose+blazepose": ["--variant", "pose", "--score-input", "blazepose"],
        "seg+blazepose": ["--variant", "seg", "--score-input", "blazepose"]}
RECIPE = ["--copy-paste", "0.5", "--truncate", "0.2", "--colour-jitter", "0.3", "--warmup-steps", "100",
          "--batch-size", "16", "--crop-size", "128", "--lr", "2e-3", "--seed", "0", "--checkpoint-every", "250"]
COLUMNS = ["count", "mean_iou", "acc@0.5", "acc@0.6", "acc@0.7", "acc@0.8", "acc@0.9", "AP50", "AP", "AP75"]


def train_command(name: str, args, out: Path) -> list[str]:
    return [sys.executable, "-m", "pose2instance.learned.train",
            "--annotations", *(str(ANNOTATIONS / f) for f in FILES), "--val-fraction", *map(str, FILES.values()),
            "--steps", str(args.steps), *RECIPE, *RUNS[name], "--threads", str(args.threads),
            "--out", str(out), "--resume", "--no-final-eval", "--no-progress"]


def evaluate_part(dataset, ids, runs: dict[str, Path], best: str | None, estimated: bool) -> dict[str, dict]:
    """Every row of one held-out part: the networks' own masks, then the training-free methods."""
    from pose2instance.evaluation import evaluate_dataset
    from pose2instance.learned.scores import LearnedMasks, LearnedScore
    from pose2instance.registry import make_methods, make_scorer

    rows = {}
    for name, run in runs.items():
        rep = evaluate_dataset(dataset, [LearnedMasks(run / "model.safetensors", "cpu")], image_ids=ids,
                               progress=False)
        rows[f"learned {name}"] = rep["methods"]["learned"]
    for score_name, scorer in (("blazepose", make_scorer("blazepose")), ("oracle", make_scorer("oracle"))):
        rep = evaluate_dataset(dataset, make_methods(["oracle-box", "euclidean", "geodesic"]), scorer,
                               image_ids=ids, progress=False)
        rows.update({f"{m} ({score_name} score)": v for m, v in rep["methods"].items()})
    if best:
        rep = evaluate_dataset(dataset, make_methods(["oracle-box", "geodesic"]),
                               LearnedScore(runs[best] / "model.safetensors", "cpu"), image_ids=ids, progress=False)
        rows.update({f"{m} (learned {best} score)": v for m, v in rep["methods"].items()})
    if estimated:
        from pose2instance.estimators import make_estimator
        methods = make_methods(["oracle-box", "geodesic"]) + [LearnedMasks(runs[best] / "model.safetensors", "cpu")]
        rep = evaluate_dataset(dataset, methods, make_scorer("blazepose"), image_ids=ids, progress=False,
                               estimator=make_estimator("yolo"))
        rows.update({f"YOLO people: {m} (blazepose score)": v for m, v in rep["methods"].items()})
    return rows


def keypoint_head_pck(run: Path, parts: list[tuple]) -> dict:
    """How well a multitask / cascade keypoint head finds the keypoints on held-out crops.

    PCK: the fraction of labelled keypoints inside the crop whose heatmap argmax (stride-4
    cell centre) is within ``0.1 * n`` (and ``0.05 * n``) crop pixels of the truth, ``n`` the crop side.
    """
    import numpy as np
    import torch
    from pose2instance.learned.dataset import PersonCropDataset
    from pose2instance.learned.models import load_model
    from pose2instance.learned.models.networks import HEATMAP_STRIDE
    model = load_model(run / "model.safetensors", "cpu")
    data = PersonCropDataset(parts, model.config, augment=False, require_keypoints=True)
    n = model.config.crop_size
    hits, total = np.zeros(2), 0
    with torch.no_grad():
        for start in range(0, len(data), 32):
            batch = [data[i] for i in range(start, min(start + 32, len(data)))]
            heat = model(torch.stack([b["input"] for b in batch]))["heatmaps"]
            for b, h in zip(batch, heat):
                m = h.shape[-1]
                flat = h.reshape(17, -1).argmax(1)
                pred = torch.stack([flat % m, flat // m], 1).float() * HEATMAP_STRIDE + (HEATMAP_STRIDE - 1) / 2
                target = b["heatmaps"].reshape(17, -1)
                labelled = (b["kp_weight"] > 0) & (target.max(1).values > 0.5)  # the keypoint lies in the crop
                tflat = target.argmax(1)
                truth = torch.stack([tflat % m, tflat // m], 1).float() * HEATMAP_STRIDE + (HEATMAP_STRIDE - 1) / 2
                d = (pred - truth).norm(dim=1)[labelled]
                hits += [(d <= 0.1 * n).sum().item(), (d <= 0.05 * n).sum().item()]
                total += int(labelled.sum())
    return {"keypoints": total, "PCK@0.1": float(hits[0]) / max(total, 1), "PCK@0.05": float(hits[1]) / max(total, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/compare"))
    p.add_argument("--variants", nargs="+", default=[r for r in RUNS if r != "seg+blazepose"], choices=list(RUNS),
                   help="runs to train (if missing) and evaluate; seg+blazepose is optional")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--threads", type=int, default=1, help="torch threads per training process")
    p.add_argument("--estimated", action="store_true", help="add YOLO-estimated people on the dev part (yolo extra)")
    args = p.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    from pose2instance.evaluation import markdown_table, split_image_ids
    from pose2instance.io import CocoPersons, atomic_write_text, write_json

    runs, train_time = {}, {}
    for name in args.variants:
        run = args.out / name
        if not (run / "checkpoints" / f"step_{args.steps:07d}").is_dir():
            t = time.perf_counter()
            subprocess.run(train_command(name, args, run), check=True)
            train_time[name] = time.perf_counter() - t
        runs[name] = run
    best = "pose+blazepose" if "pose+blazepose" in runs else next(iter(runs), None)
    if best is None:
        p.error("no run: give --variants")
    parts, text = {}, ""
    for file, fraction in FILES.items():
        if not fraction:
            continue
        dataset = CocoPersons(ANNOTATIONS / file)
        ids = split_image_ids(dataset.image_ids, fraction, 0)[1]
        rows = evaluate_part(dataset, ids, runs, best, args.estimated and file == "person_keypoints_dev.json")
        parts[file] = {"images": len(ids), "rows": rows}
        text += (f"**{file}, held-out {len(ids)} images (split_image_ids {fraction}, seed 0), ground-truth boxes and "
                 f"keypoints unless the row says YOLO, persons with keypoints; {args.steps} steps per run**\n\n")
        text += markdown_table(rows, COLUMNS) + "\n"
    heads = {}
    for name in ("multitask", "cascade"):
        if name in runs:
            held = [(CocoPersons(ANNOTATIONS / f), split_image_ids(CocoPersons(ANNOTATIONS / f).image_ids, fr, 0)[1])
                    for f, fr in FILES.items() if fr]
            heads[name] = keypoint_head_pck(runs[name], held)
    if heads:
        text += ("Keypoint heads on the held-out crops (argmax of the stride-4 heatmaps against the labelled "
                 "keypoints inside the crop; the truth is quantised to the same cells):\n\n"
                 + markdown_table(heads, ["keypoints", "PCK@0.1", "PCK@0.05"]) + "\n")
    text += ("Paper (COCO 2014 person keypoints, 45k training images, VGG-16 DeepLab), AP^r@0.5 / AP^r@[.5:.95]: "
             + ", ".join(f"{k} {a:.2f} / {b:.2f}" for k, (a, b) in PAPER.items()) + "\n")
    print(text)
    atomic_write_text(args.out / "table.md", text)
    write_json(args.out / "results.json", {"parts": parts, "keypoint_heads": heads, "best": best,
                                           "train_seconds": train_time,
                                           "steps": args.steps, "recipe": RECIPE}, indent=1)


if __name__ == "__main__":
    main()
