"""Processes: spawning, sending, exit signals, links, monitors and names.

This is the public face of the runtime. A process is a `Pid` with a mailbox, run by a
runtime thread while it has something to do (`parent._lifecycle` starts, parks, wakes
and ends processes; `parent._runtime` holds their records). This module owns links,
monitors and names: it is the only one that writes them, always under the runtime
lock (see `parent._runtime`).
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Hashable
from queue import Empty
from typing import Any

from parent import _info, _lifecycle
from parent._info import ProcessInfo
from parent._lifecycle import StopRequested, die, post
from parent._runtime import (
    _EMPTY,
    _INFO,
    _NO_MONITORS,
    _STOP,
    Down,
    Exit,
    ForeignPid,
    From,
    Pid,
    Ref,
    Server,
    _add_link,
    _drop_link,
    _lock,
    _names,
    _tls,
    refuse_foreign,
)
from parent._timers import cancel_timer, send_after
from parent.errors import NoProcess, NotFound, ProcessError

__all__ = [
    "Down",
    "Exit",
    "ProcessInfo",
    "From",
    "Pid",
    "Ref",
    "Server",
    "current",
    "demonitor",
    "exit",
    "info",
    "link",
    "list",
    "monitor",
    "receive",
    "register",
    "registered",
    "send",
    "send_after",
    "cancel_timer",
    "spawn",
    "trap_exits",
    "unlink",
    "unregister",
    "whereis",
]


def current() -> Pid | None:
    """The calling process, or ``None`` in a plain thread.

    Example:
        ```python
        def init(self):
            self.me = process.current()
        ```
    """
    return _tls.pid


def _need_current(what: str) -> Pid:
    me = _tls.pid
    if me is None:
        raise ProcessError(f"{what} must be called from a process, not a plain thread")
    return me


def _check_hashable(name: object, what: str = "name") -> None:
    try:
        hash(name)
    except TypeError:
        raise TypeError(f"{what} must be hashable, got {name!r}") from None


def whereis(name: Hashable) -> Pid | None:
    """The process registered under ``name``, or ``None``.

    Example:
        ```python
        Worker.start_link(name="cache")
        assert process.whereis("cache") is not None
        ```
    """
    try:
        return _names.get(name)
    except TypeError:
        raise TypeError(f"a process name must be hashable, got {name!r}") from None


def _resolve(server: Server) -> Pid | None:
    if type(server) is Pid:
        return server
    if isinstance(server, ForeignPid):
        raise refuse_foreign(server)
    return whereis(server)


def registered() -> builtins.list[Hashable]:
    """The names registered right now.

    Example:
        ```python
        assert "cache" in process.registered()
        ```
    """
    return [*_names]


def register(name: Hashable, pid: Pid) -> None:
    """Register ``pid`` under ``name`` (any hashable value; a class is a common name).

    Raises:
        TypeError: ``name`` is not hashable, or ``pid`` is not a `Pid`.
        ValueError: the name is taken, ``name`` is ``None``, or ``pid`` is dead.

    Example:
        ```python
        process.register("cache", pid)
        assert process.whereis("cache") is pid
        ```
    """
    _check_hashable(name)
    if name is None or type(name) is Pid:
        raise ValueError(f"{name!r} cannot be used as a process name")
    if type(pid) is not Pid:
        raise TypeError(f"register needs a Pid, got {pid!r}")
    with _lock:
        taken = _names.get(name)
        if taken is not None:
            raise ValueError(f"the name {name!r} is already registered to {taken!r}")
        if not pid._alive:
            raise ValueError(f"cannot register {name!r}: {pid!r} is dead")
        _names[name] = pid
        if pid._names is _EMPTY:
            pid._names = set()
        pid._names.add(name)


def unregister(name: Hashable) -> None:
    """Remove the registration of ``name``.

    Raises:
        NotFound: no process is registered under ``name``.

    Example:
        ```python
        process.unregister("cache")
        assert process.whereis("cache") is None
        ```
    """
    _check_hashable(name)
    with _lock:
        pid = _names.pop(name, None)
        if pid is None:
            raise NotFound(f"no process is registered under {name!r}")
        pid._names.discard(name)


# -- sending -----------------------------------------------------------------------------


def send(server: Server, message: Any) -> None:
    """Put ``message`` in the mailbox of ``server``. Never blocks; never raises for a
    dead or unknown target (the message is dropped).

    Example:
        ```python
        process.send(pid, ("hello", 1))
        ```
    """
    if type(server) is Pid:
        p: Pid | None = server
    elif isinstance(server, ForeignPid):
        raise refuse_foreign(server)
    else:
        p = whereis(server)
    if p is not None and p._alive:
        p._mbox.put((_INFO, message, None))
        if p._hib:  # _lifecycle.post, inlined
            _lifecycle.wake(p)


def receive(timeout: float | None = None) -> Any:
    """Take the next message from the calling process's mailbox (for processes started
    with `spawn`; a GenServer receives through its callbacks).

    Raises:
        TimeoutError: no message arrived within ``timeout`` seconds.
        ProcessError: called from a plain thread.

    Example:
        ```python
        def echo():
            sender, text = process.receive()
            process.send(sender, text)

        pid = process.spawn(echo)
        ```
    """
    me = _need_current("receive")
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            item = _lifecycle.wait_item(me, remaining)
        except Empty:
            raise TimeoutError(f"no message within {timeout} s") from None
        if type(item) is not tuple:
            continue  # a cast: not for a plain process
        kind, payload, _slot = item
        if kind is _INFO:
            me._handled += 1  # its own thread only (process.info's handled)
            return payload
        if kind is _STOP:
            raise StopRequested(payload)


# -- exit signals --------------------------------------------------------------------


def exit(pid: Pid, reason: Any) -> None:
    """Send the exit signal ``reason`` to ``pid``.

    ``"kill"`` cannot be trapped: the target dies with reason ``"killed"``. A target that
    traps exits receives any other signal as the message ``Exit(sender, reason)``. One
    that does not trap dies with ``reason``, unless ``reason`` is ``"normal"``, which it
    ignores (except when it sends ``"normal"`` to itself). Signalling a dead process
    does nothing.

    Example:
        ```python
        process.exit(pid, "kill")
        assert pid.join(timeout=1.0) == "killed"
        ```
    """
    if type(pid) is not Pid:
        raise TypeError(f"exit needs a Pid, got {pid!r}")
    if not pid._alive:
        return
    sender = _tls.pid
    if type(reason) is str and reason == "kill":
        die(pid, "killed", True)
    elif pid._trap:
        post(pid, (_INFO, Exit(sender, reason), None))
    elif type(reason) is str and reason == "normal" and sender is not pid:
        return
    else:
        die(pid, reason, True)


def _request_stop(pid: Pid, reason: Any) -> None:
    """Ask a process to stop as ``gen_server.stop`` does: a GenServer gets a stop
    request in its mailbox (its ``terminate`` runs); any other process an exit signal."""
    if pid._server is not None:
        post(pid, (_STOP, reason, None))
    else:
        exit(pid, reason)


def link(pid: Pid) -> None:
    """Link the calling process and ``pid``, both ways: when one dies, the other gets
    the exit signal.

    Linking to a dead process: a caller that traps exits receives
    ``Exit(pid, "noproc")``; any other caller gets `NoProcess`.

    Example:
        ```python
        process.trap_exits(True)
        process.link(pid)
        ```
    """
    if type(pid) is not Pid:
        raise TypeError(f"link needs a Pid, got {pid!r}")
    if _tls.pid is None and not pid._alive:
        raise NoProcess(f"cannot link to {pid!r}: it is not alive")
    me = _need_current("link")
    if pid is me:
        return
    with _lock:
        if pid._alive and me._alive:
            _add_link(me, pid)
            _add_link(pid, me)
            return
    if not me._alive:
        return
    if me._trap:
        post(me, (_INFO, Exit(pid, "noproc"), None))
        return
    raise NoProcess(f"cannot link to {pid!r}: it is not alive")


def _link_pair(a: Pid, b: Pid) -> bool:
    """Link two processes (runtime-internal); ``False`` if either is dead."""
    with _lock:
        if a._alive and b._alive:
            _add_link(a, b)
            _add_link(b, a)
            return True
    return False


def unlink(pid: Pid) -> None:
    """Remove the link between the calling process and ``pid`` (both ways). Unlinking
    a process that is not linked does nothing.

    Example:
        ```python
        process.unlink(pid)
        ```
    """
    me = _need_current("unlink")
    _unlink_pair(me, pid)


def _forget_parent(pid: Pid) -> None:
    """Unlink ``pid`` from the process that started it, which stops being its parent
    (a failed start sends its caller no exit signal)."""
    parent = pid._parent
    if parent is not None:
        _unlink_pair(parent, pid)
        pid._parent = None


def _links_of(pid: Pid) -> builtins.list[Pid]:
    """The processes linked to ``pid`` right now (a snapshot)."""
    with _lock:
        return [*pid._links]


def _unlink_pair(a: Pid, b: Pid) -> None:
    with _lock:
        _drop_link(a, b)
        _drop_link(b, a)


def monitor(pid: Server) -> Ref:
    """Monitor ``pid`` (or the process registered under a name): the calling process
    receives ``Down(ref, pid, reason)`` once when it dies; reason ``"noproc"`` at once
    if it is already dead.

    Raises:
        NoProcess: a name that nobody has registered.
        ProcessError: called from a plain thread.

    Example:
        ```python
        ref = process.monitor(pid)
        ```
    """
    me = _need_current("monitor")
    target = _resolve(pid)
    if target is None:
        raise NoProcess(f"no process is registered under {pid!r}")
    ref = Ref(target, me)
    with _lock:
        if target._alive:
            if target._monitors is _NO_MONITORS:
                target._monitors = {}
            target._monitors[ref] = me
            if me._monitoring is _EMPTY:
                me._monitoring = set()
            me._monitoring.add(ref)
            return ref
    post(me, (_INFO, Down(ref, target, "noproc"), None))
    return ref


def demonitor(ref: Ref) -> None:
    """Stop monitoring; a ``Down`` already in the mailbox stays there.

    Example:
        ```python
        process.demonitor(ref)
        ```
    """
    if type(ref) is not Ref:
        raise TypeError(f"demonitor needs a Ref, got {ref!r}")
    with _lock:
        ref._target._monitors.pop(ref, None)
        if ref in ref._watcher._monitoring:
            ref._watcher._monitoring.remove(ref)


def trap_exits(flag: bool) -> bool:
    """Set whether the calling process traps exits; returns the previous value.

    Example:
        ```python
        def init(self):
            process.trap_exits(True)   # terminate() will run on the parent's shutdown
        ```
    """
    me = _need_current("trap_exits")
    old = me._trap
    me._trap = bool(flag)
    return old


# -- spawning --------------------------------------------------------------------------


def spawn(fn: Callable[..., Any], *args: Any, link: bool = False) -> Pid:
    """Run ``fn(*args)`` in a new process; it exits ``"normal"`` when ``fn`` returns and
    crashes (logged, reason: the exception) when it raises. With ``link=True`` it is
    linked to the calling process.

    Example:
        ```python
        def worker():
            msg = process.receive(timeout=1.0)
            print("got", msg)

        pid = process.spawn(worker)
        process.send(pid, "hello")
        ```
    """
    if not callable(fn):
        raise TypeError(f"spawn needs a callable, got {fn!r}")

    def body(pid: Pid) -> Any:
        fn(*args)
        return "normal"

    label = getattr(fn, "__qualname__", type(fn).__name__)
    return _lifecycle.spawn(body, label, link=link)


# -- introspection (parent._info) ------------------------------------------------------


def list() -> builtins.list[Pid]:
    """Every live process.

    Example:
        ```python
        pid = parent.Agent.start_link(lambda: 0)
        assert pid in parent.process.list()
        ```
    """
    return _info.processes()


def info(pid: Pid) -> ProcessInfo | None:
    """A snapshot of what ``pid`` is doing (`ProcessInfo`), or ``None`` once it is dead.
    Cheap: it sends no message and never waits for the process, so it can be called on
    every process of a big tree (see `parent._info` for how each field is read).

    Raises:
        TypeError: ``pid`` is not a local `Pid`.

    Example:
        ```python
        info = parent.process.info(pid)
        if info is not None:
            print(info.status, info.mailbox, info.current)   # running 3 handle_call
        ```
    """
    if type(pid) is not Pid:
        raise TypeError(f"process.info needs a local Pid, got {pid!r}")
    return _info.info(pid)


from parent import _exit  # noqa: E402, F401  (registers the interpreter-exit hook)
