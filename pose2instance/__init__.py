"""pose2instance: person instance segmentation guided by human keypoints.

Implements and extends Pose2Instance (Tripathi et al., arXiv 1704.01152): a
distance transform of each person's skeleton is a prior that separates people;
fused with a person score it gives one mask per person. The public API:

* people: :class:`Persons`, :class:`CocoPersons`, :func:`load_keypoint_results`, :func:`to_coco17`;
* files: :func:`load_people` (any supported keypoint file), :func:`load_image`, RLE helpers;
* priors: :func:`make_prior` (``euclidean``, ``geodesic``, ``heatmap`` ...) and the encoder classes;
* masks: :class:`Pose2Instance`, :func:`fuse`, :func:`box_masks`, :func:`oracle_box_masks`, and every
  method by name with :func:`make_method` (``learned`` included);
* person scores: :func:`make_scorer`;
* evaluation: :func:`evaluate_dataset`, :func:`coco_segm_ap`, :func:`paired_iou`.

The layout of the package is described in ``docs/ARCHITECTURE.md``.

Nothing here imports torch.
"""

__version__ = "0.1.0"

from .evaluation import coco_segm_ap, evaluate_dataset, paired_iou, summarize_ious
from .fusion import box_masks, fuse, oracle_box_masks
from .io import CocoPersons, load_image, load_keypoint_results, load_people, mask_to_rle, masks_to_rles, rle_to_mask
from .layouts import to_coco17
from .registry import METHODS, make_method, make_methods, predict_masks
from .pipeline import MaskMethod, Pose2Instance
from .priors import EuclideanPrior, GaussianHeatmapPrior, GeodesicPrior, make_prior
from .registry import make_scorer
from .structures import COCO_KEYPOINT_NAMES, COCO_SKELETON, Persons

__all__ = [
    "Persons", "CocoPersons", "load_keypoint_results", "load_people", "to_coco17", "load_image", "mask_to_rle",
    "masks_to_rles", "rle_to_mask",
    "make_prior", "EuclideanPrior", "GeodesicPrior", "GaussianHeatmapPrior",
    "Pose2Instance", "MaskMethod", "METHODS", "make_method", "make_methods", "fuse", "box_masks", "oracle_box_masks",
    "predict_masks",
    "make_scorer", "evaluate_dataset", "coco_segm_ap", "paired_iou", "summarize_ious",
    "COCO_KEYPOINT_NAMES", "COCO_SKELETON", "__version__",
]
