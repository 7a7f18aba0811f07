"""The shipped network in PyTorch against its shipped ONNX export run by ONNX Runtime, in one run.

Times both runtimes' :meth:`run` (the network alone) on the same random crops (batches of ``--batch``,
``--threads`` CPU threads each, median of ``--repeats``) and compares their mask logits. The end-to-end
comparison on real photos (inputs, network, paste-back, masks) is ``benchmarks/runtime_agreement.py``.

    python benchmarks/bench_onnx.py [--batch 16] [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time


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

    torch_ms, reference = timed(runtimes["torch"].run)
    ort_ms, got = timed(runtimes["onnx"].run)
    print(f"| runtime | ms per crop ({n} px, batch {args.batch}, {args.threads} threads, median of {args.repeats}) |")
    print("|---|---|")
    print(f"| PyTorch {torch.__version__} | {torch_ms:.1f} |")
    print(f"| ONNX Runtime {ort.__version__} | {ort_ms:.1f} ({torch_ms / ort_ms:.2f}x faster) |")
    print(f"\nmask logits: max abs difference {np.abs(got - reference).max():.2e}, "
          f"range {np.ptp(reference):.3g}")


if __name__ == "__main__":
    main()
