"""Tests of `parent.DynamicSupervisor` and the `parent.dynamic_supervisor` client
functions (API.md "parent: DynamicSupervisor, Ignore, get_childspec"): options,
start_child (shared ids, extra_arguments, max_children), terminate_child, restart types,
restart intensity, failed restarts, concurrent shutdown, queries, the module-based form,
a dynamic supervisor inside a Supervisor, reports, and a Hypothesis model."""

from __future__ import annotations

import itertools
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from probes import FakeClock

import parent
from compat import ChildSpec
from compat import spec as legacy_spec
from parent import (
    DynamicSupervisor,
    GenServer,
    NotFound,
    Pid,
    ProcessError,
    StartError,
    Stop,
    dynamic_supervisor,
    gen_server,
    process,
    supervisor,
)
from parent.testing import wait_until

pytestmark = pytest.mark.timeout(60)


class Member(GenServer):
    """Traps exits (so its ``terminate`` runs on its supervisor's signal); a call
    answers its start arguments; a cast ``reason`` stops it with that reason."""

    def init(self, *args: Any) -> None:
        process.trap_exits(True)
        self.args = args

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        return self.args

    def handle_cast(self, request: Any) -> None:
        raise Stop(request)


class Fails(GenServer):
    def init(self) -> None:
        raise ValueError("cannot start")


def member(*args: Any, id: Any = "m", **extra: Any) -> ChildSpec:
    spec: ChildSpec = {"id": id, "start": (Member.start_link, list(args))}
    spec.update(extra)  # type: ignore[typeddict-item]
    return spec


def pids_of(sup: parent.Server) -> list[Pid | None]:
    return [pid for _id, pid, _type, _modules in supervisor.which_children(sup)]


def end(pid: Pid, reason: Any) -> None:
    """End a child with ``reason``; its supervisor handles that before any later query."""
    if reason == "kill":
        process.exit(pid, "kill")
    else:
        gen_server.cast(pid, reason)
        pid.join(5.0)


@pytest.fixture
def sups() -> Iterator[list[Pid]]:
    started: list[Pid] = []
    yield started
    for sup in started:
        if sup.is_alive():
            dynamic_supervisor.stop(sup, timeout=10.0)


def start(sups: list[Pid], **options: Any) -> Pid:
    sup = dynamic_supervisor.start_link(**options)
    sups.append(sup)
    return sup


# -- start_link and options ----------------------------------------------------------------


def test_start_link_starts_empty(sups: list[Pid]) -> None:
    sup = start(sups, name="dyn")
    assert process.whereis("dyn") is sup
    assert supervisor.which_children("dyn") == []
    assert supervisor.count_children("dyn") == {
        "specs": 0,
        "active": 0,
        "supervisors": 0,
        "workers": 0,
    }
    assert supervisor.get_callback_module(sup) is DynamicSupervisor
    dynamic_supervisor.stop("dyn", "shutdown")
    assert sup.join(0) == "shutdown"


BAD_OPTIONS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"max_children": -1}, ValueError, "-1"),
    ({"max_children": True}, ValueError, "True"),
    ({"max_children": 1.5}, ValueError, "1.5"),
    ({"max_restarts": -1}, ValueError, "-1"),
    ({"max_restarts": float("inf")}, ValueError, "inf"),
    ({"max_seconds": 0}, ValueError, "0"),
    ({"max_seconds": float("nan")}, ValueError, "nan"),
    ({"max_seconds": float("inf")}, ValueError, "inf"),
    ({"extra_arguments": "abc"}, TypeError, "'abc'"),
]


@pytest.mark.parametrize(("options", "error", "named"), BAD_OPTIONS)
def test_bad_options_raise_before_anything_starts(
    options: dict[str, Any], error: type[Exception], named: str
) -> None:
    with pytest.raises(error, match=named):
        dynamic_supervisor.start_link(**options)
    with pytest.raises(error, match=named):
        dynamic_supervisor.init(**options)
    with pytest.raises(error, match=named):
        DynamicSupervisor.child_spec(options)
    assert process.list() == []


def test_child_spec_rejects_unknown_options_and_non_dicts() -> None:
    plain = DynamicSupervisor.child_spec()
    assert plain["id"] is DynamicSupervisor and plain["type"] == "supervisor"
    assert plain["shutdown"] == "infinity" and plain["modules"] == [DynamicSupervisor]
    with pytest.raises(ValueError, match="'strategy'"):
        DynamicSupervisor.child_spec({"strategy": "one_for_all"})
    with pytest.raises(TypeError, match="42"):
        DynamicSupervisor.child_spec(42)


