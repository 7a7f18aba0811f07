import json

import numpy as np
import pytest

from pose2instance.io import (CocoFormatError, CocoPersons, load_keypoint_results, mask_to_rle, read_json,
                                rle_to_mask)
from pose2instance.io import ImageError, as_rgb, load_image

from conftest import COCO_DEV, IMAGES, needs_shared


def test_dev_annotations_load_with_masks_and_crowd(coco_dev):
    assert len(coco_dev.image_ids) == len(coco_dev.data["images"]) == 5 and coco_dev.has_keypoints
    total = sum(len(coco_dev.persons(i, with_masks=False)) for i in coco_dev.image_ids)
    anns = coco_dev.data["annotations"]
    assert total == sum(not a["iscrowd"] for a in anns) == len(anns) - 1 == 34  # 35 person annotations, 1 crowd
    p = coco_dev.persons(790)
    assert len(p) == 4 and p.masks.shape == (4, 422, 640)
    # decoded polygon areas agree with the annotation 'area' to within 2 %
    areas = {a["id"]: a["area"] for a in coco_dev.annotations(790)}
    for m, i in zip(p.masks, p.ids):
        assert abs(m.sum() - areas[i]) / areas[i] < 0.02
    crowd_images = {a["image_id"] for a in coco_dev.data["annotations"] if a["iscrowd"]}
    img = sorted(crowd_images)[0]
    assert coco_dev.crowd_mask(img).any() and not coco_dev.crowd_mask(790).any()


@needs_shared
def test_full_dev_set_counts(coco_dev_full):
    assert len(coco_dev_full.image_ids) == 75 and coco_dev_full.has_keypoints
    total = sum(len(coco_dev_full.persons(i, with_masks=False)) for i in coco_dev_full.image_ids)
    assert total == 308  # 318 person annotations, 10 crowd
    assert len(coco_dev_full.persons(790)) == 4 and not coco_dev_full.crowd_mask(790).any()


def test_ochuman_rle_masks_fit_their_boxes(ochuman):
    # OCHuman's 'area' is the box area and its boxes are loose, so check the decoded
    # RLE masks lie mostly inside their boxes and fill a plausible part of them
    from pose2instance.fusion import box_masks
    for image_id in ochuman.image_ids:
        p = ochuman.persons(image_id)
        inside = box_masks(p)
        for mask, box_mask in zip(p.masks, inside):
            assert (mask & box_mask).sum() > 0.75 * mask.sum()  # one OCHuman box misses 21 % of its mask
            assert 0.15 < mask.sum() / box_mask.sum() < 0.9


def test_rle_round_trip(demo):
    _, p = demo
    rle = mask_to_rle(p.masks[0])
    assert isinstance(rle["counts"], str) and rle["size"] == [422, 640]
    json.dumps(rle)
    np.testing.assert_array_equal(rle_to_mask(rle), p.masks[0])


