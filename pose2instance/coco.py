"""COCO files in and out: person annotations, keypoint results, RLE masks.

* :class:`CocoPersons` reads a COCO person(-keypoints) annotation file and gives
  :class:`~pose2instance.structures.Persons` per image (non-crowd persons, with
  decoded masks) and the crowd regions to ignore.
* :func:`load_keypoint_results` reads a COCO keypoint *results* file (the output
  of any pose estimator: ``[{image_id, keypoints, score, ...}]``).
* :func:`mask_to_rle` / :func:`rle_to_mask` convert boolean masks to COCO RLE.

Errors name the file and the index / id / field that is wrong (:class:`CocoFormatError`).
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from pycocotools import mask as mask_utils

from .images import load_image
from .layouts import LAYOUT_SIZES, detect_layout, to_coco17
from .structures import NUM_KEYPOINTS, Persons, boxes_from_keypoints, xywh_to_xyxy


class CocoFormatError(ValueError):
    """A COCO JSON file that is malformed or misses a required field."""


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; malformed or truncated files raise :class:`CocoFormatError` with the position."""
    path = Path(path)
    if not path.is_file():
        raise CocoFormatError(f"{path}: file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise CocoFormatError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); is it a JSON file?") from e
    if not text.strip():
        raise CocoFormatError(f"{path}: file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise CocoFormatError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}"
                              " (truncated or malformed file?)") from e


