"""Idle timeouts (`parent.Timeout`, `parent.TIMEOUT`) and hibernation (`parent.Hibernate`,
the ``hibernate_after`` start option): API.md, "parent: idle timeouts and hibernation".

Black-box through the public API, except where the behaviour is the mechanism itself: a
hibernating process holds no thread (``pid._hib`` with ``pid._ident is None``, and thread
counts that leave parked runtime threads out). How a server dying on a caller is
reported (``ExitError.handled``) is in tests/test_call_outcome.py.

Not tested: which values survive hibernation in ``threading.local`` (API.md promises
nothing: callbacks may run on another thread after each hibernation).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import parent
from parent import (
    TIMEOUT,
    Agent,
    Continue,
    Down,
    Exit,
    GenServer,
    Hibernate,
    Pid,
    Task,
    Timeout,
    _pool,
    gen_server,
    process,
    supervisor,
)
from parent.testing import wait_until

pytestmark = pytest.mark.timeout(60)

T = 0.2
"""The idle timeout these tests arm: long enough that a message the test sends right
after arming it always arrives first, short enough to wait out."""

Script = dict[str, Callable[..., Any]]


class Server(GenServer):
    """Logs ``(callback, argument, monotonic time)`` for every callback in ``log`` and in
    its own state ``seen``, then returns ``script[callback](self, argument)`` (by default
    ``None``; a call is answered ``("ok", request)``). The call ``"seen"`` answers the
    server's own record; ``self.froms`` keeps every call's ``from_``."""

    def init(self, log: list[Any], script: Script, trap: bool = False) -> Any:
        self.log = log
        self.script = script
        self.seen: list[tuple[str, Any]] = []
        self.froms: list[parent.From] = []
        if trap:
            process.trap_exits(True)
        return self._act("init", None)

    def _act(self, callback: str, arg: Any, default: Any = None) -> Any:
        self.seen.append((callback, arg))
        self.log.append((callback, arg, time.monotonic()))
        action = self.script.get(callback)
        return default if action is None else action(self, arg)

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        if request == "seen":
            return list(self.seen)
        self.froms.append(from_)
        return self._act("call", request, default=("ok", request))

    def handle_cast(self, request: Any) -> Any:
        return self._act("cast", request)

    def handle_info(self, message: Any) -> Any:
        return self._act("info", message)

    def handle_continue(self, arg: Any) -> Any:
        return self._act("continue", arg)

    def terminate(self, reason: Any) -> None:
        self._act("terminate", reason)


def arm(server: Server, **reply: Any) -> Timeout:
    """A ``Timeout(T)``, its arming time logged as ``("armed", None, t)``."""
    server.log.append(("armed", None, time.monotonic()))
    return Timeout(T, **reply)


def entries(log: list[Any], callback: str) -> list[Any]:
    return [arg for name, arg, _ in log if name == callback]


def time_of(log: list[Any], callback: str) -> float:
    when: float = next(t for name, _, t in log if name == callback)
    return when


def timeouts(log: list[Any]) -> list[float]:
    return [t for name, arg, t in log if name == "info" and arg is TIMEOUT]


def hibernating(pid: Pid) -> bool:
    """Alive and holding no thread (the mechanism under test)."""
    return pid.is_alive() and pid._hib and pid._ident is None


def busy_threads() -> set[threading.Thread]:
    """Threads that are not parked runtime threads."""
    return {t for t in threading.enumerate() if t.is_alive() and not _pool.is_parked(t)}


def hib(server: Server, arg: Any) -> Hibernate:
    return Hibernate()


ALWAYS_HIBERNATE: Script = {
    "init": hib,
    "call": lambda s, request: Hibernate(reply=("ok", request)),
    "cast": hib,
    "info": hib,
    "continue": hib,
}


class Observer:
    """A hibernating process the test links or monitors from: ``run(fn)`` runs ``fn()``
    in it; ``messages()`` is what it received. (Hibernating, it ends at once when the
    test is over: no thread to wind down.)"""

    def __init__(self, trap: bool) -> None:
        self.log: list[Any] = []
        script = {**ALWAYS_HIBERNATE, "call": lambda s, fn: Hibernate(reply=fn())}
        self.pid = Server.start(self.log, script, trap)

    def run(self, fn: Callable[[], Any]) -> Any:
        return gen_server.call(self.pid, fn)

    def messages(self) -> list[Any]:
        return entries(self.log, "info")


@pytest.fixture
def observer() -> Iterator[Callable[..., Observer]]:
    made: list[Observer] = []

    def make(trap: bool = False) -> Observer:
        made.append(Observer(trap))
        return made[-1]

    yield make
    for o in made:
        wait_until(lambda: hibernating(o.pid) or not o.pid.is_alive(), 5.0)  # noqa: B023
        process.exit(o.pid, "kill")


class Jobs(parent.Parent):
    """A parent that starts a child Task on the call ``("start", fn)``, and logs its
    children's exits and its other messages."""

    def init(self, log: list[Any], result: Any = None) -> Any:
        self.log = log
        log.append("init")
        return result

    def handle_info(self, message: Any) -> None:
        self.log.append(message)

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        if request == "count":
            return self.num_children()
        _, fn = request
        return self.start_child({"id": "job", "start": (Task.start_link, [fn])})

    def handle_child_terminated(self, id: Any, meta: Any, pid: Pid, reason: Any) -> None:
        self.log.append((id, pid, reason))


