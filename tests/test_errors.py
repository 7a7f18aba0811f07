"""Input errors carry fields; the command line and the page phrase their hints their own way (issue 18)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pose2instance.cli import CLI_HINTS, main
from pose2instance.errors import HINTS, InputError, phrase
from pose2instance.io import FormatError, load_people
from pose2instance.limits import check_pixels
from pose2instance.web.jobs import PAGE_HINTS


def test_one_error_three_phrasings():
    with pytest.raises(InputError) as caught:
        check_pixels(5000, 9000, "photo.jpg")
    e = caught.value
    assert isinstance(e, ValueError) and e.field == "max_pixels" and e.hint == "limit"
    assert e.message == "photo.jpg: 9000x5000 is 45.0 megapixels, over the limit of 40"
    assert str(e) == e.message + "; raise the limit with pose2instance.limits.set_limits(max_pixels=...)"
    assert phrase(e, CLI_HINTS) == e.message + "; raise it with --max-pixels"
    assert phrase(e, PAGE_HINTS) == e.message + "; the server's limit: pose2instance serve --max-pixels"
    assert set(CLI_HINTS) == set(PAGE_HINTS) == set(HINTS)  # every hint phrased by every front end
    assert phrase(KeyError("x"), CLI_HINTS) == "'x'"
    with pytest.raises(ValueError, match="unknown hint"):
        InputError("bad", hint="nothing")


def test_the_image_id_hint_names_the_file_and_reaches_the_command_line(tmp_path, capsys):
    results = tmp_path / "two.json"
    results.write_text(json.dumps([{"image_id": i, "category_id": 1, "keypoints": [0] * 51, "score": 1}
                                   for i in (1, 2)]))
    photo = tmp_path / "table.jpg"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(photo)
    with pytest.raises(FormatError) as caught:
        load_people(results, photo, (20, 30))
    assert caught.value.file == results and caught.value.hint == "image_id"
    assert main(["segment", str(photo), "--keypoints", str(results), "--score", "blazepose",
                 "--out", str(tmp_path / "out")]) == 2
    assert "table.jpg; pass --image-id" in capsys.readouterr().err


def test_a_cut_people_list_warns_in_the_command_line_s_words(tmp_path):
    from pose2instance.segment import demo_files
    photo, annotations = demo_files()
    data = json.loads(annotations.read_text())
    results = [{"image_id": 790, "category_id": 1, "keypoints": a["keypoints"], "score": 0.9}
               for a in data["annotations"]]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    done = subprocess.run([sys.executable, "-m", "pose2instance.cli", "segment", str(photo), "--keypoints", str(path),
                           "--score", "blazepose", "--max-people", "2", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == 0, done.stderr
    assert "warning: " in done.stderr and "4 people; keeping the 2 with the highest scores; raise it with " \
        "--max-people" in done.stderr


def test_a_photo_too_small_to_show_a_person_is_refused(tmp_path, capsys):
    """Issue 21: a 1x1 image was accepted without a word."""
    tiny = tmp_path / "dot.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tiny)
    assert main(["segment", str(tiny), "--out", str(tmp_path / "out")]) == 2
    assert "dot.png: 1x1 pixels is too small to show a person (at least 8x8)" in capsys.readouterr().err