def test_malformed_and_truncated_json(tmp_path):
    text = COCO_DEV.read_text()
    bad = tmp_path / "truncated.json"
    bad.write_text(text[: len(text) // 2])
    with pytest.raises(CocoFormatError, match=r"truncated.json: invalid JSON at line \d+ column \d+"):
        CocoPersons(bad)
    (tmp_path / "empty.json").write_text("")
    with pytest.raises(CocoFormatError, match="empty.json: file is empty"):
        read_json(tmp_path / "empty.json")
    with pytest.raises(CocoFormatError, match="missing.json: file not found"):
        read_json(tmp_path / "missing.json")


def _edited_dev(tmp_path, edit):
    data = json.loads(COCO_DEV.read_text())
    edit(data)
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    return path


def test_wrong_keypoint_count_names_the_annotation(tmp_path):
    def edit(d):
        d["annotations"][3]["keypoints"] = d["annotations"][3]["keypoints"][:50]
    with pytest.raises(CocoFormatError, match=r"annotations\[3\] \(id \d+\): 'keypoints' has 50 values"):
        CocoPersons(_edited_dev(tmp_path, edit))


def test_missing_fields_and_unknown_images_are_named(tmp_path):
    def no_bbox(d):
        del d["annotations"][7]["bbox"]
    with pytest.raises(CocoFormatError, match=r"annotations\[7\].*missing field\(s\) bbox"):
        CocoPersons(_edited_dev(tmp_path, no_bbox))

    def orphan(d):
        d["annotations"][0]["image_id"] = 123456789
    with pytest.raises(CocoFormatError, match="image_id 123456789 is not in 'images'"):
        CocoPersons(_edited_dev(tmp_path, orphan))

    def nan_box(d):
        d["annotations"][2]["bbox"] = [1, 2, None, 4]
    with pytest.raises(CocoFormatError, match=r"annotations\[2\].*'bbox' has a non-finite value"):
        CocoPersons(_edited_dev(tmp_path, nan_box))

    def no_id(d):
        del d["annotations"][5]["id"]
    with pytest.raises(CocoFormatError, match=r"annotations\[5\].*missing field\(s\) id"):
        CocoPersons(_edited_dev(tmp_path, no_id))

    def null_image(d):
        d["annotations"][4]["image_id"] = None
    with pytest.raises(CocoFormatError, match=r"annotations\[4\].*'image_id' must be an integer, got None"):
        CocoPersons(_edited_dev(tmp_path, null_image))

    def text_keypoint(d):
        d["annotations"][3]["keypoints"][4] = "x"
    with pytest.raises(CocoFormatError, match=r"annotations\[3\].*'keypoints' must be a list of numbers"):
        CocoPersons(_edited_dev(tmp_path, text_keypoint))

    def openpose_in_annotations(d):
        d["annotations"][3]["keypoints"] = [0] * 54
    with pytest.raises(CocoFormatError, match=r"'keypoints' has 54 values; expected 3 x 17 = 51"):
        CocoPersons(_edited_dev(tmp_path, openpose_in_annotations))


def test_person_category_id_other_than_1_is_honoured(tmp_path):
    def recategorise(d):
        d["categories"][0]["id"] = 7
        for a in d["annotations"]:
            a["category_id"] = 7
    ds = CocoPersons(_edited_dev(tmp_path, recategorise))
    assert ds.category_id == 7 and len(ds.persons(790)) == 4


def test_keypoint_results_file(tmp_path, coco_dev):
    anns = [a for a in coco_dev.annotations(790) if a["num_keypoints"] > 0]
    results = [{"image_id": 790, "category_id": 1, "keypoints": a["keypoints"], "score": 0.9 - 0.1 * i}
               for i, a in enumerate(anns)]
    for r in results:  # visibility 2 -> confidence 1 after clipping; 1 stays
        r["keypoints"] = [min(v, 1.0) if j % 3 == 2 else v for j, v in enumerate(r["keypoints"])]
    path = tmp_path / "res.json"
    path.write_text(json.dumps(results))
    sizes = {i: coco_dev.image_size(i) for i in coco_dev.image_ids}
    people = load_keypoint_results(path, sizes)[790]
    assert people.keypoint_kind == "score" and len(people) == len(anns)
    np.testing.assert_allclose(people.scores, [r["score"] for r in results], rtol=1e-6)
    gt = coco_dev.persons(790)
    for box, a in zip(people.boxes, anns):  # boxes from the keypoint extent cover every keypoint
        kp = np.array(a["keypoints"]).reshape(17, 3)
        vis = kp[kp[:, 2] > 0]
        assert (vis[:, 0] >= box[0]).all() and (vis[:, 0] <= box[2]).all()
    assert gt.image_size == people.image_size

    results.append({"image_id": 42, "keypoints": anns[0]["keypoints"], "score": 1})
    path.write_text(json.dumps(results))
    with pytest.raises(CocoFormatError, match=rf"\[\d+\]: image_id 42 is not among the {len(sizes)} known images"):
        load_keypoint_results(path, sizes)
    with pytest.warns(UserWarning, match="skipped 1 result"):
        assert len(load_keypoint_results(path, sizes, unknown_images="skip")[790]) == len(anns)


def test_results_file_edge_cases(tmp_path):
    sizes = {1: (100, 100)}
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"image_id": 1, "keypoints": [0] * 51, "score": 0.5}]))
    with pytest.warns(UserWarning, match="all-zero keypoint confidences and no box skipped"):
        assert load_keypoint_results(path, sizes) == {}
    path.write_text(json.dumps([{"image_id": 1, "keypoints": [0] * 51, "score": 0.5, "bbox": [10, 10, 20, 30]}]))
    p = load_keypoint_results(path, sizes)[1]
    np.testing.assert_allclose(p.boxes, [[10, 10, 30, 40]])
    path.write_text(json.dumps([{"image_id": 1, "keypoints": [1, 2, 3.5] * 18, "score": 0.5}]))
    with pytest.warns(UserWarning, match=r"keypoint confidences outside \[0, 1\] clipped"):
        p = load_keypoint_results(path, sizes)[1]  # 18 points: OpenPose layout, converted
    assert p.keypoints.shape == (1, 17, 3) and p.keypoints[..., 2].max() == 1
    np.testing.assert_allclose(p.keypoints[0, 0], [1, 2, 1])
    path.write_text(json.dumps({"annotations": []}))
    with pytest.raises(CocoFormatError, match="annotation file, not a results list"):
        load_keypoint_results(path, sizes)
    path.write_text(json.dumps([{"image_id": None, "keypoints": [1, 1, 1] * 17}]))
    with pytest.raises(CocoFormatError, match=r"\[0\]: 'image_id' must be an integer, got None"):
        load_keypoint_results(path, sizes)
    path.write_text(json.dumps([{"image_id": 1, "keypoints": [1, 1, 1] * 17, "score": None}]))
    with pytest.raises(CocoFormatError, match=r"\[0\]: 'score' has a non-finite value"):
        load_keypoint_results(path, sizes)
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CocoFormatError, match="r.json: not UTF-8 text"):
        load_keypoint_results(path, sizes)