# -- Timeout -----------------------------------------------------------------------------


def _late_reply(server: Server, message: Any) -> None:
    if message is TIMEOUT:
        gen_server.reply(server.froms[-1], "late")


TIMEOUT_FROM: dict[str, tuple[Script, Callable[[Pid], None]]] = {
    "init": ({"init": lambda s, _: arm(s)}, lambda pid: None),
    "handle_call with reply": (
        {"call": lambda s, _: arm(s, reply="r")},
        lambda pid: _assert_equal(gen_server.call(pid, "go"), "r"),
    ),
    # not answered on return: the TIMEOUT handler answers it, and the first answer wins
    "handle_call without reply": (
        {"call": lambda s, _: arm(s), "info": _late_reply},
        lambda pid: _assert_equal(gen_server.call(pid, "go"), "late"),
    ),
    "handle_cast": ({"cast": lambda s, _: arm(s)}, lambda pid: gen_server.cast(pid, "go")),
    "handle_info": (
        {"info": lambda s, m: arm(s) if m == "go" else None},
        lambda pid: process.send(pid, "go"),
    ),
    "handle_continue": (
        {"cast": lambda s, _: Continue("next"), "continue": lambda s, _: arm(s)},
        lambda pid: gen_server.cast(pid, "go"),
    ),
}


def _assert_equal(got: Any, expected: Any) -> None:
    assert got == expected


@pytest.mark.parametrize("where", list(TIMEOUT_FROM))
def test_timeout_runs_handle_info_timeout_once_after_the_quiet_period(where: str) -> None:
    script, trigger = TIMEOUT_FROM[where]
    log: list[Any] = []
    pid = Server.start(log, script)
    trigger(pid)
    assert wait_until(lambda: timeouts(log), 5.0)
    assert timeouts(log)[0] - time_of(log, "armed") >= T - 0.005
    assert ("info", TIMEOUT) in gen_server.call(pid, "seen")
    if where == "init":  # once, not once per period (checked once: it takes 2 T)
        assert not wait_until(lambda: len(timeouts(log)) > 1, 2 * T)
    gen_server.stop(pid)


CANCELLERS: dict[str, Callable[[Pid], None]] = {
    "call": lambda pid: _assert_equal(gen_server.call(pid, "msg"), ("ok", "msg")),
    "cast": lambda pid: gen_server.cast(pid, "msg"),
    "info": lambda pid: process.send(pid, "msg"),
    "exit delivered as a message": lambda pid: process.exit(pid, "msg"),
}


@pytest.mark.parametrize("message", list(CANCELLERS))
def test_any_message_cancels_a_pending_timeout(message: str) -> None:
    log: list[Any] = []
    pid = Server.start(log, {"init": lambda s, _: arm(s)}, True)
    CANCELLERS[message](pid)
    assert wait_until(lambda: len(log) > 2, 5.0)  # init, armed, the message
    assert log[2][0] in {"call", "cast", "info"}
    assert log[2][2] - time_of(log, "armed") < T  # it came in time
    assert not wait_until(lambda: timeouts(log), 2 * T)
    assert pid.is_alive()
    gen_server.stop(pid)


def test_a_supervisor_query_does_not_cancel_a_pending_timeout() -> None:
    log: list[Any] = []
    pid = Jobs.start(log, Timeout(T))
    assert supervisor.which_children(pid) == []
    assert supervisor.count_children(pid)["specs"] == 0
    assert wait_until(lambda: TIMEOUT in log, 5.0)
    assert log == ["init", TIMEOUT]
    gen_server.stop(pid)


