"""MediaPipe person scores, run offline with LiteRT on the MediaPipe models shipped in the package.

The ``.tflite`` files ship in the package (``pose2instance/assets/mediapipe``, copied from MediaPipe
0.10.21, Apache-2.0); an installed ``mediapipe`` package is only a fallback, located, never imported.
The interpreter is ``ai_edge_litert`` (Google's LiteRT, a dependency of the package).

Tensor layouts (batch 1, float32, NHWC), read from the models and checked on COCO photos:

* ``selfie_segmentation.tflite``: input ``(1, 256, 256, 3)`` RGB in ``[0, 1]``;
  output ``(1, 256, 256, 1)`` person *probability* (the last layer is already a sigmoid).
  ``selfie_segmentation_landscape.tflite`` is the same with ``144 x 256`` (H x W).
* ``pose_landmark_full.tflite`` (BlazePose GHUM full): input ``(1, 256, 256, 3)`` RGB
  in ``[0, 1]``, an upright square crop around one person. Outputs, identified by shape:

  - ``(1, 195)`` landmarks: 39 x ``(x, y, z, visibility, presence)``. ``x, y`` in
    input pixels measured from the crop's top-left *edge* (``0 .. 256`` spans the crop),
    ``z`` depth relative to the hips in the same units; visibility and presence are
    logits. Points 0-32 are the MediaPipe Pose 33 body landmarks, 33-34 the two
    auxiliary alignment points MediaPipe uses to place its next crop, 35-38 unused by MediaPipe.
  - ``(1, 1)`` pose flag: probability that the crop holds a person (already a sigmoid).
  - ``(1, 256, 256, 1)`` segmentation mask *logits* over the input crop.
  - ``(1, 64, 64, 39)`` landmark heatmap logits, stride 4 over the input crop.
  - ``(1, 117)`` world landmarks: 39 x ``(x, y, z)`` in metres, origin between the hips.

Image coordinates follow the package convention: x right, y down, pixel centres at
integer coordinates.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from ..crops import CropWindow
from ..structures import Persons
from .base import PersonScorer

INSTALL_HINT = "pip install ai-edge-litert (a dependency of pose2instance: reinstall it)"

#: Side of the BlazePose landmark model's square input, and of its heatmaps.
POSE_INPUT_SIZE = 256
POSE_HEATMAP_SIZE = 64
#: The 39 landmarks of the pose model: 33 body points, then auxiliary ones.
POSE_NUM_LANDMARKS = 39
POSE_NUM_BODY_LANDMARKS = 33


#: The MediaPipe model files shipped in the package (Apache-2.0; ``assets/mediapipe/README.md`` says where from).
PACKAGED_MODELS = Path(__file__).resolve().parents[1] / "assets" / "mediapipe"


@contextmanager
def _without_litert_info() -> Iterator[None]:
    """Drop LiteRT's native ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` line: the process's
    stderr (file descriptor 2) goes to a temporary file meanwhile, and every other line written there is passed on."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (an embedding host): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not line.startswith("INFO: Created TensorFlow Lite")]
            if kept:
                sys.stderr.write("".join(kept))


def find_model(name: str) -> Path:
    """Path of ``<name>.tflite``: the copy shipped in the package, else the installed ``mediapipe`` package's.

    Args:
        name: file stem, e.g. ``"selfie_segmentation"``, ``"pose_landmark_full"``, ``"pose_detection"``.

    Raises:
        FileNotFoundError: neither the package nor an installed ``mediapipe`` has such a model.
    """
    packaged = PACKAGED_MODELS / f"{name}.tflite"
    if packaged.is_file():
        return packaged
    spec = importlib.util.find_spec("mediapipe")
    for location in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(location).glob(f"modules/**/{name}.tflite"))
        if found:
            return found[0]
    raise FileNotFoundError(f"no model {name}.tflite in {PACKAGED_MODELS} nor in an installed mediapipe package")


