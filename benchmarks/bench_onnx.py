"""The shipped network in PyTorch against the same network exported to ONNX and run with ONNX Runtime, one run.

Exports the mask output of the shipped network (``torch.onnx.export``, opset 17, dynamic batch), then times both
on the same random crops (batches of ``--batch``, ``--threads`` CPU threads each, median of ``--repeats``) and
compares their mask logits. Needs ``pip install onnx onnxruntime`` (not a dependency of the package).

    python benchmarks/bench_onnx.py [--batch 16] [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    import numpy as np
    import onnxruntime as ort
    import torch

    from pose2instance.learned.models import load_default_model
    torch.set_num_threads(args.threads)
    model = load_default_model("cpu").eval()

    class MaskOnly(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)["mask"]

    n = model.config.crop_size
    x = torch.rand(args.batch, model.config.in_channels, n, n, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "person_net.onnx"
        torch.onnx.export(MaskOnly(model), (x[:1],), str(path), input_names=["crops"], output_names=["mask"],
                          dynamic_axes={"crops": {0: "batch"}, "mask": {0: "batch"}}, opset_version=17, dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def timed(run) -> tuple[float, np.ndarray]:
        out = run()  # warm-up
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            out = run()
            times.append(time.perf_counter() - t)
        return 1e3 * statistics.median(times) / args.batch, out

    with torch.inference_mode():
        torch_ms, reference = timed(lambda: MaskOnly(model)(x).numpy())
    ort_ms, got = timed(lambda: session.run(None, {"crops": x.numpy()})[0])
    print(f"| runtime | ms per crop ({n} px, batch {args.batch}, {args.threads} threads, median of {args.repeats}) |")
    print("|---|---|")
    print(f"| PyTorch {torch.__version__} | {torch_ms:.1f} |")
    print(f"| ONNX Runtime {ort.__version__} | {ort_ms:.1f} ({torch_ms / ort_ms:.2f}x faster) |")
    print(f"\nmask logits: max abs difference {np.abs(got - reference).max():.2e}, "
          f"range {reference.max() - reference.min():.3g}")


if __name__ == "__main__":
    main()
