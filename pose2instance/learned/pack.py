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
area would fall below ``min_area`` (those people would otherwise drop out of training), and
the packed size is rounded up, so neither factor (x, y) falls below ``s``.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..evaluation.splits import split_image_ids
from ..io import CocoPersons, write_json
from ..io.jsonio import atomic_write
from ..io.rle import mask_to_rle
from .score_maps import CachedScoreMaps, default_cache, quantise_score

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


def _scaled_annotation(ann: dict, scale: tuple[float, float], size: tuple[int, int], old_size: tuple[int, int],
                       dataset: CocoPersons) -> dict:
    """A copy of annotation ``ann`` in an image resized by ``scale = (sx, sy)`` to ``size = (H, W)``; masks as
    compressed RLE."""
    sx, sy = scale
    out = copy.deepcopy(ann)
    x, y, w, h = (float(v) for v in ann["bbox"])
    out["bbox"] = [x * sx, y * sy, w * sx, h * sy]
    if "area" in ann:
        out["area"] = float(ann["area"]) * sx * sy
    if ann.get("keypoints"):
        kp = np.asarray(ann["keypoints"], np.float64).reshape(-1, 3)
        kp[:, 0] *= sx
        kp[:, 1] *= sy
        out["keypoints"] = [round(float(v), 3) for v in kp.ravel()]
    if ann.get("segmentation"):
        mask = dataset.mask_of(ann)
        if mask.shape != old_size:
            raise ValueError(f"{dataset.path}: annotation {ann.get('id')} mask is {mask.shape}, not {old_size}")
        small = Image.fromarray(mask.astype(np.uint8) * 255).resize((size[1], size[0]), Image.Resampling.BILINEAR)
        rle = mask_to_rle(np.asarray(small) >= 128)
        out["segmentation"] = {"size": rle["size"], "counts": rle["counts"]}
    return out


PACK_PARTS = ("annotations", "images", "cache", "pack.json")
#: Written into ``--out`` before anything else: the folder's pack parts are this command's to replace.
PACK_MARKER = ".pose2instance-pack"


