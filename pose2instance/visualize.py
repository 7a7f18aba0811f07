"""Pictures: mask + skeleton overlays, prior maps, accuracy-versus-threshold plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import binary_erosion

from .io.jsonio import atomic_write
from .structures import COCO_SKELETON, Persons

#: Distinct colours (RGB) for people, cycled.
PALETTE = np.array([
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40),
], np.uint8)


def draw_overlay(image: np.ndarray, masks: np.ndarray, persons: Persons | None = None, alpha: float = 0.5,
                 min_confidence: float = 0.1) -> np.ndarray:
    """Each person's mask tinted in its own colour, its outline, its skeleton and keypoints.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        masks: ``(N, H, W)`` bool, person ``i`` in ``PALETTE[i % 12]``.
        persons: the same ``N`` people; their limbs and keypoints (confidence >=
            ``min_confidence``, or any labelled keypoint) are drawn in the same colour.
        alpha: mask opacity.

    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    out = image.astype(np.float32).copy()
    for i, m in enumerate(masks):
        colour = PALETTE[i % len(PALETTE)].astype(np.float32)
        out[m] = (1 - alpha) * out[m] + alpha * colour
        out[m & ~binary_erosion(m, border_value=1)] = colour  # the outline
    pic = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    if persons is not None and len(persons):
        draw = ImageDraw.Draw(pic)
        width = max(2, round(max(image.shape[:2]) / 300))
        for i, (kp, ok) in enumerate(zip(persons.keypoints, drawn_keypoints(persons, min_confidence))):
            colour = tuple(int(c) for c in PALETTE[i % len(PALETTE)])
            for a, b in COCO_SKELETON:
                if ok[a] and ok[b]:
                    draw.line([tuple(kp[a, :2]), tuple(kp[b, :2])], fill=colour, width=width)
            for x, y in kp[ok, :2]:
                r = width + 1
                draw.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 255), outline=colour)
    return np.asarray(pic)


def drawn_keypoints(persons: Persons, min_confidence: float = 0.1) -> np.ndarray:
    """``(N, 17)`` bool: the keypoints an overlay draws (any labelled one of ground truth, an estimated one of
    confidence >= ``min_confidence``)."""
    conf = persons.keypoints[..., 2]
    return conf > 0 if persons.keypoint_kind == "visibility" else conf >= min_confidence


def save_png(image: np.ndarray, path: str | Path) -> Path:
    """Write an ``(H, W, 3)`` (RGB) or ``(H, W)`` (grey) uint8 array as PNG atomically, creating folders."""
    return atomic_write(path, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))


def plot_accuracy_curves(accuracies: dict[str, dict[float, float]], path: str | Path, title: str = "") -> Path:
    """Accuracy (fraction of instances with IoU >= t) versus t, one curve per method, as a PNG (written atomically)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    markers, styles = "osD^vP*X", ("-", "--", "-.", ":")
    for i, (name, acc) in enumerate(accuracies.items()):  # distinct markers and dashes: equal curves stay visible
        ts = sorted(acc)
        ax.plot(ts, [acc[t] for t in ts], marker=markers[i % len(markers)], linestyle=styles[i % len(styles)],
                markersize=7 - i % 3, label=name)
    ax.set_xlabel("IoU threshold t")
    ax.set_ylabel("accuracy (IoU >= t)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