def test_timeout_is_a_unique_sentinel() -> None:
    assert parent.TIMEOUT is parent.gen_server.TIMEOUT
    assert TIMEOUT == TIMEOUT
    lookalikes = ["timeout", "TIMEOUT", repr(TIMEOUT), ("timeout",), None, 0, Exit(None, "x")]
    log: list[Any] = []
    pid = Server.start(log, {})
    for message in lookalikes:
        process.send(pid, message)
    gen_server.call(pid, "sync")
    received = entries(log, "info")
    assert received == lookalikes
    assert all(m is not TIMEOUT and m != TIMEOUT for m in received)
    gen_server.stop(pid)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (-1, ValueError),
        (-0.001, ValueError),
        (math.nan, ValueError),
        ("1", TypeError),
        (True, TypeError),
        (None, TypeError),
    ],
)
def test_timeout_rejects_a_bad_number_of_seconds(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match=repr(value)):
        Timeout(value)
    with pytest.raises(error, match=repr(value)):
        Timeout(value, reply="r")


def test_timeout_infinity_means_no_timeout() -> None:
    log: list[Any] = []
    script: Script = {
        "init": lambda s, _: Timeout(math.inf),
        "call": lambda s, _: Timeout(math.inf, reply="r"),
    }
    pid = Server.start(log, script)
    assert gen_server.call(pid, "go") == "r"
    assert not wait_until(lambda: timeouts(log), 2 * T)
    gen_server.stop(pid)


def test_an_explicit_timeout_overrides_hibernate_after_for_that_wait() -> None:
    log: list[Any] = []
    pid = Server.start(log, {"init": lambda s, _: arm(s)}, hibernate_after=0.01)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        asleep = hibernating(pid)  # read before the log: a hibernation after TIMEOUT is fine
        if timeouts(log):
            break
        assert not asleep, "hibernated while a Timeout was pending"
        time.sleep(0.001)
    assert timeouts(log)
    assert wait_until(lambda: hibernating(pid), 5.0)  # then hibernate_after applies again
    gen_server.stop(pid)


# -- Hibernate ---------------------------------------------------------------------------


HIBERNATE_FROM: dict[str, tuple[Script, Callable[[Pid], None]]] = {
    "init": ({"init": hib}, lambda pid: None),
    "handle_call with reply": (
        {"call": lambda s, _: Hibernate(reply="r")},
        lambda pid: _assert_equal(gen_server.call(pid, "go"), "r"),
    ),
    "handle_cast": ({"cast": hib}, lambda pid: gen_server.cast(pid, "go")),
    "handle_info": ({"info": hib}, lambda pid: process.send(pid, "go")),
    "handle_continue": (
        {"cast": lambda s, _: Continue("next"), "continue": hib},
        lambda pid: gen_server.cast(pid, "go"),
    ),
}


@pytest.mark.parametrize("where", list(HIBERNATE_FROM))
def test_hibernate_gives_the_thread_up_and_keeps_the_state(where: str) -> None:
    script, trigger = HIBERNATE_FROM[where]
    log: list[Any] = []
    pid = Server.start(log, script)
    trigger(pid)
    assert wait_until(lambda: hibernating(pid), 5.0)
    before = [(name, arg) for name, arg, _ in log]
    assert gen_server.call(pid, "seen") == before
    gen_server.stop(pid)


def test_hibernate_from_handle_call_without_reply_leaves_the_call_open() -> None:
    log: list[Any] = []
    taken: list[parent.From] = []

    def keep_open(server: Server, _: Any) -> Hibernate:
        taken.append(server.froms[-1])
        return Hibernate()

    pid = Server.start(log, {"call": keep_open})
    result: list[Any] = []
    caller = threading.Thread(target=lambda: result.append(gen_server.call(pid, "go")))
    caller.start()
    try:
        assert wait_until(lambda: taken and hibernating(pid), 5.0)
        assert caller.is_alive() and result == []  # nothing was replied
    finally:
        for from_ in taken:
            gen_server.reply(from_, "late")  # answered later, from another thread
        caller.join(5.0)
    assert result == ["late"]
    assert gen_server.call(pid, "seen") == [("init", None), ("call", "go")]
    gen_server.stop(pid)


