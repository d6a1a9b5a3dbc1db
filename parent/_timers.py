"""Timers: one thread for every timer of the runtime (`send_after`, `cancel_timer`).

A due timer posts its message like `parent.process.send`, so it also wakes a
hibernating process.
"""

from __future__ import annotations

import heapq
import threading
import time
from typing import Any

from parent._lifecycle import post
from parent._runtime import _INFO, Pid


class _TimerRef:
    __slots__ = ("cancelled", "due", "message", "pid")

    def __init__(self, due: float, pid: Pid, message: Any) -> None:
        self.due = due
        self.pid = pid
        self.message = message
        self.cancelled = False

    def __lt__(self, other: _TimerRef) -> bool:
        return self.due < other.due


class _TimerThread:
    """One thread for every timer of the runtime; it exits when no timer is left.

    ``_cond`` guards ``_heap`` and ``_running``."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[_TimerRef] = []
        self._running = False

    def add(self, ref: _TimerRef) -> None:
        with self._cond:
            heapq.heappush(self._heap, ref)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="parent-timers", daemon=True).start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0].cancelled:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._running = False
                        return
                    wait = self._heap[0].due - time.monotonic()
                    if wait <= 0:
                        ref = heapq.heappop(self._heap)
                        break
                    self._cond.wait(wait)
            pid = ref.pid
            if not ref.cancelled and pid._alive:
                post(pid, (_INFO, ref.message, None))


_timers = _TimerThread()


def send_after(pid: Pid, message: Any, delay: float) -> _TimerRef:
    """Send ``message`` to ``pid`` after ``delay`` seconds; returns a timer reference for
    `cancel_timer`.

    Example:
        ```python
        ref = process.send_after(process.current(), "tick", 1.0)
        ```
    """
    if delay < 0:
        raise ValueError(f"delay must be >= 0, got {delay!r}")
    ref = _TimerRef(time.monotonic() + delay, pid, message)
    _timers.add(ref)
    return ref


def cancel_timer(ref: _TimerRef) -> None:
    """Cancel a timer from `send_after`; a message already sent stays in the mailbox.

    Example:
        ```python
        process.cancel_timer(ref)
        ```
    """
    with _timers._cond:
        ref.cancelled = True
        _timers._cond.notify()  # the timer thread drops it and exits if none is left
