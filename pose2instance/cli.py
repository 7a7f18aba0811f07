"""``pose2instance``: one command with subcommands (segment, evaluate, train, pack, export-onnx, demo, serve)."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import __version__
from .errors import phrase
from .estimators import ESTIMATORS
from .fusion import MIN_TEMPERATURE, FusionOptions
from .limits import KEEP_JOBS, MAX_UPLOAD_MB, add_limit_arguments, apply_limit_arguments, number_in, positive_int
from .parallel import WorkerDied, default_workers, ordered_map
from .registry import FUSION_PRIORS, METHODS, score_help
from .segment import DEFAULT_SCORE, SegmentOptions, Segmenter, default_scorer, demo_files, read_people

ESTIMATOR_CHOICES = ("auto", *ESTIMATORS)
#: How the command line phrases the hints of input errors and warnings (pose2instance.errors).
CLI_HINTS = {"image_id": "pass --image-id", "limit": "raise it with --{option}"}


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings as one line, their hints in the command line's words."""
    return f"warning: {phrase(message, CLI_HINTS)}\n"


def _fusion_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("fusion")
    g.add_argument("--temperature", type=number_in(MIN_TEMPERATURE), default=0.1,
                   help="softmax temperature over people, in image reference scales")
    g.add_argument("--box-weight", type=number_in(0.0, 1e6), default=100.0,
                   help="weight of the box term (0 = ignore boxes)")
    g.add_argument("--background", choices=("score", "threshold"), default="score",
                   help="background rule: 1 - score competes with people, or score < 0.5")
    g.add_argument("--no-box-limit", action="store_true",
                   help="let a person take score pixels outside its box (the paper's fusion; worse here)")


def _fusion_options(args) -> FusionOptions:
    return FusionOptions(temperature=args.temperature, box_weight=args.box_weight, background=args.background,
                         box_limit=not args.no_box_limit)


