"""What the Ray suite runs inside Ray's processes: a registry worker, a ledger actor the
workers report to, and a task and an actor that use a `RemotePid` they were handed.

Ray pickles these by reference (module ``workers``), so every Ray worker process must be
able to import this module: the suite's conftest puts this directory on ``PYTHONPATH``
before it starts a cluster, and every process the cluster starts inherits it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Hashable
from typing import Any

import ray

import parent
from parent import GenServer, Pid, Stop, gen_server

LedgerRef = tuple[str, str]  # (actor name, namespace)


class _Ledger:
    """Where workers report: every activation (id, token), and marks a test waits on."""

    def __init__(self) -> None:
        self._activations: list[tuple[Hashable, str]] = []
        self._marks: set[str] = set()
        self._changed = threading.Condition()

    def activated(self, id: Hashable, token: str) -> None:
        with self._changed:
            self._activations.append((id, token))

    def activations(self) -> list[tuple[Hashable, str]]:
        with self._changed:
            return list(self._activations)

    def mark(self, what: str) -> None:
        with self._changed:
            self._marks.add(what)
            self._changed.notify_all()

    def wait(self, what: str, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: what in self._marks, timeout)


Ledger: Any = ray.remote(num_cpus=0, max_concurrency=16)(_Ledger)


def ledger(ref: LedgerRef) -> Any:
    name, namespace = ref
    return ray.get_actor(name, namespace=namespace)


class Counter(GenServer):
    """A registry worker holding a count. Each activation draws a token (reported to the
    ledger when it is given one); ``"invalid"`` as the id refuses to start."""

    def init(self, id: Hashable, ledger_ref: LedgerRef | None = None) -> None:
        if id == "invalid":
            raise Stop("invalid")
        self.id = id
        self.count = 0
        self.token = uuid.uuid4().hex
        self.log: list[Any] = []
        if ledger_ref is not None:
            ray.get(ledger(ledger_ref).activated.remote(id, self.token))

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        if request == "get":
            return self.count
        if request == "token":
            return self.token
        if request == "log":
            return list(self.log)
        if request == "node":  # the node this shard's process runs on
            return ray.get_runtime_context().get_node_id()
        if request == "crash":
            raise RuntimeError("crash requested")
        tag, *rest = request
        if tag == "add":
            self.count += rest[0]
            return self.count
        if tag == "sleep":  # a slow request: the work itself takes this long
            time.sleep(rest[0])
            return "slept"
        if tag == "block":  # a slow request that says when it has begun
            seconds, ledger_ref = rest
            ray.get(ledger(ledger_ref).mark.remote(f"entered {self.id}"))
            time.sleep(seconds)
            return "unblocked"
        raise ValueError(request)

    def handle_cast(self, request: Any) -> None:
        tag, n = request
        if tag == "add":
            self.count += n
        elif tag == "log":  # casts in the order they arrived
            self.log.append(n)


def _call_in_task(pid: Pid, request: Any) -> tuple[Any, bool]:
    """Call ``pid`` from a Ray task: the reply and whether it is alive."""
    return gen_server.call(pid, request), pid.is_alive()


call_in_task: Any = ray.remote(num_cpus=0)(_call_in_task)


class _Caller:
    """An actor that calls and casts to pids it is handed."""

    def call(self, pid: Pid, request: Any) -> Any:
        return gen_server.call(pid, request)

    def cast(self, pid: Pid, request: Any) -> None:
        gen_server.cast(pid, request)


Caller: Any = ray.remote(num_cpus=0)(_Caller)
