"""The training loss (mask BCE over valid pixels, optional Lovász IoU loss, keypoint heatmap BCE) and the
learning-rate schedule."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def lr_lambda(args):
    """Multiplier of the base learning rate at step ``s``: linear warm-up, then cosine / step / constant."""
    total, warm = max(args.steps, 1), max(args.warmup_steps, 0)

    def f(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        t = (s - warm) / max(total - warm, 1)
        if args.schedule == "cosine":
            return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
        if args.schedule == "step":
            return 0.1 ** (int(t >= 2 / 3) + int(t >= 8 / 9))
        return 1.0
    return f


def lovasz_hinge(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Lovász hinge loss of one mask (Berman et al., CVPR 2018): a convex surrogate of ``1 - IoU``.

    Args:
        logits, target, valid: ``(n, n)`` float mask logits, 0/1 target and 0/1 valid pixels
            (only valid pixels count).

    The hinge errors ``1 - logit * (2 target - 1)`` are sorted, largest first, and weighted by
    the increments of the IoU loss obtained by counting the pixels in that order as wrong: the
    Lovász extension of the IoU loss, whose gradient goes to the pixels that cost the most IoU.
    """
    keep = valid > 0
    x, y = logits[keep], target[keep]
    if not x.numel():
        return logits.sum() * 0.0
    errors, order = torch.sort(1.0 - x * (2.0 * y - 1.0), descending=True)
    y = y[order]
    positives = y.sum()
    iou_loss = 1.0 - (positives - y.cumsum(0)) / (positives + (1.0 - y).cumsum(0))
    weights = torch.cat([iou_loss[:1], iou_loss[1:] - iou_loss[:-1]])
    return torch.dot(F.relu(errors), weights)


def compute_losses(out: dict, batch: dict, keypoint_weight: float, iou_weight: float = 0.0
                   ) -> tuple[torch.Tensor, dict]:
    """The training loss and its parts (detached).

    Per sample, the mean pixel BCE of the mask logits over valid pixels, plus ``iou_weight``
    times its :func:`lovasz_hinge` (when positive); plus, for
    multitask / cascade, ``keypoint_weight`` times the heatmap loss: per labelled keypoint
    the BCE of the heatmap logits summed over the map and divided by the mass of its
    Gaussian target (at least 1), averaged over the person's labelled keypoints. All
    averaged over the batch.
    """
    logits = out["mask"].float()
    valid = batch["valid"]
    bce = F.binary_cross_entropy_with_logits(logits, batch["mask"], reduction="none") * valid
    loss_mask = (bce.sum((1, 2, 3)) / valid.sum((1, 2, 3)).clamp(min=1.0)).mean()
    if iou_weight > 0:
        loss_mask = loss_mask + iou_weight * torch.stack(
            [lovasz_hinge(logits[i, 0], batch["mask"][i, 0], valid[i, 0]) for i in range(len(logits))]).mean()
    loss = loss_mask
    parts = {"loss_mask": loss_mask.detach(), "loss_kp": torch.zeros((), device=logits.device)}
    if "heatmaps" in out:
        w = batch["kp_weight"]
        target = batch["heatmaps"]
        heat = F.binary_cross_entropy_with_logits(out["heatmaps"].float(), target, reduction="none")
        # Summed over the map and divided by the Gaussian's mass (about 2 pi sigma^2 cells), not averaged
        # over all cells: averaged, the few positive cells are drowned and the head learns nothing.
        per_kp = heat.sum((2, 3)) / target.sum((2, 3)).clamp(min=1.0)
        loss_kp = ((per_kp * w).sum(1) / w.sum(1).clamp(min=1.0)).mean()
        loss = loss + keypoint_weight * loss_kp
        parts["loss_kp"] = loss_kp.detach()
    return loss, parts