# -- start_child ---------------------------------------------------------------------------


def test_children_may_share_an_id_and_take_every_spec_form(sups: list[Pid]) -> None:
    sup = start(sups)
    with pytest.warns(DeprecationWarning):
        legacy = legacy_spec.worker(Member, ["legacy"], id="m")
    pids = [
        dynamic_supervisor.start_child(sup, member(1)),
        dynamic_supervisor.start_child(sup, member(2)),
        dynamic_supervisor.start_child(sup, Member),
        dynamic_supervisor.start_child(sup, (Member, "tuple")),
        dynamic_supervisor.start_child(sup, legacy),
    ]
    assert [gen_server.call(pid, "args") for pid in pids] == [
        (1,),
        (2,),
        (),
        ("tuple",),
        ("legacy",),
    ]
    assert supervisor.which_children(sup) == [(None, pid, "worker", [Member]) for pid in pids]


def test_extra_arguments_come_first_and_survive_a_restart(sups: list[Pid]) -> None:
    sup = start(sups, extra_arguments=["pool", 7])
    pid = dynamic_supervisor.start_child(sup, member("own"))
    assert gen_server.call(pid, "args") == ("pool", 7, "own")
    end(pid, "kill")
    [new] = pids_of(sup)
    assert new is not None and new is not pid
    assert gen_server.call(new, "args") == ("pool", 7, "own")


def test_get_childspec_takes_a_childs_pid(sups: list[Pid]) -> None:
    sup = start(sups, extra_arguments=["pool"])
    pid = dynamic_supervisor.start_child(sup, member("own", restart="transient"))
    spec = supervisor.get_childspec(sup, pid)
    assert spec["id"] == "m" and spec["restart"] == "transient"
    assert spec["start"] == (Member.start_link, ["pool", "own"])  # as it is (re)started
    with pytest.raises(NotFound):
        supervisor.get_childspec(sup, "m")


def test_max_children(sups: list[Pid]) -> None:
    sup = start(sups, max_children=2)
    a = dynamic_supervisor.start_child(sup, member())
    dynamic_supervisor.start_child(sup, member())
    with pytest.raises(StartError) as info:
        dynamic_supervisor.start_child(sup, member())
    assert info.value.reason == "max_children"
    assert supervisor.count_children(sup)["active"] == 2
    dynamic_supervisor.terminate_child(sup, a)  # a free slot
    dynamic_supervisor.start_child(sup, member())
    nothing = start(sups, max_children=0)
    with pytest.raises(StartError, match="max_children"):
        dynamic_supervisor.start_child(nothing, member())


def test_a_failed_start_records_nothing(sups: list[Pid]) -> None:
    sup = start(sups, max_children=1)
    with pytest.raises(StartError) as info:
        dynamic_supervisor.start_child(sup, {"id": "f", "start": Fails.start_link})
    assert isinstance(info.value.reason, ValueError)
    with pytest.raises(KeyError):
        dynamic_supervisor.start_child(sup, {"id": "nostart"})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        dynamic_supervisor.start_child(sup, 42)  # type: ignore[arg-type]
    assert supervisor.which_children(sup) == []
    dynamic_supervisor.start_child(sup, member())  # the one slot is still free


# -- terminate_child -----------------------------------------------------------------------


def test_terminate_child_stops_and_forgets_even_a_permanent_child(sups: list[Pid]) -> None:
    sup = start(sups)
    a = dynamic_supervisor.start_child(sup, member(1))
    b = dynamic_supervisor.start_child(sup, member(2))
    dynamic_supervisor.terminate_child(sup, a)
    assert a.join(0) == "shutdown"  # dead when terminate_child returns
    assert pids_of(sup) == [b]  # and not restarted
    with pytest.raises(NotFound, match="is not a child"):
        dynamic_supervisor.terminate_child(sup, a)
    other = Member.start()
    try:
        with pytest.raises(NotFound):
            dynamic_supervisor.terminate_child(sup, other)
    finally:
        gen_server.stop(other)
    with pytest.raises(TypeError, match="'m'"):
        dynamic_supervisor.terminate_child(sup, "m")  # type: ignore[arg-type]
    supervisor.terminate_child(sup, b)  # the Supervisor client reaches the same request
    assert pids_of(sup) == []


