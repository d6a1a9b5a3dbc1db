"""Tests of `parent.Supervisor` and the `parent.supervisor` client functions (API.md
"parent: Supervisor"): spec forms, validation, module-based supervisors, strategies,
restart types, restart intensity, start/stop order, dynamic children, queries and the
reports logged to the ``"parent"`` logger."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from probes import FakeClock

import parent
from compat import spec as legacy_spec
from parent import (
    AlreadyStarted,
    GenServer,
    NotFound,
    Parent,
    Pid,
    ProcessError,
    StartError,
    Stop,
    Supervisor,
    gen_server,
    process,
    supervisor,
)
from parent.testing import wait_until

pytestmark = pytest.mark.timeout(60)


# -- children ----------------------------------------------------------------------------


class Log(list):  # type: ignore[type-arg]
    """The order of starts and stops, as ``("start", id)`` and ``("stop", id)``, plus the
    last pid of each id in ``pids``."""

    def __init__(self) -> None:
        super().__init__()
        self.pids: dict[Any, Pid] = {}


class Member(GenServer):
    """A child that traps exits (so its ``terminate`` runs when its supervisor stops it)
    and logs its start and stop. A cast ``("stop", reason)`` stops it with ``reason``."""

    def init(self, id: Any = None, log: Log | None = None) -> None:
        process.trap_exits(True)
        self.id = id
        self.log = log
        if log is not None:
            me = process.current()
            assert me is not None
            log.pids[id] = me
            log.append(("start", id))

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        return self.id

    def handle_cast(self, request: Any) -> None:
        kind, reason = request
        assert kind == "stop"
        raise Stop(reason)

    def terminate(self, reason: Any) -> None:
        if self.log is not None:
            self.log.append(("stop", self.id))


class Plain(GenServer):
    """A child started without arguments."""


class Fails(GenServer):
    def init(self) -> None:
        raise ValueError("cannot start")


class Nested(Parent):
    """A Parent used as a supervisor-type child."""


def member(id: Any, log: Log | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": id, "start": (Member.start_link, [id, log]), **extra}


def children_pids(sup: parent.Server) -> dict[Any, Pid | None]:
    return {id: pid for id, pid, _, _ in supervisor.which_children(sup)}


def end_child(sup: parent.Server, id: Any, reason: Any) -> Pid:
    """Make the running child ``id`` stop itself with ``reason``; return its old pid.
    Queries after this see the supervisor's reaction (its ``Exit`` is handled first)."""
    pid = children_pids(sup)[id]
    assert pid is not None
    if reason == "kill":
        process.exit(pid, "kill")
    else:
        gen_server.cast(pid, ("stop", reason))
        pid.join(5.0)
    return pid


@pytest.fixture
def sups() -> Iterator[list[Pid]]:
    """Supervisors to stop at the end of the test if they are still alive."""
    started: list[Pid] = []
    yield started
    for sup in started:
        if sup.is_alive():
            supervisor.stop(sup, timeout=10.0)


def start(sups: list[Pid], children: list[Any], **options: Any) -> Pid:
    sup = supervisor.start_link(children, **options)
    sups.append(sup)
    return sup


# -- start_link ----------------------------------------------------------------------------


def test_start_link_accepts_mixed_spec_forms(sups: list[Pid]) -> None:
    with pytest.warns(DeprecationWarning):
        legacy = legacy_spec.worker(Member, ["legacy"], id="legacy")
    sup = start(
        sups,
        [
            member("dict"),
            Plain,
            (Member, "tuple"),
            legacy,
            {**Nested.child_spec(), "id": "nested"},
        ],
    )
    which = supervisor.which_children(sup)
    assert [(id, type_, modules) for id, _, type_, modules in which] == [
        ("dict", "worker", [Member]),
        (Plain, "worker", [Plain]),
        (Member, "worker", [Member]),
        ("legacy", "worker", [Member]),
        ("nested", "supervisor", [Nested]),
    ]
    pids = [pid for _, pid, _, _ in which]
    assert all(pid is not None and pid.is_alive() for pid in pids)
    assert [gen_server.call(pid, "id") for pid in pids[0:4:2]] == ["dict", "tuple"]
    assert gen_server.call(pids[3], "id") == "legacy"
    assert supervisor.count_children(sup) == {
        "specs": 5,
        "active": 5,
        "supervisors": 1,
        "workers": 4,
    }
    assert supervisor.get_callback_module(sup) is Supervisor


