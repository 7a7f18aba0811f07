"""The compact training pack: held-out images stay behind, crops match the original's, score maps travel."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pose2instance.cli import main  # noqa: E402
from pose2instance.evaluation import split_image_ids  # noqa: E402
from pose2instance.io import CocoPersons  # noqa: E402
from pose2instance.learned import score_maps  # noqa: E402
from pose2instance.learned.dataset import PersonCropDataset  # noqa: E402
from pose2instance.learned.models import build_model  # noqa: E402
from pose2instance.learned.pack import build_pack, pack_scale  # noqa: E402
from pose2instance.learned.train import main as train_main  # noqa: E402

from conftest import COCO_DEV, COCO_MASKS  # noqa: E402


def test_pack_scale_by_hand():
    # windows 1.25 * 200 = 250 and 1.25 * 80 = 100 px: the smaller must keep 50 px -> s = 0.5
    assert pack_scale([[0, 0, 100, 200], [0, 0, 80, 40]], [8000, 2000], side=50) == pytest.approx(0.5)
    assert pack_scale([[0, 0, 100, 200]], [8000], side=400) == 1.0  # never enlarged
    assert pack_scale(np.zeros((0, 4)), [], side=50) == 1.0
    # a person whose mask would fall under min_area keeps it: 900 px * s^2 >= 400
    assert pack_scale([[0, 0, 100, 200]], [900], side=50, min_area=400) == pytest.approx(np.sqrt(400 / 900), 1e-2)


def test_a_person_at_the_min_area_boundary_still_trains(tmp_path):
    """The 640 x 425 image, one person of area 934: s = 1.001 sqrt(400 / 934) = 0.6551; the size rounded to the
    nearest pixel (419 x 278) would leave the person 399.98 px, under train's --min-area of 400."""
    data = json.loads(COCO_MASKS.read_text())
    image = data["images"][0]
    data["images"] = [image]
    assert (image["width"], image["height"]) == (640, 425)
    data["annotations"] = [dict(a, area=934.0) for a in data["annotations"] if a["image_id"] == image["id"]][:1]
    data["annotations"][0]["bbox"] = [10.0, 10.0, 300.0, 350.0]
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "one.json").write_text(json.dumps(data))
    (tmp_path / "images").symlink_to(COCO_MASKS.parents[1] / "images")
    build_pack([tmp_path / "annotations" / "one.json"], tmp_path / "pack", side=10, progress=False)
    packed = json.loads((tmp_path / "pack" / "annotations" / "one.json").read_text())
    (h, w), (ph, pw) = (image["height"], image["width"]), (packed["images"][0]["height"], packed["images"][0]["width"])
    assert ph < h and packed["annotations"][0]["area"] >= 400
    x, y, bw, bh = packed["annotations"][0]["bbox"]  # x scaled by the width's factor, y by the height's
    assert (x, bw) == pytest.approx((10 * pw / w, 300 * pw / w))
    assert (y, bh) == pytest.approx((10 * ph / h, 350 * ph / h))


class ScoreOfFirstBox:
    """A stand-in pretrained score with a known answer (MediaPipe is not needed): 0.8 inside the first box."""

    def __call__(self, image, persons, image_path=None):
        out = np.zeros(image.shape[:2], np.float32)
        if len(persons):
            x0, y0, x1, y1 = np.round(persons.boxes[0]).astype(int)
            out[y0:y1, x0:x1] = 0.8
        return out


@pytest.fixture
def packed(tmp_path, monkeypatch):
    monkeypatch.setitem(score_maps.SCORE_INPUTS, "blazepose", ScoreOfFirstBox)
    out = tmp_path / "pack"
    summary = build_pack([COCO_DEV, COCO_MASKS], out, [0.4], score_input="blazepose", side=96,
                         score_cache=tmp_path / "cache", progress=False)
    return out, summary, tmp_path / "cache"