def test_terminate_child_kills_a_child_that_outlives_its_shutdown(sups: list[Pid]) -> None:
    release = threading.Event()

    class Stubborn(Member):
        def terminate(self, reason: Any) -> None:
            release.wait(10.0)

    sup = start(sups)
    pid = dynamic_supervisor.start_child(
        sup, {"id": "s", "start": Stubborn.start_link, "shutdown": 0.1}
    )
    brutal = dynamic_supervisor.start_child(sup, member(shutdown="brutal_kill"))
    try:
        dynamic_supervisor.terminate_child(sup, pid)
        dynamic_supervisor.terminate_child(sup, brutal)
    finally:
        release.set()
    assert pid.join(0) == "killed" and brutal.join(0) == "killed"


# -- restart types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("restart", "reason", "restarted"),
    [
        ("permanent", "normal", True),
        ("permanent", "shutdown", True),
        ("permanent", "boom", True),
        ("permanent", "kill", True),
        ("transient", "normal", False),
        ("transient", "shutdown", False),
        ("transient", ("shutdown", "why"), False),
        ("transient", "boom", True),
        ("transient", "kill", True),
        ("temporary", "normal", False),
        ("temporary", "boom", False),
        ("temporary", "kill", False),
    ],
)
def test_restart_types(sups: list[Pid], restart: str, reason: Any, restarted: bool) -> None:
    sup = start(sups)
    pid = dynamic_supervisor.start_child(sup, member("x", restart=restart))
    other = dynamic_supervisor.start_child(sup, member("other"))
    end(pid, reason)
    pids = pids_of(sup)
    if restarted:
        assert pids[0] is other and pids[1] is not pid  # a restart goes to the end
        assert pids[1] is not None and gen_server.call(pids[1], "args") == ("x",)
    else:
        assert pids == [other]


# -- restart intensity ---------------------------------------------------------------------


