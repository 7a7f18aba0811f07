"""Choose the shipped network's training recipe on validation images, then report it on the held-out ones.

Three parts of ``../shared/data/coco_persons``, fixed by image id
(:func:`pose2instance.evaluation.split_image_ids`, seed 0):

* held out (reported, never trained on nor used to choose): 40 % of
  ``person_keypoints_dev.json`` (29 images) and 20 % of ``person_keypoints_single.json``
  (165 images), the parts of the comparison in docs/learned.md;
* validation (used to choose): the next 20 % of the dev file's hash range and the next
  10 % of the single-person file's (``train --held-out-fraction 0.4 0.2 --val-fraction 0.2 0.1``);
* training: the rest, plus all of the two masks-only files.

Every candidate recipe is trained on the training part (a run is reused when its final
checkpoint exists); ``gpu`` and ``pack-cpu`` are trained by ``benchmarks/gpu_train.py`` and only
evaluated here. Each is evaluated on the validation parts with and without flip
test-time augmentation; the criterion, fixed before looking: the mean over the two
validation parts of ``(mean IoU + AP) / 2`` of the default pipeline (geodesic fusion with
the network's score). The best candidate and the base recipe are then evaluated once on
the held-out parts.

    python benchmarks/recipe_choice.py --out runs/val [--candidates base rotate rotate-long rotate-12k lovasz gpu ...]

Writes ``<out>/choice.md`` and ``<out>/choice.json``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_compare import ANNOTATIONS, COLUMNS, RECIPE  # noqa: E402

FILES = ("person_keypoints_dev.json", "person_keypoints_single.json", "person_masks_only.json",
         "person_masks_only_coco128.json")
HELD_OUT = {"person_keypoints_dev.json": 0.4, "person_keypoints_single.json": 0.2}
VALIDATION = {"person_keypoints_dev.json": 0.2, "person_keypoints_single.json": 0.1}
#: candidate -> (extra train options, steps); None: trained by ``benchmarks/gpu_train.py device`` from the
#: training pack, never by this script: ``gpu`` on a GPU machine for a device budget (its files fetched into
#: ``<out>/gpu``), ``pack-cpu`` the ``rotate-long`` recipe from the pack on this CPU (``--recipe rotate-long
#: --device cpu --max-steps 6000``), which shows what the pack alone changes
TRAINED_ELSEWHERE = ("gpu", "pack-cpu")
CANDIDATES = {"base": ([], 3000), "rotate": (["--rotate", "20"], 3000), "rotate-long": (["--rotate", "20"], 6000),
              "rotate-12k": (["--rotate", "20"], 12000),
              "lovasz": (["--rotate", "20", "--iou-loss-weight", "0.5"], 6000),
              **dict.fromkeys(TRAINED_ELSEWHERE)}


def train_command(name: str, out: Path, threads: int, annotations: Path = ANNOTATIONS) -> list[str]:
    """The ``train`` command of candidate ``name`` (its annotation files in the folder ``annotations``)."""
    extra, steps = CANDIDATES[name]
    return [sys.executable, "-m", "pose2instance.learned.train",
            "--annotations", *(str(annotations / f) for f in FILES),
            "--held-out-fraction", *map(str, HELD_OUT.values()), "--val-fraction", *map(str, VALIDATION.values()),
            "--variant", "pose", "--score-input", "blazepose", *RECIPE, *extra, "--steps", str(steps),
            "--threads", str(threads), "--out", str(out), "--resume", "--no-progress"]


def part_ids(dataset, file: str, validation: bool) -> list[int]:
    from pose2instance.evaluation import split_image_ids
    if validation:
        return split_image_ids(dataset.image_ids, VALIDATION[file], 0, after=HELD_OUT[file])[1]
    return split_image_ids(dataset.image_ids, HELD_OUT[file], 0)[1]


def evaluate(weights: Path, flip: bool, validation: bool) -> dict[str, dict]:
    """``{part: {row: metrics}}``: the network's own masks and the geodesic fusion with its score."""
    from pose2instance.evaluation import evaluate_dataset
    from pose2instance.io import CocoPersons
    from pose2instance.learned.scores import LearnedMasks, LearnedScore
    from pose2instance.registry import make_methods

    out = {}
    for file in HELD_OUT:
        dataset = CocoPersons(ANNOTATIONS / file)
        ids = part_ids(dataset, file, validation)
        methods = [*make_methods(["oracle-box", "geodesic"]), LearnedMasks(weights, "cpu", flip=flip)]
        rep = evaluate_dataset(dataset, methods, LearnedScore(weights, "cpu", flip=flip), image_ids=ids,
                               progress=False)
        out[file] = {**rep["methods"], "images": len(ids)}
    return out


