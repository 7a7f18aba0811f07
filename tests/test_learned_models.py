"""The learned person-crop networks: shapes, paste-back, safe checkpoints, the shipped weights."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from pose2instance.resample import image_planes, sample_crops  # noqa: E402
from pose2instance.evaluation import paired_iou  # noqa: E402
from pose2instance.learned.models import (OUTSIDE_LOGIT, VARIANTS, CheckpointError, ModelConfig, Predictor,  # noqa: E402
                                  build_model, default_model_path, load_default_model, load_model,
                                  masks_from_probabilities, save_model)
from pose2instance.learned.models import find_imagenet_weights, load_state_file  # noqa: E402

HELD_OUT = (60623, 252219)  # dev images in the held-out split (split_image_ids(..., 0.4, seed=0)) with 3 people each


@pytest.mark.parametrize("variant", VARIANTS)
def test_variants_on_real_crops(variant, demo):
    image, persons = demo
    torch.manual_seed(0)
    model = build_model(variant, crop_size=64, width=16).eval()
    pred = Predictor(model, "cpu")
    x, windows = pred.inputs(image, persons)
    assert x.shape == (len(persons), 3 + model.config.prior_channels, 64, 64)
    with torch.no_grad():
        out = model(torch.from_numpy(x))
    assert out["mask"].shape == (len(persons), 1, 64, 64)
    if variant in ("multitask", "cascade"):
        assert out["heatmaps"].shape == (len(persons), 17, 16, 16)
    else:
        assert "heatmaps" not in out
    logits = pred.logits(image, persons)
    assert logits.shape == (len(persons), *persons.image_size) and logits.dtype == np.float32
    # Outside each crop window the logit is the fixed background value.
    for i, win in enumerate(windows):
        far = np.ones(persons.image_size, bool)
        x0, x1 = int(win.cx - win.side / 2) - 2, int(win.cx + win.side / 2) + 2
        y0, y1 = int(win.cy - win.side / 2) - 2, int(win.cy + win.side / 2) + 2
        far[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = False
        assert np.all(logits[i][far] == OUTSIDE_LOGIT)
    with pytest.raises(ValueError, match="expects"):
        model(torch.zeros(1, 3 + model.config.prior_channels + 1, 64, 64))


def test_paste_back_puts_crop_pixels_where_they_came_from(demo):
    """A 'network' that returns the crop's own brightness gives back the image brightness after paste-back."""
    image, persons = demo
    model = build_model("seg", crop_size=64, width=8)
    pred = Predictor(model, "cpu")
    crops = sample_crops(image_planes(image), pred.windows(persons), 64).mean(1)
    pred.crop_logits = lambda im, ps: (crops, pred.windows(ps))
    pasted = pred.logits(image, persons)
    ref = image.mean(-1) / 255.0
    for i in range(len(persons)):
        inside = pasted[i] != OUTSIDE_LOGIT
        assert np.median(np.abs(pasted[i][inside] - ref[inside])) < 0.05


def test_exclusive_masks_are_disjoint():
    prob = np.array([[[0.9, 0.6, 0.2]], [[0.8, 0.7, 0.1]]], np.float32)
    m = masks_from_probabilities(prob)
    assert m.tolist() == [[[True, False, False]], [[False, True, False]]]
    assert masks_from_probabilities(prob, exclusive=False)[:, 0, :2].all()


def test_checkpoint_round_trip(tmp_path, demo):
    image, persons = demo
    torch.manual_seed(1)
    model = build_model("cascade", crop_size=64, width=16).eval()
    path = save_model(model, tmp_path / "run")
    assert {p.name for p in (tmp_path / "run").iterdir()} == {"model.safetensors", "config.json"}
    loaded = load_model(tmp_path / "run")
    assert loaded.config.to_json() == model.config.to_json()
    a = Predictor(model, "cpu").logits(image, persons)
    b = Predictor(path, "cpu").logits(image, persons)
    assert np.array_equal(a, b)


