"""Tests of Task.async_, await_, yield_, shutdown, ignore and async_stream (API.md,
"parent: Task async/await and TaskSupervisor")."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from probes import ProbeHandle, wait_for

import parent
from parent import (
    CallTimeout,
    Exit,
    ExitError,
    GenServer,
    Ok,
    Parent,
    ProcessError,
    Task,
    TaskRef,
    gen_server,
    process,
)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def gate() -> Any:
    """An Event that tasks wait on; always set at the end, so no thread is left."""
    event = threading.Event()
    yield event
    event.set()


def _set() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


def crash_after(gate: threading.Event, error: BaseException) -> Callable[[], None]:
    def fn() -> None:
        gate.wait(10)
        raise error

    return fn


# -- async_ / await_ ---------------------------------------------------------------------


def test_async_runs_fn_in_its_own_process_and_await_returns_its_result() -> None:
    seen: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def fn(a: int, b: int) -> int:
        seen.put(process.current())
        return a + b

    task = Task.async_(fn, 2, 3)
    assert isinstance(task, TaskRef)
    assert task.owner is None  # started by a plain thread
    assert Task.await_(task) == 5
    assert seen.get(timeout=2) is task.pid
    assert task.pid.join(2) == "normal"
    assert repr(task).startswith("<TaskRef <Pid")


def test_a_crash_is_an_exit_error_with_the_exception_as_cause() -> None:
    error = ZeroDivisionError("nope")

    def fn() -> None:
        raise error

    task = Task.async_(fn)
    with pytest.raises(ExitError) as info:
        Task.await_(task)
    assert info.value.reason is error
    assert info.value.__cause__ is error


def test_a_killed_task_is_an_exit_error_with_its_reason(gate: threading.Event) -> None:
    task = Task.async_(gate.wait)
    process.exit(task.pid, "kill")
    with pytest.raises(ExitError) as info:
        Task.await_(task)
    assert info.value.reason == "killed"
    assert info.value.__cause__ is None


def test_await_times_out_and_the_task_keeps_running(gate: threading.Event) -> None:
    task = Task.async_(lambda: gate.wait(10) and "late")
    with pytest.raises(CallTimeout):
        Task.await_(task, timeout=0.05)
    assert task.pid.is_alive()
    gate.set()
    assert Task.await_(task) == "late"  # a timeout does not spend the TaskRef


def test_a_late_result_never_reaches_a_later_await(gate: threading.Event) -> None:
    slow = Task.async_(lambda: gate.wait(10) and "slow")
    with pytest.raises(CallTimeout):
        Task.await_(slow, timeout=0.02)
    gate.set()
    assert slow.pid.join(2) == "normal"
    assert Task.await_(Task.async_(lambda: "fast")) == "fast"
    assert Task.await_(slow) == "slow"


def test_a_task_is_awaited_once() -> None:
    task = Task.async_(lambda: 1)
    assert Task.await_(task) == 1
    with pytest.raises(ProcessError, match="already taken"):
        Task.await_(task)
    with pytest.raises(ProcessError):
        Task.yield_(task)


def test_argument_errors() -> None:
    with pytest.raises(TypeError, match="42"):
        Task.async_(42)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="TaskRef"):
        Task.await_("not a task")  # type: ignore[arg-type]
    task = Task.async_(lambda: 1)
    with pytest.raises(ValueError, match="-1"):
        Task.await_(task, timeout=-1)
    with pytest.raises(ValueError, match="-2"):
        Task.shutdown(task, -2)
    assert Task.await_(task) == 1


# -- ownership ---------------------------------------------------------------------------


def test_only_the_owner_may_await_yield_shut_down_or_ignore(
    probes: Callable[..., ProbeHandle], gate: threading.Event
) -> None:
    task = Task.async_(gate.wait)
    other = probes()
    for fn in (Task.await_, Task.yield_, Task.shutdown, Task.ignore):
        with pytest.raises(ProcessError, match="only its owner"):
            other.run(lambda fn=fn: fn(task))  # type: ignore[misc]
    errors: list[BaseException] = []

    def from_another_thread() -> None:
        try:
            Task.yield_(task, timeout=0)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=from_another_thread)
    thread.start()
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], ProcessError)
    assert Task.shutdown(task) is None  # the owner still can


def test_a_process_owner_is_the_caller(probes: Callable[..., ProbeHandle]) -> None:
    owner = probes()
    task = owner.run(lambda: Task.async_(lambda: 7))
    assert task.owner is owner.pid
    with pytest.raises(ProcessError):
        Task.await_(task)
    assert owner.run(lambda: Task.await_(task)) == 7


# -- links -------------------------------------------------------------------------------


def test_a_crash_takes_a_non_trapping_owner_down(
    probes: Callable[..., ProbeHandle], gate: threading.Event
) -> None:
    error = RuntimeError("boom")
    owner = probes()
    task = owner.run(lambda: Task.async_(crash_after(gate, error)))
    gate.set()
    assert task.pid.join(2) is error
    assert owner.pid.join(2) is error


def test_a_trapping_owner_gets_the_exit_and_await_raises(
    probes: Callable[..., ProbeHandle], gate: threading.Event
) -> None:
    error = RuntimeError("boom")
    owner = probes(trap=True)
    task = owner.run(lambda: Task.async_(crash_after(gate, error)))
    gate.set()
    assert owner.next() == Exit(task.pid, error)
    with pytest.raises(ExitError) as info:
        owner.run(lambda: Task.await_(task))
    assert info.value.reason is error


def test_a_finished_task_sends_no_exit_to_a_trapping_owner(
    probes: Callable[..., ProbeHandle],
) -> None:
    owner = probes(trap=True)
    assert owner.run(lambda: Task.await_(Task.async_(lambda: "done"))) == "done"
    owner.assert_no_more_messages()


def test_the_owner_s_death_ends_the_task(
    probes: Callable[..., ProbeHandle], gate: threading.Event
) -> None:
    owner = probes()
    task = owner.run(lambda: Task.async_(gate.wait))
    process.exit(owner.pid, "kill")
    assert task.pid.join(2) == "killed"


def test_an_owner_killed_while_awaiting_unwinds_at_once(gate: threading.Event) -> None:
    tasks: queue.SimpleQueue[TaskRef[Any]] = queue.SimpleQueue()

    def owner_body() -> None:
        task = Task.async_(gate.wait)
        tasks.put(task)
        Task.await_(task, timeout=None)

    owner = process.spawn(owner_body)
    task = tasks.get(timeout=2)
    assert wait_for(lambda: task.pid.is_alive())
    process.exit(owner, "kill")
    assert owner.join(2) == "killed"
    assert task.pid.join(2) == "killed"  # through the link
    # the owner's thread must not stay blocked in await_: the leak check sees it


def test_a_plain_thread_s_task_is_not_linked(gate: threading.Event) -> None:
    task = Task.async_(crash_after(gate, ValueError("x")))
    gate.set()
    assert isinstance(task.pid.join(2), ValueError)  # nothing else happened to us
    assert isinstance(Task.yield_(task), Exit)


# -- a GenServer awaiting tasks -----------------------------------------------------------


class Squares(GenServer):
    """Computes in tasks and awaits them inside handle_call; records its messages."""

    def init(self, gate: threading.Event) -> None:
        self.gate = gate
        self.infos: list[Any] = []
        self.slow: TaskRef[str] | None = None

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        if request == "slow":
            self.slow = Task.async_(lambda: self.gate.wait(10) and "late")
            try:
                return Task.await_(self.slow, timeout=0.02)
            except CallTimeout:
                return "timed out"
        if request == "collect":
            assert self.slow is not None
            return Task.await_(self.slow)
        if request == "infos":
            return self.infos
        n = int(request)
        return Task.await_(Task.async_(lambda: n * n))

    def handle_info(self, message: Any) -> None:
        self.infos.append(message)


class TrappingSquares(Parent, Squares):
    pass


@pytest.mark.parametrize("server", [Squares, TrappingSquares])
def test_a_gen_server_awaits_tasks_in_handle_call(
    server: type[Squares], gate: threading.Event
) -> None:
    pid = server.start_link(gate)
    assert [gen_server.call(pid, n) for n in range(5)] == [0, 1, 4, 9, 16]
    assert gen_server.call(pid, "slow") == "timed out"
    gate.set()
    assert gen_server.call(pid, 3) == 9  # the late result did not get in the way
    assert gen_server.call(pid, "collect") == "late"
    process.send(pid, "marker")
    assert gen_server.call(pid, "infos") == ["marker"]  # no result, no Exit leaked
    gen_server.stop(pid)


# -- await_many / yield_ / yield_many -----------------------------------------------------


def test_await_many_returns_results_in_order() -> None:
    tasks = [Task.async_(pow, 2, n) for n in range(6)]
    assert Task.await_many(tasks) == [1, 2, 4, 8, 16, 32]
    assert Task.await_many([]) == []
    twice = Task.async_(lambda: "x")
    assert Task.await_many([twice, twice], timeout=None) == ["x", "x"]
    with pytest.raises(ProcessError):
        Task.await_(tasks[0])


def test_await_many_raises_as_soon_as_one_task_dies(gate: threading.Event) -> None:
    error = KeyError("k")
    blocked = Task.async_(gate.wait)
    crashing = Task.async_(crash_after(_set(), error))
    with pytest.raises(ExitError) as info:
        Task.await_many([blocked, crashing], timeout=10)
    assert info.value.reason is error
    assert blocked.pid.is_alive()
    assert Task.shutdown(blocked) is None


def test_await_many_times_out_and_keeps_the_results(gate: threading.Event) -> None:
    done = Task.async_(lambda: "done")
    blocked = Task.async_(gate.wait)
    assert done.pid.join(2) == "normal"
    with pytest.raises(CallTimeout, match="1 of 2"):
        Task.await_many([done, blocked], timeout=0.05)
    assert Task.await_(done) == "done"
    assert Task.shutdown(blocked) is None


def test_yield_returns_none_while_running_then_the_result(gate: threading.Event) -> None:
    task = Task.async_(lambda: gate.wait(10) and 42)
    assert Task.yield_(task, timeout=0.01) is None
    assert Task.yield_(task, timeout=0) is None  # it can be yielded again
    gate.set()
    assert Task.yield_(task) == Ok(42)
    with pytest.raises(ProcessError):
        Task.yield_(task)


def test_yield_many(gate: threading.Event) -> None:
    error = ValueError("bad")
    ok = Task.async_(lambda: "ok")
    crashed = Task.async_(crash_after(_set(), error))
    blocked = Task.async_(gate.wait)
    for t in (ok, crashed):
        t.pid.join(2)
    results = Task.yield_many([ok, crashed, blocked], timeout=0.05)
    assert results == [(ok, Ok("ok")), (crashed, Exit(crashed.pid, error)), (blocked, None)]
    gate.set()
    assert Task.yield_many([blocked]) == [(blocked, Ok(True))]


# -- shutdown / ignore ---------------------------------------------------------------------


@pytest.mark.parametrize("how", [5.0, "brutal_kill", "infinity"])
def test_shutdown_stops_a_running_task_without_its_owner(
    probes: Callable[..., ProbeHandle], gate: threading.Event, how: Any
) -> None:
    owner = probes()  # does not trap: an exit through the link would kill it

    def run() -> Any:
        task = Task.async_(gate.wait)
        return task, Task.shutdown(task, how)

    task, result = owner.run(run)
    assert result is None
    assert not task.pid.is_alive()
    assert owner.pid.is_alive()
    with pytest.raises(ProcessError):
        owner.run(lambda: Task.await_(task))


def test_shutdown_returns_a_result_that_came_first() -> None:
    task = Task.async_(lambda: 5)
    task.pid.join(2)
    assert Task.shutdown(task) == Ok(5)
    error = OSError("disk")
    crashed = Task.async_(crash_after(_set(), error))
    crashed.pid.join(2)
    assert Task.shutdown(crashed, "brutal_kill") == Exit(crashed.pid, error)
    assert Task.shutdown(crashed) is None  # nothing left to hand out


def test_shutdown_kills_a_task_that_outlives_its_shutdown_time(gate: threading.Event) -> None:
    trapping = threading.Event()

    def stubborn() -> None:
        process.trap_exits(True)  # the "shutdown" signal becomes a message it never reads
        trapping.set()
        gate.wait(10)

    task = Task.async_(stubborn)
    assert trapping.wait(2)
    assert Task.shutdown(task, 0.05) == Exit(task.pid, "killed")


def test_ignore_unlinks_and_stops_tracking(
    probes: Callable[..., ProbeHandle], gate: threading.Event
) -> None:
    owner = probes()
    task = owner.run(lambda: Task.async_(crash_after(gate, RuntimeError("ignored"))))
    assert owner.run(lambda: Task.ignore(task)) is None
    gate.set()
    assert isinstance(task.pid.join(2), RuntimeError)
    assert owner.pid.is_alive()  # unlinked: the crash did not reach it
    with pytest.raises(ProcessError):
        owner.run(lambda: Task.await_(task))
    finished = Task.async_(lambda: "x")
    finished.pid.join(2)
    assert Task.ignore(finished) == Ok("x")


# -- async_stream --------------------------------------------------------------------------


class Pulls:
    """An iterable that counts how many items were taken from it."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.pulled = 0

    def __iter__(self) -> Any:
        for i in range(self.n):
            self.pulled += 1
            yield i


