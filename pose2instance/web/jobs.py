"""One request of the web page: the uploaded files in, the masks and their downloads out, all in one job folder.

* :class:`Models`: the scorers and estimators of a server, each built once and shared by every request;
* :class:`JobRequest`: the form of one request, checked (choices, image id);
* :func:`run_job`: the same computation as ``pose2instance segment`` (:func:`pose2instance.segment.read_people`,
  :class:`~pose2instance.segment.Segmenter`), then the files the page shows and offers: the photo as JPEG, a
  mask PNG per person, the COCO results JSON, a zip of the masks.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import phrase
from ..estimators import ESTIMATORS, make_estimator
from ..evaluation import matched_iou, paired_iou
from ..io import load_image, load_people, write_results
from ..io.jsonio import atomic_write
from ..registry import FUSION_PRIORS, SCORES, make_scorer
from ..segment import DEFAULT_SCORE, SegmentOptions, Segmenter, default_scorer, demo_files, read_people
from ..structures import COCO_SKELETON
from ..visualize import PALETTE, drawn_keypoints, hidden_keypoints, save_png

#: Scores the page offers: every registered one except DeepLab, which has no offline weights.
#: The page offers only what is installed (a missing extra is not a choice that fails after submitting).
PAGE_SCORES = SCORES.available("page")
ESTIMATOR_NAMES = ("auto", *ESTIMATORS.available())
#: Warnings meant for developers of the libraries underneath, not for the page's user.
LIBRARY_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
#: At most this many warnings are listed on the page (one bad file can warn once per person).
MAX_NOTES = 8
#: How the page phrases the hints of input errors and warnings (pose2instance.errors).
PAGE_HINTS = {"image_id": "fill in the Image id field", "limit": "the server's limit: pose2instance serve --{option}"}


class JobError(ValueError):
    """A request's input cannot be used: the message is for the page's user (their file names, the page's
    words, no server path)."""


class Models:
    """The person scores and pose estimators of one server, built at first use and then kept.

    ``lock`` lets one request compute at a time (the LiteRT interpreters are not thread-safe; on a
    2-core machine a second concurrent request would only halve the speed of both). ``builds`` counts
    how often each model was built (once each, whatever the number of requests).
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.builds: dict[str, int] = {}
        self._models: dict[str, object] = {}
        self.default_score = None

    def _get(self, key: str, build):
        if key not in self._models:
            self._models[key] = build()
            self.builds[key] = self.builds.get(key, 0) + 1
        return self._models[key]

    def scorer(self, name: str):
        """The person score called ``name`` (a key of :data:`pose2instance.registry.SCORES`)."""
        return self._get(f"score:{name}", lambda: make_scorer(name))

    def estimator(self, name: str):
        """The pose estimator called ``name`` (``auto`` or a key of :data:`pose2instance.estimators.ESTIMATORS`)."""
        return self._get(f"estimator:{name}", lambda: make_estimator(name))

    def preload(self) -> None:
        """Build the defaults now (the person score of ``segment``, the ``auto`` estimator) and run them once on
        the demo photo (their first call sets up kernels), so that the first request is as fast as the next.
        The default score's actual name (``learned``; ``blazepose`` without ONNX Runtime; ``oracle``, which needs
        an annotation file with masks, without LiteRT either) becomes the page's preselected one."""
        photo, annotations = demo_files()
        image = load_image(photo)
        with self.lock:
            scorer = default_scorer(None, allow_oracle_fallback=True)
            self.default_score = scorer.name
            self._get(f"score:{scorer.name}", lambda: scorer)
            scorer(image, load_people(annotations, photo, image.shape[:2])[0], photo)
            try:
                self.estimator("auto")(image)
            except ImportError:  # no estimator installed: keypoint files still work
                pass

    def options(self) -> dict:
        """The page's choices and their preselected defaults."""
        return {"estimators": list(ESTIMATOR_NAMES), "scores": list(PAGE_SCORES), "priors": list(FUSION_PRIORS),
                "defaults": {"estimator": "auto", "score": self.default_score or DEFAULT_SCORE, "prior": "geodesic"}}


@dataclass
class Upload:
    """One uploaded file: the name the browser gave it and its bytes."""

    name: str
    data: bytes


