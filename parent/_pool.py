"""Parked runtime threads: starting or waking a process takes one when one is free.

A thread costs about 16 KiB of RSS, three memory mappings and 50-100 us to create; a
hand-off to a parked thread costs one queue put and one wake-up. The pool is bounded:
at most `MAX_PARKED` threads wait for work, and a parked thread that gets no work for
`LINGER` seconds exits, so a quiet program holds no runtime threads at all.

Jobs are ``(fn, arg)`` pairs run as ``fn(arg)``; a job must not raise (process jobs
catch everything, kills included, in `parent._lifecycle`).

Locks: ``_pool_lock`` guards ``_idle``, the number of parked threads not yet claimed.
A submit claims a parked thread by
decrementing ``_idle`` and then puts the job; the claimed thread takes it from
``_jobs``. A parked thread whose wait times out exits only if no job was claimed for it
in the meantime (it checks ``_jobs`` again under the lock).
"""

from __future__ import annotations

import sys
import threading
from _queue import SimpleQueue
from collections.abc import Callable
from queue import Empty
from typing import Any

from parent._runtime import _timed_get

MAX_PARKED = 64
"""At most this many idle runtime threads wait for work."""

LINGER = 0.25
"""A parked thread with no work for this many seconds exits."""

_Job = tuple[Callable[[Any], None], Any]

_pool_lock = threading.Lock()
_jobs: SimpleQueue[_Job] = SimpleQueue()
_idle = 0
_POOL_NAME = "parent-pool"
# runtime thread ident -> its native id (process.info's ``thread``): each thread writes
# and removes only its own entry
native_ids: dict[int, int] = {}


def submit(fn: Callable[[Any], None], arg: Any) -> None:
    """Run ``fn(arg)`` on a parked thread, or on a new one if none is free."""
    global _idle
    with _pool_lock:
        if _idle:
            _idle -= 1
            _jobs.put((fn, arg))
            return
    thread = threading.Thread(target=_work, args=((fn, arg),), name=_POOL_NAME, daemon=True)
    try:
        thread.start()
    except RuntimeError:
        if not sys.is_finalizing() and not _threads_refused():
            raise
        # at interpreter exit CPython >= 3.12 starts no more threads: run it here (the
        # runtime's exit hook wakes hibernating processes to stop them)
        fn(arg)


def _threads_refused() -> bool:
    """Whether threading has shut down (3.12+ refuses new threads from then on)."""
    shutting_down = bool(getattr(threading, "_SHUTTING_DOWN", False))
    return shutting_down or not threading.main_thread().is_alive()


def _take() -> _Job | None:
    """Park the calling thread until a job is claimed for it, or `LINGER` passes."""
    global _idle
    try:
        job: _Job = _timed_get(_jobs, LINGER)
        return job
    except Empty:
        with _pool_lock:  # a job may have been claimed for us just as we timed out
            try:
                return _jobs.get_nowait()
            except Empty:
                _idle -= 1
                return None


def _work(job: _Job | None) -> None:
    global _idle
    ident = threading.get_ident()
    native_ids[ident] = threading.get_native_id()
    try:
        while job is not None:
            job[0](job[1])
            job = None  # drop the finished job's references while parked
            with _pool_lock:
                if _idle >= MAX_PARKED:
                    return
                _idle += 1
            job = _take()
    finally:
        del native_ids[ident]


def is_parked(thread: threading.Thread) -> bool:
    """Whether ``thread`` is a runtime thread serving no process right now (a process
    job names its thread after the process while it runs it)."""
    return thread.name == _POOL_NAME and thread.is_alive()
