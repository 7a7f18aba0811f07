"""COCO person crops for the learned models: geometry, targets, augmentation, a torch Dataset.

Crop geometry (shared by training and inference). A :class:`CropWindow` is a square
of ``side`` image pixels centred on ``(cx, cy)``, optionally mirrored, resampled to an
``n x n`` crop. Image coordinates follow the package convention (x right, y down,
pixel centres at integer coordinates); crop pixel ``(u, v)`` (column, row) has its
centre at::

    x = cx + f * (u + 0.5 - n / 2) * side / n        f = -1 if flipped else 1
    y = cy +     (v + 0.5 - n / 2) * side / n

so the crop spans exactly the window's ``side x side`` pixels. Resampling is
bilinear (``torch.nn.functional.grid_sample``, ``align_corners=False``); pixels outside
the image read as zero and are marked invalid.

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
  the pose-conditioned variant (see :func:`crop_priors`).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .coco import CocoPersons, segmentation_to_mask
from .structures import COCO_FLIP_INDEX, Persons

HEATMAP_STRIDE = 4


@dataclass(frozen=True)
class CropWindow:
    """A square window of the image (see the module doc for the exact pixel mapping).

    Attributes:
        cx, cy: centre in image pixels.
        side: side in image pixels.
        flip: mirror horizontally.
    """

    cx: float
    cy: float
    side: float
    flip: bool = False

    @staticmethod
    def around(box: np.ndarray, margin: float = 1.25, scale: float = 1.0, shift: tuple[float, float] = (0.0, 0.0),
               flip: bool = False) -> "CropWindow":
        """The window centred on an XYXY ``box`` with side ``max(w, h) * margin * scale`` (at least 8 px),
        its centre moved by ``shift * side``."""
        x0, y0, x1, y1 = (float(v) for v in box)
        side = max(max(x1 - x0, y1 - y0) * margin * scale, 8.0)
        return CropWindow((x0 + x1) / 2 + shift[0] * side, (y0 + y1) / 2 + shift[1] * side, side, flip)

    def to_image(self, uv: np.ndarray, n: int) -> np.ndarray:
        """``(..., 2)`` crop coordinates (u, v) -> image coordinates (x, y)."""
        uv = np.asarray(uv, np.float64)
        s = self.side / n
        f = -1.0 if self.flip else 1.0
        return np.stack([self.cx + f * (uv[..., 0] + 0.5 - n / 2) * s, self.cy + (uv[..., 1] + 0.5 - n / 2) * s], -1)

    def to_crop(self, xy: np.ndarray, n: int) -> np.ndarray:
        """``(..., 2)`` image coordinates (x, y) -> crop coordinates (u, v)."""
        xy = np.asarray(xy, np.float64)
        s = self.side / n
        f = -1.0 if self.flip else 1.0
        return np.stack([f * (xy[..., 0] - self.cx) / s + n / 2 - 0.5, (xy[..., 1] - self.cy) / s + n / 2 - 0.5], -1)

    def grid(self, n: int, image_size: tuple[int, int]) -> torch.Tensor:
        """``(n, n, 2)`` float32 ``grid_sample`` grid (normalised x, y of each crop pixel centre in the image)."""
        h, w = image_size
        u = np.arange(n, dtype=np.float64)
        xy = torch.from_numpy(self.to_image(np.stack([u, u], -1), n))  # x depends on u only, y on v only
        gx = (2 * xy[:, 0] + 1) / w - 1
        gy = (2 * xy[:, 1] + 1) / h - 1
        return torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1).float()


def sample_crops(image: torch.Tensor, windows: Sequence[CropWindow], n: int) -> torch.Tensor:
    """Bilinear crops of one image: ``(C, H, W)`` float tensor -> ``(len(windows), C, n, n)`` (zeros outside)."""
    if not windows:
        return image.new_zeros((0, image.shape[0], n, n))
    h, w = image.shape[-2:]
    grid = torch.stack([win.grid(n, (h, w)) for win in windows]).to(image.device, image.dtype)
    return F.grid_sample(image.unsqueeze(0).expand(len(windows), -1, -1, -1), grid, mode="bilinear",
                         padding_mode="zeros", align_corners=False)


def paste_crops(values: torch.Tensor, windows: Sequence[CropWindow], image_size: tuple[int, int],
                fill: float = 0.0) -> torch.Tensor:
    """Put crop maps back into image coordinates: ``(N, n, n)`` -> ``(N, H, W)`` (bilinear, ``fill`` outside each window).

    The inverse of :func:`sample_crops`: image pixel ``(x, y)`` reads the crop at
    ``CropWindow.to_crop((x, y))``. Only the pixels each window covers are computed.
    """
    h, w = image_size
    n = values.shape[-1]
    out = values.new_full((len(windows), h, w), fill)
    for i, win in enumerate(windows):
        half = win.side / 2
        x0, x1 = max(int(np.floor(win.cx - half)), 0), min(int(np.ceil(win.cx + half)), w - 1)
        y0, y1 = max(int(np.floor(win.cy - half)), 0), min(int(np.ceil(win.cy + half)), h - 1)
        if x1 < x0 or y1 < y0:
            continue
        xs, ys = np.arange(x0, x1 + 1, dtype=np.float64), np.arange(y0, y1 + 1, dtype=np.float64)
        u = torch.from_numpy(win.to_crop(np.stack([xs, np.zeros_like(xs)], -1), n)[:, 0])  # u depends on x only
        v = torch.from_numpy(win.to_crop(np.stack([np.zeros_like(ys), ys], -1), n)[:, 1])  # v on y only
        grid = torch.stack(torch.meshgrid((2 * v + 1) / n - 1, (2 * u + 1) / n - 1, indexing="ij")[::-1], -1)
        inside = (grid.abs() <= 1).all(-1)
        crop = F.grid_sample(values[i][None, None], grid[None].to(values.device, values.dtype), mode="bilinear",
                             padding_mode="border", align_corners=False)[0, 0]
        out[i, y0:y1 + 1, x0:x1 + 1] = torch.where(inside.to(values.device), crop, crop.new_tensor(fill))
    return out


def keypoints_to_crop(keypoints: np.ndarray, window: CropWindow, n: int) -> np.ndarray:
    """``(..., 17, 3)`` image keypoints -> crop keypoints (same ``c``), left/right swapped when flipped."""
    kp = np.array(keypoints, np.float32, copy=True)
    kp[..., :2] = window.to_crop(kp[..., :2], n)
    if window.flip:
        kp = kp[..., list(COCO_FLIP_INDEX), :]
    return kp


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


def _crop_persons(persons: Persons, index: Sequence[int], window: CropWindow, n: int) -> Persons:
    """The people ``index`` of ``persons`` in crop coordinates (an ``n x n`` image), far keypoints dropped."""
    index = list(index)
    kp = keypoints_to_crop(persons.keypoints[index], window, n)
    far = (kp[..., :2] < -0.45 * n).any(-1) | (kp[..., :2] > 1.45 * n).any(-1)
    kp[far] = 0.0
    corners = window.to_crop(persons.boxes[index].reshape(-1, 2, 2), n)
    boxes = np.concatenate([corners.min(1), corners.max(1)], 1)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1e-3)
    return Persons(boxes, kp, (n, n), persons.keypoint_kind)


def crop_priors(persons: Persons, index: int, window: CropWindow, n: int, priors: Sequence[str],
                others: bool = True, clip: float = 2.0, crop_rgb: torch.Tensor | None = None) -> np.ndarray:
    """Prior channels of person ``index`` on its crop: ``(P, n, n)`` float32.

    Each encoder of ``priors`` (:func:`pose2instance.priors.make_prior` names) encodes the
    person's keypoints transformed into the crop (distances in the person's scale, clipped
    at ``clip``). With ``others``, one more channel holds the distance to the nearest
    skeleton of any *other* person of the image (their box when they have no keypoint),
    in the target person's scale, clipped at ``clip`` (``clip`` everywhere with no one else).
    ``crop_rgb`` (the ``(3, n, n)`` float crop in [0, 1]) is needed by the geodesic prior only.
    """
    from .priors import make_prior
    from .priors.euclidean import skeleton_distance
    from .priors.skeleton import person_scales

    target = _crop_persons(persons, [index], window, n)
    crop_image = None
    if crop_rgb is not None and "geodesic" in priors:
        crop_image = (crop_rgb.permute(1, 2, 0).cpu().numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
    channels = []
    for name in priors:
        enc = make_prior(name)
        c = enc.encode(target, crop_image)[0]
        channels.append(np.minimum(c, clip) if name != "heatmap" else c)
    if others:
        rest = [j for j in range(len(persons)) if j != index]
        other = np.full((n, n), clip, np.float32)
        if rest:
            crop_rest = _crop_persons(persons, rest, window, n)
            near = ((crop_rest.boxes[:, 2] > -n) & (crop_rest.boxes[:, 0] < 2 * n)
                    & (crop_rest.boxes[:, 3] > -n) & (crop_rest.boxes[:, 1] < 2 * n))
            if near.any():
                d = skeleton_distance(crop_rest.subset(near)).min(0) / person_scales(target)[0]
                other = np.minimum(d, clip).astype(np.float32)
        channels.append(other[None])
    if not channels:
        return np.zeros((0, n, n), np.float32)
    return np.concatenate(channels, 0).astype(np.float32)


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 RGB -> ``(3, H, W)`` float32 in [0, 1]."""
    return torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1).float().div_(255.0)


