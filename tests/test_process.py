"""Tests of the process runtime (API.md, "parent: processes"): pids, send, exit signals,
links, monitors, trap_exits, names, current(), and kills of busy or blocked processes."""

from __future__ import annotations

import contextlib
import functools
import linecache
import queue
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from probes import ProbeHandle, wait_for

import parent
from parent import Down, Exit, GenServer, NoProcess, NotFound, Pid, gen_server, process

pytestmark = pytest.mark.timeout(30)

# helpers: tests/probes.py; the `probes` fixture is in tests/conftest.py


def spawn_waiting() -> tuple[Pid, Callable[[], None]]:
    """A plain process that waits for one message and exits "normal" on it; the second
    value ends it."""
    pid = process.spawn(process.receive)
    return pid, lambda: process.send(pid, "stop")


def spawn_blocked_in_c(blocker: Callable[[], Any]) -> tuple[Pid, threading.Thread]:
    """Spawn a process whose last statement is the C call ``blocker()``; return once its
    thread is inside that call (its top frame sits on that line while another thread
    holds the GIL, which only a C call that released the GIL allows)."""
    info: dict[str, threading.Thread] = {}

    def body() -> None:
        info["thread"] = threading.current_thread()
        blocker()

    pid = process.spawn(body)
    last_line = max(line for _, _, line in body.__code__.co_lines() if line is not None)

    def blocked() -> bool:
        thread = info.get("thread")
        frame = sys._current_frames().get(thread.ident) if thread and thread.ident else None
        return frame is not None and frame.f_code is body.__code__ and frame.f_lineno == last_line

    assert wait_for(blocked), "the process never blocked"
    return pid, info["thread"]


# -- Pid ---------------------------------------------------------------------------------


def test_pid_is_hashable_and_equal_only_to_itself() -> None:
    a, stop_a = spawn_waiting()
    b, stop_b = spawn_waiting()
    try:
        assert a == a and a != b
        others: list[object] = [repr(a), a._id, None, object()]
        assert all(a != other for other in others)
        table = {a: "a", b: "b"}
        assert table[a] == "a" and table[b] == "b"
        assert len({a, a, b}) == 2
        assert hash(a) == hash(a)
    finally:
        stop_a()
        stop_b()
    assert a.join(2) == "normal" and b.join(2) == "normal"
    assert a == a and a != b  # still so when dead


class ExampleWorker(GenServer):
    pass


def test_pid_repr_names_the_process() -> None:
    a = ExampleWorker.start()
    b = ExampleWorker.start()
    try:
        assert re.fullmatch(r"<Pid \d+ ExampleWorker>", repr(a))
        assert repr(a) != repr(b)
        assert str(a) == repr(a)
    finally:
        gen_server.stop(a)
        gen_server.stop(b)


def test_is_alive_and_join() -> None:
    pid, stop = spawn_waiting()
    assert pid.is_alive()
    with pytest.raises(TimeoutError):
        pid.join(timeout=0.05)
    with pytest.raises(TimeoutError):
        pid.join(timeout=0)
    assert pid.is_alive()
    stop()
    assert pid.join(timeout=2.0) == "normal"
    assert not pid.is_alive()
    assert pid.join() == "normal"  # a dead process answers at once, every time
    assert pid.join(timeout=0) == "normal"


def test_join_returns_the_exception_that_crashed_the_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    error = ValueError("boom")

    def crash() -> None:
        raise error

    pid = process.spawn(crash)
    assert pid.join(timeout=2.0) is error
    assert not pid.is_alive()


def test_join_without_timeout_waits_for_the_death() -> None:
    pid, stop = spawn_waiting()
    threading.Timer(0.05, stop).start()
    assert pid.join() == "normal"


def _blocked_in_join(thread: threading.Thread) -> bool:
    """``thread`` waits inside ``Pid.join``, in the C call that blocks."""
    top = frame = sys._current_frames().get(thread.ident or 0)
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    if top is None or "join" not in names:
        return False
    return "acquire(" in linecache.getline(top.f_code.co_filename, top.f_lineno)


