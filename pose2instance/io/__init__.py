"""Every file format in and out, each file parsed once.

* :mod:`.jsonio` - JSON parsing with errors that name file and field, strict JSON, atomic writes;
* :mod:`.images` - image files -> ``(H, W, 3)`` uint8 RGB;
* :mod:`.rle` - COCO RLE and polygons <-> boolean masks;
* :mod:`.coco` - COCO person annotation files (:class:`CocoPersons`);
* :mod:`.results` - COCO keypoint / detection results in, segmentation results out (the one writer);
* :mod:`.openpose`, :mod:`.mediapipe` - per-image keypoint files of those tools;
* :mod:`.people` - parsed keypoints -> :class:`~pose2instance.structures.Persons` (layouts, confidences);
* :mod:`.formats` - recognise a file by its content and dispatch (:func:`load_people`, :func:`load_boxes`).
"""

from .coco import CocoPersons
from .formats import FORMATS, PeopleFile, detect_format, load_boxes, load_people, load_people_per_image
from .images import ImageError, as_rgb, check_image_file, load_image
from .jsonio import CocoFormatError, FormatError, atomic_write_text, json_safe, read_json, write_json
from .mediapipe import load_mediapipe_json
from .openpose import load_openpose_json
from .results import (PERSON_CATEGORY_ID, load_keypoint_results, read_keypoint_results, results_entries,
                      write_results)
from .rle import mask_to_rle, masks_to_rles, rle_to_mask, segmentation_to_mask

__all__ = ["CocoPersons", "FORMATS", "PeopleFile", "detect_format", "load_boxes", "load_people",
           "load_people_per_image", "ImageError", "as_rgb", "check_image_file", "load_image", "CocoFormatError",
           "FormatError",
           "atomic_write_text", "json_safe", "read_json", "write_json", "load_mediapipe_json", "load_openpose_json",
           "PERSON_CATEGORY_ID", "load_keypoint_results", "read_keypoint_results", "results_entries",
           "write_results", "mask_to_rle", "masks_to_rles", "rle_to_mask", "segmentation_to_mask"]
