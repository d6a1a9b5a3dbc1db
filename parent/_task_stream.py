"""The engine behind every ``async_stream`` (`parent.Task`, `parent.TaskSupervisor`).

`stream` is a generator: it starts tasks (through the ``start`` function it is given)
only while fewer than ``max_concurrency`` run and only when the consumer asks for the
next result, so the iterable is read lazily. Every task's outcome wakes one shared
``From`` slot; finished results wait in ``done`` (input order) or ``ready``
(completion order). Everything here runs in the consumer's thread and needs no lock;
the outcomes themselves are guarded by ``parent.task._lock``.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from parent import _lifecycle as _lc
from parent import process as _p
from parent.errors import CallTimeout
from parent.process import Exit, From, Pid
from parent.task import _TIMED_OUT, Ok, TaskRef, _check_callable, _check_timeout, _wait

__all__ = ["check_stream", "stream"]


def check_stream(
    fn: object, max_concurrency: int | None, timeout: float | None, on_timeout: str
) -> int:
    """The checked ``max_concurrency`` of an ``async_stream``; raises for a bad option."""
    _check_callable(fn, "async_stream")
    _check_timeout(timeout, "async_stream")
    if max_concurrency is None:
        max_concurrency = os.cpu_count() or 1
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
        raise TypeError(f"async_stream: max_concurrency must be an int, got {max_concurrency!r}")
    if max_concurrency < 1:
        raise ValueError(f"async_stream: max_concurrency must be >= 1, got {max_concurrency!r}")
    if on_timeout not in ("exit", "kill_task"):
        raise ValueError(
            f"async_stream: on_timeout must be 'exit' or 'kill_task', got {on_timeout!r}"
        )
    return max_concurrency


def _stop_tasks(refs: list[TaskRef[Any]], owner: Pid | None) -> None:
    """Kill tasks without taking their owner down with them."""
    for ref in refs:
        if owner is not None:
            _p._unlink_pair(owner, ref._pid)
        _lc.kill(ref._pid)


class _Collecting(threading.local):
    """Whether this thread is running a garbage collection (``gc.callbacks``)."""

    now = False


_collecting = _Collecting()


def _track_collections(phase: str, info: dict[str, int]) -> None:
    _collecting.now = phase == "start"


gc.callbacks.append(_track_collections)


def stream(
    iterable: Iterable[Any],
    start: Callable[[Any, From], TaskRef[Any]],
    max_concurrency: int,
    ordered: bool,
    timeout: float | None,
    on_timeout: str,
) -> Iterator[Ok[Any] | Exit]:
    """The generator behind every ``async_stream``: ``start(item, slot)`` starts the
    task of one item, whose outcome wakes ``slot``. Every running task has the deadline
    ``timeout`` after its start; they start in order, so the oldest one is the first due."""
    slot = From()
    owner = _p.current()
    items = iter(iterable)
    more = True
    running: dict[TaskRef[Any], tuple[int, float | None]] = {}  # in start order
    done: dict[int, Ok[Any] | Exit] = {}  # ordered: finished, waiting for their turn
    ready: deque[Ok[Any] | Exit] = deque()  # unordered: finished, in completion order
    started = emitted = 0
    try:
        while True:
            while more and len(running) < max_concurrency:
                try:
                    item = next(items)
                except StopIteration:
                    more = False
                    break
                ref = start(item, slot)
                running[ref] = (started, None if timeout is None else time.monotonic() + timeout)
                started += 1
            if ordered:
                if emitted in done:
                    outcome = done.pop(emitted)
                    emitted += 1
                    yield outcome
                    continue
            elif ready:
                yield ready.popleft()
                continue
            if not running:
                return
            oldest, (oldest_index, deadline) = next(iter(running.items()))
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            token = _wait(slot, remaining)
            if token is not _TIMED_OUT:
                entry = running.pop(token, None)
                if entry is None:  # a task already stopped for its timeout
                    continue
                index, outcome = entry[0], token._outcome
            elif on_timeout == "exit":
                raise CallTimeout(
                    f"Task.async_stream: the task of item #{oldest_index} ({oldest.pid!r}) "
                    f"did not finish within {timeout} s"
                )
            else:
                del running[oldest]
                _stop_tasks([oldest], owner)
                settled = oldest._outcome  # it may have returned at the last moment
                index = oldest_index
                outcome = settled if isinstance(settled, Ok) else Exit(oldest.pid, "timeout")
            if ordered:
                done[index] = outcome
            else:
                ready.append(outcome)
    finally:
        if running and _collecting.now:
            # closed by the garbage collector, which may have started inside the
            # runtime's lock (at any allocation): stop the tasks from another thread
            threading.Thread(target=_stop_tasks, args=(list(running), owner), daemon=True).start()
        elif running:
            _stop_tasks(list(running), owner)