def test_start_link_with_a_name(sups: list[Pid]) -> None:
    sup = start(sups, [member("a")], name="the-sup")
    assert process.whereis("the-sup") is sup
    assert [id for id, *_ in supervisor.which_children("the-sup")] == ["a"]
    supervisor.stop("the-sup")
    assert not sup.is_alive()
    assert process.whereis("the-sup") is None


def recording_start(invoked: threading.Event) -> Callable[[], Pid]:
    def start() -> Pid:
        invoked.set()
        return Member.start_link()

    return start


INVALID: dict[str, tuple[Any, dict[str, Any], type[Exception]]] = {
    "missing start": ({"id": "x"}, {}, KeyError),
    "missing id": ({"start": (Member.start_link, [])}, {}, KeyError),
    "id None": ({"id": None, "start": (Member.start_link, [])}, {}, ValueError),
    "unknown key": ({"id": "x", "start": (Member.start_link, []), "restrat": "x"}, {}, ValueError),
    "bad restart": ({"id": "x", "start": (Member.start_link, []), "restart": "x"}, {}, ValueError),
    "bad shutdown": ({"id": "x", "start": (Member.start_link, []), "shutdown": -1}, {}, ValueError),
    "duplicate id": ({"id": "first", "start": (Member.start_link, [])}, {}, ValueError),
    "start not callable": ({"id": "x", "start": 42}, {}, TypeError),
    "not a spec": (42, {}, TypeError),
    "unhashable id": ({"id": [], "start": (Member.start_link, [])}, {}, TypeError),
    "bad strategy": (None, {"strategy": "one_for_some"}, ValueError),
    "negative max_restarts": (None, {"max_restarts": -1}, ValueError),
    "zero max_seconds": (None, {"max_seconds": 0}, ValueError),
    "infinite max_seconds": (None, {"max_seconds": float("inf")}, ValueError),
    "NaN max_seconds": (None, {"max_seconds": float("nan")}, ValueError),
    "negative max_seconds": (None, {"max_seconds": -1.0}, ValueError),
    "infinite max_restarts": (None, {"max_restarts": float("inf")}, ValueError),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_an_invalid_spec_raises_in_the_caller_before_anything_starts(case: str) -> None:
    bad, options, error = INVALID[case]
    invoked = threading.Event()
    children: list[Any] = [{"id": "first", "start": recording_start(invoked)}]
    if bad is not None:
        children.append(bad)
    with pytest.raises(error):
        supervisor.start_link(children, **options)
    assert not invoked.is_set()
    assert process.list() == []


def test_a_child_failing_to_start_stops_the_started_ones(sups: list[Pid]) -> None:
    log = Log()
    later = threading.Event()
    with pytest.raises(StartError) as info:
        supervisor.start_link(
            [
                member("a", log),
                member("b", log),
                Fails,
                {"id": "c", "start": recording_start(later)},
            ]
        )
    assert info.value.reason[:2] == ("failed_to_start_child", Fails)
    assert isinstance(info.value.reason[2], ValueError)  # the reason Fails gave
    assert log == [("start", "a"), ("start", "b"), ("stop", "b"), ("stop", "a")]
    assert log.pids["a"].join(0) == "shutdown"
    assert log.pids["b"].join(0) == "shutdown"
    assert not later.is_set()
    assert process.list() == []


def test_children_start_in_order_and_stop_in_reverse(sups: list[Pid]) -> None:
    log = Log()
    sup = start(sups, [member(id, log) for id in ["a", "b", "c"]])
    assert log == [("start", "a"), ("start", "b"), ("start", "c")]
    del log[:]
    supervisor.stop(sup)
    assert log == [("stop", "c"), ("stop", "b"), ("stop", "a")]
    assert sup.join(0) == "normal"
    assert all(pid.join(0) == "shutdown" for pid in log.pids.values())


def test_stop_passes_its_reason(sups: list[Pid]) -> None:
    sup = start(sups, [member("a")])
    supervisor.stop(sup, "shutdown", timeout=5.0)
    assert sup.join(0) == "shutdown"


# -- module-based supervisors ----------------------------------------------------------------


class App(Supervisor):
    def init(self, log: Log) -> Any:
        return supervisor.init(
            [member("a", log), member("b", log), member("c", log)],
            strategy="rest_for_one",
            max_restarts=5,
        )


class LegacyApp(Supervisor):
    def init(self, log: Log) -> Any:
        return legacy_spec.supervise(
            [member("a", log), member("b", log)], strategy="one_for_all", max_restarts=5
        )


class BadApp(Supervisor):
    def init(self) -> Any:
        return ["not", "an", "init", "value"]


def test_a_module_based_supervisor(sups: list[Pid]) -> None:
    log = Log()
    sup = App.start_link(log, name="app")
    sups.append(sup)
    assert process.whereis("app") is sup
    assert supervisor.get_callback_module("app") is App
    assert [id for id, *_ in supervisor.which_children(sup)] == ["a", "b", "c"]
    before = children_pids(sup)
    end_child(sup, "b", "boom")  # rest_for_one, as its init said
    after = children_pids(sup)
    assert after["a"] is before["a"]
    assert after["b"] is not before["b"] and after["c"] is not before["c"]


def test_a_module_based_supervisor_with_the_legacy_supervise_value(sups: list[Pid]) -> None:
    log = Log()
    with pytest.warns(DeprecationWarning, match="supervisor.init"):
        sup = LegacyApp.start_link(log)
    sups.append(sup)
    assert supervisor.get_callback_module(sup) is LegacyApp
    before = children_pids(sup)
    end_child(sup, "b", "boom")  # one_for_all
    after = children_pids(sup)
    assert after["a"] is not before["a"] and after["b"] is not before["b"]


def test_a_module_based_supervisor_with_a_bad_init_value_fails_to_start() -> None:
    with pytest.raises(StartError) as info:
        BadApp.start_link()
    assert isinstance(info.value.reason, TypeError)


def test_the_base_supervisor_init_needs_overriding() -> None:
    with pytest.raises(StartError) as info:
        Supervisor.start_link()
    assert isinstance(info.value.reason, TypeError)


# -- strategies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "restarted", "log_after"),
    [
        ("one_for_one", {"b"}, [("start", "b")]),
        (
            "one_for_all",
            {"a", "b", "c"},
            [("stop", "c"), ("stop", "a"), ("start", "a"), ("start", "b"), ("start", "c")],
        ),
        ("rest_for_one", {"b", "c"}, [("stop", "c"), ("start", "b"), ("start", "c")]),
    ],
)
def test_strategies(
    sups: list[Pid], strategy: str, restarted: set[str], log_after: list[Any]
) -> None:
    log = Log()
    sup = start(sups, [member(id, log) for id in ["a", "b", "c"]], strategy=strategy)
    before = children_pids(sup)
    del log[:]
    end_child(sup, "b", "kill")
    after = children_pids(sup)
    assert log == log_after
    for id in ["a", "b", "c"]:
        pid = after[id]
        assert pid is not None and pid.is_alive()
        if id in restarted:
            assert pid is not before[id]
            assert before[id].join(0) in ("killed", "shutdown")  # type: ignore[union-attr]
        else:
            assert pid is before[id]
    assert [id for id, *_ in supervisor.which_children(sup)] == ["a", "b", "c"]


