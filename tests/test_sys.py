"""parent.sys: get_state, replace_state, suspend and resume."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import parent
from parent import (
    CallTimeout,
    ExitError,
    GenServer,
    NoProcess,
    ProcessError,
    gen_server,
    process,
    supervisor,
)
from parent import sys as psys
from parent.testing import wait_until


class Log(GenServer):
    """Records every request it handles, in order."""

    def init(self) -> None:
        process.trap_exits(True)
        self.log: list[Any] = []
        self.stopped_with: Any = None

    def handle_call(self, request: Any, from_: Any) -> Any:
        self.log.append(("call", request))
        return list(self.log)

    def handle_cast(self, request: Any) -> None:
        self.log.append(("cast", request))

    def handle_info(self, message: Any) -> None:
        self.log.append(("info", message))


def _status(pid: parent.Pid) -> str | None:
    info = process.info(pid)
    return None if info is None else info.status


# -- get_state / replace_state ----------------------------------------------------------


def test_get_state_is_a_shallow_copy_of_the_attributes() -> None:
    pid = Log.start_link()
    gen_server.cast(pid, "a")
    state = psys.get_state(pid)
    assert state == {"log": [("cast", "a")], "stopped_with": None}
    state["log"] = "changed"  # the copy, not the server
    assert psys.get_state(pid)["log"] == [("cast", "a")]
    gen_server.stop(pid)


def test_replace_state_replaces_the_attributes_and_returns_them() -> None:
    pid = Log.start_link()
    new = psys.replace_state(pid, lambda s: {**s, "log": [("seeded", 1)]})
    assert new["log"] == [("seeded", 1)]
    assert gen_server.call(pid, "x") == [("seeded", 1), ("call", "x")]
    gen_server.stop(pid)


def test_agent_state_is_its_value() -> None:
    agent = parent.Agent.start_link(lambda: 41)
    assert psys.get_state(agent) == 41
    assert psys.replace_state(agent, lambda n: n + 1) == 42
    assert parent.Agent.get(agent, lambda n: n) == 42
    parent.Agent.stop(agent)


def test_a_failing_replace_state_raises_here_and_changes_nothing() -> None:
    pid = Log.start_link()
    gen_server.cast(pid, "kept")

    def boom(state: Any) -> Any:
        raise KeyError("no such field")

    with pytest.raises(KeyError, match="no such field"):
        psys.replace_state(pid, boom)
    with pytest.raises(TypeError, match=r"must return a dict .* got \[1, 2\]"):
        psys.replace_state(pid, lambda s: [1, 2])
    assert pid.is_alive()
    assert psys.get_state(pid)["log"] == [("cast", "kept")]
    with pytest.raises(TypeError, match="'not callable'"):
        psys.replace_state(pid, "not callable")  # type: ignore[arg-type]
    gen_server.stop(pid)


def test_sys_refuses_what_is_not_a_live_genserver() -> None:
    pid = process.spawn(process.receive)
    with pytest.raises(ProcessError, match="not a GenServer"):
        psys.get_state(pid)
    process.exit(pid, "kill")
    with pytest.raises(NoProcess):
        psys.get_state(pid)
    with pytest.raises(NoProcess, match="nobody"):
        psys.suspend("nobody")


# -- suspend / resume ---------------------------------------------------------------------


def test_a_suspended_server_keeps_its_mailbox_and_answers_system_requests() -> None:
    pid = Log.start_link()
    psys.suspend(pid)
    assert _status(pid) == "suspended"
    gen_server.cast(pid, 1)
    process.send(pid, 2)
    with pytest.raises(CallTimeout):
        gen_server.call(pid, 3, timeout=0.05)
    assert psys.get_state(pid)["log"] == []  # nothing handled, system requests answered
    psys.replace_state(pid, lambda s: {**s, "log": ["before"]})
    psys.suspend(pid)  # suspended already: nothing happens
    psys.resume(pid)
    assert gen_server.call(pid, 4) == ["before", ("cast", 1), ("info", 2), ("call", 3), ("call", 4)]
    psys.resume(pid)  # not suspended: nothing happens
    assert _status(pid) == "waiting"
    gen_server.stop(pid)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.sampled_from(["cast", "send", "call", "suspend", "resume", "get_state"]), max_size=30
    )
)
def test_suspensions_never_lose_or_reorder_messages(ops: list[str]) -> None:
    pid = Log.start_link()
    expected: list[Any] = []
    suspended = False
    try:
        for i, op in enumerate(ops):
            if op == "cast":
                gen_server.cast(pid, i)
                expected.append(("cast", i))
            elif op == "send":
                process.send(pid, i)
                expected.append(("info", i))
            elif op == "call" and not suspended:
                gen_server.call(pid, i)
                expected.append(("call", i))
            elif op == "suspend":
                psys.suspend(pid)
                suspended = True
            elif op == "resume":
                psys.resume(pid)
                suspended = False
            elif op == "get_state":
                psys.get_state(pid)
        psys.resume(pid)
        assert gen_server.call(pid, "end") == [*expected, ("call", "end")]
    finally:
        gen_server.stop(pid)


@pytest.mark.parametrize(
    ("end", "reason"),
    [
        (lambda pid: gen_server.stop(pid, "shutdown", timeout=5.0), "shutdown"),
        (lambda pid: process.exit(pid, "kill"), "killed"),
    ],
    ids=["stop", "kill"],
)
def test_a_suspended_server_that_ends_answers_its_kept_calls_at_once(end: Any, reason: str) -> None:
    pid = Log.start_link()
    psys.suspend(pid)
    errors: list[BaseException] = []
    caller = threading.Thread(target=_call_into, args=(pid, errors))
    caller.start()
    assert wait_until(lambda: queued(pid) == 1)
    end(pid)  # a stop runs terminate; a kill does not
    caller.join(5.0)  # the call's own timeout is 30 s: the answer comes from the death
    assert not caller.is_alive()
    (err,) = errors
    assert isinstance(err, ExitError) and err.handled is False and err.reason == reason


def test_a_suspended_child_stops_with_its_supervisor() -> None:
    sup = supervisor.start_link([Log.child_spec()])
    [(_, child, _, _)] = supervisor.which_children(sup)
    assert child is not None
    psys.suspend(child)
    supervisor.stop(sup)  # the parent's exit signal ends a suspended child too
    assert not child.is_alive()
    assert child.join(1.0) == "shutdown"


def test_a_crash_while_replaying_answers_what_is_still_kept() -> None:
    class Fragile(Log):
        def handle_cast(self, request: Any) -> None:
            if request == "crash":
                raise RuntimeError("replayed crash")
            super().handle_cast(request)

    pid = Fragile.start_link()
    psys.suspend(pid)
    gen_server.cast(pid, "crash")
    errors: list[BaseException] = []
    caller = threading.Thread(target=_call_into, args=(pid, errors))
    caller.start()
    assert wait_until(lambda: queued(pid) == 2)
    psys.resume(pid)  # replays the crash first: the kept call must be answered
    caller.join(5.0)
    assert not caller.is_alive()
    (err,) = errors
    assert isinstance(err, ExitError) and err.handled is False
    assert isinstance(err.reason, RuntimeError)


def _call_into(pid: parent.Pid, errors: list[BaseException]) -> None:
    try:
        gen_server.call(pid, "kept", timeout=30.0)
    except BaseException as exc:
        errors.append(exc)


def queued(pid: parent.Pid) -> int:
    """What ``pid`` has not handled yet: its mailbox and what its suspension keeps."""
    info = process.info(pid)
    return -1 if info is None else info.mailbox


# -- found in review: suspensions that nest, a kept None -----------------------------------


class Recorder(GenServer):
    def init(self) -> None:
        self.log: list[Any] = []

    def handle_call(self, request: Any, from_: Any) -> Any:
        self.log.append(("call", request))
        return len(self.log)

    def handle_cast(self, request: Any) -> None:
        self.log.append(("cast", request))


def test_a_cast_of_none_to_a_suspended_server_is_kept() -> None:
    """`_suspend._next` takes "None" from `take_parked` to mean "nothing queued": a bare
    cast of ``None`` taken that way is dropped, and the suspension waits for the next
    item instead."""
    pid = Recorder.start_link()
    psys.suspend(pid)
    entered = threading.Event()
    release = threading.Event()

    def slow(state: dict[str, Any]) -> dict[str, Any]:
        entered.set()
        release.wait(5.0)
        return state

    # hold the suspended server inside a system request, so that what is cast meanwhile
    # is queued, and taken by the non-blocking take when the request is answered
    t = threading.Thread(target=psys.replace_state, args=(pid, slow))
    t.start()
    assert entered.wait(5.0)
    gen_server.cast(pid, None)
    gen_server.cast(pid, "after")
    release.set()
    t.join(5.0)
    psys.resume(pid)
    try:
        assert gen_server.call(pid, "end") == 3
        assert psys.get_state(pid)["log"] == [("cast", None), ("cast", "after"), ("call", "end")]
    finally:
        gen_server.stop(pid)


def test_many_suspensions_do_not_nest_the_take_until_recursion_error() -> None:
    """Each suspension that keeps something wraps the loop's take in one more `_replay`
    closure, and a drained closure stays in the chain: every later take goes through all
    of them (slower and slower), and past the recursion limit the server crashes with
    RecursionError."""
    pid = Recorder.start_link()
    rounds = sys.getrecursionlimit() + 200
    try:
        for i in range(rounds):
            psys.suspend(pid)
            gen_server.cast(pid, i)  # kept, replayed on resume
            psys.resume(pid)
        assert gen_server.call(pid, "end", timeout=10.0) == rounds + 1
    finally:
        if pid.is_alive():
            gen_server.stop(pid)
