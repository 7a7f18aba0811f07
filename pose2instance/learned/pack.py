"""A compact training pack: the training images of COCO person files, downscaled, with their annotations
and cached pretrained score maps, to train on a machine that has neither the data nor MediaPipe.

``pose2instance pack --annotations A.json B.json ... --held-out-fraction 0.4 0.2 --score-input blazepose
--out PACK`` writes::

    PACK/annotations/<the same file names>.json   COCO, every box, keypoint, area and mask scaled
    PACK/images/<file names>                      JPEG, each image downscaled by its own factor
    PACK/cache/score_maps/<score>/...             the score input of every image, at the pack's size
    PACK/pack.json                                what was packed, from where, the factors and sizes

Train on it with the same options, the pack's annotation files and
``POSE2INSTANCE_CACHE=PACK/cache`` (the score maps are then read, never computed).

Which images: the held-out part of each file (``--held-out-fraction``, by image id as
:func:`pose2instance.evaluation.split_image_ids` and ``train --held-out-fraction`` take it) is
left out of the pack entirely, so it cannot be trained on wherever the pack goes; validation
images stay (``train --val-fraction`` picks them by id as before).

Scale: training crops are ``crop_size`` pixels across a window of ``margin * max(w, h)`` of a
person's box, jittered by up to ``1 + scale_jitter``. An image is shrunk by
``s = min(1, side / (margin * max(w, h)))`` over its non-crowd persons, with ``side`` (default
``1.5 * 128``) the pixels kept across the smallest person's window: every crop is then resampled
from at least ``side`` pixels, as before from the original. ``s`` is raised where a person's mask
area would fall below ``min_area`` (those people would otherwise drop out of training).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..evaluation.splits import split_image_ids
from ..io import CocoPersons, write_json
from ..io.jsonio import atomic_write
from ..io.rle import mask_to_rle
from .score_maps import CachedScoreMaps, quantise_score

#: Pixels kept across the smallest person's crop window: 1.5x the default 128 px crop, so a window zoomed
#: out by the default scale jitter (1.25) still spans more than 128 pixels.
DEFAULT_SIDE = 192


def pack_scale(boxes_xywh: np.ndarray, areas: np.ndarray, side: float = DEFAULT_SIDE, margin: float = 1.25,
               min_area: float = 400.0) -> float:
    """The downscaling factor ``s`` in ``(0, 1]`` of one image (see the module doc).

    Args:
        boxes_xywh: ``(N, 4)`` the image's non-crowd person boxes, COCO ``[x, y, w, h]`` pixels.
        areas: ``(N,)`` their mask areas (pixels).
    """
    boxes_xywh = np.asarray(boxes_xywh, np.float64).reshape(-1, 4)
    if not len(boxes_xywh):
        return 1.0
    window = margin * np.maximum(boxes_xywh[:, 2], boxes_xywh[:, 3])
    s = min(1.0, side / max(float(window.min()), 1e-6))
    areas = np.asarray(areas, np.float64)
    usable = areas[areas >= min_area]
    if len(usable):
        s = max(s, math.sqrt(min_area / float(usable.min())) * 1.001)
    return min(s, 1.0)


def _scaled_annotation(ann: dict, s: float, size: tuple[int, int], old_size: tuple[int, int],
                       dataset: CocoPersons) -> dict:
    """A copy of annotation ``ann`` in an image shrunk by ``s`` to ``size = (H, W)``; masks as compressed RLE."""
    out = copy.deepcopy(ann)
    out["bbox"] = [float(v) * s for v in ann["bbox"]]
    if "area" in ann:
        out["area"] = float(ann["area"]) * s * s
    if ann.get("keypoints"):
        kp = np.asarray(ann["keypoints"], np.float64).reshape(-1, 3)
        kp[:, :2] *= s
        out["keypoints"] = [round(float(v), 3) for v in kp.ravel()]
    if ann.get("segmentation"):
        mask = dataset.mask_of(ann)
        if mask.shape != old_size:
            raise ValueError(f"{dataset.path}: annotation {ann.get('id')} mask is {mask.shape}, not {old_size}")
        small = Image.fromarray(mask.astype(np.uint8) * 255).resize((size[1], size[0]), Image.Resampling.BILINEAR)
        rle = mask_to_rle(np.asarray(small) >= 128)
        out["segmentation"] = {"size": rle["size"], "counts": rle["counts"]}
    return out


def build_pack(annotation_files: Sequence[str | Path], out: str | Path, held_out_fraction: Sequence[float] = (),
               split_seed: int = 0, score_input: str | None = None, side: float = DEFAULT_SIDE,
               margin: float = 1.25, min_area: float = 400.0, quality: int = 90, score_cache: str | Path | None = None,
               progress: bool = True) -> dict:
    """Write a training pack of ``annotation_files`` to ``out`` (see the module doc); returns ``pack.json``'s content.

    Args:
        annotation_files: COCO person files (their images in ``images/`` beside ``annotations/``).
        out: the pack folder (created; files of the same names are replaced).
        held_out_fraction: per file, the fraction of images (by image id) left out; missing values are 0.
        split_seed: seed of that split.
        score_input: a :data:`~pose2instance.learned.score_maps.SCORE_INPUTS` name to pack the score maps of.
        side, margin, min_area: see :func:`pack_scale`.
        quality: JPEG quality of the packed images.
        score_cache: where the original images' score maps are cached (default: the usual cache).
    """
    out = Path(out)
    files = [Path(f) for f in annotation_files]
    fractions = list(held_out_fraction) + [0.0] * (len(files) - len(held_out_fraction))
    if len(fractions) > len(files):
        raise ValueError(f"--held-out-fraction has {len(fractions)} values for {len(files)} annotation file(s)")
    names = [f.name for f in files]
    if len(set(names)) < len(names):
        raise ValueError(f"the annotation files must have distinct names, got {names}")
    source_maps = CachedScoreMaps(score_input, score_cache) if score_input else None
    pack_maps = CachedScoreMaps(score_input, out / "cache") if score_input else None
    summary = {"side": side, "margin": margin, "min_area": min_area, "quality": quality, "split_seed": split_seed,
               "score_input": score_input, "files": {}}
    written: dict[str, tuple[tuple[int, int], Path]] = {}  # image file name -> (packed size, its file)
    for file, fraction in zip(files, fractions):
        dataset = CocoPersons(file)
        kept, held = split_image_ids(dataset.image_ids, fraction, split_seed)
        data = {k: v for k, v in dataset.data.items() if k not in ("images", "annotations")}
        data["images"], data["annotations"], scales = [], [], []
        sources = {}
        for image_id in tqdm(kept, desc=f"pack {file.name}", disable=not progress, unit="img"):
            entry = dataset.image(image_id)
            h, w = dataset.image_size(image_id)
            anns = dataset.annotations(image_id)
            people = [a for a in anns if not a.get("iscrowd", 0)]
            s = pack_scale(np.array([a["bbox"] for a in people], np.float64).reshape(-1, 4),
                           np.array([float(a.get("area", a["bbox"][2] * a["bbox"][3])) for a in people]),
                           side, margin, min_area)
            size = (max(1, round(h * s)), max(1, round(w * s)))
            s_used = size[0] / h  # the factor the rounded size gives (x and y differ by under a pixel)
            scales.append(s_used)
            data["images"].append({**entry, "height": size[0], "width": size[1]})
            data["annotations"] += [_scaled_annotation(a, s_used, size, (h, w), dataset) for a in anns]
            sources[image_id] = (size, s_used)
            name = str(entry["file_name"])
            if name in written:
                if written[name][0] != size:
                    raise ValueError(f"{file}: image {name} is also in {written[name][1]} and would be packed at "
                                     f"another size there; give each image to one annotation file")
                continue
            image = dataset.load_image(image_id)
            small = Image.fromarray(image).resize((size[1], size[0]), Image.Resampling.LANCZOS)
            atomic_write(out / "images" / name, lambda tmp: small.save(tmp, format="JPEG", quality=quality))
            written[name] = (size, file)
        packed_file = out / "annotations" / file.name
        write_json(packed_file, data)
        if source_maps is not None:
            packed = CocoPersons(packed_file)
            for image_id, (size, _) in tqdm(sources.items(), desc=f"score maps {file.name}", disable=not progress,
                                            unit="img"):
                original = source_maps(file, image_id, dataset.load_image(image_id),
                                       dataset.persons(image_id, with_masks=False))
                small = Image.fromarray(original.astype(np.float32)).resize((size[1], size[0]),
                                                                            Image.Resampling.BILINEAR)
                path = pack_maps.path(packed_file, image_id, packed.persons(image_id, with_masks=False))
                quantised = quantise_score(np.asarray(small))
                atomic_write(path, lambda tmp: Image.fromarray(quantised).save(tmp, format="PNG"))
        summary["files"][file.name] = {
            "source": str(file), "held_out_fraction": fraction, "images": len(kept), "held_out_images": len(held),
            "annotations": len(data["annotations"]),
            "scale": {"min": round(min(scales), 4), "median": round(float(np.median(scales)), 4)} if scales else None}
    summary["bytes"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    write_json(out / "pack.json", summary, indent=1)
    return summary