def test_one_for_all_drops_a_temporary_sibling(sups: list[Pid]) -> None:
    sup = start(sups, [member("a"), member("t", restart="temporary")], strategy="one_for_all")
    t = children_pids(sup)["t"]
    end_child(sup, "a", "boom")
    assert [id for id, *_ in supervisor.which_children(sup)] == ["a"]
    assert t is not None and t.join(0) == "shutdown"


# -- restart types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("restart", "reason", "outcome"),
    [
        ("permanent", "normal", "restarted"),
        ("permanent", "shutdown", "restarted"),
        ("permanent", "boom", "restarted"),
        ("transient", "normal", "kept"),
        ("transient", "shutdown", "kept"),
        ("transient", ("shutdown", "why"), "kept"),
        ("transient", "boom", "restarted"),
        ("transient", "kill", "restarted"),
        ("temporary", "normal", "dropped"),
        ("temporary", "boom", "dropped"),
    ],
)
def test_restart_types(sups: list[Pid], restart: str, reason: Any, outcome: str) -> None:
    sup = start(sups, [member("a", restart=restart), member("other")])
    old = end_child(sup, "a", reason)
    pids = children_pids(sup)
    if outcome == "restarted":
        assert pids["a"] is not None and pids["a"] is not old and pids["a"].is_alive()
    elif outcome == "kept":
        assert "a" in pids and pids["a"] is None
        assert supervisor.count_children(sup) == {
            "specs": 2,
            "active": 1,
            "supervisors": 0,
            "workers": 2,
        }
    else:
        assert "a" not in pids
        assert supervisor.count_children(sup)["specs"] == 1
    assert pids["other"] is not None and pids["other"].is_alive()


