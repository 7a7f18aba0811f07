"""Train the chosen recipe longer on a lent GPU machine, from a compact training pack; then measure it here.

The GPU machine (the workplace's ``device`` tool) gets the working tree and at most 64 MiB of
carried folders, not ``../shared``, has no package registry and no MediaPipe. So:

1. here: ``python benchmarks/gpu_train.py prepare`` writes ``.pack/`` (``pose2instance pack``: the
   training and validation images of the four ``coco_persons`` files, downscaled, the held-out images
   left out, BlazePose's score maps cached; about 48 MiB) and ``.whl/`` (the pycocotools wheel for
   the machine's Python 3.12), both ignored by git, and prints the device command;
2. there: ``python3 benchmarks/gpu_train.py device --minutes 7`` (carry ``.pack`` and ``.whl``)
   installs the wheel (when pycocotools is missing), measures the training speed with a short probe run, trains the recipe that
   ``recipe_choice.py`` chose (``rotate-long``: the same options) for as many steps as fit in the
   minutes (at most ``--max-steps``), and writes the weights, ``config.json``, ``metrics.csv`` and
   ``gpu_run.json`` to ``$OUT``;
3. here: copy those files to ``runs/val/gpu/`` and run
   ``python benchmarks/recipe_choice.py --out runs/val --candidates rotate-long gpu``: the same
   validation criterion, then the held-out parts, against the CPU run, in one table.

Nothing in the project depends on this: it is the one prepared script for a GPU, and every
step also runs on a CPU (``device --device cpu --minutes 1``, as the tests do with a tiny pack).
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
from recipe_choice import FILES, HELD_OUT, train_command  # noqa: E402
from train_compare import ANNOTATIONS  # noqa: E402

PACK, WHEELS = ROOT / ".pack", ROOT / ".whl"
RECIPE_NAME = "rotate-long"
PYCOCOTOOLS = "pycocotools==2.0.11"


def prepare(args) -> int:
    """Build the pack and fetch the wheel here; print the device command."""
    from pose2instance.learned.pack import build_pack
    summary = build_pack([ANNOTATIONS / f for f in FILES], args.pack, list(HELD_OUT.values()),
                         score_input="blazepose")
    if not any(WHEELS.glob("pycocotools-*.whl")):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_17_x86_64",
                        "--platform", "manylinux2014_x86_64", "-d", str(WHEELS), PYCOCOTOOLS], check=True)
    size = sum(p.stat().st_size for folder in (args.pack, WHEELS) for p in folder.rglob("*") if p.is_file())
    print(f"pack: {summary['bytes'] / 2**20:.1f} MiB; with the wheel {size / 2**20:.1f} MiB to carry (limit 64)")
    print("device run: carry ['.pack', '.whl'], command: python3 benchmarks/gpu_train.py device --minutes 7")
    return 0


def _median_crops_per_s(run: Path, skip: int) -> float:
    with open(run / "metrics.csv", newline="") as f:
        speeds = sorted(float(r["crops_per_s"]) for r in list(csv.DictReader(f))[skip:])
    if not speeds:
        raise RuntimeError(f"{run}: the probe run logged no step after the first {skip}")
    return speeds[len(speeds) // 2]


def device(args) -> int:
    """On the GPU machine: install the wheel, probe the speed, train for the budget, copy the results to --out."""
    started = time.time()
    env = dict(os.environ, POSE2INSTANCE_CACHE=str(args.pack / "cache"), PYTHONUNBUFFERED="1")
    wheels = sorted(WHEELS.glob("*.whl"))
    if wheels and importlib.util.find_spec("pycocotools") is None:
        site = Path("/tmp/pose2instance_site")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--target", str(site), *map(str, wheels)], check=True)
        env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    else:
        env["PYTHONPATH"] = str(ROOT)
    options = ["--device", args.device, "--workers", str(args.workers), "--no-final-eval", "--checkpoint-every", "1000"]
    work = Path(args.work)
    probe = work / "probe"
    shutil.rmtree(probe, ignore_errors=True)
    subprocess.run([*train_command(RECIPE_NAME, probe, args.threads, args.pack / "annotations"), *options,
                    "--steps", str(args.probe_steps)], check=True, env=env, cwd=ROOT)
    speed = _median_crops_per_s(probe, args.probe_steps // 4)
    left = args.minutes * 60 - (time.time() - started) - args.reserve_s
    steps = int(max(args.probe_steps, min(args.max_steps, left * speed / args.batch_size)))
    run = work / "gpu"
    shutil.rmtree(run, ignore_errors=True)
    t = time.time()
    command = [*train_command(RECIPE_NAME, run, args.threads, args.pack / "annotations"), *options,
               "--steps", str(steps), "--batch-size", str(args.batch_size)]
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    report = {"recipe": RECIPE_NAME, "steps": steps, "batch_size": args.batch_size, "device": args.device,
              "probe_crops_per_s": round(speed, 1), "train_s": round(time.time() - t, 1),
              "total_s": round(time.time() - started, 1), "command": command[1:]}
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("model.safetensors", "config.json", "metrics.csv", "train_args.json", "val.csv"):
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
