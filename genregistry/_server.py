"""The registry process: a private `parent.Parent` subclass whose children are the workers.

Beside it lives its table ``id -> Pid`` in the module-level map ``_tables``, keyed by the
registry's name:

* only the registry process writes its table (one writer), and it removes the table
  when it dies (a death hook that runs under the runtime lock, before the name is
  freed, so a new registry under the same name never sees the old table);
* any thread reads it without a lock (`genregistry.registry`): a lookup is
  ``_tables[name].get(id)`` plus a liveness check of the pid, so a dead worker is never
  returned, even before the registry has handled its exit.

Starting is decided by the registry alone, so there is exactly one worker per id: the
first request for an id marks it "starting" and later requests for it wait on that
marker. The start itself (``worker_module.start_link(*args)``) runs on a runtime thread
that acts on behalf of the registry (the worker links to the registry, as if the
registry had started it), so a slow ``init`` delays only the callers of its own id.
Stops are asynchronous too: the registry signals the worker and answers the caller
when the worker's exit arrives.

Passivation (``idle_timeout``, ``max_workers``): the registry alone decides that a worker
goes (`parent._lifecycle.passivate`: only if it is idle, atomically with its mailbox
being empty) and removes it from the table at once; the id is then "closing" until the
worker's exit arrives, after its ``terminate``. A start of a closing id waits for that
exit, so there are never two activations of one id, and the new one sees what the old
one saved. The states of an id and their transitions are a table in docs/design.md
("Registry id lifecycle").
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable
from itertools import islice
from typing import Any

from compat._types import ChildType
from compat.child_spec import normalize
from genregistry._lru import Lru
from parent import _lifecycle as _lc
from parent import _pool
from parent import process as _p
from parent._info import Children
from parent._runtime import IdleNotice, _Watch
from parent.errors import AlreadyStarted, NotFound, StartError
from parent.gen_server import NoReply
from parent.parent import Parent, _Child, stop_pids
from parent.process import From, Pid

_CLOSE_TIMEOUT = 30.0  # how long a terminating registry waits for starts in progress
_SAMPLE = 5  # workers the observer shows of a registry
IDLE: Any = ("shutdown", "idle")  # the reason a passivated worker stops with

# registry name -> its table (id -> worker pid). Written under _tables_lock (taken in a
# death hook, so under the runtime's lock: nothing holding _tables_lock may take that).
_tables: dict[Hashable, dict[Hashable, Pid]] = {}
_tables_lock = threading.Lock()


class _Started:
    """Private message from a start job: the result of one start."""

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

    ``cond`` guards ``busy`` (starts in progress) and ``closing``.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
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


class Options:
    """A registry's start options (validated by `genregistry.registry`)."""

    __slots__ = ("hibernate_after", "idle_timeout", "max_workers")

    def __init__(
        self, hibernate_after: float | None, idle_timeout: float | None, max_workers: int | None
    ) -> None:
        self.hibernate_after = hibernate_after
        self.idle_timeout = idle_timeout
        self.max_workers = max_workers


