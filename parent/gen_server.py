"""GenServer: a process that owns state and answers calls, casts and messages.

Subclass `GenServer`, write the callbacks you need, and talk to it with the client
functions of this module (`call`, `cast`, `reply`, `stop`).

A call is a ``(CALL, request, From)`` item in the server's mailbox; ``From`` is a fresh
``SimpleQueue`` that the caller waits on with its timeout and then abandons, so a late
reply lands in a queue nobody reads. When the server dies, the runtime puts its death in
every reply slot still open (`parent.process._fail_callers`), so callers wake with
`ExitError` instead of waiting for their timeout.
"""

from __future__ import annotations

import logging
from _queue import SimpleQueue
from collections.abc import Hashable
from queue import Empty
from typing import TYPE_CHECKING, Any, ClassVar, Final

from parent import process as _p
from parent.errors import (
    _NO_REPLY,
    AlreadyStarted,
    CallTimeout,
    ExitError,
    Ignore,
    Ignored,
    NoProcess,
    ProcessError,
    StartError,
    Stop,
)
from parent.process import _CALL, _CAST, _INFO, _STOP, _SYS, _WAKE, From, Pid, Server

if TYPE_CHECKING:
    from compat._types import ChildSpec

__all__ = [
    "Continue",
    "GenServer",
    "NoReply",
    "call",
    "cast",
    "reply",
    "stop",
]

logger = logging.getLogger("parent")


class _NoReplyType:
    __slots__ = ()

    def __repr__(self) -> str:
        return "parent.NoReply"


NoReply: Final = _NoReplyType()
"""Return this from ``handle_call`` to answer later with `reply`."""


class Continue:
    """Return ``Continue(arg)`` from any callback to run ``handle_continue(arg)`` before
    the next message. From ``handle_call``, ``Continue(arg, reply=value)`` replies first;
    without ``reply=`` it replies nothing (as `NoReply`).

    Example:
        ```python
        def init(self, path):
            return parent.Continue(("load", path))   # start_link returns at once

        def handle_continue(self, arg):
            _, path = arg
            self.data = open(path).read()
        ```
    """

    __slots__ = ("arg", "reply")

    def __init__(self, arg: Any, reply: Any = _NO_REPLY) -> None:
        self.arg = arg
        self.reply = reply

    @property
    def has_reply(self) -> bool:
        """Whether a ``reply`` was given."""
        return self.reply is not _NO_REPLY

    def __repr__(self) -> str:
        if self.has_reply:
            return f"Continue({self.arg!r}, reply={self.reply!r})"
        return f"Continue({self.arg!r})"


