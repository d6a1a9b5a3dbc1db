"""Review of issue 12: parent.observer.tree and process.info read from another thread."""

from __future__ import annotations

import threading
from typing import Any

import parent
from parent import (
    GenServer,
    _info,
    _observer_page,
    _pool,
    gen_server,
    observer,
    process,
    supervisor,
)
from parent.testing import wait_until


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
