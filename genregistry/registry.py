"""GenRegistry: one worker per id, looked up or started on demand.

The registry process is a private `parent.Parent` subclass (`_Registry`) whose children
are the workers. Beside it lives a table ``id -> Pid`` in the module-level map
``_tables``, keyed by the registry's name:

* only the registry process writes its table (one writer), and it removes the table
  when it dies (a death hook that runs under the runtime lock, before the name is
  freed, so a new registry under the same name never sees the old table);
* any thread reads it without a lock: a lookup is ``_tables[name].get(id)`` plus a
  liveness check of the pid, so a dead worker is never returned, even before the
  registry has handled its exit. Snapshots (``list(table.items())``) are taken in one C
  call under the GIL.

Starting is decided by the registry alone, so there is exactly one worker per id: the
first request for an id marks it "starting" and later requests for it wait on that
marker. The start itself (``worker_module.start_link(*args)``) runs in a short-lived
starter thread that acts on behalf of the registry (the worker links to the registry,
as if the registry had started it), so a slow ``init`` delays only the callers of its
own id. Stops are asynchronous too: the registry signals the worker and answers the
caller when the worker's exit arrives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

from compat._types import ChildSpec, ChildType
from compat.child_spec import normalize
from compat.config import gen_module
from parent import _lifecycle as _lc
from parent import _pool
from parent import process as _p
from parent.errors import AlreadyStarted, NoProcess, NotFound, StartError
from parent.gen_server import NoReply
from parent.parent import Parent, _Child, stop_pids
from parent.process import From, Pid, Server

__all__ = ["GenRegistry"]

A = TypeVar("A")

_READ_TIMEOUT = 5.0
_CLOSE_TIMEOUT = 30.0  # how long a terminating registry waits for starts in progress

# registry name -> its table (id -> worker pid). Written under _tables_lock (taken in a
# death hook, so under the runtime's lock: nothing holding _tables_lock may take that).
_tables: dict[Hashable, dict[Hashable, Pid]] = {}
_tables_lock = threading.Lock()


class _Started:
    """Private message from a starter thread: the result of one start."""

    __slots__ = ("id", "result")

    def __init__(self, id: Hashable, result: Pid | StartError) -> None:
        self.id = id
        self.result = result


class _KillAfter:
    """Private timer message: a stopped worker's ``shutdown`` time is over."""

    __slots__ = ("pid",)

    def __init__(self, pid: Pid) -> None:
        self.pid = pid


class _Starters:
    """The starts in progress of one registry. Each start runs on a runtime thread
    (`parent._pool`: parked threads are reused, so a burst of new ids does not create
    one thread per start), acting for the registry; a slow ``init`` holds up only the
    thread (and the id) it runs on.

    ``cond`` (over the registry's ``_start_lock``) guards ``busy`` (starts in progress)
    and ``closing``.
    """

    def __init__(self, lock: threading.Lock) -> None:
        self.cond = threading.Condition(lock)
        self.busy = 0
        self.closing = False

    def submit(self, job: Callable[[], None]) -> None:
        with self.cond:
            if self.closing:
                return  # a start the closed registry no longer wants
            self.busy += 1
        _pool.submit(self._run, job)

    def _run(self, job: Callable[[], None]) -> None:
        try:
            with self.cond:
                if self.closing:
                    return  # a start the closed registry no longer wants
            job()
        finally:
            with self.cond:
                self.busy -= 1
                if not self.busy:
                    self.cond.notify_all()

    def close(self) -> None:
        """No more starts: a job not yet begun is dropped."""
        with self.cond:
            self.closing = True

    def wait_idle(self, timeout: float | None) -> None:
        """Wait (up to ``timeout``) until no start is in progress. A start that finishes
        after `close` stops the worker it started itself."""
        with self.cond:
            self.cond.wait_for(lambda: not self.busy, timeout)


