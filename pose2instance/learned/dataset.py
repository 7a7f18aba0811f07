"""COCO person crops for the learned models: geometry, targets, augmentation, a torch Dataset.

Crop geometry: :class:`pose2instance.crops.CropWindow` (shared by training, inference
and the MediaPipe models); resampling: :mod:`pose2instance.learned.sampling` (pixels
outside the image read as zero and are marked invalid).

A sample is made in two steps: :func:`crop_planes` resamples the image, the target mask,
the ignore mask and the pretrained score (if the model takes one) into the window;
augmentation (:mod:`pose2instance.learned.augment`) works on these planes; then
:func:`assemble_sample` adds the prior channels and the keypoint targets.

Targets of one person's crop:

* ``mask`` ``(1, n, n)`` float32 in {0, 1}: this person's ground-truth mask (other
  people are background);
* ``valid`` ``(1, n, n)`` float32 in {0, 1}: 0 on crowd regions and outside the image
  (ignored by the loss, as COCOeval ignores crowds);
* ``heatmaps`` ``(17, n/4, n/4)`` float32 Gaussian keypoint targets (peak 1, sigma
  ``heatmap_sigma`` cells) at stride 4 (cell ``(r, c)`` centred on crop pixel
  ``(4c + 1.5, 4r + 1.5)``), with ``kp_weight`` ``(17,)`` = 1 for labelled keypoints
  (v > 0), 0 otherwise (and for persons without keypoint annotations);
* ``input`` ``(3 + P (+ 1), n, n)`` float32: RGB in [0, 1], then the ``P`` prior channels of
  the pose-conditioned variant (see :class:`pose2instance.learned.inputs.PriorChannels`),
  then the pretrained person score when ``config.score_input`` is set.

Augmentation (training, :class:`Augmentation`): horizontal flip with probability 0.5
(keypoints are mirrored and left/right swapped with ``COCO_FLIP_INDEX``), window scale
jitter ``side *= exp(U(-a, a))``, ``a = log(1 + scale_jitter)``, shift jitter of the
centre by ``U(-s, s) * side`` in x and y, then optionally a rotation by ``U(-r, r)`` degrees
about the crop centre (every person's keypoints and box turn with it), copy-paste of other training
people (whose skeletons join the image's people for the prior channels), border
truncation and colour jitter. The random numbers of sample ``index`` in epoch ``e`` come
from ``numpy.random.default_rng([seed, e, index])``, window first: the same on any number
of workers, processes or after a resume.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..crops import CropWindow, keypoints_to_crop, persons_in_crop
from ..io import CocoPersons
from ..resample import image_planes, sample_crops, uint8_image
from ..structures import Persons
from .inputs import PriorChannels
from .models.networks import HEATMAP_STRIDE
from .augment import CropPlanes, Donor, colour_jitter, paste_person, rotate_planes, rotate_points, truncate_border
from .score_maps import CachedScoreMaps

def keypoint_heatmaps(keypoints: np.ndarray, n: int, sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian targets for one person's crop keypoints ``(17, 3)`` (crop pixels, COCO visibility).

    Returns:
        ``(17, n/4, n/4)`` float32 heatmaps (peak 1, ``sigma`` in stride-4 cells; all zero
        for a keypoint outside the crop or unlabelled) and ``(17,)`` float32 weights
        (1 where ``v > 0``).
    """
    m = n // HEATMAP_STRIDE
    centres = np.arange(m, dtype=np.float32) * HEATMAP_STRIDE + (HEATMAP_STRIDE - 1) / 2
    gx = (centres[None, :] - keypoints[:, 0:1]) / HEATMAP_STRIDE
    gy = (centres[None, :] - keypoints[:, 1:2]) / HEATMAP_STRIDE
    heat = np.exp(-(gy[:, :, None] ** 2 + gx[:, None, :] ** 2) / (2 * sigma * sigma)).astype(np.float32)
    labelled = keypoints[:, 2] > 0
    heat[~labelled] = 0.0
    heat[heat < 1e-4] = 0.0
    return heat, labelled.astype(np.float32)


