"""Tests of `parent.Parent` (API.md "parent: Parent", Parent.GenServer 0.8 docs): child
specs, child bookkeeping, shutdown, timeouts, termination order, and the supervisor
queries a Parent answers.

Most tests drive a `Host` parent: ``host.run(fn)`` runs ``fn(parent)`` inside the parent's
own process (the only place the child methods work) and returns or raises its result.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import compat
import parent
from compat import spec as legacy_spec
from parent import (
    Continue,
    Exit,
    GenServer,
    NotFound,
    Parent,
    Pid,
    ProcessError,
    StartError,
    Stop,
    Task,
    gen_server,
    process,
    supervisor,
)
from parent.testing import wait_until

pytestmark = pytest.mark.timeout(60)


# -- children ----------------------------------------------------------------------------


class Worker(GenServer):
    """A child the tests drive. ``call("arg")`` answers its start argument; a cast
    ``("stop", reason)`` stops it with ``reason``; ``("crash", exc)`` raises ``exc``;
    a call ``("block", entered, release)`` blocks in C until ``release`` is set."""

    def init(self, arg: Any = None, log: list[Any] | None = None) -> None:
        self.arg = arg
        self.log = log

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        if request == "arg":
            return self.arg
        if isinstance(request, tuple) and request[0] == "block":
            _, entered, release = request
            entered.set()
            release.wait()
            return "released"
        raise ValueError(request)

    def handle_cast(self, request: Any) -> None:
        kind, value = request
        if kind == "stop":
            raise Stop(value)
        if kind == "crash":
            raise value

    def terminate(self, reason: Any) -> None:
        if self.log is not None:
            self.log.append(("terminate", self.arg, reason))


class Trapper(Worker):
    """A Worker that traps exits, so its ``terminate`` runs on the parent's shutdown."""

    def init(self, arg: Any = None, log: list[Any] | None = None) -> None:
        process.trap_exits(True)
        super().init(arg, log)


class Stubborn(GenServer):
    """Traps exits and ignores a shutdown: its ``terminate`` blocks (in C) until
    ``release`` is set."""

    def init(self, entered: threading.Event, release: threading.Event) -> None:
        process.trap_exits(True)
        self.entered = entered
        self.release = release

    def terminate(self, reason: Any) -> None:
        self.entered.set()
        self.release.wait()


class BlockedInit(GenServer):
    """Its ``init`` records its pid and then blocks (in C) until ``release`` is set."""

    def init(self, holder: list[Pid], release: threading.Event) -> None:
        me = process.current()
        assert me is not None
        holder.append(me)
        release.wait()


def noop() -> None:
    pass


def worker_spec(id: Any, arg: Any = None, **extra: Any) -> dict[str, Any]:
    return {"id": id, "start": (Worker.start_link, [id if arg is None else arg]), **extra}


def trapper_spec(id: Any, log: list[Any], **extra: Any) -> dict[str, Any]:
    return {"id": id, "start": (Trapper.start_link, [id, log]), **extra}


# -- the parent under test ---------------------------------------------------------------


class Host(Parent):
    """A Parent driven by the test: a call ``fn`` runs ``fn(self)`` in the parent and
    answers ``("ok", value)`` or ``("error", exception)``; a cast ``fn`` runs ``fn(self)``.
    Child terminations and other messages go to ``events``; ``terminate`` notes in
    ``log`` whether every child was still alive."""

    def init(self, events: Any = None, log: list[Any] | None = None) -> None:
        self.events = events
        self.log = log

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        try:
            return ("ok", request(self))
        except Exception as exc:
            return ("error", exc)

    def handle_cast(self, request: Any) -> None:
        request(self)

    def handle_info(self, message: Any) -> None:
        if self.events is not None:
            self.events.put(("info", message))

    def handle_child_terminated(self, id: Any, meta: Any, pid: Pid, reason: Any) -> Any:
        if self.events is not None:
            self.events.put(("terminated", id, meta, pid, reason))
        on_exit = getattr(self, "on_exit", None)
        return None if on_exit is None else on_exit(id, reason)

    def terminate(self, reason: Any) -> None:
        if self.log is not None:
            alive = [pid.is_alive() for _, pid, _ in self.children()]
            self.log.append(("parent-terminate", reason, alive))


