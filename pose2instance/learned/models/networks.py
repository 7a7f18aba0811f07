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
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...io import atomic_write_text
from ...structures import NUM_KEYPOINTS
from .backbones import BACKBONES, build_backbone
from .blazepose_net import FREEZE_CHOICES, INPUT_SIZE as BLAZEPOSE_INPUT, NUM_LANDMARK_HEATMAPS, STRIDE as \
    BLAZEPOSE_STRIDE, BlazePoseNet, coco_heatmap_selection
from .heads import DecoderHead, LogitCombiner, ShapeHead
from .weights import CheckpointError, atomic_save_tensors, load_state_checked, read_tensors

VARIANTS = ("seg", "multitask", "cascade", "pose")
BACKBONE_NAMES = (*BACKBONES, "blazepose")
HEATMAP_STRIDE = 4


@dataclass
class ModelConfig:
    """Everything needed to rebuild a network and prepare its inputs.

    Attributes:
        variant: one of :data:`VARIANTS`.
        backbone: ``tiny``, ``resnet18``, ``resnet34``, ``resnet50``, or ``blazepose``: MediaPipe's pretrained
            BlazePose GHUM full converted to PyTorch (:mod:`.blazepose_net`; crop size 256), whose own mask
            and heatmap outputs are the heads.
        width: channels of the tiny backbone's first stage.
        crop_size: side ``n`` of the square input crop, pixels (multiple of 16).
        margin: crop side = ``max(box width, box height) * margin``, centred on the box.
        priors: prior encoders (:func:`pose2instance.priors.make_prior` names) whose
            channels are stacked as input of the ``pose`` variant.
        others: ``pose`` only: add one channel with the distance to the *other*
            people's skeletons (in the target person's scale, clipped at 2).
        prior_clip: distances are clipped at this many person scales.
        pretrained: ImageNet weights the ResNet starts from when built (a path or ``"auto"``);
            never read when a checkpoint is loaded.
        norm: ResNet normalisation, ``"frozen_bn"`` (with ImageNet weights) or ``"group"``;
            resolved when the network is built and stored so a checkpoint rebuilds the same layers.
        score_input: a pretrained person score given as one more input channel, after the
            priors (:data:`pose2instance.learned.score_maps.SCORE_INPUTS`: ``"blazepose"``), or None.
            The network then learns to correct that segmenter with the pose.
        freeze: ``blazepose`` only: ``"none"`` (every weight trains) or ``"backbone"`` (only its mask head,
            the extra input filters, the calibration and the heads on top train).
    """

    variant: str = "seg"
    backbone: str = "tiny"
    width: int = 32
    crop_size: int = 128
    margin: float = 1.25
    priors: tuple[str, ...] = ("euclidean", "euclidean-limbs")
    others: bool = True
    prior_clip: float = 2.0
    pretrained: str | None = None
    norm: str | None = None
    score_input: str | None = None
    freeze: str = "none"
    extra: dict = field(default_factory=dict)

    #: Bounds that keep a config from allocating absurd memory (a network of width 1e6, 1e5-pixel crops).
    MAX_WIDTH, MAX_CROP_SIZE, MAX_MARGIN, MAX_PRIORS = 512, 1024, 10.0, 16

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown model variant {self.variant!r}; choose from {', '.join(VARIANTS)}")
        for name, top in (("width", self.MAX_WIDTH), ("crop_size", self.MAX_CROP_SIZE)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise ValueError(f"{name} must be an integer from 1 to {top}, got {value!r}")
        if self.crop_size % 16 or self.crop_size < 32:
            raise ValueError(f"crop_size must be a multiple of 16 and at least 32, got {self.crop_size}")
        for name, low, top in (("margin", 1.0, self.MAX_MARGIN), ("prior_clip", 1e-3, 100.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= top:
                raise ValueError(f"{name} must be a number from {low:g} to {top:g}, got {value!r}")
        if self.backbone not in BACKBONE_NAMES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose from {', '.join(BACKBONE_NAMES)}")
        if not isinstance(self.others, bool):
            raise ValueError(f"others must be true or false, got {self.others!r}")
        for name in ("pretrained", "norm", "score_input"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string or null, got {getattr(self, name)!r}")
        if not isinstance(self.extra, dict):
            raise ValueError(f"extra must be an object, got {type(self.extra).__name__}")
        from ...priors import PRIORS
        if not isinstance(self.priors, (list, tuple)) or len(self.priors) > self.MAX_PRIORS \
                or not all(isinstance(p, str) for p in self.priors):
            raise ValueError(f"priors must be a list of at most {self.MAX_PRIORS} prior names, got "
                             f"{type(self.priors).__name__} of "
                             f"{len(self.priors) if hasattr(self.priors, '__len__') else '?'}")
        unknown = sorted(set(self.priors) - set(PRIORS))
        if unknown:
            raise ValueError(f"unknown prior(s) {unknown[:5]} in priors; choose from {', '.join(PRIORS)}")
        self.priors = tuple(self.priors)
        if self.backbone == "blazepose" and self.crop_size % BLAZEPOSE_STRIDE:
            raise ValueError(f"the blazepose backbone needs a crop_size that is a multiple of {BLAZEPOSE_STRIDE} "
                             f"(trained at {BLAZEPOSE_INPUT}), got {self.crop_size}")
        if self.freeze not in FREEZE_CHOICES or (self.freeze != "none" and self.backbone != "blazepose"):
            raise ValueError(f"freeze must be one of {', '.join(FREEZE_CHOICES)} (other than none only with the "
                             f"blazepose backbone), got {self.freeze!r}")
        if self.score_input is not None:
            from ..score_maps import SCORE_INPUTS
            if self.score_input not in SCORE_INPUTS:
                raise ValueError(f"unknown score_input {self.score_input!r}; choose from {', '.join(SCORE_INPUTS)}")

    @property
    def prior_channels(self) -> int:
        """``P``: number of prior input channels (0 unless ``variant == "pose"``)."""
        if self.variant != "pose":
            return 0
        from ...priors import make_prior
        return sum(make_prior(p).channels for p in self.priors) + int(self.others)

    @property
    def in_channels(self) -> int:
        """``3 + P (+ 1 with a score input)``: RGB, prior channels, pretrained score."""
        return 3 + self.prior_channels + int(self.score_input is not None)

    @property
    def has_keypoint_head(self) -> bool:
        return self.variant in ("multitask", "cascade")

    def to_json(self) -> dict:
        d = asdict(self)
        d["priors"] = list(self.priors)
        return d

    @classmethod
    def from_json(cls, d: dict, source: str = "config") -> "ModelConfig":
        if not isinstance(d, dict):
            raise CheckpointError(f"{source}: expected a JSON object with the model config")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CheckpointError(f"{source}: unknown model config field(s) {unknown}")
        try:
            return cls(**d)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{source}: bad model config: {e}") from e


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


def read_config(weights: Path, meta: dict[str, str] | None = None) -> ModelConfig:
    """The config of a checkpoint: ``<stem>.json``, else ``config.json`` beside it, else the safetensors metadata."""
    for candidate in (weights.with_suffix(".json"), weights.parent / "config.json"):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise CheckpointError(f"{candidate}: invalid JSON ({e.msg} at line {e.lineno})") from e
            except (UnicodeDecodeError, RecursionError) as e:
                raise CheckpointError(f"{candidate}: not a JSON model config ({type(e).__name__})") from e
            return ModelConfig.from_json(data, str(candidate))
    if meta and "pose2instance_config" in meta:
        try:
            data = json.loads(meta["pose2instance_config"])
        except (ValueError, RecursionError) as e:
            raise CheckpointError(f"{weights}: the model config in its metadata is not readable JSON "
                                  f"({type(e).__name__})") from None
        return ModelConfig.from_json(data, f"{weights} (metadata)")
    raise CheckpointError(f"{weights}: no config.json beside it and no config in its metadata")


def checkpoint_config(path: str | Path) -> ModelConfig:
    """The config of a checkpoint (a ``.safetensors`` file or its folder), read without loading its weights.

    Raises:
        CheckpointError: a missing file, an unreadable header, or a bad config (the message names the file).
    """
    path = Path(path)
    weights = path / "model.safetensors" if path.is_dir() else path
    if not weights.is_file():
        raise CheckpointError(f"{weights}: checkpoint not found")
    from safetensors import safe_open
    try:
        with safe_open(str(weights), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # safetensors raises SafetensorError, OSError, ...
        raise CheckpointError(f"{weights}: not a readable safetensors file ({type(e).__name__}: {e})") from e
    return read_config(weights, meta)


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