def crop_planes(image: np.ndarray, target_mask: np.ndarray, crowd: np.ndarray | None, window: CropWindow, n: int,
                score_map: np.ndarray | None = None) -> CropPlanes:
    """One person's ``n x n`` crop planes (RGB, target mask, valid pixels, optional score) in ``window``.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        target_mask: ``(H, W)`` bool mask of the person.
        crowd: ``(H, W)`` bool crowd regions (invalid), or None.
        window: the crop window.
        n: crop side.
        score_map: ``(H, W)`` float pretrained person score, or None.
    """
    # Resample only the part of the image the window covers (plus a 2-pixel border for bilinear reads).
    bounds = window.pixel_bounds(image.shape[:2], border=2)
    if bounds is None:  # the window misses the image: sample a 1-pixel dummy, all invalid
        x0, y0, x1, y1 = 0, 0, 1, 1
        inside_image = np.zeros((1, 1, 1), np.float32)
    else:
        x0, y0, x1, y1 = bounds
        inside_image = np.ones((1, y1 - y0, x1 - x0), np.float32)

    def plane(values: np.ndarray) -> np.ndarray:
        return np.asarray(values[y0:y1, x0:x1], np.float32)[None]
    planes = [image_planes(image[y0:y1, x0:x1]), plane(target_mask), inside_image]
    for extra in (crowd, score_map):
        if extra is not None:
            planes.append(plane(extra))
    local = CropWindow(window.cx - x0, window.cy - y0, window.side, window.flip)
    crop = torch.from_numpy(sample_crops(np.concatenate(planes, 0), [local], n)[0])
    valid = crop[4:5] > 0.5
    if crowd is not None:
        valid &= crop[5:6] < 0.5
    score = crop[-1:] if score_map is not None else None
    return CropPlanes(crop[:3], (crop[3:4] > 0.5).float(), valid.float(), score)


def assemble_sample(planes: CropPlanes, persons: Persons, index: int, window: CropWindow, config,
                    prior_channels: PriorChannels | None = None, has_keypoints: bool = True,
                    heatmap_sigma: float = 1.0) -> dict:
    """The network input and targets of person ``index`` from its crop planes (see the module doc).

    Args:
        planes: the person's crop (after any augmentation).
        persons: the people of the image (keypoints in image pixels; pasted people included).
        index: the target person.
        window: the crop window.
        config: a :class:`pose2instance.learned.models.ModelConfig` (crop size, variant, priors, score input).
        prior_channels: the ``pose`` variant's channels (``PriorChannels`` of the config; built here when None).
        has_keypoints: False for persons of a file without keypoint annotations (keypoint loss off).
    """
    n = config.crop_size
    inputs = [planes.rgb]
    if config.variant == "pose":
        channels = prior_channels or PriorChannels(config.priors, config.others, config.prior_clip)
        prior = channels(persons, index, window, n, uint8_image(planes.rgb.numpy()) if channels.needs_image else None)
        inputs.append(torch.from_numpy(prior))
    if config.score_input:
        if planes.score is None:
            raise ValueError(f"the model takes the {config.score_input} score as input, but the sample has none")
        inputs.append(planes.score)
    out = {"input": torch.cat(inputs, 0), "mask": planes.mask, "valid": planes.valid}
    if config.has_keypoint_head:
        kp = keypoints_to_crop(persons.keypoints[index], window, n)
        heat, weight = keypoint_heatmaps(kp, n, heatmap_sigma)
        out["heatmaps"] = torch.from_numpy(heat)
        out["kp_weight"] = torch.from_numpy(weight * float(has_keypoints))
    return out


