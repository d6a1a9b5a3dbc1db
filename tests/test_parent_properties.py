"""Property tests of a Parent's child bookkeeping and of a Supervisor's restart intensity.

* Bookkeeping: whatever happens to its children (shut down by the parent, exiting on
  their own, killed from outside, awaited), the parent's view (``children()``,
  ``num_children()``, ``is_child``, ``child_pid``, ``child_id``) equals the set of live
  children once their exits have been handled, and ``handle_child_terminated`` runs
  exactly for the children that ended on their own.
* Intensity: a state machine compares when a supervisor gives up with Erlang's rule
  (prepend ``now`` to the restart list, keep the times ``t`` with ``now <= t +
  max_seconds``, give up when the list is longer than ``max_restarts``), on a fake clock.
"""

from __future__ import annotations

import queue
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)
from probes import FakeClock

import parent
from parent import GenServer, NotFound, Parent, Pid, Stop, gen_server, process, supervisor

pytestmark = pytest.mark.timeout(60)

SETTINGS = settings(max_examples=30, deadline=None, stateful_step_count=15)


class Child(GenServer):
    """A cast ``("stop", reason)`` stops it with ``reason``."""

    def handle_cast(self, request: Any) -> None:
        _, reason = request
        raise Stop(reason)


class Host(Parent):
    """A call ``fn`` runs ``fn(self)`` in the parent; child terminations are recorded."""

    def init(self, events: queue.SimpleQueue[Any]) -> None:
        self.events = events

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        try:
            return ("ok", request(self))
        except Exception as exc:
            return ("error", exc)

    def handle_child_terminated(self, id: Any, meta: Any, pid: Pid, reason: Any) -> None:
        self.events.put((id, meta, pid, reason))


def run(host: Pid, fn: Any) -> Any:
    tag, value = gen_server.call(host, fn, 10.0)
    if tag == "error":
        raise value
    return value


def view(p: Host, n: int, pids: list[Pid]) -> Any:
    """The parent's whole view of its children, taken inside the parent."""
    return (
        [(id, pid, meta) for id, pid, meta in p.children()],
        p.num_children(),
        [p.is_child(i) for i in range(n)],
        [p.child_pid(i) for i in range(n)],
        [p.child_id(pid) for pid in pids],
    )


def stop_and_await(i: int) -> Any:
    def fn(p: Host) -> Any:
        gen_server.cast(p.child_pid(i), ("stop", "normal"))
        return p.await_child_termination(i, 5.0)

    return fn


OPS = ["shutdown", "exit", "kill", "await", "await_timeout"]


@SETTINGS
@given(
    n=st.integers(1, 8),
    ops=st.lists(
        st.tuples(st.sampled_from(OPS), st.sets(st.integers(0, 7), max_size=4)), max_size=6
    ),
)
def test_the_parents_view_equals_the_live_children(n: int, ops: list[Any]) -> None:
    events: queue.SimpleQueue[Any] = queue.SimpleQueue()
    host = Host.start(events)
    try:
        pids: list[Pid] = run(
            host,
            lambda p: [
                p.start_child({"id": i, "start": Child.start_link, "meta": ("m", i)})
                for i in range(n)
            ],
        )
        live = set(range(n))
        for op, subset in ops:
            expected_events = []
            for i in sorted(x % n for x in subset):
                was_live = i in live
                if op == "shutdown":
                    if was_live:
                        assert run(host, lambda p, i=i: p.shutdown_child(i)) is None
                        assert not pids[i].is_alive()
                    else:
                        with pytest.raises(NotFound):
                            run(host, lambda p, i=i: p.shutdown_child(i))
                    live.discard(i)
                elif op == "exit":
                    if was_live:
                        gen_server.cast(pids[i], ("stop", "normal"))
                        assert pids[i].join(5.0) == "normal"
                        expected_events.append((i, ("m", i), pids[i], "normal"))
                    live.discard(i)
                elif op == "kill":
                    process.exit(pids[i], "kill")
                    assert pids[i].join(5.0) in ("killed", "normal", "shutdown")
                    if was_live:
                        expected_events.append((i, ("m", i), pids[i], "killed"))
                    live.discard(i)
                elif op == "await":
                    if was_live:
                        got = run(host, stop_and_await(i))
                        assert got == (pids[i], ("m", i), "normal")
                    else:
                        with pytest.raises(NotFound):
                            run(host, lambda p, i=i: p.await_child_termination(i, 0.01))
                    live.discard(i)
                else:  # await_timeout: a live child outlasts a short wait and stays
                    if was_live:
                        assert run(host, lambda p, i=i: p.await_child_termination(i, 0)) is None
                        assert pids[i].is_alive()
            # the call below is handled after every Exit sent before it
            got_view = run(host, lambda p: view(p, n, pids))
            order = sorted(live)
            assert got_view == (
                [(i, pids[i], ("m", i)) for i in order],
                len(live),
                [i in live for i in range(n)],
                [pids[i] if i in live else None for i in range(n)],
                [i if i in live else None for i in range(n)],
            )
            got_events = []
            while not events.empty():
                got_events.append(events.get_nowait())
            assert got_events == expected_events
        for i in range(n):
            assert pids[i].is_alive() == (i in live)
    finally:
        gen_server.stop(host, timeout=10.0)
    assert all(not pid.is_alive() for pid in pids)