WAKERS: dict[str, tuple[Callable[[Pid], Any], tuple[str, Any]]] = {
    "call": (
        lambda pid: _assert_equal(gen_server.call(pid, "ping"), ("ok", "ping")),
        ("call", "ping"),
    ),
    "cast": (lambda pid: gen_server.cast(pid, "ping"), ("cast", "ping")),
    "send": (lambda pid: process.send(pid, "ping"), ("info", "ping")),
    "timer": (lambda pid: process.send_after(pid, "ping", 0.01), ("info", "ping")),
    "exit signal (trapped)": (lambda pid: process.exit(pid, "ping"), ("info", Exit(None, "ping"))),
    "gen_server.stop": (lambda pid: gen_server.stop(pid, "ping"), ("terminate", "ping")),
}


@pytest.mark.parametrize("waker", list(WAKERS))
def test_the_next_message_wakes_it_unchanged(waker: str, observer: Callable[..., Observer]) -> None:
    wake, expected = WAKERS[waker]
    linked, watcher = observer(trap=True), observer()
    name = ("hibernating", waker)
    log: list[Any] = []
    pid = Server.start(log, ALWAYS_HIBERNATE, True, name=name)
    linked.run(lambda: process.link(pid))
    ref = watcher.run(lambda: process.monitor(pid))
    assert wait_until(lambda: hibernating(pid), 5.0)
    assert process.whereis(name) is pid

    wake(pid)
    assert wait_until(lambda: expected in [(n, a) for n, a, _ in log], 5.0)
    if waker != "gen_server.stop":
        assert wait_until(lambda: hibernating(pid), 5.0)  # it went back to sleep
        assert process.whereis(name) is pid
        process.exit(pid, "signal")  # still traps exits: a message, not a death
        assert gen_server.call(pid, "seen") == [
            ("init", None),
            expected,
            ("info", Exit(None, "signal")),
        ]
        gen_server.stop(pid, "ping")
        assert entries(log, "terminate") == ["ping"]
    assert pid.join(5.0) == "ping"
    # links and monitors survived hibernation
    assert wait_until(lambda: linked.messages() == [Exit(pid, "ping")], 5.0)
    assert wait_until(lambda: watcher.messages() == [Down(ref, pid, "ping")], 5.0)
    assert process.whereis(name) is None