def make_sample(image: np.ndarray, persons: Persons, index: int, target_mask: np.ndarray, crowd: np.ndarray | None,
                window: CropWindow, config, prior_channels: PriorChannels | None = None, has_keypoints: bool = True,
                heatmap_sigma: float = 1.0, score_map: np.ndarray | None = None) -> dict:
    """The un-augmented sample of person ``index`` in ``window``: :func:`crop_planes` then :func:`assemble_sample`."""
    planes = crop_planes(image, target_mask, crowd, window, config.crop_size, score_map)
    return assemble_sample(planes, persons, index, window, config, prior_channels, has_keypoints, heatmap_sigma)


@dataclass
class Augmentation:
    """Training augmentation strengths (all off: the plain box window of validation).

    Attributes:
        scale_jitter: window side ``*= exp(U(-a, a))``, ``a = log(1 + scale_jitter)``.
        shift_jitter: window centre moved by ``U(-s, s) * side`` in x and y.
        flip_prob: probability of a horizontal flip (keypoints mirrored, left/right swapped).
        copy_paste: probability of pasting people from other training images (up to 2: a draw
            of the target's own image is skipped; each in front of or behind the target with
            equal odds; see :mod:`.augment`).
        colour: colour jitter strength (0: off).
        truncate: probability of cutting one side of the crop off as an image border.
        rotate: largest rotation in degrees (0: off); the angle is uniform in ``[-rotate, rotate]``.
    """

    scale_jitter: float = 0.25
    shift_jitter: float = 0.08
    flip_prob: float = 0.5
    copy_paste: float = 0.0
    colour: float = 0.0
    truncate: float = 0.0
    rotate: float = 0.0

    @staticmethod
    def none() -> "Augmentation":
        return Augmentation(0.0, 0.0, 0.0)