def mask_to_rle(mask: np.ndarray) -> dict:
    """``(H, W)`` bool mask -> COCO compressed RLE ``{"size": [H, W], "counts": str}`` (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def rle_to_mask(rle: Mapping) -> np.ndarray:
    """COCO RLE (compressed or uncompressed) -> ``(H, W)`` bool mask."""
    h, w = rle["size"]
    return segmentation_to_mask(dict(rle), int(h), int(w))


def segmentation_to_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """A COCO ``segmentation`` field (polygons, RLE or uncompressed RLE) -> ``(H, W)`` bool mask."""
    if isinstance(segmentation, list):
        polys = [p for p in segmentation if len(p) >= 6]
        if not polys:
            return np.zeros((height, width), bool)
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    elif isinstance(segmentation, dict) and "counts" in segmentation:
        rle = dict(segmentation)
        if isinstance(rle["counts"], str):
            rle["counts"] = rle["counts"].encode("ascii")
    else:
        raise ValueError(f"unknown segmentation format {type(segmentation).__name__}")
    return mask_utils.decode(rle).astype(bool)


def _require(entry: Mapping, fields: tuple[str, ...], what: str) -> None:
    if not isinstance(entry, Mapping):
        raise CocoFormatError(f"{what}: expected an object, got {type(entry).__name__}")
    missing = [f for f in fields if f not in entry]
    if missing:
        raise CocoFormatError(f"{what}: missing field(s) {', '.join(missing)}")


def _integer(entry: Mapping, field: str, what: str) -> int:
    """``int(entry[field])`` or a :class:`CocoFormatError` naming the field."""
    value = entry.get(field)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise CocoFormatError(f"{what}: '{field}' must be an integer, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not np.isfinite(number) or number != int(number):
        raise CocoFormatError(f"{what}: '{field}' must be an integer, got {value!r}")
    return int(number)


def _numbers(values: Any, field: str, what: str, count: int | None = None) -> np.ndarray:
    """A list of finite numbers as float64 (``count`` of them if given), or a :class:`CocoFormatError`."""
    try:
        arr = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise CocoFormatError(f"{what}: '{field}' must be a list of numbers, got {str(values)[:80]}") from None
    if count is not None and arr.size != count:
        raise CocoFormatError(f"{what}: '{field}' must hold {count} numbers, got {arr.size}: {str(values)[:80]}")
    if not np.isfinite(arr).all():
        raise CocoFormatError(f"{what}: '{field}' has a non-finite value: {str(values)[:80]}")
    return arr


def _xywh(values: Any, what: str) -> np.ndarray:
    """A COCO ``bbox`` ``[x, y, w, h]`` with ``w, h >= 0`` as float64, or a :class:`CocoFormatError`."""
    box = _numbers(values, "bbox", what, 4)
    if box[2] < 0 or box[3] < 0:
        raise CocoFormatError(f"{what}: 'bbox' [x, y, w, h] has a negative size: {values}")
    return box


def _parse_keypoints(values: Any, what: str, layouts: bool = True) -> np.ndarray:
    """A flat COCO keypoint list -> ``(17, 3)`` float32; with ``layouts`` other known layouts are converted."""
    kp = _numbers(values, "keypoints", what)
    if not layouts and kp.size != 3 * NUM_KEYPOINTS:
        raise CocoFormatError(f"{what}: 'keypoints' has {kp.size} values; expected 3 x {NUM_KEYPOINTS} = 51")
    if kp.size % 3 or kp.size // 3 not in LAYOUT_SIZES.values():
        raise CocoFormatError(f"{what}: 'keypoints' has {kp.size} values; expected 3 x "
                              f"{NUM_KEYPOINTS} = 51 (or a known layout: "
                              f"{', '.join(f'{3 * s}' for s in LAYOUT_SIZES.values())})")
    layout = detect_layout(kp.size // 3)
    kp = kp.reshape(1, -1, 3).astype(np.float32)
    return kp[0] if layout == "coco17" else to_coco17(kp, layout)[0]


class CocoPersons:
    """A COCO person annotation file (``person_keypoints_*.json`` style).

    Args:
        annotation_file: the JSON file.
        image_dir: folder of the images; defaults to ``images/`` beside the
            ``annotations/`` folder of the file, else the file's folder.

    Only the ``person`` category is used (by name, else category id 1). Annotations
    without keypoints get all-zero keypoints (they fall back to their box in priors).
    """

    def __init__(self, annotation_file: str | Path, image_dir: str | Path | None = None):
        self.path = Path(annotation_file)
        data = read_json(self.path)
        if not isinstance(data, Mapping):
            raise CocoFormatError(f"{self.path}: expected a COCO annotation object with 'images' and 'annotations'")
        for key in ("images", "annotations"):
            if not isinstance(data.get(key), list):
                raise CocoFormatError(f"{self.path}: field '{key}' is missing or not a list")
        self.data = data
        self.image_dir = Path(image_dir) if image_dir else self._default_image_dir()
        self.images: dict[int, dict] = {}
        for i, im in enumerate(data["images"]):
            what = f"{self.path}: images[{i}]"
            _require(im, ("id", "file_name", "width", "height"), what)
            image_id = _integer(im, "id", what)
            if _integer(im, "width", what) <= 0 or _integer(im, "height", what) <= 0:
                raise CocoFormatError(f"{what}: width and height must be positive, got {im['width']}x{im['height']}")
            self.images[image_id] = dict(im, id=image_id, width=int(im["width"]), height=int(im["height"]))
        persons = [c for c in data.get("categories", []) if isinstance(c, Mapping) and c.get("name") == "person"]
        #: the category id of "person" in this file (1 in COCO); results are written with it.
        self.category_id = _integer(persons[0], "id", f"{self.path}: categories") if persons else 1
        self._anns: dict[int, list[dict]] = defaultdict(list)
        seen_ids: set[int] = set()
        for i, ann in enumerate(data["annotations"]):
            what = f"{self.path}: annotations[{i}] (id {ann.get('id', '?') if isinstance(ann, Mapping) else '?'})"
            _require(ann, ("id", "image_id", "bbox"), what)
            if "category_id" in ann and _integer(ann, "category_id", what) != self.category_id:
                continue
            ann_id, image_id = _integer(ann, "id", what), _integer(ann, "image_id", what)
            if ann_id in seen_ids:
                raise CocoFormatError(f"{what}: annotation id {ann_id} is used twice")
            seen_ids.add(ann_id)
            if image_id not in self.images:
                raise CocoFormatError(f"{what}: image_id {image_id} is not in 'images'")
            ann = dict(ann, id=ann_id, image_id=image_id, bbox=_xywh(ann["bbox"], what).tolist())
            if "keypoints" in ann:
                ann["_kp"] = _parse_keypoints(ann["keypoints"], what, layouts=False)
            self._anns[image_id].append(ann)
        self.has_keypoints = any("_kp" in a for anns in self._anns.values() for a in anns)

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
        """The ``images`` entry of ``image_id``; a :class:`CocoFormatError` naming the file if there is none."""
        try:
            return self.images[image_id]
        except KeyError:
            raise CocoFormatError(f"{self.path}: no image with id {image_id}") from None

    def image_size(self, image_id: int) -> tuple[int, int]:
        """``(H, W)`` of an image, from the annotation file."""
        im = self.image(image_id)
        return im["height"], im["width"]

    def image_path(self, image_id: int) -> Path:
        return self.image_dir / self.image(image_id)["file_name"]

    def load_image(self, image_id: int) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB; raises if its size disagrees with the annotation file."""
        image = load_image(self.image_path(image_id))
        if image.shape[:2] != self.image_size(image_id):
            raise CocoFormatError(f"{self.image_path(image_id)}: image is {image.shape[1]}x{image.shape[0]} but "
                                  f"{self.path} says {self.images[image_id]['width']}x{self.images[image_id]['height']}")
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

    def persons(self, image_id: int, with_masks: bool = True) -> Persons:
        """The non-crowd persons of an image as :class:`Persons` (visibility keypoints)."""
        h, w = self.image_size(image_id)
        anns = [a for a in self._anns.get(image_id, []) if not a.get("iscrowd", 0)]
        keypoints = np.stack([a.get("_kp", np.zeros((NUM_KEYPOINTS, 3), np.float32)) for a in anns]) \
            if anns else np.zeros((0, NUM_KEYPOINTS, 3), np.float32)
        boxes = xywh_to_xyxy(np.array([a["bbox"] for a in anns], np.float32)) if anns else np.zeros((0, 4))
        # Boxes of zero width/height exist in COCO; give them one pixel.
        if len(boxes):
            boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1.0)
        masks = None
        if with_masks:
            masks = np.zeros((len(anns), h, w), bool)
            for i, a in enumerate(anns):
                try:
                    masks[i] = segmentation_to_mask(a.get("segmentation", []), h, w)
                except Exception as e:  # pycocotools raises bare exceptions on bad input
                    raise CocoFormatError(f"{self.path}: annotation id {a.get('id')} (image {image_id}): "
                                          f"bad 'segmentation': {e}") from e
        ids = [int(a.get("id", i)) for i, a in enumerate(anns)]
        return Persons(boxes, keypoints, (h, w), "visibility", masks=masks, ids=ids,
                       source=f"{self.path.name} image {image_id}")

    def crowd_mask(self, image_id: int) -> np.ndarray:
        """``(H, W)`` bool union of the image's crowd regions (ignored in evaluation)."""
        h, w = self.image_size(image_id)
        out = np.zeros((h, w), bool)
        for a in self._anns.get(image_id, []):
            if a.get("iscrowd", 0):
                out |= segmentation_to_mask(a["segmentation"], h, w)
        return out


