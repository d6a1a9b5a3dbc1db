"""Helpers shared by the runtime's tests: a probe process the test drives, waiting on a
condition with a deadline, and the leak check every test ends with."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import parent
from parent import GenServer, _lifecycle, _pool, gen_server, process

LEAK_DEADLINE = 5.0


def _extra_threads(baseline: set[threading.Thread]) -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if t not in baseline and t.is_alive() and not _pool.is_parked(t)
    ]


def check_no_leaks(baseline: set[threading.Thread]) -> None:
    """Fail if a live process is left, or a thread not in ``baseline`` that does not
    end within ``LEAK_DEADLINE`` seconds (a killed process's thread may need a moment to
    unwind). Leaked processes are killed first, so that one leak does not fail every
    later test."""
    leaked = process.list()
    for pid in leaked:
        _lifecycle.kill(pid)
    deadline = time.monotonic() + LEAK_DEADLINE
    threads = _extra_threads(baseline)
    while threads and time.monotonic() < deadline:
        # a runtime thread that finishes its process parks instead of ending, and no
        # event marks that: join briefly, then look again
        threads[0].join(min(0.02, max(0.0, deadline - time.monotonic())))
        threads = _extra_threads(baseline)
    assert not leaked, f"test left live processes: {leaked}"
    assert not threads, f"test left threads running: {[t.name for t in threads]}"


def wait_for(cond: Callable[[], object], timeout: float = 2.0) -> bool:
    """True as soon as ``cond()`` is truthy, False at the deadline."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)
    return True


def crash_reports(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "parent" and r.levelno >= logging.ERROR]


class Probe(GenServer):
    """A process the test drives: ``call(pid, fn)`` runs ``fn()`` inside it, and every
    message it receives is put in the inbox the test gave it."""

    def init(self, inbox: queue.SimpleQueue[Any]) -> None:
        self.inbox = inbox

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        try:
            return ("ok", request())
        except Exception as exc:
            return ("error", exc)

    def handle_info(self, message: Any) -> None:
        self.inbox.put(message)


class ProbeHandle:
    def __init__(self, trap: bool = False) -> None:
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.pid = Probe.start(self.inbox)
        if trap:
            self.run(lambda: process.trap_exits(True))

    def run(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` inside the probe's process; re-raise what it raised."""
        tag, value = gen_server.call(self.pid, fn)
        if tag == "error":
            raise value
        return value

    def next(self, timeout: float = 2.0) -> Any:
        return self.inbox.get(timeout=timeout)

    def assert_no_more_messages(self) -> None:
        """Everything sent to the probe before now has arrived, and nothing else."""
        marker = object()
        process.send(self.pid, marker)
        got = self.next()
        assert got is marker, f"unexpected message {got!r}"


class FakeClock:
    """The clock restart intensity is counted with (``compat._intensity``), moved by
    hand: ``now`` is what ``time.monotonic()`` returns there."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now