class HostHandle:
    def __init__(self, cls: type[Host] = Host) -> None:
        self.events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.log: list[Any] = []
        self.pid = cls.start_link(self.events, self.log)

    def run(self, fn: Callable[[Any], Any], timeout: float = 10.0) -> Any:
        """Run ``fn(parent)`` inside the parent; return its value or raise its error."""
        tag, value = gen_server.call(self.pid, fn, timeout)
        if tag == "error":
            raise value
        return value

    def start(self, spec: Any) -> Pid:
        pid: Pid = self.run(lambda p: p.start_child(spec))
        return pid

    def ids(self) -> list[Any]:
        return self.run(lambda p: [id for id, _, _ in p.children()])  # type: ignore[no-any-return]

    def next_event(self, timeout: float = 5.0) -> Any:
        return self.events.get(timeout=timeout)

    def drain(self) -> list[Any]:
        """Every event so far: the parent handles all messages sent before this call
        (a child's ``Exit`` is in the parent's mailbox before that child's ``join``
        returns) before it answers."""
        self.run(lambda p: None)
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def stop(self) -> None:
        if self.pid.is_alive():
            gen_server.stop(self.pid, timeout=10.0)


@pytest.fixture
def make_host() -> Iterator[Callable[..., HostHandle]]:
    made: list[HostHandle] = []

    def make(cls: type[Host] = Host) -> HostHandle:
        h = HostHandle(cls)
        made.append(h)
        return h

    yield make
    for h in made:
        with contextlib.suppress(parent.NoProcess):
            h.stop()


@pytest.fixture
def host(make_host: Callable[..., HostHandle]) -> HostHandle:
    return make_host()


# -- a Parent is a GenServer that traps exits ---------------------------------------------


def test_a_parent_traps_exits_by_default(host: HostHandle) -> None:
    process.exit(host.pid, "boom")
    assert host.next_event() == ("info", Exit(None, "boom"))
    assert host.pid.is_alive()
    assert host.run(lambda p: process.trap_exits(True)) is True


def test_default_child_spec_is_a_supervisor_with_infinite_shutdown() -> None:
    spec = Host.child_spec()
    assert spec["id"] is Host
    assert spec["start"] == (Host.start_link, [])
    assert spec["type"] == "supervisor"
    assert spec["shutdown"] == "infinity"
    assert Host.child_spec("x")["start"] == (Host.start_link, ["x"])
    full = compat.normalize(Host)
    assert full["type"] == "supervisor" and full["shutdown"] == "infinity"
    assert full["modules"] == [Host]
    # a plain GenServer's spec, for contrast
    assert compat.normalize(Worker)["type"] == "worker"
    assert compat.normalize(Worker)["shutdown"] == 5.0


# -- start_child ---------------------------------------------------------------------------


START_FORMS: dict[str, tuple[Callable[[], Any], Any, Any]] = {
    # name: (spec factory, expected id, expected start argument)
    "dict with (callable, args)": (
        lambda: {"id": "pair", "start": (Worker.start_link, ["pair-arg"])},
        "pair",
        "pair-arg",
    ),
    "dict with a zero-arg callable": (
        lambda: {"id": "fn", "start": lambda: Worker.start_link("fn-arg")},
        "fn",
        "fn-arg",
    ),
    "dict with (obj, 'function', args)": (
        lambda: {"id": "mfa", "start": (Worker, "start_link", ["mfa-arg"])},
        "mfa",
        "mfa-arg",
    ),
    "a class with child_spec": (lambda: Worker, Worker, None),
    "a (class, arg) tuple": (lambda: (Worker, "tuple-arg"), Worker, "tuple-arg"),
}


@pytest.mark.parametrize("form", list(START_FORMS))
def test_start_child_accepts_every_spec_form(host: HostHandle, form: str) -> None:
    make_spec, expected_id, expected_arg = START_FORMS[form]
    pid = host.start(make_spec())
    assert type(pid) is Pid and pid.is_alive()
    assert gen_server.call(pid, "arg") == expected_arg
    assert host.run(lambda p: p.children()) == [(expected_id, pid, None)]
    assert host.run(lambda p: p.child_pid(expected_id)) is pid
    # the child is linked to the parent: it goes down with it
    host.stop()
    assert pid.join(5.0) == "shutdown"