def test_async_stream_maps_in_input_order() -> None:
    results = list(Task.async_stream(range(20), lambda x: x * 10, max_concurrency=4))
    assert results == [Ok(x * 10) for x in range(20)]
    assert list(Task.async_stream([], lambda x: x)) == []


def test_async_stream_is_lazy() -> None:
    items = Pulls(100)
    started: list[int] = []
    stream = Task.async_stream(items, started.append, max_concurrency=2)
    assert items.pulled == 0 and started == []  # nothing before the first next()
    for taken in range(1, 6):
        next(stream)
        assert items.pulled <= taken + 2  # one slot freed per result taken
    stream.close()
    assert items.pulled < 10


def test_async_stream_runs_at_most_max_concurrency_tasks() -> None:
    limit, total = 3, 12
    cond = threading.Condition()
    state = {"active": 0, "peak": 0, "done": 0}

    def work(x: int) -> int:
        with cond:
            state["active"] += 1
            state["peak"] = max(state["peak"], state["active"])
            cond.notify_all()
            # wait until the stream has as many tasks running as it may (or the end)
            cond.wait_for(
                lambda: state["active"] >= limit or state["active"] + state["done"] == total,
                timeout=5,
            )
            state["active"] -= 1
            state["done"] += 1
            cond.notify_all()
        return x

    results = list(Task.async_stream(range(total), work, max_concurrency=limit))
    assert results == [Ok(x) for x in range(total)]
    assert state["peak"] == limit


