"""COCO person annotation files: :class:`CocoPersons` gives :class:`~pose2instance.structures.Persons` per image.

Non-crowd persons with decoded masks, their boxes and keypoints (COCO visibility
flags), and the crowd regions to ignore. Errors name the file and the index, id
or field that is wrong (:class:`~pose2instance.io.jsonio.FormatError`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from ..errors import InputError
from ..limits import LIMITS, check_pixels
from ..structures import NUM_KEYPOINTS, Persons, check_box_near_image, xywh_to_xyxy
from .images import load_image
from .jsonio import FormatError, integer_field, read_json, require_fields, xywh_box
from .people import parse_keypoints
from .rle import segmentation_to_mask


class CocoPersons:
    """A COCO person annotation file (``person_keypoints_*.json`` style).

    Args:
        annotation_file: the JSON file.
        image_dir: folder of the images; defaults to ``images/`` beside the
            ``annotations/`` folder of the file, else the file's folder.
        data: the file's content when it was already parsed (it is not read again).

    Only the ``person`` category is used (by name, else category id 1). Annotations
    without keypoints get all-zero keypoints (they fall back to their box in priors).
    """

    def __init__(self, annotation_file: str | Path, image_dir: str | Path | None = None, data: Any = None):
        self.path = Path(annotation_file)
        data = read_json(self.path) if data is None else data
        if not isinstance(data, Mapping):
            raise FormatError(f"{self.path}: expected a COCO annotation object with 'images' and 'annotations'")
        for key in ("images", "annotations"):
            if not isinstance(data.get(key), list):
                raise FormatError(f"{self.path}: field '{key}' is missing or not a list")
        self.data = data
        self.image_dir = Path(image_dir) if image_dir else self._default_image_dir()
        self.images: dict[int, dict] = {}
        for i, im in enumerate(data["images"]):
            what = f"{self.path}: images[{i}]"
            require_fields(im, ("id", "file_name", "width", "height"), what)
            image_id = integer_field(im, "id", what)
            _check_file_name(im["file_name"], what)
            width, height = integer_field(im, "width", what), integer_field(im, "height", what)
            if width <= 0 or height <= 0:
                raise FormatError(f"{what}: width and height must be positive, got {im['width']}x{im['height']}")
            try:
                check_pixels(height, width, what)
            except InputError as e:
                raise FormatError(e.message, self.path, e.field, e.hint, **e.values) from None
            self.images[image_id] = dict(im, id=image_id, width=width, height=height)
        if not isinstance(data.get("categories", []), list):
            raise FormatError(f"{self.path}: field 'categories' must be a list, "
                              f"got {type(data['categories']).__name__}")
        persons = [c for c in data.get("categories", []) if isinstance(c, Mapping) and c.get("name") == "person"]
        #: the category id of "person" in this file (1 in COCO); results are written with it.
        self.category_id = integer_field(persons[0], "id", f"{self.path}: categories") if persons else 1
        self._anns: dict[int, list[dict]] = defaultdict(list)
        self._keypoints: dict[int, np.ndarray] = {}
        seen_ids: set[int] = set()
        for i, ann in enumerate(data["annotations"]):
            what = f"{self.path}: annotations[{i}] (id {ann.get('id', '?') if isinstance(ann, Mapping) else '?'})"
            require_fields(ann, ("id", "image_id", "bbox"), what)
            if "category_id" in ann and integer_field(ann, "category_id", what) != self.category_id:
                continue
            ann_id, image_id = integer_field(ann, "id", what), integer_field(ann, "image_id", what)
            if ann_id in seen_ids:
                raise FormatError(f"{what}: annotation id {ann_id} is used twice")
            seen_ids.add(ann_id)
            if image_id not in self.images:
                raise FormatError(f"{what}: image_id {image_id} is not in 'images'")
            ann = dict(ann, id=ann_id, image_id=image_id, bbox=xywh_box(ann["bbox"], what).tolist())
            x, y, bw, bh = ann["bbox"]
            try:
                check_box_near_image((x, y, x + bw, y + bh), (self.images[image_id]["height"],
                                                              self.images[image_id]["width"]), what)
            except InputError as e:
                raise FormatError(e.message, self.path, e.field, e.hint, **e.values) from None
            if "keypoints" in ann:
                self._keypoints[ann_id] = parse_keypoints(ann["keypoints"], what, layouts=("coco17",))
            self._anns[image_id].append(ann)
        self.has_keypoints = bool(self._keypoints)
        self._check_people_per_image()

    def _check_people_per_image(self) -> None:
        """Refuse an image with more non-crowd persons than ``LIMITS.max_people``."""
        for image_id, anns in self._anns.items():
            people = sum(not a.get("iscrowd", 0) for a in anns)
            if people > LIMITS.max_people:
                raise FormatError(f"{self.path}: image {image_id} has {people} non-crowd persons, more than the "
                                  f"limit of {LIMITS.max_people}", self.path, "annotations", "limit",
                                  name="max_people", option="max-people")

    def _default_image_dir(self) -> Path:
        parent = self.path.parent
        if parent.name == "annotations" and (parent.parent / "images").is_dir():
            return parent.parent / "images"
        return parent

    @property
    def image_ids(self) -> list[int]:
        """Sorted ids of all images."""
        return sorted(self.images)

    def image(self, image_id: int) -> dict:
        """The ``images`` entry of ``image_id``; a :class:`FormatError` naming the file if there is none."""
        try:
            return self.images[image_id]
        except KeyError:
            raise FormatError(f"{self.path}: no image with id {image_id}") from None

    def image_size(self, image_id: int) -> tuple[int, int]:
        """``(H, W)`` of an image, from the annotation file."""
        im = self.image(image_id)
        return im["height"], im["width"]

    def image_path(self, image_id: int) -> Path:
        """The image file: ``file_name`` (checked to stay inside the folder) under :attr:`image_dir`."""
        return self.image_dir / self.image(image_id)["file_name"]

    def load_image(self, image_id: int) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB; raises if its size disagrees with the annotation file."""
        image = load_image(self.image_path(image_id))
        if image.shape[:2] != self.image_size(image_id):
            raise FormatError(f"{self.image_path(image_id)}: image is {image.shape[1]}x{image.shape[0]} but "
                                  f"{self.path} says "
                                  f"{self.images[image_id]['width']}x{self.images[image_id]['height']}")
        return image

    def find_image(self, file_name: str) -> int | None:
        """The id of the image whose ``file_name`` (base name) matches, or None."""
        name = Path(file_name).name
        for image_id, im in self.images.items():
            if Path(im["file_name"]).name == name:
                return image_id
        return None

    def annotations(self, image_id: int) -> list[dict]:
        """The raw person annotations of an image (crowd included)."""
        return list(self._anns.get(image_id, []))

    def keypoints_of(self, annotation: Mapping) -> np.ndarray | None:
        """``(17, 3)`` float32 keypoints (COCO visibility) of an annotation of this file, None if it has none."""
        return self._keypoints.get(int(annotation["id"]))

    def persons(self, image_id: int, with_masks: bool = True) -> Persons:
        """The non-crowd persons of an image as :class:`Persons` (visibility keypoints)."""
        h, w = self.image_size(image_id)
        anns = [a for a in self._anns.get(image_id, []) if not a.get("iscrowd", 0)]
        none = np.zeros((NUM_KEYPOINTS, 3), np.float32)
        keypoints = np.stack([self._keypoints.get(a["id"], none) for a in anns]) \
            if anns else np.zeros((0, NUM_KEYPOINTS, 3), np.float32)
        boxes = xywh_to_xyxy(np.array([a["bbox"] for a in anns], np.float32)) if anns else np.zeros((0, 4))
        # Boxes of zero width/height exist in COCO; give them one pixel.
        if len(boxes):
            boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1.0)
        masks = None
        if with_masks:
            masks = np.zeros((len(anns), h, w), bool)
            for i, a in enumerate(anns):
                masks[i] = self.mask_of(a)
        ids = [int(a.get("id", i)) for i, a in enumerate(anns)]
        return Persons(boxes, keypoints, (h, w), "visibility", masks=masks, ids=ids,
                       source=f"{self.path.name} image {image_id}")

    def mask_of(self, annotation: Mapping) -> np.ndarray:
        """``(H, W)`` bool mask of an annotation of this file (empty without a ``segmentation``).

        Raises:
            FormatError: an unreadable ``segmentation`` (the message names the file and annotation id).
        """
        image_id = annotation["image_id"]
        h, w = self.image_size(image_id)
        try:
            return segmentation_to_mask(annotation.get("segmentation", []), h, w)
        except Exception as e:  # pycocotools raises bare exceptions on bad input
            raise FormatError(f"{self.path}: annotation id {annotation.get('id')} (image {image_id}): "
                              f"bad 'segmentation': {e}") from e

    def crowd_mask(self, image_id: int) -> np.ndarray:
        """``(H, W)`` bool union of the image's crowd regions (ignored in evaluation)."""
        h, w = self.image_size(image_id)
        out = np.zeros((h, w), bool)
        for a in self._anns.get(image_id, []):
            if a.get("iscrowd", 0):
                out |= self.mask_of(a)
        return out


def _check_file_name(file_name: Any, what: str) -> None:
    """A relative path inside the image folder: a non-empty string, not absolute, no ``..``."""
    if not isinstance(file_name, str) or not file_name.strip():
        raise FormatError(f"{what}: 'file_name' must be a non-empty string, got {file_name!r}")
    path = PurePosixPath(file_name.replace("\\", "/"))
    if path.is_absolute() or PureWindowsPath(file_name).is_absolute() or ".." in path.parts:
        raise FormatError(f"{what}: 'file_name' {file_name!r} points outside the image folder; file names "
                          "must be relative paths inside it (no absolute paths, no '..')")