def test_held_out_images_stay_behind_and_the_rest_is_shrunk(packed):
    out, summary, _ = packed
    original = CocoPersons(COCO_DEV)
    kept, held = split_image_ids(original.image_ids, 0.4, 0)
    pack = CocoPersons(out / "annotations" / COCO_DEV.name)
    assert pack.image_ids == kept and held and not set(held) & set(pack.image_ids)
    assert {p.name for p in (out / "images").iterdir()} == {
        original.image(i)["file_name"] for i in kept} | {CocoPersons(COCO_MASKS).image(i)["file_name"]
                                                        for i in CocoPersons(COCO_MASKS).image_ids}
    assert summary["files"][COCO_DEV.name]["held_out_images"] == len(held)
    assert json.loads((out / "pack.json").read_text())["bytes"] == summary["bytes"]
    for image_id in kept:
        h, w = original.image_size(image_id)
        ph, pw = pack.image_size(image_id)
        assert pack.load_image(image_id).shape[:2] == (ph, pw) and ph <= h and pw <= w
        scale = np.array([pw / w, ph / h], np.float32)  # x by the width's factor, y by the height's
        small, big = pack.persons(image_id), original.persons(image_id)
        np.testing.assert_allclose(small.boxes[:, :2], big.boxes[:, :2] * scale, atol=0.01)
        labelled = big.keypoints[..., 2] > 0
        np.testing.assert_allclose(small.keypoints[..., :2][labelled], (big.keypoints[..., :2] * scale)[labelled],
                                   atol=0.01)
        # the masks shrink with the image: the same fraction of it
        np.testing.assert_allclose(small.masks.mean((1, 2)), big.masks.mean((1, 2)), atol=0.01)
    assert min(pack.image_size(i)[0] / original.image_size(i)[0] for i in kept) < 0.9  # something was shrunk


def test_crops_from_the_pack_match_the_originals_and_score_maps_are_read_not_computed(packed, monkeypatch):
    out, _, cache = packed
    config = build_model("pose", score_input="blazepose").config
    original = CocoPersons(COCO_DEV)
    kept = split_image_ids(original.image_ids, 0.4, 0)[0]
    before = PersonCropDataset([(original, kept)], config, augment=False, score_cache=cache)

    def refuse():
        raise AssertionError("the pack's score maps must be read from its cache")
    monkeypatch.setitem(score_maps.SCORE_INPUTS, "blazepose", refuse)
    after = PersonCropDataset([(CocoPersons(out / "annotations" / COCO_DEV.name), kept)], config, augment=False,
                              score_cache=out / "cache")
    assert before.items == after.items  # the same people train
    for i in range(len(before)):
        a, b = before[i], after[i]
        m0, m1 = a["mask"] > 0.5, b["mask"] > 0.5
        assert (m0 & m1).sum() / (m0 | m1).sum() > 0.9
        assert float((a["input"][:3] - b["input"][:3]).abs().mean()) < 0.05  # RGB in [0, 1]
        assert float((a["input"][3:-1] - b["input"][3:-1]).abs().mean()) < 0.02  # prior channels
        assert float((a["input"][-1] - b["input"][-1]).abs().mean()) < 0.03  # the score input


def test_train_runs_on_the_pack_alone_wherever_it_goes(packed, tmp_path, monkeypatch):
    import shutil
    out = tmp_path / "elsewhere"
    shutil.copytree(packed[0], out)  # as on another machine: the cache's keys hold no absolute path
    monkeypatch.setitem(score_maps.SCORE_INPUTS, "blazepose", None)  # nothing to compute with: the cache must do
    run = tmp_path / "run"
    assert train_main(["--annotations", str(out / "annotations" / COCO_DEV.name), "--variant", "pose",
                       "--score-input", "blazepose", "--score-cache", str(out / "cache"), "--crop-size", "48",
                       "--width", "8", "--batch-size", "4", "--steps", "3", "--threads", "1", "--no-progress",
                       "--no-final-eval", "--device", "cpu", "--out", str(run)]) == 0
    assert (run / "model.safetensors").is_file()


def test_pack_command_and_its_errors(tmp_path, capsys):
    assert main(["pack", "--annotations", str(COCO_MASKS), "--out", str(tmp_path / "p")]) == 0
    assert "images packed" in capsys.readouterr().out
    assert CocoPersons(tmp_path / "p" / "annotations" / COCO_MASKS.name).image_ids == \
        CocoPersons(COCO_MASKS).image_ids
    assert main(["pack", "--annotations", str(COCO_MASKS), "--held-out-fraction", "0.1", "0.2",
                 "--out", str(tmp_path / "q")]) == 2
    assert "2 values for 1 annotation file" in capsys.readouterr().err
    assert main(["pack", "--annotations", str(COCO_MASKS), str(COCO_MASKS), "--out", str(tmp_path / "r")]) == 2
    assert "distinct names" in capsys.readouterr().err
    assert main(["pack", "--annotations", str(COCO_MASKS), "--held-out-fraction", "1.5",
                 "--out", str(tmp_path / "s")]) == 2
    assert "values must be from 0 to 1" in capsys.readouterr().err
    # an earlier pack is kept unless --overwrite; the sources are never written over
    assert main(["pack", "--annotations", str(COCO_MASKS), "--out", str(tmp_path / "p")]) == 2
    assert "already holds a pack" in capsys.readouterr().err
    assert main(["pack", "--annotations", str(COCO_MASKS), "--out", str(tmp_path / "p"), "--overwrite"]) == 0
    assert main(["pack", "--annotations", str(COCO_MASKS), "--out", str(COCO_MASKS.parents[1]), "--overwrite"]) == 2
    assert "would overwrite" in capsys.readouterr().err


