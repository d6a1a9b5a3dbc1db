"""GenServer: a process that owns state and answers calls, casts and messages.

Subclass `GenServer`, write the callbacks you need, and talk to it with the client
functions of this module (`call`, `cast`, `reply`, `stop`).

A call is a ``(CALL, request, From)`` item in the server's mailbox; ``From`` is a fresh
``SimpleQueue`` that the caller waits on with its timeout and then abandons, so a late
reply lands in a queue nobody reads. When the server dies, the runtime puts its death in
every reply slot still open (`parent._lifecycle`), so callers wake with
`ExitError` instead of waiting for their timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from queue import Empty
from typing import TYPE_CHECKING, Any, ClassVar

from parent import _lifecycle as _lc
from parent import _serve
from parent import process as _p
from parent._info import Children
from parent._returns import TIMEOUT, Continue, Hibernate, NoReply, Timeout
from parent._runtime import (
    _CALL,
    _CAST,
    _SYS,
    ForeignPid,
    From,
    Pid,
    Server,
    _Died,
    refuse_foreign,
)
from parent._suspend import SUSPEND
from parent.errors import CallTimeout, ExitError, NoProcess, ProcessError

if TYPE_CHECKING:
    from compat._types import ChildSpec

__all__ = [
    "TIMEOUT",
    "Continue",
    "GenServer",
    "Hibernate",
    "NoReply",
    "Timeout",
    "call",
    "cast",
    "reply",
    "stop",
]

logger = logging.getLogger("parent")

# the requests of parent.supervisor: a server without them is "not a supervisor"
_SUPERVISOR_OPS = frozenset(
    {
        "which_children",
        "count_children",
        "get_callback_module",
        "get_childspec",
        "start_child",
        "terminate_child",
        "restart_child",
        "delete_child",
    }
)


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
    def start_link(
        cls,
        *args: Any,
        name: Hashable = None,
        timeout: float | None = 5.0,
        hibernate_after: float | None = None,
    ) -> Pid:
        """Start the server linked to the calling process (when it is a process) and
        return once ``init(*args)`` has finished. With ``hibernate_after``, the server
        hibernates by itself after that many seconds with nothing to do (see
        `parent.Hibernate`).

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
        return _serve.start(cls, args, name, timeout, True, hibernate_after)

    @classmethod
    def start(
        cls,
        *args: Any,
        name: Hashable = None,
        timeout: float | None = 5.0,
        hibernate_after: float | None = None,
    ) -> Pid:
        """Like `start_link`, without the link.

        Example:
            ```python
            pid = Counter.start(0)
            ```
        """
        return _serve.start(cls, args, name, timeout, False, hibernate_after)

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
        """Answer a system request ``(op, *args)`` with its ``_sys_<op>`` method: the
        answer, or the exception it raised (the caller raises it, the server goes on)."""
        handler = getattr(self, "_sys_" + str(request[0]), None)
        if handler is None:
            what = "supervisor" if request[0] in _SUPERVISOR_OPS else "system"
            return ProcessError(f"{_p.current()!r} does not answer the {what} request {request!r}")
        try:
            return handler(*request[1:])
        except Exception as exc:
            return exc

    def _observe(self) -> Children | None:
        """What `parent.observer` shows of this server's children (a `Parent`'s
        override); called from the observer's thread, so it only copies."""
        return None

    # parent.sys, answered between messages by every GenServer

    def _sys_get_state(self) -> Any:
        return dict(vars(self))

    def _sys_replace_state(self, fn: Callable[[Any], Any]) -> Any:
        new = fn(dict(vars(self)))
        if not isinstance(new, dict):
            raise TypeError(
                f"replace_state's function must return a dict of attributes for "
                f"{type(self).__qualname__}, got {new!r}"
            )
        attributes = vars(self)
        attributes.clear()
        attributes.update(new)
        return new

    def _sys_run(self, fn: Callable[[Any], Any]) -> Any:
        return fn(self)  # parent.Client: a Parent's own method, in its own process

    def _sys_suspend(self) -> Any:
        return SUSPEND

    def _sys_resume(self) -> None:
        return None  # not suspended: nothing to do (a suspended one resumes in _suspend)

    def _terminate(self, reason: Any) -> None:
        self.terminate(reason)