def test_start_child_accepts_a_legacy_tuple(host: HostHandle) -> None:
    with pytest.warns(DeprecationWarning):
        legacy = legacy_spec.worker(Worker, ["legacy-arg"], id="legacy", shutdown=1.0)
    pid = host.start(legacy)
    assert gen_server.call(pid, "arg") == "legacy-arg"
    assert host.ids() == ["legacy"]
    assert supervisor.which_children(host.pid) == [("legacy", pid, "worker", [Worker])]


def test_the_start_runs_in_the_parents_process(host: HostHandle) -> None:
    seen: list[Pid | None] = []

    def start() -> Pid:
        seen.append(process.current())
        return Worker.start_link()

    host.start({"id": "w", "start": start})
    assert seen == [host.pid]


class StartsInInit(Host):
    def init(self, events: Any = None, log: list[Any] | None = None) -> None:
        super().init(events, log)
        self.first = self.start_child(worker_spec("first"))


def test_children_can_be_started_in_init(make_host: Callable[..., HostHandle]) -> None:
    h = make_host(StartsInInit)
    first = h.run(lambda p: p.first)
    assert h.run(lambda p: p.children()) == [("first", first, None)]
    h.stop()
    assert first.join(0) == "shutdown"


def test_meta_defaults_to_none_and_can_be_read_and_updated(host: HostHandle) -> None:
    pid = host.start(worker_spec("m", meta={"n": 1}))
    plain = host.start(worker_spec("plain"))
    assert host.run(lambda p: p.child_meta("m")) == {"n": 1}
    assert host.run(lambda p: p.child_meta("plain")) is None
    seen: list[Any] = []

    def bump(meta: Any) -> Any:
        seen.append(meta)
        return {"n": meta["n"] + 1}

    assert host.run(lambda p: p.update_child_meta("m", bump)) is None
    assert seen == [{"n": 1}]
    assert host.run(lambda p: p.child_meta("m")) == {"n": 2}
    assert host.run(lambda p: p.children()) == [("m", pid, {"n": 2}), ("plain", plain, None)]
    with pytest.raises(NotFound):
        host.run(lambda p: p.child_meta("nope"))
    with pytest.raises(NotFound):
        host.run(lambda p: p.update_child_meta("nope", bump))
    assert seen == [{"n": 1}]  # the updater never ran for an unknown id
    # handle_child_terminated gets the updated meta
    gen_server.cast(pid, ("stop", "normal"))
    pid.join(5.0)
    assert host.drain() == [("terminated", "m", {"n": 2}, pid, "normal")]


def test_a_taken_id_is_refused_before_anything_starts(host: HostHandle) -> None:
    first = host.start(worker_spec("x"))
    invoked = threading.Event()

    def second() -> Pid:
        invoked.set()
        return Worker.start_link()

    with pytest.raises(ValueError, match="'x'"):
        host.start({"id": "x", "start": second})
    assert not invoked.is_set()
    # the same for the class form (id = the class)
    host.start(Worker)
    with pytest.raises(ValueError):
        host.start((Worker, "again"))
    assert host.run(lambda p: p.children()) == [
        ("x", first, None),
        (Worker, host.run(lambda p: p.child_pid(Worker)), None),
    ]
    assert host.run(lambda p: p.num_children()) == 2
    # the id is free again once its child is gone
    host.run(lambda p: p.shutdown_child("x"))
    host.start({"id": "x", "start": second})
    assert invoked.is_set()


def test_start_error_has_the_exception_of_the_start_as_cause(host: HostHandle) -> None:
    boom = RuntimeError("boom")

    def failing() -> Pid:
        raise boom

    with pytest.raises(StartError) as info:
        host.start({"id": "f", "start": failing})
    assert info.value.reason is boom
    assert info.value.__cause__ is boom
    assert host.run(lambda p: p.num_children()) == 0
    assert host.pid.is_alive()
    assert host.drain() == []


def test_a_start_error_passes_through_unchanged(host: HostHandle) -> None:
    mine = StartError("mine")

    def failing() -> Pid:
        raise mine

    with pytest.raises(StartError) as info:
        host.start({"id": "f", "start": failing})
    assert info.value is mine
    assert info.value.reason == "mine"