class PersonCropDataset(torch.utils.data.Dataset):
    """One sample per usable person of one or more COCO person annotation files.

    Args:
        sources: ``[(CocoPersons, image_ids or None)]``; None takes every image of the file.
        config: the :class:`~pose2instance.learned.models.ModelConfig` the samples are for.
        augment: an :class:`Augmentation`, or True for its defaults, or False for none (validation).
        seed: seeds the per-sample random numbers (see the module doc).
        min_area: persons whose mask area (the annotation's ``area``) is smaller are skipped.
        require_keypoints: use only persons with at least one labelled keypoint.
        heatmap_sigma: keypoint target sigma in stride-4 cells.
        cache_images: keep decoded images in memory (right for small sets; turn off for full COCO).
        score_cache: folder of the cached score maps when ``config.score_input`` is set
            (default :func:`~pose2instance.learned.score_maps.default_cache`).

    Raises:
        ValueError: no usable person in the given files (the message names them).
    """

    def __init__(self, sources: Sequence[tuple[CocoPersons, Sequence[int] | None]], config,
                 augment: Augmentation | bool = True, seed: int = 0, min_area: float = 400.0,
                 require_keypoints: bool = False, heatmap_sigma: float = 1.0, cache_images: bool = True,
                 score_cache: str | Path | None = None):
        self.sources = [ds for ds, _ in sources]
        self.config = config
        self.augmentation = augment if isinstance(augment, Augmentation) else \
            (Augmentation() if augment else Augmentation.none())
        self.seed = int(seed)
        self.epoch = 0
        self.heatmap_sigma = heatmap_sigma
        self.cache_images = cache_images
        self.prior_channels = PriorChannels(config.priors, config.others, config.prior_clip) \
            if config.variant == "pose" else None
        self.score_maps = CachedScoreMaps(config.score_input, score_cache) if config.score_input else None
        self._cache: dict[tuple[int, int], tuple] = {}
        self.items = self._usable_persons(sources, min_area, require_keypoints)

    def _usable_persons(self, sources, min_area: float, require_keypoints: bool) -> list[tuple[int, int, int]]:
        """``(source, image id, index among the image's non-crowd persons)`` of every usable person."""
        items, skipped = [], 0
        for s, (ds, ids) in enumerate(sources):
            for image_id in (ds.image_ids if ids is None else ids):
                anns = [a for a in ds.annotations(image_id) if not a.get("iscrowd", 0)]
                for j, a in enumerate(anns):
                    area = float(a.get("area", a["bbox"][2] * a["bbox"][3]))
                    kp = ds.keypoints_of(a)
                    labelled = kp is not None and (kp[:, 2] > 0).any()
                    if area >= min_area and a.get("segmentation") and (labelled or not require_keypoints):
                        items.append((s, int(image_id), j))
                    else:
                        skipped += 1
        if not items:
            names = ", ".join(str(ds.path) for ds in self.sources)
            need = " and labelled keypoints" if require_keypoints else ""
            raise ValueError(f"no usable person in {names}: persons need a non-crowd mask of at least "
                             f"{min_area:g} pixels{need} ({skipped} person(s) skipped)")
        return items

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation random numbers of ``epoch`` (call before iterating)."""
        self.epoch = int(epoch)

    def load(self, source: int, image_id: int) -> tuple[np.ndarray, Persons, list[dict], np.ndarray | None,
                                                         np.ndarray | None]:
        """``(image, persons without masks, non-crowd annotations, crowd mask or None, score map or None)``."""
        key = (source, image_id)
        if key in self._cache:
            return self._cache[key]
        ds = self.sources[source]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # repaired keypoints are warned about elsewhere
            persons = ds.persons(image_id, with_masks=False)
        anns = [a for a in ds.annotations(image_id) if not a.get("iscrowd", 0)]
        crowd = ds.crowd_mask(image_id) if any(a.get("iscrowd", 0) for a in ds.annotations(image_id)) else None
        image = ds.load_image(image_id)
        score = self.score_maps(ds.path, image_id, image, persons) if self.score_maps else None
        value = (image, persons, anns, crowd, score)
        if self.cache_images:
            self._cache[key] = value
        return value

    def rng(self, index: int) -> np.random.Generator:
        """The random numbers of sample ``index`` in the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, index])

    def window(self, index: int, box: np.ndarray, rng: np.random.Generator | None = None) -> CropWindow:
        """The crop window of sample ``index`` in the current epoch (jittered when augmenting)."""
        aug = self.augmentation
        if not (aug.scale_jitter or aug.shift_jitter or aug.flip_prob):
            return CropWindow.around(box, self.config.margin)
        rng = rng or self.rng(index)
        a = np.log1p(aug.scale_jitter)
        scale = float(np.exp(rng.uniform(-a, a)))
        shift = tuple(rng.uniform(-aug.shift_jitter, aug.shift_jitter, 2))
        return CropWindow.around(box, self.config.margin, scale, shift, bool(rng.random() < aug.flip_prob))

    def donor(self, item: int, size: int) -> Donor:
        """Person ``item`` as a copy-paste donor: its tight crop (margin 1.1, ``size`` pixels), keypoints and box."""
        source, image_id, j = self.items[item]
        image, persons, anns, _, score = self.load(source, image_id)
        mask = self.sources[source].mask_of(anns[j])
        window = CropWindow.around(persons.boxes[j], 1.1)
        planes = crop_planes(image, mask, None, window, size, score)
        crop = persons_in_crop(persons, [j], window, size)
        return Donor(planes, crop.keypoints[0], crop.boxes[0])

    def _rotate(self, planes: CropPlanes, persons: Persons, window: CropWindow,
                rng: np.random.Generator) -> tuple[CropPlanes, Persons]:
        """Rotate the crop about its centre; every person's labelled keypoints and box turn with it (image pixels)."""
        n, angle = self.config.crop_size, float(rng.uniform(-self.augmentation.rotate, self.augmentation.rotate))
        planes = rotate_planes(planes, angle)

        def turn(xy: np.ndarray) -> np.ndarray:
            return window.to_image(rotate_points(window.to_crop(xy, n), angle, n), n)
        kp = persons.keypoints.copy()
        labelled = kp[..., 2] > 0
        kp[..., :2][labelled] = turn(kp[..., :2][labelled])
        b = persons.boxes
        corners = turn(np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [0, 3]], b[:, [2, 3]]], 1))  # (N, 4, 2)
        boxes = np.concatenate([corners.min(1), corners.max(1)], 1).astype(np.float32)
        return planes, replace(persons, keypoints=kp.astype(np.float32), boxes=boxes)

    def _paste(self, planes: CropPlanes, persons: Persons, index: int, window: CropWindow,
               rng: np.random.Generator) -> tuple[CropPlanes, Persons]:
        """Paste 1 or 2 people of other images into the crop; they join ``persons`` in image coordinates."""
        n = self.config.crop_size
        source, image_id, _ = self.items[index]
        kps, boxes = [], []
        for _ in range(int(rng.integers(1, 3))):
            other = int(rng.integers(len(self.items)))
            if self.items[other][:2] == (source, image_id):
                continue
            m = max(2, int(round(float(rng.uniform(0.5, 1.0)) * n)))  # the donor's side in the crop
            offset = (int(rng.integers(-m // 2, n - m // 2)), int(rng.integers(-m // 4, n - m // 2)))
            planes, kp, box = paste_person(planes, self.donor(other, n), m, offset, bool(rng.random() < 0.5))
            kp[:, :2] = window.to_image(kp[:, :2], n)
            corners = window.to_image(box.reshape(2, 2), n)
            kps.append(kp)
            boxes.append(np.r_[corners.min(0), corners.max(0)])
        if not kps:
            return planes, persons
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pasted keypoints far outside the image are dropped
            return planes, persons.with_people(np.stack(boxes), np.stack(kps))

    def _truncate(self, planes: CropPlanes, persons: Persons, person: int, window: CropWindow,
                  rng: np.random.Generator) -> tuple[CropPlanes, Persons]:
        """Cut a side of the crop off as an image border; the keypoints of ``person`` there are dropped."""
        planes, (u0, v0, u1, v1) = truncate_border(planes, rng)
        uv = window.to_crop(persons.keypoints[person, :, :2], self.config.crop_size)
        cut = (uv[:, 0] >= u0 - 0.5) & (uv[:, 0] < u1 - 0.5) & (uv[:, 1] >= v0 - 0.5) & (uv[:, 1] < v1 - 0.5)
        if cut.any():
            kp = persons.keypoints.copy()
            kp[person, cut] = 0.0
            persons = replace(persons, keypoints=kp)
        return planes, persons

    def __getitem__(self, index: int) -> dict:
        source, image_id, j = self.items[index]
        image, persons, anns, crowd, score = self.load(source, image_id)
        target = self.sources[source].mask_of(anns[j])
        has_kp = self.sources[source].keypoints_of(anns[j]) is not None
        aug, rng = self.augmentation, self.rng(index)
        window = self.window(index, persons.boxes[j], rng)
        planes = crop_planes(image, target, crowd, window, self.config.crop_size, score)
        if aug.rotate:
            planes, persons = self._rotate(planes, persons, window, rng)
        if aug.copy_paste and rng.random() < aug.copy_paste:
            planes, persons = self._paste(planes, persons, index, window, rng)
        if aug.truncate and rng.random() < aug.truncate:
            planes, persons = self._truncate(planes, persons, j, window, rng)
        if aug.colour:
            planes = replace(planes, rgb=colour_jitter(planes.rgb, rng, aug.colour))
        sample = assemble_sample(planes, persons, j, window, self.config, self.prior_channels, has_kp,
                                 self.heatmap_sigma)
        sample["index"] = torch.tensor(index)
        return sample


def coco_sources(annotation_files: Sequence[str | Path],
                 image_dirs: Sequence[str | Path] | None = None) -> list[CocoPersons]:
    """Open several COCO person annotation files (``image_dirs`` aligned with them, or the default folders)."""
    image_dirs = list(image_dirs or [])
    return [CocoPersons(f, image_dirs[i] if i < len(image_dirs) else None) for i, f in enumerate(annotation_files)]
