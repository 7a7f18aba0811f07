"""Everything torch: person-crop networks, their inputs, the training data and the training engine.

* :mod:`.sampling` - torch resampling of :class:`~pose2instance.crops.CropWindow` crops;
* :mod:`.inputs` - the pose variant's prior channels on a crop (:class:`PriorChannels`);
* :mod:`.dataset` - COCO person crops, targets, augmentation (:class:`PersonCropDataset`);
* :mod:`.models` - backbones, heads, the four variants, safe checkpoints, :class:`Predictor`;
* :mod:`.train` - the resumable, distributed training engine (``python -m pose2instance.learned.train``).

Importing this package imports torch; the training-free core never does.
"""

from .inputs import PriorChannels
from .models import (VARIANTS, CheckpointError, ModelConfig, PersonNet, Predictor, build_model, load_default_model,
                     load_model, masks_from_probabilities, save_model)

__all__ = ["PriorChannels", "VARIANTS", "CheckpointError", "ModelConfig", "PersonNet", "Predictor", "build_model",
           "load_default_model", "load_model", "masks_from_probabilities", "save_model"]
