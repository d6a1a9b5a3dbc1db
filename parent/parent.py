"""Parent: a GenServer that starts and owns child processes (Parent.GenServer 0.8).

A parent traps exits. It keeps two maps of its running children, ``id -> child`` (in
start order) and ``pid -> child``; only the parent's own thread touches them, so they
need no lock. When a child exits on its own, its ``Exit`` message reaches
``handle_child_terminated``. When the parent ends a child itself (`shutdown_child`,
`shutdown_all`, `await_child_termination`, a child ``timeout``), it waits on the child's
death (``Pid.join``) and records the pid in ``_reaped`` so that the ``Exit`` message still
on its way is dropped instead of reaching ``handle_child_terminated``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any, ClassVar

from compat._types import ChildSpec, ChildSpecLike
from compat.child_spec import normalize
from parent import _exit
from parent import _lifecycle as _lc
from parent import process as _p
from parent._info import Children
from parent._runtime import _INFO
from parent.errors import NotFound, ProcessError, StartError
from parent.gen_server import GenServer
from parent.process import Exit, Pid

__all__ = ["Parent"]

logger = logging.getLogger("parent")


class _Child:
    __slots__ = ("id", "meta", "modules", "pid", "restart", "shutdown", "spec", "timer", "type")

    def __init__(self, spec: ChildSpec, pid: Pid) -> None:
        self.spec = spec
        self.id: Hashable = spec["id"]
        self.pid = pid
        self.meta: Any = spec.get("meta")
        self.shutdown = spec.get("shutdown", 5.0)
        self.type = spec.get("type", "worker")
        self.restart = spec.get("restart", "permanent")
        self.modules: Any = spec.get("modules", [])
        self.timer: Any = None


class _ChildTimeout:
    """The private message a child's ``timeout`` timer posts to its parent."""

    __slots__ = ("pid",)

    def __init__(self, pid: Pid) -> None:
        self.pid = pid


def start_spec(spec: ChildSpec) -> Pid:
    """Run the ``start`` of a normalized spec in the calling process and return the
    started pid. Raises `StartError` (the exception of the start callable as its
    ``__cause__``; a ``StartError`` passes through unchanged)."""
    fn, args = spec["start"]  # type: ignore[misc]
    try:
        pid = fn(*args)
    except StartError:
        raise
    except Exception as exc:
        raise StartError(exc, f"starting child {spec['id']!r} failed: {exc!r}") from exc
    if type(pid) is not Pid:
        raise StartError(
            ("bad_return", pid),
            f"the start of child {spec['id']!r} returned {pid!r}; it must return a Pid",
        )
    return pid


def stop_pids(
    children: Iterable[tuple[Pid, Any]], reason: Any = "shutdown", *, ordered: bool = False
) -> None:
    """Shut down ``(pid, shutdown)`` pairs: exit signal ``reason``, wait up to each one's
    ``shutdown`` seconds, then kill; ``"brutal_kill"`` kills at once, ``"infinity"``
    waits forever.

    ``ordered=False`` signals every child first and then waits for them all against the
    same start instant, so N stubborn children cost one shutdown time, not N.
    ``ordered=True`` stops one child at a time, each fully dead before the next gets its
    signal (the order a supervisor's termination promises)."""
    pending: list[tuple[Pid, float | None]] = []
    for pid, shutdown in children:
        if shutdown == "brutal_kill":
            _lc.kill(pid)
            continue
        _p.exit(pid, reason)
        limit = None if shutdown == "infinity" else float(shutdown)
        if ordered:
            _await_or_kill(pid, None if limit is None else time.monotonic() + limit)
        else:
            pending.append((pid, limit))
    if pending:
        start = time.monotonic()
        for pid, limit in pending:
            _await_or_kill(pid, None if limit is None else start + limit)


def _await_or_kill(pid: Pid, deadline: float | None) -> None:
    try:
        pid.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        _lc.kill(pid)