def load_keypoint_results(path: str | Path, image_sizes: Mapping[int, tuple[int, int]],
                          unknown_images: str = "error", min_person_score: float = 0.0) -> dict[int, Persons]:
    """Read a COCO keypoint results file (any pose estimator's output).

    The file is a JSON list of ``{"image_id", "keypoints": [x, y, score] * K, "score",
    optional "bbox" (XYWH)}``; ``K`` may be 17 (COCO), 18/25 (OpenPose) or 33
    (MediaPipe) and is mapped to COCO-17. Per-keypoint values are confidences;
    values above 1 (some estimators write raw heatmap peaks) are clipped to 1 with
    a warning. Without ``bbox`` the box is the keypoints' extent plus a margin.

    Args:
        path: the results file.
        image_sizes: ``{image_id: (H, W)}`` of the images the results refer to.
        unknown_images: ``"error"`` (default), ``"skip"`` (with a warning) or
            ``"ignore"`` (silently) for results whose ``image_id`` is not in ``image_sizes``.
        min_person_score: drop people with a lower person ``score``.

    Returns:
        ``{image_id: Persons}`` with ``keypoint_kind="score"`` and person scores.
        People whose keypoint confidences are all zero are kept (their prior falls
        back to the box) if they have a ``bbox``, and dropped with a warning otherwise.
    """
    path = Path(path)
    data = read_json(path)
    if isinstance(data, Mapping) and "annotations" in data:
        raise CocoFormatError(f"{path}: this is a COCO annotation file, not a results list; "
                              "load it with CocoPersons")
    if not isinstance(data, list):
        raise CocoFormatError(f"{path}: expected a JSON list of keypoint results")
    per_image: dict[int, list[tuple[np.ndarray, float, np.ndarray | None]]] = defaultdict(list)
    clipped = skipped = 0
    for i, r in enumerate(data):
        what = f"{path}: [{i}]"
        _require(r, ("image_id", "keypoints"), what)
        image_id = _integer(r, "image_id", what)
        if image_id not in image_sizes:
            if unknown_images in ("skip", "ignore"):
                skipped += unknown_images == "skip"
                continue
            raise CocoFormatError(f"{what}: image_id {image_id} is not among the {len(image_sizes)} known images")
        kp = _parse_keypoints(r["keypoints"], what)
        if (kp[:, 2] > 1).any():
            clipped += 1
            kp[:, 2] = np.clip(kp[:, 2], 0, 1)
        score = float(_numbers(r.get("score", 1.0), "score", what, 1)[0])
        if score < min_person_score:
            continue
        box = None
        if r.get("bbox") is not None:
            box = _xywh(r["bbox"], what).astype(np.float32)
            if box[2] <= 0 or box[3] <= 0:
                raise CocoFormatError(f"{what}: 'bbox' must be [x, y, w, h] with w, h > 0, got {r['bbox']}")
        elif not (kp[:, 2] > 0).any():
            warnings.warn(f"{what}: person has no keypoint with confidence > 0 and no bbox; skipped")
            continue
        per_image[image_id].append((kp, score, box))
    if clipped:
        warnings.warn(f"{path}: {clipped} result(s) had keypoint scores above 1; clipped to 1")
    if skipped:
        warnings.warn(f"{path}: skipped {skipped} result(s) for images not in the annotations")
    out = {}
    for image_id, people in per_image.items():
        size = tuple(image_sizes[image_id])
        kps = np.stack([p[0] for p in people])
        boxes = boxes_from_keypoints(kps, kps[..., 2] > 0, size)
        for j, (_, _, box) in enumerate(people):
            if box is not None:
                boxes[j] = xywh_to_xyxy(box)[0]
        out[image_id] = Persons(boxes, kps, size, "score", scores=[p[1] for p in people],
                                source=f"{path.name} image {image_id}")
    return out


