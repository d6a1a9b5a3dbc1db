"""Benchmarks: each of our mechanisms beside the raw stdlib limit and pykka, in one run.

Run from the repository root::

    PYTHONPATH=. python benchmarks/run.py                # full run (about 2.5 minutes)
    PYTHONPATH=. python benchmarks/run.py --quick        # smoke test (about 15 s)
    PYTHONPATH=. python benchmarks/run.py --only call    # some rows only (repeatable)
    PYTHONPATH=. python benchmarks/run.py --no-pin       # let threads float over CPUs

The whole process is pinned to one CPU first (see docs/performance.md): on a 2-vCPU VM
a hand-off between threads on different CPUs costs tens of microseconds, which would
drown what we measure.

How a row is measured: each contender (ours, raw stdlib, pykka) is a context manager
that sets up what it needs and yields a `Timer`, a function that performs ``n``
operations and returns the seconds they took (setup and teardown outside the timed
part). `compare` calibrates ``n`` per contender so that one repetition lasts about
``Settings.rep_seconds``, then runs the repetitions of all contenders interleaved
(round-robin, rotating the order) and keeps the median time per operation.

Rows that cannot be repeated cheaply are measured differently: the shutdown rows
time single shots (``compare_shots``: set up 1,000 children untimed, time one stop,
repeat interleaved, median); the RSS row runs each contender in a fresh child process
(``--rss-child``, killed if it overruns) so that one contender's memory cannot pollute
another's.

Adding a row: write a function ``(Settings) -> list[Row]`` decorated with
``@benchmark("name")``; it usually calls `compare` and builds one `Row` from the
result. Rows without a raw or pykka equivalent leave those fields ``None`` ("n/a").
Every row must leave no thread or process behind (``main`` warns if one is left).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import importlib.metadata
import itertools
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import Any, TypeVar

import genregistry.registry
from genregistry import GenRegistry
from parent import From, GenServer, Parent, Pid, _pool, gen_server, supervisor

try:
    import pykka
except ImportError:  # the benchmark extra is not installed: pykka columns say "n/a"
    pykka = None  # type: ignore[assignment]

T = TypeVar("T")

# -- CPU pinning ---------------------------------------------------------------------------


def pin_to_one_cpu(cpu: int = 0) -> tuple[int, set[int]]:
    """Pin the whole process (every thread that exists now, and through inheritance
    every thread created later) to ``cpu`` (or, if ``cpu`` is not allowed here, to the
    lowest allowed one); returns the CPU used and the previous CPU set."""
    before = os.sched_getaffinity(0)
    if cpu not in before:
        cpu = min(before)
    os.sched_setaffinity(0, {cpu})
    for tid in os.listdir("/proc/self/task"):  # threads started before us, if any
        os.sched_setaffinity(int(tid), {cpu})
    return cpu, before


# -- settings, rows, registry --------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    reps: int = 7  # repetitions per contender; the median is reported
    rep_seconds: float = 0.3  # target duration of one repetition
    quick: bool = False


@dataclass
class Row:
    """One line of the table. ``ours``, ``raw`` and ``pykka`` are in ``unit``.

    The target is checked on ``ours / raw`` in the row's own unit: for a time
    (``higher_is_better=False``) it must be at most ``ratio_limit``; for a rate
    (``higher_is_better=True``) at least ``ratio_limit``. ``beat_pykka`` adds "better
    than pykka" to the target. Rows that only report a number leave both unset.
    ``alt_limit`` is a second, stricter bar that is reported beside the verdict but does
    not decide it (the lookup rows: 3x in the issue, 2x in the design).
    """

    name: str
    unit: str
    ours: float
    raw: float | None = None
    pykka: float | None = None
    higher_is_better: bool = False
    ratio_limit: float | None = None
    beat_pykka: bool = False
    target: str = ""
    alt_limit: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        return None if self.raw is None else self.ours / self.raw

    @property
    def pykka_ratio(self) -> float | None:
        return None if self.pykka is None else self.ours / self.pykka

    def _miss(self, limit: float) -> str | None:
        """Why ``ours / raw`` misses ``limit``, or ``None`` when it meets it."""
        ratio = self.ratio
        assert ratio is not None
        if self.higher_is_better and ratio < limit:
            return f"{ratio:.2f}x raw < {limit}x (short by {(1 - ratio / limit) * 100:.0f}%)"
        if not self.higher_is_better and ratio > limit:
            return f"{ratio:.2f}x raw > {limit}x (over by {(ratio / limit - 1) * 100:.0f}%)"
        return None

    def verdict(self) -> str:
        misses: list[str] = []
        checked = False
        if self.ratio_limit is not None and self.ratio is not None:
            checked = True
            miss = self._miss(self.ratio_limit)
            if miss is not None:
                misses.append(miss)
        pratio = self.pykka_ratio
        if self.beat_pykka and pratio is not None:
            checked = True
            if (pratio <= 1.0) if self.higher_is_better else (pratio >= 1.0):
                misses.append(f"not faster than pykka ({pratio:.2f}x)")
        if not checked:
            return "n/a"
        text = "met" if not misses else "MISSED: " + "; ".join(misses)
        if self.alt_limit is not None and self.ratio is not None:
            alt_miss = self._miss(self.alt_limit)
            text += f" ({self.alt_limit:g}x bar: " + (
                "met)" if alt_miss is None else f"missed, {alt_miss})"
            )
        return text


BenchFn = Callable[[Settings], list[Row]]
BENCHMARKS: dict[str, BenchFn] = {}


def benchmark(name: str) -> Callable[[BenchFn], BenchFn]:
    """Register a benchmark under ``name`` (what ``--only`` selects); rows print in
    registration order."""

    def register(fn: BenchFn) -> BenchFn:
        if name in BENCHMARKS:
            raise ValueError(f"benchmark {name!r} registered twice")
        BENCHMARKS[name] = fn
        return fn

    return register


# -- timing ------------------------------------------------------------------------------

Timer = Callable[[int], float]
"""Performs ``n`` operations; returns the seconds they took (only the timed part)."""

Contender = Callable[[], AbstractContextManager[Timer]]


@dataclass(frozen=True)
class Stats:
    median: float  # seconds per operation
    low: float
    high: float
    n: int  # operations per repetition

    @property
    def spread(self) -> float:
        """(slowest - fastest repetition) / median."""
        return (self.high - self.low) / self.median


def _calibrate(timer: Timer, rep_seconds: float) -> int:
    """How many operations make one repetition last about ``rep_seconds`` (the runs
    double as a warm-up). Sized on the fastest of three runs, so that a burst of load
    from elsewhere during calibration does not leave the repetitions too short."""
    n = 1
    floor = rep_seconds / 8
    while True:
        elapsed = timer(n)
        if elapsed >= floor:
            break
        n *= 2 if elapsed > floor / 8 else 8
    elapsed = min(elapsed, timer(n), timer(n))
    return max(1, round(n * rep_seconds / elapsed))


def compare(settings: Settings, contenders: Mapping[str, Contender | None]) -> dict[str, Stats]:
    """Time every contender (``None`` ones are skipped) in interleaved repetitions."""
    present = {k: c for k, c in contenders.items() if c is not None}
    samples: dict[str, list[float]] = {k: [] for k in present}
    with ExitStack() as stack:
        timers = {k: stack.enter_context(c()) for k, c in present.items()}
        sizes = {k: _calibrate(t, settings.rep_seconds) for k, t in timers.items()}
        order = list(timers)
        for rep in range(settings.reps):
            shift = rep % len(order)
            for k in order[shift:] + order[:shift]:
                gc.collect()
                samples[k].append(timers[k](sizes[k]) / sizes[k])
    return {k: Stats(statistics.median(v), min(v), max(v), sizes[k]) for k, v in samples.items()}


def _live_threads() -> int:
    """Threads alive, not counting the runtime's parked threads (idle, serving no
    process: they exit on their own after ``parent._pool.LINGER`` seconds)."""
    return sum(1 for t in threading.enumerate() if not _pool.is_parked(t))


def _wait_threads_below(count: int, timeout: float = 10.0) -> None:
    """Wait until at most ``count`` threads are alive (stopped ones have really ended)."""
    deadline = time.monotonic() + timeout
    while _live_threads() > count and time.monotonic() < deadline:
        time.sleep(0.0005)


SPAWN_BATCH = 100  # at most this many spawned threads alive at once


def _spawn_timer(start: Callable[[], T], stop_all: Callable[[list[T]], None]) -> Timer:
    """A timer for spawns: times ``start()`` only; every ``SPAWN_BATCH`` starts, stops
    what it started (untimed) and waits until those threads have ended."""

    def run(n: int) -> float:
        base = _live_threads()
        total = 0.0
        left = n
        while left:
            k = min(left, SPAWN_BATCH)
            started: list[T] = []
            append = started.append
            t0 = time.perf_counter()
            for _ in range(k):
                append(start())
            total += time.perf_counter() - t0
            stop_all(started)
            _wait_threads_below(base)
            left -= k
        return total

    return run


# -- the servers under test ----------------------------------------------------------------


class Value(GenServer):
    """Answers every call with a value; counts casts."""

    def init(self) -> None:
        self.value = 42
        self.casts = 0

    def handle_call(self, request: object, from_: From) -> object:
        if request == "get":
            return self.value
        return self.casts

    def handle_cast(self, request: object) -> None:
        self.casts += 1


class Trivial(GenServer):
    """Nothing but the default callbacks."""


if pykka is not None:

    class PykkaValue(pykka.ThreadingActor):
        use_daemon_thread = True

        def __init__(self) -> None:
            super().__init__()
            self.value = 42
            self.casts = 0

        def on_receive(self, message: Any) -> Any:
            if message == "get":
                return self.value
            if message == "casts":
                return self.casts
            self.casts += 1
            return None

    class PykkaTrivial(pykka.ThreadingActor):
        use_daemon_thread = True


class RawHandler:
    """What a raw consumer calls per message (the equivalent of ``handle_cast``)."""

    def __init__(self) -> None:
        self.casts = 0

    def handle(self, message: object) -> None:
        self.casts += 1


_STOP_RAW = object()


# -- row 1: call round-trip ----------------------------------------------------------------


@contextmanager
def ours_call() -> Iterator[Timer]:
    pid = Value.start_link()

    def run(n: int) -> float:
        call = gen_server.call
        t0 = time.perf_counter()
        for _ in range(n):
            call(pid, "get")
        return time.perf_counter() - t0

    try:
        yield run
    finally:
        gen_server.stop(pid)


def _raw_call_server(requests: SimpleQueue[object], replies: SimpleQueue[object]) -> None:
    get = requests.get
    put = replies.put
    value = 42
    while True:
        if get() is _STOP_RAW:
            return
        put(value)


@contextmanager
def raw_call() -> Iterator[Timer]:
    requests: SimpleQueue[object] = SimpleQueue()
    replies: SimpleQueue[object] = SimpleQueue()
    thread = threading.Thread(target=_raw_call_server, args=(requests, replies), daemon=True)
    thread.start()

    def run(n: int) -> float:
        put = requests.put
        get = replies.get
        t0 = time.perf_counter()
        for _ in range(n):
            put("get")
            get()
        return time.perf_counter() - t0

    try:
        yield run
    finally:
        requests.put(_STOP_RAW)
        thread.join()


@contextmanager
def pykka_call() -> Iterator[Timer]:
    ref = PykkaValue.start()

    def run(n: int) -> float:
        ask = ref.ask
        t0 = time.perf_counter()
        for _ in range(n):
            ask("get")
        return time.perf_counter() - t0

    try:
        yield run
    finally:
        ref.stop()


@benchmark("call")
def bench_call(settings: Settings) -> list[Row]:
    s = compare(
        settings,
        {"ours": ours_call, "raw": raw_call, "pykka": pykka_call if pykka else None},
    )
    return [
        Row(
            name="call round-trip",
            unit="us/call",
            ours=s["ours"].median * 1e6,
            raw=s["raw"].median * 1e6,
            pykka=s["pykka"].median * 1e6 if "pykka" in s else None,
            ratio_limit=1.5,
            beat_pykka=True,
            target="<= 1.5x raw, faster than pykka",
            notes=_notes(s),
        )
    ]


# -- row 2: cast throughput ----------------------------------------------------------------


@contextmanager
def ours_cast() -> Iterator[Timer]:
    pid = Value.start_link()

    def run(n: int) -> float:
        cast = gen_server.cast
        before = gen_server.call(pid, "casts")
        t0 = time.perf_counter()
        for _ in range(n):
            cast(pid, 1)
        handled = gen_server.call(pid, "casts", timeout=None)
        elapsed = time.perf_counter() - t0
        assert handled == before + n, (handled, before, n)
        return elapsed

    try:
        yield run
    finally:
        gen_server.stop(pid)


def _raw_cast_consumer(
    inbox: SimpleQueue[object], done: SimpleQueue[int], handler: RawHandler
) -> None:
    get = inbox.get
    handle = handler.handle
    while True:
        message = get()
        if message is _STOP_RAW:
            done.put(handler.casts)
            continue
        if message is None:
            return
        handle(message)


@contextmanager
def raw_cast() -> Iterator[Timer]:
    inbox: SimpleQueue[object] = SimpleQueue()
    done: SimpleQueue[int] = SimpleQueue()
    handler = RawHandler()
    thread = threading.Thread(target=_raw_cast_consumer, args=(inbox, done, handler), daemon=True)
    thread.start()

    def run(n: int) -> float:
        put = inbox.put
        before = handler.casts
        t0 = time.perf_counter()
        for _ in range(n):
            put(1)
        put(_STOP_RAW)
        handled = done.get()
        elapsed = time.perf_counter() - t0
        assert handled == before + n, (handled, before, n)
        return elapsed

    try:
        yield run
    finally:
        inbox.put(None)
        thread.join()


@contextmanager
def pykka_cast() -> Iterator[Timer]:
    ref = PykkaValue.start()

    def run(n: int) -> float:
        tell = ref.tell
        before = ref.ask("casts", block=True)
        t0 = time.perf_counter()
        for _ in range(n):
            tell(1)
        handled = ref.ask("casts", block=True)
        elapsed = time.perf_counter() - t0
        assert handled == before + n, (handled, before, n)
        return elapsed

    try:
        yield run
    finally:
        ref.stop()


@benchmark("cast")
def bench_cast(settings: Settings) -> list[Row]:
    s = compare(
        settings,
        {"ours": ours_cast, "raw": raw_cast, "pykka": pykka_cast if pykka else None},
    )
    return [
        Row(
            name="cast throughput",
            unit="msg/s",
            ours=1 / s["ours"].median,
            raw=1 / s["raw"].median,
            pykka=1 / s["pykka"].median if "pykka" in s else None,
            higher_is_better=True,
            ratio_limit=0.7,
            target=">= 0.7x raw rate",
            notes=_notes(s),
        )
    ]


# -- row 3: spawn ------------------------------------------------------------------------


def _stop_ours(pids: list[Any]) -> None:
    for pid in pids:
        gen_server.stop(pid)


@contextmanager
def ours_spawn() -> Iterator[Timer]:
    yield _spawn_timer(Trivial.start_link, _stop_ours)


def _raw_thread_body(ready: SimpleQueue[None], quit_: SimpleQueue[None]) -> None:
    ready.put(None)  # "I am running": the starter waits for this
    quit_.get()  # then wait to be told to exit


def _raw_start() -> tuple[threading.Thread, SimpleQueue[None]]:
    ready: SimpleQueue[None] = SimpleQueue()
    quit_: SimpleQueue[None] = SimpleQueue()
    thread = threading.Thread(target=_raw_thread_body, args=(ready, quit_), daemon=True)
    thread.start()
    ready.get()
    return thread, quit_


def _raw_stop(started: list[tuple[threading.Thread, SimpleQueue[None]]]) -> None:
    for _, quit_ in started:
        quit_.put(None)
    for thread, _ in started:
        thread.join()


@contextmanager
def raw_spawn() -> Iterator[Timer]:
    yield _spawn_timer(_raw_start, _raw_stop)


def _pykka_stop(refs: list[Any]) -> None:
    futures = [ref.stop(block=False) for ref in refs]
    for future in futures:
        future.get()


@contextmanager
def pykka_spawn() -> Iterator[Timer]:
    yield _spawn_timer(PykkaTrivial.start, _pykka_stop)


@benchmark("spawn")
def bench_spawn(settings: Settings) -> list[Row]:
    s = compare(
        settings,
        {"ours": ours_spawn, "raw": raw_spawn, "pykka": pykka_spawn if pykka else None},
    )
    return [
        Row(
            name="spawn (start_link, init done)",
            unit="us/start",
            ours=s["ours"].median * 1e6,
            raw=s["raw"].median * 1e6,
            pykka=s["pykka"].median * 1e6 if "pykka" in s else None,
            ratio_limit=2.0,
            target="<= 2x raw",
            notes=_notes(s),
        )
    ]


# -- helpers for the scale rows ----------------------------------------------------------


def _thread_headroom() -> int:
    """How many more threads this machine can start (all processes count against
    ``kernel.pid_max`` and ``kernel.threads-max``; other sessions may hold some)."""
    with open("/proc/loadavg") as f:
        total = int(f.read().split()[3].split("/")[1])  # scheduling entities alive now
    limits = []
    for path in ("/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"):
        with open(path) as f:
            limits.append(int(f.read()))
    return min(limits) - total


class RegWorker(GenServer):
    """The registry worker of the lookup and RSS rows: nothing but the defaults."""


class NewWorker(GenServer):
    """The registry worker of the ``lookup_or_start`` row: nothing but the defaults."""


def _start_registry(worker: type[GenServer]) -> Pid:
    """A supervisor holding one registry for ``worker`` (named after it)."""
    return supervisor.start_link([GenRegistry.child_spec(worker_module=worker)])


# -- row 4: lookup by name -----------------------------------------------------------------

LOOKUP_SIZES = (10, 1_000, 10_000, 100_000)
LOOKUP_SIZES_QUICK = (10, 1_000)
LIVE_WORKERS_MAX = 10_000
"""Live workers at most; a bigger table is completed with filler pids (see
`bench_lookup`): 100k threads do not fit this VM (``kernel.pid_max`` is 32768 and each
thread's stack and guard take two of the 65530 memory maps a process may have)."""


def _cycling(keys: Sequence[T]) -> Iterator[T]:
    """An endless iterator over ``keys`` whose first pass is already done (``cycle``
    copies the items on its first pass; that must not land in a timed part)."""
    it = itertools.cycle(keys)
    for _ in keys:
        next(it)
    return it


def _lookup_timers(
    table: Mapping[Any, Pid], registry: Hashable, ids: Sequence[Any]
) -> tuple[Contender, Contender]:
    """Contenders for one table size: ``GenRegistry.lookup(registry, id)`` against
    ``dict.get`` through one Python function call on a copy of the same table, both over
    the same ids in the same shuffled order."""
    raw_table = dict(table)

    @contextmanager
    def ours() -> Iterator[Timer]:
        keys = _cycling(ids)
        lookup = GenRegistry.lookup
        assert lookup(registry, ids[0]) is raw_table[ids[0]]

        def run(n: int) -> float:
            batch = itertools.islice(keys, n)
            t0 = time.perf_counter()
            for key in batch:
                lookup(registry, key)
            return time.perf_counter() - t0

        yield run

    def get(d: Mapping[Any, Pid], key: Any) -> Pid | None:
        return d.get(key)

    @contextmanager
    def raw() -> Iterator[Timer]:
        keys = _cycling(ids)

        def run(n: int) -> float:
            batch = itertools.islice(keys, n)
            t0 = time.perf_counter()
            for key in batch:
                get(raw_table, key)
            return time.perf_counter() - t0

        yield run

    return ours, raw


def _pykka_lookup_timer(urns: Sequence[str]) -> Contender:
    @contextmanager
    def contender() -> Iterator[Timer]:
        keys = _cycling(urns)
        get_by_urn = pykka.ActorRegistry.get_by_urn
        assert get_by_urn(urns[0]) is not None

        def run(n: int) -> float:
            batch = itertools.islice(keys, n)
            t0 = time.perf_counter()
            for urn in batch:
                get_by_urn(urn)
            return time.perf_counter() - t0

        yield run

    return contender


@benchmark("lookup")
def bench_lookup(settings: Settings) -> list[Row]:
    """`GenRegistry.lookup` by name at growing table sizes, from the main thread.

    One registry grows from size to size (its workers started with `lookup_or_start`);
    pykka's actors grow alongside. Beyond ``LIVE_WORKERS_MAX`` the registry's table is
    completed with filler entries: fresh `Pid` objects, alive as far as a lookup can
    tell, put straight into the registry's table (no thread behind them, and no writer
    runs meanwhile). A lookup by name reads the table and the pid's ``_alive`` flag and
    nothing else, so it does the same work on them; pykka is not measured there.
    """
    sizes = LOOKUP_SIZES_QUICK if settings.quick else LOOKUP_SIZES
    rng = random.Random(20261121)
    base = _live_threads()
    sup = _start_registry(RegWorker)
    table = genregistry.registry._tables[RegWorker]  # the registry's own table (+ fillers)
    fillers: list[Any] = []
    actors: list[Any] = []
    urns: list[str] = []
    rows: list[Row] = []
    medians: dict[int, dict[str, float]] = {}
    try:
        for size in sizes:
            live = min(size, LIVE_WORKERS_MAX)
            if live - len(table) + 1_000 > _thread_headroom():
                raise RuntimeError(f"not enough threads left on this machine for {live:,} workers")
            while len(table) < live:
                GenRegistry.lookup_or_start(RegWorker, f"id-{len(table)}")
            while len(table) < size:
                key = f"id-{len(table)}"
                fillers.append(key)
                table[key] = Pid("lookup-table-filler")
            assert len(table) == size
            ids = list(table)
            rng.shuffle(ids)
            ours, raw = _lookup_timers(table, RegWorker, ids)
            contenders: dict[str, Contender | None] = {"ours": ours, "raw": raw}
            pykka_note = ""
            if pykka is not None and size <= LIVE_WORKERS_MAX:
                if size - len(actors) + 1_000 <= _thread_headroom():
                    while len(actors) < size:
                        ref = PykkaTrivial.start()
                        actors.append(ref)
                        urns.append(ref.actor_urn)
                    shuffled = list(urns)
                    rng.shuffle(shuffled)
                    contenders["pykka"] = _pykka_lookup_timer(shuffled)
                else:
                    pykka_note = f"pykka skipped at {size:,}: too few threads left on the machine"
            elif pykka is not None:
                pykka_note = f"pykka not measured at {size:,}: filler pids are ours only"
            s = compare(settings, contenders)
            medians[size] = {k: v.median for k, v in s.items()}
            label = f"lookup by name, {size:,} ids"
            if size > LIVE_WORKERS_MAX:
                label += f" ({LIVE_WORKERS_MAX:,} live + {size - LIVE_WORKERS_MAX:,} filler pids)"
            rows.append(
                Row(
                    name=label,
                    unit="ns/lookup",
                    ours=s["ours"].median * 1e9,
                    raw=s["raw"].median * 1e9,
                    pykka=s["pykka"].median * 1e9 if "pykka" in s else None,
                    ratio_limit=3.0,
                    alt_limit=2.0,
                    target="<= 3x raw (design: 2x)",
                    notes=_notes(s) + ([pykka_note] if pykka_note else []),
                )
            )
    finally:
        for key in fillers:
            del table[key]
        # one actor at a time: waking 10,000 threads at once on one CPU takes tens of
        # seconds (they all contend for the GIL), stopping them in turn a few
        for ref in reversed(actors):
            ref.stop()
        supervisor.stop(sup)
        _wait_threads_below(base)
    small, large = sizes[0], sizes[-1]
    pykka_sizes = [n for n in sizes if "pykka" in medians[n]]
    growth_pykka = None
    if len(pykka_sizes) > 1:
        growth_pykka = medians[pykka_sizes[-1]]["pykka"] / medians[pykka_sizes[0]]["pykka"]
    rows.append(
        Row(
            name=f"lookup growth, {large:,} ids / {small:,} ids",
            unit="x",
            ours=medians[large]["ours"] / medians[small]["ours"],
            raw=medians[large]["raw"] / medians[small]["raw"],
            pykka=growth_pykka,
            target="flat (design), report only",
            notes=(
                [f"pykka growth is {pykka_sizes[-1]:,} / {pykka_sizes[0]:,} ids"]
                if growth_pykka is not None and pykka_sizes[-1] != large
                else []
            ),
        )
    )
    return rows


# -- row 5: lookup_or_start of a new id ----------------------------------------------------


@contextmanager
def ours_lookup_or_start() -> Iterator[Timer]:
    """Starts new ids; every ``SPAWN_BATCH`` starts the registry's supervisor is stopped
    (untimed, all workers at once) and a fresh one started."""
    current = [_start_registry(NewWorker)]
    ids = itertools.count()
    lookup_or_start = GenRegistry.lookup_or_start

    def start() -> Pid:
        return lookup_or_start(NewWorker, next(ids))

    def stop_all(_started: list[Pid]) -> None:
        supervisor.stop(current[0])
        current[0] = _start_registry(NewWorker)

    try:
        yield _spawn_timer(start, stop_all)
    finally:
        supervisor.stop(current[0])


@benchmark("lookup_or_start")
def bench_lookup_or_start(settings: Settings) -> list[Row]:
    s = compare(
        settings,
        {
            "ours": ours_lookup_or_start,
            "raw": raw_spawn,
            "pykka": pykka_spawn if pykka else None,
        },
    )
    return [
        Row(
            name="lookup_or_start, new id (worker's init done)",
            unit="us/start",
            ours=s["ours"].median * 1e6,
            raw=s["raw"].median * 1e6,
            pykka=s["pykka"].median * 1e6 if "pykka" in s else None,
            ratio_limit=2.0,
            target="<= 2x raw",
            notes=_notes(s),
        )
    ]


# -- row 6: RSS per idle worker --------------------------------------------------------------

RSS_WORKERS, RSS_WARMUP, RSS_RUNS = 10_000, 300, 3
RSS_WORKERS_QUICK, RSS_WARMUP_QUICK, RSS_RUNS_QUICK = 1_000, 100, 1
RSS_KINDS = ("ours", "raw", "pykka")
CHILD_TIMEOUT = 300.0  # seconds; a child still running then is killed


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _settle(threads: int) -> None:
    """Let every started thread reach its idle wait: at most ``threads`` alive (passing
    threads, such as a registry's starters, have ended), then a pause and a collection."""
    _wait_threads_below(threads, timeout=60.0)
    time.sleep(0.2)
    gc.collect()


def rss_child(kind: str, n: int, warmup: int) -> int:
    """Run in a fresh process: start ``warmup`` idle workers of ``kind``, then ``n``
    more, and print the resident-memory growth of the ``n`` in bytes. Ends with
    ``os._exit``: the kernel reclaims the threads at once (stopping them one by one
    would only cost time; a raw ``Event.set`` for 10k waiters takes tens of seconds)."""
    start: Callable[[int], object]
    if kind == "ours":
        _start_registry(RegWorker)

        def start(i: int) -> object:
            return GenRegistry.lookup_or_start(RegWorker, i)

    elif kind == "raw":
        event = threading.Event()
        ready = threading.Semaphore(0)

        def idle() -> None:
            ready.release()
            event.wait()

        def start(i: int) -> object:
            thread = threading.Thread(target=idle, daemon=True)
            thread.start()
            ready.acquire()
            return thread

    elif kind == "pykka" and pykka is not None:

        def start(i: int) -> object:
            return PykkaTrivial.start()

    else:
        raise SystemExit(f"unknown RSS contender {kind!r}")
    base = _live_threads()
    keep = [start(i) for i in range(warmup)]
    _settle(base + warmup)
    before = _resident_bytes()
    keep += [start(warmup + i) for i in range(n)]
    _settle(base + warmup + n)
    growth = _resident_bytes() - before
    print(f"rss_growth={growth} workers={n}", flush=True)
    os._exit(0)


def _run_rss_child(kind: str, n: int, warmup: int) -> int:
    """One child run; returns the growth in bytes. ``subprocess.run`` kills the child
    if it overruns ``CHILD_TIMEOUT`` or if anything interrupts the wait."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(sys.modules["parent"].__file__ or "")))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--rss-child", kind, str(n), str(warmup)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        env=env,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not lines[-1].startswith("rss_growth="):
        raise RuntimeError(
            f"RSS child {kind!r} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return int(lines[-1].split()[0].split("=")[1])


@benchmark("rss")
def bench_rss(settings: Settings) -> list[Row]:
    """Resident memory per idle worker, each contender in fresh processes (interleaved
    runs, median). Ours: workers of one registry started with `lookup_or_start`; raw:
    threads blocked on one `threading.Event`; pykka: started `ThreadingActor`s."""
    if settings.quick:
        n, warmup, runs = RSS_WORKERS_QUICK, RSS_WARMUP_QUICK, RSS_RUNS_QUICK
    else:
        n, warmup, runs = RSS_WORKERS, RSS_WARMUP, RSS_RUNS
    kinds = [k for k in RSS_KINDS if k != "pykka" or pykka is not None]
    if n + warmup + 1_000 > _thread_headroom():
        raise RuntimeError(f"not enough threads left on this machine for {n:,} workers")
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    for run in range(runs):
        shift = run % len(kinds)
        for kind in kinds[shift:] + kinds[:shift]:
            samples[kind].append(_run_rss_child(kind, n, warmup) / n / 1024)
    kib = {k: statistics.median(v) for k, v in samples.items()}
    notes = [
        f"{k}: {', '.join(f'{x:.1f}' for x in v)} KiB/worker "
        f"({n:,} workers after {warmup} warm-up, fresh process per run)"
        for k, v in samples.items()
    ]
    if settings.quick:
        notes.append(f"QUICK: {n:,} workers and {runs} run instead of {RSS_WORKERS:,} and 3")
    return [
        Row(
            name=f"RSS per idle worker, {n:,} workers" + (" (quick)" if settings.quick else ""),
            unit="KiB/worker",
            ours=kib["ours"],
            raw=kib["raw"],
            pykka=kib.get("pykka"),
            ratio_limit=1.5,
            target="<= 1.5x raw",
            notes=notes,
        )
    ]


# -- row 7: shutdown at scale ----------------------------------------------------------------

SHUTDOWN_CHILDREN, SHUTDOWN_REPS = 1_000, 7
SHUTDOWN_CHILDREN_QUICK, SHUTDOWN_REPS_QUICK = 250, 3

Shot = Callable[[int], tuple[float, float]]
"""Sets up ``n`` children (untimed) and stops them; returns the seconds until the stop
call returned and until every one of their threads had ended."""


class Owner(Parent):
    """A parent whose children the benchmark starts and shuts down through calls."""

    def handle_call(self, request: Any, from_: From) -> Any:
        if request[0] == "start":
            for i in range(request[1]):
                self.start_child({"id": i, "start": (Trivial.start_link, [])})
        elif request[0] == "shutdown_all":
            self.shutdown_all()
        return self.num_children()


def shot_shutdown_all(n: int) -> tuple[float, float]:
    base = _live_threads()
    owner = Owner.start_link()
    try:
        assert gen_server.call(owner, ("start", n), timeout=None) == n
        _settle(base + 1 + n)
        t0 = time.perf_counter()
        left = gen_server.call(owner, ("shutdown_all",), timeout=None)
        t1 = time.perf_counter()
        _wait_threads_below(base + 1)  # the owner itself still runs
        t2 = time.perf_counter()
        assert left == 0, left
    finally:
        gen_server.stop(owner)
        _wait_threads_below(base)
    return t1 - t0, t2 - t0


def shot_supervisor_stop(n: int) -> tuple[float, float]:
    base = _live_threads()
    sup = supervisor.start_link([{"id": i, "start": (Trivial.start_link, [])} for i in range(n)])
    try:
        _settle(base + 1 + n)
        t0 = time.perf_counter()
        supervisor.stop(sup)
        t1 = time.perf_counter()
        _wait_threads_below(base)
        t2 = time.perf_counter()
    finally:
        if sup.is_alive():
            supervisor.stop(sup)
        _wait_threads_below(base)
    return t1 - t0, t2 - t0


def shot_raw_event(n: int) -> tuple[float, float]:
    base = _live_threads()
    event = threading.Event()
    ready = threading.Semaphore(0)

    def idle() -> None:
        ready.release()
        event.wait()

    threads = [threading.Thread(target=idle, daemon=True) for _ in range(n)]
    try:
        for thread in threads:
            thread.start()
            ready.acquire()
        _settle(base + n)
        t0 = time.perf_counter()
        event.set()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - t0
    finally:
        event.set()
        _wait_threads_below(base)
    return elapsed, elapsed


def shot_pykka_stop_all(n: int) -> tuple[float, float]:
    base = _live_threads()
    assert not pykka.ActorRegistry.get_all(), "pykka actors left over from another row"
    refs = []
    try:
        for _ in range(n):
            refs.append(PykkaTrivial.start())
        _settle(base + n)
        t0 = time.perf_counter()
        pykka.ActorRegistry.stop_all()
        t1 = time.perf_counter()
        _wait_threads_below(base)
        t2 = time.perf_counter()
    finally:
        pykka.ActorRegistry.stop_all()
        _wait_threads_below(base)
    return t1 - t0, t2 - t0


def compare_shots(
    reps: int, n: int, shots: Mapping[str, Shot | None]
) -> dict[str, list[tuple[float, float]]]:
    """Run every shot ``reps`` times, interleaved with a rotating order."""
    present = {k: s for k, s in shots.items() if s is not None}
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in present}
    order = list(present)
    for rep in range(reps):
        shift = rep % len(order)
        for k in order[shift:] + order[:shift]:
            gc.collect()
            results[k].append(present[k](n))
    return results


@benchmark("shutdown")
def bench_shutdown(settings: Settings) -> list[Row]:
    if settings.quick:
        n, reps = SHUTDOWN_CHILDREN_QUICK, SHUTDOWN_REPS_QUICK
    else:
        n, reps = SHUTDOWN_CHILDREN, SHUTDOWN_REPS
    r = compare_shots(
        reps,
        n,
        {
            "shutdown_all": shot_shutdown_all,
            "supervisor.stop": shot_supervisor_stop,
            "raw": shot_raw_event,
            "pykka": shot_pykka_stop_all if pykka else None,
        },
    )
    returned = {k: statistics.median(t[0] for t in v) * 1e3 for k, v in r.items()}
    ended = {k: statistics.median(t[1] for t in v) * 1e3 for k, v in r.items()}
    notes = [
        f"{k}: returned after {', '.join(f'{t[0] * 1e3:.1f}' for t in v)} ms; "
        f"all threads ended after {', '.join(f'{t[1] * 1e3:.1f}' for t in v)} ms "
        f"(median {ended[k]:.1f} ms)"
        for k, v in r.items()
    ]
    rows = []
    for key, label in (
        ("shutdown_all", "Parent.shutdown_all"),
        ("supervisor.stop", "supervisor.stop"),
    ):
        rows.append(
            Row(
                name=f"{label}, {n:,} children (returned)",
                unit="ms",
                ours=returned[key],
                raw=returned["raw"],
                pykka=returned.get("pykka"),
                target="report only (vs raw Event.set + join)",
                notes=notes if key == "shutdown_all" else [],
            )
        )
        rows.append(
            Row(
                name=f"{label}, {n:,} children (threads ended)",
                unit="ms",
                ours=ended[key],
                raw=ended["raw"],
                pykka=ended.get("pykka"),
                target="report only",
            )
        )
    return rows


# -- output ------------------------------------------------------------------------------


def _notes(stats: Mapping[str, Stats]) -> list[str]:
    return [
        f"{k}: median {v.median * 1e6:.2f} us/op over {v.n} ops/rep, "
        f"reps {v.low * 1e6:.2f}..{v.high * 1e6:.2f} us (spread {v.spread * 100:.0f}%)"
        for k, v in stats.items()
    ]


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "msg/s":
        if value >= 1e6:
            return f"{value / 1e6:.2f} M msg/s"
        return f"{value / 1e3:.0f} k msg/s"
    if unit == "x":
        return f"{value:.2f}x"
    if value >= 1000:
        return f"{value:,.0f} {unit}"
    return f"{value:.1f} {unit}" if value >= 10 else f"{value:.2f} {unit}"


TIME_UNITS = ("ns/", "us/", "ms")


def _fmt_ratio(ratio: float | None, row: Row) -> str:
    """A ratio, saying what it compares: times (lower is better), rates (higher is
    better), or anything else (memory, growth factors) as a bare factor."""
    if ratio is None:
        return "n/a"
    if row.higher_is_better:
        return f"{ratio:.2f}x rate"
    if row.unit.startswith(TIME_UNITS):
        return f"{ratio:.2f}x time"
    return f"{ratio:.2f}x"


def markdown_table(rows: Sequence[Row]) -> str:
    header = "| benchmark | ours | raw stdlib | pykka | ours/raw | ours/pykka | target | verdict |"
    lines = [header, "|---|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        cells = [
            r.name,
            _fmt(r.ours, r.unit),
            _fmt(r.raw, r.unit),
            _fmt(r.pykka, r.unit),
            _fmt_ratio(r.ratio, r),
            _fmt_ratio(r.pykka_ratio, r),
            r.target or "report only",
            r.verdict(),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pykka_version() -> str:
    if pykka is None:
        return "not installed"
    try:
        return importlib.metadata.version("pykka")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="short run (smoke test, < 30 s)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only this benchmark (repeatable); one of: {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    parser.add_argument("--cpu", type=int, default=0, help="the CPU to pin to (default 0)")
    parser.add_argument("--reps", type=int, help="repetitions per contender (default 7)")
    parser.add_argument(  # internal: one run of the RSS row in a fresh process
        "--rss-child", nargs=3, metavar=("KIND", "N", "WARMUP"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    unknown = [n for n in args.only or [] if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    return args


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rss_child is not None:
        kind, n, warmup = args.rss_child
        return rss_child(kind, int(n), int(warmup))
    # a SIGTERM unwinds like an error, so that every row's cleanup runs and a running
    # child process is killed (subprocess.run kills its child on any exception)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.no_pin:
        print(f"not pinned: threads may run on CPUs {sorted(os.sched_getaffinity(0))}")
    else:
        cpu, before = pin_to_one_cpu(args.cpu)
        print(
            f"pinned the whole process (all threads) to CPU {cpu} "
            f"(was {sorted(before)}); use --no-pin to compare"
        )
    settings = Settings(reps=3, rep_seconds=0.1, quick=True) if args.quick else Settings()
    if args.reps is not None:
        settings = dataclasses.replace(settings, reps=args.reps)
    print(
        f"{datetime.date.today()} | Python {platform.python_version()} "
        f"({platform.python_implementation()}) | {platform.machine()} | "
        f"{os.cpu_count()} CPUs | pykka {_pykka_version()} | "
        f"{settings.reps} reps of ~{settings.rep_seconds} s, medians"
        + (" | QUICK" if settings.quick else "")
    )
    names = args.only or list(BENCHMARKS)
    rows: list[Row] = []
    t0 = time.perf_counter()
    try:
        for name in names:
            new = BENCHMARKS[name](settings)
            for row in new:
                for note in row.notes:
                    print(f"  {name}: {note}")
            rows.extend(new)
    finally:
        if pykka is not None:
            pykka.ActorRegistry.stop_all()
    print()
    print(markdown_table(rows))
    print(f"\n({time.perf_counter() - t0:.1f} s)")
    _wait_threads_below(1, timeout=5.0)
    if _live_threads() > 1:
        left = [t for t in threading.enumerate()[1:] if not _pool.is_parked(t)]
        print(f"warning: threads left running: {left}", file=sys.stderr)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
