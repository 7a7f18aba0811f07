"""The training engine of the person-crop networks (see :mod:`.engine` for what a run does).

    python -m pose2instance.learned.train --annotations A.json --variant pose --out runs/pose
    torchrun --nproc_per_node 8 -m pose2instance.learned.train ...

* :mod:`.config` - :class:`TrainConfig` (every option, typed) and the recipes; :mod:`.args` - the command line's
  options; :mod:`.engine` - the loop; :mod:`.losses` - loss and schedule;
* :mod:`.checkpoint` - atomic, exactly resumable checkpoints; :mod:`.distributed` - torchrun set-up;
* :mod:`.logs` - CSV / TensorBoard logs and crop-level validation.
"""

from .args import add_train_arguments, model_config_from_args
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import RECIPES, TrainConfig, read_recipe
from .engine import main, run_train
from .losses import compute_losses, lr_lambda

__all__ = ["TrainConfig", "RECIPES", "read_recipe", "add_train_arguments",
           "model_config_from_args", "latest_checkpoint", "load_checkpoint",
           "save_checkpoint", "main", "run_train", "compute_losses", "lr_lambda"]
