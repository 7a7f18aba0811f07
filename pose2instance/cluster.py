"""``evaluate`` over many machines: shards of the images as Dask tasks, merged into one report.

Why Dask: its ``distributed`` scheduler runs plain Python functions on a cluster started
by hand (``dask scheduler`` / ``dask worker``), on SLURM, Kubernetes or the clouds
(dask-jobqueue, dask-kubernetes), or on one machine (``LocalCluster``), with no change to
the code; the work here is a handful of independent, long tasks, which is what it schedules
best. Ray would do as well; Dask is the lighter install (an optional extra, ``[dask]``).

Each shard ``k`` of ``n`` is the command itself with ``--shard k/n --out OUT/shard_k``,
run by the command's entry point (``pose2instance.cli.main``, passed in) inside a worker
process (models load once per shard);
it evaluates images ``k, k + n, ...`` of the list and writes ``shard.json`` (its report and
the per-image records). The client then merges the shards
(:func:`pose2instance.evaluation.merge_shards`) into the report a single run gives. The
workers must see the data and ``--out`` at the same paths (a shared file system).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .io import read_json


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with ``0 <= K < N``."""
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must be K/N (e.g. 0/4), got {text!r}") from None
    if not 0 <= k < n:
        raise ValueError(f"--shard K/N needs 0 <= K < N, got {text!r}")
    return k, n


def shard_argv(argv: list[str], k: int, n: int, out: Path) -> list[str]:
    """The command of shard ``k`` of ``n``: ``argv`` plus ``--shard``, its own ``--out`` and one worker.

    Later options win in argparse, and ``--shard`` wins over ``--dask`` / ``--merge`` in
    ``evaluate``, so nothing has to be taken out of ``argv`` (abbreviated options included).
    """
    return [*argv, "--shard", f"{k}/{n}", "--out", str(out / f"shard_{k}"), "--workers", "1", "--overwrite"]


def run_on_dask(address: str, argv: list[str], out: Path, shards: int | None,
                run: Callable[[list[str]], int]) -> list[dict]:
    """Run the shards of ``argv`` with ``run(shard argv) -> exit code`` (the CLI's ``main``, a module-level
    function, so Dask sends it by name) on the Dask cluster at ``address`` (``local:N``: N local worker processes).

    Returns the shards' reports (``shard.json``), in shard order.

    Raises:
        ImportError: Dask is not installed (``pip install "pose2instance[dask]"``).
        ValueError: a shard failed (its exit code and folder are named).
    """
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as e:
        raise ImportError(f'--dask needs Dask: pip install "pose2instance[dask]" ({e})') from e
    out = Path(out).resolve()  # the workers write there: a relative path would be theirs, not ours
    local = address.removeprefix("local:") if address.startswith("local:") else None
    if local is not None and (not local.isdigit() or int(local) < 1):
        raise ValueError(f"--dask local:N needs a number of worker processes N >= 1, got {address!r}")
    cluster = LocalCluster(n_workers=int(local), threads_per_worker=1, processes=True, dashboard_address=None) \
        if local is not None else None
    try:
        with Client(cluster or address) as client:
            n = shards or max(1, len(client.scheduler_info()["workers"]))
            futures = [client.submit(run, shard_argv(argv, k, n, out), key=f"pose2instance-shard-{k}-of-{n}",
                                     pure=False) for k in range(n)]
            codes = client.gather(futures)
    finally:
        if cluster is not None:
            cluster.close()
    bad = [(k, c) for k, c in enumerate(codes) if c not in (0, 1)]
    if bad:
        raise ValueError("shard(s) failed: " + ", ".join(f"{out / f'shard_{k}'} (exit code {c})" for k, c in bad))
    return [read_json(out / f"shard_{k}" / "shard.json") for k in range(n)]
