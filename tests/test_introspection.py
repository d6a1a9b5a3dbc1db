"""process.list, process.info and parent.observer.tree / format_tree."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import parent
from genregistry import GenRegistry
from parent import (
    GenServer,
    NoProcess,
    _info,
    _observer_page,
    _pool,
    gen_server,
    observer,
    process,
    supervisor,
)
from parent.testing import wait_until


class Gate(GenServer):
    """Runs each callback until the test opens ``gate`` (when it was told to block)."""

    def init(self, gate: threading.Event | None = None, block_init: bool = False) -> Any:
        self.gate = gate
        self.seen: list[Any] = []
        if block_init and gate is not None:
            gate.wait()
        return None

    def handle_call(self, request: Any, from_: Any) -> Any:
        if request == "thread":
            return threading.get_native_id()
        if request == "block" and self.gate is not None:
            self.gate.wait()
        if request == "continue":
            return parent.Continue("go", reply="ok")
        if request == "hibernate":
            return parent.Hibernate(reply="ok")
        self.seen.append(request)
        return len(self.seen)

    def handle_cast(self, request: Any) -> None:
        if request == "block" and self.gate is not None:
            self.gate.wait()
        self.seen.append(request)

    def handle_info(self, message: Any) -> None:
        if message == "block" and self.gate is not None:
            self.gate.wait()

    def handle_continue(self, arg: Any) -> None:
        if self.gate is not None:
            self.gate.wait()


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # whatever failed, nothing stays blocked


def _snapshot(pid: parent.Pid) -> parent.ProcessInfo:
    info = process.info(pid)
    assert info is not None
    return info


# -- process.list / process.info ----------------------------------------------------


def test_list_has_the_live_processes_only() -> None:
    a = Gate.start_link()
    b = Gate.start_link()
    assert {a, b} <= set(process.list())
    gen_server.stop(a)
    assert a not in process.list()
    assert b in process.list()
    gen_server.stop(b)


def test_info_of_a_waiting_server(probes: Any) -> None:
    before = time.time()
    pid = Gate.start_link(name="introspected")
    after = time.time()
    watcher = probes()
    watcher.run(lambda: process.monitor(pid))
    assert wait_until(lambda: _snapshot(pid).monitored_by == (watcher.pid,))
    info = _snapshot(pid)
    assert info.pid is pid
    assert info.names == ("introspected",)
    assert info.behaviour is Gate
    assert info.status == "waiting"
    assert info.current is None
    assert info.mailbox == 0
    assert info.handled == 0
    assert info.links == () and info.parent is None  # started from a plain thread
    assert info.monitors == ()
    assert info.trap_exits is False
    assert before <= info.started_at <= after
    assert info.thread == gen_server.call(pid, "thread")
    assert _snapshot(watcher.pid).monitors == (pid,)
    gen_server.stop(pid)
    assert process.info(pid) is None


def test_info_counts_handled_messages_including_a_burst_still_running(
    gate: threading.Event,
) -> None:
    pid = Gate.start_link(gate)
    for i in range(5):
        gen_server.call(pid, i)
    assert _snapshot(pid).handled == 5
    # a backlog: the server takes 50 casts without waiting, then blocks in the last one
    gate.clear()
    for i in range(50):
        gen_server.cast(pid, i)
    gen_server.cast(pid, "block")
    for i in range(3):
        gen_server.cast(pid, ("queued", i))
    assert wait_until(lambda: _snapshot(pid).current == "handle_cast", timeout=5.0)
    info = _snapshot(pid)
    assert info.status == "running"
    assert info.handled == 5 + 51  # read live from the loop, not the last published count
    assert info.mailbox == 3
    gate.set()
    assert gen_server.call(pid, "last") == 5 + 50 + 1 + 3 + 1
    assert _snapshot(pid).handled == 5 + 51 + 3 + 1
    gen_server.stop(pid)


@pytest.mark.parametrize(
    ("send", "callback"),
    [
        (lambda pid: gen_server.cast(pid, "block"), "handle_cast"),
        (lambda pid: process.send(pid, "block"), "handle_info"),
        (
            lambda pid: threading.Thread(target=gen_server.call, args=(pid, "block")).start(),
            "handle_call",
        ),
        (
            lambda pid: threading.Thread(target=gen_server.call, args=(pid, "continue")).start(),
            "handle_continue",
        ),
    ],
)
def test_info_names_the_callback_being_run(send: Any, callback: str, gate: threading.Event) -> None:
    pid = Gate.start_link(gate)
    send(pid)
    assert wait_until(lambda: _snapshot(pid).current == callback, timeout=5.0)
    assert _snapshot(pid).status == "running"
    gate.set()
    assert wait_until(lambda: _snapshot(pid).status == "waiting", timeout=5.0)
    assert _snapshot(pid).current is None
    gen_server.stop(pid)


def test_info_during_init_and_terminate(gate: threading.Event) -> None:
    class SlowStop(GenServer):
        def init(self, ready: threading.Event) -> None:
            process.trap_exits(True)
            self.ready = ready

        def terminate(self, reason: Any) -> None:
            self.ready.wait()

    starter = threading.Thread(target=lambda: Gate.start_link(gate, True, name="booting"))
    starter.start()
    assert wait_until(lambda: process.whereis("booting") is not None, timeout=5.0)
    booting = process.whereis("booting")
    assert booting is not None
    assert wait_until(lambda: _snapshot(booting).current == "init", timeout=5.0)
    gate.set()
    starter.join()
    gen_server.stop(booting)

    release = threading.Event()
    pid = SlowStop.start_link(release)
    stopper = threading.Thread(target=gen_server.stop, args=(pid,))
    stopper.start()
    assert wait_until(lambda: _snapshot(pid).current == "terminate", timeout=5.0)
    release.set()
    stopper.join()


def test_info_of_a_hibernating_server_keeps_its_count() -> None:
    pid = Gate.start_link()
    gen_server.call(pid, "a")
    assert gen_server.call(pid, "hibernate") == "ok"
    assert wait_until(lambda: _snapshot(pid).status == "hibernating")
    info = _snapshot(pid)
    assert info.thread is None
    assert info.handled == 2
    gen_server.call(pid, "b")  # wakes it
    assert _snapshot(pid).handled == 3
    gen_server.stop(pid)


def test_info_of_a_bare_process() -> None:
    got = threading.Event()

    def body() -> None:
        process.receive()
        got.set()
        process.receive()

    pid = process.spawn(body)
    assert wait_until(lambda: _snapshot(pid).status == "waiting")
    info = _snapshot(pid)
    assert info.behaviour is None and info.current is None and info.handled == 0
    process.send(pid, "one")
    assert got.wait(5.0)
    assert wait_until(lambda: _snapshot(pid).handled == 1)
    process.exit(pid, "kill")


def test_info_of_a_supervised_child_names_its_parent_and_links() -> None:
    sup = supervisor.start_link([Gate.child_spec()])
    [(_, child, _, _)] = supervisor.which_children(sup)
    assert child is not None
    info = _snapshot(child)
    assert info.parent is sup and info.links == (sup,)
    assert _snapshot(sup).trap_exits is True and child in _snapshot(sup).links
    supervisor.stop(sup)


def test_info_refuses_what_is_not_a_pid() -> None:
    with pytest.raises(TypeError, match="'worker'"):
        process.info("worker")  # type: ignore[arg-type]


def test_info_never_fails_on_processes_dying_under_it() -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def observe() -> None:
        while not stop.is_set():
            try:
                for p in process.list():
                    process.info(p)
                observer.format_tree()
            except BaseException as exc:
                errors.append(exc)
                return

    watcher = threading.Thread(target=observe)
    watcher.start()
    try:
        for _ in range(200):
            pids = [Gate.start_link() for _ in range(5)]
            for p in pids:
                gen_server.cast(p, "x")
            for p in pids:
                process.exit(p, "kill")
    finally:
        stop.set()
        watcher.join()
    assert errors == []


# -- observer.tree / format_tree ------------------------------------------------------


def test_tree_puts_every_top_process_under_the_synthetic_root() -> None:
    loose = Gate.start_link()
    sup = supervisor.start_link(
        [
            {"id": "first", "start": (Gate.start_link, [])},
            {"id": ("second", 2), "start": (Gate.start_link, [])},
        ],
        name="app",
    )
    root = observer.tree()
    assert root.pid is None and root.info is None
    tops = {n.pid: n for n in root.children}
    assert loose in tops and sup in tops
    app = tops[sup]
    assert app.label == "app (Supervisor)"
    assert [c.child_id for c in app.children] == ["first", ("second", 2)]
    assert [c.label for c in app.children] == ["first (Gate)", "('second', 2) (Gate)"]
    assert all(c.info is not None and c.info.parent is sup for c in app.children)
    assert observer.tree("app").pid is sup
    supervisor.stop(sup)
    gen_server.stop(loose)


def test_tree_counts_a_supervisors_restarts() -> None:
    sup = supervisor.start_link([{"id": "w", "start": (Gate.start_link, [])}], max_restarts=10)
    for n in range(2):
        (child,) = [pid for _, pid, _, _ in supervisor.which_children(sup)]
        assert child is not None
        process.exit(child, "kill")
        assert wait_until(
            lambda n=n: [c.restarts for c in observer.tree(sup).children] == [n + 1], timeout=5.0
        )
    supervisor.stop(sup)


def test_a_registry_shows_a_count_and_a_sample_not_every_worker() -> None:
    sup = supervisor.start_link([GenRegistry.child_spec(worker_module=Gate, name="many")])
    for i in range(300):
        GenRegistry.lookup_or_start("many", i)
    (reg,) = observer.tree(sup).children
    assert reg.count == 300
    assert reg.children == ()
    assert 1 <= len(reg.sample) <= 5
    for worker in reg.sample:
        assert worker.info is not None and worker.info.behaviour is Gate
        assert GenRegistry.lookup("many", worker.child_id) is worker.pid
    text = observer.format_tree(sup)
    assert "300 workers" in text and f"… {300 - len(reg.sample)} more workers" in text
    assert len(text.splitlines()) < 10
    whole = observer.format_tree()
    assert len(whole.splitlines()) < 12  # the 300 workers are not listed at the top
    supervisor.stop(sup)


def test_tree_of_a_dead_or_unknown_root_raises() -> None:
    pid = Gate.start_link()
    gen_server.stop(pid)
    with pytest.raises(NoProcess, match=repr(pid).replace("<", ".").replace(">", ".")):
        observer.tree(pid)
    with pytest.raises(NoProcess, match="nobody"):
        observer.tree("nobody")


def test_format_tree_draws_the_tree() -> None:
    sup = supervisor.start_link(
        [
            {"id": "a", "start": (Gate.start_link, [])},
            {"id": "b", "start": (parent.Agent.start_link, [dict])},
        ],
        name="drawn",
    )
    lines = observer.format_tree(sup).splitlines()
    assert lines[0].startswith(f"drawn (Supervisor)  {sup!r}  waiting")
    assert lines[1].startswith("├─ a (Gate)  <Pid ")
    assert lines[2].startswith("└─ b (Agent)  <Pid ")
    supervisor.stop(sup)


def test_to_dict_is_json_with_names_as_text() -> None:
    pid = Gate.start_link(name=("odd", "<script>"))
    doc = json.loads(json.dumps(observer.tree().to_dict()))
    (node,) = [n for n in doc["children"] if n["pid"] == repr(pid)]
    assert node["names"] == ["('odd', '<script>')"]
    assert node["behaviour"] == "Gate" and node["status"] == "waiting"
    assert node["pid"] == repr(pid) and node["children"] == [] and node["count"] is None
    gen_server.stop(pid)


# -- found in review ---------------------------------------------------------------------


class Busy(GenServer):
    def init(self) -> None:
        self.n = 0

    def handle_call(self, request: Any, from_: Any) -> Any:
        return self.n

    def handle_cast(self, request: Any) -> None:
        sum(range(300))
        self.n += 1


def test_handled_never_goes_back_while_a_backlog_drains() -> None:
    """The loop's inlined backlog take raises ``pid._parked`` (for kill safety) and does
    not publish ``pid._handled``; `info` then says "waiting" and reads the count
    published before the burst: ``handled`` falls from thousands back to 1 (and the page
    shows "waiting, mailbox 40000")."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch often, so that the take is seen often
    pid = Busy.start_link()
    try:
        gen_server.call(pid, "sync")
        for i in range(30_000):
            gen_server.cast(pid, i)
        drops: list[tuple[int, int, str]] = []
        last = 0
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            info = process.info(pid)
            assert info is not None
            if info.handled < last:
                drops.append((last, info.handled, info.status))
            last = max(last, info.handled)
            if info.mailbox == 0:
                break
        assert drops == [], f"{len(drops)} reads went back, e.g. {drops[:3]}"
    finally:
        sys.setswitchinterval(old)
        gen_server.stop(pid)