class GenServer:
    """The GenServer behaviour. Subclass it and override the callbacks you need; the
    instance is the server's state, and every callback runs in the server's own thread,
    one message at a time.

    Example:
        ```python
        class Counter(GenServer):
            def init(self, start: int = 0) -> None:
                self.n = start

            def handle_call(self, request, from_):
                if request == "get":
                    return self.n
                raise ValueError(request)

            def handle_cast(self, request):
                self.n += request

        pid = Counter.start_link(10)
        gen_server.cast(pid, 5)
        assert gen_server.call(pid, "get") == 15
        ```
    """

    _traps_exits: ClassVar[bool] = False

    # -- starting --------------------------------------------------------------------

    @classmethod
    def start_link(cls, *args: Any, name: Hashable = None, timeout: float | None = 5.0) -> Pid:
        """Start the server linked to the calling process (when it is a process) and
        return once ``init(*args)`` has finished.

        Raises:
            StartError: ``init`` raised (the exception is ``reason`` and ``__cause__``)
                or raised ``Stop(reason)``; ``StartError("timeout")`` when ``init``
                outlasted ``timeout`` (the process is then killed).
            AlreadyStarted: ``name`` is taken.

        A failed start never sends an exit signal to the caller.

        Example:
            ```python
            pid = Counter.start_link(0, name="counter")
            ```
        """
        return _start(cls, args, name, timeout, link=True)

    @classmethod
    def start(cls, *args: Any, name: Hashable = None, timeout: float | None = 5.0) -> Pid:
        """Like `start_link`, without the link.

        Example:
            ```python
            pid = Counter.start(0)
            ```
        """
        return _start(cls, args, name, timeout, link=False)

    @classmethod
    def child_spec(cls, arg: Any = None) -> ChildSpec:
        """The child spec that starts this server under a supervisor or a parent:
        ``{"id": cls, "start": (cls.start_link, [arg])}`` (no argument when ``arg`` is
        ``None``). Override it to change the id, restart or shutdown.

        Example:
            ```python
            supervisor.start_link([Counter.child_spec(0)])
            supervisor.start_link([(Counter, 0)])   # the same
            ```
        """
        return {"id": cls, "start": (cls.start_link, [] if arg is None else [arg])}

    # -- callbacks -------------------------------------------------------------------

    def init(self, *args: Any) -> Any:
        """Runs in the new process before ``start_link`` returns. Raise `parent.Stop`
        (or any exception) to fail the start; return `Continue` to continue after.

        Example:
            ```python
            def init(self, value=None):
                if value == "invalid":
                    raise parent.Stop("invalid")
                self.value = value
            ```
        """
        return None

    def handle_call(self, request: Any, from_: From) -> Any:
        """Answer a `call`: the return value is the reply (see `NoReply`, `Continue`
        and `parent.Stop` for the other answers). The default crashes the server.

        Example:
            ```python
            def handle_call(self, request, from_):
                return self.value if request == "get" else None
            ```
        """
        raise NotImplementedError(
            f"{type(self).__qualname__} received the call {request!r} "
            "but does not implement handle_call"
        )

    def handle_cast(self, request: Any) -> Any:
        """Handle a `cast`. The default crashes the server.

        Example:
            ```python
            def handle_cast(self, request):
                self.items.append(request)
            ```
        """
        raise NotImplementedError(
            f"{type(self).__qualname__} received the cast {request!r} "
            "but does not implement handle_cast"
        )

    def handle_info(self, message: Any) -> Any:
        """Handle any other message (`parent.process.send`, `parent.Exit`,
        `parent.Down`, timers). The default logs it at WARNING and goes on.

        Example:
            ```python
            def handle_info(self, message):
                if message == "tick":
                    self.ticks += 1
            ```
        """
        logger.warning("%s received an unexpected message: %r", _p.current(), message)
        return None

    def handle_continue(self, arg: Any) -> Any:
        """Runs after a callback returned ``Continue(arg)``, before the next message.
        The default crashes the server.

        Example:
            ```python
            def handle_continue(self, arg):
                self.cache = load(arg)
            ```
        """
        raise NotImplementedError(
            f"{type(self).__qualname__} returned Continue({arg!r}) "
            "but does not implement handle_continue"
        )

    def terminate(self, reason: Any) -> None:
        """Runs when the server stops by itself (`parent.Stop`, a crash), on `stop`,
        and when it traps exits and its parent sends it an exit signal. It does not
        run on ``"kill"`` nor when a non-trapping server is taken down by a signal.

        Example:
            ```python
            def terminate(self, reason):
                self.file.close()
            ```
        """

    # -- runtime hooks (overridden by Parent, Supervisor, the registry) ---------------

    def _boot(self, args: tuple[Any, ...]) -> Any:
        return self.init(*args)

    def _handle_message(self, message: Any) -> Any:
        return self.handle_info(message)

    def _handle_system(self, request: Any) -> Any:
        return ProcessError(f"{_p.current()!r} is not a supervisor; it cannot answer {request!r}")

    def _terminate(self, reason: Any) -> None:
        self.terminate(reason)


# -- the server loop -------------------------------------------------------------------


class _Ack:
    __slots__ = ("cause", "reason")

    def __init__(self, reason: Any, cause: BaseException | None) -> None:
        self.reason = reason
        self.cause = cause


_OK: Final = object()
_IGNORED: Final = object()  # the ack of an init that raised Ignore


