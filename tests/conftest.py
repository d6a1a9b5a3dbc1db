"""Shared fixtures: every test must leave no live process and no extra thread behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest
from probes import FakeClock, ProbeHandle

import compat._intensity as intensity_module
from parent import _lifecycle, _pool, process

LEAK_DEADLINE = 5.0


def _extra_threads(baseline: set[threading.Thread]) -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if t not in baseline and t.is_alive() and not _pool.is_parked(t)
    ]


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves a live process, or a thread that does not end within
    ``LEAK_DEADLINE`` seconds (a killed process's thread may need a moment to unwind)."""
    baseline = set(threading.enumerate())
    yield
    leaked = process._live_processes()
    for pid in leaked:  # clean up so that one leak does not fail every later test
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


@pytest.fixture
def probes() -> Iterator[Callable[..., ProbeHandle]]:
    made: list[ProbeHandle] = []

    def make(trap: bool = False) -> ProbeHandle:
        p = ProbeHandle(trap)
        made.append(p)
        return p

    yield make
    for p in made:
        process.exit(p.pid, "kill")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Replace the clock restarts are counted with (only that one: everything else
    keeps real time)."""
    fake = FakeClock()
    monkeypatch.setattr(intensity_module, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake
