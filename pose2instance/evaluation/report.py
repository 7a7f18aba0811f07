"""The evaluation report: markdown tables (printed and written) and the report files.

:func:`write_report` writes, atomically, ``metrics.json`` (strict JSON), ``results_<method>.json``
(COCO results, RLE), ``accuracy.png`` and ``table.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import atomic_write_text, write_json, write_results
from ..visualize import plot_accuracy_curves
from .metrics import AP_NAMES, IOU_THRESHOLDS, InstanceEvaluator

ACC_COLUMNS = [f"acc@{t:g}" for t in IOU_THRESHOLDS]
TABLE_COLUMNS = ["count", "mean_iou", *ACC_COLUMNS, "AP", "AP50", "AP75"]
RELATIVE_COLUMNS = ["mean_iou", *ACC_COLUMNS, *AP_NAMES[:3]]


def markdown_table(rows: dict[str, dict], columns: list[str], percent: bool = False) -> str:
    """A markdown table: one row per method (``rows`` name -> metrics), given ``columns``."""
    head = "| method | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns) + "\n"
    lines = []
    for name, m in rows.items():
        cells = []
        for c in columns:
            v = m.get(c, float("nan"))
            if isinstance(v, float) and not np.isfinite(v):
                cells.append("n/a")
            else:
                cells.append(f"{v:+.1%}" if percent and isinstance(v, float) else
                             (f"{v:.3f}" if isinstance(v, float) else str(v)))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def format_tables(report: dict) -> str:
    """The report's markdown: absolute numbers, then relative gains over the baseline."""
    kp = report.get("keypoints", "ground truth")
    setting = "ground-truth keypoints and boxes" if kp == "ground truth" else \
        f"ESTIMATED keypoints and boxes ({kp}; IoU = best match per ground-truth person, AP with person scores)"
    title = (f"{report['images']} images, {report['subset']} persons, {setting}, person score: {report['score']}"
             + (f", {len(report['failed'])} image(s) failed" if report["failed"] else "")
             + (f", {report['workers']} worker processes (the same numbers as one)" if report.get("workers", 1) > 1
                else ""))
    text = f"**{title}**\n\n" + markdown_table(report["methods"], TABLE_COLUMNS)
    if all(m["count"] == 0 for m in report["methods"].values()):
        text += ("\nWARNING: no person was evaluated"
                 + (" (no person has keypoints: try --subset all)" if report["subset"] == "keypoints" else "") + "\n")
    duplicates = report.get("duplicate_annotations", [])
    if duplicates:
        pairs = ", ".join(f"image {d['image_id']}: annotations {d['ids'][0]} and {d['ids'][1]} (IoU {d['iou']:.2f})"
                          for d in duplicates[:5]) + (f" and {len(duplicates) - 5} more" if len(duplicates) > 5 else "")
        text += (f"\nWARNING: {len(duplicates)} pair(s) of ground-truth masks overlap so much that they are likely one "
                 f"person labelled twice ({pairs}): "
                 + ("both annotations of each pair are left out of these numbers (--ignore-duplicates).\n"
                    if report.get("duplicates_ignored") else
                    "methods with disjoint masks can match only one of each pair, oracle-box (masks may overlap) "
                    "both; --ignore-duplicates leaves them out.\n"))
    errors = {n: m["ap_error"] for n, m in report["methods"].items() if "ap_error" in m}
    for name, error in errors.items():
        text += f"\nWARNING: COCO AP of {name} could not be computed: {error}\n"
    if report.get("relative"):
        text += (f"\nRelative improvement over {report['baseline']}:\n\n"
                 + markdown_table(report["relative"], RELATIVE_COLUMNS, percent=True))
    return text


def report_files(out_dir: Path) -> list[Path]:
    """The files of an earlier report in ``out_dir`` (what :func:`write_report` writes), sorted."""
    names = {"metrics.json", "table.md", "accuracy.png"}
    return sorted(p for p in Path(out_dir).glob("*") if p.is_file() and
                  (p.name in names or (p.name.startswith("results_") and p.suffix == ".json")))


def write_report(report: dict, evaluators: dict[str, InstanceEvaluator], out_dir: Path, dataset_name: str) -> None:
    """Write ``results_<method>.json``, ``accuracy.png``, ``table.md`` and last ``metrics.json`` to ``out_dir``.

    Each file is written atomically; ``metrics.json`` comes last, so its presence means the report is complete.
    """
    for m, ev in evaluators.items():
        write_results(out_dir / f"results_{m}.json", ev.results)
    acc = {m: {t: v[f"acc@{t:g}"] for t in IOU_THRESHOLDS} for m, v in report["methods"].items()}
    plot_accuracy_curves(acc, out_dir / "accuracy.png",
                         f"{dataset_name}: {report['subset']} persons, keypoints: {report['keypoints']}, "
                         f"{report['score']} score")
    atomic_write_text(out_dir / "table.md", format_tables(report))
    write_json(out_dir / "metrics.json", report, indent=2)
