"""Run a function over many items in forked worker processes, results in the items' order.

Forking shares what the function needs (built methods, loaded networks, interpreters)
without pickling it; only the items and the results cross between processes. Each worker
uses one torch and one OpenCV thread, so ``N`` workers use ``N`` cores instead of
oversubscribing them (the counts are set in the parent just before it forks, and restored
after). Where ``fork`` is not available (Windows), or with one worker, the items are
processed in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

#: The function the forked workers run (set just before the pool forks).
_TASK: Callable[[Any], Any] | None = None


def default_workers() -> int:
    """The number of cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _set_threads(torch_threads: int | None, cv2_threads: int | None) -> tuple[int | None, int | None]:
    """Set torch's and OpenCV's thread counts (None: leave, or not imported); returns the previous ones.

    Set in the parent before it forks, not in the children: a child that changes the count
    of a thread pool its parent had started can hang.
    """
    torch, cv2 = sys.modules.get("torch"), sys.modules.get("cv2")
    before = (torch.get_num_threads() if torch else None, cv2.getNumThreads() if cv2 else None)
    if torch and torch_threads:
        torch.set_num_threads(torch_threads)
    if cv2 and cv2_threads is not None:
        cv2.setNumThreads(cv2_threads)
    return before


def _run(item: Any) -> Any:
    return _TASK(item)


def ordered_map(fn: Callable[[Any], Any], items: Iterable[Any], workers: int = 1) -> Iterator[Any]:
    """``fn(item)`` for every item, yielded in the order of ``items``, computed by ``workers`` processes.

    ``fn`` should catch its own errors and return them (an exception ends the map).
    """
    items = list(items)
    if workers <= 1 or len(items) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        yield from map(fn, items)
        return
    global _TASK
    _TASK = fn
    before = _set_threads(1, 1)
    try:
        with multiprocessing.get_context("fork").Pool(min(workers, len(items))) as pool:
            yield from pool.imap(_run, items)
    finally:
        _TASK = None
        _set_threads(*before)
