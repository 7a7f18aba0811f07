"""COCO person crops for the learned models: geometry, targets, augmentation, a torch Dataset.

Crop geometry: :class:`pose2instance.crops.CropWindow` (shared by training, inference
and the MediaPipe models); resampling: :mod:`pose2instance.learned.sampling` (pixels
outside the image read as zero and are marked invalid).

Targets of one person's crop (:func:`make_sample`):

* ``mask`` ``(1, n, n)`` float32 in {0, 1}: this person's ground-truth mask (other
  people are background);
* ``valid`` ``(1, n, n)`` float32 in {0, 1}: 0 on crowd regions and outside the image
  (ignored by the loss, as COCOeval ignores crowds);
* ``heatmaps`` ``(17, n/4, n/4)`` float32 Gaussian keypoint targets (peak 1, sigma
  ``heatmap_sigma`` cells) at stride 4 (cell ``(r, c)`` centred on crop pixel
  ``(4c + 1.5, 4r + 1.5)``), with ``kp_weight`` ``(17,)`` = 1 for labelled keypoints
  (v > 0), 0 otherwise (and for persons without keypoint annotations);
* ``input`` ``(3 + P, n, n)`` float32: RGB in [0, 1], then the ``P`` prior channels of
  the pose-conditioned variant (see :class:`pose2instance.learned.inputs.PriorChannels`).

Augmentation (training): horizontal flip with probability 0.5 (keypoints are
mirrored and left/right swapped with ``COCO_FLIP_INDEX``), window scale jitter
``side *= exp(U(-a, a))``, ``a = log(1 + scale_jitter)``, and shift jitter of the
centre by ``U(-s, s) * side`` in x and y. The random numbers of sample ``index`` in
epoch ``e`` come from ``numpy.random.default_rng([seed, e, index])``: the same on any
number of workers, processes or after a resume.
"""

from __future__ import annotations

import warnings
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..crops import CropWindow, keypoints_to_crop
from ..io import CocoPersons, segmentation_to_mask
from ..structures import Persons
from .inputs import PriorChannels
from .models.networks import HEATMAP_STRIDE
from .sampling import image_tensor, sample_crops, uint8_image

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


def make_sample(image: np.ndarray, persons: Persons, index: int, target_mask: np.ndarray, crowd: np.ndarray | None,
                window: CropWindow, config, prior_channels: PriorChannels | None = None, has_keypoints: bool = True,
                heatmap_sigma: float = 1.0) -> dict:
    """The training sample of person ``index`` in ``window`` (see the module doc for every field).

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        persons: the image's non-crowd persons (keypoints in image pixels).
        target_mask: ``(H, W)`` bool mask of person ``index``.
        crowd: ``(H, W)`` bool crowd regions (ignored), or None.
        config: a :class:`pose2instance.learned.models.ModelConfig` (crop size, variant, priors).
        prior_channels: the ``pose`` variant's channels (``PriorChannels`` of the config; built
            here when None).
        has_keypoints: False for persons of a file without keypoint annotations (keypoint loss off).
    """
    n = config.crop_size
    # Resample only the part of the image the window covers (plus a 2-pixel border for bilinear reads).
    bounds = window.pixel_bounds(image.shape[:2], border=2)
    if bounds is None:  # the window misses the image: sample a 1-pixel dummy, all invalid
        x0, y0, x1, y1 = 0, 0, 1, 1
        inside_image = torch.zeros(1, 1, 1)
    else:
        x0, y0, x1, y1 = bounds
        inside_image = torch.ones(1, y1 - y0, x1 - x0)
    planes = [image_tensor(image[y0:y1, x0:x1]), torch.from_numpy(np.asarray(target_mask[y0:y1, x0:x1], np.float32))[None],
              inside_image]
    if crowd is not None:
        planes.append(torch.from_numpy(np.asarray(crowd[y0:y1, x0:x1], np.float32))[None])
    local = CropWindow(window.cx - x0, window.cy - y0, window.side, window.flip)
    crop = sample_crops(torch.cat(planes, 0), [local], n)[0]
    rgb, mask, inside = crop[:3], crop[3:4], crop[4:5]
    valid = inside > 0.5
    if crowd is not None:
        valid &= crop[5:6] < 0.5
    out = {"mask": (mask > 0.5).float(), "valid": valid.float()}
    if config.variant == "pose":
        channels = prior_channels or PriorChannels(config.priors, config.others, config.prior_clip)
        prior = channels(persons, index, window, n, uint8_image(rgb) if channels.needs_image else None)
        out["input"] = torch.cat([rgb, torch.from_numpy(prior)], 0)
    else:
        out["input"] = rgb
    if config.has_keypoint_head:
        kp = keypoints_to_crop(persons.keypoints[index], window, n)
        heat, weight = keypoint_heatmaps(kp, n, heatmap_sigma)
        out["heatmaps"] = torch.from_numpy(heat)
        out["kp_weight"] = torch.from_numpy(weight * float(has_keypoints))
    return out


