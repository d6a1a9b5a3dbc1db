"""Kills landing while a GenServer works through a backlog of queued requests.

A GenServer takes a queued item without a blocking wait (`parent._serve._loop`'s
backlog path). A kill must not lose the item it lands on: every caller is answered (a
reply or `ExitError`, never its timeout), and ``handled=False`` only for a request that
never ran.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from parent import ExitError, GenServer, gen_server, process
from parent.testing import wait_until

ROUNDS = 150
CALLERS = 12


class Backlogged(GenServer):
    """Blocks on ``gate`` in its first call, so that later requests queue up."""

    def init(self, gate: threading.Event, ran: list[Any]) -> None:
        self.gate = gate
        self.ran = ran

    def handle_call(self, request: Any, from_: Any) -> Any:
        if request == "block":
            self.gate.wait()
            return "unblocked"
        return self._run(request)

    def handle_cast(self, request: Any) -> None:
        self._run(request)

    def _run(self, request: Any) -> Any:
        self.ran.append(request)
        for _ in range(300):  # some work, so that the drain lasts long enough to be hit
            pass
        return request


def _one_round(rng: random.Random) -> tuple[int, int]:
    """One server, a backlog of casts and calls, a kill while it drains them. Returns
    (requests that ran, calls answered unread)."""
    gate = threading.Event()
    ran: list[Any] = []
    pid = Backlogged.start(gate, ran)
    outcomes: dict[int, Any] = {}

    def caller(n: int) -> None:
        try:
            request = "block" if n < 0 else ("call", n)
            outcomes[n] = gen_server.call(pid, request, timeout=10.0)
        except ExitError as exc:
            outcomes[n] = exc
        except BaseException as exc:  # a timeout here is the bug this file looks for
            outcomes[n] = exc

    blocker = threading.Thread(target=lambda: caller(-1))
    blocker.start()
    assert wait_until(lambda: pid._cur is not None, 5.0)
    callers = []
    for n in range(CALLERS):
        gen_server.cast(pid, ("cast", n))  # a bare cast and a tuple one alternate
        gen_server.cast(pid, n)
        t = threading.Thread(target=caller, args=(n,))
        t.start()
        callers.append(t)
    assert wait_until(lambda: pid._mbox.qsize() >= 3 * CALLERS, 5.0)
    target = rng.randrange(3 * CALLERS - 2)
    gate.set()
    while len(ran) < target:  # let it drain part of the backlog (a spin: no sleep)
        pass
    process.exit(pid, "kill")
    for t in [blocker, *callers]:
        t.join(15.0)
    pid.join(5.0)
    unread = 0
    for n in range(CALLERS):
        outcome = outcomes[n]
        if isinstance(outcome, ExitError):
            if not outcome.handled:
                unread += 1
                assert ("call", n) not in ran, f"call {n} ran but was answered unread"
        else:
            assert outcome == ("call", n), f"call {n}: {outcome!r}"
    return len(ran), unread


@pytest.mark.timeout(120)
def test_a_kill_during_a_backlog_loses_no_caller(tiny_switch_interval: None) -> None:
    rng = random.Random(20261207)
    mid = 0  # rounds whose kill landed in the middle of the backlog
    for _ in range(ROUNDS):
        done, unread = _one_round(rng)
        if 0 < done < 3 * CALLERS and unread:
            mid += 1
    # the offsets must actually hit the drain, or this test proves nothing
    assert mid >= ROUNDS // 10, f"only {mid} of {ROUNDS} kills landed mid-backlog"
