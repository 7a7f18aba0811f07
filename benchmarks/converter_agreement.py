"""How closely the tflite -> PyTorch conversion agrees with LiteRT, output by output, on real person crops.

For each of MediaPipe's three models and each output, over crops around persons of the test fixture's photos
(the crops of ``tests/test_tflite_converter.py``), as fractions of the output's range (max abs difference):

* ``float64 vs reference``: the converted module in float64 against LiteRT's reference kernels (the conversion
  itself; the selfie model's custom operator exists only in the default kernels, used there instead);
* ``LiteRT's own spread``: LiteRT's default (XNNPACK) kernels against its reference kernels (``-`` for the
  selfie model, which has no reference run);
* ``float32 vs default``: the module in float32 against the default kernels (what a user compares).

    python benchmarks/converter_agreement.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "coco_persons" / "annotations" / "person_keypoints_dev.json"


def crops() -> list[np.ndarray]:
    """``(256, 256, 3)`` float32 crops around persons 0 and 2 of the demo photo and person 0 of another image."""
    from pose2instance.crops import CropWindow
    from pose2instance.io import CocoPersons
    ds = CocoPersons(FIXTURE)
    other = next(i for i in ds.image_ids if i != 790)
    return [CropWindow.around_pixels(ds.persons(i, with_masks=False).boxes[k], 1.25).extract(ds.load_image(i), 256)
            for i, k in ((790, 0), (790, 2), (other, 0))]


def main() -> None:
    import torch
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from PIL import Image

    from pose2instance.learned.models.tflite_net import convert_tflite, to_tflite_layout
    from pose2instance.scores.mediapipe import find_model

    def litert(name, resolver):
        interpreter = Interpreter(model_path=str(find_model(name)), experimental_op_resolver_type=resolver)
        interpreter.allocate_tensors()
        return interpreter

    def run(interpreter, x):
        detail = interpreter.get_input_details()[0]
        h, w = (int(v) for v in detail["shape"][1:3])
        if x.shape[:2] != (h, w):
            x = np.stack([np.asarray(Image.fromarray(x[..., c]).resize((w, h), Image.Resampling.BILINEAR))
                          for c in range(3)], -1)
        interpreter.set_tensor(detail["index"], np.ascontiguousarray(x, np.float32)[None])
        interpreter.invoke()
        return [interpreter.get_tensor(d["index"])[0] for d in interpreter.get_output_details()], x

    print("| model | output | range | float64 vs reference | LiteRT's own spread | float32 vs default |")
    print("|---|---|---|---|---|---|")
    for name in ("pose_landmark_full", "pose_detection", "selfie_segmentation"):
        has_reference = name != "selfie_segmentation"
        reference = litert(name, OpResolverType.BUILTIN_REF if has_reference else OpResolverType.AUTO)
        default = litert(name, OpResolverType.AUTO)
        net = convert_tflite(find_model(name)).eval()
        worst: dict[str, list[float]] = {}
        for crop in crops():
            ref, x = run(reference, crop)
            dflt, _ = run(default, crop)
            tensor = torch.from_numpy(x).permute(2, 0, 1)[None]
            with torch.no_grad():
                out64 = [to_tflite_layout(o)[0] for o in net.double()(tensor.double())]
                out32 = [to_tflite_layout(o)[0] for o in net.float()(tensor.float())]
            for k, out_name in enumerate(net.output_names):
                spread = float(ref[k].max() - ref[k].min()) or 1.0  # a single value: absolute differences
                row = worst.setdefault(out_name, [0.0, 0.0, 0.0, 0.0])
                row[0] = max(row[0], spread)
                row[1] = max(row[1], np.abs(out64[k] - ref[k]).max() / spread)
                row[2] = max(row[2], np.abs(dflt[k] - ref[k]).max() / spread) if has_reference else float("nan")
                row[3] = max(row[3], np.abs(out32[k] - dflt[k]).max() / spread)
        for out_name, (spread, a, b, c) in worst.items():
            own = "-" if np.isnan(b) else f"{b:.1e}"
            print(f"| {name} | {out_name} | {spread:.4g} | {a:.1e} | {own} | {c:.1e} |")
    print("\nFractions of each output's range (one value: absolute differences); the worst of the crops.")


if __name__ == "__main__":
    main()