# -- restart intensity ---------------------------------------------------------------------


def test_exactly_max_restarts_are_tolerated(sups: list[Pid]) -> None:
    sup = start(sups, [member("a"), member("b")], max_restarts=2, max_seconds=60.0)
    end_child(sup, "a", "kill")
    end_child(sup, "b", "boom")
    assert supervisor.count_children(sup)["active"] == 2  # handled both exits
    assert sup.is_alive()


def test_more_restarts_than_allowed_stop_everything_with_shutdown(
    sups: list[Pid], caplog: pytest.LogCaptureFixture
) -> None:
    log = Log()
    sup = start(sups, [member("a", log), member("b", log)], max_restarts=2, max_seconds=60.0)
    end_child(sup, "a", "kill")
    end_child(sup, "a", "kill")
    b = children_pids(sup)["b"]
    with caplog.at_level(logging.ERROR, logger="parent"):
        process.exit(children_pids(sup)["a"], "kill")  # type: ignore[arg-type]
        assert sup.join(5.0) == "shutdown"
    assert b is not None and b.join(0) == "shutdown"
    assert log[-1] == ("stop", "b")
    assert all(not pid.is_alive() for pid in log.pids.values())
    assert any(
        r.name == "parent" and "maximum restart intensity" in r.getMessage() for r in caplog.records
    )


def test_max_restarts_zero_gives_up_at_the_first_exit(sups: list[Pid]) -> None:
    sup = start(sups, [member("a")], max_restarts=0)
    end_child(sup, "a", "normal")
    assert sup.join(5.0) == "shutdown"


def test_restarts_older_than_max_seconds_are_forgotten(sups: list[Pid], clock: FakeClock) -> None:
    sup = start(sups, [member("a")], max_restarts=1, max_seconds=1.0)
    end_child(sup, "a", "kill")  # t = 100.0
    supervisor.count_children(sup)  # the restart is done before the clock moves
    clock.now += 1.5
    end_child(sup, "a", "kill")  # t = 101.5: the first one is out of the window
    supervisor.count_children(sup)
    assert sup.is_alive()
    clock.now += 1.0  # t = 102.5: 101.5 is exactly max_seconds ago, still counted
    end_child(sup, "a", "kill")
    assert sup.join(5.0) == "shutdown"


def test_a_child_that_cannot_be_restarted_makes_the_supervisor_give_up(
    sups: list[Pid],
) -> None:
    attempts: list[int] = []

    def start_once() -> Pid:
        attempts.append(1)
        if len(attempts) > 1:
            raise RuntimeError("no more")
        return Member.start_link("once")

    sup = start(sups, [{"id": "once", "start": start_once}], max_restarts=3, max_seconds=60.0)
    end_child(sup, "once", "boom")
    assert sup.join(5.0) == "shutdown"
    assert len(attempts) == 1 + 3  # the first start, then one try per allowed restart