def test_wrong_architecture_is_a_clear_error(tmp_path):
    save_model(build_model("seg", crop_size=64, width=16), tmp_path / "seg")
    # The weights of a segmentation-only network under a pose-conditioned config: first conv has 3 inputs, not 3 + 21.
    pose_cfg = ModelConfig("pose", crop_size=64, width=16)
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*backbone\.stem\.0\.0\.weight: "
                                              r"checkpoint \(8, 3, 3, 3\), model \(8, 24, 3, 3\)"):
        load_model(tmp_path / "seg", config=pose_cfg)
    # A different width: every shape differs.
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_model(tmp_path / "seg", config=ModelConfig("seg", crop_size=64, width=32))
    # Multitask weights have a keypoint head the seg network does not know.
    save_model(build_model("multitask", crop_size=64, width=16), tmp_path / "mt")
    with pytest.raises(CheckpointError, match="unexpected key.*keypoint_head"):
        load_model(tmp_path / "mt", config=ModelConfig("seg", crop_size=64, width=16))
    # A config naming an unknown variant.
    (tmp_path / "seg" / "config.json").write_text('{"variant": "detr"}')
    with pytest.raises(CheckpointError, match="config.json.*unknown model variant 'detr'"):
        load_model(tmp_path / "seg")
    # Absurd or non-finite sizes are refused before anything is allocated, naming the file and the field.
    for field, value, message in (("width", 10**6, "width must be an integer from 1 to 512"),
                                  ("crop_size", 65536, "crop_size must be an integer from 1 to 1024"),
                                  ("margin", float("nan"), "margin must be a number from 1 to 10"),
                                  ("width", "32", "width must be an integer")):
        (tmp_path / "seg" / "config.json").write_text(json.dumps({"variant": "seg", field: value}))
        with pytest.raises(CheckpointError, match=f"seg/config.json: bad model config: {message}"):
            load_model(tmp_path / "seg")
    (tmp_path / "seg" / "config.json").write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(CheckpointError, match="seg/config.json: not a JSON model config"):
        load_model(tmp_path / "seg")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_corrupt_and_pickled_files_are_refused(tmp_path):
    save_model(build_model("seg", crop_size=64, width=8), tmp_path / "ok")
    data = (tmp_path / "ok" / "model.safetensors").read_bytes()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((tmp_path / "ok" / "config.json").read_text())
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(CheckpointError, match=r"bad/model\.safetensors: not a readable safetensors file"):
        load_model(bad)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_model(tmp_path / "missing.safetensors")

    class Evil:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    (bad / "model.safetensors").write_bytes(pickle.dumps({"w": Evil()}))
    with pytest.raises(CheckpointError):
        load_model(bad)
    evil_pth = tmp_path / "evil.pth"
    evil_pth.write_bytes(pickle.dumps({"w": Evil()}))
    with pytest.raises(ValueError, match="evil.pth: cannot read weights"):
        load_state_file(evil_pth)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_resnet_backbone_uses_local_imagenet_weights_only(tmp_path, monkeypatch):
    import torchvision
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    assert find_imagenet_weights("resnet18") is None  # nothing cached: no download, random init
    plain = build_model("pose", backbone="resnet18", crop_size=64, pretrained="auto")
    assert plain.config.norm == "group"
    # A local ImageNet-style state dict: loaded, BatchNorm frozen, extra input channels zero-initialised.
    ref = torchvision.models.resnet18(weights=None)
    torch.save(ref.state_dict(), tmp_path / "r18.pth")
    net = build_model("pose", backbone="resnet18", crop_size=64, pretrained=str(tmp_path / "r18.pth"))
    assert net.config.norm == "frozen_bn"
    w = net.backbone.stem[0].weight
    assert torch.equal(w[:, :3], ref.conv1.weight) and not w[:, 3:].any()
    out = net.eval()(torch.rand(2, net.in_channels, 64, 64))
    assert out["mask"].shape == (2, 1, 64, 64)
    # The checkpoint rebuilds frozen BatchNorm without the ImageNet file.
    save_model(net, tmp_path / "run")
    (tmp_path / "r18.pth").unlink()
    again = load_model(tmp_path / "run")
    assert torch.equal(again.backbone.stem[0].weight, w)
    with pytest.raises(ValueError, match="not resnet18 ImageNet weights"):
        torch.save({"foo": torch.zeros(1)}, tmp_path / "junk.pth")
        build_model("seg", backbone="resnet18", pretrained=str(tmp_path / "junk.pth"))


def test_shipped_weights_load_offline_and_segment_held_out_images(coco_dev):
    pytest.importorskip("tflite")  # the shipped network is BlazePose GHUM, rebuilt from the packaged .tflite
    assert default_model_path().is_file() and default_model_path().stat().st_size < 20e6
    model = load_default_model("cpu")
    pred = Predictor(model, "cpu")
    ious = []
    for image_id in HELD_OUT:
        persons = coco_dev.persons(image_id)
        masks = pred.masks(coco_dev.load_image(image_id), persons)
        ious.extend(paired_iou(masks, persons.masks))
    assert np.mean(ious) > 0.7, ious  # 0.813 measured (0.645 for the network shipped before); filled boxes ~0.5