class TFLiteModel:
    """One ``.tflite`` model with a single float32 input, loaded once into a LiteRT interpreter.

    Args:
        path: the ``.tflite`` file.
        num_threads: CPU threads for the interpreter (``None``: the CPU count, at most 4;
            LiteRT's own default is one thread).

    Attributes:
        input_shape: the input tensor's shape without the batch axis, e.g. ``(256, 256, 3)``.
        output_shapes: each output's shape without the batch axis, in the interpreter's order.
    """

    def __init__(self, path: str | Path, num_threads: int | None = None):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:
            raise ImportError(f"the LiteRT interpreter (ai-edge-litert) is not installed: {INSTALL_HINT}") from e
        self.path = Path(path)
        if num_threads is None:
            num_threads = min(4, os.cpu_count() or 1)
        with _without_litert_info():
            self._interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
            self._interpreter.allocate_tensors()
        inputs = self._interpreter.get_input_details()
        if len(inputs) != 1:
            raise ValueError(f"{self.path}: expected one input tensor, found {len(inputs)}")
        self._input = inputs[0]
        self._outputs = self._interpreter.get_output_details()
        self.input_shape: tuple[int, ...] = tuple(int(v) for v in self._input["shape"][1:])
        self.output_shapes: tuple[tuple[int, ...], ...] = tuple(
            tuple(int(v) for v in d["shape"][1:]) for d in self._outputs)

    def output_position(self, shape: tuple[int, ...]) -> int:
        """Position in :meth:`__call__`'s list of the one output of ``shape`` (no batch axis)."""
        matches = [i for i, s in enumerate(self.output_shapes) if s == tuple(shape)]
        if len(matches) != 1:
            raise ValueError(f"{self.path}: expected one output of shape {tuple(shape)}, "
                             f"outputs are {list(self.output_shapes)}")
        return matches[0]

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        """Run on one input of :attr:`input_shape`; the outputs without their batch axis."""
        x = np.asarray(x, dtype=np.float32)
        if x.shape != self.input_shape:
            raise ValueError(f"{self.path}: input must have shape {self.input_shape}, got {x.shape}")
        self._interpreter.set_tensor(self._input["index"], np.ascontiguousarray(x[None]))
        self._interpreter.invoke()
        return [self._interpreter.get_tensor(d["index"])[0].copy() for d in self._outputs]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, float32, safe for large logits."""
    x = np.asarray(x, dtype=np.float32)
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)


def _as_unit_rgb(image: Image.Image) -> np.ndarray:
    """A PIL RGB image as ``(h, w, 3)`` float32 in ``[0, 1]``."""
    return np.asarray(image, dtype=np.float32) / 255.0


def _resize_map(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D float map to ``size = (H, W)``."""
    src = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32))
    return np.asarray(src.resize((size[1], size[0]), Image.Resampling.BILINEAR))


class SelfieScore(PersonScorer):
    """MediaPipe selfie segmentation on the whole image.

    Args:
        letterbox: pad the image to a centred square (black) before resizing, instead
            of stretching it to the model's aspect ratio.
        landscape: use the ``144 x 256`` landscape model instead of the ``256 x 256`` one.
        num_threads: interpreter threads (``None``: see :class:`TFLiteModel`).

    The model's ``(h, w)`` probability is resized back to ``(H, W)`` bilinearly.
    """

    name = "selfie"

    def __init__(self, letterbox: bool = False, landscape: bool = False, num_threads: int | None = None):
        self.letterbox = letterbox
        self.model = TFLiteModel(find_model("selfie_segmentation_landscape" if landscape else "selfie_segmentation"),
                                 num_threads)
        self.input_hw = self.model.input_shape[:2]
        if letterbox and self.input_hw[0] != self.input_hw[1]:
            raise ValueError("letterbox needs the square selfie model (landscape=False)")

    def __call__(self, image, persons, image_path=None):
        h, w = image.shape[:2]
        if self.letterbox:
            crop = CropWindow.around_pixels(np.array([0, 0, w, h]), 1.0)
            return np.clip(crop.paste(self.model(crop.extract(image, self.input_hw[0]))[0][..., 0], (h, w)), 0.0, 1.0)
        x = _as_unit_rgb(Image.fromarray(image).resize(self.input_hw[::-1], Image.Resampling.BILINEAR))
        return np.clip(_resize_map(self.model(x)[0][..., 0], (h, w)), 0.0, 1.0)


@dataclass
class PoseCropOutput:
    """Everything the BlazePose landmark model says about one square crop.

    Attributes:
        crop: where the crop lies in the image (maps model-input points back).
        landmarks: ``(39, 5)`` raw ``(x, y, z, visibility, presence)``: ``x, y, z`` in
            model-input pixels (``0 .. 256`` spans the crop), visibility/presence logits.
        person: probability that the crop holds a person (the model's pose flag).
        mask_logits: ``(256, 256)`` segmentation logits over the crop.
        heatmaps: ``(39, 64, 64)`` landmark heatmap logits, stride 4 over the crop.
        world_landmarks: ``(39, 3)`` metres, origin between the hips.
    """

    crop: CropWindow
    landmarks: np.ndarray
    person: float
    mask_logits: np.ndarray
    heatmaps: np.ndarray
    world_landmarks: np.ndarray