def choice_text(scores: dict[str, float], validation: dict[str, dict], held: dict[str, dict], best: str) -> str:
    """The markdown of a choice: the criterion of every candidate, its validation tables, then the held-out
    tables of the few evaluated there (each dict keyed by the candidate's label)."""
    from pose2instance.evaluation import markdown_table
    text = "## Validation parts (used to choose)\n\n"
    text += markdown_table({k: {"criterion": v} for k, v in scores.items()}, ["criterion"]) + "\n"
    for title, results in (("Validation", validation), ("Held-out", held)):
        for file in HELD_OUT:
            rows = {f"{name}: {m}": v for name, parts in results.items() for m, v in parts[file].items()
                    if isinstance(v, dict)}
            n = next(iter(results.values()))[file]["images"]
            text += f"\n**{title}: {file} ({n} images)**\n\n" + markdown_table(rows, COLUMNS) + "\n"
    return text + f"\nChosen on validation: **{best}**.\n"


def criterion(parts: dict[str, dict]) -> float:
    return sum((p["geodesic"]["mean_iou"] + p["geodesic"]["AP"]) / 2 for p in parts.values()) / len(parts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/val"))
    p.add_argument("--candidates", nargs="+", choices=list(CANDIDATES),
                   default=[c for c in CANDIDATES if c not in TRAINED_ELSEWHERE])
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    from pose2instance.io import atomic_write_text, write_json

    missing = [c for c in args.candidates
               if CANDIDATES[c] is None and not (args.out / c / "model.safetensors").is_file()]
    if missing:
        sys.exit(f"no {', '.join(str(args.out / c / 'model.safetensors') for c in missing)}: "
                 "train them with benchmarks/gpu_train.py device")
    for name in args.candidates:
        run = args.out / name
        if not (run / "model.safetensors").is_file():
            t = time.time()
            subprocess.run(train_command(name, run, args.threads), check=True)
            print(f"trained {name} in {time.time() - t:.0f} s", file=sys.stderr)
    validation = {(name, flip): evaluate(args.out / name / "model.safetensors", flip, validation=True)
                  for name in args.candidates for flip in (False, True)}
    scores = {key: criterion(parts) for key, parts in validation.items()}
    best = max(scores, key=scores.get)
    base = ("base", False)
    held = {key: evaluate(args.out / key[0] / "model.safetensors", key[1], validation=False)
            for key in dict.fromkeys([base, best])}

    def label(key):
        return f"{key[0]}{' + flip' if key[1] else ''}"
    text = choice_text({label(k): v for k, v in scores.items()}, {label(k): v for k, v in validation.items()},
                       {label(k): v for k, v in held.items()}, label(best))
    atomic_write_text(args.out / "choice.md", text)
    write_json(args.out / "choice.json", {"criterion": {label(k): v for k, v in scores.items()}, "chosen": label(best),
                                          "validation": {label(k): v for k, v in validation.items()},
                                          "held_out": {label(k): v for k, v in held.items()}}, indent=1)
    print(text)


if __name__ == "__main__":
    main()