def test_learned_score_plugs_into_fusion(coco_dev):
    pytest.importorskip("tflite")
    from pose2instance.pipeline import Pose2Instance
    from pose2instance.registry import make_scorer
    scorer = make_scorer("learned")
    image_id = HELD_OUT[0]
    image, persons = coco_dev.load_image(image_id), coco_dev.persons(image_id)
    score = scorer(image, persons)
    assert score.shape == persons.image_size and score.dtype == np.float32
    assert 0.0 <= score.min() and score.max() <= 1.0
    masks = Pose2Instance("euclidean")(persons, score, image).masks
    assert np.mean(paired_iou(masks, persons.masks)) > 0.7  # 0.805 measured (0.618 for the network shipped before)


def test_flip_test_time_augmentation_is_mirror_equivariant(demo):
    from dataclasses import replace

    from pose2instance.structures import COCO_FLIP_INDEX
    image, persons = demo
    w = image.shape[1]
    kp = persons.keypoints[:, list(COCO_FLIP_INDEX)].copy()
    kp[..., 0] = np.where(kp[..., 2] > 0, w - 1 - kp[..., 0], 0)
    boxes = persons.boxes.copy()
    boxes[:, [0, 2]] = w - 1 - persons.boxes[:, [2, 0]]
    mirrored = replace(persons, keypoints=kp, boxes=boxes, masks=None)
    torch.manual_seed(0)
    model = build_model("pose", crop_size=64, width=16).eval()
    plain, averaged = Predictor(model, "cpu"), Predictor(model, "cpu", flip=True)
    one = averaged.logits(image, persons)
    other = averaged.logits(np.ascontiguousarray(image[:, ::-1]), mirrored)
    inside = (one > OUTSIDE_LOGIT) & (other[:, :, ::-1] > OUTSIDE_LOGIT)
    # the averaged logits of the mirrored photo are the mirror of the photo's (an untrained network is not)
    assert np.median(np.abs(other[:, :, ::-1] - one)[inside]) < 0.02
    single = plain.logits(image, persons)
    assert np.median(np.abs(plain.logits(np.ascontiguousarray(image[:, ::-1]), mirrored)[:, :, ::-1]
                            - single)[inside]) > 0.05
    assert not np.allclose(one, single)


def test_larger_test_time_crops_segment_the_same_people(demo):
    pytest.importorskip("tflite")
    image, persons = demo
    model = load_default_model("cpu")
    plain, larger = Predictor(model, "cpu"), Predictor(model, "cpu", crop_size=320)
    crops, windows = larger.crop_logits(image, persons)
    assert crops.shape == (len(persons), 320, 320) and len(windows) == len(persons)
    ious = paired_iou(larger.masks(image, persons), plain.masks(image, persons))
    assert ious.min() > 0.8, ious  # the same people, at 1.25x the resolution
    assert np.mean(paired_iou(larger.masks(image, persons), persons.masks)) > 0.7
    with pytest.raises(ValueError, match="multiple of (16|32)"):
        Predictor(model, "cpu", crop_size=150)


def test_a_config_with_millions_of_priors_is_refused_before_anything_is_allocated(tmp_path):
    """Issue 22 M4: 2,000,000 prior entries in a config tried to allocate 19.6 GB before any refusal."""
    from pose2instance.learned.models.networks import read_config
    with pytest.raises(ValueError, match="at most 16 prior names"):
        ModelConfig("pose", priors=["euclidean"] * 2_000_000)
    with pytest.raises(ValueError, match=r"unknown prior\(s\) \['nope'\]"):
        ModelConfig("pose", priors=["euclidean", "nope"])
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"variant": "pose", "priors": ["euclidean-limbs"] * 100_000}))
    with pytest.raises(CheckpointError, match="config.json: bad model config: priors must be a list of at most 16"):
        read_config(tmp_path / "model.safetensors")


@pytest.mark.parametrize("config_text", ["{not json", "[" * 100_000 + "]" * 100_000])
def test_a_checkpoint_whose_metadata_config_is_unreadable_is_named(tmp_path, config_text):
    """Issue 22 (low): invalid or deeply nested JSON in the safetensors metadata gave a bare traceback."""
    from pose2instance.learned.models.weights import atomic_save_tensors
    weights = tmp_path / "model.safetensors"
    atomic_save_tensors(weights, {"w": torch.zeros(1)}, metadata={"pose2instance_config": config_text})
    with pytest.raises(CheckpointError, match="model.safetensors: the model config in its metadata is not readable"):
        load_model(weights)
