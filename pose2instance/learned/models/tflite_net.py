"""A TensorFlow Lite graph as a PyTorch ``nn.Module``, op by op, with float32 weights that train.

:func:`convert_tflite` reads a ``.tflite`` file (:func:`pose2instance.io.tflite.read_tflite`)
and returns a :class:`TFLiteNet`. Activations run in NCHW inside the module (torch's fast
layout); the graph's NHWC shapes are only used to map axes. Every constant that an operator
uses as a weight (convolution filters and biases, constant operands of ADD / MUL) is an
``nn.Parameter`` named ``t<tensor index>``, so the state dict of a network converted from the
same file always has the same keys; shapes, paddings and resize sizes stay Python values.

Inputs and outputs: ``forward(x)`` takes the graph's input as ``(B, C, H, W)`` float32 (for
MediaPipe models RGB in ``[0, 1]``) and returns the requested outputs in NCHW for images,
e.g. BlazePose GHUM full's mask logits ``(B, 1, 256, 256)`` and heatmap logits
``(B, 39, 64, 64)``; other outputs keep their TensorFlow Lite shape with batch ``B``
(``(B, 195)`` landmarks). :func:`to_tflite_layout` turns an output back into NHWC for
comparison with the interpreter.

``outputs`` (names or positions) prunes the graph to the operators those outputs need, so a
segmentation network carries no landmark head. :meth:`TFLiteNet.add_input_channels`
appends extra input channels whose filters start at zero: the widened network computes
exactly what the original did until those filters are trained.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...io.tflite import OpInfo, TFLiteError, TFLiteGraph, read_tflite

#: NHWC axis -> NCHW axis, for rank-4 tensors.
_NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


def _activation(x: torch.Tensor, name: str | None) -> torch.Tensor:
    if name is None:
        return x
    if name == "relu":
        return F.relu(x)
    if name == "relu6":
        return F.relu6(x)
    if name == "relu_n1_to_1":
        return x.clamp(-1.0, 1.0)
    return torch.tanh(x)


def _same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding along one axis: ``(before, after)``, the extra pixel after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int] = (1, 1),
              value: float = 0.0) -> torch.Tensor:
    top, bottom = _same_padding(x.shape[2], kernel[0], stride[0], dilation[0])
    left, right = _same_padding(x.shape[3], kernel[1], stride[1], dilation[1])
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom), value=value)
    return x


class TFLiteNet(nn.Module):
    """The operators of a :class:`~pose2instance.io.tflite.TFLiteGraph` needed for ``outputs``.

    Args:
        graph: the parsed file.
        outputs: graph outputs to compute, by name or position (default: all, in the file's order).

    Attributes:
        output_names: the names of the outputs :meth:`forward` returns, in order.
        source: the ``.tflite`` file it was converted from.
    """

    def __init__(self, graph: TFLiteGraph, outputs: list[str | int] | None = None):
        super().__init__()
        self.source = str(graph.path)
        if len(graph.inputs) != 1:
            raise TFLiteError(f"{graph.path}: expected one input tensor, found {len(graph.inputs)}")
        self.input_index = graph.inputs[0]
        self.input_shape = graph.tensors[self.input_index].shape
        wanted = list(graph.outputs) if outputs is None else [graph.output_index(o) for o in outputs]
        self.output_indices = wanted
        self.output_names = [graph.tensors[i].name for i in wanted]
        self.ops = needed_ops(graph, wanted)
        self.shapes = {i: t.shape for i, t in enumerate(graph.tensors)}
        self.weights = nn.ParameterDict()
        self.constants: dict[int, np.ndarray] = {}
        for op in self.ops:
            for index in op.inputs:
                data = graph.tensors[index].data if index >= 0 else None
                if data is None:
                    continue
                if data.dtype == np.int32:
                    self.constants[index] = data
                elif f"t{index}" not in self.weights:
                    self.weights[f"t{index}"] = nn.Parameter(torch.from_numpy(_torch_layout(op, index, data)))
        self.extra_inputs: nn.ParameterDict = nn.ParameterDict()
        last_use = {index: position for position, op in enumerate(self.ops) for index in op.inputs}
        #: per operator, the activations nothing after it reads (freed as the network runs)
        self.release = [[i for i in op.inputs if last_use.get(i) == position and i not in wanted]
                        for position, op in enumerate(self.ops)]

    # --------------------------------------------------------------- extra input channels
    def input_convolutions(self) -> list[OpInfo]:
        """The CONV_2D operators that read the graph input directly or through a spatial PAD."""
        sources = {self.input_index}
        for op in self.ops:
            if op.kind == "PAD" and op.inputs[0] in sources and not self.constants[op.inputs[1]][3].any():
                sources.add(op.outputs[0])
        convs = [op for op in self.ops if op.kind == "CONV_2D" and op.inputs[0] in sources]
        readers = [op for op in self.ops if any(i in sources for i in op.inputs) and op.kind not in ("PAD", "CONV_2D")]
        if not convs or readers:
            raise TFLiteError(f"{self.source}: the input is not read by convolutions alone; extra input channels "
                              "cannot be added")
        return convs

    def add_input_channels(self, extra: int) -> None:
        """Accept ``C + extra`` input channels; the new channels' filters start at zero (``extra_inputs["t<i>"]``,
        beside the convolution's own ``weights["t<i>"]``)."""
        if extra <= 0 or len(self.extra_inputs):
            return
        for op in self.input_convolutions():
            weight = self.weights[f"t{op.inputs[1]}"]
            self.extra_inputs[f"t{op.inputs[1]}"] = nn.Parameter(weight.new_zeros(weight.shape[0], extra,
                                                                                  *weight.shape[2:]))
        self.input_shape = (*self.input_shape[:3], self.input_shape[3] + extra)

    # --------------------------------------------------------------- running
    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, C, H, W)`` input -> the requested outputs (see the module doc)."""
        if x.ndim != 4 or x.shape[1] != self.input_shape[3]:
            raise ValueError(f"{self.source}: expected (B, {self.input_shape[3]}, H, W) input, got {tuple(x.shape)}")
        values = {self.input_index: x}
        for op, done in zip(self.ops, self.release):
            values[op.outputs[0]] = self._run(op, values)
            for index in done:
                values.pop(index, None)
        return [values[i] for i in self.output_indices]

    def _operand(self, index: int, values: dict, image: bool = True) -> torch.Tensor:
        """An activation, or a constant in NCHW broadcasting form (per-channel constants against an image)."""
        if index in values:
            return values[index]
        weight = self.weights[f"t{index}"]
        if weight.ndim == 4:
            return weight.permute(0, 3, 1, 2)
        if weight.ndim == 1 and weight.numel() > 1 and image:
            return weight.view(1, -1, 1, 1)
        return weight

    def _run(self, op: OpInfo, values: dict) -> torch.Tensor:
        kind, o = op.kind, op.options
        x = self._operand(op.inputs[0], values)
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            weight = self.weights[f"t{op.inputs[1]}"]
            if kind == "CONV_2D" and f"t{op.inputs[1]}" in self.extra_inputs:
                weight = torch.cat([weight, self.extra_inputs[f"t{op.inputs[1]}"]], 1)
            bias = self.weights[f"t{op.inputs[2]}"] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
            kernel = tuple(weight.shape[2:])
            if o["padding"] == "same":
                x = _pad_same(x, kernel, o["stride"], o["dilation"])
            groups = x.shape[1] if kind == "DEPTHWISE_CONV_2D" else 1
            return _activation(F.conv2d(x, weight, bias, o["stride"], 0, o["dilation"], groups), o["activation"])
        if kind in ("ADD", "MUL"):
            b = self._operand(op.inputs[1], values, image=x.ndim == 4)
            return _activation(x + b if kind == "ADD" else x * b, o["activation"])
        if kind == "PAD":
            pads = self.constants[op.inputs[1]]
            if x.ndim != 4 or pads[0].any():
                raise TFLiteError(f"{self.source}: PAD of a non-image tensor or of the batch axis is not supported")
            return F.pad(x, (int(pads[2][0]), int(pads[2][1]), int(pads[1][0]), int(pads[1][1]),
                             int(pads[3][0]), int(pads[3][1])))
        if kind == "RESIZE_BILINEAR":  # the file's size scaled with the input: any input the strides divide works
            before, after = self.shapes[op.inputs[0]], tuple(int(v) for v in self.constants[op.inputs[1]])
            size = tuple(x.shape[2 + k] * after[k] // before[1 + k] for k in range(2))
            if o["half_pixel_centers"] or o["align_corners"]:
                return F.interpolate(x, size=size, mode="bilinear", align_corners=o["align_corners"])
            raise TFLiteError(f"{self.source}: RESIZE_BILINEAR without half-pixel centres or aligned corners "
                              "is not supported")
        if kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            kernel, stride = o["kernel"], o["stride"]
            if kind == "MAX_POOL_2D":
                if o["padding"] == "same":
                    x = _pad_same(x, kernel, stride, value=float("-inf"))
                y = F.max_pool2d(x, kernel, stride)
            elif o["padding"] == "same":  # TFLite averages over the pixels inside the image only
                y = F.avg_pool2d(_pad_same(x, kernel, stride), kernel, stride)
                ones = _pad_same(torch.ones_like(x[:1, :1]), kernel, stride)
                y = y / F.avg_pool2d(ones, kernel, stride)
            else:
                y = F.avg_pool2d(x, kernel, stride)
            return _activation(y, o["activation"])
        if kind == "RESHAPE":
            shape = self.shapes[op.outputs[0]]
            if x.ndim == 4:
                x = x.permute(0, 2, 3, 1)
            y = x.reshape(x.shape[0], *shape[1:])
            return y.permute(0, 3, 1, 2) if y.ndim == 4 else y
        if kind == "LOGISTIC":
            return torch.sigmoid(x)
        if kind == "RELU":
            return F.relu(x)
        if kind == "HARD_SWISH":
            return F.hardswish(x)
        if kind == "CONCATENATION":
            parts = [self._operand(i, values) for i in op.inputs]
            axis = o["axis"] % len(self.shapes[op.outputs[0]])
            if parts[0].ndim == 4:
                axis = _NHWC_TO_NCHW[axis]
            return _activation(torch.cat(parts, axis), o["activation"])
        if kind == "DEPTH_TO_SPACE":  # TFLite's DCR order: channel = (row offset * bs + column offset) * C + c
            bs = o["block_size"]
            b, c, h, w = x.shape
            c //= bs * bs
            return x.view(b, bs, bs, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(b, c, h * bs, w * bs)
        if kind == "Convolution2DTransposeBias":
            weight = self.weights[f"t{op.inputs[1]}"]
            bias = self.weights[f"t{op.inputs[2]}"]
            y = F.conv_transpose2d(x, weight, bias, o["stride"])
            out_h, out_w = (x.shape[2] * o["stride"][0], x.shape[3] * o["stride"][1]) if o["padding"] == "same" \
                else y.shape[2:]
            top = max((x.shape[2] - 1) * o["stride"][0] + weight.shape[2] - out_h, 0) // 2
            left = max((x.shape[3] - 1) * o["stride"][1] + weight.shape[3] - out_w, 0) // 2
            return y[:, :, top:top + out_h, left:left + out_w]
        raise TFLiteError(f"{self.source}: operator {kind} is not supported")


def needed_ops(graph: TFLiteGraph, outputs: list[int]) -> list[OpInfo]:
    """The operators that ``outputs`` depend on, in the file's order."""
    producer = {out: op for op in graph.ops for out in op.outputs}
    needed, stack = set(), list(outputs)
    while stack:
        index = stack.pop()
        op = producer.get(index)
        if op is None or id(op) in needed:
            continue
        needed.add(id(op))
        stack.extend(i for i in op.inputs if i >= 0)
    return [op for op in graph.ops if id(op) in needed]