def chained(n: int) -> tuple[Callable[[int], int], list[Any]]:
    """A function whose task for item i finishes only once the task of item i + 1 is
    dead: the tasks complete in reverse input order."""
    pids: list[Any] = [None] * n
    known = [threading.Event() for _ in range(n)]

    def fn(i: int) -> int:
        pids[i] = process.current()
        known[i].set()
        if i + 1 < n:
            known[i + 1].wait(5)
            pids[i + 1].join(5)
        return i

    return fn, pids


def test_async_stream_ordered_false_yields_in_completion_order() -> None:
    fn, _ = chained(6)
    results = list(Task.async_stream(range(6), fn, max_concurrency=6, ordered=False))
    assert results == [Ok(i) for i in reversed(range(6))]
    fn, _ = chained(6)
    results = list(Task.async_stream(range(6), fn, max_concurrency=6, ordered=True))
    assert results == [Ok(i) for i in range(6)]


def test_async_stream_on_timeout_exit_raises_and_stops_the_tasks(
    gate: threading.Event,
) -> None:
    pids: list[Any] = []

    def fn(x: int) -> int:
        pids.append(process.current())
        if x > 0:
            gate.wait(10)
        return x

    stream = Task.async_stream(range(10), fn, max_concurrency=3, timeout=0.5)
    assert next(stream) == Ok(0)
    with pytest.raises(CallTimeout, match="#1"):
        next(stream)
    assert pids and not any(p.is_alive() for p in pids)
    assert list(stream) == []  # the stream is over


