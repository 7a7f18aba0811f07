"""Command-line options of ``pose2instance train`` and the model config they give."""

from __future__ import annotations

import argparse
from pathlib import Path

from ...limits import add_limit_arguments, number_in, positive_int
from ..dataset import Augmentation
from ..models.networks import BACKBONE_NAMES, VARIANTS, ModelConfig
from ..score_maps import SCORE_INPUTS
from .config import RECIPES, TrainConfig


non_negative_float = number_in(0.0)
probability = number_in(0.0, 1.0)


def add_train_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Register the ``train`` options on ``p`` (for ``pose2instance train`` and
    ``python -m pose2instance.learned.train``)."""
    p.add_argument("--recipe", metavar="NAME|FILE", help=f"start from a recipe: {', '.join(sorted(RECIPES))} "
                   "(pose2instance/learned/recipes) or a JSON file of options; options given here win over it")
    d = p.add_argument_group("data")
    d.add_argument("--annotations", type=Path, nargs="+", required=True,
                   help="COCO person annotation files (keypoints optional; crowd regions are ignored)")
    d.add_argument("--images", type=Path, nargs="+", help="image folders, one per annotation file "
                   "(default: images/ beside annotations/)")
    d.add_argument("--val-annotations", type=Path, help="a separate validation file (e.g. COCO val2017)")
    d.add_argument("--val-fraction", type=float, nargs="+", metavar="F",
                   help="hold out this fraction of each annotation file's images (by image id; one value per "
                        "file, missing ones are 0) for validation; they are never trained on")
    d.add_argument("--held-out-fraction", type=float, nargs="+", metavar="F",
                   help="a test part: this fraction of each file's images (by image id, one value per file) is "
                        "neither trained on nor used for validation, and --val-fraction is carved from the rest; "
                        "report on it with `evaluate --held-out F --split-seed S`")
    d.add_argument("--split-seed", type=int, help="seed of the splits by image id")
    d.add_argument("--min-area", type=non_negative_float,
                   help="skip persons whose mask is smaller (pixels)")
    d.add_argument("--require-keypoints", action="store_true", help="train only on persons with labelled keypoints")
    d.add_argument("--no-augment", action="store_true", help="no augmentation at all")
    d.add_argument("--scale-jitter", type=number_in(0.0, 0.9))
    d.add_argument("--shift-jitter", type=number_in(0.0, 1.0))
    d.add_argument("--copy-paste", type=probability, metavar="P",
                   help="probability of pasting 1-2 masked people of other images in front of / behind the target")
    d.add_argument("--colour-jitter", type=number_in(0.0, 1.0),
                   help="brightness / contrast / saturation strength")
    d.add_argument("--truncate", type=probability, metavar="P",
                   help="probability of cutting a side of the crop off as an image border")
    d.add_argument("--rotate", type=number_in(0.0, 180.0), metavar="DEG",
                   help="rotate each crop by a uniform angle in [-DEG, DEG] (keypoints and boxes turn with it)")
    d.add_argument("--score-cache", type=Path, help="folder of cached score maps for --score-input "
                   "(default $POSE2INSTANCE_CACHE or ~/.cache/pose2instance)")
    d.add_argument("--no-cache", action="store_true", help="do not keep decoded images in memory (full COCO)")
    d.add_argument("--workers", type=int, help="DataLoader worker processes per training process")

    m = p.add_argument_group("model")
    m.add_argument("--variant", choices=VARIANTS)
    m.add_argument("--backbone", choices=BACKBONE_NAMES,
                   help="blazepose: MediaPipe's pretrained BlazePose GHUM full, converted (crop size 256)")
    m.add_argument("--freeze", choices=("none", "backbone"),
                   help="blazepose: train only its mask head, the pose input filters and the calibration (backbone)")
    m.add_argument("--width", type=int, help="tiny backbone width")
    m.add_argument("--pretrained", help="ResNet ImageNet weights: a local file, or 'auto' for the "
                   "torch hub cache if the file is there (nothing is downloaded)")
    m.add_argument("--crop-size", type=int)
    m.add_argument("--margin", type=number_in(1.0, 10.0), help="crop side over the box's longer side")
    m.add_argument("--priors", nargs="+",
                   help="prior channels of the pose variant (pose2instance.priors names)")
    m.add_argument("--no-others", action="store_true", help="pose variant: no distance-to-other-people channel")
    m.add_argument("--score-input", choices=tuple(SCORE_INPUTS), help="give the network a pretrained person "
                   "score as one more input channel (blazepose: runs with LiteRT)")

    o = p.add_argument_group("optimisation")
    o.add_argument("--steps", type=int, help="optimizer steps (the training budget)")
    o.add_argument("--batch-size", type=int, help="crops per step per process")
    o.add_argument("--calibrate-steps", type=int, metavar="N",
                   help="first fit only the pretrained mask's scale on N batches (blazepose: "
                        "its raw logits span about -1500 .. 300)")
    o.add_argument("--optimizer", choices=("adamw", "sgd"))
    o.add_argument("--lr", type=float)
    o.add_argument("--momentum", type=float, help="SGD momentum")
    o.add_argument("--weight-decay", type=float)
    o.add_argument("--schedule", choices=("cosine", "step", "constant"))
    o.add_argument("--warmup-steps", type=int)
    o.add_argument("--clip-grad", type=float, help="max gradient norm (0: off)")
    o.add_argument("--keypoint-weight", type=float, help="weight of the heatmap loss")
    o.add_argument("--iou-loss-weight", type=non_negative_float,
                   help="weight of the Lovász hinge (IoU) loss added to the mask BCE (0: BCE only)")
    o.add_argument("--amp", choices=("auto", "off", "bf16", "fp16"),
                   help="mixed precision on CUDA (auto: bf16 if supported else fp16); never on CPU")

    r = p.add_argument_group("run")
    r.add_argument("--out", type=Path)
    r.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint "
                   "(same options; a larger --steps extends it, with the schedule computed for the new total)")
    r.add_argument("--overwrite", action="store_true", help="start over even if --out holds a run")
    r.add_argument("--checkpoint-every", type=positive_int, help="steps between checkpoints")
    r.add_argument("--keep-checkpoints", type=int)
    r.add_argument("--eval-every", type=int, help="crop-level validation every N steps (0: at the end)")
    r.add_argument("--no-final-eval", action="store_true", help="skip the full-image evaluation at the end")
    r.add_argument("--seed", type=int)
    r.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    r.add_argument("--threads", type=int, help="torch CPU threads per process")
    r.add_argument("--deterministic", action="store_true", help="torch deterministic algorithms")
    r.add_argument("--no-progress", action="store_true")
    add_limit_arguments(p)
    p.set_defaults(**TrainConfig.defaults())  # the one place the defaults live
    return p


def model_config_from_args(args) -> ModelConfig:
    """The :class:`ModelConfig` the model options describe."""
    return ModelConfig(args.variant, args.backbone, args.width, args.crop_size, args.margin, tuple(args.priors),
                       not args.no_others, pretrained=args.pretrained, score_input=args.score_input,
                       freeze=args.freeze)


def augmentation_from_args(args) -> Augmentation:
    """The training :class:`~pose2instance.learned.dataset.Augmentation` the data options describe."""
    if args.no_augment:
        return Augmentation.none()
    return Augmentation(args.scale_jitter, args.shift_jitter, 0.5, args.copy_paste, args.colour_jitter, args.truncate,
                        args.rotate)
