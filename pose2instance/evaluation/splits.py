"""Train / held-out splits by image id, fixed by a hash: the same image is always on the same side."""

from __future__ import annotations

import zlib
from typing import Sequence


def split_image_ids(image_ids: Sequence[int], val_fraction: float = 0.4, seed: int = 0) -> tuple[list[int], list[int]]:
    """Deterministic train/held-out split by image id: ``(train_ids, held_out_ids)``, both sorted.

    An image is held out when ``crc32(f"{seed}:{image_id}") / 2**32 < val_fraction``: the
    assignment of an image never depends on which other images are in the list.
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    held = sorted(i for i in image_ids if zlib.crc32(f"{seed}:{int(i)}".encode()) / 2**32 < val_fraction)
    hs = set(held)
    return sorted(i for i in image_ids if i not in hs), held