class _HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: ...)`` only for options that have a real default."""

    def _get_help_string(self, action):
        return action.help if action.default in (None, False) else super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pose2instance", description="Person instance segmentation guided by "
                                     "human keypoints (Pose2Instance, arXiv 1704.01152).")
    parser.add_argument("--version", action="version", version=f"pose2instance {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    fmt = {"formatter_class": _HelpWithDefaults}

    seg = sub.add_parser("segment", help="masks for the people of one image, or of many", **fmt,
                         description="One mask per person of each IMAGE from keypoints and a person score. Without "
                                     "--keypoints a pose estimator finds the people. Writes <stem>_results.json "
                                     "(COCO results, RLE) and <stem>_overlay.png to --out; for several images also "
                                     "results.json with all of them.")
    seg.add_argument("images", type=Path, nargs="+", metavar="IMAGE",
                     help="photos (any format Pillow reads) or folders of photos")
    seg.add_argument("--workers", type=positive_int, default=None,
                     help="processes for several images (default: the number of cores)")
    seg.add_argument("--keypoints", type=Path,
                     help="COCO annotation or keypoint results file (any pose estimator), OpenPose JSON "
                          "(BODY_25/COCO-18) or MediaPipe landmarks JSON; default: estimate them with --estimator")
    seg.add_argument("--estimator", choices=ESTIMATOR_CHOICES, default="auto",
                     help="pose estimator when no --keypoints: yolo (AGPL extra) if installed, else blazepose")
    seg.add_argument("--boxes", type=Path, help="person boxes for the estimator (COCO annotation or detection "
                     "results file); default: the estimator detects people")
    seg.add_argument("--image-id", type=int, help="which image of the keypoints/boxes file (default: by file "
                     "name, or the only one)")
    seg.add_argument("--prior", choices=FUSION_PRIORS, default="geodesic", help="keypoint prior "
                     "(heatmap-gdt needs estimator heatmaps: BlazePose)")
    seg.add_argument("--score", default=None, help=f"person score (default {DEFAULT_SCORE}): {score_help()}")
    seg.add_argument("--out", type=Path, default=Path("pose2instance_out"), help="output folder")
    _fusion_args(seg)
    add_limit_arguments(seg)

    ev = sub.add_parser("evaluate", help="evaluate methods on a COCO person dataset", **fmt,
                        description="Runs every method on every image and reports per-instance IoU, accuracy "
                                    "at IoU thresholds, mean IoU and COCO segmentation AP (pycocotools).")
    ev.add_argument("--annotations", type=Path, required=True, help="COCO person keypoints annotation file")
    ev.add_argument("--images", type=Path, help="image folder (default: images/ beside annotations/)")
    ev.add_argument("--methods", nargs="+", default=["box", "oracle-box", "euclidean", "geodesic"],
                    choices=METHODS, metavar="METHOD", help=f"from {', '.join(METHODS)}")
    ev.add_argument("--score", default="oracle", help=f"person score: {score_help()}")
    ev.add_argument("--learned-model", type=Path, help="checkpoint of the learned method (default: the shipped one)")
    ev.add_argument("--keypoints", default="gt", metavar="gt|estimated|PATH",
                    help="ground-truth keypoints and boxes (default), estimated by --estimator, a COCO keypoint "
                         "results file of any pose estimator, or a folder of per-image OpenPose / MediaPipe files "
                         "(<image stem>.json or <image stem>_keypoints.json)")
    ev.add_argument("--estimator", choices=ESTIMATOR_CHOICES, default="auto",
                    help="with --keypoints estimated: yolo (AGPL extra) if installed, else blazepose")
    ev.add_argument("--subset", choices=("keypoints", "all"), default="keypoints",
                    help="evaluate persons with keypoints (default) or all non-crowd persons")
    ev.add_argument("--ignore-duplicates", action="store_true",
                    help="leave out both annotations of a pair whose ground-truth masks overlap with IoU >= 0.8 "
                         "(one person labelled twice; reported either way)")
    ev.add_argument("--baseline", default="oracle-box", choices=METHODS, help="relative improvements are over it")
    ev.add_argument("--limit", type=positive_int, help="only the first N images (after --held-out)")
    ev.add_argument("--held-out", type=float, metavar="F",
                    help="only the images a training run with --val-fraction F (and --split-seed) holds out of this "
                         "file: pose2instance.evaluation.split_image_ids")
    ev.add_argument("--split-seed", type=int, default=0, help="seed of --held-out's split by image id")
    ev.add_argument("--part", choices=("held-out", "train"), default="held-out",
                    help="with --held-out: evaluate the held-out images, or the training part (to choose "
                         "options without touching the held-out images)")
    ev.add_argument("--workers", type=positive_int, default=None,
                    help="processes predicting images (default: the number of cores); the report is the same "
                         "for any number")
    ev.add_argument("--shard", metavar="K/N", help="evaluate only images K, K+N, K+2N ... of the selection and "
                    "write OUT/shard.json, to be merged with --merge")
    ev.add_argument("--merge", type=Path, nargs="+", metavar="DIR",
                    help="merge the shard.json of these --shard runs into the report of one run (no prediction)")
    ev.add_argument("--dask", metavar="ADDRESS", help="run the shards on the Dask cluster at ADDRESS "
                    "(tcp://host:8786), or local:N for N local worker processes, then merge them (dask extra)")
    ev.add_argument("--shards", type=positive_int, help="with --dask: number of shards (default: the workers)")
    ev.add_argument("--out", type=Path, default=Path("pose2instance_eval"), help="output folder")
    ev.add_argument("--overwrite", action="store_true", help="replace the report of an earlier run in --out "
                    "(its metrics.json, table.md, accuracy.png and results_*.json are removed first)")
    _fusion_args(ev)
    add_limit_arguments(ev)

    sub.add_parser("train", help="train a person-crop network (needs torch; torchrun for many GPUs)",
                   description="see `pose2instance train --help`", add_help=False)

    pack = sub.add_parser("pack", help="a compact training pack to train elsewhere (e.g. on a GPU machine)", **fmt,
                          description="Writes the images of COCO person files (minus a held-out part, by image id) "
                                      "downscaled, their annotations scaled to match, and the cached score maps of "
                                      "--score-input, so `train` runs on a machine without the data or MediaPipe "
                                      "(with POSE2INSTANCE_CACHE=OUT/cache). See pose2instance.learned.pack.")
    pack.add_argument("--annotations", type=Path, nargs="+", required=True, help="COCO person annotation files")
    pack.add_argument("--held-out-fraction", type=float, nargs="+", default=[], metavar="F",
                      help="per file, the fraction of images left out of the pack (as train --held-out-fraction)")
    pack.add_argument("--split-seed", type=int, default=0, help="seed of that split by image id")
    pack.add_argument("--score-input", choices=("blazepose",), help="also pack this score input's maps")
    pack.add_argument("--side", type=number_in(8.0, 4096.0), default=192.0,
                      help="pixels kept across the smallest person's crop window (images are shrunk to it)")
    pack.add_argument("--margin", type=number_in(1.0, 10.0), default=1.25,
                      help="train's --margin (crop side over the box's side)")
    pack.add_argument("--min-area", type=number_in(0.0), default=400.0,
                      help="train's --min-area: no person that trains is shrunk below it")
    pack.add_argument("--quality", type=int, choices=range(1, 101), metavar="1-100", default=90,
                      help="JPEG quality (1-100)")
    pack.add_argument("--out", type=Path, required=True, help="the pack folder")
    pack.add_argument("--overwrite", action="store_true", help="replace an earlier pack in --out")
    add_limit_arguments(pack)

    demo = sub.add_parser("demo", help="run offline on the photo shipped with the package", **fmt,
                          description="Segments the shipped COCO photo 790 (CC BY 2.0) from its ground-truth "
                                      "keypoints, prints each person's IoU next to the oracle-box baseline and "
                                      "writes the overlay.")
    demo.add_argument("--score", default=None, help=f"person score (default {DEFAULT_SCORE}; blazepose, then the "
                      "oracle, if ONNX Runtime or LiteRT is missing)")
    demo.add_argument("--prior", choices=FUSION_PRIORS, default="geodesic", help="keypoint prior")
    demo.add_argument("--out", type=Path, default=Path("pose2instance_demo"), help="output folder")
    _fusion_args(demo)
    add_limit_arguments(demo)

    export = sub.add_parser("export-onnx", help="export a trained network to ONNX (runs without torch)", **fmt,
                            description="Writes the mask output of a PyTorch checkpoint as one .onnx file, its model "
                                        "config in the file's metadata. Use it as `--score learned:OUT.onnx` or "
                                        "`--learned-model OUT.onnx`: ONNX Runtime runs it on the CPU, without torch. "
                                        "Needs the torch extra.")
    export.add_argument("model", type=Path, help="checkpoint: a .safetensors file or a training run folder")
    export.add_argument("out", type=Path, help="the .onnx file to write")
    export.add_argument("--check", action="store_true", help="then run both on random crops and print the largest "
                        "difference of the mask logits")
    add_limit_arguments(export)

    srv = sub.add_parser("serve", help="a local web page to try it on your own photos", **fmt,
                         description="Starts a web page: upload a photo (or use the demo photo), optionally keypoint, "
                                     "box and ground-truth files, choose estimator, score and prior, see each "
                                     "person's mask, confidence, IoU and the timings, download the COCO results "
                                     "and the masks. Models load once, at start.")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1: this machine only)")
    srv.add_argument("--port", type=int, default=8000, help="port (0: any free one)")
    srv.add_argument("--max-upload-mb", type=float, default=MAX_UPLOAD_MB,
                     help="largest request (photo and files together), in MB")
    srv.add_argument("--keep-jobs", type=positive_int, default=KEEP_JOBS,
                     help="finished requests whose files are kept for download")
    srv.add_argument("--temp-dir", type=Path, help="where the server's temporary folder is made (default: the "
                     "system's); it is removed when the server stops")
    srv.add_argument("--verbose", action="store_true", help="log every request")
    add_limit_arguments(srv)
    return parser


def _write_outputs(image_path: Path, image: np.ndarray, done, out: Path) -> tuple[Path, Path]:
    """Write ``<stem>_results.json`` (COCO results) and ``<stem>_overlay.png`` of a segmented photo to ``out``."""
    from .io import write_results
    from .visualize import draw_overlay, save_png

    results_path = write_results(out / f"{image_path.stem}_results.json", done.entries)
    overlay_path = save_png(draw_overlay(image, done.masks, done.persons), out / f"{image_path.stem}_overlay.png")
    return results_path, overlay_path


def _people(n: int) -> str:
    return f"{n} person" if n == 1 else f"{n} people"


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def _image_paths(paths: list[Path]) -> list[Path]:
    """The photos named, folders expanded to their image files (sorted); output stems must be unique."""
    out = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise ValueError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
            out += found
        else:
            out.append(path)
    stems = [p.stem for p in out]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise ValueError(f"several images are named {twice[:3]}: their outputs <stem>_results.json would collide")
    return out


def _batch_image_id(path: Path, position: int) -> int:
    """The image id of a photo of a batch without an id from a keypoints file: its numeric stem, else its position."""
    return int(path.stem) if path.stem.isdigit() else position


def cmd_segment(args) -> int:
    from .io import check_image_file, write_results

    paths = _image_paths(args.images)
    if len(paths) == 1:  # a missing or unreadable photo is refused before any model loads (a batch goes on)
        check_image_file(paths[0])
    if len(paths) > 1 and args.image_id is not None:
        raise ValueError("--image-id picks the image of a keypoints file for one photo; give one IMAGE with it")
    if args.keypoints is not None and args.boxes is not None:
        raise ValueError("--boxes is for the pose estimator; --keypoints already gives the people")
    _check_out_folder(args.out)  # fail on a bad --out before any work
    segmenter = Segmenter(SegmentOptions(args.score, args.prior, _fusion_options(args), args.estimator))
    if args.keypoints is None and segmenter.scorer.needs_masks:
        raise ValueError("--score oracle needs ground-truth masks: pass --keypoints with a COCO annotation file")
    if args.keypoints is None:
        segmenter.estimator  # built now: a missing extra is refused before any photo, and forked workers share it
    if len(paths) == 1:
        _print_segmented(_segment_path(paths[0], args, segmenter, args.image_id, keep_going=False))
        return 0
    # with a keypoints or boxes file each photo is found in it by file name (and takes its id there);
    # people estimated without one get an id of their own
    from_file = args.keypoints is not None or args.boxes is not None
    jobs = [(path, None if from_file else _batch_image_id(path, i + 1)) for i, path in enumerate(paths)]
    entries, failed = [], 0
    finished = ordered_map(lambda job: _segment_path(job[0], args, segmenter, job[1]), jobs,
                           args.workers or default_workers())
    for done in tqdm(finished, total=len(jobs), desc="segment", unit="img"):
        if "error" in done:
            failed += 1
            tqdm.write(f"FAILED {done['image']}: {done['error']}", file=sys.stderr)
            continue
        entries += done["entries"]
    combined = write_results(args.out / "results.json", entries)
    print(f"{len(jobs) - failed} of {len(jobs)} images segmented ({len(entries)} people); wrote {combined} and "
          f"<stem>_results.json, <stem>_overlay.png per image" + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


def _segment_path(path: Path, args, segmenter: Segmenter, image_id: int | None, keep_going: bool = True) -> dict:
    """People, score, masks and outputs of one photo; with ``keep_going``, ``{"image", "error"}`` instead of raising
    (a batch goes on with the next photo). What a batch's workers send back: no masks, no score map."""
    from .io import load_image

    try:
        image = load_image(path)
        persons, boxes, image_id = read_people(path, image.shape[:2], args.keypoints, args.boxes, image_id)
        done = segmenter.run(image, persons, boxes, path, image_id)
        results, overlay = _write_outputs(path, image, done, args.out)
    except Exception as e:
        if not keep_going:
            raise
        return {"image": str(path), "error": phrase(e, CLI_HINTS) if isinstance(e, (ValueError, OSError))
                else f"{type(e).__name__}: {e}"}
    return {"image": str(path), "results": results, "overlay": overlay, "entries": done.entries,
            "people": len(done.persons), "estimator": done.estimator, "notes": done.notes,
            "timing_ms": done.timing_ms, "scorer": segmenter.scorer.name, "prior": segmenter.options.prior}


