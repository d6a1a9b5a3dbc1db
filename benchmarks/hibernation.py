"""Hibernation benchmark: a million registered workers that hold no thread.

Run from the repository root::

    PYTHONPATH=. python benchmarks/hibernation.py                    # 1,000,000 workers, ~3 min
    PYTHONPATH=. python benchmarks/hibernation.py --quick            # 20,000 workers, ~10 s
    PYTHONPATH=. python benchmarks/hibernation.py --workers 200000 --reps 9

Every figure of ours is printed beside the stdlib's raw mechanism, measured in the same
run (and, where both are latencies, in the same process at the same time, interleaved
repetitions with a rotating order), as a ratio, with the issue's target. Latencies are
medians of ``--reps`` repetitions (default 7, quick 5). The parent pins itself to one
CPU with ``os.sched_setaffinity(0, {cpu})`` before it starts anything, every child
inherits that and pins itself again (see docs/performance.md: on a 2-vCPU VM a hand-off
between threads on different CPUs costs tens of microseconds).

Each configuration runs in a fresh child process, so that resident memory (VmRSS of
/proc/self/status) is one contender's alone:

* ``registry``: a `GenRegistry` whose worker module's ``start_link`` passes
  ``hibernate_after=0.0``; ``N`` ids started with ``GenRegistry.lookup_or_start(Worker,
  i, [i])`` after 1,000 warm-up ids; then (every worker hibernated, the runtime's
  threads settled, ``gc.collect()``) RSS growth / N, the threads left, the time per
  start. In the same process, with the N still registered: ``gen_server.call`` to one
  awake GenServer, and calls that each go to a different hibernated worker (each wakes
  it: a hand-off to a parked runtime thread; it hibernates again after the reply),
  both beside the raw round trip (two ``SimpleQueue`` objects and an echo thread).
  Then the per-worker memory breakdown (below) and ``gen_server.stop`` of the registry.
* ``plain``: the same workers started as ``Worker.start(i, hibernate_after=0.0)``, no
  registry, kept in a ``dict``: the runtime's share of the memory.
* ``raw``: the minimal Python object set of the same thing, ``dict[int,
  tuple[SimpleQueue, State]]`` where ``State`` is a plain class with one attribute.
* ``small``: few processes alive. A start that then hibernates (``Worker.start(i,
  hibernate_after=0.0)``, and ``GenRegistry.lookup_or_start`` of a new id) beside a raw
  ``threading.Thread`` start plus a ready handshake (an ``Event`` the thread sets and the
  starter waits on; the raw threads stay alive, blocked on an ``Event``, as our workers
  stay alive, and are released after each repetition); and ``gen_server.call`` to a
  plain GenServer beside the raw round trip. Starts are timed in batches of back to back
  starts on one CPU, so each worker's own hibernation is inside the timed part. Batches
  are small enough to keep fewer than 1,000 processes alive (see the futex note).

Futex hash: the runtime moves the process to the kernel's global futex hash once 1,000
processes are live (``parent/_futex.py``; ``PARENT_FUTEX_HASH=private`` opts out). The
``registry`` and ``plain`` children cross that during their warm-up; each child reports
its ``parent._futex.slots()`` (0: the global hash) and the table says when it switched.

The memory breakdown lists, for one worker of the registry child, every object it owns
alone (checked by identity against another worker's) with its ``sys.getsizeof`` and the
size pymalloc gives it (16-byte classes), the objects whose size Python does not expose
(a ``SimpleQueue``'s list and lock, an instance's inline attribute values) measured with
``tracemalloc`` over 10,000 fresh copies, and every table's bytes per entry at N.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, field
from queue import SimpleQueue
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:  # run as a script from anywhere: import the checkout's packages
    sys.path.insert(0, ROOT)

from genregistry import GenRegistry  # noqa: E402
from parent import From, GenServer, Pid, gen_server, process  # noqa: E402

WORKERS = 1_000_000
WORKERS_QUICK = 20_000
WARMUP = 1_000  # workers started (and not counted) before the "before" RSS reading
HIBERNATE_AFTER = 0.0
PROGRESS_EVERY = 100_000

# -- the workers ------------------------------------------------------------------------


class Worker(GenServer):
    """A registry's worker: its state is its id; it echoes calls; it hibernates as soon
    as it has nothing to do (``start_link`` passes ``hibernate_after=0.0``, which is how
    a registry, that calls ``worker_module.start_link(*args)``, gets hibernating
    workers)."""

    def init(self, i: int) -> None:
        self.i = i

    def handle_call(self, request: Any, from_: From) -> Any:
        return request

    @classmethod
    def start_link(
        cls,
        *args: Any,
        name: Hashable = None,
        timeout: float | None = 5.0,
        hibernate_after: float | None = HIBERNATE_AFTER,
    ) -> Pid:
        return super().start_link(
            *args, name=name, timeout=timeout, hibernate_after=hibernate_after
        )


class Echo(GenServer):
    """A GenServer that never hibernates and echoes calls."""

    def handle_call(self, request: Any, from_: From) -> Any:
        return request


class State:
    """The raw baseline's worker state: a plain object with one attribute."""

    def __init__(self, i: int) -> None:
        self.i = i


