"""BlazePose GHUM full, converted to PyTorch, as a pretrained person-crop network that can take the pose.

:class:`BlazePoseNet` is MediaPipe's ``pose_landmark_full.tflite`` (shipped in the package,
Apache-2.0) converted op by op (:mod:`.tflite_net`), pruned to the two outputs a person-crop
network needs:

* the person mask: ``(B, 1, 256, 256)`` logits over the crop, times a learned scale plus a
  learned bias (:attr:`BlazePoseNet.calibration`; scale 1 and bias 0 at first);
* the landmark heatmaps: ``(B, 39, 64, 64)`` logits (stride 4), when a keypoint head needs them.

Input: ``(B, 3 + E, 256, 256)`` float32, RGB in ``[0, 1]`` (MediaPipe's own input, no other
normalisation) then ``E`` extra channels (the pose prior). The extra channels enter through
the first convolution with filters that start at zero, so before training the network
computes exactly BlazePose's segmentation. Its raw mask logits span about -1500 .. 300 and are
badly calibrated for COCO masks, so training first fits the scale and bias alone
(``train --calibrate-steps``), then fine-tunes.

:meth:`BlazePoseNet.head_parameter_names` names the weights of the operators that feed only
the mask (the segmentation head); ``freeze="backbone"`` trains only those, the extra input
filters, the calibration and any head on top.
"""

from __future__ import annotations

import torch
from torch import nn

from ...io.tflite import read_tflite
from ...layouts import LAYOUTS
from ...scores.mediapipe import find_model
from ..config import BLAZEPOSE_INPUT, BLAZEPOSE_STRIDE, FREEZE_CHOICES
from .tflite_net import TFLiteNet, needed_ops

MODEL_NAME = "pose_landmark_full"
MASK_OUTPUT, HEATMAP_OUTPUT = "Identity_2", "Identity_3"
#: The input side it was trained at, and its total stride (it runs on any crop side that is a multiple of it).
INPUT_SIZE, STRIDE = BLAZEPOSE_INPUT, BLAZEPOSE_STRIDE
NUM_LANDMARK_HEATMAPS = 39


class BlazePoseNet(nn.Module):
    """The converted BlazePose GHUM full network (see the module doc).

    Args:
        in_channels: ``3 + E`` input channels.
        heatmaps: also return the 39 landmark heatmaps.
        freeze: ``"none"`` (every weight trains) or ``"backbone"`` (only the mask head, the extra
            input filters and the calibration).
    """

    def __init__(self, in_channels: int = 3, heatmaps: bool = False, freeze: str = "none"):
        super().__init__()
        if freeze not in FREEZE_CHOICES:
            raise ValueError(f"freeze must be one of {', '.join(FREEZE_CHOICES)}, got {freeze!r}")
        graph = read_tflite(find_model(MODEL_NAME))
        outputs = [MASK_OUTPUT] + ([HEATMAP_OUTPUT] if heatmaps else [])
        self.net = TFLiteNet(graph, outputs)
        self.net.add_input_channels(in_channels - 3)
        self.calibration = nn.Parameter(torch.tensor([1.0, 0.0]))  # mask logit * [0] + [1]
        others = [i for i in graph.outputs if i != graph.output_index(MASK_OUTPUT)]
        shared = {id(op) for op in needed_ops(graph, others)}
        head_ops = [op for op in needed_ops(graph, [graph.output_index(MASK_OUTPUT)]) if id(op) not in shared]
        self._head = {f"t{i}" for op in head_ops for i in op.inputs if f"t{i}" in self.net.weights}
        if freeze == "backbone":
            for name, p in self.net.weights.items():
                p.requires_grad_(name in self._head)

    def head_parameter_names(self) -> set[str]:
        """Keys (in ``net.weights``) of the weights used only on the way to the mask."""
        return set(self._head)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(B, 3 + E, n, n)`` -> mask logits ``(B, 1, n, n)`` and heatmap logits ``(B, 39, n/4, n/4)`` or None."""
        outs = self.net(x)
        mask = outs[0] * self.calibration[0] + self.calibration[1]
        return mask, (outs[1] if len(outs) > 1 else None)


def coco_heatmap_selection() -> torch.Tensor:
    """``(17, 39)`` 0/1 matrix picking the BlazePose heatmap of each COCO-17 keypoint (the keypoint head's start)."""
    select = torch.zeros(17, NUM_LANDMARK_HEATMAPS)
    for coco, mediapipe in enumerate(LAYOUTS["mediapipe33"]):
        select[coco, mediapipe] = 1.0
    return select
