"""The command line end to end on real photos."""

import json

import numpy as np
import pytest
from PIL import Image

from pose2instance.cli import main
from pose2instance.io import rle_to_mask
from pose2instance.evaluation import paired_iou

from conftest import COCO_DEV, IMAGES, OCHUMAN

IMAGE = IMAGES / "000000000790.jpg"


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("segment", "evaluate", "demo"):
        assert cmd in out


def test_segment_with_annotations_and_oracle_score(tmp_path, capsys, coco_dev):
    assert main(["segment", str(IMAGE), "--keypoints", str(COCO_DEV), "--score", "oracle",
                 "--prior", "euclidean", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "000000000790_results.json").read_text())
    gt = coco_dev.persons(790)
    assert len(results) == 4 and all(r["image_id"] == 790 for r in results)
    masks = np.stack([rle_to_mask(r["segmentation"]) for r in results])
    assert paired_iou(masks, gt.masks).min() > 0.9
    overlay = np.asarray(Image.open(tmp_path / "000000000790_overlay.png"))
    assert overlay.shape == (422, 640, 3)
    assert "4 people" in capsys.readouterr().out


def test_segment_with_a_results_file_and_a_score_map(tmp_path, coco_dev):
    gt = coco_dev.persons(790)
    res = [{"image_id": 790, "category_id": 1, "score": 0.8,
            "keypoints": np.c_[k[:, :2], (k[:, 2] > 0)].ravel().tolist()}
           for k in gt.keypoints]
    (tmp_path / "res.json").write_text(json.dumps(res))
    np.save(tmp_path / "score.npy", gt.masks.any(0).astype(np.float32))
    assert main(["segment", str(IMAGE), "--keypoints", str(tmp_path / "res.json"), "--score",
                 str(tmp_path / "score.npy"), "--out", str(tmp_path / "o")]) == 0
    results = json.loads((tmp_path / "o" / "000000000790_results.json").read_text())
    assert [r["score"] for r in results] == pytest.approx([0.8] * 4)
    masks = np.stack([rle_to_mask(r["segmentation"]) for r in results])
    assert paired_iou(masks, gt.masks).mean() > 0.85  # keypoint-extent boxes, not the true boxes


def test_bad_score_maps_and_keypoint_files_give_clear_errors(tmp_path, capsys):
    np.save(tmp_path / "small.npy", np.zeros((10, 10), np.float32))
    Image.fromarray(np.zeros((422, 640, 3), np.uint8)).save(tmp_path / "colour.png")
    np.save(tmp_path / "big.npy", np.full((422, 640), 3.0, np.float32))
    (tmp_path / "bad.json").write_text('[{"image_id": 790, "keypoints": [1, 2')
    (tmp_path / "short.json").write_text(json.dumps([{"image_id": 790, "keypoints": [1, 2, 1] * 16}]))
    cases = [
        (["--score", str(tmp_path / "small.npy")], r"small.npy: shape \(10, 10\) does not match the image"),
        (["--score", str(tmp_path / "colour.png")], "colour.png: score map must be one grey channel"),
        (["--score", str(tmp_path / "big.npy")], r"big.npy: values must be probabilities in \[0, 1\]"),
        (["--score", "nonsense"], "unknown person score 'nonsense'"),
    ]
    for extra, message in cases:
        assert main(["segment", str(IMAGE), "--keypoints", str(COCO_DEV), "--out", str(tmp_path), *extra]) == 2
        assert pytest.importorskip("re").search(message, capsys.readouterr().err), message
    assert main(["segment", str(IMAGE), "--keypoints", str(tmp_path / "bad.json"), "--score", "oracle"]) == 2
    assert "bad.json: invalid JSON at line 1" in capsys.readouterr().err
    assert main(["segment", str(IMAGE), "--keypoints", str(tmp_path / "short.json"), "--score", "oracle"]) == 2
    assert "short.json: [0]: 'keypoints' has 48 values" in capsys.readouterr().err
    assert main(["segment", str(tmp_path / "missing.jpg"), "--keypoints", str(COCO_DEV)]) == 2
    assert "missing.jpg: image file not found" in capsys.readouterr().err
    assert main(["segment", str(IMAGE), "--keypoints", str(OCHUMAN), "--score", "oracle"]) == 2
    assert "no image named 000000000790.jpg" in capsys.readouterr().err


