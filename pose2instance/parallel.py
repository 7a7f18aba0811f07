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
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any


class WorkerDied(RuntimeError):
    """A worker process of :func:`ordered_map` died (the message says what to try)."""


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


def _die_with_parent(parent: int) -> None:
    """Worker initializer: ask Linux to SIGKILL this worker when its parent dies (a SIGKILL of the parent
    would otherwise leave the workers running, holding memory and the ``--out`` lock), and leave Ctrl-C to
    the parent (which stops the map; a worker's own KeyboardInterrupt would only print a traceback)."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _worker_died() -> WorkerDied:
    return WorkerDied("a worker process died (killed for memory? a crash in a library?); "
                      "run again with --workers 1 to see which item")


def effective_workers(workers: int, items: int) -> int:
    """How many processes :func:`ordered_map` uses for ``items`` items: 1 without ``fork``, for one item,
    or once CUDA is initialised in this process (a forked child cannot use it)."""
    torch = sys.modules.get("torch")
    if (workers <= 1 or items < 2 or "fork" not in multiprocessing.get_all_start_methods()
            or (torch is not None and torch.cuda.is_initialized())):
        return 1
    return min(workers, items)


def ordered_map(fn: Callable[[Any], Any], items: Iterable[Any], workers: int = 1) -> Iterator[Any]:
    """``fn(item)`` for every item, yielded in the order of ``items``, computed by ``workers`` processes.

    ``fn`` should catch its own errors and return them (an exception ends the map). At most
    two items per worker are in flight, so results do not pile up when the caller is slower.

    Raises:
        WorkerDied: a worker process died (killed for memory, a crash in a library).
    """
    items = list(items)
    workers = effective_workers(workers, len(items))
    if workers == 1:
        yield from map(fn, items)
        return
    global _TASK
    _TASK = fn
    before = _set_threads(1, 1)
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
            queue, rest = deque(), iter(items)
            try:
                for item in rest:
                    queue.append(pool.submit(_run, item))
                    if len(queue) >= 2 * workers:
                        break
                while queue:
                    result = queue.popleft().result()
                    for item in rest:
                        queue.append(pool.submit(_run, item))
                        break
                    yield result
            except BrokenProcessPool:  # raised by result() or, once the pool knows, by submit()
                raise _worker_died() from None
            except BaseException:  # Ctrl-C or the caller stopping: queued items are dropped, not computed
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    finally:
        _TASK = None
        _set_threads(*before)