def test_a_restart_that_fails_once_is_tried_again(sups: list[Pid]) -> None:
    attempts: list[int] = []

    def flaky() -> Pid:
        attempts.append(1)
        if len(attempts) == 2:
            raise RuntimeError("not now")
        return Member.start_link("flaky")

    sup = start(sups, [{"id": "flaky", "start": flaky}], max_restarts=5, max_seconds=60.0)
    old = end_child(sup, "flaky", "boom")
    assert wait_until(lambda: len(attempts) == 3, 5.0)
    new = children_pids(sup)["flaky"]
    assert new is not None and new is not old and new.is_alive()


class Gate:
    """A start function: the first start succeeds (so the supervisor can start), then
    the next ``fails`` starts fail, or every later one while ``open`` is false."""

    def __init__(self, id: Any, log: Log | None = None, fails: int = 0) -> None:
        self.id = id
        self.log = log
        self.fails = fails
        self.open = True
        self.attempts = 0

    def __call__(self) -> Pid:
        self.attempts += 1
        if self.attempts > 1 and (not self.open or self.fails > 0):
            self.fails -= 1
            raise RuntimeError(f"{self.id} cannot start now")
        return Member.start_link(self.id, self.log)


def test_terminate_child_cancels_a_pending_restart(sups: list[Pid]) -> None:
    """While the supervisor keeps retrying a failed restart, terminate_child cancels
    it (Erlang: a terminated "restarting" child is not restarted): the child does not
    come back, no more retries count toward the intensity, the supervisor stays up.
    Before the fix the retry went on: the child came back after terminate_child, or
    the supervisor shut itself down."""
    gate = Gate("g")
    sup = start(
        sups,
        [{"id": "g", "start": gate}, member("other")],
        max_restarts=1_000_000,  # the retries run back to back until the cancel
        max_seconds=60.0,
    )
    gate.open = False
    end_child(sup, "g", "boom")
    assert wait_until(lambda: gate.attempts >= 3, 5.0)  # retrying
    supervisor.terminate_child(sup, "g")
    tries = gate.attempts
    gate.open = True
    supervisor.count_children(sup)  # a retry already queued is handled by now
    assert children_pids(sup)["g"] is None
    assert gate.attempts == tries
    assert supervisor.which_children(sup)[0][0] == "g"  # the spec is kept
    assert sup.is_alive()
    assert supervisor.restart_child(sup, "g").is_alive()


def test_delete_child_of_a_child_being_restarted_raises_and_keeps_the_spec(
    sups: list[Pid],
) -> None:
    gate = Gate("g")
    sup = start(sups, [{"id": "g", "start": gate}], max_restarts=1_000_000, max_seconds=60.0)
    gate.open = False
    end_child(sup, "g", "boom")
    assert wait_until(lambda: gate.attempts >= 2, 5.0)
    with pytest.raises(ProcessError, match="being restarted"):
        supervisor.delete_child(sup, "g")
    with pytest.raises(ProcessError, match="being restarted"):
        supervisor.restart_child(sup, "g")
    assert [id for id, *_ in supervisor.which_children(sup)] == ["g"]
    gate.open = True
    assert wait_until(lambda: children_pids(sup)["g"] is not None, 5.0)


GROUP_RETRY = {
    # a, b, c: a crashes, b's restart fails once
    "one_for_all": (
        ["a", "b", "c"],
        "a",
        "b",
        ["stop a", "stop c", "stop b", "start a", "stop a", "start a", "start b", "start c"],
    ),
    # a, b, c, d: b crashes, c's restart fails once; the retry restarts c's own group
    # (c, d), as Erlang's try_again_restart does, so a and the new b are left alone
    "rest_for_one": (
        ["a", "b", "c", "d"],
        "b",
        "c",
        ["stop b", "stop d", "stop c", "start b", "start c", "start d"],
    ),
}