def _made_by_pack(out: Path) -> bool:
    """Whether ``out`` holds a pack this command wrote: its marker, or (packs from before the marker) a
    ``pack.json`` with a pack's fields."""
    if (out / PACK_MARKER).is_file():
        return True
    try:
        summary = json.loads((out / "pack.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return False
    return isinstance(summary, dict) and {"side", "margin", "files"} <= set(summary)


def _prepare_out(out: Path, sources: Sequence[CocoPersons], score_cache: Path | None, overwrite: bool) -> None:
    """Refuse an output that would overwrite the sources, or hold files this command did not make; replace an
    earlier pack with ``overwrite``, and a pack that stopped part-way (marker, no ``pack.json``) always.

    Only the pack's own parts (:data:`PACK_PARTS`) are ever deleted, and only where the marker says they are a pack's.
    """
    for ds in sources:
        if (out / "annotations" / ds.path.name).resolve() == ds.path.resolve() or \
                (out / "images").resolve() == ds.image_dir.resolve():
            raise ValueError(f"--out {out} would overwrite {ds.path} or its images; choose a new folder")
    if score_cache is not None and Path(score_cache).resolve() == (out / "cache").resolve():
        raise ValueError(f"the source score cache {score_cache} is the pack's own cache folder; unset "
                         "POSE2INSTANCE_CACHE (or point it elsewhere) while packing")
    earlier = [out / part for part in PACK_PARTS if (out / part).exists()]
    if earlier and not _made_by_pack(out):
        raise ValueError(f"--out {out} holds {', '.join(p.name for p in earlier)} that pose2instance pack did not "
                         "write; nothing was deleted: choose a new or empty folder")
    finished = (out / "pack.json").is_file()
    if earlier and finished and not overwrite:
        raise ValueError(f"--out {out} already holds a pack ({', '.join(p.name for p in earlier)}); pass --overwrite "
                         "to replace it")
    if earlier and not finished:
        warnings.warn(f"{out} holds a pack that stopped part-way; it is replaced")
    for path in earlier:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / PACK_MARKER).write_text("pose2instance pack: annotations/, images/, cache/ and pack.json here are "
                                   "replaced by `pose2instance pack --overwrite`\n", encoding="utf-8")


def build_pack(annotation_files: Sequence[str | Path], out: str | Path, held_out_fraction: Sequence[float] = (),
               split_seed: int = 0, score_input: str | None = None, side: float = DEFAULT_SIDE,
               margin: float = 1.25, min_area: float = 400.0, quality: int = 90, score_cache: str | Path | None = None,
               overwrite: bool = False, progress: bool = True) -> dict:
    """Write a training pack of ``annotation_files`` to ``out`` (see the module doc); returns ``pack.json``'s content.

    Args:
        annotation_files: COCO person files (their images in ``images/`` beside ``annotations/``), distinct names.
        out: the pack folder (created).
        held_out_fraction: per file, the fraction of images (by image id) left out; missing values are 0. An image
            held out of one file is left out of every other file that lists it too (matched by file name, as
            ``train`` matches them).
        split_seed: seed of that split.
        score_input: a :data:`~pose2instance.learned.score_maps.SCORE_INPUTS` name to pack the score maps of.
        side, margin, min_area: see :func:`pack_scale` (``margin`` and ``min_area`` as ``train`` will use them).
        quality: JPEG quality (1-100) of the packed images.
        score_cache: where the original images' score maps are cached (default: the usual cache).
        overwrite: replace an earlier pack in ``out`` (refused otherwise).
    """
    out = Path(out)
    files = [Path(f) for f in annotation_files]
    if len(held_out_fraction) > len(files):
        raise ValueError(f"--held-out-fraction has {len(held_out_fraction)} values for {len(files)} annotation "
                         "file(s)")
    fractions = [float(f) for f in held_out_fraction] + [0.0] * (len(files) - len(held_out_fraction))
    if not all(0.0 <= f <= 1.0 for f in fractions):
        raise ValueError(f"--held-out-fraction values must be from 0 to 1, got {fractions}")
    if not side > 0 or not 1 <= quality <= 100:
        raise ValueError(f"--side must be positive and --quality from 1 to 100, got {side} and {quality}")
    names = [f.name for f in files]
    if len(set(names)) < len(names):
        raise ValueError(f"the annotation files must have distinct names, got {names}")
    datasets = [CocoPersons(f) for f in files]
    source_maps = CachedScoreMaps(score_input, score_cache) if score_input else None
    _prepare_out(out, datasets, Path(score_cache or default_cache()) if score_input else None, overwrite)
    pack_maps = CachedScoreMaps(score_input, out / "cache") if score_input else None
    splits = [split_image_ids(ds.image_ids, f, split_seed) for ds, f in zip(datasets, fractions)]
    held_names = {Path(ds.image(i)["file_name"]).name for ds, (_, held) in zip(datasets, splits) for i in held}
    summary = {"side": side, "margin": margin, "min_area": min_area, "quality": quality, "split_seed": split_seed,
               "score_input": score_input, "files": {}}
    written: dict[str, tuple[Path, tuple[int, int]]] = {}  # packed image name -> (source image, packed size)
    for dataset, fraction, (kept, held) in zip(datasets, fractions, splits):
        file = dataset.path
        elsewhere = {i for i in kept if Path(dataset.image(i)["file_name"]).name in held_names}
        kept = [i for i in kept if i not in elsewhere]
        data = {k: v for k, v in dataset.data.items() if k not in ("images", "annotations")}
        data["images"], data["annotations"], scales, sizes = [], [], [], {}
        for image_id in tqdm(kept, desc=f"pack {file.name}", disable=not progress, unit="img"):
            entry = dataset.image(image_id)
            h, w = dataset.image_size(image_id)
            anns = dataset.annotations(image_id)
            people = [a for a in anns if not a.get("iscrowd", 0)]
            s = pack_scale(np.array([a["bbox"] for a in people], np.float64).reshape(-1, 4),
                           np.array([float(a.get("area", a["bbox"][2] * a["bbox"][3])) for a in people]),
                           side, margin, min_area)
            size = (min(h, math.ceil(h * s)), min(w, math.ceil(w * s)))  # rounded up: no factor falls below s
            scale = (size[1] / w, size[0] / h)
            scales.append(min(scale))
            data["images"].append({**entry, "height": size[0], "width": size[1]})
            data["annotations"] += [_scaled_annotation(a, scale, size, (h, w), dataset) for a in anns]
            sizes[image_id] = size
            _pack_image(dataset, image_id, size, out, quality, written)
        packed_file = out / "annotations" / file.name
        write_json(packed_file, data)
        if source_maps is not None:
            packed = CocoPersons(packed_file)
            for image_id, size in tqdm(sizes.items(), desc=f"score maps {file.name}", disable=not progress,
                                       unit="img"):
                original = source_maps(file, image_id, dataset.load_image(image_id), _people(dataset, image_id))
                small = Image.fromarray(original.astype(np.float32)).resize((size[1], size[0]),
                                                                            Image.Resampling.BILINEAR)
                path = pack_maps.path(packed_file, image_id, _people(packed, image_id))
                quantised = quantise_score(np.asarray(small))
                atomic_write(path, lambda tmp: Image.fromarray(quantised).save(tmp, format="PNG"))
        summary["files"][file.name] = {
            "source": str(file), "held_out_fraction": fraction, "images": len(kept), "held_out_images": len(held),
            "held_out_of_another_file": len(elsewhere), "annotations": len(data["annotations"]),
            "scale": {"min": round(min(scales), 4), "median": round(float(np.median(scales)), 4)} if scales else None}
    summary["bytes"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    write_json(out / "pack.json", summary, indent=1)
    return summary


def _people(dataset: CocoPersons, image_id: int):
    """The image's persons without masks, as training reads them (keypoint repairs are warned about elsewhere)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return dataset.persons(image_id, with_masks=False)


def _pack_image(dataset: CocoPersons, image_id: int, size: tuple[int, int], out: Path, quality: int,
                written: dict[str, tuple[Path, tuple[int, int]]]) -> None:
    """Write the image shrunk to ``size`` as ``out/images/<file_name>`` once; refuse two images under one name."""
    name, source = str(dataset.image(image_id)["file_name"]), dataset.image_path(image_id).resolve()
    if name in written:
        if written[name] != (source, size):
            raise ValueError(f"{dataset.path}: image {name} ({source}, packed at {size[1]}x{size[0]}) and "
                             f"{written[name][0]} (packed at {written[name][1][1]}x{written[name][1][0]}) would "
                             "share one file in the pack")
        return
    small = Image.fromarray(dataset.load_image(image_id)).resize((size[1], size[0]), Image.Resampling.LANCZOS)
    atomic_write(out / "images" / name, lambda tmp: small.save(tmp, format="JPEG", quality=quality))
    written[name] = (source, size)
