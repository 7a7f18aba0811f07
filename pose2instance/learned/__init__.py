"""Person-crop networks: their inputs, inference (PyTorch or ONNX Runtime), training data and training engine.

Torch-free (the default inference path):

* :mod:`.config` - :class:`ModelConfig` and reading a checkpoint's config;
* :mod:`.inputs` - the pose variant's prior channels on a crop (:class:`PriorChannels`);
* :mod:`.predictor` - crops in, per-person logits out, whatever runs the network (:class:`CropPredictor`);
* :mod:`.onnx_net` - an exported network run by ONNX Runtime (:class:`OnnxPredictor`), and :func:`export_onnx`;
* :mod:`.scores` - the network as a person score and as a method (:class:`LearnedScore`, :class:`LearnedMasks`).

Torch:

* :mod:`.dataset` - COCO person crops, targets, augmentation (:class:`PersonCropDataset`);
* :mod:`.models` - backbones, heads, the four variants, safe checkpoints, the torch :class:`Predictor`;
* :mod:`.train` - the resumable, distributed training engine (``python -m pose2instance.learned.train``).

Names are imported on first use, so ``import pose2instance.learned`` does not import torch; the torch names
(``PersonNet``, ``Predictor``, ``build_model``, ``load_model``, ...) do.
"""

from importlib import import_module

_WHERE = {"PriorChannels": ".inputs", "ModelConfig": ".config", "CheckpointError": ".config", "VARIANTS": ".config",
          "CropPredictor": ".predictor", "masks_from_probabilities": ".predictor", "OnnxPredictor": ".onnx_net",
          "export_onnx": ".onnx_net", "PersonNet": ".models", "Predictor": ".models", "build_model": ".models",
          "load_default_model": ".models", "load_model": ".models", "save_model": ".models"}

__all__ = list(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_WHERE[name], __name__), name)
