"""The training engine: checkpoints, exact resume after SIGKILL, torchrun/DDP on gloo, clear errors.

Every run is tiny (48 px crops, an 8-channel backbone, one CPU thread) and trains on
the real COCO dev persons of the test fixture (tests/data).
"""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from safetensors.torch import load_file  # noqa: E402

from pose2instance.learned.models import load_model  # noqa: E402
from pose2instance.learned.train import main as train_main  # noqa: E402

from conftest import COCO_DEV  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STEPS = 60
EXACT = ["step", "epoch", "loss", "loss_mask", "loss_kp", "lr", "grad_norm"]


def train_args(out: Path, steps: int = STEPS, batch: int = 4, extra: tuple = ()) -> list[str]:
    return ["--annotations", str(COCO_DEV), "--min-area", "3000", "--variant", "multitask", "--crop-size", "48",
            "--width", "8", "--batch-size", str(batch), "--steps", str(steps), "--warmup-steps", "3", "--lr", "1e-3",
            "--checkpoint-every", "10", "--threads", "1", "--seed", "7", "--no-progress", "--no-final-eval",
            "--device", "cpu", "--out", str(out), *extra]


def run(args: list[str], launcher: list[str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    cmd = [sys.executable, *(launcher or []), "-m", "pose2instance.learned.train", *args]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def rows(out: Path) -> list[dict]:
    with open(out / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted run of STEPS steps."""
    out = tmp_path_factory.mktemp("train") / "reference"
    run(train_args(out))
    return out


def test_run_writes_safetensors_checkpoints_and_metrics(reference):
    assert [r["step"] for r in rows(reference)] == [str(s) for s in range(1, STEPS + 1)]
    losses = [float(r["loss"]) for r in rows(reference)]
    assert np.mean(losses[-10:]) < np.mean(losses[:10])  # it learns
    ckpts = sorted(p.name for p in (reference / "checkpoints").glob("step_*"))
    assert ckpts == [f"step_{STEPS - 10:07d}", f"step_{STEPS:07d}"]  # --keep-checkpoints 2
    assert (reference / "checkpoints" / "latest").read_text().strip() == f"step_{STEPS:07d}"
    last = reference / "checkpoints" / f"step_{STEPS:07d}"
    assert {p.name for p in last.iterdir()} == {"model.safetensors", "config.json", "train_state.safetensors",
                                                 "train_state.json"}
    state = load_file(str(last / "train_state.safetensors"))
    assert "rng.torch" in state and any(k.startswith("optimizer.") for k in state)
    model = load_model(reference)
    assert model.config.variant == "multitask" and model.config.crop_size == 48
    assert not list(reference.rglob("*.tmp"))


def test_sigkill_then_resume_reproduces_the_uninterrupted_run(reference, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "pose2instance.learned.train", *train_args(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    try:
        while time.time() < deadline:
            if (out / "metrics.csv").is_file() and len(rows(out)) >= 25:
                break
            assert proc.poll() is None, f"training ended before it could be killed: {proc.stderr.read()[-2000:]}"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    killed_at = int(rows(out)[-1]["step"])
    saved = int((out / "checkpoints" / "latest").read_text().strip().split("_")[1])
    assert 20 <= saved < STEPS and killed_at < STEPS
    run(train_args(out, extra=("--resume",)))
    got, want = rows(out), rows(reference)
    assert [[r[k] for k in EXACT] for r in got] == [[r[k] for k in EXACT] for r in want]
    a = load_file(str(out / "model.safetensors"))
    b = load_file(str(reference / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_torchrun_two_gloo_processes_match_one_process(tmp_path):
    """2 processes x batch 2 (DDP, gloo) against 1 process x batch 4: same samples, same updates."""
    steps = 4
    single, double = tmp_path / "single", tmp_path / "ddp"
    run(train_args(single, steps, batch=4))
    run(train_args(double, steps, batch=2),
        launcher=["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"])
    r1, r2 = rows(single), rows(double)
    assert len(r1) == len(r2) == steps
    for a, b in zip(r1, r2):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-4, abs=1e-6)
        assert float(a["grad_norm"]) == pytest.approx(float(b["grad_norm"]), rel=1e-3)
    w1 = load_file(str(single / "model.safetensors"))
    w2 = load_file(str(double / "model.safetensors"))
    assert max(float((w1[k] - w2[k]).abs().max()) for k in w1) < 1e-4
    # Only rank 0 wrote: one set of checkpoints, no half-written files.
    assert not list(double.rglob("*.tmp"))


def test_lovasz_hinge_by_hand_and_as_a_training_loss(tmp_path):
    from pose2instance.learned.train.losses import lovasz_hinge

    y, v = torch.tensor([[1.0, 1.0, 0.0, 0.0]]), torch.ones(1, 4)
    assert float(lovasz_hinge(torch.tensor([[5.0, 5.0, -5.0, -5.0]]), y, v)) == 0.0  # right, with margin
    assert float(lovasz_hinge(torch.zeros(1, 4), y, v)) == pytest.approx(1.0)  # every hinge error 1
    # one positive at logit -1 (hinge error 2), the rest at margin 1: losing it costs IoU 1/2 -> 2 * 1/2
    assert float(lovasz_hinge(torch.tensor([[-1.0, 1.0, -1.0, -1.0]]), y, v)) == pytest.approx(1.0)
    # invalid pixels do not count: the same wrong pixel, marked invalid
    assert float(lovasz_hinge(torch.tensor([[-1.0, 1.0, -1.0, -1.0]]), y, torch.tensor([[0.0, 1, 1, 1]]))) == 0.0
    # minimising it alone from zero logits recovers the target: a real person's mask, 40 x 40
    from pose2instance.io import CocoPersons
    person = CocoPersons(COCO_DEV).persons(790)
    x0, y0, x1, y1 = person.boxes[0].astype(int)
    target = torch.from_numpy(person.masks[0, y0:y1, x0:x1].astype(np.float32))[None, None]
    target = torch.nn.functional.interpolate(target, size=(40, 40), mode="nearest")[0, 0]
    assert 0.2 < float(target.mean()) < 0.9
    logits = torch.zeros_like(target, requires_grad=True)
    opt = torch.optim.SGD([logits], lr=0.5)
    for _ in range(100):
        opt.zero_grad()
        lovasz_hinge(logits, target, torch.ones_like(target)).backward()
        opt.step()
    assert torch.equal((logits > 0).float(), target)
    # the option reaches the training loss: same seed and first batch, BCE plus a positive Lovász term
    run(train_args(tmp_path / "bce", steps=1))
    run(train_args(tmp_path / "lovasz", steps=1, extra=("--iou-loss-weight", "1")))
    bce, both = float(rows(tmp_path / "bce")[0]["loss_mask"]), float(rows(tmp_path / "lovasz")[0]["loss_mask"])
    assert both > bce + 0.1
    with pytest.raises(SystemExit):
        train_main(train_args(tmp_path / "negative", extra=("--iou-loss-weight", "-1")))


def test_clear_errors_for_existing_runs_and_changed_configs(reference, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    assert train_main(train_args(out)) == 2
    assert "already holds a run; pass --resume" in capsys.readouterr().err
    assert train_main(train_args(out, extra=("--resume", "--width", "16"))) == 2
    err = capsys.readouterr().err
    assert "different model config" in err and "width: checkpoint 8, now 16" in err
    assert train_main(train_args(out, batch=8, extra=("--resume",))) == 2
    assert "would not continue the same run: batch_size: was 4, now 8" in capsys.readouterr().err
    assert train_main(train_args(out, extra=("--resume", "--iou-loss-weight", "0.5"))) == 2
    assert "iou_loss_weight: was 0.0, now 0.5" in capsys.readouterr().err
    assert train_main(train_args(tmp_path / "new", extra=("--val-fraction", "0.3", "--val-annotations",
                                                         str(COCO_DEV)))) == 2
    assert "--val-fraction and --val-annotations exclude each other" in capsys.readouterr().err
    # A corrupt latest checkpoint is named and skipped: the run goes on from the older one.
    last, older = (out / "checkpoints" / f"step_{s:07d}" for s in (STEPS, STEPS - 10))
    (last / "train_state.safetensors").write_bytes(b"\x00garbage")
    assert train_main(train_args(out, steps=STEPS + 1, extra=("--resume",))) == 0
    err = capsys.readouterr().err
    assert "train_state.safetensors: not a readable safetensors file" in err
    assert f"resuming from the older checkpoint {older}" in err and f"at step {STEPS - 10} of {STEPS + 1}" in err
    assert [r["step"] for r in rows(out)][-1] == str(STEPS + 1)
    # When no checkpoint loads, the error names each one.
    for step in (out / "checkpoints").glob("step_*"):
        (step / "train_state.json").write_bytes(b"\xff\xfe not json")
    assert train_main(train_args(out, steps=STEPS + 2, extra=("--resume",))) == 2
    err = capsys.readouterr().err
    assert "no checkpoint in" in err and "can be resumed from" in err and "train_state.json: invalid JSON" in err


def test_dataset_without_usable_person_fails_clearly(tmp_path, capsys):
    assert train_main(train_args(tmp_path / "none", extra=("--min-area", "1e9"))) == 2
    assert "no usable person in" in capsys.readouterr().err


def test_ctrl_c_stops_cleanly_and_names_the_checkpoint(tmp_path):
    out = tmp_path / "interrupted"
    cmd = [sys.executable, "-m", "pose2instance.learned.train", *train_args(out, steps=100000)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "checkpoints" / "latest").is_file() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted; the last checkpoint is" in err and "--resume" in err and "Traceback" not in err


def test_val_fraction_per_file_holds_images_out_of_training(tmp_path):
    import argparse

    from conftest import FIXTURE
    from pose2instance.evaluation import split_image_ids
    from pose2instance.learned.train.args import add_train_arguments, model_config_from_args
    from pose2instance.learned.train.engine import build_datasets
    single = FIXTURE / "coco_persons" / "annotations" / "person_keypoints_single.json"
    argv = ["--annotations", str(COCO_DEV), str(single), "--val-fraction", "0.4", "0.5", "--min-area", "3000",
            "--variant", "pose", "--crop-size", "48", "--width", "8", "--batch-size", "2", "--steps", "2",
            "--copy-paste", "0.5", "--truncate", "0.5", "--colour-jitter", "0.2", "--threads", "1",
            "--no-progress", "--device", "cpu", "--out", str(tmp_path / "run")]
    args = add_train_arguments(argparse.ArgumentParser()).parse_args(argv)
    train_set, val_set, val_sources, val_ids = build_datasets(args, model_config_from_args(args))
    held = {(s.path.name, i) for s, ids in zip(val_sources, val_ids) for i in ids}
    assert [s.path.name for s in val_sources] == ["person_keypoints_dev.json", "person_keypoints_single.json"]
    assert val_ids[0] == split_image_ids(val_sources[0].image_ids, 0.4, 0)[1]
    trained = {(train_set.sources[s].path.name, i) for s, i, _ in train_set.items}
    assert trained and held and not trained & held
    assert {(val_set.sources[s].path.name, i) for s, i, _ in val_set.items} <= held
    assert train_main(argv) == 0
    parts = json.loads((tmp_path / "run" / "val_metrics.json").read_text())["parts"]
    assert set(parts) == {"person_keypoints_dev.json", "person_keypoints_single.json"}
    assert parts["person_keypoints_dev.json"]["images"] == len(val_ids[0])
    with pytest.raises(SystemExit):
        add_train_arguments(argparse.ArgumentParser()).parse_args(argv + ["--score-input", "nope"])
    assert train_main(argv[:3] + ["--val-fraction", "0.1", "0.1", "0.1"] + argv[6:] + ["--overwrite"]) == 2


def test_an_image_held_out_of_one_file_is_not_trained_on_through_another(tmp_path):
    import argparse

    from pose2instance.learned.train.args import add_train_arguments, model_config_from_args
    from pose2instance.learned.train.engine import build_datasets
    argv = ["--annotations", str(COCO_DEV), str(COCO_DEV), "--val-fraction", "0.4", "0", "--min-area", "3000",
            "--variant", "seg", "--crop-size", "48", "--out", str(tmp_path)]
    args = add_train_arguments(argparse.ArgumentParser()).parse_args(argv)
    with pytest.warns(UserWarning, match=r"person_keypoints_dev.json: \d+ image\(s\) are held out"):
        train_set, _, _, val_ids = build_datasets(args, model_config_from_args(args))
    assert val_ids[0] and not {i for _, i, _ in train_set.items} & set(val_ids[0])
    args.val_annotations = COCO_DEV
    with pytest.raises(ValueError, match="--val-fraction and --val-annotations exclude each other"):
        build_datasets(args, model_config_from_args(args))


def test_held_out_fraction_is_neither_trained_on_nor_validated(tmp_path):
    import argparse

    from conftest import FIXTURE
    from pose2instance.evaluation import split_image_ids
    from pose2instance.learned.train.args import add_train_arguments, model_config_from_args
    from pose2instance.learned.train.engine import build_datasets
    single = FIXTURE / "coco_persons" / "annotations" / "person_keypoints_single.json"
    argv = ["--annotations", str(COCO_DEV), str(single), "--held-out-fraction", "0.4", "0.2",
            "--val-fraction", "0.3", "0.5", "--min-area", "3000", "--variant", "seg", "--crop-size", "48",
            "--out", str(tmp_path)]
    args = add_train_arguments(argparse.ArgumentParser()).parse_args(argv)
    train_set, val_set, val_sources, val_ids = build_datasets(args, model_config_from_args(args))
    trained = {(train_set.sources[s].path.name, i) for s, i, _ in train_set.items}
    for source, val, test_fraction, val_fraction in zip(val_sources, val_ids, (0.4, 0.2), (0.3, 0.5)):
        test = split_image_ids(source.image_ids, test_fraction, 0)[1]
        # the validation part is the hash range right after the test part: disjoint from it
        assert val == sorted(set(split_image_ids(source.image_ids, test_fraction + val_fraction, 0)[1]) - set(test))
        assert not set(val) & set(test)
        assert not trained & {(source.path.name, i) for i in test + val}
    assert trained and split_image_ids(val_sources[0].image_ids, 0.4, 0)[1]  # the fixture has dev test images
    with pytest.raises(ValueError, match="must be in"):
        split_image_ids([1, 2], 0.7, 0, after=0.4)


def test_an_out_folder_that_cannot_be_written_is_refused_before_training(tmp_path, capsys):
    """Issue 22 (low): --out under a file (or on a read-only filesystem) ended in a traceback."""
    (tmp_path / "a_file").write_text("x")
    assert train_main(train_args(tmp_path / "a_file" / "run", steps=2)) == 2
    assert "a_file/run cannot be written (Not a directory)" in capsys.readouterr().err


def test_a_run_set_up_from_python_is_the_command_line_s_run(reference, tmp_path):
    """Issue 18: TrainConfig is every option, typed; run_train takes it, no argparse needed, same run."""
    from pose2instance.learned.train import TrainConfig, run_train
    config = TrainConfig(annotations=[COCO_DEV], min_area=3000.0, variant="multitask", crop_size=48, width=8,
                         batch_size=4, steps=STEPS, warmup_steps=3, lr=1e-3, checkpoint_every=10, threads=1, seed=7,
                         no_progress=True, no_final_eval=True, device="cpu", out=tmp_path / "python")
    assert run_train(config) == 0
    assert [r["loss"] for r in rows(tmp_path / "python")] == [r["loss"] for r in rows(reference)]


def test_recipes_give_defaults_that_the_command_line_overrides(tmp_path, capsys):
    """The shipped network's recipe is a file in the package; it is exactly the command in person_net.json."""
    import argparse
    import shlex

    from pose2instance.learned.predictor import default_model_path
    from pose2instance.learned.train import RECIPES, TrainConfig, add_train_arguments, read_recipe
    assert {"shipped", "cpu", "tiny"} <= set(RECIPES)
    parser = add_train_arguments(argparse.ArgumentParser())
    assert TrainConfig.from_namespace(parser.parse_args(["--annotations", "a.json"])) == \
        TrainConfig(annotations=[Path("a.json")])  # the parser's defaults are TrainConfig's
    shipped = TrainConfig.from_recipe("shipped", annotations=[Path("a.json")])
    command = json.loads(default_model_path(".json").read_text())["extra"]["command"]
    as_trained = TrainConfig.from_namespace(parser.parse_args(shlex.split(command)[2:]))
    assert shipped.backbone == "blazepose" and shipped.steps == 1465 and shipped.lr == 3e-5
    assert {k: v for k, v in vars(shipped).items() if k != "annotations"} == \
        {k: v for k, v in vars(as_trained).items() if k != "annotations"}
    parser.set_defaults(**read_recipe("shipped"))
    mine = TrainConfig.from_namespace(parser.parse_args(["--annotations", "a.json", "--lr", "1e-4"]))
    assert mine.lr == 1e-4 and mine.backbone == "blazepose"  # the command line wins over the recipe
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"learning_rate": 1}))
    assert train_main(["--annotations", str(COCO_DEV), "--recipe", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "bad.json: unknown train option(s) ['learning_rate']" in capsys.readouterr().err
    assert train_main(["--annotations", str(COCO_DEV), "--recipe", "fastest", "--out", str(tmp_path / "x")]) == 2
    assert "unknown recipe 'fastest'" in capsys.readouterr().err
