"""SIGKILL ``evaluate --workers 2`` at random moments: no worker may survive, and the --out folder is reusable at once.

Each trial starts ``pose2instance evaluate`` with two worker processes, kills the parent with SIGKILL after a
random delay, then checks that every child it had is gone within 5 s (they ask Linux to kill them with their
parent) and that a new ``evaluate --overwrite`` into the same folder runs at once (the folder lock died with
the process). Linux only.

    python benchmarks/kill_evaluate.py [--trials 10] [--annotations FILE]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("POSE2INSTANCE_DATA", ROOT.parent / "shared" / "data"))
#: the full dev file where it is (75 images: the kills land while it runs), else the test fixture's
DEFAULT = next(p for p in (SHARED / "coco_persons" / "annotations" / "person_keypoints_dev.json",
                           ROOT / "tests" / "data" / "coco_persons" / "annotations" / "person_keypoints_dev.json")
               if p.is_file())


def children(pid: int) -> set[int]:
    """The child processes of ``pid`` (from /proc)."""
    out = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--annotations", type=Path, default=DEFAULT)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = random.Random(args.seed)
    command = [sys.executable, "-m", "pose2instance.cli", "evaluate", "--annotations", str(args.annotations),
               "--methods", "oracle-box", "geodesic", "--score", "oracle", "--workers", "2", "--overwrite"]
    failures = 0
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "ev"
        for trial in range(args.trials):
            proc = subprocess.Popen([*command, "--out", str(out)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            delay = rng.uniform(0.5, 4.0)
            workers: set[int] = set()
            end = time.time() + delay
            while time.time() < end and proc.poll() is None:
                workers |= children(proc.pid)
                time.sleep(0.05)
            finished = proc.poll() is not None
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            deadline = time.time() + 5
            while time.time() < deadline and any(alive(w) for w in workers):
                time.sleep(0.05)
            survivors = sorted(w for w in workers if alive(w))
            t = time.time()
            rerun = subprocess.run([*command, "--limit", "1", "--out", str(out)], capture_output=True, text=True)
            ok = not survivors and rerun.returncode == 0
            failures += not ok
            print(f"trial {trial}: killed after {delay:.2f} s ({'after the end' if finished else 'while running'}), "
                  f"{len(workers)} worker(s) seen, survivors {survivors or 'none'}, re-run into the same folder: "
                  f"exit {rerun.returncode} in {time.time() - t:.1f} s"
                  + ("" if ok else f"  FAILED {rerun.stderr[-300:]}"))
            for w in survivors:
                subprocess.run(["kill", "-9", str(w)], check=False)
    print(f"{args.trials - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