@dataclass
class JobRequest:
    """What one request asks for.

    Attributes:
        photo: the uploaded photo; None with ``demo``.
        demo: use the shipped demo photo.
        demo_keypoints: with ``demo``, take the people from its ground-truth annotation (else the estimator).
        keypoints, boxes, ground_truth: optional uploaded files (any keypoint format; COCO annotation or
            detection results; a COCO annotation file with masks).
        estimator, score, prior: names (see :meth:`Models.options`).
        image_id: which image of the uploaded files, if they hold several.
    """

    photo: Upload | None = None
    demo: bool = False
    demo_keypoints: bool = True
    keypoints: Upload | None = None
    boxes: Upload | None = None
    ground_truth: Upload | None = None
    estimator: str = "auto"
    score: str = "learned"
    prior: str = "geodesic"
    image_id: int | None = None

    @classmethod
    def from_form(cls, fields: dict[str, str], uploads: dict[str, Upload], defaults: dict[str, str]) -> JobRequest:
        """A request from the page's form fields and uploads (``defaults``: :meth:`Models.options`'s, for fields
        left out); ``ValueError`` naming the field when invalid."""
        def choice(field: str, allowed: tuple[str, ...], default: str) -> str:
            value = fields.get(field) or default
            if value not in allowed:
                raise ValueError(f"{field}: {value!r} is not one of {', '.join(allowed)}")
            return value

        demo = fields.get("demo") == "1"
        if not demo and "photo" not in uploads:
            raise ValueError("no photo: choose a photo file, or use the demo photo")
        image_id = fields.get("image_id", "").strip()
        if image_id and not re.fullmatch(r"-?\d{1,18}", image_id):
            raise ValueError(f"image id: {image_id!r} is not an integer")
        return cls(photo=None if demo else uploads["photo"], demo=demo,
                   demo_keypoints=fields.get("demo_keypoints", "1") == "1",
                   keypoints=uploads.get("keypoints"), boxes=uploads.get("boxes"),
                   ground_truth=uploads.get("ground_truth"),
                   estimator=choice("estimator", ESTIMATOR_NAMES, defaults["estimator"]),
                   score=choice("score", PAGE_SCORES, defaults["score"]),
                   prior=choice("prior", FUSION_PRIORS, defaults["prior"]),
                   image_id=int(image_id) if image_id else None)


def upload_name(name: str) -> str:
    """The base name of an uploaded file as the user's system named it (never a path); at most 200 characters."""
    return Path(name.replace("\\", "/")).name[:200] or "upload"


class Inputs:
    """The uploaded files of one job, each saved under a fixed name of its field in ``folder``
    (``photo<ext>``, ``keypoints.json``, ``boxes.json``, ``ground_truth.json``: uploads never collide and no
    user-given name reaches the disk), and the user's names for them, for messages."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.names: dict[Path, str] = {}
        folder.mkdir()

    def save(self, upload: Upload, field: str) -> Path:
        suffix = Path(upload_name(upload.name)).suffix.lower() if field == "photo" else ".json"
        path = self.folder / (field + (suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""))
        path.write_bytes(upload.data)
        self.names[path] = upload_name(upload.name)
        return path

    def readable(self, error: BaseException | Warning, job_folder: Path) -> str:
        """The text of ``error`` for the page: its hint in the page's words (:data:`PAGE_HINTS`), the server's paths
        replaced by the user's file names."""
        message = phrase(error, PAGE_HINTS)
        for path, name in self.names.items():
            message = message.replace(str(path), name)
        for prefix in (job_folder, demo_files()[0].parent):
            message = message.replace(f"{prefix}/", "").replace(str(prefix), "")
        return message


def run_job(folder: Path, request: JobRequest, models: Models, url: str) -> dict:
    """Segment the photo of ``request`` and write the page's files into ``folder`` (which must exist, empty).

    Args:
        folder: this job's own folder; nothing is written elsewhere (the uploads go to ``folder/input``,
            removed at the end).
        request: the checked request.
        models: the server's models (the computation holds ``models.lock``).
        url: the URL prefix of ``folder``'s files (``/jobs/<id>``).

    Returns:
        The page's JSON: ``image`` (url, width, height, name), ``image_id``, ``people`` (per person: index,
        colour, score, mask_score, area, box XYXY, mask_bbox XYWH, keypoints ``[x, y, c]`` with ``drawn``
        flags, ``iou`` or None, mask url), ``skeleton``, ``timings_ms`` per stage, ``downloads`` and
        ``notes`` (warnings, at most :data:`MAX_NOTES`).

    Raises:
        ValueError / OSError / ImportError: bad input or a missing extra; the message names the uploaded
            file (as the user named it) or the form field, and no server path.
    """
    inputs = Inputs(folder / "input")
    try:
        return _run(folder, request, models, url, inputs)
    except (ValueError, OSError, ImportError) as e:
        raise JobError(inputs.readable(e, folder)) from e
    finally:
        shutil.rmtree(inputs.folder, ignore_errors=True)


