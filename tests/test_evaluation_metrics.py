import numpy as np
import pytest

from pose2instance.io import mask_to_rle
from pose2instance.evaluation import (InstanceEvaluator, accuracy_at, coco_segm_ap, duplicate_annotations,
                                      markdown_table, matched_iou, paired_iou, relative_improvement, summarize_ious)

from conftest import needs_shared


def test_paired_iou_by_hand():
    a = np.zeros((3, 4, 4), bool)
    b = np.zeros((3, 4, 4), bool)
    a[0, :2, :2] = True          # 4 px
    b[0, :2, :3] = True          # 6 px, overlap 4 -> 4/6
    a[1, 0, 0] = True            # disjoint -> 0
    b[1, 3, 3] = True
    # both empty -> 1
    np.testing.assert_allclose(paired_iou(a, b), [4 / 6, 0, 1])
    assert paired_iou(np.zeros((0, 2, 2)), np.zeros((0, 2, 2))).shape == (0,)
    with pytest.raises(ValueError, match="differ in shape"):
        paired_iou(a, b[:2])


def test_matched_iou_pairs_one_to_one_by_hand():
    gt = np.zeros((2, 10, 10), bool)
    gt[0, :5], gt[1, 5:] = True, True          # top half, bottom half (50 px each)
    pred = np.zeros((3, 10, 10), bool)
    pred[0, 6:] = True                         # inside the bottom: 40/50
    pred[1, :4] = True                         # inside the top: 40/50
    pred[2, :5, :5] = True                     # also on the top (25/50), but the top is taken: unmatched
    iou, match = matched_iou(pred, gt)
    np.testing.assert_allclose(iou, [0.8, 0.8, 0.0])
    assert match.tolist() == [1, 0, -1]
    assert matched_iou(pred, gt[:0])[1].tolist() == [-1, -1, -1]


def test_duplicate_annotations_by_hand():
    masks = np.zeros((3, 10, 10), bool)
    masks[0, :, :5] = True                     # left half, 50 px
    masks[1, :, :4] = True                     # inside it, 40 px: IoU 0.8, a duplicate at the 0.8 threshold
    masks[2, :, 5:] = True                     # right half: overlaps nobody
    assert duplicate_annotations(masks, np.array([11, 12, 13])) == [{"ids": [11, 12], "iou": 0.8}]
    assert duplicate_annotations(masks, np.array([11, 12, 13]), min_iou=0.81) == []
    assert duplicate_annotations(masks[:1], np.array([11])) == []


def test_accuracy_and_summary_by_hand():
    ious = [0.95, 0.85, 0.75, 0.65, 0.55, 0.45]
    acc = accuracy_at(ious)
    assert acc == {0.5: 5 / 6, 0.6: 4 / 6, 0.7: 3 / 6, 0.8: 2 / 6, 0.9: 1 / 6}
    s = summarize_ious(ious)
    assert s["count"] == 6 and s["mean_iou"] == pytest.approx(0.7) and s["acc@0.9"] == pytest.approx(1 / 6)
    rel = relative_improvement({"mean_iou": 0.8, "acc@0.5": 0.5}, {"mean_iou": 0.5, "acc@0.5": 0.0})
    assert rel["mean_iou"] == pytest.approx(0.6) and np.isnan(rel["acc@0.5"])
    table = markdown_table({"a": {"mean_iou": 0.5}}, ["mean_iou"])
    assert "| a | 0.500 |" in table


def ground_truth_as_prediction(dataset) -> tuple[InstanceEvaluator, InstanceEvaluator]:
    """Every person's true mask predicted: evaluators over all persons and over those with keypoints only."""
    every, with_kp = InstanceEvaluator(dataset.data), InstanceEvaluator(dataset.data)
    for image_id in dataset.image_ids:
        p = dataset.persons(image_id)
        if len(p):
            ious = every.process(image_id, p.masks, p.ids, np.ones(len(p), bool), p.masks)
            assert (ious == 1).all()
            with_kp.process(image_id, p.masks, p.ids, (p.keypoints[..., 2] > 0).any(1), p.masks)
    return every, with_kp


