"""Read a ``.tflite`` model into a plain graph: tensors, constants as float32 arrays, operators with options.

This is the parsing half of the tflite -> PyTorch converter
(:mod:`pose2instance.learned.models.tflite_net` builds the ``nn.Module``). It needs the
``tflite`` package (flatbuffer bindings of the TensorFlow Lite schema; ``pip install
"pose2instance[torch]"``) and nothing else: no interpreter, no TensorFlow, no pickles.

Graph conventions (those of TensorFlow Lite): activations are NHWC float32; convolution
weights ``(O, kh, kw, I)``; depthwise weights ``(1, kh, kw, C * multiplier)``. Constant
tensors are resolved while reading: fp16 weights behind ``DEQUANTIZE`` and sparse weights
behind ``DENSIFY`` become dense float32 constants, so those two operators never appear in
:attr:`TFLiteGraph.ops`.

Supported operators (:data:`SUPPORTED_OPS`) cover MediaPipe's ``pose_landmark_full``,
``selfie_segmentation`` and ``pose_detection`` models; any other operator is refused with
an error that names the file, the operator and its position.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

INSTALL_HINT = 'pip install "pose2instance[torch]"'

#: Operators :class:`TFLiteGraph` keeps (DEQUANTIZE and DENSIFY are folded into constants).
SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MUL", "PAD", "RESIZE_BILINEAR", "MAX_POOL_2D",
                 "AVERAGE_POOL_2D", "RESHAPE", "LOGISTIC", "RELU", "HARD_SWISH", "CONCATENATION", "DEPTH_TO_SPACE",
                 "Convolution2DTransposeBias")
_FOLDED = ("DEQUANTIZE", "DENSIFY")
_ACTIVATIONS = {0: None, 1: "relu", 2: "relu_n1_to_1", 3: "relu6", 4: "tanh"}
_PADDINGS = {0: "same", 1: "valid"}
# TensorType codes of the schema that can hold constants here
_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}


class TFLiteError(ValueError):
    """A ``.tflite`` file that cannot be read or converted (the message names the file and, where it applies,
    the operator)."""


@dataclass
class TensorInfo:
    """One tensor of the graph.

    Attributes:
        name: the tensor's name in the file.
        shape: its static shape (NHWC for images).
        data: float32 (or int32 for shapes and paddings) values of a constant, else None.
    """

    name: str
    shape: tuple[int, ...]
    data: np.ndarray | None = None


@dataclass
class OpInfo:
    """One operator: its kind (:data:`SUPPORTED_OPS`), tensor indices in and out, and parsed options."""

    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict = field(default_factory=dict)


@dataclass
class TFLiteGraph:
    """The first subgraph of a ``.tflite`` file, in execution order.

    Attributes:
        path: the file read.
        tensors: every tensor, by index.
        ops: the operators to run, in order (constants already folded).
        inputs, outputs: tensor indices of the graph's inputs and outputs.
    """

    path: Path
    tensors: list[TensorInfo]
    ops: list[OpInfo]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def output_index(self, name_or_position: str | int) -> int:
        """Tensor index of a graph output given by name (``"Identity_2"``) or position (``2``)."""
        if isinstance(name_or_position, int):
            if not 0 <= name_or_position < len(self.outputs):
                raise TFLiteError(f"{self.path}: no output #{name_or_position} ({len(self.outputs)} outputs)")
            return self.outputs[name_or_position]
        for index in self.outputs:
            if self.tensors[index].name == name_or_position:
                return index
        raise TFLiteError(f"{self.path}: no output named {name_or_position!r}; outputs are "
                          f"{[self.tensors[i].name for i in self.outputs]}")


def _tflite():
    try:
        import tflite
    except ImportError as e:
        raise ImportError(f"reading .tflite models needs the 'tflite' package: {INSTALL_HINT}") from e
    return tflite


def _options(tflite, op, cls_name: str):
    table = op.BuiltinOptions()
    if table is None:
        return None
    opts = getattr(tflite, cls_name)()
    opts.Init(table.Bytes, table.Pos)
    return opts


def _parse_options(tflite, kind: str, op) -> dict:
    """The options of one operator as a plain dict (padding, strides, activation, ...)."""
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        o = _options(tflite, op, "Conv2DOptions" if kind == "CONV_2D" else "DepthwiseConv2DOptions")
        return {"padding": _PADDINGS[o.Padding()], "stride": (o.StrideH(), o.StrideW()),
                "dilation": (o.DilationHFactor(), o.DilationWFactor()),
                "activation": _ACTIVATIONS[o.FusedActivationFunction()]}
    if kind in ("ADD", "MUL"):
        o = _options(tflite, op, "AddOptions" if kind == "ADD" else "MulOptions")
        return {"activation": _ACTIVATIONS[o.FusedActivationFunction()] if o else None}
    if kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        o = _options(tflite, op, "Pool2DOptions")
        return {"padding": _PADDINGS[o.Padding()], "stride": (o.StrideH(), o.StrideW()),
                "kernel": (o.FilterHeight(), o.FilterWidth()), "activation": _ACTIVATIONS[o.FusedActivationFunction()]}
    if kind == "RESIZE_BILINEAR":
        o = _options(tflite, op, "ResizeBilinearOptions")
        return {"align_corners": bool(o.AlignCorners()), "half_pixel_centers": bool(o.HalfPixelCenters())}
    if kind == "CONCATENATION":
        o = _options(tflite, op, "ConcatenationOptions")
        return {"axis": o.Axis(), "activation": _ACTIVATIONS[o.FusedActivationFunction()]}
    if kind == "DEPTH_TO_SPACE":
        return {"block_size": _options(tflite, op, "DepthToSpaceOptions").BlockSize()}
    if kind == "Convolution2DTransposeBias":
        # MediaPipe's custom op: its options are the raw C struct TfLiteTransposeConvParams
        # {TfLitePadding padding (1 same, 2 valid); int stride_width; int stride_height}
        raw = op.CustomOptionsAsNumpy()
        padding, stride_w, stride_h = np.frombuffer(np.asarray(raw, np.uint8).tobytes()[:12], "<i4")
        return {"padding": "same" if padding == 1 else "valid", "stride": (int(stride_h), int(stride_w))}
    return {}


def _vector(tflite, table, type_code: int) -> np.ndarray:
    """A SparseIndexVector union (Int32Vector / Uint16Vector / Uint8Vector) as an int64 array."""
    cls = {1: "Int32Vector", 2: "Uint16Vector", 3: "Uint8Vector"}[type_code]
    vec = getattr(tflite, cls)()
    vec.Init(table.Bytes, table.Pos)
    return vec.ValuesAsNumpy().astype(np.int64)


def _densify(tflite, tensor, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The dense array of a sparse constant (TFLite sparsity: dense and CSR levels, no blocks)."""
    sparsity = tensor.Sparsity()
    order = sparsity.TraversalOrderAsNumpy()
    if sparsity.BlockMapLength() or list(order) != list(range(len(shape))):
        raise TFLiteError("block-sparse or reordered sparse weights are not supported")
    coords: list[np.ndarray] = []
    position = np.zeros(1, np.int64)
    for level in range(sparsity.DimMetadataLength()):
        meta = sparsity.DimMetadata(level)
        if meta.Format() == 0:  # DENSE
            size = meta.DenseSize()
            coords = [np.repeat(c, size) for c in coords] + [np.tile(np.arange(size), len(position))]
            position = (position[:, None] * size + np.arange(size)).ravel()
        else:  # SPARSE_CSR
            segments = _vector(tflite, meta.ArraySegments(), meta.ArraySegmentsType())
            indices = _vector(tflite, meta.ArrayIndices(), meta.ArrayIndicesType())
            counts = segments[position + 1] - segments[position]
            starts = np.repeat(segments[position], counts)
            offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            position = starts + offsets
            coords = [np.repeat(c, counts) for c in coords] + [indices[position]]
    dense = np.zeros(shape, values.dtype)
    dense[tuple(coords)] = values[position]
    return dense