class SlowInit(parent.Supervisor):
    """A module-based supervisor whose init waits (reading its config, say)."""

    def init(self, entered: threading.Event, release: threading.Event) -> Any:
        entered.set()
        release.wait(5.0)
        return supervisor.init([])


def test_tree_while_a_supervisor_runs_its_init() -> None:
    """`Parent._observe` reads ``self._restarted()``, and a Supervisor's ``_restarts`` is
    only set after its ``init`` has returned: observing a starting supervisor raises
    AttributeError (the live page's /api/tree too)."""
    entered = threading.Event()
    release = threading.Event()
    started: list[Any] = []
    t = threading.Thread(target=lambda: started.append(SlowInit.start_link(entered, release)))
    t.start()
    try:
        assert entered.wait(5.0)
        root = observer.tree()  # AttributeError: 'SlowInit' object has no attribute '_restarts'
        assert any(n.info is not None and n.info.behaviour is SlowInit for n in root.children)
        observer.format_tree()
    finally:
        release.set()
        t.join(5.0)
        for sup in started:
            supervisor.stop(sup)


def _chain(depth: int, ready: threading.Event) -> None:
    if depth:
        process.spawn(_chain, depth - 1, ready, link=True)
    else:
        ready.set()
    process.receive()


def test_tree_of_a_deep_chain_of_processes() -> None:
    """`_Builder.node`, `Node.to_dict` and `_lines` recurse once per level: a tree deeper
    than the recursion limit (a task that starts a task that starts a task...) makes
    `tree`, `format_tree` and the page raise RecursionError."""
    ready = threading.Event()
    top = process.spawn(_chain, 1200, ready)
    try:
        assert ready.wait(30.0)
        node = observer.tree(top)
        depth = 0
        while node.children:
            (node,) = node.children
            depth += 1
        assert depth == 1200
        assert observer.format_tree(top).count("\n") == 1200
        assert observer.tree(top).to_dict()["pid"] == repr(top)
        body = _observer_page._tree_json()  # /api/tree (json.loads itself recurses)
        assert body.count(b'"pid":"<Pid') >= 1201
    finally:
        process.exit(top, "kill")  # the kill follows the links down the chain
        assert wait_until(lambda: len(process.list()) == 0, timeout=30.0)


