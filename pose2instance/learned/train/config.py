"""A training run's options as one typed object (:class:`TrainConfig`), and the recipes shipped in the package.

:class:`TrainConfig` holds every option of ``pose2instance train`` under its option name (``--copy-paste`` is
``copy_paste``) with its default: the command line's defaults are read from it, and Python code sets a run up
without the command line::

    from pose2instance.learned.train import TrainConfig, run_train
    config = TrainConfig.from_recipe("shipped", annotations=[Path("train.json")], out=Path("runs/mine"))
    run_train(config)

A recipe (:data:`RECIPES`) is a JSON file of options in ``pose2instance/learned/recipes`` (``train --recipe
NAME``), or any such file (``--recipe FILE.json``); options given on the command line win over it. ``shipped``
is the recipe of the network in the package (see its ``person_net.json``); ``cpu`` the same for about an hour
on 2 CPU cores; ``tiny`` the network trained from scratch that was shipped before.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from importlib.resources import files
from pathlib import Path

from ...limits import Limits

#: The recipes shipped in the package: name -> file.
RECIPES = {p.stem: Path(str(p)) for p in files("pose2instance").joinpath("learned", "recipes").iterdir()
           if p.name.endswith(".json")}


@dataclass
class TrainConfig:
    """Every option of a training run (see ``pose2instance train --help`` for what each does)."""

    # data
    annotations: list[Path] = field(default_factory=list)
    images: list[Path] | None = None
    val_annotations: Path | None = None
    val_fraction: list[float] = field(default_factory=lambda: [0.0])
    held_out_fraction: list[float] = field(default_factory=lambda: [0.0])
    split_seed: int = 0
    min_area: float = 400.0
    require_keypoints: bool = False
    no_augment: bool = False
    scale_jitter: float = 0.25
    shift_jitter: float = 0.08
    copy_paste: float = 0.0
    colour_jitter: float = 0.0
    truncate: float = 0.0
    rotate: float = 0.0
    score_cache: Path | None = None
    no_cache: bool = False
    workers: int = 0
    # model
    variant: str = "pose"
    backbone: str = "tiny"
    freeze: str = "none"
    width: int = 32
    pretrained: str | None = None
    crop_size: int = 128
    margin: float = 1.25
    priors: list[str] = field(default_factory=lambda: ["euclidean", "euclidean-limbs"])
    no_others: bool = False
    score_input: str | None = None
    # optimisation
    steps: int = 600
    batch_size: int = 16
    calibrate_steps: int = 0
    optimizer: str = "adamw"
    lr: float = 2e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup_steps: int = 30
    clip_grad: float = 5.0
    keypoint_weight: float = 1.0
    iou_loss_weight: float = 0.0
    amp: str = "auto"
    # run
    out: Path = Path("runs/train")
    resume: bool = False
    overwrite: bool = False
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    eval_every: int = 0
    no_final_eval: bool = False
    seed: int = 0
    device: str | None = None
    threads: int | None = None
    deterministic: bool = False
    no_progress: bool = False
    # limits (pose2instance.limits)
    max_pixels: int = Limits.max_pixels
    max_people: int = Limits.max_people

    @classmethod
    def defaults(cls) -> dict:
        """Every option's default, by option name (what the command line starts from)."""
        return asdict(cls())

    @classmethod
    def from_namespace(cls, args) -> "TrainConfig":
        """The config of parsed ``train`` options (an ``argparse.Namespace``)."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})

    @classmethod
    def from_recipe(cls, recipe: str | Path, **options) -> "TrainConfig":
        """A recipe's config (:func:`read_recipe`), ``options`` over it."""
        return cls(**{**read_recipe(recipe), **options})


def read_recipe(recipe: str | Path) -> dict:
    """The options of a recipe: a name of :data:`RECIPES` or a JSON file, ``{"option_name": value, ...}``.

    Paths come back as :class:`~pathlib.Path`. ``ValueError`` names the file and an unknown option; keys that
    start with ``_`` are comments.
    """
    path = RECIPES.get(str(recipe)) or Path(recipe)
    if not path.is_file():
        raise ValueError(f"unknown recipe {str(recipe)!r}: use one of {', '.join(sorted(RECIPES))} or a JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a JSON recipe ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a recipe is a JSON object of train options")
    known = {f.name: f for f in fields(TrainConfig)}
    options = {k: v for k, v in data.items() if not k.startswith("_")}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"{path}: unknown train option(s) {unknown}")
    for name in ("out", "val_annotations", "score_cache"):
        if options.get(name) is not None:
            options[name] = Path(options[name])
    for name in ("annotations", "images"):
        if options.get(name) is not None:
            options[name] = [Path(p) for p in options[name]]
    return options
