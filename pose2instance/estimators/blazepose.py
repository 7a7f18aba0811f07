"""BlazePose as a multi-person pose estimator, offline through LiteRT.

Two MediaPipe models (``.tflite`` files of the ``mediapipe`` wheel, Apache-2.0; found with
:func:`~pose2instance.scores.mediapipe.find_model`, the package is never imported):

* ``pose_detection.tflite``, the BlazePose person detector: input ``(224, 224, 3)`` RGB,
  outputs ``(2254, 12)`` regressors and ``(2254, 1)`` score logits, one row per SSD
  anchor (:func:`ssd_anchor_centres`). Row ``a`` of the regressors is
  ``(dx, dy, w, h, k0x, k0y, ..., k3x, k3y)`` in input pixels: the box centre and the four
  alignment keypoints are offsets from the anchor centre. The box is around the head and
  shoulders, not the whole body; keypoint 0 is the hip centre, keypoint 1 a point above
  the head whose distance from keypoint 0 is the radius of a circle around the body,
  keypoints 2 and 3 the same for the upper body.
* ``pose_landmark_full.tflite``, run on an upright square crop around each person
  (:class:`~pose2instance.scores.mediapipe.BlazePoseLandmarker`).

Without boxes, :class:`BlazePoseEstimator` detects people (:class:`BlazePoseDetector`, on
the whole image and on overlapping windows of half its size), turns each detection into a
crop as MediaPipe does (centre keypoint 0, side ``2 * |k1 - k0| * 1.25``, but upright: the
detector's rotation is ignored), runs the landmark model there and drops duplicates. With
boxes, it runs the landmark model on a crop around each box, then once more on the crop its
landmarks propose.

Image coordinates follow the package convention: x right, y down, pixel centres at
integer coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layouts import LAYOUTS, to_coco17
from ..scores.mediapipe import (
    POSE_HEATMAP_SIZE,
    POSE_INPUT_SIZE,
    POSE_NUM_BODY_LANDMARKS,
    BlazePoseLandmarker,
    PoseCropOutput,
    TFLiteModel,
    find_model,
    sigmoid,
)
from ..crops import CropWindow
from ..structures import NUM_KEYPOINTS, Persons, box_iou
from .base import PoseEstimator, check_boxes, check_image

#: Side of the detector's square input.
DETECTOR_INPUT_SIZE = 224
#: MediaPipe's anchor options for pose detection: one feature map per stride (maps of equal
#: stride merge), two anchors per cell per layer (aspect ratio 1 and the interpolated scale),
#: anchor centres at cell centres (offset 0.5), fixed anchor size (regressions are in input pixels).
DETECTOR_STRIDES = (8, 16, 32, 32, 32)
DETECTOR_ANCHORS_PER_LAYER = 2
DETECTOR_NUM_KEYPOINTS = 4
#: Indices of the COCO-17 keypoints among the 33 MediaPipe body landmarks (and heatmap channels).
COCO_FROM_MEDIAPIPE = LAYOUTS["mediapipe33"]


def ssd_anchor_centres(input_size: int = DETECTOR_INPUT_SIZE, strides: tuple[int, ...] = DETECTOR_STRIDES,
                       anchors_per_layer: int = DETECTOR_ANCHORS_PER_LAYER, offset: float = 0.5) -> np.ndarray:
    """Centres of MediaPipe's SSD anchors, ``(A, 2)`` float32 ``(x, y)`` as fractions of the input side.

    Consecutive layers with the same stride share one ``ceil(input_size / stride)``-cell
    feature map; each cell holds ``anchors_per_layer`` anchors per merged layer. Order:
    feature maps by stride, then rows, columns, anchors (the order of the model's outputs).
    For the pose detector: ``28*28*2 + 14*14*2 + 7*7*6 = 2254`` anchors.
    """
    centres = []
    start = 0
    while start < len(strides):
        stop = start
        while stop < len(strides) and strides[stop] == strides[start]:
            stop += 1
        cells = int(np.ceil(input_size / strides[start]))
        pos = (np.arange(cells, dtype=np.float32) + offset) / cells
        ys, xs = np.meshgrid(pos, pos, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(grid, anchors_per_layer * (stop - start), axis=0))
        start = stop
    return np.concatenate(centres).astype(np.float32)


def nms_clusters(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[np.ndarray]:
    """Greedy non-maximum suppression that also returns what each kept box suppressed.

    The best remaining box starts a cluster with every remaining box that overlaps it by
    IoU ``> iou_threshold``; they leave the pool. Returns the clusters, best first, each an
    index array whose first entry is its kept box (plain NMS keeps ``c[0]``; weighted NMS
    averages the members' coordinates by score).
    """
    order = np.argsort(-np.asarray(scores), kind="stable")
    clusters = []
    while order.size:
        overlap = box_iou(boxes[order[:1]], boxes[order])[0] > iou_threshold
        overlap[0] = True
        clusters.append(order[overlap])
        order = order[~overlap]
    return clusters


def detection_tiles(image_size: tuple[int, int], zoom: int, overlap: float = 0.25) -> list[CropWindow]:
    """Square detector windows covering an ``(H, W)`` image at magnification ``zoom``.

    ``zoom = 1`` is the whole image letterboxed into one centred square (black padding).
    ``zoom = z`` uses windows of side ``ceil(max(H, W) / z)``, overlapping by at least
    ``overlap`` of their side, spread evenly over each axis (centred on an axis shorter
    than the side).
    """
    h, w = image_size
    side = max(1, int(np.ceil(max(h, w) / zoom)))
    step = max(1.0, side * (1.0 - overlap))

    def starts(length: int) -> np.ndarray:
        if length <= side:
            return np.array([(length - side) // 2])
        count = int(np.ceil((length - side) / step)) + 1
        return np.round(np.linspace(0, length - side, count)).astype(int)

    return [CropWindow.at_pixel(int(x0), int(y0), side) for y0 in starts(h) for x0 in starts(w)]


def crop_around_point(centre: np.ndarray, radius: float, scale: float) -> CropWindow:
    """The landmark-model crop centred on image point ``centre`` with side ``2 * radius * scale`` (at least 1 px)."""
    centre = np.asarray(centre, np.float32)
    return CropWindow.around_pixels(np.concatenate([centre - radius, centre + radius]), scale)


@dataclass
class PoseDetections:
    """People found by the BlazePose detector in one image.

    Attributes:
        boxes: ``(D, 4)`` float32 XYXY image pixels, the detector's box (head and shoulders).
        keypoints: ``(D, 4, 2)`` float32 image ``(x, y)``: hip centre, full-body scale point,
            shoulder centre, upper-body scale point.
        scores: ``(D,)`` float32 detection probabilities, best first.
    """

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def crops(self, scale: float = 1.25) -> list[CropWindow]:
        """Upright landmark-model crops: centred on the hip centre, side ``2 * |k1 - k0| * scale``."""
        return [crop_around_point(kp[0], float(np.linalg.norm(kp[1] - kp[0])), scale) for kp in self.keypoints]


class BlazePoseDetector:
    """MediaPipe's BlazePose person detector, decoded with our own anchors and NMS.

    Args:
        score_threshold: keep anchors whose detection probability is at least this.
        iou_threshold: suppression overlap (box IoU) of the non-maximum suppression.
        weighted: MediaPipe's weighted NMS (each kept detection becomes the score-weighted mean
            of the boxes and keypoints it suppressed, with the best score) instead of plain NMS.
            Plain is the default: through :class:`BlazePoseEstimator` on COCO dev it gave keypoint
            AP 0.140 / AP50 0.281 / recall 0.340 against 0.139 / 0.262 / 0.335 weighted.
        zooms: magnifications to run the detector at (see :func:`detection_tiles`); the
            detections of all windows are merged by one NMS.
        num_threads: interpreter threads (``None``: see :class:`TFLiteModel`).

    The input is each window resampled to ``224 x 224`` (a letterbox for the whole
    image), values in ``[-1, 1]``. Chosen on COCO dev by the fraction of people with
    keypoints whose box holds the shoulder centre of a distinct detection (whole image,
    threshold 0.5): 0.244 for ``[-1, 1]``, 0.234 for ``[0, 1]``, 0.051 for ``[0, 255]``;
    0.244 letterboxed, 0.239 stretched to the square.
    """

    def __init__(self, score_threshold: float = 0.5, iou_threshold: float = 0.3, weighted: bool = False,
                 zooms: tuple[int, ...] = (1,), num_threads: int | None = None):
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.weighted = weighted
        self.zooms = tuple(zooms)
        self.model = TFLiteModel(find_model("pose_detection"), num_threads)
        n = DETECTOR_INPUT_SIZE
        if self.model.input_shape != (n, n, 3):
            raise ValueError(f"{self.model.path}: unexpected input shape {self.model.input_shape}")
        self.anchors = ssd_anchor_centres()
        a = len(self.anchors)
        self._regressors = self.model.output_position((a, 4 + 2 * DETECTOR_NUM_KEYPOINTS))
        self._logits = self.model.output_position((a, 1))

    def detect_window(self, image: np.ndarray, crop: CropWindow) -> PoseDetections:
        """All anchors above the score threshold in one window, before NMS, in image pixels."""
        out = self.model(crop.extract(image, DETECTOR_INPUT_SIZE) * 2.0 - 1.0)
        scores = sigmoid(np.clip(out[self._logits][:, 0], -100.0, 100.0))
        keep = scores >= self.score_threshold
        raw = out[self._regressors][keep] / DETECTOR_INPUT_SIZE
        anchors = self.anchors[keep]
        centre, half = anchors + raw[:, :2], raw[:, 2:4] / 2
        corners = np.stack([centre - half, centre + half], axis=1)
        keypoints = anchors[:, None] + raw[:, 4:].reshape(-1, DETECTOR_NUM_KEYPOINTS, 2)
        return PoseDetections(crop.edge_to_image(corners, 1).reshape(-1, 4), crop.edge_to_image(keypoints, 1),
                              scores[keep])

    def __call__(self, image: np.ndarray) -> PoseDetections:
        """The people of an ``(H, W, 3)`` uint8 RGB image, after non-maximum suppression."""
        image = check_image(image)
        windows = [self.detect_window(image, crop) for zoom in self.zooms
                   for crop in detection_tiles(image.shape[:2], zoom)]
        boxes = np.concatenate([d.boxes for d in windows])
        keypoints = np.concatenate([d.keypoints for d in windows])
        scores = np.concatenate([d.scores for d in windows])
        clusters = nms_clusters(boxes, scores, self.iou_threshold)
        if not self.weighted:
            kept = np.array([c[0] for c in clusters], int)
            return PoseDetections(boxes[kept], keypoints[kept], scores[kept])
        merged_boxes = np.zeros((len(clusters), 4), np.float32)
        merged_keypoints = np.zeros((len(clusters), DETECTOR_NUM_KEYPOINTS, 2), np.float32)
        for i, c in enumerate(clusters):
            weight = scores[c] / scores[c].sum()
            merged_boxes[i] = weight @ boxes[c]
            merged_keypoints[i] = np.tensordot(weight, keypoints[c], axes=1)
        return PoseDetections(merged_boxes, merged_keypoints, scores[[c[0] for c in clusters]].astype(np.float32))


#: COCO's per-keypoint OKS constants (the ``sigmas`` of the COCO keypoint evaluation), COCO-17 order.
COCO_KEYPOINT_SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62,
                                 1.07, 1.07, 0.87, 0.87, 0.89, 0.89], np.float32) / 10.0


def keypoint_similarity(a: np.ndarray, b: np.ndarray, area: float) -> float:
    """COCO's object keypoint similarity of two ``(17, 2)`` keypoint sets of a person of ``area`` pixels^2.

    ``mean_k exp(-d_k^2 / (2 area (2 sigma_k)^2))`` over all 17 keypoints: 1 for identical sets.
    """
    d2 = np.sum((np.asarray(a, np.float32) - np.asarray(b, np.float32)) ** 2, axis=-1)
    return float(np.mean(np.exp(-d2 / (2.0 * max(area, 1.0) * (2.0 * COCO_KEYPOINT_SIGMAS) ** 2))))


@dataclass
class PersonEstimate:
    """One person from one landmark-model crop, in image coordinates.

    Attributes:
        keypoints: ``(17, 3)`` float32 COCO-17 ``(x, y, confidence)``.
        score: the landmark model's pose flag (probability that the crop holds a person).
        box: ``(4,)`` float32 XYXY person box.
        heatmaps: ``(17, 64, 64)`` float32 keypoint probabilities (COCO-17 channels).
        heatmap_box: ``(4,)`` float32 XYXY region of the heatmaps, cell-centre convention of
            :class:`~pose2instance.structures.Persons`.
    """

    keypoints: np.ndarray
    score: float
    box: np.ndarray
    heatmaps: np.ndarray
    heatmap_box: np.ndarray

    def fail(self) -> None:
        """Mark the estimate as failed: score, keypoint confidences and heatmaps all 0."""
        self.score = 0.0
        self.keypoints[:, 2] = 0.0
        self.heatmaps[:] = 0.0


def heatmap_box(crop: CropWindow, cells: int = POSE_HEATMAP_SIZE) -> np.ndarray:
    """``(4,)`` XYXY region whose ``cells x cells`` grid has its cell centres where MediaPipe puts its heatmap cells.

    MediaPipe's heatmap cell ``(r, c)`` stands for the crop point ``(c, r)`` on a ``cells``-unit
    grid from the crop's top-left edge, i.e. image point ``crop.edge_to_image([c, r], cells)``
    (cell *corners*). :class:`~pose2instance.structures.Persons` puts cell ``(r, c)`` at
    ``box[:2] + ((c, r) + 0.5) * cell``, so the region is the crop square moved up and left
    by half a cell.
    """
    cell = crop.side / cells
    x0, y0 = crop.edge_to_image(np.zeros(2), cells) - 0.5 * cell
    return np.array([x0, y0, x0 + crop.side, y0 + crop.side], np.float32)


class BlazePoseEstimator(PoseEstimator):
    """BlazePose (person detector + GHUM full landmark model) as a :class:`PoseEstimator`.

    Args:
        margin: with given boxes, the first crop is the square around each box of side
            ``max(width, height) * margin``. COCO dev keypoint AP on ground-truth boxes
            (``benchmarks/keypoint_quality.py``): without ``refine_boxes`` 0.150 at 1.1, 0.151
            at 1.25, 0.167 at 1.5, 0.127 at 1.75, 0.079 at 2.0; with it 0.160 at 1.1, 0.171 at
            1.25 (the default), 0.168 at 1.5.
        refine_boxes: with given boxes, run the landmark model a second time, on the crop its
            own auxiliary landmarks 33-34 propose (centre 33, side ``2 * |34 - 33| * roi_scale``,
            the crop MediaPipe tracks a person with); twice the time. Detections are not refined:
            their crop is already of that kind (detected AP / AP50 / recall 0.142 / 0.270 / 0.325
            refined against 0.140 / 0.281 / 0.340).
        roi_scale: detection (and refinement) crop side = ``2 * radius * roi_scale``; MediaPipe's
            1.25 (detected AP 0.122 at 1.1, 0.140 at 1.25, 0.119 at 1.4).
        detection_threshold: minimum detection probability (detected AP / AP50 / recall: 0.140 /
            0.281 / 0.340 at 0.5, 0.140 / 0.297 / 0.371 at 0.4, 0.136 / 0.284 / 0.376 at 0.3).
        zooms: detector magnifications (:func:`detection_tiles`). The whole image letterboxed
            to 224 pixels misses most people that are not large: detected AP / recall / median
            time per image 0.093 / 0.208 / 33 ms with ``(1,)``, 0.140 / 0.340 / 140 ms with
            ``(1, 2)`` (the default), 0.143 / 0.396 / 320 ms with ``(1, 2, 3)``.
        min_person: a person whose pose flag is below this is a failure: dropped when
            detected, zeroed (see :class:`PoseEstimator`) for a given box. On ground-truth
            boxes the flagged failures have a median keypoint error of 0.23 of the box side,
            the others 0.05. Detected AP / recall 0.140 / 0.340 at 0.5, 0.142 / 0.371 at 0
            (what it adds is mostly wrong poses).
        duplicate_oks: among detected persons (best pose flag first), drop one whose keypoints
            have an OKS above this with an already kept person (detected AP 0.093 without
            de-duplication, 0.140 with).
        box_pad: a detected person's box is the extent of its landmarks with confidence
            >= 0.5 (all 33 if fewer than two), grown by ``box_pad`` of its size on every side
            and clipped to the image (recall 0.315 at 0.1, 0.340 at 0.2, 0.294 at 0.3).
        num_threads: interpreter threads (``None``: see :class:`TFLiteModel`).

    Keypoint confidence = ``sigmoid(visibility) * sigmoid(presence)`` of the landmark, and 0
    for a landmark outside the image (its coordinates are then clipped to the image).
    COCO keypoint AP ignores keypoint confidences; on ground-truth boxes, as a predictor of
    "the keypoint is labelled" the product has ROC AUC 0.700 against 0.698 for visibility
    alone (0.720 vs 0.714 for "labelled and within 0.1 box side"). Person score = the pose
    flag (``x mean keypoint confidence`` moved AP by about 0.004 either way, noise on 197
    people). Heatmaps are ``sigmoid`` of the model's logits for the 17 COCO channels:
    independent per-cell probabilities (median peak 0.50, median sum 23), not distributions;
    peaks and regressed landmarks agree under :func:`heatmap_box` (soft-argmax offset
    -0.17, -0.06 cells on average).
    """

    name = "blazepose"

    def __init__(self, margin: float = 1.25, refine_boxes: bool = True, roi_scale: float = 1.25,
                 detection_threshold: float = 0.5, zooms: tuple[int, ...] = (1, 2), min_person: float = 0.5,
                 duplicate_oks: float = 0.5, box_pad: float = 0.2, num_threads: int | None = None):
        self.margin = margin
        self.refine_boxes = refine_boxes
        self.roi_scale = roi_scale
        self.min_person = min_person
        self.duplicate_oks = duplicate_oks
        self.box_pad = box_pad
        self.landmarker = BlazePoseLandmarker(margin, num_threads)
        self.detector = BlazePoseDetector(detection_threshold, zooms=zooms, num_threads=num_threads)

    def __call__(self, image: np.ndarray, boxes: np.ndarray | None = None) -> Persons:
        image = check_image(image)
        if boxes is not None:
            boxes = check_boxes(boxes)
            estimates = [self.estimate_box(image, box) for box in boxes]
            return self._persons(estimates, image.shape[:2], boxes)
        estimates = [self.estimate(image, crop) for crop in self.detector(image).crops(self.roi_scale)]
        kept: list[PersonEstimate] = []
        for e in sorted(estimates, key=lambda e: -e.score):
            if e.score < self.min_person or (e.box[2:] - e.box[:2] < 1).any():
                continue
            if any(keypoint_similarity(e.keypoints[:, :2], k.keypoints[:, :2], float(np.prod(k.box[2:] - k.box[:2])))
                   > self.duplicate_oks for k in kept):
                continue
            kept.append(e)
        return self._persons(kept, image.shape[:2], None)

    def estimate_box(self, image: np.ndarray, box: np.ndarray) -> PersonEstimate:
        """The person in the crop around an XYXY ``box`` (refined once, see ``refine_boxes``); failures zeroed."""
        crop = CropWindow.around_pixels(box, self.margin)
        h, w = image.shape[:2]
        if crop.x0 >= w or crop.y0 >= h or crop.x0 + crop.side <= 0 or crop.y0 + crop.side <= 0:
            hm = POSE_HEATMAP_SIZE
            return PersonEstimate(np.zeros((NUM_KEYPOINTS, 3), np.float32), 0.0, np.asarray(box, np.float32),
                                  np.zeros((NUM_KEYPOINTS, hm, hm), np.float32), heatmap_box(crop))
        res = self.landmarker.run_crop(image, crop)
        if self.refine_boxes:
            aux = crop.edge_to_image(res.landmarks[POSE_NUM_BODY_LANDMARKS:POSE_NUM_BODY_LANDMARKS + 2, :2],
                                     POSE_INPUT_SIZE)
            res = self.landmarker.run_crop(image, crop_around_point(aux[0], float(np.linalg.norm(aux[1] - aux[0])),
                                                                    self.roi_scale))
        estimate = self._from_output(res, (h, w))
        if estimate.score < self.min_person:
            estimate.fail()
        return estimate

    def estimate(self, image: np.ndarray, crop: CropWindow) -> PersonEstimate:
        """The person the landmark model finds in one square ``crop`` of an ``(H, W, 3)`` uint8 image."""
        return self._from_output(self.landmarker.run_crop(image, crop), image.shape[:2])

    def _from_output(self, res: PoseCropOutput, image_size: tuple[int, int]) -> PersonEstimate:
        h, w = image_size
        raw = res.landmarks[:POSE_NUM_BODY_LANDMARKS]
        xy = res.crop.edge_to_image(raw[:, :2], POSE_INPUT_SIZE)
        conf = sigmoid(raw[:, 3]) * sigmoid(raw[:, 4])
        kp = to_coco17(np.concatenate([xy, conf[:, None]], 1)[None], "mediapipe33")[0]
        lo_lim, hi_lim = np.array([-0.5, -0.5], np.float32), np.array([w - 0.5, h - 0.5], np.float32)
        outside = ((kp[:, :2] < lo_lim) | (kp[:, :2] > hi_lim)).any(1)
        kp[outside, 2] = 0.0
        kp[:, :2] = np.clip(kp[:, :2], lo_lim, hi_lim)
        confident = conf >= 0.5
        pts = xy[confident] if confident.sum() >= 2 else xy
        lo, hi = pts.min(0), pts.max(0)
        pad = (hi - lo) * self.box_pad
        box = np.clip(np.concatenate([lo - pad, hi + pad]), 0, [w, h, w, h])  # box extents, as boxes_from_keypoints
        return PersonEstimate(kp, res.person, box.astype(np.float32),
                              sigmoid(res.heatmaps[list(COCO_FROM_MEDIAPIPE)]), heatmap_box(res.crop))

    @staticmethod
    def _persons(estimates: list[PersonEstimate], image_size: tuple[int, int], boxes: np.ndarray | None) -> Persons:
        """:class:`Persons` of the estimates, with the given ``boxes`` instead of theirs when not ``None``."""
        hm = POSE_HEATMAP_SIZE
        if not estimates:
            return Persons(np.zeros((0, 4), np.float32), np.zeros((0, NUM_KEYPOINTS, 3), np.float32), image_size,
                           "score", np.zeros(0, np.float32), heatmaps=np.zeros((0, NUM_KEYPOINTS, hm, hm), np.float32),
                           heatmap_boxes=np.zeros((0, 4), np.float32))
        return Persons(np.stack([e.box for e in estimates]) if boxes is None else boxes,
                       np.stack([e.keypoints for e in estimates]), image_size, "score",
                       np.array([e.score for e in estimates], np.float32),
                       heatmaps=np.stack([e.heatmaps for e in estimates]),
                       heatmap_boxes=np.stack([e.heatmap_box for e in estimates]))
