"""Prediction heads on top of a backbone's ``low`` (stride 4) and ``out`` (stride 8/16) features.

* :class:`DecoderHead`: a DeepLabv3+-style decoder (1x1 projections, upsample the deep
  features to stride 4, concatenate, two 3x3 convolutions, 1x1 classifier). Used as the
  mask head (1 channel: person-vs-rest logit for *the* person the crop is centred on)
  and the keypoint head (17 channels: COCO-17 heatmap logits).
* :class:`ShapeHead`: the cascade's 1x1 convolution from 17 heatmaps to one
  "shape likelihood" logit, and :class:`LogitCombiner`, how it joins the mask logit.

All outputs are logits at stride 4 of the input crop, ``(B, K, h / 4, w / 4)`` float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import conv_gn


class DecoderHead(nn.Module):
    """``(low, out)`` features -> ``(B, num_outputs, h/4, w/4)`` logits.

    Args:
        low_channels, out_channels: the backbone's feature channels.
        num_outputs: 1 for the mask, 17 for keypoint heatmaps.
        mid: decoder width.
    """

    def __init__(self, low_channels: int, out_channels: int, num_outputs: int, mid: int = 64):
        super().__init__()
        self.deep = conv_gn(out_channels, mid, kernel=1)
        self.shallow = conv_gn(low_channels, mid // 2, kernel=1)
        self.fuse = nn.Sequential(conv_gn(mid + mid // 2, mid), conv_gn(mid, mid))
        self.classifier = nn.Conv2d(mid, num_outputs, 1)

    def forward(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        low = feats["low"]
        deep = F.interpolate(self.deep(feats["out"]), size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.classifier(self.fuse(torch.cat([deep, self.shallow(low)], 1)))


class ShapeHead(nn.Module):
    """The cascade's shape likelihood: ``sigmoid(heatmap logits)`` ``(B, 17, ...)`` -> 1x1 conv -> ``(B, 1, ...)``
    logit."""

    def __init__(self, num_keypoints: int = 17):
        super().__init__()
        self.conv = nn.Conv2d(num_keypoints, 1, 1)

    def forward(self, heatmap_logits: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.sigmoid(heatmap_logits))


class LogitCombiner(nn.Module):
    """``a * mask_logit + b * shape_logit + c`` with learned scalars, initialised to the plain sum (a = b = 1, c = 0).

    Adding logits multiplies the two likelihood ratios (a naive-Bayes product of two
    independent person-vs-background cues): the shape likelihood can veto or confirm
    the segmentation only as strongly as it is confident, and with ``b -> 0`` the
    cascade falls back to the segmentation network.
    """

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(2))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, mask_logit: torch.Tensor, shape_logit: torch.Tensor) -> torch.Tensor:
        return self.weight[0] * mask_logit + self.weight[1] * shape_logit + self.bias
