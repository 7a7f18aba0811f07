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

from importlib import import_module

#: Where each public name lives; they are imported on first use, so ``import pose2instance`` (and the command
#: line's start-up) stays cheap.
_WHERE = {
    **dict.fromkeys(("coco_segm_ap", "evaluate_dataset", "paired_iou", "summarize_ious"), ".evaluation"),
    **dict.fromkeys(("box_masks", "fuse", "oracle_box_masks"), ".fusion"),
    **dict.fromkeys(("CocoPersons", "load_image", "load_keypoint_results", "load_people", "mask_to_rle",
                     "masks_to_rles", "rle_to_mask"), ".io"),
    "to_coco17": ".layouts",
    **dict.fromkeys(("METHODS", "make_method", "make_methods", "predict_masks", "make_scorer"), ".registry"),
    **dict.fromkeys(("MaskMethod", "Pose2Instance"), ".pipeline"),
    **dict.fromkeys(("EuclideanPrior", "GaussianHeatmapPrior", "GeodesicPrior", "make_prior"), ".priors"),
    **dict.fromkeys(("COCO_KEYPOINT_NAMES", "COCO_SKELETON", "Persons"), ".structures"),
}

__all__ = [
    "Persons", "CocoPersons", "load_keypoint_results", "load_people", "to_coco17", "load_image", "mask_to_rle",
    "masks_to_rles", "rle_to_mask",
    "make_prior", "EuclideanPrior", "GeodesicPrior", "GaussianHeatmapPrior",
    "Pose2Instance", "MaskMethod", "METHODS", "make_method", "make_methods", "fuse", "box_masks", "oracle_box_masks",
    "predict_masks",
    "make_scorer", "evaluate_dataset", "coco_segm_ap", "paired_iou", "summarize_ious",
    "COCO_KEYPOINT_NAMES", "COCO_SKELETON", "__version__",
]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_WHERE[name], __name__), name)