def test_max_restarts_are_tolerated_and_one_more_stops_everything(
    sups: list[Pid], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    sup = start(sups, max_restarts=2, max_seconds=1.0)
    keep = dynamic_supervisor.start_child(sup, member("keep"))
    dynamic_supervisor.start_child(sup, member("flaky"))
    for _ in range(2):
        end(pids_of(sup)[-1], "kill")  # type: ignore[arg-type]
    assert supervisor.count_children(sup)["active"] == 2
    clock.now += 1.0  # 1.0 s ago is still inside the window
    with caplog.at_level(logging.ERROR, logger="parent"):
        end(pids_of(sup)[-1], "boom")  # type: ignore[arg-type]
        assert sup.join(5.0) == "shutdown"
    assert keep.join(0) == "shutdown"
    assert any("maximum restart intensity" in r.getMessage() for r in caplog.records)


def test_restarts_older_than_max_seconds_are_forgotten(sups: list[Pid], clock: FakeClock) -> None:
    sup = start(sups, max_restarts=1, max_seconds=1.0)
    dynamic_supervisor.start_child(sup, member())
    end(pids_of(sup)[0], "kill")  # type: ignore[arg-type]
    supervisor.count_children(sup)  # the restart is done before the clock moves
    clock.now += 1.5
    end(pids_of(sup)[0], "kill")  # type: ignore[arg-type]
    assert supervisor.count_children(sup)["active"] == 1
    end(pids_of(sup)[0], "kill")  # type: ignore[arg-type]
    assert sup.join(5.0) == "shutdown"


def test_max_restarts_zero_gives_up_at_the_first_restart(sups: list[Pid]) -> None:
    sup = start(sups, max_restarts=0)
    dynamic_supervisor.start_child(sup, member(restart="temporary"))
    end(pids_of(sup)[0], "boom")  # type: ignore[arg-type]
    assert sup.is_alive() and pids_of(sup) == []  # no restart was due
    dynamic_supervisor.start_child(sup, member())
    end(pids_of(sup)[0], "normal")  # type: ignore[arg-type]
    assert sup.join(5.0) == "shutdown"


def refused(sup: Pid) -> Any:
    """The reason ``start_child`` gives (or the pid, if it starts)."""
    try:
        return dynamic_supervisor.start_child(sup, member())
    except StartError as exc:
        return exc.reason


def test_a_failed_restart_is_retried_and_listed_meanwhile(sups: list[Pid]) -> None:
    sup = start(sups, max_restarts=5, max_seconds=60.0, max_children=1)
    attempts = itertools.count()
    seen: list[Any] = []
    threads: list[threading.Thread] = []

    def flaky() -> Pid:
        if next(attempts) != 1:
            return Member.start_link("flaky")
        # three queries reach the mailbox before the supervisor posts its retry
        askers = [
            threading.Thread(target=lambda: seen.append(supervisor.which_children(sup))),
            threading.Thread(target=lambda: seen.append(supervisor.count_children(sup))),
            threading.Thread(target=lambda: seen.append(refused(sup))),
        ]
        for asker in askers:
            asker.start()
        threads.extend(askers)
        assert wait_until(lambda: sup._mbox.qsize() == 3, 5.0)
        raise RuntimeError("not now")

    old = dynamic_supervisor.start_child(sup, {"id": "flaky", "start": flaky})
    end(old, "boom")
    assert wait_until(lambda: len(seen) == 3, 5.0)
    for t in threads:
        t.join(5.0)
    restarting = (None, None, "worker", [sys.modules[__name__]])
    assert sorted(seen, key=repr) == sorted(
        [
            [restarting],
            {"specs": 1, "active": 0, "supervisors": 0, "workers": 1},
            "max_children",  # a child being restarted keeps its slot
        ],
        key=repr,
    )
    [new] = pids_of(sup)
    assert new is not None and new is not old and next(attempts) == 3


def test_terminate_child_of_the_old_pid_cancels_a_pending_restart(sups: list[Pid]) -> None:
    sup = start(sups, max_restarts=1, max_seconds=60.0)
    attempts = itertools.count()
    old: list[Pid] = []
    threads: list[threading.Thread] = []

    def failing() -> Pid:
        if next(attempts) == 0:
            pid = Member.start_link("first")
            old.append(pid)
            return pid
        # the cancellation reaches the mailbox before the supervisor posts its retry
        canceller = threading.Thread(target=dynamic_supervisor.terminate_child, args=(sup, old[0]))
        canceller.start()
        threads.append(canceller)
        assert wait_until(lambda: sup._mbox.qsize() == 1, 5.0)
        raise RuntimeError("never again")

    dynamic_supervisor.start_child(sup, {"id": "f", "start": failing})
    end(old[0], "boom")  # restart 1 fails; its retry would exceed the intensity
    assert wait_until(lambda: bool(threads), 5.0)
    threads[0].join(5.0)
    assert supervisor.which_children(sup) == []  # cancelled: nothing to restart
    assert sup.is_alive() and next(attempts) == 2  # no retry ran
    with pytest.raises(NotFound):
        dynamic_supervisor.terminate_child(sup, old[0])


def test_a_child_that_cannot_be_restarted_makes_the_supervisor_give_up(
    sups: list[Pid],
) -> None:
    attempts: list[int] = []

    def start_once() -> Pid:
        attempts.append(1)
        if len(attempts) > 1:
            raise RuntimeError("no more")
        return Member.start_link("once")

    sup = start(sups, max_restarts=3, max_seconds=60.0)
    dynamic_supervisor.start_child(sup, {"id": "once", "start": start_once})
    end(pids_of(sup)[0], "boom")  # type: ignore[arg-type]
    assert sup.join(5.0) == "shutdown"
    assert len(attempts) == 1 + 3  # the first start, then one try per allowed restart


def test_a_restart_that_is_ignored_drops_the_child(sups: list[Pid]) -> None:
    starts = itertools.count()

    class Once(Member):
        def init(self, *args: Any) -> None:
            if next(starts) > 0:
                raise parent.Ignore()
            super().init(*args)

    sup = start(sups)
    pid = dynamic_supervisor.start_child(sup, {"id": "once", "start": Once.start_link})
    end(pid, "boom")
    assert pids_of(sup) == [] and sup.is_alive()
    assert next(starts) == 2  # restarted once, ignored, not tried again


# -- shutdown ------------------------------------------------------------------------------


def test_children_stop_concurrently_when_the_supervisor_stops(sups: list[Pid]) -> None:
    """The later child waits in ``terminate`` for the earlier one's: stopped one at a
    time (the later first), it would be killed after its 5 s shutdown instead."""
    first_stopping = threading.Event()

    class First(Member):
        def terminate(self, reason: Any) -> None:
            first_stopping.set()

    class Second(Member):
        def terminate(self, reason: Any) -> None:
            assert first_stopping.wait(10.0)

    sup = start(sups)
    a = dynamic_supervisor.start_child(sup, {"id": "a", "start": First.start_link})
    b = dynamic_supervisor.start_child(sup, {"id": "b", "start": Second.start_link})
    dynamic_supervisor.stop(sup)
    assert sup.join(0) == "normal"
    assert a.join(0) == "shutdown" and b.join(0) == "shutdown"


# -- queries and reports -------------------------------------------------------------------


def test_queries_count_supervisor_children(sups: list[Pid]) -> None:
    sup = start(sups)
    w = dynamic_supervisor.start_child(sup, member())
    nested = dynamic_supervisor.start_child(sup, DynamicSupervisor.child_spec({"max_children": 1}))
    assert supervisor.which_children(sup) == [
        (None, w, "worker", [Member]),
        (None, nested, "supervisor", [DynamicSupervisor]),
    ]
    assert supervisor.count_children(sup) == {
        "specs": 2,
        "active": 2,
        "supervisors": 1,
        "workers": 1,
    }
    with pytest.raises(ProcessError, match="restart_child"):
        supervisor.restart_child(sup, w)


def test_an_abnormal_child_exit_is_reported(
    sups: list[Pid], caplog: pytest.LogCaptureFixture
) -> None:
    sup = start(sups)
    with caplog.at_level(logging.ERROR, logger="parent"):
        for reason in ["normal", "shutdown", ("shutdown", "why")]:
            end(
                dynamic_supervisor.start_child(sup, member(id="quiet", restart="transient")), reason
            )
        pids_of(sup)
        assert not [r for r in caplog.records if "Supervisor" in r.getMessage()]
        end(dynamic_supervisor.start_child(sup, member(id="loud", restart="transient")), "kill")
        pids_of(sup)
    [report] = [r for r in caplog.records if "DynamicSupervisor" in r.getMessage()]
    text = report.getMessage()
    assert report.levelno == logging.ERROR
    assert "'loud'" in text and "killed" in text and "transient" in text


# -- the module-based form -----------------------------------------------------------------


class Rooms(DynamicSupervisor):
    def init(self, limit: int = 2) -> Any:
        return dynamic_supervisor.init(max_children=limit, extra_arguments=["room"])

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        try:  # the method works in its own process
            return self.start_child(member(request))
        except StartError as exc:
            return exc


class BadRooms(DynamicSupervisor):
    def init(self) -> Any:
        return {"max_children": 3}


def test_a_module_based_dynamic_supervisor(sups: list[Pid]) -> None:
    sup = Rooms.start_link(1, name="rooms")
    sups.append(sup)
    assert supervisor.get_callback_module("rooms") is Rooms
    pid = dynamic_supervisor.start_child("rooms", member("lobby"))
    assert gen_server.call(pid, "args") == ("room", "lobby")
    refused = gen_server.call("rooms", "kitchen")
    assert isinstance(refused, StartError) and refused.reason == "max_children"
    dynamic_supervisor.terminate_child("rooms", pid)
    inner = gen_server.call("rooms", "kitchen")
    assert pids_of("rooms") == [inner]
    assert gen_server.call(inner, "args") == ("room", "kitchen")
    with pytest.raises(ProcessError, match="own process"):
        Rooms().start_child(member())


def test_a_bad_init_value_or_no_init_fails_to_start() -> None:
    with pytest.raises(StartError) as info:
        BadRooms.start_link()
    assert isinstance(info.value.reason, TypeError)
    with pytest.raises(StartError) as info:
        DynamicSupervisor.start_link()
    assert isinstance(info.value.reason, TypeError)


def test_in_a_supervisors_children_list(sups: list[Pid]) -> None:
    top = supervisor.start_link([(DynamicSupervisor, {"name": "dyn", "max_children": 3}), Rooms])
    try:
        assert [(i, t, m) for i, _, t, m in supervisor.which_children(top)] == [
            ("dyn", "supervisor", [DynamicSupervisor]),
            (Rooms, "supervisor", [Rooms]),
        ]
        dyn = process.whereis("dyn")
        assert dyn is not None
        child = dynamic_supervisor.start_child("dyn", member())
        rooms = pids_of(top)[1]
        assert rooms is not None
        room = dynamic_supervisor.start_child(rooms, member("hall"))
        process.exit(dyn, "kill")  # the top supervisor restarts it, empty
        assert child.join(5.0) == "killed"
        new = pids_of(top)[0]
        assert new is not None and new is not dyn and process.whereis("dyn") is new
        assert supervisor.which_children("dyn") == []
    finally:
        supervisor.stop(top)
    assert not room.is_alive() and not rooms.is_alive()


# -- a Hypothesis model --------------------------------------------------------------------

MAX_CHILDREN, MAX_RESTARTS, MAX_SECONDS = 4, 2, 10.0


class DynamicSupervisorMachine(RuleBasedStateMachine):
    """Random starts, terminations and exits of children under one dynamic supervisor,
    compared after every step with a model: the list of ``(tag, restart)`` in (re)start
    order, and Erlang's restart list on a fake clock."""

    clock: FakeClock

    def __init__(self) -> None:
        super().__init__()
        self.clock.now = 100.0
        self.sup = dynamic_supervisor.start_link(
            max_children=MAX_CHILDREN,
            extra_arguments=["x"],
            max_restarts=MAX_RESTARTS,
            max_seconds=MAX_SECONDS,
        )
        self.model: list[tuple[int, str]] = []
        self.pids: list[Pid] = []  # the actual pid of each model entry
        self.restarts: list[float] = []
        self.gone: list[Pid] = []
        self.tags = itertools.count()

    @rule(
        id=st.sampled_from(["a", "b"]),
        restart=st.sampled_from(["permanent", "transient", "temporary"]),
    )
    def start_child(self, id: str, restart: str) -> None:
        if not self.sup.is_alive():
            return
        tag = next(self.tags)
        spec = member(tag, id=id, restart=restart)
        if len(self.model) >= MAX_CHILDREN:
            with pytest.raises(StartError, match="max_children"):
                dynamic_supervisor.start_child(self.sup, spec)
            return
        dynamic_supervisor.start_child(self.sup, spec)
        self.model.append((tag, restart))

    @rule(n=st.integers(0, 9))
    def terminate_child(self, n: int) -> None:
        if not self.sup.is_alive() or not self.model:
            return
        i = n % len(self.model)
        pid = self.pids[i]
        dynamic_supervisor.terminate_child(self.sup, pid)
        del self.model[i]
        self.gone.append(pid)
        with pytest.raises(NotFound):
            dynamic_supervisor.terminate_child(self.sup, pid)

    @rule(n=st.integers(0, 9), reason=st.sampled_from(["kill", "boom", "normal", "shutdown"]))
    def end_child(self, n: int, reason: str) -> None:
        if not self.sup.is_alive() or not self.model:
            return
        i = n % len(self.model)
        end(self.pids[i], reason)
        self.gone.append(self.pids[i])
        tag, restart = self.model.pop(i)
        clean = reason in ("normal", "shutdown")
        if restart == "temporary" or (restart == "transient" and clean):
            return
        now = self.clock.now
        self.restarts = [now] + [t for t in self.restarts if now <= t + MAX_SECONDS]
        if len(self.restarts) > MAX_RESTARTS:
            self.model = []  # the supervisor gives up
            assert self.sup.join(5.0) == "shutdown"
        else:
            self.model.append((tag, restart))

    @rule(seconds=st.sampled_from([1.0, 4.0, 11.0]))
    def advance_clock(self, seconds: float) -> None:
        self.clock.now += seconds

    @invariant()
    def which_children_matches_the_model(self) -> None:
        if not self.sup.is_alive():
            assert self.model == []
            return
        which = supervisor.which_children(self.sup)
        self.pids = [pid for _, pid, _, _ in which]  # type: ignore[misc]
        assert all(id is None and pid is not None for id, pid, _, _ in which)
        assert [gen_server.call(pid, "args") for pid in self.pids] == [
            ("x", tag) for tag, _ in self.model
        ]
        n = len(self.model)
        assert supervisor.count_children(self.sup) == {
            "specs": n,
            "active": n,
            "supervisors": 0,
            "workers": n,
        }
        assert all(not pid.is_alive() for pid in self.gone)

    def teardown(self) -> None:
        if self.sup.is_alive():
            dynamic_supervisor.stop(self.sup)
        assert all(not pid.is_alive() for pid in self.pids)


def test_a_dynamic_supervisor_behaves_like_its_model(clock: FakeClock) -> None:
    DynamicSupervisorMachine.clock = clock
    run_state_machine_as_test(
        DynamicSupervisorMachine,
        settings=settings(max_examples=100, deadline=None, stateful_step_count=25),
    )
