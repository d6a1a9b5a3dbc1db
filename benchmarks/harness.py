"""What every row of `run.py` shares: pinning, the row registry, timing, thread helpers,
the servers several rows use, and the table printer.

How a row is measured: each contender (ours, raw stdlib, pykka) is a context manager
that sets up what it needs and yields a `Timer`, a function that performs ``n``
operations and returns the seconds they took (setup and teardown outside the timed
part). `compare` calibrates ``n`` per contender so that one repetition lasts about
``Settings.rep_seconds``, then runs the repetitions of all contenders interleaved
(round-robin, rotating the order) and keeps the median time per operation.

Rows that cannot be repeated cheaply are measured differently: the shutdown rows
time single shots (`compare_shots`: set up 1,000 children untimed, time one stop,
repeat interleaved, median); the RSS row runs each contender in a fresh child process
(``run.py --rss-child``, killed if it overruns) so that one contender's memory cannot
pollute another's.

Adding a row: write a module in ``rows/`` with a function ``(Settings) -> list[Row]``
decorated with ``@benchmark("name")`` and add the module to ``rows.ROWS`` (the table's
order). It usually calls `compare` and builds one `Row` from the result. Rows without a
raw or pykka equivalent leave those fields ``None`` ("n/a"). Every row must leave no
thread or process behind (``run.main`` warns if one is left).
"""

from __future__ import annotations

import gc
import importlib.metadata
import itertools
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from genregistry import GenRegistry
from parent import GenServer, Pid, _pool, supervisor

try:
    import pykka as pykka  # re-exported: the rows test it for None
except ImportError:  # the benchmark extra is not installed: pykka columns say "n/a"
    pykka = None  # type: ignore[assignment]

T = TypeVar("T")
A = TypeVar("A")
K = TypeVar("K")

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
    registration order (the order of ``rows.ROWS``)."""

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

Shot = Callable[[int], tuple[float, float]]
"""Sets up ``n`` children (untimed) and stops them; returns the seconds until the stop
call returned and until every one of their threads had ended."""


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


def rotations(keys: Sequence[str], reps: int) -> Iterator[str]:
    """``keys`` ``reps`` times over, each pass starting one further along (interleaved
    repetitions: a change in the machine's load hits every contender alike)."""
    order = list(keys)
    for rep in range(reps):
        shift = rep % len(order)
        yield from order[shift:] + order[:shift]


def compare(settings: Settings, contenders: Mapping[str, Contender | None]) -> dict[str, Stats]:
    """Time every contender (``None`` ones are skipped) in interleaved repetitions."""
    present = {k: c for k, c in contenders.items() if c is not None}
    samples: dict[str, list[float]] = {k: [] for k in present}
    with ExitStack() as stack:
        timers = {k: stack.enter_context(c()) for k, c in present.items()}
        sizes = {k: _calibrate(t, settings.rep_seconds) for k, t in timers.items()}
        for k in rotations(list(timers), settings.reps):
            gc.collect()
            samples[k].append(timers[k](sizes[k]) / sizes[k])
    return {k: Stats(statistics.median(v), min(v), max(v), sizes[k]) for k, v in samples.items()}


def compare_shots(
    reps: int, n: int, shots: Mapping[str, Shot | None]
) -> dict[str, list[tuple[float, float]]]:
    """Run every shot ``reps`` times, interleaved with a rotating order."""
    present = {k: s for k, s in shots.items() if s is not None}
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in present}
    for k in rotations(list(present), reps):
        gc.collect()
        results[k].append(present[k](n))
    return results


def _cycling(keys: Sequence[T]) -> Iterator[T]:
    """An endless iterator over ``keys`` whose first pass is already done (``cycle``
    copies the items on its first pass; that must not land in a timed part)."""
    it = itertools.cycle(keys)
    for _ in keys:
        next(it)
    return it


def cycled_calls(fn: Callable[[A, K], object], first: A, keys: Sequence[K]) -> Contender:
    """A contender whose ``n`` operations are ``fn(first, key)``, one call each, over
    ``keys`` in their order, cycling (the lookup rows: every key is a different id)."""

    @contextmanager
    def contender() -> Iterator[Timer]:
        it = _cycling(keys)

        def run(n: int) -> float:
            call, arg = fn, first
            batch = itertools.islice(it, n)
            t0 = time.perf_counter()
            for key in batch:
                call(arg, key)
            return time.perf_counter() - t0

        yield run

    return contender


