"""The pretrained-network comparison: BlazePose GHUM full (converted to PyTorch) fine-tuned several ways, against
the tiny network trained from scratch, chosen on validation images, then reported once on the held-out ones.

Parts of ``../shared/data/coco_persons`` as in ``recipe_choice.py`` (fixed by image id, seed 0): held out 40 % of
the dev file and 20 % of the single-person file (never trained on, never used to choose), validation the next
20 % / 10 %, training the rest plus both masks-only files.

Runs (:data:`RUNS`), all with :data:`BLAZEPOSE_RECIPE`:

* ``bp-seg``: BlazePose fine-tuned without pose (segmentation only);
* ``bp-pose``: the same with the pose prior channels (keypoints given), whose input filters start at zero;
  ``bp-pose-lr3e-5`` with a lower learning rate;
* ``bp-pose-frozen``: the pose network with a frozen backbone (its mask head, the pose filters and the scale train);
* ``bp-multitask`` and ``bp-cascade``: the paper's second claim on the pretrained backbone (no keypoints given;
  the 17 COCO heatmaps start as BlazePose's own);
* ``bp-calibrated``: no training at all (BlazePose's mask, its scale calibrated; ``cpu --runs bp-calibrated``);
* ``bp-pose-long``: ``bp-pose`` alone on the GPU, for more steps (``device --runs bp-pose-long --workers 14``);
* second round (``device --runs bp-pose-lr3e-5-rerun bp-pose-lr1e-5 bp-pose-lr3e-5-strong --workers 5``): the
  chosen recipe again (how far two runs of one recipe differ), a learning rate of 1e-5, and stronger copy-paste,
  rotation and truncation;
* ``shipped``: the network in the package when ``evaluate`` runs (the tiny network trained from scratch in the
  first round, ``bp-pose-lr3e-5`` since).

Steps:

1. here: ``python benchmarks/pretrained_compare.py prepare`` writes ``.pack`` (no score maps, 240 px kept
   across the smallest crop window, JPEG 80: about 35 MiB) and ``.whl`` (pycocotools and tflite wheels for
   Python 3.12);
2. on a GPU machine: ``python3 benchmarks/pretrained_compare.py device --minutes 8`` trains every run at once on
   one GPU (a 40-step probe of all of them measures the speed, then each resumes to the steps that fit) and
   writes ``runs_*.tar`` and ``device_run.json`` to ``$OUT``; ``cpu`` trains the CPU recipe here instead
   (default ``--runs bp-pose-lr3e-5 --steps 1000``: 36 minutes on 2 cores);
3. here: unpack the tars into ``runs/pretrained`` and run
   ``python benchmarks/pretrained_compare.py evaluate --out runs/pretrained``: every run on the validation parts
   (the criterion of ``recipe_choice.py``), then the chosen one and the shipped network on the held-out parts.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe_choice import FILES, HELD_OUT, VALIDATION, choice_text, criterion, evaluate  # noqa: E402
from gpu_train import WHEELS, device_environment, last_checkpoint  # noqa: E402
from train_compare import ANNOTATIONS  # noqa: E402

PACK = ROOT / ".pack"
WHEEL_PINS = ("pycocotools==2.0.11", "tflite==2.18.0")
#: The shipped recipe (pose2instance/learned/recipes/shipped.json) at the first round's learning rate; each run
#: changes what it compares, and --steps is the device budget's
BLAZEPOSE_RECIPE = ["--recipe", "shipped", "--lr", "1e-4"]
RUNS = {"bp-seg": ["--variant", "seg"], "bp-pose": ["--variant", "pose"],
        "bp-pose-lr3e-5": ["--variant", "pose", "--lr", "3e-5"],
        "bp-pose-frozen": ["--variant", "pose", "--freeze", "backbone"],
        "bp-multitask": ["--variant", "multitask"], "bp-cascade": ["--variant", "cascade"],
        "bp-calibrated": ["--variant", "seg", "--steps", "1", "--lr", "0", "--warmup-steps", "0"],
        "bp-pose-long": ["--variant", "pose"],
        # second round, three runs at once: the chosen recipe again (its run-to-run spread), a lower learning rate,
        # and stronger occlusion and rotation against overfitting
        "bp-pose-lr3e-5-rerun": ["--variant", "pose", "--lr", "3e-5"],
        "bp-pose-lr1e-5": ["--variant", "pose", "--lr", "1e-5"],
        "bp-pose-lr3e-5-strong": ["--variant", "pose", "--lr", "3e-5", "--copy-paste", "0.8", "--rotate", "30",
                                  "--truncate", "0.3"]}


def train_command(name: str, out: Path, annotations: Path, steps: int, extra: list[str]) -> list[str]:
    """The ``train`` command of run ``name`` on the annotation files in the folder ``annotations``."""
    return [sys.executable, "-m", "pose2instance.learned.train",
            "--annotations", *(str(annotations / f) for f in FILES),
            "--held-out-fraction", *map(str, HELD_OUT.values()), "--val-fraction", *map(str, VALIDATION.values()),
            *BLAZEPOSE_RECIPE, "--steps", str(steps), *RUNS[name], "--out", str(out), "--no-progress",
            "--no-final-eval", *extra]


def prepare(args) -> int:
    from pose2instance.learned.pack import build_pack
    summary = build_pack([ANNOTATIONS / f for f in FILES], args.pack, [HELD_OUT.get(f, 0.0) for f in FILES],
                         side=240, quality=80, overwrite=True)
    for pin in WHEEL_PINS:
        if not any(WHEELS.glob(pin.split("==")[0] + "-*.whl")):
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                            "--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_17_x86_64",
                            "--platform", "manylinux2014_x86_64", "-d", str(WHEELS), pin], check=True)
    print(f"pack: {summary['bytes'] / 2**20:.1f} MiB; device run: carry ['.pack', '.whl'], command: "
          "python3 benchmarks/pretrained_compare.py device --minutes 8")
    return 0


def _seconds_per_step(run: Path) -> float:
    """Mean wall seconds per step of a run's ``metrics.csv`` (the first quarter, warming up, left out)."""
    with open(run / "metrics.csv", newline="") as f:
        seconds = [float(row["seconds"]) for row in csv.DictReader(f)]
    seconds = seconds[len(seconds) // 4:]
    if not seconds:
        raise RuntimeError(f"{run}: the probe logged no step; see {run / 'train.log'}")
    return sum(seconds) / len(seconds)


def _train_all(args, names: list[str], env: dict, annotations: Path, work: Path, options: list[str]) -> dict:
    """Probe every run at once for ``--probe-steps``, then resume each to the steps that fit; returns a report."""
    started = time.time()
    for name in names:
        shutil.rmtree(work / name, ignore_errors=True)

    def launch(steps: int, resume: bool) -> list[subprocess.Popen]:
        procs = []
        for name in names:
            (work / name).mkdir(parents=True, exist_ok=True)
            log = open(work / name / "train.log", "a")
            command = train_command(name, work / name, annotations, steps,
                                    [*options, *(["--resume"] if resume else [])])
            procs.append(subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        return procs

    for proc in launch(args.probe_steps, resume=False):
        proc.wait()
    for name in names:  # the probe's final weights are not a result
        (work / name / "model.safetensors").unlink(missing_ok=True)
    probe_s = time.time() - started
    speed = {name: _seconds_per_step(work / name) for name in names}
    left = args.minutes * 60 - (time.time() - started) - args.reserve_s
    steps = max(args.probe_steps, min(args.max_steps, int(left / max(speed.values()) * 0.9)))
    procs = launch(steps, resume=True)
    deadline = started + args.minutes * 60 - args.reserve_s / 2
    for proc in procs:
        try:
            proc.wait(timeout=max(deadline - time.time(), 1.0))
        except subprocess.TimeoutExpired:
            proc.kill()
    finished = {name: (work / name / "model.safetensors").is_file() for name in names}
    return {"runs": names, "probe_steps": args.probe_steps, "probe_s": round(probe_s, 1),
            "seconds_per_step": {k: round(v, 4) for k, v in speed.items()}, "steps": steps, "finished": finished,
            "total_s": round(time.time() - started, 1), "options": options}


def device(args) -> int:
    env = device_environment(args.pack)
    work = Path(args.work)
    options = ["--device", args.device, "--workers", str(args.workers), "--threads", "1", "--checkpoint-every", "250",
               "--amp", "off"]  # fp32 (TF32): BlazePose's raw mask logits reach 1500, too coarse in bf16
    report = _train_all(args, args.runs, env, args.pack / "annotations", work, options)
    args.out.mkdir(parents=True, exist_ok=True)
    for k in range(0, len(args.runs), 2):  # two runs per tar keeps each file under 16 MiB
        with tarfile.open(args.out / f"runs_{k // 2}.tar", "w") as tar:
            for name in args.runs[k:k + 2]:
                source = work / name if (work / name / "model.safetensors").is_file() else last_checkpoint(work / name)
                if source is None:
                    continue
                for file in ("model.safetensors", "config.json"):
                    tar.add(source / file, f"{name}/{file}")
                for file in ("metrics.csv", "val.csv", "train_args.json", "train.log"):
                    if (work / name / file).is_file():
                        tar.add(work / name / file, f"{name}/{file}")
    (args.out / "device_run.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report))
    return 0


def cpu(args) -> int:
    """Train runs here, one after the other (the CPU recipe), from the original data."""
    for name in args.runs:
        t = time.time()
        subprocess.run(train_command(name, args.out / name, ANNOTATIONS, args.steps,
                                     ["--threads", str(args.threads), "--workers", "1", "--resume",
                                      "--checkpoint-every", "100"]),
                       check=True)
        print(f"trained {name} in {time.time() - t:.0f} s", file=sys.stderr)
    return 0


def evaluate_runs(args) -> int:
    """Validation table of every run, the choice, and the held-out table of the chosen run and the shipped one."""
    import torch
    torch.set_num_threads(args.threads)
    from pose2instance.io import atomic_write_text, write_json
    from pose2instance.learned.models import default_model_path

    runs = {name: args.out / name / "model.safetensors" for name in args.runs
            if (args.out / name / "model.safetensors").is_file()}
    runs["shipped"] = default_model_path()  # the network in the package now
    validation = {name: evaluate(weights, False, validation=True) for name, weights in runs.items()}
    scores = {name: criterion(parts) for name, parts in validation.items()}
    best = max(scores, key=scores.get)
    held = {name: evaluate(runs[name], False, validation=False) for name in dict.fromkeys([best, "shipped"])}
    text = choice_text(scores, validation, held, best)
    atomic_write_text(args.out / "choice.md", text)
    write_json(args.out / "choice.json", {"criterion": scores, "chosen": best, "validation": validation,
                                          "held_out": held}, indent=1)
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="step", required=True)
    prep = sub.add_parser("prepare", help="build .pack and .whl here")
    prep.add_argument("--pack", type=Path, default=PACK)
    dev = sub.add_parser("device", help="train every run at once on a GPU machine")
    dev.add_argument("--pack", type=Path, default=PACK)
    dev.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS)[:6])
    dev.add_argument("--minutes", type=float, default=8.0, help="the whole command's budget")
    dev.add_argument("--reserve-s", type=float, default=40.0, help="seconds kept for the last steps and copying")
    dev.add_argument("--probe-steps", type=int, default=40)
    dev.add_argument("--max-steps", type=int, default=6000)
    dev.add_argument("--device", default="cuda")
    dev.add_argument("--workers", type=int, default=2, help="DataLoader workers per run")
    dev.add_argument("--work", default="/tmp/pose2instance_gpu")
    dev.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_out")))
    here = sub.add_parser("cpu", help="train runs here, from the original data")
    here.add_argument("--runs", nargs="+", choices=list(RUNS), default=["bp-pose-lr3e-5"])
    here.add_argument("--steps", type=int, default=1000)
    here.add_argument("--threads", type=int, default=2)
    here.add_argument("--out", type=Path, default=Path("runs/pretrained_cpu"))
    ev = sub.add_parser("evaluate", help="validation table, the choice, then the held-out table")
    ev.add_argument("--out", type=Path, default=Path("runs/pretrained"))
    ev.add_argument("--runs", nargs="+", default=list(RUNS))
    ev.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    return {"prepare": prepare, "device": device, "cpu": cpu, "evaluate": evaluate_runs}[args.step](args)


if __name__ == "__main__":
    sys.exit(main())
