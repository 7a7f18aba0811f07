"""The web page's server (``pose2instance serve``) over real HTTP, without a browser: the same masks as
``segment``, models built once, bad input answered with a readable message while the server keeps serving,
files only in the temporary folder, concurrent users kept apart."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import time
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid

import numpy as np
import pytest
from conftest import COCO_DEV, IMAGES
from PIL import Image

pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert")

from pose2instance.io import CocoPersons, rle_to_mask
from pose2instance.web import App, Models, PageServer
from pose2instance.segment import demo_files

PHOTO, ANNOTATIONS = demo_files()


@pytest.fixture(scope="module")
def models():
    models = Models()
    models.preload()
    return models


@pytest.fixture
def server(models, tmp_path, monkeypatch):
    """A page server on a free port, its temporary folder under ``tmp_path/root``, the cwd ``tmp_path/cwd``."""
    root, cwd = tmp_path / "root", tmp_path / "cwd"
    root.mkdir(), cwd.mkdir()
    monkeypatch.chdir(cwd)
    with PageServer("127.0.0.1", 0, App(models, root, max_upload_bytes=8 << 20, keep_jobs=3)) as srv:
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        yield srv
        srv.shutdown()


def post(url: str, fields: dict[str, str] = (), files: dict[str, tuple[str, bytes]] = ()) -> tuple[int, dict]:
    """POST a multipart form; ``(status, JSON answer)``."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in dict(fields).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data) in dict(files).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f'Content-Type: application/octet-stream\r\n\r\n'.encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "api/segment", body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def demo_upload() -> dict:
    return {"photo": (PHOTO.name, PHOTO.read_bytes()), "keypoints": (ANNOTATIONS.name, ANNOTATIONS.read_bytes())}


def test_the_page_and_its_options(server):
    status, page = get(server.url)
    assert status == 200 and b'id="people"' in page and b"/static/app.js" in page
    assert get(server.url + "static/app.js")[0] == 200
    options = json.loads(get(server.url + "api/options")[1])
    assert options["defaults"] == {"estimator": "auto", "score": "learned", "prior": "geodesic"}
    assert options["max_upload_bytes"] == 8 << 20 and "yolo" in options["estimators"]


def test_demo_gives_the_masks_of_segment_with_ious(server, tmp_path):
    from pose2instance.cli import main

    status, result = post(server.url, files=demo_upload())
    assert status == 200, result
    assert len(result["people"]) == 4 and result["image_id"] == 790
    assert result["ground_truth"]["persons"] == 4 and result["ground_truth"]["missed"] == 0
    # the same masks as `pose2instance segment` with the same files and defaults
    assert main(["segment", str(PHOTO), "--keypoints", str(ANNOTATIONS), "--out", str(tmp_path / "cli")]) == 0
    cli = json.loads((tmp_path / "cli" / "000000000790_results.json").read_text())
    status, page = get(server.url.rstrip("/") + result["downloads"]["results"])
    assert status == 200 and json.loads(page) == cli
    # IoU against the annotation's masks, person by person
    gt = CocoPersons(ANNOTATIONS).persons(790).masks
    for person, entry in zip(result["people"], cli):
        mask = rle_to_mask(entry["segmentation"])
        assert person["iou"] == pytest.approx((mask & gt[person["index"]]).sum() / (mask | gt[person["index"]]).sum())
        status, png = get(server.url.rstrip("/") + person["mask_url"])
        assert status == 200 and np.array_equal(np.asarray(Image.open(io.BytesIO(png))) > 0, mask)
    assert result["ground_truth"]["mean_iou"] == pytest.approx(np.mean([p["iou"] for p in result["people"]]))
    assert result["ground_truth"]["mean_iou"] > 0.85
    assert {"read image", "person score", "prior + fusion", "total (server)"} <= set(result["timings_ms"])
    status, zipped = get(server.url.rstrip("/") + result["downloads"]["masks_zip"])
    assert status == 200 and zipped[:2] == b"PK"


def test_models_are_built_once_per_server(server, models):
    before = dict(models.builds)
    for _ in range(2):
        assert post(server.url, {"demo": "1"})[0] == 200
    assert post(server.url, {"demo": "1", "score": "blazepose"})[0] == 200
    assert post(server.url, {"demo": "1", "score": "blazepose"})[0] == 200
    assert all(n == 1 for n in models.builds.values())
    assert set(models.builds) - set(before) <= {"score:blazepose"}