class _Registry(Parent):
    """The registry process. Its state is touched only by its own thread, except the
    starters' (see `_Starters`), guarded by ``_start_lock``."""

    def init(self, worker_module: Any, name: Hashable) -> None:
        self._worker_module = worker_module
        self._name = name
        self._workers: dict[Hashable, Pid] = {}
        self._starting: dict[Hashable, list[tuple[From, str]]] = {}
        self._stopping: dict[Pid, list[From]] = {}
        self._kill_timers: dict[Pid, Any] = {}  # stopped worker -> its kill timer
        # _start_lock guards the starters' state (see _Starters); once the registry is
        # closing, a starter kills the worker it started instead of handing it over
        self._start_lock = threading.Lock()
        self._starters = _Starters(self._start_lock)
        self._type: ChildType
        self._type, self._shutdown = _worker_shutdown(worker_module)
        self._start: tuple[Any, list[Any]] = (worker_module.start_link, [])
        self._modules = [worker_module]
        me = self._me
        assert me is not None
        table = self._workers
        with _tables_lock:
            if name in _tables:
                raise StartError(("table_exists", name), f"a registry named {name!r} exists")
            _tables[name] = table

        def drop_table(_pid: Pid) -> None:
            with _tables_lock:
                if _tables.get(name) is table:
                    del _tables[name]

        _lc.on_death(me, drop_table)

    # -- requests --------------------------------------------------------------------

    def handle_call(self, request: Any, from_: From) -> Any:
        op = request[0]
        if op == "lookup_or_start" or op == "start":
            return self._lookup_or_start(op, request[1], request[2], from_)
        if op == "stop":
            return self._stop_worker(request[1], from_)
        if op == "lookup":
            pid = self._workers.get(request[1])
            return pid if pid is not None and pid._alive else None
        if op == "count":
            return sum(1 for pid in self._workers.values() if pid._alive)
        if op == "to_list":
            return [(i, pid) for i, pid in self._workers.items() if pid._alive]
        return ValueError(f"unknown registry request {request!r}")

    def _lookup_or_start(self, op: str, id: Hashable, args: list[Any], from_: From) -> Any:
        try:
            pid = self._workers.get(id)
        except TypeError:
            return TypeError(f"a registry id must be hashable, got {id!r}")
        if pid is not None:
            if pid._alive:
                return pid if op == "lookup_or_start" else AlreadyStarted(pid)
            self._reap(id, pid)  # dead, its exit not handled yet: forget it now
        waiters = self._starting.get(id)
        if waiters is not None:
            waiters.append((from_, op))
            return NoReply
        self._starting[id] = [(from_, op)]
        self._launch(id, list(args))
        return NoReply

    def _launch(self, id: Hashable, args: list[Any]) -> None:
        me = self._me
        assert me is not None
        start_link = self._worker_module.start_link
        starters = self._starters

        def run() -> None:
            if not me._alive:  # killed meanwhile: its callers were answered by its death
                return
            try:
                with _lc.acting_for(me):  # the worker links to the registry
                    result: Pid | StartError = start_link(*args)
                if type(result) is not Pid:
                    result = StartError(
                        ("bad_return", result),
                        f"{self._worker_module!r}.start_link returned {result!r}, not a Pid",
                    )
            except StartError as exc:
                result = exc
            except Exception as exc:
                result = StartError(exc, f"starting worker {id!r} failed: {exc!r}")
                result.__cause__ = exc
            with starters.cond:
                if not starters.closing:
                    _p.send(me, _Started(id, result))
                    return
            if type(result) is Pid:
                stop_pids([(result, self._shutdown)])

        starters.submit(run)

    def _started(self, message: _Started) -> None:
        waiters = self._starting.pop(message.id, [])
        result = message.result
        if type(result) is Pid:
            if result._alive:
                self._workers[message.id] = result
                child = _Child(
                    {
                        "id": message.id,
                        "start": self._start,  # shared by all workers: a million of
                        "shutdown": self._shutdown,  # them must cost little each
                        "type": self._type,
                        "modules": self._modules,
                    },
                    result,
                )
                self._adopt(child)
            for n, (from_, op) in enumerate(waiters):
                from_.put(result if n == 0 or op == "lookup_or_start" else AlreadyStarted(result))
        else:
            for from_, _op in waiters:
                from_.put(result)

    def _stop_worker(self, id: Hashable, from_: From) -> Any:
        try:
            child = self._children.get(id)
        except TypeError:
            return TypeError(f"a registry id must be hashable, got {id!r}")
        if child is None or not child.pid._alive:
            return NotFound(f"no worker with id {id!r} in registry {self._name!r}")
        pid = child.pid
        waiting = self._stopping.get(pid)
        if waiting is not None:
            waiting.append(from_)
            return NoReply
        self._stopping[pid] = [from_]
        if self._shutdown == "brutal_kill":
            _lc.kill(pid)
        else:
            _p.exit(pid, "shutdown")
            if self._shutdown != "infinity":
                self._kill_timers[pid] = _p.send_after(
                    self._me,  # type: ignore[arg-type]
                    _KillAfter(pid),
                    float(self._shutdown),
                )
        return NoReply

    # -- exits -----------------------------------------------------------------------

    def _handle_message(self, message: Any) -> Any:
        kind = type(message)
        if kind is _Started:
            self._started(message)
            return None
        if kind is _KillAfter:
            if message.pid in self._by_pid:
                _lc.kill(message.pid)
            return None
        if kind is _p.Exit and message.pid not in self._by_pid:
            self._reaped.discard(message.pid)
            return None  # a worker that died before the registry adopted it
        return super()._handle_message(message)

    def _reap(self, id: Hashable, pid: Pid) -> None:
        child = self._by_pid.get(pid)
        if child is not None:
            self._forget(child)
        self._worker_gone(id, pid)

    def _child_exited(self, child: _Child, reason: Any) -> Any:
        self._worker_gone(child.id, child.pid)
        return None

    def _worker_gone(self, id: Hashable, pid: Pid) -> None:
        if self._workers.get(id) is pid:
            del self._workers[id]
        timer = self._kill_timers.pop(pid, None)
        if timer is not None:
            _p.cancel_timer(timer)
        for from_ in self._stopping.pop(pid, ()):
            from_.put(None)

    def _terminate(self, reason: Any) -> None:
        self._starters.close()  # no start begins from now on
        try:
            self.terminate(reason)
        finally:
            for timer in self._kill_timers.values():
                _p.cancel_timer(timer)
            self._kill_timers.clear()
            started = self._drain_started()
            children = list(self._children.values())
            for child in children:
                self._forget(child)
            stop_pids(
                [(c.pid, c.shutdown) for c in reversed(children)]
                + [(pid, self._shutdown) for pid in started]
                + [(pid, self._shutdown) for pid in self._starting_workers()]
            )
            # a start that was past its check when we closed may still create a worker;
            # it stops that worker itself on finding the registry closed: wait for it, so
            # that no worker outlives the registry (bounded: a start ends within its
            # init timeout)
            self._starters.wait_idle(_CLOSE_TIMEOUT)
            self._workers.clear()

    def _starting_workers(self) -> list[Pid]:
        """Workers whose start is still in progress (their ``init`` running): linked to
        the registry, which started them, but not its children yet."""
        me = self._me
        assert me is not None
        return [q for q in _p._links_of(me) if q._parent is me and q not in self._by_pid]

    def _drain_started(self) -> list[Pid]:
        """Workers whose start reports are still in the mailbox (none can arrive once
        the starters are closed)."""
        me = self._me
        assert me is not None
        started: list[Pid] = []
        keep: list[Any] = []
        for item in _lc.take_all(me):
            payload = item[1]
            if type(payload) is _Started and type(payload.result) is Pid:
                started.append(payload.result)
            else:
                keep.append(item)
        for item in keep:
            _lc.post(me, item)
        return started

    # -- supervisor queries ----------------------------------------------------------

    def _sys_which_children(self) -> list[tuple[Any, Pid | None, str, Any]]:
        return [(c.id, c.pid, c.type, [self._worker_module]) for c in self._children.values()]

    def _sys_count_children(self) -> dict[str, int]:
        n = len(self._children)
        supervisors = n if self._type == "supervisor" else 0
        return {"specs": 1, "active": n, "supervisors": supervisors, "workers": n - supervisors}


