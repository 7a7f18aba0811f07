"""Training engine for the person-crop networks: single process, or many GPUs / nodes with torchrun.

    python -m pose2instance.train --annotations A.json [B.json ...] --variant pose --steps 600 --out runs/pose
    torchrun --nproc_per_node 8 -m pose2instance.train ... (DistributedDataParallel; gloo on CPU, nccl on GPU)

What it does (one optimizer step = one batch per process):

* data: :class:`pose2instance.data.PersonCropDataset` over the ``--annotations`` files;
  ``--val-fraction`` holds out images of the *first* file by image id
  (:func:`pose2instance.data.split_image_ids`), or ``--val-annotations`` gives a separate
  validation file; crowd regions are ignored in the loss;
* order: :class:`torch.utils.data.DistributedSampler` (also with one process), so
  process ``r`` of ``W`` with batch ``b`` sees exactly the samples a single process with
  batch ``W * b`` sees, and the per-sample random augmentation does not depend on ``W``;
* loss: per-sample mean of the pixel BCE of the mask logits over valid pixels, plus
  ``--keypoint-weight`` times the heatmap loss (multitask / cascade): per labelled
  keypoint, the BCE of the heatmap logits summed over the map and divided by the mass of
  its Gaussian target (at least 1), averaged over the person's labelled keypoints; all
  averaged over the batch. Every model uses
  GroupNorm (or frozen BatchNorm), so a DDP run matches a single-process run with the
  same global batch up to floating-point summation order;
* optimiser AdamW (or SGD with momentum), linear warm-up then cosine (or step) decay,
  gradient-norm clipping, automatic mixed precision on CUDA (bf16 when supported,
  else fp16 with a GradScaler), seeds for everything;
* checkpoints every ``--checkpoint-every`` steps: ``checkpoints/step_XXXXXXX/`` with
  ``model.safetensors`` + ``config.json`` + ``train_state.safetensors`` (optimizer,
  scaler and RNG tensors) + ``train_state.json`` (step, epoch, batch position,
  scheduler and other scalars), written to a temporary folder that is renamed into
  place, then ``checkpoints/latest`` is replaced atomically. ``--resume`` continues
  exactly after the last checkpoint (a killed CPU run reproduces the uninterrupted
  run's losses and weights bit for bit);
* logs: ``metrics.csv`` (one row per step), ``val.csv`` (crop-level validation),
  TensorBoard when installed, a tqdm progress bar; only rank 0 writes;
* at the end: ``model.safetensors`` + ``config.json`` in ``--out`` and, with a
  validation split, ``val_metrics.json`` (full-image IoU / accuracy / COCO segm AP with
  ground-truth boxes and keypoints).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from .data import PersonCropDataset, coco_sources, split_image_ids
from .models.networks import (VARIANTS, CheckpointError, ModelConfig, PersonNet, _read_tensors, atomic_save_tensors,
                              atomic_write_text, load_state_checked, save_model)

METRIC_FIELDS = ["step", "epoch", "loss", "loss_mask", "loss_kp", "lr", "grad_norm", "crops_per_s", "seconds"]
VAL_FIELDS = ["step", "val_loss", "val_crop_iou"]


def add_train_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Register the ``train`` options on ``p`` (for ``pose2instance train`` and ``python -m pose2instance.train``)."""
    d = p.add_argument_group("data")
    d.add_argument("--annotations", type=Path, nargs="+", required=True,
                   help="COCO person annotation files (keypoints optional; crowd regions are ignored)")
    d.add_argument("--images", type=Path, nargs="+", help="image folders, one per annotation file "
                   "(default: images/ beside annotations/)")
    d.add_argument("--val-annotations", type=Path, help="a separate validation file (e.g. COCO val2017)")
    d.add_argument("--val-fraction", type=float, default=0.0,
                   help="hold out this fraction of the first annotation file's images (by image id) for validation")
    d.add_argument("--split-seed", type=int, default=0, help="seed of the train/val split by image id")
    d.add_argument("--min-area", type=float, default=400.0, help="skip persons whose mask is smaller (pixels)")
    d.add_argument("--require-keypoints", action="store_true", help="train only on persons with labelled keypoints")
    d.add_argument("--no-augment", action="store_true", help="no flip / scale / shift jitter")
    d.add_argument("--scale-jitter", type=float, default=0.25)
    d.add_argument("--shift-jitter", type=float, default=0.08)
    d.add_argument("--no-cache", action="store_true", help="do not keep decoded images in memory (full COCO)")
    d.add_argument("--workers", type=int, default=0, help="DataLoader worker processes per training process")

    m = p.add_argument_group("model")
    m.add_argument("--variant", choices=VARIANTS, default="pose")
    m.add_argument("--backbone", default="tiny", choices=("tiny", "resnet18", "resnet34", "resnet50"))
    m.add_argument("--width", type=int, default=32, help="tiny backbone width")
    m.add_argument("--pretrained", default=None, help="ResNet ImageNet weights: a local file, or 'auto' for the "
                   "torch hub cache if the file is there (nothing is downloaded)")
    m.add_argument("--crop-size", type=int, default=128)
    m.add_argument("--margin", type=float, default=1.25, help="crop side over the box's longer side")
    m.add_argument("--priors", nargs="+", default=["euclidean", "euclidean-limbs"],
                   help="prior channels of the pose variant (pose2instance.priors names)")
    m.add_argument("--no-others", action="store_true", help="pose variant: no distance-to-other-people channel")

    o = p.add_argument_group("optimisation")
    o.add_argument("--steps", type=int, default=600, help="optimizer steps (the training budget)")
    o.add_argument("--batch-size", type=int, default=16, help="crops per step per process")
    o.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw")
    o.add_argument("--lr", type=float, default=2e-3)
    o.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    o.add_argument("--weight-decay", type=float, default=1e-4)
    o.add_argument("--schedule", choices=("cosine", "step", "constant"), default="cosine")
    o.add_argument("--warmup-steps", type=int, default=30)
    o.add_argument("--clip-grad", type=float, default=5.0, help="max gradient norm (0: off)")
    o.add_argument("--keypoint-weight", type=float, default=1.0, help="weight of the heatmap loss")
    o.add_argument("--amp", choices=("auto", "off", "bf16", "fp16"), default="auto",
                   help="mixed precision on CUDA (auto: bf16 if supported else fp16); never on CPU")

    r = p.add_argument_group("run")
    r.add_argument("--out", type=Path, default=Path("runs/train"))
    r.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint "
                   "(same options; a larger --steps extends it, with the schedule computed for the new total)")
    r.add_argument("--overwrite", action="store_true", help="start over even if --out holds a run")
    r.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints")
    r.add_argument("--keep-checkpoints", type=int, default=2)
    r.add_argument("--eval-every", type=int, default=0, help="crop-level validation every N steps (0: at the end)")
    r.add_argument("--no-final-eval", action="store_true", help="skip the full-image evaluation at the end")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    r.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    r.add_argument("--deterministic", action="store_true", help="torch deterministic algorithms")
    r.add_argument("--no-progress", action="store_true")
    return p