class Refuses(GenServer):
    def init(self) -> None:
        raise Stop("invalid")


def test_a_child_whose_init_fails_is_not_a_child(host: HostHandle) -> None:
    with pytest.raises(StartError) as info:
        host.start(Refuses)
    assert info.value.reason == "invalid"
    assert host.run(lambda p: p.children()) == []
    assert host.pid.is_alive()
    assert host.drain() == []  # a failed start sends the parent no exit signal


def test_a_start_that_returns_no_pid_is_a_start_error(host: HostHandle) -> None:
    with pytest.raises(StartError):
        host.start({"id": "bad", "start": lambda: "not a pid"})
    assert host.run(lambda p: p.num_children()) == 0


def test_a_child_that_exits_at_once_is_still_reported(host: HostHandle) -> None:
    linked = host.start({"id": "quick", "start": (Task.start_link, [lambda: None])})

    def start_dead_unlinked() -> Pid:
        pid = Task.start(lambda: None)
        pid.join(5.0)
        return pid

    unlinked = host.start({"id": "dead", "start": start_dead_unlinked})
    linked.join(5.0)
    events = host.drain()
    assert sorted(events, key=repr) == sorted(
        [
            ("terminated", "quick", None, linked, "normal"),
            ("terminated", "dead", None, unlinked, "normal"),
        ],
        key=repr,
    )
    assert host.run(lambda p: p.num_children()) == 0


# -- queries -------------------------------------------------------------------------------


def test_children_are_listed_in_start_order_with_lookups(host: HostHandle) -> None:
    pids = {id: host.start(worker_spec(id, meta=id.upper())) for id in ["c", "a", "b"]}
    assert host.run(lambda p: p.children()) == [
        ("c", pids["c"], "C"),
        ("a", pids["a"], "A"),
        ("b", pids["b"], "B"),
    ]
    assert host.run(lambda p: p.num_children()) == 3
    for id, pid in pids.items():
        assert host.run(lambda p, pid=pid: p.child_id(pid)) == id
        assert host.run(lambda p, id=id: p.child_pid(id)) is pid
        assert host.run(lambda p, id=id: p.is_child(id)) is True
    assert host.run(lambda p: p.child_id(host.pid)) is None
    assert host.run(lambda p: p.child_pid("z")) is None
    assert host.run(lambda p: p.is_child("z")) is False
    # stopping one keeps the order of the others
    host.run(lambda p: p.shutdown_child("a"))
    assert host.ids() == ["c", "b"]
    assert host.run(lambda p: (p.is_child("a"), p.child_pid("a"), p.child_id(pids["a"]))) == (
        False,
        None,
        None,
    )
    host.start(worker_spec("a"))
    assert host.ids() == ["c", "b", "a"]


# -- a child ending on its own -----------------------------------------------------------


def test_handle_child_terminated_runs_for_every_exit_of_its_own(host: HostHandle) -> None:
    crash = ValueError("crash")
    normal = host.start(worker_spec("normal", meta="n"))
    abnormal = host.start(worker_spec("abnormal"))
    crashed = host.start(worker_spec("crashed"))
    killed = host.start(worker_spec("killed"))
    for pid, request in [
        (normal, ("stop", "normal")),
        (abnormal, ("stop", "boom")),
        (crashed, ("crash", crash)),
    ]:
        gen_server.cast(pid, request)
        pid.join(5.0)  # one at a time, so that the reports come in this order
    process.exit(killed, "kill")
    assert host.drain() == [
        ("terminated", "normal", "n", normal, "normal"),
        ("terminated", "abnormal", None, abnormal, "boom"),
        ("terminated", "crashed", None, crashed, crash),
        ("terminated", "killed", None, killed, "killed"),
    ]
    assert host.run(lambda p: p.children()) == []


class StopsOnChildExit(Host):
    def on_exit(self, id: Any, reason: Any) -> Any:
        if id == "continue":
            return Continue(("after", reason))
        raise Stop(("child_gone", id))

    def handle_continue(self, arg: Any) -> None:
        self.events.put(("continue", arg))