class Registry(Parent):
    """The registry process. Its state is touched only by its own thread, except the
    starters' (see `_Starters`)."""

    _changed_by = "genregistry.GenRegistry"  # not parent.Client

    def init(self, worker_module: Any, name: Hashable, options: Options) -> None:
        self._worker_module = worker_module
        self._name = name
        self._workers: dict[Hashable, Pid] = {}  # the shared table: running, not closing
        # ids whose start is asked for and not answered yet -> their callers
        self._starting: dict[Hashable, list[tuple[From, str]]] = {}
        self._args: dict[Hashable, list[Any]] = {}  # start arguments of queued starts
        self._inflight = 0  # starts running on a start job
        self._closing: dict[Hashable, Pid] = {}  # passivating workers (until their exit)
        self._blocked: set[Hashable] = set()  # starts waiting for their id's closing worker
        # closing ids whose slot is promised to a start in _slot_queue (max_workers)
        self._promised: set[Hashable] = set()
        self._slot_queue: deque[Hashable] = deque()  # starts waiting for a free slot
        self._stopping: dict[Pid, list[From]] = {}
        self._kill_timers: dict[Pid, Any] = {}  # stopped worker -> its kill timer
        self._starters = _Starters()
        self._type: ChildType
        self._type, self._shutdown = _worker_shutdown(worker_module)
        self._start: tuple[Any, list[Any]] = (worker_module.start_link, [])
        self._modules = [worker_module]
        self._hibernate_after = options.hibernate_after
        self._max = options.max_workers
        self._lru = Lru() if options.max_workers is not None else None
        me = self._me
        assert me is not None
        passivates = options.idle_timeout is not None or options.max_workers is not None
        self._watch = _Watch(me, options.idle_timeout) if passivates else None
        idle = options.idle_timeout
        self._retry_idle = 0.001 if idle is None else min(max(idle, 0.001), 1.0)
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
        old = self._closing.get(id)
        if old is not None:
            if old._alive:  # the new activation starts once the old one has ended
                self._args[id] = list(args)
                self._blocked.add(id)
                return NoReply
            self._reap(id, old)
        self._admit(id, list(args))
        return NoReply

    def _admit(self, id: Hashable, args: list[Any]) -> None:
        """Start ``id`` now if a slot is free (``max_workers``), else queue it for the
        next free slot (passivating the least recently used idle worker if no slot is
        on its way), else fail its callers with ``StartError("max_workers")``."""
        limit = self._max
        if limit is None or len(self._children) + self._inflight < limit:
            self._launch(id, args)
            return
        # a slot on its way: a passivating worker whose slot is neither promised to a
        # queued start nor kept by its own id's restart waiting for it
        free = next(
            (i for i in self._closing if i not in self._promised and i not in self._blocked),
            None,
        )
        if free is not None:
            self._promised.add(free)
        else:
            assert self._lru is not None
            if not self._lru.evict(self._workers, self._evict):
                error = StartError(
                    "max_workers",
                    f"registry {self._name!r} has {limit} workers, none of them idle: "
                    f"{id!r} was not started",
                )
                for from_, _op in self._starting.pop(id):
                    from_.put(error)
                return
        self._args[id] = args
        self._slot_queue.append(id)

    def _launch(self, id: Hashable, args: list[Any]) -> None:
        me = self._me
        assert me is not None
        start_link = self._worker_module.start_link
        kwargs = {} if self._hibernate_after is None else {"hibernate_after": self._hibernate_after}
        watch = self._watch
        starters = self._starters
        self._inflight += 1

        def run() -> None:
            if not me._alive:  # killed meanwhile: its callers were answered by its death
                return
            try:
                with _lc.acting_for(me, watch):  # the worker links to the registry
                    result: Pid | StartError = start_link(*args, **kwargs)
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
        self._inflight -= 1
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
                if self._lru is not None:
                    self._lru.add(message.id, result)
            for n, (from_, op) in enumerate(waiters):
                from_.put(result if n == 0 or op == "lookup_or_start" else AlreadyStarted(result))
        else:
            for from_, _op in waiters:
                from_.put(result)
            self._fill_slots()

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

    # -- passivation -----------------------------------------------------------------

    def _passivate(self, pid: Pid, stamp: int) -> bool:
        """Stop ``pid`` (a registered worker) if it is idle and unused since ``stamp``."""
        if not _lc.passivate(pid, stamp, IDLE):
            return False
        child = self._by_pid[pid]
        del self._workers[child.id]  # from now on a lookup of its id gives None
        self._closing[child.id] = pid
        return True

    def _evict(self, pid: Pid, stamp: int) -> bool:
        """Passivate ``pid`` for a start that waits for its slot (`_admit`)."""
        if not self._passivate(pid, stamp):
            return False
        self._promised.add(self._by_pid[pid].id)
        return True

    def _idle(self, notice: IdleNotice) -> None:
        pid = notice.pid
        child = self._by_pid.get(pid)
        if child is not None and (
            self._workers.get(child.id) is not pid or self._passivate(pid, notice.stamp)
        ):
            return  # closing already, or closing now
        # refused although the worker has taken nothing since: it was caught between
        # two states (not adopted yet, between its notice and its next wait, or on its
        # way to hibernation). Its loop sends no other notice: ask again shortly.
        if pid._alive and not pid._closing and pid._used == notice.stamp:
            _p.send_after(self._me, notice, self._retry_idle)  # type: ignore[arg-type]

    def _fill_slots(self) -> None:
        """Start the queued starts that now have a slot."""
        queue = self._slot_queue
        limit = self._max
        while queue and (limit is None or len(self._children) + self._inflight < limit):
            id = queue.popleft()
            self._launch(id, self._args.pop(id))

    # -- exits -----------------------------------------------------------------------

    def _handle_message(self, message: Any) -> Any:
        kind = type(message)
        if kind is _Started:
            self._started(message)
            return None
        if kind is IdleNotice:
            self._idle(message)
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
        if self._closing.get(id) is pid:
            del self._closing[id]
            restart = id in self._blocked  # its next activation waited for this exit
            self._blocked.discard(id)
            if id in self._promised:  # its slot goes to the start it was promised to
                self._promised.discard(id)
                self._fill_slots()
                if restart:
                    self._admit(id, self._args.pop(id))
                return
            if restart:  # it keeps its old activation's slot
                self._launch(id, self._args.pop(id))
        self._fill_slots()

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
            payload = item[1] if type(item) is tuple else None
            if type(payload) is _Started and type(payload.result) is Pid:
                started.append(payload.result)
            else:
                keep.append(item)
        for item in keep:
            _lc.post(me, item)
        return started

    # -- supervisor queries ----------------------------------------------------------

    def _observe(self) -> Children | None:
        # the observer's thread: a count and a few workers, never the whole table. The
        # copy runs in C; only a garbage collection inside it could let the registry's
        # thread change the table meanwhile, and then the sample is skipped this time
        table = getattr(self, "_workers", None)
        if table is None:  # still in its init
            return None
        try:
            sample = tuple(islice(table.items(), _SAMPLE))
        except RuntimeError:  # "dictionary changed size during iteration"
            sample = ()
        return Children({}, {}, len(table), sample)

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
