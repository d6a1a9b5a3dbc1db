"""Tests of `parent.Ignore` and `parent.Ignored` (API.md "parent: DynamicSupervisor,
Ignore, get_childspec"): an ``init`` that raises ``Ignore`` ends its process ``"normal"``
without an exit signal to its caller and without a crash report, and every way of
starting it (GenServer, Agent, Parent.start_child, dynamic_supervisor.start_child,
GenRegistry) raises ``Ignored`` and records nothing. A Supervisor's handling of an
ignored child is tested with the Supervisor."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from probes import ProbeHandle, crash_reports

import parent
from compat import ChildSpec
from genregistry import GenRegistry
from parent import (
    Agent,
    GenServer,
    Ignore,
    Ignored,
    Parent,
    Pid,
    StartError,
    dynamic_supervisor,
    gen_server,
    process,
    supervisor,
)

pytestmark = pytest.mark.timeout(60)

Probes = Callable[..., ProbeHandle]


class Maybe(GenServer):
    """Starts unless its argument is ``"ignore"``; records the pid of every ``init``
    in ``seen`` (when given), so a test can check how the ignored process ended."""

    def init(self, arg: Any = None, seen: list[Pid] | None = None) -> None:
        if seen is not None:
            me = process.current()
            assert me is not None
            seen.append(me)
        if arg == "ignore":
            raise Ignore()
        self.arg = arg

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        if request == "ignore":
            raise Ignore()
        return self.arg


# -- GenServer -----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["start_link", "start"])
def test_start_raises_ignored_and_the_process_exits_normal(how: str) -> None:
    seen: list[Pid] = []
    with pytest.raises(Ignored) as info:
        getattr(Maybe, how)("ignore", seen)
    assert isinstance(info.value, StartError)
    assert info.value.reason == "ignore"
    [pid] = seen
    # dead when start_link raises, with reason "normal"
    assert not pid.is_alive()
    assert pid.join(0) == "normal"


def test_the_name_is_free_again_when_ignored_raises() -> None:
    with pytest.raises(Ignored):
        Maybe.start_link("ignore", name="maybe")
    assert process.whereis("maybe") is None
    pid = Maybe.start_link("ok", name="maybe")
    assert process.whereis("maybe") is pid
    gen_server.stop(pid)


def test_no_exit_signal_reaches_a_trapping_caller(probes: Probes) -> None:
    probe = probes(trap=True)
    seen: list[Pid] = []

    def start() -> str:
        try:
            Maybe.start_link("ignore", seen)
        except Ignored as e:
            return str(e.reason)
        return "started"

    assert probe.run(start) == "ignore"
    [pid] = seen
    assert pid.join(0) == "normal"
    probe.assert_no_more_messages()  # no Exit(pid, "normal") in its mailbox


def test_a_non_trapping_caller_keeps_running(probes: Probes) -> None:
    probe = probes()
    with pytest.raises(Ignored):
        probe.run(lambda: Maybe.start_link("ignore"))
    assert probe.pid.is_alive()
    probe.assert_no_more_messages()


def test_ignore_logs_no_crash_report(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="parent"), pytest.raises(Ignored):
        Maybe.start_link("ignore")
    assert crash_reports(caplog) == []


def test_a_monitor_sees_normal(probes: Probes) -> None:
    """Ignore is an exit "normal": a process monitoring the ignored one sees that."""
    probe = probes()
    got: list[Any] = []
    ready = threading.Event()

    class Watched(GenServer):
        def init(self) -> None:
            me = process.current()
            assert me is not None
            probe.run(lambda: got.append(process.monitor(me)))
            ready.set()
            raise Ignore()

    with pytest.raises(Ignored):
        Watched.start()
    assert ready.is_set()
    down = probe.next()
    assert type(down) is parent.Down and down.ref is got[0] and down.reason == "normal"


def test_ignore_outside_init_is_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    pid = Maybe.start("ok")
    with caplog.at_level(logging.ERROR, logger="parent"), pytest.raises(parent.ExitError) as info:
        gen_server.call(pid, "ignore")
    assert isinstance(info.value.reason, Ignore)
    assert isinstance(pid.join(5.0), Ignore)
    assert len(crash_reports(caplog)) == 1


def test_an_agent_whose_fn_raises_ignore() -> None:
    def nothing() -> Any:
        raise Ignore()

    with pytest.raises(Ignored):
        Agent.start_link(nothing)


def test_a_parent_whose_own_init_raises_ignore() -> None:
    class Optional(Parent):
        def init(self) -> None:
            raise Ignore()

    with pytest.raises(Ignored):
        Optional.start_link()


# -- Parent.start_child ------------------------------------------------------------------


class Host(Parent):
    """``call(host, fn)`` runs ``fn(self)`` in the parent's process: the result, or the
    exception it raised, comes back as ``("ok", value)`` / ``("error", exc)``."""

    def init(self) -> None:
        self.exits: list[Any] = []

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        try:
            return ("ok", request(self))
        except Exception as exc:
            return ("error", exc)

    def handle_child_terminated(self, id: Any, meta: Any, pid: Pid, reason: Any) -> None:
        self.exits.append((id, reason))


@pytest.fixture
def host() -> Iterator[Pid]:
    pid = Host.start()
    yield pid
    gen_server.stop(pid)


def run(host: Pid, fn: Callable[[Host], Any]) -> Any:
    tag, value = gen_server.call(host, fn)
    if tag == "error":
        raise value
    return value


def test_parent_start_child_raises_ignored_and_records_nothing(host: Pid) -> None:
    spec: ChildSpec = {"id": "w", "start": (Maybe.start_link, ["ignore"])}
    with pytest.raises(Ignored):
        run(host, lambda p: p.start_child(spec))
    assert run(host, lambda p: (p.children(), p.is_child("w"), p.num_children())) == (
        [],
        False,
        0,
    )
    # no Exit of the ignored child reached handle_child_terminated, and the id is free
    pid = run(host, lambda p: p.start_child({"id": "w", "start": (Maybe.start_link, [1])}))
    assert run(host, lambda p: p.children()) == [("w", pid, None)]
    assert run(host, lambda p: p.exits) == []


# -- DynamicSupervisor ----------------------------------------------------------------------


def test_dynamic_supervisor_start_child_raises_ignored_and_records_nothing() -> None:
    sup = dynamic_supervisor.start_link(max_children=1)
    try:
        seen: list[Pid] = []
        with pytest.raises(Ignored):
            dynamic_supervisor.start_child(sup, (Maybe, "ignore"))
        with pytest.raises(Ignored):
            dynamic_supervisor.start_child(
                sup, {"id": "m", "start": (Maybe.start_link, ["ignore", seen])}
            )
        assert seen[0].join(0) == "normal"
        assert supervisor.which_children(sup) == []
        assert supervisor.count_children(sup)["specs"] == 0
        pid = dynamic_supervisor.start_child(sup, (Maybe, "ok"))  # its one slot is free
        assert supervisor.which_children(sup) == [(None, pid, "worker", [Maybe])]
    finally:
        dynamic_supervisor.stop(sup)


# -- GenRegistry ---------------------------------------------------------------------------


@pytest.fixture
def registry() -> Iterator[Pid]:
    pid = GenRegistry.start_link(Maybe)
    yield pid
    gen_server.stop(pid)


@pytest.mark.parametrize("how", ["lookup_or_start", "start"])
@pytest.mark.parametrize("by", ["name", "pid"])
def test_registry_raises_ignored_and_the_id_stays_free(registry: Pid, how: str, by: str) -> None:
    target: parent.Server = Maybe if by == "name" else registry
    fn = getattr(GenRegistry, how)
    with pytest.raises(Ignored):
        fn(target, "a", ["ignore"])
    assert GenRegistry.lookup(target, "a") is None
    assert GenRegistry.count(target) == 0
    assert supervisor.count_children(registry)["active"] == 0
    # a later call may start it
    pid = fn(target, "a", ["ok"])
    assert GenRegistry.lookup(target, "a") is pid
    assert gen_server.call(pid, "get") == "ok"


def test_concurrent_callers_of_an_ignored_id_all_get_ignored() -> None:
    release = threading.Event()
    entered = threading.Event()
    inits: list[int] = []

    class Slow(GenServer):
        def init(self) -> None:
            inits.append(1)
            entered.set()
            release.wait(5.0)
            raise Ignore()

    slow_registry = GenRegistry.start_link(Slow)
    try:
        results: list[Any] = []

        def caller() -> None:
            try:
                results.append(GenRegistry.lookup_or_start(Slow, "x"))
            except Exception as exc:
                results.append(exc)

        threads = [threading.Thread(target=caller) for _ in range(3)]
        threads[0].start()
        assert entered.wait(5.0)
        for t in threads[1:]:
            t.start()
        # the later callers are queued behind the start in progress: let it finish
        assert parent.testing.wait_until(
            lambda: len(slow_registry._server._starting.get("x", ())) == 3, 5.0
        )
        release.set()
        for t in threads:
            t.join(5.0)
        assert len(results) == 3 and all(isinstance(r, Ignored) for r in results)
        assert inits == [1]  # one start answered all three
        assert GenRegistry.count(Slow) == 0
    finally:
        gen_server.stop(slow_registry)