@dataclass
class _Files:
    """Where one request's files are: the photo (and the name the user gave it), keypoints, boxes, ground truth."""

    photo: Path
    photo_name: str
    keypoints: Path | None
    boxes: Path | None
    truth: Path | None


def _place_inputs(request: JobRequest, inputs: Inputs) -> _Files:
    """Save the uploads; the demo photo and its annotations come from the package."""
    if request.demo:
        photo, annotations = demo_files()
        placed = _Files(photo, photo.name, annotations if request.demo_keypoints else None, None, annotations)
    else:
        placed = _Files(inputs.save(request.photo, "photo"), upload_name(request.photo.name), None, None, None)
    if request.keypoints is not None:
        placed.keypoints = inputs.save(request.keypoints, "keypoints")
    if request.boxes is not None:
        placed.boxes = inputs.save(request.boxes, "boxes")
    if request.ground_truth is not None:
        placed.truth = inputs.save(request.ground_truth, "ground_truth")
    if request.score == "oracle" and placed.keypoints is None:
        raise ValueError("the oracle score needs ground-truth masks: give a COCO annotation file with "
                         "segmentations as the keypoints file (or use the demo photo's)")
    return placed


def _run(folder: Path, request: JobRequest, models: Models, url: str, inputs: Inputs) -> dict:
    t_start = time.perf_counter()
    placed = _place_inputs(request, inputs)
    named = Path(placed.photo_name)  # keypoint and box files find their image by the name the user gave it
    with models.lock, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        image = load_image(placed.photo)
        t1 = time.perf_counter()
        persons, boxes, image_id = read_people(named, image.shape[:2], placed.keypoints, placed.boxes,
                                               request.image_id)
        segmenter = Segmenter(SegmentOptions(request.score, request.prior), models.scorer(request.score),
                              models.estimator(request.estimator) if persons is None else None)
        done = segmenter.run(image, persons, boxes, named, image_id)
        persons, image_id = done.persons, done.image_id
        # the ground truth's image: the Image id field, else the id the keypoints or boxes file gave, else by name
        truth_id = request.image_id if request.image_id is not None else \
            (image_id if placed.keypoints is not None or placed.boxes is not None else None)
        truth = _ground_truth(placed.truth, placed.keypoints, persons, named, image.shape[:2], truth_id)
        ious, truth_summary = _ious(done.masks, truth)
    notes = done.notes + _notes(caught, inputs, folder)

    t2 = time.perf_counter()
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", named.stem)[:100] or "photo"
    mask_names = [f"{stem}_person{i}_mask.png" for i in range(len(persons))]
    results_name, zip_name = f"{stem}_results.json", f"{stem}_masks.zip"
    _write_files(folder, image, done, mask_names, results_name, zip_name)
    t3 = time.perf_counter()

    timings = {"read image": 1e3 * (t1 - t0), **done.timing_ms, "write files": 1e3 * (t3 - t2),
               "total (server)": 1e3 * (t3 - t_start)}
    return {"image": {"url": f"{url}/photo.jpg", "name": placed.photo_name,
                      "width": int(image.shape[1]), "height": int(image.shape[0])},
            "image_id": int(image_id), "people": _page_people(persons, done, ious, [f"{url}/{n}" for n in mask_names]),
            "skeleton": [list(e) for e in COCO_SKELETON],
            "settings": {"people": done.estimator or "keypoints file", "score": segmenter.scorer.name,
                         "prior": request.prior},
            "ground_truth": truth_summary,
            "timings_ms": {k: round(v, 1) for k, v in timings.items()},
            "downloads": {"results": f"{url}/{results_name}", "masks_zip": f"{url}/{zip_name}"}, "notes": notes}


