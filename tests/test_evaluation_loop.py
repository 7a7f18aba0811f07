"""evaluate_dataset with estimated people: detections on images without ground truth are false positives."""

import json

import numpy as np
import pytest

from pose2instance.io import CocoPersons, json_safe
from pose2instance.estimators import PoseEstimator
from pose2instance.evaluation import evaluate_dataset, merge_shards
from pose2instance.registry import make_methods
from pose2instance.scores import OracleScore

from conftest import COCO_DEV, OCHUMAN


class GroundTruthPlusOne(PoseEstimator):
    """Returns the true people of image 790 (known boxes/keypoints) and one extra box everywhere else."""

    name = "stub"

    def __init__(self, dataset):
        self.dataset = dataset

    def __call__(self, image, boxes=None):
        truth = self.dataset.persons(790)
        if image.shape[:2] == truth.image_size:
            found = truth.subset(np.arange(len(truth)))
            found.scores[:] = 0.5  # less confident than the false positive below
            return found
        from pose2instance.structures import Persons
        h, w = image.shape[:2]
        return Persons([[10, 10, w / 2, h / 2]], np.zeros((1, 17, 3)), (h, w), "score", scores=[0.99])


@pytest.fixture
def two_images(tmp_path):
    data = json.loads(COCO_DEV.read_text())
    keep = {790, 60623}  # 60623 (427 x 640) differs in size from 790 (422 x 640): the stub tells them apart
    data["images"] = [im for im in data["images"] if im["id"] in keep]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] == 790]  # 60623 has nobody now
    path = tmp_path / "annotations" / "two.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    return CocoPersons(path, image_dir=COCO_DEV.parents[1] / "images")


def test_false_positives_on_empty_images_lower_ap(two_images):
    report = evaluate_dataset(two_images, make_methods(["oracle-box"]), OracleScore(), progress=False,
                              estimator=GroundTruthPlusOne(two_images))
    m = report["methods"]["det-box-score"]
    assert report["images"] == 2 and m["count"] == 4 and m["mean_iou"] > 0.9
    assert m["AP"] < 0.85  # the confident detection on the empty image is ranked first and is a false positive
    only_790 = evaluate_dataset(two_images, make_methods(["oracle-box"]), OracleScore(), progress=False,
                                image_ids=[790], estimator=GroundTruthPlusOne(two_images))
    assert only_790["methods"]["det-box-score"]["AP"] > m["AP"]
    assert set(report["per_instance_iou"]["det-box-score"]) == set(int(i) for i in two_images.persons(790).ids)


def test_two_worker_processes_give_the_report_of_one(tmp_path):
    dataset = CocoPersons(COCO_DEV)
    methods = make_methods(["oracle-box", "euclidean", "geodesic"])
    bad = json.loads(COCO_DEV.read_text())  # one image fails: it is reported the same way by a worker
    next(a for a in bad["annotations"] if a["image_id"] == 790)["segmentation"] = [[float("nan")] * 6]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    broken = CocoPersons(tmp_path / "bad.json", COCO_DEV.parents[1] / "images")
    for data in (dataset, broken):
        one = evaluate_dataset(data, methods, OracleScore(), tmp_path / "one", progress=False, workers=1)
        two = evaluate_dataset(data, methods, OracleScore(), tmp_path / "two", progress=False, workers=2)
        assert two["workers"] == 2 and one["workers"] == 1
        same = [json.dumps(json_safe(r[k]), sort_keys=True) for r in (one, two)
                for k in ("methods", "per_instance_iou")]
        assert same[:2] == same[2:]  # NaN (no small persons) compares unequal to itself, JSON does not
        assert [f["image_id"] for f in one["failed"]] == [f["image_id"] for f in two["failed"]]
        for m in ("euclidean", "geodesic"):
            assert (tmp_path / "one" / f"results_{m}.json").read_bytes() == \
                (tmp_path / "two" / f"results_{m}.json").read_bytes()
    assert [f["image_id"] for f in two["failed"]] == [790] and "non-finite" in two["failed"][0]["error"]


