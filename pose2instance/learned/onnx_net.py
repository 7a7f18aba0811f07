"""A person-crop network as one ONNX file: exported from PyTorch, run with ONNX Runtime (no torch needed).

An exported file holds the network's mask output, ``(B, 1, n, n)`` logits for ``(B, C, n, n)``
float32 inputs (batch dynamic, crop side ``n`` fixed), and its
:class:`~pose2instance.learned.config.ModelConfig` as JSON in the model's metadata
(key :data:`CONFIG_KEY`), so the one file is all inference needs. The package ships its default
network this way (``assets/person_net.onnx``, exported from ``assets/person_net.safetensors``
with ``pose2instance export-onnx``); :class:`OnnxPredictor` runs it on the CPU. It is the
default runtime of the ``learned`` score and method whenever ``onnxruntime`` is installed
(a dependency of the package); PyTorch is needed only to train and to export.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from .config import CheckpointError, ModelConfig
from .predictor import CropPredictor, default_model_path

#: Metadata key of the model config in an exported file.
CONFIG_KEY = "pose2instance_config"
OPSET = 17
INPUT_NAME, OUTPUT_NAME = "crops", "mask"


def onnx_session(path: Path, threads: int | None = None):
    """An ONNX Runtime CPU session of ``path`` (warnings only), with :class:`CheckpointError` naming the file.

    ONNX Runtime's usage telemetry (since 1.29 on Linux too: a device id in ``~/.cache/Microsoft`` and an upload
    at start) is switched off with ``ORT_DISABLE_TELEMETRY=1`` unless the variable is already set."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # read when onnxruntime is first imported
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise ImportError(f"running {path.name} needs ONNX Runtime: pip install onnxruntime ({e})") from e
    if not path.is_file():
        raise CheckpointError(f"{path}: ONNX model not found")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail / InvalidProtobuf / InvalidGraph ...
        raise CheckpointError(f"{path}: not a readable ONNX model ({type(e).__name__}: {str(e)[:200]})") from None


class OnnxPredictor(CropPredictor):
    """:class:`~pose2instance.learned.predictor.CropPredictor` of an exported network, run by ONNX Runtime on
    the CPU.

    Args:
        path: an exported ``.onnx`` file (default: the network shipped in the package).
        batch_size: people per run.
        flip: test-time flip augmentation (twice the network time).
        threads: ONNX Runtime's intra-op threads (default: its own choice, the physical cores).

    Raises:
        CheckpointError: the file is missing, unreadable, or has no pose2instance config (the message names it).
    """

    def __init__(self, path: str | Path | None = None, batch_size: int = 32, flip: bool = False,
                 threads: int | None = None):
        self.path = Path(path) if path is not None else default_model_path(".onnx")
        self.session = onnx_session(self.path, threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        if CONFIG_KEY not in meta:
            raise CheckpointError(f"{self.path}: no pose2instance model config in its metadata; export networks "
                                  "with `pose2instance export-onnx`")
        try:
            data = json.loads(meta[CONFIG_KEY])
        except (ValueError, RecursionError) as e:
            raise CheckpointError(f"{self.path}: the model config in its metadata is not readable JSON "
                                  f"({type(e).__name__})") from None
        config = ModelConfig.from_json(data, f"{self.path} (metadata)")
        shape = self.session.get_inputs()[0].shape
        if len(shape) != 4 or shape[1:] != [config.in_channels, config.crop_size, config.crop_size]:
            raise CheckpointError(f"{self.path}: input shape {shape} does not fit its config "
                                  f"(B, {config.in_channels}, {config.crop_size}, {config.crop_size})")
        super().__init__(config, batch_size, flip)
        self.input_name = self.session.get_inputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        """``(B, C, n, n)`` float32 -> ``(B, n, n)`` float32 mask logits."""
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, np.float32)})[0][:, 0]


def export_onnx(model, out: str | Path) -> Path:
    """Export a network's mask output to ``out`` (``.onnx``, opset :data:`OPSET`, dynamic batch), its config in the
    metadata. Needs torch and the ``onnx`` package (the torch extra).

    Args:
        model: a :class:`~pose2instance.learned.models.PersonNet`, or a checkpoint (``.safetensors`` or run folder).
        out: the file to write (atomically).
    """
    import onnx
    import torch

    from ..io.jsonio import atomic_write
    from .models.networks import PersonNet, load_model

    net = load_model(model, "cpu") if isinstance(model, (str, Path)) else model.cpu().eval()

    class MaskOnly(torch.nn.Module):
        def __init__(self, person_net: PersonNet):
            super().__init__()
            self.net = person_net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)["mask"]

    config = net.config
    example = torch.zeros(1, config.in_channels, config.crop_size, config.crop_size)

    def write(tmp: str) -> None:
        with warnings.catch_warnings():  # the tracer's notes on shapes taken as constants: the crop side is fixed
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", "Constant folding", UserWarning)
            warnings.filterwarnings("ignore", "You are using the legacy TorchScript-based ONNX export",
                                    DeprecationWarning)  # the legacy exporter needs no onnxscript
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
            torch.onnx.export(MaskOnly(net), (example,), tmp, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}, opset_version=OPSET,
                              dynamo=False)
        exported = onnx.load(tmp)
        entry = exported.metadata_props.add()
        entry.key, entry.value = CONFIG_KEY, json.dumps(config.to_json())
        onnx.save(exported, tmp)

    out = Path(out)
    atomic_write(out, write)
    return out