def test_estimated_people_are_matched_to_the_ground_truth(server):
    status, result = post(server.url, {"demo": "1", "demo_keypoints": "0", "estimator": "yolo"})
    assert status == 200, result
    assert result["settings"]["people"] == "yolo" and any("found by yolo" in n for n in result["notes"])
    ious = sorted((p["iou"] for p in result["people"]), reverse=True)
    assert len(ious) >= 4 and min(ious[:4]) > 0.6  # the four people of the table are found and matched


def test_the_ground_truth_follows_the_image_id_and_counts_the_missed_people(server):
    """Issue 21: the Image id picks the ground truth's image even without a keypoints file, and with estimated
    people the answer says how many ground-truth people no one was matched to, and their mean IoU over all."""
    renamed = {"photo": ("dinner.jpg", PHOTO.read_bytes()),
               "ground_truth": (ANNOTATIONS.name, ANNOTATIONS.read_bytes())}
    status, answer = post(server.url, {"image_id": "790", "estimator": "blazepose"}, files=renamed)
    assert status == 200, answer
    truth = answer["ground_truth"]
    found = [p["iou"] for p in answer["people"] if p["iou"] > 0]
    assert truth["persons"] == 4 and truth["missed"] == 4 - len(found)
    assert truth["mean_iou"] == pytest.approx(sum(found) / 4)  # a missed person counts 0
    status, answer = post(server.url, {"estimator": "blazepose"}, files=renamed)  # no id, a name it lacks
    assert status == 400 and "dinner.jpg" in answer["error"] and "Image id" in answer["error"]


def big_png(pixels: int) -> bytes:
    side = int(np.ceil(np.sqrt(pixels)))
    out = io.BytesIO()
    Image.new("L", (side, side)).save(out, format="PNG")  # compresses to a few kB
    return out.getvalue()


@pytest.mark.parametrize("files,fields,status,message", [
    ({"photo": ("notes.txt", b"these are not pixels")}, {}, 400, "notes.txt: cannot read image (not an image format"),
    ({"photo": ("cut.jpg", PHOTO.read_bytes()[:5000])}, {}, 400, "cut.jpg: cannot read image"),
    ({"photo": ("huge.png", big_png(50_000_000))}, {}, 400, "huge.png"),
    ({"photo": (PHOTO.name, PHOTO.read_bytes()), "keypoints": ("other.json", json.dumps(
        {"images": [{"id": 1, "file_name": "other.jpg", "width": 10, "height": 10}], "annotations": [],
         "categories": [{"id": 1, "name": "person"}]}).encode())}, {}, 400, "other.json: no image named"),
    ({"photo": (PHOTO.name, PHOTO.read_bytes()), "keypoints": (COCO_DEV.name, COCO_DEV.read_bytes())},
     {"image_id": "60623"}, 400, "000000000790.jpg is 640x422 but person_keypoints_dev.json says image 60623"),
    ({}, {"demo": "1", "score": "rm -rf"}, 400, "score: 'rm -rf' is not one of"),
    ({}, {"demo": "1", "image_id": "1e9"}, 400, "image id"),
    ({}, {}, 400, "no photo"),
    ({"photo": ("big.bin", b"\0" * (9 << 20))}, {}, 413, "at most 8 MB"),
    ({"photo": (PHOTO.name, PHOTO.read_bytes())}, {"score": "oracle"}, 400, "oracle score needs ground-truth"),
])
def test_bad_input_gets_a_readable_message_and_the_server_keeps_serving(server, files, fields, status, message):
    got, answer = post(server.url, fields, files)
    assert (got, message in answer["error"]) == (status, True), answer
    assert "Traceback" not in answer["error"] and "ModuleNotFound" not in answer["error"]
    assert str(server.app.root) not in answer["error"] and "/input/" not in answer["error"]
    assert post(server.url, {"demo": "1"})[0] == 200


def test_the_50_megapixel_message_names_the_servers_limit(server):
    answer = post(server.url, files={"photo": ("huge.png", big_png(50_000_000))})[1]
    assert answer["error"].startswith("huge.png: 7072x7072 is 50.0 megapixels, over the limit of 40")
    assert "the server's limit: pose2instance serve --max-pixels" in answer["error"]


def demo_results(confidence: float = 2.0) -> bytes:
    """The demo's ground-truth keypoints as a COCO keypoint results file (score 0.9, confidences ``confidence``)."""
    gt = CocoPersons(ANNOTATIONS).persons(790)
    kp = gt.keypoints.copy()
    kp[..., 2] = np.where(kp[..., 2] > 0, confidence, 0)
    return json.dumps([{"image_id": 790, "category_id": 1, "score": 0.9, "keypoints": k.ravel().tolist()}
                       for k in kp]).encode()