def test_handle_child_terminated_answers_like_handle_info(
    make_host: Callable[..., HostHandle],
) -> None:
    h = make_host(StopsOnChildExit)
    cont = h.start(worker_spec("continue"))
    gen_server.cast(cont, ("stop", "normal"))
    cont.join(5.0)
    assert h.drain() == [
        ("terminated", "continue", None, cont, "normal"),
        ("continue", ("after", "normal")),
    ]
    other = h.start(worker_spec("stop"))
    gen_server.cast(other, ("stop", "normal"))
    assert h.pid.join(5.0) == ("child_gone", "stop")


# -- shutdown_child, shutdown_all, await_child_termination ---------------------------------


def test_shutdown_child_returns_once_the_child_is_dead(host: HostHandle) -> None:
    log: list[Any] = []
    pid = host.start(trapper_spec("t", log))
    plain = host.start(worker_spec("w"))
    assert host.run(lambda p: p.shutdown_child("t")) is None
    assert pid.join(0) == "shutdown"  # dead already: no wait needed
    assert log == [("terminate", "t", "shutdown")]
    assert host.run(lambda p: p.shutdown_child("w")) is None
    assert plain.join(0) == "shutdown"
    assert host.drain() == []  # no handle_child_terminated for either
    with pytest.raises(NotFound):
        host.run(lambda p: p.shutdown_child("t"))
    with pytest.raises(NotFound):
        host.run(lambda p: p.shutdown_child("never"))


def test_shutdown_child_of_a_child_that_just_exited_reports_nothing(host: HostHandle) -> None:
    pid = host.start(worker_spec("gone"))

    def end_then_shutdown(p: Host) -> None:
        gen_server.cast(pid, ("stop", "boom"))
        pid.join(5.0)  # its Exit now waits in this parent's mailbox, not yet handled
        assert p.is_child("gone")
        p.shutdown_child("gone")

    host.run(end_then_shutdown)
    assert pid.join(0) == "boom"
    assert host.drain() == []  # the waiting Exit was dropped
    assert host.run(lambda p: p.children()) == []


def test_shutdown_all_stops_every_child_without_reporting(host: HostHandle) -> None:
    log: list[Any] = []
    trapper = host.start(trapper_spec("t", log))
    worker = host.start(worker_spec("w"))
    entered, release = threading.Event(), threading.Event()
    try:
        stubborn = host.start(
            {"id": "s", "start": (Stubborn.start_link, [entered, release]), "shutdown": 0.2}
        )
        assert host.run(lambda p: p.shutdown_all()) is None
        assert trapper.join(0) == "shutdown" and worker.join(0) == "shutdown"
        assert stubborn.join(0) == "killed"
    finally:
        release.set()
    assert log == [("terminate", "t", "shutdown")]
    assert host.run(lambda p: (p.num_children(), p.children())) == (0, [])
    assert host.drain() == []


def test_shutdown_all_sends_the_given_reason(host: HostHandle) -> None:
    log: list[Any] = []
    trapper = host.start(trapper_spec("t", log))
    worker = host.start(worker_spec("w"))
    host.run(lambda p: p.shutdown_all("bye"))
    assert trapper.join(0) == "bye"
    assert worker.join(0) == "bye"
    assert log == [("terminate", "t", "bye")]
    assert host.drain() == []


def test_await_child_termination_returns_pid_meta_and_reason(host: HostHandle) -> None:
    pid = host.start(worker_spec("a", meta="meta"))

    def stop_and_await(p: Host) -> Any:
        gen_server.cast(pid, ("stop", "done"))
        return p.await_child_termination("a", 5.0)

    assert host.run(stop_and_await) == (pid, "meta", "done")
    assert host.run(lambda p: p.is_child("a")) is False
    assert host.drain() == []  # handle_child_terminated does not run


def test_await_child_termination_without_timeout_waits(host: HostHandle) -> None:
    pid = host.start(worker_spec("a"))

    def stop_and_await(p: Host) -> Any:
        gen_server.cast(pid, ("stop", "normal"))
        return p.await_child_termination("a", None)

    assert host.run(stop_and_await) == (pid, None, "normal")
    assert host.drain() == []