# -- threads -------------------------------------------------------------------------------


def live_threads() -> int:
    """Threads alive, not counting the runtime's parked threads (idle, serving no
    process: they exit on their own after ``parent._pool.LINGER`` seconds)."""
    return sum(1 for t in threading.enumerate() if not _pool.is_parked(t))


def wait_threads_below(count: int, timeout: float = 10.0) -> None:
    """Wait until at most ``count`` threads are alive (stopped ones have really ended)."""
    deadline = time.monotonic() + timeout
    while live_threads() > count and time.monotonic() < deadline:
        time.sleep(0.0005)


def settle(threads: int) -> None:
    """Let every started thread reach its idle wait: at most ``threads`` alive (passing
    threads, such as a registry's starters, have ended), then a pause and a collection."""
    wait_threads_below(threads, timeout=60.0)
    time.sleep(0.2)
    gc.collect()


def thread_headroom() -> int:
    """How many more threads this machine can start (all processes count against
    ``kernel.pid_max`` and ``kernel.threads-max``; other sessions may hold some)."""
    with open("/proc/loadavg") as f:
        total = int(f.read().split()[3].split("/")[1])  # scheduling entities alive now
    limits = []
    for path in ("/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"):
        with open(path) as f:
            limits.append(int(f.read()))
    return min(limits) - total


SPAWN_BATCH = 100  # at most this many spawned threads alive at once


def spawn_timer(start: Callable[[], T], stop_all: Callable[[list[T]], None]) -> Timer:
    """A timer for spawns: times ``start()`` only; every ``SPAWN_BATCH`` starts, stops
    what it started (untimed) and waits until those threads have ended."""

    def run(n: int) -> float:
        base = live_threads()
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
            wait_threads_below(base)
            left -= k
        return total

    return run


# -- the servers several rows use ----------------------------------------------------------


class Trivial(GenServer):
    """Nothing but the default callbacks."""


if pykka is not None:

    class PykkaTrivial(pykka.ThreadingActor):
        use_daemon_thread = True

else:  # no pykka: every pykka contender is None, nothing starts this
    PykkaTrivial = None  # type: ignore[misc]


def start_registry(worker: type[GenServer]) -> Pid:
    """A supervisor holding one registry for ``worker`` (named after it)."""
    return supervisor.start_link([GenRegistry.child_spec(worker_module=worker)])


# -- output ------------------------------------------------------------------------------


def stats_notes(stats: Mapping[str, Stats]) -> list[str]:
    """One line per contender: median, fastest and slowest repetition, spread."""
    return [
        f"{k}: median {v.median * 1e6:.2f} us/op over {v.n} ops/rep, "
        f"reps {v.low * 1e6:.2f}..{v.high * 1e6:.2f} us (spread {v.spread * 100:.0f}%)"
        for k, v in stats.items()
    ]


SCALES = {"ns/": 1e9, "us/": 1e6}


def time_row(
    name: str,
    unit: str,
    stats: Mapping[str, Stats],
    *,
    ratio_limit: float | None = None,
    alt_limit: float | None = None,
    beat_pykka: bool = False,
    target: str = "",
    notes: Sequence[str] = (),
) -> Row:
    """The row of a time per operation from `compare`'s stats: the medians in ``unit``
    (``"ns/..."`` or ``"us/..."``), pykka's ``None`` where it did not run, the stats'
    notes followed by ``notes``."""
    scale = SCALES[unit[:3]]
    return Row(
        name=name,
        unit=unit,
        ours=stats["ours"].median * scale,
        raw=stats["raw"].median * scale,
        pykka=stats["pykka"].median * scale if "pykka" in stats else None,
        ratio_limit=ratio_limit,
        alt_limit=alt_limit,
        beat_pykka=beat_pykka,
        target=target,
        notes=[*stats_notes(stats), *notes],
    )


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


def pykka_version() -> str:
    if pykka is None:
        return "not installed"
    try:
        return importlib.metadata.version("pykka")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