def test_join_wakes_every_joiner_even_if_one_is_killed_while_waiting() -> None:
    target, stop = spawn_waiting()
    threads: list[threading.Thread] = []

    def joiner() -> None:
        threads.append(threading.current_thread())
        target.join()

    killed_joiner = process.spawn(joiner)
    assert wait_for(lambda: threads and _blocked_in_join(threads[0]))
    results: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def other_joiner() -> None:
        try:
            results.put(target.join(timeout=2.0))
        except TimeoutError as exc:
            results.put(exc)

    other = threading.Thread(target=other_joiner)
    other.start()
    assert wait_for(lambda: _blocked_in_join(other))
    process.exit(killed_joiner, "kill")  # pending until its join wakes up
    stop()
    other.join()
    assert results.get_nowait() == "normal"
    threads[0].join(2.0)
    assert target.join(0) == "normal"


# -- current -------------------------------------------------------------------------------


def test_current_is_none_in_a_plain_thread() -> None:
    assert process.current() is None
    seen: queue.SimpleQueue[Any] = queue.SimpleQueue()
    t = threading.Thread(target=lambda: seen.put(process.current()))
    t.start()
    t.join()
    assert seen.get_nowait() is None


def test_current_is_the_pid_inside_a_process(probes: Callable[..., ProbeHandle]) -> None:
    seen: queue.SimpleQueue[Any] = queue.SimpleQueue()
    pid = process.spawn(lambda: seen.put(process.current()))
    assert seen.get(timeout=2.0) is pid
    assert pid.join(2.0) == "normal"
    probe = probes()
    assert probe.run(process.current) is probe.pid
    assert process.current() is None  # the caller is still a plain thread


# -- send ----------------------------------------------------------------------------------


def test_send_to_dead_or_unknown_targets_does_not_raise() -> None:
    pid, stop = spawn_waiting()
    stop()
    pid.join(2.0)
    process.send(pid, "to a dead pid")
    process.send("nobody-has-this-name", "to an unknown name")
    process.send(("a", "tuple", "name"), "to an unknown name")


def test_send_by_name_and_by_pid_delivers(probes: Callable[..., ProbeHandle]) -> None:
    probe = probes()
    process.register("send-target", probe.pid)
    process.send("send-target", "by name")
    process.send(probe.pid, "by pid")
    assert probe.next() == "by name"
    assert probe.next() == "by pid"


def test_send_never_blocks_even_when_the_target_does_not_read() -> None:
    go = threading.Event()
    got: queue.SimpleQueue[list[Any]] = queue.SimpleQueue()
    n = 20_000

    def slow_reader() -> None:
        go.wait()
        got.put([process.receive() for _ in range(n)])

    pid = process.spawn(slow_reader)
    try:
        for i in range(n):  # the reader is not reading: every send must still return
            process.send(pid, i)
    finally:
        go.set()
    assert got.get(timeout=5.0) == list(range(n))
    assert pid.join(2.0) == "normal"


# -- exit signals ----------------------------------------------------------------------


def test_kill_cannot_be_trapped(probes: Callable[..., ProbeHandle]) -> None:
    probe = probes(trap=True)
    process.exit(probe.pid, "kill")
    assert not probe.pid.is_alive()  # dead when exit() returns
    assert probe.pid.join(2.0) == "killed"
    assert probe.inbox.empty()


def test_a_trapping_process_receives_exit_signals_as_messages(
    probes: Callable[..., ProbeHandle],
) -> None:
    target = probes(trap=True)
    sender = probes()
    for reason in ["normal", "shutdown", ("custom", 1), ValueError("x")]:
        process.exit(target.pid, reason)  # from a plain thread: pid None
        msg = target.next()
        assert type(msg) is Exit and msg == Exit(None, reason)
        assert msg.pid is None and msg.reason is reason
    sender.run(lambda: process.exit(target.pid, "from a process"))
    msg = target.next()
    assert msg.pid is sender.pid and msg.reason == "from a process"
    assert target.pid.is_alive()


def test_a_non_trapping_process_ignores_normal(probes: Callable[..., ProbeHandle]) -> None:
    target = probes()
    sender = probes()
    process.exit(target.pid, "normal")
    sender.run(lambda: process.exit(target.pid, "normal"))
    assert target.run(lambda: "still here") == "still here"
    assert target.pid.is_alive()
    target.assert_no_more_messages()


@pytest.mark.parametrize("reason", ["shutdown", ("shutdown", "x"), "custom", ValueError("v")])
def test_a_non_trapping_process_dies_with_the_reason(
    probes: Callable[..., ProbeHandle], reason: Any
) -> None:
    target = probes()
    process.exit(target.pid, reason)
    assert not target.pid.is_alive()
    assert target.pid.join(2.0) is reason


