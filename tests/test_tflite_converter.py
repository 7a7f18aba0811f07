"""The tflite -> PyTorch converter against LiteRT, on real person crops of the fixture photos.

Each converted module runs in float64, so what is compared is the conversion, not float32 rounding; LiteRT
runs its reference kernels (``BUILTIN_REF``) where they cover the model, else its default kernels (the selfie
model's custom transposed convolution exists only there). The thresholded masks of the float32 module are
compared with what users run: the default interpreter.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("tflite")
pytest.importorskip("ai_edge_litert")

import torch  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

from conftest import DEMO_IMAGE_ID  # noqa: E402
from pose2instance.crops import CropWindow  # noqa: E402
from pose2instance.io import tflite as tflite_io  # noqa: E402
from pose2instance.io.tflite import TFLiteError, read_tflite  # noqa: E402
from pose2instance.learned.models.tflite_net import convert_tflite, to_tflite_layout  # noqa: E402
from pose2instance.scores.mediapipe import find_model  # noqa: E402

MODELS = {"pose_landmark_full": OpResolverType.BUILTIN_REF, "pose_detection": OpResolverType.BUILTIN_REF,
          "selfie_segmentation": OpResolverType.AUTO}


@pytest.fixture(scope="module")
def person_crops(coco_dev):
    """Three ``(256, 256, 3)`` float32 RGB crops in [0, 1] around real persons of the demo photo and another."""
    other = next(i for i in coco_dev.image_ids if i != DEMO_IMAGE_ID)
    crops = []
    for image_id, index in ((DEMO_IMAGE_ID, 0), (DEMO_IMAGE_ID, 2), (other, 0)):
        persons = coco_dev.persons(image_id, with_masks=False)
        crops.append(CropWindow.around_pixels(persons.boxes[index], 1.25).extract(coco_dev.load_image(image_id), 256))
    return crops


def _litert(name: str, resolver) -> Interpreter:
    interpreter = Interpreter(model_path=str(find_model(name)), experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    return interpreter


def _run_litert(interpreter: Interpreter, x: np.ndarray) -> list[np.ndarray]:
    detail = interpreter.get_input_details()[0]
    h, w = detail["shape"][1:3]
    x = _resize(x, (h, w))
    interpreter.set_tensor(detail["index"], x[None])
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"])[0] for d in interpreter.get_output_details()]


def _resize(x: np.ndarray, size) -> np.ndarray:
    from PIL import Image
    if x.shape[:2] == tuple(size):
        return np.ascontiguousarray(x, np.float32)
    planes = [np.asarray(Image.fromarray(x[..., c]).resize((int(size[1]), int(size[0])), Image.Resampling.BILINEAR))
              for c in range(3)]
    return np.stack(planes, -1).astype(np.float32)


@pytest.mark.parametrize("name", list(MODELS))
def test_converted_module_matches_litert_on_person_crops(name, person_crops):
    """Within 1e-4 of each output's range, or within LiteRT's own spread where that is larger.

    LiteRT's two CPU kernels (reference and XNNPACK) differ from each other on BlazePose's mask logits (range
    about 2000) by up to 8.3e-4 of the range (``benchmarks/converter_agreement.py``): float32 rounding grows
    through the mask decoder. A conversion cannot be judged more finely than the interpreter agrees with itself.
    """
    interpreter = _litert(name, MODELS[name])
    default = _litert(name, OpResolverType.AUTO) if MODELS[name] != OpResolverType.AUTO else None
    net = convert_tflite(find_model(name)).double().eval()
    assert net.output_names == [d["name"] for d in interpreter.get_output_details()]
    for crop in person_crops:
        reference = _run_litert(interpreter, crop)
        own_spread = [np.abs(a - b).max() for a, b in zip(reference, _run_litert(default, crop))] if default \
            else [0.0] * len(reference)
        h, w = net.input_shape[1:3]
        x = torch.from_numpy(_resize(crop, (h, w))).permute(2, 0, 1)[None].double()
        with torch.no_grad():
            outputs = [to_tflite_layout(o)[0] for o in net(x)]
        for ref, out, out_name, litert_spread in zip(reference, outputs, net.output_names, own_spread):
            assert out.shape == ref.shape, out_name
            spread = float(ref.max() - ref.min())
            if spread == 0:  # a single probability (the pose flag): compare it directly
                assert np.abs(out - ref).max() < 1e-4, out_name
            else:
                error = np.abs(out - ref).max()
                assert error <= max(1e-4 * spread, litert_spread), (name, out_name, error, spread)


@pytest.mark.parametrize("name, output, threshold", [("pose_landmark_full", 2, 0.0),
                                                     ("selfie_segmentation", 0, 0.5)])
def test_float32_masks_agree_with_the_default_interpreter(name, output, threshold, person_crops):
    interpreter = _litert(name, OpResolverType.AUTO)
    net = convert_tflite(find_model(name), outputs=[output]).eval()
    agree = []
    for crop in person_crops:
        ref = _run_litert(interpreter, crop)[output][..., 0] > threshold
        with torch.no_grad():
            out = net(torch.from_numpy(crop).permute(2, 0, 1)[None])[0][0, 0].numpy() > threshold
        assert ref.mean() > 0.02  # a person is there
        agree.append(np.mean(out == ref))
    assert min(agree) >= 0.999, agree


def test_a_batch_gives_the_outputs_of_single_crops(person_crops):
    net = convert_tflite(find_model("pose_landmark_full"), outputs=["Identity_2", "Identity_3"]).eval()
    x = torch.stack([torch.from_numpy(c).permute(2, 0, 1) for c in person_crops[:2]])
    with torch.no_grad():
        both = net(x)
        one = [net(x[i:i + 1]) for i in range(2)]
    for k in range(2):
        for i in range(2):
            assert torch.allclose(both[k][i], one[i][k][0], atol=1e-3, rtol=1e-5)


def test_pruned_outputs_and_added_input_channels_keep_the_pretrained_answer(person_crops):
    full = convert_tflite(find_model("pose_landmark_full")).eval()
    mask_only = convert_tflite(find_model("pose_landmark_full"), outputs=["Identity_2"]).eval()
    assert len(mask_only.ops) < len(full.ops)
    wide = convert_tflite(find_model("pose_landmark_full"), outputs=["Identity_2"]).eval()
    wide.add_input_channels(5)
    assert set(wide.extra_inputs) and all(int(torch.count_nonzero(p)) == 0 for p in wide.extra_inputs.values())
    x = torch.from_numpy(person_crops[0]).permute(2, 0, 1)[None]
    with torch.no_grad():
        reference = full(x)[2]
        assert torch.equal(mask_only(x)[0], reference)
        assert torch.allclose(wide(torch.cat([x, torch.rand(1, 5, 256, 256)], 1))[0], reference, atol=1e-3)


def test_weights_are_float32_parameters_named_by_tensor():
    net = convert_tflite(find_model("pose_detection"))
    assert all(p.dtype == torch.float32 and p.requires_grad for p in net.parameters())
    assert all(k.startswith("t") and k[1:].isdigit() for k in net.weights)
    again = convert_tflite(find_model("pose_detection"))
    assert list(net.state_dict()) == list(again.state_dict())


def test_bad_files_and_unsupported_operators_are_named(tmp_path, monkeypatch):
    not_a_model = tmp_path / "photo.tflite"
    not_a_model.write_bytes(b"\xff\xd8\xff\xe0 not a model at all")
    with pytest.raises(TFLiteError, match="photo.tflite.*not a TensorFlow Lite model"):
        read_tflite(not_a_model)
    with pytest.raises(FileNotFoundError, match="missing.tflite"):
        read_tflite(tmp_path / "missing.tflite")
    damaged = tmp_path / "damaged.tflite"
    damaged.write_bytes(find_model("selfie_segmentation").read_bytes()[:5000])
    with pytest.raises(TFLiteError, match="damaged.tflite"):
        read_tflite(damaged)
    monkeypatch.setattr(tflite_io, "SUPPORTED_OPS", tuple(k for k in tflite_io.SUPPORTED_OPS if k != "HARD_SWISH"))
    with pytest.raises(TFLiteError, match=r"selfie_segmentation.tflite: operator #\d+ HARD_SWISH is not supported"):
        read_tflite(find_model("selfie_segmentation"))
