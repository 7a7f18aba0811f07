"""A person-crop network's configuration and how a checkpoint's is read, without torch.

:class:`ModelConfig` is everything needed to rebuild a network and prepare its inputs; a
checkpoint keeps it as ``config.json`` beside ``model.safetensors`` (and in the safetensors
metadata), an ONNX export in the model's metadata. :func:`checkpoint_config` reads it without
loading any weight. Numpy and the standard library only (``safetensors`` for the header), so the
torch-free inference path (:mod:`pose2instance.learned.onnx`) shares it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

VARIANTS = ("seg", "multitask", "cascade", "pose")
#: The backbones built from scratch or from ImageNet weights (:mod:`.models.backbones`).
CNN_BACKBONES = ("tiny", "resnet18", "resnet34", "resnet50")
BACKBONE_NAMES = (*CNN_BACKBONES, "blazepose")
#: BlazePose GHUM full's input side and total stride (:mod:`.models.blazepose_net`).
BLAZEPOSE_INPUT, BLAZEPOSE_STRIDE = 256, 32
FREEZE_CHOICES = ("none", "backbone")


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or does not fit the architecture (the message names file and key)."""


@dataclass
class ModelConfig:
    """Everything needed to rebuild a network and prepare its inputs.

    Attributes:
        variant: one of :data:`VARIANTS`.
        backbone: ``tiny``, ``resnet18``, ``resnet34``, ``resnet50``, or ``blazepose``: MediaPipe's pretrained
            BlazePose GHUM full converted to PyTorch (:mod:`.models.blazepose_net`; crop size 256), whose own mask
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
        from ..priors import PRIORS
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
            from .score_maps import SCORE_INPUTS
            if self.score_input not in SCORE_INPUTS:
                raise ValueError(f"unknown score_input {self.score_input!r}; choose from {', '.join(SCORE_INPUTS)}")

    @property
    def prior_channels(self) -> int:
        """``P``: number of prior input channels (0 unless ``variant == "pose"``)."""
        if self.variant != "pose":
            return 0
        from ..priors import make_prior
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
        with safe_open(str(weights), framework="numpy") as f:
            meta = f.metadata() or {}
    except Exception as e:  # safetensors raises SafetensorError, OSError, ...
        raise CheckpointError(f"{weights}: not a readable safetensors file ({type(e).__name__}: {e})") from e
    return read_config(weights, meta)
