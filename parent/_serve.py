"""How a GenServer runs: its start, its receive loop, and what its callbacks may return.

`start` spawns the process and waits for ``init``; `serve` is the process's body and
`_loop` its receive loop. A callback's return value decides what the loop does next:

* `Continue(arg)`: run ``handle_continue(arg)`` before the next message;
* `Timeout(seconds)`: wait at most ``seconds`` for the next message, then run
  ``handle_info(TIMEOUT)``;
* `Hibernate()`: give the thread up until the next message (the process keeps
  everything else: `parent._lifecycle`);
* anything else: wait for the next message, hibernating after the process's
  ``hibernate_after`` seconds if it has that option.

From ``handle_call`` the return value is the reply, except `NoReply` (answer later)
and the three above, which reply their ``reply=`` if given and nothing otherwise.
"""

from __future__ import annotations

import math
from _queue import SimpleQueue
from collections.abc import Hashable
from queue import Empty
from typing import TYPE_CHECKING, Any, Final

from parent import _info
from parent import _lifecycle as _lc
from parent import process as _p
from parent._returns import (
    TIMEOUT,
    Continue,
    Hibernate,
    NoReply,
    Timeout,
    _WithReply,
    check_hibernate_after,
)
from parent._runtime import (
    _CALL,
    _CAST,
    _INFO,
    _STOP,
    _SYS,
    TAKING,
    Exit,
    IdleNotice,
    Pid,
    _Died,
    _Killed,
    _stamps,
)
from parent._suspend import SUSPEND, suspend
from parent._timers import send_after
from parent.errors import AlreadyStarted, Ignore, Ignored, StartError, Stop

if TYPE_CHECKING:
    from parent.gen_server import GenServer


# -- starting --------------------------------------------------------------------------


class _Ack:
    __slots__ = ("cause", "reason")

    def __init__(self, reason: Any, cause: BaseException | None) -> None:
        self.reason = reason
        self.cause = cause


_OK: Final = object()
_IGNORED: Final = object()  # the ack of an init that raised Ignore


def start(
    cls: type[GenServer],
    args: tuple[Any, ...],
    name: Hashable,
    timeout: float | None,
    link: bool,
    hibernate_after: float | None,
) -> Pid:
    """Start a ``cls`` process and wait for its ``init`` (see ``GenServer.start_link``)."""
    from parent.gen_server import GenServer

    if not (isinstance(cls, type) and issubclass(cls, GenServer)):
        raise TypeError(f"start_link needs a GenServer subclass, got {cls!r}")
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
    if name is not None:
        _p._check_hashable(name)
        if type(name) is Pid:
            raise ValueError(f"{name!r} cannot be used as a process name")
    hibernate_after = check_hibernate_after(hibernate_after)
    ack: SimpleQueue[Any] = SimpleQueue()

    def on_death(dead: Pid) -> None:
        ack.put(_Ack(dead._reason, None))

    def body(pid: Pid) -> Any:
        return serve(cls, args, pid, ack)

    try:
        pid = _lc.spawn(
            body,
            cls.__qualname__,
            link=link,
            name=name,
            on_name_taken=lambda taken: AlreadyStarted(
                taken, f"the name {name!r} is already registered to {taken!r}"
            ),
            # a process killed during init never acknowledges: its death answers instead
            on_death=on_death,
            hibernate_after=hibernate_after,
        )
    except RuntimeError as exc:  # no thread could be started: nothing is left behind
        raise StartError(exc, f"{cls.__qualname__} could not start: {exc}") from exc
    try:
        result = _lc.wait_reply(None, ack, timeout)
    except Empty:
        caller = _p.current()
        if caller is not None:
            _p._unlink_pair(caller, pid)
        _lc.kill(pid)
        raise StartError(
            "timeout", f"{cls.__qualname__}.init did not finish within {timeout} s"
        ) from None
    if result is _OK:
        _lc.drop_death_hook(pid, on_death)  # started: the hook has done its job
        return pid
    # the failed process is on its way out (it still logs its crash): wait for it, so
    # that when StartError is raised it is dead and its name free for a retry
    pid.join()
    if result is _IGNORED:
        raise Ignored(f"{cls.__qualname__}.init raised Ignore: nothing was started")
    if result.cause is not None:
        raise StartError(result.reason) from result.cause
    raise StartError(result.reason)


