"""The shipped network through ONNX Runtime: the default inference path, without torch (issue 20)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from pose2instance.learned.config import CheckpointError  # noqa: E402
from pose2instance.learned.onnx_net import CONFIG_KEY, OnnxPredictor  # noqa: E402
from pose2instance.learned.predictor import default_model_path  # noqa: E402
from pose2instance.learned.scores import LearnedMasks, LearnedScore, make_predictor  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _real_crops(coco_dev, demo, images: int = 3):
    """Inputs of the shipped network on real person crops: the demo photo and, with the shared data, dev images."""
    predictor = OnnxPredictor()
    image, persons = demo
    batches = [predictor.inputs(image, persons)[0]]
    if coco_dev is not None:
        for image_id in coco_dev.image_ids[:images]:
            people = coco_dev.persons(image_id)
            if len(people):
                batches.append(predictor.inputs(coco_dev.load_image(image_id), people)[0])
    return predictor, np.concatenate(batches)


def test_the_shipped_onnx_file_is_the_shipped_network_on_real_crops(coco_dev, demo):
    """The exported file computes the PyTorch network's mask logits within 1e-4 of their range, and its masks.

    The reference is the PyTorch network in float64: both float32 runtimes round differently (each is within
    about 4e-5 and 7e-5 of the range of it on these crops, so up to 1.1e-4 of each other)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("tflite")
    from pose2instance.learned.models import Predictor, load_model
    torch.set_num_threads(2)
    onnx, x = _real_crops(coco_dev, demo)
    with torch.no_grad():
        reference = load_model(default_model_path()).double()(torch.from_numpy(x).double())["mask"][:, 0].numpy()
    got = onnx.run(x)
    assert got.shape == reference.shape == (len(x), 256, 256)
    assert np.abs(got - reference).max() <= 1e-4 * np.ptp(reference)
    float32_torch = Predictor(default_model_path(), "cpu").run(x)
    assert np.mean((got > 0) == (reference > 0)) >= 0.9999
    assert np.mean((got > 0) == (float32_torch > 0)) >= 0.9999
    config = json.loads(default_model_path(".json").read_text())
    assert onnx.config.to_json() == config


def test_the_default_learned_score_and_method_run_on_onnx_runtime(demo):
    image, persons = demo
    score = LearnedScore()
    assert isinstance(score.predictor, OnnxPredictor)
    prob = score(image, persons)
    assert prob.shape == image.shape[:2] and 0 <= prob.min() and prob.max() <= 1
    masks = LearnedMasks().predict(persons, None, image)
    from pose2instance.evaluation import paired_iou
    assert paired_iou(masks, persons.masks).mean() > 0.7  # the demo's four people


def test_the_default_path_never_imports_torch(tmp_path, demo):
    """demo and segment with the shipped network and a keypoints file run without importing torch."""
    from pose2instance.segment import demo_files
    photo, annotations = demo_files()
    code = ("import sys\nfrom pose2instance.cli import main\n"
            f"assert main(['demo', '--out', {str(tmp_path / 'demo')!r}]) == 0\n"
            f"assert main(['segment', {str(photo)!r}, '--keypoints', {str(annotations)!r}, '--out', "
            f"{str(tmp_path / 'seg')!r}]) == 0\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\nprint('no torch')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "no torch" in done.stdout and "person score: learned" in done.stdout
    assert "INFO" not in done.stderr
    assert (tmp_path / "seg" / f"{photo.stem}_results.json").is_file()


def test_bad_onnx_files_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="missing.onnx: ONNX model not found"):
        OnnxPredictor(tmp_path / "missing.onnx")
    text = tmp_path / "text.onnx"
    text.write_text("not a model")
    with pytest.raises(CheckpointError, match="text.onnx: not a readable ONNX model"):
        OnnxPredictor(text)
    with pytest.raises(CheckpointError, match="text.onnx"):  # refused when the method is built, not per image
        LearnedMasks(text)
    with pytest.raises(ValueError, match="runtime onnx needs an .onnx file"):
        make_predictor(tmp_path / "model.safetensors", runtime="onnx")
    with pytest.raises(ValueError, match="unknown runtime"):
        make_predictor(runtime="tensorrt")


def test_an_onnx_file_without_our_config_is_refused(tmp_path):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(default_model_path(".onnx")))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    with pytest.raises(CheckpointError, match="bare.onnx: no pose2instance model config"):
        OnnxPredictor(bare)
    entry = model.metadata_props.add()
    entry.key, entry.value = CONFIG_KEY, json.dumps({"variant": "pose", "crop_size": 128})
    onnx.save(model, str(bare))
    with pytest.raises(CheckpointError, match="does not fit its config"):
        OnnxPredictor(bare)


def test_export_onnx_round_trip_of_a_trained_network(tmp_path, demo):
    """export-onnx writes a file that ONNX Runtime runs like the PyTorch network (a small pose network here)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from pose2instance.cli import main
    from pose2instance.learned.models import Predictor, build_model, save_model
    torch.manual_seed(0)
    run = tmp_path / "run"
    save_model(build_model("pose", crop_size=64, width=8).eval(), run)
    out = tmp_path / "net.onnx"
    assert main(["export-onnx", str(run), str(out), "--check"]) == 0
    image, persons = demo
    exported = make_predictor(out)
    assert isinstance(exported, OnnxPredictor) and exported.config.crop_size == 64
    assert np.abs(exported.logits(image, persons) - Predictor(run, "cpu").logits(image, persons)).max() < 1e-4
    assert main(["export-onnx", str(tmp_path / "none"), str(tmp_path / "x.onnx")]) == 2
    assert main(["export-onnx", str(run), str(tmp_path / "x.pt")]) == 2