def test_messages_sent_while_hibernating_all_arrive_in_order() -> None:
    log: list[Any] = []
    pid = Server.start(log, ALWAYS_HIBERNATE)  # hibernates after every message
    senders, per_sender = 4, 200

    def send_all(k: int) -> None:
        for i in range(per_sender):
            if i % 2:
                gen_server.cast(pid, (k, i))
            else:
                process.send(pid, (k, i))

    threads = [threading.Thread(target=send_all, args=(k,)) for k in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wait_until(lambda: len(entries(log, "cast")) + len(entries(log, "info")) == 800, 10.0)
    got = [arg for name, arg, _ in log if name in ("cast", "info")]
    for k in range(senders):
        assert [i for j, i in got if j == k] == list(range(per_sender))
    assert wait_until(lambda: hibernating(pid), 5.0)
    gen_server.stop(pid)


ENDINGS: dict[str, tuple[Callable[[Pid, Observer], None], Any]] = {
    "kill": (lambda pid, _: process.exit(pid, "kill"), "killed"),
    "untrapped exit signal": (lambda pid, _: process.exit(pid, "boom"), "boom"),
    "a linked process dies": (lambda pid, other: process.exit(other.pid, "boom"), "boom"),
}


@pytest.mark.parametrize("how", list(ENDINGS))
def test_a_kill_or_untrapped_signal_ends_a_hibernating_process_at_once(
    how: str, observer: Callable[..., Observer]
) -> None:
    end, reason = ENDINGS[how]
    linked, watcher, other = observer(trap=True), observer(), observer()
    log: list[Any] = []
    pid = Server.start(log, ALWAYS_HIBERNATE, name="sleeper")
    linked.run(lambda: process.link(pid))
    other.run(lambda: process.link(pid))
    ref = watcher.run(lambda: process.monitor(pid))
    assert wait_until(lambda: hibernating(pid), 5.0)

    end(pid, other)
    assert not pid.is_alive()  # no thread to wait for
    assert pid.join(0.5) == reason
    assert process.whereis("sleeper") is None
    assert wait_until(lambda: linked.messages() == [Exit(pid, reason)], 5.0)
    assert wait_until(lambda: watcher.messages() == [Down(ref, pid, reason)], 5.0)
    assert entries(log, "terminate") == []


# -- hibernate_after ---------------------------------------------------------------------


Starter = Callable[..., tuple[Pid, Callable[[], Any]]]


def _start_server(
    after: Any, log: list[Any], link: bool = False, **opts: Any
) -> tuple[Pid, Callable[[], Any]]:
    pid = (Server.start_link if link else Server.start)(log, {}, hibernate_after=after, **opts)
    return pid, lambda: gen_server.call(pid, "seen")


def _start_agent(after: Any, log: list[Any], **opts: Any) -> tuple[Pid, Callable[[], Any]]:
    def state() -> list[int]:
        log.append("init")
        return []

    pid = Agent.start_link(state, hibernate_after=after, **opts)

    def ask() -> int:
        size = Agent.get(pid, len)
        Agent.update(pid, lambda s: [*s, 1])
        return size

    return pid, ask


def _start_parent(after: Any, log: list[Any], **opts: Any) -> tuple[Pid, Callable[[], Any]]:
    pid = Jobs.start_link(log, hibernate_after=after, **opts)
    return pid, lambda: (gen_server.call(pid, "count"), supervisor.which_children(pid))


STARTERS: dict[str, Starter] = {
    "GenServer.start_link": lambda after, log, **opts: _start_server(after, log, True, **opts),
    "GenServer.start": _start_server,
    "Agent.start_link": _start_agent,
    "Parent subclass": _start_parent,
}


@pytest.mark.parametrize("starter", list(STARTERS))
def test_hibernate_after_hibernates_when_idle_and_again_after_each_wake(starter: str) -> None:
    pid, ask = STARTERS[starter](0.02, [])
    assert wait_until(lambda: hibernating(pid), 5.0)
    first = ask()
    assert wait_until(lambda: hibernating(pid), 5.0)
    second = ask()
    if starter == "Agent.start_link":
        assert (first, second) == (0, 1)  # the state was kept: one update between
    else:
        assert first == second
    gen_server.stop(pid)


def test_a_hibernating_parent_wakes_for_its_childs_exit() -> None:
    log: list[Any] = []
    gate = threading.Event()
    pid = Jobs.start(log, hibernate_after=0.02)
    child = gen_server.call(pid, ("start", gate.wait))
    assert wait_until(lambda: hibernating(pid), 5.0)
    gate.set()  # the child returns: exits "normal"
    assert wait_until(lambda: len(log) > 1, 5.0)
    assert log == ["init", ("job", child, "normal")]
    assert wait_until(lambda: hibernating(pid), 5.0)
    assert gen_server.call(pid, "count") == 0
    gen_server.stop(pid)


@pytest.mark.parametrize("starter", list(STARTERS))
@pytest.mark.parametrize(
    ("value", "error"),
    [(-1, ValueError), (math.nan, ValueError), ("x", TypeError), (True, TypeError)],
)
def test_a_bad_hibernate_after_raises_before_anything_starts(
    starter: str, value: Any, error: type[Exception]
) -> None:
    before = busy_threads()
    log: list[Any] = []
    with pytest.raises(error, match=repr(value)):
        STARTERS[starter](value, log, name="never-started")
    assert log == []  # init never ran
    assert process.whereis("never-started") is None
    assert busy_threads() <= before
    assert process.registered() == []


@pytest.mark.parametrize("never", [None, math.inf])
def test_hibernate_after_none_or_infinity_means_never(never: Any) -> None:
    awake, _ = _start_server(never, [])
    control, _ = _start_server(0.01, [])
    assert wait_until(lambda: hibernating(control), 5.0)
    assert not wait_until(lambda: hibernating(awake), 2 * T)
    gen_server.stop(awake)
    gen_server.stop(control)


# -- cost --------------------------------------------------------------------------------


def test_a_thousand_hibernating_servers_hold_no_threads() -> None:
    count_before = threading.active_count()
    busy_before = busy_threads()
    log: list[Any] = []
    pids = [Server.start(log, ALWAYS_HIBERNATE) for _ in range(1000)]
    try:
        assert wait_until(lambda: all(hibernating(p) for p in pids), 10.0)
        assert wait_until(lambda: busy_threads() <= busy_before, 5.0)
        assert threading.active_count() - count_before < 100  # parked threads at most
        assert [gen_server.call(p, i) for i, p in enumerate(pids)] == [
            ("ok", i) for i in range(1000)
        ]
        assert wait_until(lambda: all(hibernating(p) for p in pids), 10.0)
        assert threading.active_count() - count_before < 100
    finally:
        for p in pids:
            gen_server.stop(p)