def serve(cls: type[GenServer], args: tuple[Any, ...], pid: Pid, ack: Any) -> Any:
    """The body of a GenServer process: ``init``, then the loop. Returns its exit reason,
    or `parent._lifecycle.HIBERNATE`."""
    if cls._traps_exits:
        _p.trap_exits(True)
    try:
        server = cls()
        pid._server = server
        result = server._boot(args)
    except Ignore:
        _unlink_parent(pid)  # no exit signal, not even "normal", reaches the caller
        ack.put(_IGNORED)
        return "normal"
    except Stop as stop:
        _unlink_parent(pid)
        cause = stop.__cause__ if isinstance(stop.__cause__, BaseException) else None
        ack.put(_Ack(stop.reason, cause))
        if not _lc.is_clean(stop.reason):
            _lc.log_crash(pid, stop.reason, None)
        return stop.reason
    except _Killed:
        raise
    except BaseException as exc:
        _unlink_parent(pid)
        ack.put(_Ack(exc, exc))
        _lc.log_crash(pid, exc, None)
        return exc
    ack.put(_OK)
    return _loop(server, pid, result)


def _resume(pid: Pid) -> Any:
    """What a hibernated GenServer runs when it wakes (one function for them all)."""
    return _loop(pid._server, pid, None)


def _unlink_parent(pid: Pid) -> None:
    _p._forget_parent(pid)


# -- the loop ----------------------------------------------------------------------------

_NOW: Final = -1.0  # a wait of "hibernate now"


def _settle(server: GenServer, result: Any) -> float | None:
    """Run the ``Continue`` chain of a callback's result; return how to wait next:
    ``None`` (the default wait), seconds (a `Timeout`) or ``_NOW`` (`Hibernate`)."""
    while type(result) is Continue:
        result = server.handle_continue(result.arg)
    kind = type(result)
    if kind is Timeout:
        return None if result.seconds == math.inf else result.seconds
    if kind is Hibernate:
        return _NOW
    return None


