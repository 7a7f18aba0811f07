"""Training augmentation on person crops: rotation, copy-paste occlusion, colour jitter, border truncation.

All work on :class:`CropPlanes`, one person's crop before the network inputs are assembled
(``n x n`` torch planes in crop coordinates, see :mod:`pose2instance.learned.dataset`), and
draw their random numbers from the ``numpy.random.Generator`` they are given, so a sample
is the same on any number of workers or processes.

* :func:`paste_person` - copy-paste (Ghiasi et al., CVPR 2021, for people): a masked
  person from another image (a :class:`Donor`) is pasted *in front of* the target (its
  pixels become "not this person" and hide the target's) or *behind* it (it shows only
  where the target is not). The donor's keypoints and box come back in crop coordinates,
  so its skeleton enters the "other people" prior channel like a real neighbour's.
* :func:`rotate_planes` / :func:`rotate_points` - an in-plane rotation about the crop centre;
  the crop's corners that come from outside it are black and ignored by the loss.
* :func:`colour_jitter` - brightness, contrast and saturation.
* :func:`truncate_border` - one side of the crop is cut off as if it were the image
  border (black, ignored by the loss, the target's keypoints there dropped), as for
  people cut by the frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class CropPlanes:
    """One person's crop, ``n x n``.

    Attributes:
        rgb: ``(3, n, n)`` float32 in ``[0, 1]``.
        mask: ``(1, n, n)`` float32 in {0, 1}, the target person.
        valid: ``(1, n, n)`` float32 in {0, 1}, 0 where the loss ignores the pixel.
        score: ``(1, n, n)`` float32 pretrained person score, or None.
    """

    rgb: torch.Tensor
    mask: torch.Tensor
    valid: torch.Tensor
    score: torch.Tensor | None = None


@dataclass
class Donor:
    """A person to paste: its crop planes (``m x m``), keypoints ``(17, 3)`` and XYXY box in its crop's pixels."""

    planes: CropPlanes
    keypoints: np.ndarray
    box: np.ndarray


def _resize(planes: CropPlanes, size: int) -> CropPlanes:
    def go(t, mode):
        return None if t is None else F.interpolate(t[None], size=(size, size), mode=mode,
                                                    **({"align_corners": False} if mode == "bilinear" else {}))[0]
    return CropPlanes(go(planes.rgb, "bilinear"), (go(planes.mask, "bilinear") > 0.5).float(),
                      (go(planes.valid, "bilinear") > 0.5).float(), go(planes.score, "bilinear"))


def paste_person(target: CropPlanes, donor: Donor, size: int, offset: tuple[int, int],
                 in_front: bool) -> tuple[CropPlanes, np.ndarray, np.ndarray]:
    """Paste ``donor`` into ``target`` (both crop planes; the target is ``n x n``).

    Args:
        target: the target person's crop.
        donor: the person to paste.
        size: the donor's crop side in the target crop, pixels (at least 2).
        offset: ``(u0, v0)`` target-crop pixel of the donor crop's top-left corner (may be negative).
        in_front: the donor hides the target (else it shows only where the target is not).

    Returns:
        ``(planes, keypoints (17, 3), box (4,))``: the new crop, and the donor's keypoints
        and box in target-crop pixels.
    """
    n = target.rgb.shape[-1]
    m = max(2, int(size))
    small = _resize(donor.planes, m)
    u0, v0 = offset
    tu0, tv0, tu1, tv1 = max(u0, 0), max(v0, 0), min(u0 + m, n), min(v0 + m, n)
    out = replace(target, rgb=target.rgb.clone(), mask=target.mask.clone(),
                  score=None if target.score is None else target.score.clone())
    if tu1 > tu0 and tv1 > tv0:
        src = (slice(None), slice(tv0 - v0, tv1 - v0), slice(tu0 - u0, tu1 - u0))
        dst = (slice(None), slice(tv0, tv1), slice(tu0, tu1))
        person = small.mask[src] > 0.5
        shown = person if in_front else person & (out.mask[dst] < 0.5)
        out.rgb[dst] = torch.where(shown, small.rgb[src], out.rgb[dst])
        if out.score is not None and small.score is not None:
            out.score[dst] = torch.where(shown, small.score[src], out.score[dst])
        if in_front:
            out.mask[dst] = torch.where(person, torch.zeros_like(out.mask[dst]), out.mask[dst])
    ratio = m / donor.planes.rgb.shape[-1]
    kp = donor.keypoints.astype(np.float32).copy()
    kp[:, :2] = (kp[:, :2] + 0.5) * ratio - 0.5 + np.array([u0, v0], np.float32)
    box = (np.asarray(donor.box, np.float32) + 0.5) * ratio - 0.5 + np.array([u0, v0, u0, v0], np.float32)
    return out, kp, box