class Parent(GenServer):
    """A GenServer that starts and owns children. It traps exits, shuts its children
    down (in reverse start order) after its own ``terminate``, and answers the
    supervisor queries, so it counts as a supervisor in any tree.

    The child methods below work only inside the parent's own process (its callbacks);
    anywhere else they raise `ProcessError`.

    Example:
        ```python
        class Jobs(parent.Parent):
            def handle_call(self, request, from_):
                return self.start_child({
                    "id": request,
                    "start": (parent.Task.start_link, [work, request]),
                    "meta": {"started": time.time()},
                    "timeout": 30.0,
                })

            def handle_child_terminated(self, id, meta, pid, reason):
                print(f"job {id} ended: {reason}")
        ```
    """

    _traps_exits = True

    # where its children are changed from outside, if not parent.Client (a Supervisor:
    # "parent.supervisor"); Client then refuses to change them
    _changed_by: ClassVar[str | None] = None

    @classmethod
    def child_spec(cls, arg: Any = None) -> ChildSpec:
        """Like `GenServer.child_spec`, with ``"type": "supervisor"`` and
        ``"shutdown": "infinity"``.

        Example:
            ```python
            supervisor.start_link([Jobs.child_spec()])
            ```
        """
        spec = super().child_spec(arg)
        spec["type"] = "supervisor"
        spec["shutdown"] = "infinity"
        return spec

    # -- callbacks -------------------------------------------------------------------

    def handle_child_terminated(self, id: Any, meta: Any, pid: Pid, reason: Any) -> Any:
        """Runs when a child exits on its own (any reason, ``"normal"`` included), or
        with reason ``"timeout"`` after the parent killed it for outliving its
        ``timeout``. It never runs for a child ended by `shutdown_child`,
        `shutdown_all` or `await_child_termination`. Return as from ``handle_info``.

        Example:
            ```python
            def handle_child_terminated(self, id, meta, pid, reason):
                if reason != "normal":
                    self.start_child(self.spec_for(id))   # restart it
            ```
        """
        return None

    # -- child management (only from the parent's own process) ------------------------

    def start_child(self, spec: ChildSpecLike) -> Pid:
        """Start a child from a spec (a dict, a class with ``child_spec``, a
        ``(class, arg)`` tuple, or a legacy 6-tuple) and return its pid.

        Raises:
            ValueError: a child with this id is running (checked before anything starts).
            StartError: the start failed (the start callable's exception is the cause).
            Ignored: the child's ``init`` raised `parent.Ignore`; nothing is recorded.

        Example:
            ```python
            pid = self.start_child({"id": "job-1", "start": (Task.start_link, [run])})
            ```
        """
        self._check_owner("start_child")
        normalized = normalize(spec)
        cid = normalized["id"]
        if cid in self._children:
            raise ValueError(
                f"a child with id {cid!r} is already running ({self._children[cid].pid!r})"
            )
        return self._start_normalized(normalized).pid

    def shutdown_child(self, id: Any) -> None:
        """Shut the child down (exit signal ``"shutdown"``, then a kill after its
        ``shutdown``) and return when it is dead. ``handle_child_terminated`` does not
        run for it.

        Raises:
            NotFound: no running child has this id.

        Example:
            ```python
            self.shutdown_child("job-1")
            ```
        """
        self._check_owner("shutdown_child")
        self._stop([self._child(id)], "shutdown", ordered=True)

    def shutdown_all(self, reason: Any = "shutdown") -> None:
        """Shut every child down with exit signal ``reason``; returns when all are dead.
        The signals go out in reverse start order, then every child gets its own
        ``shutdown`` time counted from the same instant.

        Example:
            ```python
            self.shutdown_all()
            assert self.num_children() == 0
            ```
        """
        self._check_owner("shutdown_all")
        self._stop(list(reversed(self._children.values())), reason, ordered=False)

    def children(self) -> list[tuple[Any, Pid, Any]]:
        """The running children as ``(id, pid, meta)`` in start order.

        Example:
            ```python
            for id, pid, meta in self.children():
                print(id, pid, meta)
            ```
        """
        self._check_owner("children")
        return [(c.id, c.pid, c.meta) for c in self._children.values()]

    def num_children(self) -> int:
        """How many children are running.

        Example:
            ```python
            assert self.num_children() == len(self.children())
            ```
        """
        self._check_owner("num_children")
        return len(self._children)

    def child_id(self, pid: Pid) -> Any:
        """The id of the child with this pid, or ``None``.

        Example:
            ```python
            id = self.child_id(message.pid)
            ```
        """
        self._check_owner("child_id")
        child = self._by_pid.get(pid)
        return None if child is None else child.id

    def child_pid(self, id: Any) -> Pid | None:
        """The pid of the child with this id, or ``None``.

        Example:
            ```python
            pid = self.child_pid("job-1")
            ```
        """
        self._check_owner("child_pid")
        child = self._children.get(id)
        return None if child is None else child.pid

    def is_child(self, id: Any) -> bool:
        """Whether a child with this id is running.

        Example:
            ```python
            if not self.is_child("cache"):
                self.start_child(Cache)
            ```
        """
        self._check_owner("is_child")
        return id in self._children

    def child_meta(self, id: Any) -> Any:
        """The meta of the child with this id.

        Raises:
            NotFound: no running child has this id.

        Example:
            ```python
            started = self.child_meta("job-1")["started"]
            ```
        """
        self._check_owner("child_meta")
        return self._child(id).meta

    def update_child_meta(self, id: Any, fn: Callable[[Any], Any]) -> None:
        """Replace the meta of a child with ``fn(meta)``.

        Raises:
            NotFound: no running child has this id.

        Example:
            ```python
            self.update_child_meta("job-1", lambda m: {**m, "retries": m["retries"] + 1})
            ```
        """
        self._check_owner("update_child_meta")
        child = self._child(id)
        child.meta = fn(child.meta)

    def await_child_termination(
        self, id: Any, timeout: float | None
    ) -> tuple[Pid, Any, Any] | None:
        """Wait for the child to exit on its own and return ``(pid, meta, reason)``, or
        ``None`` if it is still running after ``timeout`` seconds (it keeps running).
        ``handle_child_terminated`` does not run for a child awaited this way.

        Raises:
            NotFound: no running child has this id.

        Example:
            ```python
            pid, meta, reason = self.await_child_termination("job-1", timeout=10.0)
            ```
        """
        self._check_owner("await_child_termination")
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
        child = self._child(id)
        try:
            reason = child.pid.join(timeout)
        except TimeoutError:
            return None
        self._forget(child)
        return child.pid, child.meta, reason

    # -- internals -------------------------------------------------------------------

    def _boot(self, args: tuple[Any, ...]) -> Any:
        self._setup()
        return self.init(*args)

    def _setup(self) -> None:
        self._me = _p.current()
        self._children: dict[Any, _Child] = {}
        self._by_pid: dict[Pid, _Child] = {}
        self._reaped: set[Pid] = set()

    def _check_owner(self, what: str) -> None:
        me = getattr(self, "_me", None)
        if me is None or _p.current() is not me:
            raise ProcessError(
                f"Parent.{what} can only be called from the parent's own process "
                f"({me!r}), not from {_p.current()!r}"
            )

    def _child(self, id: Any) -> _Child:
        try:
            return self._children[id]
        except KeyError:
            raise NotFound(f"no running child with id {id!r}") from None
        except TypeError:
            raise TypeError(f"a child id must be hashable, got {id!r}") from None

    def _start_normalized(self, spec: ChildSpec) -> _Child:
        pid = start_spec(spec)
        child = _Child(spec, pid)
        self._adopt(child)
        return child

    def _adopt(self, child: _Child) -> None:
        """Record a started child and make sure its exit reaches this parent."""
        pid = child.pid
        me = self._me
        assert me is not None
        if not _p._link_pair(me, pid) and pid._parent is not me:
            # it died before we could link to it, and was never linked to us: no Exit
            # message will come, so post one ourselves
            _lc.post(me, (_INFO, Exit(pid, pid._reason), None))
        self._children[child.id] = child
        self._by_pid[pid] = child
        timeout = child.spec.get("timeout", "infinity")
        if timeout != "infinity":
            child.timer = _p.send_after(me, _ChildTimeout(pid), float(timeout))

    def _forget(self, child: _Child) -> None:
        """Remove a child the parent ended itself; its ``Exit`` message will be dropped."""
        self._children.pop(child.id, None)
        self._by_pid.pop(child.pid, None)
        self._reaped.add(child.pid)
        if child.timer is not None:
            _p.cancel_timer(child.timer)

    def _drop(self, child: _Child) -> None:
        """Remove a child whose ``Exit`` message has arrived."""
        self._children.pop(child.id, None)
        self._by_pid.pop(child.pid, None)
        if child.timer is not None:
            _p.cancel_timer(child.timer)

    def _stop(self, children: list[_Child], reason: Any, *, ordered: bool) -> None:
        for child in children:
            self._forget(child)
        stop_pids(((c.pid, c.shutdown) for c in children), reason, ordered=ordered)

    def _observe(self) -> Children | None:
        # one C-level copy of the children (the parent's own thread changes the dict);
        # None while it starts: its records are made in its own init
        children = getattr(self, "_children", None)
        if children is None:
            return None
        return Children({c.pid: c.id for c in list(children.values())}, self._restarted())

    def _restarted(self) -> dict[Any, int]:
        """How many times each child id was restarted (a `Supervisor` restarts)."""
        return {}

    def _exit_grace(self) -> float:
        """Seconds this parent may need to stop its children (one at a time, each
        within its ``shutdown``); an ``"infinity"`` child counts what its own children
        need. Read by the interpreter-exit hook from another thread, so it works on a
        snapshot of the children."""
        total = 0.0
        for child in list(self._children.values()):
            if child.shutdown == "brutal_kill":
                continue
            if child.shutdown == "infinity":
                needs = getattr(child.pid._server, "_exit_grace", None)
                total += needs() if callable(needs) else _exit.EXIT_GRACE
            else:
                total += float(child.shutdown)
        return total

    def _ordered_children(self) -> list[_Child]:
        """Running children in the order they stop in reverse of."""
        return list(self._children.values())

    def _handle_message(self, message: Any) -> Any:
        if type(message) is Exit:
            child = self._by_pid.get(message.pid)  # type: ignore[arg-type]
            if child is not None:
                self._drop(child)
                return self._child_exited(child, message.reason)
            if message.pid in self._reaped:
                self._reaped.discard(message.pid)
                return None
        elif type(message) is _ChildTimeout:
            child = self._by_pid.get(message.pid)
            if child is not None:
                self._forget(child)
                _lc.kill(child.pid)
                return self._child_exited(child, "timeout")
            return None
        return self.handle_info(message)

    def _child_exited(self, child: _Child, reason: Any) -> Any:
        return self.handle_child_terminated(child.id, child.meta, child.pid, reason)

    def _terminate(self, reason: Any) -> None:
        try:
            self.terminate(reason)
        finally:
            children = self._ordered_children()
            children.reverse()
            self._stop(children, "shutdown", ordered=True)

    # -- supervisor requests ---------------------------------------------------------

    def _sys_which_children(self) -> list[tuple[Any, Pid | None, str, Any]]:
        return [(c.id, c.pid, c.type, c.modules) for c in self._ordered_children()]

    def _sys_count_children(self) -> dict[str, int]:
        children = self._ordered_children()
        supervisors = sum(1 for c in children if c.type == "supervisor")
        return {
            "specs": len(children),
            "active": len(children),
            "supervisors": supervisors,
            "workers": len(children) - supervisors,
        }

    def _sys_get_callback_module(self) -> type:
        return type(self)

    def _sys_get_childspec(self, id: Any) -> ChildSpec:
        return dict(self._child(id).spec)  # type: ignore[return-value]
