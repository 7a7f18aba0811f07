"""Train the chosen recipe longer on a lent GPU machine, from a compact training pack; then measure it here.

The GPU machine (the workplace's ``device`` tool) gets the working tree and at most 64 MiB of
carried folders, not ``../shared``, has no package registry and no MediaPipe. So:

1. here: ``python benchmarks/gpu_train.py prepare`` writes ``.pack/`` (``pose2instance pack``: the
   training and validation images of the four ``coco_persons`` files, downscaled, the held-out images
   left out, BlazePose's score maps cached; about 48 MiB) and ``.whl/`` (the pycocotools wheel for
   the machine's Python 3.12), both ignored by git, and prints the device command;
2. there: ``python3 benchmarks/gpu_train.py device --minutes 7`` (carry ``.pack`` and ``.whl``)
   installs the wheel (when pycocotools is missing), measures the training speed with a short probe run
   (its whole wall time per step), trains the recipe that ``recipe_choice.py`` chose (``lovasz``: the
   same options) for as many steps as fit in the minutes (at most ``--max-steps``), and writes the weights,
   ``config.json``, ``metrics.csv`` and ``gpu_run.json`` to ``$OUT`` (past the budget, the newest
   checkpoint's weights, every 1000 steps, and ``"finished": false``);
3. here: copy those files to ``runs/val/gpu/`` and run
   ``python benchmarks/recipe_choice.py --out runs/val --candidates lovasz gpu``: both on the
   validation criterion, then the better one and the base recipe on the held-out parts, in one table.

Nothing in the project depends on this: it is the one prepared script for a GPU, and every
step also runs on a CPU (``device --device cpu --workers 0``; see docs/learned.md).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe_choice import CANDIDATES, FILES, HELD_OUT, train_command  # noqa: E402
from train_compare import ANNOTATIONS  # noqa: E402

PACK, WHEELS = ROOT / ".pack", ROOT / ".whl"
RECIPE_NAME = "lovasz"  # the recipe of the shipped network (recipe_choice.py)
PYCOCOTOOLS = "pycocotools==2.0.11"


def prepare(args) -> int:
    """Build the pack and fetch the wheel here; print the device command."""
    from pose2instance.learned.pack import build_pack
    summary = build_pack([ANNOTATIONS / f for f in FILES], args.pack, [HELD_OUT.get(f, 0.0) for f in FILES],
                         score_input="blazepose", overwrite=True)
    if not any(WHEELS.glob("pycocotools-*.whl")):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_17_x86_64",
                        "--platform", "manylinux2014_x86_64", "-d", str(WHEELS), PYCOCOTOOLS], check=True)
    size = sum(p.stat().st_size for folder in (args.pack, WHEELS) for p in folder.rglob("*") if p.is_file())
    print(f"pack: {summary['bytes'] / 2**20:.1f} MiB; with the wheel {size / 2**20:.1f} MiB to carry (limit 64)")
    print("device run: carry ['.pack', '.whl'], command: python3 benchmarks/gpu_train.py device --minutes 7")
    return 0


def _probe_speed(probe: Path, wall_s: float) -> tuple[float, float]:
    """``(seconds per step, seconds outside the steps)`` of the probe run: the steps' own times (``metrics.csv``,
    which include the DataLoader workers restarting each epoch) after the first, and the rest of its wall time
    (start-up, first batch, validation, saving)."""
    with open(probe / "metrics.csv", newline="") as f:
        seconds = [float(row["seconds"]) for row in csv.DictReader(f)]
    if len(seconds) < 2:
        raise RuntimeError(f"{probe}: the probe logged {len(seconds)} step(s); give --probe-steps of at least 2")
    return sum(seconds[1:]) / (len(seconds) - 1), max(wall_s - sum(seconds[1:]), 0.0)


def last_checkpoint(run: Path) -> Path | None:
    """The newest ``checkpoints/step_N`` folder of a run, or None."""
    steps = sorted(run.glob("checkpoints/step_*"))
    return steps[-1] if steps else None


def device_environment(pack: Path) -> dict:
    """The environment of a training process on the GPU machine: the pack's score cache, this checkout, and the
    carried wheels (``.whl``) of the packages that machine lacks, installed into a folder of their own."""
    env = dict(os.environ, POSE2INSTANCE_CACHE=str(pack / "cache"), PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    missing = [w for w in sorted(WHEELS.glob("*.whl")) if importlib.util.find_spec(w.name.split("-")[0]) is None]
    if missing:
        site = Path("/tmp/pose2instance_site")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--upgrade", "--target", str(site), *map(str, missing)], check=True)
        env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    return env


def device(args) -> int:
    """On the GPU machine: install the wheel, probe the speed, train for the budget, copy the results to --out."""
    started = time.time()
    env = device_environment(args.pack)
    options = ["--device", args.device, "--workers", str(args.workers), "--no-final-eval", "--checkpoint-every", "1000",
               "--batch-size", str(args.batch_size)]  # the probe runs at the batch size it measures for
    work = Path(args.work)
    probe = work / "probe"
    shutil.rmtree(probe, ignore_errors=True)
    t = time.time()
    subprocess.run([*train_command(args.recipe, probe, args.threads, args.pack / "annotations"), *options,
                    "--steps", str(args.probe_steps)], check=True, env=env, cwd=ROOT)
    seconds_per_step, start_up = _probe_speed(probe, time.time() - t)
    left = args.minutes * 60 - (time.time() - started) - args.reserve_s
    steps = int(max(args.probe_steps, min(args.max_steps, (left - start_up) / seconds_per_step)))
    run = work / "gpu"
    shutil.rmtree(run, ignore_errors=True)
    command = [*train_command(args.recipe, run, args.threads, args.pack / "annotations"), *options,
               "--steps", str(steps)]
    t = time.time()
    try:  # past the budget, the newest checkpoint is what comes back
        subprocess.run(command, check=True, env=env, cwd=ROOT, timeout=max(left, 60.0))
        finished, source = True, run
    except subprocess.TimeoutExpired:
        finished, source = False, last_checkpoint(run)
        if source is None:
            raise RuntimeError(f"training passed the budget before its first checkpoint ({run})") from None
    report = {"recipe": args.recipe, "steps": steps, "finished": finished, "weights_from": source.name,
              "batch_size": args.batch_size, "device": args.device,
              "probe_seconds_per_step": round(seconds_per_step, 4), "probe_start_up_s": round(start_up, 1),
              "train_s": round(time.time() - t, 1), "total_s": round(time.time() - started, 1), "command": command[1:]}
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("model.safetensors", "config.json"):
        shutil.copy2(source / name, args.out / name)
    for name in ("metrics.csv", "train_args.json", "val.csv"):
        if (run / name).is_file():
            shutil.copy2(run / name, args.out / name)
    (args.out / "gpu_run.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="step", required=True)
    prep = sub.add_parser("prepare", help="build .pack and .whl here")
    prep.add_argument("--pack", type=Path, default=PACK)
    dev = sub.add_parser("device", help="train on the GPU machine")
    dev.add_argument("--pack", type=Path, default=PACK)
    dev.add_argument("--recipe", default=RECIPE_NAME, choices=[c for c, v in CANDIDATES.items() if v is not None],
                     help="a recipe_choice.py candidate (its options; the steps are the budget's)")
    dev.add_argument("--minutes", type=float, default=7.0, help="the whole command's budget")
    dev.add_argument("--reserve-s", type=float, default=45.0, help="seconds kept for start-up and copying")
    dev.add_argument("--max-steps", type=int, default=24000)
    dev.add_argument("--probe-steps", type=int, default=200)
    dev.add_argument("--batch-size", type=int, default=16, help="the recipe's")
    dev.add_argument("--device", default="cuda")
    dev.add_argument("--workers", type=int, default=12, help="DataLoader workers (the crops are made on the CPU)")
    dev.add_argument("--threads", type=int, default=2, help="torch CPU threads of the training process")
    dev.add_argument("--work", default="/tmp/pose2instance_gpu", help="where the runs are written")
    dev.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_out")))
    args = p.parse_args(argv)
    return prepare(args) if args.step == "prepare" else device(args)


if __name__ == "__main__":
    sys.exit(main())
