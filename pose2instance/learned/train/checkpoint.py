"""Training checkpoints: ``checkpoints/step_XXXXXXX/`` written atomically, found again, restored exactly.

A checkpoint folder holds ``model.safetensors`` + ``config.json`` + ``train_state.safetensors``
(optimizer, scaler and RNG tensors) + ``train_state.json`` (step, epoch, batch position,
scheduler and other scalars). It is written to a temporary folder that is renamed into
place, then ``checkpoints/latest`` is replaced atomically. No pickles.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import torch

from ...io import atomic_write_text, json_safe
from ..models.networks import ModelConfig, PersonNet, read_config, save_model
from ..models.weights import CheckpointError, atomic_save_tensors, load_state_checked, read_tensors


def flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, scalars = {}, {"param_groups": state["param_groups"], "state": {}}
    for idx, entries in state["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{idx}.{key}"] = value
            else:
                scalars["state"].setdefault(str(idx), {})[key] = value
    return tensors, scalars


def unflatten_optimizer(tensors: dict[str, torch.Tensor], scalars: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = value
    for idx, entries in scalars["state"].items():
        state.setdefault(int(idx), {}).update(entries)
    return {"state": state, "param_groups": scalars["param_groups"]}


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
    opt_tensors, opt_scalars = flatten_optimizer(optimizer.state_dict())
    tensors = dict(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    atomic_save_tensors(tmp / "train_state.safetensors", tensors)
    scalars = {"step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch, "optimizer": opt_scalars,
               "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if scaler.is_enabled() else None}
    atomic_write_text(tmp / "train_state.json", json.dumps(json_safe(scalars), indent=1))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_text(root / "latest", name + "\n")
    # checkpoints after this step come from a timeline that was resumed from an older one (a damaged latest
    # checkpoint was skipped): they are stale, and must not take the places of the ones kept
    steps = sorted(p for p in root.glob("step_*") if p.is_dir())
    stale = [p for p in steps if p.name > name]
    done = [p for p in steps if p.name <= name]
    for old in stale + done[:-max(keep, 1)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


class ConfigMismatch(CheckpointError):
    """A checkpoint of another model config: not a damaged file, so no older checkpoint is tried instead."""


def latest_checkpoint(out: Path) -> Path | None:
    """The folder named by ``checkpoints/latest``, or None."""
    pointer = out / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    path = out / "checkpoints" / pointer.read_text().strip()
    if not (path / "train_state.json").is_file():
        raise CheckpointError(f"{pointer} names {path}, which is not a complete checkpoint")
    return path


def resume_candidates(out: Path) -> list[Path]:
    """The checkpoints to resume from, best first: the one ``checkpoints/latest`` names, then the others newest
    first."""
    root = out / "checkpoints"
    pointer = root / "latest"
    first = [root / pointer.read_text(errors="replace").strip()] if pointer.is_file() else []
    others = sorted((p for p in root.glob("step_*") if p.is_dir() and p not in first), reverse=True)
    return first + others


def load_newest_valid(out: Path, model: PersonNet, optimizer, scheduler, scaler, config: ModelConfig,
                      warn: bool = True) -> tuple[Path, dict] | None:
    """Restore the newest checkpoint of ``out`` that loads (see :func:`load_checkpoint`); None if there is none.

    A damaged checkpoint (a cut-off or overwritten file) is skipped with a warning naming it
    and the error, and the next older one is tried; every restore replaces all the state, so
    a partly loaded damaged one leaves nothing behind.

    Raises:
        ConfigMismatch: the checkpoints were trained with another model config.
        CheckpointError: checkpoints exist but none loads (the message names each error).
    """
    errors = []
    for path in resume_candidates(out):
        try:
            scalars = load_checkpoint(path, model, optimizer, scheduler, scaler, config)
        except ConfigMismatch:
            raise
        except (CheckpointError, OSError, KeyError, ValueError, RuntimeError) as e:
            errors.append(f"{path.name}: {e}")
            if warn:
                print(f"warning: cannot resume from {path} ({e}); trying an older checkpoint", file=sys.stderr)
            continue
        if errors and warn:
            print(f"warning: resuming from the older checkpoint {path}: the steps after it are done again",
                  file=sys.stderr)
        return path, scalars
    if errors:
        raise CheckpointError(f"no checkpoint in {out / 'checkpoints'} can be resumed from: " + "; ".join(errors))
    return None


#: Options that fix the sample order, the schedule and the model: a resumed run must keep them
#: (``--steps`` may grow, to train longer: the schedule then stretches from the resumed step on).
RESUME_FIXED = ("annotations", "images", "val_fraction", "held_out_fraction", "split_seed", "min_area",
                "require_keypoints", "no_augment", "scale_jitter", "shift_jitter", "copy_paste", "colour_jitter",
                "truncate", "rotate", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "clip_grad", "amp",
                "schedule", "warmup_steps", "keypoint_weight", "iou_loss_weight", "seed", "world_size")


def run_arguments(args, world: int) -> dict:
    """The run's options as JSON-ready values, plus the number of processes."""
    def plain(v):
        return str(v) if isinstance(v, Path) else [plain(x) for x in v] if isinstance(v, list) else v
    return {**{k: plain(v) for k, v in vars(args).items() if k != "func"}, "world_size": world}


def check_same_run(saved_path: Path, now: dict) -> None:
    """Refuse to resume with options that would change what an uninterrupted run does."""
    if not saved_path.is_file():
        return
    try:
        saved = json.loads(saved_path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{saved_path}: invalid JSON ({e.msg})") from e
    if isinstance(saved.get("val_fraction"), float):  # runs from before per-file fractions
        saved["val_fraction"] = [saved["val_fraction"]]
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
    weights = path / "model.safetensors"
    state, meta = read_tensors(weights)
    saved = read_config(weights, meta)
    mine, theirs = config.to_json(), saved.to_json()
    diff = [k for k in mine if k not in ("pretrained", "norm", "extra") and mine[k] != theirs.get(k)]
    if diff:
        raise ConfigMismatch(f"{weights}: checkpoint was trained with a different model config ("
                              + ", ".join(f"{k}: checkpoint {theirs.get(k)!r}, now {mine[k]!r}" for k in diff) + ")")
    load_state_checked(model, state, str(weights))
    try:
        scalars = json.loads((path / "train_state.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path / 'train_state.json'}: invalid JSON ({e})") from e
    tensors, _ = read_tensors(path / "train_state.safetensors")
    optimizer.load_state_dict(unflatten_optimizer(tensors, scalars["optimizer"]))
    scheduler.load_state_dict(scalars["scheduler"])
    if scalars.get("scaler") and scaler.is_enabled():
        scaler.load_state_dict(scalars["scaler"])
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(tensors["rng.cuda"]))
    return scalars
