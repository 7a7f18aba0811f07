"""Choose the fusion's default prior again with a given person network's score, on the validation parts only.

Candidates: the Euclidean prior, the geodesic prior on a half-resolution superpixel graph (SLIC on the image
resized by 0.5, 3 iterations: the default) and on a full-resolution one (scale 1, 5 iterations). Each is fused
with the network's score (ground-truth boxes and keypoints) on the validation parts of ``recipe_choice.py``
(by image id, never the held-out parts); the criterion is that script's: the mean over the two parts of
``(mean IoU + AP) / 2``. Reports the time per image of each as well.

    python benchmarks/prior_choice.py --model runs/pretrained/bp-pose-lr3e-5 [--out runs/prior_choice]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe_choice import HELD_OUT, part_ids  # noqa: E402
from train_compare import ANNOTATIONS, COLUMNS  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, required=True, help="a checkpoint folder or .safetensors file")
    p.add_argument("--out", type=Path, default=Path("runs/prior_choice"))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    from pose2instance.evaluation import evaluate_dataset, markdown_table
    from pose2instance.io import CocoPersons, atomic_write_text, write_json
    from pose2instance.learned.scores import LearnedScore
    from pose2instance.pipeline import Pose2Instance

    def candidates():
        full = Pose2Instance("geodesic", scale=1.0, slic_iterations=5)
        full.name = "geodesic-full"
        return [Pose2Instance("euclidean"), Pose2Instance("geodesic"), full]

    scorer = LearnedScore(args.model, "cpu")
    parts = {}
    for file in HELD_OUT:
        dataset = CocoPersons(ANNOTATIONS / file)
        ids = part_ids(dataset, file, validation=True)
        report = evaluate_dataset(dataset, candidates(), scorer, image_ids=ids, progress=False)
        parts[file] = {"images": len(ids), "methods": report["methods"],
                       "seconds_per_image": {m: report["timing_s"].get(m, 0.0) / len(ids) for m in report["methods"]}}
    names = list(parts[next(iter(parts))]["methods"])
    criterion = {m: sum((p["methods"][m]["mean_iou"] + p["methods"][m]["AP"]) / 2 for p in parts.values()) / len(parts)
                 for m in names}
    text = markdown_table({m: {"criterion": criterion[m], **{f"s/img {f.split('_')[2].split('.')[0]}":
                                                            parts[f]["seconds_per_image"][m] for f in parts}}
                           for m in names}, ["criterion", *[f"s/img {f.split('_')[2].split('.')[0]}" for f in parts]])
    for file, part in parts.items():
        text += f"\n\n**Validation: {file} ({part['images']} images)**\n\n" + markdown_table(part["methods"], COLUMNS)
    text += f"\n\nBest on validation: **{max(criterion, key=criterion.get)}**\n"
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "choice.md", text)
    write_json(args.out / "choice.json", {"model": str(args.model), "criterion": criterion, "parts": parts}, indent=1)
    print(text)


if __name__ == "__main__":
    main()
