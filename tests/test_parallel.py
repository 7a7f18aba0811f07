"""ordered_map's workers: they die with their parent, and a dead worker is always the documented error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from pose2instance.parallel import WorkerDied, ordered_map

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers and prctl are Linux's")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_workers_die_when_their_parent_is_killed(tmp_path):
    """Issue 22 M2: after a SIGKILL of the parent, the workers lived on for 30+ minutes."""
    pids = tmp_path / "pids"
    script = textwrap.dedent(f"""
        import os, time
        from pose2instance.parallel import ordered_map
        def work(i):
            with open({str(pids)!r}, "a") as f:
                f.write(f"{{os.getpid()}}\\n")
            time.sleep(60)
        for _ in ordered_map(work, range(8), workers=2):
            pass
    """)
    parent = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 60
    while time.time() < deadline and len(set(pids.read_text().split()) if pids.exists() else ()) < 2:
        time.sleep(0.1)
    workers = {int(p) for p in pids.read_text().split()}
    assert len(workers) == 2 and all(_alive(p) for p in workers)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.1)
    assert not any(_alive(p) for p in workers)


def _die_on_three(i: int) -> int:
    if i == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
    time.sleep(0.01)
    return i


@pytest.mark.parametrize("attempt", range(4))
def test_a_killed_worker_is_always_worker_died(attempt):
    """Issue 22 M3: a dead worker sometimes surfaced as a BrokenProcessPool traceback from pool.submit."""
    with pytest.raises(WorkerDied, match="--workers 1"):
        list(ordered_map(_die_on_three, range(40), workers=2))


def test_ctrl_c_stops_the_map_without_worker_tracebacks(tmp_path):
    """Issue 22 (low): Ctrl-C during `evaluate --workers 2` printed the workers' KeyboardInterrupt tracebacks."""
    started = tmp_path / "started"
    script = textwrap.dedent(f"""
        import time
        from pose2instance.parallel import ordered_map
        def work(i):
            open({str(started)!r}, "a").close()
            return i
        try:
            for _ in ordered_map(work, range(40), workers=2):
                time.sleep(0.5)  # a slow consumer: the workers wait for items, as evaluate's do
        except KeyboardInterrupt:
            print("stopped")
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and not started.exists():
        time.sleep(0.05)
    time.sleep(0.3)
    t = time.time()
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: to the whole process group
    out, err = proc.communicate(timeout=30)
    assert out.strip() == "stopped" and "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert time.time() - t < 5  # the queued items were dropped, not computed
