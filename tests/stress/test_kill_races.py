"""A kill landing while the victim's own thread is ending other processes."""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Iterator

import pytest

from parent import GenServer, Pid, process
from parent.testing import wait_until

pytestmark = pytest.mark.timeout(120)


class Idle(GenServer):
    pass


@pytest.fixture
def tiny_switch_interval() -> Iterator[None]:
    """Switch threads every microsecond, to make the window a kill must hit likely."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _watch(victims: list[Pid], downs: list[Pid], ready: threading.Event) -> None:
    for v in victims:
        process.monitor(v)
    ready.set()
    while len(downs) < len(victims):
        downs.append(process.receive(timeout=10.0).pid)


def _kill_all(victims: list[Pid], started: threading.Event) -> None:
    started.set()
    for v in victims:
        process.exit(v, "kill")


def test_a_process_killed_while_ending_others_leaves_none_half_dead(
    tiny_switch_interval: None,
) -> None:
    """Process A kills a batch of victims; the test kills A at a random moment. Every
    victim must end fully dead: joinable (its death latch released) and its monitor's
    Down delivered. Before the fix, a kill injected into A in the middle of its
    bookkeeping for a victim left that victim marked dead but never finished."""
    rng = random.Random(1234)
    for _round in range(60):
        victims = [Idle.start() for _ in range(20)]
        downs: list[Pid] = []
        ready = threading.Event()

        watcher = process.spawn(_watch, victims, downs, ready)
        assert ready.wait(5.0)
        started = threading.Event()

        killer = process.spawn(_kill_all, victims, started)
        assert started.wait(5.0)
        for _ in range(rng.randrange(0, 400)):
            pass
        process.exit(killer, "kill")
        # whatever A managed to do, every victim it touched must be completely dead;
        # the ones it did not reach we end here
        for v in victims:
            process.exit(v, "kill")
        for v in victims:
            assert v.join(5.0) == "killed", v
        assert watcher.join(10.0) == "normal"
        assert sorted(downs, key=repr) == sorted(victims, key=repr)
        assert wait_until(lambda: not process._live_processes(), 5.0)


class Echo(GenServer):
    def handle_call(self, request: object, from_: object) -> object:
        return request


def test_a_call_racing_a_kill_is_answered_not_timed_out(tiny_switch_interval: None) -> None:
    """A call taken off the mailbox by a parked server at the moment it is killed (after
    the killer drained the mailbox) must still be answered with the death, not left to
    time out."""
    from parent import CallTimeout, ExitError, NoProcess, gen_server

    outcomes: dict[str, int] = {}
    for _ in range(1200):
        pid = Echo.start()
        result: list[str] = []

        def caller(pid: Pid = pid, result: list[str] = result) -> None:
            try:
                gen_server.call(pid, "hi", timeout=1.0)
                result.append("reply")
            except (ExitError, NoProcess) as exc:
                result.append(type(exc).__name__)
            except CallTimeout:
                result.append("timeout")

        t = threading.Thread(target=caller)
        t.start()
        process.exit(pid, "kill")
        t.join(5.0)
        assert pid.join(5.0) == "killed"
        outcomes[result[0]] = outcomes.get(result[0], 0) + 1
    assert "timeout" not in outcomes, outcomes
