"""Feature extractors for the person-crop networks.

Every backbone maps a ``(B, C_in, h, w)`` float32 crop to two feature maps:

* ``low``: ``(B, low_channels, h / 4, w / 4)`` (stride 4, for sharp mask boundaries);
* ``out``: ``(B, out_channels, h / 8, w / 8)`` for ``tiny`` or ``h / 16`` for ResNets
  (DeepLab-style: the last stage keeps its resolution and uses dilated convolutions).

The first three input channels are RGB in ``[0, 1]``; they are normalised inside the
backbone with the ImageNet mean and standard deviation. Further channels (the pose
prior of the pose-conditioned network) are passed through unchanged.

Backbones:

* ``tiny`` (default): a small CNN (about 0.4 M parameters at ``width=32``) with
  GroupNorm, stride 8 and three dilated 3x3 convolutions (dilation 2, 4, 8) at the
  end. GroupNorm makes results independent of the batch split, so a
  DistributedDataParallel run matches a single-process run of the same global batch.
  It trains on a CPU in minutes.
* ``resnet18`` / ``resnet34`` / ``resnet50``: torchvision ResNets, the last stage
  dilated (output stride 16). ImageNet weights are used only when they are on disk:
  ``pretrained`` is a file path, or ``"auto"`` to look in the torch hub cache
  (``$TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth`` etc.). Nothing is ever
  downloaded. With ImageNet weights the BatchNorm layers are frozen
  (``FrozenBatchNorm2d``, the usual choice for small per-GPU batches); without them the
  network uses GroupNorm and trains from scratch.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..config import CNN_BACKBONES
from .weights import load_state_file

BACKBONES = CNN_BACKBONES
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups (at least 4 channels per group when possible)."""
    groups = 8
    while channels % groups or channels // groups < 4 and groups > 1:
        groups //= 2
    return nn.GroupNorm(groups, channels)


def conv_gn(cin: int, cout: int, stride: int = 1, dilation: int = 1, kernel: int = 3) -> nn.Sequential:
    """``kernel x kernel`` convolution (same padding), GroupNorm, ReLU."""
    pad = dilation * (kernel // 2)
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, pad, dilation=dilation, bias=False),
                         group_norm(cout), nn.ReLU(inplace=True))