def test_uploads_keep_their_names_apart_and_notes_name_the_users_files(server):
    data = json.loads(ANNOTATIONS.read_text())
    data["images"][0]["file_name"] = "fotó de la cena 790.jpg"
    status, answer = post(server.url, files={"photo": ("fotó de la cena 790.jpg", PHOTO.read_bytes()),
                                             "keypoints": ("same.json", demo_results()),
                                             "ground_truth": ("same.json", json.dumps(data).encode())})
    assert status == 200, answer
    assert answer["image"]["name"] == "fotó de la cena 790.jpg"
    assert [p["score"] for p in answer["people"]] == [pytest.approx(0.9)] * 4  # the results file's people
    assert answer["ground_truth"]["missed"] == 0 and min(p["iou"] for p in answer["people"]) > 0.5  # its masks
    assert any(n.startswith("same.json: ") and "clipped" in n for n in answer["notes"]), answer["notes"]
    assert not any(str(server.app.root) in n or "/input/" in n for n in answer["notes"])


def test_the_cli_advice_becomes_the_pages(server):
    two = json.loads(demo_results(1.0)) + [{**json.loads(demo_results(1.0))[0], "image_id": 5}]
    answer = post(server.url, files={"photo": ("dinner.jpg", PHOTO.read_bytes()),
                                     "keypoints": ("two.json", json.dumps(two).encode())})[1]
    assert answer["error"].startswith("two.json: results for 2 images") and "fill in the Image id field" in \
        answer["error"]
    assert post(server.url, {"image_id": "790"}, {"photo": ("dinner.jpg", PHOTO.read_bytes()),
                                                  "keypoints": ("two.json", json.dumps(two).encode())})[0] == 200


def test_other_sites_can_neither_post_nor_read(server):
    for headers in ({"Host": "evil.example:80"}, {"Origin": "http://evil.example"}):
        request = urllib.request.Request(server.url + "api/options", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=30)
        assert error.value.code == 403
    request = urllib.request.Request(server.url + "api/options", headers={"Origin": server.url.rstrip("/")})
    assert urllib.request.urlopen(request, timeout=30).status == 200


def test_a_full_server_says_busy_and_queued_jobs_keep_their_files(models, tmp_path):
    with PageServer("127.0.0.1", 0, App(models, tmp_path, keep_jobs=1, max_pending=2)) as srv:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        answers = []
        with models.lock:  # the first two requests wait for the computation, the third finds no room
            threads = [threading.Thread(target=lambda: answers.append(post(srv.url, {"demo": "1"})))
                       for _ in range(2)]
            for t in threads:
                t.start()
            while srv.app.pending._value:
                threading.Event().wait(0.01)
            status, busy = post(srv.url, {"demo": "1"})
            assert status == 503 and "busy" in busy["error"]
        for t in threads:
            t.join()
        assert [a[0] for a in answers] == [200, 200]  # keep_jobs=1 deleted no queued job's files
        kept = [a[1] for a in answers if get(srv.url.rstrip("/") + a[1]["downloads"]["results"])[0] == 200]
        assert len(kept) == 1 and len(list(tmp_path.iterdir())) == 1
        srv.shutdown()


def test_unknown_and_escaping_paths_are_not_found(server):
    job = post(server.url, {"demo": "1"})[1]["job"]
    for path in (f"jobs/{job}/../../etc/passwd", f"jobs/{job}/input", "jobs/0123456789abcdef/photo.jpg",
                 "static/../jobs.py", "api/nothing"):
        assert get(server.url + path)[0] == 404, path
    request = urllib.request.Request(server.url + "api/segment", b"x", method="POST",
                                     headers={"Content-Type": "text/plain"})
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=30)
    assert error.value.code == 400 and "multipart" in json.loads(error.value.read())["error"]


