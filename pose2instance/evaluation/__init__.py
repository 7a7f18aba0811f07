"""Evaluation: metrics (:mod:`.metrics`), the one dataset loop (:mod:`.loop`), the report (:mod:`.report`)."""

from .loop import ESTIMATED_NAMES, evaluate_dataset, merge_shards
from .splits import split_image_ids
from .metrics import (AP_NAMES, DUPLICATE_IOU, IOU_THRESHOLDS, InstanceEvaluator, accuracy_at, coco_segm_ap,
                      duplicate_annotations, evaluated_persons, matched_iou, paired_iou, relative_improvement,
                      summarize_ious)
from .report import format_tables, markdown_table, report_files, write_report

__all__ = ["ESTIMATED_NAMES", "evaluate_dataset", "merge_shards", "AP_NAMES", "DUPLICATE_IOU", "IOU_THRESHOLDS",
           "InstanceEvaluator", "accuracy_at", "coco_segm_ap", "duplicate_annotations", "evaluated_persons",
           "matched_iou", "paired_iou", "relative_improvement", "summarize_ious", "format_tables", "markdown_table",
           "report_files", "write_report", "split_image_ids"]