def _loop(server: GenServer, pid: Pid, result: Any) -> Any:
    wait_item = _lc.wait_item
    # bound once: the callbacks are looked up when the loop starts, not per message
    handle_call = server.handle_call
    handle_cast = server.handle_cast
    # a registry's worker that can passivate (genregistry): its loop records when it
    # last took a message and tells the registry when it has been idle for ``idle``
    take_now = pid._mbox.get_nowait
    queued = pid._mbox.qsize
    watch = pid._watch
    idle = None if watch is None else watch.idle
    counting = idle is not None  # an idle countdown runs (no notice since the last message)
    msg: Any = None
    # messages taken so far: a local (free on this path), published to pid._handled
    # before each wait and at the end; parent._info reads it from this frame meanwhile
    handled = pid._handled
    try:
        wait = None if result is None else _settle(server, result)
        backlog = False  # whether more items may be queued behind the last one
        while True:
            if backlog:
                # a backlog is taken without a blocking wait (nor a Python call): what
                # wait_item does, inlined. Parked, a kill wakes it with a sentinel
                # instead of injecting: an exception injected here could fire between
                # the take and the store, and lose the item. A queued item also ends a
                # pending Timeout or Hibernate at once, as the wait would.
                pid._parked = TAKING
                try:
                    msg = take_now()
                except Empty:
                    backlog = False
                finally:
                    pid._parked = False
                if not pid._alive:
                    if backlog and type(msg) is tuple and msg[2] is not None:
                        msg[2].put(_Died(pid._reason, False))  # taken, never handled
                    msg = None
                    raise _Killed
            if not backlog:
                notice = False  # whether an empty wait means "idle for ``idle`` s"
                if wait is None:
                    seconds = pid._hib_after  # None: wait for ever
                    if counting and (seconds is None or seconds >= idle):  # type: ignore[operator]
                        seconds = idle
                        notice = True
                elif wait == _NOW:
                    pid._handled = handled
                    if counting:
                        _idle_timer(pid, idle)  # type: ignore[arg-type]
                    return _lc.hibernate(pid, _resume)
                else:
                    seconds = wait
                pid._handled = handled
                try:
                    if watch is None:
                        msg = wait_item(pid, seconds)
                    else:
                        pid._top = True
                        try:
                            msg = wait_item(pid, seconds)
                        finally:
                            pid._top = False
                except Empty:
                    if notice:
                        _lc.post(watch.target, (_INFO, IdleNotice(pid, pid._used), None))  # type: ignore[union-attr]
                        counting = False
                        continue
                    if wait is None:  # hibernate_after passed with nothing to do
                        if counting:  # the rest of the idle countdown runs on a timer
                            _idle_timer(pid, idle - seconds)  # type: ignore[operator]
                        return _lc.hibernate(pid, _resume)
                    msg = (_INFO, TIMEOUT, None)
                    result = server._handle_message(TIMEOUT)
                    wait = None if result is None else _settle(server, result)
                    continue
                backlog = queued() > 0
            handled += 1
            if watch is not None:
                pid._used = next(_stamps)
                counting = idle is not None
            if type(msg) is not tuple:  # a cast of a request that is no tuple: bare
                result = handle_cast(msg)
                wait = None if result is None else _settle(server, result)
                continue
            kind = msg[0]
            if kind is _CALL:
                pid._cur = msg  # so that the server's death answers this caller
                slot = msg[2]
                try:
                    result = handle_call(msg[1], slot)
                except Stop as stop:
                    if stop.has_reply:
                        slot.put(stop.reply)
                    raise
                wait = None
                if result is NoReply:
                    _lc.defer_reply(pid, slot)
                    continue
                if isinstance(result, _WithReply):
                    if result.has_reply:
                        slot.put(result.reply)
                    else:
                        _lc.defer_reply(pid, slot)
                    wait = _settle(server, result)
                    continue
                slot.put(result)
                continue
            if kind is _CAST:
                result = handle_cast(msg[1])
            elif kind is _INFO:
                message = msg[1]
                if (
                    type(message) is Exit
                    and message.pid is not None
                    and message.pid is pid._parent
                    and pid._trap
                ):
                    raise Stop(message.reason)  # the parent's exit signal: terminate
                result = server._handle_message(message)
            elif kind is _SYS:  # not the server's own traffic: the wait goes on
                pid._cur = msg
                answer = server._handle_system(msg[1])
                if answer is SUSPEND:  # parent.sys.suspend: kept items come first after
                    msg[2].put(None)
                    take_now = suspend(pid, server, take_now)
                    backlog = True
                    continue
                msg[2].put(answer)
                continue
            elif kind is _STOP:
                raise Stop(msg[1])
            else:  # a _WAKE sentinel left over from a kill: nothing to do
                continue
            wait = None if result is None else _settle(server, result)
    except Stop as stop:
        reason = stop.reason
        crash: BaseException | None = None
    except _Killed:
        # killed between taking a call and recording it: answer it (a slot answers once)
        if type(msg) is tuple and msg[2] is not None:
            msg[2].put(_Died(pid._reason, True))
        raise
    except BaseException as exc:
        reason = exc
        crash = exc
    pid._handled = handled
    if not pid._alive:  # killed while handling: no terminate
        raise _Killed
    try:
        server._terminate(reason)
    except _Killed:
        raise
    except BaseException as exc:
        _lc.log_crash(pid, exc, _describe(msg))
        return exc
    if crash is not None or not _lc.is_clean(reason):
        _lc.log_crash(pid, reason, _describe(msg))
    return reason


def _idle_timer(pid: Pid, delay: float) -> None:
    """A hibernating worker's idle countdown: the registry gets the `IdleNotice` after
    ``delay`` unless the worker took a message meanwhile (the stamp then no longer
    matches, and the registry ignores it)."""
    send_after(pid._watch.target, IdleNotice(pid, pid._used), max(delay, 0.0))  # type: ignore[union-attr]


def _describe(msg: Any) -> str | None:
    """The last message of a crash report, as the user sent it."""
    if msg is None:
        return None
    if type(msg) is not tuple:
        return f"cast {msg!r}"
    kind, payload, _slot = msg
    if kind is _CALL:
        return f"call {payload!r}"
    if kind is _CAST:
        return f"cast {payload!r}"
    if kind is _INFO:
        return f"info {payload!r}"
    if kind is _STOP:
        return f"stop {payload!r}"
    return f"{kind!r} {payload!r}"


_info.register_loop(_loop, serve)  # process.info finds callbacks and counts from here