def test_await_child_termination_times_out_and_the_child_keeps_running(
    host: HostHandle,
) -> None:
    pid = host.start(worker_spec("a"))
    started = time.monotonic()
    assert host.run(lambda p: p.await_child_termination("a", 0.1)) is None
    assert time.monotonic() - started >= 0.09
    assert host.run(lambda p: p.await_child_termination("a", 0)) is None
    assert pid.is_alive()
    assert host.run(lambda p: p.child_pid("a")) is pid
    assert gen_server.call(pid, "arg") == "a"
    with pytest.raises(NotFound):
        host.run(lambda p: p.await_child_termination("missing", 0.1))
    # it is still an ordinary child: its own exit is reported
    gen_server.cast(pid, ("stop", "normal"))
    pid.join(5.0)
    assert host.drain() == [("terminated", "a", None, pid, "normal")]


# -- shutdown policies ---------------------------------------------------------------------


def test_a_child_that_stops_within_its_shutdown_is_not_killed(host: HostHandle) -> None:
    log: list[Any] = []
    pid = host.start(trapper_spec("t", log, shutdown=2.0))
    host.run(lambda p: p.shutdown_child("t"))
    assert pid.join(0) == "shutdown"
    assert log == [("terminate", "t", "shutdown")]


def test_a_stubborn_child_is_killed_after_its_shutdown(host: HostHandle) -> None:
    entered, release = threading.Event(), threading.Event()
    try:
        pid = host.start(
            {"id": "s", "start": (Stubborn.start_link, [entered, release]), "shutdown": 0.3}
        )
        started = time.monotonic()
        host.run(lambda p: p.shutdown_child("s"))
        elapsed = time.monotonic() - started
        assert entered.is_set()  # it got the signal and ran terminate ...
        assert pid.join(0) == "killed"  # ... and was killed when its time was up
        assert 0.25 <= elapsed < 3.0
    finally:
        release.set()
    assert host.drain() == []


def test_brutal_kill_kills_at_once(host: HostHandle) -> None:
    entered, release = threading.Event(), threading.Event()
    try:
        pid = host.start(
            {
                "id": "s",
                "start": (Stubborn.start_link, [entered, release]),
                "shutdown": "brutal_kill",
            }
        )
        started = time.monotonic()
        host.run(lambda p: p.shutdown_child("s"))
        assert time.monotonic() - started < 1.0
        assert pid.join(0) == "killed"
        assert not entered.is_set()  # no exit signal, so no terminate
    finally:
        release.set()


def test_infinity_waits_for_the_child_however_long_it_takes(host: HostHandle) -> None:
    entered, release = threading.Event(), threading.Event()
    done = threading.Event()
    try:
        pid = host.start(
            {
                "id": "s",
                "start": (Stubborn.start_link, [entered, release]),
                "shutdown": "infinity",
            }
        )
        gen_server.cast(host.pid, lambda p: (p.shutdown_child("s"), done.set()))
        assert entered.wait(5.0)
        assert not done.wait(0.5)  # still waiting (a 0.3 s shutdown would have killed)
        assert pid.is_alive()
    finally:
        release.set()
    assert done.wait(5.0)
    assert pid.join(0) == "shutdown"  # it finished its terminate: not killed


def test_the_default_shutdown_is_five_seconds_for_a_worker_and_infinity_for_a_parent() -> None:
    assert compat.normalize(worker_spec("w"))["shutdown"] == 5.0
    assert compat.normalize({**Host.child_spec(), "id": "p"})["shutdown"] == "infinity"


# -- timeout -------------------------------------------------------------------------------


def test_a_child_outliving_its_timeout_is_killed_and_reported(host: HostHandle) -> None:
    started = time.monotonic()
    pid = host.start(worker_spec("t", meta="m", timeout=0.2))
    assert host.next_event() == ("terminated", "t", "m", pid, "timeout")
    assert time.monotonic() - started >= 0.15
    assert pid.join(5.0) == "killed"
    assert host.run(lambda p: p.is_child("t")) is False
    assert host.drain() == []  # the child's Exit is not reported a second time


