"""Learned person-crop networks (torch): segmentation only, multitask, cascaded, pose-conditioned.

Importing this package imports torch; the training-free core never does.

    from pose2instance.learned.models import build_model, Predictor, load_default_model
    net = build_model("pose", backbone="tiny", crop_size=128)
    predictor = Predictor(load_default_model())          # device: CUDA when available
    prob = predictor.probabilities(image, persons)       # (N, H, W) float32, image coordinates
"""

from __future__ import annotations

from .backbones import BACKBONES, build_backbone, find_imagenet_weights
from ..config import VARIANTS, CheckpointError, ModelConfig
from .networks import PersonNet, build_model, load_model, save_model
from .weights import load_state_file
from .predictor import (OUTSIDE_LOGIT, Predictor, default_device, default_model_path,
                        load_default_model, masks_from_probabilities)

__all__ = ["BACKBONES", "VARIANTS", "ModelConfig", "PersonNet", "CheckpointError", "build_model", "build_backbone",
           "find_imagenet_weights", "load_state_file", "load_model", "save_model", "Predictor", "default_device",
           "load_default_model",
           "default_model_path", "masks_from_probabilities", "OUTSIDE_LOGIT"]
