"""The registries: every method and score by name, the learned method in the one evaluation loop."""

from __future__ import annotations

import numpy as np
import pytest

from pose2instance.evaluation import evaluate_dataset, split_image_ids
from pose2instance.pipeline import MaskMethod
from pose2instance.registry import FUSION_PRIORS, METHODS, SCORES, make_method, make_methods, make_scorer
from pose2instance.scores import OracleScore


def test_every_method_is_built_once_and_declares_what_it_needs():
    for name in METHODS:
        if name == "learned":
            continue
        method = make_method(name, temperature=0.2)
        assert isinstance(method, MaskMethod) and method.name == name
        assert method.needs_score == (name != "box")
    assert make_method("geodesic").needs_image and not make_method("euclidean").needs_image
    assert make_method("heatmap-gdt").needs_heatmaps
    assert set(FUSION_PRIORS) < set(METHODS)
    with pytest.raises(ValueError, match="unknown method 'nope'; choose from box"):
        make_method("nope")


def test_score_specs():
    assert isinstance(make_scorer("oracle"), OracleScore)
    assert {"oracle", "blazepose", "selfie", "learned", "deeplab"} <= set(SCORES)
    with pytest.raises(ValueError, match="unknown person score 'nope'"):
        make_scorer("nope")
    with pytest.raises(ValueError, match="missing.npy: score map not found"):
        make_scorer("missing.npy")


def test_the_learned_method_runs_in_the_evaluation_loop(coco_dev):
    pytest.importorskip("torch")
    pytest.importorskip("tflite")  # the shipped network is rebuilt from the packaged BlazePose .tflite
    ids = coco_dev.image_ids[:2]
    report = evaluate_dataset(coco_dev, make_methods(["learned", "oracle-box"]), OracleScore(), image_ids=ids,
                              progress=False)
    learned = report["methods"]["learned"]
    assert learned["count"] == report["methods"]["oracle-box"]["count"] > 0
    assert 0.3 < learned["mean_iou"] <= 1.0  # the shipped network's own masks
    assert set(report["timing_s"]) >= {"learned", "oracle-box", "score"}
    # it needs no person score: alone, the loop runs without one
    alone = evaluate_dataset(coco_dev, make_methods(["learned"]), image_ids=ids, progress=False)
    assert alone["methods"]["learned"]["mean_iou"] == pytest.approx(learned["mean_iou"])
    with pytest.raises(ValueError, match="need a person score"):
        evaluate_dataset(coco_dev, make_methods(["oracle-box"]), image_ids=ids, progress=False)


def test_held_out_split_is_by_image_id_only():
    ids = list(range(1000, 3000, 7))
    train, held = split_image_ids(ids, 0.2, seed=0)
    assert set(train).isdisjoint(held) and sorted(train + held) == ids
    assert 0.15 < len(held) / len(ids) < 0.25
    # an image's side never depends on the other ids in the list
    assert split_image_ids(held[:5] + train[:5], 0.2, seed=0) == (sorted(train[:5]), sorted(held[:5]))
    assert np.array_equal(split_image_ids(ids, 0.2, seed=1)[1], split_image_ids(ids[::-1], 0.2, seed=1)[1])


def test_the_registry_type_names_choices_extras_and_what_is_installed():
    from pose2instance.named import Registry

    def needs_missing(**kwargs):
        raise ImportError("No module named 'nowhere'")
    things = Registry("thing")
    things.add("here", lambda x=1: x * 2, "always here")
    things.add("away", needs_missing, "needs a module that is missing", ("nowhere_module_xyz",), extra="away")
    assert things.build("here", x=3) == 6 and list(things) == ["here", "away"]
    assert things.available() == ("here",)
    assert things.help_text() == "here: always here; away: needs a module that is missing"
    with pytest.raises(ValueError, match="unknown thing 'there'; choose from here, away"):
        things.build("there")
    with pytest.raises(ImportError, match=r'the thing away needs: pip install "pose2instance\[away\]"'):
        things.build("away")
    with pytest.raises(ValueError, match="registered already"):
        things.add("here", lambda: None)
    with pytest.raises(ValueError, match="unknown method 'geodesics'; choose from box"):
        make_method("geodesics")