def test_no_timeout_report_for_a_child_that_ended_before_it(host: HostHandle) -> None:
    def start_both(p: Host) -> tuple[Pid, Pid]:
        # "early" exits on its own at once; "stopped" is shut down right away
        early = p.start_child({"id": "early", "start": (Task.start_link, [noop]), "timeout": 0.2})
        stopped = p.start_child(worker_spec("stopped", timeout=0.2))
        p.shutdown_child("stopped")
        return early, stopped

    early, stopped = host.run(start_both)
    assert stopped.join(0) == "shutdown"
    assert host.next_event() == ("terminated", "early", None, early, "normal")
    with pytest.raises(queue.Empty):  # the timers were due 0.2 s after the start
        host.events.get(timeout=0.5)
    assert host.run(lambda p: p.children()) == []


def test_a_cancelled_child_timeout_leaves_no_thread_behind(host: HostHandle) -> None:
    pid = host.start(worker_spec("t", timeout=30.0))
    try:
        gen_server.cast(pid, ("stop", "normal"))
        pid.join(5.0)
        assert host.next_event() == ("terminated", "t", None, pid, "normal")
        assert wait_until(
            lambda: all(t.name != "parent-timers" for t in threading.enumerate()), 2.0
        )
    finally:
        # should this fail: wake the timer thread with a due timer, so that it finds its
        # heap empty and ends, and the failure is not reported twice as a leaked thread
        process.send_after(pid, "wake", 0)


# -- termination ---------------------------------------------------------------------------


def test_terminate_runs_first_then_children_stop_in_reverse_order(host: HostHandle) -> None:
    for id in ["a", "b", "c"]:
        host.start(trapper_spec(id, host.log))
    gen_server.stop(host.pid, "shutdown")
    assert host.log == [
        ("parent-terminate", "shutdown", [True, True, True]),
        ("terminate", "c", "shutdown"),
        ("terminate", "b", "shutdown"),
        ("terminate", "a", "shutdown"),
    ]


def test_a_crashing_parent_still_stops_its_children(host: HostHandle) -> None:
    pids = [host.start(trapper_spec(id, host.log)) for id in ["a", "b"]]

    def crash(p: Host) -> None:
        raise ValueError("parent crash")

    gen_server.cast(host.pid, crash)
    assert isinstance(host.pid.join(5.0), ValueError)
    assert [pid.join(0) for pid in pids] == ["shutdown", "shutdown"]
    assert [entry[0] for entry in host.log] == ["parent-terminate", "terminate", "terminate"]
    assert [entry[1] for entry in host.log[1:]] == ["b", "a"]


def test_a_nested_parent_takes_its_own_children_down(host: HostHandle) -> None:
    inner = host.start({**Host.child_spec(), "id": "inner"})
    grandchild: Pid = gen_server.call(inner, lambda p: p.start_child(worker_spec("g")), 5.0)[1]
    host.stop()
    assert inner.join(0) == "shutdown"
    assert grandchild.join(0) == "shutdown"


# -- only inside the parent's own process ----------------------------------------------------


def child_methods(inst: Host, pid: Pid) -> dict[str, Callable[[], Any]]:
    return {
        "start_child": lambda: inst.start_child(worker_spec("new")),
        "shutdown_child": lambda: inst.shutdown_child("a"),
        "shutdown_all": inst.shutdown_all,
        "children": inst.children,
        "num_children": inst.num_children,
        "child_id": lambda: inst.child_id(pid),
        "child_pid": lambda: inst.child_pid("a"),
        "is_child": lambda: inst.is_child("a"),
        "child_meta": lambda: inst.child_meta("a"),
        "update_child_meta": lambda: inst.update_child_meta("a", lambda m: "changed"),
        "await_child_termination": lambda: inst.await_child_termination("a", 0),
    }


def test_child_methods_raise_process_error_outside_the_parent(host: HostHandle) -> None:
    pid = host.start(worker_spec("a", meta="meta"))
    inst: Host = host.run(lambda p: p)
    methods = child_methods(inst, pid)
    for name, method in methods.items():  # from a plain thread
        with pytest.raises(ProcessError, match=name):
            method()
    answers: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def from_another_process() -> None:
        for name, method in methods.items():
            try:
                method()
            except ProcessError:
                answers.put((name, "ProcessError"))
            else:
                answers.put((name, "no error"))

    Task.start(from_another_process).join(5.0)
    got = [answers.get(timeout=1) for _ in methods]
    assert got == [(name, "ProcessError") for name in methods]
    # nothing changed
    assert host.run(lambda p: p.children()) == [("a", pid, "meta")]
    assert pid.is_alive()