def _start(
    cls: type[GenServer],
    args: tuple[Any, ...],
    name: Hashable,
    timeout: float | None,
    *,
    link: bool,
) -> Pid:
    if not (isinstance(cls, type) and issubclass(cls, GenServer)):
        raise TypeError(f"start_link needs a GenServer subclass, got {cls!r}")
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
    if name is not None:
        _p._check_hashable(name)
        if type(name) is Pid:
            raise ValueError(f"{name!r} cannot be used as a process name")
    ack: SimpleQueue[Any] = SimpleQueue()

    def on_death(dead: Pid) -> None:
        ack.put(_Ack(dead._reason, None))

    def body(pid: Pid) -> Any:
        return _serve(cls, args, pid, ack)

    pid = _p._spawn(
        body,
        cls.__qualname__,
        link=link,
        name=name,
        on_name_taken=lambda taken: AlreadyStarted(
            taken, f"the name {name!r} is already registered to {taken!r}"
        ),
        # a process killed during init never acknowledges: its death answers instead
        on_death=on_death,
    )
    try:
        result = _p._timed_get(ack, timeout)
    except Empty:
        parent = _p.current()
        if parent is not None:
            _p._unlink_pair(parent, pid)
        _p._kill(pid)
        raise StartError(
            "timeout", f"{cls.__qualname__}.init did not finish within {timeout} s"
        ) from None
    if result is _OK:
        with _p._lock:  # started: the hook has done its job
            if on_death in pid._hooks:
                pid._hooks.remove(on_death)
        return pid
    # the failed process is on its way out (it still logs its crash): wait for it, so
    # that when StartError is raised it is dead and its name free for a retry
    pid.join()
    if result is _IGNORED:
        raise Ignored(f"{cls.__qualname__}.init raised Ignore: nothing was started")
    if result.cause is not None:
        raise StartError(result.reason) from result.cause
    raise StartError(result.reason)


def _serve(cls: type[GenServer], args: tuple[Any, ...], pid: Pid, ack: Any) -> Any:
    """The whole life of a GenServer process; returns its exit reason."""
    if cls._traps_exits:
        pid._trap = True
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
        if not _p._is_clean(stop.reason):
            _p._log_crash(pid, stop.reason, None)
        return stop.reason
    except _p._Killed:
        raise
    except BaseException as exc:
        _unlink_parent(pid)
        ack.put(_Ack(exc, exc))
        _p._log_crash(pid, exc, None)
        return exc
    ack.put(_OK)
    return _loop(server, pid, result)


def _unlink_parent(pid: Pid) -> None:
    parent = pid._parent
    if parent is not None:
        _p._unlink_pair(parent, pid)
        pid._parent = None


def _loop(server: GenServer, pid: Pid, result: Any) -> Any:
    get = pid._mbox.get
    # bound once: the callbacks are looked up when the loop starts, not per message
    handle_call = server.handle_call
    handle_cast = server.handle_cast
    msg: Any = None
    try:
        while type(result) is Continue:
            result = server.handle_continue(result.arg)
        while True:
            pid._parked = True
            msg = get()
            pid._parked = False
            if not pid._alive:  # killed while parked: _interrupt only woke us
                if msg[2] is not None:  # a call taken just before the killer's drain
                    msg[2].put(_p._Died(pid._reason))
                raise _p._Killed
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
                if result is NoReply:
                    _p._defer_reply(pid, slot)
                    continue
                if type(result) is Continue:
                    if result.has_reply:
                        slot.put(result.reply)
                    else:
                        _p._defer_reply(pid, slot)
                    while type(result) is Continue:
                        result = server.handle_continue(result.arg)
                    continue
                slot.put(result)
                continue
            if kind is _CAST:
                result = handle_cast(msg[1])
            elif kind is _INFO:
                message = msg[1]
                if (
                    type(message) is _p.Exit
                    and message.pid is not None
                    and message.pid is pid._parent
                    and pid._trap
                ):
                    raise Stop(message.reason)  # the parent's exit signal: terminate
                result = server._handle_message(message)
            elif kind is _SYS:
                pid._cur = msg
                msg[2].put(server._handle_system(msg[1]))
                continue
            elif kind is _STOP:
                raise Stop(msg[1])
            elif kind is _WAKE:
                if not pid._alive:
                    raise _p._Killed
                continue
            else:  # pragma: no cover - defensive
                continue
            while type(result) is Continue:
                result = server.handle_continue(result.arg)
    except Stop as stop:
        reason = stop.reason
        crash: BaseException | None = None
    except _p._Killed:
        raise
    except BaseException as exc:
        reason = exc
        crash = exc
    if not pid._alive:  # killed while handling: no terminate
        raise _p._Killed
    try:
        server._terminate(reason)
    except _p._Killed:
        raise
    except BaseException as exc:
        _p._log_crash(pid, exc, _describe(msg))
        return exc
    if crash is not None or not _p._is_clean(reason):
        _p._log_crash(pid, reason, _describe(msg))
    return reason


def _describe(msg: Any) -> str | None:
    """The last message of a crash report, as the user sent it."""
    if msg is None:
        return None
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


# -- client functions ----------------------------------------------------------------


def _target(server: Server) -> Pid:
    p = server if type(server) is Pid else _p.whereis(server)
    if p is None:
        raise NoProcess(f"no process is registered under {server!r}")
    if not p._alive:
        raise NoProcess(f"{p!r} is not alive")
    return p