def test_exit_to_a_dead_process_does_nothing() -> None:
    pid, stop = spawn_waiting()
    stop()
    assert pid.join(2.0) == "normal"
    process.exit(pid, "kill")
    process.exit(pid, "other")
    assert pid.join(0) == "normal"


# -- links -----------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["a dies", "b dies"])
def test_links_are_both_ways(probes: Callable[..., ProbeHandle], direction: str) -> None:
    a, b = probes(), probes()
    a.run(lambda: process.link(b.pid))
    dying, other = (a, b) if direction == "a dies" else (b, a)
    process.exit(dying.pid, "boom")
    assert dying.pid.join(2.0) == "boom"
    assert other.pid.join(2.0) == "boom"


def test_kill_reaches_linked_processes_as_killed(probes: Callable[..., ProbeHandle]) -> None:
    a, b, watcher = probes(), probes(), probes(trap=True)
    a.run(lambda: process.link(b.pid))
    watcher.run(lambda: process.link(b.pid))
    process.exit(a.pid, "kill")
    assert a.pid.join(2.0) == "killed"
    assert b.pid.join(2.0) == "killed"
    assert watcher.next() == Exit(b.pid, "killed")


def test_exit_signals_propagate_along_a_chain_of_links(
    probes: Callable[..., ProbeHandle],
) -> None:
    a, b, c = probes(), probes(), probes()
    a.run(lambda: process.link(b.pid))
    b.run(lambda: process.link(c.pid))
    process.exit(c.pid, "boom")
    assert [p.pid.join(2.0) for p in (a, b, c)] == ["boom"] * 3


@pytest.mark.parametrize("reason", ["normal", "shutdown", "boom"])
def test_a_trapping_linked_process_gets_exit_messages(
    probes: Callable[..., ProbeHandle], reason: str
) -> None:
    watcher = probes(trap=True)
    gate = threading.Event()

    def task() -> None:
        gate.wait()
        if reason != "normal":
            process.exit(process.current(), reason)  # type: ignore[arg-type]

    pid = watcher.run(lambda: parent.Task.start_link(task))
    gate.set()
    assert pid.join(2.0) == reason
    assert watcher.next() == Exit(pid, reason)
    assert watcher.pid.is_alive()


def test_a_non_trapping_linked_process_survives_a_normal_exit(
    probes: Callable[..., ProbeHandle],
) -> None:
    watcher = probes()
    gate = threading.Event()
    pid = watcher.run(lambda: parent.Task.start_link(gate.wait))
    gate.set()
    assert pid.join(2.0) == "normal"
    assert watcher.run(lambda: "alive") == "alive"
    watcher.assert_no_more_messages()


def test_a_non_trapping_linked_process_dies_with_a_crash(
    probes: Callable[..., ProbeHandle], caplog: pytest.LogCaptureFixture
) -> None:
    watcher = probes()
    gate = threading.Event()
    error = RuntimeError("task crashed")

    def task() -> None:
        gate.wait()
        raise error

    pid = watcher.run(lambda: parent.Task.start_link(task))
    gate.set()
    assert pid.join(2.0) is error
    assert watcher.pid.join(2.0) is error


def test_link_to_a_dead_pid_from_a_trapping_process_sends_noproc(
    probes: Callable[..., ProbeHandle],
) -> None:
    pid, stop = spawn_waiting()
    stop()
    pid.join(2.0)
    watcher = probes(trap=True)
    watcher.run(lambda: process.link(pid))
    assert watcher.next() == Exit(pid, "noproc")
    assert watcher.pid.is_alive()


def test_link_to_a_dead_pid_from_a_non_trapping_process_raises(
    probes: Callable[..., ProbeHandle],
) -> None:
    pid, stop = spawn_waiting()
    stop()
    pid.join(2.0)
    caller = probes()
    with pytest.raises(NoProcess):
        caller.run(lambda: process.link(pid))
    assert caller.pid.is_alive()
    caller.assert_no_more_messages()


@pytest.mark.parametrize("unlinker", ["a", "b"])
def test_unlink_removes_the_link_both_ways(
    probes: Callable[..., ProbeHandle], unlinker: str
) -> None:
    a, b = probes(), probes()
    a.run(lambda: process.link(b.pid))
    if unlinker == "a":
        a.run(lambda: process.unlink(b.pid))
    else:
        b.run(lambda: process.unlink(a.pid))
    process.exit(a.pid, "boom")
    assert a.pid.join(2.0) == "boom"
    assert b.run(lambda: "alive") == "alive"
    c = probes()
    b.run(lambda: process.link(c.pid))
    b.run(lambda: process.unlink(c.pid))
    process.exit(b.pid, "boom")
    assert b.pid.join(2.0) == "boom"
    assert c.run(lambda: "alive") == "alive"