def make_sample(image: np.ndarray, persons: Persons, index: int, target_mask: np.ndarray, crowd: np.ndarray | None,
                window: CropWindow, config, has_keypoints: bool = True, heatmap_sigma: float = 1.0) -> dict:
    """The training sample of person ``index`` in ``window`` (see the module doc for every field).

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        persons: the image's non-crowd persons (keypoints in image pixels).
        target_mask: ``(H, W)`` bool mask of person ``index``.
        crowd: ``(H, W)`` bool crowd regions (ignored), or None.
        config: a :class:`pose2instance.models.ModelConfig` (crop size, variant, priors).
        has_keypoints: False for persons of a file without keypoint annotations (keypoint loss off).
    """
    n = config.crop_size
    h, w = image.shape[:2]
    # Resample only the part of the image the window covers (plus a 2-pixel border for bilinear reads).
    half = window.side / 2 + 2
    x0, x1 = max(int(np.floor(window.cx - half)), 0), min(int(np.ceil(window.cx + half)) + 1, w)
    y0, y1 = max(int(np.floor(window.cy - half)), 0), min(int(np.ceil(window.cy + half)) + 1, h)
    if x1 <= x0 or y1 <= y0:  # the window misses the image: sample a 1-pixel dummy, all invalid
        x0, x1, y0, y1 = 0, 1, 0, 1
        inside_image = torch.zeros(1, 1, 1)
    else:
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
        prior = crop_priors(persons, index, window, n, config.priors, config.others, config.prior_clip, rgb)
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
        config: the :class:`~pose2instance.models.ModelConfig` the samples are for.
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
        self._cache: dict[tuple[int, int], tuple] = {}
        self.items: list[tuple[int, int, int]] = []
        skipped = 0
        for s, (ds, ids) in enumerate(sources):
            for image_id in (ds.image_ids if ids is None else ids):
                anns = [a for a in ds.annotations(image_id) if not a.get("iscrowd", 0)]
                for j, a in enumerate(anns):
                    area = float(a.get("area", a["bbox"][2] * a["bbox"][3]))
                    labelled = "_kp" in a and (a["_kp"][:, 2] > 0).any()
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
        has_kp = "_kp" in anns[j]
        sample = make_sample(image, persons, j, target, crowd, self.window(index, persons.boxes[j]), self.config,
                             has_kp, self.heatmap_sigma)
        sample["index"] = torch.tensor(index)
        return sample


def coco_sources(annotation_files: Sequence[str | Path], image_dirs: Sequence[str | Path] | None = None) -> list[CocoPersons]:
    """Open several COCO person annotation files (``image_dirs`` aligned with them, or the default folders)."""
    image_dirs = list(image_dirs or [])
    return [CocoPersons(f, image_dirs[i] if i < len(image_dirs) else None) for i, f in enumerate(annotation_files)]
