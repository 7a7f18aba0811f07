"""Pictures: mask + skeleton overlays, prior maps, accuracy-versus-threshold plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy.ndimage import binary_erosion

from .io.jsonio import atomic_write
from .structures import COCO_SKELETON, Persons

#: Distinct colours (RGB) for people, cycled.
PALETTE = np.array([
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40),
    (128, 0, 0), (170, 255, 195), (128, 128, 0), (0, 0, 128), (255, 215, 180), (90, 90, 90),
    (220, 190, 255), (0, 90, 40), (255, 100, 0), (100, 60, 200), (0, 200, 160), (200, 0, 100),
], np.uint8)
#: A keypoint drawn faint (thin limbs, hollow dot): ground truth labelled but not visible (v = 1), or an
#: estimate below this confidence.
HIDDEN_CONFIDENCE = 0.5


def draw_overlay(image: np.ndarray, masks: np.ndarray, persons: Persons | None = None, alpha: float = 0.5,
                 min_confidence: float = 0.1) -> np.ndarray:
    """Each person's mask tinted in its own colour, its outline, its number, its skeleton and keypoints.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        masks: ``(N, H, W)`` bool, person ``i`` in ``PALETTE[i % 24]``.
        persons: the same ``N`` people; their limbs and keypoints (confidence >=
            ``min_confidence``, or any labelled keypoint) are drawn in the same colour, hidden ones
            (:func:`hidden_keypoints`) faint: a thin limb, a hollow dot. Each person's number ``i`` is written
            at the top left of its box.
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
        hidden = hidden_keypoints(persons)
        for i, (kp, ok) in enumerate(zip(persons.keypoints, drawn_keypoints(persons, min_confidence))):
            colour = tuple(int(c) for c in PALETTE[i % len(PALETTE)])
            for a, b in COCO_SKELETON:
                if ok[a] and ok[b]:
                    faint = hidden[i, a] or hidden[i, b]
                    draw.line([tuple(kp[a, :2]), tuple(kp[b, :2])], fill=colour, width=1 if faint else width)
            r = width + 1
            for k in np.flatnonzero(ok):
                x, y = kp[k, :2]
                draw.ellipse([x - r, y - r, x + r, y + r], fill=None if hidden[i, k] else (255, 255, 255),
                             outline=colour)
        font = ImageFont.load_default(size=4 * width + 6)
        for i, box in enumerate(persons.boxes):
            colour = tuple(int(c) for c in PALETTE[i % len(PALETTE)])
            x0, y0 = max(float(box[0]), 0.0), max(float(box[1]), 0.0)
            left, top, right, bottom = draw.textbbox((x0 + 3, y0 + 2), str(i), font=font)
            draw.rectangle([x0, y0, right + 3, bottom + 3], fill=colour)
            draw.text((x0 + 3, y0 + 2), str(i), font=font, fill=(0, 0, 0) if sum(colour) > 450 else (255, 255, 255))
    return np.asarray(pic)


def drawn_keypoints(persons: Persons, min_confidence: float = 0.1) -> np.ndarray:
    """``(N, 17)`` bool: the keypoints an overlay draws (any labelled one of ground truth, an estimated one of
    confidence >= ``min_confidence``)."""
    conf = persons.keypoints[..., 2]
    return conf > 0 if persons.keypoint_kind == "visibility" else conf >= min_confidence


def hidden_keypoints(persons: Persons) -> np.ndarray:
    """``(N, 17)`` bool: keypoints to draw faint: labelled but not visible (COCO ``v = 1``), or estimated with a
    confidence below :data:`HIDDEN_CONFIDENCE`."""
    conf = persons.keypoints[..., 2]
    return conf == 1 if persons.keypoint_kind == "visibility" else conf < HIDDEN_CONFIDENCE


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