def _await(p: Pid, slot: From, me: Pid | None, timeout: float | None, what: Any) -> Any:
    if not p._alive:  # it died after we put the request: maybe nobody will answer
        slot.put(_p._Died(p._reason))
    if me is not None:
        me._waiting = slot
    try:
        # the call's hot path: no extra function call where the queue's own get is safe
        result = slot.get(True, timeout) if _p._TIMED_GET_IS_SAFE else _p._timed_get(slot, timeout)
    except Empty:
        raise CallTimeout(f"no reply from {p!r} to {what!r} within {timeout} s") from None
    finally:
        if me is not None:
            me._waiting = None
    if me is not None and not me._alive:  # killed while waiting: _interrupt only woke us
        raise _p._Killed
    if type(result) is _p._Died:
        reason = result.reason
        err = ExitError(reason, f"{p!r} exited with {reason!r} before replying to {what!r}")
        if isinstance(reason, BaseException):
            raise err from reason
        raise err
    if result is _p._KILLED_WHILE_WAITING:
        raise _p._Killed
    return result


def call(server: Server, request: Any, timeout: float | None = 5.0) -> Any:
    """Send ``request`` to ``server`` and wait for its reply.

    Raises:
        NoProcess: the server is dead or the name unknown.
        CallTimeout: no reply within ``timeout`` seconds (``None``: wait forever); a
            late reply is dropped.
        ExitError: the server died before replying (a crash is also the ``__cause__``).
        ProcessError: a process called itself.

    Example:
        ```python
        value = gen_server.call(pid, "get", timeout=1.0)
        ```
    """
    p = server if type(server) is Pid else _p.whereis(server)
    if p is None or not p._alive:
        raise NoProcess(
            f"no process is registered under {server!r}" if p is None else f"{p!r} is not alive"
        )
    me = _p._tls.pid
    if me is p:
        raise ProcessError(f"{p!r} called itself with {request!r}: it would wait forever")
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
    slot = From()
    p._mbox.put((_CALL, request, slot))
    return _await(p, slot, me, timeout, request)


def _sys_call(server: Server, request: Any, timeout: float | None = 5.0) -> Any:
    """A system request (supervisor queries and changes): the reply, or the exception
    instance the server answered with, raised here."""
    p = _target(server)
    if p is _p._tls.pid:
        raise ProcessError(f"{p!r} cannot send a supervisor request to itself")
    slot = From()
    p._mbox.put((_SYS, request, slot))
    result = _await(p, slot, _p._tls.pid, timeout, request)
    if isinstance(result, BaseException):
        raise result
    return result


def cast(server: Server, request: Any) -> None:
    """Send ``request`` to ``server`` without waiting. Never raises for a dead or
    unknown server (the request is dropped).

    Example:
        ```python
        gen_server.cast(pid, ("add", 1))
        ```
    """
    p = server if type(server) is Pid else _p.whereis(server)
    if p is not None and p._alive:
        p._mbox.put((_CAST, request, None))


def reply(from_: From, value: Any) -> None:
    """Answer a call that ``handle_call`` left open by returning `NoReply`. Works from
    any process or thread; the first answer wins.

    Example:
        ```python
        gen_server.reply(from_, "done")
        ```
    """
    if type(from_) is not From:
        raise TypeError(f"reply needs the from_ given to handle_call, got {from_!r}")
    from_.put(value)


def stop(server: Server, reason: Any = "normal", timeout: float | None = None) -> None:
    """Stop ``server`` with ``reason``: when this returns, the process is dead and its
    ``terminate(reason)`` has run.

    Raises:
        NoProcess: the server is not alive.
        CallTimeout: it did not stop within ``timeout``; it has then been killed.
        ExitError: ``terminate`` crashed (the reason is that exception).

    Example:
        ```python
        gen_server.stop(pid)
        assert not pid.is_alive()
        ```
    """
    p = _target(server)
    if p is _p._tls.pid:
        raise ProcessError(f"{p!r} cannot stop itself with gen_server.stop; raise Stop instead")
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
    _p._request_stop(p, reason)
    try:
        final = p.join(timeout)
    except TimeoutError:
        _p._kill(p)
        raise CallTimeout(f"{p!r} did not stop within {timeout} s; it was killed") from None
    if isinstance(final, BaseException) and final is not reason:
        raise ExitError(final, f"{p!r} crashed while stopping: {final!r}") from final
