"""The training engine of the person-crop networks (see :mod:`.engine` for what a run does).

    python -m pose2instance.learned.train --annotations A.json --variant pose --out runs/pose
    torchrun --nproc_per_node 8 -m pose2instance.learned.train ...

* :mod:`.args` - the options; :mod:`.engine` - the loop; :mod:`.losses` - loss and schedule;
* :mod:`.checkpoint` - atomic, exactly resumable checkpoints; :mod:`.distributed` - torchrun set-up;
* :mod:`.logs` - CSV / TensorBoard logs and crop-level validation.
"""

from .args import add_train_arguments, model_config_from_args
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .engine import main, run_train
from .losses import compute_losses, lr_lambda

__all__ = ["add_train_arguments", "model_config_from_args", "latest_checkpoint", "load_checkpoint",
           "save_checkpoint", "main", "run_train", "compute_losses", "lr_lambda"]
