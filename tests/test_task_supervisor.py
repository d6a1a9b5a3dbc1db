"""Tests of parent.TaskSupervisor (API.md, "parent: Task async/await and TaskSupervisor")."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from probes import ProbeHandle, wait_for

import parent
from parent import (
    Exit,
    ExitError,
    GenServer,
    NoProcess,
    NotFound,
    Ok,
    ProcessError,
    StartError,
    Task,
    TaskSupervisor,
    gen_server,
    process,
    supervisor,
)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """An Event that tasks wait on; always set at the end, so no thread is left."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def sup() -> Iterator[parent.Pid]:
    pid = TaskSupervisor.start_link()
    yield pid
    if pid.is_alive():
        supervisor.stop(pid)


def fail(error: BaseException) -> Callable[[], None]:
    def fn() -> None:
        raise error

    return fn


# -- the supervisor itself -------------------------------------------------------------


def test_it_answers_the_supervisor_queries(sup: parent.Pid, gate: threading.Event) -> None:
    assert supervisor.which_children(sup) == []
    pid = TaskSupervisor.start_child(sup, gate.wait)
    assert supervisor.which_children(sup) == [(None, pid, "worker", [Task])]
    assert supervisor.count_children(sup) == {
        "specs": 1,
        "active": 1,
        "supervisors": 0,
        "workers": 1,
    }
    assert supervisor.get_callback_module(sup) is TaskSupervisor
    assert TaskSupervisor.children(sup) == [pid]


@pytest.mark.parametrize(
    "spec",
    [
        TaskSupervisor.child_spec(name="tasks"),
        (TaskSupervisor, {"name": "tasks"}),
    ],
)
def test_it_goes_in_a_children_list(spec: Any) -> None:
    top = supervisor.start_link([spec])
    [(cid, pid, kind, modules)] = supervisor.which_children(top)
    assert (cid, kind, modules) == ("tasks", "supervisor", [TaskSupervisor])
    assert process.whereis("tasks") is pid
    assert Task.await_(TaskSupervisor.async_("tasks", lambda: "hi")) == "hi"
    supervisor.stop(top)
    assert not pid.is_alive()


def test_child_spec_defaults_and_errors() -> None:
    spec = TaskSupervisor.child_spec()
    assert spec["id"] is TaskSupervisor and spec["shutdown"] == "infinity"
    top = supervisor.start_link([TaskSupervisor])
    [(cid, _pid, _, _)] = supervisor.which_children(top)
    assert cid is TaskSupervisor
    supervisor.stop(top)
    with pytest.raises(ValueError, match="colour"):
        TaskSupervisor.child_spec(colour="red")
    with pytest.raises(ValueError, match="-1"):
        TaskSupervisor.start_link(max_children=-1)


def test_stopping_it_stops_its_tasks(gate: threading.Event) -> None:
    sup = TaskSupervisor.start_link()
    pids = [TaskSupervisor.start_child(sup, gate.wait) for _ in range(3)]
    supervisor.stop(sup)
    assert [p.join(0) for p in pids] == ["shutdown"] * 3


# -- start_child -----------------------------------------------------------------------


def test_start_child_runs_a_temporary_task(sup: parent.Pid) -> None:
    seen: queue.SimpleQueue[Any] = queue.SimpleQueue()
    pid = TaskSupervisor.start_child(sup, lambda a, b: seen.put((a, b, process.current())), 1, 2)
    assert seen.get(timeout=2) == (1, 2, pid)
    assert pid.join(2) == "normal"
    assert wait_for(lambda: TaskSupervisor.children(sup) == [])
    crashed = TaskSupervisor.start_child(sup, fail(RuntimeError("once")))
    assert isinstance(crashed.join(2), RuntimeError)
    assert wait_for(lambda: TaskSupervisor.children(sup) == [])  # not restarted


def test_transient_and_permanent_tasks_are_restarted(sup: parent.Pid) -> None:
    runs: queue.SimpleQueue[str] = queue.SimpleQueue()
    crashes = iter([True, False])

    def transient() -> None:
        runs.put("transient")
        if next(crashes):
            raise RuntimeError("crash once")

    TaskSupervisor.start_child(sup, transient, restart="transient")
    assert [runs.get(timeout=2) for _ in range(2)] == ["transient"] * 2
    assert wait_for(lambda: TaskSupervisor.children(sup) == [])  # a normal exit: done

    stop = threading.Event()

    def permanent() -> None:
        runs.put("permanent")
        stop.wait(10)

    first = TaskSupervisor.start_child(sup, permanent, restart="permanent")
    assert runs.get(timeout=2) == "permanent"
    process.exit(first, "kill")
    assert runs.get(timeout=2) == "permanent"  # started again
    [second] = TaskSupervisor.children(sup)
    assert second is not first
    TaskSupervisor.terminate_child(sup, second)  # not restarted after that
    assert TaskSupervisor.children(sup) == []
    stop.set()


