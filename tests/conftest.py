"""Shared fixtures: every test must leave no live process and no extra thread behind."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest
from probes import FakeClock, ProbeHandle, check_no_leaks

import compat._intensity as intensity_module
from parent import process


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves a live process, or a thread that does not end within
    ``probes.LEAK_DEADLINE`` seconds (`probes.check_no_leaks`)."""
    baseline = set(threading.enumerate())
    yield
    check_no_leaks(baseline)


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