def _torch_layout(op: OpInfo, index: int, data: np.ndarray) -> np.ndarray:
    """A TFLite constant in the layout torch's functions take for it in ``op``."""
    data = np.ascontiguousarray(data, dtype=np.float32)
    if op.kind == "CONV_2D" and index == op.inputs[1]:            # (O, kh, kw, I) -> (O, I, kh, kw)
        return np.ascontiguousarray(data.transpose(0, 3, 1, 2))
    if op.kind == "DEPTHWISE_CONV_2D" and index == op.inputs[1]:  # (1, kh, kw, C) -> (C, 1, kh, kw)
        return np.ascontiguousarray(data.transpose(3, 0, 1, 2))
    if op.kind == "Convolution2DTransposeBias" and index == op.inputs[1]:  # (O, kh, kw, I) -> (I, O, kh, kw)
        return np.ascontiguousarray(data.transpose(3, 0, 1, 2))
    return data


def convert_tflite(path: str | Path, outputs: list[str | int] | None = None) -> TFLiteNet:
    """The ``nn.Module`` of a ``.tflite`` file (see the module doc); the file's weights dequantised to float32.

    Raises:
        TFLiteError: the file is not a model this converter supports (names the file and operator).
    """
    return TFLiteNet(read_tflite(path), outputs)


def to_tflite_layout(value: torch.Tensor) -> np.ndarray:
    """An output of :class:`TFLiteNet` as numpy in TensorFlow Lite's layout (NCHW -> NHWC for images)."""
    value = value.detach().float().cpu()
    return (value.permute(0, 2, 3, 1) if value.ndim == 4 else value).numpy()
