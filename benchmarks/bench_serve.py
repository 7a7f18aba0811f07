"""The web page's answer time against the CLI's ``segment`` on the demo photo, measured in the same run.

    python benchmarks/bench_serve.py [--repeats 5] [--estimated]

Rows (median milliseconds over ``--repeats``):

* ``segment`` CLI, whole command: ``pose2instance segment`` in a new process (start, model loading,
  computation, writing the overlay and results), as a user runs it;
* computation: the work the CLI and the page share, in a process whose models are loaded and warm
  (:func:`pose2instance.segment.read_people` and :meth:`~pose2instance.segment.Segmenter.run`: people,
  person score, masks, COCO entries; no files);
* page: one ``POST /api/segment`` to a running ``pose2instance serve`` (started once, in its own
  process), uploading the photo and the keypoints file as the browser does, until the JSON answer;
* page, first request: the first request of that kind after the server printed its URL (models load and
  run once on the demo photo at start).

page - computation is what the page adds: HTTP, the multipart upload, writing the photo JPEG, the mask PNGs,
the results JSON and the ZIP, the JSON answer (the issue's bound: 300 ms). With ``--estimated`` the same rows
without a keypoints file (the ``auto`` pose estimator finds the people).
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_web import post

from pose2instance.io import load_image
from pose2instance.segment import Segmenter, demo_files, read_people

PHOTO, ANNOTATIONS = demo_files()


def ms(fn) -> float:
    t = time.perf_counter()
    fn()
    return 1e3 * (time.perf_counter() - t)


def start_server(temp: Path) -> tuple[subprocess.Popen, str, float]:
    t = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "pose2instance.cli", "serve", "--port", "0", "--temp-dir",
                                str(temp)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    if not line.startswith("pose2instance page: "):
        process.kill()
        raise RuntimeError(f"the server did not start: {line!r}")
    return process, line.split()[2], 1e3 * (time.perf_counter() - t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--estimated", action="store_true", help="also without a keypoints file (pose estimator)")
    args = ap.parse_args(argv)
    cases = [("keypoints file", True)] + ([("estimated (auto)", False)] if args.estimated else [])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        server, url, start_ms = start_server(tmp)
        try:
            rows = {}
            for label, with_keypoints in cases:
                files = {"photo": (PHOTO.name, PHOTO.read_bytes())}
                if with_keypoints:
                    files["keypoints"] = (ANNOTATIONS.name, ANNOTATIONS.read_bytes())
                first = ms(lambda: post(url, files=files))
                page = [ms(lambda: post(url, files=files)) for _ in range(args.repeats)]
                status, answer = post(url, files=files)
                assert status == 200 and answer["people"], answer
                cli_args = ["--keypoints", str(ANNOTATIONS)] if with_keypoints else []
                cli = [ms(lambda: subprocess.run([sys.executable, "-m", "pose2instance.cli", "segment", str(PHOTO),
                                                  *cli_args, "--out", str(tmp / "cli")], check=True,
                                                 capture_output=True)) for _ in range(args.repeats)]
                segmenter, image = Segmenter(), load_image(PHOTO)

                def compute():
                    persons, _, image_id = read_people(PHOTO, image.shape[:2],
                                                       ANNOTATIONS if with_keypoints else None)
                    segmenter.run(image, persons, image_path=PHOTO, image_id=image_id)
                compute()  # warm-up, as the server's models are
                inproc = [ms(compute) for _ in range(args.repeats)]
                rows[label] = {"cli": statistics.median(cli), "compute": statistics.median(inproc),
                               "page": statistics.median(page), "first": first, "people": len(answer["people"])}
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
    print(f"server start (models loaded, URL printed): {start_ms:.0f} ms\n")
    print("| people from | people | segment CLI (whole command) | computation | page | page, 1st request "
          "| page - computation | page / CLI |")
    print("|---|---|---|---|---|---|---|---|")
    for label, r in rows.items():
        print(f"| {label} | {r['people']} | {r['cli']:.0f} ms | {r['compute']:.0f} ms | {r['page']:.0f} ms | "
              f"{r['first']:.0f} ms | {r['page'] - r['compute']:+.0f} ms | {r['page'] / r['cli']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