def test_child_methods_of_a_parent_that_never_started_raise_process_error() -> None:
    with pytest.raises(ProcessError):
        Host().children()


# -- children blocked in C -----------------------------------------------------------------


def test_a_child_blocked_in_c_counts_as_dead_and_does_not_block_its_parent(
    host: HostHandle,
) -> None:
    entered, release = threading.Event(), threading.Event()
    trap_entered = threading.Event()
    log: list[Any] = []
    plain = host.start(worker_spec("plain"))
    trapping = host.start(trapper_spec("trapping", log, shutdown=0.2))
    outcomes: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def call_block(pid: Pid, entered: threading.Event) -> None:
        try:
            outcomes.put(gen_server.call(pid, ("block", entered, release), 10.0))
        except parent.ExitError as exc:
            outcomes.put(("exit", exc.reason))

    callers = [
        threading.Thread(target=call_block, args=(plain, entered)),
        threading.Thread(target=call_block, args=(trapping, trap_entered)),
    ]
    try:
        for t in callers:
            t.start()
        assert entered.wait(5.0) and trap_entered.wait(5.0)
        started = time.monotonic()
        host.stop()  # the parent shuts both down although their threads are stuck
        assert time.monotonic() - started < 3.0
        assert plain.join(0) == "shutdown"
        assert trapping.join(0) == "killed"
        assert not host.pid.is_alive()
        # the callers woke up with the child's death, not a timeout
        got = sorted([outcomes.get(timeout=5.0), outcomes.get(timeout=5.0)])
        assert got == [("exit", "killed"), ("exit", "shutdown")]
    finally:
        release.set()
        for t in callers:
            t.join(10.0)
    assert log == []  # the trapping one was stuck, so its terminate never ran


def test_a_child_blocked_in_c_in_init_does_not_block_its_parent(host: HostHandle) -> None:
    holder: list[Pid] = []
    release = threading.Event()
    try:
        with pytest.raises(StartError) as info:
            host.start(
                {
                    "id": "slow",
                    "start": lambda: BlockedInit.start_link(holder, release, timeout=0.2),
                }
            )
        assert info.value.reason == "timeout"
        [pid] = holder
        assert pid.join(0) == "killed"  # dead although its thread is still stuck in init
        assert host.run(lambda p: p.children()) == []
        assert host.drain() == []  # it never was a child: nothing is reported
    finally:
        release.set()


# -- supervisor queries --------------------------------------------------------------------


def test_a_parent_answers_the_supervisor_queries(host: HostHandle) -> None:
    w = host.start(worker_spec("w"))
    p = host.start({**Host.child_spec(), "id": "p"})
    assert supervisor.which_children(host.pid) == [
        ("w", w, "worker", [Worker]),
        ("p", p, "supervisor", [Host]),
    ]
    assert supervisor.count_children(host.pid) == {
        "specs": 2,
        "active": 2,
        "supervisors": 1,
        "workers": 1,
    }
    assert supervisor.get_callback_module(host.pid) is Host
    host.run(lambda h: h.shutdown_child("w"))
    assert supervisor.which_children(host.pid) == [("p", p, "supervisor", [Host])]
    assert supervisor.count_children(host.pid)["active"] == 1


def test_a_parent_counts_as_a_supervisor_in_a_tree() -> None:
    log: list[Any] = []
    sup = supervisor.start_link([{**Host.child_spec(), "id": "host"}])
    try:
        [(id, host_pid, type_, modules)] = supervisor.which_children(sup)
        assert (id, type_, modules) == ("host", "supervisor", [Host])
        assert host_pid is not None
        child: Pid = gen_server.call(host_pid, lambda p: p.start_child(trapper_spec("c", log)))[1]
        assert supervisor.count_children(sup)["supervisors"] == 1
    finally:
        supervisor.stop(sup)
    assert host_pid.join(0) == "shutdown"
    assert child.join(0) == "shutdown"
    assert log == [("terminate", "c", "shutdown")]