class BlazePoseLandmarker:
    """The BlazePose GHUM full landmark model run on an upright square crop around a box.

    Args:
        margin: crop side = ``max(box width, box height) * margin``, centred on the box.
        num_threads: interpreter threads (``None``: see :class:`TFLiteModel`).
    """

    def __init__(self, margin: float = 1.25, num_threads: int | None = None):
        if margin <= 0:
            raise ValueError(f"margin must be positive, got {margin}")
        self.margin = margin
        self.model = TFLiteModel(find_model("pose_landmark_full"), num_threads)
        n, s, hm = POSE_NUM_LANDMARKS, POSE_INPUT_SIZE, POSE_HEATMAP_SIZE
        if self.model.input_shape != (s, s, 3):
            raise ValueError(f"{self.model.path}: unexpected input shape {self.model.input_shape}")
        self._positions = {key: self.model.output_position(shape) for key, shape in (
            ("landmarks", (n * 5,)), ("person", (1,)), ("mask", (s, s, 1)), ("heatmaps", (hm, hm, n)),
            ("world", (n * 3,)))}

    def run(self, image: np.ndarray, box: np.ndarray) -> PoseCropOutput:
        """Run on the crop around an XYXY ``box`` of an ``(H, W, 3)`` uint8 RGB image."""
        return self.run_crop(image, CropWindow.around_pixels(box, self.margin))

    def run_crop(self, image: np.ndarray, crop: CropWindow) -> PoseCropOutput:
        """Run on a given pixel-aligned square ``crop`` of an ``(H, W, 3)`` uint8 RGB image."""
        out = self.model(crop.extract(image, POSE_INPUT_SIZE))
        p = self._positions
        return PoseCropOutput(
            crop=crop,
            landmarks=out[p["landmarks"]].reshape(POSE_NUM_LANDMARKS, 5),
            person=float(out[p["person"]][0]),
            mask_logits=out[p["mask"]][..., 0],
            heatmaps=np.moveaxis(out[p["heatmaps"]], -1, 0),
            world_landmarks=out[p["world"]].reshape(POSE_NUM_LANDMARKS, 3),
        )

    def mask_logits(self, crop: np.ndarray) -> np.ndarray:
        """``(256, 256)`` mask logits of a crop already made: ``(256, 256, 3)`` float32 RGB in ``[0, 1]``."""
        return self.model(crop)[self._positions["mask"]][..., 0]

    def landmarks(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The 33 body landmarks in image pixels, ``(33, 5)`` float32 ``(x, y, z, visibility, presence)``.

        ``z`` is depth relative to the hips in image-pixel units (smaller is nearer the
        camera); visibility and presence are probabilities. Convert to COCO-17 with
        ``layouts.to_coco17(lm[None][..., [0, 1, 3]], "mediapipe33")``.
        """
        res = self.run(image, box)
        raw = res.landmarks[:POSE_NUM_BODY_LANDMARKS]
        out = np.empty_like(raw)
        out[:, :2] = res.crop.edge_to_image(raw[:, :2], POSE_INPUT_SIZE)
        out[:, 2] = raw[:, 2] * res.crop.side / POSE_INPUT_SIZE
        out[:, 3:] = sigmoid(raw[:, 3:])
        return out

    def heatmaps(self, image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, CropWindow]:
        """The raw ``(39, 64, 64)`` heatmap logits and the crop that maps them to the image.

        Cell ``(r, c)`` stands for image point ``crop.edge_to_image([c, r], 64)``: MediaPipe's
        convention (normalised ``c / 64``), and on COCO the heatmap peaks agree with the
        regressed landmarks under it (a ``+0.5`` cell shift would put them 2 input pixels off).
        """
        res = self.run(image, box)
        return res.heatmaps, res.crop

    def mask(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """``(H, W)`` float32 person probability of the person in ``box``, 0 outside its crop."""
        res = self.run(image, box)
        return np.clip(res.crop.paste(sigmoid(res.mask_logits), image.shape[:2]), 0.0, 1.0)


class BlazePoseMaskScore(PersonScorer):
    """BlazePose's segmentation mask on a crop around each person box, merged by per-pixel max.

    Args:
        margin: crop side = ``max(box width, box height) * margin`` (see :class:`BlazePoseLandmarker`).
            Mean person IoU on the COCO dev images with ground-truth boxes
            (``benchmarks/person_score_candidates.py``): 0.569 at 1.0, 0.653 at 1.25,
            0.696 at 1.5, 0.718 at 1.75 (the default), 0.703 at 2.0.
        num_threads: interpreter threads (``None``: see :class:`TFLiteModel`).

    No person gives an all-zero score. :meth:`landmarks` and :meth:`heatmaps` expose
    the same model's keypoints for one box.
    """

    name = "blazepose"

    def __init__(self, margin: float = 1.75, num_threads: int | None = None):
        self.landmarker = BlazePoseLandmarker(margin, num_threads)

    def __call__(self, image, persons: Persons, image_path=None):
        score = np.zeros(image.shape[:2], np.float32)
        for box in persons.boxes:
            np.maximum(score, self.landmarker.mask(image, box), out=score)
        return score

    def landmarks(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """``(33, 5)`` body landmarks in image pixels; see :meth:`BlazePoseLandmarker.landmarks`."""
        return self.landmarker.landmarks(image, box)

    def heatmaps(self, image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, CropWindow]:
        """``(39, 64, 64)`` heatmap logits and their crop; see :meth:`BlazePoseLandmarker.heatmaps`."""
        return self.landmarker.heatmaps(image, box)
