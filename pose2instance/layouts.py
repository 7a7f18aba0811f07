"""Convert keypoints of other layouts (OpenPose BODY_18 / BODY_25, MediaPipe 33) to COCO-17.

Every converter takes ``(N, K, 3)`` arrays ``(x, y, confidence)`` in pixels and
returns ``(N, 17, 3)`` float32 COCO-17 keypoints with the confidences as given
(NaN -> 0; use them with ``Persons(keypoint_kind="score")``, which wants [0, 1]).
A source keypoint at ``(0, 0)`` with confidence 0 (OpenPose's "not detected") stays missing.
"""

from __future__ import annotations

import numpy as np

#: For each COCO-17 keypoint, its index in the source layout.
#: OpenPose BODY_18 (COCO-18): Nose, Neck, RShoulder, RElbow, RWrist, LShoulder,
#: LElbow, LWrist, RHip, RKnee, RAnkle, LHip, LKnee, LAnkle, REye, LEye, REar, LEar.
#: OpenPose BODY_25: as BODY_18 with MidHip at 8 (so hips/legs shift by one) and 6 foot points.
#: MediaPipe Pose 33 landmarks: nose 0, eyes 2/5, ears 7/8, shoulders 11/12, elbows
#: 13/14, wrists 15/16, hips 23/24, knees 25/26, ankles 27/28 (left first).
LAYOUTS: dict[str, tuple[int, ...]] = {
    "coco17": tuple(range(17)),
    "openpose18": (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10),
    "body25": (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11),
    "mediapipe33": (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28),
}
LAYOUT_SIZES: dict[str, int] = {"coco17": 17, "openpose18": 18, "body25": 25, "mediapipe33": 33}


def to_coco17(keypoints: np.ndarray, layout: str) -> np.ndarray:
    """Map ``(N, K, 3)`` keypoints of ``layout`` to ``(N, 17, 3)`` COCO-17 order.

    Args:
        keypoints: ``(N, K, 3)`` or ``(N, K*3)`` array, ``(x, y, confidence)`` in pixels.
        layout: one of ``coco17``, ``openpose18``, ``body25``, ``mediapipe33``.

    Raises:
        ValueError: unknown layout, or ``K`` does not match the layout.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown keypoint layout {layout!r}; choose from {sorted(LAYOUTS)}")
    k = LAYOUT_SIZES[layout]
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.ndim == 2 and kp.shape[1] == 3 * k:
        kp = kp.reshape(len(kp), k, 3)
    if kp.ndim != 3 or kp.shape[1:] != (k, 3):
        raise ValueError(f"layout {layout!r} needs keypoints of shape (N, {k}, 3) or (N, {3 * k}); got {kp.shape}")
    out = kp[:, list(LAYOUTS[layout]), :].copy()
    out[..., 2] = np.nan_to_num(out[..., 2])
    missing = (out[..., 0] == 0) & (out[..., 1] == 0) & (out[..., 2] == 0)
    out[missing] = 0.0
    return out


def detect_layout(num_keypoints: int) -> str:
    """The layout name for ``num_keypoints`` points per person (17, 18, 25 or 33)."""
    for name, size in LAYOUT_SIZES.items():
        if size == num_keypoints:
            return name
    raise ValueError(f"no known keypoint layout has {num_keypoints} points per person "
                     f"(known: {', '.join(f'{n}={s}' for n, s in LAYOUT_SIZES.items())})")
