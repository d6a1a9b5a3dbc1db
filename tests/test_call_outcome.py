"""How a call ends when its server dies on the caller: ``ExitError.handled`` (API.md,
"parent: idle timeouts and hibernation", last item; `parent.ExitError`).

``handled`` is ``False`` only when the server died with the request still unread in its
mailbox, so the request had no effect; ``True`` when the server had taken it (or when
that cannot be known). The stress test checks the one direction that is promised
without doubt: a request the server executed is never reported unhandled.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import parent
from parent import (
    Continue,
    ExitError,
    GenServer,
    Hibernate,
    NoProcess,
    NoReply,
    Pid,
    Stop,
    Timeout,
    gen_server,
    process,
)
from parent.testing import wait_until

pytestmark = pytest.mark.timeout(60)


class Worker(GenServer):
    """Records the id of every request it executes in ``ran`` (first thing, so a request
    in ``ran`` was certainly executed). Requests are ``(op, id)``:

    * ``"run"``: answer ``id`` (``hibernating=True``: and hibernate after each call);
    * ``"block"``, ``"block-crash"``, ``"block-stop"``: wait for ``gate``, then answer,
      raise, or stop with reason ``"normal"`` without replying;
    * ``("defer", how)``: answer later (never, in these tests), deferred with ``how``.
    """

    def init(self, ran: list[Any], gate: threading.Event, hibernating: bool = False) -> None:
        self.ran = ran
        self.gate = gate
        self.hibernating = hibernating

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        op, rid = request
        self.ran.append(rid)
        if op == "run":
            time.sleep(0)  # give the GIL up after the record: a kill may land here
            return Hibernate(reply=rid) if self.hibernating else rid
        if op.startswith("block"):
            self.gate.wait()
            if op == "block-crash":
                raise RuntimeError(rid)
            if op == "block-stop":
                raise Stop("normal")
            return rid
        assert op == "defer"
        return DEFERRALS[rid]()

    def handle_cast(self, request: Any) -> None:
        raise RuntimeError(request)

    def handle_continue(self, arg: Any) -> None:
        return None


DEFERRALS: dict[str, Callable[[], Any]] = {
    "NoReply": lambda: NoReply,
    "Hibernate()": Hibernate,
    "Timeout(60)": lambda: Timeout(60.0),
    "Continue(arg)": lambda: Continue("arg"),
}


def call_in_thread(pid: Pid, request: Any) -> tuple[threading.Thread, list[Any]]:
    """Call from a new thread; the list gets the reply or the exception."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(gen_server.call(pid, request, timeout=10.0))
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def unread(pid: Pid) -> int:
    """How many items wait in ``pid``'s mailbox (private: the one thing this file
    must see from outside is a request still unread)."""
    return pid._mbox.qsize()


# -- a request still in the mailbox, and the one being handled ---------------------------

DEATHS: dict[str, tuple[str, Callable[[Pid, threading.Event], None], Any]] = {
    # (what the first request does, how the server dies, the exit reason)
    "killed": ("block", lambda pid, gate: process.exit(pid, "kill"), "killed"),
    "exit signal": ("block", lambda pid, gate: process.exit(pid, "boom"), "boom"),
    "crashes in the call before": ("block-crash", lambda pid, gate: gate.set(), RuntimeError),
    "stops in the call before": ("block-stop", lambda pid, gate: gate.set(), "normal"),
}


@pytest.mark.parametrize("death", list(DEATHS))
def test_the_request_being_handled_is_handled_and_the_queued_one_is_not(death: str) -> None:
    first_op, kill, reason = DEATHS[death]
    ran: list[Any] = []
    gate = threading.Event()
    pid = Worker.start(ran, gate)
    try:
        first, first_outcome = call_in_thread(pid, (first_op, "first"))
        assert wait_until(lambda: ran == ["first"], 5.0)
        second, second_outcome = call_in_thread(pid, ("run", "second"))
        assert wait_until(lambda: unread(pid) == 1, 5.0)
        kill(pid, gate)
        first.join(5.0)
        second.join(5.0)
    finally:
        gate.set()
    (taken,) = first_outcome
    (queued,) = second_outcome
    for err in (taken, queued):
        assert isinstance(err, ExitError)
        if reason is RuntimeError:
            assert isinstance(err.reason, RuntimeError) and err.__cause__ is err.reason
        else:
            assert err.reason == reason
    assert taken.handled is True
    assert queued.handled is False
    assert ran == ["first"]
    pid.join(5.0)


# -- a call the server deferred -----------------------------------------------------------

ENDINGS: dict[str, Callable[[Pid], None]] = {
    "killed": lambda pid: process.exit(pid, "kill"),
    "crashes later": lambda pid: gen_server.cast(pid, "crash"),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
@pytest.mark.parametrize("how", list(DEFERRALS))
def test_a_deferred_call_is_handled_when_the_server_then_dies(
    how: str, ending: str, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[Any] = []
    pid = Worker.start(ran, threading.Event())
    caller, outcome = call_in_thread(pid, ("defer", how))
    try:
        assert gen_server.call(pid, ("run", "sync")) == "sync"  # the deferral is done
        assert caller.is_alive() and outcome == []
        ENDINGS[ending](pid)
    finally:
        caller.join(5.0)
    (err,) = outcome
    assert isinstance(err, ExitError) and err.handled is True
    pid.join(5.0)


# -- a kill racing calls ---------------------------------------------------------------


def call_until_dead(pid: Pid, k: int, failures: list[tuple[Any, ExitError]]) -> None:
    """Call ``pid`` with the ids ``(k, 0)``, ``(k, 1)``, ... until it is dead."""
    for i in range(100_000):
        rid = (k, i)
        try:
            assert gen_server.call(pid, ("run", rid)) == rid
        except NoProcess:
            return
        except ExitError as err:
            failures.append((rid, err))
            return


@pytest.mark.parametrize("hibernating", [False, True], ids=["awake", "hibernating"])
def test_a_request_the_server_executed_is_never_reported_unhandled(hibernating: bool) -> None:
    """Kill a server at a random moment while three threads call it as fast as they can;
    every ``handled=False`` must be for a request it never executed. (With
    ``hibernating`` the server hibernates after each call, so kills race its wake-ups.)"""
    rng = random.Random()
    unhandled = handled = 0
    for _ in range(300):
        ran: list[Any] = []
        pid = Worker.start(ran, threading.Event(), hibernating)
        failures: list[tuple[Any, ExitError]] = []

        callers = [
            threading.Thread(target=call_until_dead, args=(pid, k, failures)) for k in range(3)
        ]
        for t in callers:
            t.start()
        for _ in range(rng.randrange(2_000)):  # a random moment, not a synchronisation
            pass
        process.exit(pid, "kill")
        for t in callers:
            t.join(10.0)
        assert pid.join(5.0) == "killed"
        executed = set(ran)
        for rid, err in failures:
            assert err.reason == "killed"
            if not err.handled:
                unhandled += 1
                assert rid not in executed, f"{rid} was executed but reported unhandled"
            else:
                handled += 1
    assert unhandled and handled  # both outcomes happened: the check above was exercised
