"""parent.Client: a Parent's children, queried and changed from outside its process.

A `parent.Parent`'s methods (``self.children()``, ``self.start_child(spec)``, ...)
work only inside the parent's own process. Each `Client` function sends the parent a
system request that runs the same method there, between two of its messages, and
returns its answer (or raises its exception) in the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from compat._types import ChildSpecLike
from parent.errors import ProcessError
from parent.gen_server import _sys_call, _target
from parent.parent import Parent
from parent.process import Pid, Server

__all__ = ["Client"]

T = TypeVar("T")


def _run(
    parent: Server, what: str, fn: Callable[[Parent], T], timeout: float | None, changes: bool
) -> T:
    pid = _target(parent)  # NoProcess for a dead or unknown parent
    server = pid._server
    if not isinstance(server, Parent):
        raise ProcessError(f"parent.Client.{what}: {pid!r} is not a Parent")
    if changes and server._changed_by is not None:
        raise ProcessError(
            f"parent.Client.{what}: {pid!r} is a {type(server).__qualname__}; "
            f"change its children with {server._changed_by}"
        )
    result: T = _sys_call(pid, ("run", fn), timeout)
    return result


class Client:
    """A `parent.Parent`'s children, from any process or thread.

    Example:
        ```python
        class Jobs(parent.Parent):
            pass

        jobs = Jobs.start_link()
        parent.Client.start_child(jobs, {"id": "a", "start": (Worker.start_link, [])})
        assert [id for id, _pid, _meta in parent.Client.children(jobs)] == ["a"]
        parent.Client.shutdown_all(jobs)
        ```
    """

    @staticmethod
    def children(parent: Server, timeout: float | None = 5.0) -> list[tuple[Any, Pid, Any]]:
        """The running children as ``(id, pid, meta)``, in start order
        (`parent.Parent.children`).

        Raises:
            NoProcess: the parent is dead or the name unknown.
            ProcessError: the process is not a Parent.

        Example:
            ```python
            for id, pid, meta in parent.Client.children(jobs):
                print(id, pid, meta)
            ```
        """
        return _run(parent, "children", lambda p: p.children(), timeout, False)

    @staticmethod
    def child_pid(parent: Server, id: Any, timeout: float | None = 5.0) -> Pid | None:
        """The pid of the running child ``id``, or ``None`` (`parent.Parent.child_pid`).

        Example:
            ```python
            pid = parent.Client.child_pid(jobs, "a")
            ```
        """
        return _run(parent, "child_pid", lambda p: p.child_pid(id), timeout, False)

    @staticmethod
    def child_meta(parent: Server, id: Any, timeout: float | None = 5.0) -> Any:
        """The meta of the running child ``id`` (`parent.Parent.child_meta`).

        Raises:
            NotFound: no running child has this id.

        Example:
            ```python
            meta = parent.Client.child_meta(jobs, "a")
            ```
        """
        return _run(parent, "child_meta", lambda p: p.child_meta(id), timeout, False)

    @staticmethod
    def start_child(parent: Server, spec: ChildSpecLike, timeout: float | None = 5.0) -> Pid:
        """Start a child in ``parent`` from ``spec`` and return its pid
        (`parent.Parent.start_child`); the parent owns it as if it had started it.

        Raises:
            ValueError: a child with this id is running.
            StartError: the start failed.
            ProcessError: the process is not a Parent, or is a supervisor or registry
                (change those with their own functions, e.g. `parent.supervisor`).

        Example:
            ```python
            pid = parent.Client.start_child(jobs, {"id": "b", "start": (Worker.start_link, [])})
            ```
        """
        return _run(parent, "start_child", lambda p: p.start_child(spec), timeout, True)

    @staticmethod
    def shutdown_child(parent: Server, id: Any, timeout: float | None = None) -> None:
        """Shut the child ``id`` down and return when it is dead
        (`parent.Parent.shutdown_child`). ``timeout`` bounds the wait for the parent's
        answer (``None``: as long as the child's shutdown takes).

        Raises:
            NotFound: no running child has this id.

        Example:
            ```python
            parent.Client.shutdown_child(jobs, "b")
            ```
        """
        _run(parent, "shutdown_child", lambda p: p.shutdown_child(id), timeout, True)

    @staticmethod
    def shutdown_all(parent: Server, timeout: float | None = None) -> None:
        """Shut every child down, in reverse start order, and return when all are dead
        (`parent.Parent.shutdown_all`).

        Example:
            ```python
            parent.Client.shutdown_all(jobs)
            assert parent.Client.children(jobs) == []
            ```
        """
        _run(parent, "shutdown_all", lambda p: p.shutdown_all(), timeout, True)
