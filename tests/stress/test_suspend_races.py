"""Suspensions racing with callers and kills (`parent.sys.suspend` / `resume`).

A suspended server takes items out of its mailbox and keeps them; on resume it replays
them before its mailbox. Under load, with suspend/resume toggled by another thread and
a kill landing at a random moment, every caller must be answered (a reply or
`ExitError`, never its timeout), each sender's requests must be handled in the order
it sent them, and a call answered ``handled=False`` must never have run.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from parent import ExitError, GenServer, NoProcess, ProcessError, gen_server, process
from parent import sys as psys
from parent.testing import wait_until

ROUNDS = 30
CALLERS = 6
PER_CALLER = 60


class Log(GenServer):
    def init(self, log: list[Any]) -> None:
        self.log = log  # shared with the test: it outlives the server

    def handle_call(self, request: Any, from_: Any) -> Any:
        self.log.append(request)
        return request

    def handle_cast(self, request: Any) -> None:
        self.log.append(request)


def _caller(pid: Any, me: int, answered: list[Any], refused: list[Any]) -> None:
    for n in range(PER_CALLER):
        request = (me, n)
        if n % 3 == 0:
            gen_server.cast(pid, request)
            continue
        try:
            answered.append(gen_server.call(pid, request, timeout=10.0))
        except ExitError as exc:
            if not exc.handled:
                refused.append(request)
            return
        except NoProcess:
            return


def _toggler(pid: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            psys.suspend(pid, timeout=10.0)
            psys.resume(pid, timeout=10.0)
        except (ExitError, NoProcess, ProcessError):
            return


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.usefixtures("tiny_switch_interval")
def test_suspend_resume_under_load_loses_and_reorders_nothing(round_: int) -> None:
    rng = random.Random(round_)
    log: list[Any] = []
    pid = Log.start_link(log)
    answered: list[Any] = []
    refused: list[Any] = []
    stop = threading.Event()
    toggler = threading.Thread(target=_toggler, args=(pid, stop))
    callers = [
        threading.Thread(target=_caller, args=(pid, i, answered, refused)) for i in range(CALLERS)
    ]
    toggler.start()
    for t in callers:
        t.start()
    kill_after = rng.randrange(CALLERS * PER_CALLER)
    assert wait_until(
        lambda: len(log) >= kill_after or not any(t.is_alive() for t in callers), timeout=10.0
    )
    if rng.random() < 0.8:
        process.exit(pid, "kill")
    for t in callers:
        t.join(15.0)
        assert not t.is_alive(), "a caller was never answered"
    stop.set()
    toggler.join(15.0)
    assert not toggler.is_alive()
    if pid.is_alive():
        gen_server.stop(pid)
    handled = list(log)
    for me in range(CALLERS):
        mine = [n for who, n in handled if who == me]
        assert mine == sorted(mine), f"caller {me}'s requests were reordered: {mine}"
        assert len(mine) == len(set(mine)), f"caller {me}'s requests ran twice: {mine}"
    assert set(answered) <= set(handled)
    assert not set(refused) & set(handled), "a call answered handled=False had run"