def _rotation(angle: float) -> np.ndarray:
    """``(2, 2)`` rotation by ``angle`` degrees in crop pixels (x right, y down: clockwise on screen)."""
    a = np.deg2rad(angle)
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


def rotate_points(uv: np.ndarray, angle: float, n: int) -> np.ndarray:
    """``(..., 2)`` crop pixel coordinates of an ``n x n`` crop -> where :func:`rotate_planes` moves them."""
    centre = (n - 1) / 2
    return (np.asarray(uv, np.float64) - centre) @ _rotation(angle).T + centre


def rotate_planes(planes: CropPlanes, angle: float) -> CropPlanes:
    """Rotate every plane by ``angle`` degrees about the crop centre (bilinear).

    Crop pixels whose source lies outside the crop become black RGB, score 0 and invalid;
    the mask and the valid plane are thresholded at 0.5 again.
    """
    rot = torch.from_numpy(_rotation(angle).T.astype(np.float32))  # output -> input: the inverse rotation
    theta = torch.cat([rot, torch.zeros(2, 1)], 1)[None]
    names = ("rgb", "mask", "valid", "score")
    stack = torch.cat([getattr(planes, k) for k in names if getattr(planes, k) is not None], 0)[None]
    grid = F.affine_grid(theta, list(stack.shape), align_corners=False)
    out = F.grid_sample(stack, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    score = out[5:6] if planes.score is not None else None
    return CropPlanes(out[:3], (out[3:4] > 0.5).float(), (out[4:5] > 0.5).float(), score)


def colour_jitter(rgb: torch.Tensor, rng: np.random.Generator, strength: float = 0.3) -> torch.Tensor:
    """Random brightness, contrast and saturation factors in ``[1 - strength, 1 + strength]``; ``(3, n, n)``."""
    b, c, s = rng.uniform(1 - strength, 1 + strength, 3)
    grey = rgb.mean(0, keepdim=True)
    out = grey + (rgb - grey) * float(s)
    out = out.mean() + (out - out.mean()) * float(c)
    return (out * float(b)).clamp(0, 1)


def truncate_border(planes: CropPlanes, rng: np.random.Generator,
                    max_fraction: float = 0.35) -> tuple[CropPlanes, tuple[int, int, int, int]]:
    """Cut one random side of the crop off as if it were outside the image.

    Returns:
        ``(planes, (u0, v0, u1, v1))``: the crop with the cut part black, score 0 and invalid,
        and the cut region in crop pixels (end exclusive), to drop the keypoints inside it.
    """
    n = planes.rgb.shape[-1]
    depth = int(round(rng.uniform(0.1, max_fraction) * n))
    side = int(rng.integers(4))
    region = [(0, 0, depth, n), (n - depth, 0, n, n), (0, 0, n, depth), (0, n - depth, n, n)][side]
    u0, v0, u1, v1 = region
    out = replace(planes, rgb=planes.rgb.clone(), valid=planes.valid.clone(),
                  score=None if planes.score is None else planes.score.clone())
    out.rgb[:, v0:v1, u0:u1] = 0.0
    out.valid[:, v0:v1, u0:u1] = 0.0
    if out.score is not None:
        out.score[:, v0:v1, u0:u1] = 0.0
    return out, region