# -- client functions ----------------------------------------------------------------


def _target(server: Server) -> Pid:
    if type(server) is Pid:
        p: Pid | None = server
    elif isinstance(server, ForeignPid):
        raise refuse_foreign(server)
    else:
        p = _p.whereis(server)
    if p is None:
        raise NoProcess(f"no process is registered under {server!r}")
    if not p._alive:
        raise NoProcess(f"{p!r} is not alive")
    return p


def _await(p: Pid, slot: From, me: Pid | None, timeout: float | None, what: Any) -> Any:
    if not p._alive:  # it died after we put the request: its death may have missed it
        _lc.answer_unread(p, slot)
    try:
        result = _lc.wait_reply(me, slot, timeout)
    except Empty:
        raise CallTimeout(f"no reply from {p!r} to {what!r} within {timeout} s") from None
    if type(result) is _Died:
        reason = result.reason
        err = ExitError(
            reason,
            f"{p!r} exited with {reason!r} before replying to {what!r}",
            handled=result.handled,
        )
        if isinstance(reason, BaseException):
            raise err from reason
        raise err
    return result


def call(server: Server, request: Any, timeout: float | None = 5.0) -> Any:
    """Send ``request`` to ``server`` and wait for its reply.

    Raises:
        NoProcess: the server is dead or the name unknown.
        CallTimeout: no reply within ``timeout`` seconds (``None``: wait forever); a
            late reply is dropped.
        ExitError: the server died before replying (a crash is also the ``__cause__``);
            its ``handled`` is ``False`` when the server never took the request.
        ProcessError: a process called itself.

    Example:
        ```python
        value = gen_server.call(pid, "get", timeout=1.0)
        ```
    """
    if type(server) is Pid:
        p: Pid | None = server
    elif isinstance(server, ForeignPid):  # a remote pid makes its own round trip
        return server._call(request, timeout)
    else:
        p = _p.whereis(server)
    if p is None or not p._alive:
        raise NoProcess(
            f"no process is registered under {server!r}" if p is None else f"{p!r} is not alive"
        )
    me = _p.current()
    if me is p:
        raise ProcessError(f"{p!r} called itself with {request!r}: it would wait forever")
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
    slot = From()
    p._mbox.put((_CALL, request, slot))
    if p._hib:  # _lifecycle.post, inlined on this hot path
        _lc.wake(p)
    return _await(p, slot, me, timeout, request)


def _sys_call(server: Server, request: Any, timeout: float | None = 5.0) -> Any:
    """A system request (supervisor queries and changes): the reply, or the exception
    instance the server answered with, raised here."""
    p = _target(server)
    me = _p.current()
    if p is me:
        raise ProcessError(f"{p!r} cannot send a supervisor request to itself")
    slot = From()
    _lc.post(p, (_SYS, request, slot))
    result = _await(p, slot, me, timeout, request)
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
    if type(server) is not Pid:
        if isinstance(server, ForeignPid):
            server._cast(request)
            return
        server = _p.whereis(server)
        if server is None:
            return
    if server._alive:
        # the bare request unless it is a tuple (parent._runtime.cast_item, inlined)
        server._mbox.put(request if type(request) is not tuple else (_CAST, request, None))
        if server._hib:  # _lifecycle.post, inlined on this hot path
            _lc.wake(server)


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
    if p is _p.current():
        raise ProcessError(f"{p!r} cannot stop itself with gen_server.stop; raise Stop instead")
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
    _p._request_stop(p, reason)
    try:
        final = p.join(timeout)
    except TimeoutError:
        _lc.kill(p)
        raise CallTimeout(f"{p!r} did not stop within {timeout} s; it was killed") from None
    if isinstance(final, BaseException) and final is not reason:
        raise ExitError(final, f"{p!r} crashed while stopping: {final!r}") from final
