"""GenRegistry: one worker per id, looked up or started on demand (the public facade).

The registry process and its table live in `genregistry._server`; this module reads
the table in the caller's thread (lookups, the "already running" answers, snapshots)
and sends everything else to the registry process through the configured gen_module.

`GenRegistry.call` and `GenRegistry.cast` make an id a virtual worker: if the worker
they reach ends before it takes the request (passivation, a stop, a crash), they wait
for its end and go to the next activation. A call knows that its request was never
taken from ``ExitError.handled`` being ``False`` (`parent._lifecycle`); a cast is put
only into a mailbox that will be read (`parent._lifecycle.post_open`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

from compat._types import ChildSpec
from compat.config import gen_module
from genregistry._server import Options, Registry, _tables
from parent import _lifecycle as _lc
from parent import gen_server
from parent import process as _p
from parent._returns import check_hibernate_after, check_optional_seconds
from parent._runtime import cast_item
from parent.errors import AlreadyStarted, CallTimeout, ExitError, NoProcess
from parent.process import Pid, Server

__all__ = ["GenRegistry"]

A = TypeVar("A")

_READ_TIMEOUT = 5.0
_OPTIONS = ("worker_module", "name", "timeout", "hibernate_after", "idle_timeout", "max_workers")


def _check_max_workers(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int:
        raise TypeError(f"max_workers must be an int or None, got {value!r}")
    if value < 1:
        raise ValueError(f"max_workers must be >= 1, got {value!r}")
    return value


def _options(hibernate_after: Any, idle_timeout: Any, max_workers: Any) -> Options:
    return Options(
        check_hibernate_after(hibernate_after),
        check_optional_seconds(idle_timeout, "idle_timeout"),
        _check_max_workers(max_workers),
    )


# -- the facade ------------------------------------------------------------------------


def _table(registry: Hashable) -> dict[Hashable, Pid]:
    try:
        return _tables[registry]
    except KeyError:
        raise NoProcess(f"no registry is running under the name {registry!r}") from None
    except TypeError:
        raise TypeError(f"a registry name must be hashable, got {registry!r}") from None


def _check_id(id: object) -> None:
    try:
        hash(id)
    except TypeError:
        raise TypeError(f"a registry id must be hashable, got {id!r}") from None


def _running(registry: Server, id: Hashable) -> Pid | None:
    """The client-side answer to "is ``id`` running?": with a name, read the shared table
    (a live worker or ``None``); with a ``Pid``, ``None`` (the registry process decides)."""
    if type(registry) is Pid:
        _check_id(id)
        return None
    table = _table(registry)
    try:
        pid = table.get(id)
    except TypeError:
        raise TypeError(f"a registry id must be hashable, got {id!r}") from None
    return pid if pid is not None and pid._alive else None


def _request(registry: Server, request: tuple[Any, ...], timeout: float | None) -> Any:
    result = gen_module().call(registry, request, timeout)
    if isinstance(result, BaseException):
        raise result
    return result


def _snapshot(registry: Server) -> list[tuple[Hashable, Pid]]:
    if type(registry) is Pid:
        result: list[tuple[Hashable, Pid]] = _request(registry, ("to_list",), _READ_TIMEOUT)
        return result
    return [(i, pid) for i, pid in list(_table(registry).items()) if pid._alive]


class GenRegistry:
    """One worker per id, looked up or started on demand. Every function is static and
    takes ``registry``: the registry's name (by default its worker class) or its `Pid`.
    With a name, reads go to the shared table in the calling thread; with a `Pid`,
    everything is a call to the registry process.

    Example:
        ```python
        sup = supervisor.start_link([GenRegistry.child_spec(worker_module=Denylist)])
        pid = GenRegistry.lookup_or_start(Denylist, "+15551234567", ["+15551234567"])
        assert GenRegistry.lookup(Denylist, "+15551234567") is pid
        ```
    """

    @staticmethod
    def child_spec(opts: Mapping[str, Any] | None = None, /, **kwargs: Any) -> ChildSpec:
        """The child spec of a registry: ``worker_module`` is required; ``name``
        (default: the worker class), ``timeout``, ``hibernate_after``, ``idle_timeout``
        and ``max_workers`` are optional (see `start_link`). Its id is the name, its
        type ``"supervisor"``, its shutdown ``"infinity"``.

        Raises:
            KeyError: ``worker_module`` is missing.
            ValueError: an unknown option, or an option out of range.
            TypeError: an option of the wrong type.

        Example:
            ```python
            children = [
                GenRegistry.child_spec(worker_module=Worker, name="reads"),
                (GenRegistry, {"worker_module": Worker, "name": "writes"}),
                GenRegistry.child_spec(worker_module=Worker, name="sessions", idle_timeout=60.0),
            ]
            ```
        """
        options = dict(opts or {})
        options.update(kwargs)
        if "worker_module" not in options:
            raise KeyError("worker_module")
        unknown = sorted(map(repr, set(options) - set(_OPTIONS)))
        if unknown:
            raise ValueError(
                f"unknown GenRegistry option(s) {', '.join(unknown)}; "
                f"expected {', '.join(_OPTIONS)}"
            )
        worker_module = options["worker_module"]
        name = options.get("name")
        if name is None:
            name = worker_module
        extra = {k: options.get(k) for k in ("hibernate_after", "idle_timeout", "max_workers")}
        _options(**extra)  # a bad value fails here, not when the supervisor starts it
        return {
            "id": name,
            "start": (_start_link_spec, [worker_module, name, options.get("timeout", 5.0), extra]),
            "type": "supervisor",
            "shutdown": "infinity",
            "modules": [GenRegistry],
        }

    @staticmethod
    def start_link(
        worker_module: Any,
        name: Hashable = None,
        *,
        hibernate_after: float | None = None,
        idle_timeout: float | None = None,
        max_workers: int | None = None,
        timeout: float | None = 5.0,
    ) -> Pid:
        """Start a registry for ``worker_module``, linked to the caller, registered under
        ``name`` (default: ``worker_module``).

        Options (all ``None`` by default: workers run until stopped):

        * ``hibernate_after``: workers start as
          ``worker_module.start_link(*args, hibernate_after=hibernate_after)``;
        * ``idle_timeout``: a worker with no message for that many seconds is
          passivated: stopped with ``("shutdown", "idle")`` (its ``terminate`` runs, no
          crash report). Its id is free once that ``terminate`` returned; the next
          request for it starts a new activation. Needs a GenServer-based worker;
        * ``max_workers``: with that many workers live, starting another one first
          passivates the least recently used idle worker;
          ``StartError("max_workers")`` when none is idle.

        Raises:
            AlreadyStarted: a process already has that name.
            TypeError, ValueError: a bad option (nothing is started).

        Example:
            ```python
            registry = GenRegistry.start_link(Worker, idle_timeout=30.0, max_workers=10_000)
            ```
        """
        if not callable(getattr(worker_module, "start_link", None)):
            raise TypeError(f"worker_module must have a start_link function, got {worker_module!r}")
        if name is None:
            name = worker_module
        _p._check_hashable(name, "a registry name")
        options = _options(hibernate_after, idle_timeout, max_workers)
        return Registry.start_link(worker_module, name, options, name=name, timeout=timeout)

    @staticmethod
    def lookup(registry: Server, id: Hashable) -> Pid | None:
        """The live worker for ``id``, or ``None``. Never returns a dead worker.

        Example:
            ```python
            pid = GenRegistry.lookup(Worker, "user-42")
            if pid is None:
                print("not running")
            ```
        """
        # the hot path: the read of _running, inlined (no Python call but this one); a
        # registry given by Pid, a name with no registry or an unhashable value miss
        # the table and take _running's way, which raises what they deserve
        try:
            pid = _tables[registry].get(id)
        except (KeyError, TypeError):
            pid = _running(registry, id)
            if type(registry) is not Pid:
                return pid
        else:
            return pid if pid is not None and pid._alive else None
        result: Pid | None = _request(registry, ("lookup", id), _READ_TIMEOUT)
        return result

    @staticmethod
    def lookup_or_start(
        registry: Server, id: Hashable, args: Sequence[Any] = (), timeout: float | None = 5.0
    ) -> Pid:
        """The running worker for ``id``, or a new one started with
        ``worker_module.start_link(*args)``. Concurrent callers for one id get one worker.

        Raises:
            StartError: the start failed (nothing is registered).
            Ignored: the worker's ``init`` raised `parent.Ignore` (nothing is
                registered; a later call may start ``id``).
            CallTimeout: no answer within ``timeout``.

        Example:
            ```python
            pid = GenRegistry.lookup_or_start(Worker, "user-42", ["user-42"])
            ```
        """
        try:  # the read of _running, inlined as in lookup
            pid = _tables[registry].get(id)
        except (KeyError, TypeError):
            pid = _running(registry, id)
        if pid is not None and pid._alive:
            return pid
        result: Pid = _request(registry, ("lookup_or_start", id, list(args)), timeout)
        return result

    @staticmethod
    def start(
        registry: Server, id: Hashable, args: Sequence[Any] = (), timeout: float | None = 5.0
    ) -> Pid:
        """Like `lookup_or_start`, but only starts: a running ``id`` is an error.

        Raises:
            AlreadyStarted: ``id`` is running (``.pid`` is its worker).
            StartError: the start failed (`parent.Ignored` when ``init`` raised
                `parent.Ignore`); nothing is registered.

        Example:
            ```python
            try:
                pid = GenRegistry.start(Worker, "owner-1")
            except parent.AlreadyStarted as e:
                pid = e.pid
            ```
        """
        running = _running(registry, id)
        if running is not None:
            raise AlreadyStarted(running, f"{id!r} is already running as {running!r}")
        result: Pid = _request(registry, ("start", id, list(args)), timeout)
        return result

    @staticmethod
    def stop(registry: Server, id: Hashable, timeout: float | None = None) -> None:
        """Stop the worker for ``id`` (exit signal ``"shutdown"``, killed after its
        ``shutdown``); when this returns it is dead and ``id`` is free.

        Raises:
            NotFound: no worker has this id.

        Example:
            ```python
            GenRegistry.stop(Worker, "user-42")
            ```
        """
        _check_id(id)
        if type(registry) is not Pid:
            _table(registry)
        _request(registry, ("stop", id), timeout)

    @staticmethod
    def count(registry: Server) -> int:
        """How many live workers the registry has.

        Example:
            ```python
            print(GenRegistry.count(Worker), "workers")
            ```
        """
        if type(registry) is Pid:
            result: int = _request(registry, ("count",), _READ_TIMEOUT)
            return result
        return sum(1 for pid in list(_table(registry).values()) if pid._alive)

    @staticmethod
    def sample(registry: Server) -> tuple[Hashable, Pid] | None:
        """One ``(id, pid)`` of the registry picked at random, or ``None`` when empty.

        Example:
            ```python
            entry = GenRegistry.sample(Worker)
            ```
        """
        entries = _snapshot(registry)
        if not entries:
            return None
        import random

        return random.choice(entries)

    @staticmethod
    def reduce(registry: Server, acc: A, fn: Callable[[tuple[Hashable, Pid], A], A]) -> A:
        """Fold ``fn((id, pid), acc)`` over every worker; returns the accumulator.

        Example:
            ```python
            total = GenRegistry.reduce(Worker, 0, lambda entry, n: n + 1)
            ```
        """
        for entry in _snapshot(registry):
            acc = fn(entry, acc)
        return acc

    @staticmethod
    def to_list(registry: Server) -> list[tuple[Hashable, Pid]]:
        """Every ``(id, pid)`` of the registry, in no promised order.

        Example:
            ```python
            ids = [id for id, _pid in GenRegistry.to_list(Worker)]
            ```
        """
        return _snapshot(registry)

    @staticmethod
    def call(
        registry: Server,
        id: Hashable,
        request: Any,
        args: Sequence[Any] = (),
        timeout: float | None = 5.0,
    ) -> Any:
        """`parent.gen_server.call` the worker of ``id``, started with ``args`` first if
        none is running. If that worker ends before it takes the request (passivation,
        a stop or a crash racing the call), the request goes to the next activation,
        all within ``timeout``: the caller never sees the race, and the request is
        handled at most once.

        Raises:
            ExitError: the worker failed while handling the request.
            CallTimeout: no reply within ``timeout`` (starts and restarts included).
            StartError: the worker could not be started.

        Example:
            ```python
            balance = GenRegistry.call(Accounts, "acct-7", "balance", ["acct-7"])
            ```
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pid = _running(registry, id)
        while True:
            if pid is None:
                pid = GenRegistry.lookup_or_start(registry, id, args, _left(deadline, request))
            try:
                return gen_server.call(pid, request, _left(deadline, request))
            except NoProcess:
                pass  # it died between the lookup and the call: the request was not sent
            except ExitError as exc:
                if exc.handled:
                    raise
            # it ended with the request unread: once it is gone, the next activation
            try:
                pid.join(_left(deadline, request))
            except TimeoutError:
                raise _timed_out(request, timeout) from None
            pid = None

    @staticmethod
    def cast(registry: Server, id: Hashable, request: Any, args: Sequence[Any] = ()) -> None:
        """`parent.gen_server.cast` to the worker of ``id``, started with ``args`` first
        if none is running. A cast that reaches a worker after it decided to passivate
        (or after it died) goes to the next activation: it is never dropped. Returns
        once the request is in the mailbox of a worker that will read it.

        Raises:
            StartError: the worker could not be started.

        Example:
            ```python
            GenRegistry.cast(Accounts, "acct-7", ("deposit", 10), ["acct-7"])
            ```
        """
        item = cast_item(request)
        pid = _running(registry, id)
        while True:
            if pid is None:
                pid = GenRegistry.lookup_or_start(registry, id, args, None)
            if _lc.post_open(pid, item):
                return
            pid.join()  # closing or dead: once it is gone, the next activation
            pid = None


def _left(deadline: float | None, request: Any) -> float | None:
    """Seconds left until ``deadline`` (``None``: no deadline)."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise CallTimeout(f"no reply to {request!r} in time")
    return left


def _timed_out(request: Any, timeout: float | None) -> CallTimeout:
    return CallTimeout(f"no reply to {request!r} within {timeout} s")


def _start_link_spec(
    worker_module: Any, name: Hashable, timeout: float | None, options: dict[str, Any] | None = None
) -> Pid:
    return GenRegistry.start_link(worker_module, name, timeout=timeout, **(options or {}))
