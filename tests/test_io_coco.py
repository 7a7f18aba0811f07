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


@pytest.mark.parametrize("segmentation, message", [  # segmentation(height, width)
    (lambda h, w: [[1e12, 0, 10, 10, 20, 0]], "polygon 0 reaches .* more than one image size outside"),
    (lambda h, w: [[0, 0, 10, 10, 20, 0], [float("nan"), 0, 10, 10, 20, 0]], "polygon 1 has a non-finite coordinate"),
    (lambda h, w: [[0, 0, 10, 10, 20]], "polygon 0 has an odd number of coordinates"),
    (lambda h, w: [[0, 0, "a", 10, 20, 0]], "polygon 0 must be a list of numbers"),
    (lambda h, w: {"size": [100000, 100000], "counts": [5]}, r"RLE size: 100000x100000 .* over the limit"),
    (lambda h, w: {"size": [10, 10], "counts": [5, 95]}, r"RLE size \[10, 10\] is not the image's"),
    (lambda h, w: {"size": [0, w], "counts": [1]}, "RLE 'size' must be \\[height, width\\]"),
    (lambda h, w: {"size": [h, w], "counts": 3.5}, "RLE 'counts' must be a string or a list of integers"),
    (lambda h, w: {"size": [h, w], "counts": [h * w + 2, -2]}, "RLE run lengths must be non-negative"),
    (lambda h, w: {"size": [h, w], "counts": [7, 3]}, "RLE run lengths add up to 10, not height x width"),
    (lambda h, w: {"size": [h, w], "counts": "zzzz"}, "RLE 'counts' has the character 'z' at 0"),
    (lambda h, w: {"size": [h, w], "counts": "1"}, "RLE run lengths add up to 1, not"),
    (lambda h, w: {"size": [h, w], "counts": "P"}, "RLE .counts. string ends inside a number"),
    (lambda h, w: "polygon", "unknown segmentation format str"),
])
def test_bad_segmentations_are_named_before_pycocotools_sees_them(tmp_path, segmentation, message):
    data = json.loads(COCO_DEV.read_text())
    ann = data["annotations"][0]
    image = next(im for im in data["images"] if im["id"] == ann["image_id"])
    ann["segmentation"] = segmentation(image["height"], image["width"])
    (tmp_path / "annotations").mkdir()
    path = tmp_path / "annotations" / "bad.json"
    path.write_text(json.dumps(data))
    ds = CocoPersons(path, IMAGES)
    with pytest.raises(CocoFormatError, match=f"bad.json: annotation id {ann['id']} .*bad 'segmentation': {message}"):
        ds.mask_of(ann)


def test_compressed_counts_decoder_matches_pycocotools(demo):
    from pose2instance.io.rle import compressed_counts
    _, persons = demo
    rng = np.random.default_rng(0)
    masks = list(persons.masks) + [rng.random((37, 23)) < 0.5, np.zeros((5, 4), bool), np.ones((3, 3), bool)]
    for mask in masks:
        runs = compressed_counts(mask_to_rle(mask)["counts"])
        flat = mask.T.ravel()  # column-major, as COCO
        edges = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
        expected = np.diff(np.r_[0, edges, flat.size]).tolist()
        if flat[0]:
            expected = [0] + expected  # runs start with a (possibly empty) run of zeros
        assert runs == expected
        assert sum(runs) == mask.size


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["images"][0].update(file_name=5), r"images\[0\]: 'file_name' must be a non-empty string, got 5"),
    (lambda d: d.update(categories={"a": 1}), "field 'categories' must be a list, got dict"),
    (lambda d: d["annotations"][0].update(category_id={"x": 1}), r"annotations\[0\].*'category_id' must be an integer"),
    (lambda d: d["images"][0].update(file_name="../../etc/x.jpg"), "points outside the image folder"),
    (lambda d: d["images"][0].update(file_name="/etc/passwd"), "points outside the image folder"),
    (lambda d: d["images"][0].update(file_name="C:\\\\x.jpg"), "points outside the image folder"),
    (lambda d: d["images"][0].update(width=2**40), r"images\[0\]: 1099511627776x\d+ is .* over the limit"),
])
def test_wrong_field_types_and_escaping_file_names_are_named(tmp_path, edit, message):
    with pytest.raises(CocoFormatError, match=message):
        CocoPersons(_edited_dev(tmp_path, edit))


def test_deeply_nested_json_and_nan_image_ids_are_named(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CocoFormatError, match="deep.json: JSON nested too deeply"):
        read_json(deep)
    res = tmp_path / "res.json"
    for bad in ("NaN", "Infinity", "1.5"):
        res.write_text('[{"image_id": %s, "keypoints": [%s], "score": 1}]' % (bad, ", ".join(["1"] * 51)))
        with pytest.raises(CocoFormatError, match=r"res.json: \[0\]: 'image_id' must be an integer"):
            load_keypoint_results(res, {790: (422, 640)})


def test_exif_rotation_is_warned_and_wide_images_do_not_wrap(tmp_path):
    from PIL import Image
    rgb = load_image(IMAGES / "000000000790.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when shown
    Image.fromarray(rgb).save(tmp_path / "turned.jpg", exif=exif)
    with pytest.warns(UserWarning, match="turned.jpg: EXIF orientation 6 is not applied"):
        turned = load_image(tmp_path / "turned.jpg")
    assert turned.shape == rgb.shape  # pixels as stored, like COCO's annotations
    # 32-bit integers above 16 bits are scaled by their maximum, never wrapped around
    ramp = (np.arange(64 * 64, dtype=np.int64).reshape(64, 64) * 100_000).astype(np.int32)
    Image.fromarray(ramp, "I").save(tmp_path / "deep.tif")
    with pytest.warns(UserWarning, match="more than 16 bits"):
        grey = load_image(tmp_path / "deep.tif")[..., 0].astype(int)
    assert grey[0, 0] == 0 and grey[-1, -1] == 255
    assert (np.diff(grey.ravel()) >= 0).all()  # monotone: no wrap-around
    sixteen = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)
    assert as_rgb(sixteen).max() == 65520 // 257
    # 32-bit float TIFFs: values in [0, 1] are scaled, values in [0, 255] kept
    unit = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    Image.fromarray(unit, "F").save(tmp_path / "unit.tif")
    Image.fromarray(unit * 255, "F").save(tmp_path / "byte.tif")
    for name in ("unit.tif", "byte.tif"):
        grey = load_image(tmp_path / name)[..., 0].astype(int)
        assert grey[0, 0] == 0 and grey[-1, -1] == 255, name


def test_a_full_disk_names_the_file_being_written(tmp_path):
    """Issue 22 (low): a full disk gave 'No space left on device' without the file."""
    import errno

    from pose2instance.io.jsonio import atomic_write

    def full(tmp):
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OSError, match=r"No space left on device: '.*metrics.json'"):
        atomic_write(tmp_path / "metrics.json", full)
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone too
