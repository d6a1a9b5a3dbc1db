"""Suspensions racing with callers and kills (`parent.sys.suspend` / `resume`).

A suspended server takes items out of its mailbox and keeps them; on resume it replays
them before its mailbox. Under load, with suspend/resume toggled by another thread and
a kill landing at a random moment, every caller must be answered (a reply or
`ExitError`, never its timeout), each sender's requests must be handled in the order
it sent them, and a call answered ``handled=False`` must never have run.
"""

from __future__ import annotations

import random
import sys
import threading
from typing import Any

import pytest

from parent import ExitError, GenServer, NoProcess, ProcessError, gen_server, process
from parent import _lifecycle as _lc
from parent import sys as psys
from parent._runtime import _CALL, From
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


def test_a_kill_while_kept_items_replay_completes_the_death() -> None:
    """The death hook `answer_kept` iterates the kept deque in the killer's thread while
    the victim's own thread may still pop (replay) or append (suspended) to it: "deque
    mutated during iteration" is raised in `die`, in the killer, with the death half
    done (``join`` never returns, links and callers are never told)."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        pid = Log.start_link([])
        psys.suspend(pid)
        n = 300_000
        for i in range(n):
            gen_server.cast(pid, i)
        # every cast is kept (taken out of the mailbox) before the resume is sent
        assert wait_until(lambda: pid._mbox.qsize() == 0, timeout=30.0)
        psys.resume(pid)  # the loop now replays n kept casts
        errors: list[BaseException] = []
        try:
            process.exit(pid, "kill")  # the hook walks what is still kept
        except BaseException as exc:  # the bug: an error escapes die()
            errors.append(exc)
        assert errors == []
        assert pid.join(5.0) == "killed"
    finally:
        sys.setswitchinterval(old)


class Idle(GenServer):
    pass


@pytest.mark.parametrize("round_", range(40))
def test_every_call_kept_by_a_suspended_server_is_answered_when_it_is_killed(
    round_: int,
) -> None:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        pid = Idle.start_link()
        psys.suspend(pid)
        slots: list[From] = []

        def flood() -> None:
            while pid.is_alive():
                slot = From()
                slots.append(slot)
                _lc.post(pid, (_CALL, len(slots), slot))
                if not pid.is_alive():  # as gen_server._await does
                    _lc.answer_unread(pid, slot)

        t = threading.Thread(target=flood)
        t.start()
        target = random.Random(round_).randrange(200, 3000)
        assert wait_until(lambda: len(slots) > target, timeout=10.0)
        process.exit(pid, "kill")
        t.join(10.0)
        assert not t.is_alive()
        pid.join(5.0)
        # join returns once the death is complete; the dead process's own thread may
        # still be answering the item it held (a caller waiting on it gets it then)
        wait_until(lambda: all(not slot.empty() for slot in slots), timeout=2.0)
        unanswered = [n for n, slot in enumerate(slots, 1) if slot.empty()]
        assert unanswered == [], f"of {len(slots)} calls, never answered: {unanswered}"
    finally:
        sys.setswitchinterval(old)
