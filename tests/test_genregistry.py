"""Tests of GenRegistry (API.md, "genregistry").

The first half ports the ExUnit suite of the seed, GenRegistry 1.3
(``test/gen_registry_test.exs``), case by case, to our API: ``{:ok, pid}`` is a `Pid`,
``{:error, :not_found}`` from ``lookup`` is ``None``, other ``{:error, reason}`` answers
are exceptions. The seed's ``Spy`` (a GenServer that takes over the registry's registered
name and records every call it forwards) proves which operations stay in the caller's
thread. The second half tests the promises API.md adds beyond the seed.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import compat
import parent
from genregistry import GenRegistry
from genregistry._server import Registry as _Registry
from parent import (
    AlreadyStarted,
    CallTimeout,
    GenServer,
    NoProcess,
    NotFound,
    Pid,
    StartError,
    Stop,
    Supervisor,
    gen_server,
    process,
    supervisor,
)
from parent.testing import wait_until

pytestmark = pytest.mark.timeout(60)

StartSupervised = Callable[[Any], Pid]


# -- workers -----------------------------------------------------------------------------


class ExampleWorker(GenServer):
    """The seed's test worker: holds a value; ``"invalid"`` refuses to start."""

    def init(self, value: object = None) -> None:
        if value == "invalid":
            raise Stop("invalid")
        if value == "crash":
            raise RuntimeError("crash in init")
        self.value = value

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        if request == "get":
            return self.value
        raise ValueError(request)

    def handle_cast(self, request: Any) -> None:
        if request == "crash":
            raise RuntimeError("crash requested")
        raise ValueError(request)

    @classmethod
    def get(cls, server: parent.Server) -> Any:
        return gen_server.call(server, "get")


class Stubborn(GenServer):
    """Traps exits and blocks in ``terminate`` until the test releases it; its child spec
    asks for a 0.2 s shutdown, after which the registry must kill it."""

    SHUTDOWN = 0.2

    def init(self, entered: threading.Event, release: threading.Event) -> None:
        process.trap_exits(True)
        self.entered = entered
        self.release = release

    def terminate(self, reason: Any) -> None:
        self.entered.set()
        self.release.wait(10.0)

    @classmethod
    def child_spec(cls, arg: Any = None) -> Any:
        spec = super().child_spec(arg)
        spec["shutdown"] = cls.SHUTDOWN
        return spec


class Gated(GenServer):
    """``init`` signals ``entered`` and then waits for ``gate``: a slow start."""

    def init(self, gate: threading.Event, entered: threading.Event | None = None) -> None:
        if entered is not None:
            entered.set()
        deadline = time.monotonic() + 10.0
        # short waits, so that a kill reaches this thread at once (a thread blocked in C
        # only sees it when the wait returns)
        while not gate.wait(0.01):
            if time.monotonic() > deadline:
                raise Stop("gate never opened")


class QuickGated(Gated):
    """`Gated` with a 1 s init timeout, for the tests whose start can only end by timing
    out: it bounds how long the registry's starter thread lingers."""

    @classmethod
    def start_link(cls, *args: Any, name: Any = None, timeout: float | None = 1.0) -> Pid:
        return super().start_link(*args, name=name, timeout=timeout)


class ParentWorker(parent.Parent):
    """A worker class that is itself a Parent: the registry counts it as a supervisor."""


class SupervisorWorker(Supervisor):
    """A module-based supervisor used as a worker class."""

    def init(self, *args: Any) -> Any:
        return supervisor.init([], strategy="one_for_one")


class Picky:
    """A worker module (not a GenServer class) whose ``start_link`` raises a plain
    exception for ``"raise"``, returns a non-Pid for ``"non-pid"``, and otherwise starts
    an ExampleWorker."""

    error = ValueError("no luck")

    @staticmethod
    def start_link(mode: str = "ok") -> Any:
        if mode == "raise":
            raise Picky.error
        if mode == "non-pid":
            return ("ok", "not a pid")
        return ExampleWorker.start_link(mode)


# -- helpers -----------------------------------------------------------------------------


class Spy(GenServer):
    """The seed's Spy: takes the registry's name over and forwards every call to the
    registry, recording ``(request, reply)``. ``("Spy", "calls")`` returns the record."""

    def init(self, original: Pid) -> None:
        self.original = original
        self.calls: list[tuple[Any, Any]] = []

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        if request == ("Spy", "calls"):
            return list(self.calls)
        reply = gen_server.call(self.original, request, 5.0)
        self.calls.append((request, reply))
        return reply

    @classmethod
    def calls_of(cls, spy: Pid) -> list[tuple[Any, Any]]:
        result: list[tuple[Any, Any]] = gen_server.call(spy, ("Spy", "calls"))
        return result


@pytest.fixture
def spies() -> Iterator[Callable[[Any], Pid]]:
    """``replace(name_or_pid) -> spy``: with a name, the spy takes the name over (the
    registry keeps running unnamed); with a Pid, the spy just wraps it. Stopped at the end."""
    started: list[Pid] = []

    def replace(target: Any) -> Pid:
        if type(target) is Pid:
            spy = Spy.start(target)
        else:
            original = process.whereis(target)
            assert original is not None
            process.unregister(target)
            spy = Spy.start(original)
            process.register(target, spy)
        started.append(spy)
        return spy

    yield replace
    for spy in started:
        if spy.is_alive():
            gen_server.stop(spy)