@pytest.mark.parametrize("strategy", list(GROUP_RETRY))
def test_a_failed_group_restart_restarts_the_whole_group_again(
    sups: list[Pid], strategy: str
) -> None:
    """Erlang retries a failed restart by restarting the group of the child that failed
    to start, with the strategy: under one_for_all that is every child, so the siblings
    started in the failed attempt are stopped (in reverse) and everything starts once
    more, in order. Before the fix the retry started only the failed child and those
    after it, leaving a as the failed attempt had left it."""
    ids, crashing, failing, expected = GROUP_RETRY[strategy]
    log = Log()
    gate = Gate(failing, log, fails=1)
    specs = [{"id": i, "start": gate} if i == failing else member(i, log) for i in ids]
    sup = start(sups, specs, strategy=strategy, max_restarts=10, max_seconds=60.0)
    before = children_pids(sup)
    log.clear()
    end_child(sup, crashing, "boom")
    assert wait_until(lambda: len(log) >= len(expected), 5.0), log
    supervisor.count_children(sup)
    assert [f"{what} {id}" for what, id in log] == expected
    after = children_pids(sup)
    assert all(pid is not None and pid.is_alive() for pid in after.values())
    assert (after["a"] is before["a"]) == (strategy == "rest_for_one")


class Ignoring(GenServer):
    def init(self) -> None:
        raise parent.Ignore()


def test_an_ignored_child_keeps_its_spec_without_a_pid(sups: list[Pid]) -> None:
    ignored = {"id": "ignored", "start": (Ignoring.start_link, [])}
    temporary = {**ignored, "id": "temporary", "restart": "temporary"}
    sup = start(sups, [member("a"), ignored, temporary, member("b")])
    pids = children_pids(sup)
    assert list(pids) == ["a", "ignored", "b"]  # a temporary ignored child is forgotten
    assert pids["ignored"] is None and pids["a"] is not None and pids["b"] is not None
    assert supervisor.count_children(sup)["active"] == 2
    with pytest.raises(parent.Ignored):
        supervisor.restart_child(sup, "ignored")  # tried again, ignored again
    with pytest.raises(parent.Ignored):
        supervisor.start_child(sup, {**ignored, "id": "late"})
    assert children_pids(sup)["late"] is None  # kept too, as Erlang keeps it


def test_get_childspec(sups: list[Pid]) -> None:
    sup = start(sups, [member("a", restart="transient")])
    spec = supervisor.get_childspec(sup, "a")
    assert spec["id"] == "a" and spec["restart"] == "transient" and spec["shutdown"] == 5.0
    spec["restart"] = "temporary"  # a copy: the supervisor's own is untouched
    assert supervisor.get_childspec(sup, "a")["restart"] == "transient"
    supervisor.terminate_child(sup, "a")
    assert supervisor.get_childspec(sup, "a")["id"] == "a"  # a stopped child's spec too
    with pytest.raises(NotFound):
        supervisor.get_childspec(sup, "nope")


# -- dynamic children ----------------------------------------------------------------------


def test_start_child(sups: list[Pid]) -> None:
    sup = start(sups, [member("a")])
    pid = supervisor.start_child(sup, member("b"))
    assert pid.is_alive()
    assert children_pids(sup) == {"a": children_pids(sup)["a"], "b": pid}
    with pytest.raises(AlreadyStarted) as info:
        supervisor.start_child(sup, member("b"))
    assert info.value.pid is pid
    supervisor.terminate_child(sup, "b")
    with pytest.raises(ValueError):
        supervisor.start_child(sup, member("b"))
    with pytest.raises(StartError):
        supervisor.start_child(sup, {"id": "f", "start": Fails.start_link})
    assert "f" not in children_pids(sup)  # a failed start keeps no spec
    with pytest.raises(KeyError):
        supervisor.start_child(sup, {"id": "nostart"})
    # a dynamically added child is restarted like the others
    old = end_child(sup, "a", "boom")
    assert children_pids(sup)["a"] is not old
    c = supervisor.start_child(sup, member("c"))
    process.exit(c, "kill")
    new_c = children_pids(sup)["c"]
    assert new_c is not None and new_c is not c


def test_terminate_child_keeps_the_spec(sups: list[Pid]) -> None:
    log = Log()
    sup = start(sups, [member("a", log), member("b", log)])
    a = children_pids(sup)["a"]
    assert supervisor.terminate_child(sup, "a") is None
    assert a is not None and a.join(0) == "shutdown"  # dead when terminate_child returns
    assert supervisor.which_children(sup)[0] == ("a", None, "worker", [Member])
    assert supervisor.count_children(sup) == {
        "specs": 2,
        "active": 1,
        "supervisors": 0,
        "workers": 2,
    }
    # not restarted: it was stopped on purpose
    assert children_pids(sup)["a"] is None
    supervisor.terminate_child(sup, "a")  # a stopped child: nothing to do
    with pytest.raises(NotFound):
        supervisor.terminate_child(sup, "zzz")


