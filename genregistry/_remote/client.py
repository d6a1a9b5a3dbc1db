"""The caller's side of a sharded registry: `Registry` handles, `RemotePid`s, and the
registry functions (`RemoteRegistry`), over any `Engine`.

Every function picks the id's shard (`route.shard_of`) before any remote work, sends
one request there and turns the answer back into a result or the exception the shard
raised (`shard.ShardCore.run`). The engine decides how a request travels (a Ray actor
call, or a direct call in `local`); when a shard is lost it raises `ShardDown`, which
this module maps to the errors a process on a lost node gives in OTP (see
`_down`).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from genregistry._remote.route import shard_of
from genregistry._remote.shard import ALREADY, OK, Answer, ShardConfig
from parent._runtime import ForeignPid, Pid, Server
from parent.errors import AlreadyStarted, CallTimeout, ExitError, NoProcess, ProcessError

__all__ = [
    "Engine",
    "RemotePid",
    "RemoteRegistry",
    "Registry",
    "ShardDown",
    "forget",
    "lend",
    "register_engine",
]

log = logging.getLogger("genregistry")
A = TypeVar("A")

READ_TIMEOUT = 5.0  # reads (lookup, count, ...), as in the local registry
GRACE = 2.0  # how much longer than a request's own timeout the engine waits for it
RETRIES = 3  # a registry request that meets a lost shard is sent again this often


class ShardDown(Exception):
    """The engine could not get an answer from a shard: it died while (or before)
    handling the request. ``permanent``: it will not come back (shut down).
    ``maybe_ran``: the shard may still be the same incarnation, and may have run the
    request (Ray's ``ActorUnavailableError``)."""

    def __init__(self, shard: str, permanent: bool = False, maybe_ran: bool = False) -> None:
        super().__init__(shard)
        self.shard = shard
        self.permanent = permanent
        self.maybe_ran = maybe_ran


class Engine(Protocol):
    """How requests reach shards. ``key`` names the engine kind in pickled handles."""

    key: str

    def ensure(self, config: ShardConfig, index: int) -> None:
        """Start shard ``index`` of ``config`` unless it runs (never a second one)."""

    def exists(self, namespace: str, name: str, index: int) -> bool: ...

    def run(
        self,
        reg: Registry,
        index: int,
        method: str,
        args: tuple[Any, ...],
        timeout: float | None,
    ) -> Answer:
        """The shard's answer; `ShardDown`, or `CallTimeout` after ``timeout``."""

    def run_all(
        self, reg: Registry, method: str, args: tuple[Any, ...], timeout: float | None
    ) -> list[Answer | ShardDown]:
        """``method`` on every shard at once; a lost shard's answer is its `ShardDown`."""

    def kill(self, reg: Registry, index: int) -> None:
        """Stop shard ``index`` for good."""


_engines: dict[str, Engine] = {}


def register_engine(engine: Engine) -> None:
    """Make ``engine`` the one that handles named ``engine.key`` resolve to."""
    _engines[engine.key] = engine


def _engine(key: str) -> Engine:
    engine = _engines.get(key)
    if engine is None and key == "ray":
        import genregistry.ray  # noqa: F401  (registers the Ray engine)

        engine = _engines.get(key)
    if engine is None:
        raise NoProcess(f"no {key!r} engine in this process for a remote registry")
    return engine


@dataclass(frozen=True)
class Registry:
    """A handle on a sharded registry: small, picklable, the same in every process.

    Example:
        ```python
        reg = RayRegistry.create(Denylist, name="denylist")
        same = RayRegistry.connect("denylist")
        assert same == reg
        ```
    """

    name: str
    namespace: str
    shards: int
    engine: str = "ray"
    token: str = ""  # which creation of the registry (see shard.ShardConfig.token)

    def shutdown(self) -> None:
        """Stop every shard, and with them every worker (their ``terminate`` runs).
        Handles and pids of this registry then fail with `NoProcess` (a later `create`
        makes a new one).

        Example:
            ```python
            reg.shutdown()
            ```
        """
        engine = _engine(self.engine)
        for index in range(self.shards):
            engine.kill(self, index)
        forget(self)

    def shard_name(self, index: int) -> str:
        """The name of shard ``index`` (in the engine's namespace ``namespace``)."""
        return f"genregistry:{self.name}:{index}"


class RemotePid(ForeignPid):
    """The pid of a worker in a shard: picklable, equal across processes, usable from
    any driver, task or actor with `gen_server.call`, `gen_server.cast` and
    `is_alive`. It names one activation: once that worker has ended, or its shard was
    replaced (the epoch differs), it gets `NoProcess`; casts to it are dropped.

    Example:
        ```python
        pid = RayRegistry.lookup_or_start(reg, "+15551234567", ["+15551234567"])
        gen_server.call(pid, ("deny", "+15550000000"))
        assert pid.is_alive()
        ```
    """

    __slots__ = ("_epoch", "_key", "_num", "_reg", "_shard")

    def __init__(self, reg: Registry, shard: int, epoch: str, key: Hashable, num: int) -> None:
        self._reg = reg
        self._shard = shard
        self._epoch = epoch
        self._key = key
        self._num = num

    def __reduce__(self) -> tuple[Any, ...]:
        return RemotePid, (self._reg, self._shard, self._epoch, self._key, self._num)

    def _ident_tuple(self) -> tuple[Any, ...]:
        return (self._reg, self._shard, self._epoch, self._key, self._num)

    def __eq__(self, other: object) -> bool:
        return type(other) is RemotePid and self._ident_tuple() == other._ident_tuple()

    def __hash__(self) -> int:
        return hash(self._ident_tuple())

    def __repr__(self) -> str:
        return f"<RemotePid {self._reg.name}/{self._shard} {self._key!r} #{self._num}>"

    @property
    def id(self) -> Hashable:
        """The registry id this worker was started for."""
        return self._key

    def is_alive(self) -> bool:
        """Whether this activation is still registered (one round trip to its shard;
        ``False`` once its shard is lost or replaced)."""
        try:
            answer = _engine(self._reg.engine).run(
                self._reg, self._shard, "pid_alive", self._where(), _wait(READ_TIMEOUT)
            )
            return bool(_unwrap(self._reg, self._shard, self._key, answer))
        except (ShardDown, NoProcess):  # lost, or a handle of a shut-down registry
            return False

    def _where(self) -> tuple[Any, ...]:
        return (self._epoch, self._key, self._num)

    def _call(self, request: Any, timeout: float | None) -> Any:
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
        engine = _engine(self._reg.engine)
        args = (*self._where(), request, timeout)
        try:
            answer = engine.run(self._reg, self._shard, "pid_call", args, _wait(timeout))
        except ShardDown as e:
            raise _down(e, self._reg, request) from e
        return _unwrap(self._reg, self._shard, self._key, answer)

    def _cast(self, request: Any) -> None:
        # waits for the shard to take it: the shard runs requests on many threads, so
        # a cast not waited for could overtake an earlier one, or a later call
        engine = _engine(self._reg.engine)
        args = (*self._where(), request)
        try:
            engine.run(self._reg, self._shard, "pid_cast", args, _wait(READ_TIMEOUT))
        except (ShardDown, CallTimeout) as e:  # lost, like a message to a node gone down
            log.warning("a cast to %r was lost with its shard: %r", self, e)


def _wait(timeout: float | None) -> float | None:
    return None if timeout is None else timeout + GRACE


def _down(e: ShardDown, reg: Registry, request: Any) -> ProcessError:
    """The error for a request its shard did not answer and that is not sent again:
    `NoProcess` for a registry shut down, else OTP's ``{nodedown, Node}`` (the worker
    may or may not have taken the request)."""
    if e.permanent:
        return NoProcess(f"shard {e.shard} of {reg.name!r} is not running")
    return ExitError(
        ("nodedown", e.shard),
        f"shard {e.shard} was lost before it replied to {request!r}",
        handled=True,
    )


def _unwrap(reg: Registry, shard: int, key: Hashable, answer: Answer) -> Any:
    tag, value = answer
    if tag == OK:
        return value
    if tag == ALREADY:
        epoch, num = value
        raise AlreadyStarted(RemotePid(reg, shard, epoch, key, num))
    raise value


# -- which registry, which shard -------------------------------------------------------

# names (and holder pids) known in this process -> the registry, and the holder that
# lends it (None for create/connect: then the name stays until shutdown). Read without
# a lock (one dict.get); written under _named_lock by `lend` and `forget` only.
_named: dict[Hashable, tuple[Registry, Pid | None]] = {}
_named_lock = threading.Lock()


def lend(key: Hashable, reg: Registry, lender: Pid | None = None) -> None:
    """Let ``key`` stand for ``reg`` in this process: for good (``lender`` None, by
    `create`/`connect`), or while ``lender`` lives, unless the key is taken."""
    with _named_lock:
        if lender is None:
            _named[key] = (reg, None)
        else:
            _named.setdefault(key, (reg, lender))


def _registry(registry: Server) -> Registry:
    if type(registry) is Registry:
        return registry
    try:
        entry = _named.get(registry)
    except TypeError:
        raise TypeError(
            f"a remote registry must be a Registry or a name, got {registry!r}"
        ) from None
    if entry is None or (entry[1] is not None and not entry[1].is_alive()):
        raise NoProcess(
            f"no remote registry is known as {registry!r} in this process: "
            "pass the Registry that create or connect returned"
        )
    return entry[0]


def forget(reg: Registry, lender: Pid | None = None) -> None:
    """Drop the names of ``reg`` (only those ``lender`` lent, if given)."""
    with _named_lock:
        for key, (known, by) in list(_named.items()):
            if known == reg and (lender is None or by is lender):
                del _named[key]


def _route(registry: Server, id: Hashable) -> tuple[Registry, int]:
    reg = _registry(registry)
    return reg, shard_of(id, reg.shards)


def _request(
    reg: Registry,
    index: int,
    id: Hashable,
    method: str,
    args: tuple[Any, ...],
    timeout: float | None,
) -> Any:
    """A registry request, sent again (up to `RETRIES` times) when its shard is lost:
    each of these is safe to repeat on a shard that starts empty."""
    engine = _engine(reg.engine)
    for attempt in range(RETRIES + 1):
        try:
            answer = engine.run(reg, index, method, args, _wait(timeout))
            return _unwrap(reg, index, id, answer)
        except ShardDown as e:
            if e.maybe_ran and method in ("start", "stop"):  # not safe to run twice
                raise _down(e, reg, method) from e
            if e.permanent or attempt == RETRIES:
                raise NoProcess(f"shard {e.shard} of {reg.name!r} is not running") from e
            log.warning("shard %s lost during %s(%r); sending it again", e.shard, method, id)
    raise AssertionError("unreachable")


def _gather(reg: Registry, method: str) -> list[Any]:
    answers = _engine(reg.engine).run_all(reg, method, (), _wait(READ_TIMEOUT))
    out = []
    for index, answer in enumerate(answers):
        if isinstance(answer, ShardDown):  # asked once more, alone
            out.append(_request(reg, index, None, method, (), READ_TIMEOUT))
        else:
            out.append(_unwrap(reg, index, None, answer))
    return out


def _start(
    registry: Server, id: Hashable, args: Sequence[Any], timeout: float | None, method: str
) -> RemotePid:
    reg, index = _route(registry, id)
    epoch, num = _request(reg, index, id, method, (id, list(args), timeout), timeout)
    return RemotePid(reg, index, epoch, id, num)


class RemoteRegistry:
    """The `genregistry.Behaviour` functions over a sharded registry (the engine is
    the registry handle's). `genregistry.ray.RayRegistry` is this class with Ray's
    ``create``, ``connect``, ``start_link`` and ``child_spec``."""

    @staticmethod
    def lookup(registry: Server, id: Hashable) -> Pid | None:
        """The running worker of ``id``, or ``None`` (one round trip to its shard)."""
        reg, index = _route(registry, id)
        found = _request(reg, index, id, "lookup", (id,), READ_TIMEOUT)
        return None if found is None else RemotePid(reg, index, found[0], id, found[1])

    @staticmethod
    def lookup_or_start(
        registry: Server, id: Hashable, args: Sequence[Any] = (), timeout: float | None = 5.0
    ) -> Pid:
        """The running worker of ``id``, or one started with ``args`` in its shard."""
        return _start(registry, id, args, timeout, "lookup_or_start")

    @staticmethod
    def start(
        registry: Server, id: Hashable, args: Sequence[Any] = (), timeout: float | None = 5.0
    ) -> Pid:
        """Start ``id``'s worker; `AlreadyStarted` (with its `RemotePid`) if it runs."""
        return _start(registry, id, args, timeout, "start")

    @staticmethod
    def stop(registry: Server, id: Hashable, timeout: float | None = None) -> None:
        """Stop ``id``'s worker as the local registry does; `NotFound` if none runs."""
        reg, index = _route(registry, id)
        _request(reg, index, id, "stop", (id, timeout), timeout)

    @staticmethod
    def count(registry: Server) -> int:
        """How many workers run, over all shards."""
        return sum(_gather(_registry(registry), "count"))

    @staticmethod
    def sample(registry: Server) -> tuple[Hashable, Pid] | None:
        """One running ``(id, pid)`` (shards asked in a random order), or ``None``."""
        reg = _registry(registry)
        for index in random.sample(range(reg.shards), reg.shards):
            epoch, found = _request(reg, index, None, "sample", (), READ_TIMEOUT)
            if found is not None:
                return found[0], RemotePid(reg, index, epoch, found[0], found[1])
        return None

    @staticmethod
    def reduce(registry: Server, acc: A, fn: Callable[[tuple[Hashable, Pid], A], A]) -> A:
        """Fold ``fn((id, pid), acc)`` over `to_list` (here, in the caller)."""
        for entry in RemoteRegistry.to_list(registry):
            acc = fn(entry, acc)
        return acc

    @staticmethod
    def to_list(registry: Server) -> list[tuple[Hashable, Pid]]:
        """Every running ``(id, pid)`` over all shards; no ordering promised."""
        reg = _registry(registry)
        out: list[tuple[Hashable, Pid]] = []
        for index, (epoch, entries) in enumerate(_gather(reg, "to_list")):
            out.extend((k, RemotePid(reg, index, epoch, k, n)) for k, n in entries)
        return out

    @staticmethod
    def call(
        registry: Server,
        id: Hashable,
        request: Any,
        args: Sequence[Any] = (),
        timeout: float | None = 5.0,
    ) -> Any:
        """`GenRegistry.call` in ``id``'s shard: one round trip, the worker started
        there if needed. A shard lost before it replies gives ``ExitError(("nodedown",
        shard))`` (the request may have been handled; it is not sent again)."""
        reg, index = _route(registry, id)
        engine = _engine(reg.engine)
        try:
            answer = engine.run(
                reg, index, "call", (id, request, list(args), timeout), _wait(timeout)
            )
        except ShardDown as e:
            raise _down(e, reg, request) from e
        return _unwrap(reg, index, id, answer)

    @staticmethod
    def cast(registry: Server, id: Hashable, request: Any, args: Sequence[Any] = ()) -> None:
        """`GenRegistry.cast` in ``id``'s shard. It waits for the shard to take it (so
        a failed start raises `StartError` here); a cast to a shard lost meanwhile is
        lost, like a message to a node that goes down."""
        reg, index = _route(registry, id)
        engine = _engine(reg.engine)
        try:
            answer = engine.run(reg, index, "cast", (id, request, list(args)), None)
        except ShardDown as e:
            if e.permanent:
                raise _down(e, reg, request) from e
            log.warning("shard %s lost with a cast to %r", e.shard, id)
            return
        _unwrap(reg, index, id, answer)