# --------------------------------------------------------------------------------------------- helpers

class Dist:
    """Rank / world size from torchrun's environment; a no-op wrapper for a single process."""

    def __init__(self, device_arg: str | None):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        want_cuda = torch.cuda.is_available() and (device_arg is None or device_arg.startswith("cuda"))
        if self.world > 1:
            if want_cuda:
                self.device = torch.device("cuda", self.local_rank)
                torch.cuda.set_device(self.device)
            else:
                self.device = torch.device("cpu")
            dist.init_process_group("nccl" if want_cuda else "gloo")
        else:
            self.device = torch.device(device_arg) if device_arg else torch.device("cuda" if want_cuda else "cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def mean(self, values: list[float]) -> list[float]:
        """Average scalars over processes (identity with one process)."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return (t / self.world).tolist()

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def model_config_from_args(args) -> ModelConfig:
    return ModelConfig(args.variant, args.backbone, args.width, args.crop_size, args.margin, tuple(args.priors),
                       not args.no_others, pretrained=args.pretrained)


def lr_lambda(args):
    """Multiplier of the base learning rate at step ``s``: linear warm-up, then cosine / step / constant."""
    total, warm = max(args.steps, 1), max(args.warmup_steps, 0)

    def f(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        t = (s - warm) / max(total - warm, 1)
        if args.schedule == "cosine":
            return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
        if args.schedule == "step":
            return 0.1 ** (int(t >= 2 / 3) + int(t >= 8 / 9))
        return 1.0
    return f


def compute_losses(out: dict, batch: dict, keypoint_weight: float) -> tuple[torch.Tensor, dict]:
    """The training loss (see the module doc) and its parts as floats."""
    logits = out["mask"].float()
    valid = batch["valid"]
    bce = F.binary_cross_entropy_with_logits(logits, batch["mask"], reduction="none") * valid
    loss_mask = (bce.sum((1, 2, 3)) / valid.sum((1, 2, 3)).clamp(min=1.0)).mean()
    loss = loss_mask
    parts = {"loss_mask": loss_mask.detach(), "loss_kp": torch.zeros((), device=logits.device)}
    if "heatmaps" in out:
        w = batch["kp_weight"]
        target = batch["heatmaps"]
        heat = F.binary_cross_entropy_with_logits(out["heatmaps"].float(), target, reduction="none")
        # Summed over the map and divided by the Gaussian's mass (about 2 pi sigma^2 cells), not averaged
        # over all cells: averaged, the few positive cells are drowned and the head learns nothing.
        per_kp = heat.sum((2, 3)) / target.sum((2, 3)).clamp(min=1.0)
        loss_kp = ((per_kp * w).sum(1) / w.sum(1).clamp(min=1.0)).mean()
        loss = loss + keypoint_weight * loss_kp
        parts["loss_kp"] = loss_kp.detach()
    return loss, parts


def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, scalars = {}, {"param_groups": state["param_groups"], "state": {}}
    for idx, entries in state["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{idx}.{key}"] = value
            else:
                scalars["state"].setdefault(str(idx), {})[key] = value
    return tensors, scalars


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], scalars: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = value
    for idx, entries in scalars["state"].items():
        state.setdefault(int(idx), {}).update(entries)
    return {"state": state, "param_groups": scalars["param_groups"]}


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if torch.is_tensor(value):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return None  # callables (scheduler lambdas) and other objects are rebuilt, not stored


def save_checkpoint(out: Path, step: int, epoch: int, batch_in_epoch: int, model, optimizer, scheduler, scaler,
                    keep: int = 2) -> Path:
    """Write ``checkpoints/step_XXXXXXX`` (see the module doc) and point ``checkpoints/latest`` at it."""
    root = out / "checkpoints"
    name = f"step_{step:07d}"
    final = root / name
    tmp = root / f".{name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_model(model, tmp)
    opt_tensors, opt_scalars = _flatten_optimizer(optimizer.state_dict())
    tensors = dict(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    atomic_save_tensors(tmp / "train_state.safetensors", tensors)
    scalars = {"step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch, "optimizer": opt_scalars,
               "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if scaler.is_enabled() else None}
    atomic_write_text(tmp / "train_state.json", json.dumps(_json_safe(scalars), indent=1))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_text(root / "latest", name + "\n")
    done = sorted(p for p in root.glob("step_*") if p.is_dir())
    for old in done[:-max(keep, 1)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(out: Path) -> Path | None:
    """The folder named by ``checkpoints/latest``, or None."""
    pointer = out / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    path = out / "checkpoints" / pointer.read_text().strip()
    if not (path / "train_state.json").is_file():
        raise CheckpointError(f"{pointer} names {path}, which is not a complete checkpoint")
    return path


#: Options that fix the sample order, the schedule and the model: a resumed run must keep them
#: (``--steps`` may grow, to train longer: the schedule then stretches from the resumed step on).
RESUME_FIXED = ("annotations", "images", "val_fraction", "split_seed", "min_area", "require_keypoints",
                "no_augment", "scale_jitter", "shift_jitter", "batch_size", "optimizer", "lr", "momentum",
                "weight_decay", "schedule", "warmup_steps", "keypoint_weight", "seed", "world_size")


def _run_arguments(args, world: int) -> dict:
    """The run's options as JSON-ready values, plus the number of processes."""
    def plain(v):
        return str(v) if isinstance(v, Path) else [plain(x) for x in v] if isinstance(v, list) else v
    return {**{k: plain(v) for k, v in vars(args).items() if k != "func"}, "world_size": world}


def _check_same_run(saved_path: Path, now: dict) -> None:
    """Refuse to resume with options that would change what an uninterrupted run does."""
    if not saved_path.is_file():
        return
    try:
        saved = json.loads(saved_path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{saved_path}: invalid JSON ({e.msg})") from e
    diff = [k for k in RESUME_FIXED if k in saved and saved[k] != now.get(k)]
    if saved.get("steps") not in (None, now.get("steps")):
        print(f"note: --steps changed from {saved['steps']} to {now.get('steps')}: the learning-rate schedule "
              "differs from the original run's from here on", file=sys.stderr)
    if diff:
        raise ValueError(f"--resume with other options than {saved_path} would not continue the same run: "
                         + ", ".join(f"{k}: was {saved[k]!r}, now {now.get(k)!r}" for k in diff)
                         + " (use a new --out to start a different run)")


def load_checkpoint(path: Path, model: PersonNet, optimizer, scheduler, scaler, config: ModelConfig) -> dict:
    """Restore model, optimizer, scheduler, scaler and RNG from a checkpoint folder; returns its scalars."""
    from .models.networks import read_config
    weights = path / "model.safetensors"
    state, meta = _read_tensors(weights)
    saved = read_config(weights, meta)
    mine, theirs = config.to_json(), saved.to_json()
    diff = [k for k in mine if k not in ("pretrained", "norm", "extra") and mine[k] != theirs.get(k)]
    if diff:
        raise CheckpointError(f"{weights}: checkpoint was trained with a different model config ("
                              + ", ".join(f"{k}: checkpoint {theirs.get(k)!r}, now {mine[k]!r}" for k in diff) + ")")
    load_state_checked(model, state, str(weights))
    try:
        scalars = json.loads((path / "train_state.json").read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path / 'train_state.json'}: invalid JSON ({e.msg})") from e
    tensors, _ = _read_tensors(path / "train_state.safetensors")
    optimizer.load_state_dict(_unflatten_optimizer(tensors, scalars["optimizer"]))
    scheduler.load_state_dict(scalars["scheduler"])
    if scalars.get("scaler") and scaler.is_enabled():
        scaler.load_state_dict(scalars["scaler"])
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(tensors["rng.cuda"]))
    return scalars


def _truncate_csv(path: Path, step: int) -> None:
    """Keep the header and the rows with ``step <= step`` (rows a killed run wrote after its last checkpoint go)."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= step]
    text = "".join(",".join(r) + "\n" for r in kept)
    atomic_write_text(path, text)


class CsvLog:
    """Append rows to a CSV file (header on creation), flushed after every row."""

    def __init__(self, path: Path, fields: list[str]):
        self.fields = fields
        new = not path.is_file() or path.stat().st_size == 0
        self.file = open(path, "a", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=fields)
        if new:
            self.writer.writeheader()
            self.file.flush()

    def write(self, row: dict) -> None:
        self.writer.writerow({k: row.get(k, "") for k in self.fields})
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


@torch.no_grad()
def crop_validation(model: PersonNet, dataset: PersonCropDataset, device: torch.device, batch_size: int) -> dict:
    """Mean loss and mean crop-level IoU (``logit > 0`` vs the mask, valid pixels) over a validation set."""
    model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    losses, ious = [], []
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        out = model(batch["input"])
        loss, _ = compute_losses(out, batch, 1.0)
        losses.append(float(loss) * len(batch["input"]))
        pred = (out["mask"] > 0) & (batch["valid"] > 0)
        gt = (batch["mask"] > 0.5) & (batch["valid"] > 0)
        inter = (pred & gt).sum((1, 2, 3)).float()
        union = (pred | gt).sum((1, 2, 3)).float()
        ious.extend(torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).tolist())
    model.train()
    return {"val_loss": sum(losses) / max(len(ious), 1), "val_crop_iou": float(np.mean(ious)) if ious else float("nan")}


# --------------------------------------------------------------------------------------------- main loop

def run_train(args) -> int:
    """Train one network as configured by :func:`add_train_arguments`'s options; returns an exit code."""
    env = Dist(args.device)
    try:
        return _train(args, env)
    finally:
        env.close()


def _train(args, env: Dist) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=env.device.type == "cuda")
    if args.steps < 1 or args.batch_size < 1:
        raise ValueError("--steps and --batch-size must be positive")
    if args.warmup_steps >= args.steps and env.main:
        print(f"note: --warmup-steps {args.warmup_steps} >= --steps {args.steps}: the learning rate never reaches "
              f"--lr {args.lr}", file=sys.stderr)
    out = Path(args.out)
    resume_from = latest_checkpoint(out) if args.resume else None
    if not args.resume and not args.overwrite and (out / "checkpoints" / "latest").is_file():
        raise ValueError(f"{out} already holds a run; pass --resume to continue it or --overwrite to start over")
    if env.main:
        out.mkdir(parents=True, exist_ok=True)
        if args.overwrite and not args.resume:
            for name in ("checkpoints", "metrics.csv", "val.csv"):
                target = out / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
    env.barrier()

    if args.val_fraction > 0 and args.val_annotations:
        raise ValueError("--val-fraction and --val-annotations exclude each other: the held-out part of the "
                         "first file would be neither trained on nor evaluated")
    run_args = _run_arguments(args, env.world)
    if resume_from is not None:
        _check_same_run(out / "train_args.json", run_args)

    # Data.
    sources = coco_sources(args.annotations, args.images)
    first_train, val_ids = sources[0].image_ids, []
    if args.val_fraction > 0:
        first_train, val_ids = split_image_ids(sources[0].image_ids, args.val_fraction, args.split_seed)
    config = model_config_from_args(args)
    train_set = PersonCropDataset([(sources[0], first_train)] + [(s, None) for s in sources[1:]], config,
                                  augment=not args.no_augment, seed=args.seed, min_area=args.min_area,
                                  require_keypoints=args.require_keypoints, scale_jitter=args.scale_jitter,
                                  shift_jitter=args.shift_jitter, cache_images=not args.no_cache)
    val_source, val_set = None, None
    if args.val_annotations:
        val_source = coco_sources([args.val_annotations])[0]
        val_ids = val_source.image_ids
    elif val_ids:
        val_source = sources[0]
    if val_source is not None and val_ids:
        val_set = PersonCropDataset([(val_source, val_ids)], config, augment=False, min_area=args.min_area,
                                    require_keypoints=args.require_keypoints, cache_images=not args.no_cache)

    # Model, optimiser, schedule, precision. Same seed on every rank: identical initial weights.
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    model = PersonNet(config).to(env.device)
    params = [p for p in model.parameters() if p.requires_grad]
    if args.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(args))
    amp_dtype = None
    if env.device.type == "cuda" and args.amp != "off":
        bf16 = args.amp == "bf16" or (args.amp == "auto" and torch.cuda.is_bf16_supported())
        amp_dtype = torch.bfloat16 if bf16 else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    step, epoch, batch_in_epoch = 0, 0, 0
    if resume_from is not None:
        scalars = load_checkpoint(resume_from, model, optimizer, scheduler, scaler, config)
        step, epoch, batch_in_epoch = scalars["step"], scalars["epoch"], scalars["batch_in_epoch"]
        if env.main:
            print(f"resuming from {resume_from} at step {step} of {args.steps}", file=sys.stderr)
    elif args.resume and env.main:
        print(f"note: no checkpoint in {out}/checkpoints; starting from scratch", file=sys.stderr)
    ddp_model = model
    if env.world > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[env.local_rank] if env.device.type == "cuda" else None)

    # Logs (rank 0).
    log = val_log = writer = None
    if env.main:
        atomic_write_text(out / "config.json", json.dumps(config.to_json(), indent=2) + "\n")
        atomic_write_text(out / "train_args.json", json.dumps(run_args, indent=1) + "\n")
        _truncate_csv(out / "metrics.csv", step)
        _truncate_csv(out / "val.csv", step)
        log = CsvLog(out / "metrics.csv", METRIC_FIELDS)
        val_log = CsvLog(out / "val.csv", VAL_FIELDS)
        try:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(out / "tensorboard"), purge_step=step + 1)
        except ImportError:
            writer = None
        print(f"train: {len(train_set)} person crops ({len(first_train)} images of {args.annotations[0].name}"
              + "".join(f" + {s.path.name}" for s in sources[1:]) + f"), val: {len(val_set) if val_set else 0} crops, "
              f"{config.variant} / {config.backbone}, {sum(p.numel() for p in model.parameters()):,} parameters, "
              f"device {env.device}, {env.world} process(es), amp {amp_dtype or 'off'}", file=sys.stderr)

    sampler = torch.utils.data.DistributedSampler(train_set, num_replicas=env.world, rank=env.rank, shuffle=True,
                                                  seed=args.seed, drop_last=False)
    bar = tqdm(total=args.steps, initial=step, desc=f"train {config.variant}", unit="step",
               disable=not env.main or args.no_progress, dynamic_ncols=True)
    ddp_model.train()
    t_last = time.perf_counter()
    while step < args.steps:
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        order = list(sampler)
        batches = [order[i:i + args.batch_size] for i in range(0, len(order) - args.batch_size + 1, args.batch_size)]
        if not batches:
            raise ValueError(f"{len(train_set)} training crops over {env.world} process(es) do not fill one batch of "
                             f"{args.batch_size}; lower --batch-size")
        loader = torch.utils.data.DataLoader(train_set, batch_sampler=batches[batch_in_epoch:],
                                             num_workers=args.workers, pin_memory=env.device.type == "cuda")
        for batch in loader:
            batch = {k: v.to(env.device, non_blocking=True) for k, v in batch.items()}
            with torch.autocast(env.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                outputs = ddp_model(batch["input"])
            loss, parts = compute_losses(outputs, batch, args.keypoint_weight)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(params, args.clip_grad if args.clip_grad > 0 else float("inf"))
            lr = optimizer.param_groups[0]["lr"]
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            batch_in_epoch += 1
            loss_v, mask_v, kp_v = env.mean([float(loss.detach()), float(parts["loss_mask"]), float(parts["loss_kp"])])
            now = time.perf_counter()
            row = {"step": step, "epoch": epoch, "loss": loss_v, "loss_mask": mask_v, "loss_kp": kp_v, "lr": lr,
                   "grad_norm": float(grad_norm), "crops_per_s": len(batch["input"]) * env.world / max(now - t_last, 1e-9),
                   "seconds": now - t_last}
            t_last = now
            if not math.isfinite(loss_v):
                raise FloatingPointError(f"loss is {loss_v} at step {step}; lower --lr or check the data")
            if env.main:
                log.write({k: _fmt(v) for k, v in row.items()})
                if writer:
                    for k in ("loss", "loss_mask", "loss_kp", "lr", "grad_norm", "crops_per_s"):
                        writer.add_scalar(f"train/{k}", row[k], step)
                bar.update(1)
                bar.set_postfix(loss=f"{loss_v:.4f}", lr=f"{lr:.2e}")
            if val_set is not None and args.eval_every and step % args.eval_every == 0 and step < args.steps:
                if env.main:
                    v = crop_validation(model, val_set, env.device, args.batch_size)
                    val_log.write({"step": step, **{k: _fmt(x) for k, x in v.items()}})
                env.barrier()
            if step % args.checkpoint_every == 0 or step == args.steps:
                if env.main:
                    save_checkpoint(out, step, epoch, batch_in_epoch, model, optimizer, scheduler, scaler,
                                    args.keep_checkpoints)
                env.barrier()
            if step >= args.steps:
                break
        if batch_in_epoch >= len(batches):
            epoch += 1
            batch_in_epoch = 0
    bar.close()

    if env.main:
        save_model(model, out)
        if val_set is not None:
            v = crop_validation(model, val_set, env.device, args.batch_size)
            val_log.write({"step": step, **{k: _fmt(x) for k, x in v.items()}})
            print(f"crop validation at step {step}: loss {v['val_loss']:.4f}, crop IoU {v['val_crop_iou']:.3f}",
                  file=sys.stderr)
            if not args.no_final_eval:
                from .models.predictor import Predictor, evaluate_predictor
                metrics = evaluate_predictor(Predictor(model, env.device), val_source, val_ids)
                atomic_write_text(out / "val_metrics.json", json.dumps(
                    {"images": len(val_ids), "annotations": str(val_source.path), "protocol":
                     "ground-truth boxes and keypoints, persons with keypoints", **metrics}, indent=1) + "\n")
                print("full-image validation: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()
                                                            if isinstance(v, float)), file=sys.stderr)
        log.close()
        val_log.close()
        if writer:
            writer.close()
        print(f"wrote {out / 'model.safetensors'} and {out / 'config.json'}", file=sys.stderr)
    env.barrier()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = add_train_arguments(argparse.ArgumentParser(prog="pose2instance train", description=__doc__.split("\n\n")[0]))
    args = parser.parse_args(argv)
    try:
        return run_train(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"pose2instance train: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        try:
            last = latest_checkpoint(Path(args.out))
        except CheckpointError:
            last = None
        where = f"the last checkpoint is {last}" if last else "no checkpoint was written yet"
        print(f"\npose2instance train: interrupted; {where}. Continue with the same command plus --resume.",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