def test_ground_truth_as_prediction_gives_ap_1(coco_dev):
    ev, _ = ground_truth_as_prediction(coco_dev)
    m = ev.evaluate()
    persons = sum(not a["iscrowd"] for a in coco_dev.data["annotations"])
    assert m["count"] == persons == 34 and m["mean_iou"] == 1.0 and len(ev.per_instance) == 34
    assert m["AP"] == pytest.approx(1.0) and m["AP50"] == pytest.approx(1.0) and m["AP75"] == pytest.approx(1.0)


@needs_shared
def test_ground_truth_as_prediction_gives_ap_1_on_the_full_dev_set(coco_dev_full):
    ev, with_kp = ground_truth_as_prediction(coco_dev_full)
    m, subset = ev.evaluate(), with_kp.evaluate()
    assert m["count"] == 308 and m["mean_iou"] == 1.0 and len(ev.per_instance) == 308
    assert m["AP"] == pytest.approx(1.0) and m["AP50"] == pytest.approx(1.0) and m["AP75"] == pytest.approx(1.0)
    assert subset["count"] == 197 and subset["AP"] == pytest.approx(1.0)


def test_ap_drops_with_wrong_masks_and_matches_pycocotools(coco_dev):
    """Half of the persons predicted as their box: AP between 0 and 1, same as a direct COCOeval call."""
    from pose2instance.fusion import box_masks
    results, ev = [], InstanceEvaluator(coco_dev.data)
    for image_id in coco_dev.image_ids[:20]:
        p = coco_dev.persons(image_id)
        if not len(p):
            continue
        pred = p.masks.copy()
        pred[::2] = box_masks(p)[::2]
        ev.process(image_id, p.masks, p.ids, np.ones(len(p), bool), pred)
        results += [{"image_id": image_id, "category_id": 1, "segmentation": mask_to_rle(m), "score": 1.0}
                    for m in pred]
    m = ev.evaluate()
    # pycocotools called directly, without our wrapper
    import contextlib
    import io
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(coco_dev.path))
        cocoeval = COCOeval(gt, gt.loadRes(results), iouType="segm")
        cocoeval.params.imgIds = sorted(ev.image_ids)
        cocoeval.params.catIds = [1]
        cocoeval.evaluate()
        cocoeval.accumulate()
        cocoeval.summarize()
    assert 0.2 < m["AP"] < 0.9
    assert m["AP"] == pytest.approx(cocoeval.stats[0]) and m["AP75"] == pytest.approx(cocoeval.stats[2])
    assert m["AP"] == pytest.approx(coco_segm_ap(coco_dev.data, results, ev.image_ids)["AP"])


def test_persons_outside_the_subset_are_ignored_not_missed(coco_dev):
    """Predicting only the persons with keypoints: AP 1 on the keypoint subset."""
    ev = InstanceEvaluator(coco_dev.data)
    for image_id in coco_dev.image_ids:
        p = coco_dev.persons(image_id)
        if len(p):
            keep = (p.keypoints[..., 2] > 0).any(1)
            ev.process(image_id, p.masks, p.ids, keep, p.masks)
    m = ev.evaluate()
    with_kp = sum(not a["iscrowd"] and a["num_keypoints"] > 0 for a in coco_dev.data["annotations"])
    assert m["count"] == with_kp == 26 and m["AP"] == pytest.approx(1.0)  # 8 of 34 persons have no keypoints


def test_detections_are_matched_by_best_iou_and_ranked_by_score(coco_dev):
    p = coco_dev.persons(790)
    ev = InstanceEvaluator(coco_dev.data)
    noise = np.zeros_like(p.masks[:1])
    noise[0, :50, :50] = True
    pred = np.concatenate([p.masks[::-1], noise])  # shuffled order plus one false positive
    ious = ev.process_detections(790, p.masks, p.ids, np.ones(4, bool), pred, [0.9, 0.8, 0.7, 0.6, 0.95])
    np.testing.assert_allclose(ious, 1.0)
    m = ev.evaluate()
    assert m["AP"] < 1.0  # the false positive has the highest score
    ev2 = InstanceEvaluator(coco_dev.data)
    ev2.process_detections(790, p.masks, p.ids, np.ones(4, bool), pred, [0.9, 0.8, 0.7, 0.6, 0.05])
    assert ev2.evaluate()["AP"] == pytest.approx(1.0)
