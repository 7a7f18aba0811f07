"""torchvision DeepLabV3-ResNet50's person class as a person score (needs torch + torchvision).

The COCO-with-VOC-labels weights come through torchvision's own mechanism
(``DeepLabV3_ResNet50_Weights.DEFAULT``: the file in ``$TORCH_HOME/hub/checkpoints``
if it is there, else a download, which needs internet), or from a local file you
pass. Nothing here is used by default and the tests run it with random weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..scores.base import PersonScorer
from .models.backbones import IMAGENET_MEAN, IMAGENET_STD
from .models.predictor import default_device
from .models.weights import load_state_checked, load_state_file

PERSON_CLASS = 15  # index of "person" in the VOC label set of the torchvision weights


class DeepLabScore(PersonScorer):
    """Softmax probability of the person class of torchvision's DeepLabV3-ResNet50.

    Args:
        weights: ``"default"`` (torchvision's weights, cached or downloaded), ``None``
            (random initialisation: for tests and benchmarks), or the path of a state
            dict saved with ``torch.save(model.state_dict())`` or as ``.safetensors``
            (loaded without unpickling: ``torch.load(weights_only=True)``).
        resize: the shorter image side the model sees (torchvision's recipe uses 520).
        device: ``"cuda"``, ``"cpu"``... (default: CUDA when available).
    """

    name = "deeplab"

    def __init__(self, weights: str | Path | None = "default", resize: int = 520, device: str | None = None):
        try:
            import torch
            from torchvision.models.segmentation import DeepLabV3_ResNet50_Weights, deeplabv3_resnet50
        except ImportError as e:
            raise ImportError('DeepLabV3 needs torch and torchvision: pip install "pose2instance[torch]"') from e
        self.torch = torch
        self.device = torch.device(device) if device else default_device()
        if weights == "default":
            try:
                model = deeplabv3_resnet50(weights=DeepLabV3_ResNet50_Weights.DEFAULT)
            except OSError as e:  # no cached file and no internet
                raise FileNotFoundError(
                    f"torchvision's DeepLabV3 weights are not cached ({e}); put "
                    f"{DeepLabV3_ResNet50_Weights.DEFAULT.url.rsplit('/', 1)[-1]} in $TORCH_HOME/hub/checkpoints "
                    "or pass --score deeplab:PATH") from e
        else:
            model = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
            if weights is not None:
                load_state_checked(model, load_state_file(weights), str(weights))
        self.model = model.eval().to(self.device)
        self.resize = resize

    def __call__(self, image, persons, image_path=None):
        torch = self.torch
        h, w = image.shape[:2]
        x = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1).float().div(255)
        x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
        scale = self.resize / min(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        x = torch.nn.functional.interpolate(x[None], size=size, mode="bilinear", align_corners=False)
        with torch.inference_mode():
            logits = self.model(x.to(self.device))["out"]
            prob = logits.softmax(1)[:, PERSON_CLASS:PERSON_CLASS + 1]
            prob = torch.nn.functional.interpolate(prob, size=(h, w), mode="bilinear", align_corners=False)
        return prob[0, 0].clamp(0, 1).float().cpu().numpy()
