"""Look inside a running server and pause it: Erlang's ``sys`` module.

Each function is a system request: it waits in the server's mailbox like any
message and runs inside the server, between two messages, so it sees a consistent
state. A suspended server keeps its mailbox but handles nothing but system requests
(these four and the supervisor queries), a stop request and its parent's exit signal,
until `resume`; then it handles what it kept, in order.

Example:
    ```python
    counter = parent.Agent.start_link(lambda: 0)
    parent.sys.suspend(counter)
    parent.sys.replace_state(counter, lambda n: n + 10)  # works while suspended
    parent.sys.resume(counter)
    assert parent.sys.get_state(counter) == 10
    ```
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from parent.errors import ProcessError
from parent.gen_server import _sys_call, _target
from parent.process import Server

__all__ = ["get_state", "replace_state", "resume", "suspend"]


def _server(server: Server, what: str) -> Server:
    pid = _target(server)  # NoProcess for a dead or unknown server
    if pid._server is None:
        raise ProcessError(f"parent.sys.{what}: {pid!r} is not a GenServer")
    return pid


def get_state(server: Server, timeout: float | None = 5.0) -> Any:
    """The state of ``server``: an `Agent`'s value, a `GenServer`'s attributes (a
    shallow copy of ``vars(self)``).

    Raises:
        NoProcess: the server is dead or the name unknown.
        ProcessError: the process is not a GenServer.
        CallTimeout: no answer within ``timeout`` (it is busy with a long message).

    Example:
        ```python
        class Counter(GenServer):
            def init(self):
                self.n = 0

            def handle_cast(self, request):
                self.n += 1

        pid = Counter.start_link()
        gen_server.cast(pid, "add")
        assert parent.sys.get_state(pid) == {"n": 1}
        ```
    """
    return _sys_call(_server(server, "get_state"), ("get_state",), timeout)


def replace_state(server: Server, fn: Callable[[Any], Any], timeout: float | None = 5.0) -> Any:
    """Replace the state of ``server`` with ``fn(state)`` and return it. For a
    `GenServer`, ``fn`` takes the dict of its attributes and returns the dict that
    replaces them; for an `Agent`, its value.

    If ``fn`` raises, the exception is raised here and the server is unchanged.

    Raises:
        TypeError: ``fn`` is not callable, or for a GenServer it did not return a dict.
        NoProcess: the server is dead or the name unknown.
        ProcessError: the process is not a GenServer.

    Example:
        ```python
        parent.sys.replace_state(pid, lambda state: {**state, "n": 0})
        assert parent.sys.get_state(pid)["n"] == 0
        ```
    """
    if not callable(fn):
        raise TypeError(f"replace_state needs a function of the state, got {fn!r}")
    return _sys_call(_server(server, "replace_state"), ("replace_state", fn), timeout)


def suspend(server: Server, timeout: float | None = 5.0) -> None:
    """Suspend ``server``: from when this returns, it handles no call, cast or message
    (they stay queued, in order) until `resume`; system requests still work. Suspending
    a suspended server does nothing.

    Example:
        ```python
        parent.sys.suspend(pid)
        gen_server.cast(pid, "add")              # kept until resume
        assert parent.process.info(pid).status == "suspended"
        parent.sys.resume(pid)
        ```
    """
    _sys_call(_server(server, "suspend"), ("suspend",), timeout)


def resume(server: Server, timeout: float | None = 5.0) -> None:
    """Resume a suspended ``server``: it handles what it kept, in order, then its
    mailbox. Resuming a server that is not suspended does nothing.

    Example:
        ```python
        parent.sys.resume(pid)
        ```
    """
    _sys_call(_server(server, "resume"), ("resume",), timeout)