def test_terminate_child_drops_a_temporary_spec(sups: list[Pid]) -> None:
    sup = start(sups, [member("t", restart="temporary")])
    supervisor.terminate_child(sup, "t")
    assert supervisor.which_children(sup) == []


def test_restart_child(sups: list[Pid]) -> None:
    sup = start(sups, [member("a"), member("b")])
    a = children_pids(sup)["a"]
    with pytest.raises(AlreadyStarted) as info:
        supervisor.restart_child(sup, "a")
    assert info.value.pid is a
    supervisor.terminate_child(sup, "a")
    new = supervisor.restart_child(sup, "a")
    assert new is not a and new.is_alive()
    assert supervisor.which_children(sup)[0][:2] == ("a", new)
    with pytest.raises(NotFound):
        supervisor.restart_child(sup, "zzz")
    # a transient child that ended cleanly is kept, and can be restarted
    supervisor.start_child(sup, member("tr", restart="transient"))
    old = end_child(sup, "tr", "normal")
    assert children_pids(sup)["tr"] is None
    again = supervisor.restart_child(sup, "tr")
    assert again is not old and again.is_alive()


def test_delete_child(sups: list[Pid]) -> None:
    sup = start(sups, [member("a"), member("b")])
    with pytest.raises(ProcessError):
        supervisor.delete_child(sup, "a")
    assert children_pids(sup)["a"] is not None
    supervisor.terminate_child(sup, "a")
    assert supervisor.delete_child(sup, "a") is None
    assert list(children_pids(sup)) == ["b"]
    with pytest.raises(NotFound):
        supervisor.delete_child(sup, "a")
    # the id is free again
    supervisor.start_child(sup, member("a"))
    assert list(children_pids(sup)) == ["b", "a"]


# -- queries -------------------------------------------------------------------------------


def test_queries(sups: list[Pid]) -> None:
    sup = start(sups, [member("w"), {**Nested.child_spec(), "id": "n"}])
    which = supervisor.which_children(sup)
    assert [(id, type_, modules) for id, _, type_, modules in which] == [
        ("w", "worker", [Member]),
        ("n", "supervisor", [Nested]),
    ]
    assert supervisor.count_children(sup) == {
        "specs": 2,
        "active": 2,
        "supervisors": 1,
        "workers": 1,
    }
    assert supervisor.get_callback_module(sup) is Supervisor
    # a nested Parent answers them too
    nested = children_pids(sup)["n"]
    assert supervisor.which_children(nested) == []  # type: ignore[arg-type]
    assert supervisor.get_callback_module(nested) is Nested  # type: ignore[arg-type]


def test_queries_on_a_plain_gen_server_or_a_dead_process_fail(sups: list[Pid]) -> None:
    pid = Plain.start()
    try:
        with pytest.raises(ProcessError):
            supervisor.which_children(pid)
    finally:
        gen_server.stop(pid)
    with pytest.raises(parent.NoProcess):
        supervisor.count_children(pid)
    with pytest.raises(parent.NoProcess):
        supervisor.which_children("no-such-name")


# -- reports -------------------------------------------------------------------------------


def test_an_abnormal_child_exit_is_reported(
    sups: list[Pid], caplog: pytest.LogCaptureFixture
) -> None:
    sup = start(sups, [member("a"), member("quiet")])
    with caplog.at_level(logging.ERROR, logger="parent"):
        end_child(sup, "quiet", "normal")
        end_child(sup, "quiet", "shutdown")
        children_pids(sup)
        assert not [r for r in caplog.records if "Supervisor" in r.getMessage()]
        end_child(sup, "a", "kill")
        children_pids(sup)
    reports = [r for r in caplog.records if r.name == "parent" and "Supervisor" in r.getMessage()]
    assert len(reports) == 1
    [report] = reports
    assert report.levelno == logging.ERROR
    text = report.getMessage()
    assert "'a'" in text and "killed" in text and "permanent" in text
