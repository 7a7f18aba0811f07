"""The shipped network in PyTorch against its shipped ONNX export run by ONNX Runtime, in one run.

Times both runtimes' :meth:`run` (the network alone) on the same random crops (batches of ``--batch``,
``--threads`` CPU threads each, median of ``--repeats``). Then compares their mask logits on real person
crops (the demo photo's, and those of the first three images of the shared dev file when it is there) with
the PyTorch network computed in float64: each float32 runtime's largest difference from it, as a fraction of
the logits' range. The end-to-end comparison on real photos (inputs, network, paste-back, masks) is
``benchmarks/runtime_agreement.py``.

    python benchmarks/bench_onnx.py [--batch 16] [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco_persons" / "annotations" / \
    "person_keypoints_dev.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    import numpy as np
    import onnxruntime as ort
    import torch

    from pose2instance.learned.models import Predictor
    from pose2instance.learned.onnx_net import OnnxPredictor
    from pose2instance.learned.predictor import default_model_path
    torch.set_num_threads(args.threads)
    runtimes = {"torch": Predictor(default_model_path(), "cpu", args.batch),
                "onnx": OnnxPredictor(batch_size=args.batch, threads=args.threads)}
    config = runtimes["onnx"].config
    n = config.crop_size
    x = np.random.default_rng(0).random((args.batch, config.in_channels, n, n), dtype=np.float32)

    def timed(run) -> tuple[float, np.ndarray]:
        out = run(x)  # warm-up
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            out = run(x)
            times.append(time.perf_counter() - t)
        return 1e3 * statistics.median(times) / args.batch, out

    torch_ms, _ = timed(runtimes["torch"].run)
    ort_ms, _ = timed(runtimes["onnx"].run)
    print(f"| runtime | ms per crop ({n} px, batch {args.batch}, {args.threads} threads, median of {args.repeats}) |")
    print("|---|---|")
    print(f"| PyTorch {torch.__version__} | {torch_ms:.1f} |")
    print(f"| ONNX Runtime {ort.__version__} | {ort_ms:.1f} ({torch_ms / ort_ms:.2f}x faster) |")

    crops = real_crops(runtimes["onnx"])
    with torch.no_grad():
        exact = runtimes["torch"].model.double()(torch.from_numpy(crops).double())["mask"][:, 0].numpy()
    runtimes["torch"].model.float()
    span = np.ptp(exact)
    print(f"\nmask logits on {len(crops)} real person crops, largest difference from PyTorch in float64 "
          f"(range {span:.3g}): " + ", ".join(f"{name} {np.abs(r.run(crops) - exact).max() / span:.1e}"
                                            for name, r in runtimes.items()) + " of the range")


def real_crops(predictor):
    """``(N, C, n, n)`` inputs of the shipped network on the demo photo's people and, with the shared data,
    those of the first three images of the dev file."""
    import numpy as np

    from pose2instance.io import CocoPersons
    from pose2instance.segment import demo_files
    photo, annotations = demo_files()
    sources = [(CocoPersons(annotations, photo.parent), [790])]
    if DEV.is_file():
        dev = CocoPersons(DEV)
        sources.append((dev, dev.image_ids[:3]))
    batches = [predictor.inputs(ds.load_image(i), ds.persons(i))[0] for ds, ids in sources for i in ids
               if len(ds.persons(i))]
    return np.concatenate(batches)


if __name__ == "__main__":
    main()