def test_too_many_restarts_stop_the_supervisor() -> None:
    sup = TaskSupervisor.start_link()
    TaskSupervisor.start_child(sup, lambda: None, restart="permanent")
    assert sup.join(5) == "shutdown"


def test_start_child_argument_errors(sup: parent.Pid) -> None:
    with pytest.raises(ValueError, match="sometimes"):
        TaskSupervisor.start_child(sup, print, restart="sometimes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="None"):
        TaskSupervisor.start_child(sup, None)  # type: ignore[arg-type]
    supervisor.stop(sup)
    with pytest.raises(NoProcess):
        TaskSupervisor.start_child(sup, print)


def test_max_children(gate: threading.Event) -> None:
    sup = TaskSupervisor.start_link(max_children=2)
    first = TaskSupervisor.start_child(sup, gate.wait)
    TaskSupervisor.async_nolink(sup, gate.wait)
    with pytest.raises(StartError) as info:
        TaskSupervisor.start_child(sup, gate.wait)
    assert info.value.reason == "max_children"
    with pytest.raises(StartError, match="max_children"):
        TaskSupervisor.async_(sup, gate.wait)
    TaskSupervisor.terminate_child(sup, first)
    TaskSupervisor.start_child(sup, gate.wait)  # room again
    supervisor.stop(sup)


def test_terminate_child(sup: parent.Pid, gate: threading.Event) -> None:
    pid = TaskSupervisor.start_child(sup, gate.wait)
    TaskSupervisor.terminate_child(sup, pid)
    assert pid.join(0) == "shutdown"  # dead when it returns
    with pytest.raises(NotFound):
        TaskSupervisor.terminate_child(sup, pid)
    stranger = Task.start(gate.wait)
    with pytest.raises(NotFound):
        TaskSupervisor.terminate_child(sup, stranger)
    process.exit(stranger, "kill")


# -- async_ / async_nolink -------------------------------------------------------------


def test_async_is_a_linked_child(
    sup: parent.Pid, probes: Callable[..., ProbeHandle], gate: threading.Event
) -> None:
    task = TaskSupervisor.async_(sup, lambda: gate.wait(10) and "done")
    assert TaskSupervisor.children(sup) == [task.pid]
    assert task.owner is None
    gate.set()
    assert Task.await_(task) == "done"

    error = RuntimeError("boom")
    go = threading.Event()

    def crash() -> None:
        go.wait(10)
        raise error

    owner = probes()
    task = owner.run(lambda: TaskSupervisor.async_(sup, crash))
    go.set()
    assert owner.pid.join(2) is error  # the crash took the caller down
    assert task.pid.join(2) is error


def test_async_task_dies_with_its_owner(
    sup: parent.Pid, probes: Callable[..., ProbeHandle], gate: threading.Event
) -> None:
    owner = probes()
    task = owner.run(lambda: TaskSupervisor.async_(sup, gate.wait))
    process.exit(owner.pid, "kill")
    assert task.pid.join(2) == "killed"


def test_async_nolink_crash_never_takes_the_caller_down(
    sup: parent.Pid, probes: Callable[..., ProbeHandle]
) -> None:
    error = ValueError("bad")
    owner = probes()  # does not trap exits
    with pytest.raises(ExitError) as info:
        owner.run(lambda: Task.await_(TaskSupervisor.async_nolink(sup, fail(error))))
    assert info.value.reason is error and info.value.__cause__ is error
    result = owner.run(lambda: Task.yield_(TaskSupervisor.async_nolink(sup, fail(error))))
    assert isinstance(result, Exit) and result.reason is error
    assert owner.pid.is_alive()
    owner.assert_no_more_messages()


def test_async_nolink_task_outlives_its_owner(
    sup: parent.Pid, probes: Callable[..., ProbeHandle], gate: threading.Event
) -> None:
    owner = probes()
    task = owner.run(lambda: TaskSupervisor.async_nolink(sup, gate.wait))
    process.exit(owner.pid, "kill")
    assert owner.pid.join(2) == "killed"
    assert task.pid.is_alive()
    TaskSupervisor.terminate_child(sup, task.pid)


def test_only_the_owner_may_await_a_supervised_task(
    sup: parent.Pid, probes: Callable[..., ProbeHandle]
) -> None:
    task = TaskSupervisor.async_nolink(sup, lambda: 3)
    with pytest.raises(ProcessError, match="only its owner"):
        probes().run(lambda: Task.await_(task))
    assert Task.await_(task) == 3


def test_a_gen_server_awaits_a_supervised_task(sup: parent.Pid) -> None:
    class Asker(GenServer):
        def handle_call(self, request: Any, from_: parent.From) -> Any:
            task = TaskSupervisor.async_nolink(sup, request)
            try:
                return ("ok", Task.await_(task))
            except ExitError as e:
                return ("crashed", e.reason)

    pid = Asker.start_link()
    assert gen_server.call(pid, lambda: 5) == ("ok", 5)
    error = KeyError("k")
    assert gen_server.call(pid, fail(error)) == ("crashed", error)
    assert gen_server.call(pid, lambda: 6) == ("ok", 6)
    gen_server.stop(pid)


# -- streams ---------------------------------------------------------------------------


def test_async_stream_runs_children_of_the_supervisor(sup: parent.Pid) -> None:
    def fn(x: int) -> tuple[int, bool]:
        return x * 2, process.current() in TaskSupervisor.children(sup)

    results = list(TaskSupervisor.async_stream(sup, range(8), fn, max_concurrency=3))
    assert results == [Ok((x * 2, True)) for x in range(8)]
    unordered = TaskSupervisor.async_stream(sup, range(8), fn, ordered=False)
    assert sorted(r.value for r in unordered if isinstance(r, Ok)) == [
        (x * 2, True) for x in range(8)
    ]


def test_async_stream_nolink_yields_crashes_as_exits(
    sup: parent.Pid, probes: Callable[..., ProbeHandle]
) -> None:
    consumer = probes()
    results = consumer.run(
        lambda: list(TaskSupervisor.async_stream_nolink(sup, [2, 0, 5], lambda n: 10 // n))
    )
    assert results[0] == Ok(5) and results[2] == Ok(2)
    assert isinstance(results[1], Exit) and isinstance(results[1].reason, ZeroDivisionError)
    assert consumer.pid.is_alive()


def test_async_stream_linked_crash_takes_the_consumer_down(
    sup: parent.Pid, probes: Callable[..., ProbeHandle]
) -> None:
    consumer = probes()
    with pytest.raises(ExitError):
        consumer.run(lambda: list(TaskSupervisor.async_stream(sup, [0], lambda n: 1 // n)))
    assert isinstance(consumer.pid.join(2), ZeroDivisionError)


def test_closing_a_supervised_stream_kills_its_tasks(
    sup: parent.Pid, gate: threading.Event
) -> None:
    def fn(x: int) -> int:
        if x > 0:
            gate.wait(10)
        return x

    for stream_fn in (TaskSupervisor.async_stream, TaskSupervisor.async_stream_nolink):
        stream = stream_fn(sup, range(10), fn, max_concurrency=2, timeout=None)
        assert next(stream) == Ok(0)
        assert wait_for(lambda: len(TaskSupervisor.children(sup)) == 2)
        running = TaskSupervisor.children(sup)
        stream.close()
        assert not any(p.is_alive() for p in running)
        assert wait_for(lambda: TaskSupervisor.children(sup) == [])


def test_a_full_supervisor_fails_the_stream(gate: threading.Event) -> None:
    sup = TaskSupervisor.start_link(max_children=1)
    stream = TaskSupervisor.async_stream_nolink(sup, range(5), lambda _: gate.wait(10))
    with pytest.raises(StartError, match="max_children"):
        next(stream)
    assert wait_for(lambda: TaskSupervisor.children(sup) == [])  # the started one is killed
    supervisor.stop(sup)


def test_stream_argument_errors(sup: parent.Pid) -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        TaskSupervisor.async_stream(sup, [1], str, max_concurrency=0)
    with pytest.raises(ValueError, match="on_timeout"):
        TaskSupervisor.async_stream_nolink(sup, [1], str, on_timeout="no")  # type: ignore[arg-type]