class Recorder:
    """A gen_module that forwards to ``parent.gen_server`` and records
    ``(server, request, timeout, reply)``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: list[tuple[Any, Any, Any, Any]] = []

    def call(self, server: Any, request: Any, timeout: float | None) -> Any:
        reply = gen_server.call(server, request, timeout)
        with self.lock:
            self.records.append((server, request, timeout, reply))
        return reply

    @property
    def requests(self) -> list[Any]:
        with self.lock:
            return [r[1] for r in self.records]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    with compat.override(gen_module=rec):
        yield rec


@pytest.fixture
def registry(start_supervised: StartSupervised) -> Pid:
    """The seed's ``start_registry`` setup: a supervised registry for ExampleWorker,
    registered under the worker class."""
    return start_supervised((GenRegistry, {"worker_module": ExampleWorker}))


def collect(entry: tuple[Any, Pid], acc: list[Any]) -> list[Any]:
    return [entry, *acc]


def start_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``fn`` in a plain thread; its result (or exception) lands in the dict."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = fn()
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


# ======================================================================================
# The seed's suite (gen_registry_test.exs), translated
# ======================================================================================

# -- lookup/2 ----------------------------------------------------------------------------


def test_lookup_unknown_id(registry: Pid) -> None:
    assert GenRegistry.lookup(ExampleWorker, "unknown") is None


def test_lookup_known_id(registry: Pid) -> None:
    pid = GenRegistry.lookup_or_start(ExampleWorker, "test_id")
    assert GenRegistry.lookup(ExampleWorker, "test_id") is pid


def test_lookup_mixed_ids(registry: Pid) -> None:
    pid = GenRegistry.lookup_or_start(ExampleWorker, "test_id")
    assert GenRegistry.lookup(ExampleWorker, "test_id") is pid
    assert GenRegistry.lookup(ExampleWorker, "unknown") is None


def test_lookup_removed_after_the_process_exits(registry: Pid) -> None:
    pid = GenRegistry.lookup_or_start(ExampleWorker, "test_id")
    assert GenRegistry.lookup(ExampleWorker, "test_id") is pid
    GenRegistry.stop(ExampleWorker, "test_id")
    assert GenRegistry.lookup(ExampleWorker, "test_id") is None


# -- lookup_or_start/4 -------------------------------------------------------------------


def test_lookup_or_start_unknown_id_starts_a_new_process(registry: Pid) -> None:
    pid = GenRegistry.lookup_or_start(ExampleWorker, "unknown")
    assert type(pid) is Pid
    assert pid.is_alive()
    assert GenRegistry.lookup(ExampleWorker, "unknown") is pid


def test_lookup_or_start_known_id_returns_the_running_process(registry: Pid) -> None:
    assert GenRegistry.count(ExampleWorker) == 0
    pid = GenRegistry.lookup_or_start(ExampleWorker, "test_id")
    assert GenRegistry.count(ExampleWorker) == 1
    assert GenRegistry.lookup_or_start(ExampleWorker, "test_id") is pid
    assert GenRegistry.count(ExampleWorker) == 1


def test_lookup_or_start_arguments_are_passed_through(registry: Pid) -> None:
    first = GenRegistry.lookup_or_start(ExampleWorker, "a", ["test_value_a"])
    second = GenRegistry.lookup_or_start(ExampleWorker, "b", ["test_value_b"])
    assert ExampleWorker.get(first) == "test_value_a"
    assert ExampleWorker.get(second) == "test_value_b"
    # the running worker is returned without passing the arguments again
    retrieved = GenRegistry.lookup_or_start(ExampleWorker, "a")
    assert ExampleWorker.get(retrieved) == "test_value_a"


def test_lookup_or_start_invalid_arguments_raise_and_register_nothing(registry: Pid) -> None:
    with pytest.raises(StartError) as info:
        GenRegistry.lookup_or_start(ExampleWorker, "test_id", ["invalid"])
    assert info.value.reason == "invalid"
    assert not isinstance(info.value, AlreadyStarted)
    assert GenRegistry.lookup(ExampleWorker, "test_id") is None
    assert GenRegistry.count(ExampleWorker) == 0


def test_lookup_or_start_invalid_start_does_not_affect_running_processes(
    registry: Pid,
) -> None:
    pids = [GenRegistry.lookup_or_start(ExampleWorker, i) for i in range(1, 6)]
    assert GenRegistry.count(ExampleWorker) == 5
    with pytest.raises(StartError) as info:
        GenRegistry.lookup_or_start(ExampleWorker, "test_id", ["invalid"])
    assert info.value.reason == "invalid"
    assert GenRegistry.count(ExampleWorker) == 5
    for i, pid in enumerate(pids, start=1):
        assert GenRegistry.lookup_or_start(ExampleWorker, i) is pid
        assert pid.is_alive()


def test_lookup_or_start_id_can_be_reused_if_the_process_exits(registry: Pid) -> None:
    pid = GenRegistry.lookup_or_start(ExampleWorker, "test_id", ["original"])
    assert ExampleWorker.get(pid) == "original"
    assert GenRegistry.count(ExampleWorker) == 1
    assert GenRegistry.lookup_or_start(ExampleWorker, "test_id") is pid

    GenRegistry.stop(ExampleWorker, "test_id")
    assert not pid.is_alive()
    assert GenRegistry.count(ExampleWorker) == 0

    new_pid = GenRegistry.lookup_or_start(ExampleWorker, "test_id", ["updated"])
    assert new_pid is not pid
    assert ExampleWorker.get(new_pid) == "updated"
    assert GenRegistry.count(ExampleWorker) == 1


def test_lookup_or_start_with_a_name_answers_a_running_id_client_side(
    registry: Pid, spies: Callable[[Any], Pid]
) -> None:
    pid = GenRegistry.lookup_or_start(ExampleWorker, "test_id", ["test"])
    spy = spies(ExampleWorker)
    assert Spy.calls_of(spy) == []
    assert GenRegistry.lookup_or_start(ExampleWorker, "test_id", ["test"]) is pid
    assert Spy.calls_of(spy) == []


def test_lookup_or_start_with_a_name_starts_an_unknown_id_server_side(
    registry: Pid, spies: Callable[[Any], Pid]
) -> None:
    spy = spies(ExampleWorker)
    assert Spy.calls_of(spy) == []
    pid = GenRegistry.lookup_or_start(ExampleWorker, "test_id", ["test"])
    assert Spy.calls_of(spy) == [(("lookup_or_start", "test_id", ["test"]), pid)]
    assert GenRegistry.lookup(ExampleWorker, "test_id") is pid


def test_lookup_or_start_with_a_pid_goes_to_the_server_when_the_id_runs(
    registry: Pid, spies: Callable[[Any], Pid]
) -> None:
    pid = GenRegistry.lookup_or_start(ExampleWorker, "test_id", ["test"])
    spy = spies(registry)
    assert Spy.calls_of(spy) == []
    assert GenRegistry.lookup_or_start(spy, "test_id", ["test"]) is pid
    assert Spy.calls_of(spy) == [(("lookup_or_start", "test_id", ["test"]), pid)]


def test_lookup_or_start_with_a_pid_goes_to_the_server_when_the_id_is_not_running(
    registry: Pid, spies: Callable[[Any], Pid]
) -> None:
    spy = spies(registry)
    assert Spy.calls_of(spy) == []
    pid = GenRegistry.lookup_or_start(spy, "test_id", ["test"])
    assert Spy.calls_of(spy) == [(("lookup_or_start", "test_id", ["test"]), pid)]


# -- start/4 (the seed's start/4 mirrors lookup_or_start/4) ------------------------------


def test_start_unknown_id_starts_a_new_process(registry: Pid) -> None:
    pid = GenRegistry.start(ExampleWorker, "test_id", ["value"])
    assert GenRegistry.lookup(ExampleWorker, "test_id") is pid
    assert ExampleWorker.get(pid) == "value"


def test_start_known_id_raises_already_started(registry: Pid) -> None:
    pid = GenRegistry.start(ExampleWorker, "test_id")
    with pytest.raises(AlreadyStarted) as info:
        GenRegistry.start(ExampleWorker, "test_id")
    assert info.value.pid is pid
    assert info.value.reason == ("already_started", pid)
    assert GenRegistry.count(ExampleWorker) == 1


def test_start_invalid_arguments_raise_and_register_nothing(registry: Pid) -> None:
    with pytest.raises(StartError) as info:
        GenRegistry.start(ExampleWorker, "test_id", ["invalid"])
    assert info.value.reason == "invalid"
    assert GenRegistry.count(ExampleWorker) == 0


def test_start_with_a_name_answers_a_running_id_client_side(
    registry: Pid, spies: Callable[[Any], Pid]
) -> None:
    pid = GenRegistry.start(ExampleWorker, "test_id")
    spy = spies(ExampleWorker)
    with pytest.raises(AlreadyStarted) as info:
        GenRegistry.start(ExampleWorker, "test_id")
    assert info.value.pid is pid
    assert Spy.calls_of(spy) == []


def test_start_with_a_name_starts_an_unknown_id_server_side(
    registry: Pid, spies: Callable[[Any], Pid]
) -> None:
    spy = spies(ExampleWorker)
    pid = GenRegistry.start(ExampleWorker, "test_id", ["test"])
    assert Spy.calls_of(spy) == [(("start", "test_id", ["test"]), pid)]


def test_start_with_a_pid_goes_to_the_server_when_the_id_runs(
    registry: Pid, spies: Callable[[Any], Pid]
) -> None:
    pid = GenRegistry.start(ExampleWorker, "test_id")
    spy = spies(registry)
    with pytest.raises(AlreadyStarted) as info:
        GenRegistry.start(spy, "test_id", ["test"])
    assert info.value.pid is pid
    [(request, reply)] = Spy.calls_of(spy)
    assert request == ("start", "test_id", ["test"])
    assert isinstance(reply, AlreadyStarted)
    assert reply.pid is pid


# -- stop/2 ------------------------------------------------------------------------------


def test_stop_unknown_id(registry: Pid) -> None:
    with pytest.raises(NotFound):
        GenRegistry.stop(ExampleWorker, "unknown")


def test_stop_known_id(registry: Pid) -> None:
    pid = GenRegistry.lookup_or_start(ExampleWorker, "test_id")
    assert pid.is_alive()
    assert GenRegistry.count(ExampleWorker) == 1
    assert GenRegistry.stop(ExampleWorker, "test_id") is None
    assert not pid.is_alive()
    assert pid.join(0) == "shutdown"
    assert GenRegistry.count(ExampleWorker) == 0


# -- count/1 -----------------------------------------------------------------------------


def test_count_empty_registry(registry: Pid) -> None:
    assert GenRegistry.count(ExampleWorker) == 0


def test_count_populated_registry(registry: Pid) -> None:
    for i in range(1, 6):
        GenRegistry.lookup_or_start(ExampleWorker, i)
        assert GenRegistry.count(ExampleWorker) == i


def test_count_decreases_when_process_stopped(registry: Pid) -> None:
    assert GenRegistry.count(ExampleWorker) == 0
    GenRegistry.lookup_or_start(ExampleWorker, "test_id")
    assert GenRegistry.count(ExampleWorker) == 1
    GenRegistry.stop(ExampleWorker, "test_id")
    assert GenRegistry.count(ExampleWorker) == 0


def test_count_decreases_when_process_exits(registry: Pid) -> None:
    assert GenRegistry.count(ExampleWorker) == 0
    pid = GenRegistry.lookup_or_start(ExampleWorker, "test_id")
    assert GenRegistry.count(ExampleWorker) == 1
    gen_server.stop(pid)
    assert wait_until(lambda: GenRegistry.count(ExampleWorker) == 0)


# -- reduce/3 ----------------------------------------------------------------------------


def test_reduce_empty_registry_empty_accumulator(registry: Pid) -> None:
    assert GenRegistry.reduce(ExampleWorker, [], collect) == []


def test_reduce_empty_registry_populated_accumulator(registry: Pid) -> None:
    acc = [1, 2, 3]
    assert GenRegistry.reduce(ExampleWorker, acc, collect) is acc


def test_reduce_populated_registry_empty_accumulator(registry: Pid) -> None:
    expected = [(i, GenRegistry.lookup_or_start(ExampleWorker, i)) for i in range(1, 6)]
    actual = sorted(GenRegistry.reduce(ExampleWorker, [], collect), key=lambda e: e[0])
    assert actual == expected


def test_reduce_populated_registry_populated_accumulator(registry: Pid) -> None:
    acc: list[Any] = [(1, None), (2, None), (3, None)]
    spawned = [(i, GenRegistry.lookup_or_start(ExampleWorker, i)) for i in (4, 5)]
    actual = sorted(GenRegistry.reduce(ExampleWorker, acc, collect), key=lambda e: e[0])
    assert actual == acc + spawned


# -- sample/1 ----------------------------------------------------------------------------


def test_sample_empty_registry_returns_none(registry: Pid) -> None:
    assert GenRegistry.sample(ExampleWorker) is None


def test_sample_returns_one_of_the_entries(registry: Pid) -> None:
    candidates = [(i, GenRegistry.lookup_or_start(ExampleWorker, i)) for i in range(1, 6)]
    sample = GenRegistry.sample(ExampleWorker)
    assert sample in candidates


# -- to_list/1 ---------------------------------------------------------------------------


def test_to_list_empty_registry_returns_empty_list(registry: Pid) -> None:
    assert GenRegistry.to_list(ExampleWorker) == []


def test_to_list_populated_registry_returns_id_pid_pairs(registry: Pid) -> None:
    expected = [(i, GenRegistry.lookup_or_start(ExampleWorker, i)) for i in range(1, 6)]
    assert sorted(GenRegistry.to_list(ExampleWorker), key=lambda e: e[0]) == expected


# -- registered process exit -------------------------------------------------------------


def test_registered_process_exit_count_decrements(registry: Pid) -> None:
    pid = GenRegistry.lookup_or_start(ExampleWorker, "test_id")
    assert pid.is_alive()
    assert GenRegistry.count(ExampleWorker) == 1
    process.exit(pid, "kill")
    assert not pid.is_alive()
    assert wait_until(lambda: GenRegistry.count(ExampleWorker) == 0)
    assert GenRegistry.count(ExampleWorker) == 0


def test_registered_process_exit_id_is_removed(registry: Pid) -> None:
    pid = GenRegistry.lookup_or_start(ExampleWorker, "test_id")
    assert GenRegistry.lookup(ExampleWorker, "test_id") is pid
    process.exit(pid, "kill")
    assert not pid.is_alive()
    assert wait_until(lambda: GenRegistry.count(ExampleWorker) == 0)
    assert GenRegistry.lookup(ExampleWorker, "test_id") is None


# -- stopping a registry -----------------------------------------------------------------


def test_stopping_a_registry_exits_all_registered_processes(
    registry: Pid, stop_supervised: Callable[[Any], None]
) -> None:
    assert process.whereis(ExampleWorker) is registry
    pids = [GenRegistry.lookup_or_start(ExampleWorker, i) for i in range(1, 6)]
    assert all(pid.is_alive() for pid in pids)
    stop_supervised(ExampleWorker)
    assert registry.join(1.0) is not None
    assert not any(pid.is_alive() for pid in pids)


# -- custom name -------------------------------------------------------------------------


class NameA:
    """A name for a registry (a class is a common name)."""


class NameB:
    """Another name for a registry."""


def test_custom_names_run_several_registries_for_one_worker_module(
    start_supervised: StartSupervised, stop_supervised: Callable[[Any], None]
) -> None:
    start_supervised((GenRegistry, {"worker_module": ExampleWorker, "name": NameA}))
    start_supervised(GenRegistry.child_spec(worker_module=ExampleWorker, name=NameB))

    assert GenRegistry.lookup(NameA, "test_id") is None
    worker_a = GenRegistry.lookup_or_start(NameA, "test_id", ["test_value_a"])
    assert GenRegistry.lookup(NameB, "test_id") is None
    worker_b = GenRegistry.lookup_or_start(NameB, "test_id", ["test_value_b"])

    assert worker_a is not worker_b
    assert ExampleWorker.get(worker_a) == "test_value_a"
    assert ExampleWorker.get(worker_b) == "test_value_b"
    # the worker class itself names no registry here
    with pytest.raises(NoProcess):
        GenRegistry.lookup(ExampleWorker, "test_id")

    stop_supervised(NameA)
    assert not worker_a.is_alive()
    assert worker_b.is_alive()
    assert GenRegistry.lookup(NameB, "test_id") is worker_b
    stop_supervised(NameB)
    assert not worker_b.is_alive()


# ======================================================================================
# Promises of API.md beyond the seed
# ======================================================================================

# -- client side versus server side ------------------------------------------------------


def test_reads_by_name_never_message_the_registry(
    registry: Pid, spies: Callable[[Any], Pid], recorder: Recorder
) -> None:
    pid = GenRegistry.lookup_or_start(ExampleWorker, "a")
    recorder.records.clear()
    spy = spies(ExampleWorker)

    assert GenRegistry.lookup(ExampleWorker, "a") is pid
    assert GenRegistry.lookup(ExampleWorker, "missing") is None
    assert GenRegistry.count(ExampleWorker) == 1
    assert GenRegistry.reduce(ExampleWorker, [], collect) == [("a", pid)]
    assert GenRegistry.sample(ExampleWorker) == ("a", pid)
    assert GenRegistry.to_list(ExampleWorker) == [("a", pid)]
    assert GenRegistry.lookup_or_start(ExampleWorker, "a") is pid
    with pytest.raises(AlreadyStarted):
        GenRegistry.start(ExampleWorker, "a")

    assert Spy.calls_of(spy) == []
    assert recorder.requests == []


def test_reads_by_pid_are_calls_with_the_documented_requests(
    registry: Pid, recorder: Recorder
) -> None:
    pid = GenRegistry.lookup_or_start(ExampleWorker, "a")
    recorder.records.clear()

    assert GenRegistry.lookup(registry, "a") is pid
    assert GenRegistry.lookup(registry, "missing") is None
    assert GenRegistry.count(registry) == 1
    assert GenRegistry.to_list(registry) == [("a", pid)]
    assert GenRegistry.sample(registry) == ("a", pid)
    assert GenRegistry.reduce(registry, [], collect) == [("a", pid)]

    assert recorder.records == [
        (registry, ("lookup", "a"), 5.0, pid),
        (registry, ("lookup", "missing"), 5.0, None),
        (registry, ("count",), 5.0, 1),
        (registry, ("to_list",), 5.0, [("a", pid)]),
        (registry, ("to_list",), 5.0, [("a", pid)]),
        (registry, ("to_list",), 5.0, [("a", pid)]),
    ]


def test_server_requests_go_through_the_gen_module(registry: Pid, recorder: Recorder) -> None:
    pid = GenRegistry.lookup_or_start(ExampleWorker, "a", ("x",))
    started = GenRegistry.start(ExampleWorker, "b", ["y"], timeout=2.0)
    with pytest.raises(StartError):
        GenRegistry.lookup_or_start(ExampleWorker, "c", ["invalid"])
    GenRegistry.stop(ExampleWorker, "a")
    with pytest.raises(NotFound):
        GenRegistry.stop(ExampleWorker, "a", timeout=1.0)
    # by pid, even the running id is a call, answered with the exception instance
    with pytest.raises(AlreadyStarted):
        GenRegistry.start(registry, "b")
    assert GenRegistry.lookup_or_start(registry, "b") is started

    records = recorder.records
    assert [(r[0], r[1], r[2]) for r in records] == [
        (ExampleWorker, ("lookup_or_start", "a", ["x"]), 5.0),
        (ExampleWorker, ("start", "b", ["y"]), 2.0),
        (ExampleWorker, ("lookup_or_start", "c", ["invalid"]), 5.0),
        (ExampleWorker, ("stop", "a"), None),
        (ExampleWorker, ("stop", "a"), 1.0),
        (registry, ("start", "b", []), 5.0),
        (registry, ("lookup_or_start", "b", []), 5.0),
    ]
    replies = [r[3] for r in records]
    assert replies[0] is pid
    assert replies[1] is started
    assert type(replies[2]) is StartError
    assert replies[2].reason == "invalid"
    assert replies[3] is None
    assert type(replies[4]) is NotFound
    assert type(replies[5]) is AlreadyStarted
    assert replies[5].pid is started
    assert replies[6] is started


def test_stop_goes_to_the_server_through_a_spy(registry: Pid, spies: Callable[[Any], Pid]) -> None:
    GenRegistry.lookup_or_start(ExampleWorker, "a")
    spy = spies(ExampleWorker)
    GenRegistry.stop(ExampleWorker, "a")
    assert Spy.calls_of(spy) == [(("stop", "a"), None)]
    # the table is still read by name although the name now belongs to the spy
    assert GenRegistry.lookup(ExampleWorker, "a") is None
    assert GenRegistry.count(ExampleWorker) == 0


# -- bad arguments -----------------------------------------------------------------------


UNHASHABLE_IDS = [["list"], {"a": 1}, {1, 2}]


@pytest.mark.parametrize("bad_id", UNHASHABLE_IDS, ids=["list", "dict", "set"])
@pytest.mark.parametrize("by", ["name", "pid"])
def test_unhashable_ids_raise_type_error_and_change_nothing(
    registry: Pid, recorder: Recorder, bad_id: Any, by: str
) -> None:
    pid = GenRegistry.lookup_or_start(ExampleWorker, "a")
    recorder.records.clear()
    target = ExampleWorker if by == "name" else registry
    calls: list[Callable[[], Any]] = [
        lambda: GenRegistry.lookup(target, bad_id),
        lambda: GenRegistry.lookup_or_start(target, bad_id),
        lambda: GenRegistry.start(target, bad_id),
        lambda: GenRegistry.stop(target, bad_id),
    ]
    for fn in calls:
        with pytest.raises(TypeError):
            fn()
    assert recorder.requests == []
    assert GenRegistry.to_list(ExampleWorker) == [("a", pid)]
    assert pid.is_alive()


@pytest.mark.parametrize(
    "operation",
    [
        lambda r: GenRegistry.lookup(r, "a"),
        lambda r: GenRegistry.lookup_or_start(r, "a"),
        lambda r: GenRegistry.start(r, "a"),
        lambda r: GenRegistry.stop(r, "a"),
        lambda r: GenRegistry.count(r),
        lambda r: GenRegistry.sample(r),
        lambda r: GenRegistry.reduce(r, 0, lambda e, n: n + 1),
        lambda r: GenRegistry.to_list(r),
    ],
    ids=["lookup", "lookup_or_start", "start", "stop", "count", "sample", "reduce", "to_list"],
)
def test_unknown_registry_names_raise_no_process(operation: Callable[[Any], Any]) -> None:
    with pytest.raises(NoProcess):
        operation("no registry has this name")
    with pytest.raises(NoProcess):
        operation(ExampleWorker)


def test_a_stopped_registry_pid_raises_no_process() -> None:
    registry = GenRegistry.start_link(ExampleWorker)
    gen_server.stop(registry)
    with pytest.raises(NoProcess):
        GenRegistry.count(registry)
    with pytest.raises(NoProcess):
        GenRegistry.lookup_or_start(registry, "a")
    # the name and the table went with it
    with pytest.raises(NoProcess):
        GenRegistry.count(ExampleWorker)


# -- failed starts -----------------------------------------------------------------------


@pytest.mark.parametrize("by", ["name", "pid"])
def test_a_start_link_that_raises_gives_start_error_with_the_cause(
    start_supervised: StartSupervised, by: str
) -> None:
    registry = start_supervised(GenRegistry.child_spec(worker_module=Picky))
    target = Picky if by == "name" else registry
    others = [GenRegistry.lookup_or_start(target, i, [f"value-{i}"]) for i in range(3)]
    for fn in (GenRegistry.lookup_or_start, GenRegistry.start):
        with pytest.raises(StartError) as info:
            fn(target, "a", ["raise"])
        assert info.value.reason is Picky.error
        assert info.value.__cause__ is Picky.error
        assert GenRegistry.lookup(Picky, "a") is None
    assert GenRegistry.count(Picky) == 3
    assert all(pid.is_alive() for pid in others)
    assert sorted(GenRegistry.to_list(Picky), key=lambda e: repr(e[0])) == [
        (i, others[i]) for i in range(3)
    ]
    # the id is free: a good start succeeds
    assert ExampleWorker.get(GenRegistry.start(target, "a", ["fine"])) == "fine"


@pytest.mark.parametrize("by", ["name", "pid"])
def test_a_start_link_that_returns_a_non_pid_gives_start_error(
    start_supervised: StartSupervised, by: str
) -> None:
    registry = start_supervised(GenRegistry.child_spec(worker_module=Picky))
    target = Picky if by == "name" else registry
    other = GenRegistry.lookup_or_start(target, "other")
    for fn in (GenRegistry.lookup_or_start, GenRegistry.start):
        with pytest.raises(StartError) as info:
            fn(target, "a", ["non-pid"])
        assert not isinstance(info.value, AlreadyStarted)
        assert GenRegistry.lookup(Picky, "a") is None
    assert GenRegistry.to_list(Picky) == [("other", other)]
    assert other.is_alive()


def test_a_crashing_init_gives_start_error_with_the_exception(registry: Pid) -> None:
    running = [GenRegistry.lookup_or_start(ExampleWorker, i) for i in range(3)]
    with pytest.raises(StartError) as info:
        GenRegistry.lookup_or_start(ExampleWorker, "bad", ["crash"])
    assert isinstance(info.value.reason, RuntimeError)
    assert info.value.__cause__ is info.value.reason
    assert GenRegistry.lookup(ExampleWorker, "bad") is None
    assert all(pid.is_alive() for pid in running)
    assert GenRegistry.count(ExampleWorker) == 3


def test_a_failed_start_can_be_retried(registry: Pid) -> None:
    with pytest.raises(StartError):
        GenRegistry.start(ExampleWorker, "a", ["invalid"])
    pid = GenRegistry.start(ExampleWorker, "a", ["valid"])
    assert ExampleWorker.get(pid) == "valid"


# -- liveness ----------------------------------------------------------------------------


def test_lookup_never_returns_a_dead_worker(registry: Pid) -> None:
    pids = {i: GenRegistry.lookup_or_start(ExampleWorker, i) for i in range(3)}
    process.exit(pids[1], "kill")
    # no waiting: the registry may not have handled the exit yet
    assert GenRegistry.lookup(ExampleWorker, 1) is None
    assert GenRegistry.lookup(registry, 1) is None
    assert 1 not in dict(GenRegistry.to_list(ExampleWorker))
    assert GenRegistry.count(ExampleWorker) == 2
    assert all(entry[1].is_alive() for entry in GenRegistry.to_list(ExampleWorker))
    # and starting the id again right away gives a fresh worker
    fresh = GenRegistry.lookup_or_start(ExampleWorker, 1)
    assert fresh is not pids[1]
    assert fresh.is_alive()
    assert GenRegistry.lookup(ExampleWorker, 1) is fresh


def _exit_normal(pid: Pid) -> None:
    gen_server.stop(pid)


def _exit_shutdown(pid: Pid) -> None:
    gen_server.stop(pid, "shutdown")


def _exit_crash(pid: Pid) -> None:
    gen_server.cast(pid, "crash")


def _exit_kill(pid: Pid) -> None:
    process.exit(pid, "kill")


def _exit_signal(pid: Pid) -> None:
    process.exit(pid, ("shutdown", "custom"))


@pytest.mark.parametrize(
    "make_exit",
    [_exit_normal, _exit_shutdown, _exit_crash, _exit_kill, _exit_signal],
    ids=["normal", "shutdown", "crash", "kill", "exit-signal"],
)
def test_a_worker_exiting_for_any_reason_leaves_and_its_id_restarts(
    registry: Pid, make_exit: Callable[[Pid], None]
) -> None:
    keep = GenRegistry.lookup_or_start(ExampleWorker, "keep")
    pid = GenRegistry.lookup_or_start(ExampleWorker, "a", ["first"])
    make_exit(pid)
    pid.join(2.0)
    assert GenRegistry.lookup(ExampleWorker, "a") is None
    # the registry forgets it (count of its own children, through the supervisor query)
    assert wait_until(lambda: supervisor.count_children(registry)["active"] == 1)
    assert GenRegistry.to_list(registry) == [("keep", keep)]
    again = GenRegistry.start(ExampleWorker, "a", ["second"])
    assert again is not pid
    assert ExampleWorker.get(again) == "second"
    assert keep.is_alive()


# -- stop --------------------------------------------------------------------------------


def test_stop_returns_with_the_worker_dead_and_the_id_free(registry: Pid) -> None:
    pids = [GenRegistry.lookup_or_start(ExampleWorker, i) for i in range(5)]
    for i, pid in enumerate(pids):
        GenRegistry.stop(ExampleWorker, i)
        assert not pid.is_alive()
        assert GenRegistry.lookup(ExampleWorker, i) is None
        assert GenRegistry.count(ExampleWorker) == 4 - i
        assert all(p.is_alive() for p in pids[i + 1 :])
    again = GenRegistry.start(ExampleWorker, 0)
    assert again is not pids[0]


def test_stop_by_pid(registry: Pid) -> None:
    pid = GenRegistry.lookup_or_start(ExampleWorker, "a")
    GenRegistry.stop(registry, "a")
    assert not pid.is_alive()
    with pytest.raises(NotFound):
        GenRegistry.stop(registry, "a")


def test_stop_of_a_dead_unreaped_worker_is_not_found_and_the_id_is_free(registry: Pid) -> None:
    pid = GenRegistry.lookup_or_start(ExampleWorker, "a")
    process.exit(pid, "kill")
    with pytest.raises(NotFound):
        GenRegistry.stop(ExampleWorker, "a")
    assert GenRegistry.lookup_or_start(ExampleWorker, "a") is not pid


def test_stop_kills_a_stubborn_worker_after_its_shutdown(
    start_supervised: StartSupervised,
) -> None:
    registry = start_supervised(GenRegistry.child_spec(worker_module=Stubborn))
    entered, release = threading.Event(), threading.Event()
    try:
        pid = GenRegistry.lookup_or_start(Stubborn, "a", [entered, release])
        began = time.monotonic()
        GenRegistry.stop(Stubborn, "a")
        elapsed = time.monotonic() - began
        assert entered.is_set()  # it got "shutdown" and ran terminate
        assert not pid.is_alive()
        assert pid.join(0) == "killed"
        assert Stubborn.SHUTDOWN * 0.9 <= elapsed < 3.0
        assert GenRegistry.lookup(Stubborn, "a") is None
        assert supervisor.count_children(registry)["active"] == 0
    finally:
        release.set()


def test_concurrent_stops_of_one_id_all_return_once_it_is_dead(
    start_supervised: StartSupervised,
) -> None:
    start_supervised(GenRegistry.child_spec(worker_module=Stubborn))
    entered, release = threading.Event(), threading.Event()
    try:
        pid = GenRegistry.lookup_or_start(Stubborn, "a", [entered, release])
        first = start_thread(lambda: GenRegistry.stop(Stubborn, "a"))
        assert entered.wait(2.0)
        second = start_thread(lambda: GenRegistry.stop(Stubborn, "a"))
        for thread, out in (first, second):
            thread.join(5.0)
            assert not thread.is_alive()
            # the second stop either joined the first or found the id already gone
            if "error" in out:
                assert isinstance(out["error"], NotFound)
            else:
                assert out["result"] is None
            assert not pid.is_alive()
        assert "error" not in first[1]
    finally:
        release.set()


def test_stop_with_infinity_shutdown_waits_for_the_worker(
    start_supervised: StartSupervised,
) -> None:
    class Patient(Stubborn):
        SHUTDOWN = "infinity"  # type: ignore[assignment]

    start_supervised(GenRegistry.child_spec(worker_module=Patient))
    entered, release = threading.Event(), threading.Event()
    try:
        pid = GenRegistry.lookup_or_start(Patient, "a", [entered, release])
        thread, out = start_thread(lambda: GenRegistry.stop(Patient, "a"))
        assert entered.wait(2.0)
        thread.join(0.3)
        assert thread.is_alive()  # still in terminate: nobody kills it
        assert pid.is_alive()
        release.set()
        thread.join(5.0)
        assert out == {"result": None}
        assert pid.join(0) == "shutdown"
    finally:
        release.set()


def test_stop_with_brutal_kill_shutdown_kills_at_once(
    start_supervised: StartSupervised,
) -> None:
    class Brutal(Stubborn):
        SHUTDOWN = "brutal_kill"  # type: ignore[assignment]

    start_supervised(GenRegistry.child_spec(worker_module=Brutal))
    entered, release = threading.Event(), threading.Event()
    try:
        pid = GenRegistry.lookup_or_start(Brutal, "a", [entered, release])
        GenRegistry.stop(Brutal, "a")
        assert pid.join(0) == "killed"
        assert not entered.is_set()  # terminate never ran
    finally:
        release.set()


# -- the registry's own life -------------------------------------------------------------


def test_stopping_the_registry_stops_every_worker() -> None:
    registry = GenRegistry.start_link(ExampleWorker)
    pids = [GenRegistry.lookup_or_start(ExampleWorker, i) for i in range(10)]
    gen_server.stop(registry)
    assert not any(pid.is_alive() for pid in pids)
    assert all(pid.join(0) == "shutdown" for pid in pids)


def test_killing_the_registry_takes_its_workers_down() -> None:
    registry = GenRegistry.start_link(ExampleWorker)
    pids = [GenRegistry.lookup_or_start(ExampleWorker, i) for i in range(5)]
    process.exit(registry, "kill")
    for pid in pids:
        assert pid.join(2.0) == "killed"
    with pytest.raises(NoProcess):
        GenRegistry.lookup(ExampleWorker, 0)


def test_stopping_the_registry_kills_stubborn_workers_after_their_shutdown() -> None:
    registry = GenRegistry.start_link(Stubborn)
    entered, release = threading.Event(), threading.Event()
    try:
        pids = [GenRegistry.lookup_or_start(Stubborn, i, [entered, release]) for i in range(3)]
        began = time.monotonic()
        gen_server.stop(registry)
        elapsed = time.monotonic() - began
        assert all(pid.join(0) == "killed" for pid in pids)
        # they share one shutdown period, counted from the same instant
        assert elapsed < 3 * Stubborn.SHUTDOWN + 1.0
    finally:
        release.set()


def test_a_new_registry_under_the_same_name_starts_empty() -> None:
    first = GenRegistry.start_link(ExampleWorker)
    GenRegistry.lookup_or_start(ExampleWorker, "a")
    gen_server.stop(first)
    second = GenRegistry.start_link(ExampleWorker)
    try:
        assert GenRegistry.count(ExampleWorker) == 0
        assert GenRegistry.lookup(ExampleWorker, "a") is None
    finally:
        gen_server.stop(second)


def test_a_second_registry_under_a_taken_name_is_refused(registry: Pid) -> None:
    with pytest.raises(AlreadyStarted) as info:
        GenRegistry.start_link(ExampleWorker)
    assert info.value.pid is registry


def test_several_registries_share_one_worker_class(start_supervised: StartSupervised) -> None:
    names = ["reads", "writes", ("tuple", "name")]
    registries = {
        name: start_supervised(GenRegistry.child_spec(worker_module=ExampleWorker, name=name))
        for name in names
    }
    workers = {name: GenRegistry.lookup_or_start(name, "same-id", [name]) for name in names}
    assert len({*workers.values()}) == 3
    for name in names:
        assert ExampleWorker.get(GenRegistry.lookup(name, "same-id")) == name
        assert GenRegistry.count(name) == 1
        assert GenRegistry.to_list(registries[name]) == [("same-id", workers[name])]
    GenRegistry.stop("reads", "same-id")
    assert GenRegistry.count("reads") == 0
    assert GenRegistry.count("writes") == 1
    assert workers["writes"].is_alive()


# -- slow starts -------------------------------------------------------------------------


def test_a_slow_init_never_delays_other_ids(start_supervised: StartSupervised) -> None:
    registry = start_supervised(GenRegistry.child_spec(worker_module=Gated))
    gate, entered = threading.Event(), threading.Event()
    open_gate = threading.Event()
    open_gate.set()
    try:
        slow = [
            start_thread(lambda: GenRegistry.lookup_or_start(Gated, "A", [gate, entered]))
            for _ in range(4)
        ]
        assert entered.wait(2.0)
        # every caller of A is parked on A's starting marker before A is released
        server = registry._server
        assert wait_until(lambda: len(server._starting.get("A", ())) == 4, timeout=2.0)

        began = time.monotonic()
        b = GenRegistry.lookup_or_start(Gated, "B", [open_gate])
        assert GenRegistry.start(Gated, "C", [open_gate]).is_alive()
        GenRegistry.stop(Gated, "B")
        assert not b.is_alive()
        assert GenRegistry.count(Gated) == 1
        assert GenRegistry.lookup(Gated, "A") is None  # A is not started yet
        assert time.monotonic() - began < 2.0
        assert all(thread.is_alive() for thread, _ in slow)

        gate.set()
        for thread, _ in slow:
            thread.join(5.0)
        results = [out.get("result") for _, out in slow]
        assert type(results[0]) is Pid
        assert all(r is results[0] for r in results)
        assert GenRegistry.lookup(Gated, "A") is results[0]
    finally:
        gate.set()


def test_concurrent_start_of_a_slow_id_gives_one_winner(
    start_supervised: StartSupervised,
) -> None:
    start_supervised(GenRegistry.child_spec(worker_module=Gated))
    gate, entered = threading.Event(), threading.Event()
    try:
        first = start_thread(lambda: GenRegistry.start(Gated, "A", [gate, entered]))
        assert entered.wait(2.0)
        others = [start_thread(lambda: GenRegistry.start(Gated, "A", [gate])) for _ in range(3)]
        gate.set()
        first[0].join(5.0)
        winner = first[1]["result"]
        assert type(winner) is Pid
        for thread, out in others:
            thread.join(5.0)
            assert isinstance(out.get("error"), AlreadyStarted)
            assert out["error"].pid is winner
    finally:
        gate.set()


def test_a_failed_slow_start_fails_every_waiting_caller(
    start_supervised: StartSupervised,
) -> None:
    class GatedFailing(Gated):
        def init(self, gate: threading.Event, entered: threading.Event | None = None) -> None:
            super().init(gate, entered)
            raise Stop("failed after the gate")

    start_supervised(GenRegistry.child_spec(worker_module=GatedFailing))
    gate, entered = threading.Event(), threading.Event()
    try:
        callers = [
            start_thread(lambda: GenRegistry.lookup_or_start(GatedFailing, "A", [gate, entered]))
            for _ in range(3)
        ]
        assert entered.wait(2.0)
        gate.set()
        for thread, out in callers:
            thread.join(5.0)
            # a caller that came after the failure starts (and fails) on its own
            assert isinstance(out.get("error"), StartError)
            assert out["error"].reason == "failed after the gate"
        assert GenRegistry.count(GatedFailing) == 0
    finally:
        gate.set()


def test_lookup_or_start_raises_call_timeout_when_no_answer_comes_in_time(
    start_supervised: StartSupervised,
) -> None:
    start_supervised(GenRegistry.child_spec(worker_module=Gated))
    gate, entered = threading.Event(), threading.Event()
    try:
        began = time.monotonic()
        with pytest.raises(CallTimeout):
            GenRegistry.lookup_or_start(Gated, "A", [gate, entered], timeout=0.2)
        assert time.monotonic() - began < 2.0
        with pytest.raises(CallTimeout):
            GenRegistry.start(Gated, "A", [gate], timeout=0.1)
        # the start goes on: once init is done, the worker is registered
        gate.set()
        assert wait_until(lambda: GenRegistry.lookup(Gated, "A") is not None, timeout=2.0)
        assert GenRegistry.count(Gated) == 1
    finally:
        gate.set()


# -- supervisor queries on a registry ----------------------------------------------------


def test_supervisor_queries_on_a_registry(registry: Pid) -> None:
    assert supervisor.count_children(registry) == {
        "specs": 1,
        "active": 0,
        "supervisors": 0,
        "workers": 0,
    }
    assert supervisor.which_children(registry) == []
    pids = {i: GenRegistry.lookup_or_start(ExampleWorker, i) for i in range(3)}
    assert supervisor.count_children(ExampleWorker) == {
        "specs": 1,
        "active": 3,
        "supervisors": 0,
        "workers": 3,
    }
    children = supervisor.which_children(registry)
    assert sorted(children, key=lambda c: c[0]) == [
        (i, pids[i], "worker", [ExampleWorker]) for i in range(3)
    ]
    callback = supervisor.get_callback_module(registry)
    assert callback is _Registry
    assert issubclass(callback, parent.Parent)
    assert callback is not GenRegistry


@pytest.mark.parametrize("worker_module", [ParentWorker, SupervisorWorker])
def test_supervisor_queries_count_parent_workers_as_supervisors(
    start_supervised: StartSupervised, worker_module: Any
) -> None:
    registry = start_supervised(GenRegistry.child_spec(worker_module=worker_module))
    pids = [GenRegistry.lookup_or_start(worker_module, i) for i in range(2)]
    assert supervisor.count_children(registry) == {
        "specs": 1,
        "active": 2,
        "supervisors": 2,
        "workers": 0,
    }
    assert sorted(supervisor.which_children(registry), key=lambda c: c[0]) == [
        (i, pids[i], "supervisor", [worker_module]) for i in range(2)
    ]
    # a Parent worker has shutdown "infinity": stop waits for it
    GenRegistry.stop(worker_module, 0)
    assert pids[0].join(0) == "shutdown"


# -- the registry stopped while a start is in flight -------------------------------------


@pytest.mark.parametrize("reason", ["normal", "shutdown"])
def test_stopping_the_registry_during_a_slow_start_leaves_no_worker(reason: str) -> None:
    registry = GenRegistry.start_link(QuickGated)
    gate, entered = threading.Event(), threading.Event()
    try:
        caller, out = start_thread(
            lambda: GenRegistry.lookup_or_start(QuickGated, "A", [gate, entered])
        )
        assert entered.wait(2.0)
        [starting] = [pid for pid in process.list() if repr(pid).endswith(" QuickGated>")]
        gen_server.stop(registry, reason)
        caller.join(5.0)
        assert isinstance(out.get("error"), parent.ExitError)  # the registry went away
        # whatever the registry's own reason ("normal" does not travel along links),
        # it stops the worker whose init is still running, at once
        assert starting.join(2.0) == "shutdown"
    finally:
        gate.set()


# -- bugs of the runtime (parent/*), fixed; kept as regressions ------------------------


def test_a_worker_killed_during_init_fails_its_start_promptly(
    start_supervised: StartSupervised,
) -> None:
    start_supervised(GenRegistry.child_spec(worker_module=QuickGated))
    gate, entered = threading.Event(), threading.Event()
    try:
        caller, out = start_thread(
            lambda: GenRegistry.lookup_or_start(QuickGated, "A", [gate, entered], timeout=4.0)
        )
        assert entered.wait(2.0)
        [starting] = [pid for pid in process.list() if repr(pid).endswith(" QuickGated>")]
        began = time.monotonic()
        process.exit(starting, "kill")
        caller.join(5.0)
        elapsed = time.monotonic() - began
        assert isinstance(out.get("error"), StartError)
        assert out["error"].reason == "killed"
        assert elapsed < 0.5
    finally:
        gate.set()


def test_a_cancelled_timer_does_not_keep_the_timer_thread_alive() -> None:
    target = process.spawn(lambda: None)
    target.join(1.0)

    def timer_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "parent-timers"]

    def sleeping_on_the_timer() -> bool:
        # the timer thread is inside Condition.wait for the timer's due time
        for thread in timer_threads():
            frame = sys._current_frames().get(thread.ident or 0)
            while frame is not None:
                if (
                    frame.f_code.co_name == "wait"
                    and frame.f_code.co_filename == threading.__file__
                ):
                    return True
                frame = frame.f_back
        return False

    ref = process.send_after(target, "tick", 1.0)
    assert wait_until(sleeping_on_the_timer, timeout=0.5)
    process.cancel_timer(ref)
    assert wait_until(lambda: not timer_threads(), timeout=0.5)