# -- restart intensity -------------------------------------------------------------------


class Intensity(RuleBasedStateMachine):
    """Crash children of a one_for_one supervisor while a fake clock moves in steps that
    are exact binary fractions (so the window boundary ``now == t + max_seconds`` is hit
    exactly), and check each time whether the supervisor kept going or gave up."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.sup: Pid | None = None
        self.alive = False

    @initialize(
        max_restarts=st.integers(0, 3),
        max_seconds=st.sampled_from([0.5, 1.0, 2.0, 3.0]),
    )
    def start(self, max_restarts: int, max_seconds: float) -> None:
        self.start_supervisor(max_restarts, max_seconds)

    @precondition(lambda self: not self.alive)
    @rule(
        max_restarts=st.integers(0, 3),
        max_seconds=st.sampled_from([0.5, 1.0, 2.0, 3.0]),
    )
    def start_again(self, max_restarts: int, max_seconds: float) -> None:
        """After a supervisor gave up, go on with a new one."""
        self.start_supervisor(max_restarts, max_seconds)

    def start_supervisor(self, max_restarts: int, max_seconds: float) -> None:
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self.restarts: list[float] = []
        self.sup = supervisor.start_link(
            [{"id": id, "start": Child.start_link} for id in ("a", "b")],
            max_restarts=max_restarts,
            max_seconds=max_seconds,
        )
        self.alive = True

    def pids(self) -> dict[str, Pid | None]:
        assert self.sup is not None
        return {id: pid for id, pid, _, _ in supervisor.which_children(self.sup)}

    @precondition(lambda self: self.alive)
    @rule(dt=st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0]))
    def tick(self, dt: float) -> None:
        self.clock.now += dt

    @precondition(lambda self: self.alive)
    @rule(id=st.sampled_from(["a", "b"]), how=st.sampled_from(["kill", "boom", "normal"]))
    def child_exits(self, id: str, how: str) -> None:
        assert self.sup is not None
        before = self.pids()
        victim = before[id]
        assert victim is not None
        if how == "kill":
            process.exit(victim, "kill")
        else:
            gen_server.cast(victim, ("stop", how))
            victim.join(5.0)
        # Erlang's rule
        now = self.clock.now
        self.restarts = [now] + [t for t in self.restarts if now <= t + self.max_seconds]
        if len(self.restarts) > self.max_restarts:
            assert self.sup.join(5.0) == "shutdown"
            self.alive = False
            for pid in before.values():
                assert pid is not None and not pid.is_alive()
        else:
            after = self.pids()
            assert after[id] is not None and after[id] is not victim
            assert after[id].is_alive()  # type: ignore[union-attr]
            other = "b" if id == "a" else "a"
            assert after[other] is before[other]
            assert self.sup.is_alive()

    def teardown(self) -> None:
        if self.sup is not None and self.sup.is_alive():
            supervisor.stop(self.sup, timeout=10.0)


def test_restart_intensity_follows_erlangs_rule(clock: FakeClock) -> None:
    run_state_machine_as_test(lambda: Intensity(clock), settings=SETTINGS)