def test_unlink_of_a_process_not_linked_does_nothing(
    probes: Callable[..., ProbeHandle],
) -> None:
    a, b = probes(), probes()
    a.run(lambda: process.unlink(b.pid))
    assert a.pid.is_alive() and b.pid.is_alive()


# -- monitors --------------------------------------------------------------------------


def test_down_is_delivered_exactly_once(probes: Callable[..., ProbeHandle]) -> None:
    watcher = probes()
    target = probes()
    ref = watcher.run(lambda: process.monitor(target.pid))
    assert type(ref) is parent.Ref
    process.exit(target.pid, "gone")
    msg = watcher.next()
    assert type(msg) is Down
    assert msg.ref is ref and msg.pid is target.pid and msg.reason == "gone"
    assert msg == Down(ref, target.pid, "gone")
    watcher.assert_no_more_messages()  # once only
    assert watcher.pid.is_alive()  # a monitor is not a link


def test_each_monitor_gets_its_own_down(probes: Callable[..., ProbeHandle]) -> None:
    watcher = probes()
    pid, stop = spawn_waiting()
    ref1 = watcher.run(lambda: process.monitor(pid))
    ref2 = watcher.run(lambda: process.monitor(pid))
    assert ref1 != ref2
    stop()
    downs = [watcher.next(), watcher.next()]
    assert {d.ref for d in downs} == {ref1, ref2}
    assert all(d.pid is pid and d.reason == "normal" for d in downs)
    watcher.assert_no_more_messages()


def test_monitoring_a_dead_pid_delivers_noproc(probes: Callable[..., ProbeHandle]) -> None:
    pid, stop = spawn_waiting()
    stop()
    pid.join(2.0)
    watcher = probes()
    ref = watcher.run(lambda: process.monitor(pid))
    assert watcher.next() == Down(ref, pid, "noproc")
    watcher.assert_no_more_messages()


def test_demonitor_stops_delivery(probes: Callable[..., ProbeHandle]) -> None:
    watcher = probes()
    target = probes()
    ref = watcher.run(lambda: process.monitor(target.pid))
    assert watcher.run(lambda: process.demonitor(ref)) is None
    process.exit(target.pid, "gone")
    assert target.pid.join(2.0) == "gone"
    watcher.assert_no_more_messages()


# -- trap_exits ------------------------------------------------------------------------


def test_trap_exits_returns_the_old_flag(probes: Callable[..., ProbeHandle]) -> None:
    probe = probes()
    assert probe.run(lambda: process.trap_exits(True)) is False
    assert probe.run(lambda: process.trap_exits(True)) is True
    assert probe.run(lambda: process.trap_exits(False)) is True
    assert probe.run(lambda: process.trap_exits(False)) is False
    process.exit(probe.pid, "untrapped now")
    assert probe.pid.join(2.0) == "untrapped now"


# -- names -----------------------------------------------------------------------------


class SomeName:
    pass


@pytest.mark.parametrize("name", [SomeName, "a string", ("a", "tuple"), 42, frozenset({1})])
def test_register_whereis_unregister(probes: Callable[..., ProbeHandle], name: Any) -> None:
    probe = probes()
    assert process.whereis(name) is None
    process.register(name, probe.pid)
    assert process.whereis(name) is probe.pid
    assert gen_server.call(name, lambda: "by name") == ("ok", "by name")
    process.unregister(name)
    assert process.whereis(name) is None
    assert probe.pid.is_alive()


def test_a_process_may_have_several_names(probes: Callable[..., ProbeHandle]) -> None:
    probe = probes()
    process.register("first", probe.pid)
    process.register("second", probe.pid)
    assert process.whereis("first") is probe.pid is process.whereis("second")


def test_registering_a_taken_name_raises_value_error(
    probes: Callable[..., ProbeHandle],
) -> None:
    a, b = probes(), probes()
    process.register(SomeName, a.pid)
    with pytest.raises(ValueError):
        process.register(SomeName, b.pid)
    with pytest.raises(ValueError):
        process.register(SomeName, a.pid)
    assert process.whereis(SomeName) is a.pid


def test_registering_a_dead_pid_raises_value_error() -> None:
    pid, stop = spawn_waiting()
    stop()
    pid.join(2.0)
    with pytest.raises(ValueError):
        process.register("dead", pid)
    assert process.whereis("dead") is None