class InputNorm(nn.Module):
    """Normalises the first three (RGB, ``[0, 1]``) channels with the ImageNet statistics."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = (x[:, :3] - self.mean) / self.std
        return torch.cat([rgb, x[:, 3:]], 1) if x.shape[1] > 3 else rgb


class TinyBackbone(nn.Module):
    """Small dilated CNN: stride 4 ``low`` features, stride 8 ``out`` features.

    Args:
        in_channels: input channels (3 for RGB, 3 + prior channels for the pose network).
        width: channels of the first stage; later stages use ``2 * width`` and ``4 * width``.
    """

    def __init__(self, in_channels: int = 3, width: int = 32):
        super().__init__()
        self.norm = InputNorm()
        w = width
        self.stem = nn.Sequential(conv_gn(in_channels, w // 2, stride=2), conv_gn(w // 2, w))            # /2
        self.stage1 = nn.Sequential(conv_gn(w, w, stride=2), conv_gn(w, w))                            # /4
        self.stage2 = nn.Sequential(conv_gn(w, 2 * w, stride=2), conv_gn(2 * w, 2 * w))                # /8
        self.context = nn.Sequential(conv_gn(2 * w, 4 * w, dilation=2), conv_gn(4 * w, 4 * w, dilation=4),
                                     conv_gn(4 * w, 4 * w, dilation=8))                                 # /8
        self.low_channels = w
        self.out_channels = 4 * w
        self.out_stride = 8

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        low = self.stage1(self.stem(self.norm(x)))
        return {"low": low, "out": self.context(self.stage2(low))}


def _dilate(layer: nn.Sequential, dilation: int) -> None:
    """Turn a strided ResNet stage into a dilated one of stride 1 (works for Basic and Bottleneck blocks)."""
    for m in layer.modules():
        if isinstance(m, nn.Conv2d):
            if m.stride == (2, 2):
                m.stride = (1, 1)
            if m.kernel_size == (3, 3):
                m.dilation = (dilation, dilation)
                m.padding = (dilation, dilation)


def find_imagenet_weights(name: str) -> Path | None:
    """The torchvision ImageNet checkpoint of ResNet ``name`` in the torch hub cache, or None (never downloads)."""
    import torchvision
    enum = {"resnet18": torchvision.models.ResNet18_Weights, "resnet34": torchvision.models.ResNet34_Weights,
            "resnet50": torchvision.models.ResNet50_Weights}[name]
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.IMAGENET1K_V1.url).name
    return path if path.is_file() else None


class ResNetBackbone(nn.Module):
    """A torchvision ResNet trunk with a dilated last stage (output stride 16).

    Args:
        name: ``resnet18``, ``resnet34`` or ``resnet50``.
        in_channels: input channels; channels beyond RGB get zero-initialised filters
            in the first convolution, so a pretrained network starts as the RGB one.
        pretrained: ``None`` (random init, GroupNorm), a path to ImageNet weights
            (``.pth`` read with ``weights_only=True`` or ``.safetensors``), or ``"auto"``:
            the torch hub cache if the file is there, else random init.
        norm: ``"frozen_bn"`` or ``"group"``; default ``frozen_bn`` with weights, ``group`` without
            (a loaded checkpoint passes the norm it was trained with).
    """

    def __init__(self, name: str = "resnet18", in_channels: int = 3, pretrained: str | Path | None = None,
                 norm: str | None = None):
        super().__init__()
        import torchvision
        from torchvision.ops import FrozenBatchNorm2d
        if name not in BACKBONES[1:]:
            raise ValueError(f"unknown ResNet {name!r}; choose from {', '.join(BACKBONES[1:])}")
        path = find_imagenet_weights(name) if pretrained == "auto" else (Path(pretrained) if pretrained else None)
        self.pretrained = str(path) if path else None
        self.norm_kind = norm or ("frozen_bn" if path else "group")
        if self.norm_kind not in ("frozen_bn", "group"):
            raise ValueError(f"norm must be 'frozen_bn' or 'group', got {norm!r}")
        norm_layer = FrozenBatchNorm2d if self.norm_kind == "frozen_bn" else group_norm
        net = getattr(torchvision.models, name)(weights=None, norm_layer=norm_layer)
        if path:
            state = load_state_file(path)
            missing, unexpected = net.load_state_dict(state, strict=False)
            bad = [k for k in missing if not k.startswith("fc.")]
            if bad:
                raise ValueError(f"{path}: not {name} ImageNet weights (missing {bad[:3]}...)")
        if in_channels != 3:
            old = net.conv1
            net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
            with torch.no_grad():
                net.conv1.weight.zero_()
                net.conv1.weight[:, :3] = old.weight
        _dilate(net.layer4, 2)
        self.norm = InputNorm()
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        expansion = 4 if name == "resnet50" else 1
        self.low_channels = 64 * expansion
        self.out_channels = 512 * expansion
        self.out_stride = 16

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        low = self.layer1(self.stem(self.norm(x)))
        return {"low": low, "out": self.layer4(self.layer3(self.layer2(low)))}


def build_backbone(name: str = "tiny", in_channels: int = 3, width: int = 32,
                   pretrained: str | Path | None = None, norm: str | None = None) -> nn.Module:
    """A backbone by name (:data:`BACKBONES`); ``width`` is for ``tiny``, ``pretrained`` and ``norm`` for the
    ResNets."""
    if name == "tiny":
        if pretrained:
            raise ValueError("the tiny backbone has no pretrained weights; use --backbone resnet18/34/50")
        return TinyBackbone(in_channels, width)
    if name in BACKBONES:
        return ResNetBackbone(name, in_channels, pretrained, norm)
    raise ValueError(f"unknown backbone {name!r}; choose from {', '.join(BACKBONES)}")
