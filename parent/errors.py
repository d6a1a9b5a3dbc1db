"""Every exception of the public contract.

`ProcessError` is the base of the runtime's own errors. `Stop` is not an error of the
runtime: it is what a callback raises to stop its own process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parent.process import Pid

__all__ = [
    "AlreadyStarted",
    "CallTimeout",
    "ExitError",
    "Ignore",
    "Ignored",
    "NoProcess",
    "NotFound",
    "ProcessError",
    "StartError",
    "Stop",
]


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    reason = state.get("reason")
    if isinstance(reason, BaseException):  # a crash is its error's cause, as it was
        error.__cause__ = reason
    return error


class ProcessError(Exception):
    """Base class of the runtime's errors; also raised for a misuse such as a process
    calling itself or a Parent method called outside the parent's own process.

    Every one pickles with its message and its fields (``reason``, ``handled``,
    ``pid``), so it can cross to another process (`genregistry.ray`).

    Example:
        ```python
        try:
            gen_server.call(server, "get")
        except parent.ProcessError as e:
            print("the call failed:", e)
        ```
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # the default, cls(*args), would pass the message where __init__ takes a reason
        return _rebuild, (type(self), self.args, self.__dict__)


class NoProcess(ProcessError):
    """The target process is dead, or no process is registered under that name.

    Example:
        ```python
        with pytest.raises(parent.NoProcess):
            gen_server.call("nobody-has-this-name", "ping")
        ```
    """


class CallTimeout(ProcessError, TimeoutError):
    """No reply came within the timeout. A reply that arrives later is dropped.

    Example:
        ```python
        try:
            gen_server.call(slow, "work", timeout=0.1)
        except parent.CallTimeout:
            ...
        ```
    """


class ExitError(ProcessError):
    """The server exited before it replied. ``reason`` is its exit reason; when the
    reason is an exception (a crash), it is also this error's ``__cause__``.

    ``handled`` tells the two ways a server can die on a caller apart: ``False`` when
    it died with the request still unread in its mailbox (so the request had no effect
    and can safely be sent again, to a new server), ``True`` when it died after taking
    the request (or when that cannot be known).

    Example:
        ```python
        try:
            gen_server.call(server, "crash")
        except parent.ExitError as e:
            print(e.reason, e.handled)   # e.g. ZeroDivisionError(...) True
        ```
    """

    def __init__(self, reason: Any, message: str | None = None, *, handled: bool = True) -> None:
        self.reason = reason
        self.handled = handled
        super().__init__(message if message is not None else f"process exited: {reason!r}")


class StartError(ProcessError):
    """A process could not be started. ``reason`` is the exception ``init`` raised (also
    the ``__cause__``), the reason of a ``Stop`` raised by ``init``, or ``"timeout"``.

    Example:
        ```python
        try:
            Worker.start_link("invalid")
        except parent.StartError as e:
            assert e.reason == "invalid"
        ```
    """

    def __init__(self, reason: Any, message: str | None = None) -> None:
        self.reason = reason
        super().__init__(message if message is not None else f"start failed: {reason!r}")


class AlreadyStarted(StartError):
    """The name (or registry id) is already taken by the running process ``pid``.

    Example:
        ```python
        try:
            Worker.start_link(name="cache")
        except parent.AlreadyStarted as e:
            existing = e.pid
        ```
    """

    def __init__(self, pid: Pid, message: str | None = None) -> None:
        self.pid = pid
        super().__init__(
            ("already_started", pid),
            message if message is not None else f"already started: {pid!r}",
        )


class Ignored(StartError):
    """``init`` raised `Ignore`: the process exited ``"normal"`` without sending an exit
    signal, and nothing was started. ``reason`` is ``"ignore"``. `parent.Parent`'s
    ``start_child``, `parent.dynamic_supervisor.start_child` and GenRegistry's
    ``lookup_or_start``/``start`` raise it too, and record nothing.

    Example:
        ```python
        try:
            Mailer.start_link({})   # its init raises parent.Ignore()
        except parent.Ignored as e:
            assert e.reason == "ignore"
        ```
    """

    def __init__(self, message: str | None = None) -> None:
        super().__init__("ignore", message if message is not None else "start ignored")


class NotFound(ProcessError, LookupError):
    """An unknown id or name (a child id, a registry id, a registered name).

    Example:
        ```python
        try:
            process.unregister("unknown")
        except parent.NotFound:
            ...
        ```
    """


_NO_REPLY: Any = object()


class Stop(Exception):
    """Raised by a callback to stop its process with ``reason``; from ``handle_call``,
    ``reply`` (when given) is first sent to the caller. Raised by ``init``, it makes
    ``start_link`` raise ``StartError(reason)``.

    Example:
        ```python
        def handle_call(self, request, from_):
            if request == "quit":
                raise parent.Stop("normal", reply="bye")
        ```
    """

    def __init__(self, reason: Any = "normal", reply: Any = _NO_REPLY) -> None:
        self.reason = reason
        self.reply = reply
        super().__init__(reason)

    @property
    def has_reply(self) -> bool:
        """Whether a ``reply`` was given."""
        return self.reply is not _NO_REPLY


class Ignore(Exception):
    """Raised by ``init`` to decline to start, as Erlang's ``init`` returning
    ``ignore``: the process exits ``"normal"`` without an exit signal to its caller and
    without a crash report, and ``start_link`` raises `Ignored`. A Supervisor keeps
    the child's spec with pid ``None``; everything else that starts a child records
    nothing. Raised by any other callback, it is an ordinary crash.

    Example:
        ```python
        class Mailer(GenServer):
            def init(self, config):
                if not config.get("smtp_host"):
                    raise parent.Ignore()   # nothing to do in this deployment
                self.host = config["smtp_host"]

        with pytest.raises(parent.Ignored):
            Mailer.start_link({})
        ```
    """