def _print_segmented(done: dict) -> None:
    notes = list(done["notes"])
    if done["estimator"]:  # "N people found by X in T ms" on stdout, as the result it is
        print(notes.pop(0))
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    timing = done["timing_ms"]
    print(f"{_people(done['people'])}, person score: {done['scorer']}, prior: {done['prior']} "
          f"({timing['person score']:.0f} ms score, {timing['prior + fusion']:.0f} ms prior+fusion)")
    print(f"wrote {done['results']}\nwrote {done['overlay']}")


def cmd_evaluate(args) -> int:
    from .cluster import parse_shard, run_on_dask
    from .evaluation import format_tables, merge_shards
    from .io import CocoPersons, read_json, write_json

    inputs = [args.annotations] + ([Path(args.keypoints)] if args.keypoints not in ("gt", "estimated") else [])
    with _claim_out_folder(args.out, args.overwrite, keep=inputs):  # before any work: a bad --out loses nothing
        dataset = CocoPersons(args.annotations, args.images)
        if args.shard:  # before --dask and --merge: a shard's command is the whole command plus --shard
            (k, n), selected = parse_shard(args.shard), _selected_ids(args, dataset)
            report = _evaluate_images(args, dataset, selected[k::n], shard=True)
            report["shard"] = {"k": k, "n": n, "selected_images": len(selected)}
            write_json(args.out / "shard.json", report)
            print(f"shard {k} of {n}: {report['images']} images; wrote {args.out}/shard.json")
            return 1 if report["failed"] and not report["images"] else 0
        if args.merge or args.dask:
            files = [Path(d) / "shard.json" for d in args.merge] if args.merge else None
            shards = [read_json(f) for f in files] if files else \
                run_on_dask(args.dask, args.argv, args.out, args.shards, main)
            report = merge_shards(dataset, shards, args.out, args.baseline, [str(f) for f in files or []])
            if args.merge and args.ignore_duplicates != report["duplicates_ignored"]:
                print(f"note: the shards were evaluated {'with' if report['duplicates_ignored'] else 'without'} "
                      "--ignore-duplicates, and --merge keeps what they did", file=sys.stderr)
            print(format_tables(report))
            print(f"merged {len(shards)} shard(s); wrote {args.out}/metrics.json, table.md, accuracy.png, "
                  "results_<method>.json")
            return 1 if report["failed"] and not report["images"] else 0
        report = _evaluate_images(args, dataset, _selected_ids(args, dataset))
        print(format_tables(report))
        print(f"wall time {report['wall_s']:.1f} s; stage time (s, summed over {report['workers']} worker(s)):",
              ", ".join(f"{k} {v:.2f}" for k, v in report["timing_s"].items()))
        for f in report["failed"]:
            print(f"FAILED image {f['image_id']}: {f['error']}", file=sys.stderr)
        print(f"wrote {args.out}/metrics.json, table.md, accuracy.png, results_<method>.json")
        return 1 if report["failed"] and not report["images"] else 0