def split_image_ids(image_ids: Sequence[int], val_fraction: float = 0.4, seed: int = 0) -> tuple[list[int], list[int]]:
    """Deterministic train/val split by image id: ``(train_ids, val_ids)``, both sorted.

    An image goes to val when ``crc32(f"{seed}:{image_id}") / 2**32 < val_fraction``: the
    assignment of an image never depends on which other images are in the list.
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    val = sorted(i for i in image_ids if zlib.crc32(f"{seed}:{int(i)}".encode()) / 2**32 < val_fraction)
    vs = set(val)
    return sorted(i for i in image_ids if i not in vs), val


class PersonCropDataset(torch.utils.data.Dataset):
    """One sample per usable person of one or more COCO person annotation files.

    Args:
        sources: ``[(CocoPersons, image_ids or None)]``; None takes every image of the file.
        config: the :class:`~pose2instance.learned.models.ModelConfig` the samples are for.
        augment: flip / scale / shift jitter (training) or the plain box window (validation).
        seed: seeds the per-sample random numbers (see the module doc).
        min_area: persons whose mask area (the annotation's ``area``) is smaller are skipped.
        require_keypoints: use only persons with at least one labelled keypoint.
        scale_jitter, shift_jitter, flip_prob: augmentation strengths.
        heatmap_sigma: keypoint target sigma in stride-4 cells.
        cache_images: keep decoded images in memory (right for small sets; turn off for full COCO).

    Raises:
        ValueError: no usable person in the given files (the message names them).
    """

    def __init__(self, sources: Sequence[tuple[CocoPersons, Sequence[int] | None]], config, augment: bool = True,
                 seed: int = 0, min_area: float = 400.0, require_keypoints: bool = False, scale_jitter: float = 0.25,
                 shift_jitter: float = 0.08, flip_prob: float = 0.5, heatmap_sigma: float = 1.0,
                 cache_images: bool = True):
        self.sources = [ds for ds, _ in sources]
        self.config = config
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0
        self.scale_jitter, self.shift_jitter, self.flip_prob = scale_jitter, shift_jitter, flip_prob
        self.heatmap_sigma = heatmap_sigma
        self.cache_images = cache_images
        self.prior_channels = PriorChannels(config.priors, config.others, config.prior_clip) \
            if config.variant == "pose" else None
        self._cache: dict[tuple[int, int], tuple] = {}
        self.items: list[tuple[int, int, int]] = []
        skipped = 0
        for s, (ds, ids) in enumerate(sources):
            for image_id in (ds.image_ids if ids is None else ids):
                anns = [a for a in ds.annotations(image_id) if not a.get("iscrowd", 0)]
                for j, a in enumerate(anns):
                    area = float(a.get("area", a["bbox"][2] * a["bbox"][3]))
                    kp = ds.keypoints_of(a)
                    labelled = kp is not None and (kp[:, 2] > 0).any()
                    usable = area >= min_area and a.get("segmentation") and (labelled or not require_keypoints)
                    if usable:
                        self.items.append((s, int(image_id), j))
                    else:
                        skipped += 1
        if not self.items:
            names = ", ".join(str(ds.path) for ds in self.sources)
            need = " and labelled keypoints" if require_keypoints else ""
            raise ValueError(f"no usable person in {names}: persons need a non-crowd mask of at least "
                             f"{min_area:g} pixels{need} ({skipped} person(s) skipped)")

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation random numbers of ``epoch`` (call before iterating)."""
        self.epoch = int(epoch)

    def load(self, source: int, image_id: int) -> tuple[np.ndarray, Persons, list[dict], np.ndarray | None]:
        """``(image, persons without masks, non-crowd annotations, crowd mask or None)`` of one image."""
        key = (source, image_id)
        if key in self._cache:
            return self._cache[key]
        ds = self.sources[source]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # repaired keypoints are warned about elsewhere
            persons = ds.persons(image_id, with_masks=False)
        anns = [a for a in ds.annotations(image_id) if not a.get("iscrowd", 0)]
        crowd = ds.crowd_mask(image_id) if any(a.get("iscrowd", 0) for a in ds.annotations(image_id)) else None
        value = (ds.load_image(image_id), persons, anns, crowd)
        if self.cache_images:
            self._cache[key] = value
        return value

    def window(self, index: int, box: np.ndarray) -> CropWindow:
        """The crop window of sample ``index`` in the current epoch (jittered when augmenting)."""
        if not self.augment:
            return CropWindow.around(box, self.config.margin)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        a = np.log1p(self.scale_jitter)
        scale = float(np.exp(rng.uniform(-a, a)))
        shift = tuple(rng.uniform(-self.shift_jitter, self.shift_jitter, 2))
        return CropWindow.around(box, self.config.margin, scale, shift, bool(rng.random() < self.flip_prob))

    def __getitem__(self, index: int) -> dict:
        source, image_id, j = self.items[index]
        image, persons, anns, crowd = self.load(source, image_id)
        h, w = image.shape[:2]
        target = segmentation_to_mask(anns[j]["segmentation"], h, w)
        has_kp = self.sources[source].keypoints_of(anns[j]) is not None
        sample = make_sample(image, persons, j, target, crowd, self.window(index, persons.boxes[j]), self.config,
                             self.prior_channels, has_kp, self.heatmap_sigma)
        sample["index"] = torch.tensor(index)
        return sample


def coco_sources(annotation_files: Sequence[str | Path], image_dirs: Sequence[str | Path] | None = None) -> list[CocoPersons]:
    """Open several COCO person annotation files (``image_dirs`` aligned with them, or the default folders)."""
    image_dirs = list(image_dirs or [])
    return [CocoPersons(f, image_dirs[i] if i < len(image_dirs) else None) for i, f in enumerate(annotation_files)]
