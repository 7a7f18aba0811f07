"""The four person-crop networks of the paper's learned comparison, their config, and safe (de)serialisation.

Every network looks at one person at a time: a square crop around the person's box
(see :mod:`pose2instance.crops` for the crop geometry) and answers "which pixels of
this crop belong to *this* person" (mask logit; other people are background).

Variants (:data:`VARIANTS`):

* ``seg`` - segmentation only (the baseline): RGB crop -> mask.
* ``multitask`` - a mask head and a 17-channel keypoint heatmap head on one shared
  backbone; the keypoint head is trained with Gaussian heatmap targets.
* ``cascade`` - the multitask network whose heatmaps go through a 1x1 convolution to
  a shape likelihood that is added to the mask logit with learned weights
  (:class:`~pose2instance.learned.models.heads.LogitCombiner`, initialised to the plain sum).
* ``pose`` - pose-conditioned: RGB crop plus prior channels of the training-free
  core (:mod:`pose2instance.priors`) computed on the crop from the given keypoints.

Inputs: ``(B, 3 + P (+ 1), n, n)`` float32, RGB in ``[0, 1]`` then ``P`` prior channels
(``P = 0`` except for ``pose``), then, with ``score_input``, a pretrained person score in ``[0, 1]``.
Outputs (dict): ``"mask"`` ``(B, 1, n, n)`` logits
at crop resolution; ``"heatmaps"`` ``(B, 17, n/4, n/4)`` logits for multitask/cascade.

Checkpoints are ``model.safetensors`` + ``config.json`` (the :class:`ModelConfig`),
never pickles (:func:`save_model`, :func:`load_model`).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...io import atomic_write_text
from ...structures import NUM_KEYPOINTS
from ..config import BACKBONE_NAMES, VARIANTS, CheckpointError, ModelConfig, checkpoint_config, read_config
from .backbones import build_backbone
from .blazepose_net import NUM_LANDMARK_HEATMAPS, BlazePoseNet, coco_heatmap_selection
from .heads import DecoderHead, LogitCombiner, ShapeHead
from .weights import atomic_save_tensors, load_state_checked, read_tensors

__all__ = ["BACKBONE_NAMES", "VARIANTS", "CheckpointError", "ModelConfig", "checkpoint_config", "read_config",
           "HEATMAP_STRIDE", "PersonNet", "build_model", "model_state", "save_model", "load_model"]

HEATMAP_STRIDE = 4


class PersonNet(nn.Module):
    """One of the four variants (see the module doc). Build it with :func:`build_model`."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        if config.backbone == "blazepose":
            self.blazepose = BlazePoseNet(config.in_channels, config.has_keypoint_head, config.freeze)
            if config.has_keypoint_head:  # starts as BlazePose's own heatmaps of the 17 COCO keypoints
                self.keypoint_head = nn.Conv2d(NUM_LANDMARK_HEATMAPS, NUM_KEYPOINTS, 1)
                with torch.no_grad():
                    self.keypoint_head.weight.copy_(coco_heatmap_selection()[:, :, None, None])
                    self.keypoint_head.bias.zero_()
        else:
            self.backbone = build_backbone(config.backbone, config.in_channels, config.width, config.pretrained,
                                           config.norm)
            config.norm = getattr(self.backbone, "norm_kind", None)
            low, out = self.backbone.low_channels, self.backbone.out_channels
            self.mask_head = DecoderHead(low, out, 1)
            if config.has_keypoint_head:
                self.keypoint_head = DecoderHead(low, out, NUM_KEYPOINTS)
                nn.init.constant_(self.keypoint_head.classifier.bias, -4.0)  # start near "no keypoint here" (p = 0.018)
        if config.variant == "cascade":
            self.shape_head = ShapeHead(NUM_KEYPOINTS)
            self.combiner = LogitCombiner()
            if config.backbone == "blazepose":  # start as the pretrained segmentation alone
                with torch.no_grad():
                    self.combiner.weight[1] = 0.0

    @property
    def in_channels(self) -> int:
        return self.config.in_channels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, C, n, n)`` (``C = config.in_channels``) -> ``{"mask": (B, 1, n, n), ["heatmaps": (B, 17, n/4, n/4)]}``
        logits."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self.config.variant} network expects (B, {self.in_channels}, n, n) input, "
                             f"got {tuple(x.shape)}")
        if self.config.backbone == "blazepose":
            mask, heat = self.blazepose(x)
            heat = None if heat is None else self.keypoint_head(heat)
        else:
            feats = self.backbone(x)
            mask = self.mask_head(feats)
            heat = self.keypoint_head(feats) if self.config.has_keypoint_head else None
        out = {}
        if heat is not None:
            out["heatmaps"] = heat
            if self.config.variant == "cascade":
                shape = self.shape_head(heat)
                if shape.shape[-2:] != mask.shape[-2:]:
                    shape = F.interpolate(shape, size=mask.shape[-2:], mode="bilinear", align_corners=False)
                mask = self.combiner(mask, shape)
        out["mask"] = F.interpolate(mask, size=x.shape[-2:], mode="bilinear", align_corners=False) \
            if mask.shape[-2:] != x.shape[-2:] else mask
        return out


