"""Benchmarks of Task.async_ / await_ and Task.async_stream, beside the raw stdlib way.

Run from the repository root::

    PYTHONPATH=. python benchmarks/tasks.py            # about 30 s
    PYTHONPATH=. python benchmarks/tasks.py --quick    # smoke test
    PYTHONPATH=. python benchmarks/tasks.py --no-pin   # let threads float over CPUs

Rows (each contender timed in interleaved repetitions; the median is printed):

* ``async_ + await_``: ``Task.await_(Task.async_(fn))`` of a trivial ``fn``, against
  starting a ``threading.Thread`` that hands ``fn()``'s result back through a
  ``SimpleQueue`` the caller waits on. Target: at most 1.5x.
* ``async_stream``: ``list(Task.async_stream(range(10_000), fn, max_concurrency=2))``
  against ``list(ThreadPoolExecutor(2).map(fn, range(10_000)))`` (the pool is created
  inside the timed part, as the stream starts its own tasks). Target: at most 2x; every
  task is a fresh thread while the pool reuses two, so this row is expected to miss.

The whole process is pinned to CPU 0 first, as in ``benchmarks/run.py``: a hand-off
between threads on different CPUs of a small VM costs tens of microseconds.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from queue import SimpleQueue

from parent import Task

STREAM_ITEMS = 10_000


def trivial(x: int = 0) -> int:
    return x


def ours_async_await(n: int) -> float:
    async_, await_ = Task.async_, Task.await_
    t0 = time.perf_counter()
    for _ in range(n):
        await_(async_(trivial))
    return time.perf_counter() - t0


def _raw_task(result: SimpleQueue[int]) -> None:
    result.put(trivial())


def raw_async_await(n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        result: SimpleQueue[int] = SimpleQueue()
        threading.Thread(target=_raw_task, args=(result,), daemon=True).start()
        result.get()
    return time.perf_counter() - t0


def ours_stream(n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        results = list(Task.async_stream(range(STREAM_ITEMS), trivial, max_concurrency=2))
    elapsed = time.perf_counter() - t0
    assert len(results) == STREAM_ITEMS
    return elapsed


def raw_stream(n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(trivial, range(STREAM_ITEMS)))
    elapsed = time.perf_counter() - t0
    assert len(results) == STREAM_ITEMS
    return elapsed


Timer = Callable[[int], float]


def measure(contenders: dict[str, tuple[Timer, int]], reps: int) -> dict[str, float]:
    """Median seconds per operation of each contender (``timer``, operations per
    repetition), repetitions interleaved round-robin with a rotating order; one
    untimed warm-up run each."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders)
    for timer, n in contenders.values():
        timer(max(1, n // 10))
    for rep in range(reps):
        shift = rep % len(order)
        for name in order[shift:] + order[:shift]:
            timer, n = contenders[name]
            gc.collect()
            samples[name].append(timer(n) / n)
    return {name: statistics.median(values) for name, values in samples.items()}


def row(name: str, unit: str, scale: float, medians: dict[str, float], limit: float) -> str:
    ours, raw = medians["ours"] * scale, medians["raw"] * scale
    ratio = ours / raw
    verdict = "met" if ratio <= limit else f"MISSED (over by {(ratio / limit - 1) * 100:.0f}%)"
    return (
        f"| {name} | {ours:,.1f} {unit} | {raw:,.1f} {unit} | {ratio:.2f}x "
        f"| <= {limit}x: {verdict} |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repetitions")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to CPU 0")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per contender")
    args = parser.parse_args(argv)
    if not args.no_pin:
        allowed = os.sched_getaffinity(0)
        cpu = 0 if 0 in allowed else min(allowed)
        os.sched_setaffinity(0, {cpu})
        print(f"pinned to CPU {cpu} (was {sorted(allowed)}); use --no-pin to compare")
    reps = args.reps or (3 if args.quick else 7)
    spawns, streams = (300, 1) if args.quick else (2_000, 2)
    print(f"Python {sys.version.split()[0]} | {os.cpu_count()} CPUs | {reps} reps, medians")
    lines = [
        "| row | ours | raw | ours/raw | target |",
        "| --- | --- | --- | --- | --- |",
    ]
    medians = measure({"ours": (ours_async_await, spawns), "raw": (raw_async_await, spawns)}, reps)
    lines.append(row("Task.async_ + await_ (per task)", "us", 1e6, medians, 1.5))
    medians = measure({"ours": (ours_stream, streams), "raw": (raw_stream, streams)}, reps)
    lines.append(
        row(f"Task.async_stream, {STREAM_ITEMS:,} items, 2 at once", "ms", 1e3, medians, 2.0)
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
