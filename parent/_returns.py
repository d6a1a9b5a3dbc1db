"""What a GenServer's callbacks may return besides a plain value: `NoReply`, `Continue`,
`Timeout`, `Hibernate`, and the `TIMEOUT` message (`parent._serve`'s loop acts on them),
with the checks of the durations they and the start options take."""

from __future__ import annotations

import math
from typing import Any, Final

from parent.errors import _NO_REPLY


class _NoReplyType:
    __slots__ = ()

    def __repr__(self) -> str:
        return "parent.NoReply"


NoReply: Final = _NoReplyType()
"""Return this from ``handle_call`` to answer later with `parent.gen_server.reply`."""


class _TimeoutType:
    __slots__ = ()

    def __repr__(self) -> str:
        return "parent.TIMEOUT"


TIMEOUT: Final = _TimeoutType()
"""The message ``handle_info`` receives when a `Timeout` passes with no message. A
unique sentinel: compare with ``is``."""


class _WithReply:
    __slots__ = ("reply",)

    reply: Any

    @property
    def has_reply(self) -> bool:
        """Whether a ``reply`` was given."""
        return self.reply is not _NO_REPLY


class Continue(_WithReply):
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

    __slots__ = ("arg",)

    def __init__(self, arg: Any, reply: Any = _NO_REPLY) -> None:
        self.arg = arg
        self.reply = reply

    def __repr__(self) -> str:
        if self.has_reply:
            return f"Continue({self.arg!r}, reply={self.reply!r})"
        return f"Continue({self.arg!r})"


class Timeout(_WithReply):
    """Return ``Timeout(seconds)`` from any callback (``init`` included): if no message
    arrives within ``seconds``, ``handle_info(parent.TIMEOUT)`` runs; any message
    cancels it. ``reply=`` works as for `Continue`. ``math.inf`` means no timeout.

    Raises:
        TypeError: ``seconds`` is not a number.
        ValueError: ``seconds`` is negative or NaN.

    Example:
        ```python
        class Session(GenServer):
            def handle_call(self, request, from_):
                return parent.Timeout(30.0, reply="ok")   # idle for 30 s: we are done

            def handle_info(self, message):
                if message is parent.TIMEOUT:
                    raise parent.Stop("normal")
        ```
    """

    __slots__ = ("seconds",)

    def __init__(self, seconds: float, reply: Any = _NO_REPLY) -> None:
        self.seconds = _check_seconds(seconds, "Timeout seconds")
        self.reply = reply

    def __repr__(self) -> str:
        if self.has_reply:
            return f"Timeout({self.seconds!r}, reply={self.reply!r})"
        return f"Timeout({self.seconds!r})"


class Hibernate(_WithReply):
    """Return ``Hibernate()`` from any callback to give the process's thread up until
    its next message: it stays alive and unchanged (pid, state, names, links, monitors,
    mailbox) and costs only its Python objects. ``reply=`` works as for `Continue`.

    Example:
        ```python
        def handle_cast(self, request):
            self.items.append(request)
            return parent.Hibernate()   # nothing more to do for a while
        ```
    """

    __slots__ = ()

    def __init__(self, reply: Any = _NO_REPLY) -> None:
        self.reply = reply

    def __repr__(self) -> str:
        return f"Hibernate(reply={self.reply!r})" if self.has_reply else "Hibernate()"


def _check_seconds(value: Any, what: str) -> float:
    if type(value) is bool or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number of seconds, got {value!r}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{what} must be >= 0, got {value!r}")
    return float(value)


def check_optional_seconds(value: Any, what: str) -> float | None:
    """Validate an option of seconds where ``None`` or ``inf`` mean "never"."""
    if value is None:
        return None
    seconds = _check_seconds(value, what)
    return None if seconds == math.inf else seconds


def check_hibernate_after(value: Any) -> float | None:
    """Validate the ``hibernate_after`` start option (``None`` or ``inf``: never)."""
    return check_optional_seconds(value, "hibernate_after")