def build_model(variant: str = "seg", backbone: str = "tiny", crop_size: int = 128, margin: float = 1.25,
                priors: tuple[str, ...] | list[str] = ("euclidean", "euclidean-limbs"), others: bool = True,
                width: int = 32, pretrained: str | None = None, score_input: str | None = None) -> PersonNet:
    """A :class:`PersonNet` (randomly initialised unless ``pretrained`` ImageNet weights are given for a ResNet).

    Args:
        variant: ``seg``, ``multitask``, ``cascade`` or ``pose``.
        backbone: ``tiny`` (CPU-friendly) or ``resnet18/34/50`` (see :mod:`.backbones`).
        crop_size: input crop side in pixels.
        margin: crop side over the box's longer side.
        priors: prior channel encoders for ``pose`` (e.g. ``("euclidean-limbs",)``).
        others: ``pose`` only: add the distance-to-other-people channel.
        width: tiny backbone width.
        pretrained: ResNet ImageNet weights: a local path, ``"auto"`` (torch hub cache if present) or None.
        score_input: a pretrained person score as one more input channel (``"blazepose"``) or None.
    """
    return PersonNet(ModelConfig(variant, backbone, width, crop_size, margin, tuple(priors), others,
                                 pretrained=pretrained, score_input=score_input))


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of a model, unwrapped from DistributedDataParallel if needed."""
    return getattr(model, "module", model).state_dict()


def save_model(model: PersonNet, directory: str | Path) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``directory`` (each atomically); returns the weights
    path."""
    net = getattr(model, "module", model)
    directory = Path(directory)
    config = json.dumps(net.config.to_json(), indent=2)
    weights = directory / "model.safetensors"
    atomic_save_tensors(weights, model_state(net), metadata={"pose2instance_config": config})
    atomic_write_text(directory / "config.json", config + "\n")
    return weights


def load_model(path: str | Path, device: str | torch.device | None = "cpu",
               config: ModelConfig | None = None) -> PersonNet:
    """Load a network from ``model.safetensors`` (or its folder) and the config beside it.

    Args:
        path: a ``.safetensors`` file or a folder holding ``model.safetensors`` + ``config.json``.
        device: where to put the network (default CPU).
        config: expected architecture; default the checkpoint's own config.

    Raises:
        CheckpointError: missing / corrupt file, bad config, or weights of another
            architecture or shape (the message names the file and the first bad key).
    """
    path = Path(path)
    weights = path / "model.safetensors" if path.is_dir() else path
    state, meta = read_tensors(weights)
    config = config or read_config(weights, meta)
    config = ModelConfig.from_json(dict(config.to_json(), pretrained=None), str(weights))  # never re-read ImageNet
    model = PersonNet(config)
    load_state_checked(model, state, str(weights))
    return model.to(device).eval()
