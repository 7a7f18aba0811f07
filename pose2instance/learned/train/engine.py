"""Training engine for the person-crop networks: single process, or many GPUs / nodes with torchrun.

    python -m pose2instance.learned.train --annotations A.json [B.json ...] --variant pose --steps 600 --out runs/pose
    torchrun --nproc_per_node 8 -m pose2instance.learned.train ... (DistributedDataParallel; gloo on CPU, nccl on GPU)

What it does (one optimizer step = one batch per process):

* data: :class:`pose2instance.learned.dataset.PersonCropDataset` over the ``--annotations`` files
  (:func:`build_datasets`); ``--val-fraction`` holds out a fraction of each file's images by image
  id (:func:`pose2instance.evaluation.splits.split_image_ids`), or ``--val-annotations`` gives a
  separate validation file; held-out images are never trained on, through any file; crowd
  regions are ignored in the loss; augmentation as configured (``--copy-paste`` ...);
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
import json
import math
import os
import shutil
import signal
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ...io import atomic_write_text, json_safe
from ...evaluation.splits import split_image_ids
from ...limits import apply_limit_arguments
from ..dataset import PersonCropDataset, coco_sources
from ..models.networks import PersonNet, save_model
from ..models.weights import CheckpointError
from .args import add_train_arguments, augmentation_from_args, model_config_from_args
from .config import TrainConfig, read_recipe
from .checkpoint import (check_same_run, latest_checkpoint, load_newest_valid, resume_candidates, run_arguments,
                         save_checkpoint)
from .distributed import Dist
from .logs import METRIC_FIELDS, VAL_FIELDS, CsvLog, crop_validation, fmt, truncate_csv
from .losses import compute_losses, lr_lambda


def run_train(args: TrainConfig) -> int:
    """Train one network as configured (a :class:`~.config.TrainConfig`); returns an exit code."""
    env = Dist(args.device)
    try:
        return _train(args, env)
    finally:
        env.close()


@dataclass
class Run:
    """The state of one training run, shared by the steps of :func:`_train`."""

    args: TrainConfig
    env: Dist
    out: Path
    model: PersonNet
    ddp_model: torch.nn.Module
    params: list
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    train_set: PersonCropDataset
    val_set: PersonCropDataset | None
    val_sources: list
    val_ids: list[list[int]]
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0


def _prepare_out(args, env: Dist) -> tuple[Path, Path | None, dict]:
    """Check the options against ``--out``; clear it for ``--overwrite``.

    Returns ``(out, the run folder to resume from or None, run options)``.
    """
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
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    if env.main:
        try:  # before any data is read: a folder that cannot be written loses nothing
            out.mkdir(parents=True, exist_ok=True)
            probe = out / f".write_test_{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise ValueError(f"--out {out} cannot be written ({e.strerror or type(e).__name__})") from None
    resume_from = out if args.resume and resume_candidates(out) else None
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
    run_args = run_arguments(args, env.world)
    if resume_from is not None:
        check_same_run(out / "train_args.json", run_args)
    return out, resume_from, run_args


def build_datasets(args, config) -> tuple[PersonCropDataset, PersonCropDataset | None, list, list]:
    """``(train set, val set or None, val sources, val image ids per val source)`` from the data options.

    ``--val-fraction`` holds out that fraction of each file's images by image id
    (:func:`~pose2instance.evaluation.splits.split_image_ids`); ``--val-annotations`` is a
    separate file. ``--held-out-fraction`` takes a test part first (the hash range below it),
    used neither for training nor validation; the validation part is the next range. An
    image that is held out, a test image or in the validation file is trained on through no
    other file either: images are matched by file name, and a training file's copies are
    dropped with a warning.
    """
    if any(f > 0 for f in args.val_fraction) and args.val_annotations:
        raise ValueError("--val-fraction and --val-annotations exclude each other: the held-out parts would be "
                         "neither trained on nor evaluated")
    sources = coco_sources(args.annotations, args.images)
    fractions, tests = (_per_file(args, name, len(sources)) for name in ("val_fraction", "held_out_fraction"))
    test_ids = [split_image_ids(s.image_ids, t, args.split_seed)[1] for s, t in zip(sources, tests)]
    splits = []
    for source, f, t, test in zip(sources, fractions, tests, test_ids):
        rest, val = split_image_ids(source.image_ids, f, args.split_seed, after=t)
        splits.append((sorted(set(rest) - set(test)), val))
    if args.val_annotations:
        val_sources = coco_sources([args.val_annotations])
        val_ids = [val_sources[0].image_ids]
    else:
        val_sources = [s for s, (_, held) in zip(sources, splits) if held]
        val_ids = [held for _, held in splits if held]
    held_names = {_file_name(s, i) for s, ids in [*zip(val_sources, val_ids), *zip(sources, test_ids)] for i in ids}
    train_parts = []
    for source, (train, _) in zip(sources, splits):
        kept = [i for i in train if _file_name(source, i) not in held_names]
        if len(kept) < len(train):
            warnings.warn(f"{source.path}: {len(train) - len(kept)} image(s) are held out or validation images "
                          "of another file; not trained on")
        train_parts.append((source, kept))
    train_set = PersonCropDataset(train_parts, config, augment=augmentation_from_args(args), seed=args.seed,
                                  min_area=args.min_area, require_keypoints=args.require_keypoints,
                                  cache_images=not args.no_cache, score_cache=args.score_cache)
    val_set = None
    if val_sources:
        val_set = PersonCropDataset(list(zip(val_sources, val_ids)), config, augment=False, min_area=args.min_area,
                                    require_keypoints=args.require_keypoints, cache_images=not args.no_cache,
                                    score_cache=args.score_cache)
    return train_set, val_set, val_sources, val_ids


def _per_file(args, name: str, files: int) -> list[float]:
    """The per-file fractions of option ``name`` (missing values are 0)."""
    values = list(getattr(args, name))
    if len(values) > files:
        raise ValueError(f"--{name.replace('_', '-')} has {len(values)} values for {files} annotation file(s)")
    return values + [0.0] * (files - len(values))


def _file_name(source, image_id: int) -> str:
    return Path(source.image(image_id)["file_name"]).name


def _build_run(args, env: Dist, out: Path, resume_from: Path | None) -> Run:
    """Data, model, optimiser, schedule and precision; restored from ``resume_from`` when given."""
    config = model_config_from_args(args)
    train_set, val_set, val_sources, val_ids = build_datasets(args, config)
    torch.manual_seed(args.seed)  # same seed on every rank: identical initial weights
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
    run = Run(args, env, out, model, model, params, optimizer, scheduler, scaler, amp_dtype, train_set, val_set,
              val_sources, val_ids)
    if resume_from is not None:
        path, scalars = load_newest_valid(resume_from, model, optimizer, scheduler, scaler, config, warn=env.main)
        run.step, run.epoch, run.batch_in_epoch = scalars["step"], scalars["epoch"], scalars["batch_in_epoch"]
        if env.main:
            print(f"resuming from {path} at step {run.step} of {args.steps}", file=sys.stderr)
    elif args.resume and env.main:
        print(f"note: no checkpoint in {out}/checkpoints; starting from scratch", file=sys.stderr)
    if env.world > 1:
        run.ddp_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[env.local_rank] if env.device.type == "cuda" else None)
    return run


class Logs:
    """``metrics.csv``, ``val.csv`` and TensorBoard (when installed) of rank 0; nothing on other ranks."""

    def __init__(self, run: Run, run_args: dict):
        self.metrics = self.val = self.writer = None
        if not run.env.main:
            return
        out, config = run.out, run.model.config
        atomic_write_text(out / "config.json", json.dumps(config.to_json(), indent=2) + "\n")
        atomic_write_text(out / "train_args.json", json.dumps(run_args, indent=1) + "\n")
        truncate_csv(out / "metrics.csv", run.step)
        truncate_csv(out / "val.csv", run.step)
        self.metrics = CsvLog(out / "metrics.csv", METRIC_FIELDS)
        self.val = CsvLog(out / "val.csv", VAL_FIELDS)
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=run.step + 1)
        except ImportError:
            self.writer = None
        args = run.args
        print(f"train: {len(run.train_set)} person crops ({', '.join(s.path.name for s in run.train_set.sources)}), "
              f"val: {len(run.val_set) if run.val_set else 0} crops, {config.variant} / {config.backbone}, "
              f"{sum(p.numel() for p in run.model.parameters()):,} parameters, device {run.env.device}, "
              f"{run.env.world} process(es), amp {run.amp_dtype or 'off'}, {args.steps} steps", file=sys.stderr)

    def step(self, row: dict) -> None:
        if self.metrics is None:
            return
        self.metrics.write({k: fmt(v) for k, v in row.items()})
        if self.writer:
            for k in ("loss", "loss_mask", "loss_kp", "lr", "grad_norm", "crops_per_s"):
                self.writer.add_scalar(f"train/{k}", row[k], row["step"])

    def validation(self, step: int, values: dict) -> None:
        if self.val is not None:
            self.val.write({"step": step, **{k: fmt(x) for k, x in values.items()}})

    def close(self) -> None:
        for f in (self.metrics, self.val, self.writer):
            if f is not None:
                f.close()


def _train_step(run: Run, batch: dict, t_last: float) -> dict:
    """One optimizer step on ``batch``; returns the logged row (losses averaged over processes)."""
    env, args = run.env, run.args
    batch = {k: v.to(env.device, non_blocking=True) for k, v in batch.items()}
    with torch.autocast(env.device.type, dtype=run.amp_dtype or torch.float32, enabled=run.amp_dtype is not None):
        outputs = run.ddp_model(batch["input"])
    loss, parts = compute_losses(outputs, batch, args.keypoint_weight, args.iou_loss_weight)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.unscale_(run.optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(run.params, args.clip_grad if args.clip_grad > 0 else float("inf"))
    lr = run.optimizer.param_groups[0]["lr"]
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.scheduler.step()
    run.step += 1
    run.batch_in_epoch += 1
    loss_v, mask_v, kp_v = env.mean([float(loss.detach()), float(parts["loss_mask"]), float(parts["loss_kp"])])
    if not math.isfinite(loss_v):
        raise FloatingPointError(f"loss is {loss_v} at step {run.step}; lower --lr or check the data")
    now = time.perf_counter()
    return {"step": run.step, "epoch": run.epoch, "loss": loss_v, "loss_mask": mask_v, "loss_kp": kp_v, "lr": lr,
            "grad_norm": float(grad_norm), "crops_per_s": len(batch["input"]) * env.world / max(now - t_last, 1e-9),
            "seconds": now - t_last}


def _epoch_batches(run: Run, sampler) -> list[list[int]]:
    """The sample indices of every batch of the current epoch (the same on any number of processes)."""
    sampler.set_epoch(run.epoch)
    run.train_set.set_epoch(run.epoch)
    order = list(sampler)
    size = run.args.batch_size
    batches = [order[i:i + size] for i in range(0, len(order) - size + 1, size)]
    if not batches:
        raise ValueError(f"{len(run.train_set)} training crops over {run.env.world} process(es) do not fill one "
                         f"batch of {size}; lower --batch-size")
    return batches


def _after_step(run: Run, logs: Logs) -> None:
    """Periodic crop validation and checkpoints."""
    args, env = run.args, run.env
    if run.val_set is not None and args.eval_every and run.step % args.eval_every == 0 and run.step < args.steps:
        if env.main:
            logs.validation(run.step, crop_validation(run.model, run.val_set, env.device, args.batch_size))
        env.barrier()
    if run.step % args.checkpoint_every == 0 or run.step == args.steps:
        if env.main:
            save_checkpoint(run.out, run.step, run.epoch, run.batch_in_epoch, run.model, run.optimizer, run.scheduler,
                            run.scaler, args.keep_checkpoints)
        env.barrier()


class StopOnInterrupt:
    """Turns Ctrl-C (SIGINT) into a request that the loop honours between two steps.

    A KeyboardInterrupt raised at an arbitrary bytecode can land in a finalizer (``__del__``),
    where Python prints and ignores it, and training would go on. With this handler the
    first Ctrl-C sets :attr:`requested` and the loop raises KeyboardInterrupt after the
    current step; a second Ctrl-C raises at once. Outside the main thread it does nothing.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "StopOnInterrupt":
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread
            self._previous = None
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt


