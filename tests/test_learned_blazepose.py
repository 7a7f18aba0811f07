"""The blazepose backbone: BlazePose GHUM full converted, widened for the pose, calibrated, fine-tuned, reloaded."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tflite")
pytest.importorskip("safetensors")

from pose2instance.learned.models import ModelConfig, PersonNet, load_model, save_model  # noqa: E402
from pose2instance.learned.models.blazepose_net import coco_heatmap_selection  # noqa: E402
from pose2instance.learned.models.tflite_net import convert_tflite  # noqa: E402
from pose2instance.learned.models.weights import CheckpointError  # noqa: E402
from pose2instance.learned.train import main as train_main  # noqa: E402
from pose2instance.scores.mediapipe import find_model  # noqa: E402

from conftest import COCO_DEV  # noqa: E402


@pytest.fixture(scope="module")
def crops():
    torch.manual_seed(0)
    return torch.rand(2, 3, 256, 256)


def test_at_initialisation_the_pose_network_is_blazepose(crops):
    reference = convert_tflite(find_model("pose_landmark_full"), outputs=["Identity_2", "Identity_3"]).eval()
    config = ModelConfig("pose", "blazepose", crop_size=256)
    net = PersonNet(config).eval()
    priors = torch.rand(2, config.in_channels - 3, 256, 256)
    with torch.no_grad():
        mask, _ = reference(crops)
        out = net(torch.cat([crops, priors], 1))
    assert config.in_channels > 3 and out["mask"].shape == (2, 1, 256, 256)
    assert torch.allclose(out["mask"], mask, atol=1e-3)  # zero filters for the pose: BlazePose's own mask


def test_multitask_heatmaps_start_as_blazepose_s_coco_keypoints(crops):
    reference = convert_tflite(find_model("pose_landmark_full"), outputs=["Identity_3"]).eval()
    net = PersonNet(ModelConfig("cascade", "blazepose", crop_size=256)).eval()
    with torch.no_grad():
        heat = reference(crops)[0]
        out = net(crops)
    select = coco_heatmap_selection()
    assert select.sum() == 17 and (select.sum(1) == 1).all()
    assert torch.allclose(out["heatmaps"], torch.einsum("kc,bchw->bkhw", select, heat), atol=1e-4)
    assert out["heatmaps"].shape == (2, 17, 64, 64)
    assert torch.allclose(out["mask"], net.blazepose(crops)[0], atol=1e-4)  # the cascade starts as the mask alone


def test_frozen_backbone_trains_only_the_mask_head_the_pose_filters_and_the_scale():
    net = PersonNet(ModelConfig("pose", "blazepose", crop_size=256, freeze="backbone"))
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    head = {f"blazepose.net.weights.{k}" for k in net.blazepose.head_parameter_names()}
    assert head and head <= trainable and "blazepose.calibration" in trainable
    assert any(n.startswith("blazepose.net.extra_inputs.") for n in trainable)
    frozen = {n for n, p in net.named_parameters() if not p.requires_grad}
    assert len(frozen) > 3 * len(head)


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="multiple of 32"):
        ModelConfig("pose", "blazepose", crop_size=240)
    with pytest.raises(ValueError, match="freeze"):
        ModelConfig("pose", "tiny", freeze="backbone")


def test_calibrate_train_save_and_reload(tmp_path, capsys):
    out = tmp_path / "run"
    code = train_main(["--annotations", str(COCO_DEV), "--min-area", "3000", "--variant", "pose", "--backbone",
                       "blazepose", "--crop-size", "256", "--calibrate-steps", "2", "--batch-size", "2", "--steps", "2",
                       "--warmup-steps", "1", "--lr", "1e-5", "--threads", "2", "--no-progress", "--no-final-eval",
                       "--device", "cpu", "--out", str(out)])
    assert code == 0
    err = capsys.readouterr().err
    assert "calibrated the pretrained mask on 4 crops: scale" in err
    net = load_model(out)
    scale, bias = net.blazepose.calibration.tolist()
    assert 1e-4 < scale < 0.1  # BlazePose's logits (hundreds) brought to the order of one
    assert abs(bias) < 1e-3    # two steps at 1e-5 barely move the bias: the threshold is still BlazePose's
    x = torch.rand(1, net.config.in_channels, 256, 256)
    again = PersonNet(net.config).eval()
    again.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert torch.equal(net(x)["mask"], again(x)["mask"])
    save_model(net, tmp_path / "copy")
    assert torch.equal(load_model(tmp_path / "copy").blazepose.calibration, net.blazepose.calibration)


def test_calibrate_steps_need_a_pretrained_mask(tmp_path, capsys):
    code = train_main(["--annotations", str(COCO_DEV), "--min-area", "3000", "--variant", "seg", "--crop-size", "48",
                       "--width", "8", "--calibrate-steps", "2", "--batch-size", "2", "--steps", "2", "--threads", "1",
                       "--no-progress", "--no-final-eval", "--device", "cpu", "--out", str(tmp_path / "r")])
    assert code == 2
    assert "--calibrate-steps needs a network with a pretrained mask" in capsys.readouterr().err


def test_a_checkpoint_of_another_network_is_refused_by_name(tmp_path):
    net = PersonNet(ModelConfig("pose", "tiny", crop_size=64, width=8))
    save_model(net, tmp_path / "tiny")
    config = ModelConfig("pose", "blazepose", crop_size=256)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_model(tmp_path / "tiny", config=config)