def test_async_stream_kill_task_yields_a_timeout_exit_and_goes_on(
    gate: threading.Event,
) -> None:
    def fn(x: int) -> int:
        if x == 1:
            gate.wait(10)
        return x

    for ordered in (True, False):
        results = list(
            Task.async_stream(
                range(4),
                fn,
                max_concurrency=2,
                timeout=0.5,
                on_timeout="kill_task",
                ordered=ordered,
            )
        )
        exits = [r for r in results if isinstance(r, Exit)]
        assert len(exits) == 1 and exits[0].reason == "timeout"
        assert not exits[0].pid.is_alive()
        assert sorted(r.value for r in results if isinstance(r, Ok)) == [0, 2, 3]
        if ordered:
            assert results[1] is exits[0]


@pytest.mark.parametrize("how", ["close", "break", "del"])
def test_closing_the_stream_kills_its_running_tasks(gate: threading.Event, how: str) -> None:
    pids: list[Any] = []

    def fn(x: int) -> int:
        pids.append(process.current())
        if x > 0:
            gate.wait(10)
        return x

    if how == "break":
        for result in Task.async_stream(range(10), fn, max_concurrency=3, timeout=None):
            assert result == Ok(0)
            assert wait_for(lambda: len(pids) == 4)
            break
    else:
        stream = Task.async_stream(range(10), fn, max_concurrency=3, timeout=None)
        assert next(stream) == Ok(0)  # its slot went to item 3 before it was yielded
        assert wait_for(lambda: len(pids) == 4)
        if how == "close":
            stream.close()
        else:
            del stream
    assert len(pids) == 4 and not any(p.is_alive() for p in pids)