def test_evaluate_end_to_end_on_real_images(tmp_path, capsys, coco_dev):
    assert main(["evaluate", "--annotations", str(COCO_DEV), "--methods", "box", "oracle-box", "euclidean",
                 "geodesic", "--limit", "4", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| euclidean |" in out and "Relative improvement" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    m = metrics["methods"]
    assert metrics["images"] == 4 < len(coco_dev.image_ids) and not metrics["failed"]
    with_keypoints = sum(int((coco_dev.persons(i, with_masks=False).keypoints[..., 2] > 0).any(1).sum())
                         for i in coco_dev.image_ids[:4])
    assert m["euclidean"]["count"] == m["box"]["count"] == with_keypoints > 10  # 14 on the fixture
    assert m["euclidean"]["mean_iou"] > m["oracle-box"]["mean_iou"] > m["box"]["mean_iou"]
    assert 0 < m["box"]["AP"] < m["oracle-box"]["AP"] < m["euclidean"]["AP"] <= 1
    results = json.loads((tmp_path / "results_geodesic.json").read_text())
    assert len(results) == m["geodesic"]["count"] and "bbox" not in results[0]
    assert (tmp_path / "accuracy.png").stat().st_size > 10_000 and (tmp_path / "table.md").is_file()


def test_evaluate_skips_a_failing_image_and_goes_on(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    ann = json.loads(OCHUMAN.read_text())
    for im in ann["images"]:
        (images / im["file_name"]).symlink_to(OCHUMAN.parents[1] / "images" / im["file_name"])
    (images / ann["images"][1]["file_name"]).unlink()
    (images / ann["images"][1]["file_name"]).write_bytes(b"broken")
    assert main(["evaluate", "--annotations", str(OCHUMAN), "--images", str(images), "--methods", "oracle-box",
                 "euclidean", "--out", str(tmp_path / "ev")]) == 0
    captured = capsys.readouterr()
    assert "cannot read image" in captured.err
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["images"] == 2 and metrics["failed"][0]["image_id"] == ann["images"][1]["id"]
    assert metrics["methods"]["euclidean"]["count"] == 3


def test_demo_runs_offline_with_the_oracle_score(tmp_path, capsys):
    assert main(["demo", "--score", "oracle", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip() and line.split()[0].isdigit()]
    assert len(rows) == 4
    ious = np.array([float(r[2]) for r in rows])
    assert ious.mean() > 0.95
    assert (tmp_path / "000000000790_overlay.png").is_file()


def test_segment_without_keypoints_estimates_the_people(tmp_path, capsys, coco_dev):
    pytest.importorskip("ai_edge_litert")
    gt = coco_dev.persons(790)
    # given boxes (from the annotation file), BlazePose keypoints and heatmaps, heatmap prior
    assert main(["segment", str(IMAGE), "--estimator", "blazepose", "--boxes", str(COCO_DEV), "--score", "oracle",
                 "--prior", "heatmap-gdt", "--out", str(tmp_path)]) != 0  # oracle needs masks: clear error
    assert "--score oracle needs ground-truth masks" in capsys.readouterr().err
    assert main(["segment", str(IMAGE), "--estimator", "blazepose", "--boxes", str(COCO_DEV),
                 "--prior", "heatmap-gdt", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "4 people found by blazepose" in out and "person score: learned" in out  # the default score
    results = json.loads((tmp_path / "000000000790_results.json").read_text())
    masks = np.stack([rle_to_mask(r["segmentation"]) for r in results])
    assert len(results) == 4 and paired_iou(masks, gt.masks).mean() > 0.5
    assert {r["image_id"] for r in results} == {790}  # the boxes file's id of the photo
    # no boxes: the estimator detects people itself
    assert main(["segment", str(IMAGE), "--estimator", "blazepose", "--out", str(tmp_path / "det")]) == 0
    results = json.loads((tmp_path / "det" / "000000000790_results.json").read_text())
    assert len(results) >= 3 and all(0 < r["score"] <= 1 for r in results)


def test_evaluate_with_estimated_keypoints(tmp_path, capsys):
    pytest.importorskip("ai_edge_litert")
    assert main(["evaluate", "--annotations", str(COCO_DEV), "--keypoints", "estimated", "--estimator", "blazepose",
                 "--score", "oracle", "--methods", "oracle-box", "euclidean", "--limit", "4",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ESTIMATED keypoints and boxes (blazepose" in out and "| det-box-score |" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["keypoints"] == "blazepose" and set(metrics["methods"]) == {"det-box-score", "euclidean"}
    results = json.loads((tmp_path / "results_euclidean.json").read_text())
    assert len({r["score"] for r in results}) > 1  # the estimator's person scores, not 1


def test_training_free_path_never_imports_torch(tmp_path):
    """segment with the oracle score and the geodesic prior runs without importing torch."""
    import subprocess
    import sys
    code = ("import sys; from pose2instance.cli import main; "
            f"rc = main(['segment', {str(IMAGE)!r}, '--keypoints', {str(COCO_DEV)!r}, '--score', 'oracle', "
            f"'--out', {str(tmp_path)!r}]); "
            "assert rc == 0, rc; assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_train_subcommand_is_listed_and_delegates(capsys):
    pytest.importorskip("torch")
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0 and "--resume" in capsys.readouterr().out


def test_evaluate_with_a_keypoint_results_file_and_per_instance_ious(tmp_path, capsys, coco_dev):
    """Any estimator's COCO keypoint results: ground-truth keypoints written as a results file."""
    results = []
    for image_id in coco_dev.image_ids[:5]:
        for a in coco_dev.annotations(image_id):
            if not a.get("iscrowd") and a.get("num_keypoints", 0) > 0:
                kp = np.array(a["keypoints"], float).reshape(17, 3)
                kp[:, 2] = (kp[:, 2] > 0) * 0.9
                results.append({"image_id": image_id, "category_id": 1, "keypoints": kp.ravel().tolist(),
                                "score": 0.9, "bbox": a["bbox"]})
    (tmp_path / "res.json").write_text(json.dumps(results))
    assert main(["evaluate", "--annotations", str(COCO_DEV), "--keypoints", str(tmp_path / "res.json"),
                 "--methods", "oracle-box", "euclidean", "--limit", "5", "--out", str(tmp_path / "ev")]) == 0
    assert "ESTIMATED keypoints and boxes (res.json" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    m, box = metrics["methods"]["euclidean"], metrics["methods"]["det-box-score"]
    # measured on the fixture: euclidean 0.818 mean IoU, AP 0.651; keypoint-extent boxes 0.786, AP 0.566
    assert m["count"] == len(results) and m["mean_iou"] > 0.8 and m["AP"] > 0.6
    assert m["mean_iou"] > box["mean_iou"] and m["AP"] > box["AP"]
    per = metrics["per_instance_iou"]["euclidean"]
    assert len(per) == len(results) and all(0 <= v <= 1 for v in per.values())


def test_evaluate_warns_when_nobody_is_evaluated_and_writes_strict_json(tmp_path, capsys):
    from conftest import COCO_MASKS
    assert main(["evaluate", "--annotations", str(COCO_MASKS), "--methods", "oracle-box", "--limit", "2",
                 "--out", str(tmp_path)]) == 0
    assert "no person has keypoints: try --subset all" in capsys.readouterr().out
    text = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in text and json.loads(text)["methods"]["oracle-box"]["mean_iou"] is None


def test_a_results_file_for_another_image_is_refused(tmp_path, capsys, coco_dev):
    other = IMAGES / "000000060623.jpg"
    res = [{"image_id": 790, "keypoints": np.c_[k[:, :2], (k[:, 2] > 0)].ravel().tolist(), "score": 0.9}
           for k in coco_dev.persons(790).keypoints]
    (tmp_path / "res790.json").write_text(json.dumps(res))
    assert main(["segment", str(other), "--keypoints", str(tmp_path / "res790.json"), "--score", "oracle"]) == 2
    assert "holds results for image_id 790, but 000000060623.jpg looks like image 60623" in capsys.readouterr().err
    assert main(["segment", str(IMAGE), "--keypoints", str(COCO_DEV), "--score", "missing.npy"]) == 2
    assert "missing.npy: score map not found" in capsys.readouterr().err
    (tmp_path / "empty.json").write_text("{}")
    assert main(["segment", str(IMAGE), "--keypoints", str(tmp_path / "empty.json"), "--score", "oracle"]) == 2
    assert "not a recognised keypoint file" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["segment", str(IMAGE), "--keypoints", str(COCO_DEV), "--score", "oracle",
                 "--out", str(tmp_path / "file")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_evaluate_the_learned_method_on_held_out_images(tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("tflite")  # the shipped network is rebuilt from the packaged BlazePose .tflite
    from pose2instance.evaluation import split_image_ids
    from pose2instance.io import CocoPersons
    held = split_image_ids(CocoPersons(COCO_DEV).image_ids, 0.4, 0)[1]
    out = tmp_path / "ev"
    assert main(["evaluate", "--annotations", str(COCO_DEV), "--methods", "oracle-box", "geodesic", "learned",
                 "--score", "oracle", "--held-out", "0.4", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == len(held) and set(metrics["methods"]) == {"oracle-box", "geodesic", "learned"}
    results = json.loads((out / "results_learned.json").read_text())
    assert {r["image_id"] for r in results} == set(held)
    assert "| learned |" in capsys.readouterr().out
    train = tmp_path / "train"  # the complement, for choosing options without the held-out images
    assert main(["evaluate", "--annotations", str(COCO_DEV), "--methods", "oracle-box", "--score", "oracle",
                 "--held-out", "0.4", "--part", "train", "--out", str(train)]) == 0
    seen = {r["image_id"] for r in json.loads((train / "results_oracle-box.json").read_text())}
    assert seen and not seen & set(held)
    with pytest.raises(SystemExit):
        main(["evaluate", "--annotations", str(COCO_DEV), "--limit", "0"])
    assert "must be a positive integer" in capsys.readouterr().err


def test_evaluate_checks_out_before_any_image_and_stops_cleanly_on_ctrl_c(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["evaluate", "--annotations", str(COCO_DEV), "--out", str(blocker)]) == 2
    assert f"--out {blocker} is a file, not a folder" in capsys.readouterr().err

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr("pose2instance.evaluation.evaluate_dataset", interrupted)
    assert main(["evaluate", "--annotations", str(COCO_DEV), "--out", str(tmp_path / "ev")]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err


def test_evaluate_refuses_an_old_report_unless_overwrite_and_a_folder_in_use(tmp_path, capsys):
    import fcntl
    out = tmp_path / "ev"
    argv = ["evaluate", "--annotations", str(COCO_DEV), "--methods", "oracle-box", "euclidean", "--limit", "1",
            "--out", str(out)]
    assert main(argv) == 0
    assert (out / "results_euclidean.json").is_file()
    capsys.readouterr()
    # a second run into the same folder would mix two runs' files: refused before any image
    assert main(argv[:4] + ["oracle-box"] + argv[6:]) == 2
    err = capsys.readouterr().err
    assert "holds the report of an earlier run" in err and "--overwrite" in err
    assert (out / "results_euclidean.json").is_file()
    # --overwrite clears the old run's files: no stale results_euclidean.json beside the new report
    (out / "notes.txt").write_text("mine")
    assert main(argv[:4] + ["oracle-box"] + argv[6:] + ["--overwrite"]) == 0
    assert not (out / "results_euclidean.json").exists() and (out / "results_oracle-box.json").is_file()
    assert (out / "notes.txt").read_text() == "mine"  # only the report's own files are removed
    assert set(json.loads((out / "metrics.json").read_text())["methods"]) == {"oracle-box"}
    capsys.readouterr()
    # a folder another evaluate is writing to is refused
    with open(out / ".pose2instance.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(argv + ["--overwrite"]) == 2
    assert "is in use by another pose2instance evaluate" in capsys.readouterr().err


def test_limits_refuse_huge_images_and_keep_the_best_people(tmp_path, capsys):
    from pathlib import Path

    import pose2instance
    from pose2instance.limits import LIMITS, set_limits
    assets = Path(pose2instance.__file__).parent / "assets"
    DEMO_IMAGE, DEMO_ANNOTATIONS = assets / "000000000790.jpg", assets / "000000000790.json"
    before = set_limits()
    try:
        assert main(["segment", str(DEMO_IMAGE), "--keypoints", str(DEMO_ANNOTATIONS), "--score", "oracle",
                     "--prior", "euclidean", "--max-pixels", "100000", "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert "over the limit of 0.1" in err and "--max-pixels" in err and "000000000790.jpg" in err
        assert main(["segment", str(DEMO_IMAGE), "--keypoints", str(DEMO_ANNOTATIONS), "--score", "oracle",
                     "--prior", "euclidean", "--max-people", "2", "--out", str(tmp_path / "o")]) == 2
        assert "4 non-crowd persons, more than the limit of 2" in capsys.readouterr().err
        assert LIMITS.max_people == 2  # the CLI sets them for the process
        # a keypoint results file with more people keeps the highest-scoring ones, with a warning
        from pose2instance.io import read_keypoint_results
        kp = [100.0, 100.0, 1.0] * 17
        entries = [{"image_id": 1, "keypoints": kp, "score": s} for s in (0.3, 0.9, 0.1, 0.8)]
        with pytest.warns(UserWarning, match="4 people; keeping the 2 with the highest scores"):
            people = read_keypoint_results(entries, Path("res.json"), {1: (200, 200)})[1]
        assert sorted(people.scores.tolist()) == pytest.approx([0.8, 0.9])
    finally:
        set_limits(**before)
    with pytest.raises(ValueError, match="positive integer"):
        set_limits(max_people=0)


def test_segment_a_folder_in_parallel_gives_the_masks_of_one_by_one(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("000000000790.jpg", "000000060623.jpg", "000000252219.jpg"):
        (folder / name).write_bytes((IMAGES / name).read_bytes())
    (folder / "broken.jpg").write_bytes(b"not a photo")
    (folder / "notes.txt").write_text("not an image")
    argv = ["segment", str(folder), "--keypoints", str(COCO_DEV), "--score", "oracle", "--prior", "euclidean"]
    assert main(argv + ["--workers", "2", "--out", str(tmp_path / "two")]) == 1  # one photo failed, the rest done
    captured = capsys.readouterr()
    assert "3 of 4 images segmented" in captured.out and "broken.jpg" in captured.err
    assert main(argv + ["--workers", "1", "--out", str(tmp_path / "one")]) == 1
    combined = json.loads((tmp_path / "two" / "results.json").read_text())
    assert combined == json.loads((tmp_path / "one" / "results.json").read_text())
    assert {r["image_id"] for r in combined} == {790, 60623, 252219}
    for stem in ("000000000790", "000000060623", "000000252219"):
        assert (tmp_path / "two" / f"{stem}_overlay.png").is_file()
        one_image = tmp_path / "single"
        assert main(["segment", str(folder / f"{stem}.jpg"), "--keypoints", str(COCO_DEV), "--score", "oracle",
                     "--prior", "euclidean", "--out", str(one_image)]) == 0
        assert (one_image / f"{stem}_results.json").read_bytes() == \
            (tmp_path / "two" / f"{stem}_results.json").read_bytes()
    # two photos with one stem would overwrite each other's outputs: refused before any work
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "000000000790.png").write_bytes(b"")
    assert main(["segment", str(folder), str(tmp_path / "b"), "--score", "oracle", "--keypoints", str(COCO_DEV)]) == 2
    assert "several images are named ['000000000790']" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["segment", str(tmp_path / "empty"), "--keypoints", str(COCO_DEV)]) == 2
    assert "no image files" in capsys.readouterr().err


def test_shards_merged_by_hand_and_on_a_local_dask_cluster_give_the_single_run_report(tmp_path, capsys):
    argv = ["evaluate", "--annotations", str(COCO_DEV), "--methods", "oracle-box", "euclidean", "--score", "oracle"]
    assert main(argv + ["--workers", "1", "--out", str(tmp_path / "single")]) == 0
    for k in (0, 1, 2):
        assert main(argv + ["--shard", f"{k}/3", "--out", str(tmp_path / f"s{k}")]) == 0
    assert main(argv + ["--merge", *(str(tmp_path / f"s{k}") for k in (0, 1, 2)), "--out", str(tmp_path / "m")]) == 0

    def numbers(folder):
        report = json.loads((folder / "metrics.json").read_text())
        return {k: v for k, v in report.items() if k not in ("timing_s", "wall_s", "workers", "shards")}
    single = numbers(tmp_path / "single")
    assert numbers(tmp_path / "m") == single and single["images"] == 5
    for name in ("results_euclidean.json", "table.md"):
        assert (tmp_path / "m" / name).read_bytes() == (tmp_path / "single" / name).read_bytes()
    # a shard given twice, or one missing, is refused
    assert main(argv + ["--merge", str(tmp_path / "s0"), str(tmp_path / "s0"), str(tmp_path / "s1"),
                        "--out", str(tmp_path / "m2")]) == 2
    assert "shards of 3: some given twice" in capsys.readouterr().err
    assert main(argv + ["--merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", str(tmp_path / "m3")]) == 2
    assert "shards of 3: missing [2]" in capsys.readouterr().err
    assert main(argv + ["--shard", "3/3", "--out", str(tmp_path / "bad")]) == 2
    assert "--shard K/N needs 0 <= K < N" in capsys.readouterr().err
    # Issue 22 (low): a shard.json that is not one, of another annotation file, or with edited masks, is refused
    shard = json.loads((tmp_path / "s2" / "shard.json").read_text())
    other = json.loads(COCO_DEV.read_text())
    other["info"] = {"description": "another version"}
    (tmp_path / "other.json").write_text(json.dumps(other))
    edited = json.loads(json.dumps(shard))
    edited["state"]["methods"]["euclidean"][0]["results"][0]["segmentation"]["size"] = [10, 10]
    cases = [({}, "missing or invalid 'state'"), ([1, 2], "expected an object, got list"),
             (edited, "a result whose mask is not of the image's size")]
    for k, (content, message) in enumerate(cases):
        (tmp_path / f"x{k}").mkdir()
        (tmp_path / f"x{k}" / "shard.json").write_text(json.dumps(content))
        assert main(argv + ["--merge", str(tmp_path / "s0"), str(tmp_path / "s1"), str(tmp_path / f"x{k}"),
                            "--out", str(tmp_path / f"mx{k}")]) == 2
        err = capsys.readouterr().err
        assert f"x{k}/shard.json: not a shard of `evaluate --shard` on" in err and message in err, err
    argv_other = ["evaluate", "--annotations", str(tmp_path / "other.json"), "--images", str(IMAGES),
                  "--methods", "oracle-box", "euclidean", "--score", "oracle"]
    assert main(argv_other + ["--merge", *(str(tmp_path / f"s{k}") for k in (0, 1, 2)), "--out",
                              str(tmp_path / "mo")]) == 2
    assert "it was evaluated on another annotation file" in capsys.readouterr().err
    pytest.importorskip("dask.distributed")
    assert main(argv + ["--dask", "local:2", "--out", str(tmp_path / "dask")]) == 0
    assert numbers(tmp_path / "dask") == single
    assert (tmp_path / "dask" / "results_euclidean.json").read_bytes() == \
        (tmp_path / "single" / "results_euclidean.json").read_bytes()
    assert sorted(p.name for p in (tmp_path / "dask").glob("shard_*")) == ["shard_0", "shard_1"]


def test_segment_a_folder_with_a_boxes_file_finds_each_photo_by_name(tmp_path, capsys):
    pytest.importorskip("ai_edge_litert")
    data = json.loads(COCO_DEV.read_text())
    names = {790: "table.jpg", 60623: "kitchen.jpg"}  # not numeric: the ids must come from the boxes file
    data["images"] = [dict(im, file_name=names[im["id"]]) for im in data["images"] if im["id"] in names]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in names]
    (tmp_path / "boxes.json").write_text(json.dumps(data))
    folder = tmp_path / "photos"
    folder.mkdir()
    for image_id, name in names.items():
        (folder / name).write_bytes((IMAGES / f"{image_id:012d}.jpg").read_bytes())
    assert main(["segment", str(folder), "--estimator", "blazepose", "--boxes", str(tmp_path / "boxes.json"),
                 "--score", "blazepose", "--workers", "1", "--out", str(tmp_path / "out")]) == 0, capsys.readouterr()
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert sorted({r["image_id"] for r in results}) == [790, 60623]
    assert len(results) == sum(1 for a in data["annotations"] if not a.get("iscrowd"))
    # a detection results file for both photos names no files: COCO's numeric file names pick the image
    detections = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.9}
                  for a in data["annotations"] if not a.get("iscrowd")]
    (tmp_path / "detections.json").write_text(json.dumps(detections))
    numbered = tmp_path / "numbered"
    numbered.mkdir()
    for image_id in names:
        (numbered / f"{image_id:012d}.jpg").write_bytes((IMAGES / f"{image_id:012d}.jpg").read_bytes())
    assert main(["segment", str(numbered), "--estimator", "blazepose", "--boxes", str(tmp_path / "detections.json"),
                 "--score", "blazepose", "--workers", "1", "--out", str(tmp_path / "out2")]) == 0
    results = json.loads((tmp_path / "out2" / "results.json").read_text())
    assert sorted({r["image_id"] for r in results}) == [790, 60623] and len(results) == len(detections)
    (numbered / "table.jpg").write_bytes((IMAGES / "000000000790.jpg").read_bytes())  # no id in its name
    assert main(["segment", str(numbered / "table.jpg"), "--estimator", "blazepose", "--boxes",
                 str(tmp_path / "detections.json"), "--out", str(tmp_path / "out3")]) == 2
    assert "none named by the photo's file name table.jpg; pass --image-id" in capsys.readouterr().err


def test_a_huge_box_in_a_keypoints_file_is_refused_by_name(tmp_path, capsys, coco_dev):
    """Issue 22 M1: a finite 12000 x 12000 box on a 640 x 422 photo gave an uncaught DecompressionBombError."""
    gt = coco_dev.persons(790)
    res = [{"image_id": 790, "category_id": 1, "score": 0.9, "bbox": [0, 0, 12000, 12000],
            "keypoints": np.c_[gt.keypoints[0, :, :2], gt.keypoints[0, :, 2] > 0].ravel().tolist()}]
    (tmp_path / "huge.json").write_text(json.dumps(res))
    assert main(["segment", str(IMAGE), "--keypoints", str(tmp_path / "huge.json"), "--score", "blazepose",
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "huge.json" in err and "more than one image size outside the 640x422 image" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["pack", "--annotations", "a.json", "--out", "p", "--margin", "nan"], "--margin: must be a finite number"),
    (["pack", "--annotations", "a.json", "--out", "p", "--margin", "0"],
     "--margin: must be a finite number at least 1"),
    (["pack", "--annotations", "a.json", "--out", "p", "--min-area", "nan"], "--min-area: must be a finite number"),
    (["pack", "--annotations", "a.json", "--out", "p", "--min-area", "-5"],
     "--min-area: must be a finite number at least 0"),
    (["segment", "a.jpg", "--temperature", "1e-50"], "--temperature: must be a finite number at least 0.001"),
    (["train", "--annotations", "a.json", "--checkpoint-every", "0"], "--checkpoint-every: must be a positive integer"),
    (["train", "--annotations", "a.json", "--scale-jitter", "nan"], "--scale-jitter: must be a finite number"),
    (["train", "--annotations", "a.json", "--rotate", "nan"], "--rotate: must be a finite number"),
])
def test_out_of_range_options_are_refused_before_anything_runs(argv, message, capsys):
    """Issue 22 (low): these were accepted (empty masks with exit 0, a math domain error, a crash later)."""
    if argv[0] == "train":
        pytest.importorskip("torch")
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_evaluate_refuses_a_bad_learned_model_before_any_image(tmp_path, capsys):
    """Issue 22 (low): a bad --learned-model config failed image by image and wrote a report of 0 images."""
    pytest.importorskip("torch")
    bad = tmp_path / "bad"
    bad.mkdir()
    from pose2instance.learned.models.weights import atomic_save_tensors
    import torch
    atomic_save_tensors(bad / "model.safetensors", {"w": torch.zeros(1)})
    (bad / "config.json").write_text('{"variant": "pose", "crop_size": 1e9}')
    assert main(["evaluate", "--annotations", str(COCO_DEV), "--methods", "learned", "--learned-model", str(bad),
                 "--out", str(tmp_path / "ev")]) == 2
    err = capsys.readouterr().err
    assert "config.json: bad model config: crop_size must be an integer" in err
    assert not (tmp_path / "ev" / "metrics.json").exists()


def test_a_reader_that_goes_away_is_no_error(tmp_path):
    """`pose2instance demo | head -1` printed "error: [Errno 32] Broken pipe"; a closed output is no error."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    proc = subprocess.Popen([sys.executable, "-m", "pose2instance.cli", "demo", "--out", str(tmp_path / "demo")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 141 and "error" not in err.lower(), err
    assert (tmp_path / "demo" / "000000000790_results.json").is_file()  # the work was done and kept