def read_tflite(path: str | Path) -> TFLiteGraph:
    """Parse a ``.tflite`` file into a :class:`TFLiteGraph`.

    Raises:
        FileNotFoundError: no such file.
        TFLiteError: not a TensorFlow Lite flatbuffer, more than the first subgraph used,
            or an operator outside :data:`SUPPORTED_OPS` (named, with its position).
        ImportError: the ``tflite`` package is missing (names the extra to install).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such .tflite file")
    buf = path.read_bytes()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise TFLiteError(f"{path}: not a TensorFlow Lite model (no 'TFL3' file identifier)")
    tflite = _tflite()
    try:
        model = tflite.Model.GetRootAsModel(buf, 0)
        graph = model.Subgraphs(0)
        tensors, raw = [], []
        for i in range(graph.TensorsLength()):
            t = graph.Tensors(i)
            data = model.Buffers(t.Buffer()).DataAsNumpy() if t.Buffer() < model.BuffersLength() else 0
            shape = tuple(int(v) for v in t.ShapeAsNumpy()) if t.ShapeLength() else ()
            values = None
            if not isinstance(data, int) and data.size:
                if t.Type() not in _DTYPES:
                    raise TFLiteError(f"tensor {i} has unsupported type code {t.Type()}")
                values = np.frombuffer(data.tobytes(), _DTYPES[t.Type()])
                if t.Sparsity() is None:
                    values = values.reshape(shape)
            tensors.append(TensorInfo(t.Name().decode("utf-8", "replace"), shape,
                                      None if values is None or t.Sparsity() is not None else values))
            raw.append((t, values))
        ops = []
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            kind = (code.CustomCode().decode() if builtin == tflite.BuiltinOperator.CUSTOM
                    else tflite.opcode2name(builtin))
            inputs = tuple(int(v) for v in op.InputsAsNumpy())
            outputs = tuple(int(v) for v in op.OutputsAsNumpy())
            if kind in _FOLDED:
                source, values = raw[inputs[0]]
                if values is None and tensors[inputs[0]].data is None:
                    raise TFLiteError(f"operator #{i} {kind} reads a tensor that is not a constant")
                if kind == "DENSIFY":
                    dense = _densify(tflite, source, values, tensors[inputs[0]].shape)
                else:
                    dense = tensors[inputs[0]].data
                tensors[outputs[0]].data = dense
                raw[outputs[0]] = (graph.Tensors(outputs[0]), dense)
                continue
            if kind not in SUPPORTED_OPS:
                raise TFLiteError(f"operator #{i} {kind} is not supported (supported: {', '.join(SUPPORTED_OPS)})")
            ops.append(OpInfo(kind, inputs, outputs, _parse_options(tflite, kind, op)))
        for t in tensors:
            if t.data is not None and t.data.dtype != np.int32:
                t.data = t.data.astype(np.float32)
        return TFLiteGraph(path, tensors, ops, tuple(int(v) for v in graph.InputsAsNumpy()),
                           tuple(int(v) for v in graph.OutputsAsNumpy()))
    except TFLiteError as e:
        raise TFLiteError(f"{path}: {e}") from None
    except (IndexError, ValueError, KeyError, AttributeError, TypeError, struct.error) as e:
        raise TFLiteError(f"{path}: damaged TensorFlow Lite model ({type(e).__name__}: {e})") from e