def test_files_stay_in_the_temporary_folder_and_old_jobs_go(server, tmp_path):
    jobs = [post(server.url, {"demo": "1"})[1] for _ in range(4)]
    assert list((tmp_path / "cwd").iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == sorted(j["job"] for j in jobs[1:])  # keep_jobs=3
    assert get(server.url.rstrip("/") + jobs[0]["downloads"]["results"])[0] == 404
    assert get(server.url.rstrip("/") + jobs[-1]["downloads"]["results"])[0] == 200


def test_two_users_at_once_get_their_own_results(server):
    other = IMAGES / "000000060623.jpg"
    uploads = [demo_upload(), {"photo": (other.name, other.read_bytes()),
                               "keypoints": (COCO_DEV.name, COCO_DEV.read_bytes())}]
    answers = [None, None]

    def ask(i):
        answers[i] = post(server.url, files=uploads[i])
    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (s0, a0), (s1, a1) = answers
    assert (s0, s1) == (200, 200) and a0["job"] != a1["job"]
    assert (a0["image_id"], a1["image_id"]) == (790, 60623)
    assert len(a1["people"]) == len(CocoPersons(COCO_DEV).persons(60623))
    for answer, image_id in ((a0, 790), (a1, 60623)):
        results = json.loads(get(server.url.rstrip("/") + answer["downloads"]["results"])[1])
        assert {r["image_id"] for r in results} == {image_id}


def test_serve_command_prints_its_url_and_removes_its_folder_when_stopped(tmp_path):
    home = tmp_path.parent / f"{tmp_path.name}_home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("YOLO_CONFIG_DIR", "TORCHINDUCTOR_CACHE_DIR",
                                                             "TRITON_CACHE_DIR", "MPLCONFIGDIR", "XDG_CONFIG_HOME")}
    process = subprocess.Popen([sys.executable, "-m", "pose2instance.cli", "serve", "--port", "0", "--temp-dir",
                                str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(env, HOME=str(home)))
    try:
        line = process.stdout.readline()
        assert line.startswith("pose2instance page: http://127.0.0.1:"), line
        url = line.split()[2]
        assert len(list(tmp_path.iterdir())) == 1
        assert post(url, {"demo": "1"})[0] == 200
    finally:
        process.send_signal(signal.SIGTERM)  # as `kill` does; Ctrl-C (SIGINT) takes the same path
        process.wait(timeout=30)
    assert process.returncode == 0 and list(tmp_path.iterdir()) == []
    # issue 22 (low): nothing in the user's home either (ultralytics' settings, torch's caches)
    assert [p.relative_to(home) for p in home.rglob("*")] == []


def test_serve_refuses_bad_options(capsys):
    from pose2instance.cli import main
    assert main(["serve", "--port", "70000"]) == 2
    assert main(["serve", "--max-upload-mb", "0"]) == 2
    assert main(["serve", "--max-upload-mb", "inf"]) == 2
    assert "--port must be 0..65535" in capsys.readouterr().err


def _raw_request(url: str, head: bytes, body: bytes = b"") -> tuple[socket.socket, bytes]:
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(head + body)
    return sock, host


def test_a_slow_client_loses_its_slot_and_refusals_close_the_connection(models, tmp_path, monkeypatch):
    """Issue 22 (low): a client sending a byte now and then held a request slot for minutes; 413 and 503
    answers kept the connection open."""
    from pose2instance.web import server as server_module
    monkeypatch.setattr(server_module.Handler, "timeout", 1.0)
    with PageServer("127.0.0.1", 0, App(models, tmp_path, max_upload_bytes=1 << 20, max_pending=1)) as srv:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        port = srv.server_address[1]
        head = (f"POST /api/segment HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: multipart/form-data; "
                f"boundary=x\r\nContent-Length: 1000\r\n\r\n").encode()
        slow, _ = _raw_request(srv.url, head, b"-")      # holds the only slot, then stalls
        time.sleep(0.3)
        assert post(srv.url, {"demo": "1"})[0] == 503    # busy while it holds the slot
        answer = slow.recv(4096).decode(errors="replace")  # about 1 s later the server gives up on it
        assert answer.startswith("HTTP/1.0 408") or answer.startswith("HTTP/1.1 408"), answer
        assert "Connection: close" in answer
        assert post(srv.url, {"demo": "1"})[0] == 200    # the slot is free again
        big = (f"POST /api/segment HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: multipart/form-data; "
               f"boundary=x\r\nContent-Length: {2 << 20}\r\n\r\n").encode()
        sock, _ = _raw_request(srv.url, big, b"x" * (2 << 20))
        answer = b""
        while chunk := sock.recv(4096):  # to the end: the server closes the connection
            answer += chunk
        answer = answer.decode(errors="replace")
        assert " 413 " in answer.splitlines()[0] and "Connection: close" in answer and "max-upload-mb" in answer
        sock.close()
        slow.close()
        assert srv.request_queue_size >= 64              # a burst of connections is queued, not reset


def test_every_loopback_address_checks_host_and_origin(models, tmp_path):
    """Issue 22 (low): --host 127.0.0.2 skipped the Host and Origin checks."""
    with PageServer("127.0.0.2", 0, App(models, tmp_path)) as srv:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        request = urllib.request.Request(srv.url + "api/options", headers={"Origin": "http://evil.example"})
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=30)
        assert error.value.code == 403
        assert urllib.request.urlopen(srv.url + "api/options", timeout=30).status == 200