def test_unregistering_an_unknown_name_raises_not_found() -> None:
    with pytest.raises(NotFound) as info:
        process.unregister("never-registered")
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, parent.ProcessError)


def test_names_are_freed_when_the_process_dies(probes: Callable[..., ProbeHandle]) -> None:
    a, b = probes(), probes()
    process.register("n1", a.pid)
    process.register(SomeName, a.pid)
    process.exit(a.pid, "boom")
    assert process.whereis("n1") is None and process.whereis(SomeName) is None
    process.register("n1", b.pid)  # free for the next one
    assert process.whereis("n1") is b.pid
    with pytest.raises(NotFound):
        process.unregister(SomeName)


def test_names_are_freed_on_a_normal_exit() -> None:
    pid, stop = spawn_waiting()
    process.register("leaving", pid)
    stop()
    assert pid.join(2.0) == "normal"
    assert process.whereis("leaving") is None


def test_unhashable_names_raise_type_error_mentioning_the_value(
    probes: Callable[..., ProbeHandle],
) -> None:
    probe = probes()
    name: Any = ["unhashable-list-name"]
    calls: list[Callable[[], object]] = [
        lambda: process.register(name, probe.pid),
        lambda: process.whereis(name),
        lambda: process.unregister(name),
    ]
    for fn in calls:
        with pytest.raises(TypeError, match="unhashable-list-name"):
            fn()
    assert probe.pid.is_alive()


# -- kills of busy and blocked processes ---------------------------------------------------


def _assert_released_at_once(
    pid: Pid, name: str, watcher: ProbeHandle, linked: ProbeHandle
) -> None:
    """After a kill: dead, name free, Down and Exit delivered, join answers."""
    assert not pid.is_alive()
    assert process.whereis(name) is None
    assert pid.join(timeout=0) == "killed"
    downs = watcher.next()
    assert type(downs) is Down and downs.pid is pid and downs.reason == "killed"
    assert linked.next() == Exit(pid, "killed")
    process.register(name, watcher.pid)  # the name is reusable at once
    process.unregister(name)


@pytest.mark.parametrize("kind", ["lock", "socket"])
def test_kill_of_a_process_blocked_in_c_releases_everything_at_once(
    probes: Callable[..., ProbeHandle], kind: str
) -> None:
    watcher, linked = probes(), probes(trap=True)
    lock = threading.Lock()
    lock.acquire()
    a, b = socket.socketpair()
    with a, b:
        try:
            blocker = lock.acquire if kind == "lock" else functools.partial(a.recv, 1)
            pid, thread = spawn_blocked_in_c(blocker)
            process.register("blocked", pid)
            watcher.run(lambda: process.monitor(pid))
            linked.run(lambda: process.link(pid))

            process.exit(pid, "kill")

            _assert_released_at_once(pid, "blocked", watcher, linked)
            assert thread.is_alive()  # still blocked: abandoned, not waited for
        finally:
            lock.release()
            b.send(b"x")
        thread.join(timeout=2.0)
        assert not thread.is_alive()  # once unblocked, it ends at the next bytecode
    assert watcher.pid.is_alive() and linked.pid.is_alive()


def test_kill_of_a_process_waiting_on_an_event(probes: Callable[..., ProbeHandle]) -> None:
    watcher, linked = probes(), probes(trap=True)
    ev = threading.Event()
    started = threading.Event()
    threads: list[threading.Thread] = []

    def body() -> None:
        threads.append(threading.current_thread())
        started.set()
        ev.wait()

    pid = process.spawn(body)
    try:
        assert started.wait(2.0)
        process.register("waiting", pid)
        watcher.run(lambda: process.monitor(pid))
        linked.run(lambda: process.link(pid))
        process.exit(pid, "kill")
        _assert_released_at_once(pid, "waiting", watcher, linked)
    finally:
        ev.set()
    threads[0].join(2.0)
    assert not threads[0].is_alive()


def test_kill_of_a_process_in_time_sleep(probes: Callable[..., ProbeHandle]) -> None:
    watcher, linked = probes(), probes(trap=True)
    pid, thread = spawn_blocked_in_c(functools.partial(time.sleep, 0.5))
    process.register("sleeping", pid)
    watcher.run(lambda: process.monitor(pid))
    linked.run(lambda: process.link(pid))
    process.exit(pid, "kill")
    _assert_released_at_once(pid, "sleeping", watcher, linked)
    thread.join(timeout=3.0)
    assert not thread.is_alive()