def test_a_crashing_item_is_an_exit_for_a_plain_thread() -> None:
    results = list(Task.async_stream([1, 0, 2], lambda n: 10 // n, max_concurrency=1))
    assert results[0] == Ok(10) and results[2] == Ok(5)
    assert isinstance(results[1], Exit) and isinstance(results[1].reason, ZeroDivisionError)


def test_a_crashing_item_takes_a_linked_consumer_down(
    probes: Callable[..., ProbeHandle],
) -> None:
    consumer = probes()
    with pytest.raises(ExitError):
        consumer.run(lambda: list(Task.async_stream([1, 0], lambda n: 1 // n)))
    assert isinstance(consumer.pid.join(2), ZeroDivisionError)


def test_a_gen_server_consumes_a_stream_in_handle_call() -> None:
    class Mapper(GenServer):
        def handle_call(self, request: Any, from_: parent.From) -> Any:
            return [r.value for r in Task.async_stream(request, str, max_concurrency=2)]

    pid = Mapper.start_link()
    assert gen_server.call(pid, range(5)) == ["0", "1", "2", "3", "4"]
    gen_server.stop(pid)


def test_async_stream_checks_its_arguments_at_once() -> None:
    with pytest.raises(ValueError, match=r"max_concurrency.*0"):
        Task.async_stream([1], str, max_concurrency=0)
    with pytest.raises(ValueError, match=r"on_timeout.*'ignore'"):
        Task.async_stream([1], str, on_timeout="ignore")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"callable.*'str'"):
        Task.async_stream([1], "str")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        Task.async_stream([1], str, timeout=-1.0)


@settings(max_examples=30, deadline=None)
@given(
    items=st.lists(st.integers(), max_size=40),
    max_concurrency=st.integers(1, 8),
    ordered=st.booleans(),
)
def test_async_stream_is_a_map(items: list[int], max_concurrency: int, ordered: bool) -> None:
    stream = Task.async_stream(
        items, lambda x: x * 3 - 1, max_concurrency=max_concurrency, ordered=ordered
    )
    values = [r.value for r in stream if isinstance(r, Ok)]
    expected = [x * 3 - 1 for x in items]
    assert values == expected if ordered else sorted(values) == sorted(expected)