def test_image_loading_repairs_and_errors(tmp_path):
    from PIL import Image
    rgb = load_image(IMAGES / "000000000790.jpg")
    assert rgb.shape == (422, 640, 3) and rgb.dtype == np.uint8
    Image.fromarray(rgb).convert("L").save(tmp_path / "grey.png")
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "rgba.png")
    assert load_image(tmp_path / "grey.png").shape == (422, 640, 3)
    np.testing.assert_array_equal(load_image(tmp_path / "rgba.png"), rgb)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty.jpg: image file is empty"):
        load_image(tmp_path / "empty.jpg")
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all")
    with pytest.raises(ImageError, match="junk.jpg: cannot read image"):
        load_image(tmp_path / "junk.jpg")
    data = (IMAGES / "000000000790.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[:2000])
    with pytest.raises(ImageError, match="cut.jpg: cannot read image"):
        load_image(tmp_path / "cut.jpg")
    with pytest.raises(ImageError, match="zero size"):
        as_rgb(np.zeros((0, 5, 3), np.uint8))
    assert as_rgb(np.ones((2, 2), np.float32)).max() == 255


def test_image_size_mismatch_is_reported(tmp_path, coco_dev):
    data = json.loads(COCO_DEV.read_text())
    entry = next(im for im in data["images"] if im["id"] == 790)
    entry["width"] += 1
    (tmp_path / "annotations").mkdir()
    path = tmp_path / "annotations" / "a.json"
    path.write_text(json.dumps(data))
    ds = CocoPersons(path, image_dir=coco_dev.image_dir)
    with pytest.raises(CocoFormatError, match="image is 640x422 but .*a.json says 641x422"):
        ds.load_image(790)  # found through the image_dir override
