"""genregistry.ray against raw Ray: a call on an awake id, then 100,000 ids over 4 shards.

Run (the ray extra installed): ``python benchmarks/ray_call.py`` (``--quick`` for a short
run, ``--ids N`` for the scale part, ``--no-pin`` to use every CPU).

What it prints, all from one run on one local cluster:
1. The median time of a raw Ray actor method call (a threaded actor with the shards'
   options, its method reading a counter) beside `RayRegistry.call` of an awake worker
   whose ``handle_call`` reads its counter, and their ratio; repetitions interleaved.
2. ``--ids`` ids started over 4 shards from 32 driver threads (starts per second), the
   shards' resident memory and threads before and after (memory per id), with workers
   hibernating (``hibernate_after=0.05``) so that idle ones hold no thread.
3. The call ratio again with those ids live.

Pinning: unless ``--no-pin``, the driver pins itself to one CPU *before* ``ray.init``,
so the GCS, the raylet and every actor process inherit that one CPU: a cross-CPU
hand-off costs ~25 us each way on these machines and would swamp what is measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray

from genregistry._remote.client import _engine
from genregistry.ray import MAX_CONCURRENCY, RayRegistry, Registry
from parent import GenServer


class Counter(GenServer):
    """The worker: a counter per id."""

    def init(self, *args: Any) -> None:
        self.n = 0

    def handle_call(self, request: Any, from_: Any) -> int:
        if request != "get":
            self.n += 1
        return self.n


@ray.remote
class RawCounter:
    """The raw mechanism: one Ray actor method reading a counter."""

    def __init__(self) -> None:
        self.n = 0

    def get(self) -> int:
        return self.n


def _median_us(fn: Any, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def compare_calls(reg: Registry, reps: int, n: int) -> tuple[float, float]:
    raw = RawCounter.options(  # type: ignore[attr-defined]
        max_concurrency=MAX_CONCURRENCY, num_cpus=0
    ).remote()
    ray.get(raw.get.remote())
    RayRegistry.call(reg, "awake", "get")  # started, then awake

    def raw_call() -> None:
        ray.get(raw.get.remote())

    def our_call() -> None:
        RayRegistry.call(reg, "awake", "get")

    for fn in (raw_call, our_call):  # warm up
        _median_us(fn, n // 4 + 1)
    raws: list[float] = []
    ours: list[float] = []
    for rep in range(reps):
        pair = [(raws, raw_call), (ours, our_call)]
        if rep % 2:
            pair.reverse()
        for out, fn in pair:
            out.append(_median_us(fn, n))
    ray.kill(raw)
    return statistics.median(raws), statistics.median(ours)


def shard_info(reg: Registry) -> list[dict[str, Any]]:
    answers = _engine("ray").run_all(reg, "info", (), 30.0)
    return [a[1] for a in answers if isinstance(a, tuple)]


def in_threads(ids: int, threads: int, op: Any) -> float:
    """Seconds for ``threads`` threads to run ``op(i)`` for every ``i < ids``."""
    counter = iter(range(ids))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def starter() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            try:
                op(i)
            except BaseException as e:  # reported below
                errors.append(e)
                return

    workers = [threading.Thread(target=starter) for _ in range(threads)]
    t = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    took = time.perf_counter() - t
    if errors:
        raise errors[0]
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and 10,000 ids")
    ap.add_argument("--ids", type=int, default=None, help="ids for the scale part")
    ap.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    ap.add_argument(
        "--hibernate-after", type=float, default=0.05, help="the shards' hibernate_after (<0: none)"
    )
    opts = ap.parse_args()
    ids = opts.ids if opts.ids is not None else (10_000 if opts.quick else 100_000)
    reps, n = (5, 300) if opts.quick else (11, 1000)
    if not opts.no_pin:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cpus = sorted(os.sched_getaffinity(0))
    print(f"CPUs: {cpus} ({'pinned before ray.init' if not opts.no_pin else 'not pinned'})")
    print(f"Ray {ray.__version__}, Python {sys.version.split()[0]}")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    hibernate_after = None if opts.hibernate_after < 0 else opts.hibernate_after
    reg = RayRegistry.create(Counter, name="bench", shards=4, hibernate_after=hibernate_after)
    print(f"shards: 4, hibernate_after={hibernate_after}")
    try:
        raw, ours = compare_calls(reg, reps, n)
        print(f"\n1. call, few ids live ({reps} reps x {n} calls, medians)")
        print(f"   raw Ray actor call   {raw:8.1f} us")
        print(f"   RayRegistry.call     {ours:8.1f} us   {ours / raw:.2f}x raw")

        raw_actor = RawCounter.options(  # type: ignore[attr-defined]
            max_concurrency=MAX_CONCURRENCY, num_cpus=0
        ).remote()
        ray.get(raw_actor.get.remote())
        raw_n = min(ids, 10_000)
        raw_took = in_threads(raw_n, 32, lambda i: ray.get(raw_actor.get.remote()))
        ray.kill(raw_actor)
        before = shard_info(reg)
        took = in_threads(
            ids, 32, lambda i: RayRegistry.lookup_or_start(reg, ("id", i), timeout=30.0)
        )
        after = shard_info(reg)
        grown = sum(a["rss"] for a in after) - sum(b["rss"] for b in before)
        count = RayRegistry.count(reg)
        print(f"\n2. {ids:,} ids over {reg.shards} shards from 32 driver threads")
        print(f"   started in {took:.1f} s: {ids / took:,.0f} starts/s; count() = {count:,}")
        print(
            f"   raw Ray actor calls from 32 threads: {raw_n / raw_took:,.0f}/s "
            f"(starts/s = {ids / took / (raw_n / raw_took):.2f}x that)"
        )
        print(
            f"   shards' RSS {sum(b['rss'] for b in before) / 2**20:.0f} -> "
            f"{sum(a['rss'] for a in after) / 2**20:.0f} MiB: "
            f"{grown / max(ids, 1):,.0f} bytes per id"
        )
        per = ", ".join(f"{a['workers']:,} workers/{a['threads']} threads" for a in after)
        print(f"   per shard: {per}")

        raw2, ours2 = compare_calls(reg, reps, n)
        print(f"\n3. call with {count:,} ids live")
        print(f"   raw Ray actor call   {raw2:8.1f} us")
        print(f"   RayRegistry.call     {ours2:8.1f} us   {ours2 / raw2:.2f}x raw")
    finally:
        reg.shutdown()
        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