def _selected_ids(args, dataset) -> list[int]:
    """The images the options select: all, or the ``--held-out`` part (or its complement), then ``--limit``."""
    from .evaluation import split_image_ids
    ids = dataset.image_ids
    if args.held_out is not None:
        ids = split_image_ids(ids, args.held_out, args.split_seed)[args.part == "held-out"]
    return ids[: args.limit] if args.limit else ids


def _evaluate_images(args, dataset, ids: list[int], shard: bool = False) -> dict:
    """Run the methods over ``ids``; a shard writes no report of its own and keeps the per-image records."""
    from .estimators import make_estimator
    from .evaluation import evaluate_dataset
    from .io import load_people_per_image
    from .registry import make_methods

    scorer = default_scorer(args.score, allow_oracle_fallback=False)
    estimator = results = None
    if args.keypoints == "estimated":
        estimator = make_estimator(args.estimator)
    elif args.keypoints != "gt":
        results = load_people_per_image(args.keypoints, dataset)
    methods = make_methods(args.methods, learned_model=args.learned_model, **_fusion_options(args).keywords())
    return evaluate_dataset(dataset, methods, scorer, None if shard else args.out, args.subset, args.baseline, ids,
                            estimator=estimator, keypoint_results=results, keypoints_name=Path(args.keypoints).name,
                            workers=args.workers or default_workers(), with_state=shard,
                            ignore_duplicates=args.ignore_duplicates)