def test_one_person_labelled_twice_is_reported_and_can_be_left_out(ochuman, tmp_path, capsys):
    """OCHuman image 2 holds two annotations of the same woman (masks IoU 0.94, different skeletons):
    disjoint masks can match only one of them, the overlapping oracle-box masks both."""
    from pose2instance.cli import main

    report = evaluate_dataset(ochuman, make_methods(["oracle-box", "geodesic"]), OracleScore(), progress=False)
    assert [(d["image_id"], d["ids"]) for d in report["duplicate_annotations"]] == [(2, [2, 3])]
    assert report["duplicate_annotations"][0]["iou"] > 0.9 and not report["duplicates_ignored"]
    twice = report["per_instance_iou"]
    assert min(twice["geodesic"][2], twice["geodesic"][3]) < 0.2 < min(twice["oracle-box"][2], twice["oracle-box"][3])
    assert main(["evaluate", "--annotations", str(OCHUMAN), "--methods", "oracle-box", "geodesic", "--score", "oracle",
                 "--ignore-duplicates", "--workers", "1", "--out", str(tmp_path)]) == 0
    assert "likely one person labelled twice (image 2: annotations 2 and 3" in capsys.readouterr().out
    left_out = json.loads((tmp_path / "metrics.json").read_text())
    assert left_out["duplicates_ignored"] and left_out["duplicate_annotations"] == report["duplicate_annotations"]
    assert set(left_out["per_instance_iou"]["geodesic"]) == {str(i) for i in twice["geodesic"]} - {"2", "3"}
    methods = left_out["methods"]
    assert methods["geodesic"]["count"] == report["methods"]["geodesic"]["count"] - 2
    shards = [evaluate_dataset(ochuman, make_methods(["oracle-box", "geodesic"]), OracleScore(), progress=False,
                               image_ids=ochuman.image_ids[k::2], with_state=True, ignore_duplicates=True)
              for k in (0, 1)]
    merged = merge_shards(ochuman, shards)
    assert merged["duplicates_ignored"] and merged["duplicate_annotations"] == report["duplicate_annotations"]
    with pytest.raises(ValueError, match="the shards differ in duplicates_ignored"):
        merge_shards(ochuman, [shards[0], evaluate_dataset(ochuman, make_methods(["oracle-box", "geodesic"]),
                                                           OracleScore(), progress=False, with_state=True,
                                                           image_ids=ochuman.image_ids[1::2])])
    assert all(merged["methods"][m][k] == pytest.approx(methods[m][k])
               for m in methods for k in ("count", "mean_iou", "AP"))
    # without the pair, the fusion is above the box baseline on these heavily occluded people
    assert methods["geodesic"]["mean_iou"] > methods["oracle-box"]["mean_iou"] + 0.1
    assert methods["geodesic"]["AP"] > methods["oracle-box"]["AP"]


def test_duplicates_left_out_of_detection_style_ap_with_estimated_people(ochuman):
    """With estimated people the pair is ignored as crowd is: a detection on it is neither a hit nor a miss."""
    people = {i: ochuman.persons(i, with_masks=False) for i in ochuman.image_ids}  # perfect "estimates", score 1
    kwargs = dict(progress=False, keypoint_results=people, keypoints_name="perfect")
    kept = evaluate_dataset(ochuman, make_methods(["oracle-box"]), OracleScore(), **kwargs)
    left = evaluate_dataset(ochuman, make_methods(["oracle-box"]), OracleScore(), ignore_duplicates=True, **kwargs)
    assert [d["ids"] for d in left["duplicate_annotations"]] == [[2, 3]]
    assert set(left["per_instance_iou"]["det-box-score"]) == set(kept["per_instance_iou"]["det-box-score"]) - {2, 3}
    assert left["methods"]["det-box-score"]["count"] == kept["methods"]["det-box-score"]["count"] - 2
    assert left["methods"]["det-box-score"]["AP"] != kept["methods"]["det-box-score"]["AP"]


@pytest.mark.parametrize("segmentation", [[[float("nan"), 126.7, 223.9, 131.7, 218.4, 146.2]],
                                          [[1e12, 126.7, 223.9, 131.7, 218.4, 146.2]],
                                          {"size": [422, 640], "counts": [5, 7]}])
def test_a_bad_crowd_region_fails_its_image_by_name_and_never_reaches_pycocotools(tmp_path, segmentation):
    """Issue 22 H1: a NaN / 1e12 crowd polygon used to segfault pycocotools (no report at all)."""
    data = json.loads(COCO_DEV.read_text())
    person = next(a for a in data["annotations"] if a["image_id"] == 790 and not a.get("iscrowd"))
    data["annotations"].append(dict(person, id=99999, iscrowd=1, segmentation=segmentation))
    path = tmp_path / "annotations" / "bad_crowd.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))  # NaN written as the token NaN, as in the reproduction
    (tmp_path / "images").symlink_to(COCO_DEV.parent.parent / "images")
    dataset = CocoPersons(path)
    report = evaluate_dataset(dataset, make_methods(["oracle-box"]), OracleScore(), progress=False)
    assert [f["image_id"] for f in report["failed"]] == [790]
    assert "99999" in report["failed"][0]["error"] and "segmentation" in report["failed"][0]["error"]
    ap = report["methods"]["oracle-box"]["AP"]
    assert "ap_error" not in report["methods"]["oracle-box"] and 0.3 < ap <= 1.0  # the other images' AP
