"""Videos in parallel: one worker process per core, one video (one encoder thread) per worker at a time.

A worker that dies (FFmpeg crashing on a hostile file, the kernel's out-of-memory killer) takes the pool down with
every video in flight; those are run again one at a time, each in a fresh single-worker pool, and a video whose
worker dies again while it runs alone is reported broken. Workers die with the main process (``PR_SET_PDEATHSIG``:
a SIGKILLed run leaves no worker that renames a file afterwards) and ignore SIGINT (Ctrl-C stops the main process,
which then takes them down).
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable, Iterator

from datasets.resize.transcode import Task, process, source_stamp

CRASHED = "the worker process died while transcoding it, also when it ran alone (an FFmpeg crash, or out of memory)"
_PR_SET_PDEATHSIG = 1


def _init_worker(parent: int) -> None:
    """In each worker: SIGINT ignored, SIGKILL when its parent dies (the parent: the main process, or with the
    forkserver start method the fork server, which exits with the main process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: no parent-death signal
        pass
    try:
        os.kill(parent, 0)
    except ProcessLookupError:  # the main process died before prctl
        os._exit(1)


def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(os.getpid(),))


def run_pool(tasks: Iterable[Task], workers: int, fn: Callable[[Task], dict] = process) -> Iterator[tuple[Task, dict]]:
    """``(task, fn(task))`` in completion order. An exception ``fn`` raises is raised here (the pool is shut down)."""
    todo = deque(tasks)
    while todo:
        suspects = yield from _run_until_crash(todo, workers, fn)
        for task in suspects:
            yield task, _run_alone(task, fn)


def _run_until_crash(todo: deque, workers: int, fn) -> Iterator[tuple[Task, dict]]:
    """Run ``todo`` (popping it) until it is empty or a worker dies; returns the tasks in flight at a crash."""
    pool, window, crashed = _pool(workers), {}, []
    try:
        while todo or window:
            while todo and len(window) < 2 * workers:  # a short queue: few videos to retry after a crash
                task = todo.popleft()
                window[pool.submit(fn, task)] = task
            done, _ = wait(window, return_when=FIRST_COMPLETED)
            for future in done:
                task = window.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    crashed.append(task)
                    continue
                yield task, result
            if crashed:
                return crashed + list(window.values())
        return []
    finally:
        pool.shutdown(wait=not crashed and not window, cancel_futures=True)


def _run_alone(task: Task, fn) -> dict:
    pool = _pool(1)
    try:
        return pool.submit(fn, task).result()
    except BrokenProcessPool:
        return crashed_entry(task)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def crashed_entry(task: Task) -> dict:
    """The journal entry of a video whose worker died while it ran alone."""
    return {"path": task.rel, "status": "broken", "source": source_stamp(task.src), "output": None, "error": CRASHED}
