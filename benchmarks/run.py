"""Benchmarks: each of our mechanisms beside the raw stdlib limit and pykka, in one run.

Run from the repository root::

    PYTHONPATH=. python benchmarks/run.py                # full run (about 30 s)
    PYTHONPATH=. python benchmarks/run.py --quick        # smoke test (a few seconds)
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

Adding a row: write a function ``(Settings) -> list[Row]`` decorated with
``@benchmark("name")``; it usually calls `compare` and builds one `Row` from the
result. Rows without a raw or pykka equivalent leave those fields ``None`` ("n/a").
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import importlib.metadata
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import Any, TypeVar

from parent import From, GenServer, gen_server

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
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        return None if self.raw is None else self.ours / self.raw

    @property
    def pykka_ratio(self) -> float | None:
        return None if self.pykka is None else self.ours / self.pykka

    def verdict(self) -> str:
        misses: list[str] = []
        checked = False
        ratio = self.ratio
        if self.ratio_limit is not None and ratio is not None:
            checked = True
            if self.higher_is_better and ratio < self.ratio_limit:
                misses.append(
                    f"{ratio:.2f}x raw < {self.ratio_limit}x "
                    f"(short by {(1 - ratio / self.ratio_limit) * 100:.0f}%)"
                )
            elif not self.higher_is_better and ratio > self.ratio_limit:
                misses.append(
                    f"{ratio:.2f}x raw > {self.ratio_limit}x "
                    f"(over by {(ratio / self.ratio_limit - 1) * 100:.0f}%)"
                )
        pratio = self.pykka_ratio
        if self.beat_pykka and pratio is not None:
            checked = True
            if (pratio <= 1.0) if self.higher_is_better else (pratio >= 1.0):
                misses.append(f"not faster than pykka ({pratio:.2f}x)")
        if not checked:
            return "n/a"
        return "met" if not misses else "MISSED: " + "; ".join(misses)


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


def _wait_threads_below(count: int, timeout: float = 10.0) -> None:
    """Wait until at most ``count`` threads are alive (stopped ones have really ended)."""
    deadline = time.monotonic() + timeout
    while threading.active_count() > count and time.monotonic() < deadline:
        time.sleep(0.0005)


SPAWN_BATCH = 100  # at most this many spawned threads alive at once


def _spawn_timer(start: Callable[[], T], stop_all: Callable[[list[T]], None]) -> Timer:
    """A timer for spawns: times ``start()`` only; every ``SPAWN_BATCH`` starts, stops
    what it started (untimed) and waits until those threads have ended."""

    def run(n: int) -> float:
        base = threading.active_count()
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
    return f"{value:.1f} {unit}" if value >= 10 else f"{value:.2f} {unit}"


def _fmt_ratio(ratio: float | None, row: Row) -> str:
    if ratio is None:
        return "n/a"
    return f"{ratio:.2f}x {'rate' if row.higher_is_better else 'time'}"


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
    parser.add_argument("--quick", action="store_true", help="short run (smoke test, < 20 s)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only this benchmark (repeatable); one of: {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    parser.add_argument("--cpu", type=int, default=0, help="the CPU to pin to (default 0)")
    parser.add_argument("--reps", type=int, help="repetitions per contender (default 7)")
    args = parser.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    unknown = [n for n in args.only or [] if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
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
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