def test_an_image_held_out_of_one_file_is_left_out_of_the_others(tmp_path):
    data = json.loads(COCO_DEV.read_text())
    held = split_image_ids([im["id"] for im in data["images"]], 0.4, 0)[1][0]
    copy = {**data, "images": [im for im in data["images"] if im["id"] == held],
            "annotations": [a for a in data["annotations"] if a["image_id"] == held]}
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "copy.json").write_text(json.dumps(copy))
    (tmp_path / "images").symlink_to(COCO_DEV.parents[1] / "images")
    summary = build_pack([COCO_DEV, tmp_path / "annotations" / "copy.json"], tmp_path / "pack", [0.4],
                         progress=False)
    copied = summary["files"]["copy.json"]
    assert copied["images"] == 0 and copied["held_out_of_another_file"] == 1
    assert not (tmp_path / "pack" / "images" / copy["images"][0]["file_name"]).exists()


def test_two_different_images_under_one_name_are_refused(tmp_path):
    data = json.loads(COCO_DEV.read_text())
    one = {**data, "images": [im for im in data["images"] if im["id"] == 790],
           "annotations": [a for a in data["annotations"] if a["image_id"] == 790]}
    (tmp_path / "other" / "annotations").mkdir(parents=True)
    (tmp_path / "other" / "annotations" / "other.json").write_text(json.dumps(one))
    (tmp_path / "other" / "images").mkdir()  # another folder: a file of the same name is another image
    name = one["images"][0]["file_name"]
    (tmp_path / "other" / "images" / name).write_bytes((COCO_DEV.parents[1] / "images" / name).read_bytes())
    with pytest.raises(ValueError, match=f"image {name} .* would share one file in the pack"):
        build_pack([COCO_DEV, tmp_path / "other" / "annotations" / "other.json"], tmp_path / "pack", progress=False)


def test_overwrite_never_deletes_folders_pack_did_not_make(tmp_path, capsys):
    """Issue 22 H2: a user's images/ in --out used to be taken for a pack and removed by --overwrite."""
    out = tmp_path / "mine"
    (out / "images").mkdir(parents=True)
    (out / "images" / "holiday.jpg").write_bytes(b"the user's photo")
    (out / "cache").mkdir()
    for extra in ([], ["--overwrite"]):
        assert main(["pack", "--annotations", str(COCO_MASKS), "--out", str(out), *extra]) == 2
        assert "did not write; nothing was deleted" in capsys.readouterr().err
    assert (out / "images" / "holiday.jpg").read_bytes() == b"the user's photo" and (out / "cache").is_dir()


def test_a_pack_that_stopped_part_way_is_replaced_by_a_rerun(tmp_path, monkeypatch):
    from pose2instance.learned import pack as pack_module
    out = tmp_path / "p"

    def fail(dataset, image_id, size, out, *args):  # the first image half written, then the disk is full
        (out / "images").mkdir(exist_ok=True)
        (out / "images" / "half.jpg").write_bytes(b"\xff\xd8")
        raise OSError("disk full")
    monkeypatch.setattr(pack_module, "_pack_image", fail)
    with pytest.raises(OSError, match="disk full"):
        pack_module.build_pack([COCO_MASKS], out, progress=False)
    assert (out / pack_module.PACK_MARKER).is_file() and not (out / "pack.json").exists()
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="stopped part-way"):
        summary = pack_module.build_pack([COCO_MASKS], out, progress=False)
    assert summary["files"][COCO_MASKS.name]["images"] > 0 and (out / "pack.json").is_file()
    assert not (out / "images" / "half.jpg").exists()
