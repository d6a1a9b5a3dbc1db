"""Helpers shared by the runtime's tests: a probe process the test drives, and waiting
on a condition with a deadline."""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from typing import Any

import pytest

import parent
from parent import GenServer, gen_server, process


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