def load_boxes_for_image(boxes_file: str | Path, image_path: str | Path, image_size: tuple[int, int],
                         image_id: int | None = None) -> np.ndarray:
    """Person boxes of one image, ``(M, 4)`` float32 XYXY, from a COCO annotation or detection results file.

    A results file is a JSON list of ``{"image_id", "bbox": [x, y, w, h], ...}`` (only
    ``category_id`` 1 or absent is used); the image is picked by ``image_id``, or
    is the only one in the file. Crowd annotations are skipped.
    """
    boxes_file = Path(boxes_file)
    data = read_json(boxes_file)
    if isinstance(data, Mapping) and "annotations" in data:
        from .keypoint_files import load_people_for_image
        return load_people_for_image(boxes_file, image_path, image_size, image_id)[0].boxes
    if not isinstance(data, list):
        raise CocoFormatError(f"{boxes_file}: neither a COCO annotation file nor a detection results list")
    for i, r in enumerate(data):
        _require(r, ("image_id", "bbox"), f"{boxes_file}: [{i}]")
    ids = sorted({_integer(r, "image_id", f"{boxes_file}: [{i}]") for i, r in enumerate(data)})
    if image_id is None:
        if len(ids) != 1:
            raise CocoFormatError(f"{boxes_file}: boxes for {len(ids)} images {ids[:5]}...; pass --image-id")
        image_id = ids[0]
    boxes = []
    for i, r in enumerate(data):
        if int(r["image_id"]) != image_id or int(r.get("category_id", 1)) != 1:
            continue
        b = _xywh(r["bbox"], f"{boxes_file}: [{i}]")
        if b[2] <= 0 or b[3] <= 0:
            raise CocoFormatError(f"{boxes_file}: [{i}]: 'bbox' must be [x, y, w, h] with w, h > 0, got {r['bbox']}")
        boxes.append(b)
    if not boxes:
        raise CocoFormatError(f"{boxes_file}: no person box for image_id {image_id}")
    return xywh_to_xyxy(np.array(boxes))
