"""Train / held-out splits by image id, fixed by a hash: the same image is always on the same side."""

from __future__ import annotations

import zlib
from typing import Sequence


def split_image_ids(image_ids: Sequence[int], val_fraction: float = 0.4, seed: int = 0,
                    after: float = 0.0) -> tuple[list[int], list[int]]:
    """Deterministic train/held-out split by image id: ``(train_ids, held_out_ids)``, both sorted.

    An image is held out when ``after <= crc32(f"{seed}:{image_id}") / 2**32 < after + val_fraction``:
    the assignment of an image never depends on which other images are in the list. ``after``
    carves a second part that never overlaps the first: with the same seed, the images of
    ``split_image_ids(ids, f)`` and of ``split_image_ids(ids, v, after=f)`` are disjoint
    (a validation part next to a held-out test part).
    """
    if not (0.0 <= val_fraction <= 1.0 and 0.0 <= after and after + val_fraction <= 1.0):
        raise ValueError(f"val_fraction and after must be in [0, 1] with a sum of at most 1, got "
                         f"{val_fraction} and {after}")
    held = sorted(i for i in image_ids
                  if after <= zlib.crc32(f"{seed}:{int(i)}".encode()) / 2**32 < after + val_fraction)
    hs = set(held)
    return sorted(i for i in image_ids if i not in hs), held