def _check_out_folder(out: Path) -> None:
    """``out`` is, or can be made, a writable folder; a clear error naming it otherwise."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out} is not writable")


def _claim_out_folder(out: Path, overwrite: bool, keep: list[Path] = ()):
    """Make ``out`` this run's report folder; returns the open lock file (keep it open while writing).

    ``out`` must be, or become, a writable folder that no other ``evaluate`` is writing to (an
    advisory lock on ``out/.pose2instance.lock``, released when the process ends, even killed),
    and must not hold an earlier report unless ``overwrite``, which removes that report's files
    (except the input files in ``keep``).
    """
    from .evaluation import report_files

    _check_out_folder(out)
    lock = open(out / ".pose2instance.lock", "a")
    try:
        import fcntl
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # not POSIX: no lock
        pass
    except OSError:
        lock.close()
        raise ValueError(f"--out {out} is in use by another pose2instance evaluate; choose another folder") from None
    old = report_files(out)
    if old and not overwrite:
        lock.close()
        raise ValueError(f"--out {out} holds the report of an earlier run ({', '.join(p.name for p in old[:4])}"
                         f"{' ...' if len(old) > 4 else ''}); pass --overwrite to replace it, or choose another folder")
    inputs = {p.resolve() for p in keep}
    for path in old:
        if path.resolve() not in inputs:
            path.unlink()
    return lock


def cmd_demo(args) -> int:
    from .evaluation import paired_iou
    from .fusion import oracle_box_masks
    from .io import CocoPersons

    photo, annotations = demo_files()
    dataset = CocoPersons(annotations, photo.parent)
    image_id = 790
    persons = dataset.persons(image_id)
    segmenter = Segmenter(SegmentOptions(args.score, args.prior, _fusion_options(args), allow_oracle_fallback=True))
    image = dataset.load_image(image_id)
    done = segmenter.run(image, persons, image_path=photo, image_id=image_id)
    results, overlay = _write_outputs(photo, image, done, args.out)
    ious = paired_iou(done.masks, persons.masks)
    baseline = paired_iou(oracle_box_masks(persons, done.score), persons.masks)
    print(f"COCO image 790 (CC BY 2.0, see {annotations} for attribution): "
          f"{_people(len(persons))}, ground-truth keypoints, person score: {segmenter.scorer.name}, "
          f"prior: {args.prior}")
    print("person  annotation_id  IoU(pose2instance)  IoU(oracle-box baseline)")
    for i, (a, b) in enumerate(zip(ious, baseline)):
        print(f"{i:6d}  {persons.ids[i]:13d}  {a:18.3f}  {b:24.3f}")
    print(f"mean    {'':13s}  {ious.mean():18.3f}  {baseline.mean():24.3f}")
    print(f"wrote {overlay}\nwrote {results}")
    return 0


def cmd_pack(args) -> int:
    try:
        from .learned.pack import build_pack
    except ImportError as e:
        raise ImportError(f'{e}; pip install "pose2instance[torch]"') from e
    summary = build_pack(args.annotations, args.out, args.held_out_fraction, args.split_seed, args.score_input,
                         args.side, args.margin, args.min_area, args.quality, overwrite=args.overwrite)
    for name, f in summary["files"].items():
        print(f"{name}: {f['images']} images packed, {f['held_out_images']} held out"
              + (f" (and {f['held_out_of_another_file']} held out of another file)"
                 if f["held_out_of_another_file"] else "")
              + f"; scale median {f['scale']['median'] if f['scale'] else '-'}")
    print(f"wrote {args.out} ({summary['bytes'] / 2**20:.1f} MiB); train on it with POSE2INSTANCE_CACHE="
          f"{args.out / 'cache'} and --annotations {args.out / 'annotations'}/...")
    return 0


def cmd_export_onnx(args) -> int:
    if args.out.suffix.lower() != ".onnx":
        raise ValueError(f"{args.out}: the output file must end in .onnx")
    from .learned.config import checkpoint_config
    checkpoint_config(args.model)  # a missing or bad checkpoint is refused before torch loads
    try:
        from .learned.models import load_model
        from .learned.onnx_net import OnnxPredictor, export_onnx
        model = load_model(args.model, "cpu")
    except ImportError as e:
        raise ImportError(f'{e}; export-onnx needs the torch extra: pip install "pose2instance[torch]"') from e
    export_onnx(model, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB)")
    if args.check:
        import torch
        config = model.config
        x = torch.rand(4, config.in_channels, config.crop_size, config.crop_size,
                       generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            reference = model(x)["mask"][:, 0].numpy()
        got = OnnxPredictor(args.out).run(x.numpy())
        print(f"mask logits on 4 random crops: largest difference {np.abs(got - reference).max():.2e} "
              f"(their range {np.ptp(reference):.3g})")
    return 0


def cmd_serve(args) -> int:
    from .web import serve
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be 0..65535, got {args.port}")
    if not 0 < args.max_upload_mb < 1e6:
        raise ValueError(f"--max-upload-mb must be a positive number of MB below a million, got {args.max_upload_mb}")
    try:
        serve(args.host, args.port, args.max_upload_mb, args.keep_jobs, args.temp_dir, args.verbose)
    except KeyboardInterrupt:
        print("\nstopped; the temporary folder was removed", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train"]:  # its options live with the torch code, imported only here
        try:
            from .learned.train import main as train_main
        except ImportError as e:
            print(f'pose2instance train: error: {e}; pip install "pose2instance[torch]"', file=sys.stderr)
            return 2
        return train_main(argv[1:])
    args = build_parser().parse_args(argv)
    apply_limit_arguments(args)
    warnings.formatwarning = _format_warning
    args.argv = argv
    commands = {"segment": cmd_segment, "evaluate": cmd_evaluate, "demo": cmd_demo, "serve": cmd_serve,
                "pack": cmd_pack, "export-onnx": cmd_export_onnx}
    try:
        return commands[args.command](args)
    except BrokenPipeError:  # the reader went away (`pose2instance demo | head`): nothing to tell it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141
    except (ValueError, ImportError, OSError, WorkerDied) as e:  # our errors name the bad input
        print(f"pose2instance {args.command}: error: {phrase(e, CLI_HINTS)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        out = Path(args.out) if args.command == "evaluate" else None
        left = sorted(p.name for p in out.glob("results_*.json")) if out and not (out / "metrics.json").is_file() \
            else []
        note = f"; {', '.join(left)} in {out} may be of an unfinished report (metrics.json is written last)" \
            if left else ""
        print(f"\npose2instance {args.command}: interrupted before the end{note}. Every file is written whole, "
              "so none is half-written.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