# -- helpers ------------------------------------------------------------------------------


def pin(cpu: int | None = None) -> int:
    """Pin the whole process (the threads alive now and, by inheritance, later ones)."""
    allowed = os.sched_getaffinity(0)
    chosen = min(allowed) if cpu is None or cpu not in allowed else cpu
    os.sched_setaffinity(0, {chosen})
    for tid in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(tid), {chosen})
    return chosen


def rss() -> int:
    """VmRSS of this process, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def wait_for(condition: Callable[[], bool], timeout: float, poll: float = 0.01) -> bool:
    """Wait until ``condition()`` holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
    return True


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def futex_slots() -> int | None:
    from parent import _futex

    return _futex.slots()


class Hibernated:
    """``all hibernated`` over many pids, resumable: a poll restarts where the last one
    found an awake worker (a million pids are checked once, not once per poll)."""

    def __init__(self, pids: Callable[[int], Pid | None], n: int) -> None:
        self.pids = pids
        self.n = n
        self.next = 0

    def __call__(self) -> bool:
        get = self.pids
        while self.next < self.n:
            pid = get(self.next)
            if pid is None or not pid._hib:
                return False
            self.next += 1
        return True


def settle(
    all_hibernated: Callable[[], bool], threads: int, timeout: float = 60.0
) -> tuple[bool, float]:
    """Wait until every worker hibernates and at most ``threads`` threads are alive (the
    runtime's parked threads exit after ``parent._pool.LINGER`` idle). Returns whether
    both held in time and how long it took."""
    t0 = time.perf_counter()
    ok = wait_for(all_hibernated, timeout) and wait_for(
        lambda: threading.active_count() <= threads, timeout
    )
    gc.collect()
    return ok, time.perf_counter() - t0