@pytest.mark.parametrize("catches_exceptions", [False, True])
def test_kill_interrupts_a_busy_python_loop(
    probes: Callable[..., ProbeHandle], catches_exceptions: bool
) -> None:
    watcher = probes()
    counter = [0]
    threads: list[threading.Thread] = []

    def busy() -> None:
        threads.append(threading.current_thread())
        while True:
            if catches_exceptions:
                with contextlib.suppress(Exception):
                    counter[0] += 1
            else:
                counter[0] += 1

    pid = process.spawn(busy)
    assert wait_for(lambda: counter[0] > 1000)
    process.register("busy", pid)
    watcher.run(lambda: process.monitor(pid))
    process.exit(pid, "kill")
    assert not pid.is_alive()
    assert process.whereis("busy") is None
    assert watcher.next().reason == "killed"
    threads[0].join(timeout=2.0)
    assert not threads[0].is_alive()  # the loop was interrupted
    stopped_at = counter[0]
    assert wait_for(lambda: counter[0] != stopped_at, timeout=0.05) is False


def test_kill_wakes_a_process_blocked_on_its_mailbox() -> None:
    threads: list[threading.Thread] = []

    def body() -> None:
        threads.append(threading.current_thread())
        process.receive()

    pid = process.spawn(body)
    assert wait_for(lambda: threads)
    process.exit(pid, "kill")
    threads[0].join(2.0)
    assert not threads[0].is_alive()
    assert pid.join(0) == "killed"


def test_kill_wakes_a_process_blocked_in_a_call(probes: Callable[..., ProbeHandle]) -> None:
    silent = probes()
    gate = threading.Event()
    silent.run(lambda: None)
    threads: list[threading.Thread] = []

    def body() -> None:
        threads.append(threading.current_thread())
        gen_server.call(silent.pid, gate.wait, timeout=None)

    pid = process.spawn(body)
    try:
        assert wait_for(lambda: threads)
        assert wait_for(lambda: pid._waiting is not None)
        process.exit(pid, "kill")
        threads[0].join(2.0)
        assert not threads[0].is_alive()  # did not wait for the server's reply
    finally:
        gate.set()
    assert silent.run(lambda: "ok") == "ok"


# -- message ordering --------------------------------------------------------------------


def _collector(total: int, out: queue.SimpleQueue[list[Any]]) -> None:
    out.put([process.receive() for _ in range(total)])


@settings(deadline=None, max_examples=50)
@given(
    counts=st.lists(st.integers(0, 12), min_size=1, max_size=4),
    kinds=st.lists(st.sampled_from(["thread", "process"]), min_size=4, max_size=4),
)
def test_messages_from_one_sender_arrive_in_send_order(counts: list[int], kinds: list[str]) -> None:
    out: queue.SimpleQueue[list[Any]] = queue.SimpleQueue()
    receiver = process.spawn(_collector, sum(counts), out)
    barrier = threading.Barrier(len(counts))

    def sender(i: int) -> None:
        barrier.wait()
        for k in range(counts[i]):
            process.send(receiver, (i, k))

    threads = []
    senders = []
    for i in range(len(counts)):
        if kinds[i] == "thread":
            t = threading.Thread(target=sender, args=(i,))
            t.start()
            threads.append(t)
        else:
            senders.append(process.spawn(sender, i))
    got = out.get(timeout=10.0)
    for t in threads:
        t.join()
    for p in senders:
        assert p.join(2.0) == "normal"
    assert receiver.join(2.0) == "normal"
    assert sorted(got) == sorted((i, k) for i, n in enumerate(counts) for k in range(n))
    for i, n in enumerate(counts):
        assert [k for s, k in got if s == i] == list(range(n))


@settings(deadline=None, max_examples=50)
@given(schedule=st.lists(st.integers(0, 3), min_size=1, max_size=30))
def test_one_sender_interleaving_names_and_pids_keeps_order(schedule: list[int]) -> None:
    out: queue.SimpleQueue[list[Any]] = queue.SimpleQueue()
    receiver = process.spawn(_collector, len(schedule), out)
    process.register("ordered-receiver", receiver)
    for n, tag in enumerate(schedule):
        target: Any = receiver if n % 2 else "ordered-receiver"
        process.send(target, (tag, n))
    assert out.get(timeout=5.0) == [(tag, n) for n, tag in enumerate(schedule)]
    assert receiver.join(2.0) == "normal"
