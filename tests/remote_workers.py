"""Worker classes for the sharded-registry tests (tests/test_remote_*.py).

They live at module level in a module of their own so that ``pickle`` carries them by
name, as a real engine (Ray) would between processes: `LocalEngine` pickles every
shard's config, which holds the worker class.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import parent
from parent import GenServer, Stop

# every activation of every worker in this interpreter gets the next serial
_serials = itertools.count(1)


class Unpicklable(Exception):
    """An exception whose reason holds a lock: it cannot cross a wire as it is."""

    def __init__(self) -> None:
        super().__init__(threading.Lock())


class TwoArgs(Exception):
    """An exception that pickles but does not unpickle (``cls(*args)`` lacks ``b``)."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a} and {b}")


class Counter(GenServer):
    """Holds a list of what it was sent, tagged with its activation serial.

    ``init(id)``: ``"bad-init"`` raises ``LookupError``, ``"stop-init"`` stops with a
    reason, ``"lock-init"`` raises `Unpicklable`, ``"two-args-init"`` `TwoArgs`.

    Calls: ``"get"`` -> ``(serial, seen)``; ``"id"`` -> the id it was started for;
    ``("echo", x)`` -> ``x``; ``"crash"`` raises ``ZeroDivisionError``; ``"lock-crash"``
    raises `Unpicklable`, ``"two-args-crash"`` `TwoArgs`; ``"slow"`` never replies
    (the reply is dropped when it stops). Casts: anything is appended to ``seen``.
    """

    def init(self, id: Any = None) -> None:
        if id == "bad-init":
            raise LookupError("no such account")
        if id == "stop-init":
            raise Stop(("refused", id))
        if id == "lock-init":
            raise Unpicklable()
        if id == "two-args-init":
            raise TwoArgs(1, 2)
        self.id = id
        self.serial = next(_serials)
        self.seen: list[Any] = []

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        if request == "get":
            return self.serial, list(self.seen)
        if request == "id":
            return self.id
        if request == "crash":
            raise ZeroDivisionError("asked to crash")
        if request == "lock-crash":
            raise Unpicklable()
        if request == "two-args-crash":
            raise TwoArgs(3, 4)
        if request == "slow":
            return parent.NoReply
        if type(request) is tuple and request[0] == "echo":
            return request[1]
        raise ValueError(request)

    def handle_cast(self, request: Any) -> None:
        self.seen.append(request)


class Other(Counter):
    """Another worker class (for `create`'s "another worker class" check)."""