def interleaved(
    reps: int, contenders: dict[str, Callable[[], float]], warmup: bool = True
) -> dict[str, list[float]]:
    """Run every contender (each returns seconds per operation) ``reps`` times, round
    robin with a rotating order, after one untimed warm-up run each."""
    names = list(contenders)
    if warmup:
        for fn in contenders.values():
            fn()
    out: dict[str, list[float]] = {k: [] for k in names}
    for rep in range(reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            out[name].append(contenders[name]())
    return out


_STOP = object()


class RawEcho:
    """The raw round trip: ``put`` on one ``SimpleQueue``, an echo thread ``put``s it
    back on another, ``get``."""

    def __init__(self) -> None:
        self.requests: SimpleQueue[object] = SimpleQueue()
        self.replies: SimpleQueue[object] = SimpleQueue()
        self.thread = threading.Thread(target=self._echo, daemon=True)
        self.thread.start()

    def _echo(self) -> None:
        get = self.requests.get
        put = self.replies.put
        while True:
            item = get()
            if item is _STOP:
                return
            put(item)

    def timer(self, rounds: int) -> Callable[[], float]:
        def run() -> float:
            put = self.requests.put
            get = self.replies.get
            t0 = time.perf_counter()
            for _ in range(rounds):
                put(1)
                get()
            return (time.perf_counter() - t0) / rounds

        return run

    def stop(self) -> None:
        self.requests.put(_STOP)
        self.thread.join()


def call_timer(pid: Pid, rounds: int) -> Callable[[], float]:
    def run() -> float:
        call = gen_server.call
        t0 = time.perf_counter()
        for _ in range(rounds):
            call(pid, 1)
        return (time.perf_counter() - t0) / rounds

    return run


# -- memory breakdown -----------------------------------------------------------------------


def allocated(size: int) -> int:
    """What pymalloc hands out for a request of ``size`` bytes (16-byte size classes up
    to 512 bytes; larger requests go to the C allocator as they are)."""
    return (size + 15) // 16 * 16 if size <= 512 else size


@dataclass
class Part:
    component: str
    scope: str  # "runtime" (every process), "registry" (a registry's worker), "raw"
    requested: float  # bytes per worker
    allocated: float  # bytes per worker, rounded as pymalloc does
    how: str


def traced(make: Callable[[], object], k: int = 10_000) -> tuple[float, float]:
    """Bytes per object that ``make()`` allocates and keeps, over ``k`` fresh ones
    (tracemalloc: everything, including C-level blocks such as a lock)."""
    keep: list[object] = [None] * k
    gc.collect()
    tracemalloc.start()
    try:
        for j in range(k):
            keep[j] = make()
        snap = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    sizes = [t.size for t in snap.traces]
    del keep
    return sum(sizes) / k, sum(allocated(s) for s in sizes) / k


def per_entry(container: Any, entries: int) -> float:
    return sys.getsizeof(container) / entries


class _Walk:
    """Finds the objects one worker owns alone: walks worker a's objects beside the
    corresponding objects of worker b and counts each object of a that is not the very
    same object as b's (shared ones, such as the registry pid in a link set, cost a
    worker nothing). Each object is counted once, under the first path that reaches it."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.parts: list[Part] = []
        self.seen: set[int] = set()

    def add(self, label: str, requested: float, alloc: float, how: str) -> None:
        self.parts.append(Part(label, self.scope, requested, alloc, how))

    def walk(self, label: str, a: Any, b: Any, depth: int = 2) -> None:
        if a is b or id(a) in self.seen or a is None:
            return
        self.seen.add(id(a))
        kind = type(a)
        if kind is SimpleQueue:
            self.add(f"{label}: SimpleQueue + its list + its lock", *traced(SimpleQueue), _SQ)
            return
        if isinstance(a, GenServer):
            attrs = dict(vars(a))  # materializes a dict for this one server only
            self.add(
                f"{label}: {kind.__name__} instance ({len(attrs)} attribute(s), inline values)",
                *traced(lambda: _copy_state(kind, attrs)),
                "tracemalloc, 10,000 copies",
            )
            other = vars(b) if type(b) is kind else {}
            for key, value in attrs.items():
                self.walk(f"{label}.{key}", value, other.get(key), depth - 1)
            return
        size = sys.getsizeof(a)
        what = kind.__name__
        if isinstance(a, dict | set | frozenset | list | tuple):
            what += f", {len(a)} item(s)"
        self.add(f"{label}: {what}", size, allocated(size), "sys.getsizeof")
        if depth <= 0:
            return
        if kind is dict:
            for key, value in a.items():
                self.walk(
                    f"{label}[{key!r}]", value, b.get(key) if type(b) is dict else None, depth - 1
                )
        elif kind is tuple or kind is list:
            for j, item in enumerate(a):
                twin = b[j] if type(b) is kind and j < len(b) else None
                self.walk(f"{label}[{j}]", item, twin, depth - 1)
        elif kind is not Pid and hasattr(kind, "__slots__"):
            self.slots(label, a, b, depth - 1)

    def slots(self, label: str, a: Any, b: Any, depth: int) -> None:
        for klass in type(a).__mro__:
            for slot in getattr(klass, "__slots__", ()):
                if slot.startswith("__"):
                    continue
                self.walk(f"{label}.{slot}", getattr(a, slot, None), getattr(b, slot, None), depth)

    def table(self, label: str, container: Any, minimum: int) -> None:
        """A table with one entry per worker: its bytes per entry."""
        if id(container) in self.seen or len(container) < minimum:
            return
        self.seen.add(id(container))
        size = per_entry(container, len(container))
        self.add(f"{label} entry", size, size, f"getsizeof/len at {len(container):,}")


_SQ = "tracemalloc, 10,000 copies (its lock: a 32-byte sem_t from malloc, 48 with the header)"


def _copy_state(kind: type[Any], attrs: dict[str, Any]) -> object:
    obj = kind()
    for key, value in attrs.items():
        setattr(obj, key, value)
    return obj


def breakdown_registry(table: dict[Hashable, Pid], registry: Pid) -> list[Part]:
    """The bytes one hibernated registered worker costs, object by object."""
    from parent import _runtime

    server = registry._server  # the registry process's own state (its children)
    n = len(table)
    ids = list(table)[:: max(n // 3, 1)]
    a, b = table[ids[1]], table[ids[2]]
    runtime = _Walk("runtime")
    runtime.add(
        "Pid object (its slots)", sys.getsizeof(a), allocated(sys.getsizeof(a)), "sys.getsizeof"
    )
    runtime.seen.add(id(a))
    runtime.slots("Pid", a, b, 1)
    runtime.table("the runtime's _live dict", _runtime._live, n)
    reg = _Walk("registry")
    reg.seen |= runtime.seen
    by_pid = getattr(server, "_by_pid", {})
    if a in by_pid and b in by_pid:
        reg.walk("registry child record", by_pid[a], by_pid[b], depth=3)
    for key, value in sorted(vars(server).items()):
        if isinstance(value, dict | set):
            reg.table(f"registry {key}", value, n)
    reg.table("registry pid's _links set", registry._links, n)
    return runtime.parts + reg.parts


def breakdown_raw(table: dict[int, tuple[SimpleQueue[Any], State]]) -> list[Part]:
    key = len(table) // 2
    size = sys.getsizeof(table[key])
    parts = [
        Part("tuple (mailbox, state)", "raw", size, allocated(size), "sys.getsizeof"),
        Part("SimpleQueue + its list + its lock", "raw", *traced(SimpleQueue), _SQ),
        Part("State instance (1 attribute)", "raw", *traced(lambda: State(1)), "tracemalloc"),
    ]
    size = sys.getsizeof(key)
    parts.append(Part("the id: int (key, state)", "raw", size, allocated(size), "sys.getsizeof"))
    entry = per_entry(table, len(table))
    parts.append(Part("dict entry", "raw", entry, entry, f"getsizeof/len at {len(table):,}"))
    return parts


# -- child configurations -------------------------------------------------------------------


@dataclass
class Config:
    kind: str  # registry | plain | raw | small
    workers: int
    reps: int
    rounds: int  # round trips per repetition
    wakes: int  # calls to distinct hibernated workers per repetition
    batch: int  # starts per repetition (small)


@dataclass
class Result:
    kind: str
    workers: int = 0
    rss_before: int = 0
    rss_after: int = 0
    bytes_per_worker: float = 0.0
    start_s: float = 0.0
    start_us_first: float = 0.0  # per start over the first tenth
    start_us_last: float = 0.0  # per start over the last tenth
    peak_threads: int = 0
    threads_settled: int = 0
    threads_end: int = 0
    settled: bool = True
    settle_s: float = 0.0
    slots_before: int | None = None  # futex hash slots before the workers were started
    slots_after: int | None = None
    stop_s: float = 0.0
    left: int = 0  # threads alive at the very end besides the main one
    samples: dict[str, list[float]] = field(default_factory=dict)  # seconds per op
    awake_before_call: int = 0  # wake row: workers found awake before their call
    parts: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def _start_many(start: Callable[[int], object], ids: range, res: Result, label: str) -> list[float]:
    """Start one worker per id, with progress every ``PROGRESS_EVERY`` on stderr; returns
    the elapsed time at each tenth (for the first / last tenth figures)."""
    n = len(ids)
    every = min(PROGRESS_EVERY, max(n // 5, 1))
    tenth = max(n // 10, 1)
    marks: list[float] = []
    peak = threading.active_count()
    t0 = time.perf_counter()
    for k, i in enumerate(ids, 1):
        start(i)
        if k % 1000 == 0:
            peak = max(peak, threading.active_count())
        if k % tenth == 0:
            marks.append(time.perf_counter() - t0)
        if k % every == 0 and k < n:
            elapsed = time.perf_counter() - t0
            log(
                f"  [{label}] {k:>9,}/{n:,} started, {elapsed / k * 1e6:.0f} us/start, "
                f"ETA {elapsed / k * (n - k):.0f} s, {threading.active_count()} threads"
            )
    res.start_s = time.perf_counter() - t0
    res.peak_threads = max(peak, threading.active_count())
    return marks


def _tenths(res: Result, marks: list[float], n: int) -> None:
    if len(marks) >= 2:
        tenth = max(n // 10, 1)
        res.start_us_first = marks[0] / tenth * 1e6
        res.start_us_last = (marks[-1] - marks[-2]) / tenth * 1e6


def child_registry(cfg: Config, res: Result) -> None:
    n = cfg.workers
    base = threading.active_count()
    registry = GenRegistry.start_link(Worker)
    base_threads = base + 1  # the registry process keeps its thread
    lookup, lookup_or_start = GenRegistry.lookup, GenRegistry.lookup_or_start
    res.slots_before = futex_slots()
    try:
        for i in range(-WARMUP, 0):
            lookup_or_start(Worker, i, [i])
        res.settled, _ = settle(
            Hibernated(lambda j: lookup(Worker, j - WARMUP), WARMUP), base_threads
        )
        res.rss_before = rss()
        marks = _start_many(lambda i: lookup_or_start(Worker, i, [i]), range(n), res, "registry")
        _tenths(res, marks, n)
        ok, res.settle_s = settle(Hibernated(lambda j: lookup(Worker, j), n), base_threads)
        res.settled = res.settled and ok
        res.rss_after = rss()
        res.workers = n
        res.bytes_per_worker = (res.rss_after - res.rss_before) / n
        res.threads_settled = threading.active_count()
        log(
            f"  [registry] {n:,} hibernated: {res.bytes_per_worker:,.0f} B/worker, "
            f"{res.start_s / n * 1e6:.0f} us/start, {res.threads_settled} threads"
        )

        # calls with the N registered: an awake server, and wake-ups, beside raw
        echo = Echo.start()
        raw = RawEcho()
        order = iter(range(n))
        awake_before = 0

        def wake_run() -> float:
            nonlocal order, awake_before
            pids: list[Pid] = []
            while len(pids) < cfg.wakes:
                i = next(order, None)
                if i is None:  # every worker called once: start over
                    order = iter(range(n))
                    continue
                pid = lookup(Worker, i)
                assert pid is not None
                pids.append(pid)
            wait_for(lambda: all(p._hib for p in pids), 10.0)
            awake_before += sum(1 for p in pids if not p._hib)
            call = gen_server.call
            t0 = time.perf_counter()
            for pid in pids:
                call(pid, 1)
            return (time.perf_counter() - t0) / len(pids)

        try:
            res.samples = interleaved(
                cfg.reps,
                {
                    "awake": call_timer(echo, cfg.rounds),
                    "raw": raw.timer(cfg.rounds),
                    "wake": wake_run,
                },
            )
            res.awake_before_call = awake_before
            res.threads_end = threading.active_count()
        finally:
            gen_server.stop(echo)
            raw.stop()
        wait_for(Hibernated(lambda j: lookup(Worker, j), n), 30.0)
        res.parts = [asdict(p) for p in breakdown_registry(_registry_table(), registry)]
        res.slots_after = futex_slots()
    finally:
        t0 = time.perf_counter()
        gen_server.stop(registry, timeout=None)
        res.stop_s = time.perf_counter() - t0
        log(f"  [registry] stopped in {res.stop_s:.1f} s")


def _registry_table() -> dict[Hashable, Pid]:
    import genregistry.registry

    return genregistry.registry._tables[Worker]


def child_plain(cfg: Config, res: Result) -> None:
    n = cfg.workers
    base = threading.active_count()
    table: dict[int, Pid] = {}
    start = Worker.start
    res.slots_before = futex_slots()

    def start_one(i: int) -> None:
        table[i] = start(i, hibernate_after=HIBERNATE_AFTER)

    try:
        for i in range(-WARMUP, 0):
            start_one(i)
        res.settled, _ = settle(Hibernated(lambda j: table[j - WARMUP], WARMUP), base)
        res.rss_before = rss()
        marks = _start_many(start_one, range(n), res, "plain")
        _tenths(res, marks, n)
        ok, res.settle_s = settle(Hibernated(lambda j: table[j], n), base)
        res.settled = res.settled and ok
        res.rss_after = rss()
        res.workers = n
        res.bytes_per_worker = (res.rss_after - res.rss_before) / n
        res.threads_settled = res.threads_end = threading.active_count()
        res.slots_after = futex_slots()
        log(
            f"  [plain] {n:,} hibernated: {res.bytes_per_worker:,.0f} B/worker, "
            f"{res.start_s / n * 1e6:.0f} us/start, {res.threads_settled} threads"
        )
    finally:
        t0 = time.perf_counter()
        for pid in table.values():  # a hibernating process dies at once, no thread
            process.exit(pid, "shutdown")
        res.stop_s = time.perf_counter() - t0


def child_raw(cfg: Config, res: Result) -> None:
    n = cfg.workers
    table: dict[int, tuple[SimpleQueue[Any], State]] = {}
    for i in range(-WARMUP, 0):
        table[i] = (SimpleQueue(), State(i))
    gc.collect()
    res.rss_before = rss()
    t0 = time.perf_counter()
    for i in range(n):
        table[i] = (SimpleQueue(), State(i))
    res.start_s = time.perf_counter() - t0
    gc.collect()
    res.rss_after = rss()
    res.workers = n
    res.bytes_per_worker = (res.rss_after - res.rss_before) / n
    res.threads_settled = res.threads_end = threading.active_count()
    res.parts = [asdict(p) for p in breakdown_raw(table)]


def _raw_start_timer(batch: int) -> Callable[[], float]:
    """``batch`` raw thread starts, each with a ready handshake; the threads then stay
    blocked on one ``Event`` until the repetition is over (untimed)."""

    def body(ready: threading.Event, release: threading.Event) -> None:
        ready.set()
        release.wait()

    def run() -> float:
        release = threading.Event()
        threads: list[threading.Thread] = []
        t0 = time.perf_counter()
        for _ in range(batch):
            ready = threading.Event()
            thread = threading.Thread(target=body, args=(ready, release), daemon=True)
            thread.start()
            ready.wait()
            threads.append(thread)
        elapsed = time.perf_counter() - t0
        release.set()
        for thread in threads:
            thread.join()
        return elapsed / batch

    return run


def _start_timer(batch: int, base_threads: int) -> Callable[[], float]:
    """``batch`` starts of ``Worker.start(i, hibernate_after=0.0)`` back to back; then
    (untimed) every one hibernated and the threads settled, and all stopped."""

    def run() -> float:
        pids: list[Pid] = []
        start = Worker.start
        t0 = time.perf_counter()
        for i in range(batch):
            pids.append(start(i, hibernate_after=HIBERNATE_AFTER))
        elapsed = time.perf_counter() - t0
        settle(Hibernated(pids.__getitem__, batch), base_threads + 64, timeout=10.0)
        for pid in pids:
            process.exit(pid, "shutdown")
        return elapsed / batch

    return run


def _registry_start_timer(batch: int, base_threads: int) -> Callable[[], float]:
    """``batch`` ``GenRegistry.lookup_or_start`` of new ids back to back, in a fresh
    registry each repetition (started and stopped untimed)."""
    count = iter(range(1_000_000))

    def run() -> float:
        name = f"hibernation-{next(count)}"
        registry = GenRegistry.start_link(Worker, name)
        try:
            lookup_or_start = GenRegistry.lookup_or_start
            t0 = time.perf_counter()
            for i in range(batch):
                lookup_or_start(name, i, [i])
            elapsed = time.perf_counter() - t0
            settle(
                Hibernated(lambda j: GenRegistry.lookup(name, j), batch),
                base_threads + 65,
                timeout=10.0,
            )
        finally:
            gen_server.stop(registry, timeout=None)
        return elapsed / batch

    return run


def child_small(cfg: Config, res: Result) -> None:
    base = threading.active_count()
    res.slots_before = futex_slots()
    echo = Echo.start()
    raw = RawEcho()
    try:
        calls = interleaved(
            cfg.reps, {"call": call_timer(echo, cfg.rounds), "call_raw": raw.timer(cfg.rounds)}
        )
    finally:
        gen_server.stop(echo)
        raw.stop()
    starts = interleaved(
        cfg.reps,
        {
            "start": _start_timer(cfg.batch, base),
            "registry_start": _registry_start_timer(cfg.batch, base),
            "start_raw": _raw_start_timer(cfg.batch),
        },
    )
    res.samples = {**calls, **starts}
    res.threads_end = threading.active_count()
    res.slots_after = futex_slots()


CHILDREN: dict[str, Callable[[Config, Result], None]] = {
    "registry": child_registry,
    "plain": child_plain,
    "raw": child_raw,
    "small": child_small,
}


def run_child(cfg: Config) -> Result:
    pin()  # inherited from the parent already; be sure
    res = Result(cfg.kind)
    # the kernel gives a process its private futex hash at its first thread: make one,
    # so that "slots before" reads the private hash, not "none yet" (0, as the global)
    first = threading.Thread(target=int)
    first.start()
    first.join()
    try:
        CHILDREN[cfg.kind](cfg, res)
    except Exception as e:
        res.error = f"{type(e).__name__}: {e}"
    me = threading.current_thread()
    deadline = time.monotonic() + 10.0
    for t in threading.enumerate():  # parked runtime threads exit after LINGER
        if t is not me:
            t.join(max(0.0, deadline - time.monotonic()))
    res.left = sum(1 for t in threading.enumerate() if t is not me and t.is_alive())
    return res


# -- the parent: run the children, print the table ------------------------------------------


def spawn(cfg: Config) -> Result:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(asdict(cfg))]
    timeout = 120 + cfg.workers * 1e-3  # 1 ms per worker: 10x what a start costs
    log(f"# child {cfg.kind} ({cfg.workers:,} workers) ...")
    try:  # stderr passes through (progress); the result is stdout's last line
        proc = subprocess.run(
            cmd, env=env, stdout=subprocess.PIPE, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return Result(cfg.kind, error=f"child timed out after {timeout:.0f} s")
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return Result(cfg.kind, error=f"child exited {proc.returncode}")
    data = json.loads(lines[-1])
    res = Result(**data)
    if res.error:
        log(f"#   ERROR in {cfg.kind}: {res.error}")
    return res


@dataclass
class Row:
    name: str
    ours: str
    raw: str
    ratio: str
    target: str
    verdict: str


def _med(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us"


def _kib(b: float) -> str:
    return f"{b / 1024:.2f} KiB"


def _verdict(ok: bool, detail: str = "") -> str:
    return ("met" if ok else "MISSED") + (f" ({detail})" if detail else "")


def _ratio_row(name: str, ours: float, raw: float, limit: float) -> Row:
    ratio = ours / raw
    return Row(
        name, _us(ours), _us(raw), f"{ratio:.2f}x", f"<= {limit:g}x raw", _verdict(ratio <= limit)
    )


def build_rows(results: dict[str, Result], n: int) -> list[Row]:
    reg, plain, raw, small = (results[k] for k in ("registry", "plain", "raw", "small"))
    rows: list[Row] = []
    raw_b = raw.bytes_per_worker
    if not reg.error:
        kib = reg.bytes_per_worker / 1024
        aim = "aim 1.5 KiB " + ("met" if kib <= 1.5 else "missed")
        rows.append(
            Row(
                f"RSS per hibernated registered worker, N={n:,}",
                _kib(reg.bytes_per_worker),
                _kib(raw_b),
                f"{reg.bytes_per_worker / raw_b:.2f}x",
                "<= 2 KiB (aim 1.5 KiB)",
                _verdict(kib <= 2.0, aim),
            )
        )
    if not plain.error:
        rows.append(
            Row(
                f"RSS per hibernated worker, no registry (Worker.start), N={n:,}",
                _kib(plain.bytes_per_worker),
                _kib(raw_b),
                f"{plain.bytes_per_worker / raw_b:.2f}x",
                "report only",
                "n/a",
            )
        )
    if not reg.error:
        rows.append(
            Row(
                f"threads alive with N={n:,} hibernated (settled / after calls / peak)",
                f"{reg.threads_settled} / {reg.threads_end} / {reg.peak_threads}",
                "n/a",
                "n/a",
                "< 100",
                _verdict(max(reg.threads_settled, reg.threads_end, reg.peak_threads) < 100),
            )
        )
        rows.append(
            Row(
                f"registry start of a new id at scale, mean of N={n:,} (first / last tenth)",
                f"{reg.start_s / n * 1e6:.0f} us "
                f"({reg.start_us_first:.0f} / {reg.start_us_last:.0f})",
                "n/a",
                "n/a",
                "report only",
                "n/a",
            )
        )
        s = reg.samples
        rows.append(
            _ratio_row(
                f"call to an awake worker, N={n:,} hibernated registered",
                _med(s["awake"]),
                _med(s["raw"]),
                1.5,
            )
        )
        rows.append(
            _ratio_row(
                f"call that wakes a hibernated worker (each call a different one), N={n:,}",
                _med(s["wake"]),
                _med(s["raw"]),
                4.0,
            )
        )
    if not small.error:
        s = small.samples
        for label, ours, raw, target in (
            (
                "start, then hibernate: Worker.start(i, hibernate_after=0.0)",
                "start",
                "start_raw",
                1.0,
            ),
            (
                "start, then hibernate: GenRegistry.lookup_or_start of a new id",
                "registry_start",
                "start_raw",
                1.0,
            ),
            ("call to a plain GenServer (no hibernation), few processes", "call", "call_raw", 1.3),
        ):
            rows.append(_ratio_row(label, _med(s[ours]), _med(s[raw]), target))
    if not reg.error:
        rows.append(
            Row(
                f"gen_server.stop(registry) with N={n:,} hibernated workers",
                f"{reg.stop_s:.1f} s",
                "n/a",
                "n/a",
                "report only",
                "n/a",
            )
        )
    return rows


def print_table(rows: Sequence[Row]) -> None:
    print("| row | ours | raw | ours/raw | target | verdict |")
    print("|---|---:|---:|---:|---|---|")
    for r in rows:
        print(f"| {r.name} | {r.ours} | {r.raw} | {r.ratio} | {r.target} | {r.verdict} |")


def print_breakdown(reg: Result, plain: Result, raw: Result) -> None:
    if not reg.parts:
        return
    print()
    print(f"Bytes per hibernated registered worker at N={reg.workers:,} (one worker's objects):")
    print()
    print("| component | scope | requested (B) | allocated (B) | how |")
    print("|---|---|---:|---:|---|")
    totals: dict[str, float] = {}
    for p in reg.parts:
        print(
            f"| {p['component']} | {p['scope']} | {p['requested']:.1f} | {p['allocated']:.1f} "
            f"| {p['how']} |"
        )
        totals[p["scope"]] = totals.get(p["scope"], 0.0) + p["allocated"]
    runtime, registry = totals.get("runtime", 0.0), totals.get("registry", 0.0)
    print(f"| **runtime's share (every hibernated process)** | | | **{runtime:.0f}** | |")
    print(f"| **registry's share** | | | **{registry:.0f}** | |")
    print(
        f"| **sum** (measured RSS: {reg.bytes_per_worker:.0f}; no registry: "
        f"{plain.bytes_per_worker:.0f}) | | | **{runtime + registry:.0f}** | |"
    )
    if raw.parts:
        print()
        print("Raw baseline, per entry:")
        print()
        print("| component | requested (B) | allocated (B) | how |")
        print("|---|---:|---:|---|")
        total = 0.0
        for p in raw.parts:
            print(
                f"| {p['component']} | {p['requested']:.1f} | {p['allocated']:.1f} | {p['how']} |"
            )
            total += p["allocated"]
        print(f"| **sum** (measured RSS: {raw.bytes_per_worker:.0f}) | | **{total:.0f}** | |")


def print_notes(results: dict[str, Result]) -> None:
    print()
    for kind, r in results.items():
        if r.error:
            print(f"- {kind}: ERROR {r.error}")
            continue
        bits = []
        if r.workers:
            bits.append(
                f"RSS {r.rss_before / 2**20:,.0f} -> {r.rss_after / 2**20:,.0f} MiB for "
                f"{r.workers:,} workers after {WARMUP:,} warm-up ones; started in {r.start_s:.1f} s"
            )
        if r.settle_s:
            bits.append(f"settled in {r.settle_s:.1f} s" + ("" if r.settled else " (NOT settled)"))
        if kind in ("registry", "plain", "small"):
            switched = r.slots_after == 0 and r.slots_before != 0
            bits.append(
                f"futex hash slots {r.slots_before} -> {r.slots_after}"
                + (" (switched to the global hash at 1,000 live processes)" if switched else "")
            )
        if r.stop_s:
            bits.append(f"stopped in {r.stop_s:.1f} s")
        for name, xs in r.samples.items():
            bits.append(f"{name}: " + ", ".join(f"{x * 1e6:.1f}" for x in xs) + " us")
        if kind == "registry":
            bits.append(f"workers found awake before their wake-up call: {r.awake_before_call}")
        if r.left:
            bits.append(f"WARNING: {r.left} threads left at exit")
        print(f"- {kind}: " + "; ".join(bits))


def _commit() -> str:
    """The checkout's commit (and whether the runtime has uncommitted changes)."""
    try:
        head = subprocess.run(
            ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", ROOT, "status", "--porcelain", "--", "parent", "genregistry"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" (runtime modified)" if dirty else "")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--workers", type=int, help=f"N (default {WORKERS:,}; quick {WORKERS_QUICK:,})")
    ap.add_argument("--quick", action="store_true", help=f"N={WORKERS_QUICK:,}, fewer rounds")
    ap.add_argument("--reps", type=int, help="repetitions per latency (default 7; quick 5)")
    ap.add_argument("--cpu", type=int, default=0, help="the CPU to pin to (default 0)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.reps is not None and args.reps < 5:
        ap.error("--reps must be at least 5 (medians)")
    if args.workers is not None and args.workers < 10:
        ap.error("--workers must be at least 10")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        cfg = Config(**json.loads(args.child))
        print(json.dumps(asdict(run_child(cfg))), flush=True)
        return 0
    t_start = time.perf_counter()
    n = args.workers or (WORKERS_QUICK if args.quick else WORKERS)
    reps = args.reps or (5 if args.quick else 7)
    rounds, wakes, batch = (1_000, 500, 200) if args.quick else (2_000, 1_000, 500)
    cpu = pin(args.cpu)
    print(
        f"# hibernation: {datetime.date.today()} | commit {_commit()} | "
        f"Python {platform.python_version()} | Linux {platform.release()} | "
        f"{os.cpu_count()} CPUs | N={n:,}" + (" | QUICK" if args.quick else "")
    )
    print(
        f"# every process pinned to CPU {cpu} (os.sched_setaffinity); latencies: median of "
        f"{reps} interleaved repetitions ({rounds:,} round trips, {wakes:,} wake-up calls, "
        f"{batch} starts each); each configuration in a fresh child process",
        flush=True,
    )
    results: dict[str, Result] = {}
    for kind, workers in (("small", 0), ("raw", n), ("plain", n), ("registry", n)):
        results[kind] = spawn(Config(kind, workers, reps, rounds, wakes, batch))
    print()
    print_table(build_rows(results, n))
    print_breakdown(results["registry"], results["plain"], results["raw"])
    print_notes(results)
    print(f"\n({time.perf_counter() - t_start:.0f} s)")
    return 1 if any(r.error for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
