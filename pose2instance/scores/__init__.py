"""Where the per-pixel person score comes from.

Every source is a :class:`PersonScorer`: ``scorer(image, persons) -> (H, W)``
float32 person probability in ``[0, 1]``. The sources:

* ``oracle`` - the union of the ground-truth masks (a diagnostic ceiling; needs ``persons.masks``);
* a path to a ``.npy`` / ``.png`` score map, or to a folder of them named after the images;
* ``selfie`` - MediaPipe selfie segmentation (offline, LiteRT: a dependency of the package);
* ``blazepose`` - BlazePose's person mask, run on a crop around each box (same extra);
* ``deeplab`` - torchvision DeepLabV3-ResNet50's person class (needs torch and torchvision's
  cached weights), or ``deeplab:PATH`` with a local state dict;
* ``learned`` - the network shipped in the package, or ``learned:PATH`` (needs torch).

Build one from a command-line spec with :func:`pose2instance.registry.make_scorer`
(:data:`pose2instance.registry.SCORES` maps each name to its factory). The learned and
DeepLab scores, which need torch, live in :mod:`pose2instance.learned`.
"""

from __future__ import annotations

from .base import FileScore, OracleScore, PersonScorer, read_score_map

__all__ = ["PersonScorer", "OracleScore", "FileScore", "read_score_map"]