def _notes(caught: list, inputs: Inputs, folder: Path) -> list[str]:
    """The warnings for the page's user: readable, each once, at most :data:`MAX_NOTES`."""
    notes = list(dict.fromkeys(inputs.readable(w.message, folder) for w in caught
                               if not issubclass(w.category, LIBRARY_WARNINGS)))
    if len(notes) > MAX_NOTES:
        notes = notes[:MAX_NOTES] + [f"... and {len(notes) - MAX_NOTES} more warnings"]
    return notes


def _page_people(persons, done, ious: np.ndarray | None, mask_urls: list[str]) -> list[dict]:
    """Per person: what the page's table and overlay show (see :func:`run_job`)."""
    drawn = drawn_keypoints(persons) if len(persons) else np.zeros((0, 17), bool)
    hidden = hidden_keypoints(persons) if len(persons) else np.zeros((0, 17), bool)
    return [{"index": i, "colour": PALETTE[i % len(PALETTE)].tolist(), "score": float(persons.scores[i]),
             "mask_score": float(done.score[mask].mean()) if entry["area"] else 0.0, "area": entry["area"],
             "box": [round(float(v), 1) for v in persons.boxes[i]], "mask_bbox": entry["bbox"],
             "keypoints": [[round(float(x), 1), round(float(y), 1), round(float(c), 3)]
                           for x, y, c in persons.keypoints[i]],
             "drawn": drawn[i].tolist(), "hidden": hidden[i].tolist(),
             "iou": None if ious is None or np.isnan(ious[i]) else float(ious[i]),
             "mask_url": mask_urls[i]}
            for i, (mask, entry) in enumerate(zip(done.masks, done.entries))]


def _write_files(folder: Path, image: np.ndarray, done, mask_names: list[str], results_name: str,
                 zip_name: str) -> None:
    """The photo as the browser shows it (JPEG, stored frame, no EXIF), a mask PNG per person (255 = the
    person), the COCO results and a ZIP of the masks."""
    atomic_write(folder / "photo.jpg", lambda tmp: Image.fromarray(image).save(tmp, format="JPEG", quality=90))
    for mask, name in zip(done.masks, mask_names):
        save_png(mask.astype(np.uint8) * 255, folder / name)
    write_results(folder / results_name, done.entries)

    def write_zip(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:  # PNGs are compressed already
            for name in mask_names:
                z.write(folder / name, name)
    atomic_write(folder / zip_name, write_zip)


def _ground_truth(truth_path: Path | None, keypoints_path: Path | None, persons, photo_path: Path,
                  size: tuple[int, int], image_id: int | None):
    """``(masks, paired)``: the ground-truth masks and whether they are the people's own (same order), or None.

    The ground truth is an uploaded annotation file (its image ``image_id``, else the one named like the photo),
    else the keypoints file when it has masks."""
    if truth_path is None or truth_path == keypoints_path:
        return None if persons.masks is None else (persons.masks, True)
    gt, _ = load_people(truth_path, photo_path, size, image_id)
    if gt.masks is None:
        raise ValueError(f"{truth_path}: the ground truth must be a COCO annotation file with segmentations")
    return gt.masks, False


def _ious(masks: np.ndarray, truth) -> tuple[np.ndarray | None, dict | None]:
    """``(N,)`` IoU of each person's mask with its ground truth (NaN where a paired ground truth has no mask; 0
    for a person matched to no one), and the summary over the ground-truth persons: how many, how many no person
    was matched to (``missed``), and their mean IoU with a missed person counted as 0; ``(None, None)`` without
    a ground truth."""
    if truth is None:
        return None, None
    gt, paired = truth
    labelled = gt.reshape(len(gt), -1).any(1)
    if paired:
        ious = np.where(labelled, paired_iou(masks, gt), np.nan)
        found = ious[labelled]
    else:
        ious, match = matched_iou(masks, gt)
        found = np.zeros(len(gt))
        found[match[match >= 0]] = ious[match >= 0]
        found = found[labelled]
    summary = {"persons": int(labelled.sum()), "missed": int((found == 0).sum()),
               "mean_iou": float(found.mean()) if len(found) else None}
    return ious, summary


__all__ = ["JobError", "JobRequest", "Models", "Upload", "run_job", "upload_name"]
