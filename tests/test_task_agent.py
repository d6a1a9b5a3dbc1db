"""Tests of Task and Agent (API.md, end of "parent: GenServer")."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import pytest
from probes import ProbeHandle, crash_reports

import parent
from parent import (
    Agent,
    AlreadyStarted,
    CallTimeout,
    Exit,
    ExitError,
    NoProcess,
    StartError,
    Task,
    process,
)

pytestmark = pytest.mark.timeout(30)

# helpers: tests/probes.py; the `probes` fixture is in tests/conftest.py


# -- Task ------------------------------------------------------------------------------


def test_a_task_runs_fn_with_args_in_its_own_process_and_exits_normal() -> None:
    seen: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def fn(*args: Any) -> str:
        seen.put((args, process.current(), threading.current_thread()))
        return "ignored result"

    pid = Task.start_link(fn, 1, "two")
    assert isinstance(pid, parent.Pid)
    args, me, thread = seen.get(timeout=2.0)
    assert args == (1, "two")
    assert me is pid
    assert thread is not threading.current_thread()
    assert pid.join(2.0) == "normal"
    assert not pid.is_alive()


def test_a_task_stays_alive_while_fn_runs() -> None:
    gate = threading.Event()
    pid = Task.start_link(gate.wait)
    try:
        assert pid.is_alive()
        with pytest.raises(TimeoutError):
            pid.join(0.02)
    finally:
        gate.set()
    assert pid.join(2.0) == "normal"


def test_a_crashing_task_exits_with_the_exception(caplog: pytest.LogCaptureFixture) -> None:
    error = ZeroDivisionError("task failed")

    def fn() -> None:
        raise error

    pid = Task.start_link(fn)
    assert pid.join(2.0) is error
    reports = crash_reports(caplog)
    assert len(reports) == 1
    assert reports[0].exc_info is not None and reports[0].exc_info[1] is error


def test_task_start_link_links_to_the_calling_process(
    probes: Callable[..., ProbeHandle], caplog: pytest.LogCaptureFixture
) -> None:
    watcher = probes(trap=True)
    pid = watcher.run(lambda: Task.start_link(lambda: None))
    assert pid.join(2.0) == "normal"
    assert watcher.next() == Exit(pid, "normal")

    error = RuntimeError("boom")
    gate = threading.Event()

    def crash() -> None:
        gate.wait()
        raise error

    victim = probes()
    pid = victim.run(lambda: Task.start_link(crash))
    gate.set()
    assert pid.join(2.0) is error
    assert victim.pid.join(2.0) is error  # a non-trapping caller dies with it


def test_task_start_does_not_link(probes: Callable[..., ProbeHandle]) -> None:
    watcher = probes(trap=True)
    pid = watcher.run(lambda: Task.start(lambda: None))
    assert pid.join(2.0) == "normal"
    watcher.assert_no_more_messages()


# -- Agent -----------------------------------------------------------------------------


def test_agent_get_update_stop() -> None:
    agent = Agent.start_link(lambda: 0)
    assert Agent.get(agent, lambda n: n) == 0
    assert Agent.update(agent, lambda n: n + 1) is None
    assert Agent.update(agent, lambda n: n * 10) is None
    assert Agent.get(agent, lambda n: n + 5) == 15  # get returns fn(state) ...
    assert Agent.get(agent, lambda n: n) == 10  # ... and does not change it
    assert Agent.stop(agent) is None
    assert not agent.is_alive()
    assert agent.join(0) == "normal"


def test_agent_state_starts_as_fn_result_computed_in_the_agent() -> None:
    where: list[Any] = []

    def initial() -> dict[str, int]:
        where.append(process.current())
        return {"a": 1}

    agent = Agent.start_link(initial)
    assert where == [agent]
    assert Agent.get(agent, dict) == {"a": 1}
    assert Agent.get(agent, lambda _: process.current()) is agent  # fns run in the agent
    Agent.stop(agent)


def test_agent_with_a_name() -> None:
    agent = Agent.start_link(list, name="settings")
    assert process.whereis("settings") is agent
    Agent.update("settings", lambda xs: [*xs, "x"])
    assert Agent.get("settings", len) == 1
    with pytest.raises(AlreadyStarted) as info:
        Agent.start_link(list, name="settings")
    assert info.value.pid is agent
    Agent.stop("settings", "shutdown")
    assert agent.join(0) == "shutdown"
    assert process.whereis("settings") is None


def test_agent_get_timeout_and_no_late_reply() -> None:
    agent = Agent.start_link(lambda: "state")
    gate = threading.Event()
    done = threading.Event()

    def slow(state: Any) -> Any:
        gate.wait()
        return "late"

    def update_then_flag(state: Any) -> Any:
        done.set()
        return state

    try:
        with pytest.raises(CallTimeout):
            Agent.get(agent, slow, timeout=0.05)
    finally:
        gate.set()
    Agent.update(agent, update_then_flag)
    assert done.is_set()
    assert Agent.get(agent, lambda s: s) == "state"
    Agent.stop(agent)


def test_agent_errors() -> None:
    error = ValueError("bad initial state")

    def bad() -> Any:
        raise error

    with pytest.raises(StartError) as info:
        Agent.start_link(bad)
    assert info.value.reason is error

    agent = Agent.start_link(lambda: 0)
    Agent.stop(agent)
    with pytest.raises(NoProcess):
        Agent.get(agent, lambda s: s)
    with pytest.raises(NoProcess):
        Agent.update(agent, lambda s: s)
    with pytest.raises(NoProcess):
        Agent.stop(agent)


def test_agent_crashing_fn_fails_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    agent = Agent.start_link(lambda: 0)
    with pytest.raises(ExitError) as info:
        Agent.get(agent, lambda n: 1 / n)
    assert isinstance(info.value.reason, ZeroDivisionError)
    assert agent.join(2.0) is info.value.reason


def test_agent_start_link_links_to_the_caller(probes: Callable[..., ProbeHandle]) -> None:
    owner = probes()
    agent = owner.run(lambda: Agent.start_link(lambda: 0))
    process.exit(owner.pid, "boom")
    assert agent.join(2.0) == "boom"


def test_concurrent_updates_are_serialised() -> None:
    agent = Agent.start_link(lambda: 0)
    n_threads, n_updates = 4, 50

    def bump() -> None:
        for _ in range(n_updates):
            Agent.update(agent, lambda n: n + 1)

    threads = [threading.Thread(target=bump) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Agent.get(agent, lambda n: n) == n_threads * n_updates
    Agent.stop(agent)