def _loop(run: Run, logs: Logs) -> None:
    """Optimizer steps until ``--steps``, epoch after epoch, resumable at any checkpointed batch."""
    with StopOnInterrupt() as stop:
        if run.step == 0 and run.args.calibrate_steps > 0:
            _calibrate(run, stop)
        _steps(run, logs, stop)


def _calibrate(run: Run, stop: StopOnInterrupt) -> None:
    """``--calibrate-steps N``: fit the pretrained mask's scale alone, before any other weight moves.

    The network runs once on ``N`` training batches (the first of a fixed permutation, so every process sees
    the same); then ``scale`` of ``mask = scale * raw + bias`` minimises the mask BCE over those pixels (L-BFGS
    on ``log scale``). The bias stays, so the thresholded mask is still the pretrained network's own: BlazePose's
    raw logits span about -1500 .. 300, with the person's pixels in a tight cluster near +130, and a fitted bias
    moves the threshold past that cluster (validation crop IoU 0.65 with the scale alone, 0.03 with the bias
    fitted too). Trained straight away, the first steps would wreck the pretrained weights before the scale
    caught up.
    """
    args, model = run.args, run.model
    calibration = [p for n, p in model.named_parameters() if n.endswith("calibration")]
    if not calibration:
        raise ValueError("--calibrate-steps needs a network with a pretrained mask to calibrate (--backbone blazepose)")
    param = calibration[0]
    order = torch.randperm(len(run.train_set), generator=torch.Generator().manual_seed(args.seed)).tolist()
    size = args.batch_size
    batches = [order[i:i + size] for i in range(0, len(order) - size + 1, size)][:args.calibrate_steps]
    loader = torch.utils.data.DataLoader(run.train_set, batch_sampler=batches, num_workers=args.workers)
    raws, targets, valids = [], [], []
    model.eval()
    with torch.no_grad():
        scale, bias = (float(v) for v in param)
        for batch in loader:
            mask = model(batch["input"].to(run.env.device))["mask"].float()
            raws.append((mask - bias) / scale)
            targets.append(batch["mask"].to(run.env.device))
            valids.append(batch["valid"].to(run.env.device))
            stop.check()
    raw, target, valid = torch.cat(raws), torch.cat(targets), torch.cat(valids)
    log_scale = torch.zeros((), device=raw.device, requires_grad=True)
    shift = torch.tensor(bias, device=raw.device)
    with torch.no_grad():  # start where the logits are of order one
        log_scale.fill_(-math.log(max(float(raw.abs().mean()), 1.0)))
    optimizer = torch.optim.LBFGS([log_scale], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def mask_bce(scale: torch.Tensor) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits(raw * scale + shift, target, reduction="none")
        return (bce * valid).sum() / valid.sum().clamp(min=1.0)

    def closure():
        optimizer.zero_grad()
        loss = mask_bce(log_scale.exp())
        loss.backward()
        return loss
    optimizer.step(closure)
    with torch.no_grad():
        param[0] = log_scale.exp()
        loss = mask_bce(param[0])
    if run.env.main:
        print(f"calibrated the pretrained mask on {len(raw)} crops: scale {param[0].item():.4g}, "
              f"mask BCE {float(loss):.4f}", file=sys.stderr)


def _steps(run: Run, logs: Logs, stop: StopOnInterrupt) -> None:
    args, env = run.args, run.env
    sampler = torch.utils.data.DistributedSampler(run.train_set, num_replicas=env.world, rank=env.rank, shuffle=True,
                                                  seed=args.seed, drop_last=False)
    bar = tqdm(total=args.steps, initial=run.step, desc=f"train {run.model.config.variant}", unit="step",
               disable=not env.main or args.no_progress, dynamic_ncols=True)
    run.ddp_model.train()
    t_last = time.perf_counter()
    while run.step < args.steps:
        batches = _epoch_batches(run, sampler)
        loader = torch.utils.data.DataLoader(run.train_set, batch_sampler=batches[run.batch_in_epoch:],
                                             num_workers=args.workers, pin_memory=env.device.type == "cuda")
        for batch in loader:
            row = _train_step(run, batch, t_last)
            t_last = time.perf_counter()
            logs.step(row)
            if env.main:
                bar.update(1)
                bar.set_postfix(loss=f"{row['loss']:.4f}", lr=f"{row['lr']:.2e}")
            _after_step(run, logs)
            stop.check()
            if run.step >= args.steps:
                break
        if run.batch_in_epoch >= len(batches):
            run.epoch += 1
            run.batch_in_epoch = 0
    bar.close()


def _finish(run: Run, logs: Logs) -> None:
    """Rank 0: final weights, crop validation, and the full-image evaluation of the held-out images."""
    args, env, out = run.args, run.env, run.out
    save_model(run.model, out)
    if run.val_set is not None:
        v = crop_validation(run.model, run.val_set, env.device, args.batch_size)
        logs.validation(run.step, v)
        print(f"crop validation at step {run.step}: loss {v['val_loss']:.4f}, crop IoU {v['val_crop_iou']:.3f}",
              file=sys.stderr)
        if not args.no_final_eval:
            _final_evaluation(run)
    print(f"wrote {out / 'model.safetensors'} and {out / 'config.json'}", file=sys.stderr)


def _final_evaluation(run: Run) -> None:
    """Full-image evaluation of the trained network on every held-out part -> ``val_metrics.json``."""
    from ...evaluation import evaluate_dataset
    from ..scores import LearnedMasks
    method = LearnedMasks(run.model, run.env.device)
    parts = {}
    for source, ids in zip(run.val_sources, run.val_ids):
        report = evaluate_dataset(source, [method], image_ids=ids, progress=False)
        metrics = report["methods"]["learned"]
        parts[source.path.name] = {"images": len(ids), "failed": report["failed"], **metrics}
        print(f"full-image validation, {source.path.name} ({len(ids)} images): "
              + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float)), file=sys.stderr)
    atomic_write_text(run.out / "val_metrics.json", json.dumps(json_safe(
        {"protocol": "ground-truth boxes and keypoints, persons with keypoints, held-out images", "parts": parts}),
        indent=1) + "\n")


def _train(args, env: Dist) -> int:
    out, resume_from, run_args = _prepare_out(args, env)
    run = _build_run(args, env, out, resume_from)
    logs = Logs(run, run_args)
    try:
        _loop(run, logs)
        if env.main:
            _finish(run, logs)
    finally:
        logs.close()
    env.barrier()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = add_train_arguments(argparse.ArgumentParser(prog="pose2instance train",
                                                         description=__doc__.split("\n\n")[0]))
    args = parser.parse_args(argv)
    try:
        if args.recipe:  # the recipe's options become the defaults: the command line's own win over them
            parser.set_defaults(**read_recipe(args.recipe))
            args = parser.parse_args(argv)
        config = TrainConfig.from_namespace(args)
        apply_limit_arguments(config)
        return run_train(config)
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