class Blocker(GenServer):
    def init(self, gate: threading.Event) -> None:
        self.gate = gate

    def handle_call(self, request: Any, from_: Any) -> Any:
        if request == "block":
            self.gate.wait(5.0)
            return parent.Hibernate(reply="ok")  # gives its thread back to the pool
        return None

    def handle_cast(self, request: Any) -> None:
        if request == "block":
            self.gate.wait(5.0)


def test_info_with_a_shared_stack_snapshot_after_the_thread_changed_hands() -> None:
    """`observer.tree` shares one `Frames` snapshot for the whole walk. When a runtime
    thread moves from one process to another during the walk (hibernation hands it to
    the next process woken), the later process's info is read from the earlier one's
    stack: its ``current`` and ``handled`` are another process's."""
    gate_b, gate_a = threading.Event(), threading.Event()
    b = Blocker.start_link(gate_b)
    a = Blocker.start_link(gate_a, hibernate_after=0.0)
    try:
        for _ in range(50):
            gen_server.cast(b, "x")
        assert wait_until(lambda: (i := process.info(a)) is not None and i.status == "hibernating")
        # no parked runtime thread but the one b gives back: a is woken on that one
        assert wait_until(lambda: _pool._idle == 0, timeout=5.0)
        caller = threading.Thread(target=gen_server.call, args=(b, "block"))
        caller.start()
        assert wait_until(lambda: (i := process.info(b)) is not None and i.current == "handle_call")
        frames = _info.Frames()
        seen_b = _info.info(b, frames)  # the snapshot: b's thread runs handle_call
        assert seen_b is not None and seen_b.thread is not None
        thread_of_b = b._ident
        gate_b.set()
        caller.join(5.0)
        assert wait_until(lambda: (i := process.info(b)) is not None and i.status == "hibernating")
        gen_server.cast(a, "block")  # a wakes on a parked thread: often b's old one
        assert wait_until(lambda: (i := process.info(a)) is not None and i.current == "handle_cast")
        assert a._ident == thread_of_b  # the thread b gave back
        seen_a = _info.info(a, frames)
        assert seen_a is not None
        assert seen_a.current in (None, "handle_cast"), seen_a
        assert seen_a.handled <= 1, seen_a
    finally:
        gate_a.set()
        gate_b.set()
        for p in (a, b):
            if p.is_alive():
                gen_server.stop(p)