def _worker_shutdown(worker_module: Any) -> tuple[ChildType, Any]:
    kind: ChildType = (
        "supervisor"
        if isinstance(worker_module, type) and issubclass(worker_module, Parent)
        else "worker"
    )
    child_spec = getattr(worker_module, "child_spec", None)
    if callable(child_spec):
        try:
            spec = normalize(child_spec())
        except Exception:
            spec = None
        if spec is not None:
            return kind, spec["shutdown"]
    return kind, ("infinity" if kind == "supervisor" else 5.0)


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
        """The child spec of a registry: ``worker_module`` is required, ``name``
        (default: the worker class) and ``timeout`` are optional. Its id is the name,
        its type ``"supervisor"``, its shutdown ``"infinity"``.

        Raises:
            KeyError: ``worker_module`` is missing.
            ValueError: an unknown option.

        Example:
            ```python
            children = [
                GenRegistry.child_spec(worker_module=Worker, name="reads"),
                (GenRegistry, {"worker_module": Worker, "name": "writes"}),
            ]
            ```
        """
        options = dict(opts or {})
        options.update(kwargs)
        if "worker_module" not in options:
            raise KeyError("worker_module")
        worker_module = options.pop("worker_module")
        name = options.pop("name", None)
        if name is None:
            name = worker_module
        timeout = options.pop("timeout", 5.0)
        if options:
            raise ValueError(
                f"unknown GenRegistry option(s) {sorted(options)!r}; "
                "expected worker_module, name, timeout"
            )
        return {
            "id": name,
            "start": (_start_link_spec, [worker_module, name, timeout]),
            "type": "supervisor",
            "shutdown": "infinity",
            "modules": [GenRegistry],
        }

    @staticmethod
    def start_link(
        worker_module: Any, name: Hashable = None, *, timeout: float | None = 5.0
    ) -> Pid:
        """Start a registry for ``worker_module``, linked to the caller, registered under
        ``name`` (default: ``worker_module``).

        Raises:
            AlreadyStarted: a process already has that name.

        Example:
            ```python
            registry = GenRegistry.start_link(Worker)
            ```
        """
        if not callable(getattr(worker_module, "start_link", None)):
            raise TypeError(f"worker_module must have a start_link function, got {worker_module!r}")
        if name is None:
            name = worker_module
        _p._check_hashable(name, "a registry name")
        return _Registry.start_link(worker_module, name, name=name, timeout=timeout)

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
        # the hot path: the same read as _running, inlined (no Python call but this one)
        if type(registry) is not Pid:
            try:
                pid = _tables[registry].get(id)
            except KeyError:
                raise NoProcess(f"no registry is running under the name {registry!r}") from None
            except TypeError:
                _table(registry)  # an unhashable name raises its own error here
                raise TypeError(f"a registry id must be hashable, got {id!r}") from None
            if pid is not None and pid._alive:
                return pid
            return None
        _check_id(id)
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
        running = _running(registry, id)
        if running is not None:
            return running
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


def _start_link_spec(worker_module: Any, name: Hashable, timeout: float | None) -> Pid:
    return GenRegistry.start_link(worker_module, name, timeout=timeout)
